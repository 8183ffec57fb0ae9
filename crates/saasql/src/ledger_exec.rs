//! The MRR ledger in one pass per customer, for a local session.
//!
//! Written in SQL (see [`crate::functions::revenue::mrr_ledger`]), the ledger
//! expands every subscription item into one row per month up to `as_of`
//! (7.5 M rows for 1.2 M items), joins each row to its exchange rate, sums the
//! rows per customer and month in a hash GROUP BY, sorts the sums by customer
//! and month and then classifies each month. [`MrrLedgerExec`] reads the items
//! instead (the same SQL up to its `spans`: one row per item, with the first
//! and last months it is paid for and its MRR with and without its discount),
//! sorted by customer, and for each customer adds every item's MRR of each
//! month, converted, into one array of the customer's months from its first
//! to `as_of`. The sums are then rounded and classified
//! ([`crate::functions::revenue::mrr_ledger_moves`]) as the SQL does, and the
//! ledger's rows come out. No row per item and month is ever made, and memory
//! is one batch of items and one customer's months; the sort of the items
//! below it spills when it must.
//!
//! Every step of the SQL has its counterpart here, with the same arithmetic
//! in the same types, so the two give the same numbers (up to the order in
//! which a month's amounts are added, before rounding) and the same errors
//! (when one month is bad; with several, either may name another first).
//! The tests below run both on the same items. The SQL still runs where
//! this operator cannot: on a cluster, whose executors know only DataFusion's
//! operators, and in the Python package. The operator is used when the
//! session has saasql's local physical rules ([`runs_in`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Date32Builder, Float64Array, Float64Builder,
    RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::compute::{cast, interleave};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, internal_err};
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{
    EquivalenceProperties, LexRequirement, OrderingRequirements, PhysicalSortRequirement,
};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PhysicalExpr, PlanProperties, collect,
};
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};

use crate::functions::revenue::mrr_ledger::{Discounts, Snapshot};
use crate::functions::revenue::mrr_ledger_moves::Moves;
use crate::util::time::{MICROS_PER_DAY, civil_from_days, days_from_civil, format_date};

const NAME: &str = "mrr_ledger";

/// Whether `state` runs saasql's local operators: it has the physical rule
/// that streams `metric_anomaly` ([`crate::series_window`]), which
/// [`crate::session::context`] installs and a cluster's sessions do not.
pub fn runs_in(state: &SessionState) -> bool {
    state
        .physical_optimizers()
        .iter()
        .any(|r| r.name() == crate::series_window::RULE_NAME)
}

/// What the ledger's rules and query say about one month of an item.
#[derive(Debug)]
pub(crate) struct LedgerSettings {
    /// The convention's name (for `EXPLAIN`).
    pub convention: &'static str,
    pub discounts: Discounts,
    pub snapshot: Snapshot,
    /// The reporting currency.
    pub currency: String,
    /// The items table as the caller named it (in errors).
    pub table: String,
}

/// The ledger of a local session: a table whose scan is [`MrrLedgerExec`]
/// over the plans of the items' spans and the exchange rates.
#[derive(Debug)]
pub(crate) struct LedgerTable {
    /// The ledger's columns, as the SQL ledger has them.
    pub schema: SchemaRef,
    /// [`crate::functions::revenue::mrr_ledger::Part::Spans`], planned.
    pub spans: LogicalPlan,
    /// [`crate::functions::revenue::mrr_ledger::RATES_SQL`], planned, when
    /// there is an `fx_rates` table.
    pub rates: Option<LogicalPlan>,
    pub settings: Arc<LedgerSettings>,
}

#[async_trait]
impl TableProvider for LedgerTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    /// A filter on `customer_id` alone is applied to the items as well
    /// (DataFusion applies it again to the ledger's rows), so that
    /// `WHERE customer_id = 7` reads and checks one customer's items, as
    /// the SQL ledger does when DataFusion pushes the filter into it.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(
                |f| match f.column_refs().iter().all(|c| c.name == "customer_id") {
                    true => TableProviderFilterPushDown::Inexact,
                    false => TableProviderFilterPushDown::Unsupported,
                },
            )
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut spans = LogicalPlanBuilder::from(self.spans.clone());
        for filter in filters {
            spans = spans.filter(unnormalize_col(filter.clone()))?;
        }
        let spans = state.create_physical_plan(&spans.build()?).await?;
        let rates = match &self.rates {
            Some(plan) => Some(state.create_physical_plan(plan).await?),
            None => None,
        };
        let exec: Arc<dyn ExecutionPlan> = Arc::new(MrrLedgerExec::try_new(
            spans,
            rates,
            Arc::clone(&self.settings),
            Arc::clone(&self.schema),
        )?);
        let Some(columns) = projection else {
            return Ok(exec);
        };
        let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = columns
            .iter()
            .map(|&i| {
                let name = self.schema.field(i).name().clone();
                (
                    Arc::new(Column::new(&name, i)) as Arc<dyn PhysicalExpr>,
                    name,
                )
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, exec)?))
    }
}

/// The exchange rates: per currency, per month (days since 1970 of its
/// first day), the rate and how many rows the table has for them.
type Rates = HashMap<String, HashMap<i32, (Option<f64>, i64)>>;

/// The rates, read once for all partitions.
type SharedRates =
    Shared<BoxFuture<'static, std::result::Result<Arc<Rates>, Arc<DataFusionError>>>>;

/// See the module documentation.
pub struct MrrLedgerExec {
    spans: Arc<dyn ExecutionPlan>,
    rates: Option<Arc<dyn ExecutionPlan>>,
    settings: Arc<LedgerSettings>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// The rates (or the error reading them), read once by the first
    /// partition that starts and kept while this plan lives (as a hash
    /// join keeps its build side).
    rates_read: Mutex<Option<SharedRates>>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for MrrLedgerExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MrrLedgerExec")
            .field("spans", &self.spans)
            .field("rates", &self.rates)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl MrrLedgerExec {
    fn try_new(
        spans: Arc<dyn ExecutionPlan>,
        rates: Option<Arc<dyn ExecutionPlan>>,
        settings: Arc<LedgerSettings>,
        schema: SchemaRef,
    ) -> Result<Self> {
        let expected = [
            "customer_id",
            "currency",
            "first_m",
            "last_m",
            "as_of",
            "full_mrr",
            "discounted_mrr",
            "discount_end",
        ];
        let schema_in = spans.schema();
        let names: Vec<&str> = schema_in
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        if names != expected {
            return internal_err!("{NAME}: the items' spans have columns {names:?}");
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(spans.output_partitioning().partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            spans,
            rates,
            settings,
            schema,
            properties,
            rates_read: Mutex::new(None),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The customer column of the spans.
    fn customer(&self) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new("customer_id", 0))
    }

    /// The rates, read by the first partition that asks.
    fn rates(&self, context: &Arc<TaskContext>) -> Result<Option<SharedRates>> {
        let Some(plan) = &self.rates else {
            return Ok(None);
        };
        let mut read = self
            .rates_read
            .lock()
            .map_err(|_| DataFusionError::Internal(format!("{NAME}: rates lock poisoned")))?;
        let shared = read.get_or_insert_with(|| {
            let (plan, context) = (Arc::clone(plan), Arc::clone(context));
            async move {
                read_rates(plan, context)
                    .await
                    .map(Arc::new)
                    .map_err(Arc::new)
            }
            .boxed()
            .shared()
        });
        Ok(Some(shared.clone()))
    }
}

/// Reads the `RATES_SQL` rows into [`Rates`].
async fn read_rates(plan: Arc<dyn ExecutionPlan>, context: Arc<TaskContext>) -> Result<Rates> {
    let mut rates = Rates::new();
    for batch in collect(plan, context).await? {
        let currency = cast(batch.column(0), &DataType::Utf8)?;
        let month = cast(batch.column(1), &DataType::Date32)?;
        let rate = cast(batch.column(2), &DataType::Float64)?;
        let n = cast(batch.column(3), &DataType::Int64)?;
        let (currency, month) = (
            currency.as_string::<i32>(),
            month.as_primitive::<Date32Type>(),
        );
        let (rate, n) = (
            rate.as_primitive::<Float64Type>(),
            n.as_primitive::<Int64Type>(),
        );
        for i in 0..batch.num_rows() {
            // A rate without a currency or month matches no item.
            if currency.is_null(i) || month.is_null(i) {
                continue;
            }
            rates
                .entry(currency.value(i).to_string())
                .or_default()
                .insert(
                    month.value(i),
                    (rate.is_valid(i).then(|| rate.value(i)), n.value(i)),
                );
        }
    }
    Ok(rates)
}

impl DisplayAs for MrrLedgerExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MrrLedgerExec: convention={}, currency={}, rates={}",
            self.settings.convention,
            self.settings.currency,
            if self.rates.is_some() {
                "fx_rates"
            } else {
                "none"
            }
        )
    }
}

impl ExecutionPlan for MrrLedgerExec {
    fn name(&self) -> &str {
        "MrrLedgerExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        let mut children = vec![&self.spans];
        children.extend(self.rates.iter());
        children
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.customer())
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        let mut out = vec![Distribution::KeyPartitioned(vec![self.customer()])];
        if self.rates.is_some() {
            out.push(Distribution::UnspecifiedDistribution);
        }
        out
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        let by_customer =
            LexRequirement::new([PhysicalSortRequirement::new(self.customer(), None)])
                .map(OrderingRequirements::new);
        let mut out = vec![by_customer];
        if self.rates.is_some() {
            out.push(None);
        }
        out
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false; self.children().len()]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        let mut out = vec![true];
        if self.rates.is_some() {
            out.push(false);
        }
        out
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != self.children().len() {
            return internal_err!("MrrLedgerExec: {} inputs", children.len());
        }
        let rates = if self.rates.is_some() {
            children.pop()
        } else {
            None
        };
        let Some(spans) = children.pop() else {
            return internal_err!("MrrLedgerExec: no input");
        };
        Ok(Arc::new(Self::try_new(
            spans,
            rates,
            Arc::clone(&self.settings),
            Arc::clone(&self.schema),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let rates = self.rates(&context)?;
        let input = self.spans.execute(partition, Arc::clone(&context))?;
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let ledger = Ledger::new(Arc::clone(&self.settings), Arc::clone(&self.schema));
        let stream = futures::stream::once(async move {
            let rates = match rates {
                Some(shared) => Some(shared.await.map_err(DataFusionError::Shared)?),
                None => None,
            };
            Ok::<_, DataFusionError>(run(input, ledger, rates, metrics))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The ledger's rows of one partition of sorted items.
fn run(
    input: SendableRecordBatchStream,
    ledger: Ledger,
    rates: Option<Arc<Rates>>,
    metrics: BaselineMetrics,
) -> impl futures::Stream<Item = Result<RecordBatch>> + Send {
    futures::stream::try_unfold(
        (Some(input), ledger, rates, metrics),
        |(mut input, mut ledger, rates, metrics)| async move {
            while let Some(items) = input.as_mut() {
                let next = items.next().await;
                let elapsed = metrics.elapsed_compute().clone();
                let timer = elapsed.timer();
                let out = match next {
                    Some(batch) => ledger.push(&batch?, rates.as_deref())?,
                    None => {
                        input = None;
                        ledger.finish()?
                    }
                };
                timer.done();
                if let Some(out) = out {
                    metrics.record_output(out.num_rows());
                    return Ok(Some((out, (input, ledger, rates, metrics))));
                }
            }
            metrics.done();
            Ok(None)
        },
    )
}

/// Month number (years × 12 + month − 1) of days since 1970-01-01.
fn month_number(days: i32) -> i64 {
    let (y, m, _) = civil_from_days(i64::from(days));
    y * 12 + i64::from(m) - 1
}

/// Days since 1970-01-01 of the first day of month number `n`.
fn month_days(n: i64) -> i64 {
    days_from_civil(n.div_euclid(12), (n.rem_euclid(12) + 1) as u32, 1)
}

/// `round(x, 6)` as DataFusion computes it.
fn round6(x: f64) -> f64 {
    let factor = 10_f64.powi(6);
    (x * factor).round() / factor
}

/// One partition's ledger in progress.
struct Ledger {
    settings: Arc<LedgerSettings>,
    schema: SchemaRef,
    /// The customer in progress: its months' sums (NULL until an item
    /// gives the month a value) from month number `first`.
    sums: Vec<Option<f64>>,
    first: i64,
    /// Whether a customer is in progress, and where its key is: the batch
    /// (0: the previous one, 1: this one) and row.
    open: Option<(usize, usize)>,
    /// The previous batch's customer column and this one's.
    keys: [Option<ArrayRef>; 2],
    out: Rows,
}

/// The output rows being built.
struct Rows {
    customer: Vec<(usize, usize)>,
    month: Date32Builder,
    mrr: Float64Builder,
    previous_mrr: Float64Builder,
    movement: StringBuilder,
    new: Float64Builder,
    expansion: Float64Builder,
    contraction: Float64Builder,
    churn: Float64Builder,
    reactivation: Float64Builder,
}

impl Rows {
    fn new() -> Self {
        Self {
            customer: vec![],
            month: Date32Builder::new(),
            mrr: Float64Builder::new(),
            previous_mrr: Float64Builder::new(),
            movement: StringBuilder::new(),
            new: Float64Builder::new(),
            expansion: Float64Builder::new(),
            contraction: Float64Builder::new(),
            churn: Float64Builder::new(),
            reactivation: Float64Builder::new(),
        }
    }
}

/// A batch of items' columns.
struct Items<'a> {
    currency: &'a StringArray,
    first: &'a Date32Array,
    last: &'a Date32Array,
    as_of: &'a Date32Array,
    full: &'a Float64Array,
    discounted: &'a Float64Array,
    discount_end: &'a TimestampMicrosecondArray,
    /// The customers (named in errors).
    customer: &'a ArrayRef,
}

impl Ledger {
    fn new(settings: Arc<LedgerSettings>, schema: SchemaRef) -> Self {
        Self {
            settings,
            schema,
            sums: vec![],
            first: 0,
            open: None,
            keys: [None, None],
            out: Rows::new(),
        }
    }

    /// Adds a batch of items (sorted by customer, continuing the last
    /// batch's order); returns the rows of the customers it completes.
    fn push(&mut self, batch: &RecordBatch, rates: Option<&Rates>) -> Result<Option<RecordBatch>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(None);
        }
        let customer = Arc::clone(batch.column(0));
        self.keys = [self.keys[1].take(), Some(Arc::clone(&customer))];
        if let Some(open) = &mut self.open {
            // The customer in progress has its key in the previous batch now.
            open.0 = 0;
        }
        let currency = cast(batch.column(1), &DataType::Utf8)?;
        let first = cast(batch.column(2), &DataType::Date32)?;
        let last = cast(batch.column(3), &DataType::Date32)?;
        let as_of = cast(batch.column(4), &DataType::Date32)?;
        let full = cast(batch.column(5), &DataType::Float64)?;
        let discounted = cast(batch.column(6), &DataType::Float64)?;
        let discount_end = cast(
            batch.column(7),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?;
        let items = Items {
            currency: currency.as_string::<i32>(),
            first: first.as_primitive(),
            last: last.as_primitive(),
            as_of: as_of.as_primitive(),
            full: full.as_primitive(),
            discounted: discounted.as_primitive(),
            discount_end: discount_end.as_primitive::<TimestampMicrosecondType>(),
            customer: &customer,
        };
        let runs = partition(std::slice::from_ref(&customer))?.ranges();
        for (n, run) in runs.into_iter().enumerate() {
            let continues = n == 0 && self.open.is_some() && self.same_customer(&customer)?;
            if !continues {
                self.close()?;
            }
            self.open = Some((1, run.end - 1));
            for i in run {
                self.add(&items, i, rates)?;
            }
        }
        self.emit()
    }

    /// Whether row 0 of `customer` is the customer in progress (the last
    /// row of the previous batch).
    fn same_customer(&self, customer: &ArrayRef) -> Result<bool> {
        let (Some(previous), Some((0, row))) = (&self.keys[0], self.open) else {
            return Ok(false);
        };
        Ok(
            ScalarValue::try_from_array(previous, row)?
                == ScalarValue::try_from_array(customer, 0)?,
        )
    }

    /// Adds item `i`'s MRR of each of its months to the customer's sums.
    fn add(&mut self, items: &Items, i: usize, rates: Option<&Rates>) -> Result<()> {
        // An item starting after as_of (or without months) has no rows.
        if items.first.is_null(i) || items.as_of.is_null(i) {
            return Ok(());
        }
        let first = month_number(items.first.value(i));
        let as_of = month_number(items.as_of.value(i));
        if first > as_of {
            return Ok(());
        }
        self.cover(first, as_of);
        let last = items
            .last
            .is_valid(i)
            .then(|| month_number(items.last.value(i)));
        let full = items.full.is_valid(i).then(|| items.full.value(i));
        let discounted = items
            .discounted
            .is_valid(i)
            .then(|| items.discounted.value(i));
        let discount_end = items
            .discount_end
            .is_valid(i)
            .then(|| items.discount_end.value(i));
        let domestic = items.currency.value(i) == self.settings.currency;
        for m in first..=as_of {
            let mrr = if last.is_some_and(|l| m <= l) {
                let discount = match self.settings.discounts {
                    Discounts::WhileActive => discount_end.is_none_or(|d| d > self.snapshot(m)),
                    Discounts::ForeverOnly => discount_end.is_none(),
                    Discounts::Never => false,
                };
                if discount { discounted } else { full }
            } else {
                Some(0.0)
            };
            let Some(mrr) = mrr else {
                continue;
            };
            let converted = if mrr == 0.0 {
                0.0
            } else if domestic {
                mrr
            } else {
                self.convert(mrr, m, rates, items, i)?
            };
            let sum = &mut self.sums[(m - self.first) as usize];
            *sum = Some(sum.unwrap_or(0.0) + converted);
        }
        Ok(())
    }

    /// The instant a month is measured at (microseconds since 1970).
    fn snapshot(&self, m: i64) -> i64 {
        match self.settings.snapshot {
            Snapshot::MonthEnd => month_days(m + 1) * MICROS_PER_DAY - 1,
            Snapshot::MonthStart => month_days(m) * MICROS_PER_DAY,
        }
    }

    /// `mrr` of item `i` in month `m`, in the reporting currency.
    fn convert(
        &self,
        mrr: f64,
        m: i64,
        rates: Option<&Rates>,
        items: &Items,
        i: usize,
    ) -> Result<f64> {
        let rep = &self.settings.currency;
        let currency = items.currency.value(i);
        let month = month_days(m) as i32;
        let customer = || -> Result<String> {
            let text = cast(&items.customer.slice(i, 1), &DataType::Utf8)?;
            Ok(text.as_string::<i32>().value(0).to_string())
        };
        let Some(rates) = rates else {
            return exec_err!(
                "{NAME}: {}: customer {} has MRR in {currency}, not the reporting currency {rep} (saasql.reporting_currency), and there is no fx_rates(currency, month, rate) table to convert it",
                self.settings.table,
                customer()?
            );
        };
        match rates.get(currency).and_then(|r| r.get(&month)) {
            Some((_, n)) if *n > 1 => exec_err!(
                "{NAME}: fx_rates has {n} rates for {currency} in {}; keep one per currency and month",
                format_date(month)
            ),
            // Not NaN or infinite either (as the SQL's `rate > 0 AND rate < 1e308`).
            Some((Some(rate), _)) if *rate > 0.0 && *rate < 1e308 => Ok(mrr * rate),
            _ => exec_err!(
                "{NAME}: fx_rates has no rate above 0 for {currency} in {} (needed for customer {}; rate = {rep} per {currency})",
                format_date(month),
                customer()?
            ),
        }
    }

    /// Makes the customer's sums cover months `first` to `as_of`.
    fn cover(&mut self, first: i64, as_of: i64) {
        if self.sums.is_empty() {
            self.first = first;
            self.sums.resize((as_of - first + 1) as usize, None);
            return;
        }
        if first < self.first {
            let more = (self.first - first) as usize;
            self.sums.splice(0..0, std::iter::repeat_n(None, more));
            self.first = first;
        }
        let len = (as_of - self.first + 1) as usize;
        if len > self.sums.len() {
            self.sums.resize(len, None);
        }
    }

    /// Completes the customer in progress: its months from the first paid
    /// one, with their movements.
    fn close(&mut self) -> Result<()> {
        let Some(key) = self.open.take() else {
            return Ok(());
        };
        let mut moves = Moves::default();
        let out = &mut self.out;
        for (k, sum) in self.sums.drain(..).enumerate() {
            let mrr = sum.map(round6);
            let step = moves.step(mrr)?;
            if !step.paid_yet {
                continue;
            }
            let previous = step.previous_mrr;
            let movement = step.movement;
            out.customer.push(key);
            out.month
                .append_value(month_days(self.first + k as i64) as i32);
            out.mrr.append_option(mrr);
            out.previous_mrr.append_value(previous);
            out.movement.append_option(movement);
            let when = |name: &str, v: Option<f64>| {
                if movement == Some(name) { v } else { Some(0.0) }
            };
            out.new.append_option(when("new", mrr));
            out.expansion
                .append_option(when("expansion", mrr.map(|m| round6(m - previous))));
            out.contraction
                .append_option(when("contraction", mrr.map(|m| round6(previous - m))));
            out.churn.append_option(when("churn", Some(previous)));
            out.reactivation.append_option(when("reactivation", mrr));
        }
        Ok(())
    }

    /// Completes the last customer; returns the rows not yet returned.
    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        self.close()?;
        self.emit()
    }

    /// The rows completed so far, as a batch (`None` when there are none).
    fn emit(&mut self) -> Result<Option<RecordBatch>> {
        if self.out.customer.is_empty() {
            return Ok(None);
        }
        let out = std::mem::replace(&mut self.out, Rows::new());
        let Some(current) = &self.keys[1] else {
            return internal_err!("MrrLedgerExec: rows without a batch");
        };
        // Before the second batch, no row refers to a previous one.
        let previous = self.keys[0].as_ref().unwrap_or(current);
        let customer = interleave(&[previous.as_ref(), current.as_ref()], &out.customer)?;
        let mut out = out;
        let columns: Vec<ArrayRef> = vec![
            customer,
            Arc::new(out.month.finish()),
            Arc::new(out.mrr.finish()),
            Arc::new(out.previous_mrr.finish()),
            Arc::new(out.movement.finish()),
            Arc::new(out.new.finish()),
            Arc::new(out.expansion.finish()),
            Arc::new(out.contraction.finish()),
            Arc::new(out.churn.finish()),
            Arc::new(out.reactivation.finish()),
        ];
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c)
                } else {
                    cast(&c, f.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.schema),
            columns,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{SessionConfig, SessionContext};

    use crate::functions::revenue::mrr_ledger::CONVENTIONS;
    use crate::series_window::tests::{plan_and_rows, without_local_rules};

    /// A local context (small batches, three partitions, so that customers
    /// cross batches) and the same without saasql's local rules, which runs
    /// the ledger's whole SQL.
    fn contexts() -> (SessionContext, SessionContext) {
        let config = SessionConfig::new()
            .with_batch_size(3)
            .with_target_partitions(3);
        let ctx = crate::session::context_with(config, Default::default());
        let plain = without_local_rules(&ctx);
        (ctx, plain)
    }

    /// A pseudo-random number below `n`.
    fn next(seed: &mut u64, n: u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 33) % n
    }

    /// An instant in 2023–2024: often exactly a month's first instant or
    /// its last microsecond, where the conventions' snapshots differ.
    fn instant(seed: &mut u64) -> String {
        let (y, m) = (2023 + next(seed, 2), 1 + next(seed, 12));
        match next(seed, 4) {
            0 => format!("CAST('{y}-{m:02}-01 00:00:00' AS TIMESTAMP(6))"),
            1 => {
                format!("CAST('{y}-{m:02}-01 00:00:00' AS TIMESTAMP(6)) - INTERVAL '1 microsecond'")
            }
            _ => format!(
                "CAST('{y}-{m:02}-{:02} {:02}:17:00' AS TIMESTAMP(6))",
                1 + next(seed, 28),
                next(seed, 24)
            ),
        }
    }

    /// `items`: 60 customers' subscription items with every column, in three
    /// currencies; `fx_rates` for EUR and GBP each month of 2022–2027.
    async fn tables(ctx: &SessionContext, customer_type: &str, rates: bool) {
        let mut seed = 11;
        let mut rows = vec![];
        for customer in 0..60 {
            for _ in 0..=next(&mut seed, 3) {
                let start = instant(&mut seed);
                let days = 20 + next(&mut seed, 500);
                let end = format!("{start} + INTERVAL '{days} days'");
                let cancel = instant(&mut seed);
                let days = next(&mut seed, 40);
                let trial = format!("{start} + INTERVAL '{days} days'");
                // Sometimes a placeholder for "never" (past what a
                // nanosecond timestamp holds).
                let discount_end = match next(&mut seed, 5) {
                    0 => "CAST('9999-12-31 00:00:00' AS TIMESTAMP(6))".to_string(),
                    _ => instant(&mut seed),
                };
                // NULL one time in three.
                let mut or_null = |v: String| {
                    if next(&mut seed, 3) == 0 {
                        "NULL".to_string()
                    } else {
                        v
                    }
                };
                let (end, cancel) = (or_null(end), or_null(cancel));
                let (trial, discount_end) = (or_null(trial), or_null(discount_end));
                let mut pick = |values: &[&str]| {
                    values[next(&mut seed, values.len() as u64) as usize].to_string()
                };
                let interval = pick(&["'day'", "'week'", "'month'", "'quarter'", "'year'"]);
                let currency = pick(&["'USD'", "'eur '", "'GBP'", "NULL"]);
                let amount = pick(&["0.0", "9.5", "120.25", "1000.0"]);
                let quantity = pick(&["NULL", "1", "3"]);
                let count = pick(&["NULL", "1", "2"]);
                let percent = pick(&["NULL", "10", "100", "33.3"]);
                let off = pick(&["NULL", "5", "1000"]);
                let metered = pick(&["NULL", "true", "false"]);
                rows.push(format!(
                    "(CAST({customer} AS {customer_type}), 's{customer}', {start}, {end}, {cancel}, \
                     {trial}, {amount}, {quantity}, {currency}, {interval}, {count}, {percent}, \
                     {off}, {discount_end}, {metered})"
                ));
            }
        }
        let names = [
            "customer_id",
            "subscription_id",
            "started_at",
            "ended_at",
            "canceled_at",
            "trial_end",
            "amount",
            "quantity",
            "currency",
            "billing_interval",
            "interval_count",
            "discount_percent",
            "discount_amount",
            "discount_end",
            "metered",
        ];
        let columns: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("column{} AS {n}", i + 1))
            .collect();
        ctx.sql(&format!(
            "CREATE OR REPLACE TABLE items AS SELECT {} FROM (VALUES {})",
            columns.join(", "),
            rows.join(",\n")
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        ctx.sql("DROP TABLE IF EXISTS fx_rates").await.unwrap();
        if rates {
            ctx.sql(
                "CREATE TABLE fx_rates AS SELECT c AS currency, m AS month, \
                 CASE c WHEN 'EUR' THEN 1.07 ELSE 1.26 END + extract(month FROM m) / 100 AS rate \
                 FROM (VALUES ('EUR'), ('GBP')) AS c(c), \
                 unnest(range(DATE '2022-01-01', DATE '2028-01-01', INTERVAL '1 month')) AS t(m)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        }
    }

    /// Both ways give the same ledger under every convention, with and
    /// without as_of, for integer and text customer ids.
    #[tokio::test]
    async fn same_ledger_as_the_sql() {
        let (ctx, plain) = contexts();
        for customer_type in ["BIGINT", "VARCHAR"] {
            tables(&ctx, customer_type, true).await;
            for rules in CONVENTIONS {
                for as_of in ["", ", DATE '2024-05-31'", ", '2022-03-01'"] {
                    let sql = format!(
                        "SELECT * FROM mrr_ledger('items', '{}'{as_of}) ORDER BY customer_id, month",
                        rules.name
                    );
                    let (plan, rows) = plan_and_rows(&ctx, &sql).await;
                    let (plain_plan, expected) = plan_and_rows(&plain, &sql).await;
                    assert!(plan.contains("MrrLedgerExec"), "{plan}");
                    assert!(!plain_plan.contains("MrrLedgerExec"), "{plain_plan}");
                    let (rows, expected) = (rows.unwrap(), expected.unwrap());
                    assert_eq!(rows, expected, "{sql}");
                    if as_of.is_empty() {
                        assert!(rows.lines().count() > 300, "{sql}: {rows}");
                        for movement in ["new", "expansion", "contraction", "churn", "reactivation"]
                        {
                            assert!(
                                rows.contains(&format!("| {movement} ")),
                                "{sql}: {movement}"
                            );
                        }
                    }
                }
                // A projection and a filter over the ledger, as reports have.
                let sql = format!(
                    "SELECT month, round(sum(new_mrr), 6) AS new, round(sum(churn_mrr), 6) AS churn, count(*) AS n \
                     FROM mrr_ledger('items', '{}') WHERE mrr > 0 GROUP BY month ORDER BY month",
                    rules.name
                );
                assert_eq!(
                    plan_and_rows(&ctx, &sql).await.1.unwrap(),
                    plan_and_rows(&plain, &sql).await.1.unwrap()
                );
            }
        }
    }

    /// A filter on the customer reaches the items: another customer's bad
    /// item is not read, as with the SQL.
    #[tokio::test]
    async fn customer_filters_reach_the_items() {
        // The two contexts share their tables.
        let (ctx, plain) = contexts();
        ctx.sql(
            "CREATE TABLE items AS SELECT column1 AS customer_id, column2 AS started_at, \
             column3 AS amount, 'month' AS billing_interval FROM (VALUES \
             (7, TIMESTAMP '2024-01-05', 10.0), (7, TIMESTAMP '2024-03-05', 5.0), \
             (8, TIMESTAMP '2024-01-05', -1.0))",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        let sql = "SELECT l.month, l.mrr, l.movement FROM mrr_ledger('items', 'chartmogul', \
                   '2024-04-01') AS l WHERE l.customer_id = 7 ORDER BY month";
        let (plan, rows) = plan_and_rows(&ctx, sql).await;
        assert!(plan.contains("MrrLedgerExec"), "{plan}");
        let rows = rows.unwrap();
        assert_eq!(rows, plan_and_rows(&plain, sql).await.1.unwrap());
        assert!(rows.contains("| 2024-03-01 | 15.0 | expansion |"), "{rows}");
        let all = "SELECT * FROM mrr_ledger('items')";
        let error = plan_and_rows(&ctx, all)
            .await
            .1
            .unwrap_err()
            .strip_backtrace();
        assert!(error.contains("has amount -1"), "{error}");
    }

    /// The exchange-rate errors are the SQL's, word for word.
    #[tokio::test]
    async fn same_errors_as_the_sql() {
        let (ctx, plain) = contexts();
        let cases = [
            // No rate table.
            (
                "CREATE OR REPLACE TABLE items AS SELECT 7 AS customer_id, TIMESTAMP '2024-01-05' AS started_at, 10.0 AS amount, 'month' AS billing_interval, 'EUR' AS currency",
                None,
            ),
            // A month without a rate.
            (
                "CREATE OR REPLACE TABLE items AS SELECT 'c7' AS customer_id, TIMESTAMP '2024-01-05' AS started_at, 10.0 AS amount, 'month' AS billing_interval, 'EUR' AS currency",
                Some(
                    "CREATE TABLE fx_rates AS VALUES ('EUR', DATE '2023-12-01', 1.1), ('EUR', DATE '2024-03-01', 1.1)",
                ),
            ),
            // Two rates for a month.
            (
                "CREATE OR REPLACE TABLE items AS SELECT 7 AS customer_id, TIMESTAMP '2024-01-05' AS started_at, 10.0 AS amount, 'month' AS billing_interval, 'EUR' AS currency",
                Some(
                    "CREATE TABLE fx_rates AS VALUES ('EUR', DATE '2024-01-01', 1.1), ('EUR', DATE '2024-01-20', 1.2)",
                ),
            ),
            // A rate of 0, and one that is not a number.
            (
                "CREATE OR REPLACE TABLE items AS SELECT 7 AS customer_id, TIMESTAMP '2024-01-05' AS started_at, 10.0 AS amount, 'month' AS billing_interval, 'EUR' AS currency",
                Some("CREATE TABLE fx_rates AS VALUES ('EUR', DATE '2024-01-01', 0.0)"),
            ),
            (
                "CREATE OR REPLACE TABLE items AS SELECT 7 AS customer_id, TIMESTAMP '2024-01-05' AS started_at, 10.0 AS amount, 'month' AS billing_interval, 'EUR' AS currency",
                Some(
                    "CREATE TABLE fx_rates AS VALUES ('EUR', DATE '2024-01-01', CAST('NaN' AS DOUBLE))",
                ),
            ),
        ];
        // One bad month each (with several, either way may name another
        // first).
        for (items, rates) in cases {
            // The two contexts share their tables.
            ctx.sql(items).await.unwrap().collect().await.unwrap();
            ctx.sql("DROP TABLE IF EXISTS fx_rates").await.unwrap();
            if let Some(rates) = rates {
                let rates = rates.replace(
                    "AS VALUES",
                    "AS SELECT column1 AS currency, column2 AS month, column3 AS rate FROM (VALUES",
                ) + ")";
                ctx.sql(&rates).await.unwrap().collect().await.unwrap();
            }
            let sql = "SELECT * FROM mrr_ledger('items', 'chartmogul', '2024-01-01')";
            let (plan, rows) = plan_and_rows(&ctx, sql).await;
            assert!(plan.contains("MrrLedgerExec"), "{plan}");
            let error = rows.unwrap_err().strip_backtrace();
            let expected = plan_and_rows(&plain, sql)
                .await
                .1
                .unwrap_err()
                .strip_backtrace();
            assert_eq!(error, expected, "{items}");
            assert!(error.contains("mrr_ledger: "), "{error}");
        }
    }
}
