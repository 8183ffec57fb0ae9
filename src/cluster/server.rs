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

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use axum::http::StatusCode;
use ballista_core::error::BallistaError;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_core::utils::{GrpcServerConfig, create_grpc_server};
use ballista_executor::ArrowFlightServerProvider;
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::shutdown::Shutdown;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::common::{DataFusionError, Result};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tonic::service::interceptor::InterceptedService;
use tonic::service::{InterceptorLayer, RoutesBuilder};

use super::auth::{Token, TokenCheck};

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
    let mut routes = RoutesBuilder::default();
    routes.add_service(grpc);
    let router = routes
        .routes()
        .into_axum_router()
        .route(
            "/readyz",
            axum::routing::get(move || {
                let scheduler = scheduler.clone();
                async move {
                    match readiness(&scheduler).await {
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
    Err(match lost {
        Some((age, who)) if age != u64::MAX => {
            format!("{who} was lost (no heartbeat for {age} s)")
        }
        Some((_, who)) => format!("{who} has sent no heartbeat"),
        None => "no executor registered".to_string(),
    })
}

/// The executors' Arrow Flight server (results and shuffle data): Ballista's
/// Flight service, with a token only for requests that carry it.
pub(crate) fn flight_server(token: Option<Token>) -> Arc<ArrowFlightServerProvider> {
    Arc::new(
        move |work_dir: String,
              address: SocketAddr,
              mut shutdown: Shutdown,
              config: GrpcServerConfig| {
            let check = TokenCheck::new(token.clone());
            tokio::spawn(async move {
                let flight = FlightServiceServer::new(BallistaFlightService::new(work_dir))
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

#[cfg(test)]
mod tests {
    use arrow_flight::Criteria;
    use arrow_flight::flight_service_client::FlightServiceClient;
    use tonic::Code;
    use tonic::transport::Endpoint;

    use super::*;

    /// Asks the Flight server at `port` for its flights, with `token` if any;
    /// returns the gRPC status code.
    async fn list_flights(port: u16, token: Option<&Token>) -> Code {
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
        let mut client = FlightServiceClient::new(channel);
        match client.list_flights(Criteria::default()).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }

    /// The executors' Flight server answers only requests with the token.
    #[tokio::test]
    async fn flight_server_requires_the_token() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = Token::new("flight-test-token-0123456789").unwrap();
        let (stop, receiver) = tokio::sync::broadcast::channel(1);
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let work_dir = std::env::temp_dir().display().to_string();
        let server = flight_server(Some(token.clone()))(
            work_dir,
            address,
            Shutdown::new(receiver),
            GrpcServerConfig::default(),
        );

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
}
