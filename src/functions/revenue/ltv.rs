//! `ltv(arpa, churn_rate_pct [, gross_margin_pct [, churn_floor_pct]])`: customer lifetime value.

use std::sync::{Arc, LazyLock};

use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{Documentation, Expr, ScalarUDF, lit};

use crate::args::Param;
use crate::docs;
use crate::functions::simple_scalar::FloatScalar;
use crate::hooks::{Function, Hooks};
use crate::settings::{Setting, SettingValues, finite_number};
use crate::util::numbers::{check_non_negative, finite_result, fmt_num};

const NAME: &str = "ltv";

/// `saasql.ltv_churn_floor`: the churn floor of calls without one.
pub static CHURN_FLOOR: Setting = Setting {
    key: "ltv_churn_floor",
    description: "Smallest churn percentage ltv divides by (e.g. 1.67); 0 (default) means no floor and churn 0 gives NULL.",
    default: "0",
    parse: |owner, value| {
        let v = finite_number(owner, value)?;
        if !(0.0..=100.0).contains(&v) {
            return plan_err!("{owner}: {v} is outside 0..100");
        }
        Ok(ScalarValue::from(v))
    },
};

/// `ltv` reads `saasql.ltv_churn_floor`.
const HOOKS: Hooks = Hooks {
    settings: &[&CHURN_FLOOR],
    extra_args: Some(settings_args),
    ..Hooks::NONE
};

/// `ltv(a, c)` gets margin 100 and the floor, `ltv(a, c, m)` the floor.
fn settings_args(n: usize, settings: &SettingValues) -> Option<Vec<Expr>> {
    match n {
        2 => Some(vec![lit(100.0), settings.lit(&CHURN_FLOOR)]),
        3 => Some(vec![settings.lit(&CHURN_FLOOR)]),
        _ => None,
    }
}

/// LTV of one row: `[arpa, churn_pct, margin_pct, floor_pct]` (missing
/// trailing arguments take their defaults: margin 100, no floor).
pub fn ltv_row(row: &[f64]) -> Result<Option<f64>> {
    let arpa = check_non_negative(NAME, "arpa", row[0])?;
    let mut churn = check_non_negative(NAME, "churn_rate_pct", row[1])?;
    let margin = row.get(2).copied().unwrap_or(100.0);
    if !(0.0..=100.0).contains(&margin) {
        return exec_err!(
            "{NAME}: gross_margin_pct {} is outside 0..100",
            fmt_num(margin)
        );
    }
    let floor = row.get(3).copied().unwrap_or(0.0);
    if !(0.0..=100.0).contains(&floor) {
        return exec_err!(
            "{NAME}: churn_floor_pct {} is outside 0..100",
            fmt_num(floor)
        );
    }
    if churn < floor {
        churn = floor;
    }
    if churn == 0.0 {
        return Ok(None);
    }
    if arpa == 0.0 || margin == 0.0 {
        return Ok(Some(0.0));
    }
    // arpa × (margin/100) ≤ arpa cannot overflow, but churn/100 loses
    // precision (or becomes 0) below 2.2e-306: then cancel the percents.
    let mut v = arpa * (margin / 100.0) / (churn / 100.0);
    if !v.is_finite() || churn < 1e-300 {
        v = arpa / churn * margin;
        if !v.is_finite() {
            v = arpa * margin / churn;
        }
    }
    finite_result(NAME, v, || {
        format!(
            "the lifetime value of arpa {} at churn_rate_pct {} and gross_margin_pct {}",
            fmt_num(arpa),
            fmt_num(churn),
            fmt_num(margin)
        )
    })
    .map(Some)
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Customer lifetime value: arpa × gross_margin_pct/100 ÷ (churn_rate_pct/100), in \
         the unit of arpa (monthly ARPA with monthly churn gives a lifetime value). \
         gross_margin_pct defaults to 100. Churn 0 gives NULL unless a churn floor is set \
         (the churn_floor_pct argument, else the saasql.ltv_churn_floor setting, e.g. \
         1.67), which replaces any smaller churn. NULL inputs give NULL. Negative arpa or \
         churn, a margin or floor outside 0..100, or a lifetime value beyond the DOUBLE \
         range (±1.8e308), is an error.",
        "ltv(arpa, churn_rate_pct [, gross_margin_pct [, churn_floor_pct]])",
    )
    .with_argument("arpa", "Average revenue per account per period (≥ 0).")
    .with_argument(
        "churn_rate_pct",
        "Churn per period as a percentage (5.0 = 5 %).",
    )
    .with_argument(
        "gross_margin_pct",
        "Optional gross margin percentage (default 100).",
    )
    .with_argument(
        "churn_floor_pct",
        "Optional lowest churn to divide by; defaults to saasql.ltv_churn_floor (0 = off).",
    )
    .with_sql_example("SELECT ltv(120.0, 2.5, 80) AS ltv;  -- 120 × 0.8 / 0.025 = 3840")
    .with_related_udf("arpa")
    .with_related_udf("churn_rate")
    .build()
});

/// The `ltv` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> = LazyLock::new(|| {
        const PARAMS: [Param; 4] = [
            Param::number("arpa"),
            Param::number("churn_rate_pct"),
            Param::number("gross_margin_pct"),
            Param::number("churn_floor_pct"),
        ];
        Arc::new(ScalarUDF::from(FloatScalar::new(
            NAME,
            &PARAMS,
            &[2, 3, 4],
            &DOC,
            ltv_row,
        )))
    });
    Arc::clone(&UDF)
}

/// The `ltv` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::scalar(udf()).with_hooks(HOOKS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_floor_and_errors() {
        assert_eq!(ltv_row(&[120.0, 2.5, 80.0, 0.0]).unwrap(), Some(3840.0));
        assert_eq!(ltv_row(&[100.0, 5.0]).unwrap(), Some(2000.0));
        assert_eq!(ltv_row(&[100.0, 0.0, 100.0, 0.0]).unwrap(), None);
        // floor 2 replaces churn 0 and 1: 100 / 0.02 = 5000
        assert_eq!(ltv_row(&[100.0, 0.0, 100.0, 2.0]).unwrap(), Some(5000.0));
        assert_eq!(ltv_row(&[100.0, 1.0, 100.0, 2.0]).unwrap(), Some(5000.0));
        assert_eq!(
            ltv_row(&[-1.0, 1.0]).unwrap_err().strip_backtrace(),
            "Execution error: ltv: arpa -1 is outside 0..∞"
        );
        assert_eq!(
            ltv_row(&[1.0, 1.0, 101.0]).unwrap_err().strip_backtrace(),
            "Execution error: ltv: gross_margin_pct 101 is outside 0..100"
        );
    }

    #[test]
    fn lifetime_value_beyond_double_range_is_an_error_not_null() {
        assert_eq!(
            ltv_row(&[1e308, 0.5]).unwrap_err().strip_backtrace(),
            "Execution error: ltv: the lifetime value of arpa 1e308 at churn_rate_pct 0.5 and gross_margin_pct 100 is beyond the DOUBLE range (±1.8e308)"
        );
        // 1e308 at 100 % churn and 50 % margin is 5e307
        assert_eq!(ltv_row(&[1e308, 100.0, 50.0]).unwrap(), Some(5e307));
        // churn / 100 would underflow to 0; the answer is finite
        let v = ltv_row(&[1e-20, 1e-322]).unwrap().unwrap();
        assert!(
            v.is_finite() && (v / (1e-20 / 1e-322 * 100.0) - 1.0).abs() < 0.1,
            "{v}"
        );
        // no revenue: 0 whatever the churn
        assert_eq!(ltv_row(&[0.0, 5e-324]).unwrap(), Some(0.0));
    }
}
