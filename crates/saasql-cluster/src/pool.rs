//! A pool of connections to other executors, for shuffle reads.
//!
//! Ballista's executor keeps one, but private to its default execution
//! engine; saasql wraps that engine to check paths
//! ([`CheckedEngine`](super::CheckedEngine)), so it brings its own: idle
//! connections are reused for [`IDLE_TIMEOUT`] and dropped after, so a
//! shuffle-heavy query does not open a connection per partition.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ballista_core::client::BallistaClient;
use ballista_core::client_pool::{BallistaClientPool, PooledClient};
use ballista_core::error::Result;
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::utils::GrpcClientConfig;

/// How long an unused connection is kept (Ballista's default `client_ttl`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

type Key = (String, u16, GrpcClientConfig);
type Idle = HashMap<Key, Vec<(BallistaClient, Instant)>>;

/// Idle connections by executor and client settings.
#[derive(Default, Clone)]
pub struct ClientPool {
    idle: Arc<Mutex<Idle>>,
}

impl fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientPool").finish_non_exhaustive()
    }
}

impl ClientPool {
    fn evict(idle: &mut Idle) {
        idle.retain(|_, clients| {
            clients.retain(|(_, since)| since.elapsed() < IDLE_TIMEOUT);
            !clients.is_empty()
        });
    }
}

#[async_trait]
impl BallistaClientPool for ClientPool {
    async fn acquire(
        &self,
        host: &str,
        port: u16,
        config: &GrpcClientConfig,
        customize_endpoint: Option<Arc<BallistaConfigGrpcEndpoint>>,
    ) -> Result<PooledClient> {
        let key = (host.to_string(), port, config.clone());
        let cached = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            Self::evict(&mut idle);
            idle.get_mut(&key).and_then(Vec::pop)
        };
        let client = match cached {
            Some((client, _)) => client,
            None => {
                BallistaClient::try_new(
                    host,
                    port,
                    config.max_message_size,
                    config.use_tls,
                    customize_endpoint,
                    config.io_retries_times,
                    config.io_retry_wait_time_ms,
                    config.initial_connection_window_size,
                    config.initial_stream_window_size,
                )
                .await?
            }
        };
        let idle = Arc::clone(&self.idle);
        Ok(PooledClient::new(
            client,
            Box::new(move |client| {
                idle.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(key)
                    .or_default()
                    .push((client, Instant::now()));
            }),
        ))
    }

    async fn evict_idle(&self) {
        Self::evict(&mut self.idle.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use ballista_core::utils::GrpcServerConfig;
    use ballista_executor::shutdown::Shutdown;

    use super::*;

    fn idle_count(pool: &ClientPool) -> usize {
        pool.idle.lock().unwrap().values().map(Vec::len).sum()
    }

    /// A returned connection is reused for the same executor.
    #[tokio::test]
    async fn connections_are_reused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (stop, receiver) = tokio::sync::broadcast::channel(1);
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let server = super::super::server::flight_server(None)(
            std::env::temp_dir().display().to_string(),
            address,
            Shutdown::new(receiver),
            GrpcServerConfig::default(),
        );
        let config = GrpcClientConfig::default();
        let pool = ClientPool::default();
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            match pool.acquire("127.0.0.1", port, &config, None).await {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("connect: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        assert_eq!(idle_count(&pool), 0);
        drop(first);
        assert_eq!(idle_count(&pool), 1);
        let again = pool
            .acquire("127.0.0.1", port, &config, None)
            .await
            .unwrap();
        assert_eq!(idle_count(&pool), 0, "the idle connection was taken");
        again.discard();
        assert_eq!(idle_count(&pool), 0, "a discarded connection is not kept");

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
