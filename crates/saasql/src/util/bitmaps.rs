//! Users per day (or period) as compressed bitmaps: the state of a
//! `stickiness` or `retention` group once it outgrows its hash table.
//!
//! A group keeps its (user, day) pairs in a hash table while it is small (a
//! few bytes of overhead per group; most groups of `GROUP BY customer_id`
//! stay there) and moves them into one [`RoaringTreemap`] per day once it
//! holds [`SWITCH_AT`] entries. Users are 8-byte numbers
//! ([`crate::keyed::IdNumbers`]): integer ids as they are, string ids
//! numbered densely, so a day's users take a few bits each instead of a
//! 24-byte hash entry. Partial states carry the bitmaps serialized (the
//! portable Roaring format), so merging partitions does not expand them.
//!
//! In a state, string ids cannot travel as this accumulator's numbers: a
//! group's bitmaps then hold ranks into a list of the group's ids (its
//! "dictionary"), which the merging side numbers again.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, AsArray, Int64Builder, LargeBinaryBuilder, LargeListBuilder, UInt8Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt8Type};
use datafusion::common::{Result, exec_datafusion_err};
use datafusion::logical_expr::utils::format_state_name;
use roaring::RoaringTreemap;

use crate::keyed::IdNumbers;
use crate::util::ids::KeyColumn;

/// How many entries a group's hash table holds before its users move into
/// bitmaps (about 2 MB of hash table).
pub const SWITCH_AT: usize = 1 << 16;

/// The switch point of new accumulators: [`SWITCH_AT`] (in unit tests,
/// what [`with_switch_at`] sets, so that every test also runs on bitmaps).
pub fn switch_at() -> usize {
    #[cfg(test)]
    {
        TEST_SWITCH.with(std::cell::Cell::get)
    }
    #[cfg(not(test))]
    {
        SWITCH_AT
    }
}

#[cfg(test)]
thread_local! {
    static TEST_SWITCH: std::cell::Cell<usize> = const { std::cell::Cell::new(SWITCH_AT) };
}

/// Makes accumulators created on this thread switch to bitmaps at `n`
/// entries; returns the previous switch point.
#[cfg(test)]
pub fn set_switch_at(n: usize) -> usize {
    TEST_SWITCH.with(|c| c.replace(n))
}

/// Runs `f` with accumulators that switch to bitmaps at `n` entries.
#[cfg(test)]
pub fn with_switch_at<R>(n: usize, f: impl FnOnce() -> R) -> R {
    let old = TEST_SWITCH.with(|c| c.replace(n));
    let out = f();
    TEST_SWITCH.with(|c| c.set(old));
    out
}

/// Bytes a set needs besides its serialized size: its map entry and
/// headers.
const SET_OVERHEAD: usize = 96;

/// Sets of users keyed by a day or period number.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct UserBitmaps {
    sets: BTreeMap<i64, RoaringTreemap>,
}

impl UserBitmaps {
    /// Adds `user` to the set of `key`.
    #[inline]
    pub fn insert(&mut self, key: i64, user: i64) {
        self.sets.entry(key).or_default().insert(user as u64);
    }

    /// Adds every user of `set` to the set of `key`.
    pub fn or_set(&mut self, key: i64, set: RoaringTreemap) {
        match self.sets.entry(key) {
            std::collections::btree_map::Entry::Occupied(mut o) => *o.get_mut() |= set,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(set);
            }
        }
    }

    /// Whether no set has a user.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// The set of `key`.
    pub fn get(&self, key: i64) -> Option<&RoaringTreemap> {
        self.sets.get(&key)
    }

    /// The sets in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (i64, &RoaringTreemap)> {
        self.sets.iter().map(|(k, s)| (*k, s))
    }

    /// The lowest and highest key.
    pub fn first_last(&self) -> Option<(i64, i64)> {
        Some((
            *self.sets.first_key_value()?.0,
            *self.sets.last_key_value()?.0,
        ))
    }

    /// Every user of any set.
    pub fn union(&self) -> RoaringTreemap {
        let mut all = RoaringTreemap::new();
        for set in self.sets.values() {
            all |= set;
        }
        all
    }

    /// The sum of the sets' sizes.
    pub fn pairs(&self) -> u64 {
        self.sets.values().map(RoaringTreemap::len).sum()
    }

    /// Bytes held (about: the sets' serialized size and overhead).
    pub fn bytes(&self) -> usize {
        self.sets
            .values()
            .map(|s| s.serialized_size() + SET_OVERHEAD)
            .sum()
    }
}

/// The state fields that carry bitmaps: keys, families (which of a
/// function's kinds of set), serialized bitmaps, and the dictionary of
/// string ids.
pub fn state_fields(name: &str) -> Vec<FieldRef> {
    let list = |t: DataType| DataType::LargeList(Arc::new(Field::new_list_field(t, true)));
    [
        ("bitmap_keys", DataType::Int64),
        ("bitmap_families", DataType::UInt8),
        ("bitmaps", DataType::LargeBinary),
        ("bitmap_users", DataType::LargeBinary),
    ]
    .into_iter()
    .map(|(field, t)| Arc::new(Field::new(format_state_name(name, field), list(t), true)))
    .collect()
}

/// Builds the bitmap fields of a state, one list entry per group.
#[derive(Debug)]
pub struct StateWriter {
    keys: LargeListBuilder<Int64Builder>,
    families: LargeListBuilder<UInt8Builder>,
    maps: LargeListBuilder<LargeBinaryBuilder>,
    users: LargeListBuilder<LargeBinaryBuilder>,
    buffer: Vec<u8>,
}

impl Default for StateWriter {
    fn default() -> Self {
        Self {
            keys: LargeListBuilder::new(Int64Builder::new()),
            families: LargeListBuilder::new(UInt8Builder::new()),
            maps: LargeListBuilder::new(LargeBinaryBuilder::new()),
            users: LargeListBuilder::new(LargeBinaryBuilder::new()),
            buffer: vec![],
        }
    }
}

impl StateWriter {
    /// Appends one group: its families of sets (none for a group still in
    /// its hash table). String ids are written as ranks into the group's
    /// dictionary.
    pub fn push_group(&mut self, families: &[&UserBitmaps], numbers: &IdNumbers) -> Result<()> {
        let dictionary = if numbers.is_int() || families.iter().all(|f| f.is_empty()) {
            None
        } else {
            let mut all = RoaringTreemap::new();
            for f in families {
                all |= f.union();
            }
            for n in &all {
                self.users.values().append_value(numbers.bytes(n as i64));
            }
            Some(all)
        };
        for (family, sets) in families.iter().enumerate() {
            for (key, set) in sets.iter() {
                self.buffer.clear();
                let write = |set: &RoaringTreemap, buffer: &mut Vec<u8>| {
                    set.serialize_into(buffer)
                        .map_err(|e| exec_datafusion_err!("bitmap state: {e}"))
                };
                match &dictionary {
                    None => write(set, &mut self.buffer)?,
                    Some(all) => {
                        // Ranks are increasing in the numbers, so sorted.
                        let ranks =
                            RoaringTreemap::from_sorted_iter(set.iter().map(|n| all.rank(n) - 1))
                                .map_err(|e| exec_datafusion_err!("bitmap state: {e}"))?;
                        write(&ranks, &mut self.buffer)?;
                    }
                }
                self.keys.values().append_value(key);
                self.families.values().append_value(family as u8);
                self.maps.values().append_value(&self.buffer);
            }
        }
        self.keys.append(true);
        self.families.append(true);
        self.maps.append(true);
        self.users.append(true);
        Ok(())
    }

    /// The four arrays, in [`state_fields`] order.
    pub fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.keys.finish()),
            Arc::new(self.families.finish()),
            Arc::new(self.maps.finish()),
            Arc::new(self.users.finish()),
        ]
    }
}

/// Reads the bitmap fields of a state (the four arrays of [`state_fields`]).
#[derive(Debug)]
pub struct StateReader<'a> {
    keys: &'a [i64],
    families: &'a [u8],
    maps: &'a datafusion::arrow::array::LargeBinaryArray,
    offsets: &'a [i64],
    users: KeyColumn,
    user_offsets: &'a [i64],
}

impl<'a> StateReader<'a> {
    /// Over `arrays`, the four bitmap fields of a state batch.
    pub fn new(name: &str, arrays: &'a [ArrayRef]) -> Result<Self> {
        let keys = arrays[0].as_list::<i64>();
        let offsets = keys.value_offsets();
        let users = arrays[3].as_list::<i64>();
        Ok(Self {
            keys: keys.values().as_primitive::<Int64Type>().values(),
            families: arrays[1]
                .as_list::<i64>()
                .values()
                .as_primitive::<UInt8Type>()
                .values(),
            maps: arrays[2].as_list::<i64>().values().as_binary::<i64>(),
            offsets,
            users: KeyColumn::new(name, "user_id", users.values())?,
            user_offsets: users.value_offsets(),
        })
    }

    /// Whether state row `row` carries bitmaps.
    pub fn has_sets(&self, row: usize) -> bool {
        self.offsets[row + 1] > self.offsets[row]
    }

    /// Calls `f(family, key, set)` for each set of state row `row`, its
    /// users numbered by `numbers` (string ids interned).
    pub fn read_group(
        &self,
        name: &str,
        row: usize,
        numbers: &mut IdNumbers,
        mut f: impl FnMut(u8, i64, RoaringTreemap),
    ) -> Result<()> {
        let (start, end) = (self.offsets[row] as usize, self.offsets[row + 1] as usize);
        if start == end {
            return Ok(());
        }
        let dictionary = if numbers.is_int() {
            None
        } else {
            let (u0, u1) = (
                self.user_offsets[row] as usize,
                self.user_offsets[row + 1] as usize,
            );
            let mut ids = Vec::with_capacity(u1 - u0);
            for p in u0..u1 {
                ids.push(numbers.number(name, &self.users, p)? as u64);
            }
            Some(ids)
        };
        for p in start..end {
            let set = RoaringTreemap::deserialize_from(self.maps.value(p))
                .map_err(|e| exec_datafusion_err!("{name}: unreadable partial state: {e}"))?;
            let set = match &dictionary {
                None => set,
                Some(ids) => {
                    let mut mapped = RoaringTreemap::new();
                    for rank in &set {
                        let id = ids.get(rank as usize).ok_or_else(|| {
                            exec_datafusion_err!("{name}: unreadable partial state: rank {rank}")
                        })?;
                        mapped.insert(*id);
                    }
                    mapped
                }
            };
            f(self.families[p], self.keys[p], set);
        }
        Ok(())
    }
}
