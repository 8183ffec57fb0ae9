//! Numbers in error messages, and the checks that word their errors the
//! same way in every function.

use datafusion::common::{Result, exec_err};

/// Formats a number the way error messages show it: `11`, `-2.5`, and very
/// large or small magnitudes in scientific notation (`1e308`, `5e-324`).
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a.is_finite() && a != 0.0 && !(1e-6..1e16).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Rejects NaN and ±Inf inputs with a message naming the function and argument.
#[inline]
pub fn check_finite(function: &str, argument: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        exec_err!("{function}: {argument} {v} is not a finite number")
    }
}

/// Rejects negative (and non-finite) inputs: `ltv: arpa -5 is outside 0..∞`.
#[inline]
pub fn check_non_negative(function: &str, argument: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        exec_err!("{function}: {argument} {} is outside 0..∞", fmt_num(v))
    }
}

/// `v` when it is finite, else an execution error saying that `what()` (the
/// result, described with its inputs) does not fit a DOUBLE:
/// `to_mrr: amount 1e308 per 1 day as monthly revenue is beyond the DOUBLE range (±1.8e308)`.
/// Functions compute their results so that this only happens when the true
/// answer is beyond ±1.8e308, never from an overflowing intermediate value.
#[inline]
pub fn finite_result(function: &str, v: f64, what: impl FnOnce() -> String) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        exec_err!(
            "{function}: {} is beyond the DOUBLE range (±1.8e308)",
            what()
        )
    }
}
