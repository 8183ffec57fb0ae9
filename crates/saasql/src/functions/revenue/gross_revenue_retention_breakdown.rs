//! `gross_revenue_retention_breakdown(start_mrr, end_mrr)`: the arithmetic behind `gross_revenue_retention`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::breakdown::Breakdown;
use crate::docs;
use crate::functions::revenue::revenue_retention::{RetentionKernel, RetentionMetric};
use crate::hooks::Function;

const NAME: &str = "gross_revenue_retention_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `gross_revenue_retention`, with the same arguments, NULL rules and errors: a struct {gross_revenue_retention, numerator, denominator, customers, churned_mrr, contraction_mrr, expansion_mrr, excluded_new, excluded_null}. gross_revenue_retention = 100 × numerator / denominator is the value gross_revenue_retention gives on the same rows. numerator: Σ min(end_mrr, start_mrr) of those customers; denominator: Σ start_mrr of the customers with start_mrr > 0 (customers counts them); churned_mrr: their start MRR where end_mrr is 0 or NULL; contraction_mrr: Σ start − end where 0 < end < start; expansion_mrr: Σ end − start where end > start; excluded_new: rows with start_mrr 0 (new in the period); excluded_null: rows with a NULL start_mrr (new customers too, as in a LEFT JOIN from the end month), or FILTERed-in rows with it NULL. Amounts are DOUBLE in the unit of the MRR, counts BIGINT. With no rows the counts are 0 and gross_revenue_retention is NULL. Read fields with `b['numerator']`.",
        "gross_revenue_retention_breakdown(start_mrr, end_mrr)",
    )
    .with_argument("start_mrr", "The customer's MRR at the start of the period (any numeric type).")
    .with_argument("end_mrr", "The customer's MRR at the end of the period; NULL counts as 0.")
    .with_sql_example(
        "SELECT b['gross_revenue_retention'] AS pct, b['numerator'] AS numerator, b['denominator'] AS start_mrr, b['excluded_new'] AS new_customers\nFROM (SELECT gross_revenue_retention_breakdown(s.mrr, e.mrr) AS b FROM mrr_2025_02 s LEFT JOIN mrr_2025_03 e USING (customer_id));",
    )
    .with_related_udf("gross_revenue_retention")
    .build()
});

/// The `gross_revenue_retention_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate::<_, 8>(
            Breakdown::<_, 7>(RetentionKernel::new(NAME, RetentionMetric::Gross, &DOC)),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `gross_revenue_retention_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(gross_revenue_retention_breakdown(start_mrr, end_mrr));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::check_sizes;
    use crate::breakdown::testing::{check_breakdown, float, int};
    use crate::functions::revenue::gross_revenue_retention;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::array::Float64Array;

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
        let b = &check_breakdown(&gross_revenue_retention::udaf(), &udaf(), &data, &[], 1)[0];
        assert_eq!(b["gross_revenue_retention"], float(80.0));
        assert_eq!(b["numerator"], float(80.0));
        assert_eq!(b["denominator"], float(100.0));
        assert_eq!(b["customers"], int(4));
        assert_eq!(b["churned_mrr"], float(10.0));
        assert_eq!(b["contraction_mrr"], float(10.0));
        assert_eq!(b["expansion_mrr"], float(10.0));
        assert_eq!(b["excluded_new"], int(1));
        assert_eq!(b["excluded_null"], int(1));
    }

    #[test]
    fn value_equals_gross_revenue_retention_on_all_sizes() {
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
        check_breakdown(
            &gross_revenue_retention::udaf(),
            &udaf(),
            &make(3000),
            &[],
            7,
        );
        check_sizes(&udaf(), &[], make);
    }
}
