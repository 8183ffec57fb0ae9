//! The scheduler's and executors' servers, with the cluster token checked
//! on every request.
//!
//! Ballista 55's `start_server` offers no hook for server-side interceptors,
//! so the scheduler's server is assembled here from Ballista's parts (the
//! same gRPC service and `/readyz`, no REST API or Flight proxy, which
//! saasql does not use), behind a [`TokenCheck`]. The executors' Arrow
//! Flight server is Ballista's Flight service behind the same check,
//! through `ExecutorProcessConfig::override_arrow_flight_service`. The
//! executors' gRPC server has no such hook, so saasql runs the cluster
//! pull-staged: executors ask the scheduler for tasks and have no gRPC
//! server at all.
//!
//! Ballista's Flight service builds a shuffle file's path from the job id
//! in the request (`WORK_DIR/JOB_ID/STAGE/PARTITION/data.arrow`) without
//! checking it, so a job id such as `/home/x` or `../..` would serve files
//! from anywhere on the machine. [`WorkDirFlight`] checks every request
//! first and serves only files inside the work folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, PollInfo,
    SchemaResult, Ticket,
};
use axum::http::StatusCode;
use ballista_core::error::BallistaError;
use ballista_core::execution_plans::create_shuffle_path;
use ballista_core::execution_plans::range_shuffle::index_path as range_index_path;
use ballista_core::execution_plans::sort_shuffle::get_index_path;
use ballista_core::serde::decode_protobuf;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_core::serde::scheduler::{Action as BallistaAction, ShuffleLayout};
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_executor::ArrowFlightServerProvider;
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::shutdown::Shutdown;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::common::{DataFusionError, Result};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tonic::service::interceptor::InterceptedService;
use tonic::service::{InterceptorLayer, RoutesBuilder};
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Token, TokenCheck};
use super::paths;

/// The largest gRPC message the executors' Flight service sends or accepts
/// (Ballista's default).
const MAX_FLIGHT_MESSAGE: usize = 16 * 1024 * 1024;

/// Serves `scheduler`'s gRPC service and `/readyz` on `listener` until the
/// process ends; with a token, only to requests that carry it.
pub(crate) async fn serve_scheduler(
    listener: tokio::net::TcpListener,
    scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    token: Option<Token>,
) -> Result<()> {
    let config = Arc::clone(&scheduler.state.config);
    let grpc = SchedulerGrpcServer::new(scheduler.clone())
        .max_encoding_message_size(config.grpc_server_max_encoding_message_size as usize)
        .max_decoding_message_size(config.grpc_server_max_decoding_message_size as usize);
    // The executor last found lost, remembered after Ballista removes it.
    let lost: LastLost = Arc::default();
    let mut routes = RoutesBuilder::default();
    routes.add_service(grpc);
    let router = routes
        .routes()
        .into_axum_router()
        .route(
            "/readyz",
            axum::routing::get(move || {
                let scheduler = scheduler.clone();
                let lost = Arc::clone(&lost);
                async move {
                    match readiness(&scheduler, &lost).await {
                        Ok(()) => (
                            StatusCode::OK,
                            "ready: an executor is registered\n".to_string(),
                        ),
                        Err(cause) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {cause}\n"),
                        ),
                    }
                }
            }),
        )
        .layer(InterceptorLayer::new(TokenCheck::new(token)));
    // Ballista's handlers read the peer address (an executor's host).
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))
}

/// How long an executor may go without a heartbeat before it counts as
/// lost. Executors ask for work at least every 5 s, and each request is a
/// heartbeat, so this is two missed ones.
pub(crate) const EXECUTOR_LOST_AFTER: u64 = 12;

/// Whether the cluster can run a query: an executor is registered and was
/// heard from within [`EXECUTOR_LOST_AFTER`] seconds. Otherwise the cause:
/// the executor last heard from (its id and address) or that none is
/// registered.
async fn readiness(
    scheduler: &SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    last_lost: &LastLost,
) -> Result<(), String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let executors = scheduler
        .state
        .executor_manager
        .get_executors_state()
        .await
        .unwrap_or_default();
    // (seconds since its last heartbeat, who) of the latest lost executor
    let mut lost: Option<(u64, String)> = None;
    for (executor, seen, _) in executors {
        let age = seen.map_or(u64::MAX, |t| now.saturating_sub(t.as_secs()));
        if age < EXECUTOR_LOST_AFTER {
            if scheduler.is_ready() {
                return Ok(());
            }
            continue;
        }
        if lost.as_ref().is_none_or(|(a, _)| age < *a) {
            lost = Some((
                age,
                format!(
                    "executor {} at {}:{}",
                    executor.id, executor.host, executor.port
                ),
            ));
        }
    }
    let mut remembered = last_lost.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((age, who)) = &lost
        && *age != u64::MAX
    {
        *remembered = Some((now.saturating_sub(*age), who.clone()));
    }
    // Ballista removes a lost executor after 20 s; it is named for a while
    // after that.
    let lost = lost.or_else(|| {
        remembered
            .as_ref()
            .map(|(seen, who)| (now.saturating_sub(*seen), who.clone()))
            .filter(|(age, _)| *age < FORGET_LOST_AFTER)
    });
    Err(match lost {
        Some((age, who)) if age != u64::MAX => {
            format!("{who} was lost (no heartbeat for {age} s)")
        }
        Some((_, who)) => format!("{who} has sent no heartbeat"),
        None => "no executor registered".to_string(),
    })
}

/// The executor last found lost: when it was last heard from (seconds since
/// the epoch) and who it was.
type LastLost = Arc<std::sync::Mutex<Option<(u64, String)>>>;

/// How long a lost executor is still named in `/readyz`'s answer.
const FORGET_LOST_AFTER: u64 = 600;

/// The executors' Arrow Flight server (results and shuffle data): Ballista's
/// Flight service, serving only files inside the work folder
/// ([`WorkDirFlight`]); with a token, only to requests that carry it.
pub(crate) fn flight_server(token: Option<Token>) -> Arc<ArrowFlightServerProvider> {
    Arc::new(
        move |work_dir: String,
              address: SocketAddr,
              mut shutdown: Shutdown,
              config: GrpcServerConfig| {
            let check = TokenCheck::new(token.clone());
            tokio::spawn(async move {
                let flight = FlightServiceServer::new(WorkDirFlight::new(work_dir))
                    .max_decoding_message_size(MAX_FLIGHT_MESSAGE)
                    .max_encoding_message_size(MAX_FLIGHT_MESSAGE);
                create_grpc_server(&config)
                    .add_service(InterceptedService::new(flight, check))
                    .serve_with_shutdown(address, shutdown.recv())
                    .await
                    .map_err(BallistaError::TonicError)
            })
        },
    )
}

/// Ballista's Flight service, refusing (`PERMISSION_DENIED`) every fetch
/// whose job id is not a plain name or whose files lie outside the work
/// folder, after resolving symlinks. Other requests pass unchanged.
#[derive(Clone)]
pub(crate) struct WorkDirFlight {
    inner: BallistaFlightService,
    work_dir: PathBuf,
}

impl std::fmt::Debug for WorkDirFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkDirFlight")
            .field("work_dir", &self.work_dir)
            .finish_non_exhaustive()
    }
}

impl WorkDirFlight {
    pub(crate) fn new(work_dir: String) -> Self {
        Self {
            work_dir: PathBuf::from(&work_dir),
            inner: BallistaFlightService::new(work_dir),
        }
    }

    /// Refuses `message` (a `do_get` ticket or a `do_action` body) if it is
    /// a fetch that reads outside the work folder. A message that does not
    /// decode passes: Ballista's service refuses it too, before reading.
    fn check(&self, message: &[u8]) -> Result<(), Status> {
        let (job_id, stage_id, partition_id, file_id, layout) = match decode_protobuf(message) {
            Ok(BallistaAction::FetchPartition {
                job_id,
                stage_id,
                partition_id,
                file_id,
                layout,
                ..
            }) => (job_id, stage_id, partition_id, file_id, layout),
            Err(_) => return Ok(()),
        };
        let refuse = || {
            Status::permission_denied(format!(
                "job id {:?}: this executor serves only shuffle files inside its work folder",
                job_id.as_str()
            ))
        };
        if !is_plain_name(job_id.as_str()) {
            return Err(refuse());
        }
        let work_dir = std::fs::canonicalize(&self.work_dir).map_err(|e| {
            Status::internal(format!("work folder {}: {e}", self.work_dir.display()))
        })?;
        let Ok(data) = create_shuffle_path(
            &work_dir,
            &job_id,
            stage_id,
            partition_id,
            file_id,
            matches!(layout, ShuffleLayout::Sort),
        ) else {
            // Ballista's service reports the bad request itself.
            return Ok(());
        };
        // The data file and the index files Ballista may read beside it.
        for path in [get_index_path(&data), range_index_path(&data), data] {
            if !inside(&path, &work_dir) {
                return Err(refuse());
            }
        }
        Ok(())
    }
}

/// Whether `name` is a plain file name: not empty, only ASCII letters,
/// digits, `_` and `-` (Ballista's job ids are such names).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `path`, resolved as far as it exists, lies inside `dir`
/// (resolved).
fn inside(path: &Path, dir: &Path) -> bool {
    paths::resolve(path).is_ok_and(|real| real.starts_with(dir) && real != dir)
}

#[async_trait::async_trait]
impl FlightService for WorkDirFlight {
    type HandshakeStream = <BallistaFlightService as FlightService>::HandshakeStream;
    type ListFlightsStream = <BallistaFlightService as FlightService>::ListFlightsStream;
    type DoGetStream = <BallistaFlightService as FlightService>::DoGetStream;
    type DoPutStream = <BallistaFlightService as FlightService>::DoPutStream;
    type DoExchangeStream = <BallistaFlightService as FlightService>::DoExchangeStream;
    type DoActionStream = <BallistaFlightService as FlightService>::DoActionStream;
    type ListActionsStream = <BallistaFlightService as FlightService>::ListActionsStream;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        self.inner.handshake(request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.inner.list_flights(request).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.inner.get_flight_info(request).await
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        self.inner.poll_flight_info(request).await
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        self.inner.get_schema(request).await
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        self.check(&request.get_ref().ticket)?;
        self.inner.do_get(request).await
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        self.inner.do_put(request).await
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        self.inner.do_exchange(request).await
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        // Every action's body, not only IO_BLOCK_TRANSPORT's: whatever
        // Ballista reads a fetch from, it reads inside the work folder.
        self.check(&request.get_ref().body)?;
        self.inner.do_action(request).await
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.inner.list_actions(request).await
    }
}

#[cfg(test)]
mod tests {
    use arrow_flight::decode::FlightRecordBatchStream;
    use arrow_flight::error::FlightError;
    use arrow_flight::flight_service_client::FlightServiceClient;
    use arrow_flight::sql::ProstMessageExt;
    use ballista_core::JobId;
    use ballista_core::serde::protobuf;
    use ballista_core::serde::scheduler::ShuffleFileKind;
    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use datafusion::arrow::ipc::writer::StreamWriter;
    use futures::TryStreamExt;
    use tonic::Code;
    use tonic::transport::{Channel, Endpoint};

    use super::*;

    /// A free loopback port.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Starts [`flight_server`] on `port` with `work_dir` and `token`;
    /// sending on the returned channel stops it.
    fn start(
        port: u16,
        work_dir: &Path,
        token: Option<Token>,
    ) -> (
        tokio::sync::broadcast::Sender<()>,
        tokio::task::JoinHandle<std::result::Result<(), BallistaError>>,
    ) {
        let (stop, receiver) = tokio::sync::broadcast::channel(1);
        let server = flight_server(token)(
            work_dir.display().to_string(),
            SocketAddr::from(([127, 0, 0, 1], port)),
            Shutdown::new(receiver),
            GrpcServerConfig::default(),
        );
        (stop, server)
    }

    /// A Flight client of the server at `port`, sending `token` if any.
    async fn connect(port: u16, token: Option<&Token>) -> FlightServiceClient<Channel> {
        let mut endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}")).unwrap();
        if let Some(token) = token {
            endpoint = token.endpoint(endpoint).unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let channel = loop {
            match endpoint.connect().await {
                Ok(channel) => break channel,
                Err(e) if std::time::Instant::now() > deadline => panic!("connect: {e}"),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        FlightServiceClient::new(channel)
    }

    /// Asks the Flight server at `port` for its flights, with `token` if any;
    /// returns the gRPC status code.
    async fn list_flights(port: u16, token: Option<&Token>) -> Code {
        let mut client = connect(port, token).await;
        match client.list_flights(Criteria::default()).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }

    /// The executors' Flight server answers only requests with the token.
    #[tokio::test]
    async fn flight_server_requires_the_token() {
        let port = free_port();
        let token = Token::new("flight-test-token-0123456789").unwrap();
        let (stop, server) = start(port, &std::env::temp_dir(), Some(token.clone()));

        assert_eq!(list_flights(port, None).await, Code::Unauthenticated);
        let wrong = Token::new("flight-test-token-wrong-wrong").unwrap();
        assert_eq!(
            list_flights(port, Some(&wrong)).await,
            Code::Unauthenticated
        );
        // With the token the request reaches Ballista's service, which does
        // not list flights.
        assert_eq!(list_flights(port, Some(&token)).await, Code::Unimplemented);

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    /// Writes a shuffle file of `rows` rows (an Arrow IPC stream) at
    /// `dir/1/0/data.arrow`: stage 1, partition 0 of a job whose folder is
    /// `dir`.
    fn write_shuffle_file(dir: &Path, rows: i64) {
        let folder = dir.join("1/0");
        std::fs::create_dir_all(&folder).unwrap();
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
        )])
        .unwrap();
        let file = std::fs::File::create(folder.join("data.arrow")).unwrap();
        let mut writer = StreamWriter::try_new(file, &batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
    }

    /// A fetch of stage 1, partition 0 of `job_id`, encoded as Ballista's
    /// client sends it (a `do_get` ticket or an `IO_BLOCK_TRANSPORT` body).
    fn fetch(job_id: &str, port: u16) -> Ticket {
        let action = BallistaAction::FetchPartition {
            job_id: JobId::new(job_id),
            stage_id: 1,
            partition_id: 0,
            host: "127.0.0.1".to_string(),
            port,
            file_id: None,
            layout: ShuffleLayout::Passthrough,
            file_kind: ShuffleFileKind::Data,
            byte_ranges: vec![],
        };
        let action: protobuf::Action = action.try_into().unwrap();
        Ticket {
            ticket: action.as_any().value,
        }
    }

    /// The rows `do_get` returns for `job_id`, or its error status.
    async fn do_get(
        client: &mut FlightServiceClient<Channel>,
        job_id: &str,
        port: u16,
    ) -> std::result::Result<usize, Status> {
        let stream = client.do_get(fetch(job_id, port)).await?.into_inner();
        let batches: Vec<RecordBatch> =
            FlightRecordBatchStream::new_from_flight_data(stream.map_err(FlightError::from))
                .try_collect()
                .await
                .map_err(|e| Status::internal(e.to_string()))?;
        Ok(batches.iter().map(RecordBatch::num_rows).sum())
    }

    /// The bytes `IO_BLOCK_TRANSPORT` returns for `job_id`, or its error
    /// status.
    async fn block_transport(
        client: &mut FlightServiceClient<Channel>,
        job_id: &str,
        port: u16,
    ) -> std::result::Result<usize, Status> {
        let action = Action {
            r#type: "IO_BLOCK_TRANSPORT".to_string(),
            body: fetch(job_id, port).ticket,
        };
        let blocks: Vec<arrow_flight::Result> = client
            .do_action(action)
            .await?
            .into_inner()
            .try_collect()
            .await?;
        Ok(blocks.iter().map(|block| block.body.len()).sum())
    }

    /// A fetch whose job id is a path (absolute, or with `..`) is refused
    /// before a file is opened; fetches inside the work folder work.
    #[tokio::test]
    async fn flight_server_serves_only_the_work_folder() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let outside = dir.path().join("outside/leakjob");
        write_shuffle_file(&outside, 3);
        write_shuffle_file(&work.join("job-1"), 5);
        // A job folder that is a symlink out of the work folder.
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, work.join("linked")).unwrap();
        let port = free_port();
        let (stop, server) = start(port, &work, None);
        let mut client = connect(port, None).await;

        assert_eq!(do_get(&mut client, "job-1", port).await.unwrap(), 5);
        assert!(block_transport(&mut client, "job-1", port).await.unwrap() > 0);

        let absolute = outside.display().to_string();
        let mut leaks = vec![
            absolute.as_str(),
            "../outside/leakjob",
            "job-1/../../outside/leakjob",
            "",
            ".",
        ];
        if cfg!(unix) {
            leaks.push("linked");
        }
        for job_id in leaks {
            for status in [
                do_get(&mut client, job_id, port).await.unwrap_err(),
                block_transport(&mut client, job_id, port)
                    .await
                    .unwrap_err(),
            ] {
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{job_id:?}: {status:?}"
                );
                assert_eq!(
                    status.message(),
                    format!(
                        "job id {job_id:?}: this executor serves only shuffle files inside its work folder"
                    )
                );
            }
        }

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn job_ids_are_plain_names() {
        for good in ["6fZ2kQ1", "job-1", "a_b"] {
            assert!(is_plain_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "/abs", "a\\b", "a.b", "a\0b", "é"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
