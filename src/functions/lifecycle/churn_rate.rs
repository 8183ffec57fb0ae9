//! `churn_rate(started_at, ended_at, period_start, period_end)`: customer churn in a period.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::{SumsAggregate, SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::time::{fmt_time, time_micros};

const NAME: &str = "churn_rate";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Customer churn rate in a period as a percentage: 100 × churned / active at start \
         (the ChartMogul B2B convention). One row per customer (or per subscription, if \
         that is the grain you want). Active at start: started_at < period_start AND \
         (ended_at IS NULL OR ended_at ≥ period_start). Churned: active at start AND \
         ended_at < period_end. Customers who joined inside the period are in neither \
         count. NULL ended_at means still active; rows with NULL started_at or period \
         bounds are skipped. Nobody active at the start gives NULL. Period bounds may be \
         columns, so one query can cross-join a calendar and GROUP BY month. \
         period_end ≤ period_start, or ended_at < started_at, is an error.",
        "churn_rate(started_at, ended_at, period_start, period_end)",
    )
    .with_argument("started_at", "When the customer became active (DATE or TIMESTAMP).")
    .with_argument("ended_at", "When the customer churned; NULL while still active.")
    .with_argument("period_start", "Start of the period (inclusive).")
    .with_argument("period_end", "End of the period (exclusive).")
    .with_sql_example(
        "SELECT m.month, churn_rate(c.started_at, c.ended_at, m.month, m.month + INTERVAL '1 month') AS churn_pct\nFROM customer_lifetimes c\nCROSS JOIN (SELECT DISTINCT date_trunc('month', event_time) AS month FROM events) m\nGROUP BY m.month ORDER BY m.month;",
    )
    .with_related_udf("mrr_churn_rate")
    .build()
});

/// The `churn_rate` kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChurnRate {
    params: Params,
}

impl Default for ChurnRate {
    fn default() -> Self {
        const PARAMS: [Param; 4] = [
            Param::time("started_at"),
            Param::time("ended_at"),
            Param::time("period_start"),
            Param::time("period_end"),
        ];
        Self {
            params: Params::new(NAME, &PARAMS, &[4]),
        }
    }
}

impl SumsKernel<2> for ChurnRate {
    fn name(&self) -> &'static str {
        NAME
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        &DOC
    }
    fn state_names(&self) -> [&'static str; 2] {
        ["active_at_start", "churned"]
    }
    fn required_args(&self) -> &'static [usize] {
        &[0, 2, 3]
    }
    fn configure(&self, _literals: &[Option<ScalarValue>]) -> Result<Self> {
        Ok(self.clone())
    }
    fn contributions<F: FnMut(usize, [f64; 2])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        mut emit: F,
    ) -> Result<()> {
        let started = time_micros(NAME, "started_at", &args[0])?;
        let ended = time_micros(NAME, "ended_at", &args[1])?;
        let ended_nulls = args[1].logical_nulls();
        let ps = time_micros(NAME, "period_start", &args[2])?;
        let pe = time_micros(NAME, "period_end", &args[3])?;
        for_each_row(started.len(), mask, |i| {
            if pe[i] <= ps[i] {
                return exec_err!(
                    "{NAME}: period_end {} is not after period_start {}",
                    fmt_time(pe[i]),
                    fmt_time(ps[i])
                );
            }
            let end = if ended_nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                None
            } else {
                Some(ended[i])
            };
            if let Some(e) = end
                && e < started[i]
            {
                return exec_err!(
                    "{NAME}: ended_at {} is before started_at {}",
                    fmt_time(e),
                    fmt_time(started[i])
                );
            }
            let at_start = started[i] < ps[i] && end.is_none_or(|e| e >= ps[i]);
            if at_start {
                let churned = end.is_some_and(|e| e < pe[i]);
                emit(i, [1.0, f64::from(churned)]);
            }
            Ok(())
        })
    }
    fn finish(&self, s: &[f64; 2]) -> Option<f64> {
        (s[0] > 0.0).then(|| 100.0 * s[1] / s[0])
    }
}

/// The `churn_rate` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(SumsAggregate(ChurnRate::default()))));
    Arc::clone(&UDAF)
}

/// The `churn_rate` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
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

    #[test]
    fn chartmogul_convention() {
        // period [day 10, day 20)
        // a: 0..NULL active, stays        -> at start, not churned
        // b: 0..15 churns inside           -> at start, churned
        // c: 0..10 ends on period start    -> at start (ended_at >= start), churned
        // d: 12..NULL joins inside         -> neither
        // e: 0..5 gone before              -> neither
        // f: 0..20 ends at period end      -> at start, not churned (end exclusive)
        let data = vec![
            ts(vec![Some(0), Some(0), Some(0), Some(12), Some(0), Some(0)]),
            ts(vec![None, Some(15), Some(10), None, Some(5), Some(20)]),
            ts(vec![Some(10); 6]),
            ts(vec![Some(20); 6]),
        ];
        // 2 churned of 4 at start = 50 %
        assert_eq!(
            check_agree(&udaf(), &data, &[], 1),
            vec![ScalarValue::Float64(Some(50.0))]
        );
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let i = |f: &dyn Fn(i64) -> Option<i64>| ts((0..n as i64).map(f).collect());
            vec![
                i(&|k| (k % 13 != 0).then_some(k % 30)),
                i(&|k| (k % 3 != 0).then_some(k % 30 + k % 17)),
                i(&|k| Some(10 + k % 4 * 30)),
                i(&|k| Some(40 + k % 4 * 30)),
            ]
        });
    }

    #[test]
    fn inverted_period_is_an_error() {
        let data = vec![
            ts(vec![Some(0)]),
            ts(vec![None]),
            ts(vec![Some(20)]),
            ts(vec![Some(10)]),
        ];
        let err = crate::aggregate::testing::with_args(
            &data,
            &[],
            datafusion::arrow::datatypes::DataType::Float64,
            |args| {
                udaf()
                    .accumulator(args)
                    .unwrap()
                    .update_batch(&data)
                    .unwrap_err()
            },
        );
        assert_eq!(
            err.strip_backtrace(),
            "Execution error: churn_rate: period_end 1970-01-11T00:00:00 is not after period_start 1970-01-21T00:00:00"
        );
    }
}
