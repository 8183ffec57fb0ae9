//! What the `clv` functions share on the DataFusion side: the aggregate
//! scaffolding for struct results ([`StructAggregate`]), the scalar that
//! reads model structs by field name ([`ModelScalar`]), the time units, and
//! the wording of errors from [`super::model`].

use std::fmt::{self, Debug};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, Int64Array,
    LargeListBuilder, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_datafusion_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Documentation, EmitTo, GroupsAccumulator,
    ReturnFieldArgs, ReversedUDAF, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};
use hashbrown::HashMap;

use super::model::ClvError;
use crate::aggregate::{SingleGroup, row_mask};
use crate::args::{Kind, Param, Params};
use crate::util::literals::scalar_str;
use crate::util::rows::{combined_validity, finish_columnar, try_for_each_valid};

/// The fields of a BG/NBD model struct that the predictions read.
pub const BGNBD_FIELDS: &[&str] = &["r", "alpha", "a", "b"];
/// The fields of a Gamma-Gamma model struct that the predictions read.
pub const GAMMA_GAMMA_FIELDS: &[&str] = &["p", "q", "v"];

/// An error of the math module as an execution error naming the function.
pub fn clv_error(function: &str, e: ClvError) -> DataFusionError {
    exec_datafusion_err!("{function}: {e}")
}

/// A time unit of `rfm` and `predicted_clv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// One UTC day.
    Day,
    /// Seven days (the default, as in the BG/NBD literature).
    Week,
    /// A month.
    Month,
}

impl Unit {
    /// The units, as SQL spells them.
    pub const NAMES: &str = "'day', 'week' or 'month'";

    /// Parses `'day'`, `'week'` or `'month'`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "day" => Some(Unit::Day),
            "week" => Some(Unit::Week),
            "month" => Some(Unit::Month),
            _ => None,
        }
    }

    /// Days in one unit, as `rfm` measures recency and `t`: a month is the
    /// mean Gregorian month, 365.2425 / 12 = 30.436875 days.
    pub fn days(self) -> f64 {
        match self {
            Unit::Day => 1.0,
            Unit::Week => 7.0,
            Unit::Month => 365.2425 / 12.0,
        }
    }

    /// Units in one month, as `predicted_clv` steps through months (the
    /// `lifetimes` package's factors: 4.345 weeks, 30 days, 1 month).
    pub fn per_month(self) -> f64 {
        match self {
            Unit::Day => super::model::PERIODS_PER_MONTH_DAYS,
            Unit::Week => super::model::PERIODS_PER_MONTH_WEEKS,
            Unit::Month => super::model::PERIODS_PER_MONTH_MONTHS,
        }
    }

    /// The constant unit argument `value` of `function` (`None`: NULL).
    pub fn from_literal(function: &str, value: &ScalarValue) -> Result<Option<Self>> {
        let Some(text) = scalar_str(function, "unit", value)? else {
            return Ok(None);
        };
        match Self::parse(text) {
            Some(u) => Ok(Some(u)),
            None => plan_err!("{function}: unit '{text}' is not {}", Self::NAMES),
        }
    }
}

/// What one aggregate with a struct result is, besides the scaffolding.
pub trait StructKernel: Debug + PartialEq + Eq + Hash + Send + Sync + 'static {
    /// The accumulator of one call.
    type Groups: GroupsAccumulator + Debug + Sync + 'static;
    /// SQL name.
    fn name(&self) -> &'static str;
    /// Accepted arguments (and the signature built from them).
    fn params(&self) -> &Params;
    /// Generated documentation.
    fn documentation(&self) -> &'static Documentation;
    /// The fields of the result struct.
    fn fields(&self) -> Fields;
    /// The fields of the state that [`Self::Groups`] emits and merges.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>>;
    /// The accumulator of one call, with its constant parameters read.
    fn groups(&self, args: &AccumulatorArgs) -> Result<Self::Groups>;
}

/// A [`StructKernel`] as a DataFusion aggregate function; a plain
/// [`Accumulator`] runs the same accumulator over one group ([`SingleGroup`]).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StructAggregate<T>(pub T);

impl<T: StructKernel> AggregateUDFImpl for StructAggregate<T> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn signature(&self) -> &Signature {
        self.0.params().signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.0.params().coerce(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.0.params().check(arg_types)?;
        Ok(DataType::Struct(self.0.fields()))
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(self.0.groups(&args)?)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.0.state_fields(args)
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.0.groups(&args)?))
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(self.0.documentation())
    }
}

/// A numeric column as DOUBLE values (zero-copy when it already is DOUBLE).
pub fn doubles(arr: &ArrayRef) -> Result<Float64Array> {
    let arr = if arr.data_type() == &DataType::Float64 {
        Arc::clone(arr)
    } else {
        cast(arr, &DataType::Float64)?
    };
    Ok(arr.as_primitive::<Float64Type>().clone())
}

/// The row kernel of a [`ModelScalar`]: one row's numbers (each model struct
/// expanded to its fields, in the order the parameter lists them; a unit
/// argument as its units per month) → the result.
pub type ModelKernel = fn(&[f64]) -> Result<Option<f64>>;

/// A scalar function of model structs (read by field name), numbers and an
/// optional constant unit, returning DOUBLE. A NULL argument, model or model
/// field gives NULL.
pub struct ModelScalar {
    name: &'static str,
    doc: &'static Documentation,
    params: Params,
    kernel: ModelKernel,
}

impl ModelScalar {
    /// A function of `params`, taking the first `n` of them for each `n` in `counts`.
    pub fn new(
        name: &'static str,
        params: &'static [Param],
        counts: &'static [usize],
        doc: &'static Documentation,
        kernel: ModelKernel,
    ) -> Self {
        Self {
            name,
            doc,
            params: Params::new(name, params, counts),
            kernel,
        }
    }

    /// The DOUBLE columns of one call: model fields, numbers, units per month.
    fn columns(&self, args: &[ColumnarValue], rows: usize) -> Result<Vec<Float64Array>> {
        let mut out = vec![];
        for (value, param) in args.iter().zip(self.params.params()) {
            match param.kind {
                Kind::Struct(names) => {
                    let arr = value.to_array(rows)?;
                    if arr.data_type().is_null() {
                        out.extend(names.iter().map(|_| Float64Array::new_null(rows)));
                        continue;
                    }
                    let s = arr.as_struct();
                    for name in names {
                        let Some(field) = s.column_by_name(name) else {
                            return plan_err!(
                                "{}: argument {} has no field {name}",
                                self.name,
                                param.name
                            );
                        };
                        let v = doubles(field)?;
                        let nulls = NullBuffer::union(s.nulls(), v.nulls());
                        out.push(Float64Array::new(v.values().clone(), nulls));
                    }
                }
                Kind::Text => {
                    let ColumnarValue::Scalar(v) = value else {
                        return plan_err!("{}: unit must be a constant", self.name);
                    };
                    let per_month = Unit::from_literal(self.name, v)?.map(Unit::per_month);
                    out.push(Float64Array::from(vec![per_month; rows]));
                }
                _ => out.push(doubles(&value.to_array(rows)?)?),
            }
        }
        Ok(out)
    }
}

impl Debug for ModelScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelScalar")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for ModelScalar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for ModelScalar {}
impl Hash for ModelScalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for ModelScalar {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        self.params.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.params.coerce(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.params.check(arg_types)?;
        Ok(DataType::Float64)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.params.check_fields(args.arg_fields)?;
        // A unit argument is a constant: checked here, while SQL is planned.
        for (i, param) in self.params.params().iter().enumerate() {
            if param.kind == Kind::Text && i < args.arg_fields.len() {
                match args.scalar_arguments.get(i) {
                    Some(Some(v)) => {
                        Unit::from_literal(self.name, v)?;
                    }
                    Some(None) => {
                        return plan_err!("{}: unit must be a constant", self.name);
                    }
                    None => {}
                }
            }
        }
        Ok(Arc::new(Field::new(self.name, DataType::Float64, true)))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let n = if all_scalar { 1 } else { args.number_rows };
        let cols = self.columns(&args.args, n)?;
        let refs: Vec<&dyn Array> = cols.iter().map(|a| a as &dyn Array).collect();
        let validity = combined_validity(&refs);
        let values: Vec<&[f64]> = cols.iter().map(|a| a.values().as_ref()).collect();
        let mut out: Vec<Option<f64>> = vec![None; n];
        let mut row = vec![0.0; values.len()];
        try_for_each_valid(n, validity.as_ref(), |i| {
            for (slot, col) in row.iter_mut().zip(&values) {
                *slot = col[i];
            }
            out[i] = (self.kernel)(&row)?;
            Ok(())
        })?;
        finish_columnar(Arc::new(Float64Array::from(out)), all_scalar)
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(self.doc)
    }
}

/// One fitted model as an aggregate returns it: the estimates (NULL when the
/// data has no maximum), the customers used, and whether the optimiser
/// converged.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRow {
    /// The estimates, then the log-likelihood, in the order of the fields.
    pub values: Vec<Option<f64>>,
    /// Number of customers the fit used.
    pub customers: i64,
    /// Whether the optimiser met its convergence test.
    pub converged: bool,
}

/// The result fields of a fit: `names` (DOUBLE), `customers` (BIGINT) and
/// `converged` (BOOLEAN).
pub fn fit_fields(names: &[&str]) -> Fields {
    names
        .iter()
        .map(|n| Field::new(*n, DataType::Float64, true))
        .chain([
            Field::new("customers", DataType::Int64, true),
            Field::new("converged", DataType::Boolean, true),
        ])
        .collect()
}

/// The state fields of a [`PatternGroups`]: one DOUBLE list per value, and
/// the customers per pattern.
pub fn pattern_state_fields(args: &StateFieldsArgs, names: &[&str]) -> Vec<FieldRef> {
    let list = DataType::LargeList(Arc::new(Field::new_list_field(DataType::Float64, true)));
    names
        .iter()
        .copied()
        .chain(["customers"])
        .map(|n| {
            Arc::new(Field::new(
                datafusion::logical_expr::utils::format_state_name(args.name, n),
                list.clone(),
                true,
            ))
        })
        .collect()
}

/// One group's customers as distinct `K`-value patterns and their counts.
type Patterns<const K: usize> = HashMap<[u64; K], f64>;

/// Bytes per pattern, with the table's control byte and spare buckets.
const PATTERN_BYTES: usize = 16 * 8 / 7 + 8;

/// A fit over per-customer summaries: the customers are kept as distinct
/// patterns of `K` numbers with counts (a million customers of a weekly
/// summary are a few thousand patterns), and fitted when the group is
/// evaluated, in pattern order, so the result does not depend on how the
/// rows were split or merged.
#[derive(Debug)]
pub struct PatternGroups<const K: usize> {
    name: &'static str,
    /// Checks one row: `Ok(false)` leaves it out.
    keep: fn(&[f64; K]) -> std::result::Result<bool, ClvError>,
    /// Fits one group's patterns and counts.
    fit: FitFn<K>,
    fields: Fields,
    groups: Vec<Patterns<K>>,
    bytes: usize,
}

/// A fit of one group: its distinct patterns with their counts → the row.
pub type FitFn<const K: usize> = fn(&[([f64; K], f64)]) -> Result<FitRow>;

/// `v` with -0.0 as 0.0, as a key.
fn key(v: f64) -> u64 {
    (v + 0.0).to_bits()
}

impl<const K: usize> PatternGroups<K> {
    /// An accumulator of `name` with result `fields`.
    pub fn new(
        name: &'static str,
        fields: Fields,
        keep: fn(&[f64; K]) -> std::result::Result<bool, ClvError>,
        fit: FitFn<K>,
    ) -> Self {
        Self {
            name,
            keep,
            fit,
            fields,
            groups: vec![],
            bytes: 0,
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Patterns<K>> {
        let out = emit_to.take_needed(&mut self.groups);
        self.bytes -= out.iter().map(|g| g.len() * PATTERN_BYTES).sum::<usize>();
        out
    }

    /// The rows that count, as `K` DOUBLE columns; errors for bad rows.
    fn rows(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, [f64; K]),
    ) -> Result<()> {
        let cols: Vec<Float64Array> = values[..K].iter().map(doubles).collect::<Result<_>>()?;
        let required: Vec<usize> = (0..K).collect();
        let mask = row_mask(values, &required, opt_filter);
        try_for_each_valid(cols[0].len(), mask.as_ref(), |i| {
            let row: [f64; K] = std::array::from_fn(|k| cols[k].value(i));
            if (self.keep)(&row).map_err(|e| clv_error(self.name, e))? {
                f(i, row);
            }
            Ok(())
        })
    }

    fn add(&mut self, g: usize, row: [f64; K], count: f64) {
        let patterns = &mut self.groups[g];
        let before = patterns.len();
        *patterns.entry(row.map(key)).or_insert(0.0) += count;
        self.bytes += (patterns.len() - before) * PATTERN_BYTES;
    }
}

impl<const K: usize> GroupsAccumulator for PatternGroups<K> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, HashMap::new);
        let mut kept = vec![];
        self.rows(values, opt_filter, |i, row| {
            kept.push((group_indices[i], row))
        })?;
        for (g, row) in kept {
            self.add(g, row, 1.0);
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let doubles_n = self.fields.len() - 2;
        let mut values: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(groups.len()); doubles_n];
        let mut customers = Vec::with_capacity(groups.len());
        let mut converged = Vec::with_capacity(groups.len());
        let mut valid = Vec::with_capacity(groups.len());
        for patterns in &groups {
            let mut rows: Vec<([u64; K], f64)> = patterns.iter().map(|(k, c)| (*k, *c)).collect();
            rows.sort_unstable_by_key(|a| a.0);
            let rows: Vec<([f64; K], f64)> = rows
                .into_iter()
                .map(|(k, c)| (k.map(f64::from_bits), c))
                .collect();
            let fit = if rows.is_empty() {
                None
            } else {
                Some((self.fit)(&rows)?)
            };
            valid.push(fit.is_some());
            let fit = fit.unwrap_or(FitRow {
                values: vec![None; doubles_n],
                customers: 0,
                converged: false,
            });
            // An empty group is a NULL struct with NULL fields.
            let ok = valid[valid.len() - 1];
            for (col, v) in values.iter_mut().zip(&fit.values) {
                col.push(v.filter(|_| ok));
            }
            customers.push(ok.then_some(fit.customers));
            converged.push(ok.then_some(fit.converged));
        }
        let mut arrays: Vec<ArrayRef> = values
            .into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
            .collect();
        arrays.push(Arc::new(Int64Array::from(customers)));
        arrays.push(Arc::new(BooleanArray::from(converged)));
        let nulls = NullBuffer::from(valid);
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Ok(Arc::new(StructArray::try_new(
            self.fields.clone(),
            arrays,
            nulls,
        )?))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        let mut lists: Vec<LargeListBuilder<Float64Builder>> = (0..=K)
            .map(|_| LargeListBuilder::new(Float64Builder::new()))
            .collect();
        for patterns in &groups {
            for (k, c) in patterns {
                for (list, v) in lists.iter_mut().zip(k.iter().map(|b| f64::from_bits(*b))) {
                    list.values().append_value(v);
                }
                lists[K].values().append_value(*c);
            }
            for list in &mut lists {
                list.append(true);
            }
        }
        Ok(lists
            .iter_mut()
            .map(|l| Arc::new(l.finish()) as ArrayRef)
            .collect())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, HashMap::new);
        let offsets = values[0].as_list::<i64>().value_offsets().to_vec();
        let cols: Vec<&[f64]> = values
            .iter()
            .map(|v| {
                v.as_list::<i64>()
                    .values()
                    .as_primitive::<Float64Type>()
                    .values()
                    .as_ref()
            })
            .collect();
        for (row, g) in group_indices.iter().enumerate() {
            (offsets[row] as usize..offsets[row + 1] as usize).for_each(|p| {
                let pattern: [f64; K] = std::array::from_fn(|k| cols[k][p]);
                self.add(*g, pattern, cols[K][p]);
            });
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let len = values[0].len();
        let mut kept: Vec<Option<[f64; K]>> = vec![None; len];
        self.rows(values, opt_filter, |i, row| kept[i] = Some(row))?;
        let mut lists: Vec<LargeListBuilder<Float64Builder>> = (0..=K)
            .map(|_| LargeListBuilder::new(Float64Builder::new()))
            .collect();
        for row in kept {
            if let Some(row) = row {
                for (list, v) in lists.iter_mut().zip(row) {
                    list.values().append_value(v + 0.0);
                }
                lists[K].values().append_value(1.0);
            }
            for list in &mut lists {
                list.append(true);
            }
        }
        Ok(lists
            .iter_mut()
            .map(|l| Arc::new(l.finish()) as ArrayRef)
            .collect())
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Patterns<K>>() + self.bytes
    }
}
