//! `mrr_movement(mrr [, month]) OVER (PARTITION BY customer ORDER BY month)`: MRR movement class.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, WindowUDF, WindowUDFImpl,
};

use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::numbers::fmt_num;
use crate::util::time::{fmt_time, time_micros, utc_day};

const NAME: &str = "mrr_movement";

/// Months since 0000-03 of a UTC day number (civil-from-days, H. Hinnant).
fn month_index(day: i64) -> i64 {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    y * 12 + (m - 1)
}

/// The movement of one month given the previous paid MRR (`None` = unpaid)
/// and whether the customer ever paid before.
pub fn classify(prev: Option<f64>, cur: f64, paid_before: bool) -> Option<&'static str> {
    match (prev, cur > 0.0) {
        (None, true) if paid_before => Some("reactivation"),
        (None, true) => Some("new"),
        (None, false) => None,
        (Some(_), false) => Some("churn"),
        (Some(p), true) if cur > p => Some("expansion"),
        (Some(p), true) if cur < p => Some("contraction"),
        (Some(_), true) => Some("retained"),
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Classifies each month of a customer's MRR series (a window function: PARTITION BY \
         customer ORDER BY month): 'new' (first paid month), 'expansion', 'contraction', \
         'churn' (paid → 0), 'reactivation' (0 → paid after having paid before), 'retained' \
         (unchanged, paid), or NULL (unpaid and was unpaid). NULL MRR counts as 0 (unpaid). \
         With `month`, a gap of more than one calendar month between rows counts as an \
         unpaid stretch (so the next paid month is a reactivation), and two rows in the \
         same month, or rows out of month order, are an error; a row with a NULL month is \
         compared with the previous row as if consecutive. Without `month`, rows are \
         consecutive periods in the window's order. 'retained' means exactly equal MRR. \
         Negative MRR is an error.",
        "mrr_movement(mrr [, month]) OVER (PARTITION BY customer_id ORDER BY month)",
    )
    .with_argument("mrr", "The customer's MRR in the row's month (any numeric type).")
    .with_argument("month", "Optional DATE or TIMESTAMP of the row's month (UTC).")
    .with_sql_example(
        "SELECT customer_id, month, mrr,\n       mrr_movement(mrr, month) OVER (PARTITION BY customer_id ORDER BY month) AS movement\nFROM customer_mrr;",
    )
    .with_related_udf("quick_ratio")
    .build()
});

/// The `mrr_movement` window function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MrrMovement {
    params: Params,
}

impl Default for MrrMovement {
    fn default() -> Self {
        const PARAMS: [Param; 2] = [Param::number("mrr"), Param::time("month")];
        Self {
            params: Params::new(NAME, &PARAMS, &[1, 2]),
        }
    }
}

impl WindowUDFImpl for MrrMovement {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        self.params.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.params.coerce(arg_types)
    }
    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(MovementEvaluator))
    }
    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = field_args
            .input_fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        self.params.check(&types)?;
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Utf8,
            true,
        )))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

#[derive(Debug)]
struct MovementEvaluator;

impl PartitionEvaluator for MovementEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let mrr = cast(&values[0], &DataType::Float64)?;
        let mrr = mrr.as_primitive::<Float64Type>();
        let months = match values.get(1) {
            Some(m) => {
                let micros = time_micros(NAME, "month", m)?;
                let nulls = m.logical_nulls();
                Some((micros, nulls))
            }
            None => None,
        };
        let mut out: Vec<Option<&'static str>> = Vec::with_capacity(num_rows);
        let mut prev: Option<f64> = None;
        let mut paid_before = false;
        let mut prev_month: Option<(i64, i64)> = None;
        for i in 0..num_rows {
            let cur = if mrr.is_null(i) { 0.0 } else { mrr.value(i) };
            if !(cur >= 0.0 && cur.is_finite()) {
                return exec_err!("{NAME}: mrr {} is outside 0..∞", fmt_num(cur));
            }
            if let Some((micros, nulls)) = &months
                && nulls.as_ref().is_none_or(|n| n.is_valid(i))
            {
                let m = month_index(utc_day(micros[i]));
                if let Some((pm, pmicros)) = prev_month {
                    if m <= pm {
                        return exec_err!(
                            "{NAME}: month {} is not after the previous row's month {} (order the window BY month, one row per month)",
                            fmt_time(micros[i]),
                            fmt_time(pmicros)
                        );
                    }
                    if m - pm > 1 {
                        prev = None;
                    }
                }
                prev_month = Some((m, micros[i]));
            }
            out.push(classify(prev, cur, paid_before));
            if cur > 0.0 {
                paid_before = true;
                prev = Some(cur);
            } else {
                prev = None;
            }
        }
        Ok(Arc::new(StringArray::from(out)))
    }
}

/// The `mrr_movement` window function.
pub fn udwf() -> Arc<WindowUDF> {
    static UDWF: LazyLock<Arc<WindowUDF>> =
        LazyLock::new(|| Arc::new(WindowUDF::from(MrrMovement::default())));
    Arc::clone(&UDWF)
}

/// The `mrr_movement` entry of the function list.
pub fn function() -> Function {
    Function::window(udwf())
}

crate::define_expr_fn!(mrr_movement(mrr); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Float64Array};

    fn run(mrr: Vec<Option<f64>>, months: Option<Vec<i32>>) -> Result<Vec<Option<String>>> {
        let n = mrr.len();
        let mut values: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(mrr))];
        if let Some(m) = months {
            values.push(Arc::new(Date32Array::from(m)));
        }
        let out = MovementEvaluator.evaluate_all(&values, n)?;
        Ok(out
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    }

    fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_string)).collect()
    }

    #[test]
    fn movements_without_months() {
        let out = run(
            vec![
                Some(0.0),
                Some(100.0),
                Some(150.0),
                Some(150.0),
                Some(90.0),
                None,
                Some(0.0),
                Some(80.0),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            out,
            s(&[
                None,
                Some("new"),
                Some("expansion"),
                Some("retained"),
                Some("contraction"),
                Some("churn"),
                None,
                Some("reactivation")
            ])
        );
    }

    #[test]
    fn month_gaps_are_unpaid_stretches() {
        // 2025-01-01 = day 20089, 2025-02-01 = 20120, 2025-05-01 = 20209
        let out = run(
            vec![Some(100.0), Some(100.0), Some(100.0)],
            Some(vec![20089, 20120, 20209]),
        )
        .unwrap();
        assert_eq!(
            out,
            s(&[Some("new"), Some("retained"), Some("reactivation")])
        );
        let err = run(vec![Some(1.0), Some(1.0)], Some(vec![20089, 20090])).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not after the previous row's month"),
            "{err}"
        );
    }

    #[test]
    fn month_index_is_calendar_months() {
        assert_eq!(month_index(20089) + 1, month_index(20120)); // Jan → Feb 2025
        assert_eq!(month_index(0), 1970 * 12);
        assert_eq!(month_index(-1), 1969 * 12 + 11);
    }
}
