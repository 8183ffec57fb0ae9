//! `churn_rate_breakdown(started_at, ended_at, period_start, period_end [, convention])`: the arithmetic behind `churn_rate`, for reconciling a number.

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::SumsAggregate;
use crate::breakdown::Breakdown;
use crate::docs;
use crate::functions::lifecycle::churn_rate::{ChurnRate, HOOKS};
use crate::hooks::Function;

const NAME: &str = "churn_rate_breakdown";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "The arithmetic behind `churn_rate`, with the same arguments, conventions, NULL rules and errors: a struct {churn_rate, numerator, denominator, customers_at_start, churned_from_start, joined_in_period, joined_and_churned, excluded_joined, excluded_inactive, excluded_null}. churn_rate = 100 × numerator / denominator is the value churn_rate gives on the same rows. customers_at_start: active at the window start (period_start, or period_end − 30 days for 'stripe' and 'baremetrics'); churned_from_start: of those, ended before period_end; joined_in_period: started inside the window (new customers and reactivations alike: one row per active spell cannot tell them apart); joined_and_churned: of those, ended before period_end; excluded_joined: joiners left out of the rate by the convention (all of them for 'chartmogul' and 'profitwell', none for 'stripe', those who did not churn for 'baremetrics'); excluded_inactive: rows active at no time in the window (ended before it or started after it). excluded_null counts rows (passing FILTER) with a NULL in a required argument. With no rows the counts are 0 and churn_rate is NULL. Read fields with `b['numerator']`.",
        "churn_rate_breakdown(started_at, ended_at, period_start, period_end [, convention])",
    )
    .with_argument("started_at", "When the customer became active (DATE or TIMESTAMP).")
    .with_argument("ended_at", "When the customer churned; NULL while still active.")
    .with_argument("period_start", "Start of the period (inclusive).")
    .with_argument("period_end", "End of the period (exclusive).")
    .with_argument("convention", "Optional constant: 'chartmogul' (default), 'stripe', 'baremetrics' or 'profitwell'.")
    .with_sql_example(
        "SELECT b['churn_rate'] AS churn_pct, b['customers_at_start'] AS at_start, b['churned_from_start'] AS churned, b['joined_in_period'] AS joined\nFROM (SELECT churn_rate_breakdown(started_at, ended_at, DATE '2025-03-01', DATE '2025-04-01', 'stripe') AS b FROM customer_lifetimes);",
    )
    .with_related_udf("churn_rate")
    .build()
});

/// The `churn_rate_breakdown` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate::<_, 6>(
            Breakdown::<_, 5>(ChurnRate::new(NAME, &DOC)),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `churn_rate_breakdown` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(churn_rate_breakdown(started_at, ended_at, period_start, period_end); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::check_sizes;
    use crate::breakdown::testing::{check_breakdown, float, int};
    use crate::functions::lifecycle::churn_rate;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::common::ScalarValue;

    const DAY: i64 = crate::util::time::MICROS_PER_DAY;

    fn ts(v: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(
            v.into_iter()
                .map(|d| d.map(|d| d * DAY))
                .collect::<Vec<_>>(),
        ))
    }

    fn sample(n: usize) -> Vec<ArrayRef> {
        let i = |f: &dyn Fn(i64) -> Option<i64>| ts((0..n as i64).map(f).collect());
        vec![
            i(&|k| (k % 13 != 0).then_some(k % 30)),
            i(&|k| (k % 3 != 0).then_some(k % 30 + k % 17)),
            i(&|k| Some(10 + k % 4 * 30)),
            i(&|k| Some(40 + k % 4 * 30)),
        ]
    }

    /// ChartMogul's worked example (100 at the start, 10 of them churn, one
    /// joiner churns → 10 %) explained, by each convention.
    #[test]
    fn chartmogul_example_explained() {
        // period [day 10, day 40); a NULL started_at row is counted as excluded
        let n = 102;
        let started = (0..n)
            .map(|k| match k {
                100 => Some(15),
                101 => None,
                _ => Some(0),
            })
            .collect();
        let ended = (0..n)
            .map(|k| match k {
                100 => Some(25),
                k if k < 10 => Some(20),
                _ => None,
            })
            .collect();
        let data = vec![
            ts(started),
            ts(ended),
            ts(vec![Some(10); n]),
            ts(vec![Some(40); n]),
        ];
        let lit = |c: &str| [ScalarValue::Utf8(Some(c.into()))];
        let cm = &check_breakdown(&churn_rate::udaf(), &udaf(), &data, &[], 1)[0];
        assert_eq!(cm["churn_rate"], float(10.0));
        assert_eq!(cm["numerator"], int(10));
        assert_eq!(cm["denominator"], int(100));
        assert_eq!(cm["customers_at_start"], int(100));
        assert_eq!(cm["churned_from_start"], int(10));
        assert_eq!(cm["joined_in_period"], int(1));
        assert_eq!(cm["joined_and_churned"], int(1));
        assert_eq!(cm["excluded_joined"], int(1));
        assert_eq!(cm["excluded_inactive"], int(0));
        assert_eq!(cm["excluded_null"], int(1));
        let st = &check_breakdown(&churn_rate::udaf(), &udaf(), &data, &lit("stripe"), 1)[0];
        assert_eq!(
            (&st["numerator"], &st["denominator"]),
            (&int(11), &int(101))
        );
        assert_eq!(st["excluded_joined"], int(0));
        let bm = &check_breakdown(&churn_rate::udaf(), &udaf(), &data, &lit("baremetrics"), 1)[0];
        assert_eq!(
            (&bm["numerator"], &bm["denominator"]),
            (&int(11), &int(100))
        );
        assert_eq!(bm["churn_rate"], float(11.0));
    }

    #[test]
    fn value_equals_churn_rate_on_all_sizes_and_conventions() {
        for c in ["chartmogul", "stripe", "baremetrics", "profitwell"] {
            let lit = [ScalarValue::Utf8(Some(c.into()))];
            check_breakdown(&churn_rate::udaf(), &udaf(), &sample(3000), &lit, 7);
            check_sizes(&udaf(), &lit, sample);
        }
    }
}
