//! `csat_top2box(score [, scale_max])`.
//!
//! Its documentation and registration; the formula is
//! [`SurveyMetric::TopTwoBox`] in the survey kernel.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::docs;
use crate::functions::surveys::survey::{HOOKS, SurveyKernel, SurveyMetric};
use crate::hooks::Function;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "CSAT top-2-box: the percentage of answers ≥ scale_max − 1 (4 or 5 on a 1–5 scale). NULL answers are skipped; no answers gives NULL. Answers must lie in [1, scale_max]; scale_max must be a constant whole number in 2..1000; fractional answers are accepted.",
        "csat_top2box(score [, scale_max])",
    )
    .with_argument("score", "Survey answer (any numeric type).")
    .with_argument("scale_max", "Optional constant top of the scale (default 5).")
    .with_sql_example(
        "SELECT csat_top2box(score) AS satisfied_pct\nFROM surveys WHERE kind = 'csat';",
    )
    .with_related_udf("csat")
    .build()
});

/// The `csat_top2box` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(SurveyKernel::new(
            "csat_top2box",
            SurveyMetric::TopTwoBox,
            5,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `csat_top2box` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(csat_top2box(score); optional);
