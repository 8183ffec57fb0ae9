//! The `--config` file.
//!
//! ```toml
//! data = "data"                        # the data directory (like --data)
//! memory_limit = "2G"                  # like --memory-limit
//! target_partitions = 4                # like --target-partitions
//! union_by_name = false                # true: a folder whose files have different
//!                                      # columns is one table (else it is refused)
//!
//! [csv]                                # how .csv files are read (.tsv: tab-separated)
//! header = true
//! delimiter = ";"                      # one character, or "\t"
//! quote = '"'
//!
//! [tables]                             # more tables: name = file, folder or glob
//! events = "/warehouse/events/"
//! surveys = "exports/surveys-*.parquet"
//! invoices = "postgres://reporting@db:5432/billing?table=public.invoices"  # PGPASSWORD or ~/.pgpass
//!
//! [storage.s3]                         # object storage (also [storage.gs], [storage.azure])
//! region = "eu-west-1"
//! endpoint = "http://127.0.0.1:9000"   # S3-compatible stores (MinIO, R2)
//! allow_http = true
//! access_key_id = "AKIA…"
//! secret_access_key_file = "/run/secrets/s3"   # KEY_file: the value is read from that file
//!
//! [settings]                           # SET saasql.<key> = <value>
//! engagement_weights = "login:1, report_created:5"
//! "datafusion.execution.batch_size" = 4096   # keys with a dot are used as is
//!
//! [[checks]]                           # saasql test: a metric within bounds
//! name = "nps_floor"
//! sql = "SELECT nps(score) FROM surveys WHERE kind = 'nps'"
//! min = 30
//!
//! [notify]                             # when checks warn or fail (docs/checks.md)
//! command = "mail -s 'saasql checks' data@acme.example"   # the results as JSON on stdin
//! webhook_env = "SLACK_WEBHOOK_URL"    # POST them there (or webhook_file = PATH)
//!
//! [params]                             # defaults of $parameters (--param wins)
//! segment = "smb"                      # typed like --param: text, 12, 1.5, true, 2025-06-30
//! as_of = { sql = "SELECT max(CAST(event_time AS DATE)) FROM events" }  # one value, computed when used
//! ```
//!
//! Relative paths are relative to the config file. A project's
//! `saasql.toml` has the same format. Layers, weakest first: the user's
//! config file, the project's `saasql.toml`, `--config`, then environment
//! variables and flags ([`LoadedConfig::merge`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use datafusion::common::ScalarValue;

use super::args::parse_size;
use super::error::{CliError, CliResult};
use super::report::typed_value;
use super::tables::ReadOptions;
use saasql_common::storage::{StorageConfig, is_url};

/// The parsed config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The data directory.
    pub data: Option<PathBuf>,
    /// Memory limit, e.g. "2G".
    pub memory_limit: Option<String>,
    /// Target partitions.
    pub target_partitions: Option<usize>,
    /// Read folders whose files have different columns as one table.
    pub union_by_name: Option<bool>,
    /// How CSV files are read.
    #[serde(default)]
    pub csv: CsvConfig,
    /// Extra tables: name → path, folder or glob.
    #[serde(default)]
    pub tables: BTreeMap<String, String>,
    /// Session settings: key → value.
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    /// Object-storage options per store kind (`s3`, `gs`, `azure`).
    #[serde(default)]
    pub storage: BTreeMap<String, BTreeMap<String, toml::Value>>,
    /// Defaults of `$parameters`: a value, or `{ sql = "…" }`.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Declared checks (`saasql test`).
    #[serde(default)]
    pub checks: Vec<super::checks::DeclaredCheck>,
    /// Alerts when checks warn or fail.
    #[serde(default)]
    pub notify: super::notify::NotifySection,
}

/// A `$parameter`'s default from a config file or project.
#[derive(Debug, Clone)]
pub struct ParamDefault {
    /// The value, or the query that computes it.
    pub value: ParamValue,
    /// The file it was read from.
    pub origin: PathBuf,
}

/// A default value, or the query that computes it when a statement uses it.
#[derive(Debug, Clone)]
pub enum ParamValue {
    /// A fixed value, typed like `--param`.
    Value(ScalarValue),
    /// A query returning one row with one column.
    Query(String),
}

/// The `[csv]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// The first line holds the column names (default true).
    pub header: Option<bool>,
    /// The field separator, one character (default `,`).
    pub delimiter: Option<String>,
    /// The quote character (default `"`).
    pub quote: Option<String>,
}

/// A loaded config file, with paths resolved against its directory.
#[derive(Debug, Default)]
pub struct LoadedConfig {
    /// The file, for messages.
    pub path: PathBuf,
    /// Data directory.
    pub data: Option<PathBuf>,
    /// Memory limit in bytes.
    pub memory_limit: Option<usize>,
    /// Target partitions.
    pub target_partitions: Option<usize>,
    /// Read folders with different columns as one table.
    pub union_by_name: Option<bool>,
    /// CSV: the first line holds the column names.
    pub csv_header: Option<bool>,
    /// CSV: the field separator.
    pub csv_delimiter: Option<u8>,
    /// CSV: the quote character.
    pub csv_quote: Option<u8>,
    /// Tables: name → location.
    pub tables: BTreeMap<String, String>,
    /// Settings as `(full key, value, the file that sets it)`.
    pub settings: Vec<(String, String, PathBuf)>,
    /// Object-storage options (may hold secrets; never printed).
    pub storage: StorageConfig,
    /// The storage keys set, as `section.key` (values not kept for printing:
    /// they may be secrets).
    pub storage_keys: Vec<String>,
    /// Defaults of `$parameters`.
    pub params: BTreeMap<String, ParamDefault>,
    /// Declared checks, with the file each comes from.
    pub checks: Vec<(super::checks::DeclaredCheck, String)>,
    /// `[notify]`: alerts when checks warn or fail.
    pub notify: super::notify::NotifyConfig,
}

impl LoadedConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> CliResult<Self> {
        let text = fs::read_to_string(path).map_err(|e| {
            CliError::input(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let bad = |msg: String| CliError::usage(format!("config file {}: {msg}", path.display()));
        let file: FileConfig = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let msg = e.message().trim().to_string();
            match line {
                Some(l) => bad(format!("line {l}: {msg}")),
                None => bad(msg),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let memory_limit = match &file.memory_limit {
            Some(s) => Some(parse_size(s).map_err(|e| bad(format!("memory_limit: {e}")))?),
            None => None,
        };
        if file.target_partitions == Some(0) {
            return Err(bad("target_partitions must be at least 1".into()));
        }
        let tables = file
            .tables
            .into_iter()
            .map(|(name, location)| {
                let resolved = resolve_location(base, &location);
                (name, resolved)
            })
            .collect();
        let settings = file
            .settings
            .into_iter()
            .map(|(key, value)| {
                let key = if key.contains('.') {
                    key
                } else {
                    format!("saasql.{key}")
                };
                let value = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(bad(format!(
                            "settings.{key}: expected a string, number or boolean, got {}",
                            other.type_str()
                        )));
                    }
                };
                Ok((key, value, path.to_path_buf()))
            })
            .collect::<CliResult<Vec<_>>>()?;
        let mut storage = StorageConfig::default();
        let mut storage_keys = vec![];
        for (section, options) in file.storage {
            for (key, value) in options {
                let value = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(bad(format!(
                            "storage.{section}.{key}: expected a string, number or boolean, got {}",
                            other.type_str()
                        )));
                    }
                };
                // `secret_access_key_file = "/run/secrets/s3"`: the value is
                // read from that file, so the config itself holds no secret.
                let (key, value) = match key.strip_suffix("_file") {
                    Some(stem) => {
                        let file = base.join(&value);
                        let text = fs::read_to_string(&file).map_err(|e| {
                            CliError::input(format!(
                                "config file {}: storage.{section}.{key}: cannot read {}: {e}",
                                path.display(),
                                file.display()
                            ))
                        })?;
                        (stem.to_string(), text.trim().to_string())
                    }
                    None => (key, value),
                };
                storage.set(&section, &key, &value).map_err(bad)?;
                storage_keys.push(format!("{section}.{key}"));
            }
        }
        let notify = super::notify::NotifyConfig::from_section(file.notify, base).map_err(bad)?;
        let mut params = BTreeMap::new();
        for (name, value) in file.params {
            let name = name.strip_prefix('$').unwrap_or(&name).to_string();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(format!(
                    "params.{name}: parameter names use letters, digits and _"
                )));
            }
            let value = param_value(&value).map_err(|why| bad(format!("params.{name}: {why}")))?;
            params.insert(
                name,
                ParamDefault {
                    value,
                    origin: path.to_path_buf(),
                },
            );
        }
        Ok(LoadedConfig {
            path: path.to_path_buf(),
            data: file.data.map(|d| {
                if is_url(&d.to_string_lossy()) {
                    d
                } else {
                    base.join(d)
                }
            }),
            memory_limit,
            target_partitions: file.target_partitions,
            union_by_name: file.union_by_name,
            csv_header: file.csv.header,
            csv_delimiter: one_char(file.csv.delimiter.as_deref())
                .map_err(|e| bad(format!("csv.delimiter: {e}")))?,
            csv_quote: one_char(file.csv.quote.as_deref())
                .map_err(|e| bad(format!("csv.quote: {e}")))?,
            tables,
            settings,
            storage,
            storage_keys,
            params,
            checks: file
                .checks
                .into_iter()
                .map(|c| (c, super::project::shown(path)))
                .collect(),
            notify,
        })
    }

    /// How tables are read: the options set, defaults for the rest.
    pub fn read_options(&self) -> ReadOptions {
        let default = ReadOptions::default();
        ReadOptions {
            union_by_name: self.union_by_name.unwrap_or(default.union_by_name),
            csv_header: self.csv_header.unwrap_or(default.csv_header),
            csv_delimiter: self.csv_delimiter.unwrap_or(default.csv_delimiter),
            csv_quote: self.csv_quote.unwrap_or(default.csv_quote),
        }
    }
}

/// A `[params]` value: TOML text is typed like `--param` (`"2025-06-30"` is a
/// DATE, `"'2025-06-30'"` text); numbers, booleans and TOML dates as they
/// are; `{ sql = "SELECT …" }` a query.
fn param_value(value: &toml::Value) -> Result<ParamValue, String> {
    Ok(ParamValue::Value(match value {
        toml::Value::String(s) => typed_value(s)?,
        toml::Value::Integer(i) => ScalarValue::Int64(Some(*i)),
        toml::Value::Float(f) if f.is_finite() => ScalarValue::Float64(Some(*f)),
        toml::Value::Boolean(b) => ScalarValue::Boolean(Some(*b)),
        toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => {
            typed_value(&d.to_string())?
        }
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("sql") => match &t["sql"] {
            toml::Value::String(sql) if !sql.trim().is_empty() => {
                return Ok(ParamValue::Query(
                    sql.trim().trim_end_matches(';').to_string(),
                ));
            }
            _ => return Err("sql must be the text of a query".into()),
        },
        other => {
            return Err(format!(
                "expected a value (text, number, boolean, date) or {{ sql = \"SELECT …\" }}, got {}",
                other.type_str()
            ));
        }
    }))
}

impl LoadedConfig {
    /// Lays `other` over this config: its values win, its tables and
    /// settings are added (replacing those of the same name).
    pub fn merge(&mut self, other: LoadedConfig) {
        self.path = other.path;
        self.data = other.data.or(self.data.take());
        self.memory_limit = other.memory_limit.or(self.memory_limit);
        self.target_partitions = other.target_partitions.or(self.target_partitions);
        self.union_by_name = other.union_by_name.or(self.union_by_name);
        self.csv_header = other.csv_header.or(self.csv_header);
        self.csv_delimiter = other.csv_delimiter.or(self.csv_delimiter);
        self.csv_quote = other.csv_quote.or(self.csv_quote);
        self.tables.extend(other.tables);
        self.settings.extend(other.settings);
        self.storage.merge(other.storage);
        self.storage_keys.extend(other.storage_keys);
        self.params.extend(other.params);
        self.checks.extend(other.checks);
        self.notify.merge(other.notify);
    }
}

/// A one-character option (`"\t"` for a tab), as a byte.
fn one_char(value: Option<&str>) -> Result<Option<u8>, String> {
    match value {
        None => Ok(None),
        Some("\\t") => Ok(Some(b'\t')),
        Some(v) if v.len() == 1 && v.is_ascii() => Ok(Some(v.as_bytes()[0])),
        Some(v) => Err(format!("'{v}' must be one ASCII character")),
    }
}

/// Resolves a relative local path against `base`; URLs and absolute paths are
/// kept. A folder gets a trailing `/` so it is listed as a table of files.
pub fn resolve_location(base: &Path, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let path = base.join(location);
    let mut s = path.display().to_string();
    if path.is_dir() && !s.ends_with('/') {
        s.push('/');
    }
    s
}
