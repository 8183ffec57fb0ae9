//! What a `saasql.*` setting is: declared by the function that reads it, in
//! that function's file, as a [`Setting`].
//!
//! Function files import this module; [`crate::config`] (the session
//! extension that holds the values) and [`crate::rewrite`] (which passes them
//! to calls as literal arguments) import the functions. Nothing here knows
//! any function.

use std::collections::BTreeMap;

use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Expr, lit};

/// One `saasql.*` setting.
#[derive(Debug)]
pub struct Setting {
    /// Its key without the `saasql.` prefix.
    pub key: &'static str,
    /// One line for `SHOW ALL` and the function reference.
    pub description: &'static str,
    /// Its default, spelt as `SET` would take it.
    pub default: &'static str,
    /// Checks a value and turns it into the literal the function receives;
    /// errors are planning errors starting with `owner` (`saasql.<key>`).
    pub parse: fn(owner: &str, value: &str) -> Result<ScalarValue>,
}

impl Setting {
    /// The setting's name with its prefix, as errors show it.
    pub fn full_key(&self) -> String {
        format!("saasql.{}", self.key)
    }

    /// The literal of [`Self::default`].
    pub fn default_value(&self) -> ScalarValue {
        (self.parse)(&self.full_key(), self.default)
            .unwrap_or_else(|e| panic!("saasql.{}: bad default: {e}", self.key))
    }
}

/// The values of the settings a session has `SET`, by key, as the literals
/// their functions receive; the others have their defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingValues(BTreeMap<&'static str, ScalarValue>);

impl SettingValues {
    /// The value of `setting`.
    pub fn get(&self, setting: &Setting) -> ScalarValue {
        match self.0.get(setting.key) {
            Some(v) => v.clone(),
            None => setting.default_value(),
        }
    }

    /// The value of `setting` as a literal argument.
    pub fn lit(&self, setting: &Setting) -> Expr {
        lit(self.get(setting))
    }

    /// Checks `value` and sets `setting` to it.
    pub fn set(&mut self, setting: &'static Setting, value: &str) -> Result<()> {
        let parsed = (setting.parse)(&setting.full_key(), value)?;
        self.0.insert(setting.key, parsed);
        Ok(())
    }

    /// The value of `setting` as `SHOW` prints it.
    pub fn show(&self, setting: &Setting) -> String {
        match self.get(setting) {
            ScalarValue::Utf8(Some(s)) => s,
            ScalarValue::Float64(Some(v)) => v.to_string(),
            other => other.to_string(),
        }
    }
}

/// Parses a finite number: `saasql.x: 'abc' is not a finite number`.
pub fn finite_number(owner: &str, value: &str) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => plan_err!("{owner}: '{value}' is not a finite number"),
    }
}
