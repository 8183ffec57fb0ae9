//! The writer thread: Parquet files at the staged paths, one writer per
//! table, events split into `part-NNNNN.parquet` files; and the check on an
//! existing `events/` folder.

use std::fs;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;

use super::*;

pub(super) type Message = (Table, RecordBatch);

/// The journal of the commit that puts the tables in place, in the output
/// directory while it runs.
pub(super) const JOURNAL: &str = ".saasql-gen-journal";

/// Where each table is written: its staged path, by [`Table`] order.
#[derive(Debug)]
pub(super) struct TempPaths {
    pub(super) files: Vec<PathBuf>,
}

impl TempPaths {
    /// The staged file of `table` (for events, the staged folder of parts).
    pub(super) fn file(&self, table: Table) -> PathBuf {
        self.files[table as usize].clone()
    }
}

pub(super) fn is_part_file(name: &str) -> bool {
    name.starts_with("part-") && name.ends_with(".parquet")
}

/// An existing `events/` folder is replaced only if it holds nothing but
/// `part-*.parquet` files, so that a wrong `--out` cannot delete other data.
pub(super) fn check_replaceable_events_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let ok = entry.file_type()?.is_file() && name.to_str().is_some_and(is_part_file);
        if !ok {
            return Err(DataFusionError::Configuration(format!(
                "gen: refusing to replace {}: it contains {name:?}, which is not a part-*.parquet file",
                dir.display(),
            )));
        }
    }
    Ok(())
}

/// What the writer thread produced for one table.
#[derive(Debug)]
pub(super) struct Written {
    pub(super) table: Table,
    pub(super) rows: u64,
    pub(super) files: Vec<PathBuf>,
}

pub(super) struct TableWriter {
    pub(super) table: Table,
    pub(super) schema: SchemaRef,
    pub(super) props: WriterProperties,
    /// Rows per file (unbounded except for events).
    pub(super) max_file_rows: usize,
    pub(super) writer: Option<ArrowWriter<BufWriter<File>>>,
    pub(super) file_rows: usize,
    pub(super) rows: u64,
    pub(super) files: Vec<PathBuf>,
}

impl TableWriter {
    pub(super) fn new(table: Table, max_file_rows: usize) -> Result<Self> {
        Ok(Self {
            table,
            schema: table.schema(),
            props: table.writer_properties()?,
            max_file_rows,
            writer: None,
            file_rows: 0,
            rows: 0,
            files: Vec::new(),
        })
    }

    pub(super) fn open(&mut self, paths: &TempPaths) -> Result<()> {
        let path = if self.table == Table::Events {
            paths
                .file(Table::Events)
                .join(format!("part-{:05}.parquet", self.files.len()))
        } else {
            paths.file(self.table)
        };
        let file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        self.writer = Some(ArrowWriter::try_new(
            file,
            Arc::clone(&self.schema),
            Some(self.props.clone()),
        )?);
        self.files.push(path);
        self.file_rows = 0;
        Ok(())
    }

    pub(super) fn close(&mut self) -> Result<()> {
        if let Some(writer) = self.writer.take() {
            writer
                .into_inner()?
                .into_inner()
                .map_err(|e| DataFusionError::IoError(e.into_error()))?;
        }
        Ok(())
    }

    pub(super) fn write(&mut self, batch: &RecordBatch, paths: &TempPaths) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.file_rows == self.max_file_rows {
                self.close()?;
                self.open(paths)?;
            }
            let n = (batch.num_rows() - offset).min(self.max_file_rows - self.file_rows);
            let writer = self.writer.as_mut().ok_or_else(|| {
                DataFusionError::Internal("gen: parquet writer is not open".to_string())
            })?;
            writer.write(&batch.slice(offset, n))?;
            offset += n;
            self.file_rows += n;
            self.rows += n as u64;
        }
        Ok(())
    }
}

pub(super) fn write_all(
    rx: Receiver<Message>,
    paths: &TempPaths,
    events_per_file: usize,
) -> Result<Vec<Written>> {
    fs::create_dir_all(paths.file(Table::Events))?;
    let mut writers = TABLES
        .iter()
        .map(|&t| {
            let max = if t == Table::Events {
                events_per_file
            } else {
                usize::MAX
            };
            TableWriter::new(t, max)
        })
        .collect::<Result<Vec<_>>>()?;
    // Every table gets a file, even an empty one, so that it has a schema.
    for w in &mut writers {
        w.open(paths)?;
    }
    for (table, batch) in rx {
        writers[table as usize].write(&batch, paths)?;
    }
    writers
        .into_iter()
        .map(|mut w| {
            w.close()?;
            Ok(Written {
                table: w.table,
                rows: w.rows,
                files: w.files,
            })
        })
        .collect()
}
