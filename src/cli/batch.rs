//! `saasql batch JOB.toml`: run queries and write their results as files.
//!
//! Every output is first written under `PATH.tmp-PID`; only when all outputs
//! succeeded are they moved into place, so a failed job changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{DataFrame, SessionContext};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;

use super::args::Format;
use super::config::resolve_location;
use super::error::{CliError, CliResult};
use super::output::{AtomicPath, PrintOptions, Target, path_stats, write_batches};
use super::report::{Outcome, Script, count_written, parse_script, start};
use super::tables::register_parquet;

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
    #[serde(default)]
    format: FileFormat,
    #[serde(default)]
    partition_by: Vec<String>,
}

/// Formats a batch output can be written in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FileFormat {
    #[default]
    Parquet,
    Csv,
    Json,
}

impl FileFormat {
    fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
        }
    }
}

/// A validated output, ready to run.
#[derive(Debug)]
struct PlannedOutput {
    name: String,
    script: Script,
    path: PathBuf,
    format: FileFormat,
    partition_by: Vec<String>,
    /// A single file (PATH ends in the format's extension, no partitions)
    /// rather than a folder of files.
    single_file: bool,
}

/// Reads and checks the job file: nothing runs if any part is wrong.
fn load_job(
    ctx: &SessionContext,
    path: &Path,
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
    let mut outputs = vec![];
    for o in job.outputs {
        let out_path = base.join(&o.path);
        if !names.insert(o.name.clone()) {
            return Err(bad(format!("two outputs are named '{}'", o.name)));
        }
        if !paths.insert(out_path.clone()) {
            return Err(bad(format!("two outputs write {}", out_path.display())));
        }
        let (script_name, sql) = match (&o.sql, &o.sql_file) {
            (Some(sql), None) => (format!("{}[{}]", path.display(), o.name), sql.clone()),
            (None, Some(file)) => {
                let file = base.join(file);
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
        if let Some(s) = script.statements.iter().find(|s| !s.params.is_empty()) {
            return Err(CliError::usage("batch jobs take no $parameters")
                .at(script.location(s), Some(s.first_line.clone())));
        }
        let single_file = o.partition_by.is_empty()
            && out_path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(o.format.extension()));
        outputs.push(PlannedOutput {
            name: o.name,
            script,
            path: out_path,
            format: o.format,
            partition_by: o.partition_by,
            single_file,
        });
    }
    Ok((inputs, outputs))
}

/// Runs the job and prints a summary (output, rows, files, bytes, path).
pub async fn run_batch(ctx: &SessionContext, job_path: &Path, format: Format) -> CliResult<()> {
    let (inputs, outputs) = load_job(ctx, job_path)?;
    for (name, location) in &inputs {
        register_parquet(ctx, name, location).await?;
    }
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

    let mut written = vec![];
    for output in &outputs {
        bar.set_message(output.name.clone());
        let result = write_output(ctx, output).await;
        let (tmp, rows) = match result {
            Ok(ok) => ok,
            Err(e) => {
                bar.finish_and_clear();
                return Err(e.context(format!("output '{}'", output.name)));
            }
        };
        written.push((output, tmp, rows));
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Everything was written: move the outputs into place.
    let mut rows_col = vec![];
    let mut files_col = vec![];
    let mut bytes_col = vec![];
    let mut names = vec![];
    let mut paths = vec![];
    for (output, tmp, rows) in written {
        tmp.commit()?;
        let (files, bytes) = path_stats(&output.path);
        names.push(output.name.clone());
        paths.push(output.path.display().to_string());
        rows_col.push(rows);
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
    };
    write_batches(schema, vec![batch], &mut target, &print).await?;
    target.finish()
}

/// Runs one output's SQL and writes its result under a temporary path.
async fn write_output(
    ctx: &SessionContext,
    output: &PlannedOutput,
) -> CliResult<(AtomicPath, u64)> {
    let no_params = Default::default();
    let mut query: Option<DataFrame> = None;
    for s in &output.script.statements {
        let at = |e: CliError| e.at(output.script.location(s), Some(s.first_line.clone()));
        match start(ctx, s, &no_params).await.map_err(|e| at(e.into()))? {
            Outcome::Rows(df) => query = Some(df),
            Outcome::Write(df) | Outcome::Done(df) => {
                df.collect().await.map_err(|e| at(e.into()))?;
            }
        }
    }
    let Some(df) = query else {
        return Err(CliError::usage("the SQL has no query"));
    };
    let tmp = AtomicPath::create(&output.path, !output.single_file)?;
    // Absolute: on a cluster the executors write it, from their own cwd.
    let tmp_path = std::path::absolute(tmp.tmp())
        .map_err(|e| CliError::write(&tmp.tmp().display().to_string(), &e))?;
    let location = if output.single_file {
        tmp_path.display().to_string()
    } else {
        format!("{}/", tmp_path.display())
    };
    let options = DataFrameWriteOptions::new()
        .with_single_file_output(output.single_file)
        .with_partition_by(output.partition_by.clone());
    let counts = match output.format {
        FileFormat::Parquet => df.write_parquet(&location, options, None).await,
        FileFormat::Csv => df.write_csv(&location, options, None).await,
        FileFormat::Json => df.write_json(&location, options, None).await,
    }?;
    Ok((tmp, count_written(&counts)))
}
