//! Served queries stop when they are cancelled or their client goes away.
//!
//! Dropping a query's stream drops the tasks DataFusion spawned for it, and
//! dropping a task aborts it, but a tokio task stops only when it next
//! yields. An operator that makes many batches out of few (a cross join
//! makes one per row of its other side) can keep a task in one poll, and a
//! core busy, for the rest of the query. So every edge of a served plan
//! takes a unit of tokio's task budget per batch ([`make_cooperative`], as
//! DataFusion's own sources do): each task yields at least every 128
//! batches, and the tasks of a dropped query end there.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, Statistics};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::analyze::AnalyzeExec;
use datafusion::physical_plan::coop::make_cooperative;
use datafusion::physical_plan::execution_plan::{
    CardinalityEffect, ChildrenPropertiesMode, ReplaceChildrenOptions,
    replace_children_if_necessary,
};
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream, StatisticsArgs,
};

/// `plan` with a [`YieldExec`] above every node. `EXPLAIN ANALYZE` plans,
/// which print the plan they ran, are left as they are.
pub fn yielding(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.exists(|node| Ok(node.is::<AnalyzeExec>()))? {
        return Ok(plan);
    }
    let plan = plan
        .transform_up(|node| {
            if node.children().is_empty() {
                return Ok(Transformed::no(node));
            }
            let children = node
                .children()
                .into_iter()
                .map(|child| Arc::new(YieldExec::new(Arc::clone(child))) as Arc<dyn ExecutionPlan>)
                .collect();
            replace_children_if_necessary(node, children).map(Transformed::yes)
        })?
        .data;
    Ok(Arc::new(YieldExec::new(plan)))
}

/// Passes its input's batches through, taking a unit of the task's budget
/// for each. Invisible to the plan around it: same properties (so parents
/// keep theirs) and downcasts see the input.
#[derive(Debug)]
pub struct YieldExec {
    input: Arc<dyn ExecutionPlan>,
}

impl YieldExec {
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self { input }
    }
}

impl DisplayAs for YieldExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("YieldExec")
    }
}

impl ExecutionPlan for YieldExec {
    fn name(&self) -> &str {
        "YieldExec"
    }

    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.input.as_ref())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.len() {
            1 => Ok(Arc::new(Self::new(children.swap_remove(0)))),
            n => datafusion::common::internal_err!("YieldExec has one child, not {n}"),
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
        Ok(make_cooperative(self.input.execute(partition, context)?))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::clone(&input_stats[0]))
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::compute::concat_batches;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn every_node_yields_and_results_are_unchanged() {
        let ctx = SessionContext::new();
        let sql = "SELECT a.value % 3 AS k, count(*) AS n \
                   FROM generate_series(1, 300) a CROSS JOIN generate_series(1, 200) b \
                   GROUP BY k ORDER BY k";
        let plan = || async {
            ctx.sql(sql)
                .await
                .unwrap()
                .create_physical_plan()
                .await
                .unwrap()
        };
        let nodes = |p: &Arc<dyn ExecutionPlan>| {
            let mut n = 0;
            p.apply(|_| {
                n += 1;
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
            n
        };
        let (plain, wrapped) = (plan().await, yielding(plan().await).unwrap());
        assert_eq!(nodes(&wrapped), 2 * nodes(&plain));
        let text = displayable(wrapped.as_ref()).indent(false).to_string();
        assert!(text.starts_with("YieldExec\n"), "{text}");
        let rows = |plan: Arc<dyn ExecutionPlan>| {
            let task = ctx.task_ctx();
            async move {
                let schema = plan.schema();
                let batches = datafusion::physical_plan::collect(plan, task)
                    .await
                    .unwrap();
                concat_batches(&schema, &batches).unwrap()
            }
        };
        assert_eq!(rows(wrapped).await, rows(plain).await);

        let analyze = ctx
            .sql(&format!("EXPLAIN ANALYZE {sql}"))
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        assert!(Arc::ptr_eq(
            &yielding(Arc::clone(&analyze)).unwrap(),
            &analyze
        ));
    }
}
