//! The client side of a cluster query: it must not wait forever.
//!
//! A Ballista job that no executor can run stays queued, and Ballista's
//! client polls its status without a limit. So every plan that runs on the
//! cluster is wrapped in a [`WatchedExec`]: while the job runs, the client
//! asks the scheduler twice a second whether a live executor is registered
//! (the scheduler's `/readyz`, which answers 200 only when one has sent a
//! heartbeat within 12 s; executors send one at least every 5 s, also while
//! busy). When the scheduler has had no live executor, or has not answered,
//! for the whole [`ClientOptions::executor_wait`], the query fails with that
//! cause (naming the executor it lost, if any) and its job is cancelled. A
//! job that live executors are working on is never cut short.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::utils::create_grpc_client_endpoint;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::{Future, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::auth::{REFUSED, Token};

/// How long a client waits for an executor unless told otherwise.
pub const DEFAULT_EXECUTOR_WAIT: Duration = Duration::from_secs(60);

/// How often the client asks the scheduler whether an executor is there.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// How long one question to the scheduler may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How a client session talks to the cluster.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// A query fails when the scheduler has had no live executor, or has not
    /// answered, for this long while the query waits.
    pub executor_wait: Duration,
    /// The cluster's shared secret, sent with every request.
    pub token: Option<Token>,
    /// Object-storage options for the client's own reads (schemas, listings);
    /// the scheduler and executors use their own environment.
    pub storage: saasql_common::storage::StorageConfig,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            executor_wait: DEFAULT_EXECUTOR_WAIT,
            token: None,
            storage: saasql_common::storage::StorageConfig::default(),
        }
    }
}

/// Where the scheduler is and how to reach it.
#[derive(Debug, Clone)]
pub(crate) struct Scheduler {
    /// As the user wrote it (`df://host:port`), for messages.
    url: String,
    host: String,
    port: u16,
    options: ClientOptions,
}

impl Scheduler {
    pub(crate) fn new(url: &str, options: ClientOptions) -> Result<Self> {
        let rest = url.strip_prefix("df://").unwrap_or(url);
        let rest = rest.trim_end_matches('/');
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err(DataFusionError::Configuration(format!(
                "{url}: expected df://HOST:PORT"
            )));
        };
        let port = port.parse().map_err(|_| {
            DataFusionError::Configuration(format!("{url}: '{port}' is not a port number"))
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Self {
            url: url.to_string(),
            host: host.to_string(),
            port,
            options,
        })
    }

    /// Asks the scheduler's `/readyz` whether a live executor is registered:
    /// `Ok(Ok(()))` for 200, `Ok(Err(cause))` for another answer, with the
    /// scheduler's cause (`no executor registered`, or the executor it lost).
    async fn executor_ready(&self) -> std::io::Result<Result<(), String>> {
        let probe = async {
            let mut stream =
                tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
            let agent = match &self.options.token {
                Some(token) => format!("User-Agent: {}\r\n", token.user_agent()),
                None => String::new(),
            };
            let request = format!(
                "GET /readyz HTTP/1.1\r\nHost: {}\r\n{agent}Connection: close\r\n\r\n",
                self.host
            );
            stream.write_all(request.as_bytes()).await?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await?;
            let response = String::from_utf8_lossy(&response);
            let lower = response.to_ascii_lowercase();
            // A refused token comes back as a gRPC status in the headers.
            if lower.contains("grpc-status: 16") {
                return Err(std::io::Error::other(REFUSED));
            }
            if lower.starts_with("http/1.1 200 ") {
                return Ok(Ok(()));
            }
            let cause = response
                .lines()
                .find_map(|line| line.strip_prefix("not ready: "))
                .unwrap_or("no executor registered");
            Ok(Err(cause.trim().to_string()))
        };
        tokio::time::timeout(PROBE_TIMEOUT, probe)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }

    /// Whether the scheduler refuses the token (or its absence), by one
    /// readiness probe.
    pub(crate) async fn refuses_token(&self) -> bool {
        matches!(self.executor_ready().await, Err(e) if e.to_string() == REFUSED)
    }

    /// Returns when the scheduler has had no live executor, or has not
    /// answered, for the whole wait; the error says which.
    async fn watch(self) -> DataFusionError {
        let wait = self.options.executor_wait;
        let mut last_ready = Instant::now();
        loop {
            tokio::time::sleep(PROBE_INTERVAL.min(wait)).await;
            let cause = match self.executor_ready().await {
                Ok(Ok(())) => {
                    last_ready = Instant::now();
                    continue;
                }
                Ok(Err(cause)) => cause,
                Err(e) => format!("the scheduler did not answer ({e})"),
            };
            if last_ready.elapsed() >= wait {
                let wait = wait.as_secs();
                let url = &self.url;
                return DataFusionError::Execution(if cause.starts_with("executor ") {
                    format!("cluster {url}: {cause}, and no other executor came within {wait} s")
                } else {
                    format!("cluster {url}: {cause} within {wait} s")
                });
            }
        }
    }

    /// Cancels `job_id` on the scheduler; failures are ignored (the query
    /// has already failed).
    async fn cancel(&self, job_id: String) {
        let url = format!("http://{}:{}", self.host, self.port);
        let Ok(endpoint) = create_grpc_client_endpoint(url, None) else {
            return;
        };
        let endpoint = match &self.options.token {
            Some(token) => match token.endpoint(endpoint) {
                Ok(endpoint) => endpoint,
                Err(_) => return,
            },
            None => endpoint,
        };
        let cancel = async {
            let channel = endpoint.connect().await.ok()?;
            SchedulerGrpcClient::new(channel)
                .cancel_job(CancelJobParams { job_id })
                .await
                .ok()
        };
        let _ = tokio::time::timeout(PROBE_TIMEOUT, cancel).await;
    }
}

/// Ballista's query planner, with every plan that runs on the cluster
/// wrapped in a [`WatchedExec`].
#[derive(Debug)]
pub(crate) struct WatchedPlanner {
    pub(crate) inner: Arc<dyn QueryPlanner + Send + Sync>,
    pub(crate) scheduler: Scheduler,
}

#[async_trait]
impl QueryPlanner for WatchedPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self
            .inner
            .create_physical_plan(logical_plan, session)
            .await?;
        let mut remote = false;
        plan.apply(|node| {
            remote |= node.is::<DistributedQueryExec<LogicalPlanNode>>();
            Ok(if remote {
                TreeNodeRecursion::Stop
            } else {
                TreeNodeRecursion::Continue
            })
        })?;
        if !remote {
            return Ok(plan);
        }
        Ok(Arc::new(WatchedExec {
            input: plan,
            scheduler: self.scheduler.clone(),
        }))
    }
}

/// A plan that runs on the cluster, failing when no executor is there to
/// run it (see the module documentation).
#[derive(Debug, Clone)]
pub struct WatchedExec {
    input: Arc<dyn ExecutionPlan>,
    scheduler: Scheduler,
}

impl DisplayAs for WatchedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClusterWatchExec: executor_wait={}s",
            self.scheduler.options.executor_wait.as_secs()
        )
    }
}

impl ExecutionPlan for WatchedExec {
    fn name(&self) -> &str {
        "ClusterWatchExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
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

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "ClusterWatchExec takes one child, got {}",
                children.len()
            )));
        }
        Ok(Arc::new(WatchedExec {
            input: children.swap_remove(0),
            scheduler: self.scheduler.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let scheduler = self.scheduler.clone();
        let plan = Arc::clone(&self.input);
        let giving_up = Arc::new(AtomicBool::new(false));
        let decided = Arc::clone(&giving_up);
        let watchdog = async move {
            let error = scheduler.clone().watch().await;
            // From here on the job's own end ("Cancelled", by the request
            // below) is not the cause: the watchdog's error is.
            decided.store(true, Ordering::Release);
            if let Some(job_id) = job_id(&plan) {
                scheduler.cancel(job_id).await;
            }
            error
        };
        Ok(Box::pin(WatchedStream {
            url: self.scheduler.url.clone(),
            schema: self.input.schema(),
            input,
            watchdog: Some(Box::pin(watchdog)),
            giving_up,
            failed: false,
        }))
    }
}

/// The scheduler's id of the job that runs `plan`, once it has one.
fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let mut id = None;
    let _ = plan.apply(|node| {
        if let Some(query) = node.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>() {
            id = query.job_id().map(|id| id.as_str().to_string());
        }
        Ok(if id.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    id
}

/// Ballista reports a task's error inside several layers of its own
/// (`Job … failed: Job failed due to stage 1 failed: … Task failed due to
/// runtime execution error: DataFusionError(Execution("nps: score 12 is
/// outside 0..10"))`). The executor's message is shown instead, as the same
/// execution error a local run shows; the saasql executors' own refusals as
/// `cluster URL: executor: …`.
fn tidy(url: &str, error: DataFusionError) -> DataFusionError {
    let text = error.to_string();
    if text.contains(REFUSED) {
        return DataFusionError::Execution(format!("cluster {url}: {REFUSED}"));
    }
    let address = url
        .strip_prefix("df://")
        .unwrap_or(url)
        .trim_end_matches('/');
    if let Some(problem) = connection_problem(&text, address) {
        return DataFusionError::Execution(format!("cluster {url}: {problem}"));
    }
    // The scheduler decodes plans with protobuf's nesting limit (100
    // levels, about 50 plan nodes deep).
    if text.contains("RecursionLimitReached") {
        return DataFusionError::Execution(format!(
            "cluster {url}: the query's plan nests too deep for the scheduler to read (more than \
             about 50 operators inside one another); run it without --cluster, or write it with \
             fewer nested subqueries (a CTE read twice is inlined twice)"
        ));
    }
    match executor_message(&text) {
        Some(message) if message.starts_with("executor: ") => {
            DataFusionError::Execution(format!("cluster {url}: {message}"))
        }
        Some(message) => DataFusionError::Execution(message),
        None => error,
    }
}

/// What went wrong with the connection to the scheduler at `address`, when
/// `text` (a Ballista client error, which passes tonic's errors on in their
/// `Debug` form) says the scheduler could not be reached or went away.
fn connection_problem(text: &str, address: &str) -> Option<String> {
    // A task's error reported by the scheduler is not the client's
    // connection.
    if text.contains("Job failed due to") || text.contains("Error planning job") {
        return None;
    }
    let connect = text.contains("ConnectError") || text.contains("tcp connect error");
    // Results come from the executors' Flight ports: Ballista names the
    // executor it could not reach ("… executor at http://HOST:PORT: …").
    let executor = text
        .find("executor at ")
        .map(|i| &text[i + "executor at ".len()..])
        .and_then(|rest| rest.split(": ").next())
        .map(|a| {
            a.trim_start_matches("http://")
                .trim_start_matches("https://")
        });
    let port = address.rsplit(':').next().unwrap_or(address);
    if connect && (executor.is_some() || !text.contains(&format!(":{port}"))) {
        return Some(match executor {
            Some(at) => format!("cannot reach the executor at {at} (its Flight port)"),
            None => "a connection failed; the scheduler answered, so it was to an executor or \
                     to storage"
                .to_string(),
        });
    }
    if connect {
        let cause = [
            ("ConnectionRefused", "connection refused"),
            ("TimedOut", "timed out"),
            ("HostUnreachable", "host unreachable"),
            ("NetworkUnreachable", "network unreachable"),
            ("dns error", "unknown host"),
        ]
        .into_iter()
        .find(|(marker, _)| text.contains(marker))
        .map_or("connection failed", |(_, cause)| cause);
        return Some(format!("cannot reach the scheduler at {address}: {cause}"));
    }
    let lost = [
        "h2 protocol error",
        "transport error",
        "connection reset",
        "ConnectionReset",
        "BrokenPipe",
        "broken pipe",
        "Unavailable",
    ];
    lost.iter()
        .any(|marker| text.contains(marker))
        .then(|| format!("lost the connection to the scheduler at {address}"))
}

/// The innermost `Execution("…")` message in a Ballista job error, with the
/// `Debug` escapes undone.
fn executor_message(text: &str) -> Option<String> {
    const MARKER: &str = "Execution(\"";
    let start = text.rfind(MARKER)? + MARKER.len();
    let mut message = String::new();
    let mut chars = text[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(message),
            '\\' => match chars.next()? {
                'n' => message.push('\n'),
                't' => message.push('\t'),
                other => message.push(other),
            },
            c => message.push(c),
        }
    }
    None
}

type Watchdog = Pin<Box<dyn Future<Output = DataFusionError> + Send>>;

/// The cluster's result stream, raced against the watchdog until the first
/// batch arrives (Ballista sends results only once the job has finished).
struct WatchedStream {
    url: String,
    schema: SchemaRef,
    input: SendableRecordBatchStream,
    watchdog: Option<Watchdog>,
    /// Set by the watchdog once it has given up on the job: the input is
    /// not read any more, and the watchdog's error is the answer.
    giving_up: Arc<AtomicBool>,
    failed: bool,
}

impl Stream for WatchedStream {
    type Item = Result<RecordBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if !this.giving_up.load(Ordering::Acquire)
            && let Poll::Ready(item) = this.input.as_mut().poll_next(cx)
        {
            this.watchdog = None;
            return Poll::Ready(item.map(|item| item.map_err(|e| tidy(&this.url, e))));
        }
        if let Some(watchdog) = this.watchdog.as_mut()
            && let Poll::Ready(error) = watchdog.as_mut().poll(cx)
        {
            this.watchdog = None;
            this.failed = true;
            return Poll::Ready(Some(Err(error)));
        }
        Poll::Pending
    }
}

impl RecordBatchStream for WatchedStream {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_messages_are_unwrapped() {
        let url = "df://127.0.0.1:50050";
        let job = |inner: &str| {
            DataFusionError::Execution(format!(
                "Job abc failed: Job failed due to stage 1 failed: Task failed due to runtime \
                 execution error: DataFusionError(Execution({inner:?}))\n"
            ))
        };
        let deep = DataFusionError::Execution(
            "Status { code: InvalidArgument, message: \"Could not parse plan: DataFusion error: \
             failed to decode logical plan: DecodeError { description: RecursionLimitReached, \
             stack: [] }\" }"
                .to_string(),
        );
        assert!(
            tidy(url, deep)
                .to_string()
                .contains("the query's plan nests too deep for the scheduler to read")
        );
        assert_eq!(
            tidy(url, job("nps: score 12 is outside 0..10")).to_string(),
            "Execution error: nps: score 12 is outside 0..10"
        );
        assert_eq!(
            tidy(url, job("executor: writing \"x\" is not allowed")).to_string(),
            "Execution error: cluster df://127.0.0.1:50050: executor: writing \"x\" is not allowed"
        );
        let refused = DataFusionError::Execution(
            "tonic::transport::Error(Transport, ConnectError(ConnectError(\"tcp connect error\", \
             127.0.0.1:50050, Os { code: 111, kind: ConnectionRefused, message: \"Connection \
             refused\" })))"
                .to_string(),
        );
        assert_eq!(
            tidy(url, refused).to_string(),
            "Execution error: cluster df://127.0.0.1:50050: cannot reach the scheduler at \
             127.0.0.1:50050: connection refused"
        );
        let executor = DataFusionError::Execution(
            "Error connecting to Ballista scheduler or executor at http://10.0.0.7:50051: \
             tonic::transport::Error(Transport, ConnectError(ConnectError(\"tcp connect \
             error\", 10.0.0.7:50051, Os { code: 111, kind: ConnectionRefused })))"
                .to_string(),
        );
        assert_eq!(
            tidy(url, executor).to_string(),
            "Execution error: cluster df://127.0.0.1:50050: cannot reach the executor at \
             10.0.0.7:50051 (its Flight port)"
        );
        let lost = DataFusionError::Execution(
            "Status { code: Unknown, message: \"h2 protocol error: error reading a body from \
             connection\", source: None }"
                .to_string(),
        );
        assert_eq!(
            tidy(url, lost).to_string(),
            "Execution error: cluster df://127.0.0.1:50050: lost the connection to the \
             scheduler at 127.0.0.1:50050"
        );
        let other = DataFusionError::Execution("Job abc failed: lost".to_string());
        assert_eq!(
            tidy(url, other).to_string(),
            "Execution error: Job abc failed: lost"
        );
    }
}
