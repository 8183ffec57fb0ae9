//! Which files an executor reads and writes.
//!
//! Anyone who may send a query to the cluster names paths in it (`CREATE
//! EXTERNAL TABLE … LOCATION`, `COPY … TO`), and the executors do the I/O.
//! So every task's physical plan is checked on the executor before it runs
//! ([`CheckedEngine`]): each file of each file scan (`FileScanConfig` inside
//! `DataSourceExec`) must lie under one of the allowed roots, and a plan
//! that writes (`DataSinkExec`) runs only with `--allow-write` and only
//! into the allowed roots. Paths are resolved (`..` and symlinks) before
//! they are compared, as far as they exist.

use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ballista_core::JobId;
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::file_format::csv::CsvSink;
use datafusion::datasource::file_format::json::JsonSink;
use datafusion::datasource::file_format::parquet::ParquetSink;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileScanConfig, FileSink, FileSinkConfig};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;

use super::pool::ClientPool;
use super::tasks::LoggedTask;

/// The directories an executor may read from, and whether it may write
/// into them.
#[derive(Debug, Clone)]
pub struct AllowedPaths {
    /// Resolved (canonical) roots.
    roots: Vec<PathBuf>,
    /// Object-storage prefixes (`s3://bucket/prefix/`), ending in `/`.
    urls: Vec<String>,
    write: bool,
}

impl AllowedPaths {
    /// Reads and (with `write`) writes under `roots`, which must exist;
    /// a root may also be an object-storage prefix (`s3://bucket/prefix`).
    pub fn new(roots: &[PathBuf], write: bool) -> io::Result<Self> {
        let (urls, roots): (Vec<&PathBuf>, Vec<&PathBuf>) = roots
            .iter()
            .partition(|root| saasql_common::storage::is_url(&root.to_string_lossy()));
        let urls = urls
            .into_iter()
            .map(|u| {
                let u = u.to_string_lossy();
                if u.ends_with('/') {
                    u.to_string()
                } else {
                    format!("{u}/")
                }
            })
            .collect();
        let roots = roots
            .into_iter()
            .map(|root| {
                std::fs::canonicalize(root).map_err(|e| {
                    io::Error::new(e.kind(), format!("allowed path {}: {e}", root.display()))
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self { roots, urls, write })
    }

    /// The resolved roots.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether plans may write files (under the roots).
    pub fn write(&self) -> bool {
        self.write
    }

    /// Fails unless every file `plan` reads or writes lies under the roots,
    /// and unless writing is allowed when `plan` writes.
    pub fn check_plan(&self, plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
        plan.apply(|node| {
            if let Some(scan) = node.downcast_ref::<DataSourceExec>() {
                let source = scan.data_source().as_ref();
                if let Some(files) = source.downcast_ref::<FileScanConfig>() {
                    for file in files.file_groups.iter().flat_map(|group| group.iter()) {
                        self.check_object(&files.object_store_url, &file.object_meta.location)?;
                    }
                } else if !source.is::<MemorySourceConfig>() {
                    return refuse("only file and in-memory data sources are allowed");
                }
            }
            if let Some(sink) = node.downcast_ref::<DataSinkExec>() {
                if !self.write {
                    return refuse(
                        "writing files is not allowed; start the executor with --allow-write",
                    );
                }
                let Some(config) = file_sink_config(sink.sink()) else {
                    return refuse(format!("writing to {} is not allowed", sink.name()));
                };
                for url in &config.table_paths {
                    self.check_url(url)?;
                }
                for file in config.file_group.iter() {
                    self.check_object(&config.object_store_url, &file.object_meta.location)?;
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(())
    }

    fn check_url(&self, url: &ListingTableUrl) -> Result<()> {
        self.check_object(&url.object_store(), url.prefix())
    }

    fn check_object(&self, store: &ObjectStoreUrl, location: &ObjectPath) -> Result<()> {
        if *store != ObjectStoreUrl::local_filesystem() {
            let full = format!("{}{location}", store.as_str());
            let folder = format!("{full}/");
            if self
                .urls
                .iter()
                .any(|root| full.starts_with(root.as_str()) || folder == *root)
            {
                return Ok(());
            }
            return refuse(format!(
                "{full} is outside the allowed paths; only files under {self} can be used"
            ));
        }
        let path = LocalFileSystem::new()
            .path_to_filesystem(location)
            .map_err(|e| DataFusionError::Execution(format!("executor: path /{location}: {e}")))?;
        self.check_path(&path)
    }

    /// Fails unless `path`, resolved, lies under a root.
    pub fn check_path(&self, path: &Path) -> Result<()> {
        let resolved = resolve(path).map_err(|e| {
            DataFusionError::Execution(format!("executor: path {}: {e}", path.display()))
        })?;
        if self.roots.iter().any(|root| resolved.starts_with(root)) {
            Ok(())
        } else {
            refuse(format!(
                "path {} is outside the allowed roots {self}",
                resolved.display()
            ))
        }
    }
}

/// The roots, separated by commas.
impl fmt::Display for AllowedPaths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self
            .roots
            .iter()
            .map(|r| r.display().to_string())
            .chain(self.urls.iter().cloned());
        for (i, root) in shown.enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&root)?;
        }
        Ok(())
    }
}

fn refuse<T>(message: impl fmt::Display) -> Result<T> {
    Err(DataFusionError::Execution(format!("executor: {message}")))
}

/// The file sinks for the formats saasql writes (Parquet, CSV, JSON); any
/// other sink is refused.
fn file_sink_config(sink: &dyn DataSink) -> Option<&FileSinkConfig> {
    if let Some(sink) = sink.downcast_ref::<ParquetSink>() {
        Some(sink.config())
    } else if let Some(sink) = sink.downcast_ref::<CsvSink>() {
        Some(sink.config())
    } else {
        sink.downcast_ref::<JsonSink>().map(FileSink::config)
    }
}

/// `path` with `.`, `..` and symlinks resolved as far as it exists; the part
/// that does not exist yet (an output to be created) is appended as written,
/// with its `..` applied. A dangling symlink is an error.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    if !path.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path",
        ));
    }
    let mut resolved = PathBuf::new();
    let mut exists = true;
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => resolved.push(component),
            Component::CurDir => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                resolved.push(name);
                if exists {
                    match std::fs::canonicalize(&resolved) {
                        Ok(real) => resolved = real,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            if std::fs::symlink_metadata(&resolved).is_ok() {
                                return Err(io::Error::new(e.kind(), "dangling symlink"));
                            }
                            exists = false;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    Ok(resolved)
}

/// Ballista's execution engine, run only on plans that [`AllowedPaths`]
/// accepts.
pub struct CheckedEngine {
    inner: DefaultExecutionEngine,
    allowed: AllowedPaths,
}

impl fmt::Debug for CheckedEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedEngine")
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl CheckedEngine {
    /// Ballista's default engine behind `allowed`, with a pool of
    /// connections for shuffle reads (Ballista 55 keeps its own private).
    pub fn new(allowed: AllowedPaths) -> Self {
        Self {
            inner: DefaultExecutionEngine::with_client_pool(Arc::new(ClientPool::default())),
            allowed,
        }
    }
}

impl ExecutionEngine for CheckedEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        self.allowed.check_plan(&plan).inspect_err(|e| {
            tracing::warn!("job {job_id} stage {stage_id} task {task_id} refused: {e}");
        })?;
        let inner = self.inner.create_query_stage_exec(
            job_id.clone(),
            stage_id,
            task_id,
            global_output_partition_ids.clone(),
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(LoggedTask {
            inner,
            job_id,
            stage_id,
            partitions: global_output_partition_ids,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("saasql-paths-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    #[test]
    fn resolves_dots_and_symlinks_before_comparing() {
        let dir = scratch("resolve");
        let allowed = dir.join("allowed");
        let outside = dir.join("outside");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(allowed.join("a.parquet"), b"").unwrap();
        std::fs::write(outside.join("secret"), b"").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.join("secret"), allowed.join("link")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("nowhere"), allowed.join("dangling")).unwrap();

        let paths = AllowedPaths::new(std::slice::from_ref(&allowed), false).unwrap();
        assert!(paths.check_path(&allowed.join("a.parquet")).is_ok());
        assert!(paths.check_path(&allowed.join("new/out.parquet")).is_ok());
        assert!(paths.check_path(&allowed.join("new/../b")).is_ok());
        let err = paths
            .check_path(&allowed.join("../outside/secret"))
            .unwrap_err()
            .strip_backtrace();
        assert_eq!(
            err,
            format!(
                "Execution error: executor: path {} is outside the allowed roots {}",
                outside.join("secret").display(),
                allowed.display()
            )
        );
        assert!(
            paths
                .check_path(&allowed.join("new/../../outside/x"))
                .is_err()
        );
        assert!(paths.check_path(Path::new("/etc/shadow")).is_err());
        assert!(paths.check_path(Path::new("relative")).is_err());
        // A root's sibling with the root's name as prefix is not inside it.
        assert!(paths.check_path(&dir.join("allowed2")).is_err());
        #[cfg(unix)]
        {
            assert!(paths.check_path(&allowed.join("link")).is_err());
            assert!(paths.check_path(&allowed.join("dangling")).is_err());
        }
        assert!(AllowedPaths::new(&[dir.join("missing")], false).is_err());
    }
}
