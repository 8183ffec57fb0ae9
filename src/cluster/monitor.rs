//! The scheduler's own log lines about the cluster's life.
//!
//! Ballista logs each job's submission, success or failure, but not which
//! executors joined (a pull-staged executor joins by asking for work, which
//! Ballista logs only at `trace`), nor stages, nor durations. [`watch`]
//! follows the scheduler state's event streams and logs, at `info`: an
//! executor registered or removed; a job running, each of its stages
//! running and completed (with their duration) or failed, and the job
//! completed or failed with its duration.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ballista_core::serde::protobuf::job_status::Status;
use ballista_scheduler::cluster::{ClusterStateEvent, JobStateEvent};
use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::execution_graph::ExecutionGraph;
use ballista_scheduler::state::execution_stage::ExecutionStage;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use futures::StreamExt;

type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// A stage's state as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StageState {
    Waiting,
    Running,
    Completed,
    Failed,
}

/// What has been logged of a job so far.
#[derive(Debug)]
struct JobLog {
    running: bool,
    stages: HashMap<usize, (StageState, Instant)>,
}

/// Logs the cluster's events until the scheduler's streams end.
pub(crate) async fn watch(scheduler: Scheduler) {
    let executors = watch_executors(scheduler.clone());
    let jobs = watch_jobs(scheduler);
    futures::join!(executors, jobs);
}

async fn watch_executors(scheduler: Scheduler) {
    let manager = &scheduler.state.executor_manager;
    let Ok(mut events) = manager.cluster_state_events().await else {
        tracing::warn!("cannot follow executor registrations");
        return;
    };
    while let Some(event) = events.next().await {
        match event {
            ClusterStateEvent::RegisteredExecutor { executor_id } => {
                match manager.get_executor_metadata(&executor_id).await {
                    Ok(meta) => tracing::info!(
                        "executor {executor_id} registered: {}:{}, {} task slots",
                        meta.host,
                        meta.port,
                        meta.specification.vcores
                    ),
                    Err(_) => tracing::info!("executor {executor_id} registered"),
                }
            }
            ClusterStateEvent::RemovedExecutor { executor_id } => {
                tracing::info!("executor {executor_id} removed");
            }
        }
    }
}

async fn watch_jobs(scheduler: Scheduler) {
    let tasks = &scheduler.state.task_manager;
    let Ok(mut events) = tasks.job_state_events().await else {
        tracing::warn!("cannot follow jobs");
        return;
    };
    let mut jobs: HashMap<String, JobLog> = HashMap::new();
    while let Some(event) = events.next().await {
        let JobStateEvent::JobUpdated { job_id, status } = event else {
            continue;
        };
        let key = job_id.to_string();
        let log = jobs.entry(key.clone()).or_insert_with(|| JobLog {
            running: false,
            stages: HashMap::new(),
        });
        // The stages, while the job is active.
        let graph = tasks
            .get_running_job_cache()
            .get(&job_id)
            .map(|cache| Arc::clone(&cache.execution_graph));
        if let Some(graph) = graph {
            let graph = graph.read().await;
            let mut ids: Vec<usize> = graph.stages().keys().copied().collect();
            ids.sort_unstable();
            for id in ids {
                let stage = &graph.stages()[&id];
                let (state, detail) = match stage {
                    ExecutionStage::UnResolved(_) | ExecutionStage::Resolved(_) => {
                        (StageState::Waiting, String::new())
                    }
                    ExecutionStage::Running(s) => (
                        StageState::Running,
                        format!("{} tasks", s.partitions),
                    ),
                    ExecutionStage::Successful(_) => (StageState::Completed, String::new()),
                    ExecutionStage::Failed(s) => (StageState::Failed, s.error_message.clone()),
                };
                stage_changed(&key, id, state, &detail, log);
            }
        }
        match status.status {
            Some(Status::Running(_)) if !log.running => {
                log.running = true;
                tracing::info!("job {key} running");
            }
            Some(Status::Successful(done)) => {
                finish_stages(&key, log, StageState::Completed);
                tracing::info!(
                    "job {key} completed in {} ms",
                    done.ended_at.saturating_sub(done.queued_at)
                );
                jobs.remove(&key);
            }
            Some(Status::Failed(failed)) => {
                finish_stages(&key, log, StageState::Failed);
                tracing::warn!(
                    "job {key} failed after {} ms: {}",
                    failed.ended_at.saturating_sub(failed.queued_at),
                    failed.error
                );
                jobs.remove(&key);
            }
            _ => {}
        }
    }
}

/// Logs a stage's move to `state`, if it moved.
fn stage_changed(job: &str, id: usize, state: StageState, detail: &str, log: &mut JobLog) {
    let now = Instant::now();
    let since = match log.stages.get(&id) {
        Some(&(old, _)) if old == state => return,
        Some(&(StageState::Running, since)) => since,
        _ => now,
    };
    log.stages.insert(id, (state, now));
    match state {
        StageState::Waiting => {}
        StageState::Running => tracing::info!("job {job} stage {id} running ({detail})"),
        StageState::Completed => tracing::info!(
            "job {job} stage {id} completed in {} ms",
            since.elapsed().as_millis()
        ),
        StageState::Failed => tracing::warn!(
            "job {job} stage {id} failed after {} ms: {detail}",
            since.elapsed().as_millis()
        ),
    }
}

/// At the job's end, logs the stages still seen running as ended `state`.
fn finish_stages(job: &str, log: &mut JobLog, state: StageState) {
    let mut running: Vec<usize> = log
        .stages
        .iter()
        .filter(|(_, (s, _))| *s == StageState::Running)
        .map(|(id, _)| *id)
        .collect();
    running.sort_unstable();
    for id in running {
        let detail = if state == StageState::Failed {
            "the job failed"
        } else {
            ""
        };
        stage_changed(job, id, state, detail, log);
    }
}
