//! The interactive shell: rustyline with history, multi-line statements,
//! `\` commands, and Ctrl-C to cancel a running query.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::ValueEnum;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::args::Format;
use super::error::{CliError, CliResult};
use super::functions::{function_doc, function_list};
use super::output::{PrintOptions, Target, footer, human_duration, write_batches, write_stream};
use super::report::{Outcome, ScriptStatement, finish_write, is_complete, parse_script, start};

/// Rows shown by a table in the shell; the rest are counted.
const MAX_TABLE_ROWS: usize = 1000;

const HELP: &str = "\
Statements end with ';' and may span lines. Ctrl-C cancels a running query or
clears the current input; Ctrl-D quits.

  \\h             list saasql functions
  \\h NAME        documentation of function NAME
  \\d             list tables
  \\d TABLE       columns of TABLE
  \\timing        toggle query timing (also \\timing on|off)
  \\format FMT    output format: table, csv, json, ndjson, markdown
  \\q             quit
  \\?             this help";

/// The shell's state.
struct Shell {
    ctx: SessionContext,
    format: Format,
    timing: bool,
}

enum Flow {
    Continue,
    Quit,
}

/// Runs the shell until `\q` or Ctrl-D.
pub async fn run_shell(ctx: SessionContext, format: Format) -> CliResult<()> {
    if format == Format::Parquet {
        return Err(CliError::usage(
            "the shell cannot print parquet; use `saasql run --format parquet --output PATH`",
        ));
    }
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_err(|e| CliError::usage(format!("shell: {e}")))?
        .build();
    let mut editor = DefaultEditor::with_config(config)
        .map_err(|e| CliError::input(format!("cannot start the shell: {e}")))?;
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    println!(
        "saasql {} (Apache DataFusion). Statements end with ';'. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    let mut shell = Shell {
        ctx,
        format,
        timing: true,
    };
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "saasql> "
        } else {
            "   ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.is_empty() && line.trim_start().starts_with('\\') {
                    let _ = editor.add_history_entry(line.trim());
                    match shell.command(line.trim()).await {
                        Flow::Quit => break,
                        Flow::Continue => continue,
                    }
                }
                if buffer.is_empty() && line.trim().is_empty() {
                    continue;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if is_complete(&shell.ctx, &buffer) {
                    let sql = std::mem::take(&mut buffer);
                    let _ = editor.add_history_entry(sql.trim_end());
                    shell.execute(&sql).await;
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::input(format!("cannot read input: {e}"))),
        }
    }
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!(
            "saasql: warning: cannot save history to {}: {e}",
            path.display()
        );
    }
    Ok(())
}

/// `<data dir>/saasql/history`, creating the folder.
fn history_path() -> Option<PathBuf> {
    let dir = dirs::data_dir()?.join("saasql");
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Some(dir.join("history")),
        Err(e) => {
            eprintln!(
                "saasql: warning: no history: cannot create {}: {e}",
                dir.display()
            );
            None
        }
    }
}

/// Prints an error in the shell (which carries on).
fn print_error(e: &CliError) {
    if let CliError::Failed { message, .. } = e {
        eprintln!("error: {message}");
    }
}

/// Writes text to stdout; errors (a closed terminal) are ignored.
fn print_out(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// What a statement printed, computed in the query task.
struct Printed {
    output: Vec<u8>,
    note: Option<String>,
}

impl Shell {
    fn print_options(&self) -> PrintOptions {
        PrintOptions {
            format: self.format,
            max_rows: Some(MAX_TABLE_ROWS),
            footer: true,
        }
    }

    /// Runs the statements in `sql` one by one; each runs in its own task so
    /// Ctrl-C can cancel it. Stops at the first error.
    async fn execute(&mut self, sql: &str) {
        let script = match parse_script(&self.ctx, "<shell>", sql) {
            Ok(s) => s,
            Err(e) => return print_error(&e),
        };
        for statement in script.statements {
            let ctx = self.ctx.clone();
            let opts = self.print_options();
            let timing = self.timing;
            let mut task =
                tokio::spawn(async move { run_statement(ctx, statement, opts, timing).await });
            let result = tokio::select! {
                joined = &mut task => joined.unwrap_or_else(|e| {
                    Err(CliError::query(format!("the query failed: {e}")))
                }),
                _ = tokio::signal::ctrl_c() => {
                    task.abort();
                    eprintln!("cancelled");
                    return;
                }
            };
            match result {
                Ok(printed) => {
                    print_out(&printed.output);
                    if let Some(note) = printed.note {
                        eprintln!("{note}");
                    }
                }
                Err(e) => return print_error(&e),
            }
        }
    }

    /// Runs a backslash command.
    async fn command(&mut self, line: &str) -> Flow {
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, Some(a.trim()).filter(|a| !a.is_empty())),
            None => (line, None),
        };
        match (name, arg) {
            ("\\q" | "\\quit", _) => return Flow::Quit,
            ("\\?" | "\\help", _) => println!("{HELP}"),
            ("\\h", None) => {
                let (schema, batch) = function_list();
                self.print_batches(schema, vec![batch]).await;
            }
            ("\\h", Some(name)) => match function_doc(name) {
                Ok(doc) => print_out(doc.as_bytes()),
                Err(e) => print_error(&e),
            },
            ("\\d", None) => {
                self.print_query(
                    "SELECT table_schema, table_name, table_type FROM information_schema.tables \
                     WHERE table_schema <> 'information_schema' \
                     ORDER BY table_catalog, table_schema, table_name",
                    None,
                )
                .await;
            }
            ("\\d", Some(table)) => {
                let found = self
                    .print_query(
                        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
                         WHERE table_name = $1 ORDER BY ordinal_position",
                        Some(table),
                    )
                    .await;
                if found == Some(0) {
                    eprintln!("error: no table named '{table}'; \\d lists tables");
                }
            }
            ("\\timing", arg) => {
                self.timing = match arg {
                    None => !self.timing,
                    Some("on") => true,
                    Some("off") => false,
                    Some(other) => {
                        eprintln!("error: \\timing takes on or off, not '{other}'");
                        return Flow::Continue;
                    }
                };
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            ("\\format", None) => println!("Format is {}.", self.format.name()),
            ("\\format", Some(f)) => match Format::from_str(f, true) {
                Ok(Format::Parquet) | Err(_) => {
                    eprintln!("error: \\format takes table, csv, json, ndjson or markdown");
                }
                Ok(format) => {
                    self.format = format;
                    println!("Format is {}.", format.name());
                }
            },
            (other, _) => eprintln!("error: unknown command {other}; \\? lists commands"),
        }
        Flow::Continue
    }

    /// Prints batches in the current format; returns the row count.
    async fn print_batches(
        &self,
        schema: datafusion::arrow::datatypes::SchemaRef,
        batches: Vec<datafusion::arrow::array::RecordBatch>,
    ) -> Option<u64> {
        let mut target = Target::Memory(vec![]);
        let opts = PrintOptions {
            footer: false,
            ..self.print_options()
        };
        match write_batches(schema, batches, &mut target, &opts).await {
            Ok(rows) => {
                if let Target::Memory(bytes) = target {
                    print_out(&bytes);
                }
                Some(rows)
            }
            Err(e) => {
                print_error(&e);
                None
            }
        }
    }

    /// Runs an internal query with an optional `$1` and prints its rows
    /// unless there are none; returns the row count.
    async fn print_query(&self, sql: &str, param: Option<&str>) -> Option<u64> {
        let result = async {
            let mut df = self.ctx.sql(sql).await?;
            if let Some(p) = param {
                df = df.with_param_values(vec![ScalarValue::from(p)])?;
            }
            let schema = Arc::clone(df.schema().inner());
            Ok::<_, datafusion::error::DataFusionError>((schema, df.collect().await?))
        }
        .await;
        match result {
            Ok((schema, batches)) => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                if rows == 0 && param.is_some() {
                    return Some(0);
                }
                self.print_batches(schema, batches).await
            }
            Err(e) => {
                print_error(&CliError::datafusion(&e));
                None
            }
        }
    }
}

/// Plans, runs and formats one statement (inside the query task).
async fn run_statement(
    ctx: SessionContext,
    statement: ScriptStatement,
    opts: PrintOptions,
    timing: bool,
) -> CliResult<Printed> {
    let started = Instant::now();
    let elapsed = || timing.then(|| started.elapsed());
    let no_params = Default::default();
    match start(&ctx, &statement, &no_params).await? {
        Outcome::Rows(df) => {
            let stream = df.execute_stream().await?;
            let mut target = Target::Memory(vec![]);
            let rows = write_stream(stream, &mut target, &opts, elapsed).await?;
            let output = match target {
                Target::Memory(bytes) => bytes,
                _ => vec![],
            };
            let note =
                (opts.format != Format::Table && timing).then(|| footer(rows, rows, elapsed()));
            Ok(Printed { output, note })
        }
        Outcome::Write(df) => {
            let rows = finish_write(df).await?;
            let mut line = format!("{rows} {} written", if rows == 1 { "row" } else { "rows" });
            if let Some(d) = elapsed() {
                line.push_str(&format!(" ({})", human_duration(d)));
            }
            line.push('\n');
            Ok(Printed {
                output: line.into_bytes(),
                note: None,
            })
        }
        Outcome::Done(df) => {
            df.collect().await?;
            let mut line = "OK".to_string();
            if let Some(d) = elapsed() {
                line.push_str(&format!(" ({})", human_duration(d)));
            }
            line.push('\n');
            Ok(Printed {
                output: line.into_bytes(),
                note: None,
            })
        }
    }
}
