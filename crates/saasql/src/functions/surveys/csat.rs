//! `csat(score [, scale_max])`.
//!
//! Its documentation and registration; the formula is [`SurveyMetric::Csat`] in
//! the survey kernel.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::docs;
use crate::functions::surveys::survey::{HOOKS, SurveyKernel, SurveyMetric};
use crate::hooks::Function;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "CSAT (customer satisfaction) as a percentage: 100 × Σ score / (responses × scale_max), so all-5s on a 1–5 scale is 100. NULL answers are skipped; no answers gives NULL. Answers must lie in [1, scale_max]; scale_max must be a constant whole number in 2..1000 (a planning error otherwise); fractional answers are accepted.",
        "csat(score [, scale_max])",
    )
    .with_argument("score", "Survey answer (any numeric type).")
    .with_argument("scale_max", "Optional constant top of the scale (default 5).")
    .with_sql_example(
        "SELECT c.plan, csat(s.score) AS csat\nFROM surveys s JOIN customers c USING (customer_id)\nWHERE s.kind = 'csat' GROUP BY c.plan;",
    )
    .with_related_udf("csat_top2box")
    .build()
});

/// The `csat` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(SurveyKernel::new(
            "csat",
            SurveyMetric::Csat,
            5,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `csat` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(csat(score); optional);
