//! Result formats (table, CSV, JSON, NDJSON, Markdown, Parquet, HTML): the one
//! [`Format`] of `--format`, the shell's `\format`, output file extensions and
//! batch jobs' `format =`; and where results are written (stdout, a buffer,
//! or an output file of [`super::commit`]).

use std::error::Error as StdError;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::ValueEnum;
use comfy_table::modifiers::UTF8_ROUND_CORNERS;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::{csv, json};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use serde::Deserialize;

use super::commit::OutputFile;
use super::error::{CliError, CliResult, find_io};

/// Output formats, the same everywhere: `json` is one JSON array of objects
/// (as DuckDB's `-json`), `ndjson` (also `jsonl`) one object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Aligned columns with a row count (for people)
    Table,
    /// Comma-separated values with a header line
    Csv,
    /// One JSON array of objects per result
    Json,
    /// One JSON object per line (JSON lines; also `jsonl`)
    #[value(alias = "jsonl")]
    #[serde(alias = "jsonl")]
    Ndjson,
    /// A GitHub-flavoured Markdown table
    Markdown,
    /// Apache Parquet (needs --output)
    Parquet,
    /// One self-contained HTML page: every result's table and an SVG chart
    Html,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Markdown => "markdown",
            Format::Parquet => "parquet",
            Format::Html => "html",
        }
    }

    /// The extensions of files written in this format, the usual one first
    /// (a folder of JSON lines files written by DataFusion has `.json` files).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Table => &["txt"],
            Format::Csv => &["csv"],
            Format::Json => &["json"],
            Format::Ndjson => &["jsonl", "ndjson", "json"],
            Format::Markdown => &["md", "markdown"],
            Format::Parquet => &["parquet"],
            Format::Html => &["html", "htm"],
        }
    }
}

/// How one result set is printed.
#[derive(Debug, Clone)]
pub struct PrintOptions {
    /// The format.
    pub format: Format,
    /// Table format only: show at most this many rows (the rest are counted).
    pub max_rows: Option<usize>,
    /// Table format only: print `N rows` under the table.
    pub footer: bool,
    /// Table format only: one block of `column | value` lines per row
    /// (the shell's `\x`).
    pub expanded: bool,
}

/// Where results go: stdout or an atomically written file.
#[derive(Debug)]
pub enum Target {
    /// Standard output.
    Stdout(BufWriter<io::Stdout>),
    /// A file (replaced only when committed), device, FIFO or socket.
    File(OutputFile),
    /// A buffer (the shell formats results in the query task).
    Memory(Vec<u8>),
}

impl Target {
    /// Buffered standard output.
    pub fn stdout() -> Self {
        Target::Stdout(BufWriter::new(io::stdout()))
    }

    /// What the target is called in error messages.
    pub fn describe(&self) -> String {
        match self {
            Target::Stdout(_) => "stdout".to_string(),
            Target::File(f) => f.path().display().to_string(),
            Target::Memory(_) => "output".to_string(),
        }
    }

    fn writer(&mut self) -> &mut (dyn Write + Send) {
        match self {
            Target::Stdout(w) => w,
            Target::File(f) => f,
            Target::Memory(v) => v,
        }
    }

    /// Writes raw text (separators, footers).
    pub fn write_str(&mut self, s: &str) -> CliResult<()> {
        let what = self.describe();
        self.writer()
            .write_all(s.as_bytes())
            .map_err(|e| CliError::write(&what, &e))
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> CliResult<()> {
        let what = self.describe();
        self.writer()
            .flush()
            .map_err(|e| CliError::write(&what, &e))
    }

    /// Flushes, and for a file moves it into place.
    pub fn finish(self) -> CliResult<()> {
        match self {
            Target::Stdout(mut w) => w.flush().map_err(|e| CliError::write("stdout", &e)),
            Target::File(f) => f.commit(),
            Target::Memory(_) => Ok(()),
        }
    }
}

/// Streams one result set into `target` in `opts.format`; returns the row count.
///
/// Errors from the query keep their classification; errors from writing
/// become output errors (or a quiet broken pipe on stdout).
pub async fn write_stream(
    mut stream: SendableRecordBatchStream,
    target: &mut Target,
    opts: &PrintOptions,
    elapsed: impl Fn() -> Option<Duration>,
) -> CliResult<u64> {
    let schema = stream.schema();
    let what = target.describe();
    let seen = Arc::new(Mutex::new(None));
    let mut w = Tracked {
        inner: target.writer(),
        seen: Arc::clone(&seen),
    };
    let mut rows = 0u64;
    match opts.format {
        Format::Table | Format::Markdown => {
            let mut batches = vec![];
            let mut kept = 0usize;
            let limit = opts.max_rows.unwrap_or(usize::MAX);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                if kept < limit {
                    let take = batch.num_rows().min(limit - kept);
                    kept += take;
                    batches.push(batch.slice(0, take));
                }
            }
            let text = if opts.format == Format::Table && opts.expanded {
                render_expanded(&schema, &batches)?
            } else if opts.format == Format::Table {
                render_table(&schema, &batches)?
            } else {
                render_markdown(&schema, &batches)?
            };
            let mut out = text;
            out.push('\n');
            if opts.format == Format::Table && opts.footer {
                out.push_str(&footer(rows, kept as u64, elapsed()));
                out.push('\n');
            }
            w.write_all(out.as_bytes())
                .map_err(|e| CliError::write(&what, &e))?;
        }
        Format::Csv => {
            let mut writer = csv::WriterBuilder::new().with_header(true).build(&mut w);
            // The header goes out with the first batch (so a query that fails
            // before producing rows prints nothing), or at the end if the
            // result is empty.
            let mut started = false;
            while let Some(batch) = stream.next().await {
                let batch = nested_as_text(&batch?)?;
                rows += batch.num_rows() as u64;
                writer
                    .write(&batch)
                    .map_err(|e| write_error(&what, &seen, &e))?;
                started = true;
            }
            if !started {
                let empty = nested_as_text(&RecordBatch::new_empty(Arc::clone(&schema)))?;
                writer
                    .write(&empty)
                    .map_err(|e| write_error(&what, &seen, &e))?;
            }
        }
        Format::Json => {
            let mut writer = json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, json::writer::JsonArray>(&mut w);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer
                    .write(&batch)
                    .map_err(|e| write_error(&what, &seen, &e))?;
            }
            writer.finish().map_err(|e| write_error(&what, &seen, &e))?;
            w.write_all(b"\n").map_err(|e| CliError::write(&what, &e))?;
        }
        Format::Ndjson => {
            let mut writer = json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, json::writer::LineDelimited>(&mut w);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer
                    .write(&batch)
                    .map_err(|e| write_error(&what, &seen, &e))?;
            }
            writer.finish().map_err(|e| write_error(&what, &seen, &e))?;
        }
        Format::Html => {
            let mut batches = vec![];
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                batches.push(batch);
            }
            let page = super::html::page("saasql result", &schema, batches)?;
            w.write_all(page.as_bytes())
                .map_err(|e| CliError::write(&what, &e))?;
        }
        Format::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .build();
            let mut writer = ArrowWriter::try_new(&mut w, Arc::clone(&schema), Some(props))
                .map_err(|e| write_error(&what, &seen, &e))?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer
                    .write(&batch)
                    .map_err(|e| write_error(&what, &seen, &e))?;
            }
            writer.close().map_err(|e| write_error(&what, &seen, &e))?;
        }
    }
    Ok(rows)
}

/// CSV has no nested values: lists, structs and maps are written as their
/// display text (`[a, b]`, `{responses: 5, …}`), like the table format shows them.
fn nested_as_text(batch: &RecordBatch) -> CliResult<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let opts = FormatOptions::default();
    let mut fields = vec![];
    let mut columns = vec![];
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if f.data_type().is_nested() {
            let fmt = ArrayFormatter::try_new(c.as_ref(), &opts).map_err(DataFusionError::from)?;
            let text: StringArray = (0..c.len())
                .map(|i| c.is_valid(i).then(|| fmt.value(i).to_string()))
                .collect();
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            columns.push(Arc::new(text) as ArrayRef);
        } else {
            fields.push(f.as_ref().clone());
            columns.push(Arc::clone(c));
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(DataFusionError::from)?)
}

/// Writes already collected batches like [`write_stream`].
pub async fn write_batches(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    target: &mut Target,
    opts: &PrintOptions,
) -> CliResult<u64> {
    let stream = RecordBatchStreamAdapter::new(
        Arc::clone(&schema),
        futures::stream::iter(batches.into_iter().map(Ok)),
    );
    write_stream(Box::pin(stream), target, opts, || None).await
}

/// `3 rows`, `1 row (12.3 ms)`, `100 of 5234 rows shown`.
pub fn footer(rows: u64, shown: u64, elapsed: Option<Duration>) -> String {
    let mut s = if shown < rows {
        format!("{shown} of {rows} rows shown")
    } else if rows == 1 {
        "1 row".to_string()
    } else {
        format!("{rows} rows")
    };
    if let Some(d) = elapsed {
        s.push_str(&format!(" ({})", human_duration(d)));
    }
    s
}

/// `850 µs`, `12.3 ms`, `4.567 s`, `2m 03s`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 0.001 {
        format!("{} µs", d.as_micros())
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else if secs < 60.0 {
        format!("{secs:.3} s")
    } else {
        format!("{}m {:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Formats every cell of `batches`, column by column, with arrow's display
/// formatter (one formatter per column and batch).
fn cells(schema: &SchemaRef, batches: &[RecordBatch], null: &str) -> CliResult<Vec<Vec<String>>> {
    let options = FormatOptions::default().with_null(null);
    let mut rows = vec![];
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, ArrowError>>()
            .map_err(|e| CliError::query(e.to_string()))?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    debug_assert!(
        rows.iter()
            .all(|r: &Vec<String>| r.len() == schema.fields().len())
    );
    Ok(rows)
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_numeric()
}

/// The width of the terminal stdout writes to, if it is one.
fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size().ok().map(|(width, _)| width)
}

/// An aligned table with box-drawing borders; numbers are right-aligned.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch]) -> CliResult<String> {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .apply_modifier(UTF8_ROUND_CORNERS)
        .set_header(schema.fields().iter().map(|f| f.name().as_str()));
    for row in cells(schema, batches, "NULL")? {
        table.add_row(row);
    }
    // On a terminal of sensible width, long cells wrap to fit; when piped,
    // rows stay on one line.
    if let Some(width) = terminal_width().filter(|w| *w >= 40) {
        table
            .set_width(width)
            .set_content_arrangement(ContentArrangement::Dynamic);
    }
    for (i, field) in schema.fields().iter().enumerate() {
        if is_numeric(field.data_type())
            && let Some(col) = table.column_mut(i)
        {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    Ok(table.to_string())
}

/// Rows as blocks of `column | value` lines under a `-[ RECORD n ]-` rule,
/// as psql's `\x` shows them.
pub fn render_expanded(schema: &SchemaRef, batches: &[RecordBatch]) -> CliResult<String> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (i, row) in cells(schema, batches, "NULL")?.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("-[ RECORD {} ]-", i + 1));
        for (name, value) in names.iter().zip(row) {
            out.push_str(&format!("\n{name:<width$} | {value}"));
        }
    }
    if out.is_empty() {
        out.push_str("(0 rows)");
    }
    Ok(out)
}

/// A GitHub-flavoured Markdown table; `|` in values is escaped.
pub fn render_markdown(schema: &SchemaRef, batches: &[RecordBatch]) -> CliResult<String> {
    fn escape(s: &str) -> String {
        s.replace('|', "\\|").replace('\n', " ")
    }
    let mut out = String::new();
    let header: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    let rule: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_numeric(f.data_type()) {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    out.push_str(&format!("| {} |", rule.join(" | ")));
    for row in cells(schema, batches, "")? {
        let row: Vec<String> = row.iter().map(|c| escape(c)).collect();
        out.push_str(&format!("\n| {} |", row.join(" | ")));
    }
    Ok(out)
}

/// A write error: the io error the writer saw (arrow's CSV writer turns io
/// errors into strings, which would hide a broken pipe), else one in the
/// error's source chain, else an encoding error of the result.
fn write_error(
    what: &str,
    seen: &Mutex<Option<io::Error>>,
    err: &(dyn StdError + 'static),
) -> CliError {
    if let Ok(guard) = seen.lock()
        && let Some(io) = guard.as_ref()
    {
        return CliError::write(what, io);
    }
    match find_io(err) {
        Some(io) => CliError::write(what, io),
        None => CliError::query(err.to_string()),
    }
}

/// Passes writes through and remembers the first io error.
struct Tracked<'a> {
    inner: &'a mut (dyn Write + Send),
    seen: Arc<Mutex<Option<io::Error>>>,
}

impl Tracked<'_> {
    fn note<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && let Ok(mut seen) = self.seen.lock()
            && seen.is_none()
        {
            *seen = Some(io::Error::new(e.kind(), e.to_string()));
        }
        result
    }
}

impl Write for Tracked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// Files (recursively) under `path` (or `path` itself) and their total size.
pub fn path_stats(path: &Path) -> (u64, u64) {
    match fs::metadata(path) {
        Ok(m) if m.is_file() => (1, m.len()),
        _ => dir_stats(path),
    }
}

/// Files (recursively) under `dir` and their total size in bytes.
pub fn dir_stats(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// `1.2 MiB`, `512 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
