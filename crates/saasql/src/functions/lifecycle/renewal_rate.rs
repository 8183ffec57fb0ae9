//! `renewal_rate(renewed)`.
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
        "Renewal rate as a percentage: the share of true among the non-NULL values of `renewed` (one row per contract that came up for renewal). NULL rows are skipped; no non-NULL rows gives NULL.",
        "renewal_rate(renewed)",
    )
    .with_argument("renewed", "BOOLEAN: TRUE when the contract renewed.")
    .with_sql_example(
        "SELECT date_trunc('month', ended_at) AS month, renewal_rate(renewed) AS renewal_pct\nFROM renewals GROUP BY 1 ORDER BY 1;",
    )
    .with_related_udf("renewal_rate_breakdown")
    .with_related_udf("upsell_rate")
    .build()
});

/// The parameter of `renewal_rate` and its breakdown.
pub const PARAMS: [Param; 1] = [Param::boolean("renewed")];

/// The `renewal_rate` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(BooleanShare::new(
            "renewal_rate",
            &PARAMS,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `renewal_rate` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(renewal_rate(renewed));
