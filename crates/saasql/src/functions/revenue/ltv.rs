//! `ltv(arpa, churn_rate_pct [, gross_margin_pct [, churn_floor_pct [, convention]]])`:
//! customer lifetime value.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, lit,
};

use crate::args::{Param, Params};
use crate::docs;
use crate::functions::convention::Convention;
use crate::hooks::{Function, Hooks};
use crate::settings::{Setting, SettingValues, finite_number};
use crate::util::numbers::{check_non_negative, finite_result, fmt_num};
use crate::util::rows::map_floats;

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

/// The churn Stripe assumes when a churn rate is 0: a lifetime of 60
/// months, 100 / 60 % a month.
pub const STRIPE_ZERO_CHURN_PCT: f64 = 100.0 / 60.0;

/// LTV of one row: `[arpa, churn_pct, margin_pct, floor_pct]` (missing
/// trailing arguments take their defaults: margin 100, no floor).
pub fn ltv_row(row: &[f64], convention: Convention) -> Result<Option<f64>> {
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
    if churn == 0.0 && convention == Convention::Stripe {
        churn = STRIPE_ZERO_CHURN_PCT;
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
         1.67), which replaces any smaller churn. The optional constant convention names \
         the vendor whose published formula to follow; all four divide an average revenue \
         per customer by a churn rate, and differ in which churn they divide by (pass it): \
         'chartmogul' (default; ChartMogul Help Center, \"Chart: Customer Lifetime Value \
         (LTV)\"): ARPA ÷ the six-month trailing average of the customer churn rate; no \
         LTV at churn 0 (its example: ARPA $100, churn 5 % → $2,000). 'stripe' (Stripe \
         Support, \"Calculating subscriber lifetime value in Billing\"): ARPS ÷ subscriber \
         churn rate, and a churn of 0 is taken as a lifetime of 60 months (100/60 % a \
         month), so it gives arpa × 60 × margin instead of NULL. 'baremetrics' (Baremetrics \
         Help Center, \"LTV: Lifetime Value\"): ARPU ÷ user churn rate; NULL at churn 0. \
         'profitwell' (ProfitWell help, \"Lifetime Value\"): roughly ARPU ÷ (1 − retention) \
         with a smoothing that is not published, so the formula is ARPU ÷ the churn you \
         pass (its example: ARPU $10, churn 4 % → $250); NULL at churn 0. Only ChartMogul \
         and ProfitWell publish worked examples. The margin and floor arguments are \
         saasql's and apply to every convention. NULL inputs give NULL. Negative arpa or \
         churn, a margin or floor outside 0..100, or a lifetime value beyond the DOUBLE \
         range (±1.8e308), is an execution error; an unknown or non-constant convention is \
         a planning error.",
        "ltv(arpa, churn_rate_pct [, gross_margin_pct [, churn_floor_pct [, convention]]])",
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
    .with_argument(
        "convention",
        "Optional constant: 'chartmogul' (default), 'stripe', 'baremetrics' or 'profitwell'.",
    )
    .with_sql_example(
        "SELECT ltv(120.0, 2.5, 80) AS ltv,                 -- 120 × 0.8 / 0.025 = 3840\n       ltv(120.0, 0, 100, 0, 'stripe') AS stripe_ltv;  -- 120 × 60 = 7200",
    )
    .with_related_udf("arpa")
    .with_related_udf("churn_rate")
    .build()
});

const PARAMS: [Param; 5] = [
    Param::number("arpa"),
    Param::number("churn_rate_pct"),
    Param::number("gross_margin_pct"),
    Param::number("churn_floor_pct"),
    Param::text("convention"),
];

/// The `ltv` scalar function: numeric arguments, then an optional constant
/// convention.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Ltv {
    params: Params,
}

impl Default for Ltv {
    fn default() -> Self {
        Self {
            params: Params::new(NAME, &PARAMS, &[2, 3, 4, 5]),
        }
    }
}

impl ScalarUDFImpl for Ltv {
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
        if args.arg_fields.len() == 5 {
            let literals: Vec<Option<ScalarValue>> =
                args.scalar_arguments.iter().map(|v| v.cloned()).collect();
            Convention::from_literals(NAME, &literals, 4)?;
        }
        Ok(Arc::new(Field::new(NAME, DataType::Float64, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (numbers, convention) = match args.args.as_slice() {
            [numbers @ .., ColumnarValue::Scalar(c)] if args.args.len() == 5 => {
                (numbers, Convention::from_literal(NAME, c)?)
            }
            [_, _, _, _, _] => return exec_err!("{NAME}: convention must be a constant"),
            all => (all, Convention::default()),
        };
        let rows = args.number_rows;
        match numbers.len() {
            2 => map_floats::<2>(numbers, rows, |r| ltv_row(&r, convention)),
            3 => map_floats::<3>(numbers, rows, |r| ltv_row(&r, convention)),
            _ => map_floats::<4>(numbers, rows, |r| ltv_row(&r, convention)),
        }
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The `ltv` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(Ltv::default())));
    Arc::clone(&UDF)
}

/// The `ltv` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::scalar(udf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(ltv(arpa, churn_rate_pct); optional);

#[cfg(test)]
mod tests {
    use super::*;

    const CM: Convention = Convention::ChartMogul;

    /// The vendors' published examples: ChartMogul ARPA $100 at 5 % churn →
    /// $2,000; ProfitWell ARPU $10 at 4 % → $250; Stripe assumes a 60-month
    /// lifetime at churn 0 (no example with figures). Baremetrics publishes
    /// none: ARPU $50 at 2 % is $2,500 by its formula.
    #[test]
    fn vendor_examples() {
        assert_eq!(ltv_row(&[100.0, 5.0], CM).unwrap(), Some(2000.0));
        let pw = Convention::ProfitWell;
        assert_eq!(ltv_row(&[10.0, 4.0], pw).unwrap(), Some(250.0));
        let bm = Convention::Baremetrics;
        assert_eq!(ltv_row(&[50.0, 2.0], bm).unwrap(), Some(2500.0));
        let st = Convention::Stripe;
        let v = ltv_row(&[100.0, 0.0], st).unwrap().unwrap();
        assert!((v - 6000.0).abs() < 1e-9, "{v}");
        assert_eq!(ltv_row(&[100.0, 5.0], st).unwrap(), Some(2000.0));
        for c in [CM, pw, bm] {
            assert_eq!(ltv_row(&[100.0, 0.0], c).unwrap(), None);
        }
        // a floor comes first: 2 % replaces 0 before Stripe's rule
        assert_eq!(
            ltv_row(&[100.0, 0.0, 100.0, 2.0], st).unwrap(),
            Some(5000.0)
        );
    }

    #[test]
    fn formula_floor_and_errors() {
        assert_eq!(ltv_row(&[120.0, 2.5, 80.0, 0.0], CM).unwrap(), Some(3840.0));
        assert_eq!(ltv_row(&[100.0, 5.0], CM).unwrap(), Some(2000.0));
        assert_eq!(ltv_row(&[100.0, 0.0, 100.0, 0.0], CM).unwrap(), None);
        // floor 2 replaces churn 0 and 1: 100 / 0.02 = 5000
        assert_eq!(
            ltv_row(&[100.0, 0.0, 100.0, 2.0], CM).unwrap(),
            Some(5000.0)
        );
        assert_eq!(
            ltv_row(&[100.0, 1.0, 100.0, 2.0], CM).unwrap(),
            Some(5000.0)
        );
        assert_eq!(
            ltv_row(&[-1.0, 1.0], CM).unwrap_err().strip_backtrace(),
            "Execution error: ltv: arpa -1 is outside 0..∞"
        );
        assert_eq!(
            ltv_row(&[1.0, 1.0, 101.0], CM)
                .unwrap_err()
                .strip_backtrace(),
            "Execution error: ltv: gross_margin_pct 101 is outside 0..100"
        );
    }

    #[test]
    fn lifetime_value_beyond_double_range_is_an_error_not_null() {
        assert_eq!(
            ltv_row(&[1e308, 0.5], CM).unwrap_err().strip_backtrace(),
            "Execution error: ltv: the lifetime value of arpa 1e308 at churn_rate_pct 0.5 and gross_margin_pct 100 is beyond the DOUBLE range (±1.8e308)"
        );
        // 1e308 at 100 % churn and 50 % margin is 5e307
        assert_eq!(ltv_row(&[1e308, 100.0, 50.0], CM).unwrap(), Some(5e307));
        // churn / 100 would underflow to 0; the answer is finite
        let v = ltv_row(&[1e-20, 1e-322], CM).unwrap().unwrap();
        assert!(
            v.is_finite() && (v / (1e-20 / 1e-322 * 100.0) - 1.0).abs() < 0.1,
            "{v}"
        );
        // no revenue: 0 whatever the churn
        assert_eq!(ltv_row(&[0.0, 5e-324], CM).unwrap(), Some(0.0));
    }
}
