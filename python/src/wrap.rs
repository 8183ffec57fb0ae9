//! saasql's functions as another process's DataFusion sees them over
//! `datafusion-ffi`.
//!
//! In the `saasql` command, a session's analyzer appends the `saasql.*`
//! settings a function reads as trailing literal arguments
//! ([`saasql::rewrite`]) and checks constant arguments while SQL is planned
//! ([`saasql::planner`]). Neither runs in a Python `datafusion` session: FFI
//! carries functions, not analyzer rules or planners. So each function is
//! wrapped here, generically from its [`Hooks`]:
//!
//! - **Settings.** The values fixed when the functions were exported (the
//!   defaults, or `settings=` of `saasql.register`) are appended where the
//!   rewrite would append them: to scalar arguments at every call, to an
//!   aggregate's argument expressions and value columns in each accumulator.
//!   They are typed as the function's coercion types them, as the rewrite's
//!   literals are.
//! - **Constants.** Over FFI an argument expression arrives as an opaque
//!   foreign expression, so an aggregate could not see that `csat(score, 10)`
//!   has a constant `scale_max`. An expression that evaluates to a scalar on
//!   an empty batch is turned back into a local literal first.
//! - **Constant text.** FFI passes every argument of a scalar call as a
//!   column, constants too, while saasql scalars take their text options
//!   (`health_score`'s missing policy, the CLV functions' `unit`) only as
//!   constants: their return-field check, which FFI does forward with the
//!   call's constants, enforces that while the query is planned. So a text
//!   column whose rows all hold one value is passed on as that constant (for
//!   a row-wise function the two are the same input).
//! - **Checks.** A function's constant checks and the DISTINCT refusal run
//!   when its accumulator is made, with the same messages (at execution, not
//!   while planning).
//! - **Panics.** Every call into saasql code catches a panic and returns it
//!   as an error: a panic must not unwind into the FFI layer, whose
//!   `extern "C"` functions would abort the Python process.

use std::any::Any;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use saasql::datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use saasql::datafusion::arrow::compute::kernels::cmp::not_distinct;
use saasql::datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use saasql::datafusion::common::{Result, ScalarValue, internal_err, plan_err};
use saasql::datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, PartitionEvaluatorArgs, StateFieldsArgs,
    WindowUDFFieldArgs,
};
use saasql::datafusion::logical_expr::type_coercion::functions::{UDFCoercionExt, fields_with_udf};
use saasql::datafusion::logical_expr::utils::AggregateOrderSensitivity;
use saasql::datafusion::logical_expr::window_state::WindowAggState;
use saasql::datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Documentation, EmitTo, Expr,
    GroupsAccumulator, PartitionEvaluator, ReturnFieldArgs, ReversedUDAF, ReversedUDWF,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, WindowUDF, WindowUDFImpl,
};
use saasql::datafusion::physical_expr::PhysicalExpr;
use saasql::datafusion::physical_expr::expressions::Literal;
use saasql::hooks::{CheckConstants, ExtraArgs, Function, Hooks, Udf};
use saasql::settings::SettingValues;
use saasql::util::literals::{constant_literal, physical_literals};

/// `f` run so that a panic in it is an error naming `function` and `what`
/// was called, instead of unwinding into the FFI layer.
fn guard<T>(function: &str, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            internal_err!("{function}: {what} panicked: {message}")
        }
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// `f`'s value, or `fallback` when it panics (for the few trait methods that
/// cannot return an error).
fn guard_or<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// What a function's hooks add to its calls when no analyzer runs: the
/// settings fixed at export, as trailing arguments.
#[derive(Debug, Clone)]
struct Extras {
    extra_args: Option<ExtraArgs>,
    string_constants: &'static [usize],
    settings: SettingValues,
}

impl Extras {
    fn new(hooks: &Hooks, settings: &SettingValues) -> Self {
        Self {
            extra_args: hooks.extra_args,
            string_constants: hooks.string_constants,
            settings: settings.clone(),
        }
    }

    /// The values to append to a call whose (coerced) arguments are
    /// `fields`, typed as `udf`'s coercion types them when it sees the whole
    /// argument list, as the settings rewrite's literals are typed.
    fn values<F: UDFCoercionExt>(&self, udf: &F, fields: &[FieldRef]) -> Result<Vec<ScalarValue>> {
        let Some(hook) = self.extra_args else {
            return Ok(vec![]);
        };
        let Some(exprs) = hook(fields.len(), &self.settings) else {
            return Ok(vec![]);
        };
        let mut values = Vec::with_capacity(exprs.len());
        for (i, e) in exprs.into_iter().enumerate() {
            let Expr::Literal(value, _) = e else {
                return internal_err!("{}: a setting argument is not a literal: {e}", udf.name());
            };
            values.push(if self.string_constants.contains(&(fields.len() + i)) {
                constant_literal(value)
            } else {
                value
            });
        }
        let mut all: Vec<FieldRef> = fields.to_vec();
        all.extend(values.iter().enumerate().map(|(i, v)| setting_field(i, v)));
        let coerced = fields_with_udf(&all, udf)?;
        values
            .into_iter()
            .zip(&coerced[fields.len()..])
            .map(|(v, f)| {
                if v.data_type() == *f.data_type() {
                    Ok(v)
                } else {
                    v.cast_to(f.data_type())
                }
            })
            .collect()
    }
}

/// The field of the `i`th appended setting value.
fn setting_field(i: usize, value: &ScalarValue) -> FieldRef {
    Arc::new(Field::new(
        format!("saasql_setting_{i}"),
        value.data_type(),
        true,
    ))
}

/// `fields` followed by the fields of `extras`.
fn with_setting_fields(fields: &[FieldRef], extras: &[ScalarValue]) -> Vec<FieldRef> {
    let mut all = fields.to_vec();
    all.extend(extras.iter().enumerate().map(|(i, v)| setting_field(i, v)));
    all
}

/// `values` followed by each of `extras` repeated to their length.
fn with_setting_columns(values: &[ArrayRef], extras: &[ScalarValue]) -> Result<Vec<ArrayRef>> {
    let rows = values.first().map_or(0, |a| a.len());
    let mut all = values.to_vec();
    for v in extras {
        all.push(v.to_array_of_size(rows)?);
    }
    Ok(all)
}

/// `function` wrapped for export with the settings `settings`.
pub fn wrap(function: &Function, settings: &SettingValues) -> Udf {
    let extras = Extras::new(&function.hooks, settings);
    match &function.udf {
        Udf::Scalar(u) => Udf::Scalar(Arc::new(ScalarUDF::new_from_impl(FfiScalar {
            inner: Arc::clone(u),
            extras,
        }))),
        Udf::Aggregate(u) => Udf::Aggregate(Arc::new(AggregateUDF::new_from_impl(FfiAggregate {
            inner: Arc::clone(u),
            extras,
            check_constants: function.hooks.check_constants,
        }))),
        Udf::Window(u) => Udf::Window(Arc::new(WindowUDF::new_from_impl(FfiWindow {
            inner: Arc::clone(u),
        }))),
    }
}

// ---------------------------------------------------------------- scalars

/// `value` as a scalar when it is a text column whose rows all hold one
/// value (or are all NULL); otherwise `value` itself.
fn constant_text(value: ColumnarValue) -> ColumnarValue {
    let ColumnarValue::Array(array) = &value else {
        return value;
    };
    if array.is_empty()
        || !matches!(
            array.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    {
        return value;
    }
    let Ok(first) = ScalarValue::try_from_array(array, 0) else {
        return value;
    };
    let same = first
        .to_scalar()
        .and_then(|s| Ok(not_distinct(array, &s)?))
        .is_ok_and(|eq| eq.true_count() == array.len());
    if same {
        ColumnarValue::Scalar(first)
    } else {
        value
    }
}

/// A saasql scalar with its settings appended to every call.
#[derive(Debug)]
struct FfiScalar {
    inner: Arc<ScalarUDF>,
    extras: Extras,
}

impl PartialEq for FfiScalar {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.extras.settings == other.extras.settings
    }
}

impl Eq for FfiScalar {}

impl Hash for FfiScalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

impl ScalarUDFImpl for FfiScalar {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        guard(self.name(), "coerce_types", || {
            self.inner.inner().coerce_types(arg_types)
        })
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        guard(self.name(), "return_type", || {
            let fields: Vec<FieldRef> = arg_types
                .iter()
                .enumerate()
                .map(|(i, t)| Arc::new(Field::new(format!("arg_{i}"), t.clone(), true)))
                .collect();
            let extras = self.extras.values(self.inner.as_ref(), &fields)?;
            let mut all = arg_types.to_vec();
            all.extend(extras.iter().map(ScalarValue::data_type));
            self.inner.inner().return_type(&all)
        })
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        guard(self.name(), "return_field", || {
            let extras = self.extras.values(self.inner.as_ref(), args.arg_fields)?;
            let fields = with_setting_fields(args.arg_fields, &extras);
            let mut scalars = args.scalar_arguments.to_vec();
            scalars.extend(extras.iter().map(Some));
            self.inner.inner().return_field_from_args(ReturnFieldArgs {
                arg_fields: &fields,
                scalar_arguments: &scalars,
            })
        })
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        guard(self.name(), "a call", || {
            args.args = args.args.into_iter().map(constant_text).collect();
            let extras = self.extras.values(self.inner.as_ref(), &args.arg_fields)?;
            args.arg_fields = with_setting_fields(&args.arg_fields, &extras);
            args.args
                .extend(extras.into_iter().map(ColumnarValue::Scalar));
            self.inner.inner().invoke_with_args(args)
        })
    }

    fn short_circuits(&self) -> bool {
        self.inner.inner().short_circuits()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

// ------------------------------------------------------------- aggregates

/// A saasql aggregate with its settings appended, its constants local, and
/// its checks run when an accumulator is made.
#[derive(Debug)]
struct FfiAggregate {
    inner: Arc<AggregateUDF>,
    extras: Extras,
    check_constants: Option<CheckConstants>,
}

impl PartialEq for FfiAggregate {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner && self.extras.settings == other.extras.settings
    }
}

impl Eq for FfiAggregate {}

impl Hash for FfiAggregate {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.hash(state);
    }
}

/// An accumulator's arguments as the saasql aggregate expects them: foreign
/// constants as local literals, the settings appended.
struct Prepared {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    fields: Vec<FieldRef>,
    extras: Vec<ScalarValue>,
}

impl Prepared {
    fn args<'a>(&'a self, args: &AccumulatorArgs<'a>) -> AccumulatorArgs<'a> {
        AccumulatorArgs {
            exprs: &self.exprs,
            expr_fields: &self.fields,
            ..args.clone()
        }
    }
}

/// `expr` as a local literal when it is a constant: it evaluates to a scalar
/// on a batch without rows. Otherwise `expr` itself.
fn localize(expr: &Arc<dyn PhysicalExpr>, empty: &RecordBatch) -> Arc<dyn PhysicalExpr> {
    if expr.downcast_ref::<Literal>().is_some() {
        return Arc::clone(expr);
    }
    match expr.evaluate(empty) {
        Ok(ColumnarValue::Scalar(value)) => Arc::new(Literal::new(value)),
        _ => Arc::clone(expr),
    }
}

impl FfiAggregate {
    fn prepare(&self, args: &AccumulatorArgs) -> Result<Prepared> {
        let name = self.name();
        if args.is_distinct {
            return plan_err!(
                "{name}: DISTINCT is not supported; remove duplicates in a subquery first"
            );
        }
        let empty = RecordBatch::new_empty(Arc::new(Schema::clone(args.schema)));
        let mut exprs: Vec<Arc<dyn PhysicalExpr>> =
            args.exprs.iter().map(|e| localize(e, &empty)).collect();
        let extras = self.extras.values(self.inner.as_ref(), args.expr_fields)?;
        exprs.extend(
            extras
                .iter()
                .map(|v| Arc::new(Literal::new(v.clone())) as Arc<dyn PhysicalExpr>),
        );
        if let Some(check) = self.check_constants {
            check(name, &physical_literals(&exprs))?;
        }
        Ok(Prepared {
            exprs,
            fields: with_setting_fields(args.expr_fields, &extras),
            extras,
        })
    }

    fn rewrap(&self, inner: Arc<AggregateUDF>) -> Arc<AggregateUDF> {
        Arc::new(AggregateUDF::new_from_impl(FfiAggregate {
            inner,
            extras: self.extras.clone(),
            check_constants: self.check_constants,
        }))
    }

    fn accumulator_with(
        &self,
        what: &str,
        args: AccumulatorArgs,
        make: impl FnOnce(&dyn AggregateUDFImpl, AccumulatorArgs) -> Result<Box<dyn Accumulator>>,
    ) -> Result<Box<dyn Accumulator>> {
        guard(self.name(), what, || {
            let prepared = self.prepare(&args)?;
            let inner = make(self.inner.inner().as_ref(), prepared.args(&args))?;
            Ok(Box::new(FfiAccumulator {
                name: self.name().to_string(),
                inner,
                extras: prepared.extras,
            }) as Box<dyn Accumulator>)
        })
    }
}

impl AggregateUDFImpl for FfiAggregate {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        guard(self.name(), "coerce_types", || {
            self.inner.inner().coerce_types(arg_types)
        })
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        guard(self.name(), "return_type", || {
            self.inner.inner().return_type(arg_types)
        })
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        guard(self.name(), "return_field", || {
            let extras = self.extras.values(self.inner.as_ref(), arg_fields)?;
            self.inner
                .inner()
                .return_field(&with_setting_fields(arg_fields, &extras))
        })
    }

    fn is_nullable(&self) -> bool {
        self.inner.inner().is_nullable()
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.accumulator_with("accumulator", args, |f, a| f.accumulator(a))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.accumulator_with("sliding accumulator", args, |f, a| {
            f.create_sliding_accumulator(a)
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        guard(self.name(), "state_fields", || {
            let extras = self.extras.values(self.inner.as_ref(), args.input_fields)?;
            let fields = with_setting_fields(args.input_fields, &extras);
            self.inner.inner().state_fields(StateFieldsArgs {
                input_fields: &fields,
                ..args
            })
        })
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        // A call that cannot be prepared gets a plain accumulator, whose
        // creation reports the error.
        guard_or(false, || match self.prepare(&args) {
            Ok(prepared) => self
                .inner
                .inner()
                .groups_accumulator_supported(prepared.args(&args)),
            Err(_) => false,
        })
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        guard(self.name(), "groups accumulator", || {
            let prepared = self.prepare(&args)?;
            let inner = self
                .inner
                .inner()
                .create_groups_accumulator(prepared.args(&args))?;
            Ok(Box::new(FfiGroupsAccumulator {
                name: self.name().to_string(),
                inner,
                extras: prepared.extras,
            }) as Box<dyn GroupsAccumulator>)
        })
    }

    fn with_beneficial_ordering(
        self: Arc<Self>,
        beneficial_ordering: bool,
    ) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        let name = self.name().to_string();
        guard(&name, "with_beneficial_ordering", || {
            let inner =
                Arc::clone(self.inner.inner()).with_beneficial_ordering(beneficial_ordering)?;
            Ok(inner.map(|i| {
                Arc::new(FfiAggregate {
                    inner: Arc::new(AggregateUDF::new_from_shared_impl(i)),
                    extras: self.extras.clone(),
                    check_constants: self.check_constants,
                }) as Arc<dyn AggregateUDFImpl>
            }))
        })
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.inner().order_sensitivity()
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        None
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        match self.inner.inner().reverse_expr() {
            ReversedUDAF::Reversed(u) => ReversedUDAF::Reversed(self.rewrap(u)),
            other => other,
        }
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.inner().default_value(data_type)
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.inner.inner().supports_null_handling_clause()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// An accumulator that appends the setting columns to every batch of values.
#[derive(Debug)]
struct FfiAccumulator {
    name: String,
    inner: Box<dyn Accumulator>,
    extras: Vec<ScalarValue>,
}

impl Accumulator for FfiAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        guard(&self.name, "update_batch", || {
            if self.extras.is_empty() {
                self.inner.update_batch(values)
            } else {
                self.inner
                    .update_batch(&with_setting_columns(values, &self.extras)?)
            }
        })
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        guard(&self.name, "retract_batch", || {
            if self.extras.is_empty() {
                self.inner.retract_batch(values)
            } else {
                self.inner
                    .retract_batch(&with_setting_columns(values, &self.extras)?)
            }
        })
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        guard(&self.name, "evaluate", || self.inner.evaluate())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        guard(&self.name, "state", || self.inner.state())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        guard(&self.name, "merge_batch", || self.inner.merge_batch(states))
    }

    fn size(&self) -> usize {
        guard_or(0, || self.inner.size()) + self.extras.iter().map(ScalarValue::size).sum::<usize>()
    }
}

/// A groups accumulator that appends the setting columns to every batch.
struct FfiGroupsAccumulator {
    name: String,
    inner: Box<dyn GroupsAccumulator>,
    extras: Vec<ScalarValue>,
}

impl std::fmt::Debug for FfiGroupsAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfiGroupsAccumulator")
            .field("name", &self.name)
            .field("extras", &self.extras)
            .finish_non_exhaustive()
    }
}

impl GroupsAccumulator for FfiGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        guard(&self.name, "update_batch", || {
            if self.extras.is_empty() {
                self.inner
                    .update_batch(values, group_indices, opt_filter, total_num_groups)
            } else {
                self.inner.update_batch(
                    &with_setting_columns(values, &self.extras)?,
                    group_indices,
                    opt_filter,
                    total_num_groups,
                )
            }
        })
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        guard(&self.name, "evaluate", || self.inner.evaluate(emit_to))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        guard(&self.name, "state", || self.inner.state(emit_to))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        guard(&self.name, "merge_batch", || {
            self.inner
                .merge_batch(values, group_indices, total_num_groups)
        })
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        guard(&self.name, "convert_to_state", || {
            if self.extras.is_empty() {
                self.inner.convert_to_state(values, opt_filter)
            } else {
                self.inner
                    .convert_to_state(&with_setting_columns(values, &self.extras)?, opt_filter)
            }
        })
    }

    fn size(&self) -> usize {
        guard_or(0, || self.inner.size()) + self.extras.iter().map(ScalarValue::size).sum::<usize>()
    }
}

// ---------------------------------------------------------------- windows

/// A saasql window function whose calls cannot panic into the FFI layer
/// (no window function reads settings).
#[derive(Debug, PartialEq, Eq, Hash)]
struct FfiWindow {
    inner: Arc<WindowUDF>,
}

impl WindowUDFImpl for FfiWindow {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        guard(self.name(), "coerce_types", || {
            self.inner.inner().coerce_types(arg_types)
        })
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        guard(self.name(), "partition_evaluator", || {
            // Constant arguments (metric_anomaly's training) as local
            // literals, as for aggregates.
            let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
            let exprs: Vec<Arc<dyn PhysicalExpr>> = args
                .input_exprs()
                .iter()
                .map(|e| localize(e, &empty))
                .collect();
            let args = PartitionEvaluatorArgs::new(
                &exprs,
                args.input_fields(),
                args.is_reversed(),
                args.ignore_nulls(),
            );
            let inner = self.inner.inner().partition_evaluator(args)?;
            Ok(Box::new(FfiEvaluator {
                name: self.name().to_string(),
                inner,
            }) as Box<dyn PartitionEvaluator>)
        })
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        guard(self.name(), "field", || {
            self.inner.inner().field(field_args)
        })
    }

    fn sort_options(&self) -> Option<saasql::datafusion::arrow::compute::SortOptions> {
        self.inner.inner().sort_options()
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        match self.inner.inner().reverse_expr() {
            ReversedUDWF::Reversed(u) => {
                ReversedUDWF::Reversed(Arc::new(WindowUDF::new_from_impl(FfiWindow { inner: u })))
            }
            other => other,
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// A partition evaluator whose every call is guarded.
#[derive(Debug)]
struct FfiEvaluator {
    name: String,
    inner: Box<dyn PartitionEvaluator>,
}

impl PartitionEvaluator for FfiEvaluator {
    fn memoize(&mut self, state: &mut WindowAggState) -> Result<()> {
        guard(&self.name, "memoize", || self.inner.memoize(state))
    }

    fn get_range(&self, idx: usize, n_rows: usize) -> Result<Range<usize>> {
        guard(&self.name, "get_range", || {
            self.inner.get_range(idx, n_rows)
        })
    }

    fn is_causal(&self) -> bool {
        self.inner.is_causal()
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        guard(&self.name, "evaluate_all", || {
            self.inner.evaluate_all(values, num_rows)
        })
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        guard(&self.name, "evaluate", || {
            self.inner.evaluate(values, range)
        })
    }

    fn evaluate_all_with_rank(
        &self,
        num_rows: usize,
        ranks_in_partition: &[Range<usize>],
    ) -> Result<ArrayRef> {
        guard(&self.name, "evaluate_all_with_rank", || {
            self.inner
                .evaluate_all_with_rank(num_rows, ranks_in_partition)
        })
    }

    fn supports_bounded_execution(&self) -> bool {
        self.inner.supports_bounded_execution()
    }

    fn uses_window_frame(&self) -> bool {
        self.inner.uses_window_frame()
    }

    fn include_rank(&self) -> bool {
        self.inner.include_rank()
    }
}
