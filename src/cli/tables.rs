//! Registering data files and folders as tables: Parquet, CSV, JSON lines
//! and Arrow IPC, CSV and JSON also compressed (`.gz`, `.zst`, `.bz2`, `.xz`),
//! recognised by their file extension.
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
use std::sync::{Arc, OnceLock, RwLock, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{DynamicFileCatalog, SchemaProvider, TableProvider, UrlTableFactory};
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::arrow::ArrowFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::session_state::SessionState;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;

use super::error::{CliError, CliResult, UnreadableTable, one_line};

/// How deep folders are searched for table files.
const MAX_DEPTH: usize = 32;

/// How tables are read (from the config file).
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Read a folder whose files have different columns as one table whose
    /// columns are the union of theirs (matched by name; all nullable).
    pub union_by_name: bool,
    /// CSV: the first line holds the column names.
    pub csv_header: bool,
    /// CSV: the field separator (`.tsv` files always use a tab).
    pub csv_delimiter: u8,
    /// CSV: the quote character.
    pub csv_quote: u8,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            union_by_name: false,
            csv_header: true,
            csv_delimiter: b',',
            csv_quote: b'"',
        }
    }
}

/// The file formats tables are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Parquet,
    Csv,
    Tsv,
    Json,
    Arrow,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Parquet => "Parquet",
            Kind::Csv => "CSV",
            Kind::Tsv => "TSV",
            Kind::Json => "JSON lines",
            Kind::Arrow => "Arrow IPC",
        }
    }
}

/// A data file's format from its name: the format, its compression and the
/// whole extension (`.csv.gz`), or `None` for other files.
fn data_kind(name: &str) -> Option<(Kind, FileCompressionType, &'static str)> {
    const KINDS: [(&str, Kind); 9] = [
        (".parquet", Kind::Parquet),
        (".csv", Kind::Csv),
        (".tsv", Kind::Tsv),
        (".json", Kind::Json),
        (".jsonl", Kind::Json),
        (".ndjson", Kind::Json),
        (".arrow", Kind::Arrow),
        (".ipc", Kind::Arrow),
        (".feather", Kind::Arrow),
    ];
    const COMPRESSIONS: [(&str, FileCompressionType); 5] = [
        ("", FileCompressionType::UNCOMPRESSED),
        (".gz", FileCompressionType::GZIP),
        (".zst", FileCompressionType::ZSTD),
        (".bz2", FileCompressionType::BZIP2),
        (".xz", FileCompressionType::XZ),
    ];
    const EXTENSIONS: [[&str; 5]; 9] = [
        [".parquet", "", "", "", ""],
        [".csv", ".csv.gz", ".csv.zst", ".csv.bz2", ".csv.xz"],
        [".tsv", ".tsv.gz", ".tsv.zst", ".tsv.bz2", ".tsv.xz"],
        [".json", ".json.gz", ".json.zst", ".json.bz2", ".json.xz"],
        [
            ".jsonl",
            ".jsonl.gz",
            ".jsonl.zst",
            ".jsonl.bz2",
            ".jsonl.xz",
        ],
        [
            ".ndjson",
            ".ndjson.gz",
            ".ndjson.zst",
            ".ndjson.bz2",
            ".ndjson.xz",
        ],
        [".arrow", "", "", "", ""],
        [".ipc", "", "", "", ""],
        [".feather", "", "", "", ""],
    ];
    let lower = name.to_ascii_lowercase();
    for (i, (_, kind)) in KINDS.iter().enumerate() {
        for (j, (_, compression)) in COMPRESSIONS.iter().enumerate() {
            let ext = EXTENSIONS[i][j];
            if !ext.is_empty() && lower.ends_with(ext) && lower.len() > ext.len() {
                return Some((*kind, *compression, ext));
            }
        }
    }
    None
}

/// Extensions of data formats saasql does not read: such files are named in
/// a warning rather than skipped in silence.
const UNSUPPORTED: [&str; 6] = [".avro", ".orc", ".xlsx", ".xls", ".sqlite", ".db"];

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
    `data =` in the config file, or ./data): point saasql at your data files with \
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

/// Finds the tables in `dir`: each data file `NAME.EXT` (see [`data_kind`])
/// and each folder that holds data files (at any depth, e.g. hive
/// partitions) is table `NAME`.
/// Names starting with `.` or `_` are skipped. Entries that cannot become a
/// table (a name that is not UTF-8) are returned as warnings. Two entries
/// that would be tables of the same name (`empty.csv` and `empty.parquet`)
/// make that name an `Err` saying so: only queries using it fail.
pub fn scan_data_dir(dir: &Path) -> CliResult<(BTreeMap<String, Found>, Vec<String>)> {
    let entries = fs::read_dir(dir).map_err(|e| {
        CliError::input(format!("cannot read data directory {}: {e}", dir.display()))
    })?;
    let mut tables: BTreeMap<String, Found> = BTreeMap::new();
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
            if !contains_data(&path, 0) {
                continue;
            }
            file_name
        } else if let Some((_, _, ext)) = data_kind(&file_name) {
            file_name[..file_name.len() - ext.len()].to_string()
        } else {
            let lower = file_name.to_ascii_lowercase();
            if let Some(ext) = UNSUPPORTED.iter().find(|e| lower.ends_with(*e)) {
                warnings.push(format!(
                    "{}: skipped, saasql does not read {ext} files (it reads Parquet, CSV, TSV, JSON lines and Arrow IPC)",
                    path.display()
                ));
            }
            continue;
        };
        let location = if path.is_dir() {
            format!("{}/", path.display())
        } else {
            path.display().to_string()
        };
        add_found(&mut tables, name, location);
    }
    Ok((tables, warnings))
}

/// A table found in a data directory: its location, or more than one when
/// two files or folders would be tables of that name (a clash).
pub type Found = Vec<String>;

/// Adds table `name` at `location` to `tables`.
fn add_found(tables: &mut BTreeMap<String, Found>, name: String, location: String) {
    let found = tables.entry(name).or_default();
    if !found.contains(&location) {
        found.push(location);
    }
}

/// Registers the tables found in data directory `dir`: each readable one,
/// and each clash as an unreadable table naming its files. Returns the
/// warnings.
async fn register_found(
    ctx: &SessionContext,
    dir: &str,
    tables: BTreeMap<String, Found>,
    opts: ReadOptions,
) -> CliResult<Vec<String>> {
    let mut warnings = vec![];
    for (name, found) in tables {
        match &found[..] {
            [location] => warnings.extend(register_table(ctx, &name, location, opts).await?),
            [first @ .., last] => {
                let message = format!(
                    "{} tables named '{name}' in {dir}: {} and {last}; rename or move one of them",
                    if found.len() == 2 { "two" } else { "several" },
                    first.join(", "),
                );
                warnings.push(register_unreadable(ctx, &name, message, &found)?);
            }
            [] => {}
        }
    }
    Ok(warnings)
}

fn contains_data(dir: &Path, depth: usize) -> bool {
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
            contains_data(&path, depth + 1)
        } else {
            data_kind(&name).is_some()
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
    warnings.extend(register_found(ctx, &dir.display().to_string(), tables, opts).await?);
    Ok(warnings)
}

/// Registers the data file, folder (ending in `/`) or glob at `location` as
/// table `name`, replacing a table of that name. The format comes from the
/// file extension (a folder's files must share one format); `key=value`
/// folders become partition columns of type VARCHAR.
///
/// A table that cannot be read is registered as unreadable: the returned
/// warning says why, and every query that uses it fails with that message.
pub async fn register_table(
    ctx: &SessionContext,
    name: &str,
    location: &str,
    opts: ReadOptions,
) -> CliResult<Option<String>> {
    match listing_table(&ctx.state(), location, opts).await {
        Ok(table) => {
            let reference = TableReference::bare(name);
            let fail = |e: DataFusionError| {
                CliError::datafusion(&e).context(format!("table '{name}' ({location})"))
            };
            ctx.deregister_table(reference.clone()).map_err(fail)?;
            ctx.register_table(reference, table).map_err(fail)?;
            Ok(None)
        }
        Err(problem) => Ok(Some(register_unreadable(
            ctx,
            name,
            format!("table '{name}' cannot be read: {problem}"),
            &[location.to_string()],
        )?)),
    }
}

/// Makes every query that uses table `name` (at `locations`) fail with
/// `message`, which is returned (the warning at start).
pub fn register_unreadable(
    ctx: &SessionContext,
    name: &str,
    message: String,
    locations: &[String],
) -> CliResult<String> {
    let message = super::error::without_bug_report(&message);
    let guard = guarded_schema(ctx).ok_or_else(|| CliError::input(message.clone()))?;
    let _ = ctx.deregister_table(TableReference::bare(name));
    guard.mark_unreadable(name, &message, locations);
    Ok(message)
}

/// The locations of the session's unreadable tables: inputs still, which
/// no output may replace.
pub fn unreadable_locations(ctx: &SessionContext) -> Vec<String> {
    guarded_schema(ctx)
        .and_then(|guard| {
            guard
                .unreadable
                .read()
                .ok()
                .map(|map| map.values().flat_map(|(_, l)| l.clone()).collect())
        })
        .unwrap_or_default()
}

/// The listing table for `location`, or why it cannot be read.
async fn listing_table(
    state: &SessionState,
    location: &str,
    opts: ReadOptions,
) -> std::result::Result<Arc<dyn TableProvider>, String> {
    #[cfg(feature = "postgres")]
    if super::postgres::is_postgres(location) {
        return super::postgres::postgres_table(state, location).await;
    }
    let (kind, compression, extension, mixed) = if saasql_common::storage::is_url(location) {
        check_remote_files(state, location).await?
    } else {
        check_local_files(location)?
    };
    let df_error = |e: DataFusionError| describe(&e);
    let url = listing_url(location).map_err(df_error)?;
    let format: Arc<dyn FileFormat> = match kind {
        Kind::Parquet => {
            Arc::new(ParquetFormat::new().with_options(state.default_table_options().parquet))
        }
        Kind::Csv | Kind::Tsv => Arc::new(
            CsvFormat::default()
                .with_has_header(opts.csv_header)
                .with_delimiter(if kind == Kind::Tsv {
                    b'\t'
                } else {
                    opts.csv_delimiter
                })
                .with_quote(opts.csv_quote)
                .with_file_compression_type(compression),
        ),
        Kind::Json => Arc::new(JsonFormat::default().with_file_compression_type(compression)),
        Kind::Arrow => Arc::new(ArrowFormat),
    };
    let options = ListingOptions::new(format).with_file_extension(extension);
    let partitions = options
        .infer_partitions(state, &url)
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
        .infer_schema(state)
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
    let table = ListingTable::try_new(config.clone()).map_err(df_error)?;
    if kind == Kind::Json
        && let Some(file_schema) = config.file_schema.clone()
        && let Some(schema) = json_times(state, &table, file_schema)
            .await
            .map_err(df_error)?
    {
        let config = config.with_schema(schema);
        return Ok(Arc::new(ListingTable::try_new(config).map_err(df_error)?));
    }
    Ok(Arc::new(table))
}

/// JSON has no time type, so exports write times as text. A text column of
/// a JSON table whose first 1,000 values are all ISO dates (`2025-03-01`)
/// or timestamps (`2025-03-01T10:00:00Z`) is read as a DATE or TIMESTAMP
/// (with time zone UTC when every value carries a zone), as CSV's
/// inference does. Returns the refined file schema, if any column changed.
async fn json_times(
    state: &SessionState,
    table: &ListingTable,
    file_schema: SchemaRef,
) -> Result<Option<SchemaRef>> {
    let text: Vec<&str> = file_schema
        .fields()
        .iter()
        .filter(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
        .map(|f| f.name().as_str())
        .collect();
    if text.is_empty() {
        return Ok(None);
    }
    let sample = SessionContext::new_with_state(state.clone())
        .read_table(Arc::new(table.clone()))?
        .select_columns(&text)?
        .limit(0, Some(1000))?
        .collect()
        .await?;
    let mut fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut changed = false;
    for name in text {
        let mut values = vec![];
        for batch in &sample {
            let Some(column) = batch.column_by_name(name) else {
                continue;
            };
            let column = cast(column, &DataType::Utf8)?;
            values.extend(
                column
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(str::to_string),
            );
        }
        let Some(time_type) = time_type(&values) else {
            continue;
        };
        if let Some(field) = fields.iter_mut().find(|f| f.name() == name) {
            *field = field.clone().with_data_type(time_type);
            changed = true;
        }
    }
    Ok(changed.then(|| Arc::new(Schema::new(fields))))
}

/// DATE, TIMESTAMP or TIMESTAMP WITH TIME ZONE 'UTC' when every value (at
/// least one) is one.
fn time_type(values: &[String]) -> Option<DataType> {
    use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
    use datafusion::arrow::datatypes::TimeUnit;
    if values.is_empty() {
        return None;
    }
    let is_date = |v: &str| {
        v.len() == 10
            && v.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            })
    };
    if values.iter().all(|v| is_date(v)) {
        return Some(DataType::Date32);
    }
    let timestamp =
        |v: &str| v.len() > 10 && is_date(&v[..10]) && string_to_timestamp_nanos(v).is_ok();
    if !values.iter().all(|v| timestamp(v)) {
        return None;
    }
    // A zone: `Z` or an offset (`+02:00`, `-0500`) after the time.
    let zoned = |v: &str| v.ends_with('Z') || v[10..].contains('+') || v[11..].contains('-');
    let zone = values.iter().all(|v| zoned(v)).then(|| Arc::from("UTC"));
    Some(DataType::Timestamp(TimeUnit::Microsecond, zone))
}

/// The format of the table at `location`, and a check of its local files:
/// a folder's files must share one format (and compression); Parquet files
/// must each be readable, and a note says when their columns differ (names
/// and types), naming two files that disagree. URLs and globs take their
/// format from the extension (Parquet when there is none).
#[allow(clippy::type_complexity)]
fn check_local_files(
    location: &str,
) -> std::result::Result<(Kind, FileCompressionType, &'static str, Option<String>), String> {
    let last = location
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(location);
    if location.contains("://") || location.contains(['*', '?', '[']) {
        let (kind, compression, ext) = data_kind(last).unwrap_or((
            Kind::Parquet,
            FileCompressionType::UNCOMPRESSED,
            ".parquet",
        ));
        return Ok((kind, compression, ext, None));
    }
    let root = Path::new(location);
    let meta = fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut files = vec![];
    if meta.is_dir() {
        let mut seen = HashSet::new();
        collect_data_files(root, 0, &mut seen, &mut files)?;
    } else {
        files.push(root.to_path_buf());
    }
    // In a folder, files of other kinds (a README, a _SUCCESS marker) are not
    // the table's; a file named on its own must be a data file.
    let single = !meta.is_dir();
    files.retain(|f| {
        single || data_kind(f.file_name().and_then(|n| n.to_str()).unwrap_or_default()).is_some()
    });
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let Some((kind, compression, ext)) = common_format(&shown)? else {
        return Err(format!("{}: no data files", root.display()));
    };
    if kind != Kind::Parquet {
        for file in &files {
            if fs::metadata(file)
                .map_err(|e| format!("{}: {e}", file.display()))?
                .len()
                == 0
            {
                return Err(format!("{} is empty (0 bytes)", file.display()));
            }
        }
        return Ok((kind, compression, ext, None));
    }
    let mut first: Option<(&PathBuf, Vec<(String, DataType)>)> = None;
    let mut mixed = None;
    for file in &files {
        let columns = parquet_columns(file)?;
        match &first {
            None => first = Some((file, columns)),
            Some((first_file, first_columns)) => {
                if mixed.is_none() && *first_columns != columns {
                    mixed = Some(format!(
                        "its files have different columns: {} has ({}) but {} has ({})",
                        first_file.display(),
                        describe_columns(first_columns),
                        file.display(),
                        describe_columns(&columns)
                    ));
                }
            }
        }
    }
    Ok((kind, compression, ext, mixed))
}

/// `location` as a listing URL. DataFusion takes globs only in local paths;
/// in a URL (`s3://bucket/events/*.csv.gz`) the part from the segment with
/// the first `*`, `?` or `[` on is the glob, matched below the part before.
fn listing_url(location: &str) -> Result<ListingTableUrl> {
    let Some(first) = location.find(['*', '?', '[']) else {
        return ListingTableUrl::parse(location);
    };
    if !saasql_common::storage::is_url(location) {
        return ListingTableUrl::parse(location);
    }
    let cut = location[..first].rfind('/').map_or(0, |i| i + 1);
    let (prefix, pattern) = location.split_at(cut);
    let url = url::Url::parse(prefix).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let glob = glob::Pattern::new(pattern).map_err(|e| {
        DataFusionError::Plan(format!("{location}: '{pattern}' is not a valid glob: {e}"))
    })?;
    ListingTableUrl::try_new(url, Some(glob))
}

/// The data files at an object-storage `location`: the object itself, or
/// every object under it taken as a folder (skipping `.`/`_` names at any
/// level), as paths relative to the store with their sizes.
async fn list_remote(
    state: &SessionState,
    location: &str,
) -> std::result::Result<Vec<(String, u64)>, String> {
    use datafusion::object_store::ObjectStoreExt;
    use futures::TryStreamExt;
    let url = ListingTableUrl::parse(location).map_err(|e| describe(&e))?;
    let store = state
        .runtime_env()
        .object_store(url.object_store())
        .map_err(|e| describe(&e))?;
    let fail = |e: datafusion::object_store::Error| {
        format!(
            "{location}: {}",
            saasql_common::storage::describe_store_error(&e)
        )
    };
    let prefix = url.prefix();
    if !location.ends_with('/') && !prefix.as_ref().is_empty() {
        match store.head(prefix).await {
            Ok(meta) => return Ok(vec![(meta.location.to_string(), meta.size)]),
            Err(datafusion::object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    let listed: Vec<_> = store.list(Some(prefix)).try_collect().await.map_err(fail)?;
    let base = prefix.as_ref().len();
    let mut files: Vec<(String, u64)> = listed
        .into_iter()
        .filter(|meta| {
            let path = meta.location.as_ref();
            let rest = path.get(base..).unwrap_or(path).trim_start_matches('/');
            !rest.split('/').any(|part| part.starts_with(['.', '_']))
        })
        .map(|meta| (meta.location.to_string(), meta.size))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{location}: not found (no objects under it)"));
    }
    Ok(files)
}

/// Like [`check_local_files`] for an object-storage location: a folder's
/// files must share one format; globs take theirs from the extension.
#[allow(clippy::type_complexity)]
async fn check_remote_files(
    state: &SessionState,
    location: &str,
) -> std::result::Result<(Kind, FileCompressionType, &'static str, Option<String>), String> {
    if location.contains(['*', '?', '[']) {
        let last = location.rsplit('/').next().unwrap_or(location);
        let (kind, compression, ext) = data_kind(last).unwrap_or((
            Kind::Parquet,
            FileCompressionType::UNCOMPRESSED,
            ".parquet",
        ));
        return Ok((kind, compression, ext, None));
    }
    let files = list_remote(state, location).await?;
    let single = files.len() == 1 && !location.ends_with('/');
    let mut data = vec![];
    for (file, size) in &files {
        let name = file.rsplit('/').next().unwrap_or(file);
        if data_kind(name).is_none() {
            if single {
                return Err(format!(
                    "{location}: not a Parquet, CSV, TSV, JSON lines or Arrow IPC file (by its extension)"
                ));
            }
            continue;
        }
        if *size == 0 {
            return Err(format!("{file} is empty (0 bytes)"));
        }
        data.push(file.clone());
    }
    let Some((kind, compression, ext)) = common_format(&data)? else {
        return Err(format!("{location}: no data files"));
    };
    Ok((kind, compression, ext, None))
}

/// Registers every table under the object-storage folder `url`, as
/// [`register_data_dir`] does for a local folder: each data file `NAME.EXT`
/// directly in it, and each sub-folder holding data files, is table `NAME`.
pub async fn register_data_url(
    ctx: &SessionContext,
    url: &str,
    opts: ReadOptions,
) -> CliResult<Vec<String>> {
    let folder = if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    };
    let files = list_remote(&ctx.state(), &folder)
        .await
        .map_err(|e| CliError::input(format!("data directory {e}")))?;
    let parsed = ListingTableUrl::parse(&folder).map_err(|e| CliError::input(describe(&e)))?;
    let base = parsed.prefix().as_ref().len();
    let mut tables: BTreeMap<String, Found> = BTreeMap::new();
    for (file, _) in &files {
        let rest = file.get(base..).unwrap_or(file).trim_start_matches('/');
        let (name, location) = match rest.split_once('/') {
            Some((dir, inner)) => {
                let leaf = inner.rsplit('/').next().unwrap_or(inner);
                if data_kind(leaf).is_none() {
                    continue;
                }
                (dir.to_string(), format!("{folder}{dir}/"))
            }
            None => match data_kind(rest) {
                Some((_, _, ext)) => (
                    rest[..rest.len() - ext.len()].to_string(),
                    format!("{folder}{rest}"),
                ),
                None => continue,
            },
        };
        add_found(&mut tables, name, location);
    }
    if tables.is_empty() {
        return Err(CliError::input(format!(
            "data directory {folder}: no data files"
        )));
    }
    register_found(ctx, &folder, tables, opts).await
}

/// The format that every one of `files` (paths as shown) has, `None` for
/// no files; an error names a file that is not a data file, or two files
/// whose formats differ.
#[allow(clippy::type_complexity)]
fn common_format(
    files: &[String],
) -> std::result::Result<Option<(Kind, FileCompressionType, &'static str)>, String> {
    let mut found: Option<(&str, Kind, FileCompressionType, &'static str)> = None;
    for file in files {
        let name = file.rsplit('/').next().unwrap_or(file);
        let Some((kind, compression, ext)) = data_kind(name) else {
            return Err(format!(
                "{file}: not a Parquet, CSV, TSV, JSON lines or Arrow IPC file (by its extension)"
            ));
        };
        match found {
            None => found = Some((file, kind, compression, ext)),
            Some((first, k, _, e)) if k != kind || e != ext => {
                return Err(format!(
                    "its files mix formats: {first} is {} but {file} is {}; put each format in its own folder",
                    describe_format(k, e),
                    describe_format(kind, ext)
                ));
            }
            Some(_) => {}
        }
    }
    Ok(found.map(|(_, kind, compression, ext)| (kind, compression, ext)))
}

/// `CSV` or `CSV (.csv.gz)`.
fn describe_format(kind: Kind, ext: &str) -> String {
    format!("{} ({ext})", kind.name())
}

/// One line for a DataFusion error; object storage's errors without their
/// request details.
fn describe(e: &DataFusionError) -> String {
    saasql_common::storage::describe_error(e).unwrap_or_else(|| one_line(&e.strip_backtrace()))
}

fn describe_columns(columns: &[(String, DataType)]) -> String {
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

/// The files under `dir` (skipping `.`/`_` names), in name order.
fn collect_data_files(
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
            collect_data_files(&path, depth + 1, seen, out)?;
        } else {
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

/// The session's default schema, wrapped so that a table that could not be
/// registered answers every lookup with its problem instead of "not found".
/// Unreadable tables are not listed (so `SHOW TABLES` and `\d` work).
#[derive(Debug)]
pub struct GuardedSchema {
    inner: Arc<dyn SchemaProvider>,
    /// Each unreadable table's problem and locations.
    unreadable: RwLock<HashMap<String, (String, Vec<String>)>>,
}

impl GuardedSchema {
    fn mark_unreadable(&self, name: &str, message: &str, locations: &[String]) {
        if let Ok(mut map) = self.unreadable.write() {
            map.insert(name.to_string(), (message.to_string(), locations.to_vec()));
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
            .and_then(|map| map.get(name).map(|(message, _)| message.clone()));
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

/// Keeps the read options in the session, for tables registered later
/// (batch job inputs).
pub fn set_read_options(ctx: &SessionContext, read: ReadOptions) {
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(read));
}

/// `SELECT … FROM 'path or URL'`: a quoted location that is not a table
/// name is read as [`register_table`] reads a table (every format, object
/// storage), and when it cannot be read the query fails saying why (exit
/// 3), rather than with "table not found".
#[derive(Default)]
struct UrlTables {
    session: OnceLock<Weak<parking_lot::RwLock<SessionState>>>,
}

impl fmt::Debug for UrlTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UrlTables")
    }
}

/// Whether a table name is meant as a file, folder or URL.
fn is_location(name: &str) -> bool {
    name.contains('/') || name.contains("://") || data_kind(name).is_some()
}

#[async_trait]
impl UrlTableFactory for UrlTables {
    async fn try_new(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if !is_location(name) {
            return Ok(None);
        }
        let Some(state) = self
            .session
            .get()
            .and_then(Weak::upgrade)
            .map(|s| s.read().clone())
        else {
            return Ok(None);
        };
        let opts = state
            .config()
            .get_extension::<ReadOptions>()
            .map(|r| *r)
            .unwrap_or_default();
        match listing_table(&state, name, opts).await {
            Ok(table) => Ok(Some(table)),
            Err(problem) => Err(DataFusionError::External(Box::new(UnreadableTable(
                format!("'{name}' cannot be read: {problem}"),
            )))),
        }
    }
}

/// `ctx` with quoted locations as tables ([`UrlTables`]), in place of
/// DataFusion's `enable_url_table`, which reads fewer formats and turns
/// every problem into "table not found".
pub fn enable_url_tables(ctx: SessionContext) -> SessionContext {
    let current = Arc::clone(ctx.state_ref().read().catalog_list());
    let factory = Arc::new(UrlTables::default());
    let catalogs = Arc::new(DynamicFileCatalog::new(
        current,
        Arc::clone(&factory) as Arc<dyn UrlTableFactory>,
    ));
    let session_id = ctx.session_id();
    let ctx: SessionContext = ctx
        .into_state_builder()
        .with_session_id(session_id)
        .with_catalog_list(catalogs)
        .build()
        .into();
    let _ = factory.session.set(ctx.state_weak_ref());
    ctx
}

/// The session's read options ([`set_read_options`]), else the defaults.
pub fn read_options(ctx: &SessionContext) -> ReadOptions {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<ReadOptions>()
        .map(|r| *r)
        .unwrap_or_default()
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
/// may see it wrapped again (`enable_url_tables` does), so it cannot be found
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
