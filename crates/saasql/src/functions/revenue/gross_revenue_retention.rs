//! `gross_revenue_retention(start_mrr, end_mrr)`.
//!
//! Its documentation and registration; the formula is
//! [`RetentionMetric::Gross`] in the revenue retention kernel.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::docs;
use crate::functions::revenue::revenue_retention::{RetentionKernel, RetentionMetric};
use crate::hooks::Function;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Gross revenue retention (GRR) as a percentage: as net_revenue_retention but each customer's end_mrr is capped at its start_mrr, so expansion does not count and GRR never exceeds 100. An end_mrr of NULL counts as 0. No customer with start_mrr > 0 gives NULL; negative or non-finite MRR is an error. Sums of MRR up to ±1.8e308 per customer do not overflow. An MRR between 0 and 1e-288 is an error: sums are kept scaled by 2⁻⁶⁴ so that they never overflow, and amounts that small would lose precision (no currency has them).",
        "gross_revenue_retention(start_mrr, end_mrr)",
    )
    .with_argument("start_mrr", "The customer's MRR at the start of the period (any numeric type).")
    .with_argument("end_mrr", "The customer's MRR at the end of the period; NULL counts as 0.")
    .with_sql_example(
        "SELECT gross_revenue_retention(s.mrr, e.mrr) AS grr\nFROM mrr_2024_03 s LEFT JOIN mrr_2025_03 e USING (customer_id);",
    )
    .with_related_udf("net_revenue_retention")
    .build()
});

/// The `gross_revenue_retention` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(RetentionKernel::new(
            "gross_revenue_retention",
            RetentionMetric::Gross,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `gross_revenue_retention` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(gross_revenue_retention(start_mrr, end_mrr));
