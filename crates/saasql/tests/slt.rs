//! Runs every `tests/slt/*.slt` file through the official sqllogictest
//! runner against a fresh saasql context, three times: with one partition and
//! DataFusion's default batch size; with 4 partitions and batches of 3 rows;
//! and like the second with partial aggregation skipped from the first row
//! (so aggregates go through `convert_to_state`). Every expected result is so
//! checked to be independent of partitioning, batch boundaries and the
//! aggregation path. A fourth run per file draws its partitions (1–16) and
//! batch size (1–8192, log-uniform) at random: the seed is in the trial's
//! name, and `SAASQL_SLT_SEED=N` repeats a run.
//!
//! `SAASQL_SLT_COMPLETE=1 cargo test --test slt` rewrites the expected
//! output of every file (review the diff by hand before committing).

use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use sqllogictest::harness::{Arguments, Failed, Trial, glob, run};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

/// The saasql engine as seen by the sqllogictest runner.
struct Saasql {
    ctx: SessionContext,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SltError {}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating()
            || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
        {
            DefaultColumnType::FloatingPoint
        }
        _ => DefaultColumnType::Any,
    }
}

/// Floats are rounded to 12 decimal places and printed without trailing
/// zeros, so expected values can be written by hand (`33.333333333333`).
fn float_text(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let s = format!("{v:.12}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

fn cell(col: &ArrayRef, row: usize, fmt: &ArrayFormatter) -> String {
    if col.is_null(row) {
        return "NULL".into();
    }
    match col.data_type() {
        DataType::Float64 => float_text(col.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => float_text(col.as_primitive::<Float32Type>().value(row) as f64),
        // Lists of floats (`retention`) with each element rounded the same way.
        DataType::List(f) if f.data_type() == &DataType::Float64 => {
            let list = col.as_list::<i32>().value(row);
            let items: Vec<String> = (0..list.len())
                .map(|i| {
                    if list.is_null(i) {
                        "NULL".into()
                    } else {
                        float_text(list.as_primitive::<Float64Type>().value(i))
                    }
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        _ => {
            let s = fmt.value(row).to_string();
            if s.is_empty() { "(empty)".into() } else { s }
        }
    }
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = vec![];
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<_, _>>()
            .map_err(|e| SltError(e.to_string()))?;
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .zip(&fmts)
                    .map(|(c, f)| cell(c, r, f))
                    .collect(),
            );
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl AsyncDB for Saasql {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        let err = |e: datafusion::error::DataFusionError| SltError(e.strip_backtrace());
        let df = self.ctx.sql(sql).await.map_err(err)?;
        let schema = df.schema().as_arrow().clone();
        let is_statement = schema.fields().is_empty()
            || (schema.fields().len() == 1 && schema.field(0).name() == "count" && {
                let up = sql.trim_start().to_ascii_uppercase();
                up.starts_with("CREATE") || up.starts_with("INSERT") || up.starts_with("COPY")
            });
        let batches = df.collect().await.map_err(err)?;
        if is_statement {
            return Ok(DBOutput::StatementComplete(0));
        }
        Ok(DBOutput::Rows {
            types: schema
                .fields()
                .iter()
                .map(|f| column_type(f.data_type()))
                .collect(),
            rows: rows(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "saasql"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }
}

/// How a file is run.
#[derive(Debug, Clone, Copy)]
struct Setup {
    partitions: usize,
    batch_size: Option<usize>,
    skip_partial_aggregation: bool,
}

/// A fresh saasql context for `setup`.
fn context(setup: Setup) -> SessionContext {
    let mut config = saasql::session_config().with_target_partitions(setup.partitions);
    if let Some(b) = setup.batch_size {
        config = config.with_batch_size(b);
    }
    if setup.skip_partial_aggregation {
        let exec = &mut config.options_mut().execution;
        exec.skip_partial_aggregation_probe_rows_threshold = 0;
        exec.skip_partial_aggregation_probe_ratio_threshold = 0.0;
    }
    saasql::context_with(config, std::sync::Arc::new(Default::default()))
}

fn run_file(path: &Path, setup: Setup) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut runner = sqllogictest::Runner::new(|| async move {
            Ok(Saasql {
                ctx: context(setup),
            })
        });
        if std::env::var_os("SAASQL_SLT_COMPLETE").is_some()
            && setup.partitions == 1
            && setup.batch_size.is_none()
        {
            runner
                .update_test_file(
                    path,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::strict_column_validator,
                )
                .await
                .map_err(|e| Failed::from(e.to_string()))?;
            return Ok(());
        }
        runner.with_column_validator(sqllogictest::strict_column_validator);
        runner
            .run_file_async(path)
            .await
            .map_err(|e| Failed::from(format!("{}\n({setup:?})", e.display(false))))
    })
}

/// A xorshift step: the random setups need no crate.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn main() {
    let args = Arguments::from_args();
    let seed: u64 = std::env::var("SAASQL_SLT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    let mut random = seed | 1;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = glob(&format!("{}/**/*.slt", root.display()))
        .expect("glob pattern")
        .map(|p| p.expect("readable path"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files under {}", root.display());
    let mut trials = vec![];
    for path in files {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        let partitions = 1 + (next_random(&mut random) % 16) as usize;
        // 2^0 … 2^13, then anywhere up to the next power of two.
        let power = next_random(&mut random) % 14;
        let batch = ((1u64 << power) + next_random(&mut random) % (1u64 << power)).min(8192);
        let random_label = format!("random (seed {seed}): {partitions} partitions, batch {batch}");
        let setups = [
            (
                random_label.as_str(),
                Setup {
                    partitions,
                    batch_size: Some(batch as usize),
                    skip_partial_aggregation: false,
                },
            ),
            (
                "1 partition",
                Setup {
                    partitions: 1,
                    batch_size: None,
                    skip_partial_aggregation: false,
                },
            ),
            (
                "4 partitions, batch 3",
                Setup {
                    partitions: 4,
                    batch_size: Some(3),
                    skip_partial_aggregation: false,
                },
            ),
            (
                "4 partitions, batch 3, no partial aggregation",
                Setup {
                    partitions: 4,
                    batch_size: Some(3),
                    skip_partial_aggregation: true,
                },
            ),
        ];
        for (label, setup) in setups {
            let p = path.clone();
            trials.push(Trial::test(format!("{name} [{label}]"), move || {
                run_file(&p, setup)
            }));
        }
    }
    run(&args, trials).exit();
}
