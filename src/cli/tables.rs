//! Registering Parquet files and folders as tables.
//!
//! A table that cannot be read does not stop the session: it is reported
//! once as a warning at start, and only the queries that use it fail, with
//! the same message naming the file ([`GuardedSchema`]). Before a table is
//! registered, every local file of it is checked: an empty or unreadable
//! Parquet file, or files that disagree on their columns (say
//! `customers.parquet` and `invoices.parquet` in one folder), make the table
//! unreadable, unless the config opts in to `union_by_name`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;

use super::error::{CliError, CliResult, one_line};

/// How deep folders are searched for table files.
const MAX_DEPTH: usize = 32;

/// How tables are read (from the config file).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Read a folder whose files have different columns as one table whose
    /// columns are the union of theirs (matched by name; all nullable).
    pub union_by_name: bool,
}

/// The data directory used when neither `--data`, `SAASQL_DATA` nor the
/// config names one: `./data` if it exists. There is no other fallback: the
/// binary must not depend on the tree it was built in (a copied or
/// `cargo install`ed saasql has no sample data next to it).
pub fn default_data_dir() -> Option<PathBuf> {
    let local = PathBuf::from("data");
    local.is_dir().then_some(local)
}

/// A session extension, present when no data directory was found: the
/// session has no tables from one, and a query that names a missing table
/// says how to point saasql at data ([`NO_DATA_DIR_HINT`]).
#[derive(Debug)]
pub struct NoDataDir;

/// How to point saasql at data, for sessions without a data directory.
pub const NO_DATA_DIR_HINT: &str = "No data directory was found (no --data, SAASQL_DATA, \
    `data =` in the config file, or ./data): point saasql at your Parquet files with \
    --data DIR, `data = \"DIR\"` in ~/.config/saasql/config.toml or SAASQL_DATA=DIR";

/// Whether `ctx` was set up without a data directory.
pub fn has_no_data_dir(ctx: &SessionContext) -> bool {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<NoDataDir>()
        .is_some()
}

/// Marks `ctx` as set up without a data directory.
pub fn mark_no_data_dir(ctx: &SessionContext) {
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(NoDataDir));
}

/// Finds the tables in `dir`: each `NAME.parquet` file and each folder that
/// holds Parquet files (at any depth, e.g. hive partitions) is table `NAME`.
/// Names starting with `.` or `_` are skipped. Entries that cannot become a
/// table (a name that is not UTF-8) are returned as warnings.
pub fn scan_data_dir(dir: &Path) -> CliResult<(BTreeMap<String, PathBuf>, Vec<String>)> {
    let entries = fs::read_dir(dir).map_err(|e| {
        CliError::input(format!("cannot read data directory {}: {e}", dir.display()))
    })?;
    let mut tables: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut warnings = vec![];
    for entry in entries {
        let entry = entry.map_err(|e| {
            CliError::input(format!("cannot read data directory {}: {e}", dir.display()))
        })?;
        let path = entry.path();
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
            warnings.push(format!(
                "{}: skipped, the name is not valid UTF-8",
                path.display()
            ));
            continue;
        };
        if file_name.starts_with(['.', '_']) {
            continue;
        }
        let name = if path.is_dir() {
            if !contains_parquet(&path, 0) {
                continue;
            }
            file_name
        } else if let Some(stem) = file_name.strip_suffix(".parquet") {
            stem.to_string()
        } else {
            continue;
        };
        if let Some(other) = tables.get(&name) {
            return Err(CliError::input(format!(
                "two tables named '{name}' in {}: {} and {}",
                dir.display(),
                other.display(),
                path.display()
            )));
        }
        tables.insert(name, path);
    }
    Ok((tables, warnings))
}

fn contains_parquet(dir: &Path, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(['.', '_']) {
            return false;
        }
        let path = e.path();
        if path.is_dir() {
            contains_parquet(&path, depth + 1)
        } else {
            name.ends_with(".parquet")
        }
    })
}

/// Registers every table of `dir` (see [`scan_data_dir`]); returns the
/// warnings about tables that cannot be read.
pub async fn register_data_dir(
    ctx: &SessionContext,
    dir: &Path,
    opts: ReadOptions,
) -> CliResult<Vec<String>> {
    let (tables, mut warnings) = scan_data_dir(dir)?;
    for (name, path) in tables {
        let location = if path.is_dir() {
            format!("{}/", path.display())
        } else {
            path.display().to_string()
        };
        warnings.extend(register_parquet(ctx, &name, &location, opts).await?);
    }
    Ok(warnings)
}

/// Registers the Parquet file, folder (ending in `/`) or glob at `location`
/// as table `name`, replacing a table of that name. `key=value` folders
/// become partition columns of type VARCHAR.
///
/// A table that cannot be read is registered as unreadable: the returned
/// warning says why, and every query that uses it fails with that message.
pub async fn register_parquet(
    ctx: &SessionContext,
    name: &str,
    location: &str,
    opts: ReadOptions,
) -> CliResult<Option<String>> {
    match listing_table(ctx, location, opts).await {
        Ok(table) => {
            let reference = TableReference::bare(name);
            let fail = |e: DataFusionError| {
                CliError::datafusion(&e).context(format!("table '{name}' ({location})"))
            };
            ctx.deregister_table(reference.clone()).map_err(fail)?;
            ctx.register_table(reference, table).map_err(fail)?;
            Ok(None)
        }
        Err(problem) => {
            let message = format!("table '{name}' cannot be read: {problem}");
            let guard = guarded_schema(ctx).ok_or_else(|| CliError::input(message.clone()))?;
            let _ = ctx.deregister_table(TableReference::bare(name));
            guard.mark_unreadable(name, &message);
            Ok(Some(message))
        }
    }
}

/// The listing table for `location`, or why it cannot be read.
async fn listing_table(
    ctx: &SessionContext,
    location: &str,
    opts: ReadOptions,
) -> std::result::Result<Arc<dyn TableProvider>, String> {
    let mixed = check_local_files(location)?;
    let state = ctx.state();
    let df_error = |e: DataFusionError| one_line(&e.strip_backtrace());
    let url = ListingTableUrl::parse(location).map_err(df_error)?;
    let format = ParquetFormat::new().with_options(state.default_table_options().parquet);
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let partitions = options
        .infer_partitions(&state, &url)
        .await
        .map_err(df_error)?;
    let options = options.with_table_partition_cols(
        partitions
            .into_iter()
            .map(|p| (p, DataType::Utf8))
            .collect(),
    );
    let mut config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .infer_schema(&state)
        .await
        .map_err(df_error)?;
    if let Some(schema) = &config.file_schema {
        if schema.fields().is_empty() {
            return Err(format!("{location} has no columns"));
        }
        if let Some(mixed) = mixed {
            if !opts.union_by_name {
                return Err(format!(
                    "{mixed}; set union_by_name = true in the config file to read them as one table"
                ));
            }
            // Columns missing from some files are NULL there.
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            config = config.with_schema(Arc::new(Schema::new(fields)));
        }
    }
    let table = ListingTable::try_new(config).map_err(df_error)?;
    Ok(Arc::new(table))
}

/// Checks the Parquet files of a local file or folder: each must be a
/// readable Parquet file. Returns a note when the files' columns differ
/// (names and types), naming two files that disagree. Globs and URLs are
/// left to the reader.
fn check_local_files(location: &str) -> std::result::Result<Option<String>, String> {
    if location.contains("://") || location.contains(['*', '?', '[']) {
        return Ok(None);
    }
    let root = Path::new(location);
    let meta = fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut files = vec![];
    if meta.is_dir() {
        let mut seen = HashSet::new();
        collect_parquet(root, 0, &mut seen, &mut files)?;
    } else {
        files.push(root.to_path_buf());
    }
    let mut first: Option<(PathBuf, Vec<(String, DataType)>)> = None;
    let mut mixed = None;
    for file in files {
        let columns = parquet_columns(&file)?;
        match &first {
            None => first = Some((file, columns)),
            Some((first_file, first_columns)) => {
                if mixed.is_none() && *first_columns != columns {
                    mixed = Some(format!(
                        "its files have different columns: {} has ({}) but {} has ({})",
                        first_file.display(),
                        describe(first_columns),
                        file.display(),
                        describe(&columns)
                    ));
                }
            }
        }
    }
    Ok(mixed)
}

fn describe(columns: &[(String, DataType)]) -> String {
    const SHOWN: usize = 6;
    let mut parts: Vec<String> = columns
        .iter()
        .take(SHOWN)
        .map(|(n, t)| format!("{n} {t}"))
        .collect();
    if columns.len() > SHOWN {
        parts.push(format!("… {} more", columns.len() - SHOWN));
    }
    parts.join(", ")
}

/// The Parquet files under `dir` (skipping `.`/`_` names), in name order.
fn collect_parquet(
    dir: &Path,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> std::result::Result<(), String> {
    let real = fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if depth > MAX_DEPTH || !seen.insert(real) {
        return Err(format!(
            "{}: folders nest too deep or loop through a symbolic link",
            dir.display()
        ));
    }
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(format!("{}: the name is not valid UTF-8", path.display()));
        };
        if name.starts_with(['.', '_']) {
            continue;
        }
        let meta = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            collect_parquet(&path, depth + 1, seen, out)?;
        } else if name.ends_with(".parquet") {
            out.push(path);
        }
    }
    Ok(())
}

/// A Parquet file's columns (name and Arrow type), or why it cannot be read.
fn parquet_columns(path: &Path) -> std::result::Result<Vec<(String, DataType)>, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len == 0 {
        return Err(format!(
            "{} is empty (0 bytes), not a Parquet file",
            path.display()
        ));
    }
    // A damaged footer can make the Arrow schema decoder panic (arrow-ipc
    // 59 unwraps some fields): catch it quietly, it is one more way for a
    // file to be unreadable.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(move || {
        ParquetRecordBatchReaderBuilder::try_new(file).map(|r| {
            r.schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect::<Vec<_>>()
        })
    });
    std::panic::set_hook(quiet);
    match opened {
        Ok(Ok(columns)) => Ok(columns),
        Ok(Err(e)) => Err(format!(
            "{} is not a readable Parquet file: {e}",
            path.display()
        )),
        Err(_) => Err(format!(
            "{} is not a readable Parquet file: its footer is damaged",
            path.display()
        )),
    }
}

/// Why a table cannot be read; the error every query using it gets.
#[derive(Debug)]
pub struct UnreadableTable(pub String);

impl fmt::Display for UnreadableTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UnreadableTable {}

/// The session's default schema, wrapped so that a table that could not be
/// registered answers every lookup with its problem instead of "not found".
/// Unreadable tables are not listed (so `SHOW TABLES` and `\d` work).
#[derive(Debug)]
pub struct GuardedSchema {
    inner: Arc<dyn SchemaProvider>,
    unreadable: RwLock<HashMap<String, String>>,
}

impl GuardedSchema {
    fn mark_unreadable(&self, name: &str, message: &str) {
        if let Ok(mut map) = self.unreadable.write() {
            map.insert(name.to_string(), message.to_string());
        }
    }

    fn forget(&self, name: &str) {
        if let Ok(mut map) = self.unreadable.write() {
            map.remove(name);
        }
    }
}

#[async_trait]
impl SchemaProvider for GuardedSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let problem = self
            .unreadable
            .read()
            .ok()
            .and_then(|map| map.get(name).cloned());
        match problem {
            Some(message) => Err(DataFusionError::External(Box::new(UnreadableTable(
                message,
            )))),
            None => self.inner.table(name).await,
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.forget(&name);
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.forget(name);
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// Every schema of every catalog of the session (to list or search tables).
pub fn schemas(ctx: &SessionContext) -> Vec<Arc<dyn SchemaProvider>> {
    ctx.catalog_names()
        .iter()
        .filter_map(|c| ctx.catalog(c))
        .flat_map(|catalog| {
            catalog
                .schema_names()
                .iter()
                .filter_map(|s| catalog.schema(s))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Wraps the session's default schema in a [`GuardedSchema`] (once), and
/// keeps a handle to it in the session config: lookups through the catalog
/// may see it wrapped again (`enable_url_table` does), so it cannot be found
/// by downcasting what the catalog returns.
pub fn guard_default_schema(ctx: &SessionContext) -> Result<()> {
    if guarded_schema(ctx).is_some() {
        return Ok(());
    }
    let state = ctx.state();
    let options = &state.config().options().catalog;
    let (catalog_name, schema_name) = (
        options.default_catalog.clone(),
        options.default_schema.clone(),
    );
    let Some(catalog) = ctx.catalog(&catalog_name) else {
        return Ok(());
    };
    let Some(inner) = catalog.schema(&schema_name) else {
        return Ok(());
    };
    let guarded = Arc::new(GuardedSchema {
        inner,
        unreadable: RwLock::new(HashMap::new()),
    });
    catalog.register_schema(
        &schema_name,
        Arc::clone(&guarded) as Arc<dyn SchemaProvider>,
    )?;
    ctx.state_ref().write().config_mut().set_extension(guarded);
    Ok(())
}

fn guarded_schema(ctx: &SessionContext) -> Option<Arc<GuardedSchema>> {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<GuardedSchema>()
}
