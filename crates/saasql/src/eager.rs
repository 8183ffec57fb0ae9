//! Eager aggregation: aggregate the big side of a join by its join key
//! before joining (Yan and Larson, "Eager Aggregation and Lazy
//! Aggregation", VLDB 1995).
//!
//! ```sql
//! SELECT c.segment, nps(s.score) FROM surveys s JOIN customers c USING (customer_id)
//! GROUP BY c.segment
//! ```
//!
//! joins 10 M answers to 1 M customers and then groups. Every saasql
//! aggregate (and `count`, `sum`, `min`, `max`, `avg`) keeps a partial state
//! that merges with others, so the answers can first be reduced to one state
//! per `customer_id`, the states joined to the customers, and merged per
//! segment: the join sees one row per customer instead of one per answer.
//!
//! [`EagerAggregation`] rewrites
//!
//! ```text
//! Aggregate(G, f(args))                 Projection (the original names)
//!   [Projection of columns]      =>       Aggregate(G, f__merge(state))
//!     Inner Join(S.k = D.k)                 Inner Join(S.k = D.k)
//!       S                                     Aggregate(S.k, f__state(args) AS state)
//!       D                                       S
//!                                             D
//! ```
//!
//! exactly when all of these hold (otherwise the plan is left alone):
//!
//! - the join is an inner equi-join with no other condition, and each of
//!   its keys on the side S is a column;
//! - every aggregate is a saasql aggregate or `count`, `sum`, `min`, `max`,
//!   `avg`, without DISTINCT, FILTER or ORDER BY, insensitive to input order,
//!   with arguments that are not volatile (`random()` would be drawn once
//!   per row of S instead of once per joined row);
//! - the aggregates' arguments read columns of S only, and at least one
//!   column (S is the side they read);
//! - the grouping expressions read columns of D, or S's join keys (equal to
//!   D's in every joined row), and none is volatile;
//! - `saasql.eager_aggregation` is true (the default is false: measured on
//!   10 M survey answers joined to 1 M customers, grouping the answers into
//!   1 M states costs more than the join it saves, 0.49 s against 0.35 s;
//!   it pays when the join is the expensive part: wide or large dimension
//!   rows, many rows per key).
//!
//! When a call can fail on a row's values (every saasql aggregate checks
//! its inputs: nps rejects a score of 11), S is first reduced to the rows
//! that have a match (a semi join on the same keys), so a row the join
//! drops raises no error the original query would not.
//!
//! Why the results are the same: in the original plan a row of S adds to
//! the group of every row of D it matches; after the rewrite the state of
//! all S rows with key k adds to the group of every D row with key k. Per
//! group that is the same rows of S, merged in a different order, which a
//! partial state allows (a duplicated key in D counts its S rows twice in
//! both plans). A NULL key matches nothing in either. The rewrite only
//! applies where the plan's output schema comes out identical.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result, ScalarValue, internal_err};
use datafusion::logical_expr::ExprSchemable;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::logical_plan::{Aggregate, Join, Projection};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, GroupsAccumulator, JoinType,
    LogicalPlan, Signature, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column as PhysicalColumn, Literal};

use crate::config::SaasqlConfig;
use crate::settings::Setting;

/// `saasql.eager_aggregation`: whether [`EagerAggregation`] may rewrite.
pub static SETTING: Setting = Setting {
    key: "eager_aggregation",
    description: "Aggregate one side of a join by its join key before joining, when that \
                  gives the same result (saasql aggregates, count, sum, min, max, avg over one \
                  side of an inner equi-join, grouped by the other side): true or false. Off \
                  by default: it pays only when the join costs more than grouping that side \
                  by its key (not for 10 M answers joined to 1 M customers).",
    default: "false",
    parse: parse_bool,
};

fn parse_bool(owner: &str, value: &str) -> Result<ScalarValue> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "1" => Ok(ScalarValue::Boolean(Some(true))),
        "false" | "off" | "0" => Ok(ScalarValue::Boolean(Some(false))),
        _ => datafusion::common::plan_err!("{owner}: '{value}' is not true or false"),
    }
}

/// DataFusion's aggregates whose partial states merge (besides saasql's).
const BUILTIN: [&str; 5] = ["count", "sum", "min", "max", "avg"];

/// The names of saasql's aggregates.
static SAASQL_AGGREGATES: LazyLock<HashSet<String>> = LazyLock::new(|| {
    crate::functions::functions()
        .iter()
        .filter(|f| f.kind() == crate::hooks::FunctionKind::Aggregate)
        .map(|f| f.name().to_string())
        .collect()
});

/// See the module documentation.
#[derive(Debug, Default)]
pub struct EagerAggregation;

impl OptimizerRule for EagerAggregation {
    fn name(&self) -> &str {
        "saasql_eager_aggregation"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let enabled = config
            .options()
            .extensions
            .get::<SaasqlConfig>()
            .is_none_or(|c| c.values().get(&SETTING) == ScalarValue::Boolean(Some(true)));
        if !enabled {
            return Ok(Transformed::no(plan));
        }
        let LogicalPlan::Aggregate(agg) = &plan else {
            return Ok(Transformed::no(plan));
        };
        match eager(agg)? {
            Some(new) => Ok(Transformed::yes(new)),
            None => Ok(Transformed::no(plan)),
        }
    }
}

/// `e` with the columns of projection `p` replaced by the expressions
/// that compute them (so it reads `p`'s input).
fn inline(e: &Expr, p: Option<&Projection>) -> Result<Expr> {
    use datafusion::common::tree_node::{TransformedResult, TreeNode};
    let Some(p) = p else {
        return Ok(e.clone());
    };
    e.clone()
        .transform(|e| {
            if let Expr::Column(c) = &e
                && let Ok(i) = p.schema.index_of_column(c)
            {
                return Ok(Transformed::yes(p.expr[i].clone().unalias()));
            }
            Ok(Transformed::no(e))
        })
        .data()
}

/// An aggregate call the rewrite can split.
fn eligible(e: &Expr) -> Option<&AggregateFunction> {
    // The settings rewrite keeps a call's name with an alias.
    let e = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        e => e,
    };
    let Expr::AggregateFunction(f) = e else {
        return None;
    };
    let p = &f.params;
    let name = f.func.name();
    // DataFusion's count and avg keep the default order sensitivity
    // (`HardRequirement`) although no order changes them.
    let known = BUILTIN.contains(&name)
        || (SAASQL_AGGREGATES.contains(name)
            && f.func.order_sensitivity() == AggregateOrderSensitivity::Insensitive);
    let ok = known
        && !p.distinct
        && p.filter.is_none()
        && p.order_by.is_empty()
        && p.null_treatment.is_none()
        && !p.args.iter().any(Expr::is_volatile);
    ok.then_some(f)
}

/// Whether a call can never fail on a row's values: DataFusion's `count`,
/// `sum`, `min`, `max`, `avg` over columns, constants and numeric casts to
/// a number. saasql's aggregates check their inputs (a score outside its
/// scale, a negative amount), so they count as fallible.
fn infallible(f: &AggregateFunction, args: &[Expr], s: &LogicalPlan) -> bool {
    let numeric = |e: &Expr| {
        e.get_type(s.schema())
            .is_ok_and(|t| t.is_numeric() || t == DataType::Null)
    };
    BUILTIN.contains(&f.func.name())
        && args.iter().all(|a| match a.clone().unalias() {
            Expr::Column(_) | Expr::Literal(..) => true,
            Expr::Cast(c) => {
                matches!(*c.expr, Expr::Column(_))
                    && numeric(&c.expr)
                    && c.field.data_type().is_numeric()
            }
            _ => false,
        })
}

/// Whether `schema` has `col`.
fn has(plan: &LogicalPlan, col: &Column) -> bool {
    plan.schema().index_of_column(col).is_ok()
}

/// The rewritten plan, or `None` when a condition does not hold.
fn eager(agg: &Aggregate) -> Result<Option<LogicalPlan>> {
    // Through a projection (the columns the aggregate reads, or shared
    // subexpressions): its expressions are inlined.
    let (join, projection) = match agg.input.as_ref() {
        LogicalPlan::Projection(p) => (p.input.as_ref(), Some(p)),
        other => (other, None),
    };
    let LogicalPlan::Join(join) = join else {
        return Ok(None);
    };
    if join.join_type != JoinType::Inner
        || join.filter.is_some()
        || join.on.is_empty()
        || join.null_aware
    {
        return Ok(None);
    }
    // Each call with its arguments over the join's columns.
    let mut calls = vec![];
    for e in &agg.aggr_expr {
        let Some(f) = eligible(e) else {
            return Ok(None);
        };
        let args = f
            .params
            .args
            .iter()
            .map(|a| inline(a, projection))
            .collect::<Result<Vec<_>>>()?;
        if args.iter().any(Expr::is_volatile) {
            return Ok(None);
        }
        calls.push((f, args));
    }
    let groups = agg
        .group_expr
        .iter()
        .map(|g| inline(g, projection))
        .collect::<Result<Vec<_>>>()?;
    if calls.is_empty() {
        return Ok(None);
    }
    // The side the aggregates read.
    let read: Vec<&Column> = calls
        .iter()
        .flat_map(|(_, args)| args.iter().flat_map(|a| a.column_refs()))
        .collect();
    if read.is_empty() {
        return Ok(None);
    }
    let s_is_left = if read.iter().all(|c| has(&join.left, c)) {
        true
    } else if read.iter().all(|c| has(&join.right, c)) {
        false
    } else {
        return Ok(None);
    };
    let (s, d) = if s_is_left {
        (&join.left, &join.right)
    } else {
        (&join.right, &join.left)
    };
    let mut keys: Vec<Column> = vec![];
    for (l, r) in &join.on {
        match if s_is_left { l } else { r } {
            // A key used twice (`a.id = c.id AND a.id = c.id2`) groups once.
            Expr::Column(c) if has(s, c) => {
                if !keys.contains(c) {
                    keys.push(c.clone());
                }
            }
            _ => return Ok(None),
        }
    }
    // A volatile grouping (`GROUP BY random() < 0.5`) would be drawn once
    // per state instead of once per row; two groupings that inline to the
    // same expression would collide in the new aggregate's schema.
    let distinct: HashSet<&Expr> = groups.iter().collect();
    if groups.iter().any(Expr::is_volatile) || distinct.len() != groups.len() {
        return Ok(None);
    }
    for g in &groups {
        if !g
            .column_refs()
            .iter()
            .all(|c| has(d, c) || keys.contains(c))
        {
            return Ok(None);
        }
    }
    // S grouped by its keys, one state per aggregate.
    let mut partial_exprs = vec![];
    let mut merged = vec![];
    for (i, (f, args)) in calls.iter().enumerate() {
        let fields = args
            .iter()
            .map(|a| a.to_field(s.schema()).map(|(_, field)| field))
            .collect::<Result<Vec<_>>>()?;
        let literals = args
            .iter()
            .map(|a| match a.clone().unalias() {
                Expr::Literal(v, _) => Some(v),
                _ => None,
            })
            .collect();
        let partial = PartialOf::new(Arc::clone(&f.func), &fields)?;
        let merge = MergeOf::new(Arc::clone(&f.func), fields, literals, partial.struct_type())?;
        let name = format!("__saasql_eager_{i}");
        partial_exprs.push(
            Expr::AggregateFunction(AggregateFunction::new_udf(
                Arc::new(AggregateUDF::new_from_impl(partial)),
                args.clone(),
                false,
                None,
                vec![],
                None,
            ))
            .alias(&name),
        );
        merged.push(Expr::AggregateFunction(AggregateFunction::new_udf(
            Arc::new(AggregateUDF::new_from_impl(merge)),
            vec![Expr::Column(Column::from_name(name))],
            false,
            None,
            vec![],
            None,
        )));
    }
    // A call that can fail on a row's values (nps rejects a score of 11,
    // a CAST of text can fail) must see only the rows the join keeps, or a
    // row without a match would raise an error the original query never
    // did: S is first reduced to its matching rows (a semi join on the same
    // keys).
    let rows = if calls.iter().all(|(f, args)| infallible(f, args, s)) {
        Arc::clone(s)
    } else {
        let on = join
            .on
            .iter()
            .map(|(l, r)| {
                if s_is_left {
                    (l.clone(), r.clone())
                } else {
                    (r.clone(), l.clone())
                }
            })
            .collect();
        Arc::new(LogicalPlan::Join(Join::try_new(
            Arc::clone(s),
            Arc::clone(d),
            on,
            None,
            JoinType::LeftSemi,
            join.join_constraint,
            join.null_equality,
            false,
        )?))
    };
    let grouped = LogicalPlan::Aggregate(Aggregate::try_new(
        rows,
        keys.iter().cloned().map(Expr::Column).collect(),
        partial_exprs,
    )?);
    let (left, right) = if s_is_left {
        (Arc::new(grouped), Arc::clone(&join.right))
    } else {
        (Arc::clone(&join.left), Arc::new(grouped))
    };
    let joined = LogicalPlan::Join(Join::try_new(
        left,
        right,
        join.on.clone(),
        None,
        JoinType::Inner,
        join.join_constraint,
        join.null_equality,
        false,
    )?);
    let outer = Aggregate::try_new(Arc::new(joined), groups, merged)?;
    // The original names: groups as they were, each merge under its call's
    // name.
    let mut exprs = vec![];
    for (i, (qualifier, field)) in agg.schema.iter().enumerate() {
        let (q, f) = outer.schema.qualified_field(i);
        let column = Expr::Column(Column::new(q.cloned(), f.name()));
        exprs.push(if q == qualifier && f.name() == field.name() {
            column
        } else {
            column.alias_qualified(qualifier.cloned(), field.name())
        });
    }
    let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(outer)))?;
    let same = projection.schema.fields().len() == agg.schema.fields().len()
        && projection
            .schema
            .iter()
            .zip(agg.schema.iter())
            .all(|((q1, f1), (q2, f2))| {
                q1 == q2
                    && f1.name() == f2.name()
                    && f1.data_type() == f2.data_type()
                    && f1.is_nullable() == f2.is_nullable()
            });
    if !same {
        return Ok(None);
    }
    Ok(Some(LogicalPlan::Projection(projection)))
}

/// `f__state(args)`: `f`'s partial state over its group's rows, as one
/// struct value (the first step of [`EagerAggregation`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PartialOf {
    inner: Arc<AggregateUDF>,
    name: String,
    /// The state's fields for the arguments' types.
    fields: Fields,
    signature: Signature,
}

impl PartialOf {
    fn new(inner: Arc<AggregateUDF>, arg_fields: &[FieldRef]) -> Result<Self> {
        let return_field = inner.return_field(arg_fields)?;
        let fields = inner.state_fields(StateFieldsArgs {
            name: inner.name(),
            input_fields: arg_fields,
            return_field,
            ordering_fields: &[],
            is_distinct: false,
        })?;
        Ok(Self {
            name: format!("{}__state", inner.name()),
            signature: Signature::any(arg_fields.len(), Volatility::Immutable),
            inner,
            fields: Fields::from(fields),
        })
    }

    fn struct_type(&self) -> DataType {
        DataType::Struct(self.fields.clone())
    }

    /// The inner function's arguments: its own return field.
    fn inner_args<'a>(&self, args: &AccumulatorArgs<'a>) -> Result<AccumulatorArgs<'a>> {
        Ok(AccumulatorArgs {
            return_field: self.inner.return_field(args.expr_fields)?,
            schema: args.schema,
            ignore_nulls: args.ignore_nulls,
            order_bys: args.order_bys,
            is_reversed: args.is_reversed,
            name: args.name,
            is_distinct: false,
            exprs: args.exprs,
            expr_fields: args.expr_fields,
        })
    }
}

impl AggregateUDFImpl for PartialOf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.struct_type())
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PartialAccumulator {
            inner: self.inner.accumulator(self.inner_args(&args)?)?,
            fields: self.fields.clone(),
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let return_field = self.inner.return_field(args.input_fields)?;
        self.inner.state_fields(StateFieldsArgs {
            return_field,
            ..args
        })
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner_args(&args)
            .is_ok_and(|a| self.inner.groups_accumulator_supported(a))
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PartialGroups {
            inner: self
                .inner
                .create_groups_accumulator(self.inner_args(&args)?)?,
            fields: self.fields.clone(),
        }))
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

/// `f__merge(state)`: merges [`PartialOf`]'s states and gives `f`'s value.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MergeOf {
    inner: Arc<AggregateUDF>,
    name: String,
    /// The original call's argument fields.
    arg_fields: Vec<FieldRef>,
    /// Its constant arguments (what `f`'s accumulator reads from them).
    literals: Vec<Option<ScalarValue>>,
    signature: Signature,
}

impl MergeOf {
    fn new(
        inner: Arc<AggregateUDF>,
        arg_fields: Vec<FieldRef>,
        literals: Vec<Option<ScalarValue>>,
        state: DataType,
    ) -> Result<Self> {
        Ok(Self {
            name: format!("{}__merge", inner.name()),
            signature: Signature::exact(vec![state], Volatility::Immutable),
            inner,
            arg_fields,
            literals,
        })
    }

    /// Calls `f` with the arguments of `f`'s accumulator for the original
    /// call: its constants, and columns of a schema of its argument fields
    /// for the rest (the merge never evaluates them).
    fn with_inner_args<R>(
        &self,
        name: &str,
        f: impl FnOnce(AccumulatorArgs) -> Result<R>,
    ) -> Result<R> {
        let (schema, exprs) = self.inner_exprs();
        f(AccumulatorArgs {
            return_field: self.inner.return_field(&self.arg_fields)?,
            schema: &schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name,
            is_distinct: false,
            exprs: &exprs,
            expr_fields: &self.arg_fields,
        })
    }

    fn inner_exprs(&self) -> (Schema, Vec<Arc<dyn PhysicalExpr>>) {
        let schema = Schema::new(
            self.arg_fields
                .iter()
                .enumerate()
                .map(|(i, f)| Field::new(format!("arg{i}"), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        let exprs = self
            .literals
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(v) => Arc::new(Literal::new(v.clone())) as Arc<dyn PhysicalExpr>,
                None => Arc::new(PhysicalColumn::new(&format!("arg{i}"), i)) as _,
            })
            .collect();
        (schema, exprs)
    }
}

impl AggregateUDFImpl for MergeOf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self
            .inner
            .return_field(&self.arg_fields)?
            .data_type()
            .clone())
    }
    fn return_field(&self, _arg_fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner.return_field(&self.arg_fields)
    }
    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let inner = self.with_inner_args(args.name, |a| self.inner.accumulator(a))?;
        Ok(Box::new(MergeAccumulator { inner }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(StateFieldsArgs {
            name: args.name,
            input_fields: &self.arg_fields,
            return_field: self.inner.return_field(&self.arg_fields)?,
            ordering_fields: &[],
            is_distinct: false,
        })
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.with_inner_args(args.name, |a| {
            Ok(self.inner.groups_accumulator_supported(a))
        })
        .unwrap_or(false)
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let inner = self.with_inner_args(args.name, |a| self.inner.create_groups_accumulator(a))?;
        Ok(Box::new(MergeGroups { inner }))
    }
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }
}

/// The state struct a merge is fed.
fn states_of(values: &[ArrayRef]) -> Result<&StructArray> {
    match values.first().and_then(|v| v.as_struct_opt()) {
        Some(states) => Ok(states),
        None => internal_err!("eager aggregation: the merge got no state struct"),
    }
}

/// [`PartialOf`]'s row accumulator: `f`'s, evaluated to its state.
#[derive(Debug)]
struct PartialAccumulator {
    inner: Box<dyn Accumulator>,
    fields: Fields,
}

impl Accumulator for PartialAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let arrays = self
            .inner
            .state()?
            .iter()
            .map(ScalarValue::to_array)
            .collect::<Result<Vec<_>>>()?;
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            self.fields.clone(),
            arrays,
            None,
        )?)))
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }
}

/// [`MergeOf`]'s row accumulator: `f`'s, fed the states.
#[derive(Debug)]
struct MergeAccumulator {
    inner: Box<dyn Accumulator>,
}

impl Accumulator for MergeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let states = states_of(values)?;
        self.inner.merge_batch(states.columns())
    }
    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }
}

/// [`PartialOf`]'s groups accumulator.
struct PartialGroups {
    inner: Box<dyn GroupsAccumulator>,
    fields: Fields,
}

impl std::fmt::Debug for PartialGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartialGroups").finish_non_exhaustive()
    }
}

impl GroupsAccumulator for PartialGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let state = self.inner.state(emit_to)?;
        Ok(Arc::new(StructArray::try_new(
            self.fields.clone(),
            state,
            None,
        )?))
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, opt_filter)
    }
}

/// [`MergeOf`]'s groups accumulator.
struct MergeGroups {
    inner: Box<dyn GroupsAccumulator>,
}

impl std::fmt::Debug for MergeGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeGroups").finish_non_exhaustive()
    }
}

impl GroupsAccumulator for MergeGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let states = states_of(values)?;
        if opt_filter.is_some() {
            return internal_err!("eager aggregation: a merge has no FILTER");
        }
        self.inner
            .merge_batch(states.columns(), group_indices, total_num_groups)
    }
    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.inner.evaluate(emit_to)
    }
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }
    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner
            .merge_batch(values, group_indices, total_num_groups)
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    /// Each row is a state already.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let states = states_of(values)?;
        if opt_filter.is_some() {
            return internal_err!("eager aggregation: a merge has no FILTER");
        }
        Ok(states.columns().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, TimestampSecondArray};
    use datafusion::arrow::datatypes::TimeUnit;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// `answers(customer_id, score, event_name, at)`: 300 rows over
    /// customers 0..40 and NULL, some NULL scores; `customers(customer_id,
    /// segment, plan)`: ids 0..30, id 7 twice (two segments), a NULL id.
    fn register(ctx: &SessionContext) {
        let n = 300;
        let ids: Int64Array = (0..n)
            .map(|i| (i % 13 != 0).then_some((i * 7) % 40))
            .collect();
        // Customers 30..40 have no row in `customers`; their scores are 11,
        // which nps rejects: only a plan that aggregates unmatched rows
        // would see them.
        let scores: Int64Array = (0..n)
            .map(|i| match (i * 7) % 40 {
                30.. => Some(11),
                _ => (i % 11 != 0).then_some(i % 11),
            })
            .collect();
        let names: StringArray = (0..n)
            .map(|i| Some(["login", "report_created", "teammate_invited"][i as usize % 3]))
            .collect();
        let at: TimestampSecondArray = (0..n).map(|i| Some(i * 86_400 / 7)).collect();
        let answers = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, true),
            Field::new("score", DataType::Int64, true),
            Field::new("event_name", DataType::Utf8, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Second, None), true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&answers),
            vec![
                Arc::new(ids),
                Arc::new(scores),
                Arc::new(names),
                Arc::new(at),
            ],
        )
        .unwrap();
        ctx.register_table(
            "answers",
            Arc::new(MemTable::try_new(answers, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
        let ids: Int64Array = (0..30).map(Some).chain([Some(7), None]).collect();
        let segments: StringArray = (0..32)
            .map(|i| Some(["smb", "mid", "ent"][i % 3]))
            .collect();
        let plans: StringArray = (0..32).map(|i| Some(["free", "pro"][i % 2])).collect();
        let customers = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, true),
            Field::new("segment", DataType::Utf8, true),
            Field::new("plan", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&customers),
            vec![Arc::new(ids), Arc::new(segments), Arc::new(plans)],
        )
        .unwrap();
        ctx.register_table(
            "customers",
            Arc::new(MemTable::try_new(customers, vec![vec![batch]]).unwrap()),
        )
        .unwrap();
    }

    /// Whether the rule rewrote `sql`, and its rows (the same as without
    /// the rule, or the test fails).
    async fn run(sql: &str) -> (bool, String) {
        let on = crate::context();
        register(&on);
        on.sql("SET saasql.eager_aggregation = true")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let off = crate::context();
        register(&off);
        off.sql("SET saasql.eager_aggregation = false")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let df = on.sql(sql).await.unwrap();
        let plan = df
            .clone()
            .into_optimized_plan()
            .unwrap()
            .display_indent()
            .to_string();
        let rows = pretty_format_batches(&df.collect().await.unwrap())
            .unwrap()
            .to_string();
        let off_df = off.sql(sql).await.unwrap();
        let off_plan = off_df
            .clone()
            .into_optimized_plan()
            .unwrap()
            .display_indent()
            .to_string();
        assert!(!off_plan.contains("__state"), "{off_plan}");
        let expected = pretty_format_batches(&off_df.collect().await.unwrap())
            .unwrap()
            .to_string();
        assert_eq!(rows, expected, "{sql}\n{plan}");
        (plan.contains("__state("), rows)
    }

    #[tokio::test]
    async fn rewrites_keep_the_results() {
        let fires = [
            // Grouped by the other side; a duplicated customer counts its
            // answers twice in both plans; NULL keys match nothing.
            "SELECT c.segment, nps(a.score) AS nps, count(*) AS n, count(a.score) AS k, \
             sum(a.score) AS s, min(a.score) AS lo, max(a.score) AS hi, avg(a.score) AS mean \
             FROM answers a JOIN customers c ON a.customer_id = c.customer_id \
             GROUP BY c.segment ORDER BY 1",
            // Grouped by the join key; the big side on the right.
            "SELECT a.customer_id, nps(a.score) AS nps FROM customers c \
             JOIN answers a ON a.customer_id = c.customer_id GROUP BY a.customer_id ORDER BY 1",
            // Filters on either side.
            "SELECT c.plan, nps(a.score) AS nps, count(*) AS n FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id \
             WHERE a.score > 3 AND c.segment <> 'ent' GROUP BY c.plan ORDER BY 1",
            // The same S key twice (grouped once), a D key expression.
            "SELECT c.segment, sum(a.score) AS s, count(a.score) AS n FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id AND a.customer_id = c.customer_id + 0 \
             GROUP BY c.segment ORDER BY 1",
            // Constant arguments, and keyed states (bitmaps of users).
            "SELECT c.segment, engagement_score(a.event_name, 'login:1, report_created:5') AS e, \
             stickiness(a.customer_id, a.at) AS st FROM answers a \
             JOIN customers c USING (customer_id) GROUP BY c.segment ORDER BY 1",
            // No GROUP BY: one row.
            "SELECT nps(a.score) AS nps, count(*) AS n FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id",
            // No row at all, without GROUP BY: count 0, nps NULL.
            "SELECT nps(a.score) AS nps, count(a.score) AS n, sum(a.score) AS s FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id + 1000",
            // No matching row at all.
            "SELECT c.segment, nps(a.score) AS nps, count(*) AS n FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id + 1000 GROUP BY c.segment",
        ];
        for sql in fires {
            let (rewritten, _) = run(sql).await;
            assert!(rewritten, "{sql}");
        }
        let left_alone = [
            // An outer join keeps unmatched rows.
            "SELECT c.segment, nps(a.score) AS nps, count(*) AS n FROM customers c \
             LEFT JOIN answers a ON a.customer_id = c.customer_id GROUP BY c.segment ORDER BY 1",
            // Grouped by another column of the aggregated side.
            "SELECT a.score, sum(a.score) AS n FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id GROUP BY a.score ORDER BY 1",
            // An aggregate reading both sides.
            "SELECT c.plan, sum(a.score + length(c.segment)) AS s FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id GROUP BY c.plan ORDER BY 1",
            // DISTINCT and FILTER.
            "SELECT c.plan, count(DISTINCT a.score) AS d FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id GROUP BY c.plan ORDER BY 1",
            "SELECT c.plan, count(*) FILTER (WHERE a.score > 5) AS d FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id GROUP BY c.plan ORDER BY 1",
            // A join condition besides the keys.
            "SELECT c.plan, sum(a.score) AS n FROM answers a JOIN customers c \
             ON a.customer_id = c.customer_id AND a.score > length(c.segment) \
             GROUP BY c.plan ORDER BY 1",
        ];
        for sql in left_alone {
            let (rewritten, _) = run(sql).await;
            assert!(!rewritten, "{sql}");
        }
        // Volatile arguments or groupings: results differ run to run, so
        // only the plan.
        let ctx = crate::context();
        register(&ctx);
        ctx.sql("SET saasql.eager_aggregation = true")
            .await
            .unwrap();
        for sql in [
            "SELECT c.plan, sum(a.score * random()) AS s FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id GROUP BY c.plan",
            "SELECT random() < 0.5 AS half, sum(a.score) AS s FROM answers a \
             JOIN customers c ON a.customer_id = c.customer_id GROUP BY random() < 0.5",
        ] {
            let plan = ctx
                .sql(sql)
                .await
                .unwrap()
                .into_optimized_plan()
                .unwrap()
                .display_indent()
                .to_string();
            assert!(!plan.contains("__state"), "{sql}\n{plan}");
        }
    }

    /// saasql's aggregates check their rows, so the rows the join drops are
    /// dropped before the states (a semi join); DataFusion's sums need not.
    #[tokio::test]
    async fn unmatched_rows_raise_no_errors() {
        let nps = "SELECT c.segment, nps(a.score) AS nps FROM answers a \
                   JOIN customers c ON a.customer_id = c.customer_id GROUP BY c.segment ORDER BY 1";
        let (rewritten, _) = run(nps).await;
        assert!(rewritten);
        let ctx = crate::context();
        register(&ctx);
        ctx.sql("SET saasql.eager_aggregation = true")
            .await
            .unwrap();
        let plan = ctx.sql(nps).await.unwrap().into_optimized_plan().unwrap();
        assert!(
            plan.display_indent().to_string().contains("LeftSemi Join"),
            "{plan}"
        );
        let sum = "SELECT c.segment, sum(a.score) AS s FROM answers a \
                   JOIN customers c ON a.customer_id = c.customer_id GROUP BY c.segment";
        let plan = ctx.sql(sum).await.unwrap().into_optimized_plan().unwrap();
        let text = plan.display_indent().to_string();
        assert!(
            text.contains("sum__state") && !text.contains("LeftSemi"),
            "{text}"
        );
    }

    /// Keyed states (stickiness's bitmaps) through the struct and the join.
    #[tokio::test]
    async fn bitmap_states_merge_after_the_join() {
        let old = crate::util::bitmaps::set_switch_at(1);
        let (rewritten, _) = run("SELECT c.segment, stickiness(a.customer_id, a.at) AS st, \
             retention(a.customer_id, a.at, a.at, 'day', 5) AS r FROM answers a \
             JOIN customers c USING (customer_id) GROUP BY c.segment ORDER BY 1")
        .await;
        crate::util::bitmaps::set_switch_at(old);
        assert!(rewritten);
    }

    #[tokio::test]
    async fn the_setting_is_checked() {
        let ctx = crate::context();
        let e = ctx
            .sql("SET saasql.eager_aggregation = maybe")
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(
            e.to_string().contains("'maybe' is not true or false"),
            "{e}"
        );
    }
}
