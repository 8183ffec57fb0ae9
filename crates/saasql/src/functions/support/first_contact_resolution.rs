//! `first_contact_resolution(resolved_on_first_contact)`.
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
        "First-contact resolution (FCR) as a percentage: the share of true among the non-NULL values of `resolved_on_first_contact` (one row per ticket). NULL rows are skipped; no non-NULL rows gives NULL.",
        "first_contact_resolution(resolved_on_first_contact)",
    )
    .with_argument("resolved_on_first_contact", "BOOLEAN: TRUE when the ticket was solved in the first reply.")
    .with_sql_example(
        "SELECT channel, first_contact_resolution(resolved_on_first_contact) AS fcr_pct\nFROM tickets GROUP BY channel;",
    )
    .with_related_udf("first_contact_resolution_breakdown")
    .with_related_udf("avg_resolution_time")
    .build()
});

/// The parameter of `first_contact_resolution` and its breakdown.
pub const PARAMS: [Param; 1] = [Param::boolean("resolved_on_first_contact")];

/// The `first_contact_resolution` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(BooleanShare::new(
            "first_contact_resolution",
            &PARAMS,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `first_contact_resolution` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(first_contact_resolution(resolved_on_first_contact));
