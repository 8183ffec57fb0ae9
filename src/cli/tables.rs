//! Registering Parquet files and folders as tables.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;

use super::error::{CliError, CliResult};

/// The data directory used when neither `--data` nor the config names one:
/// `./data` if it exists, else the `data/` folder shipped with saasql.
pub fn default_data_dir() -> Option<PathBuf> {
    let local = PathBuf::from("data");
    if local.is_dir() {
        return Some(local);
    }
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    bundled.is_dir().then_some(bundled)
}

/// Finds the tables in `dir`: each `NAME.parquet` file and each folder that
/// holds Parquet files (at any depth, e.g. hive partitions) is table `NAME`.
/// Names starting with `.` or `_` are skipped.
pub fn scan_data_dir(dir: &Path) -> CliResult<BTreeMap<String, PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| {
        CliError::input(format!("cannot read data directory {}: {e}", dir.display()))
    })?;
    let mut tables: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            CliError::input(format!("cannot read data directory {}: {e}", dir.display()))
        })?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with(['.', '_']) {
            continue;
        }
        let name = if path.is_dir() {
            if !contains_parquet(&path) {
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
    Ok(tables)
}

fn contains_parquet(dir: &Path) -> bool {
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
            contains_parquet(&path)
        } else {
            name.ends_with(".parquet")
        }
    })
}

/// Registers every table of `dir` (see [`scan_data_dir`]).
pub async fn register_data_dir(ctx: &SessionContext, dir: &Path) -> CliResult<()> {
    for (name, path) in scan_data_dir(dir)? {
        let location = if path.is_dir() {
            format!("{}/", path.display())
        } else {
            path.display().to_string()
        };
        register_parquet(ctx, &name, &location).await?;
    }
    Ok(())
}

/// Registers the Parquet file, folder (ending in `/`) or glob at `location`
/// as table `name`, replacing a table of that name. `key=value` folders
/// become partition columns of type VARCHAR.
pub async fn register_parquet(ctx: &SessionContext, name: &str, location: &str) -> CliResult<()> {
    let fail = |e: &datafusion::error::DataFusionError| {
        CliError::datafusion(e).context(format!("table '{name}' ({location})"))
    };
    let state = ctx.state();
    let url = ListingTableUrl::parse(location).map_err(|e| fail(&e))?;
    let format = ParquetFormat::new().with_options(state.default_table_options().parquet);
    let options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let partitions = options
        .infer_partitions(&state, &url)
        .await
        .map_err(|e| fail(&e))?;
    let options = options.with_table_partition_cols(
        partitions
            .into_iter()
            .map(|p| (p, DataType::Utf8))
            .collect(),
    );
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .infer_schema(&state)
        .await
        .map_err(|e| fail(&e))?;
    let table = ListingTable::try_new(config).map_err(|e| fail(&e))?;
    let reference = TableReference::bare(name);
    ctx.deregister_table(reference.clone())
        .map_err(|e| fail(&e))?;
    ctx.register_table(reference, Arc::new(table))
        .map_err(|e| fail(&e))?;
    Ok(())
}
