//! `mrr_churn_rate_breakdown(start_mrr, end_mrr [, convention])`: the arithmetic behind `mrr_churn_rate`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::breakdown::Breakdown;
use crate::docs;
use crate::functions::revenue::revenue_retention::{
    CONVENTION_HOOKS, RetentionKernel, RetentionMetric,
};
use crate::hooks::Function;

const NAME: &str = "mrr_churn_rate_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `mrr_churn_rate`, with the same arguments, conventions, NULL rules and errors: a struct {mrr_churn_rate, numerator, denominator, customers, churned_mrr, contraction_mrr, expansion_mrr, excluded_new, excluded_null}. mrr_churn_rate = 100 × numerator / denominator is the value mrr_churn_rate gives on the same rows. numerator: the MRR lost as the convention counts it (churned MRR, plus contraction for 'chartmogul' and 'baremetrics'); denominator: Σ start_mrr of the customers with start_mrr > 0 (customers counts them); churned_mrr: their start MRR where end_mrr is 0 or NULL; contraction_mrr: Σ start − end where 0 < end < start; expansion_mrr: Σ end − start where end > start; excluded_new: rows with start_mrr 0 (new in the period); excluded_null: rows with a NULL start_mrr (new customers too, as in a LEFT JOIN from the end month), or FILTERed-in rows with it NULL. Amounts are DOUBLE in the unit of the MRR, counts BIGINT. With no rows the counts are 0 and mrr_churn_rate is NULL. Read fields with `b['numerator']`.",
        "mrr_churn_rate_breakdown(start_mrr, end_mrr [, convention])",
    )
    .with_argument("start_mrr", "The customer's MRR at the start of the period (any numeric type).")
    .with_argument("end_mrr", "The customer's MRR at the end of the period; NULL counts as 0.")
    .with_argument("convention", "Optional constant: 'chartmogul', 'stripe', 'baremetrics' or 'profitwell'; without it, churned MRR only, as mrr_churn_rate.")
    .with_sql_example(
        "SELECT b['mrr_churn_rate'] AS pct, b['numerator'] AS numerator, b['denominator'] AS start_mrr, b['excluded_new'] AS new_customers\nFROM (SELECT mrr_churn_rate_breakdown(s.mrr, e.mrr) AS b FROM mrr_2025_02 s LEFT JOIN mrr_2025_03 e USING (customer_id));",
    )
    .with_related_udf("mrr_churn_rate")
    .build()
});

/// The `mrr_churn_rate_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate::<_, 8>(
            Breakdown::<_, 7>(
                RetentionKernel::new(NAME, RetentionMetric::MrrChurn, &DOC).with_convention(),
            ),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `mrr_churn_rate_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(CONVENTION_HOOKS)
}

crate::define_expr_fn!(mrr_churn_rate_breakdown(start_mrr, end_mrr); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::check_sizes;
    use crate::breakdown::testing::{check_breakdown, float, int};
    use crate::functions::revenue::mrr_churn_rate;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::array::Float64Array;
    use datafusion::common::ScalarValue;

    fn mrr(start: Vec<Option<f64>>, end: Vec<Option<f64>>) -> Vec<ArrayRef> {
        vec![
            Arc::new(Float64Array::from(start)) as ArrayRef,
            Arc::new(Float64Array::from(end)) as ArrayRef,
        ]
    }

    /// ChartMogul's example month: $100 MRR at the start; $10 churned, $10
    /// contraction, $10 expansion; a new customer (start 0) and a NULL start.
    #[test]
    fn example_month_explained() {
        let data = mrr(
            vec![
                Some(10.0),
                Some(20.0),
                Some(30.0),
                Some(40.0),
                Some(0.0),
                None,
            ],
            vec![
                Some(0.0),
                Some(10.0),
                Some(40.0),
                Some(40.0),
                Some(50.0),
                Some(5.0),
            ],
        );
        let chartmogul = [ScalarValue::Utf8(Some("chartmogul".into()))];
        let b = &check_breakdown(&mrr_churn_rate::udaf(), &udaf(), &data, &chartmogul, 1)[0];
        assert_eq!(b["mrr_churn_rate"], float(20.0));
        assert_eq!(b["numerator"], float(20.0));
        assert_eq!(b["denominator"], float(100.0));
        assert_eq!(b["customers"], int(4));
        assert_eq!(b["churned_mrr"], float(10.0));
        assert_eq!(b["contraction_mrr"], float(10.0));
        assert_eq!(b["expansion_mrr"], float(10.0));
        assert_eq!(b["excluded_new"], int(1));
        assert_eq!(b["excluded_null"], int(1));
    }

    #[test]
    fn value_equals_mrr_churn_rate_on_all_sizes() {
        let make = |n: usize| {
            mrr(
                (0..n)
                    .map(|i| (i % 9 != 0).then_some((i % 5) as f64 * 10.5))
                    .collect(),
                (0..n)
                    .map(|i| (i % 7 != 0).then_some((i % 4) as f64 * 10.25))
                    .collect(),
            )
        };
        check_breakdown(&mrr_churn_rate::udaf(), &udaf(), &make(3000), &[], 7);
        check_sizes(&udaf(), &[], make);
    }

    #[test]
    fn stripe_counts_churned_mrr_only() {
        let data = mrr(vec![Some(10.0), Some(20.0)], vec![Some(0.0), Some(10.0)]);
        let lit = [ScalarValue::Utf8(Some("stripe".into()))];
        let b = &check_breakdown(&mrr_churn_rate::udaf(), &udaf(), &data, &lit, 1)[0];
        assert_eq!(b["numerator"], float(10.0));
        assert_eq!(b["contraction_mrr"], float(10.0));
    }
}
