//! `trial_conversion_rate(converted)`.
//!
//! Its documentation and registration; the formula is the share-of-true kernel
//! [`BooleanShare`].

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::args::Param;
use crate::docs;
use crate::functions::boolean_share::BooleanShare;
use crate::hooks::Function;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Trial conversion rate as a percentage: the share of true among the non-NULL values of `converted` (one row per trial). NULL rows (trials still running) are skipped; no non-NULL rows gives NULL.",
        "trial_conversion_rate(converted)",
    )
    .with_argument("converted", "BOOLEAN: TRUE when the trial became a paid subscription.")
    .with_sql_example(
        "SELECT trial_conversion_rate(converted) AS conversion_pct FROM trials;",
    )
    .with_related_udf("trial_conversion_rate_breakdown")
    .with_related_udf("upsell_rate")
    .build()
});

/// The parameter of `trial_conversion_rate` and its breakdown.
pub const PARAMS: [Param; 1] = [Param::boolean("converted")];

/// The `trial_conversion_rate` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(BooleanShare::new(
            "trial_conversion_rate",
            &PARAMS,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `trial_conversion_rate` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(trial_conversion_rate(converted));
