//! The argument lists every saasql function accepts, and the one place that
//! turns a wrong argument count or type into a planning error.
//!
//! DataFusion 55 reports a call that matches none of the forms of a `one_of`
//! signature as an *internal* error ("… likely a bug in DataFusion"), and
//! wraps any error raised from `coerce_types` in two more layers of text. So a
//! function declares its parameters once, as [`Params`], and gets a signature
//! that lists its forms declaratively (for implicit casts and
//! `information_schema.parameters`) followed by two catch-alls, `Nullary` and
//! `UserDefined`, whose `coerce_types` ([`Params::coerce`]) lets any call
//! through. A wrong call then reaches the function's return-type method, which
//! rejects it with [`Params::check`]:
//!
//! ```text
//! csat: takes 1 or 2 arguments (score) or (score, scale_max), got 3
//! csat: argument 1 (score) must be a number, got Utf8
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};
use datafusion::common::types::{LogicalFields, NativeType, logical_boolean};
use datafusion::common::{DataFusionError, Result, plan_datafusion_err};
use datafusion::logical_expr::{
    Coercion, Signature, TypeSignature, TypeSignatureClass, Volatility,
};

use crate::util::coercion::{keep_dictionary, numeric, string, time};

/// What one argument accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Any integer, float or decimal type, passed on as DOUBLE.
    Number,
    /// A string.
    Text,
    /// A string, kept dictionary-encoded when it is.
    DictText,
    /// A DATE or TIMESTAMP (strings are parsed as timestamps).
    Time,
    /// A BOOLEAN.
    Boolean,
    /// An identifier: integer, string or binary (also dictionary-encoded).
    Id,
    /// A struct with (at least) these numeric fields, read by name (a fitted
    /// model, such as the result of `bgnbd_fit`); other fields are ignored.
    Struct(&'static [&'static str]),
}

impl Kind {
    /// What an error message says the argument must be.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Text | Kind::DictText => "a string",
            Kind::Time => "a DATE or TIMESTAMP",
            Kind::Boolean => "a BOOLEAN",
            Kind::Id => "an integer, string or binary id",
            Kind::Struct(_) => "a struct",
        }
    }

    fn coercion(self) -> Coercion {
        match self {
            Kind::Number => numeric(),
            Kind::Text => string(),
            Kind::DictText => keep_dictionary(string()),
            Kind::Time => time(),
            Kind::Boolean => Coercion::new_exact(TypeSignatureClass::Native(logical_boolean())),
            Kind::Id => Coercion::new_exact(TypeSignatureClass::Any),
            Kind::Struct(names) => {
                let fields: Fields = names
                    .iter()
                    .map(|n| Field::new(*n, DataType::Float64, true))
                    .collect();
                Coercion::new_exact(TypeSignatureClass::Native(Arc::new(NativeType::Struct(
                    LogicalFields::from(&fields),
                ))))
            }
        }
    }

    /// Whether a value of type `t` is accepted (NULL always is).
    pub fn accepts(self, t: &DataType) -> bool {
        let t = match t {
            DataType::Dictionary(_, v) => v.as_ref(),
            t => t,
        };
        if t.is_null() {
            return true;
        }
        match self {
            Kind::Number => t.is_numeric(),
            Kind::Text | Kind::DictText => is_string(t),
            Kind::Time => {
                matches!(
                    t,
                    DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
                ) || is_string(t)
            }
            Kind::Boolean => *t == DataType::Boolean,
            Kind::Struct(names) => struct_problem(names, t).is_none(),
            Kind::Id => {
                t.is_integer()
                    || is_string(t)
                    || matches!(
                        t,
                        DataType::Binary
                            | DataType::LargeBinary
                            | DataType::BinaryView
                            | DataType::FixedSizeBinary(_)
                    )
            }
        }
    }

    /// The type an accepted `t` is cast to (as the declarative forms would).
    fn coerce(self, t: &DataType) -> DataType {
        let plain = match t {
            DataType::Dictionary(_, v) => v.as_ref(),
            t => t,
        };
        match self {
            Kind::Number => DataType::Float64,
            Kind::Text if is_string(plain) => plain.clone(),
            Kind::DictText if is_string(plain) => t.clone(),
            Kind::Text | Kind::DictText => DataType::Utf8,
            Kind::Time => match plain {
                DataType::Timestamp(..) => plain.clone(),
                _ => DataType::Timestamp(TimeUnit::Microsecond, None),
            },
            Kind::Boolean => DataType::Boolean,
            Kind::Id if plain.is_null() => DataType::Int64,
            Kind::Id | Kind::Struct(_) => t.clone(),
        }
    }
}

/// Why `t` is not a struct with the numeric fields `names` (`None`: it is,
/// or it is NULL): `has no field alpha`, `field alpha must be a number, got Utf8`.
fn struct_problem(names: &[&str], t: &DataType) -> Option<String> {
    let fields = match t {
        DataType::Null => return None,
        DataType::Struct(fields) => fields,
        other => {
            return Some(format!(
                "must be a struct with numeric fields {}, got {other}",
                names.join(", ")
            ));
        }
    };
    for name in names {
        match fields.iter().find(|f| f.name() == name) {
            None => {
                return Some(format!(
                    "has no field {name} (a struct with numeric fields {} is expected)",
                    names.join(", ")
                ));
            }
            Some(f) if !(f.data_type().is_numeric() || f.data_type().is_null()) => {
                return Some(format!(
                    "field {name} must be a number, got {}",
                    f.data_type()
                ));
            }
            Some(_) => {}
        }
    }
    None
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// One named parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param {
    /// Its name, as in the documentation.
    pub name: &'static str,
    /// What it accepts.
    pub kind: Kind,
}

impl Param {
    /// A numeric parameter.
    pub const fn number(name: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Number,
        }
    }
    /// A string parameter.
    pub const fn text(name: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Text,
        }
    }
    /// A string parameter that keeps dictionary encoding.
    pub const fn dict_text(name: &'static str) -> Self {
        Self {
            name,
            kind: Kind::DictText,
        }
    }
    /// A DATE or TIMESTAMP parameter.
    pub const fn time(name: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Time,
        }
    }
    /// A BOOLEAN parameter.
    pub const fn boolean(name: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Boolean,
        }
    }
    /// An identifier parameter (integer, string or binary).
    pub const fn id(name: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Id,
        }
    }
    /// A struct parameter with (at least) the numeric `fields`.
    pub const fn structure(name: &'static str, fields: &'static [&'static str]) -> Self {
        Self {
            name,
            kind: Kind::Struct(fields),
        }
    }
}

/// A function's parameters and how many of them a call may pass (the
/// trailing ones are optional), with the signature built from them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Params {
    function: &'static str,
    params: &'static [Param],
    counts: &'static [usize],
    signature: Signature,
}

impl Params {
    /// `function` takes the first `n` of `params` for every `n` in `counts`.
    pub fn new(function: &'static str, params: &'static [Param], counts: &'static [usize]) -> Self {
        let mut forms: Vec<TypeSignature> = counts
            .iter()
            .map(|&n| {
                TypeSignature::Coercible(params[..n].iter().map(|p| p.kind.coercion()).collect())
            })
            .collect();
        // Catch-alls: the call reaches `check` instead of DataFusion's
        // internal "failed to match any signature" error.
        forms.push(TypeSignature::Nullary);
        forms.push(TypeSignature::UserDefined);
        Self {
            function,
            params,
            counts,
            signature: Signature::one_of(forms, Volatility::Immutable),
        }
    }

    /// The signature: one form per accepted count, then the catch-alls.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The function's name.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// Every parameter, in order.
    pub fn params(&self) -> &'static [Param] {
        self.params
    }

    /// The accepted argument counts.
    pub fn counts(&self) -> &'static [usize] {
        self.counts
    }

    /// The accepted forms: `(score) or (score, scale_max)`.
    pub fn forms(&self) -> String {
        let forms: Vec<String> = self
            .counts
            .iter()
            .map(|&n| {
                let names: Vec<&str> = self.params[..n].iter().map(|p| p.name).collect();
                format!("({})", names.join(", "))
            })
            .collect();
        join_or(&forms)
    }

    /// [`Self::check`] on the types of `fields` (a scalar's `return_field_from_args`).
    pub fn check_fields(&self, fields: &[FieldRef]) -> Result<()> {
        let types: Vec<DataType> = fields.iter().map(|f| f.data_type().clone()).collect();
        self.check(&types)
    }

    /// A planning error when `types` is not an accepted call.
    pub fn check(&self, types: &[DataType]) -> Result<()> {
        let n = types.len();
        if !self.counts.contains(&n) {
            let counts: Vec<String> = self.counts.iter().map(usize::to_string).collect();
            let plural = if self.counts == [1] { "" } else { "s" };
            let takes = format!("{} argument{plural} {}", join_or(&counts), self.forms());
            return Err(count_error(self.function, &takes, n));
        }
        for (i, (t, p)) in types.iter().zip(self.params).enumerate() {
            if let Kind::Struct(names) = p.kind
                && let Some(problem) = struct_problem(names, t)
            {
                return Err(plan_datafusion_err!(
                    "{}: argument {} ({}) {problem}",
                    self.function,
                    i + 1,
                    p.name
                ));
            }
            if !p.kind.accepts(t) {
                return Err(type_error(self.function, i, p.name, p.kind.expected(), t));
            }
        }
        Ok(())
    }

    /// `coerce_types` of the `UserDefined` catch-all: the cast types of an
    /// accepted call, and `types` unchanged for any other, so that
    /// [`Self::check`] reports it from the return-type method.
    pub fn coerce(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        if self.check(types).is_err() {
            return Ok(types.to_vec());
        }
        Ok(types
            .iter()
            .zip(self.params)
            .map(|(t, p)| p.kind.coerce(t))
            .collect())
    }
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `health_tier: takes 1 or 4 arguments (score) or (score, red_max, yellow_max, green_max), got 3`.
pub fn count_error(function: &str, takes: &str, got: usize) -> DataFusionError {
    plan_datafusion_err!("{function}: takes {takes}, got {got}")
}

/// `csat: argument 1 (score) must be a number, got Utf8`; `index` counts from 0.
pub fn type_error(
    function: &str,
    index: usize,
    name: &str,
    expected: &str,
    got: &DataType,
) -> DataFusionError {
    plan_datafusion_err!(
        "{function}: argument {} ({name}) must be {expected}, got {got}",
        index + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSAT: [Param; 2] = [Param::number("score"), Param::number("scale_max")];
    const NPS: [Param; 1] = [Param::number("score")];
    const ABC: [Param; 3] = [Param::number("a"), Param::number("b"), Param::number("c")];
    const TIME_ID: [Param; 2] = [Param::time("at"), Param::id("who")];

    #[test]
    fn counts_and_types_are_named_in_one_line() {
        let p = Params::new("csat", &CSAT, &[1, 2]);
        assert!(p.check(&[DataType::Int64]).is_ok());
        assert!(
            p.check(&[DataType::Null, DataType::Decimal128(4, 1)])
                .is_ok()
        );
        assert_eq!(
            p.check(&vec![DataType::Int64; 3])
                .unwrap_err()
                .strip_backtrace(),
            "Error during planning: csat: takes 1 or 2 arguments (score) or (score, scale_max), got 3"
        );
        assert_eq!(
            p.check(&[DataType::Utf8]).unwrap_err().strip_backtrace(),
            "Error during planning: csat: argument 1 (score) must be a number, got Utf8"
        );
        let one = Params::new("nps", &NPS, &[1]);
        assert_eq!(
            one.check(&[]).unwrap_err().strip_backtrace(),
            "Error during planning: nps: takes 1 argument (score), got 0"
        );
        let ltv = Params::new("f", &ABC, &[1, 2, 3]);
        assert_eq!(ltv.forms(), "(a), (a, b) or (a, b, c)");
    }

    #[test]
    fn coerce_lets_wrong_calls_through_unchanged_and_casts_right_ones() {
        let p = Params::new("csat", &CSAT, &[1, 2]);
        assert_eq!(p.coerce(&[DataType::Utf8]).unwrap(), vec![DataType::Utf8]);
        assert_eq!(
            p.coerce(&[DataType::Int32, DataType::UInt8]).unwrap(),
            vec![DataType::Float64, DataType::Float64]
        );
        let t = Params::new("t", &TIME_ID, &[2]);
        assert_eq!(
            t.coerce(&[DataType::Date32, DataType::Null]).unwrap(),
            vec![
                DataType::Timestamp(TimeUnit::Microsecond, None),
                DataType::Int64
            ]
        );
        assert!(t.check(&[DataType::Date32, DataType::Float64]).is_err());
    }
}
