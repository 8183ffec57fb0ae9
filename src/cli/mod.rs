//! The `saasql` command: argument handling, session setup and dispatch.
//!
//! `main` calls [`run`]; everything below returns a [`CliError`] that `main`
//! prints once and turns into the exit code.

pub mod args;
pub mod batch;
pub mod checks;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod commit;
pub mod completions;
pub mod config;
pub use saasql_common::error;
pub mod functions;
pub mod r#gen;
pub mod html;
pub mod init;
pub mod logging;
pub mod meta;
pub mod notify;
pub mod output;
#[cfg(feature = "postgres")]
mod postgres;
pub mod project;
pub mod repl;
pub mod report;
#[cfg(feature = "serve")]
pub use saasql_serve as serve;
pub mod tables;

use std::io::{IsTerminal, Read};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionContext;

use args::{Cli, Command, FunctionsArgs, GlobalArgs, RunArgs};
use config::LoadedConfig;
use error::{CliError, CliResult};
use output::{Format, PrintOptions, Target, write_batches};
use report::{ReportOptions, Script, parse_params, run_report};

/// Runs the command line.
pub fn run(cli: Cli) -> CliResult<()> {
    logging::init(cli.global.verbose, is_server(&cli));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::query(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(dispatch(cli));
    // Do not wait for cancelled query tasks.
    runtime.shutdown_background();
    let _ = std::fs::remove_dir_all(spill_dir());
    result
}

/// Whether `cli` runs a scheduler, an executor or `serve`, which log their life at
/// `info` by default.
fn is_server(cli: &Cli) -> bool {
    #[cfg(feature = "cluster")]
    if matches!(
        cli.command,
        Some(Command::Scheduler(_) | Command::Executor(_))
    ) {
        return true;
    }
    #[cfg(feature = "serve")]
    if matches!(cli.command, Some(Command::Serve(_))) {
        return true;
    }
    let _ = cli;
    false
}

/// This process's folder for spill files (`saasql-spill-PID` in the OS
/// temporary folder): removed at exit, and by a later run if the process
/// was killed.
fn spill_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("saasql-spill-{}", std::process::id()))
}

/// Removes the spill folders of saasql processes that are gone.
fn sweep_spill_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix("saasql-spill-"))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !commit::alive(pid)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn dispatch(cli: Cli) -> CliResult<()> {
    let global = &cli.global;
    if !global.commands.is_empty() && cli.command.is_some() {
        return Err(CliError::usage(
            "-c runs its SQL on its own: use it without a subcommand",
        ));
    }
    match &cli.command {
        None if !global.commands.is_empty() => {
            let opts = ReportOptions {
                format: global.format.unwrap_or(Format::Table),
                output: None,
                params: parse_params(&global.params)?,
            };
            interruptible(async {
                let ctx = build_context(global).await?;
                let mut scripts = vec![];
                let mut state = meta::ScriptState::default();
                for (i, sql) in global.commands.iter().enumerate() {
                    scripts.extend(meta::parse_scripts(
                        &ctx,
                        &format!("-c#{}", i + 1),
                        sql,
                        &mut state,
                    )?);
                }
                run_report(&ctx, &scripts, &opts).await
            })
            .await
        }
        None | Some(Command::Repl) => {
            let params = parse_params(&global.params)?;
            if std::io::stdin().is_terminal() {
                let ctx = build_context(global).await?;
                repl::run_shell(ctx, global.format.unwrap_or(Format::Table), params).await
            } else {
                let opts = ReportOptions {
                    format: global.format.unwrap_or(Format::Table),
                    output: None,
                    params,
                };
                interruptible(async {
                    let ctx = build_context(global).await?;
                    let sql = read_sql(Path::new("-"))?;
                    let scripts = meta::parse_scripts(
                        &ctx,
                        "<stdin>",
                        &sql,
                        &mut meta::ScriptState::default(),
                    )?;
                    run_report(&ctx, &scripts, &opts).await
                })
                .await
            }
        }
        Some(Command::Run(args)) => run_command(global, args).await,
        Some(Command::Functions(args)) => functions_command(args, global.format).await,
        Some(Command::Completions(args)) => completions::print_completions(args.shell),
        Some(Command::Man(args)) => completions::man_pages(args.dir.as_deref()),
        Some(Command::Gen(args)) => r#gen::run_gen(args, not_parquet(global.format)?).await,
        Some(Command::Init(args)) => run_init_command(args).await,
        Some(Command::Models) => {
            let format = not_parquet(global.format)?;
            interruptible(async {
                let ctx = build_context(global).await?;
                if project::project_of(global)?.is_none() {
                    return Err(CliError::input(format!(
                        "no project: {}; `saasql init DIR` creates one, --project DIR names one",
                        project::search_description()
                    )));
                }
                let (schema, batch) = project::models_batch(&ctx).await?;
                print_summary(schema, batch, format).await
            })
            .await
        }
        Some(Command::Test(args)) => {
            let format = not_parquet(global.format)?;
            interruptible(async {
                let ctx = build_context(global).await?;
                let project = project::project_of(global)?;
                let files = if !args.paths.is_empty() {
                    checks::singular_files(&args.paths)?
                } else {
                    match project.as_ref().map(|p| p.root.join("tests")) {
                        Some(dir) if dir.is_dir() => checks::singular_files(&[dir])?,
                        _ => vec![],
                    }
                };
                let all = checks::Checks {
                    files,
                    declared: checks::declared_of(&ctx),
                };
                if all.files.is_empty() && all.declared.is_empty() {
                    return Err(CliError::usage(match &project {
                        Some(p) => format!(
                            "no checks: {} has no tests/*.sql and saasql.toml no [[checks]]",
                            p.root.display()
                        ),
                        None => format!(
                            "no checks: {}; name check files or folders, or run it in a project",
                            project::search_description()
                        ),
                    }));
                }
                checks::test_command(
                    &ctx,
                    &all,
                    format,
                    args.junit.as_deref(),
                    args.as_of.as_deref(),
                    args.store_failures.as_deref(),
                    notify::Origin {
                        command: "saasql test",
                        project: project.as_ref().map(|p| p.root.as_path()),
                        on_failure: args.on_failure.as_deref(),
                    },
                )
                .await
            })
            .await
        }
        Some(Command::Config) => {
            let format = not_parquet(global.format)?;
            let (schema, batch) = project::config_batch(global, user_config_file().as_deref())?;
            print_summary(schema, batch, format).await
        }
        Some(Command::Batch(args)) => {
            project::also_search_from(&args.job);
            let format = not_parquet(global.format)?;
            let params = parse_params(&global.params)?;
            interruptible(async {
                let ctx = build_context(global).await?;
                let alert_failed = if args.test {
                    checks::gate(
                        &ctx,
                        project::project_of(global)?.as_ref(),
                        "saasql batch --test",
                        args.on_failure.as_deref(),
                    )
                    .await?
                } else {
                    None
                };
                batch::run_batch(&ctx, &args.job, format, &params).await?;
                alert_failed.map_or(Ok(()), |why| Err(alert_error(why)))
            })
            .await
        }
        #[cfg(feature = "cluster")]
        Some(Command::Scheduler(args)) => {
            cluster::run_scheduler(args, global.token_file.as_deref()).await
        }
        #[cfg(feature = "cluster")]
        Some(Command::Executor(args)) => {
            cluster::run_executor(
                args,
                global.memory_limit,
                global.data.as_deref(),
                global.token_file.as_deref(),
            )
            .await
        }
        #[cfg(feature = "serve")]
        Some(Command::Serve(args)) => {
            #[cfg(feature = "cluster")]
            let cluster = global.cluster.is_some();
            #[cfg(not(feature = "cluster"))]
            let cluster = false;
            serve::run_serve(
                args,
                cluster,
                |allow_write| build_context_with(global, allow_write),
                stop_signal(),
            )
            .await
        }
    }
}

/// Runs `work` until it finishes, Ctrl-C is pressed (exit 130) or SIGTERM
/// arrives (exit 143). Dropping the work cancels its queries and removes its
/// temporary files and staged outputs.
async fn interruptible(work: impl Future<Output = CliResult<()>>) -> CliResult<()> {
    // Biased, signals first: their handlers are installed by the first poll,
    // before the work starts (a SIGTERM in between would kill the process
    // with its temporary files still there).
    tokio::select! {
        biased;
        signal = stop_signal() => Err(match signal {
            "SIGTERM" => CliError::terminated(),
            _ => CliError::interrupted(),
        }),
        result = work => result,
    }
}

/// Waits for Ctrl-C or SIGTERM and names it.
pub(crate) async fn stop_signal() -> &'static str {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        _ = terminate => "SIGTERM",
    }
}

/// Summary-style commands print tables, so parquet makes no sense there.
fn not_parquet(format: Option<Format>) -> CliResult<Format> {
    match format {
        Some(Format::Parquet) => Err(CliError::usage(
            "--format parquet is only for query results: `saasql run --format parquet --output PATH`",
        )),
        other => Ok(other.unwrap_or(Format::Table)),
    }
}

/// `saasql run`.
async fn run_command(global: &GlobalArgs, args: &RunArgs) -> CliResult<()> {
    if let Some(first) = args.files.first() {
        project::also_search_from(first);
    }
    let params = parse_params(&global.params)?;
    let format = global
        .format
        .or_else(|| args.output.as_deref().and_then(format_from_extension))
        .unwrap_or(Format::Table);
    if args.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return Err(CliError::usage("stdin (-) can be read only once"));
    }
    let opts = ReportOptions {
        format,
        output: args.output.clone(),
        params,
    };
    interruptible(async {
        let ctx = build_context(global).await?;
        let alert_failed = if args.test {
            checks::gate(
                &ctx,
                project::project_of(global)?.as_ref(),
                "saasql run --test",
                args.on_failure.as_deref(),
            )
            .await?
        } else {
            None
        };
        let mut scripts: Vec<Script> = vec![];
        let mut state = meta::ScriptState::default();
        for file in &args.files {
            let sql = read_sql(file)?;
            let name = if file.as_os_str() == "-" {
                "<stdin>".to_string()
            } else {
                file.display().to_string()
            };
            scripts.extend(meta::parse_scripts(&ctx, &name, &sql, &mut state)?);
        }
        run_report(&ctx, &scripts, &opts).await?;
        alert_failed.map_or(Ok(()), |why| Err(alert_error(why)))
    })
    .await
}

/// `run --test`/`batch --test` went on (no check failed) and finished, but
/// the alert about a warning could not be delivered: exit 1 so the
/// scheduler reports it.
fn alert_error(why: String) -> CliError {
    CliError::query(format!(
        "the report ran and its outputs are written, but {why}"
    ))
}

/// The format implied by an output file's extension.
fn format_from_extension(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "csv" => Format::Csv,
        "json" => Format::Json,
        "ndjson" | "jsonl" => Format::Ndjson,
        "md" | "markdown" => Format::Markdown,
        "parquet" => Format::Parquet,
        "html" | "htm" => Format::Html,
        _ => return None,
    })
}

/// Reads a SQL file, or stdin for `-`.
fn read_sql(path: &Path) -> CliResult<String> {
    if path.as_os_str() == "-" {
        let mut sql = String::new();
        std::io::stdin()
            .read_to_string(&mut sql)
            .map_err(|e| CliError::input(format!("cannot read stdin: {e}")))?;
        Ok(sql)
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))
    }
}

/// `saasql init DIR`.
async fn run_init_command(args: &args::InitArgs) -> CliResult<()> {
    interruptible(init::run_init(&args.dir, !args.no_data)).await
}

/// Prints a small table (`saasql models`, `saasql config`) in `format`.
async fn print_summary(
    schema: datafusion::arrow::datatypes::SchemaRef,
    batch: datafusion::arrow::array::RecordBatch,
    format: Format,
) -> CliResult<()> {
    let mut target = Target::stdout();
    let print = PrintOptions {
        format,
        max_rows: None,
        footer: false,
        expanded: false,
    };
    write_batches(schema, vec![batch], &mut target, &print).await?;
    target.finish()
}

/// `saasql functions [NAME] [--markdown]`.
async fn functions_command(args: &FunctionsArgs, format: Option<Format>) -> CliResult<()> {
    let mut target = Target::stdout();
    match (&args.name, args.markdown) {
        (Some(name), _) => target.write_str(&functions::function_doc(name)?)?,
        (None, true) => target.write_str(&saasql::reference::reference_markdown())?,
        (None, false) => {
            let (schema, batch) = functions::function_list();
            let print = PrintOptions {
                format: not_parquet(format)?,
                max_rows: None,
                footer: false,
                expanded: false,
            };
            write_batches(schema, vec![batch], &mut target, &print).await?;
        }
    }
    target.finish()
}

/// A session with the saasql functions, the memory limit, the settings and
/// the tables of the data directory and config file.
async fn build_context(global: &GlobalArgs) -> CliResult<SessionContext> {
    build_context_with(global, true).await
}

/// [`build_context`]; without `open_locations`, queries cannot name a path
/// or URL as a table (`SELECT * FROM '/etc/passwd'`) nor create Postgres
/// tables: `saasql serve` without `--allow-write` serves only the
/// configured tables.
async fn build_context_with(
    global: &GlobalArgs,
    open_locations: bool,
) -> CliResult<SessionContext> {
    // The user's config file, the project's saasql.toml over it, then
    // --config over both.
    let mut file = match user_config_file() {
        Some(path) => LoadedConfig::load(&path)?,
        None => LoadedConfig::default(),
    };
    let mut project = project::project_of(global)?;
    if let Some(p) = project.as_mut() {
        file.merge(std::mem::take(&mut p.config));
    }
    if let Some(path) = &global.config {
        file.merge(LoadedConfig::load(path)?);
    }
    let mut config =
        saasql_common::storage::with_settings(datafusion::prelude::SessionConfig::new());
    // Spans let errors point at the failing part of a statement.
    config.options_mut().sql_parser.collect_spans = true;
    if let Some(n) = global
        .target_partitions
        .map(NonZeroUsize::get)
        .or(file.target_partitions)
    {
        config = config.with_target_partitions(n);
    }
    for (key, value, origin) in &file.settings {
        config.options_mut().set(key, value).map_err(|e| {
            CliError::usage(format!(
                "config file {}: settings: {}",
                origin.display(),
                e.strip_backtrace()
            ))
        })?;
    }
    let (runtime, stores) = runtime_env(
        global.memory_limit.or(file.memory_limit),
        file.storage.clone(),
    )?;
    #[cfg(feature = "cluster")]
    let ctx = match &global.cluster {
        // Queries run on the executors, which have their own memory limit.
        Some(url) => {
            cluster::remote_context(
                url,
                config,
                global.timeout,
                global.token_file.as_deref(),
                file.storage.clone(),
            )
            .await?
        }
        None => saasql::context_with(config, runtime),
    };
    #[cfg(not(feature = "cluster"))]
    let ctx = saasql::context_with(config, runtime);
    // `SELECT * FROM 'file.parquet'` works too.
    let ctx = if open_locations {
        tables::enable_url_tables(ctx)
    } else {
        ctx
    };
    // `SET s3.…` applies to the session's next query.
    saasql_common::storage::follow_session(&stores, &ctx);
    // `CREATE EXTERNAL TABLE … STORED AS POSTGRES LOCATION 'postgres://…'`.
    #[cfg(feature = "postgres")]
    if open_locations {
        postgres::register_factory(&ctx);
    }

    tables::guard_default_schema(&ctx)?;
    let read = file.read_options();
    tables::set_read_options(&ctx, read);
    let mut warnings = vec![];
    match global.data.as_ref().or(file.data.as_ref()) {
        Some(dir) if saasql_common::storage::is_url(&dir.to_string_lossy()) => {
            let url = dir.to_string_lossy();
            warnings.extend(tables::register_data_url(&ctx, &url, read).await?);
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(CliError::input(format!(
                    "data directory {} not found",
                    dir.display()
                )));
            }
            warnings.extend(tables::register_data_dir(&ctx, dir, read).await?);
        }
        None => match tables::default_data_dir() {
            Some(dir) => warnings.extend(tables::register_data_dir(&ctx, &dir, read).await?),
            None => tables::mark_no_data_dir(&ctx),
        },
    }
    for (name, location) in &file.tables {
        warnings.extend(tables::register_table(&ctx, name, location, read).await?);
    }
    // Each problem once, at start; queries that use such a table fail with it.
    for w in warnings {
        eprintln!("saasql: warning: {w}");
    }
    project::set_param_defaults(&ctx, std::mem::take(&mut file.params));
    checks::set_declared(&ctx, std::mem::take(&mut file.checks));
    notify::set_notify(&ctx, std::mem::take(&mut file.notify));
    // The project's models, over the tables (a model may replace one).
    if let Some(dir) = project.as_ref().and_then(project::Project::models_dir) {
        for message in project::register_models(&ctx, &dir).await? {
            eprintln!("saasql: {message}");
        }
    }
    Ok(ctx)
}

/// `~/.config/saasql/config.toml` (the platform's config folder), if it
/// exists: read before `--config`, which overrides it.
fn user_config_file() -> Option<std::path::PathBuf> {
    let path = dirs::config_dir()?.join("saasql").join("config.toml");
    path.is_file().then_some(path)
}

/// The runtime: with a memory limit, a fair spilling pool that names the
/// largest consumers when it runs out; spill files go to [`spill_dir`];
/// object stores are built from `storage` and the environment.
fn runtime_env(
    memory_limit: Option<usize>,
    storage: saasql_common::storage::StorageConfig,
) -> CliResult<(Arc<RuntimeEnv>, Arc<saasql_common::storage::StoreRegistry>)> {
    let stores = Arc::new(saasql_common::storage::StoreRegistry::new(
        storage,
        saasql_common::storage::S3Settings::default(),
    ));
    sweep_spill_dirs();
    let dir = spill_dir();
    let mode = match std::fs::create_dir_all(&dir) {
        Ok(()) => DiskManagerMode::Directories(vec![dir]),
        Err(_) => DiskManagerMode::OsTmpDirectory,
    };
    let mut builder = RuntimeEnvBuilder::new()
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
        .with_object_store_registry(Arc::clone(&stores) as _);
    if let Some(bytes) = memory_limit {
        let top = NonZeroUsize::new(5).expect("5 is not zero");
        builder = builder.with_memory_pool(Arc::new(TrackConsumersPool::new(
            FairSpillPool::new(bytes),
            top,
        )));
    }
    Ok((builder.build_arc()?, stores))
}
