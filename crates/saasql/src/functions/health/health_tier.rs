//! `health_tier(score [, red_max, yellow_max, green_max])`: red, yellow, green or power_user.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::util::literals::scalar_f64;
use crate::util::numbers::{check_finite, fmt_num};
use crate::util::rows::map_floats_to_label;

const NAME: &str = "health_tier";
const DEFAULTS: [f64; 3] = [40.0, 70.0, 100.0];

/// Checks that the thresholds are finite and strictly increasing.
fn check_thresholds(t: [f64; 3]) -> std::result::Result<(), String> {
    let names = ["red_max", "yellow_max", "green_max"];
    for (v, n) in t.iter().zip(names) {
        if !v.is_finite() {
            return Err(format!("{NAME}: {n} {v} is not a finite number"));
        }
    }
    if !(t[0] < t[1] && t[1] < t[2]) {
        return Err(format!(
            "{NAME}: thresholds must be strictly increasing (red_max < yellow_max < green_max), got {}, {}, {}",
            fmt_num(t[0]),
            fmt_num(t[1]),
            fmt_num(t[2])
        ));
    }
    Ok(())
}

/// The tier of one score under thresholds `[red_max, yellow_max, green_max]`.
pub fn tier(score: f64, t: [f64; 3]) -> Result<&'static str> {
    let s = check_finite(NAME, "score", score)?;
    Ok(if s <= t[0] {
        "red"
    } else if s <= t[1] {
        "yellow"
    } else if s <= t[2] {
        "green"
    } else {
        "power_user"
    })
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Health tier of a score. With the default thresholds 40, 70, 100: ≤ 40 'red'; \
         (40, 70] 'yellow'; (70, 100] 'green'; above 100 'power_user' (an expansion \
         candidate). Upper bounds are inclusive, so 40 is red and 40.5 is yellow. NULL \
         gives NULL (a missing score is never a colour), and so do NULL thresholds. \
         Thresholds must be strictly \
         increasing: a planning error for constants, an execution error for columns.",
        "health_tier(score [, red_max, yellow_max, green_max])",
    )
    .with_argument("score", "A health score, usually from health_score.")
    .with_argument("red_max", "Optional highest 'red' score (default 40).")
    .with_argument(
        "yellow_max",
        "Optional highest 'yellow' score (default 70).",
    )
    .with_argument("green_max", "Optional highest 'green' score (default 100).")
    .with_sql_example(
        "SELECT health_tier(82) AS default_tiers, health_tier(82, 50, 80, 95) AS strict_tiers;",
    )
    .with_related_udf("health_score")
    .build()
});

/// The `health_tier` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HealthTier {
    params: Params,
}

impl Default for HealthTier {
    fn default() -> Self {
        const PARAMS: [Param; 4] = [
            Param::number("score"),
            Param::number("red_max"),
            Param::number("yellow_max"),
            Param::number("green_max"),
        ];
        Self {
            params: Params::new(NAME, &PARAMS, &[1, 4]),
        }
    }
}

impl ScalarUDFImpl for HealthTier {
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
        Ok(DataType::Utf8)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.params.check_fields(args.arg_fields)?;
        // Constant thresholds are checked while planning.
        if args.scalar_arguments.len() == 4 {
            let lits: Vec<Option<f64>> = args.scalar_arguments[1..]
                .iter()
                .zip(["red_max", "yellow_max", "green_max"])
                .map(|(s, n)| match s {
                    Some(s) => scalar_f64(NAME, n, s),
                    None => Ok(None),
                })
                .collect::<Result<_>>()?;
            if let [Some(a), Some(b), Some(c)] = lits[..] {
                check_thresholds([a, b, c]).or_else(|e| plan_err!("{e}"))?;
            }
        }
        Ok(Arc::new(Field::new(NAME, DataType::Utf8, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.args.len() == 4 {
            map_floats_to_label::<4>(&args.args, args.number_rows, |[s, r, y, g]| {
                check_thresholds([r, y, g]).or_else(|e| exec_err!("{e}"))?;
                tier(s, [r, y, g])
            })
        } else {
            map_floats_to_label::<1>(&args.args, args.number_rows, |[s]| tier(s, DEFAULTS))
        }
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// The `health_tier` scalar function.
pub fn udf() -> Arc<ScalarUDF> {
    static UDF: LazyLock<Arc<ScalarUDF>> =
        LazyLock::new(|| Arc::new(ScalarUDF::from(HealthTier::default())));
    Arc::clone(&UDF)
}

/// The `health_tier` entry of the function list.
pub fn function() -> Function {
    Function::scalar(udf())
}

crate::define_expr_fn!(health_tier(score); optional);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_boundaries_are_inclusive_upper_bounds() {
        let cases = [
            (-5.0, "red"),
            (40.0, "red"),
            (40.5, "yellow"),
            (70.0, "yellow"),
            (100.0, "green"),
            (100.01, "power_user"),
        ];
        for (s, t) in cases {
            assert_eq!(tier(s, DEFAULTS).unwrap(), t, "score {s}");
        }
    }

    #[test]
    fn thresholds_must_increase() {
        assert!(check_thresholds([40.0, 70.0, 100.0]).is_ok());
        assert_eq!(
            check_thresholds([50.0, 50.0, 90.0]).unwrap_err(),
            "health_tier: thresholds must be strictly increasing (red_max < yellow_max < green_max), got 50, 50, 90"
        );
    }
}
