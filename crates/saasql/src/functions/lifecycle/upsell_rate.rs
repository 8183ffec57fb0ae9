//! `upsell_rate(upsold)`.
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
        "Upsell rate as a percentage: the share of true among the non-NULL values of `upsold` (one row per customer, TRUE when the customer moved to a higher plan or added seats in the period). NULL rows are skipped; no non-NULL rows gives NULL.",
        "upsell_rate(upsold)",
    )
    .with_argument("upsold", "BOOLEAN: TRUE when the customer was upsold.")
    .with_sql_example(
        "SELECT plan, upsell_rate(upsold) AS upsell_pct FROM customer_months GROUP BY plan;",
    )
    .with_related_udf("upsell_rate_breakdown")
    .with_related_udf("renewal_rate")
    .build()
});

/// The parameter of `upsell_rate` and its breakdown.
pub const PARAMS: [Param; 1] = [Param::boolean("upsold")];

/// The `upsell_rate` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(BooleanShare::new(
            "upsell_rate",
            &PARAMS,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `upsell_rate` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(upsell_rate(upsold));
