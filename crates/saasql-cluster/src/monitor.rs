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
use ballista_scheduler::cluster::{ClusterStateEvent, JobState, JobStateEvent};
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
pub(crate) async fn watch(scheduler: Scheduler, jobs_state: Arc<dyn JobState>) {
    let executors = watch_executors(scheduler.clone());
    let jobs = watch_jobs(scheduler, jobs_state);
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

async fn watch_jobs(scheduler: Scheduler, jobs_state: Arc<dyn JobState>) {
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
        if matches!(status.status, Some(Status::Running(_))) && !log.running {
            log.running = true;
            tracing::info!("job {key} running");
        }
        // The stages: of the active graph while the job runs, of the
        // stored one when it has ended.
        let finished = matches!(
            status.status,
            Some(Status::Successful(_) | Status::Failed(_))
        );
        if finished {
            if let Ok(Some(graph)) = jobs_state.get_execution_graph(&job_id).await {
                observe(&key, &*graph, log);
            }
        } else {
            let graph = tasks
                .get_running_job_cache()
                .get(&job_id)
                .map(|cache| Arc::clone(&cache.execution_graph));
            if let Some(graph) = graph {
                let graph = graph.read().await;
                observe(&key, &**graph, log);
            }
        }
        match status.status {
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
                    failed.error.trim_end()
                );
                jobs.remove(&key);
            }
            _ => {}
        }
    }
}

/// Logs the moves of `graph`'s stages since the last look.
fn observe(job: &str, graph: &dyn ExecutionGraph, log: &mut JobLog) {
    let mut ids: Vec<usize> = graph.stages().keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let (state, detail, took) = match &graph.stages()[&id] {
            ExecutionStage::UnResolved(_) | ExecutionStage::Resolved(_) => {
                (StageState::Waiting, String::new(), None)
            }
            ExecutionStage::Running(s) => {
                (StageState::Running, format!("{} tasks", s.partitions), None)
            }
            ExecutionStage::Successful(s) => {
                // From the first task's start to the last one's end, as
                // the executors measured them.
                let start = s.task_infos.iter().map(|t| t.start_exec_time).min();
                let end = s.task_infos.iter().map(|t| t.end_exec_time).max();
                let took = match (start, end) {
                    (Some(start), Some(end)) if start > 0 && end >= start => Some(end - start),
                    _ => None,
                };
                (StageState::Completed, String::new(), took)
            }
            ExecutionStage::Failed(s) => (StageState::Failed, s.error_message.clone(), None),
        };
        stage_changed(job, id, state, &detail, took, log);
    }
}

/// Logs a stage's move to `state`, if it moved; `took` is its run time in
/// milliseconds when known (else the time since it was seen running).
fn stage_changed(
    job: &str,
    id: usize,
    state: StageState,
    detail: &str,
    took: Option<u128>,
    log: &mut JobLog,
) {
    let now = Instant::now();
    let since = match log.stages.get(&id) {
        Some(&(old, _)) if old == state => return,
        Some(&(StageState::Running, since)) => since,
        _ => now,
    };
    log.stages.insert(id, (state, now));
    let took = took.unwrap_or_else(|| since.elapsed().as_millis());
    match state {
        StageState::Waiting => {}
        StageState::Running => tracing::info!("job {job} stage {id} running ({detail})"),
        StageState::Completed => tracing::info!("job {job} stage {id} completed in {took} ms"),
        StageState::Failed => {
            tracing::warn!("job {job} stage {id} failed after {took} ms: {detail}")
        }
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
        stage_changed(job, id, state, detail, None, log);
    }
}
