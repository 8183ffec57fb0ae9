//! `metric_anomaly` and the MRR ledger's movements stream through their
//! series.
//!
//! DataFusion runs a window function that cannot work row by row in
//! `WindowAggExec`, which collects its whole input before it computes
//! anything: at one series per customer that is every row of the query in
//! memory at once (4 GiB for 14 M customer-days), outside the memory pool,
//! plus one small output array per series. Its bounded alternative,
//! `BoundedWindowAggExec`, asks for one `ScalarValue` per row, which for a
//! struct result costs more than the whole function.
//!
//! `metric_anomaly` needs neither: its input arrives sorted by series and
//! bucket (the sort below the window spills when it must), each row depends
//! only on earlier rows of its series, and its state is at most `training`
//! values per season. [`StreamingWindows`], a physical rule that runs
//! last (before the sanity check), puts a [`SeriesWindowExec`] where a
//! window operator computes only `metric_anomaly` calls (or the ledger's,
//! below) over one PARTITION BY. It reads a batch, finds where the series change, judges each run of
//! rows with the series' history, and passes the batch on with the
//! verdicts appended: the same rows, columns and order as `WindowAggExec`,
//! with memory for one batch and one series' history.
//!
//! The MRR ledger's movement columns (`__saasql_mrr_ledger_moves`, see
//! [`crate::functions::revenue::mrr_ledger_moves`]) run the same way. That
//! function is computed row by row in DataFusion's `BoundedWindowAggExec`,
//! whose bookkeeping per PARTITION BY value costs about a microsecond per
//! customer-month (3.5 s of the ledger's 7.8 s at a million customers); the
//! rule replaces that operator too when its input is sorted by the
//! PARTITION BY (mode `Sorted`), which is what the ledger's plan has.
//!
//! Any other window (mixed with other window functions, or on a cluster,
//! whose executors only know DataFusion's operators) keeps DataFusion's
//! operator and gives the same answers.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, Statistics, internal_err};
use datafusion::config::ConfigOptions;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::OrderingRequirements;
use datafusion::physical_expr::window::{StandardWindowExpr, WindowExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::InputOrderMode;
use datafusion::physical_plan::execution_plan::{
    CardinalityEffect, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec, WindowUDFExpr};
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, Distribution, ExecutionPlan,
    InputDistributionRequirements, PhysicalExpr, PlanProperties, StatisticsArgs,
};
use futures::{Stream, StreamExt};

use crate::functions::monitoring::metric_anomaly::{
    Chunk, MetricAnomaly, Series, Settings, Verdicts,
};
use crate::functions::revenue::mrr_ledger_moves::{LedgerMoves, Moves, MovesBuilder};

/// The name of [`StreamingWindows`] in a session's list of rules.
pub const RULE_NAME: &str = "saasql_streaming_windows";

/// See the module documentation.
#[derive(Debug, Default)]
pub struct StreamingWindows;

impl PhysicalOptimizerRule for StreamingWindows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some((window_expr, input)) = window_parts(&node) else {
                return Ok(Transformed::no(node));
            };
            match SeriesWindowExec::try_new(Arc::clone(&node), window_expr, input)? {
                Some(exec) => Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>)),
                None => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        RULE_NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `rules` with [`StreamingWindows`] before the sanity check (so that it
/// checks the new operator's input order too), or last.
pub fn with_streaming_windows(
    rules: Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>,
) -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let rule = Arc::new(StreamingWindows) as Arc<dyn PhysicalOptimizerRule + Send + Sync>;
    let mut out = Vec::with_capacity(rules.len() + 1);
    let mut placed = false;
    for r in rules {
        if !placed && r.name() == "SanityCheckPlan" {
            out.push(Arc::clone(&rule));
            placed = true;
        }
        out.push(r);
    }
    if !placed {
        out.push(rule);
    }
    out
}

/// The window expressions and input of a window operator that reads its
/// input sorted by PARTITION BY: every `WindowAggExec`, and a
/// `BoundedWindowAggExec` in `Sorted` mode.
fn window_parts(node: &Arc<dyn ExecutionPlan>) -> Option<WindowParts<'_>> {
    if let Some(w) = node.downcast_ref::<WindowAggExec>() {
        return Some((w.window_expr(), w.input()));
    }
    let w = node.downcast_ref::<BoundedWindowAggExec>()?;
    matches!(w.input_order_mode, InputOrderMode::Sorted).then(|| (w.window_expr(), w.input()))
}

/// A window operator's expressions and input.
type WindowParts<'a> = (&'a [Arc<dyn WindowExpr>], &'a Arc<dyn ExecutionPlan>);

/// One call of a function that streams: its arguments, and which function.
#[derive(Debug, Clone)]
struct Call {
    args: Vec<Arc<dyn PhysicalExpr>>,
    kind: Kind,
    name: String,
}

/// The functions that stream.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `metric_anomaly(value, bucket_time, …)`.
    Anomaly(Settings),
    /// `__saasql_mrr_ledger_moves(mrr)`.
    LedgerMoves,
}

/// A call's state in one stream: the series in progress and the batch's
/// output being built.
enum Runner {
    Anomaly {
        settings: Settings,
        series: Series,
        chunk: Option<Chunk>,
        out: Box<Verdicts>,
    },
    LedgerMoves {
        moves: Moves,
        mrr: Option<ArrayRef>,
        out: MovesBuilder,
    },
}

impl Runner {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Anomaly(settings) => Self::Anomaly {
                settings,
                series: Series::default(),
                chunk: None,
                out: Box::new(Verdicts::with_capacity(0)),
            },
            Kind::LedgerMoves => Self::LedgerMoves {
                moves: Moves::default(),
                mrr: None,
                out: MovesBuilder::with_capacity(0),
            },
        }
    }

    /// Reads the next batch's arguments.
    fn batch(&mut self, args: &[ArrayRef], rows: usize) -> Result<()> {
        match self {
            Self::Anomaly { chunk, out, .. } => {
                *chunk = Some(Chunk::new(&args[0], &args[1])?);
                **out = Verdicts::with_capacity(rows);
            }
            Self::LedgerMoves { mrr, out, .. } => {
                *mrr = Some(cast(&args[0], &DataType::Float64)?);
                *out = MovesBuilder::with_capacity(rows);
            }
        }
        Ok(())
    }

    /// Starts the next series.
    fn reset(&mut self) {
        match self {
            Self::Anomaly { series, .. } => series.reset(),
            Self::LedgerMoves { moves, .. } => moves.reset(),
        }
    }

    /// Computes `rows` of the batch: the next rows of the series.
    fn run(&mut self, rows: std::ops::Range<usize>) -> Result<()> {
        match self {
            Self::Anomaly {
                settings,
                series,
                chunk: Some(chunk),
                out,
            } => series.judge(settings, chunk, rows, out),
            Self::LedgerMoves {
                moves,
                mrr: Some(mrr),
                out,
            } => moves.run(mrr, rows, out),
            _ => internal_err!("SeriesWindowExec: rows before their batch"),
        }
    }

    /// The batch's output column.
    fn finish(&mut self) -> Result<ArrayRef> {
        match self {
            Self::Anomaly { out, .. } => out.finish(),
            Self::LedgerMoves { out, .. } => out.finish(),
        }
    }
}

/// Computes the `metric_anomaly` (or ledger movement) calls of a window
/// operator batch by batch (see the module documentation).
#[derive(Debug)]
pub struct SeriesWindowExec {
    /// The operator this one stands in for: it keeps the schema, the
    /// properties and the input requirements.
    window: Arc<dyn ExecutionPlan>,
    input: Arc<dyn ExecutionPlan>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    calls: Vec<Call>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl SeriesWindowExec {
    /// The stand-in for the window operator `node` (its window expressions
    /// `exprs`, its `input`), or `None` when one of them is not a function
    /// that streams or they differ in PARTITION BY.
    fn try_new(
        node: Arc<dyn ExecutionPlan>,
        exprs: &[Arc<dyn WindowExpr>],
        input: &Arc<dyn ExecutionPlan>,
    ) -> Result<Option<Self>> {
        let Some(first) = exprs.first() else {
            return Ok(None);
        };
        let partition_by = first.partition_by().to_vec();
        let mut calls = vec![];
        for expr in exprs {
            let Some(call) = streaming_call(expr)? else {
                return Ok(None);
            };
            if expr.partition_by() != partition_by.as_slice() {
                return Ok(None);
            }
            calls.push(call);
        }
        let properties = Arc::new(
            node.properties()
                .as_ref()
                .clone()
                .with_emission_type(EmissionType::Incremental),
        );
        Ok(Some(Self {
            input: Arc::clone(input),
            window: node,
            partition_by,
            calls,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }
}

/// The call of a window expression, when it is a function that streams.
fn streaming_call(expr: &Arc<dyn WindowExpr>) -> Result<Option<Call>> {
    let Some(standard) = expr.as_any().downcast_ref::<StandardWindowExpr>() else {
        return Ok(None);
    };
    let Some(udwf) = standard
        .get_standard_func_expr()
        .as_any()
        .downcast_ref::<WindowUDFExpr>()
    else {
        return Ok(None);
    };
    let inner = udwf.fun().inner();
    let args = udwf.args();
    let kind = if inner.downcast_ref::<MetricAnomaly>().is_some() && args.len() >= 2 {
        Kind::Anomaly(Settings::of(args)?)
    } else if inner.downcast_ref::<LedgerMoves>().is_some() && args.len() == 1 {
        Kind::LedgerMoves
    } else {
        return Ok(None);
    };
    let used = match kind {
        Kind::Anomaly(_) => 2,
        Kind::LedgerMoves => 1,
    };
    Ok(Some(Call {
        args: args[..used].to_vec(),
        kind,
        name: expr.name().to_string(),
    }))
}

impl DisplayAs for SeriesWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.calls.iter().map(|c| c.name.as_str()).collect();
        write!(f, "SeriesWindowExec: wdw=[{}]", names.join(", "))
    }
}

impl ExecutionPlan for SeriesWindowExec {
    fn name(&self) -> &str {
        "SeriesWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.window.apply_expressions(f)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.window.required_input_ordering()
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        self.input_distribution_requirements().into_per_child()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.window.input_distribution_requirements()
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let node = Arc::clone(&self.window).replace_children(children, options)?;
        let Some((exprs, input)) = window_parts(&node) else {
            return Ok(node);
        };
        match Self::try_new(Arc::clone(&node), exprs, input)? {
            Some(exec) => Ok(Arc::new(exec)),
            None => Ok(node),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        Ok(Box::pin(SeriesStream {
            schema: self.window.schema(),
            input,
            partition_by: self.partition_by.clone(),
            calls: self.calls.clone(),
            runners: self.calls.iter().map(|c| Runner::new(c.kind)).collect(),
            last_key: None,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        }))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        self.window.child_stats_requests(partition)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        self.window.statistics_from_inputs(input_stats, args)
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }
}

/// The rows of one input partition, judged batch by batch.
struct SeriesStream {
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    calls: Vec<Call>,
    /// Each call's state: the series in progress.
    runners: Vec<Runner>,
    /// The PARTITION BY values of the last row seen.
    last_key: Option<Vec<ScalarValue>>,
    metrics: BaselineMetrics,
}

impl SeriesStream {
    fn judge(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        if rows == 0 {
            // Nothing to judge, and the series in progress goes on.
            let mut columns = batch.columns().to_vec();
            for call in &self.calls {
                columns.push(match call.kind {
                    Kind::Anomaly(_) => Verdicts::with_capacity(0).finish()?,
                    Kind::LedgerMoves => MovesBuilder::with_capacity(0).finish()?,
                });
            }
            return Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?);
        }
        let keys = self
            .partition_by
            .iter()
            .map(|e| e.evaluate(&batch)?.into_array(rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let runs = if keys.is_empty() {
            std::iter::once(0..rows).collect()
        } else {
            partition(&keys)?.ranges()
        };
        for (call, runner) in self.calls.iter().zip(&mut self.runners) {
            let args = call
                .args
                .iter()
                .map(|a| a.evaluate(&batch)?.into_array(rows))
                .collect::<Result<Vec<ArrayRef>>>()?;
            runner.batch(&args, rows)?;
        }
        for (n, run) in runs.into_iter().enumerate() {
            // The first run continues the last batch's series when their
            // keys are the same; every other run starts a series.
            let continues = n == 0 && self.last_key.as_ref() == Some(&key_at(&keys, 0)?);
            for runner in &mut self.runners {
                if !continues {
                    runner.reset();
                }
                runner.run(run.clone())?;
            }
        }
        self.last_key = Some(key_at(&keys, rows - 1)?);
        let mut columns = batch.columns().to_vec();
        for runner in &mut self.runners {
            columns.push(runner.finish()?);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

/// The PARTITION BY values of row `i`.
fn key_at(keys: &[ArrayRef], i: usize) -> Result<Vec<ScalarValue>> {
    keys.iter()
        .map(|k| ScalarValue::try_from_array(k, i))
        .collect()
}

impl Stream for SeriesStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.input.poll_next_unpin(cx);
        let result = match polled {
            Poll::Ready(Some(Ok(batch))) => {
                let elapsed = self.metrics.elapsed_compute().clone();
                let timer = elapsed.timer();
                let judged = self.judge(batch);
                timer.done();
                Poll::Ready(Some(judged))
            }
            other => other,
        };
        self.metrics.record_poll(result)
    }
}

impl RecordBatchStream for SeriesStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, Float64Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// `t(k, day, v)`: 40 series of 0 to 39 days (series 7 has a NULL key),
    /// values from a fixed pseudo-random walk with a NULL every 11th row,
    /// in batches of 5 rows, so that series cross batches and batches hold
    /// several series; rows shuffled across two input partitions.
    fn table() -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("day", DataType::Date32, false),
            Field::new("v", DataType::Float64, true),
        ]));
        let (mut k, mut day, mut v) = (vec![], vec![], vec![]);
        let mut seed = 7u64;
        for series in 0..40i64 {
            for d in 0..series {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                k.push((series != 7).then_some(series));
                day.push(20_000 + d as i32);
                let spike = if seed.is_multiple_of(13) { 40.0 } else { 0.0 };
                v.push((!k.len().is_multiple_of(11)).then_some((seed >> 40) as f64 % 10.0 + spike));
            }
        }
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(k)),
                Arc::new(Date32Array::from(day)),
                Arc::new(Float64Array::from(v)),
            ],
        )
        .unwrap();
        let chunks: Vec<RecordBatch> = (0..batch.num_rows())
            .step_by(5)
            .map(|i| batch.slice(i, 5.min(batch.num_rows() - i)))
            .collect();
        let (a, b): (Vec<_>, Vec<_>) = chunks
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 3 == 0);
        let unzip =
            |p: Vec<(usize, RecordBatch)>| p.into_iter().map(|(_, b)| b).collect::<Vec<_>>();
        Arc::new(MemTable::try_new(schema, vec![unzip(a), unzip(b)]).unwrap())
    }

    /// saasql's context (small batches, 3 partitions), and the same
    /// without [`StreamingWindows`].
    fn contexts() -> (SessionContext, SessionContext) {
        let config = SessionConfig::new()
            .with_batch_size(4)
            .with_target_partitions(3);
        let ctx = crate::session::context_with(config, Default::default());
        ctx.register_table("t", table()).unwrap();
        let plain = without_local_rules(&ctx);
        (ctx, plain)
    }

    /// `ctx` without saasql's local physical rules (sharing its tables):
    /// what a cluster's plan is made of.
    pub(crate) fn without_local_rules(ctx: &SessionContext) -> SessionContext {
        let state = ctx.state();
        let rules = state
            .physical_optimizers()
            .iter()
            .filter(|r| r.name() != RULE_NAME)
            .cloned()
            .collect();
        SessionContext::new_with_state(
            SessionStateBuilder::new_from_existing(state)
                .with_physical_optimizer_rules(rules)
                .build(),
        )
    }

    /// The physical plan of `sql` as text, and its rows (or error).
    pub(crate) async fn plan_and_rows(ctx: &SessionContext, sql: &str) -> (String, Result<String>) {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        let rows = df
            .collect()
            .await
            .map(|b| pretty_format_batches(&b).unwrap().to_string());
        (text, rows)
    }

    #[tokio::test]
    async fn streams_with_the_same_results() {
        let (ctx, plain) = contexts();
        for sql in [
            // Two calls over one PARTITION BY, seasonal and not.
            "SELECT k, day, metric_anomaly(v, day, 3, 1.5, 'day_of_week') OVER w AS a, \
             metric_anomaly(v, day, 5, 2) OVER w AS b FROM t \
             WINDOW w AS (PARTITION BY k ORDER BY day) ORDER BY k NULLS FIRST, day",
            // One series (no PARTITION BY): one day per row.
            "SELECT day, metric_anomaly(v, day, 4, 1) OVER (ORDER BY day) AS a \
             FROM t WHERE k = 39 ORDER BY day",
            // An aggregate over the verdicts, as reports do.
            "SELECT count(*) FILTER (WHERE a['anomalous']) AS n, count(a['expected']) AS judged, \
             round(sum(a['zscore']), 6) AS z FROM (SELECT metric_anomaly(v, day, 3, 1.2) \
             OVER (PARTITION BY k ORDER BY day) AS a FROM t)",
        ] {
            let (plan, rows) = plan_and_rows(&ctx, sql).await;
            let (plain_plan, expected) = plan_and_rows(&plain, sql).await;
            assert!(plan.contains("SeriesWindowExec"), "{plan}");
            assert!(!plain_plan.contains("SeriesWindowExec"), "{plain_plan}");
            let (rows, expected) = (rows.unwrap(), expected.unwrap());
            assert_eq!(rows, expected, "{sql}");
            assert!(rows.lines().count() >= 5, "{rows}");
        }
        // A judged count that depends on the series boundaries: with
        // training 3, series of n rows judge n − 3 − (NULLs) rows each.
        let (_, rows) = plan_and_rows(
            &ctx,
            "SELECT count(a['expected']) AS judged FROM (SELECT metric_anomaly(v, day, 3, 1) \
             OVER (PARTITION BY k ORDER BY day) AS a FROM t)",
        )
        .await;
        let (_, expected) = plan_and_rows(
            &plain,
            "SELECT count(a['expected']) AS judged FROM (SELECT metric_anomaly(v, day, 3, 1) \
             OVER (PARTITION BY k ORDER BY day) AS a FROM t)",
        )
        .await;
        assert_eq!(rows.unwrap(), expected.unwrap());
    }

    /// The ledger's movement columns: streamed where DataFusion would run
    /// them row by row in `BoundedWindowAggExec`, with the same rows.
    #[tokio::test]
    async fn ledger_moves_stream_with_the_same_results() {
        let (ctx, plain) = contexts();
        for sql in [
            "SELECT k, day, __saasql_mrr_ledger_moves(v) OVER (PARTITION BY k ORDER BY day) AS m \
             FROM t ORDER BY k NULLS FIRST, day",
            "SELECT m['movement'] AS movement, count(*) AS n, sum(m['previous_mrr']) AS previous, \
             count(*) FILTER (WHERE m['paid_yet']) AS paid FROM (SELECT \
             __saasql_mrr_ledger_moves(v % 4) OVER (PARTITION BY k ORDER BY day) AS m FROM t) \
             GROUP BY 1 ORDER BY 1 NULLS FIRST",
        ] {
            let (plan, rows) = plan_and_rows(&ctx, sql).await;
            let (plain_plan, expected) = plan_and_rows(&plain, sql).await;
            assert!(plan.contains("SeriesWindowExec"), "{plan}");
            assert!(plain_plan.contains("BoundedWindowAggExec"), "{plain_plan}");
            let (rows, expected) = (rows.unwrap(), expected.unwrap());
            assert_eq!(rows, expected, "{sql}");
            assert!(rows.lines().count() >= 10, "{rows}");
        }
    }

    #[tokio::test]
    async fn other_windows_keep_datafusions_operator() {
        let (ctx, _) = contexts();
        let sql = "SELECT metric_anomaly(v, day, 3, 2) OVER w AS a, row_number() OVER w AS r \
                   FROM t WINDOW w AS (PARTITION BY k ORDER BY day)";
        let (plan, rows) = plan_and_rows(&ctx, sql).await;
        assert!(!plan.contains("SeriesWindowExec"), "{plan}");
        assert!(rows.is_ok());
    }

    #[tokio::test]
    async fn errors_as_before() {
        let (ctx, plain) = contexts();
        // Two rows of one bucket in a series (days repeat without k).
        let sql = "SELECT metric_anomaly(v, day, 3, 2) OVER (ORDER BY day) FROM t";
        let (plan, rows) = plan_and_rows(&ctx, sql).await;
        assert!(plan.contains("SeriesWindowExec"), "{plan}");
        let (_, expected) = plan_and_rows(&plain, sql).await;
        let error = rows.unwrap_err().to_string();
        assert!(error.contains("is not after the previous row's"), "{error}");
        assert_eq!(error, expected.unwrap_err().to_string());
    }
}
