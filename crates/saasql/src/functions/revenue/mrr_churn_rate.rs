//! `mrr_churn_rate(start_mrr, end_mrr [, convention])`.
//!
//! Its documentation and registration; the formula is
//! [`RetentionMetric::MrrChurn`] in the revenue retention kernel.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::docs;
use crate::functions::revenue::revenue_retention::{
    CONVENTION_HOOKS, RetentionKernel, RetentionMetric,
};
use crate::hooks::Function;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "MRR churn rate (gross: not offset by expansion) as a percentage: 100 × MRR lost / Σ \
         start_mrr over customers with start_mrr > 0, by the published formula of the vendor \
         named by `convention`. One row per customer: its MRR at the start and at the end of \
         the period (for the Baremetrics and Stripe dashboards, the snapshots 30 days apart). \
         Without `convention`: MRR lost = churned MRR (end_mrr 0 or NULL) only, saasql's \
         original definition, kept so existing reports do not change (the same sum as \
         'stripe' and 'profitwell'). 'chartmogul' (ChartMogul Help Center, \"Metric: MRR Churn Rate\", Gross MRR \
         churn rate, Standard (B2B) formula): MRR lost = churned MRR (end_mrr 0 or NULL) + \
         contraction (start − end when 0 < end < start); the article's example: $100 MRR at \
         the start, $10 lost to churn, $10 to contraction and $10 gained from an upgrade → \
         20 %. 'baremetrics' (Baremetrics Help Center, \"User and Revenue Churn\": MRR lost to \
         downgrades and cancellations in the last 30 days ÷ MRR 30 days ago): the same sum. \
         'stripe' (Stripe Support, \"Calculating subscriber churn rate in Billing\", churned \
         revenue: the MRR lost from churned subscribers; a cancelled subscription of a \
         customer who keeps another one is a downgrade, not churn) and 'profitwell' (Paddle \
         help for ProfitWell Metrics, \"Churn\": churn is cancellations and delinquency; \
         downgrades are their own movement): MRR lost = churned MRR only. Stripe and \
         ProfitWell publish no revenue churn rate formula with a denominator, so the MRR at \
         the start is used, and none of Stripe, Baremetrics or ProfitWell publishes a worked \
         example with figures. Customers with start_mrr NULL or 0 (new in the period) are \
         left out (mrr_churn_rate_breakdown counts them). No customer with start_mrr > 0 \
         gives NULL; negative or non-finite MRR is an execution error; an unknown or \
         non-constant convention is a planning error. Sums of MRR up to ±1.8e308 per \
         customer do not overflow. An MRR between 0 and 1e-288 is an error: sums are \
         kept scaled by 2⁻⁶⁴ so that they never overflow, and amounts that small would \
         lose precision (no currency has them).",
        "mrr_churn_rate(start_mrr, end_mrr [, convention])",
    )
    .with_argument("start_mrr", "The customer's MRR at the start of the period (any numeric type).")
    .with_argument("end_mrr", "The customer's MRR at the end of the period; NULL counts as 0.")
    .with_argument(
        "convention",
        "Optional constant: 'chartmogul', 'stripe', 'baremetrics' or 'profitwell'; without it, churned MRR only.",
    )
    .with_sql_example(
        "SELECT mrr_churn_rate(s.mrr, e.mrr) AS mrr_churn_pct,\n       mrr_churn_rate(s.mrr, e.mrr, 'chartmogul') AS chartmogul_mrr_churn_pct\nFROM mrr_2025_02 s LEFT JOIN mrr_2025_03 e USING (customer_id);",
    )
    .with_related_udf("mrr_churn_rate_breakdown")
    .with_related_udf("gross_revenue_retention")
    .build()
});

/// The `mrr_churn_rate` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(
            RetentionKernel::new("mrr_churn_rate", RetentionMetric::MrrChurn, &DOC)
                .with_convention(),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `mrr_churn_rate` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(CONVENTION_HOOKS)
}

crate::define_expr_fn!(mrr_churn_rate(start_mrr, end_mrr); optional);
