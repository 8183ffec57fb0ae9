//! `health_score(value1, weight1 [, value2, weight2, …] [, missing])`: weighted mean of components.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Kind, count_error, type_error};
use crate::docs;
use crate::hooks::{Function, Hooks};
use crate::settings::{Setting, SettingValues};
use crate::util::literals::{scalar_f64, scalar_str};
use crate::util::numbers::fmt_num;
use crate::util::rows::{finish_columnar, float_arrays};

const NAME: &str = "health_score";

/// How `health_score` treats NULL components (`saasql.health_missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissingPolicy {
    /// Drop missing components and renormalise the remaining weights (Gainsight).
    Renormalize,
    /// Missing components count as 0 with their full weight.
    Zero,
    /// Any missing component makes the score NULL.
    Null,
}

impl MissingPolicy {
    /// Parses `renormalize`, `zero` or `null` (case-insensitive).
    pub fn parse(owner: &str, s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "renormalize" | "renormalise" => Ok(Self::Renormalize),
            "zero" => Ok(Self::Zero),
            "null" => Ok(Self::Null),
            _ => plan_err!("{owner}: missing policy '{s}' is not one of renormalize, zero, null"),
        }
    }

    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Renormalize => "renormalize",
            Self::Zero => "zero",
            Self::Null => "null",
        }
    }
}

/// `saasql.health_missing`: the missing policy of calls without one.
pub static MISSING: Setting = Setting {
    key: "health_missing",
    description: "How health_score treats NULL components: renormalize (default), zero or null.",
    default: "renormalize",
    parse: |owner, value| {
        Ok(ScalarValue::from(
            MissingPolicy::parse(owner, value)?.as_str(),
        ))
    },
};

/// `health_score` reads `saasql.health_missing`.
const HOOKS: Hooks = Hooks {
    settings: &[&MISSING],
    extra_args: Some(settings_args),
    ..Hooks::NONE
};

/// A call with value, weight pairs and no missing policy gets the setting's.
fn settings_args(n: usize, settings: &SettingValues) -> Option<Vec<Expr>> {
    (n >= 2 && n.is_multiple_of(2)).then(|| vec![settings.lit(&MISSING)])
}

/// The weighted mean of one row's `(value, weight)` pairs under `policy`.
/// `None` components are missing values. Values are finite and weights
/// finite and ≥ 0 (already checked), so the mean is finite. When Σ w·v or
/// Σ w leaves the normal DOUBLE range (overflows, or falls below 2⁻⁹⁶⁰,
/// where products lose precision), it is computed again with weights
/// relative to the largest weight and values relative to the largest value.
pub fn weighted_mean(pairs: &[(Option<f64>, f64)], policy: MissingPolicy) -> Option<f64> {
    /// 2⁻⁹⁶⁰.
    const TINY: f64 = f64::from_bits(63 << 52);
    let (mut num, mut den, mut present) = (0.0, 0.0, 0usize);
    let (mut w_max, mut v_max) = (0.0f64, 0.0f64);
    for (v, w) in pairs {
        match v {
            Some(v) => {
                num += w * v;
                den += w;
                present += 1;
                w_max = w_max.max(*w);
                v_max = v_max.max(v.abs());
            }
            None => match policy {
                MissingPolicy::Renormalize => {}
                MissingPolicy::Zero => {
                    den += w;
                    w_max = w_max.max(*w);
                }
                MissingPolicy::Null => return None,
            },
        }
    }
    if present == 0 || den == 0.0 {
        return None;
    }
    if num.is_finite() && den.is_finite() && num.abs() >= TINY && den >= TINY {
        return Some(num / den);
    }
    if v_max == 0.0 {
        return Some(0.0);
    }
    // |w/w_max · v/v_max| ≤ 1 and the largest weight counts 1 in Σ w, so
    // neither sum can overflow, and only negligible products underflow.
    let (mut num, mut den) = (0.0, 0.0);
    for (v, w) in pairs {
        let w = w / w_max;
        match v {
            Some(v) => {
                num += w * (v / v_max);
                den += w;
            }
            None if policy == MissingPolicy::Zero => den += w,
            None => {}
        }
    }
    Some(num / den * v_max)
}

fn check_weight(w: f64, pair: usize) -> Result<f64> {
    if w.is_finite() && w >= 0.0 {
        Ok(w)
    } else {
        exec_err!(
            "{NAME}: weight{pair} {} is outside 0..∞ (weights must be finite and not negative)",
            fmt_num(w)
        )
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Customer health score: the weighted mean Σ wᵢ·vᵢ / Σ wᵢ of component scores. \
         Weights need not sum to 100. NULL components are handled by the `missing` \
         argument, else the `saasql.health_missing` setting: `renormalize` (default; \
         their weights are dropped, as Gainsight does), `zero` (they count as 0) or `null` \
         (any missing component gives NULL). All components NULL, or Σ wᵢ = 0, gives NULL; \
         a NULL weight gives NULL. Weights and values anywhere in the DOUBLE range \
         are fine: when sums would overflow (or underflow), weights and values are \
         taken relative to the largest ones. A negative \
         or non-finite weight, or a NaN or infinite value, is an error; the missing \
         policy must be a non-NULL constant.",
        "health_score(value1, weight1 [, value2, weight2, ...] [, missing])",
    )
    .with_argument("valueN", "Component score, usually 0–100 (any numeric type).")
    .with_argument("weightN", "Weight of that component (≥ 0).")
    .with_argument(
        "missing",
        "Optional constant 'renormalize', 'zero' or 'null' overriding saasql.health_missing.",
    )
    .with_sql_example(
        "SELECT customer_id,\n       health_score(usage, 40, nps_component, 10, support_component, 20, billing_component, 30) AS health\nFROM customer_components;",
    )
    .with_related_udf("health_tier")
    .build()
});

/// The `health_score` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HealthScore {
    signature: Signature,
}

impl Default for HealthScore {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// A planning error unless `types` is value, weight pairs with an optional
/// final missing policy string.
fn check_types(types: &[DataType]) -> Result<()> {
    let n = types.len();
    if n < 2 {
        return Err(count_error(
            NAME,
            "value, weight pairs and an optional missing policy \
             (value1, weight1 [, value2, weight2, …] [, missing])",
            n,
        ));
    }
    for (i, t) in types.iter().enumerate() {
        if n % 2 == 1 && i == n - 1 {
            if !Kind::Text.accepts(t) {
                return Err(type_error(
                    NAME,
                    i,
                    "missing",
                    "a string ('renormalize', 'zero' or 'null') after the value, weight pairs",
                    t,
                ));
            }
        } else if !Kind::Number.accepts(t) {
            let what = if i % 2 == 0 { "value" } else { "weight" };
            return Err(type_error(
                NAME,
                i,
                &format!("{what}{}", i / 2 + 1),
                Kind::Number.expected(),
                t,
            ));
        }
    }
    Ok(())
}

impl ScalarUDFImpl for HealthScore {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// A wrong call is let through unchanged, to be reported by
    /// [`check_types`] from the return type: DataFusion wraps errors raised
    /// here in two more messages.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if check_types(arg_types).is_err() {
            return Ok(arg_types.to_vec());
        }
        let n = arg_types.len();
        Ok((0..n)
            .map(|i| {
                if n % 2 == 1 && i == n - 1 {
                    DataType::Utf8
                } else {
                    DataType::Float64
                }
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_types(arg_types)?;
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        check_types(&types)?;
        let n = args.arg_fields.len();
        for (i, lit) in args.scalar_arguments.iter().enumerate() {
            let Some(lit) = lit else { continue };
            if i == n - 1 && n % 2 == 1 {
                match scalar_str(NAME, "missing", lit)? {
                    Some(s) => MissingPolicy::parse(NAME, s)?,
                    None => return plan_err!("{NAME}: missing policy must not be NULL"),
                };
            } else if i % 2 == 1
                && let Some(w) = scalar_f64(NAME, "weight", lit)?
                && w < 0.0
            {
                return plan_err!(
                    "{NAME}: weight{} {} is outside 0..∞ (weights must be finite and not negative)",
                    i / 2 + 1,
                    fmt_num(w)
                );
            }
        }
        if n % 2 == 1 && args.scalar_arguments[n - 1].is_none() {
            return plan_err!("{NAME}: missing policy must be a constant");
        }
        Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let mut values = args.args;
        let policy = if values.len() % 2 == 1 {
            match values.pop() {
                Some(ColumnarValue::Scalar(s)) => match scalar_str(NAME, "missing", &s)? {
                    Some(p) => MissingPolicy::parse(NAME, p)?,
                    None => return plan_err!("{NAME}: missing policy must not be NULL"),
                },
                _ => return plan_err!("{NAME}: missing policy must be a constant"),
            }
        } else {
            MissingPolicy::Renormalize
        };
        let all_scalar = values.iter().all(|v| matches!(v, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays = float_arrays(&values, rows)?;
        let pairs = arrays.len() / 2;
        let mut row: Vec<(Option<f64>, f64)> = vec![(None, 0.0); pairs];
        let mut out = vec![0.0; rows];
        let mut valid = vec![false; rows];
        'rows: for i in 0..rows {
            for p in 0..pairs {
                let (v, w) = (&arrays[2 * p], &arrays[2 * p + 1]);
                if w.is_null(i) {
                    continue 'rows;
                }
                let w = check_weight(w.value(i), p + 1)?;
                let v = if v.is_null(i) {
                    None
                } else if v.value(i).is_finite() {
                    Some(v.value(i))
                } else {
                    return exec_err!(
                        "{NAME}: value{} {} is not a finite number",
                        p + 1,
                        v.value(i)
                    );
                };
                row[p] = (v, w);
            }
            if let Some(r) = weighted_mean(&row, policy) {
                out[i] = r;
                valid[i] = true;
            }
        }
        let nulls = BooleanBuffer::from(valid);
        let arr = Float64Array::new(out.into(), Some(nulls.into()));
        finish_columnar(Arc::new(arr), all_scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The `health_score` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(HealthScore::default())));
    Arc::clone(&UDF)
}

/// The `health_score` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::scalar(udf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(health_score(..args));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renormalises_zeroes_or_nulls_missing_components() {
        let pairs = [
            (Some(80.0), 40.0),
            (None, 10.0),
            (Some(50.0), 20.0),
            (Some(100.0), 30.0),
        ];
        // (80*40 + 50*20 + 100*30) / (40+20+30) = 7200/90 = 80
        assert_eq!(
            weighted_mean(&pairs, MissingPolicy::Renormalize),
            Some(80.0)
        );
        // 7200 / 100 = 72
        assert_eq!(weighted_mean(&pairs, MissingPolicy::Zero), Some(72.0));
        assert_eq!(weighted_mean(&pairs, MissingPolicy::Null), None);
        assert_eq!(weighted_mean(&[(None, 1.0)], MissingPolicy::Zero), None);
        assert_eq!(
            weighted_mean(&[(Some(5.0), 0.0)], MissingPolicy::Renormalize),
            None
        );
    }

    #[test]
    fn huge_weights_and_values_do_not_overflow() {
        // Σ w·v and Σ w overflow; the mean is 50
        let pairs = [(Some(50.0), 1e308), (Some(50.0), 1e308)];
        assert_eq!(
            weighted_mean(&pairs, MissingPolicy::Renormalize),
            Some(50.0)
        );
        // Σ w·v overflows with ordinary weights
        let pairs = [(Some(1e308), 1.0), (Some(1.5e308), 1.0)];
        let v = weighted_mean(&pairs, MissingPolicy::Renormalize).unwrap();
        assert!((v / 1.25e308 - 1.0).abs() < 1e-15, "{v}");
        // the product is below the DOUBLE range: 6.5e-156 × 7.8e-194
        let pairs = [(Some(6.529007673802674e-156), 7.804259118650677e-194)];
        assert_eq!(
            weighted_mean(&pairs, MissingPolicy::Renormalize),
            Some(6.529007673802674e-156)
        );
        // both at once, with a missing component counted as 0
        let pairs = [
            (Some(1.6e308), 1e308),
            (None, 1e308),
            (Some(-1e308), 1.7e308),
        ];
        let v = weighted_mean(&pairs, MissingPolicy::Zero).unwrap();
        let want = (1.6 * 1.0 - 1.0 * 1.7) / 3.7 * 1e308;
        assert!((v - want).abs() <= 1e-12 * want.abs(), "{v} vs {want}");
    }

    /// Any finite number, with the extremes and ordinary scores well represented.
    fn finite() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
            -1000.0..1000.0,
            Just(f64::MAX),
            Just(f64::MIN),
        ]
    }

    /// Any finite weight ≥ 0.
    fn weight() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::num::f64::POSITIVE | proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
            0.0..100.0,
            Just(f64::MAX),
        ]
    }

    proptest::proptest! {
        // No regression files: a failure found here becomes a named unit test.
        #![proptest_config(proptest::test_runner::Config {
            cases: 256,
            failure_persistence: None,
            ..Default::default()
        })]

        /// The weighted mean of finite values lies between the smallest and
        /// the largest of them, whatever the magnitudes; NULL only when the
        /// weights sum to 0.
        #[test]
        fn weighted_mean_lies_between_the_values(
            pairs in proptest::collection::vec((finite(), weight()), 1..6)
        ) {
            let rows: Vec<(Option<f64>, f64)> = pairs.iter().map(|(v, w)| (Some(*v), *w)).collect();
            let r = weighted_mean(&rows, MissingPolicy::Renormalize);
            if pairs.iter().all(|(_, w)| *w == 0.0) {
                proptest::prop_assert_eq!(r, None);
            } else {
                let r = r.expect("a mean");
                let lo = pairs.iter().map(|p| p.0).fold(f64::MAX, f64::min);
                let hi = pairs.iter().map(|p| p.0).fold(f64::MIN, f64::max);
                let tol = 1e-9 * lo.abs().max(hi.abs());
                proptest::prop_assert!(r.is_finite() && lo - tol <= r && r <= hi + tol, "{r} not in [{lo}, {hi}]");
            }
        }
    }

    #[test]
    fn policy_parsing() {
        assert_eq!(
            MissingPolicy::parse("x", "Zero").unwrap(),
            MissingPolicy::Zero
        );
        assert_eq!(
            MissingPolicy::parse("x", "drop")
                .unwrap_err()
                .strip_backtrace(),
            "Error during planning: x: missing policy 'drop' is not one of renormalize, zero, null"
        );
    }
}
