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
//! ```
//!
//! Relative paths are relative to the config file. Command-line flags win
//! over the file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::args::parse_size;
use super::error::{CliError, CliResult};
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
    #[serde(default)]
    pub union_by_name: bool,
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
    /// How tables are read (union by name, CSV options).
    pub read: ReadOptions,
    /// Tables: name → location.
    pub tables: BTreeMap<String, String>,
    /// Settings as `(full key, value)`.
    pub settings: Vec<(String, String)>,
    /// Object-storage options (may hold secrets; never printed).
    pub storage: StorageConfig,
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
                Ok((key, value))
            })
            .collect::<CliResult<Vec<_>>>()?;
        let mut storage = StorageConfig::default();
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
            }
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
            read: ReadOptions {
                union_by_name: file.union_by_name,
                csv_header: file.csv.header.unwrap_or(true),
                csv_delimiter: one_char(file.csv.delimiter.as_deref(), b',')
                    .map_err(|e| bad(format!("csv.delimiter: {e}")))?,
                csv_quote: one_char(file.csv.quote.as_deref(), b'"')
                    .map_err(|e| bad(format!("csv.quote: {e}")))?,
            },
            tables,
            settings,
            storage,
        })
    }
}

impl LoadedConfig {
    /// Lays `other` over this config: its values win, its tables and
    /// settings are added (replacing those of the same name).
    pub fn merge(&mut self, other: LoadedConfig) {
        self.path = other.path;
        self.data = other.data.or(self.data.take());
        self.memory_limit = other.memory_limit.or(self.memory_limit);
        self.target_partitions = other.target_partitions.or(self.target_partitions);
        self.read = other.read;
        self.tables.extend(other.tables);
        self.settings.extend(other.settings);
        self.storage.merge(other.storage);
    }
}

/// A one-character option (`"\t"` for a tab), as a byte.
fn one_char(value: Option<&str>, default: u8) -> Result<u8, String> {
    match value {
        None => Ok(default),
        Some("\\t") => Ok(b'\t'),
        Some(v) if v.len() == 1 && v.is_ascii() => Ok(v.as_bytes()[0]),
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
