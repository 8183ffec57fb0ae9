//! The project folder: `saasql.toml` marks its root; `models/` holds views
//! defined by files; `sql/` the reports. See docs/project.md.
//!
//! The project is found from `--project DIR` (or `SAASQL_PROJECT`), else as
//! the nearest `saasql.toml` in the working directory or its parents. Its
//! `saasql.toml` has the `--config` format ([`super::config`]); its layer
//! sits between the user's config file and `--config`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;

use super::config::{LoadedConfig, ParamDefault, ParamValue};
use super::error::{CliError, CliResult};
use super::report::{parse_script, plan_statement};

/// The file that marks a project's root.
pub const PROJECT_FILE: &str = "saasql.toml";

/// A found project.
#[derive(Debug)]
pub struct Project {
    /// The folder holding `saasql.toml`.
    pub root: PathBuf,
    /// `saasql.toml`.
    pub file: PathBuf,
    /// Its settings, paths resolved against `root`.
    pub config: LoadedConfig,
    /// Whether `data` is the project's `data/` folder because the file names
    /// none.
    pub implicit_data: bool,
}

impl Project {
    /// The `models/` folder, if there is one.
    pub fn models_dir(&self) -> Option<PathBuf> {
        let dir = self.root.join("models");
        dir.is_dir().then_some(dir)
    }
}

/// The project of this command: none with `--no-project`, else
/// [`find_project`].
pub fn project_of(global: &super::args::GlobalArgs) -> CliResult<Option<Project>> {
    if global.no_project {
        return Ok(None);
    }
    find_project(global.project.as_deref())
}

/// Finds the project: `flag` (`--project` or `SAASQL_PROJECT`: a folder
/// holding `saasql.toml`, or the file itself), else the nearest
/// `saasql.toml` in the working directory or its parents.
pub fn find_project(flag: Option<&Path>) -> CliResult<Option<Project>> {
    let file = match flag {
        Some(path) => {
            let file = if path.is_dir() {
                path.join(PROJECT_FILE)
            } else {
                path.to_path_buf()
            };
            if !file.is_file() {
                return Err(CliError::input(format!(
                    "project {}: no {PROJECT_FILE} there (from --project or SAASQL_PROJECT); \
                     `saasql init DIR` creates a project",
                    path.display()
                )));
            }
            file
        }
        None => {
            let cwd = std::env::current_dir().ok();
            let found = cwd.as_deref().and_then(search_upwards).or_else(|| {
                // `saasql run /srv/acme/sql/daily.sql` from elsewhere (cron):
                // the project the report lives in.
                FILE_DIR.get().and_then(|dir| search_upwards(dir))
            });
            match found {
                Some(file) => file,
                None => return Ok(None),
            }
        }
    };
    load_project(&file).map(Some)
}

/// The folder of the report or job file a command runs, where the project
/// is looked for when the working directory is in none.
static FILE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Looks for the project above `file` too (after the working directory):
/// `saasql run` and `saasql batch` call it with their first file.
pub fn also_search_from(file: &Path) {
    if file.as_os_str() == "-" {
        return;
    }
    if let Some(dir) = std::path::absolute(file)
        .ok()
        .and_then(|f| f.parent().map(Path::to_path_buf))
    {
        let _ = FILE_DIR.set(dir);
    }
}

/// The nearest `saasql.toml` in `start` or its parents. One
/// that another user owns (say `/tmp/saasql.toml` on a shared machine) is
/// not used: it could point the session at other data, a storage endpoint
/// that receives your credentials, or models that replace your tables.
/// `--project` names such a file explicitly.
fn search_upwards(start: &Path) -> Option<PathBuf> {
    let file = start
        .ancestors()
        .map(|dir| dir.join(PROJECT_FILE))
        .find(|file| file.is_file())?;
    // The file (not what a symlink points at) and its folder.
    let owner = owner(&file).max(file.parent().and_then(owner));
    match (owner, current_uid()) {
        (Some(owner), Some(me)) if owner != me && owner != 0 => {
            eprintln!(
                "saasql: warning: {} is owned by another user (uid {owner}), so it is not used; \
                 --project {} uses it anyway",
                file.display(),
                file.parent().unwrap_or(Path::new("/")).display()
            );
            None
        }
        _ => Some(file),
    }
}

/// The owner of `path` itself (a symlink's own owner, not its target's).
/// Root's files count as nobody's, so that the other owner decides.
fn owner(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| m.uid())
        .filter(|uid| *uid != 0)
}

/// This process's effective user: the owner of a temporary file it creates.
fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    tempfile::tempfile()
        .and_then(|f| f.metadata())
        .ok()
        .map(|m| m.uid())
}

/// Where [`find_project`] looks without `--project`, for messages.
pub fn search_description() -> String {
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    match FILE_DIR.get() {
        Some(dir) => format!(
            "no {PROJECT_FILE} in {cwd}, {} or their parents",
            dir.display()
        ),
        None => format!("no {PROJECT_FILE} in {cwd} or its parents"),
    }
}

fn load_project(file: &Path) -> CliResult<Project> {
    let file = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    let root = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut config = LoadedConfig::load(&file)?;
    let mut implicit_data = false;
    if config.data.is_none() && root.join("data").is_dir() {
        config.data = Some(root.join("data"));
        implicit_data = true;
    }
    Ok(Project {
        root,
        file,
        config,
        implicit_data,
    })
}

/// A path for messages: relative to the working directory when it is
/// inside it.
pub fn shown(path: &Path) -> String {
    let text = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string();
    if text.is_empty() { ".".into() } else { text }
}

/// A model as registered: for `saasql models`, `\\dv` and the server's
/// catalog.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The view's name.
    pub name: String,
    /// The leading comment.
    pub description: Option<String>,
    /// The models it reads.
    pub depends_on: Vec<String>,
    /// Its file.
    pub path: PathBuf,
    /// Whether it replaced a table of the same name.
    pub replaces_table: bool,
    /// Why it cannot be used (a table it reads is missing or unreadable).
    pub unavailable: Option<String>,
}

/// The models of a session (a session extension): what `saasql models`
/// lists, and what a second [`register_models`] undoes first.
#[derive(Debug, Default)]
pub struct Models {
    /// The `models/` folder.
    pub dir: Option<PathBuf>,
    /// The models, in creation order.
    pub infos: Vec<ModelInfo>,
    /// The views registered, by name.
    views: Vec<(String, Arc<dyn TableProvider>)>,
    /// The tables that models replaced, by name.
    shadowed: Vec<(String, Arc<dyn TableProvider>)>,
    /// The notices and warnings the registration gave.
    messages: Vec<String>,
}

/// The models registered on `ctx` (none without a project).
pub fn models_of(ctx: &SessionContext) -> Arc<Models> {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<Models>()
        .unwrap_or_default()
}

/// Whether `a` and `b` are the same provider.
fn same(a: &Arc<dyn TableProvider>, b: &Arc<dyn TableProvider>) -> bool {
    std::ptr::eq(Arc::as_ptr(a) as *const (), Arc::as_ptr(b) as *const ())
}

/// Takes the previous models off `ctx` and puts back the tables they
/// replaced; a model's name that something else took since (a batch job's
/// input) keeps that.
async fn unregister_models(ctx: &SessionContext, previous: &Models) {
    for (name, view) in &previous.views {
        let current = ctx.table_provider(name.as_str()).await.ok();
        if current.as_ref().is_some_and(|c| same(c, view)) {
            let _ = ctx.deregister_table(name.as_str());
            if let Some((_, table)) = previous.shadowed.iter().find(|(n, _)| n == name) {
                let _ = ctx.register_table(name.as_str(), Arc::clone(table));
            }
        }
    }
}

/// Plans the models again over the session's current tables (after a batch
/// job registered its inputs, which may replace tables the models read).
/// Returns the notices and warnings not given the first time.
pub async fn reregister_models(ctx: &SessionContext, inputs: &[String]) -> CliResult<Vec<String>> {
    let previous = models_of(ctx);
    let Some(dir) = previous.dir.clone() else {
        return Ok(vec![]);
    };
    let mut messages = register_models_except(ctx, &dir, inputs).await?;
    for name in inputs {
        if previous.infos.iter().any(|m| &m.name == name) {
            messages.push(format!(
                "notice: the job's input {name} replaces the model {name}"
            ));
        }
    }
    Ok(messages
        .into_iter()
        .filter(|m| !previous.messages.contains(m))
        .collect())
}

/// Creates the models of `dir` as views of `ctx`, in dependency order. A
/// model that fails to parse or plan is reported as `file:line` with carets
/// under the failing part; a cycle names its models. A model that reads a
/// missing or unreadable table is not created: queries that use it fail
/// with why, as for an unreadable table. Returns the notices and warnings
/// to print.
pub async fn register_models(ctx: &SessionContext, dir: &Path) -> CliResult<Vec<String>> {
    register_models_except(ctx, dir, &[]).await
}

/// [`register_models`], leaving out the models named in `skip` (a batch
/// job's inputs, which win over models of the same name).
async fn register_models_except(
    ctx: &SessionContext,
    dir: &Path,
    skip: &[String],
) -> CliResult<Vec<String>> {
    let previous = models_of(ctx);
    unregister_models(ctx, &previous).await;
    let files = saasql::models::find_models(dir).map_err(|e| {
        // Paths as the user sees them (models/a.sql), not absolute.
        let text = e.strip_backtrace();
        let text = text
            .trim_start_matches("Error during planning: ")
            .trim_start_matches("Execution error: ")
            .replace(&format!("{}/", dir.display()), &format!("{}/", shown(dir)));
        CliError::query(text)
    })?;
    let names: HashSet<String> = files.iter().map(|f| f.name.clone()).collect();
    let mut scripts = vec![];
    let mut graph = vec![];
    for file in &files {
        let shown_path = shown(&file.path);
        let script = parse_script(ctx, &shown_path, &file.sql)?;
        let [statement] = script.statements.as_slice() else {
            return Err(CliError::query(format!(
                "model {shown_path}: a model holds exactly one SELECT, this file has {} statements",
                script.statements.len()
            )));
        };
        let is_query = matches!(&statement.statement,
            DFStatement::Statement(s) if matches!(**s, Statement::Query(_)));
        if !is_query {
            return Err(CliError::query(format!(
                "model {shown_path}: a model holds one query (SELECT, WITH … SELECT or VALUES)"
            ))
            .at(
                script.location(statement),
                Some(statement.first_line.clone()),
            ));
        }
        if let Some(p) = statement.params.first() {
            return Err(CliError::query(format!(
                "model {shown_path}: ${p}: a model cannot use $parameters (a view has none); use them in reports"
            ))
            .at(script.location(statement), Some(statement.first_line.clone())));
        }
        let deps = saasql::models::dependencies(&statement.statement, &file.name, &names)
            .map_err(|e| CliError::datafusion(&e).at(script.location(statement), None))?;
        graph.push((file.name.clone(), deps));
        scripts.push(script);
    }
    let order = saasql::models::order(&graph).map_err(|cycle| {
        let shown_files: Vec<saasql::models::ModelFile> = files
            .iter()
            .map(|f| saasql::models::ModelFile {
                path: PathBuf::from(shown(&f.path)),
                ..f.clone()
            })
            .collect();
        CliError::query(saasql::models::describe_cycle(&cycle, &shown_files))
    })?;
    let mut messages = vec![];
    let mut models = Models {
        dir: Some(dir.to_path_buf()),
        ..Models::default()
    };
    for i in order {
        let (file, script) = (&files[i], &scripts[i]);
        if skip.contains(&file.name) {
            continue;
        }
        let statement = &script.statements[0];
        let mut info = ModelInfo {
            name: file.name.clone(),
            description: file.description.clone(),
            depends_on: graph[i].1.clone(),
            path: file.path.clone(),
            replaces_table: false,
            unavailable: None,
        };
        let plan = match plan_statement(ctx, &statement.statement).await {
            Ok(plan) => plan,
            // A table it reads is missing or unreadable (no data yet, or
            // --data elsewhere): the model is unavailable, not the session.
            Err(e) if is_missing_table(&e) => {
                let unavailable_dep = info.depends_on.iter().find(|d| {
                    models
                        .infos
                        .iter()
                        .any(|m| &m.name == *d && m.unavailable.is_some())
                });
                let why = match unavailable_dep {
                    Some(dep) => format!("it reads the model {dep}, which cannot be used"),
                    None => saasql_common::error::one_line(&e.strip_backtrace())
                        .trim_start_matches("Error during planning: ")
                        .to_string(),
                };
                let message = format!(
                    "model {} ({}:{}) cannot be used: {why}",
                    file.name,
                    shown(&file.path),
                    statement.line,
                );
                super::tables::register_unreadable(ctx, &file.name, message.clone(), &[])?;
                messages.push(format!("warning: {message}"));
                info.unavailable = Some(message);
                models.infos.push(info);
                continue;
            }
            Err(e) => return Err(script.error(statement, CliError::datafusion(&e), Some(&e))),
        };
        let created =
            saasql::models::create_view(ctx, &file.name, plan, &file.sql).map_err(|e| {
                CliError::datafusion(&e).context(format!("model {}", shown(&file.path)))
            })?;
        if let Some(table) = created.replaced {
            messages.push(format!(
                "notice: model {} ({}) replaces the table {}",
                file.name,
                shown(&file.path),
                file.name
            ));
            models.shadowed.push((file.name.clone(), table));
            info.replaces_table = true;
        }
        models.views.push((file.name.clone(), created.view));
        models.infos.push(info);
    }
    models.messages = messages.clone();
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(models));
    Ok(messages)
}

/// Whether planning failed because a table is missing or unreadable.
fn is_missing_table(e: &DataFusionError) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if err
            .downcast_ref::<saasql_common::error::UnreadableTable>()
            .is_some()
        {
            return true;
        }
        current = err.source();
    }
    let text = e.to_string();
    text.contains("table '") && text.contains("' not found")
}

/// The `$parameter` defaults of a session (a session extension): values,
/// and queries run the first time a statement uses them.
#[derive(Debug, Default)]
pub struct ParamDefaults {
    defaults: BTreeMap<String, ParamDefault>,
    computed: Mutex<HashMap<String, ScalarValue>>,
}

impl ParamDefaults {
    /// The defaults of `config`.
    pub fn new(defaults: BTreeMap<String, ParamDefault>) -> Self {
        Self {
            defaults,
            computed: Mutex::default(),
        }
    }
}

/// Attaches `defaults` to `ctx`.
pub fn set_param_defaults(ctx: &SessionContext, defaults: BTreeMap<String, ParamDefault>) {
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(ParamDefaults::new(defaults)));
}

fn param_defaults(ctx: &SessionContext) -> Option<Arc<ParamDefaults>> {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<ParamDefaults>()
}

/// Whether `$name` has a default in the session's config or project.
pub fn has_param_default(ctx: &SessionContext, name: &str) -> bool {
    param_defaults(ctx).is_some_and(|d| d.defaults.contains_key(name))
}

/// The default of `$name`, computing it (once per session) when it is a
/// query; `None` when there is none.
pub async fn param_default(
    ctx: &SessionContext,
    name: &str,
) -> datafusion::common::Result<Option<ScalarValue>> {
    let Some(defaults) = param_defaults(ctx) else {
        return Ok(None);
    };
    let Some(default) = defaults.defaults.get(name) else {
        return Ok(None);
    };
    let sql = match &default.value {
        ParamValue::Value(v) => return Ok(Some(v.clone())),
        ParamValue::Query(sql) => sql,
    };
    if let Some(v) = defaults
        .computed
        .lock()
        .ok()
        .and_then(|c| c.get(name).cloned())
    {
        return Ok(Some(v));
    }
    let origin = shown(&default.origin);
    let fail = |why: String| {
        DataFusionError::Plan(format!(
            "${name}: its default in {origin} (params.{name}) {why}"
        ))
    };
    // A query, nothing else: no DDL, DML or SET from a default.
    let read_only = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let batches = async { ctx.sql_with_options(sql, read_only).await?.collect().await }
        .await
        .map_err(|e| {
            fail(format!(
                "failed: {}",
                e.strip_backtrace()
                    .trim_start_matches("Error during planning: ")
            ))
        })?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let columns = batches.first().map_or(0, RecordBatch::num_columns);
    if rows != 1 || columns != 1 {
        return Err(fail(format!(
            "must return one row with one column; it returned {rows} row(s) with {columns} column(s)"
        )));
    }
    let batch = batches.iter().find(|b| b.num_rows() == 1).expect("one row");
    let value = ScalarValue::try_from_array(batch.column(0), 0)?;
    if value.is_null() {
        return Err(fail(
            "returned NULL (are the tables it reads empty?); pass --param to choose a value".into(),
        ));
    }
    if let Ok(mut computed) = defaults.computed.lock() {
        computed.insert(name.to_string(), value.clone());
    }
    Ok(Some(value))
}

/// `saasql models`: each model with its description, columns, the models it
/// reads and its file.
pub async fn models_batch(ctx: &SessionContext) -> CliResult<(SchemaRef, RecordBatch)> {
    let models = models_of(ctx);
    let models = &models.infos;
    let mut columns = vec![];
    for m in models {
        if let Some(why) = &m.unavailable {
            columns.push(format!("(unavailable: {why})"));
            continue;
        }
        let df = ctx
            .table(m.name.as_str())
            .await
            .map_err(|e| CliError::datafusion(&e))?;
        let text: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), sql_type(f.data_type())))
            .collect();
        columns.push(text.join(", "));
    }
    let text = |values: Vec<Option<String>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("columns", DataType::Utf8, false),
        Field::new("depends_on", DataType::Utf8, false),
        Field::new("replaces_table", DataType::Boolean, false),
        Field::new("file", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            text(models.iter().map(|m| Some(m.name.clone())).collect()),
            text(models.iter().map(|m| m.description.clone()).collect()),
            text(columns.into_iter().map(Some).collect()),
            text(
                models
                    .iter()
                    .map(|m| Some(m.depends_on.join(", ")))
                    .collect(),
            ),
            Arc::new(BooleanArray::from(
                models.iter().map(|m| m.replaces_table).collect::<Vec<_>>(),
            )),
            text(models.iter().map(|m| Some(shown(&m.path))).collect()),
        ],
    )
    .map_err(|e| CliError::query(e.to_string()))?;
    Ok((schema, batch))
}

/// A column type as SQL names it (`BIGINT`, `TIMESTAMP WITH TIME ZONE`).
pub fn sql_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INT UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Dictionary(_, value) => sql_type(value),
        other => other.to_string(),
    }
}

/// Words of setting keys whose values `saasql config` does not show.
const SECRET_WORDS: [&str; 6] = [
    "secret",
    "password",
    "token",
    "access_key",
    "account_key",
    "sas_key",
];

/// One line of `saasql config`.
struct ConfigRow {
    key: String,
    value: String,
    source: String,
}

/// `saasql config`: every value in effect and where it came from, weakest
/// layer first: defaults, the user's config file, the project's
/// `saasql.toml`, `--config`, environment variables, flags.
pub fn config_batch(
    global: &super::args::GlobalArgs,
    user_file: Option<&Path>,
) -> CliResult<(SchemaRef, RecordBatch)> {
    use clap::CommandFactory;
    use clap::parser::ValueSource;
    // The same parser as main's, for where each flag's value came from.
    let matches = super::args::Cli::command().get_matches();
    let sub = matches.subcommand().map(|(_, m)| m);
    // Where a flag's value came from: the command line or its variable.
    let origin = |id: &str, var: &str| -> Option<String> {
        let source = sub
            .and_then(|m| m.value_source(id))
            .or_else(|| matches.value_source(id))?;
        Some(match source {
            ValueSource::EnvVariable => var.to_string(),
            _ => format!("--{}", id.replace('_', "-")),
        })
    };
    let project = project_of(global)?;
    let mut layers: Vec<(String, LoadedConfig)> = vec![];
    if let Some(path) = user_file {
        layers.push((
            format!("user config {}", path.display()),
            LoadedConfig::load(path)?,
        ));
    }
    let mut rows = vec![];
    match &project {
        Some(p) => {
            rows.push(ConfigRow {
                key: "project".into(),
                value: p.root.display().to_string(),
                source: origin("project", "SAASQL_PROJECT")
                    .unwrap_or_else(|| "found: the nearest saasql.toml".into()),
            });
            layers.push((
                format!("project {}", shown(&p.file)),
                LoadedConfig::load(&p.file)?,
            ));
            // Part of the project's layer: over the user's config file.
            if p.implicit_data {
                layers.push((
                    "the project's data/ folder (saasql.toml names no data)".into(),
                    LoadedConfig {
                        data: Some(p.root.join("data")),
                        ..LoadedConfig::default()
                    },
                ));
            }
        }
        None => rows.push(ConfigRow {
            key: "project".into(),
            value: "(none)".into(),
            source: search_description(),
        }),
    }
    if let Some(path) = &global.config {
        layers.push((
            origin("config", "SAASQL_CONFIG").map_or_else(
                || format!("--config {}", path.display()),
                |o| format!("{o} {}", path.display()),
            ),
            LoadedConfig::load(path)?,
        ));
    }
    // A single value: the last layer that sets it, then the flag.
    let mut single = |key: &str,
                      get: &dyn Fn(&LoadedConfig) -> Option<String>,
                      flag: Option<(String, String)>,
                      default: Option<(String, String)>| {
        let mut found: Option<(String, String)> = default;
        for (name, layer) in &layers {
            if let Some(v) = get(layer) {
                found = Some((v, name.clone()));
            }
        }
        if let Some(f) = flag {
            found = Some(f);
        }
        if let Some((value, source)) = found {
            rows.push(ConfigRow {
                key: key.into(),
                value,
                source,
            });
        }
    };
    let data_default = super::tables::default_data_dir()
        .map(|d| (d.display().to_string(), "default: ./data".to_string()))
        .or_else(|| Some(("(none)".into(), "no --data, config or ./data".into())));
    single(
        "data",
        &|c| {
            c.data
                .as_ref()
                .map(|d| saasql_common::error::redact_secrets(&d.display().to_string()))
        },
        global.data.as_ref().map(|d| {
            (
                d.display().to_string(),
                origin("data", "SAASQL_DATA").unwrap_or_default(),
            )
        }),
        data_default,
    );
    single(
        "memory_limit",
        &|c| c.memory_limit.map(|b| format!("{b} bytes")),
        global.memory_limit.map(|b| {
            (
                format!("{b} bytes"),
                origin("memory_limit", "SAASQL_MEMORY_LIMIT").unwrap_or_default(),
            )
        }),
        Some(("none (no limit)".into(), "default".into())),
    );
    single(
        "target_partitions",
        &|c| c.target_partitions.map(|n| n.to_string()),
        global.target_partitions.map(|n| {
            (
                n.to_string(),
                origin("target_partitions", "SAASQL_TARGET_PARTITIONS").unwrap_or_default(),
            )
        }),
        Some((
            std::thread::available_parallelism()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "1".into()),
            "default: CPU cores".into(),
        )),
    );
    single(
        "format",
        &|_| None,
        global.format.map(|f| {
            (
                f.name().to_string(),
                origin("format", "SAASQL_FORMAT").unwrap_or_default(),
            )
        }),
        Some(("table".into(), "default".into())),
    );
    let char_text = |b: u8| match b {
        b'\t' => "\\t".to_string(),
        b => (b as char).to_string(),
    };
    let defaults = super::tables::ReadOptions::default();
    single(
        "union_by_name",
        &|c| c.union_by_name.map(|b| b.to_string()),
        None,
        Some((defaults.union_by_name.to_string(), "default".into())),
    );
    single(
        "csv.header",
        &|c| c.csv_header.map(|b| b.to_string()),
        None,
        Some((defaults.csv_header.to_string(), "default".into())),
    );
    single(
        "csv.delimiter",
        &|c| c.csv_delimiter.map(char_text),
        None,
        Some((char_text(defaults.csv_delimiter), "default".into())),
    );
    single(
        "csv.quote",
        &|c| c.csv_quote.map(char_text),
        None,
        Some((char_text(defaults.csv_quote), "default".into())),
    );
    // Keyed values: the last layer that sets each key.
    let mut keyed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (name, layer) in &layers {
        for (table, location) in &layer.tables {
            // postgres://user:password@… shows no password.
            keyed.insert(
                format!("tables.{table}"),
                (saasql_common::error::redact_secrets(location), name.clone()),
            );
        }
        for (key, value, _) in &layer.settings {
            // A secret-looking setting (refused by SET anyway) is not shown.
            let lower = key.to_ascii_lowercase();
            let value = if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                "(set)".to_string()
            } else {
                value.clone()
            };
            keyed.insert(format!("settings.{key}"), (value, name.clone()));
        }
        for key in &layer.storage_keys {
            // Storage values may be secrets: never printed.
            keyed.insert(format!("storage.{key}"), ("(set)".into(), name.clone()));
        }
        for (param, default) in &layer.params {
            let value = match &default.value {
                ParamValue::Value(v) => v.to_string(),
                ParamValue::Query(sql) => format!("computed when used: {sql}"),
            };
            keyed.insert(format!("params.{param}"), (value, name.clone()));
        }
        let notify = &layer.notify;
        let mut set = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                keyed.insert(format!("notify.{key}"), (value, name.clone()));
            }
        };
        set("on", notify.on.map(|s| s.name().to_string()));
        set(
            "command",
            notify.command.as_deref().map(super::notify::shown_command),
        );
        // Where the URL is read from; never the URL.
        set("webhook", notify.webhook.as_ref().map(|w| w.describe()));
        set(
            "timeout",
            notify.timeout.map(|t| format!("{}s", t.as_secs())),
        );
        set("retries", notify.retries.map(|r| r.to_string()));
    }
    for raw in &global.params {
        if let Some((name, value)) = raw.split_once('=') {
            let name = name.trim().trim_start_matches('$');
            keyed.insert(
                format!("params.{name}"),
                (value.to_string(), "--param".into()),
            );
        }
    }
    rows.extend(
        keyed
            .into_iter()
            .map(|(key, (value, source))| ConfigRow { key, value, source }),
    );
    if let Some(dir) = project.as_ref().and_then(Project::models_dir) {
        let count = saasql::models::find_models(&dir).map_or(0, |m| m.len());
        rows.push(ConfigRow {
            key: "models".into(),
            value: format!("{count} in {}", dir.display()),
            source: "the project's models/ folder".into(),
        });
    }
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
    ]));
    let column = |f: &dyn Fn(&ConfigRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            column(&|r| r.key.as_str()),
            column(&|r| r.value.as_str()),
            column(&|r| r.source.as_str()),
        ],
    )
    .map_err(|e| CliError::query(e.to_string()))?;
    Ok((schema, batch))
}
