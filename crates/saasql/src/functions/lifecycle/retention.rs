//! `retention(user_id, cohort_time, activity_time, granularity, periods [, mode [, as_of]])`:
//! cohort retention curves.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Float64Builder, Int64Array,
    Int64Builder, LargeBinaryBuilder, LargeListBuilder, ListBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, TimeUnit};
use datafusion::common::{Result, ScalarValue, internal_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{AggregateUDF, Documentation, EmitTo, GroupsAccumulator};
use hashbrown::{HashMap, HashSet};

use crate::aggregate::{for_each_row, row_mask};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::{Function, Hooks};
use crate::keyed::{IdNumbers, KeyedAggregate, KeyedKernel};
use crate::util::bitmaps::{self, StateReader, StateWriter, UserBitmaps};
use crate::util::ids::KeyColumn;
use crate::util::literals::{constant_arg, physical_literals, scalar_f64, scalar_str};
use crate::util::numbers::fmt_num;
use crate::util::time::{MICROS_PER_DAY, civil_from_days, month_start, time_micros};

const NAME: &str = "retention";

/// The most periods one call may ask for.
const MAX_PERIODS: u32 = 1000;

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Cohort retention curve: a LIST of `periods` percentages. Element k (from 0) is \
         100 × (distinct users active in the k-th period after their cohort start) ÷ \
         (distinct users in the group). Periods are calendar periods in UTC (`day`; `week`, \
         Monday to Sunday, as `date_trunc('week', …)`; `month`): a user's period 0 is the \
         period holding their cohort_time, period k the k-th after it, whatever the time of \
         day. `mode` 'bounded' (the default) counts users active in period k itself; \
         'unbounded' counts users active in period k or any later one (also beyond the \
         last period asked for). These are the two definitions product-analytics tools \
         publish: Amplitude's N-day and unbounded retention, and PostHog's retention \
         insight with \"on\" and \"on or after\". A period that has not ended is NULL, not \
         0: element k is NULL unless the k-th period after the group's latest cohort start \
         ended at or before `as_of` (default: the latest cohort_time or activity_time in \
         the group). Pass `as_of` (e.g. the first instant after your export) to fix the \
         cut-off for every group. A user's cohort start is their earliest cohort_time in \
         the group. Rows with NULL user_id or cohort_time are skipped; a row with NULL \
         activity_time still counts its user in the group (a customer without events, \
         from a LEFT JOIN). Activity before a user's cohort start is ignored. No rows gives \
         NULL. granularity, periods (a whole number in 1..1000), mode and as_of must be \
         constants.",
        "retention(user_id, cohort_time, activity_time, granularity, periods [, mode [, as_of]])",
    )
    .with_argument("user_id", "The user or customer (integer or string).")
    .with_argument(
        "cohort_time",
        "When the user's cohort starts, e.g. signed_up_at (DATE or TIMESTAMP).",
    )
    .with_argument(
        "activity_time",
        "When the user was active, e.g. event_time (DATE or TIMESTAMP; NULL for none).",
    )
    .with_argument("granularity", "Constant 'day', 'week' or 'month'.")
    .with_argument(
        "periods",
        "Constant number of periods in the result, from period 0 (1..1000).",
    )
    .with_argument(
        "mode",
        "Optional constant 'bounded' (active in that period; default) or 'unbounded' (in that period or later).",
    )
    .with_argument(
        "as_of",
        "Optional constant DATE or TIMESTAMP: periods ending after it are NULL (default: the group's latest time).",
    )
    .with_sql_example(
        "SELECT date_trunc('month', c.signed_up_at) AS cohort,\n       retention(c.customer_id, c.signed_up_at, e.event_time, 'month', 6) AS pct\nFROM customers c LEFT JOIN events e USING (customer_id)\nGROUP BY 1 ORDER BY 1;",
    )
    .with_related_udf("churn_rate")
    .with_related_udf("stickiness")
    .build()
});

/// A calendar period length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    /// The number of the period holding `micros` (UTC).
    #[inline]
    fn period(self, micros: i64) -> i64 {
        let day = micros.div_euclid(MICROS_PER_DAY);
        match self {
            Granularity::Day => day,
            // Weeks start on Monday; 1970-01-01 was a Thursday.
            Granularity::Week => (day + 3).div_euclid(7),
            Granularity::Month => {
                let (y, m, _) = civil_from_days(day);
                y * 12 + i64::from(m) - 1
            }
        }
    }

    /// When period `p` starts, in UTC microseconds (saturating far from 1970).
    fn start(self, p: i64) -> i64 {
        let day = match self {
            Granularity::Day => p,
            Granularity::Week => p.saturating_mul(7).saturating_sub(3),
            Granularity::Month => month_start(p.div_euclid(12), (p.rem_euclid(12) + 1) as u32, 0),
        };
        day.saturating_mul(MICROS_PER_DAY)
    }
}

/// The constant parameters of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Options {
    granularity: Granularity,
    periods: u32,
    unbounded: bool,
    as_of: Option<i64>,
}

/// Reads and checks the constant parameters.
fn options(literals: &[Option<ScalarValue>]) -> Result<Options> {
    let text = |index: usize, argument: &str| -> Result<Option<String>> {
        match constant_arg(NAME, argument, literals, index)? {
            None => Ok(None),
            Some(v) => match scalar_str(NAME, argument, v)? {
                Some(s) => Ok(Some(s.trim().to_ascii_lowercase())),
                None => plan_err!("{NAME}: {argument} must not be NULL"),
            },
        }
    };
    let granularity = match text(3, "granularity")?.as_deref() {
        Some("day") => Granularity::Day,
        Some("week") => Granularity::Week,
        Some("month") => Granularity::Month,
        Some(other) => {
            return plan_err!(
                "{NAME}: granularity '{other}' is not one of 'day', 'week' or 'month'"
            );
        }
        None => return plan_err!("{NAME}: granularity is missing"),
    };
    let periods = match constant_arg(NAME, "periods", literals, 4)? {
        Some(v) => match scalar_f64(NAME, "periods", v)? {
            Some(p) if p >= 1.0 && p.fract() == 0.0 && p <= f64::from(MAX_PERIODS) => p as u32,
            Some(p) => {
                return plan_err!(
                    "{NAME}: periods {} is not a whole number in 1..{MAX_PERIODS}",
                    fmt_num(p)
                );
            }
            None => return plan_err!("{NAME}: periods must not be NULL"),
        },
        None => return plan_err!("{NAME}: periods is missing"),
    };
    let unbounded = match text(5, "mode")?.as_deref() {
        None | Some("bounded") => false,
        Some("unbounded") => true,
        Some(other) => {
            return plan_err!("{NAME}: mode '{other}' is not one of 'bounded' or 'unbounded'");
        }
    };
    let as_of = match constant_arg(NAME, "as_of", literals, 6)? {
        None => None,
        Some(v) if v.is_null() => None,
        Some(v) => match v.cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None)) {
            Ok(ScalarValue::TimestampMicrosecond(Some(t), _)) => Some(t),
            _ => return plan_err!("{NAME}: as_of {v} is not a DATE or TIMESTAMP"),
        },
    };
    Ok(Options {
        granularity,
        periods,
        unbounded,
        as_of,
    })
}

/// The `retention` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    params: Params,
}

impl Default for Retention {
    fn default() -> Self {
        const PARAMS: [Param; 7] = [
            Param::id("user_id"),
            Param::time("cohort_time"),
            Param::time("activity_time"),
            Param::text("granularity"),
            Param::number("periods"),
            Param::text("mode"),
            Param::time("as_of"),
        ];
        Self {
            params: Params::new(NAME, &PARAMS, &[5, 6, 7]),
        }
    }
}

/// `retention` checks its constant parameters while SQL is planned.
const HOOKS: Hooks = Hooks {
    check_constants: Some(check_options),
    ..Hooks::NONE
};

fn check_options(_name: &str, literals: &[Option<ScalarValue>]) -> Result<()> {
    options(literals).map(|_| ())
}

/// The result type: a list of DOUBLE percentages, NULL where not ended.
fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

impl KeyedKernel for Retention {
    type Groups = RetentionGroups;
    fn name(&self) -> &'static str {
        NAME
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        &DOC
    }
    fn return_type(&self) -> DataType {
        list_type()
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::LargeList(Arc::new(Field::new_list_field(t, true)));
        let user = if KeyColumn::is_int(args.input_fields[0].data_type()) {
            DataType::Int64
        } else {
            DataType::LargeBinary
        };
        let field = |name: &str, t: DataType| {
            Arc::new(Field::new(format_state_name(args.name, name), t, true))
        };
        let mut fields = vec![
            field("users", list(user)),
            field("periods", list(DataType::Int64)),
            field("cohort", list(DataType::Boolean)),
            field("last", DataType::Int64),
        ];
        fields.extend(bitmaps::state_fields(args.name));
        Ok(fields)
    }
    fn groups(&self, args: &AccumulatorArgs) -> Result<RetentionGroups> {
        Ok(RetentionGroups {
            options: options(&physical_literals(args.exprs))?,
            numbers: IdNumbers::new(args.expr_fields[0].data_type()),
            groups: vec![],
            bytes: 0,
            switch_at: bitmaps::switch_at(),
        })
    }
}

/// One group: each user's cohort period and the periods they were active
/// in. Past [`bitmaps::SWITCH_AT`] entries they move into bitmaps
/// ([`crate::util::bitmaps`]): per period, the users with a cohort time in
/// it ([`COHORTS`]) and the users active in it ([`ACTIVE`]).
#[derive(Debug, Default)]
struct Group {
    /// User number → cohort period (the earliest seen).
    cohorts: HashMap<i64, i64>,
    /// (user number, period) pairs with activity.
    active: HashSet<(i64, i64)>,
    /// The latest cohort or activity time seen (UTC microseconds).
    last: Option<i64>,
    /// Bytes held by the two tables, or by the bitmaps.
    bytes: usize,
    /// The users per period, once the group is big (the tables are then
    /// empty).
    big: Option<Box<[UserBitmaps; 2]>>,
    /// Additions since `bytes` was last measured (big groups).
    unmeasured: u32,
    /// Recently added (user, period) pairs of a big group, per family: the
    /// rows of one customer's few users usually come together, and a pair
    /// found here is not added to its bitmap again.
    recent: Option<Box<[Recent; 2]>>,
}

/// Slots of [`Recent`].
const RECENT_SLOTS: usize = 64;

/// A direct-mapped cache of (user, period) pairs already in a family of
/// bitmaps (one slot per user hash; a new pair replaces the slot's).
#[derive(Debug)]
struct Recent([Option<(i64, i64)>; RECENT_SLOTS]);

impl Default for Recent {
    fn default() -> Self {
        Self([None; RECENT_SLOTS])
    }
}

impl Recent {
    /// Whether (user, period) was seen; remembers it.
    #[inline]
    fn seen(&mut self, user: i64, period: i64) -> bool {
        let slot = ((user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize;
        let pair = Some((user, period));
        if self.0[slot] == pair {
            return true;
        }
        self.0[slot] = pair;
        false
    }
}

/// The family of bitmaps holding users by cohort period.
const COHORTS: usize = 0;
/// The family of bitmaps holding users by active period.
const ACTIVE: usize = 1;

/// Bytes per entry of either table (two i64s), with the control byte and
/// 1/8 spare buckets.
const SLOT: usize = (size_of::<(i64, i64)>() + 1) * 8 / 7;

impl Group {
    /// Records `user`'s cohort period and, when `active` is given, one active
    /// period; returns the bytes newly held.
    #[inline]
    fn add(
        &mut self,
        user: i64,
        cohort: Option<i64>,
        active: Option<i64>,
        switch_at: usize,
    ) -> isize {
        if let Some(big) = &mut self.big {
            let recent = self.recent.get_or_insert_with(Default::default);
            for (family, period) in [(COHORTS, cohort), (ACTIVE, active)] {
                let Some(period) = period else { continue };
                if !recent[family].seen(user, period) {
                    big[family].insert(period, user);
                }
            }
            self.unmeasured += 1;
            return if self.unmeasured >= 4096 {
                self.measure()
            } else {
                0
            };
        }
        if let Some(c) = cohort {
            self.cohorts
                .entry(user)
                .and_modify(|old| *old = (*old).min(c))
                .or_insert(c);
        }
        if let Some(p) = active {
            self.active.insert((user, p));
        }
        if self.cohorts.len() + self.active.len() >= switch_at {
            return self.move_into_bitmaps();
        }
        let now = (self.cohorts.capacity() + self.active.capacity()) * SLOT;
        let grew = now as isize - self.bytes as isize;
        self.bytes = now;
        grew
    }

    /// Moves the tables into bitmaps; returns the change in bytes.
    fn move_into_bitmaps(&mut self) -> isize {
        let mut big: [UserBitmaps; 2] = Default::default();
        for (user, c) in std::mem::take(&mut self.cohorts) {
            big[COHORTS].insert(c, user);
        }
        for (user, p) in std::mem::take(&mut self.active) {
            big[ACTIVE].insert(p, user);
        }
        self.big = Some(Box::new(big));
        self.measure()
    }

    /// Adds a set of users of `family` in `period` (from a partial state);
    /// returns the change in bytes of moving into bitmaps (the caller
    /// measures the group once its sets are added).
    fn add_set(&mut self, family: u8, period: i64, set: roaring::RoaringTreemap) -> isize {
        let mut delta = 0;
        if self.big.is_none() {
            delta = self.move_into_bitmaps();
        }
        if let Some(big) = &mut self.big {
            big[usize::from(family).min(ACTIVE)].or_set(period, set);
        }
        delta
    }

    /// Measures a big group's bytes again; returns the change.
    fn measure(&mut self) -> isize {
        self.unmeasured = 0;
        let now = self
            .big
            .as_ref()
            .map_or(0, |b| b[COHORTS].bytes() + b[ACTIVE].bytes());
        let delta = now as isize - self.bytes as isize;
        self.bytes = now;
        delta
    }

    /// The counts of users per period (before the running sum of the
    /// unbounded mode is taken, as in [`Self::curve`]), the latest cohort
    /// start and the number of users, for a big group.
    fn big_counts(big: &[UserBitmaps; 2], o: &Options) -> Option<(Vec<u64>, i64, u64)> {
        let n = o.periods as usize;
        let mut counts = vec![0u64; n + 1];
        let mut seen = roaring::RoaringTreemap::new();
        let mut latest = None;
        for (c, set) in big[COHORTS].iter() {
            // The users whose earliest cohort period is c.
            let first = set - &seen;
            if first.is_empty() {
                continue;
            }
            seen |= &first;
            latest = Some(c);
            if o.unbounded {
                // Each user's latest active period, from the last one back.
                let mut remaining = first;
                for (p, active) in big[ACTIVE].iter().rev() {
                    if p < c || remaining.is_empty() {
                        break;
                    }
                    let hit = &remaining & active;
                    if hit.is_empty() {
                        continue;
                    }
                    let k = hit.len();
                    counts[0] += k;
                    let end = ((p - c) as usize).min(n - 1) + 1;
                    counts[end] = counts[end].wrapping_sub(k);
                    remaining -= &hit;
                }
            } else {
                for (k, count) in counts.iter_mut().take(n).enumerate() {
                    if let Some(active) = big[ACTIVE].get(c.saturating_add(k as i64)) {
                        *count += first.intersection_len(active);
                    }
                }
            }
        }
        Some((counts, latest?, seen.len()))
    }

    /// Notes a cohort or activity time (for the default `as_of`).
    #[inline]
    fn saw(&mut self, time: i64) {
        self.last = Some(self.last.map_or(time, |l| l.max(time)));
    }

    /// Appends the retention curve to `out` (NULL for a group without users).
    fn curve(&self, o: &Options, out: &mut ListBuilder<Float64Builder>) {
        let n = o.periods as usize;
        let (mut counts, latest, users) = match &self.big {
            Some(big) => match Self::big_counts(big, o) {
                Some(parts) => parts,
                None => {
                    out.append_null();
                    return;
                }
            },
            None => match self.cohorts.values().max() {
                Some(latest) => (self.small_counts(o), *latest, self.cohorts.len() as u64),
                None => {
                    out.append_null();
                    return;
                }
            },
        };
        if o.unbounded {
            let mut running = 0u64;
            for c in counts.iter_mut().take(n) {
                running = running.wrapping_add(*c);
                *c = running;
            }
        }
        let as_of = o.as_of.or(self.last).unwrap_or(i64::MIN);
        let users = users as f64;
        let values = out.values();
        for (k, count) in counts.iter().take(n).enumerate() {
            let ended = o.granularity.start(latest.saturating_add(k as i64 + 1)) <= as_of;
            if ended {
                values.append_value(100.0 * *count as f64 / users);
            } else {
                values.append_null();
            }
        }
        out.append(true);
    }

    /// [`Self::big_counts`] for a group still in its tables.
    fn small_counts(&self, o: &Options) -> Vec<u64> {
        let n = o.periods as usize;
        let mut counts = vec![0u64; n + 1];
        if o.unbounded {
            // Each user's latest active period, relative to their cohort.
            let mut furthest: HashMap<i64, i64> = HashMap::with_capacity(self.cohorts.len());
            for (user, p) in &self.active {
                if let Some(c) = self.cohorts.get(user) {
                    let rel = p - c;
                    if rel >= 0 {
                        let e = furthest.entry(*user).or_insert(rel);
                        *e = (*e).max(rel);
                    }
                }
            }
            // A user whose furthest period is m counts in periods 0..=m.
            for m in furthest.values() {
                counts[0] += 1;
                let end = (*m as usize).min(n - 1) + 1;
                counts[end] = counts[end].wrapping_sub(1);
            }
        } else {
            for (user, p) in &self.active {
                if let Some(c) = self.cohorts.get(user) {
                    let rel = p - c;
                    if (0..n as i64).contains(&rel) {
                        counts[rel as usize] += 1;
                    }
                }
            }
        }
        counts
    }
}

/// Vectorised accumulator: one [`Group`] per group, users by their
/// [`IdNumbers`].
#[derive(Debug)]
pub struct RetentionGroups {
    options: Options,
    numbers: IdNumbers,
    groups: Vec<Group>,
    bytes: usize,
    /// How many entries a group's tables hold before it moves into
    /// bitmaps.
    switch_at: usize,
}

/// The state being built: per group, the lists of (user, period, is cohort)
/// entries and the latest time.
#[derive(Debug)]
struct StateBuilder {
    int_users: Option<LargeListBuilder<Int64Builder>>,
    byte_users: Option<LargeListBuilder<LargeBinaryBuilder>>,
    periods: LargeListBuilder<Int64Builder>,
    cohort: LargeListBuilder<BooleanBuilder>,
    last: Int64Builder,
}

impl StateBuilder {
    fn new(int: bool) -> Self {
        Self {
            int_users: int.then(|| LargeListBuilder::new(Int64Builder::new())),
            byte_users: (!int).then(|| LargeListBuilder::new(LargeBinaryBuilder::new())),
            periods: LargeListBuilder::new(Int64Builder::new()),
            cohort: LargeListBuilder::new(BooleanBuilder::new()),
            last: Int64Builder::new(),
        }
    }

    fn push(&mut self, user: UserRef, period: i64, cohort: bool) -> Result<()> {
        match (user, &mut self.int_users, &mut self.byte_users) {
            (UserRef::Int(v), Some(b), _) => b.values().append_value(v),
            (UserRef::Bytes(k), _, Some(b)) => b.values().append_value(k),
            (user, _, _) => {
                return internal_err!("{NAME}: user id {user:?} does not match the state type");
            }
        }
        self.periods.values().append_value(period);
        self.cohort.values().append_value(cohort);
        Ok(())
    }

    fn end_group(&mut self, last: Option<i64>) {
        if let Some(b) = &mut self.int_users {
            b.append(true);
        }
        if let Some(b) = &mut self.byte_users {
            b.append(true);
        }
        self.periods.append(true);
        self.cohort.append(true);
        self.last.append_option(last);
    }

    fn finish(mut self) -> Vec<ArrayRef> {
        let users: ArrayRef = match (&mut self.int_users, &mut self.byte_users) {
            (Some(b), _) => Arc::new(b.finish()),
            (_, Some(b)) => Arc::new(b.finish()),
            _ => Arc::new(Int64Array::from(Vec::<i64>::new())),
        };
        vec![
            users,
            Arc::new(self.periods.finish()),
            Arc::new(self.cohort.finish()),
            Arc::new(self.last.finish()),
        ]
    }
}

/// One user id as written to the state.
#[derive(Debug, Clone, Copy)]
enum UserRef<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl RetentionGroups {
    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let out = emit_to.take_needed(&mut self.groups);
        self.bytes -= out.iter().map(|g| g.bytes).sum::<usize>();
        out
    }
}

impl GroupsAccumulator for RetentionGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let mask = row_mask(values, &[0, 1], opt_filter);
        let users = KeyColumn::new(NAME, "user_id", &values[0])?;
        let cohorts = time_micros(NAME, "cohort_time", &values[1])?;
        let activity = &values[2];
        let times = time_micros(NAME, "activity_time", activity)?;
        let g_of = self.options.granularity;
        for_each_row(cohorts.len(), mask.as_ref(), |i| {
            let g = group_indices[i];
            let user = self.numbers.number(NAME, &users, i)?;
            let cohort = cohorts[i];
            let group = &mut self.groups[g];
            group.saw(cohort);
            let active = if activity.is_valid(i) {
                group.saw(times[i]);
                Some(g_of.period(times[i]))
            } else {
                None
            };
            let delta = group.add(user, Some(g_of.period(cohort)), active, self.switch_at);
            self.bytes = self.bytes.saturating_add_signed(delta);
            Ok(())
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        self.numbers.release_if_no_groups(self.groups.len());
        let mut out = ListBuilder::new(Float64Builder::new())
            .with_field(Arc::new(Field::new_list_field(DataType::Float64, true)));
        for g in &groups {
            g.curve(&self.options, &mut out);
        }
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let int = self.numbers.is_int();
        let mut out = StateBuilder::new(int);
        let mut sets = StateWriter::default();
        for g in &groups {
            match &g.big {
                Some(big) => sets.push_group(&[&big[COHORTS], &big[ACTIVE]], &self.numbers)?,
                None => sets.push_group(&[], &self.numbers)?,
            }
            let user_ref = |u: i64| {
                if int {
                    UserRef::Int(u)
                } else {
                    UserRef::Bytes(self.numbers.bytes(u))
                }
            };
            for (user, cohort) in &g.cohorts {
                out.push(user_ref(*user), *cohort, true)?;
            }
            for (user, period) in &g.active {
                out.push(user_ref(*user), *period, false)?;
            }
            out.end_group(g.last);
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
        let users = KeyColumn::new(NAME, "user_id", users.values())?;
        let periods = values[1].as_list::<i64>();
        let periods = periods.values().as_primitive::<Int64Type>().values();
        let cohort = values[2].as_list::<i64>();
        let cohort = cohort.values().as_boolean();
        let last = values[3].as_primitive::<Int64Type>();
        let sets = StateReader::new(NAME, &values[4..8])?;
        for (row, g) in group_indices.iter().enumerate() {
            let group = &mut self.groups[*g];
            for p in offsets[row] as usize..offsets[row + 1] as usize {
                let user = self.numbers.number(NAME, &users, p)?;
                let delta = if cohort.value(p) {
                    group.add(user, Some(periods[p]), None, self.switch_at)
                } else {
                    group.add(user, None, Some(periods[p]), self.switch_at)
                };
                self.bytes = self.bytes.saturating_add_signed(delta);
            }
            if sets.has_sets(row) {
                let mut delta = 0;
                sets.read_group(NAME, row, &mut self.numbers, |family, period, set| {
                    delta += group.add_set(family, period, set);
                })?;
                delta += group.measure();
                self.bytes = self.bytes.saturating_add_signed(delta);
            }
            if last.is_valid(row) {
                group.saw(last.value(row));
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
        let ids = KeyColumn::new(NAME, "user_id", &values[0])?;
        let cohorts = time_micros(NAME, "cohort_time", &values[1])?;
        let activity = &values[2];
        let times = time_micros(NAME, "activity_time", activity)?;
        let mut counted = vec![false; len];
        for_each_row(len, mask.as_ref(), |i| {
            counted[i] = true;
            Ok(())
        })?;
        let g_of = self.options.granularity;
        let mut out = StateBuilder::new(self.numbers.is_int());
        let mut sets = StateWriter::default();
        for (i, c) in counted.iter().enumerate() {
            sets.push_group(&[], &self.numbers)?;
            if !*c {
                out.end_group(None);
                continue;
            }
            // One cohort entry, and one activity entry when there is activity
            // (no per-row allocation).
            let active = activity.is_valid(i);
            let cohort_entry = Some((g_of.period(cohorts[i]), true));
            let activity_entry = active.then(|| (g_of.period(times[i]), false));
            let last = if active {
                cohorts[i].max(times[i])
            } else {
                cohorts[i]
            };
            for (period, is_cohort) in cohort_entry.into_iter().chain(activity_entry) {
                match &ids {
                    KeyColumn::Int(v) => out.push(UserRef::Int(v[i]), period, is_cohort)?,
                    other => {
                        other.with_key(i, |k| out.push(UserRef::Bytes(k), period, is_cohort))?
                    }
                }
            }
            out.end_group(Some(last));
        }
        let mut state = out.finish();
        state.extend(sets.finish());
        Ok(state)
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Group>() + self.bytes + self.numbers.size()
    }
}

/// The `retention` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(KeyedAggregate(Retention::default()))));
    Arc::clone(&UDAF)
}

/// The `retention` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(retention(user_id, cohort_time, activity_time, granularity, periods); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::{StringArray, TimestampSecondArray};

    const DAY: i64 = 86_400;

    fn list(values: &[Option<f64>]) -> ScalarValue {
        ScalarValue::List(Arc::new(
            datafusion::arrow::array::ListArray::from_iter_primitive::<
                datafusion::arrow::datatypes::Float64Type,
                _,
                _,
            >(vec![Some(values.to_vec())]),
        ))
    }

    fn lit(s: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(s.to_string()))
    }

    /// Three users with cohort day 0 (1970-01-01), one with day 1:
    /// u1 active days 0, 1, 3; u2 day 0; u3 day 2; u4 (cohort day 1) day 2,
    /// and a row with no activity for u5 (cohort day 0).
    fn sample() -> Vec<ArrayRef> {
        let users: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(1),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            None,
        ]));
        let cohorts: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            Some(10),
            Some(10),
            Some(10),
            Some(20),
            Some(30),
            Some(DAY + 5),
            Some(40),
            Some(0),
        ]));
        let activity: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            Some(100),
            Some(DAY + 100),
            Some(3 * DAY),
            Some(50),
            Some(2 * DAY + 7),
            Some(2 * DAY),
            None,
            Some(0),
        ]));
        vec![users, cohorts, activity]
    }

    #[test]
    fn hand_computed_bounded_and_unbounded() {
        // Periods relative to each cohort: u1 {0, 1, 3}, u2 {0}, u3 {2},
        // u4 {1}, u5 {}. 5 users. Bounded: k0 = {u1, u2} 40 %, k1 = {u1, u4}
        // 40 %, k2 = {u3} 20 %, k3 = {u1} 20 %. The latest activity is day 3
        // and the latest cohort day 1: period k has ended once day 1 + k + 1
        // ≤ day 3 (k ≤ 1), so k2 and k3 are NULL by default.
        let data = sample();
        assert_eq!(
            check_agree(
                &udaf(),
                &data,
                &[lit("day"), ScalarValue::Int64(Some(4))],
                1
            ),
            vec![list(&[Some(40.0), Some(40.0), None, None])]
        );
        // With as_of day 10 every period has ended. Unbounded: furthest
        // u1 3, u2 0, u3 2, u4 1 → k0 4/5, k1 3/5, k2 2/5, k3 1/5.
        let as_of = ScalarValue::TimestampSecond(Some(10 * DAY), None);
        assert_eq!(
            check_agree(
                &udaf(),
                &data,
                &[
                    lit("day"),
                    ScalarValue::Int64(Some(4)),
                    lit("bounded"),
                    as_of.clone()
                ],
                1
            ),
            vec![list(&[Some(40.0), Some(40.0), Some(20.0), Some(20.0)])]
        );
        assert_eq!(
            check_agree(
                &udaf(),
                &data,
                &[
                    lit("day"),
                    ScalarValue::Int64(Some(4)),
                    lit("Unbounded"),
                    as_of
                ],
                1
            ),
            vec![list(&[Some(80.0), Some(60.0), Some(40.0), Some(20.0)])]
        );
    }

    #[test]
    fn calendar_weeks_and_months() {
        // Weeks start on Monday: 1970-01-04 (Sunday, day 3) and 1970-01-05
        // (Monday, day 4) are in consecutive weeks.
        assert_eq!(Granularity::Week.period(3 * DAY * 1_000_000), 0);
        assert_eq!(Granularity::Week.period(4 * DAY * 1_000_000), 1);
        assert_eq!(Granularity::Week.start(1), 4 * DAY * 1_000_000);
        assert_eq!(Granularity::Week.start(0), -3 * DAY * 1_000_000);
        // Months: 1970-01-31 and 1970-02-01; before 1970 too.
        assert_eq!(Granularity::Month.period(30 * DAY * 1_000_000), 1970 * 12);
        assert_eq!(
            Granularity::Month.period(31 * DAY * 1_000_000),
            1970 * 12 + 1
        );
        assert_eq!(Granularity::Month.period(-1), 1969 * 12 + 11);
        assert_eq!(
            Granularity::Month.start(1970 * 12 + 1),
            31 * DAY * 1_000_000
        );
    }

    #[test]
    fn string_ids_and_no_rows() {
        let users: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("a")]));
        let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, 0, 40 * DAY]));
        let a: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, 0, 40 * DAY]));
        // Cohorts: a earliest Jan (day 0 and day 40 rows: the earliest, Jan),
        // b Jan. Activity: a in Jan and Feb, b in Jan. Latest time day 40
        // (Feb 10): period 0 (Jan) has ended, period 1 (Feb) has not.
        assert_eq!(
            check_agree(
                &udaf(),
                &[users, t, a],
                &[lit("month"), ScalarValue::Int64(Some(2))],
                1
            ),
            vec![list(&[Some(100.0), None])]
        );
        let empty: ArrayRef = Arc::new(Int64Array::from(Vec::<i64>::new()));
        let none: ArrayRef = Arc::new(TimestampSecondArray::from(Vec::<i64>::new()));
        assert_eq!(
            check_agree(
                &udaf(),
                &[empty, Arc::clone(&none), none],
                &[lit("day"), ScalarValue::Int64(Some(2))],
                1
            ),
            vec![ScalarValue::try_from(list_type()).unwrap()]
        );
    }

    #[test]
    fn bad_constants_are_planning_errors() {
        let lits = |g: &str, p: i64, m: Option<&str>| {
            let mut v = vec![
                None,
                None,
                None,
                Some(lit(g)),
                Some(ScalarValue::Int64(Some(p))),
            ];
            if let Some(m) = m {
                v.push(Some(lit(m)));
            }
            v
        };
        let err = |l: Vec<Option<ScalarValue>>| options(&l).unwrap_err().strip_backtrace();
        assert!(err(lits("year", 3, None)).contains("granularity 'year' is not one of"));
        assert!(err(lits("day", 0, None)).contains("periods 0 is not a whole number in 1..1000"));
        assert!(err(lits("day", 1001, None)).contains("periods 1001"));
        assert!(err(lits("day", 3, Some("rolling"))).contains("mode 'rolling' is not one of"));
        let mut l = lits("day", 3, None);
        l[4] = None;
        assert!(err(l).contains("periods must be a constant"));
    }

    /// Every test again with groups that move into bitmaps at once, after
    /// two entries, and after five (tables and bitmaps merged together).
    #[test]
    fn the_same_on_bitmaps() {
        for n in [1, 2, 5] {
            crate::util::bitmaps::with_switch_at(n, || {
                hand_computed_bounded_and_unbounded();
                calendar_weeks_and_months();
                string_ids_and_no_rows();
                accumulators_agree_on_all_sizes();
            });
        }
    }

    /// Random users with several cohort times each (the earliest counts),
    /// activity before and after it and none: bitmaps give the tables'
    /// curves, in both modes, in 3 groups.
    #[test]
    fn bitmaps_agree_with_tables_on_random_rows() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let n = 2000;
        let shuffled: Vec<(i64, i64, Option<i64>)> = (0..n)
            .map(|_| {
                let user = next(60) as i64;
                let cohort = (user % 9 + next(3) as i64) * DAY + next(DAY as u64) as i64;
                let active = (next(6) != 0).then(|| next(40) as i64 * DAY + 3);
                (user, cohort, active)
            })
            .collect();
        // Also with each user's rows together, as an export often has them
        // (repeated pairs one after another).
        let mut together = shuffled.clone();
        together.sort_by_key(|r| (r.0, r.2.map(|a| a / DAY)));
        for rows in [shuffled, together] {
            let data: Vec<ArrayRef> = vec![
                Arc::new(rows.iter().map(|r| Some(r.0)).collect::<Int64Array>()),
                Arc::new(
                    rows.iter()
                        .map(|r| Some(r.1))
                        .collect::<TimestampSecondArray>(),
                ),
                Arc::new(rows.iter().map(|r| r.2).collect::<TimestampSecondArray>()),
            ];
            for mode in ["bounded", "unbounded"] {
                for granularity in ["day", "week"] {
                    let literals = [lit(granularity), ScalarValue::Int64(Some(12)), lit(mode)];
                    let tables = check_agree(&udaf(), &data, &literals, 3);
                    for at in [1, 7, 50] {
                        let bitmaps = crate::util::bitmaps::with_switch_at(at, || {
                            check_agree(&udaf(), &data, &literals, 3)
                        });
                        assert_eq!(bitmaps, tables, "{mode} {granularity} switch at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        for mode in ["bounded", "unbounded"] {
            check_sizes(
                &udaf(),
                &[lit("week"), ScalarValue::Int64(Some(6)), lit(mode)],
                |n| {
                    let u: Int64Array = (0..n)
                        .map(|i| (i % 11 != 0).then_some((i % 17) as i64))
                        .collect();
                    let c: TimestampSecondArray =
                        (0..n).map(|i| Some((i as i64 % 17) * DAY)).collect();
                    let a: TimestampSecondArray = (0..n)
                        .map(|i| (i % 5 != 0).then_some((i as i64 % 60) * DAY + 17))
                        .collect();
                    vec![
                        Arc::new(u) as ArrayRef,
                        Arc::new(c) as ArrayRef,
                        Arc::new(a) as ArrayRef,
                    ]
                },
            );
        }
    }
}
