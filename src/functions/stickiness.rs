//! `stickiness(user_id, event_time [, days])`: DAU/MAU-style stickiness.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Builder, LargeBinaryBuilder,
    LargeListBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Coercion, Documentation, EmitTo,
    GroupsAccumulator, ReversedUDAF, Signature, TypeSignature, TypeSignatureClass, Volatility,
};

use crate::aggregate::{SingleGroup, for_each_row, row_mask};
use crate::docs;
use crate::util::{
    KeyColumn, constant_arg, fmt_num, numeric, physical_literals, scalar_f64, time, time_micros,
    utc_day,
};

const NAME: &str = "stickiness";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Stickiness (DAU/MAU) as a percentage: average daily active users ÷ active users × \
         100 = 100 × (distinct (user, UTC day) pairs / days) / distinct users. `days` \
         defaults to the number of calendar days from the group's first to its last active \
         day, inclusive; pass the period length (e.g. 30) to count inactive days too (a \
         `days` smaller than the active span can give more than 100). Rows \
         with NULL user_id or event_time are skipped; no rows gives NULL. days must be a \
         constant whole number ≥ 1.",
        "stickiness(user_id, event_time [, days])",
    )
    .with_argument("user_id", "The active user (integer or string).")
    .with_argument("event_time", "When the user was active (DATE or TIMESTAMP; days are UTC).")
    .with_argument("days", "Optional constant number of days in the period.")
    .with_sql_example(
        "SELECT date_trunc('month', event_time) AS month, stickiness(user_id, event_time) AS dau_mau_pct\nFROM events GROUP BY 1 ORDER BY 1;",
    )
    .with_related_udf("engagement_score")
    .build()
});

/// The `stickiness` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Stickiness {
    signature: Signature,
}

impl Default for Stickiness {
    fn default() -> Self {
        let user = Coercion::new_exact(TypeSignatureClass::Any);
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Coercible(vec![user.clone(), time()]),
                    TypeSignature::Coercible(vec![user, time(), numeric()]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// The optional constant `days` argument.
pub fn days_param(literals: &[Option<ScalarValue>]) -> Result<Option<u32>> {
    let Some(v) = constant_arg(NAME, "days", literals, 2)? else {
        return Ok(None);
    };
    match scalar_f64(NAME, "days", v)? {
        Some(d) if d >= 1.0 && d.fract() == 0.0 && d <= 1e6 => Ok(Some(d as u32)),
        Some(d) => plan_err!(
            "{NAME}: days {} is not a whole number in 1..1000000",
            fmt_num(d)
        ),
        None => plan_err!("{NAME}: days must not be NULL"),
    }
}

impl AggregateUDFImpl for Stickiness {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let days = days_param(&physical_literals(args.exprs))?;
        Ok(Box::new(SingleGroup(StickinessGroups::new(days))))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::LargeList(Arc::new(Field::new_list_field(t, true)));
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "users"),
                list(DataType::LargeBinary),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "user_days"),
                list(DataType::Int64),
                true,
            )),
        ])
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(StickinessGroups::new(days_param(
            &physical_literals(args.exprs),
        )?)))
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// One group's distinct users and (user, day) pairs.
#[derive(Debug, Default)]
struct Group {
    users: HashMap<Box<[u8]>, u32>,
    order: Vec<Box<[u8]>>,
    pairs: HashSet<(u32, i32)>,
    /// Bytes held by this group (keys twice, their boxes, table slots).
    bytes: usize,
}

impl Group {
    /// Adds one active (user, day); returns the bytes newly held.
    fn add(&mut self, user: &[u8], day: i32) -> usize {
        let mut grew = 0;
        let idx = match self.users.get(user) {
            Some(i) => *i,
            None => {
                let i = self.order.len() as u32;
                self.users.insert(user.into(), i);
                self.order.push(user.into());
                grew += 2 * (user.len() + size_of::<Box<[u8]>>()) + 8;
                i
            }
        };
        if self.pairs.insert((idx, day)) {
            grew += 2 * size_of::<(u32, i32)>();
        }
        self.bytes += grew;
        grew
    }

    fn value(&self, days: Option<u32>) -> Option<f64> {
        if self.order.is_empty() {
            return None;
        }
        let days = match days {
            Some(d) => d as f64,
            None => {
                let (lo, hi) = self
                    .pairs
                    .iter()
                    .fold((i32::MAX, i32::MIN), |(lo, hi), (_, d)| {
                        (lo.min(*d), hi.max(*d))
                    });
                (hi as i64 - lo as i64 + 1) as f64
            }
        };
        Some(100.0 * (self.pairs.len() as f64 / days) / self.order.len() as f64)
    }
}

/// Vectorised accumulator: one [`Group`] per group.
#[derive(Debug)]
pub struct StickinessGroups {
    days: Option<u32>,
    groups: Vec<Group>,
    bytes: usize,
}

impl StickinessGroups {
    fn new(days: Option<u32>) -> Self {
        Self {
            days,
            groups: vec![],
            bytes: 0,
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let out = emit_to.take_needed(&mut self.groups);
        self.bytes -= out.iter().map(|g| g.bytes).sum::<usize>();
        out
    }
}

/// Encodes a (user index, day) pair for the state list.
fn encode(idx: u32, day: i32) -> i64 {
    ((idx as i64) << 32) | (day as u32 as i64)
}

fn decode(v: i64) -> (u32, i32) {
    ((v >> 32) as u32, v as u32 as i32)
}

fn day_of(micros: i64) -> i32 {
    utc_day(micros).clamp(i32::MIN as i64, i32::MAX as i64) as i32
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
        let users = KeyColumn::new(NAME, "user_id", &values[0])?;
        let times = time_micros(NAME, "event_time", &values[1])?;
        for_each_row(times.len(), mask.as_ref(), |i| {
            let g = &mut self.groups[group_indices[i]];
            self.bytes += users.with_key(i, |k| g.add(k, day_of(times[i])));
            Ok(())
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let days = self.days;
        let groups = self.take(emit_to);
        Ok(Arc::new(
            groups
                .iter()
                .map(|g| g.value(days))
                .collect::<Float64Array>(),
        ))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let mut users = LargeListBuilder::new(LargeBinaryBuilder::new());
        let mut pairs = LargeListBuilder::new(Int64Builder::new());
        for g in &groups {
            for u in &g.order {
                users.values().append_value(u);
            }
            users.append(true);
            for (idx, day) in &g.pairs {
                pairs.values().append_value(encode(*idx, *day));
            }
            pairs.append(true);
        }
        Ok(vec![Arc::new(users.finish()), Arc::new(pairs.finish())])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let users = values[0].as_list::<i64>();
        let user_keys = users.values().as_binary::<i64>();
        let user_off = users.value_offsets();
        let pairs = values[1].as_list::<i64>();
        let pair_vals = pairs.values().as_primitive::<Int64Type>();
        let pair_off = pairs.value_offsets();
        for (row, gi) in group_indices.iter().enumerate() {
            let base = user_off[row] as usize;
            let g = &mut self.groups[*gi];
            for p in pair_off[row] as usize..pair_off[row + 1] as usize {
                let (idx, day) = decode(pair_vals.value(p));
                self.bytes += g.add(user_keys.value(base + idx as usize), day);
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
        let times = time_micros(NAME, "event_time", &values[1])?;
        let mut counted = vec![false; len];
        for_each_row(len, mask.as_ref(), |i| {
            counted[i] = true;
            Ok(())
        })?;
        let mut users = LargeListBuilder::new(LargeBinaryBuilder::new());
        let mut pairs = LargeListBuilder::new(Int64Builder::new());
        for (i, c) in counted.iter().enumerate() {
            if *c {
                ids.with_key(i, |k| users.values().append_value(k));
                pairs.values().append_value(encode(0, day_of(times[i])));
            }
            users.append(true);
            pairs.append(true);
        }
        Ok(vec![Arc::new(users.finish()), Arc::new(pairs.finish())])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Group>() + self.bytes
    }
}

/// The `stickiness` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(Stickiness::default())));
    Arc::clone(&UDAF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::{Int64Array, TimestampSecondArray};

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
}
