//! `stickiness(user_id, event_time [, days])`: DAU/MAU-style stickiness.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, Int32Builder,
    Int64Builder, LargeBinaryBuilder, LargeListBuilder, StructArray,
};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Fields, Float64Type, Int32Type, Int64Type,
};
use datafusion::common::{
    Result, ScalarValue, exec_datafusion_err, exec_err, internal_err, plan_datafusion_err, plan_err,
};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{AggregateUDF, Documentation, EmitTo, GroupsAccumulator};
use hashbrown::hash_map::Entry;
use hashbrown::{HashMap, HashSet};

use crate::aggregate::{for_each_row, row_mask};
use crate::args::{Param, Params};
use crate::breakdown::EXCLUDED_NULL;
use crate::docs;
use crate::hooks::{Function, Hooks};
use crate::keyed::{IdNumbers, KeyedAggregate, KeyedKernel};
use crate::util::bitmaps::{self, StateReader, StateWriter, UserBitmaps};
use crate::util::ids::KeyColumn;
use crate::util::literals::{physical_literals, scalar_f64};
use crate::util::numbers::fmt_num;
use crate::util::time::{time_micros, utc_day};

const NAME: &str = "stickiness";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Stickiness (DAU/MAU) as a percentage: average daily active users ÷ active users × \
         100 = 100 × (distinct (user, UTC day) pairs / days) / distinct users. `days` \
         defaults to the number of calendar days from the group's first to its last active \
         day, inclusive; pass the period length (e.g. 30) to count inactive days too (a \
         `days` smaller than the active span can give more than 100). `days` may be a \
         constant or an expression that is the same within each group, such as the \
         length of the group's calendar month; a group whose rows disagree on it is an \
         error naming two of the values. Rows with NULL user_id or event_time are \
         skipped; no rows gives NULL. days must be a whole number in 1..1000000 (and not \
         NULL where it is given).",
        "stickiness(user_id, event_time [, days])",
    )
    .with_argument("user_id", "The active user (integer or string).")
    .with_argument("event_time", "When the user was active (DATE or TIMESTAMP; days are UTC).")
    .with_argument(
        "days",
        "Optional number of days in the period: a constant, or the same value for every row of a group.",
    )
    .with_sql_example(
        "SELECT date_trunc('month', event_time) AS month, stickiness(user_id, event_time) AS dau_mau_pct\nFROM events GROUP BY 1 ORDER BY 1;",
    )
    .with_sql_example(
        "-- every calendar day of each month counts, active or not\nSELECT date_trunc('month', event_time) AS month,\n       stickiness(user_id, event_time, CAST(date_part('day', date_trunc('month', event_time) + INTERVAL '1 month' - INTERVAL '1 day') AS BIGINT)) AS pct\nFROM events GROUP BY 1 ORDER BY 1;",
    )
    .with_related_udf("engagement_score")
    .build()
});

/// The `stickiness` aggregate function, or with `breakdown` its
/// `stickiness_breakdown` companion (the same groups, a struct result).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Stickiness {
    params: Params,
    name: &'static str,
    doc: &'static Documentation,
    breakdown: bool,
}

impl Stickiness {
    /// The breakdown companion called `name`, documented by `doc`.
    pub fn breakdown(name: &'static str, doc: &'static Documentation) -> Self {
        Self {
            params: Params::new(name, &PARAMS, &[2, 3]),
            name,
            doc,
            breakdown: true,
        }
    }
}

const PARAMS: [Param; 3] = [
    Param::id("user_id"),
    Param::time("event_time"),
    Param::number("days"),
];

/// The fields of `stickiness_breakdown`'s struct.
pub fn breakdown_fields() -> Fields {
    Fields::from(vec![
        Field::new(NAME, DataType::Float64, true),
        Field::new("numerator", DataType::Float64, true),
        Field::new("denominator", DataType::Float64, false),
        Field::new("user_days", DataType::Int64, false),
        Field::new("days", DataType::Int64, true),
        Field::new(EXCLUDED_NULL, DataType::Int64, false),
    ])
}

impl Default for Stickiness {
    fn default() -> Self {
        Self {
            params: Params::new(NAME, &PARAMS, &[2, 3]),
            name: NAME,
            doc: &DOC,
            breakdown: false,
        }
    }
}

/// `stickiness` (and its breakdown) checks a constant `days` while SQL is
/// planned.
pub const HOOKS: Hooks = Hooks {
    check_constants: Some(check_days),
    ..Hooks::NONE
};

fn check_days(name: &str, literals: &[Option<ScalarValue>]) -> Result<()> {
    days_arg(name, literals)?;
    Ok(())
}

/// Where a call's period length comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Days {
    /// No `days`: each group's active span.
    Span,
    /// A constant `days`.
    Constant(u32),
    /// An expression: its value in the group's rows, which must agree.
    PerGroup,
}

/// A `days` value, if it is a whole number in 1..1000000.
fn checked_days(d: f64) -> Option<u32> {
    (d >= 1.0 && d.fract() == 0.0 && d <= 1e6).then_some(d as u32)
}

/// Why `d` is not a `days` value of function `name`.
fn days_error(name: &str, d: f64) -> String {
    format!(
        "{name}: days {} is not a whole number in 1..1000000",
        fmt_num(d)
    )
}

/// The `days` argument: absent, a constant (checked), or an expression.
fn days_arg(name: &str, literals: &[Option<ScalarValue>]) -> Result<Days> {
    match literals.get(2) {
        None => Ok(Days::Span),
        Some(None) => Ok(Days::PerGroup),
        Some(Some(v)) => match scalar_f64(name, "days", v)? {
            Some(d) => checked_days(d)
                .map(Days::Constant)
                .ok_or_else(|| plan_datafusion_err!("{}", days_error(name, d))),
            None => plan_err!("{name}: days must not be NULL"),
        },
    }
}

impl KeyedKernel for Stickiness {
    type Groups = StickinessGroups;
    fn name(&self) -> &'static str {
        self.name
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        self.doc
    }
    fn return_type(&self) -> DataType {
        if self.breakdown {
            DataType::Struct(breakdown_fields())
        } else {
            DataType::Float64
        }
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::LargeList(Arc::new(Field::new_list_field(t, true)));
        let user = if KeyColumn::is_int(args.input_fields[0].data_type()) {
            DataType::Int64
        } else {
            DataType::LargeBinary
        };
        let field = |name: &str, t: DataType| {
            Arc::new(Field::new(
                format_state_name(args.name, name),
                list(t),
                true,
            ))
        };
        let mut fields = vec![
            field("users", user),
            field("blocks", DataType::Int32),
            field("day_masks", DataType::Int64),
            Arc::new(Field::new(
                format_state_name(args.name, "days"),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, EXCLUDED_NULL),
                DataType::Int64,
                false,
            )),
        ];
        fields.extend(bitmaps::state_fields(args.name));
        Ok(fields)
    }
    fn groups(&self, args: &AccumulatorArgs) -> Result<StickinessGroups> {
        let mut groups = StickinessGroups::new(
            days_arg(self.name, &physical_literals(args.exprs))?,
            args.expr_fields[0].data_type(),
        );
        groups.breakdown = self.breakdown;
        groups.name = self.name;
        Ok(groups)
    }
}

/// Days are kept as one bit per day in 64-day blocks.
const BLOCK: i32 = 64;

/// One group's active (user, day) pairs: for each user and 64-day block, a
/// bitmask of the days the user was active. A month of activity is one
/// entry per user (two when the month straddles a block boundary). Past
/// [`SWITCH_AT`] entries they move into one bitmap of users per day
/// ([`crate::util::bitmaps`]).
#[derive(Debug, Default)]
struct Group {
    /// (user, block) → active days in the block. The user is the id itself
    /// for integer ids, the interned number otherwise.
    days: HashMap<(i64, i32), u64>,
    /// The lowest and highest block seen (meaningful when `days` is not empty).
    lo_block: i32,
    hi_block: i32,
    /// Bytes held by `days`.
    bytes: usize,
    /// The group's `days` argument, when it is an expression.
    period: Option<u32>,
    /// Rows (passing FILTER) with a NULL user_id or event_time.
    skipped: u64,
    /// The users of each UTC day, once the group is big (`days` is then
    /// empty).
    big: Option<Box<UserBitmaps>>,
    /// Additions since `bytes` was last measured (big groups).
    unmeasured: u32,
}

/// Bytes per entry of [`Group::days`]: the entry and its control byte, with
/// the table's 1/8 spare buckets.
const SLOT: usize = (size_of::<((i64, i32), u64)>() + 1) * 8 / 7;

/// Every UTC day in `mask` of `block`.
fn days_in(block: i32, mut mask: u64) -> impl Iterator<Item = i64> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let bit = mask.trailing_zeros();
            mask &= mask - 1;
            block as i64 * BLOCK as i64 + bit as i64
        })
    })
}

impl Group {
    /// Marks `user` active on the days in `mask` of `block`; returns the
    /// change in bytes held. The group moves into bitmaps once its table
    /// holds `switch_at` entries.
    #[inline]
    fn add(&mut self, user: i64, block: i32, mask: u64, switch_at: usize) -> isize {
        if let Some(big) = &mut self.big {
            for day in days_in(block, mask) {
                big.insert(day, user);
            }
            self.unmeasured += 1;
            return if self.unmeasured >= 4096 {
                self.measure()
            } else {
                0
            };
        }
        match self.days.entry((user, block)) {
            Entry::Occupied(mut o) => {
                *o.get_mut() |= mask;
                0
            }
            Entry::Vacant(v) => {
                v.insert(mask);
                if self.days.len() == 1 {
                    (self.lo_block, self.hi_block) = (block, block);
                } else {
                    self.lo_block = self.lo_block.min(block);
                    self.hi_block = self.hi_block.max(block);
                }
                if self.days.len() >= switch_at {
                    return self.move_into_bitmaps();
                }
                let now = self.days.capacity() * SLOT;
                let grew = now as isize - self.bytes as isize;
                self.bytes = now;
                grew
            }
        }
    }

    /// Moves the table's pairs into bitmaps; returns the change in bytes.
    fn move_into_bitmaps(&mut self) -> isize {
        let mut big = UserBitmaps::default();
        for ((user, block), mask) in std::mem::take(&mut self.days) {
            for day in days_in(block, mask) {
                big.insert(day, user);
            }
        }
        self.big = Some(Box::new(big));
        self.measure()
    }

    /// Adds a set of users active on `day` (from a partial state); returns
    /// the change in bytes of moving into bitmaps (the caller measures the
    /// group once its sets are added).
    fn add_set(&mut self, day: i64, set: roaring::RoaringTreemap) -> isize {
        let mut delta = 0;
        if self.big.is_none() {
            delta = self.move_into_bitmaps();
        }
        if let Some(big) = &mut self.big {
            big.or_set(day, set);
        }
        delta
    }

    /// Measures a big group's bytes again; returns the change.
    fn measure(&mut self) -> isize {
        self.unmeasured = 0;
        let now = self.big.as_ref().map_or(0, |b| b.bytes());
        let delta = now as isize - self.bytes as isize;
        self.bytes = now;
        delta
    }

    /// Sets the group's `days` from one more row, which must agree.
    fn set_period(&mut self, name: &str, days: u32) -> Result<()> {
        match self.period {
            Some(p) if p != days => exec_err!(
                "{name}: days must be the same for every row of a group, got {p} and {days}"
            ),
            _ => {
                self.period = Some(days);
                Ok(())
            }
        }
    }

    fn value(&self, days: Option<u32>) -> Option<f64> {
        self.parts(days)
            .map(|(pairs, users, days)| 100.0 * (pairs as f64 / days as f64) / users as f64)
    }

    /// Active (user, day) pairs, active users and the days divided by.
    fn parts(&self, days: Option<u32>) -> Option<(u64, usize, i64)> {
        if let Some(big) = &self.big {
            let (lo, hi) = big.first_last()?;
            let users = big.union().len() as usize;
            let days = days.map_or(hi - lo + 1, i64::from);
            return Some((big.pairs(), users, days));
        }
        if self.days.is_empty() {
            return None;
        }
        let pairs: u64 = self.days.values().map(|m| m.count_ones() as u64).sum();
        let users = if self.lo_block == self.hi_block {
            self.days.len()
        } else {
            self.days
                .keys()
                .map(|(u, _)| *u)
                .collect::<HashSet<_>>()
                .len()
        };
        let days = match days {
            Some(d) => i64::from(d),
            None => {
                let day = |block: i32, bit: u32| block as i64 * BLOCK as i64 + bit as i64;
                let (lo, hi) =
                    self.days
                        .iter()
                        .fold((i64::MAX, i64::MIN), |(lo, hi), ((_, block), mask)| {
                            (
                                lo.min(day(*block, mask.trailing_zeros())),
                                hi.max(day(*block, 63 - mask.leading_zeros())),
                            )
                        });
                hi - lo + 1
            }
        };
        Some((pairs, users, days))
    }
}

/// Vectorised accumulator: one [`Group`] per group. Users are kept by their
/// [`IdNumbers`], so each group holds 8-byte numbers whatever the id length.
#[derive(Debug)]
pub struct StickinessGroups {
    days: Days,
    /// User numbers. The state holds integer ids as Int64, and string or
    /// binary ids as LargeBinary.
    numbers: IdNumbers,
    groups: Vec<Group>,
    bytes: usize,
    /// How many (user, block) entries a group's table holds before it
    /// moves into bitmaps.
    switch_at: usize,
    /// `stickiness_breakdown`: count the rows skipped for a NULL.
    breakdown: bool,
    /// The function's name, for errors.
    name: &'static str,
}

impl StickinessGroups {
    fn new(days: Days, user_type: &DataType) -> Self {
        Self {
            days,
            numbers: IdNumbers::new(user_type),
            groups: vec![],
            bytes: 0,
            switch_at: bitmaps::switch_at(),
            breakdown: false,
            name: NAME,
        }
    }

    /// The days a group's value divides by, by where `days` comes from.
    fn days_of(&self, g: &Group) -> Option<u32> {
        match self.days {
            Days::Span => None,
            Days::Constant(d) => Some(d),
            Days::PerGroup => g.period,
        }
    }

    /// The `days` column when it is an expression (one value per row).
    fn per_group_days<'a>(&self, values: &'a [ArrayRef]) -> Result<Option<&'a Float64Array>> {
        match (self.days, values.get(2)) {
            (Days::PerGroup, Some(a)) => match a.as_primitive_opt::<Float64Type>() {
                Some(d) => Ok(Some(d)),
                None => internal_err!(
                    "{}: days arrives as {}, not DOUBLE",
                    self.name,
                    a.data_type()
                ),
            },
            _ => Ok(None),
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let out = emit_to.take_needed(&mut self.groups);
        self.bytes -= out.iter().map(|g| g.bytes).sum::<usize>();
        out
    }

    /// State lists builder: users (Int64 or LargeBinary), blocks, masks.
    fn state_builder(&self) -> StateBuilder {
        StateBuilder {
            users: if self.numbers.is_int() {
                UserValues::Int(LargeListBuilder::new(Int64Builder::new()))
            } else {
                UserValues::Bytes(LargeListBuilder::new(LargeBinaryBuilder::new()))
            },
            blocks: LargeListBuilder::new(Int32Builder::new()),
            masks: LargeListBuilder::new(Int64Builder::new()),
            days: Int64Builder::new(),
            skipped: Int64Builder::new(),
        }
    }
}

#[derive(Debug)]
enum UserValues {
    Int(LargeListBuilder<Int64Builder>),
    Bytes(LargeListBuilder<LargeBinaryBuilder>),
}

#[derive(Debug)]
struct StateBuilder {
    users: UserValues,
    blocks: LargeListBuilder<Int32Builder>,
    masks: LargeListBuilder<Int64Builder>,
    days: Int64Builder,
    skipped: Int64Builder,
}

/// One user id as written to the state.
#[derive(Debug, Clone, Copy)]
enum UserRef<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl StateBuilder {
    fn push(&mut self, user: UserRef, block: i32, mask: u64) -> Result<()> {
        match (&mut self.users, user) {
            (UserValues::Int(b), UserRef::Int(v)) => b.values().append_value(v),
            (UserValues::Bytes(b), UserRef::Bytes(k)) => b.values().append_value(k),
            (_, user) => {
                return internal_err!("{NAME}: user id {user:?} does not match the state type");
            }
        }
        self.blocks.values().append_value(block);
        self.masks.values().append_value(mask as i64);
        Ok(())
    }

    fn end_group(&mut self, days: Option<u32>, skipped: u64) {
        self.skipped.append_value(skipped as i64);
        match &mut self.users {
            UserValues::Int(b) => b.append(true),
            UserValues::Bytes(b) => b.append(true),
        }
        self.blocks.append(true);
        self.masks.append(true);
        self.days.append_option(days.map(i64::from));
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        let users: ArrayRef = match &mut self.users {
            UserValues::Int(b) => Arc::new(b.finish()),
            UserValues::Bytes(b) => Arc::new(b.finish()),
        };
        vec![
            users,
            Arc::new(self.blocks.finish()),
            Arc::new(self.masks.finish()),
            Arc::new(self.days.finish()),
            Arc::new(self.skipped.finish()),
        ]
    }
}

/// Row `i`'s `days` (an expression's value), checked.
#[inline]
fn row_days(name: &str, days: &Float64Array, i: usize) -> Result<u32> {
    if days.is_null(i) {
        return exec_err!("{name}: days is NULL in a row of a group; give every row its days");
    }
    let d = days.value(i);
    checked_days(d).ok_or_else(|| exec_datafusion_err!("{}", days_error(name, d)))
}

/// The block of UTC day `day` (days since 1970-01-01) and the day's bit in it.
#[inline]
fn block_of(day: i64) -> (i32, u64) {
    let block = day.div_euclid(BLOCK as i64);
    (
        block.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        1u64 << day.rem_euclid(BLOCK as i64),
    )
}

impl GroupsAccumulator for StickinessGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let mask = row_mask(values, &[0, 1], opt_filter);
        let users = KeyColumn::new(self.name, "user_id", &values[0])?;
        let times = time_micros(self.name, "event_time", &values[1])?;
        let per_group = self.per_group_days(values)?;
        // Event exports are usually ordered by user or session, so a row
        // often repeats the previous row's (group, user, day): skip those
        // without hashing.
        let mut last: Option<(usize, usize, i64)> = None;
        for_each_row(times.len(), mask.as_ref(), |i| {
            let g = group_indices[i];
            if let Some(days) = per_group {
                self.groups[g].set_period(self.name, row_days(self.name, days, i)?)?;
            }
            let day = utc_day(times[i]);
            if let Some((row, lg, lday)) = last
                && lg == g
                && lday == day
                && users.same_key(row, i)
            {
                return Ok(());
            }
            last = Some((i, g, day));
            let user = self.numbers.number(self.name, &users, i)?;
            let (block, bit) = block_of(day);
            let delta = self.groups[g].add(user, block, bit, self.switch_at);
            self.bytes = self.bytes.saturating_add_signed(delta);
            Ok(())
        })?;
        if self.breakdown
            && let Some(counted) = &mask
        {
            let passed = row_mask(values, &[], opt_filter);
            for_each_row(times.len(), passed.as_ref(), |i| {
                if !counted.value(i) {
                    self.groups[group_indices[i]].skipped += 1;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        self.numbers.release_if_no_groups(self.groups.len());
        if !self.breakdown {
            return Ok(Arc::new(
                groups
                    .iter()
                    .map(|g| g.value(self.days_of(g)))
                    .collect::<Float64Array>(),
            ));
        }
        let n = groups.len();
        let (mut value, mut numerator) = (
            Float64Builder::with_capacity(n),
            Float64Builder::with_capacity(n),
        );
        let (mut denominator, mut user_days) = (
            Float64Builder::with_capacity(n),
            Int64Builder::with_capacity(n),
        );
        let (mut days, mut skipped) = (
            Int64Builder::with_capacity(n),
            Int64Builder::with_capacity(n),
        );
        for g in &groups {
            let given = self.days_of(g);
            match g.parts(given) {
                Some((pairs, users, d)) => {
                    value.append_value(100.0 * (pairs as f64 / d as f64) / users as f64);
                    numerator.append_value(pairs as f64 / d as f64);
                    denominator.append_value(users as f64);
                    user_days.append_value(pairs as i64);
                    days.append_value(d);
                }
                None => {
                    value.append_null();
                    numerator.append_null();
                    denominator.append_value(0.0);
                    user_days.append_value(0);
                    days.append_option(given.map(i64::from));
                }
            }
            skipped.append_value(g.skipped as i64);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(value.finish()),
            Arc::new(numerator.finish()),
            Arc::new(denominator.finish()),
            Arc::new(user_days.finish()),
            Arc::new(days.finish()),
            Arc::new(skipped.finish()),
        ];
        Ok(Arc::new(StructArray::try_new(
            breakdown_fields(),
            columns,
            None,
        )?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let mut out = self.state_builder();
        let mut sets = StateWriter::default();
        for g in &groups {
            match &g.big {
                Some(big) => sets.push_group(&[big], &self.numbers)?,
                None => sets.push_group(&[], &self.numbers)?,
            }
            for ((user, block), mask) in &g.days {
                let user = if self.numbers.is_int() {
                    UserRef::Int(*user)
                } else {
                    UserRef::Bytes(self.numbers.bytes(*user))
                };
                out.push(user, *block, *mask)?;
            }
            out.end_group(g.period, g.skipped);
        }
        self.numbers.release_if_no_groups(self.groups.len());
        let mut state = out.finish();
        state.extend(sets.finish());
        Ok(state)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let users = values[0].as_list::<i64>();
        let offsets = users.value_offsets();
        let users = KeyColumn::new(self.name, "user_id", users.values())?;
        let blocks = values[1].as_list::<i64>();
        let blocks = blocks.values().as_primitive::<Int32Type>().values();
        let masks = values[2].as_list::<i64>();
        let masks = masks.values().as_primitive::<Int64Type>().values();
        let periods = values[3].as_primitive::<Int64Type>();
        let skipped = values[4].as_primitive::<Int64Type>().values();
        let sets = StateReader::new(self.name, &values[5..9])?;
        for (row, g) in group_indices.iter().enumerate() {
            self.groups[*g].skipped += skipped[row] as u64;
            if periods.is_valid(row) {
                self.groups[*g].set_period(self.name, periods.value(row) as u32)?;
            }
            for p in offsets[row] as usize..offsets[row + 1] as usize {
                let user = self.numbers.number(self.name, &users, p)?;
                let delta = self.groups[*g].add(user, blocks[p], masks[p] as u64, self.switch_at);
                self.bytes = self.bytes.saturating_add_signed(delta);
            }
            if sets.has_sets(row) {
                let group = &mut self.groups[*g];
                let mut delta = 0;
                sets.read_group(self.name, row, &mut self.numbers, |_, day, set| {
                    delta += group.add_set(day, set);
                })?;
                delta += group.measure();
                self.bytes = self.bytes.saturating_add_signed(delta);
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let len = values[0].len();
        let mask = row_mask(values, &[0, 1], opt_filter);
        let ids = KeyColumn::new(self.name, "user_id", &values[0])?;
        let times = time_micros(self.name, "event_time", &values[1])?;
        let mut counted = vec![false; len];
        for_each_row(len, mask.as_ref(), |i| {
            counted[i] = true;
            Ok(())
        })?;
        // Rows that passed FILTER (the others are not the group's at all).
        let mut passed = vec![false; len];
        for_each_row(len, row_mask(values, &[], opt_filter).as_ref(), |i| {
            passed[i] = true;
            Ok(())
        })?;
        let per_group = self.per_group_days(values)?;
        let mut out = self.state_builder();
        let mut sets = StateWriter::default();
        for (i, c) in counted.iter().enumerate() {
            let mut days = None;
            if *c {
                let (block, bit) = block_of(utc_day(times[i]));
                match &ids {
                    KeyColumn::Int(v) => out.push(UserRef::Int(v[i]), block, bit)?,
                    other => other.with_key(i, |k| out.push(UserRef::Bytes(k), block, bit))?,
                }
                if let Some(d) = per_group {
                    days = Some(row_days(self.name, d, i)?);
                }
            }
            out.end_group(days, u64::from(passed[i] && !*c));
            sets.push_group(&[], &self.numbers)?;
        }
        let mut state = out.finish();
        state.extend(sets.finish());
        Ok(state)
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Group>() + self.bytes + self.numbers.size()
    }
}

/// The `stickiness` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(KeyedAggregate(Stickiness::default()))));
    Arc::clone(&UDAF)
}

/// The `stickiness` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(stickiness(user_id, event_time); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::{
        Int64Array, StringArray, StringViewArray, TimestampSecondArray,
    };

    const DAY: i64 = 86_400;

    #[test]
    fn hand_computed_stickiness() {
        // user 1 active days 0, 0 (twice), 1; user 2 active day 2 → span 3 days
        // pairs = {(1,0),(1,1),(2,2)} = 3; DAU = 3/3 = 1; users 2 → 50 %
        let users: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            None,
        ]));
        let times: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            10,
            DAY - 1,
            DAY + 5,
            2 * DAY,
            0,
        ]));
        assert_eq!(
            check_agree(&udaf(), &[Arc::clone(&users), Arc::clone(&times)], &[], 1),
            vec![ScalarValue::Float64(Some(50.0))]
        );
        // with days = 30: 100 × (3/30) / 2 = 5
        assert_eq!(
            check_agree(&udaf(), &[users, times], &[ScalarValue::Int64(Some(30))], 1),
            vec![ScalarValue::Float64(Some(5.0))]
        );
    }

    #[test]
    fn days_per_group() {
        // Group 0 (even rows): user 1 on days 0 and 1 with days 30 →
        // 100 × (2/30) / 1; group 1 (odd rows): user 2 on day 0 with days 31.
        let users: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 1, 2]));
        let times: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, 5, DAY, 9]));
        let days: ArrayRef = Arc::new(Float64Array::from(vec![30.0, 31.0, 30.0, 31.0]));
        assert_eq!(
            check_agree(&udaf(), &[users, times, days], &[], 2),
            vec![
                ScalarValue::Float64(Some(100.0 * 2.0 / 30.0)),
                ScalarValue::Float64(Some(100.0 / 31.0))
            ]
        );
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let u: Int64Array = (0..n)
                .map(|i| (i % 10 != 0).then_some((i % 23) as i64))
                .collect();
            let t: TimestampSecondArray = (0..n)
                .map(|i| Some((i as i64 % 31) * DAY + i as i64))
                .collect();
            vec![Arc::new(u) as ArrayRef, Arc::new(t) as ArrayRef]
        });
    }

    #[test]
    fn string_ids_and_days_in_different_blocks() {
        // Days 63 and 64 fall in different 64-day blocks. User "a" is active on
        // days 63 and 64 (twice), "b" on day 64: pairs {(a,63),(a,64),(b,64)} = 3
        // over a 2-day span → DAU 1.5; 2 users → 75 %.
        let ids = [Some("a"), Some("a"), Some("b"), Some("a"), None];
        let times: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            63 * DAY,
            64 * DAY + 5,
            64 * DAY,
            64 * DAY + 7,
            0,
        ]));
        let utf8: ArrayRef = Arc::new(StringArray::from(ids.to_vec()));
        let view: ArrayRef = Arc::new(StringViewArray::from(ids.to_vec()));
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(1),
            Some(2),
            Some(1),
            None,
        ]));
        for users in [utf8, view, ints] {
            assert_eq!(
                check_agree(&udaf(), &[users, Arc::clone(&times)], &[], 1),
                vec![ScalarValue::Float64(Some(75.0))]
            );
        }
    }

    #[test]
    fn days_before_1970() {
        // 1969-12-31 and 1970-01-01 are consecutive days: one user on both → 100 %.
        let users: ArrayRef = Arc::new(Int64Array::from(vec![7, 7]));
        let times: ArrayRef = Arc::new(TimestampSecondArray::from(vec![-1, 0]));
        assert_eq!(
            check_agree(&udaf(), &[users, times], &[], 1),
            vec![ScalarValue::Float64(Some(100.0))]
        );
    }

    /// Every test again with groups that move into bitmaps at once, after
    /// two entries, and after five (a table and bitmaps merged together).
    #[test]
    fn the_same_on_bitmaps() {
        for n in [1, 2, 5] {
            crate::util::bitmaps::with_switch_at(n, || {
                hand_computed_stickiness();
                days_per_group();
                accumulators_agree_on_all_sizes();
                string_ids_and_days_in_different_blocks();
                days_before_1970();
                string_ids_over_many_blocks_agree_on_all_sizes();
            });
        }
    }

    #[test]
    fn string_ids_over_many_blocks_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let u: StringArray = (0..n)
                .map(|i| (i % 7 != 0).then(|| format!("user-{}", i % 41)))
                .collect();
            let t: TimestampSecondArray = (0..n)
                .map(|i| Some((i as i64 % 300 - 100) * DAY + i as i64))
                .collect();
            vec![Arc::new(u) as ArrayRef, Arc::new(t) as ArrayRef]
        });
    }
}
