//! `arpa(revenue, customer_id)`: average revenue per account.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, LargeBinaryBuilder, LargeListBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{AggregateUDF, Documentation, EmitTo, GroupsAccumulator};
use hashbrown::HashSet;

use crate::aggregate::{SUM_SCALE, SUM_UNSCALE, for_each_row, row_mask};
use crate::args::{Param, Params};
use crate::docs;
use crate::hooks::Function;
use crate::keyed::{IdNumbers, KeyedAggregate, KeyedKernel};
use crate::util::ids::KeyColumn;
use crate::util::numbers::{check_finite, finite_result};

const NAME: &str = "arpa";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    docs::builder(
        "Average revenue per account: Σ revenue / number of distinct customers, in the unit \
         of revenue. Rows with NULL revenue or NULL customer_id are skipped (a customer \
         whose rows are all NULL revenue is not counted); no rows gives NULL. Negative \
         revenue (refunds, credits) is allowed; NaN or infinite revenue is an error. Sums \
         of revenue near ±1.8e308 do not overflow; revenue per customer beyond the DOUBLE \
         range is an error. For monthly ARPA, feed one month of MRR or paid invoices per \
         group.",
        "arpa(revenue, customer_id)",
    )
    .with_argument("revenue", "Revenue of the row (any numeric type).")
    .with_argument("customer_id", "The account the revenue belongs to (integer or string).")
    .with_sql_example(
        "SELECT date_trunc('month', paid_at) AS month, arpa(amount, customer_id) AS arpa\nFROM invoices WHERE status = 'paid' GROUP BY 1 ORDER BY 1;",
    )
    .with_related_udf("ltv")
    .build()
});

/// The `arpa` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Arpa {
    params: Params,
}

impl Default for Arpa {
    fn default() -> Self {
        const PARAMS: [Param; 2] = [Param::number("revenue"), Param::id("customer_id")];
        Self {
            params: Params::new(NAME, &PARAMS, &[2]),
        }
    }
}

impl KeyedKernel for Arpa {
    type Groups = ArpaGroups;
    fn name(&self) -> &'static str {
        NAME
    }
    fn params(&self) -> &Params {
        &self.params
    }
    fn documentation(&self) -> &'static Documentation {
        &DOC
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "revenue"),
                DataType::Float64,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "customers"),
                DataType::LargeList(Arc::new(Field::new_list_field(DataType::LargeBinary, true))),
                true,
            )),
        ])
    }
    fn groups(&self, args: &AccumulatorArgs) -> Result<ArpaGroups> {
        Ok(ArpaGroups::new(args.expr_fields[1].data_type()))
    }
}

/// Per group: revenue sum (scaled by [`SUM_SCALE`], so that it cannot
/// overflow; the state holds it scaled too) and the set of customers seen, by
/// their [`IdNumbers`], so a group holds 8 bytes per customer.
#[derive(Debug, Default)]
pub struct ArpaGroups {
    /// Customer numbers. The state holds integer ids as their 8
    /// little-endian bytes, and string or binary ids as their bytes.
    numbers: IdNumbers,
    revenue: Vec<f64>,
    customers: Vec<HashSet<i64>>,
    /// Bytes held by each group's set, and their total (kept O(1) for `size`).
    group_bytes: Vec<usize>,
    key_bytes: usize,
}

/// Bytes per entry of a customer set: the id and its control byte, with the
/// table's 1/8 spare buckets.
const SLOT: usize = (size_of::<i64>() + 1) * 8 / 7;

impl ArpaGroups {
    fn new(id_type: &DataType) -> Self {
        Self {
            numbers: IdNumbers::new(id_type),
            ..Default::default()
        }
    }

    fn resize(&mut self, n: usize) {
        self.revenue.resize(n, 0.0);
        self.customers.resize_with(n, HashSet::default);
        self.group_bytes.resize(n, 0);
    }

    #[inline]
    fn insert(&mut self, g: usize, id: i64) {
        let set = &mut self.customers[g];
        if set.insert(id) {
            let now = set.capacity() * SLOT;
            let grew = now.saturating_sub(self.group_bytes[g]);
            self.group_bytes[g] = now;
            self.key_bytes += grew;
        }
    }

    /// Takes the emitted groups' revenue and customer sets.
    fn take(&mut self, emit_to: EmitTo) -> (Vec<f64>, Vec<HashSet<i64>>) {
        let revenue = emit_to.take_needed(&mut self.revenue);
        let customers = emit_to.take_needed(&mut self.customers);
        self.key_bytes -= emit_to
            .take_needed(&mut self.group_bytes)
            .iter()
            .sum::<usize>();
        (revenue, customers)
    }
}

impl GroupsAccumulator for ArpaGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let mask = row_mask(values, &[0, 1], opt_filter);
        let revenue = values[0].as_primitive::<Float64Type>().values();
        let ids = KeyColumn::new(NAME, "customer_id", &values[1])?;
        for_each_row(revenue.len(), mask.as_ref(), |i| {
            let g = group_indices[i];
            self.revenue[g] += check_finite(NAME, "revenue", revenue[i])? * SUM_SCALE;
            let id = self.numbers.number(NAME, &ids, i)?;
            self.insert(g, id);
            Ok(())
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (revenue, customers) = self.take(emit_to);
        self.numbers.release_if_no_groups(self.customers.len());
        // The mean of finite revenues is finite unless refunds and charges
        // leave a sum beyond ±1.8e308 per customer.
        let out = revenue
            .iter()
            .zip(&customers)
            .map(|(r, c)| {
                (!c.is_empty())
                    .then(|| {
                        let v = r / c.len() as f64 * SUM_UNSCALE;
                        finite_result(NAME, v, || "the revenue per customer".into())
                    })
                    .transpose()
            })
            .collect::<Result<Float64Array>>()?;
        Ok(Arc::new(out))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (revenue, customers) = self.take(emit_to);
        let mut list = LargeListBuilder::new(LargeBinaryBuilder::new());
        for set in &customers {
            for id in set {
                if self.numbers.is_int() {
                    list.values().append_value(id.to_le_bytes());
                } else {
                    list.values().append_value(self.numbers.bytes(*id));
                }
            }
            list.append(true);
        }
        self.numbers.release_if_no_groups(self.customers.len());
        Ok(vec![
            Arc::new(Float64Array::from(revenue)),
            Arc::new(list.finish()),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let revenue = values[0].as_primitive::<Float64Type>();
        let lists = values[1].as_list::<i64>();
        let keys = lists.values().as_binary::<i64>();
        let offsets = lists.value_offsets();
        for (row, g) in group_indices.iter().enumerate() {
            if revenue.is_valid(row) {
                self.revenue[*g] += revenue.value(row);
            }
            for k in offsets[row] as usize..offsets[row + 1] as usize {
                let key = keys.value(k);
                let id = if self.numbers.is_int() {
                    match <[u8; 8]>::try_from(key) {
                        Ok(b) => i64::from_le_bytes(b),
                        Err(_) => {
                            return internal_err!(
                                "{NAME}: integer customer id state of {} bytes",
                                key.len()
                            );
                        }
                    }
                } else {
                    self.numbers.intern(NAME, key)?
                };
                self.insert(*g, id);
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
        let revenue = values[0].as_primitive::<Float64Type>().values();
        let ids = KeyColumn::new(NAME, "customer_id", &values[1])?;
        let mut sums = vec![0.0; len];
        let mut counted = vec![false; len];
        for_each_row(len, mask.as_ref(), |i| {
            sums[i] = check_finite(NAME, "revenue", revenue[i])? * SUM_SCALE;
            counted[i] = true;
            Ok(())
        })?;
        let mut list = LargeListBuilder::new(LargeBinaryBuilder::new());
        for (i, c) in counted.iter().enumerate() {
            if *c {
                ids.with_key(i, |k| list.values().append_value(k));
            }
            list.append(true);
        }
        Ok(vec![
            Arc::new(Float64Array::from(sums)),
            Arc::new(list.finish()),
        ])
    }

    fn size(&self) -> usize {
        self.revenue.capacity() * 8
            + self.customers.capacity() * size_of::<HashSet<i64>>()
            + self.group_bytes.capacity() * size_of::<usize>()
            + self.key_bytes
            + self.numbers.size()
    }
}

/// The `arpa` aggregate function.
pub fn udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::from(KeyedAggregate(Arpa::default()))));
    Arc::clone(&UDAF)
}

/// The `arpa` entry of the function list.
pub fn function() -> Function {
    Function::aggregate(udaf())
}

crate::define_expr_fn!(arpa(revenue, customer_id));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::testing::{check_agree, check_sizes};
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::common::ScalarValue;

    #[test]
    fn revenue_over_distinct_customers() {
        // customer 1: 100 + 50, customer 2: 30, customer 3: NULL revenue (not counted)
        let rev: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(100.0),
            Some(50.0),
            Some(30.0),
            None,
        ]));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2, 3]));
        // 180 / 2 = 90
        assert_eq!(
            check_agree(&udaf(), &[Arc::clone(&rev), ids], &[], 1),
            vec![ScalarValue::Float64(Some(90.0))]
        );
        let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "a", "b", "c"]));
        assert_eq!(
            check_agree(&udaf(), &[rev, ids], &[], 1),
            vec![ScalarValue::Float64(Some(90.0))]
        );
    }

    #[test]
    fn revenue_near_the_double_limit_does_not_overflow() {
        // (1e308 + 1e308) / 2 customers
        let rev: ArrayRef = Arc::new(Float64Array::from(vec![1e308, 1e308]));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        assert_eq!(
            check_agree(&udaf(), &[rev, ids], &[], 1),
            vec![ScalarValue::Float64(Some(1e308))]
        );
        // a refund brings the one customer's running sum back into range
        let rev: ArrayRef = Arc::new(Float64Array::from(vec![1.5e308, 1.5e308, -1.5e308]));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1]));
        assert_eq!(
            check_agree(&udaf(), &[rev, ids], &[], 1),
            vec![ScalarValue::Float64(Some(1.5e308))]
        );
    }

    #[test]
    fn revenue_per_customer_beyond_double_range_is_an_error() {
        let rev: ArrayRef = Arc::new(Float64Array::from(vec![1e308, 1e308]));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![7, 7]));
        let data = [rev, ids];
        let err = crate::aggregate::testing::with_args(&data, &[], DataType::Float64, |args| {
            let mut acc = udaf().accumulator(args).unwrap();
            acc.update_batch(&data).unwrap();
            acc.evaluate().unwrap_err()
        });
        assert_eq!(
            err.strip_backtrace(),
            "Execution error: arpa: the revenue per customer is beyond the DOUBLE range (±1.8e308)"
        );
    }

    #[test]
    fn accumulators_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let rev: Float64Array = (0..n).map(|i| (i % 8 != 0).then_some(i as f64)).collect();
            let ids: Int64Array = (0..n).map(|i| Some((i % 37) as i64)).collect();
            vec![Arc::new(rev) as ArrayRef, Arc::new(ids) as ArrayRef]
        });
    }

    #[test]
    fn string_ids_agree_on_all_sizes() {
        check_sizes(&udaf(), &[], |n| {
            let rev: Float64Array = (0..n).map(|i| (i % 9 != 0).then_some(i as f64)).collect();
            let ids: StringArray = (0..n)
                .map(|i| (i % 11 != 0).then(|| format!("customer-{}", i % 53)))
                .collect();
            vec![Arc::new(rev) as ArrayRef, Arc::new(ids) as ArrayRef]
        });
    }
}
