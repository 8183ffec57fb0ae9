//! The machinery shared by the "sum of contributions" aggregates.
//!
//! Most saasql aggregates keep `K` running sums per group (counts are sums of
//! ones): `nps` keeps responses, promoters and detractors; `churn_rate` keeps
//! customers at start and churned customers, and so on. A function describes
//! itself with a [`SumsKernel`]: which rows count, what each row adds, and how
//! the sums become the result. [`SumsAggregate`] turns a kernel into a
//! DataFusion aggregate with both an [`Accumulator`] and a vectorised
//! [`GroupsAccumulator`] (one `Vec<[f64; K]>` per accumulator, arrays
//! downcast once per batch, no per-row `ScalarValue`).
//!
//! A group with no counted rows has all-zero sums, and every kernel maps that
//! to NULL, so no separate null tracking is needed.
//!
//! Sums are kept scaled by [`SUM_SCALE`] (2⁻⁶⁴): a power of two, so scaling
//! is exact and rounds every addition exactly as the unscaled sum would, but
//! no sum of fewer than 2⁶⁴ finite contributions can overflow. Without it two
//! rows of 1e308 MRR made `net_revenue_retention` ∞/∞ = NULL instead of 100.
//! Ratios of sums need no unscaling; a kernel that returns a sum itself
//! multiplies by [`SUM_UNSCALE`], and a result beyond the DOUBLE range is an
//! execution error (never ±∞, NaN or NULL). The state columns hold the
//! scaled sums, in the `Accumulator` and the `GroupsAccumulator` alike.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature,
};

use crate::args::Params;
use crate::util::literals::physical_literals;
use crate::util::numbers::finite_result;
use crate::util::rows::combined_validity;

/// The scale of every running sum: 2⁻⁶⁴ (see the module documentation).
pub const SUM_SCALE: f64 = 1.0 / 18_446_744_073_709_551_616.0;
/// The inverse of [`SUM_SCALE`]: 2⁶⁴.
pub const SUM_UNSCALE: f64 = 18_446_744_073_709_551_616.0;
/// The smallest positive amount that functions whose amounts are sums
/// accept: 1e-288, just above 2⁻⁹⁵⁸ (4.1e-289), whose scaled value is the
/// smallest normal DOUBLE, so every accepted amount is summed at full
/// precision. Smaller non-zero amounts are an error, instead of a number
/// that lost precision (or a NULL from a sum that became 0).
pub const MIN_SUMMABLE: f64 = 1e-288;

/// What one "sum of contributions" aggregate computes.
pub trait SumsKernel<const K: usize>:
    Debug + Clone + PartialEq + Eq + Hash + Send + Sync + 'static
{
    /// SQL name.
    fn name(&self) -> &'static str;
    /// Accepted arguments (and the signature built from them).
    fn params(&self) -> &Params;
    /// Generated documentation.
    fn documentation(&self) -> &'static Documentation;
    /// Names of the `K` sums, used for the state fields.
    fn state_names(&self) -> [&'static str; K];
    /// Result type (DOUBLE unless overridden).
    fn return_type(&self) -> DataType {
        DataType::Float64
    }
    /// Indices of the arguments whose NULL makes a row not count.
    fn required_args(&self) -> &'static [usize];
    /// The kernel for one call, with its constant parameters read and
    /// checked (planning errors for bad constants). `literals[i]` is the
    /// value of argument `i` when it is a constant. Called while the query is
    /// analysed (to reject bad constants before any data is read) and again
    /// when the accumulators are created.
    fn configure(&self, literals: &[Option<ScalarValue>]) -> Result<Self>;
    /// Calls `emit(row, contribution)` for each counted row of the batch.
    /// `mask` marks the rows whose required arguments are non-NULL and that
    /// pass the aggregate's FILTER (`None`: every row). Out-of-range data is
    /// an execution error.
    fn contributions<F: FnMut(usize, [f64; K])>(
        &self,
        args: &[ArrayRef],
        mask: Option<&BooleanBuffer>,
        emit: F,
    ) -> Result<()>;
    /// GROUP BY fast path: adds each counted row's contribution, times
    /// [`SUM_SCALE`], to `sums[group_indices[row]]`, as [`Self::contributions`] would (equal up
    /// to the rounding of fractional sums, which may be added in another
    /// order), and returns `Ok(true)`; `Ok(false)` (the default) means "use
    /// `contributions`".
    fn add_grouped(
        &self,
        _args: &[ArrayRef],
        _mask: Option<&BooleanBuffer>,
        _group_indices: &[usize],
        _sums: &mut [[f64; K]],
    ) -> Result<bool> {
        Ok(false)
    }
    /// The result for one group's sums, which are scaled by [`SUM_SCALE`]
    /// (NULL when undefined). A non-finite result is an execution error.
    fn finish(&self, sums: &[f64; K]) -> Option<f64>;
    /// The results for many groups; override for non-DOUBLE results.
    fn evaluate(&self, sums: &[[f64; K]]) -> Result<ArrayRef> {
        let out = sums
            .iter()
            .map(|s| {
                self.finish(s)
                    .map(|v| finite_result(self.name(), v, || "the result".into()))
                    .transpose()
            })
            .collect::<Result<Float64Array>>()?;
        Ok(Arc::new(out))
    }
}

/// The rows that count: required arguments non-NULL and FILTER true.
pub fn row_mask(
    args: &[ArrayRef],
    required: &[usize],
    filter: Option<&BooleanArray>,
) -> Option<BooleanBuffer> {
    let mut arrays: Vec<&dyn Array> = required
        .iter()
        .filter_map(|i| args.get(*i).map(|a| a.as_ref()))
        .collect();
    if let Some(f) = filter {
        arrays.push(f);
    }
    let validity = combined_validity(&arrays);
    match filter {
        None => validity,
        Some(f) => {
            let values = f.values().clone();
            Some(match validity {
                None => values,
                Some(v) => &v & &values,
            })
        }
    }
}

/// A [`SumsKernel`] as a DataFusion aggregate function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SumsAggregate<T, const K: usize>(pub T);

impl<T: SumsKernel<K>, const K: usize> AggregateUDFImpl for SumsAggregate<T, K> {
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
        Ok(self.0.return_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SumsAccumulator {
            kernel: self.0.configure(&physical_literals(args.exprs))?,
            sums: [0.0; K],
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(self
            .0
            .state_names()
            .iter()
            .map(|n| {
                Arc::new(Field::new(
                    format_state_name(args.name, n),
                    DataType::Float64,
                    true,
                ))
            })
            .collect())
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SumsGroupsAccumulator {
            kernel: self.0.configure(&physical_literals(args.exprs))?,
            sums: Vec::new(),
        }))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.accumulator(args)
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

fn float_state<const K: usize>(values: &[ArrayRef]) -> Result<[&[f64]; K]> {
    if values.len() != K {
        return internal_err!("expected {K} state columns, got {}", values.len());
    }
    Ok(std::array::from_fn(|k| {
        values[k].as_primitive::<Float64Type>().values().as_ref()
    }))
}

/// Single-group accumulator (no GROUP BY, window frames).
#[derive(Debug)]
pub struct SumsAccumulator<T, const K: usize> {
    kernel: T,
    sums: [f64; K],
}

impl<T: SumsKernel<K>, const K: usize> Accumulator for SumsAccumulator<T, K> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let mask = row_mask(values, self.kernel.required_args(), None);
        let sums = &mut self.sums;
        self.kernel.contributions(values, mask.as_ref(), |_, c| {
            for k in 0..K {
                sums[k] += c[k] * SUM_SCALE;
            }
        })
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let mask = row_mask(values, self.kernel.required_args(), None);
        let sums = &mut self.sums;
        self.kernel.contributions(values, mask.as_ref(), |_, c| {
            for k in 0..K {
                sums[k] -= c[k] * SUM_SCALE;
            }
        })
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let arr = self.kernel.evaluate(&[self.sums])?;
        ScalarValue::try_from_array(&arr, 0)
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self
            .sums
            .iter()
            .map(|s| ScalarValue::Float64(Some(*s)))
            .collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let cols = float_state::<K>(states)?;
        for (sum, col) in self.sums.iter_mut().zip(cols) {
            *sum += col.iter().sum::<f64>();
        }
        Ok(())
    }
}

/// Vectorised accumulator for GROUP BY: one `[f64; K]` per group.
#[derive(Debug)]
pub struct SumsGroupsAccumulator<T, const K: usize> {
    kernel: T,
    sums: Vec<[f64; K]>,
}

impl<T: SumsKernel<K>, const K: usize> GroupsAccumulator for SumsGroupsAccumulator<T, K> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.sums.resize(total_num_groups, [0.0; K]);
        let mask = row_mask(values, self.kernel.required_args(), opt_filter);
        if self
            .kernel
            .add_grouped(values, mask.as_ref(), group_indices, &mut self.sums)?
        {
            return Ok(());
        }
        // Rows of one group often come in runs (exports sorted or clustered
        // by customer): sum a run in registers and store it once, instead of
        // a load-add-store chain through memory for every row. Fractional
        // sums may round differently in the last bit from row-by-row adding.
        let sums = &mut self.sums;
        let mut run_group = usize::MAX;
        let mut run = [0.0; K];
        self.kernel.contributions(values, mask.as_ref(), |row, c| {
            let g = group_indices[row];
            if g != run_group {
                if let Some(s) = sums.get_mut(run_group) {
                    for k in 0..K {
                        s[k] += run[k];
                    }
                }
                run_group = g;
                run = [0.0; K];
            }
            for k in 0..K {
                run[k] += c[k] * SUM_SCALE;
            }
        })?;
        if let Some(s) = sums.get_mut(run_group) {
            for k in 0..K {
                s[k] += run[k];
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sums = emit_to.take_needed(&mut self.sums);
        self.kernel.evaluate(&sums)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let sums = emit_to.take_needed(&mut self.sums);
        Ok((0..K)
            .map(|k| {
                let col: Float64Array = sums.iter().map(|s| s[k]).collect::<Vec<f64>>().into();
                Arc::new(col) as ArrayRef
            })
            .collect())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.sums.resize(total_num_groups, [0.0; K]);
        let cols = float_state::<K>(values)?;
        for (row, g) in group_indices.iter().enumerate() {
            let s = &mut self.sums[*g];
            for k in 0..K {
                s[k] += cols[k][row];
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let len = values.first().map_or(0, |a| a.len());
        let mut cols = vec![vec![0.0f64; len]; K];
        let mask = row_mask(values, self.kernel.required_args(), opt_filter);
        self.kernel.contributions(values, mask.as_ref(), |row, c| {
            for k in 0..K {
                cols[k][row] = c[k] * SUM_SCALE;
            }
        })?;
        Ok(cols
            .into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
            .collect())
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<[f64; K]>() + size_of_val(self)
    }
}

/// Runs a [`GroupsAccumulator`] as a plain [`Accumulator`] over one group,
/// for aggregates whose per-group state is not a fixed set of sums (the
/// keyed aggregates, [`crate::keyed`]). `state` and `evaluate` leave the state in place.
#[derive(Debug)]
pub struct SingleGroup<G>(pub G);

impl<G: GroupsAccumulator> SingleGroup<G> {
    /// The state of the one group (created empty if no row was seen), left
    /// in place.
    fn snapshot(&mut self) -> Result<Vec<ArrayRef>> {
        loop {
            let state = self.0.state(EmitTo::All)?;
            let len = state.first().map_or(0, |a| a.len());
            self.0.merge_batch(&state, &vec![0; len], 1)?;
            match len {
                0 => continue,
                1 => return Ok(state),
                n => return internal_err!("single-group accumulator has {n} groups"),
            }
        }
    }
}

impl<G: GroupsAccumulator + Debug + Sync> Accumulator for SingleGroup<G> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let len = values.first().map_or(0, |a| a.len());
        self.0.update_batch(values, &vec![0; len], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let state = self.snapshot()?;
        let out = self.0.evaluate(EmitTo::All)?;
        self.0.merge_batch(&state, &[0], 1)?;
        ScalarValue::try_from_array(&out, 0)
    }

    fn size(&self) -> usize {
        self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.snapshot()?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let len = states.first().map_or(0, |a| a.len());
        self.0.merge_batch(states, &vec![0; len], 1)
    }
}

/// Helper for kernels: calls `f(row)` for every counted row.
pub use crate::util::rows::try_for_each_valid as for_each_row;

#[cfg(test)]
pub mod testing {
    //! Checks every sums aggregate must pass: the `Accumulator` and the
    //! `GroupsAccumulator` agree, and state survives `state` → `merge_batch`.
    use super::*;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::physical_expr::PhysicalExpr;
    use datafusion::physical_expr::expressions::{Literal, col};

    /// Builds accumulator arguments with `data` as columns and `literals`
    /// appended as constant arguments.
    pub fn with_args<R>(
        data: &[ArrayRef],
        literals: &[ScalarValue],
        return_type: DataType,
        f: impl FnOnce(AccumulatorArgs) -> R,
    ) -> R {
        let fields: Vec<Field> = data
            .iter()
            .enumerate()
            .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
            .collect();
        let schema = Schema::new(fields);
        let mut exprs: Vec<Arc<dyn PhysicalExpr>> = (0..data.len())
            .map(|i| col(&format!("c{i}"), &schema).unwrap())
            .collect();
        for l in literals {
            exprs.push(Arc::new(Literal::new(l.clone())));
        }
        let expr_fields: Vec<FieldRef> = exprs
            .iter()
            .map(|e| e.return_field(&schema).unwrap())
            .collect();
        let return_field = Arc::new(Field::new("r", return_type, true));
        f(AccumulatorArgs {
            return_field,
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: "f",
            is_distinct: false,
            exprs: &exprs,
            expr_fields: &expr_fields,
        })
    }

    /// Runs `udaf` over `data` split into `groups` groups (row i goes to
    /// group i % groups) three ways: the plain accumulator per group, the
    /// groups accumulator, and groups accumulators merged from state (two
    /// halves plus `convert_to_state`). Asserts they agree and returns the
    /// per-group results.
    pub fn check_agree(
        udaf: &AggregateUDF,
        data: &[ArrayRef],
        literals: &[ScalarValue],
        groups: usize,
    ) -> Vec<ScalarValue> {
        let len = data[0].len();
        let rt = udaf
            .return_type(
                &data
                    .iter()
                    .map(|a| a.data_type().clone())
                    .chain(literals.iter().map(ScalarValue::data_type))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let idx: Vec<usize> = (0..len).map(|i| i % groups).collect();
        with_args(data, literals, rt, |args| {
            // plain accumulator, one per group
            let mut plain = vec![];
            for g in 0..groups {
                let take: Vec<u32> = (0..len as u32).filter(|i| idx[*i as usize] == g).collect();
                let take = datafusion::arrow::array::UInt32Array::from(take);
                let cols: Vec<ArrayRef> = data
                    .iter()
                    .map(|a| datafusion::arrow::compute::take(a, &take, None).unwrap())
                    .collect();
                let mut acc = udaf.accumulator(args.clone()).unwrap();
                acc.update_batch(&cols).unwrap();
                // state round trip
                let state: Vec<ArrayRef> = acc
                    .state()
                    .unwrap()
                    .iter()
                    .map(|s| s.to_array().unwrap())
                    .collect();
                let mut acc2 = udaf.accumulator(args.clone()).unwrap();
                acc2.merge_batch(&state).unwrap();
                let a = acc.evaluate().unwrap();
                assert_eq!(a, acc2.evaluate().unwrap(), "state round trip");
                plain.push(a);
            }
            // groups accumulator in one pass
            let mut ga = udaf.create_groups_accumulator(args.clone()).unwrap();
            ga.update_batch(data, &idx, None, groups).unwrap();
            let direct = ga.evaluate(EmitTo::All).unwrap();
            let close_to_direct = |other: &ArrayRef| {
                for g in 0..groups {
                    assert_close(
                        &ScalarValue::try_from_array(&direct, g).unwrap(),
                        &ScalarValue::try_from_array(other, g).unwrap(),
                        g,
                    );
                }
            };
            // the same rows ordered by group, so each group is one run (as in
            // an export sorted by customer)
            let mut order: Vec<u32> = (0..len as u32).collect();
            order.sort_by_key(|&i| idx[i as usize]);
            let order = datafusion::arrow::array::UInt32Array::from(order);
            let runs: Vec<ArrayRef> = data
                .iter()
                .map(|a| datafusion::arrow::compute::take(a, &order, None).unwrap())
                .collect();
            let run_idx: Vec<usize> = order.values().iter().map(|&i| idx[i as usize]).collect();
            let mut ra = udaf.create_groups_accumulator(args.clone()).unwrap();
            ra.update_batch(&runs, &run_idx, None, groups).unwrap();
            close_to_direct(&ra.evaluate(EmitTo::All).unwrap());
            // a FILTER gives the same as filtering the rows first
            let keep = BooleanArray::from((0..len).map(|i| i % 3 != 1).collect::<Vec<_>>());
            let mut fa = udaf.create_groups_accumulator(args.clone()).unwrap();
            fa.update_batch(&runs, &run_idx, Some(&keep), groups)
                .unwrap();
            let kept: Vec<ArrayRef> = runs
                .iter()
                .map(|a| datafusion::arrow::compute::filter(a, &keep).unwrap())
                .collect();
            let kept_idx: Vec<usize> = (0..len)
                .filter(|&i| keep.value(i))
                .map(|i| run_idx[i])
                .collect();
            let mut pa = udaf.create_groups_accumulator(args.clone()).unwrap();
            pa.update_batch(&kept, &kept_idx, None, groups).unwrap();
            let (filtered, prefiltered) = (
                fa.evaluate(EmitTo::All).unwrap(),
                pa.evaluate(EmitTo::All).unwrap(),
            );
            for g in 0..groups {
                assert_close(
                    &ScalarValue::try_from_array(&prefiltered, g).unwrap(),
                    &ScalarValue::try_from_array(&filtered, g).unwrap(),
                    g,
                );
            }
            // emitting the first groups early (EmitTo::First) gives the same values,
            // both for evaluate and for state merged elsewhere
            if groups > 1 {
                let k = groups / 2;
                let mut early = udaf.create_groups_accumulator(args.clone()).unwrap();
                early.update_batch(data, &idx, None, groups).unwrap();
                let first = early.evaluate(EmitTo::First(k)).unwrap();
                let rest = early.evaluate(EmitTo::All).unwrap();
                let joined = datafusion::arrow::compute::concat(&[&first, &rest]).unwrap();
                assert_eq!(&joined, &direct, "EmitTo::First then All");

                let mut early = udaf.create_groups_accumulator(args.clone()).unwrap();
                early.update_batch(data, &idx, None, groups).unwrap();
                let s_first = early.state(EmitTo::First(k)).unwrap();
                let s_rest = early.state(EmitTo::All).unwrap();
                let mut re = udaf.create_groups_accumulator(args.clone()).unwrap();
                re.merge_batch(&s_first, &(0..k).collect::<Vec<_>>(), groups)
                    .unwrap();
                re.merge_batch(&s_rest, &(k..groups).collect::<Vec<_>>(), groups)
                    .unwrap();
                let re = re.evaluate(EmitTo::All).unwrap();
                for g in 0..groups {
                    assert_close(
                        &ScalarValue::try_from_array(&direct, g).unwrap(),
                        &ScalarValue::try_from_array(&re, g).unwrap(),
                        g,
                    );
                }
            }
            // two halves, merged through state; second half via convert_to_state
            let half = len / 2;
            let slice = |a: &ArrayRef, o: usize, l: usize| a.slice(o, l);
            let first: Vec<ArrayRef> = data.iter().map(|a| slice(a, 0, half)).collect();
            let second: Vec<ArrayRef> = data.iter().map(|a| slice(a, half, len - half)).collect();
            let mut g1 = udaf.create_groups_accumulator(args.clone()).unwrap();
            g1.update_batch(&first, &idx[..half], None, groups).unwrap();
            let s1 = g1.state(EmitTo::All).unwrap();
            let g2 = udaf.create_groups_accumulator(args.clone()).unwrap();
            let s2 = g2.convert_to_state(&second, None).unwrap();
            let mut merged = udaf.create_groups_accumulator(args).unwrap();
            merged
                .merge_batch(&s1, &(0..groups).collect::<Vec<_>>(), groups)
                .unwrap();
            merged.merge_batch(&s2, &idx[half..], groups).unwrap();
            let merged = merged.evaluate(EmitTo::All).unwrap();
            let mut out = vec![];
            for (g, p) in plain.iter().enumerate() {
                let d = ScalarValue::try_from_array(&direct, g).unwrap();
                let m = ScalarValue::try_from_array(&merged, g).unwrap();
                assert_eq!(p, &d, "accumulator vs groups accumulator, group {g}");
                assert_close(&d, &m, g);
                out.push(d);
            }
            out
        })
    }

    fn assert_close(a: &ScalarValue, b: &ScalarValue, g: usize) {
        match (a, b) {
            (ScalarValue::Float64(Some(x)), ScalarValue::Float64(Some(y))) => {
                assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                    "group {g}: {x} vs {y}"
                )
            }
            _ => assert_eq!(a, b, "merged state, group {g}"),
        }
    }

    /// The standard sizes every aggregate is checked on: 0, 1, 5 and 3000
    /// rows, with the given generator producing the data for `n` rows.
    pub fn check_sizes(
        udaf: &AggregateUDF,
        literals: &[ScalarValue],
        make: impl Fn(usize) -> Vec<ArrayRef>,
    ) {
        for n in [0usize, 1, 5, 3000] {
            let data = make(n);
            let groups = if n >= 3000 { 7 } else { 1 };
            let out = check_agree(udaf, &data, literals, groups);
            // Struct results (nps_breakdown) report zero counts instead.
            if n == 0 && !matches!(out[0], ScalarValue::Struct(_)) {
                assert!(out.iter().all(|v| v.is_null()), "empty input must be NULL");
            }
        }
    }
}
