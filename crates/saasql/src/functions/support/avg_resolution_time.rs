//! `avg_resolution_time(opened_at, resolved_at)`: mean minutes to resolve a ticket.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::aggregate::{SumsAggregate, SumsKernel, for_each_row};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::time::{MICROS_PER_MINUTE, fmt_time, time_micros};

const NAME: &str = "avg_resolution_time";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Average resolution time in minutes: the mean of resolved_at − opened_at over \
         resolved tickets. Unresolved tickets (NULL resolved_at) and rows with NULL \
         opened_at are skipped; no resolved tickets gives NULL. resolved_at before \
         opened_at is an error.",
        "avg_resolution_time(opened_at, resolved_at)",
    )
    .with_argument("opened_at", "When the ticket was opened (DATE or TIMESTAMP).")
    .with_argument("resolved_at", "When it was resolved; NULL while open.")
    .with_sql_example(
        "SELECT channel, avg_resolution_time(opened_at, resolved_at) / 60 AS avg_hours\nFROM tickets GROUP BY channel;",
    )
    .with_related_udf("first_contact_resolution")
    .build()
});

/// The `avg_resolution_time` kernel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AvgResolutionTime {
    params: Params,
}

impl Default for AvgResolutionTime {
    fn default() -> Self {
        const PARAMS: [Param; 2] = [Param::time("opened_at"), Param::time("resolved_at")];
        Self {
            params: Params::new(NAME, &PARAMS, &[2]),
        }
    }
}

impl SumsKernel<2> for AvgResolutionTime {
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
        ["resolved", "minutes"]
    }
    fn required_args(&self) -> &'static [usize] {
        &[0, 1]
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
        let opened = time_micros(NAME, "opened_at", &args[0])?;
        let resolved = time_micros(NAME, "resolved_at", &args[1])?;
        for_each_row(opened.len(), mask, |i| {
            let Some(d) = resolved[i].checked_sub(opened[i]) else {
                return exec_err!(
                    "{NAME}: resolved_at {} minus opened_at {} is too far apart to measure",
                    fmt_time(resolved[i]),
                    fmt_time(opened[i])
                );
            };
            if d < 0 {
                return exec_err!(
                    "{NAME}: resolved_at {} is before opened_at {}",
                    fmt_time(resolved[i]),
                    fmt_time(opened[i])
                );
            }
            emit(i, [1.0, d as f64 / MICROS_PER_MINUTE as f64]);
            Ok(())
        })
    }
    fn finish(&self, s: &[f64; 2]) -> Option<f64> {
        (s[0] > 0.0).then(|| s[1] / s[0])
    }
}

/// The `avg_resolution_time` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> = LazyLock::new(|| {
        Arc::new(AggregateUDF::from(SumsAggregate(
            AvgResolutionTime::default(),
        )))
    });
    Arc::clone(&UDAF)
}

/// The `avg_resolution_time` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(avg_resolution_time(opened_at, resolved_at));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::TimestampSecondArray;
    use datafusion::common::ScalarValue;

    fn ts(v: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(TimestampSecondArray::from(v))
    }

    #[test]
    fn mean_minutes_of_resolved_tickets() {
        // 30 min, 90 min, unresolved skipped → 60
        let data = vec![
            ts(vec![Some(0), Some(600), Some(0)]),
            ts(vec![Some(1800), Some(600 + 5400), None]),
        ];
        assert_eq!(
            check_agree(&udaf(), &data, &[], 1),
            vec![ScalarValue::Float64(Some(60.0))]
        );
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let o: Vec<Option<i64>> = (0..n as i64).map(|k| Some(k * 60)).collect();
            let r: Vec<Option<i64>> = (0..n as i64)
                .map(|k| (k % 5 != 0).then_some(k * 60 + (k % 7) * 600))
                .collect();
            vec![ts(o), ts(r)]
        });
    }
}
