//! `to_mrr(amount, interval [, interval_count])`: a recurring charge as monthly revenue.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::literals::{scalar_f64, scalar_str};
use crate::util::numbers::{check_finite, finite_result, fmt_num};
use crate::util::rows::{finish_columnar, float_arrays};

const NAME: &str = "to_mrr";

/// Months per interval unit (case-insensitive), or `None` when unknown.
pub fn months_per_unit(interval: &str) -> Option<f64> {
    let i = interval.trim();
    let is = |u: &str| i.eq_ignore_ascii_case(u);
    if is("month") {
        Some(1.0)
    } else if is("year") {
        Some(12.0)
    } else if is("quarter") {
        Some(3.0)
    } else if is("week") {
        Some(12.0 / 52.0)
    } else if is("day") {
        Some(12.0 / 365.0)
    } else {
        None
    }
}

/// Monthly revenue of `amount` charged every `count` × `interval`
/// (`months` months per interval): `amount / (months × count)`, or an error
/// when that is beyond the DOUBLE range.
pub fn monthly(amount: f64, interval: &str, months: f64, count: f64) -> Result<f64> {
    let per = months * count;
    let v = if per.is_finite() && per != 0.0 {
        amount / per
    } else {
        // months × count left the DOUBLE range (a huge or tiny count).
        amount / months / count
    };
    finite_result(NAME, v, || {
        format!(
            "monthly revenue of amount {} per {} {}",
            fmt_num(amount),
            fmt_num(count),
            interval.trim()
        )
    })
}

fn unknown_interval(interval: &str) -> String {
    format!("{NAME}: interval '{interval}' is not one of day, week, month, quarter, year")
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Normalises a recurring charge to one month: amount ÷ (months per interval × \
         interval_count). Months per interval: day 12/365 (so ×365/12), week 12/52 (×52/12), \
         month 1, quarter 3 (÷3), year 12 (÷12); case-insensitive. interval_count \
         (default 1) divides further: every 6 months is ('month', 6). Money keeps the \
         caller's unit; negative amounts (credits) are allowed; intervals are trimmed and \
         fractional counts are allowed. NULL inputs give NULL. An unknown interval, a \
         count ≤ 0, or a NaN or infinite amount is an error (a planning error for constants), \
         and so is a monthly amount beyond the DOUBLE range (±1.8e308), such as 1e308 a day.",
        "to_mrr(amount, interval [, interval_count])",
    )
    .with_argument("amount", "Charge per billing interval (any numeric type).")
    .with_argument("interval", "'day', 'week', 'month', 'quarter' or 'year' (string or column).")
    .with_argument("interval_count", "Optional number of intervals per charge (> 0, default 1).")
    .with_sql_example(
        "SELECT customer_id, sum(to_mrr(amount, billing_interval)) AS mrr\nFROM subscriptions WHERE ended_at IS NULL GROUP BY customer_id;",
    )
    .with_related_udf("mrr_movement")
    .build()
});

/// The `to_mrr` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToMrr {
    params: Params,
}

impl Default for ToMrr {
    fn default() -> Self {
        const PARAMS: [Param; 3] = [
            Param::number("amount"),
            Param::text("interval"),
            Param::number("interval_count"),
        ];
        Self {
            params: Params::new(NAME, &PARAMS, &[2, 3]),
        }
    }
}

impl ScalarUDFImpl for ToMrr {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        self.params.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.params.coerce(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.params.check(arg_types)?;
        Ok(DataType::Float64)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.params.check_fields(args.arg_fields)?;
        if let Some(Some(i)) = args.scalar_arguments.get(1)
            && let Some(s) = scalar_str(NAME, "interval", i)?
            && months_per_unit(s).is_none()
        {
            return plan_err!("{}", unknown_interval(s));
        }
        if let Some(Some(c)) = args.scalar_arguments.get(2)
            && let Some(c) = scalar_f64(NAME, "interval_count", c)?
            && c <= 0.0
        {
            return plan_err!("{NAME}: interval_count {} is outside (0, ∞)", fmt_num(c));
        }
        Ok(Arc::new(Field::new(NAME, DataType::Float64, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let interval = cast(&args.args[1].to_array(rows)?, &DataType::Utf8)?;
        let interval = interval.as_string::<i32>();
        let mut numeric_args = vec![args.args[0].clone()];
        if let Some(c) = args.args.get(2) {
            numeric_args.push(c.clone());
        }
        let nums = float_arrays(&numeric_args, rows)?;
        let amount = &nums[0];
        let count = nums.get(1);
        let mut out = vec![0.0; rows];
        let mut valid = vec![false; rows];
        for i in 0..rows {
            if amount.is_null(i) || interval.is_null(i) || count.is_some_and(|c| c.is_null(i)) {
                continue;
            }
            let Some(months) = months_per_unit(interval.value(i)) else {
                return exec_err!("{}", unknown_interval(interval.value(i)));
            };
            let n = count.map_or(1.0, |c| c.value(i));
            if !(n > 0.0 && n.is_finite()) {
                return exec_err!("{NAME}: interval_count {} is outside (0, ∞)", fmt_num(n));
            }
            let a = check_finite(NAME, "amount", amount.value(i))?;
            out[i] = monthly(a, interval.value(i), months, n)?;
            valid[i] = true;
        }
        let arr = Float64Array::new(out.into(), Some(BooleanBuffer::from(valid).into()));
        finish_columnar(Arc::new(arr), all_scalar)
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The `to_mrr` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(ToMrr::default())));
    Arc::clone(&UDF)
}

/// The `to_mrr` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(to_mrr(amount, interval); optional);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(months_per_unit("Year"), Some(12.0));
        assert_eq!(months_per_unit(" quarter "), Some(3.0));
        assert_eq!(months_per_unit("fortnight"), None);
        // 1200 a year = 100 a month; 10 a day = 10*365/12
        assert_eq!(1200.0 / months_per_unit("year").unwrap(), 100.0);
        assert!((10.0 / months_per_unit("day").unwrap() - 10.0 * 365.0 / 12.0).abs() < 1e-9);
    }

    proptest::proptest! {
        // No regression files: a failure found here becomes a named unit test.
        #![proptest_config(proptest::test_runner::Config {
            cases: 256,
            failure_persistence: None,
            ..Default::default()
        })]

        /// A finite amount and count > 0 give a finite monthly amount of the
        /// amount's sign, or an error exactly when the true answer (judged
        /// in log scale, away from the boundary) is beyond the DOUBLE range.
        #[test]
        fn monthly_is_finite_or_an_error_when_the_answer_is(
            amount in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
            count in proptest::num::f64::POSITIVE | proptest::num::f64::NORMAL,
            unit in proptest::sample::select(vec!["day", "week", "month", "quarter", "year"]),
        ) {
            let months = months_per_unit(unit).unwrap();
            let log2 = amount.abs().log2() - months.log2() - count.log2();
            match monthly(amount, unit, months, count) {
                Ok(v) => {
                    proptest::prop_assert!(v.is_finite());
                    proptest::prop_assert!(v == 0.0 || v.signum() == amount.signum());
                    proptest::prop_assert!(amount == 0.0 || log2 < 1024.5, "{v} from 2^{log2}");
                }
                Err(e) => {
                    proptest::prop_assert!(log2 > 1023.5, "{e} for 2^{log2}");
                }
            }
        }
    }

    #[test]
    fn monthly_amount_beyond_double_range_is_an_error_not_infinity() {
        let day = months_per_unit("day").unwrap();
        assert_eq!(
            monthly(1e308, " day", day, 1.0)
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: to_mrr: monthly revenue of amount 1e308 per 1 day is beyond the DOUBLE range (±1.8e308)"
        );
        // a year's charge is smaller a month: fine
        assert_eq!(monthly(1.2e308, "year", 12.0, 1.0).unwrap(), 1e307);
        // months × count overflows, the answer does not: 1e300 / (12 × 1e300) …
        let v = monthly(1e300, "year", 12.0, 1e300).unwrap();
        assert!((v - 1.0 / 12.0).abs() < 1e-15, "{v}");
        // … or underflows to 0: 1e-300 every 1e-300 weeks
        let week = months_per_unit("week").unwrap();
        let v = monthly(1e-300, "week", week, 1e-300).unwrap();
        assert!((v - 52.0 / 12.0).abs() < 1e-12, "{v}");
    }
}
