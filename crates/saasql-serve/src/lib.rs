//! `saasql serve`: the shell's session for psql, psycopg, JDBC and BI tools
//! (Metabase, Grafana, Superset) over the Postgres wire protocol, and for
//! ADBC and JDBC Flight SQL drivers over Arrow Flight SQL ([`flight`]).
//!
//! One base session is built as for the shell (tables of `--data` and
//! `--config`, every saasql function, the settings), plus the `pg_catalog`
//! tables and functions clients query on connect (datafusion-pg-catalog).
//! Each connection gets a copy of it: the same tables, functions and
//! runtime, its own settings. Each query gets its own memory pool.
//!
//! Safe by default: loopback unless told otherwise, a password
//! (SCRAM-SHA-256 for Postgres clients) for any other address, wrong
//! passwords slowing their address down ([`throttle`]), TLS only when
//! given a certificate ([`tls`]), at most `--max-queries` queries at once
//! whose work stops with them ([`yielding`]),
//! read-only unless `--allow-write` (and then no tables read straight from a
//! path or URL either).

mod catalog;
mod flight;
mod pg;
mod sql;
mod throttle;
mod tls;
mod yielding;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use pgwire::api::ConnectionManager;
use tokio::net::TcpListener;
use tokio::sync::watch;

use clap::Args;
use pg::{CancelRegistry, ConnHandlers, OnePassword, PgSession, ServeOptions};
use saasql_common::args::parse_bind;
use saasql_common::error::{CliError, CliResult};

/// `saasql serve`: its flags (part of the `saasql` command line).
#[derive(Debug, Args)]
#[command(after_help = "\
Serves the tables of --data and --config and every saasql function to
Postgres clients (--postgres) and Arrow Flight SQL clients (--flight-sql), or
both; each connection (Flight SQL: each login) has its own session, so SET
saasql.* applies to it alone. With --cluster, queries over the data run on
the Ballista cluster. Runs until Ctrl-C or SIGTERM.

  saasql --data data serve --postgres 5433 --flight-sql 50051
  psql -h 127.0.0.1 -p 5433 -U saasql
  (ADBC and JDBC Flight SQL drivers: grpc://127.0.0.1:50051)

Security:
  Listens on 127.0.0.1 unless an address says otherwise. Any other address
  needs a password (SAASQL_SERVE_PASSWORD or --password-file, never a flag);
  with a password every client must log in with it: Postgres clients by
  SCRAM-SHA-256 (any user name), Flight SQL clients by the handshake (HTTP
  Basic, any user name; they get a session token) or the password as bearer
  token. With --tls-cert and --tls-key both protocols take TLS connections
  only; without them data (and Flight SQL's password) cross the network in
  clear, which the server warns about for a non-loopback address.
  Read-only unless --allow-write: INSERT, CREATE, DROP, COPY … TO, PREPARE and
  SELECT … FROM 'path or URL' are refused; SET datafusion.runtime.* and SET
  s3.* are refused always.
  Each query may use --memory-limit of memory (default 1G) before it spills
  or fails, and at most --max-queries run at once (the rest wait), so the
  server's memory stays below their product; a cancel request (Ctrl-C in
  psql) or a client that disconnects stops its query or its wait.")]
pub struct ServeArgs {
    /// Serve the Postgres wire protocol on IP:PORT; a bare PORT means
    /// 127.0.0.1:PORT (e.g. --postgres 5433)
    #[arg(long, value_name = "IP:PORT", value_parser = parse_bind)]
    pub postgres: Option<std::net::SocketAddr>,

    /// Serve Arrow Flight SQL (ADBC, JDBC Flight SQL drivers) on IP:PORT;
    /// a bare PORT means 127.0.0.1:PORT (e.g. --flight-sql 50051)
    #[arg(long, value_name = "IP:PORT", value_parser = parse_bind)]
    pub flight_sql: Option<std::net::SocketAddr>,

    /// File holding the password clients must give
    /// [default: $SAASQL_SERVE_PASSWORD]; required to listen on a
    /// non-loopback address
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Let clients write: INSERT, CREATE/DROP, COPY … TO, and tables read
    /// straight from a path or URL (SELECT … FROM 'file.parquet')
    #[arg(long)]
    pub allow_write: bool,

    /// Serve TLS only, with this certificate chain (PEM; the server's
    /// certificate first): Postgres clients with sslmode=require or
    /// stronger, Flight SQL clients at grpc+tls://
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Queries that may run at once, over all clients; later ones wait
    /// their turn. Memory in use stays below N × --memory-limit
    /// [default: one per core, at least 2]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_queries: Option<u16>,
}

/// The environment variable that holds the password clients must give.
pub const PASSWORD_ENV: &str = "SAASQL_SERVE_PASSWORD";

/// Each query's memory without `--memory-limit`.
const DEFAULT_QUERY_MEMORY: usize = 1 << 30;

/// How often a running query checks that its client is still there.
const DISCONNECT_CHECK: Duration = Duration::from_millis(250);

/// The password from `--password-file` if given (with a warning when other
/// users can read it), else from [`PASSWORD_ENV`] if set (surrounding
/// whitespace removed). Errors never contain it.
fn load_password(file: Option<&Path>) -> CliResult<Option<String>> {
    let (text, source) = match file {
        Some(file) => (
            saasql_common::private_files::read_secret_file("--password-file", file)
                .map_err(|e| CliError::usage(format!("--password-file {}: {e}", file.display())))?,
            format!("--password-file {}", file.display()),
        ),
        None => match std::env::var(PASSWORD_ENV) {
            Ok(text) => (text, PASSWORD_ENV.to_string()),
            Err(std::env::VarError::NotPresent) => return Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(CliError::usage(format!(
                    "{PASSWORD_ENV}: the password must be UTF-8 text"
                )));
            }
        },
    };
    let password = text.trim();
    if password.is_empty() {
        return Err(CliError::usage(format!("{source}: the password is empty")));
    }
    Ok(Some(password.to_string()))
}

/// `saasql serve`: serves until `stop` resolves (the command passes Ctrl-C
/// or SIGTERM; the value names it in the log).
///
/// `base_session(allow_write)` builds the session every connection copies
/// (the command's: tables of `--data` and `--config`, every saasql
/// function, the settings; with `allow_write` false, no tables read straight
/// from a path or URL). With `cluster`, queries over data run through that
/// session's query planner on the Ballista cluster.
pub async fn run_serve<B, F>(
    args: &ServeArgs,
    cluster: bool,
    base_session: B,
    stop: impl Future<Output = &'static str>,
) -> CliResult<()>
where
    B: FnOnce(bool) -> F,
    F: Future<Output = CliResult<SessionContext>>,
{
    if args.postgres.is_none() && args.flight_sql.is_none() {
        return Err(CliError::usage(
            "saasql serve needs --postgres IP:PORT and/or --flight-sql IP:PORT \
             (e.g. --postgres 5433 for 127.0.0.1:5433)",
        ));
    }
    let password = load_password(args.password_file.as_deref())?;
    let endpoints = [
        ("--postgres", args.postgres),
        ("--flight-sql", args.flight_sql),
    ];
    for (flag, addr) in endpoints {
        if let Some(addr) = addr
            && password.is_none()
            && !addr.ip().is_loopback()
        {
            return Err(CliError::usage(format!(
                "serve: {flag} {addr} can be reached from other machines, so it needs a \
                 password: set {PASSWORD_ENV} or --password-file"
            )));
        }
    }
    // clap makes each of the two flags require the other.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::load(cert, key)?),
        _ => None,
    };
    if tls.is_none() {
        for (flag, addr) in endpoints {
            if let Some(addr) = addr
                && !addr.ip().is_loopback()
            {
                tracing::warn!(
                    "{flag} {addr}: without --tls-cert and --tls-key, results (and, for \
                     Flight SQL, the password) cross the network unencrypted"
                );
            }
        }
    }
    let base = base_session(args.allow_write).await?;
    let catalog = base
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    setup_pg_catalog(&base, &catalog, EmptyContextProvider)
        .map_err(|e| CliError::query(format!("cannot set up pg_catalog: {e}")))?;
    sql::register_pg_functions(&base, args.allow_write);
    catalog::setup(&base)
        .await
        .map_err(|e| CliError::query(format!("cannot set up the catalog views: {e}")))?;
    let query_memory = match base.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(bytes) => bytes,
        _ => DEFAULT_QUERY_MEMORY,
    };
    let opts = Arc::new(ServeOptions {
        allow_write: args.allow_write,
        query_memory,
        cluster,
        slots: sql::QuerySlots::new(
            args.max_queries
                .map(usize::from)
                .unwrap_or_else(default_max_queries),
        ),
    });
    let bind = |addr: std::net::SocketAddr| async move {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::query(format!("cannot listen on {addr}: {e}")))?;
        let local = listener.local_addr().unwrap_or(addr);
        Ok::<_, CliError>((listener, local))
    };
    let postgres = match args.postgres {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let flight = match args.flight_sql {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let listening: Vec<String> = [
        postgres
            .as_ref()
            .map(|(_, a)| format!("Postgres clients on {a}")),
        flight
            .as_ref()
            .map(|(_, a)| format!("Flight SQL clients on {a}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    tracing::info!(
        "saasql serve {}: {} ({}, {}, {}, {} queries at once, {} each)",
        env!("CARGO_PKG_VERSION"),
        listening.join(", "),
        if tls.is_some() { "TLS only" } else { "no TLS" },
        if args.allow_write {
            "read-write"
        } else {
            "read-only"
        },
        if password.is_some() {
            "password required"
        } else {
            "no password: loopback only"
        },
        opts.slots.total(),
        human_size(query_memory),
    );
    let password = match password {
        Some(p) => Some(Arc::new(OnePassword::new(&p).map_err(CliError::query)?)),
        None => None,
    };
    let throttle = Arc::new(throttle::LoginThrottle::default());
    let pg_task = async {
        match postgres {
            Some((listener, _)) => {
                accept_loop(
                    listener,
                    base.clone(),
                    Arc::clone(&opts),
                    password.clone(),
                    tls.clone(),
                    Arc::clone(&throttle),
                )
                .await
            }
            None => std::future::pending().await,
        }
    };
    let flight_task = async {
        match flight {
            Some((listener, _)) => {
                let flight_tls = tls.as_ref().map(|t| t.flight.clone());
                flight::serve(
                    listener,
                    base.clone(),
                    Arc::clone(&opts),
                    password.clone(),
                    flight_tls,
                    Arc::clone(&throttle),
                )
                .await
                .map_err(CliError::query)
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        signal = stop => {
            tracing::info!("serve shutting down ({signal})");
            Ok(())
        }
        result = pg_task => result,
        result = flight_task => result,
    }
}

/// `--max-queries` when not given: one per core, at least 2. Each query
/// already uses every core, so more would only share them, and each may
/// hold `--memory-limit`.
fn default_max_queries() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// `1073741824` → `1GiB`.
fn human_size(bytes: usize) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{}{}", (value * 10.0).round() / 10.0, UNITS[unit])
}

/// Accepts connections until the process stops; each runs in its own task.
async fn accept_loop(
    listener: TcpListener,
    base: SessionContext,
    opts: Arc<ServeOptions>,
    password: Option<Arc<OnePassword>>,
    tls: Option<tls::Tls>,
    throttle: Arc<throttle::LoginThrottle>,
) -> CliResult<()> {
    let acceptor = tls.as_ref().map(|t| t.postgres.clone());
    let cert_pem = tls.as_ref().map(|t| Arc::clone(&t.cert_pem));
    let manager = Arc::new(ConnectionManager::new());
    let registry = Arc::new(CancelRegistry::default());
    let parser = Arc::new(PostgresCompatibilityParser::new());
    loop {
        let (socket, peer) = accept(&listener).await;
        tracing::debug!("connection from {peer}");
        let (gone_tx, gone) = watch::channel(false);
        let watcher = socket
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(|fd| tokio::spawn(watch_disconnect(std::net::TcpStream::from(fd), gone_tx)));
        let session = Arc::new(PgSession::new(
            &base,
            Arc::clone(&opts),
            Arc::clone(&parser),
            gone,
            Arc::clone(&registry),
        ));
        let handlers = ConnHandlers {
            session: Arc::clone(&session),
            manager: Arc::clone(&manager),
            registry: Arc::clone(&registry),
            password: password.clone(),
            cert_pem: cert_pem.clone(),
            throttle: Arc::clone(&throttle),
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, acceptor, handlers).await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
            session.unregister();
            // Closes our duplicate of the socket too.
            if let Some(watcher) = watcher {
                watcher.abort();
            }
        });
    }
}

/// The next connection. Failures (out of file descriptors and the like) are
/// logged, and it waits a moment and keeps accepting.
pub(crate) async fn accept(
    listener: &TcpListener,
) -> (tokio::net::TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Reports on `gone` when the client has closed its end of `socket` (a
/// duplicate of the connection's socket), also while a query runs and
/// pgwire is not reading: a zero-byte peek means the peer sent FIN.
async fn watch_disconnect(socket: std::net::TcpStream, gone: watch::Sender<bool>) {
    // Shares the connection's file status, which tokio made non-blocking.
    let _ = socket.set_nonblocking(true);
    let mut tick = tokio::time::interval(DISCONNECT_CHECK);
    let mut byte = [0u8; 1];
    loop {
        tick.tick().await;
        let closed = match socket.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ),
        };
        if closed {
            let _ = gone.send(true);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(1 << 30), "1GiB");
        assert_eq!(human_size(512 << 20), "512MiB");
        assert_eq!(human_size(1536 << 20), "1.5GiB");
    }

    #[test]
    fn addresses_and_bare_ports() {
        let addr: std::net::SocketAddr = "127.0.0.1:5433".parse().unwrap();
        assert!(addr.ip().is_loopback());
    }
}
