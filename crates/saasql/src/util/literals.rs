//! Constant arguments: reading a call's literals, checking literal
//! parameters, and passing constant strings as one-value dictionaries.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

/// A non-NULL string `value` as a one-value dictionary literal.
///
/// DataFusion 55 expands every aggregate argument to a full column for each
/// batch, so a 70-byte weights string cost 560 KB of copying per 8,192 rows.
/// A dictionary literal expands to a cached key column and one value. The
/// value stays the same: functions read it back with [`scalar_str`]. Other
/// values are unchanged: a number expands to a plain fill, which costs less
/// than the key check of a dictionary.
pub fn constant_literal(value: ScalarValue) -> ScalarValue {
    match value {
        ScalarValue::Utf8(Some(_))
        | ScalarValue::LargeUtf8(Some(_))
        | ScalarValue::Utf8View(Some(_)) => {
            ScalarValue::Dictionary(Box::new(DataType::Int8), Box::new(value))
        }
        other => other,
    }
}

/// The constant values of a call's physical arguments (`None` where an
/// argument is not a constant).
pub fn physical_literals(exprs: &[Arc<dyn PhysicalExpr>]) -> Vec<Option<ScalarValue>> {
    exprs
        .iter()
        .map(|e| e.downcast_ref::<Literal>().map(|l| l.value().clone()))
        .collect()
}

/// The constant values of a call's logical arguments (`None` where an
/// argument is not a constant), as seen while the query is analysed: a
/// literal, or a cast of one (`TIMESTAMP '2025-07-01'`, `DATE '…'`), which
/// the optimizer folds into a literal later.
pub fn logical_literals(args: &[Expr]) -> Vec<Option<ScalarValue>> {
    fn constant(e: &Expr) -> Option<ScalarValue> {
        match e {
            Expr::Literal(v, _) => Some(v.clone()),
            Expr::Cast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
            Expr::TryCast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
            _ => None,
        }
    }
    args.iter().map(constant).collect()
}

/// The constant at `index`: `Ok(None)` when the call has no such argument, a
/// planning error naming the function and argument when it is not a constant.
pub fn constant_arg<'a>(
    function: &str,
    argument: &str,
    literals: &'a [Option<ScalarValue>],
    index: usize,
) -> Result<Option<&'a ScalarValue>> {
    match literals.get(index) {
        None => Ok(None),
        Some(Some(v)) => Ok(Some(v)),
        Some(None) => {
            plan_err!("{function}: {argument} must be a constant, not a column or expression")
        }
    }
}

/// A literal numeric parameter as `f64` (`None` for a NULL literal).
pub fn scalar_f64(function: &str, argument: &str, value: &ScalarValue) -> Result<Option<f64>> {
    if value.is_null() {
        return Ok(None);
    }
    let cast = value.cast_to(&DataType::Float64).ok();
    match cast {
        Some(ScalarValue::Float64(Some(v))) if v.is_finite() => Ok(Some(v)),
        _ => plan_err!("{function}: {argument} must be a finite number, got {value}"),
    }
}

/// A literal string parameter (`None` for a NULL literal).
pub fn scalar_str<'a>(
    function: &str,
    argument: &str,
    value: &'a ScalarValue,
) -> Result<Option<&'a str>> {
    if value.is_null() {
        return Ok(None);
    }
    match value.try_as_str() {
        Some(s) => Ok(s),
        None => plan_err!("{function}: {argument} must be a string, got {value}"),
    }
}
