//! `saasql scheduler`, `saasql executor` and the client side of `--cluster`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use datafusion::prelude::{SessionConfig, SessionContext};
use saasql_cluster::{ClientOptions, DEFAULT_SCHEDULER_PORT, ExecutorOptions, TOKEN_ENV, Token};

use super::args::{ExecutorArgs, SchedulerArgs};
use super::error::{CliError, CliResult};

/// The cluster token from `--token-file`, else `$SAASQL_CLUSTER_TOKEN`; an
/// unreadable or malformed one is a usage error (which never shows it).
fn load_token(file: Option<&Path>) -> CliResult<Option<Token>> {
    Token::load(file).map_err(CliError::usage)
}

/// A server that other machines can reach needs the cluster token.
fn check_bind(what: &str, bind: SocketAddr, token: Option<&Token>) -> CliResult<()> {
    if token.is_none() && !bind.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "{what}: --bind {bind} can be reached from other machines, so it needs \
             the cluster token: set {TOKEN_ENV} or --token-file"
        )));
    }
    Ok(())
}

/// `saasql scheduler`: serves until the process is killed, or until Ctrl-C
/// or SIGTERM, which end it cleanly.
pub async fn run_scheduler(args: &SchedulerArgs, token_file: Option<&Path>) -> CliResult<()> {
    let token = load_token(token_file)?;
    check_bind("scheduler", args.bind, token.as_ref())?;
    tracing::info!(
        "saasql scheduler {} listening on {}{}",
        env!("CARGO_PKG_VERSION"),
        args.bind,
        if token.is_some() {
            " (cluster token required)"
        } else {
            " (no cluster token: loopback only)"
        }
    );
    // Ballista reacts to the same signal and may stop in the same wake-up:
    // the signal branch goes first so the shutdown is always logged.
    tokio::select! {
        biased;
        signal = super::stop_signal() => {
            tracing::info!("scheduler shutting down ({signal})");
            Ok(())
        }
        result = saasql_cluster::run_scheduler(args.bind, token) => {
            result.map_err(|e| CliError::query(e.strip_backtrace()).context("scheduler"))
        }
    }
}

/// How long an executor may take to leave the cluster after Ctrl-C or
/// SIGTERM (Ballista tells the scheduler and finishes its tasks first).
const EXECUTOR_GRACE: Duration = Duration::from_secs(10);

/// `saasql executor`: serves until killed or Ctrl-C. Reads only under
/// `--allow-path`, else `data`, else the current directory.
pub async fn run_executor(
    args: &ExecutorArgs,
    memory_limit: Option<usize>,
    data: Option<&Path>,
    token_file: Option<&Path>,
) -> CliResult<()> {
    let token = load_token(token_file)?;
    check_bind("executor", args.bind, token.as_ref())?;
    let (scheduler_host, scheduler_port) = host_port(&args.scheduler)?;
    let allowed_paths = match (&args.allow_paths[..], data) {
        ([], Some(data)) => vec![data.to_path_buf()],
        ([], None) => vec![std::env::current_dir().map_err(|e| {
            CliError::usage(format!("executor: cannot read the current directory: {e}"))
        })?],
        (paths, _) => paths.to_vec(),
    };
    for path in &allowed_paths {
        if !saasql_common::storage::is_url(&path.to_string_lossy()) && !path.is_dir() {
            return Err(CliError::usage(format!(
                "executor: allowed path {} is not a directory",
                path.display()
            )));
        }
    }
    let opts = ExecutorOptions {
        scheduler_host,
        scheduler_port,
        bind_host: args.bind.ip().to_string(),
        external_host: args.external_host.clone(),
        flight_port: args.bind.port(),
        grpc_port: args.grpc_port,
        concurrent_tasks: args.concurrent_tasks.map_or(0, |n| n.get()),
        work_dir: args.work_dir.as_ref().map(|d| d.display().to_string()),
        memory_pool_size: memory_limit.map(|bytes| bytes as u64),
        allowed_paths,
        allow_write: args.allow_write,
        token,
        ..ExecutorOptions::default()
    };
    let roots: Vec<String> = opts
        .allowed_paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    tracing::info!(
        "saasql executor {} on {} (scheduler {}:{}, {}{}); reads{} under {}{}",
        env!("CARGO_PKG_VERSION"),
        args.bind,
        opts.scheduler_host,
        opts.scheduler_port,
        args.concurrent_tasks.map_or_else(
            || "one task per CPU core".to_string(),
            |n| format!("{n} concurrent tasks")
        ),
        memory_limit.map_or_else(String::new, |bytes| format!(", memory limit {bytes} bytes")),
        if opts.allow_write { " and writes" } else { "" },
        roots.join(", "),
        if opts.token.is_some() {
            "; cluster token required"
        } else {
            ""
        }
    );
    let executor = saasql_cluster::run_executor(opts);
    tokio::pin!(executor);
    // Ballista's executor stops on the same signal, often in the same
    // wake-up: the signal branch goes first so the shutdown is always logged.
    let result = tokio::select! {
        biased;
        signal = super::stop_signal() => {
            tracing::info!("executor shutting down ({signal})");
            // Ballista's executor saw the signal too: let it leave the
            // cluster cleanly, for a while.
            match tokio::time::timeout(EXECUTOR_GRACE, &mut executor).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
        result = &mut executor => result,
    };
    match result {
        Ok(()) => {
            tracing::info!("executor stopped");
            Ok(())
        }
        Err(e) => Err(CliError::query(e.strip_backtrace()).context("executor")),
    }
}

/// A client session whose queries run on the cluster at `url` and fail when
/// it has had no live executor for `timeout_secs`.
pub async fn remote_context(
    url: &str,
    config: SessionConfig,
    timeout_secs: u64,
    token_file: Option<&Path>,
    storage: saasql_common::storage::StorageConfig,
) -> CliResult<SessionContext> {
    if !url.starts_with("df://") {
        return Err(CliError::usage(format!(
            "--cluster {url}: expected df://HOST:PORT"
        )));
    }
    let token = load_token(token_file)?;
    if token.is_none() {
        // A scheduler on another machine listens on a non-loopback address,
        // so it requires the token.
        let (host, port) = host_port(url)?;
        let remote = match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(mut addrs) => addrs.any(|addr| !addr.ip().is_loopback()),
            Err(_) => false,
        };
        if remote {
            return Err(CliError::usage(format!(
                "--cluster {url}: the scheduler is on another machine, so the \
                 cluster token is needed: set {TOKEN_ENV} or --token-file"
            )));
        }
    }
    let options = ClientOptions {
        executor_wait: Duration::from_secs(timeout_secs),
        token,
        storage,
    };
    saasql_cluster::remote_context_with(url, config, options)
        .await
        .map_err(|e| CliError::usage(format!("--cluster {url}: {}", e.strip_backtrace())))
}

/// Splits `HOST:PORT` (the port defaults to 50050).
fn host_port(s: &str) -> CliResult<(String, u16)> {
    let s = s.strip_prefix("df://").unwrap_or(s);
    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse().map_err(|_| {
                CliError::usage(format!("--scheduler {s}: '{port}' is not a port number"))
            })?;
            (host, port)
        }
        None => (s, DEFAULT_SCHEDULER_PORT),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(CliError::usage(format!("--scheduler {s}: no host name")));
    }
    Ok((host.to_string(), port))
}
