//! Identifier columns (customer or user ids) as byte keys, and their
//! interning to dense numbers.

use std::hash::BuildHasher;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, LargeBinaryArray, LargeStringArray, StringArray,
    StringViewArray,
};
use datafusion::arrow::buffer::ScalarBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use datafusion::common::{Result, exec_err};

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
