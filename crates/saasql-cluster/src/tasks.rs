//! The executors' log lines about the tasks they run.
//!
//! Ballista's executor logs nothing at `info` about a task, so each task
//! created by [`CheckedEngine`](super::CheckedEngine) is wrapped in a
//! [`LoggedTask`]: it logs the task's start (`debug`), its end with the
//! duration and rows written (`info`), and its error (`warn`).

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use ballista_core::JobId;
use ballista_core::serde::protobuf::{
    RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport,
};
use ballista_executor::execution_engine::QueryStageExecutor;
use datafusion::common::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::MetricsSet;

/// A task's stage executor that logs the task's life.
#[derive(Debug)]
pub(crate) struct LoggedTask {
    pub(crate) inner: Arc<dyn QueryStageExecutor>,
    pub(crate) job_id: JobId,
    pub(crate) stage_id: usize,
    pub(crate) partitions: Vec<usize>,
}

impl fmt::Display for LoggedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait]
impl QueryStageExecutor for LoggedTask {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<ShuffleWritePartition>> {
        let (job, stage, partitions) = (&self.job_id, self.stage_id, &self.partitions);
        tracing::debug!(
            "job {job} stage {stage} task {task_id} (partitions {partitions:?}) started"
        );
        let started = Instant::now();
        let result = self.inner.execute_query_stage(task_id, context).await;
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(written) => tracing::info!(
                "job {job} stage {stage} task {task_id} completed in {ms} ms ({} rows written)",
                written.iter().map(|p| p.num_rows).sum::<u64>()
            ),
            Err(e) => tracing::warn!(
                "job {job} stage {stage} task {task_id} failed after {ms} ms: {}",
                e.to_string().trim_end()
            ),
        }
        result
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.inner.collect_plan_metrics()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> Result<Vec<WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}
