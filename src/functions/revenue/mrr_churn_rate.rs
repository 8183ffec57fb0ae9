//! `mrr_churn_rate(start_mrr, end_mrr)`.
//!
//! Its documentation and registration; the formula is
//! [`RetentionMetric::MrrChurn`] in the revenue retention kernel.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::docs;
use crate::functions::revenue::revenue_retention::{RetentionKernel, RetentionMetric};
use crate::hooks::Function;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "MRR churn rate (gross MRR churn) as a percentage: 100 × Σ start_mrr of customers whose end_mrr is 0 or NULL / Σ start_mrr over customers with start_mrr > 0. One row per customer. Customers with start_mrr NULL or 0 (new in the period) are left out; contraction is not churn here (see gross_revenue_retention). No customer with start_mrr > 0 gives NULL; negative or non-finite MRR is an error. Sums of MRR up to ±1.8e308 per customer do not overflow.",
        "mrr_churn_rate(start_mrr, end_mrr)",
    )
    .with_argument("start_mrr", "The customer's MRR at the start of the period (any numeric type).")
    .with_argument("end_mrr", "The customer's MRR at the end of the period; NULL counts as 0.")
    .with_sql_example(
        "SELECT mrr_churn_rate(s.mrr, e.mrr) AS mrr_churn_pct\nFROM mrr_2025_02 s LEFT JOIN mrr_2025_03 e USING (customer_id);",
    )
    .with_related_udf("net_revenue_retention")
    .build()
});

/// The `mrr_churn_rate` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(RetentionKernel::new(
            "mrr_churn_rate",
            RetentionMetric::MrrChurn,
            &DOC,
        ))))
    });
    Arc::clone(&UDAF)
}

/// The `mrr_churn_rate` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}
