//! The argument classes of the declarative signatures ([`crate::args`]).

use datafusion::arrow::datatypes::TimeUnit;
use datafusion::common::types::{NativeType, logical_date, logical_float64, logical_string};
use datafusion::logical_expr::{Coercion, EncodingPreservation, TypeSignatureClass};

/// A numeric argument: every integer, float and decimal type, coerced to DOUBLE.
pub fn numeric() -> Coercion {
    Coercion::new_implicit(
        TypeSignatureClass::Native(logical_float64()),
        vec![TypeSignatureClass::Numeric],
        NativeType::Float64,
    )
}

/// A string argument (Utf8, LargeUtf8 or Utf8View).
pub fn string() -> Coercion {
    Coercion::new_exact(TypeSignatureClass::Native(logical_string()))
}

/// The coercion `c`, keeping dictionary-encoded input as it is: for data
/// columns a kernel reads by key, and for constant strings that
/// [`constant_literal`](super::literals::constant_literal) wraps in a
/// one-value dictionary.
pub fn keep_dictionary(c: Coercion) -> Coercion {
    c.with_encoding_preservation(EncodingPreservation::dictionary())
}

/// A point in time: DATE or TIMESTAMP of any unit, with or without time zone.
/// Dates are coerced to timestamps at UTC midnight; time-zoned timestamps keep
/// their UTC instant.
pub fn time() -> Coercion {
    Coercion::new_implicit(
        TypeSignatureClass::Timestamp,
        vec![
            TypeSignatureClass::Native(logical_date()),
            TypeSignatureClass::Native(logical_string()),
        ],
        NativeType::Timestamp(TimeUnit::Microsecond, None),
    )
}
