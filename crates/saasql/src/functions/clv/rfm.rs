//! `rfm(order_time, amount, observation_end [, unit])`: a customer's
//! frequency, recency, age and average repeat spend, as BG/NBD and
//! Gamma-Gamma take them.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Builder, Int64Array, Int64Builder,
    LargeListBuilder, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{AggregateUDF, Documentation, EmitTo, GroupsAccumulator};

use super::model::{Rfm, RfmAccumulator, RfmSpec};
use super::support::{StructAggregate, StructKernel, Unit, clv_error};
use crate::aggregate::{for_each_row, row_mask};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::{Function, Hooks};
use crate::util::literals::{constant_arg, physical_literals};
use crate::util::numbers::{check_finite, fmt_num};
use crate::util::time::{fmt_time, time_micros, utc_day};

const NAME: &str = "rfm";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "A customer's purchase summary in the definitions of Fader, Hardie & Lee (2005), \
         as the `lifetimes` package's summary_data_from_transaction_data computes it with \
         daily periods: a struct {frequency, recency, t, monetary} of DOUBLEs. Orders are \
         grouped by UTC day (orders on one day are one purchase, their amounts summed); \
         with d₀ the first purchase day, d₁ … d_x the later ones and E the day of \
         observation_end: frequency = x, the number of repeat purchase days; recency = \
         (d_x − d₀) ÷ u; t = (E − d₀) ÷ u; monetary = (Σ amounts of days d₁ … d_x) ÷ x, the \
         mean value of the repeat purchases (0 when x = 0). u is the unit: 'week' (7 days, \
         the default), 'day', or 'month' (the mean Gregorian month, 30.436875 days). Orders \
         on days after observation_end are ignored. observation_end must be the same in \
         every row of a group (a constant, or constant per customer). Rows with a NULL \
         argument are skipped; a customer with no order up to observation_end gives NULL. \
         A NaN or infinite amount, or observation_end varying within a group, is an error. \
         Use it per customer (GROUP BY customer) and pass its fields to bgnbd_fit and \
         gamma_gamma_fit.",
        "rfm(order_time, amount, observation_end [, unit])",
    )
    .with_argument("order_time", "When the order was placed (DATE or TIMESTAMP; days are UTC).")
    .with_argument("amount", "The order's value (any finite number; refunds may be negative).")
    .with_argument(
        "observation_end",
        "End of the observation (calibration) period, the same for every row of a group; its UTC day counts as observed.",
    )
    .with_argument(
        "unit",
        "Optional constant unit of recency and t: 'week' (default), 'day' or 'month'.",
    )
    .with_sql_example(
        "SELECT customer_id, rfm(paid_at, amount, TIMESTAMP '2025-06-30 00:00:00') AS s\nFROM invoices WHERE status = 'paid' GROUP BY customer_id;",
    )
    .with_related_udf("bgnbd_fit")
    .with_related_udf("gamma_gamma_fit")
    .build()
});

/// The result fields.
fn fields() -> Fields {
    Fields::from(vec![
        Field::new("frequency", DataType::Float64, true),
        Field::new("recency", DataType::Float64, true),
        Field::new("t", DataType::Float64, true),
        Field::new("monetary", DataType::Float64, true),
    ])
}

/// The `rfm` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmFunction {
    params: Params,
}

impl Default for RfmFunction {
    fn default() -> Self {
        const PARAMS: [Param; 4] = [
            Param::time("order_time"),
            Param::number("amount"),
            Param::time("observation_end"),
            Param::dict_text("unit"),
        ];
        Self {
            params: Params::new(NAME, &PARAMS, &[3, 4]),
        }
    }
}

/// `rfm` checks its constant unit while SQL is planned and gets it as a
/// one-value dictionary.
const HOOKS: Hooks = Hooks {
    check_constants: Some(check_unit),
    string_constants: &[3],
    ..Hooks::NONE
};

fn check_unit(_name: &str, literals: &[Option<ScalarValue>]) -> Result<()> {
    unit_param(literals).map(|_| ())
}

/// The optional constant unit (default week).
fn unit_param(literals: &[Option<ScalarValue>]) -> Result<Unit> {
    let Some(v) = constant_arg(NAME, "unit", literals, 3)? else {
        return Ok(Unit::Week);
    };
    let v = match v {
        ScalarValue::Dictionary(_, inner) => inner.as_ref(),
        v => v,
    };
    match Unit::from_literal(NAME, v)? {
        Some(u) => Ok(u),
        None => plan_err!("{NAME}: unit must not be NULL"),
    }
}

impl StructKernel for RfmFunction {
    type Groups = RfmGroups;
    fn name(&self) -> &'static str {
        NAME
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        &DOC
    }
    fn fields(&self) -> Fields {
        fields()
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::LargeList(Arc::new(Field::new_list_field(t, true)));
        let field = |name: &str, t: DataType| {
            Arc::new(Field::new(format_state_name(args.name, name), t, true))
        };
        Ok(vec![
            field("days", list(DataType::Int64)),
            field("amounts", list(DataType::Float64)),
            field("observation_end", DataType::Int64),
        ])
    }
    fn groups(&self, args: &AccumulatorArgs) -> Result<RfmGroups> {
        let unit = unit_param(&physical_literals(args.exprs))?;
        Ok(RfmGroups {
            spec: RfmSpec::new(1, 0, unit.days()).map_err(|e| clv_error(NAME, e))?,
            groups: vec![],
            bytes: 0,
        })
    }
}

/// One customer: the observation end (UTC microseconds) and the amounts
/// summed per UTC day up to it.
#[derive(Debug, Default)]
struct Group {
    end: Option<i64>,
    days: Option<RfmAccumulator>,
}

/// Bytes per stored day, with the B-tree's spare room.
const DAY_BYTES: usize = 32;

impl Group {
    /// Sets the group's observation end, or checks it is the one already set.
    fn set_end(&mut self, spec: RfmSpec, end: i64) -> Result<&mut RfmAccumulator> {
        match self.end {
            Some(e) if e != end => {
                return exec_err!(
                    "{NAME}: observation_end must be the same in every row of a group, got {} and {}",
                    fmt_time(e),
                    fmt_time(end)
                );
            }
            Some(_) => {}
            None => {
                self.end = Some(end);
                self.days = Some(RfmAccumulator::new(spec, utc_day(end)));
            }
        }
        match self.days.as_mut() {
            Some(d) => Ok(d),
            None => datafusion::common::internal_err!("{NAME}: group without days"),
        }
    }

    fn len(&self) -> usize {
        self.days.as_ref().map_or(0, RfmAccumulator::len)
    }

    fn value(&self) -> Result<Option<Rfm>> {
        let Some(r) = self.days.as_ref().and_then(RfmAccumulator::finish) else {
            return Ok(None);
        };
        if !r.monetary.is_finite() {
            return exec_err!(
                "{NAME}: the mean of {} repeat purchases is beyond the DOUBLE range (±1.8e308)",
                fmt_num(r.frequency)
            );
        }
        Ok(Some(r))
    }
}

/// Vectorised accumulator: one [`Group`] per group.
#[derive(Debug)]
pub struct RfmGroups {
    spec: RfmSpec,
    groups: Vec<Group>,
    bytes: usize,
}

/// State lists: days, amounts, and the observation end.
#[derive(Debug)]
struct StateBuilder {
    days: LargeListBuilder<Int64Builder>,
    amounts: LargeListBuilder<Float64Builder>,
    ends: Int64Builder,
}

impl StateBuilder {
    fn new() -> Self {
        Self {
            days: LargeListBuilder::new(Int64Builder::new()),
            amounts: LargeListBuilder::new(Float64Builder::new()),
            ends: Int64Builder::new(),
        }
    }
    fn push(&mut self, day: i64, amount: f64) {
        self.days.values().append_value(day);
        self.amounts.values().append_value(amount);
    }
    fn end_group(&mut self, end: Option<i64>) {
        self.days.append(true);
        self.amounts.append(true);
        self.ends.append_option(end);
    }
    fn finish(mut self) -> Vec<ArrayRef> {
        vec![
            Arc::new(self.days.finish()),
            Arc::new(self.amounts.finish()),
            Arc::new(self.ends.finish()),
        ]
    }
}

impl RfmGroups {
    fn take(&mut self, emit_to: EmitTo) -> Vec<Group> {
        let out = emit_to.take_needed(&mut self.groups);
        self.bytes -= out.iter().map(|g| g.len() * DAY_BYTES).sum::<usize>();
        out
    }
}

impl GroupsAccumulator for RfmGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let mask = row_mask(values, &[0, 1, 2], opt_filter);
        let times = time_micros(NAME, "order_time", &values[0])?;
        let amounts = values[1].as_primitive::<Float64Type>().values();
        let ends = time_micros(NAME, "observation_end", &values[2])?;
        let spec = self.spec;
        for_each_row(times.len(), mask.as_ref(), |i| {
            let amount = check_finite(NAME, "amount", amounts[i])?;
            let group = &mut self.groups[group_indices[i]];
            let before = group.len();
            group
                .set_end(spec, ends[i])?
                .update(utc_day(times[i]), amount)
                .map_err(|e| clv_error(NAME, e))?;
            self.bytes += (group.len() - before) * DAY_BYTES;
            Ok(())
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        // A customer without orders is a NULL struct with NULL fields, so
        // `rfm(…)['t']` is NULL too.
        let mut cols: [Vec<Option<f64>>; 4] = Default::default();
        let mut valid = Vec::with_capacity(groups.len());
        for g in &groups {
            let r = g.value()?;
            valid.push(r.is_some());
            let values = r.map(|r: Rfm| [r.frequency, r.recency, r.t, r.monetary]);
            for (k, c) in cols.iter_mut().enumerate() {
                c.push(values.map(|v| v[k]));
            }
        }
        let arrays: Vec<ArrayRef> = cols
            .into_iter()
            .map(|c| Arc::new(datafusion::arrow::array::Float64Array::from(c)) as ArrayRef)
            .collect();
        let nulls = NullBuffer::from(valid);
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Ok(Arc::new(StructArray::try_new(fields(), arrays, nulls)?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let mut out = StateBuilder::new();
        for g in &groups {
            if let Some(d) = &g.days {
                for (day, amount) in d.state() {
                    out.push(day, amount);
                }
            }
            out.end_group(g.end);
        }
        Ok(out.finish())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Group::default);
        let days = values[0].as_list::<i64>();
        let offsets = days.value_offsets();
        let day_values = days.values().as_primitive::<Int64Type>().values();
        let amounts = values[1].as_list::<i64>();
        let amounts = amounts.values().as_primitive::<Float64Type>().values();
        let ends: &Int64Array = values[2].as_primitive::<Int64Type>();
        let spec = self.spec;
        for (row, g) in group_indices.iter().enumerate() {
            if ends.is_null(row) {
                continue;
            }
            let group = &mut self.groups[*g];
            let before = group.len();
            let (from, to) = (offsets[row] as usize, offsets[row + 1] as usize);
            group
                .set_end(spec, ends.value(row))?
                .merge_state((from..to).map(|p| (day_values[p], amounts[p])))
                .map_err(|e| clv_error(NAME, e))?;
            self.bytes += (group.len() - before) * DAY_BYTES;
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let len = values[0].len();
        let mask = row_mask(values, &[0, 1, 2], opt_filter);
        let times = time_micros(NAME, "order_time", &values[0])?;
        let amounts = values[1].as_primitive::<Float64Type>().values();
        let ends = time_micros(NAME, "observation_end", &values[2])?;
        let mut counted = vec![false; len];
        for_each_row(len, mask.as_ref(), |i| {
            check_finite(NAME, "amount", amounts[i])?;
            counted[i] = true;
            Ok(())
        })?;
        let mut out = StateBuilder::new();
        for (i, c) in counted.iter().enumerate() {
            if !*c {
                out.end_group(None);
                continue;
            }
            let day = utc_day(times[i]);
            if day <= utc_day(ends[i]) {
                out.push(day, amounts[i]);
            }
            out.end_group(Some(ends[i]));
        }
        Ok(out.finish())
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Group>() + self.bytes
    }
}

/// The `rfm` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(StructAggregate(RfmFunction::default()))));
    Arc::clone(&UDAF)
}

/// The `rfm` entry of the function list, with its hooks.
pub fn function() -> Function {
    Function::aggregate(udaf()).with_hooks(HOOKS)
}

crate::define_expr_fn!(rfm(order_time, amount, observation_end); optional);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes, with_args};
    use datafusion::arrow::array::{Float64Array, TimestampSecondArray};

    const DAY: i64 = 86_400;

    fn fields_of(v: &ScalarValue) -> Option<[f64; 4]> {
        let ScalarValue::Struct(s) = v else {
            panic!("not a struct: {v:?}")
        };
        if s.is_null(0) {
            return None;
        }
        Some(std::array::from_fn(|i| {
            s.column(i).as_primitive::<Float64Type>().value(0)
        }))
    }

    #[test]
    fn hand_computed_summary() {
        // Day 0: 5 + 7 (one purchase), day 14: 10 + 2, day 70: 30, day 101:
        // after the end (day 100), ignored. x = 2, recency 70 days = 10
        // weeks, t = 100/7 weeks, monetary = (12 + 30) / 2 = 21.
        let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            0,
            3600,
            14 * DAY,
            14 * DAY + 60,
            70 * DAY + 5,
            101 * DAY,
        ]));
        let a: ArrayRef = Arc::new(Float64Array::from(vec![5.0, 7.0, 10.0, 2.0, 30.0, 99.0]));
        let end: ArrayRef = Arc::new(TimestampSecondArray::from(vec![100 * DAY; 6]));
        let out = check_agree(
            &udaf(),
            &[Arc::clone(&t), Arc::clone(&a), Arc::clone(&end)],
            &[],
            1,
        );
        assert_eq!(fields_of(&out[0]), Some([2.0, 10.0, 100.0 / 7.0, 21.0]));
        let out = check_agree(&udaf(), &[t, a, end], &[ScalarValue::from("day")], 1);
        assert_eq!(fields_of(&out[0]), Some([2.0, 70.0, 100.0, 21.0]));
    }

    #[test]
    fn only_orders_after_the_end_give_null() {
        let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![200 * DAY]));
        let a: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        let end: ArrayRef = Arc::new(TimestampSecondArray::from(vec![100 * DAY]));
        assert_eq!(
            fields_of(&check_agree(&udaf(), &[t, a, end], &[], 1)[0]),
            None
        );
    }

    #[test]
    fn end_varying_within_a_group_is_an_error() {
        let t: ArrayRef = Arc::new(TimestampSecondArray::from(vec![0, DAY]));
        let a: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        let end: ArrayRef = Arc::new(TimestampSecondArray::from(vec![100 * DAY, 101 * DAY]));
        let data = [t, a, end];
        let rt = DataType::Struct(fields());
        let err = with_args(&data, &[], rt, |args| {
            let mut g = udaf().create_groups_accumulator(args).unwrap();
            g.update_batch(&data, &[0, 0], None, 1).unwrap_err()
        });
        assert_eq!(
            err.strip_backtrace(),
            "Execution error: rfm: observation_end must be the same in every row of a group, got 1970-04-11T00:00:00 and 1970-04-12T00:00:00"
        );
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let t: TimestampSecondArray = (0..n)
                .map(|i| (i % 11 != 0).then_some((i as i64 * 7919 % 400 - 50) * DAY + i as i64))
                .collect();
            let a: Float64Array = (0..n).map(|i| Some((i % 13) as f64 + 0.25)).collect();
            let end: TimestampSecondArray = (0..n).map(|_| Some(300 * DAY)).collect();
            vec![
                Arc::new(t) as ArrayRef,
                Arc::new(a) as ArrayRef,
                Arc::new(end) as ArrayRef,
            ]
        });
    }
}
