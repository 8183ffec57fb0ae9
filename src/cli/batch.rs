//! `saasql batch JOB.toml`: run queries and write their results as files.
//!
//! Every output is first staged in a temporary folder next to its path; only
//! when all outputs succeeded are they put in place, all or nothing, by a
//! journaled commit ([`super::commit`]), so a failed or killed job changes
//! nothing. Outputs that overlap the job's inputs, its own folder or each
//! other are refused before anything runs.
//!
//! An output in object storage (`s3://…`, see [`saasql_common::storage`]) is staged
//! in a local temporary folder like the others, and uploaded only once every
//! output has been written: a file output is one upload that appears whole;
//! a folder output's new files are uploaded next to the old ones, and the
//! old ones are deleted only after every new file is in (a failed upload
//! deletes what it had uploaded and leaves the old files). Uploads come
//! before the local commit, so a failed upload changes no local output;
//! several bucket outputs are not one atomic change: the error names those
//! already uploaded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, path::Path as ObjectPath};
use datafusion::prelude::{DataFrame, SessionContext};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;

use super::commit::{self, Destination, OutputFile, Staged};
use super::config::resolve_location;
use super::error::{CliError, CliResult};
use super::output::{Format, PrintOptions, Target, path_stats, write_batches, write_stream};
use super::report::{Outcome, Script, check_copy, count_written, parse_script, start};
use super::tables::{read_options, register_table};

/// The job file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Job {
    /// Tables: name → Parquet file, folder or glob.
    #[serde(default)]
    inputs: BTreeMap<String, String>,
    /// What to write.
    #[serde(default)]
    outputs: Vec<OutputSpec>,
}

/// One `[[outputs]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSpec {
    name: String,
    sql: Option<String>,
    sql_file: Option<PathBuf>,
    path: PathBuf,
    #[serde(default = "parquet")]
    format: Format,
    #[serde(default)]
    partition_by: Vec<String>,
}

/// A batch output's default format.
fn parquet() -> Format {
    Format::Parquet
}

/// The first (usual) file extension of `format`.
fn extension(format: Format) -> &'static str {
    format.extensions()[0]
}

/// A validated output, ready to run.
#[derive(Debug)]
struct PlannedOutput {
    name: String,
    script: Script,
    path: PathBuf,
    format: Format,
    partition_by: Vec<String>,
    /// A single file (PATH ends in the format's extension, no partitions)
    /// rather than a folder of files.
    single_file: bool,
    /// The `sql_file` it reads, if any.
    sql_files: Vec<PathBuf>,
}

/// Reads and checks the job file: nothing runs if any part is wrong.
fn load_job(
    ctx: &SessionContext,
    path: &Path,
    params: &HashMap<String, ScalarValue>,
) -> CliResult<(BTreeMap<String, String>, Vec<PlannedOutput>)> {
    let text = fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("cannot read job file {}: {e}", path.display())))?;
    let bad = |msg: String| CliError::usage(format!("job file {}: {msg}", path.display()));
    let job: Job = toml::from_str(&text).map_err(|e| bad(e.message().trim().to_string()))?;
    let base = path.parent().unwrap_or(Path::new(""));
    if job.outputs.is_empty() {
        return Err(bad("no [[outputs]]".into()));
    }
    let inputs = job
        .inputs
        .into_iter()
        .map(|(name, location)| (name, resolve_location(base, &location)))
        .collect();
    let mut names = BTreeSet::new();
    let mut paths = BTreeSet::new();
    let mut used = BTreeSet::new();
    let mut outputs = vec![];
    for o in job.outputs {
        let out_path = if saasql_common::storage::is_url(&o.path.to_string_lossy()) {
            o.path.clone()
        } else {
            base.join(&o.path)
        };
        if !names.insert(o.name.clone()) {
            return Err(bad(format!("two outputs are named '{}'", o.name)));
        }
        if !paths.insert(out_path.clone()) {
            return Err(bad(format!("two outputs write {}", out_path.display())));
        }
        let mut sql_files = vec![];
        let (script_name, sql) = match (&o.sql, &o.sql_file) {
            (Some(sql), None) => (format!("{}[{}]", path.display(), o.name), sql.clone()),
            (None, Some(file)) => {
                let file = base.join(file);
                sql_files.push(file.clone());
                let sql = fs::read_to_string(&file).map_err(|e| {
                    CliError::input(format!(
                        "output '{}': cannot read {}: {e}",
                        o.name,
                        file.display()
                    ))
                })?;
                (file.display().to_string(), sql)
            }
            _ => {
                return Err(bad(format!(
                    "output '{}' needs exactly one of sql or sql_file",
                    o.name
                )));
            }
        };
        let script = parse_script(ctx, &script_name, &sql)?;
        let queries = script
            .statements
            .iter()
            .filter(|s| s.returns_rows())
            .count();
        if queries != 1 {
            return Err(bad(format!(
                "output '{}': the SQL must have exactly one query, it has {queries}",
                o.name
            )));
        }
        for s in &script.statements {
            if let Some(missing) = s
                .params
                .iter()
                .find(|p| !params.contains_key(*p) && !super::project::has_param_default(ctx, p))
            {
                return Err(CliError::usage(format!(
                    "no value for ${missing}; pass --param {missing}=VALUE"
                ))
                .at(script.location(s), Some(s.first_line.clone())));
            }
            used.extend(s.params.iter().cloned());
        }
        if !matches!(
            o.format,
            Format::Parquet | Format::Csv | Format::Json | Format::Ndjson | Format::Html
        ) {
            return Err(bad(format!(
                "output '{}': format '{}' is not a file format (parquet, csv, json, ndjson or html)",
                o.name,
                o.format.name()
            )));
        }
        let single_file = o.partition_by.is_empty()
            && out_path.extension().is_some_and(|e| {
                o.format
                    .extensions()
                    .iter()
                    .any(|x| e.eq_ignore_ascii_case(x))
            });
        if o.format == Format::Html && !single_file {
            return Err(bad(format!(
                "output '{}': an html output is one page: give a path ending in .html, without partition_by",
                o.name
            )));
        }
        outputs.push(PlannedOutput {
            name: o.name,
            script,
            path: out_path,
            format: o.format,
            partition_by: o.partition_by,
            single_file,
            sql_files,
        });
    }
    let mut unused: Vec<&String> = params.keys().filter(|p| !used.contains(*p)).collect();
    unused.sort();
    if let Some(name) = unused.first() {
        return Err(CliError::usage(format!(
            "--param {name} is not used by any output of {}",
            path.display()
        )));
    }
    Ok((inputs, outputs))
}

/// Refuses outputs that would replace or write into what the job reads or
/// is: an input table's files, the job's own folder or file, its SQL files,
/// or another output. Runs before anything is written.
fn check_overlaps(
    job_path: &Path,
    outputs: &[PlannedOutput],
    inputs: &[(PathBuf, String)],
) -> CliResult<()> {
    let refuse = |o: &PlannedOutput, why: String| {
        commit::refuse(&format!("output '{}'", o.name), &o.path, &why)
    };
    let job_file = commit::real_path(job_path);
    let job_folder = job_file.parent().map(Path::to_path_buf).unwrap_or_default();
    let reals: Vec<PathBuf> = outputs.iter().map(|o| commit::place(&o.path)).collect();
    for (i, (o, real)) in outputs.iter().zip(&reals).enumerate() {
        if commit::contains(real, &job_folder) {
            return Err(refuse(
                o,
                format!(
                    "would replace the job's own folder {}",
                    job_folder.display()
                ),
            ));
        }
        if real == &job_file {
            return Err(refuse(o, "is the job file itself".into()));
        }
        if let Some(why) = commit::overlap(real, inputs, &o.sql_files) {
            return Err(refuse(o, why));
        }
        for (other, other_real) in outputs.iter().zip(&reals).skip(i + 1) {
            if commit::contains(real, other_real) || commit::contains(other_real, real) {
                return Err(refuse(
                    o,
                    format!(
                        "overlaps output '{}' ({})",
                        other.name,
                        other.path.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Runs the job and prints a summary (output, rows, files, bytes, path).
pub async fn run_batch(
    ctx: &SessionContext,
    job_path: &Path,
    format: Format,
    params: &HashMap<String, ScalarValue>,
) -> CliResult<()> {
    let journal = commit::journal_path(job_path);
    if let Some(note) = commit::recover(&journal)? {
        eprintln!("saasql: {}: {note}", job_path.display());
    }
    let (inputs, outputs) = load_job(ctx, job_path, params)?;
    for (name, location) in &inputs {
        if let Some(warning) = register_table(ctx, name, location, read_options(ctx)).await? {
            eprintln!("saasql: warning: {warning}");
        }
    }
    // The project's models read the job's inputs, not the tables they replace.
    if !inputs.is_empty() {
        let names: Vec<String> = inputs.keys().cloned().collect();
        for message in super::project::reregister_models(ctx, &names).await? {
            eprintln!("saasql: {message}");
        }
    }
    check_overlaps(job_path, &outputs, &commit::input_paths(ctx).await)?;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(outputs.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} outputs ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));

    let mut staged = vec![];
    let mut uploads = vec![];
    let mut rows_col = vec![];
    for output in &outputs {
        bar.set_message(output.name.clone());
        match write_output(ctx, output, params).await {
            Ok((pending, rows)) => {
                match pending {
                    Pending::Local(stage) => staged.push(stage),
                    Pending::Upload(upload) => uploads.push(upload),
                    Pending::Written => {}
                }
                rows_col.push(rows);
            }
            Err(e) => {
                bar.finish_and_clear();
                return Err(e.context(format!("output '{}'", output.name)));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Everything was written: upload the bucket outputs, then put the local
    // ones in place, all or nothing.
    let mut uploaded: HashMap<String, (u64, u64)> = HashMap::new();
    for upload in uploads {
        let name = upload.name.clone();
        let stats = upload.run().await.map_err(|e| {
            let mut done: Vec<&str> = uploaded.keys().map(String::as_str).collect();
            done.sort_unstable();
            let e = e.context(format!("output '{name}'"));
            if done.is_empty() {
                e
            } else {
                e.context(format!("already uploaded: {}", done.join(", ")))
            }
        })?;
        uploaded.insert(name, stats);
    }
    commit::commit_all(&journal, staged)?;
    let mut files_col = vec![];
    let mut bytes_col = vec![];
    let mut names = vec![];
    let mut paths = vec![];
    for output in &outputs {
        let (files, bytes) = match uploaded.get(&output.name) {
            Some(stats) => *stats,
            None => path_stats(&output.path),
        };
        names.push(output.name.clone());
        paths.push(output.path.display().to_string());
        files_col.push(files);
        bytes_col.push(bytes);
    }
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("output", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("path", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(names)),
            Arc::new(UInt64Array::from(rows_col)),
            Arc::new(UInt64Array::from(files_col)),
            Arc::new(UInt64Array::from(bytes_col)),
            Arc::new(StringArray::from(paths)),
        ],
    )
    .map_err(|e| CliError::query(e.to_string()))?;
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

/// What [`write_output`] leaves to do once every output is written.
#[derive(Debug)]
enum Pending {
    /// Staged next to its local path, for [`commit::commit_all`].
    Local(Staged),
    /// Staged locally, for upload to object storage.
    Upload(Upload),
    /// Written in place (a device, FIFO or socket).
    Written,
}

/// Runs one output's SQL. A file or folder output is written into a staging
/// folder and returned for the commit or the upload; a device, FIFO or
/// socket is written in place, streaming.
async fn write_output(
    ctx: &SessionContext,
    output: &PlannedOutput,
    params: &HashMap<String, ScalarValue>,
) -> CliResult<(Pending, u64)> {
    let mut query: Option<DataFrame> = None;
    for s in &output.script.statements {
        let located =
            |e: DataFusionError| output.script.error(s, CliError::datafusion(&e), Some(&e));
        check_copy(ctx, s, &output.sql_files)
            .await
            .map_err(|e| e.at(output.script.location(s), Some(s.first_line.clone())))?;
        match start(ctx, s, params).await.map_err(located)? {
            Outcome::Rows(df) => query = Some(df),
            Outcome::Write(df) | Outcome::Done(df) => {
                df.collect().await.map_err(located)?;
            }
        }
    }
    let Some(df) = query else {
        return Err(CliError::usage("the SQL has no query"));
    };
    let shown = output.path.display().to_string();
    // Tables the query names by their location (`FROM 'x.csv'`) are not
    // job inputs: checked here, in its plan.
    if let Some(why) = commit::plan_overlap(&output.path, df.logical_plan()) {
        return Err(CliError::usage(format!(
            "path {shown} {why}; nothing was written"
        )));
    }
    if saasql_common::storage::is_url(&shown) {
        let mut upload = Upload::prepare(ctx, output).await?;
        let rows = write_files(df, output, &upload.local).await?;
        (upload.files, upload.bytes) = path_stats(&upload.local);
        return Ok((Pending::Upload(upload), rows));
    }
    let dest = commit::resolve(&output.path).map_err(|e| CliError::write(&shown, &e))?;
    match &dest {
        Destination::Stream(_) | Destination::Socket(_) => {
            if !output.single_file {
                return Err(CliError::usage(format!(
                    "{shown} is a device, FIFO or socket: it takes a single-file output (a path ending in .{} without partition_by)",
                    extension(output.format)
                )));
            }
            let mut target = Target::File(OutputFile::open(&output.path).await?);
            let print = PrintOptions {
                format: output.format,
                max_rows: None,
                footer: false,
                expanded: false,
            };
            let stream = df.execute_stream().await?;
            let rows = write_stream(stream, &mut target, &print, || None).await?;
            target.finish()?;
            return Ok((Pending::Written, rows));
        }
        Destination::Folder(_) if output.single_file => {
            return Err(CliError::usage(format!(
                "{shown} is a folder: name a file, or drop the .{} extension to write a folder of files",
                extension(output.format)
            )));
        }
        Destination::Folder(dir) => {
            commit::check_replaceable_folder(dir, output.format.extensions()).map_err(|why| {
                CliError::usage(format!("refusing to replace the folder {shown}: {why}"))
            })?;
        }
        // A folder output replaces only a folder of its own files, or nothing.
        Destination::File(file) if !output.single_file => {
            return Err(CliError::usage(format!(
                "refusing to replace the file {} with a folder of {} files; \
                 remove it or choose another path",
                file.display(),
                output.format.name()
            )));
        }
        Destination::New(_) | Destination::File(_) => {}
    }
    let stage = Staged::new(dest.path())?;
    let rows = write_files(df, output, &stage.path()).await?;
    Ok((Pending::Local(stage), rows))
}

/// Writes `df` as `output`'s file or folder of files at the local path
/// `staged` (absolute: on a cluster the executors write it, from their own
/// working folder), and returns the number of rows.
async fn write_files(df: DataFrame, output: &PlannedOutput, staged: &Path) -> CliResult<u64> {
    let shown = output.path.display().to_string();
    let location = if output.single_file {
        staged.display().to_string()
    } else {
        format!("{}/", staged.display())
    };
    let schema: SchemaRef = Arc::clone(df.schema().inner());
    let options = DataFrameWriteOptions::new()
        .with_single_file_output(output.single_file)
        .with_partition_by(output.partition_by.clone());
    if output.format == Format::Html {
        // One page, not a folder of files: no partitions.
        let (page, rows) = super::report::html_page(&output.name, &output.script, df).await?;
        fs::write(staged, page).map_err(|e| CliError::write(&shown, &e))?;
        return Ok(rows);
    }
    let counts = match output.format {
        Format::Csv => df.write_csv(&location, options, None).await,
        // DataFusion writes JSON lines; `json` files become arrays below.
        Format::Json | Format::Ndjson => df.write_json(&location, options, None).await,
        _ => df.write_parquet(&location, options, None).await,
    }?;
    if output.format == Format::Json && staged.exists() {
        lines_to_arrays(staged)?;
    }
    if !staged.exists() {
        // An empty result may write no file: the output is an empty folder,
        // or a file with the columns and no rows.
        if output.single_file {
            let mut target = Target::Memory(vec![]);
            let print = PrintOptions {
                format: output.format,
                max_rows: None,
                footer: false,
                expanded: false,
            };
            write_batches(schema, vec![], &mut target, &print).await?;
            if let Target::Memory(bytes) = target {
                fs::write(staged, bytes).map_err(|e| CliError::write(&shown, &e))?;
            }
        } else {
            fs::create_dir_all(staged).map_err(|e| CliError::write(&shown, &e))?;
        }
    }
    Ok(count_written(&counts))
}

/// A bucket output staged in a local temporary folder, waiting for its
/// upload ([`Upload::run`]).
#[derive(Debug)]
struct Upload {
    name: String,
    /// The URL, for messages.
    shown: String,
    /// Removed, with the staged files, when the upload is dropped.
    _stage: tempfile::TempDir,
    /// The staged file or folder.
    local: PathBuf,
    store: Arc<dyn ObjectStore>,
    /// The object (a file output) or the folder's prefix.
    key: ObjectPath,
    single_file: bool,
    /// A folder output's objects before the job: deleted once the new
    /// files are all in.
    old: Vec<ObjectPath>,
    files: u64,
    bytes: u64,
}

impl Upload {
    /// Finds `output`'s store, checks that a folder output may replace what
    /// is under its prefix (the rule of [`commit::check_replaceable_folder`]),
    /// and makes the local staging folder.
    async fn prepare(ctx: &SessionContext, output: &PlannedOutput) -> CliResult<Self> {
        let shown = output.path.display().to_string();
        let fail = |e: DataFusionError| {
            CliError::new(
                super::error::Code::Output,
                format!(
                    "cannot write {shown}: {}",
                    saasql_common::storage::describe_error(&e)
                        .unwrap_or_else(|| super::error::one_line(&e.strip_backtrace()))
                ),
            )
        };
        let url = ListingTableUrl::parse(shown.trim_end_matches('/')).map_err(fail)?;
        let store = ctx
            .runtime_env()
            .object_store(url.object_store())
            .map_err(fail)?;
        let key = url.prefix().clone();
        let mut old = vec![];
        if !output.single_file {
            let prefix = format!("{key}/");
            let listed: Vec<_> = store
                .list(Some(&key))
                .try_collect()
                .await
                .map_err(|e| fail(e.into()))?;
            for meta in listed {
                let location = meta.location.to_string();
                let Some(rel) = location.strip_prefix(&prefix) else {
                    continue;
                };
                if !replaceable(rel, output.format.extensions()) {
                    return Err(CliError::usage(format!(
                        "refusing to replace the folder {shown}: it holds {}/{rel}, which is not \
                         an output file of this format",
                        shown.trim_end_matches('/')
                    )));
                }
                old.push(meta.location);
            }
        }
        let stage = tempfile::Builder::new()
            .prefix(".saasql-upload-")
            .tempdir()
            .map_err(|e| CliError::write(&shown, &e))?;
        let local = stage.path().join(if output.single_file {
            format!("out.{}", extension(output.format))
        } else {
            "out".to_string()
        });
        Ok(Upload {
            name: output.name.clone(),
            shown,
            _stage: stage,
            local,
            store,
            key,
            single_file: output.single_file,
            old,
            files: 0,
            bytes: 0,
        })
    }

    /// Uploads the staged output and returns its (files, bytes). A folder
    /// output's old files are deleted after every new one is in; a failure
    /// deletes the new files uploaded so far and keeps the old ones.
    async fn run(self) -> CliResult<(u64, u64)> {
        let fail = |e: &datafusion::object_store::Error| {
            CliError::new(
                super::error::Code::Output,
                format!(
                    "cannot write {}: {}",
                    self.shown,
                    saasql_common::storage::describe_store_error(e)
                ),
            )
        };
        if self.single_file {
            commit::upload(
                Arc::clone(&self.store),
                self.key.clone(),
                self.local.clone(),
            )
            .await
            .map_err(|e| fail(&e))?;
            return Ok((self.files, self.bytes));
        }
        let mut files = vec![];
        let mut stack = vec![self.local.clone()];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| CliError::write(&self.shown, &e))?;
            for entry in entries {
                let path = entry.map_err(|e| CliError::write(&self.shown, &e))?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut uploaded: Vec<ObjectPath> = vec![];
        for file in files {
            let rel = file
                .strip_prefix(&self.local)
                .unwrap_or(&file)
                .to_string_lossy()
                .into_owned();
            let object = ObjectPath::from(format!("{}/{rel}", self.key));
            if let Err(e) =
                commit::upload(Arc::clone(&self.store), object.clone(), file.clone()).await
            {
                for done in &uploaded {
                    let _ = self.store.delete(done).await;
                }
                return Err(fail(&e));
            }
            uploaded.push(object);
        }
        for old in &self.old {
            if !uploaded.contains(old) {
                self.store.delete(old).await.map_err(|e| fail(&e))?;
            }
        }
        Ok((self.files, self.bytes))
    }
}

/// Whether `rel`, a path under a bucket folder output, may be replaced:
/// a file with one of `extensions` under `key=value` partition folders
/// only (as [`commit::check_replaceable_folder`]: hidden files such as
/// `.env` are not saasql's, and are not replaced).
fn replaceable(rel: &str, extensions: &[&str]) -> bool {
    let mut parts: Vec<&str> = rel.split('/').collect();
    let Some(name) = parts.pop() else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    parts.iter().all(|p| p.contains('='))
        && !name.starts_with('.')
        && extensions
            .iter()
            .any(|ext| lower.ends_with(&format!(".{ext}")))
}

/// Rewrites every JSON lines file at or under `path` as one JSON array of
/// the same objects, `[{…},{…}]` and a newline (what `json` means everywhere).
/// Each file is replaced through an [`OutputFile`].
fn lines_to_arrays(path: &Path) -> CliResult<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let shown = p.display().to_string();
        let meta = fs::metadata(&p).map_err(|e| CliError::write(&shown, &e))?;
        if meta.is_dir() {
            for entry in fs::read_dir(&p).map_err(|e| CliError::write(&shown, &e))? {
                stack.push(entry.map_err(|e| CliError::write(&shown, &e))?.path());
            }
            continue;
        }
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_none_or(|n| n.starts_with('.')) {
            continue;
        }
        let reader = BufReader::new(fs::File::open(&p).map_err(|e| CliError::write(&shown, &e))?);
        let mut out = OutputFile::create(&p)?;
        let mut first = true;
        out.write_all(b"[")
            .map_err(|e| CliError::write(&shown, &e))?;
        for line in reader.lines() {
            let line = line.map_err(|e| CliError::write(&shown, &e))?;
            if line.is_empty() {
                continue;
            }
            if !first {
                out.write_all(b",")
                    .map_err(|e| CliError::write(&shown, &e))?;
            }
            first = false;
            out.write_all(line.as_bytes())
                .map_err(|e| CliError::write(&shown, &e))?;
        }
        out.write_all(b"]\n")
            .map_err(|e| CliError::write(&shown, &e))?;
        out.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_become_arrays() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("month=2025-03");
        fs::create_dir_all(&part).unwrap();
        fs::write(part.join("a.json"), "{\"a\":1}\n{\"a\":2,\"b\":\"x\"}\n").unwrap();
        fs::write(dir.path().join("b.json"), "").unwrap();
        lines_to_arrays(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(part.join("a.json")).unwrap(),
            "[{\"a\":1},{\"a\":2,\"b\":\"x\"}]\n"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("b.json")).unwrap(),
            "[]\n"
        );
        assert_eq!(
            fs::read_dir(&part).unwrap().count(),
            1,
            "no temporaries left"
        );
    }

    #[test]
    fn job_formats_are_the_command_line_formats() {
        let spec = |format: &str| {
            toml::from_str::<OutputSpec>(&format!(
                "name = 'o'\nsql = 'SELECT 1'\npath = 'o'\nformat = '{format}'"
            ))
            .map(|o| o.format)
        };
        assert_eq!(spec("json").unwrap(), Format::Json);
        assert_eq!(spec("ndjson").unwrap(), Format::Ndjson);
        assert_eq!(spec("jsonl").unwrap(), Format::Ndjson);
        assert_eq!(spec("csv").unwrap(), Format::Csv);
        assert!(spec("yaml").is_err());
        let default: OutputSpec =
            toml::from_str("name = 'o'\nsql = 'SELECT 1'\npath = 'o'").unwrap();
        assert_eq!(default.format, Format::Parquet);
        use clap::ValueEnum;
        assert_eq!(Format::from_str("jsonl", true), Ok(Format::Ndjson));
    }
}
