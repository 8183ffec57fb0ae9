//! Running saasql on an Apache DataFusion Ballista cluster (the `saasql`
//! command's feature `cluster`).
//!
//! A Ballista query touches three kinds of process, and each needs the saasql
//! functions:
//!
//! * the **client** parses and analyses the SQL, so its session has every
//!   function and the [`SettingsRewrite`](saasql::rewrite::SettingsRewrite)
//!   ([`remote_context`]). The rewrite turns the client's `saasql.*` settings
//!   into literal arguments there, before the plan leaves the client;
//! * the **scheduler** decodes the logical plan by function name and analyses
//!   and plans it again, with a session built by [`scheduler_session`] from the
//!   client's settings (Ballista forwards every `ConfigOptions` entry, and
//!   `saasql.*` entries carry their prefix, so they arrive);
//! * the **executors** decode their stage's physical plan by function name
//!   from [`function_registry`].
//!
//! [`run_scheduler`] and [`run_executor`] are what `saasql scheduler` and
//! `saasql executor` run. They listen where they are told (the CLI's default
//! is 127.0.0.1), require the cluster [`Token`] of every request when they
//! have one, and executors run only plans whose files lie under their
//! [`AllowedPaths`]; clients fail when no executor is there
//! ([`WatchedExec`]). Tables are read by path on the client (schema), the
//! scheduler (file listing) and the executors (data), so a path must name the
//! same files on every machine.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::error::BallistaError;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::create_scheduler;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions, new_null_array};
use datafusion::arrow::datatypes::Schema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::logical_expr::{AggregateUDF, HigherOrderUDF, ScalarUDF, WindowUDF};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use saasql::safe_rules::safe_optimizer_rules;

use saasql::register_all;
use saasql_common::storage::{self, StorageConfig, StoreRegistry, with_settings};

mod auth;
mod client;
mod monitor;
mod paths;
mod pool;
mod server;
mod tasks;

pub use auth::{MIN_TOKEN_LEN, TOKEN_ENV, Token, TokenCheck};
pub use client::{ClientOptions, DEFAULT_EXECUTOR_WAIT, WatchedExec};
pub use paths::{AllowedPaths, CheckedEngine};

/// Whether a session with these options sends its queries to a Ballista
/// cluster (it carries Ballista's configuration, as [`remote_context`]'s do).
pub fn runs_on_cluster(options: &ConfigOptions) -> bool {
    options
        .extensions
        .get::<ballista_core::config::BallistaConfig>()
        .is_some()
}

/// The port a Ballista scheduler listens on unless told otherwise.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// The scheduler's session builder: Ballista's default session (which keeps
/// Ballista's optimizer rules) for `config`, plus the `saasql.*` settings,
/// every saasql function and the settings rewrite.
///
/// Functions are added to the built state one by one, because Ballista's
/// builders replace whole function lists.
pub fn scheduler_session(config: SessionConfig) -> Result<SessionState> {
    let config = with_settings(config);
    // The scheduler lists files and reads Parquet footers while it plans:
    // it needs the job's object stores (from its own environment and the
    // job's `s3.*` settings).
    let stores = StoreRegistry::new(StorageConfig::default(), storage::settings_of(&config));
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(stores))
        .build_arc()?;
    let state = ballista_core::utils::default_session_builder(config)?;
    let rules = safe_optimizer_rules(state.optimizers());
    // Hash joins build on a GROUP BY side (saasql::join_order), as locally.
    let physical = saasql::join_order::with_build_on_aggregate(state.physical_optimizers());
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .with_physical_optimizer_rules(physical)
        .with_physical_optimizer_rule(Arc::new(InMemoryConstantRows))
        .with_optimizer_rules(rules)
        .build();
    register_all(&mut state)?;
    Ok(state)
}

/// A physical optimizer rule for the scheduler: replaces the leaves that
/// make rows out of nothing (`PlaceholderRowExec`, the single row under
/// `SELECT 1` or under an aggregate answered from file statistics, and
/// `EmptyExec`) with an in-memory scan of the same rows.
///
/// Ballista 55 splits a `UNION ALL` stage into tasks by giving each task a
/// copy of the plan restricted to its partitions; it turns a placeholder
/// leaf outside a task's partitions into an empty in-memory scan. The
/// in-memory scan reports metrics and the placeholder does not, so the
/// tasks' metric lists differ in length, the scheduler rejects the task
/// status ("task metrics array size 18 does not equal with the stage
/// metrics array size 17") and the job never finishes. With in-memory leaves
/// from the start every task reports the same list.
#[derive(Debug, Default)]
pub struct InMemoryConstantRows;

impl PhysicalOptimizerRule for InMemoryConstantRows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let placeholder = node.is::<PlaceholderRowExec>();
            if !placeholder && !node.is::<EmptyExec>() {
                return Ok(Transformed::no(node));
            }
            let original = node.schema();
            // Nobody reads a placeholder's columns (it fills them with NULLs
            // of type Null): keep their types and allow the NULLs.
            let schema = Arc::new(Schema::new_with_metadata(
                original
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
                original.metadata().clone(),
            ));
            let partition = if placeholder {
                let columns = schema
                    .fields()
                    .iter()
                    .map(|f| new_null_array(f.data_type(), 1))
                    .collect();
                let options = RecordBatchOptions::new().with_row_count(Some(1));
                match RecordBatch::try_new_with_options(Arc::clone(&schema), columns, &options) {
                    Ok(batch) => vec![batch],
                    // A type without a valid NULL row: leave the leaf alone.
                    Err(_) => return Ok(Transformed::no(node)),
                }
            } else {
                vec![]
            };
            let partitions =
                vec![partition; node.properties().output_partitioning().partition_count()];
            let scan: Arc<dyn ExecutionPlan> =
                MemorySourceConfig::try_new_exec(&partitions, schema, None)?;
            Ok(Transformed::yes(scan))
        })
        .data()
    }

    fn name(&self) -> &str {
        "saasql_in_memory_constant_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The base session config of the scheduler and executors: Ballista's
/// defaults with the adaptive planner off (see [`ballista_config`]) plus the
/// `saasql.*` settings. The client's values then override it, key by key.
pub fn config_producer() -> SessionConfig {
    ballista_config(with_settings(SessionConfig::new()))
}

/// `config`, sending `token` (if any) with every gRPC request Ballista makes
/// from a session with this config (to the scheduler, and to executors for
/// results and shuffle data).
fn with_token(config: SessionConfig, token: Option<&Token>) -> SessionConfig {
    match token {
        Some(token) => {
            config.with_ballista_override_create_grpc_client_endpoint(token.endpoint_override())
        }
        None => config,
    }
}

/// Ballista's settings and restrictions on top of `config`, with Ballista's
/// adaptive query planner turned off.
///
/// Ballista 55's adaptive planner can lose a sort order between stages: for
/// `SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2) ORDER BY x` it re-plans
/// the final stage into a plan that fails DataFusion's sanity check, and the
/// job then never finishes, so the client waits forever. The static planner
/// runs such queries. `SET ballista.planner.adaptive.enabled = true` turns it
/// back on for a session.
///
/// DataFusion 55's leaf-expression pushdown is off too: it moves struct field
/// accesses inside an aggregate's arguments (`bgnbd_fit(s['frequency'], …)`)
/// into `__datafusion_extracted_N` columns whose qualified names do not
/// survive Ballista's plan encoding, so the scheduler rejects the plan
/// ("Could not parse plan … No field named …"; `sql/clv.sql`).
pub fn ballista_config(config: SessionConfig) -> SessionConfig {
    config
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false)
        .set_bool(
            "datafusion.optimizer.enable_leaf_expression_pushdown",
            false,
        )
}

/// The executors' function registry: DataFusion's built-in functions plus
/// whatever [`register_all`] registers (every saasql function and saasql's
/// `date_trunc`). Plans name functions by [`name`](datafusion::logical_expr::ScalarUDF::name),
/// so aliases are not needed here.
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = ExecutorRegistry(BallistaFunctionRegistry::default());
    // Ballista's default registry lacks DataFusion's nested (list) functions,
    // which saasql's LIST results are read with (`retention(…)[1]`).
    for f in datafusion::functions_nested::all_default_nested_functions() {
        registry.0.scalar_functions.insert(f.name().to_string(), f);
    }
    register_all(&mut registry).expect("registering saasql functions on a map cannot fail");
    registry.0
}

/// A [`BallistaFunctionRegistry`] that takes registrations (Ballista's does
/// not). Executors run physical plans, so the SQL planner hook and the
/// analyzer rewrite that [`register_all`] also offers are not kept.
#[derive(Debug)]
struct ExecutorRegistry(BallistaFunctionRegistry);

impl FunctionRegistry for ExecutorRegistry {
    fn udfs(&self) -> HashSet<String> {
        self.0.udfs()
    }
    fn higher_order_function_names(&self) -> HashSet<String> {
        self.0.higher_order_function_names()
    }
    fn udafs(&self) -> HashSet<String> {
        self.0.udafs()
    }
    fn udwfs(&self) -> HashSet<String> {
        self.0.udwfs()
    }
    fn udf(&self, name: &str) -> Result<Arc<ScalarUDF>> {
        self.0.udf(name)
    }
    fn higher_order_function(&self, name: &str) -> Result<Arc<HigherOrderUDF>> {
        self.0.higher_order_function(name)
    }
    fn udaf(&self, name: &str) -> Result<Arc<AggregateUDF>> {
        self.0.udaf(name)
    }
    fn udwf(&self, name: &str) -> Result<Arc<WindowUDF>> {
        self.0.udwf(name)
    }
    fn expr_planners(&self) -> Vec<Arc<dyn ExprPlanner>> {
        vec![]
    }
    fn register_udf(&mut self, f: Arc<ScalarUDF>) -> Result<Option<Arc<ScalarUDF>>> {
        Ok(self.0.scalar_functions.insert(f.name().to_string(), f))
    }
    fn register_udaf(&mut self, f: Arc<AggregateUDF>) -> Result<Option<Arc<AggregateUDF>>> {
        Ok(self.0.aggregate_functions.insert(f.name().to_string(), f))
    }
    fn register_udwf(&mut self, f: Arc<WindowUDF>) -> Result<Option<Arc<WindowUDF>>> {
        Ok(self.0.window_functions.insert(f.name().to_string(), f))
    }
    fn register_function_rewrite(
        &mut self,
        _rewrite: Arc<dyn FunctionRewrite + Send + Sync>,
    ) -> Result<()> {
        Ok(())
    }
}

fn ballista(e: BallistaError) -> DataFusionError {
    e.into_datafusion()
}

/// Seconds without a heartbeat after which the scheduler removes an
/// executor and runs its tasks elsewhere.
const EXECUTOR_TIMEOUT_SECS: u64 = 20;

/// Runs a Ballista scheduler with the saasql functions on `bind` until the
/// process ends. `bind` is the only address it listens on. With a `token`,
/// it serves only requests that carry it and sends it with its own.
///
/// The cluster runs pull-staged: executors ask for tasks, so they open no
/// gRPC server that the scheduler would push tasks to (Ballista 55 has no
/// hook to check the token there).
pub async fn run_scheduler(bind: SocketAddr, token: Option<Token>) -> Result<()> {
    let config = Arc::new(SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        // Executors poll for work (a heartbeat) at least every 5 s: one
        // silent for 20 s is gone, and its tasks go to the others, instead
        // of after Ballista's default of 180 s. With no executor left,
        // Ballista's jobs wait (its grace period, 180 s) for one to come;
        // the client's --timeout decides sooner.
        executor_timeout_seconds: EXECUTOR_TIMEOUT_SECS,
        expire_dead_executor_interval_seconds: 5,
        override_session_builder: Some(Arc::new(scheduler_session)),
        override_config_producer: Some(Arc::new(config_producer)),
        override_create_grpc_client_endpoint: token.as_ref().map(Token::endpoint_override),
        ..Default::default()
    });
    config.validate().map_err(ballista)?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista)?;
    let jobs = cluster.job_state();
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(ballista)?;
    tokio::spawn(monitor::watch(scheduler.clone(), jobs));
    let listener = tokio::net::TcpListener::bind(bind).await?;
    server::serve_scheduler(listener, scheduler, token).await
}

/// Options of [`run_executor`].
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Host name or address of the scheduler.
    pub scheduler_host: String,
    /// Port of the scheduler.
    pub scheduler_port: u16,
    /// How long to wait for the scheduler to accept connections at start-up.
    pub scheduler_wait: Duration,
    /// Address both of the executor's servers (Arrow Flight and gRPC) bind
    /// to; 127.0.0.1 unless told otherwise.
    pub bind_host: String,
    /// Host name under which clients and other executors reach this one
    /// (default: the address the scheduler sees it connect from).
    pub external_host: Option<String>,
    /// Arrow Flight port: results and shuffle data are fetched from it.
    pub flight_port: u16,
    /// gRPC port the scheduler pushes tasks to.
    pub grpc_port: u16,
    /// Tasks run at the same time; 0 means one per CPU core.
    pub concurrent_tasks: usize,
    /// Directory for shuffle and spill files, created for the owner only if
    /// it does not exist (default: a new temporary directory, for the owner
    /// only, removed when the executor stops).
    pub work_dir: Option<String>,
    /// Memory pool for query execution, in bytes (default: Ballista's, 70 %
    /// of the machine's memory).
    pub memory_pool_size: Option<u64>,
    /// The only directories whose files the executor reads (and, with
    /// `allow_write`, writes); empty means the current directory.
    pub allowed_paths: Vec<PathBuf>,
    /// Whether plans may write files (`COPY … TO`, batch outputs).
    pub allow_write: bool,
    /// The cluster token: required on the executor's Flight server and sent
    /// with its requests to the scheduler and other executors.
    pub token: Option<Token>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            scheduler_host: "localhost".to_string(),
            scheduler_port: DEFAULT_SCHEDULER_PORT,
            scheduler_wait: Duration::from_secs(60),
            bind_host: "127.0.0.1".to_string(),
            external_host: None,
            flight_port: 50051,
            grpc_port: 50052,
            concurrent_tasks: 0,
            work_dir: None,
            memory_pool_size: None,
            allowed_paths: vec![],
            allow_write: false,
            token: None,
        }
    }
}

/// Runs a Ballista executor with the saasql functions until the process
/// ends. Waits up to `opts.scheduler_wait` for the scheduler first. It runs
/// only plans whose files lie under `opts.allowed_paths` (see
/// [`AllowedPaths`]).
pub async fn run_executor(opts: ExecutorOptions) -> Result<()> {
    let roots = if opts.allowed_paths.is_empty() {
        vec![std::env::current_dir()?]
    } else {
        opts.allowed_paths.clone()
    };
    let allowed = AllowedPaths::new(&roots, opts.allow_write)?;
    let token = opts.token.clone();
    wait_for_scheduler(
        &opts.scheduler_host,
        opts.scheduler_port,
        opts.scheduler_wait,
    )
    .await?;
    // Ballista's executor only logs a refused request and asks again, so a
    // wrong token is caught here, once, with a message.
    let scheduler = format!("{}:{}", opts.scheduler_host, opts.scheduler_port);
    let probe = client::Scheduler::new(
        &format!("df://{scheduler}"),
        ClientOptions {
            token: opts.token.clone(),
            ..ClientOptions::default()
        },
    )?;
    if probe.refuses_token().await {
        return exec_err!(
            "scheduler {scheduler} refused this executor: {}",
            auth::REFUSED
        );
    }
    // Shuffle files hold query results: the work folder is the owner's only.
    // Without one Ballista would make a temporary folder that every user can
    // read and that outlives the executor; this one goes when `_temporary`
    // is dropped, which a clean stop does.
    let (work_dir, _temporary) = match &opts.work_dir {
        Some(dir) => {
            prepare_work_dir(Path::new(dir))?;
            (dir.clone(), None)
        }
        None => {
            let dir = temporary_work_dir()?;
            let path = dir.path().to_str().map(str::to_string).ok_or_else(|| {
                DataFusionError::Execution(format!(
                    "temporary folder {} is not UTF-8: set --work-dir",
                    dir.path().display()
                ))
            })?;
            (path, Some(dir))
        }
    };
    let config = ExecutorProcessConfig {
        scheduler_host: opts.scheduler_host,
        scheduler_port: opts.scheduler_port,
        bind_host: opts.bind_host,
        external_host: opts.external_host,
        port: opts.flight_port,
        grpc_port: opts.grpc_port,
        vcores: opts.concurrent_tasks,
        work_dir: Some(work_dir.clone()),
        memory_pool_size: opts.memory_pool_size,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        override_function_registry: Some(Arc::new(function_registry())),
        override_runtime_producer: Some(runtime_producer(work_dir)),
        override_config_producer: Some(Arc::new(move || {
            with_token(config_producer(), token.as_ref())
        })),
        override_execution_engine: Some(Arc::new(CheckedEngine::new(allowed))),
        override_create_grpc_client_endpoint: opts.token.as_ref().map(Token::endpoint_override),
        override_arrow_flight_service: Some(server::flight_server(opts.token.clone())),
        ..Default::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista)
}

/// A `--work-dir` that exists is used as it is (with a warning when other
/// users can read it); one that does not is created for the owner only.
fn prepare_work_dir(dir: &Path) -> Result<()> {
    let cannot = |e: std::io::Error| {
        DataFusionError::Execution(format!("--work-dir {}: {e}", dir.display()))
    };
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => {
            saasql_common::private_files::warn_if_readable_by_others("--work-dir", dir, &metadata);
            Ok(())
        }
        Ok(_) => exec_err!("--work-dir {}: not a folder", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(cannot)
        }
        Err(e) => Err(cannot(e)),
    }
}

/// A new folder `saasql-executor-XXXXXX` in the system's temporary folder
/// (`$TMPDIR`), for the owner only; removed when dropped.
fn temporary_work_dir() -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("saasql-executor-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    builder.tempdir().map_err(|e| {
        DataFusionError::Execution(format!(
            "cannot create a work folder in {}: {e}",
            std::env::temp_dir().display()
        ))
    })
}

/// The executors' runtime for a task: spill files in `work_dir` (as
/// Ballista's own producer does) and object stores built from the
/// executor's environment and the job's `s3.*` settings.
fn runtime_producer(work_dir: String) -> ballista_core::RuntimeProducer {
    Arc::new(move |config: &SessionConfig| {
        let stores = StoreRegistry::new(StorageConfig::default(), storage::settings_of(config));
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(stores))
            .with_temp_file_path(&work_dir)
            .build_arc()
    })
}

/// Waits until `host:port` accepts TCP connections, for at most `wait`.
async fn wait_for_scheduler(host: &str, port: u16, wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        match tokio::net::TcpStream::connect((host, port)).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return exec_err!(
                    "scheduler {host}:{port} did not accept connections within {}s: {e}",
                    wait.as_secs()
                );
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// A client session on the Ballista scheduler at `url` (`df://host:port`)
/// with every saasql function, the settings rewrite and the `saasql.*`
/// settings at their defaults. Queries run on the cluster; `SET saasql.*`
/// applies to them.
pub async fn remote_context(url: &str) -> Result<SessionContext> {
    remote_context_with(
        url,
        with_settings(SessionConfig::new()),
        ClientOptions::default(),
    )
    .await
}

/// Like [`remote_context`], starting from `config` (its `saasql.*` values,
/// target partitions and other options are kept and sent with every query)
/// and with `options`.
///
/// Connecting is lazy: an unreachable scheduler shows up at the first query.
/// A query fails when the scheduler has no live executor for
/// `options.executor_wait` (see [`WatchedExec`]).
pub async fn remote_context_with(
    url: &str,
    config: SessionConfig,
    options: ClientOptions,
) -> Result<SessionContext> {
    let config = with_token(config, options.token.as_ref());
    let stores = Arc::new(StoreRegistry::new(
        options.storage.clone(),
        storage::settings_of(&config),
    ));
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::clone(&stores) as _)
        .build_arc()?;
    let scheduler = client::Scheduler::new(url, options)?;
    let state = SessionStateBuilder::new()
        .with_config(ballista_config(with_settings(config)))
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    // `remote_with_state` replaces the state's function lists with Ballista's
    // defaults, so the saasql functions are registered on the result.
    let state = SessionContext::remote_with_state(url, state).await?.state();
    let planner = client::WatchedPlanner {
        inner: Arc::clone(state.query_planner()),
        scheduler,
    };
    // DataFusion 55's eliminate_join gives wrong results (saasql::safe_rules).
    let rules = safe_optimizer_rules(state.optimizers());
    let state = SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(planner))
        .with_optimizer_rules(rules)
        .build();
    let mut ctx = SessionContext::new_with_state(state);
    register_all(&mut ctx)?;
    saasql::register_table_functions(&ctx);
    storage::follow_session(&stores, &ctx);
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::physical_plan::displayable;

    use super::*;
    use saasql::functions::{FunctionKind, all_functions};

    #[test]
    fn executors_know_every_function() {
        let registry = function_registry();
        for f in all_functions() {
            let known = match f.kind {
                FunctionKind::Scalar => registry.scalar_functions.contains_key(&f.name),
                FunctionKind::Aggregate => registry.aggregate_functions.contains_key(&f.name),
                FunctionKind::Window => registry.window_functions.contains_key(&f.name),
                // Planned on the client: executors see the plan it stands for.
                FunctionKind::Table => true,
            };
            assert!(known, "{} missing from the executor registry", f.name);
        }
        // The internal functions of the ledger's query.
        assert!(
            registry
                .scalar_functions
                .contains_key(saasql::functions::revenue::mrr_ledger::ERROR_FUNCTION)
        );
        assert!(
            registry
                .window_functions
                .contains_key(saasql::functions::revenue::mrr_ledger_moves::NAME)
        );
        assert!(
            registry.scalar_functions.contains_key("abs"),
            "built-ins kept"
        );
        let date_trunc = registry.scalar_functions.get("date_trunc").unwrap();
        assert!(
            date_trunc
                .inner()
                .downcast_ref::<saasql::builtins::DateTrunc>()
                .is_some(),
            "saasql's date_trunc replaces the built-in"
        );
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    /// The scheduler's session has the functions, the settings rewrite, the
    /// adaptive planner off, and constant rows as in-memory scans that give
    /// the same answers.
    #[tokio::test]
    async fn scheduler_session_plans_saasql_sql() {
        let ctx = SessionContext::new_with_state(scheduler_session(config_producer()).unwrap());
        assert!(
            !ctx.copied_config()
                .ballista_adaptive_query_planner_enabled()
        );

        let sql = "SELECT x FROM (SELECT 1 AS x UNION ALL SELECT 2) ORDER BY x";
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let plan = displayable(plan.as_ref()).indent(false).to_string();
        assert!(!plan.contains("PlaceholderRowExec"), "{plan}");
        assert_eq!(rows(&ctx, sql).await, rows(&saasql::context(), sql).await);

        let score = "SELECT engagement_score(e) AS s FROM (VALUES ('login'), ('login')) AS t(e)";
        assert!(rows(&ctx, score).await.contains("| 2.0 |"));
        ctx.sql("SET saasql.engagement_weights = 'login:3'")
            .await
            .unwrap();
        assert!(rows(&ctx, score).await.contains("| 6.0 |"));
    }
}
