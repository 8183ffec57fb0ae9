//! `customer_effort_score(score [, scale_max])`.
//!
//! Its documentation and registration; the formula is [`SurveyMetric::Effort`]
//! in the survey kernel.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::docs;
use crate::functions::surveys::survey::{HOOKS, SurveyKernel, SurveyMetric};
use crate::hooks::Function;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Customer Effort Score: the mean answer on a 1..scale_max scale (default 1–7; higher means easier, as in the CES 2.0 agreement wording). NULL answers are skipped; no answers gives NULL. Answers must lie in [1, scale_max]; scale_max must be a constant whole number in 2..1000; fractional answers are accepted.",
        "customer_effort_score(score [, scale_max])",
    )
    .with_argument("score", "Survey answer (any numeric type).")
    .with_argument("scale_max", "Optional constant top of the scale (default 7).")
    .with_sql_example(
        "SELECT customer_effort_score(score) AS ces\nFROM surveys WHERE kind = 'ces';",
    )
    .with_related_udf("csat")
    .build()
});

/// The `customer_effort_score` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(SurveyKernel::new(
            "customer_effort_score",
            SurveyMetric::Effort,
            7,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `customer_effort_score` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(customer_effort_score(score); optional);
