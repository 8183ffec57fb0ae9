//! Hash joins build on the GROUP BY side.
//!
//! The typical cohort query joins the raw events to one row per user:
//!
//! ```sql
//! WITH f AS (SELECT user_id, min(event_time) AS first FROM events GROUP BY user_id)
//! SELECT … FROM events e JOIN f USING (user_id) GROUP BY …
//! ```
//!
//! DataFusion 55 builds a hash join's table on its first input unless
//! statistics say the second is smaller, and a GROUP BY's output size is
//! unknown (Parquet files carry no distinct counts): its estimate is its
//! input's row count, so `events` (100 M rows) and `f` (6 M users, estimated
//! 100 M) tie and the table is built on the events: 4.6 GB instead of about
//! 0.5 GB.
//!
//! [`BuildOnAggregate`] runs right after DataFusion's `join_selection` and
//! swaps an inner hash join's inputs when
//!
//! - the probe side is a GROUP BY with at least one grouping expression
//!   (under projections, filters and coalescing only), whose output can
//!   never have more rows than its input,
//! - the build side is not such a GROUP BY, and
//! - the build side's row estimate is at least the GROUP BY's input row
//!   estimate (both known).
//!
//! Then the GROUP BY's output is at most as many rows as the side the table
//! would otherwise hold, so building on it never needs more memory. Only the
//! join's input order changes; its results are the same.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{JoinType, Result};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct BuildOnAggregate;

impl PhysicalOptimizerRule for BuildOnAggregate {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !config.optimizer.join_reordering {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if *join.join_type() != JoinType::Inner || grouped_input_rows(join.left()).is_some() {
                return Ok(Transformed::no(node));
            }
            let Some(grouped_input) = grouped_input_rows(join.right()) else {
                return Ok(Transformed::no(node));
            };
            let build = rows(join.left())?;
            match build {
                Some(rows) if rows >= grouped_input => {
                    Ok(Transformed::yes(join.swap_inputs(*join.partition_mode())?))
                }
                _ => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "build_on_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// When `plan` is a GROUP BY (under projections, filters, repartitions and
/// coalescing), the row estimate of its input.
fn grouped_input_rows(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let mut node = plan;
    loop {
        if let Some(agg) = node.downcast_ref::<AggregateExec>() {
            if agg.group_expr().is_empty() || agg.group_expr().groups().len() > 1 {
                return None;
            }
            // A final aggregate's input is its partial one (possibly
            // repartitioned), whose input is the rows grouped.
            let mut input = agg.input();
            if matches!(
                agg.mode(),
                AggregateMode::Final | AggregateMode::FinalPartitioned
            ) {
                loop {
                    if let Some(partial) = input.downcast_ref::<AggregateExec>() {
                        input = partial.input();
                        break;
                    }
                    input = single_child(input)?;
                }
            }
            return rows(input).ok()?;
        }
        node = single_child(node)?;
    }
}

/// A plan's row estimate, if there is one.
fn rows(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<usize>> {
    let stats = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new())?;
    Ok(stats.num_rows.get_value().copied())
}

/// The input of a node that keeps or drops rows but never adds any.
fn single_child(node: &Arc<dyn ExecutionPlan>) -> Option<&Arc<dyn ExecutionPlan>> {
    let passes = node.downcast_ref::<ProjectionExec>().is_some()
        || node.downcast_ref::<FilterExec>().is_some()
        || node.downcast_ref::<RepartitionExec>().is_some()
        || node.downcast_ref::<CoalescePartitionsExec>().is_some();
    if !passes {
        return None;
    }
    node.children().into_iter().next()
}

/// A physical optimizer rule list.
pub type PhysicalRules = Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>;

/// DataFusion's physical optimizer rules with [`BuildOnAggregate`] right
/// after `join_selection`.
pub fn physical_rules() -> PhysicalRules {
    with_build_on_aggregate(
        &datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules,
    )
}

/// `rules` with [`BuildOnAggregate`] right after `join_selection` (and
/// before the rules that add repartitions and dynamic filters, which a
/// swap must precede).
pub fn with_build_on_aggregate(
    rules: &[Arc<dyn PhysicalOptimizerRule + Send + Sync>],
) -> PhysicalRules {
    let mut out = vec![];
    for rule in rules {
        out.push(Arc::clone(rule));
        if rule.name() == "join_selection" {
            out.push(Arc::new(BuildOnAggregate) as Arc<dyn PhysicalOptimizerRule + Send + Sync>);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionContext;

    /// `big(k, v)`: 1,000 rows, keys 0..50 and NULL every 7th row;
    /// `dim(k)`: keys 0..10 with 3 duplicated.
    fn register(ctx: &SessionContext) {
        let table = |columns: Vec<(&str, Vec<Option<i64>>)>| {
            let schema = Arc::new(Schema::new(
                columns
                    .iter()
                    .map(|(n, _)| Field::new(*n, DataType::Int64, true))
                    .collect::<Vec<_>>(),
            ));
            let arrays = columns
                .into_iter()
                .map(|(_, v)| Arc::new(Int64Array::from(v)) as _)
                .collect();
            let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
            Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())
        };
        let k = (0..1000)
            .map(|i| (i % 7 != 0).then_some(i % 50))
            .collect::<Vec<_>>();
        let v = (0..1000).map(Some).collect::<Vec<_>>();
        ctx.register_table("big", table(vec![("k", k), ("v", v)]))
            .unwrap();
        let dim = (0..10).chain([3]).map(Some).collect::<Vec<_>>();
        ctx.register_table("dim", table(vec![("k", dim)])).unwrap();
    }

    /// The tables as Parquet files (exact row counts, as exports have;
    /// in memory, DataFusion's own estimates already pick the smaller
    /// side), registered in `ctx`.
    async fn register_parquet(ctx: &SessionContext) {
        let dir = std::env::temp_dir().join(format!("saasql-join-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let memory = SessionContext::new();
        register(&memory);
        for name in ["big", "dim"] {
            let path = dir.join(format!("{name}.parquet"));
            let path = path.to_str().unwrap();
            if !std::path::Path::new(path).exists() {
                memory
                    .sql(&format!("COPY {name} TO '{path}' STORED AS PARQUET"))
                    .await
                    .unwrap()
                    .collect()
                    .await
                    .unwrap();
            }
            ctx.register_parquet(name, path, Default::default())
                .await
                .unwrap();
        }
    }

    async fn plan_and_rows(ctx: &SessionContext, sql: &str) -> (String, String) {
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let text = displayable(plan.as_ref()).indent(false).to_string();
        let rows = pretty_format_batches(&df.collect().await.unwrap())
            .unwrap()
            .to_string();
        (text, rows)
    }

    /// The first input of the first hash join: "aggregate" when it is a
    /// GROUP BY, else "scan".
    fn build_side(plan: &str) -> &'static str {
        let mut lines = plan.lines().skip_while(|l| !l.contains("HashJoinExec"));
        lines.next().expect("a hash join");
        for line in lines {
            let node = line.trim_start();
            if [
                "CoalescePartitionsExec",
                "ProjectionExec",
                "RepartitionExec",
                "FilterExec",
            ]
            .iter()
            .any(|n| node.starts_with(n))
            {
                continue;
            }
            return if node.starts_with("AggregateExec") {
                "aggregate"
            } else {
                "scan"
            };
        }
        "scan"
    }

    #[tokio::test]
    async fn joins_build_on_a_group_by_with_the_same_results() {
        let saasql = crate::context();
        register_parquet(&saasql).await;
        let plain = SessionContext::new();
        register_parquet(&plain).await;
        let cases = [
            // The cohort shape: rows joined to one row per key, NULL keys,
            // a filter, and a grouping after the join.
            (
                "SELECT f.n, count(*) AS c, sum(b.v) AS s FROM big b JOIN \
                 (SELECT k, count(*) AS n FROM big GROUP BY k) f ON b.k = f.k \
                 WHERE f.n > 17 GROUP BY f.n ORDER BY 1",
                "aggregate",
            ),
            // A filter on the rows side makes its estimate smaller than the
            // GROUP BY's input: left as DataFusion planned it (the rule
            // only swaps when the estimates prove it no worse).
            (
                "SELECT f.n, count(*) AS c, sum(b.v) AS s FROM big b JOIN \
                 (SELECT k, count(*) AS n FROM big GROUP BY k) f ON b.k = f.k \
                 WHERE b.v > 10 GROUP BY f.n ORDER BY 1",
                "scan",
            ),
            // The GROUP BY over the small table is not smaller than the big
            // side's input: unchanged.
            (
                "SELECT count(*) AS c, sum(b.v) AS s FROM (SELECT k FROM dim GROUP BY k) d \
                 JOIN big b ON b.k = d.k",
                "aggregate",
            ),
            // The dimension (duplicated key) is smaller than the GROUP BY's
            // input: the table stays on it.
            (
                "SELECT count(*) AS c, sum(g.n) AS s FROM dim d JOIN \
                 (SELECT k, count(*) AS n FROM big GROUP BY k) g ON d.k = g.k",
                "scan",
            ),
        ];
        for (sql, side) in cases {
            let (plan, rows) = plan_and_rows(&saasql, sql).await;
            assert_eq!(build_side(&plan), side, "{sql}\n{plan}");
            let (_, expected) = plan_and_rows(&plain, sql).await;
            assert_eq!(rows, expected, "{sql}");
        }
        // Outer joins are left to DataFusion: the same plan as without the
        // rule, and the same rows.
        for sql in [
            "SELECT count(*) AS c, count(f.n) AS m FROM big b LEFT JOIN \
             (SELECT k, count(*) AS n FROM big GROUP BY k) f ON b.k = f.k",
            "SELECT count(*) AS c, count(b.v) AS m FROM big b RIGHT JOIN \
             (SELECT k, count(*) AS n FROM big GROUP BY k) f ON b.k = f.k",
            "SELECT count(*) AS c FROM big b FULL JOIN \
             (SELECT k, count(*) AS n FROM big GROUP BY k) f ON b.k = f.k",
        ] {
            let (plan, rows) = plan_and_rows(&saasql, sql).await;
            let (expected_plan, expected) = plan_and_rows(&plain, sql).await;
            assert_eq!(plan, expected_plan, "{sql}");
            assert_eq!(rows, expected, "{sql}");
        }
    }
}
