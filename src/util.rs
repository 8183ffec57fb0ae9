//! Shared helpers for the SQL functions: argument coercion, literal parameters,
//! time normalisation, error text and vectorised scalar kernels.
//!
//! Every function file uses these instead of repeating the same parsing and
//! validation, so that all functions word their errors the same way.

use std::hash::BuildHasher;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanBufferBuilder, Float64Array, LargeBinaryArray,
    LargeStringArray, StringArray, StringViewArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt64Type,
};
use datafusion::common::types::{NativeType, logical_date, logical_float64, logical_string};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, EncodingPreservation, Expr, TypeSignatureClass,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

/// Microseconds in one minute.
pub const MICROS_PER_MINUTE: i64 = 60_000_000;
/// Microseconds in one UTC day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

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
/// [`constant_literal`] wraps in a one-value dictionary.
pub fn keep_dictionary(c: Coercion) -> Coercion {
    c.with_encoding_preservation(EncodingPreservation::dictionary())
}

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

/// The constant values of a call's physical arguments (`None` where an
/// argument is not a constant).
pub fn physical_literals(exprs: &[Arc<dyn PhysicalExpr>]) -> Vec<Option<ScalarValue>> {
    exprs
        .iter()
        .map(|e| e.downcast_ref::<Literal>().map(|l| l.value().clone()))
        .collect()
}

/// The constant values of a call's logical arguments (`None` where an
/// argument is not a constant), as seen while the query is analysed.
pub fn logical_literals(args: &[Expr]) -> Vec<Option<ScalarValue>> {
    args.iter()
        .map(|e| match e {
            Expr::Literal(v, _) => Some(v.clone()),
            _ => None,
        })
        .collect()
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

/// Reads the optional `scale_max` literal of the survey aggregates.
pub fn scale_max_param(
    function: &str,
    literals: &[Option<ScalarValue>],
    index: usize,
    default: u32,
) -> Result<u32> {
    let Some(value) = constant_arg(function, "scale_max", literals, index)? else {
        return Ok(default);
    };
    match scalar_f64(function, "scale_max", value)? {
        Some(v) if (2.0..=1000.0).contains(&v) && v.fract() == 0.0 => Ok(v as u32),
        Some(v) => plan_err!(
            "{function}: scale_max {} is not a whole number in 2..1000",
            fmt_num(v)
        ),
        None => plan_err!("{function}: scale_max must not be NULL"),
    }
}

/// The arguments of one batch as `Float64` arrays (scalars are expanded).
pub fn float_arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<Float64Array>> {
    args.iter()
        .map(|a| {
            let arr = a.to_array(rows)?;
            let arr = if arr.data_type() == &DataType::Float64 {
                arr
            } else {
                cast(&arr, &DataType::Float64)?
            };
            Ok(arr.as_primitive::<Float64Type>().clone())
        })
        .collect()
}

/// Validity of the rows where every listed array is non-NULL; `None` when
/// all rows are valid (the null-free fast path).
pub fn combined_validity(arrays: &[&dyn Array]) -> Option<BooleanBuffer> {
    let mut acc: Option<BooleanBuffer> = None;
    for a in arrays {
        if let Some(n) = a.logical_nulls() {
            if n.null_count() == 0 {
                continue;
            }
            let b = n.inner().clone();
            acc = Some(match acc {
                None => b,
                Some(prev) => &prev & &b,
            });
        }
    }
    acc
}

/// Calls `f` for every index whose bit is set in `mask` (all indices when
/// `mask` is `None`), stopping at the first error.
#[inline]
pub fn try_for_each_valid(
    len: usize,
    mask: Option<&BooleanBuffer>,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    // Plain loops: they inline `f`, where `try_for_each(&mut f)` left a call
    // per row in the hottest loops (measured: ~45 % of engagement_score's time).
    match mask {
        None => {
            for i in 0..len {
                f(i)?;
            }
        }
        Some(m) => {
            for i in m.set_indices() {
                f(i)?;
            }
        }
    }
    Ok(())
}

/// Row-wise kernel for scalar functions over `N` DOUBLE arguments.
///
/// Rows with a NULL argument give NULL; otherwise `f` decides. When every
/// argument is a scalar the result is a scalar.
pub fn map_floats<const N: usize>(
    args: &[ColumnarValue],
    rows: usize,
    f: impl Fn([f64; N]) -> Result<Option<f64>>,
) -> Result<ColumnarValue> {
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let n = if all_scalar { 1 } else { rows };
    let arrays = float_arrays(args, n)?;
    let refs: Vec<&dyn Array> = arrays.iter().map(|a| a as &dyn Array).collect();
    let validity = combined_validity(&refs);
    let values: Vec<&[f64]> = arrays.iter().map(|a| a.values().as_ref()).collect();
    let mut out = vec![0.0; n];
    let mut nulls = BooleanBufferBuilder::new(n);
    nulls.append_n(n, false);
    try_for_each_valid(n, validity.as_ref(), |i| {
        let row: [f64; N] = std::array::from_fn(|k| values[k][i]);
        if let Some(v) = f(row)? {
            out[i] = v;
            nulls.set_bit(i, true);
        }
        Ok(())
    })?;
    let arr = Float64Array::new(out.into(), Some(nulls.finish().into()));
    finish_columnar(Arc::new(arr), all_scalar)
}

/// Row-wise kernel for scalar functions over `N` DOUBLE arguments that return
/// a label (`engagement_tier`, `health_tier`, `nps_category`).
pub fn map_floats_to_label<const N: usize>(
    args: &[ColumnarValue],
    rows: usize,
    f: impl Fn([f64; N]) -> Result<&'static str>,
) -> Result<ColumnarValue> {
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let n = if all_scalar { 1 } else { rows };
    let arrays = float_arrays(args, n)?;
    let refs: Vec<&dyn Array> = arrays.iter().map(|a| a as &dyn Array).collect();
    let validity = combined_validity(&refs);
    let values: Vec<&[f64]> = arrays.iter().map(|a| a.values().as_ref()).collect();
    let mut out: Vec<Option<&'static str>> = vec![None; n];
    try_for_each_valid(n, validity.as_ref(), |i| {
        let row: [f64; N] = std::array::from_fn(|k| values[k][i]);
        out[i] = Some(f(row)?);
        Ok(())
    })?;
    finish_columnar(Arc::new(StringArray::from(out)), all_scalar)
}

/// Wraps a one-row array back into a scalar when all inputs were scalars.
pub fn finish_columnar(arr: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    if scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&arr, 0)?))
    } else {
        Ok(ColumnarValue::Array(arr))
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

/// Timestamps (any unit, any time zone) as UTC microseconds since the epoch
/// (zero-copy for microsecond timestamps). Dates and strings are expected to
/// be coerced to timestamps by the signature; dates are also accepted here.
/// Second and millisecond values beyond ±292,000 years saturate.
pub fn time_micros(function: &str, argument: &str, arr: &ArrayRef) -> Result<ScalarBuffer<i64>> {
    Ok(match arr.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => arr
            .as_primitive::<TimestampSecondType>()
            .values()
            .iter()
            .map(|v| v.saturating_mul(1_000_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => arr
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .iter()
            .map(|v| v.saturating_mul(1_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => arr
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .clone(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => arr
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .iter()
            .map(|v| v.div_euclid(1_000))
            .collect(),
        DataType::Date32 | DataType::Date64 | DataType::Null => {
            let c = cast(arr, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            return time_micros(function, argument, &c);
        }
        other => {
            return exec_err!("{function}: {argument} must be a DATE or TIMESTAMP, got {other}");
        }
    })
}

/// UTC day number (days since 1970-01-01) of a microsecond timestamp.
#[inline]
pub fn utc_day(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// Renders a UTC microsecond timestamp for error messages.
pub fn fmt_time(micros: i64) -> String {
    match datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(micros) {
        Some(t) => t.to_string().replacen(' ', "T", 1),
        None => format!("{micros} µs after 1970-01-01"),
    }
}

/// A column of identifiers (customer or user ids) viewed as byte keys, so
/// that distinct counts work for integer, string and binary ids alike without
/// per-row `ScalarValue`s or copies of string data.
#[derive(Debug)]
pub enum KeyColumn {
    /// Integer ids: signed ids widened to i64, unsigned 64-bit ids by their bits.
    Int(ScalarBuffer<i64>),
    /// Utf8 ids.
    Utf8(StringArray),
    /// LargeUtf8 ids.
    LargeUtf8(LargeStringArray),
    /// Utf8View ids (DataFusion's default for Parquet strings).
    Utf8View(StringViewArray),
    /// Binary ids of any kind (Binary, FixedSizeBinary, BinaryView), as Binary.
    Binary(BinaryArray),
    /// LargeBinary ids (e.g. aggregate state), read in place.
    LargeBinary(LargeBinaryArray),
}

impl KeyColumn {
    /// Reads `arr`: any integer, string, binary or dictionary-encoded type,
    /// or an all-NULL column (read as integer ids; no row of it counts).
    pub fn new(function: &str, argument: &str, arr: &ArrayRef) -> Result<Self> {
        let t = arr.data_type();
        Ok(match t {
            DataType::Null => KeyColumn::Int(vec![0; arr.len()].into()),
            DataType::UInt64 => KeyColumn::Int(
                arr.as_primitive::<UInt64Type>()
                    .values()
                    .iter()
                    .map(|v| *v as i64)
                    .collect(),
            ),
            t if t.is_integer() => KeyColumn::Int(
                cast(arr, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .values()
                    .clone(),
            ),
            DataType::Utf8 => KeyColumn::Utf8(arr.as_string::<i32>().clone()),
            DataType::LargeUtf8 => KeyColumn::LargeUtf8(arr.as_string::<i64>().clone()),
            DataType::Utf8View => KeyColumn::Utf8View(arr.as_string_view().clone()),
            DataType::LargeBinary => KeyColumn::LargeBinary(arr.as_binary::<i64>().clone()),
            DataType::Binary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                KeyColumn::Binary(cast(arr, &DataType::Binary)?.as_binary::<i32>().clone())
            }
            DataType::Dictionary(_, v) => {
                let plain = cast(arr, v)?;
                return Self::new(function, argument, &plain);
            }
            _ => {
                return exec_err!(
                    "{function}: {argument} of type {t} cannot be used as an identifier (use an integer, string or binary id)"
                );
            }
        })
    }

    /// Whether rows `a` and `b` hold the same key.
    #[inline]
    pub fn same_key(&self, a: usize, b: usize) -> bool {
        match self {
            KeyColumn::Int(v) => v[a] == v[b],
            KeyColumn::Utf8(s) => s.value(a) == s.value(b),
            KeyColumn::LargeUtf8(s) => s.value(a) == s.value(b),
            KeyColumn::Utf8View(s) => s.value(a) == s.value(b),
            KeyColumn::Binary(s) => s.value(a) == s.value(b),
            KeyColumn::LargeBinary(s) => s.value(a) == s.value(b),
        }
    }

    /// Whether a column of type `t` is read as [`KeyColumn::Int`].
    pub fn is_int(t: &DataType) -> bool {
        match t {
            DataType::Dictionary(_, v) => v.is_integer() || v.is_null(),
            t => t.is_integer() || t.is_null(),
        }
    }

    /// Calls `f` with the key bytes of row `i`.
    #[inline]
    pub fn with_key<R>(&self, i: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            KeyColumn::Int(v) => f(&v[i].to_le_bytes()),
            KeyColumn::Utf8(s) => f(s.value(i).as_bytes()),
            KeyColumn::LargeUtf8(s) => f(s.value(i).as_bytes()),
            KeyColumn::Utf8View(s) => f(s.value(i).as_bytes()),
            KeyColumn::Binary(b) => f(b.value(i)),
            KeyColumn::LargeBinary(b) => f(b.value(i)),
        }
    }
}

/// Distinct byte keys (user or customer ids), each stored once in one buffer
/// and numbered densely in first-seen order, so per-group state can hold a
/// small integer instead of a copy of the key.
#[derive(Debug, Default)]
pub struct ByteInterner {
    table: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    bytes: Vec<u8>,
    /// End offset of each key in `bytes`.
    ends: Vec<usize>,
}

impl ByteInterner {
    /// The key numbered `id`.
    pub fn get(&self, id: u32) -> &[u8] {
        key_at(&self.bytes, &self.ends, id)
    }

    /// The number of `key`, adding it if new.
    #[inline]
    pub fn intern(&mut self, function: &str, key: &[u8]) -> Result<u32> {
        let hash = self.hasher.hash_one(key);
        let Self {
            table,
            hasher,
            bytes,
            ends,
        } = self;
        if let Some(id) = table.find(hash, |id| key_at(bytes, ends, *id) == key) {
            return Ok(*id);
        }
        let Ok(id) = u32::try_from(ends.len()) else {
            return exec_err!(
                "{function}: more than {} distinct ids in one query",
                u32::MAX
            );
        };
        bytes.extend_from_slice(key);
        ends.push(bytes.len());
        table.insert_unique(hash, id, |id| hasher.hash_one(key_at(bytes, ends, *id)));
        Ok(id)
    }

    /// An 8-byte number for row `i`'s key: an integer id itself, any other
    /// key its interned number. Within one accumulator the column type is
    /// fixed, so the two kinds never mix.
    #[inline]
    pub fn number(&mut self, function: &str, keys: &KeyColumn, i: usize) -> Result<i64> {
        match keys {
            KeyColumn::Int(v) => Ok(v[i]),
            other => other
                .with_key(i, |k| self.intern(function, k))
                .map(i64::from),
        }
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.bytes.capacity()
            + self.ends.capacity() * size_of::<usize>()
            + self.table.capacity() * (size_of::<u32>() + 1)
    }
}

fn key_at<'a>(bytes: &'a [u8], ends: &[usize], id: u32) -> &'a [u8] {
    let i = id as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &bytes[start..ends[i]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_floats_gives_null_for_null_rows_and_scalar_for_scalars() {
        let arr: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)]));
        let out = map_floats::<1>(&[ColumnarValue::Array(arr)], 3, |[v]| Ok(Some(v * 2.0)))
            .unwrap()
            .to_array(3)
            .unwrap();
        let out = out.as_primitive::<Float64Type>();
        assert_eq!(out.value(0), 2.0);
        assert!(out.is_null(1));
        assert_eq!(out.value(2), 6.0);

        let s = map_floats::<1>(
            &[ColumnarValue::Scalar(ScalarValue::Float64(Some(2.0)))],
            10,
            |[v]| Ok(Some(v + 1.0)),
        )
        .unwrap();
        assert!(matches!(
            s,
            ColumnarValue::Scalar(ScalarValue::Float64(Some(3.0)))
        ));
    }

    #[test]
    fn time_micros_normalises_units_and_days() {
        let arr: ArrayRef = Arc::new(
            datafusion::arrow::array::TimestampSecondArray::from(vec![86_400])
                .with_timezone("+05:00"),
        );
        let v = time_micros("f", "t", &arr).unwrap();
        assert_eq!(v.to_vec(), vec![86_400_000_000]);
        assert_eq!(utc_day(v[0]), 1);
        assert_eq!(utc_day(-1), -1);
    }
}
