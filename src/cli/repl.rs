//! The interactive shell: rustyline with history, multi-line statements,
//! tab completion, `\` commands (with SQLite-style `.` aliases), `$name`
//! parameters, and Ctrl-C to cancel a running query.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use clap::ValueEnum;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::commit::{OutputFile, check_output};
use super::error::{CliError, CliResult};
use super::functions::{function_doc, function_list};
use super::output::{
    Format, PrintOptions, Target, footer, human_duration, write_batches, write_stream,
};
use super::report::{
    Outcome, ScriptStatement, check_copy, finish_write, is_complete, parse_script, start,
    typed_value,
};

/// Rows shown by a table in the shell; the rest are counted.
const MAX_TABLE_ROWS: usize = 1000;

const HELP: &str = "\
Statements end with ';' and may span lines. Commands start a line, also in the
middle of a statement. Tab completes keywords, tables, columns, functions and
settings. Ctrl-C cancels a running query or clears the current input; Ctrl-D quits.

  \\h             list saasql functions
  \\h NAME        documentation of function NAME
  \\d             list tables                          (.tables)
  \\d TABLE       columns of TABLE                     (.schema TABLE)
  \\dv            list views: the project's models and CREATE VIEWs
  \\i FILE        run the statements in FILE           (\\include, .read)
  \\o FILE        send results to FILE; \\o alone: back to the screen
  \\x             toggle expanded rows (also \\x on|off)
  \\set NAME VAL  set parameter $NAME (typed like --param); \\set lists them
  \\unset NAME    remove parameter $NAME
  \\timing        toggle query timing (also \\timing on|off)
  \\format FMT    output format: table, csv, json, ndjson, markdown (.mode)
  \\q             quit                                 (.quit, .exit)
  \\?             this help                            (.help)";

/// The shell's state.
struct Shell {
    ctx: SessionContext,
    format: Format,
    timing: bool,
    expanded: bool,
    /// `$name` parameters from `\set`.
    params: HashMap<String, ScalarValue>,
    /// Where results go after `\o FILE` (put in place at `\o` or quit).
    output: Option<OutputFile>,
    /// What tab completion offers, refreshed after each statement.
    words: Arc<RwLock<BTreeSet<String>>>,
}

enum Flow {
    Continue,
    Quit,
}

/// Runs the shell until `\q` or Ctrl-D.
pub async fn run_shell(
    ctx: SessionContext,
    format: Format,
    params: HashMap<String, ScalarValue>,
) -> CliResult<()> {
    if matches!(format, Format::Parquet | Format::Html) {
        return Err(CliError::usage(format!(
            "the shell cannot print {0}; use `saasql run --format {0} --output PATH`",
            format.name()
        )));
    }
    let config = rustyline::Config::builder()
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_err(|e| CliError::usage(format!("shell: {e}")))?
        .build();
    let words = Arc::new(RwLock::new(BTreeSet::new()));
    let mut editor: Editor<ShellHelper, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| CliError::input(format!("cannot start the shell: {e}")))?;
    editor.set_helper(Some(ShellHelper {
        words: Arc::clone(&words),
    }));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    println!(
        "saasql {} (Apache DataFusion). Statements end with ';'. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION")
    );
    if super::tables::has_no_data_dir(&ctx) {
        println!("{}", super::tables::NO_DATA_DIR_HINT);
    }
    let mut shell = Shell {
        ctx,
        format,
        timing: true,
        expanded: false,
        params,
        output: None,
        words,
    };
    shell.refresh_words().await;
    // ~/.saasqlrc: statements and commands run at start, like psql's ~/.psqlrc.
    if let Some(rc) = dirs::home_dir().map(|h| h.join(".saasqlrc"))
        && let Ok(text) = std::fs::read_to_string(&rc)
    {
        shell.feed(&text, &rc.display().to_string()).await;
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "saasql> "
        } else {
            "   ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                // A command works at the start of any line, also inside an
                // unfinished statement (which it leaves as it is).
                if is_command(&line) {
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
                    shell.execute(&sql, "<shell>").await;
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::input(format!("cannot read input: {e}"))),
        }
    }
    shell.close_output();
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

/// The dot commands, as in the SQLite and DuckDB shells.
const DOT_COMMANDS: [&str; 8] = [
    ".tables", ".schema", ".read", ".quit", ".exit", ".mode", ".help", ".timer",
];

/// Whether `line` is a shell command: `\…`, or a known `.` command.
fn is_command(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with('\\') || {
        let word = line.split_whitespace().next().unwrap_or_default();
        DOT_COMMANDS.contains(&word)
    }
}

/// The shell's rustyline helper: completion from a word list that the shell
/// refreshes after each statement (tables and columns change).
struct ShellHelper {
    words: Arc<RwLock<BTreeSet<String>>>,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '\\')))
            .map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
        let word = &before[start..];
        if word.is_empty() {
            return Ok((pos, vec![]));
        }
        let lower = word.to_lowercase();
        let upper_case =
            word.chars().any(char::is_uppercase) && !word.chars().any(char::is_lowercase);
        let words = self.words.read().map(|w| w.clone()).unwrap_or_default();
        let mut candidates: Vec<Pair> = words
            .iter()
            .filter(|w| w.to_lowercase().starts_with(&lower))
            .map(|w| Pair {
                display: w.clone(),
                replacement: w.clone(),
            })
            .collect();
        for k in ALL_KEYWORDS {
            let k = if upper_case {
                k.to_string()
            } else {
                k.to_lowercase()
            };
            if k.to_lowercase().starts_with(&lower) && !words.contains(&k) {
                candidates.push(Pair {
                    display: k.clone(),
                    replacement: k,
                });
            }
        }
        candidates.sort_by(|a, b| a.display.cmp(&b.display));
        candidates.dedup_by(|a, b| a.display == b.display);
        Ok((start, candidates))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

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

/// Prints an error in the shell (which carries on), with carets under the
/// failing part of the statement when DataFusion points at one.
fn print_error(e: &CliError) {
    if let CliError::Failed {
        message, statement, ..
    } = e
    {
        eprintln!("error: {message}");
        if let Some(shown) = statement.as_deref().filter(|s| s.contains('\n')) {
            eprintln!("  | {shown}");
        }
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
            expanded: self.expanded,
        }
    }

    /// Runs the statements in `sql` one by one; each runs in its own task so
    /// Ctrl-C can cancel it. Stops at the first error.
    async fn execute(&mut self, sql: &str, name: &str) {
        let script = match parse_script(&self.ctx, name, sql) {
            Ok(s) => s,
            Err(e) => return print_error(&e),
        };
        let script = Arc::new(script);
        for (index, statement) in script.statements.iter().enumerate() {
            if let Some(missing) = statement.params.iter().find(|p| {
                !self.params.contains_key(*p) && !super::project::has_param_default(&self.ctx, p)
            }) {
                eprintln!("error: no value for ${missing}; \\set {missing} VALUE");
                return;
            }
            let ctx = self.ctx.clone();
            let opts = self.print_options();
            let timing = self.timing;
            let params = self.params.clone();
            let script = Arc::clone(&script);
            let mut task = tokio::spawn(async move {
                let statement = &script.statements[index];
                run_statement(ctx, statement, opts, timing, &params)
                    .await
                    .map_err(|(e, df)| script.error(statement, e, df.as_ref()))
            });
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
                    self.print(&printed.output);
                    if let Some(note) = printed.note {
                        eprintln!("{note}");
                    }
                }
                Err(e) => {
                    print_error(&e);
                    self.refresh_words().await;
                    return;
                }
            }
        }
        self.refresh_words().await;
    }

    /// Runs a file's text as if typed: commands at the start of a line,
    /// statements up to their `;`. Stops at `\q`.
    async fn feed(&mut self, text: &str, name: &str) -> Flow {
        let mut buffer = String::new();
        for line in text.lines() {
            if is_command(line) {
                if let Flow::Quit = self.command(line.trim()).await {
                    return Flow::Quit;
                }
                continue;
            }
            buffer.push_str(line);
            buffer.push('\n');
            if is_complete(&self.ctx, &buffer) {
                let sql = std::mem::take(&mut buffer);
                self.execute(&sql, name).await;
            }
        }
        if !buffer.trim().is_empty() {
            self.execute(&buffer, name).await;
        }
        Flow::Continue
    }

    /// Prints results to the screen, or to the `\o` file.
    fn print(&mut self, bytes: &[u8]) {
        match &mut self.output {
            Some(file) => {
                if let Err(e) = file.write_all(bytes) {
                    eprintln!(
                        "error: cannot write {}: {e}; results go to the screen again",
                        file.path().display()
                    );
                    self.output = None;
                }
            }
            None => print_out(bytes),
        }
    }

    /// Puts the `\o` file in place (it is written under a temporary name
    /// until then).
    fn close_output(&mut self) {
        if let Some(file) = self.output.take() {
            let path = file.path().display().to_string();
            match file.commit() {
                Ok(()) => eprintln!("Results written to {path}."),
                Err(e) => print_error(&e),
            }
        }
    }

    /// Refreshes what tab completion offers: tables, their columns,
    /// functions, settings and commands.
    async fn refresh_words(&self) {
        let mut words = BTreeSet::new();
        let state = self.ctx.state();
        // Not the internal functions of saasql's own queries (`__saasql_…`).
        let public = |name: &&String| !name.starts_with("__saasql_");
        words.extend(state.scalar_functions().keys().filter(public).cloned());
        words.extend(state.aggregate_functions().keys().filter(public).cloned());
        words.extend(state.window_functions().keys().filter(public).cloned());
        words.extend(
            state
                .config()
                .options()
                .entries()
                .into_iter()
                .map(|e| e.key),
        );
        words.extend(DOT_COMMANDS.iter().map(|c| c.to_string()));
        words.extend(
            [
                "\\h",
                "\\d",
                "\\dv",
                "\\i",
                "\\include",
                "\\o",
                "\\x",
                "\\set",
                "\\unset",
                "\\timing",
                "\\format",
                "\\q",
                "\\?",
            ]
            .map(String::from),
        );
        for schema in super::tables::schemas(&self.ctx) {
            for table in schema.table_names() {
                if let Ok(Some(provider)) = schema.table(&table).await {
                    words.extend(provider.schema().fields().iter().map(|f| f.name().clone()));
                }
                words.insert(table);
            }
        }
        if let Ok(mut w) = self.words.write() {
            *w = words;
        }
    }

    /// Runs a backslash or dot command.
    async fn command(&mut self, line: &str) -> Flow {
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, Some(a.trim()).filter(|a| !a.is_empty())),
            None => (line, None),
        };
        let name = match name {
            ".tables" | ".schema" => "\\d",
            ".read" => "\\i",
            ".quit" | ".exit" => "\\q",
            ".mode" => "\\format",
            ".help" => "\\?",
            ".timer" => "\\timing",
            other => other,
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
            ("\\dv", _) => {
                let sql = super::meta::views_sql(&self.ctx);
                self.print_query(&sql, None).await;
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
            ("\\i" | "\\include", None) => eprintln!("error: \\i needs a file name"),
            ("\\i" | "\\include", Some(file)) => match std::fs::read_to_string(file) {
                Ok(text) => return Box::pin(self.feed(&text, file)).await,
                Err(e) => eprintln!("error: cannot read {file}: {e}"),
            },
            ("\\o", target) => {
                self.close_output();
                if let Some(path) = target {
                    // A FIFO waits for its reader; Ctrl-C gives up.
                    let opened = async {
                        check_output(&self.ctx, "\\o", Path::new(path), &[]).await?;
                        OutputFile::open(Path::new(path)).await
                    };
                    tokio::select! {
                        opened = opened => match opened {
                            Ok(file) => self.output = Some(file),
                            Err(e) => print_error(&e),
                        },
                        _ = tokio::signal::ctrl_c() => eprintln!("cancelled"),
                    }
                }
            }
            ("\\x", arg) => {
                self.expanded = match on_off(arg, self.expanded, "\\x") {
                    Some(v) => v,
                    None => return Flow::Continue,
                };
                println!(
                    "Expanded display is {}.",
                    if self.expanded { "on" } else { "off" }
                );
            }
            ("\\set", None) => {
                let mut names: Vec<_> = self.params.iter().collect();
                names.sort_by(|a, b| a.0.cmp(b.0));
                for (name, value) in names {
                    println!("${name} = {value} ({})", value.data_type());
                }
            }
            ("\\set", Some(rest)) => {
                let (name, value) = match rest.split_once(char::is_whitespace) {
                    Some((n, v)) => (n, v.trim()),
                    None => (rest, ""),
                };
                let name = name.strip_prefix('$').unwrap_or(name);
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    eprintln!("error: parameter names use letters, digits and _");
                } else {
                    match typed_value(value) {
                        Ok(v) => {
                            self.params.insert(name.to_string(), v);
                        }
                        Err(why) => eprintln!("error: \\set {name}: {why}"),
                    }
                }
            }
            ("\\unset", Some(name)) => {
                let name = name.strip_prefix('$').unwrap_or(name);
                if self.params.remove(name).is_none() {
                    eprintln!("error: no parameter ${name}");
                }
            }
            ("\\unset", None) => eprintln!("error: \\unset needs a parameter name"),
            ("\\timing", arg) => {
                self.timing = match on_off(arg, self.timing, "\\timing") {
                    Some(v) => v,
                    None => return Flow::Continue,
                };
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            ("\\format", None) => println!("Format is {}.", self.format.name()),
            ("\\format", Some(f)) => match Format::from_str(f, true) {
                Ok(Format::Parquet | Format::Html) | Err(_) => {
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
        &mut self,
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
                    self.print(&bytes);
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
    async fn print_query(&mut self, sql: &str, param: Option<&str>) -> Option<u64> {
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

/// Plans, runs and formats one statement (inside the query task). A failure
/// keeps DataFusion's error, whose diagnostic points into the statement.
async fn run_statement(
    ctx: SessionContext,
    statement: &ScriptStatement,
    opts: PrintOptions,
    timing: bool,
    params: &HashMap<String, ScalarValue>,
) -> Result<Printed, (CliError, Option<DataFusionError>)> {
    let df_error = |e: DataFusionError| (CliError::datafusion(&e), Some(e));
    let started = Instant::now();
    let elapsed = || timing.then(|| started.elapsed());
    check_copy(&ctx, statement, &[])
        .await
        .map_err(|e| (e, None))?;
    match start(&ctx, statement, params).await.map_err(df_error)? {
        Outcome::Rows(df) => {
            let stream = df.execute_stream().await.map_err(df_error)?;
            let mut target = Target::Memory(vec![]);
            let rows = write_stream(stream, &mut target, &opts, elapsed)
                .await
                .map_err(|e| (e, None))?;
            let output = match target {
                Target::Memory(bytes) => bytes,
                _ => vec![],
            };
            let note =
                (opts.format != Format::Table && timing).then(|| footer(rows, rows, elapsed()));
            Ok(Printed { output, note })
        }
        Outcome::Write(df) => {
            let rows = finish_write(df).await.map_err(df_error)?;
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
            df.collect().await.map_err(df_error)?;
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

/// `on`, `off`, or a toggle of `current` without an argument.
fn on_off(arg: Option<&str>, current: bool, command: &str) -> Option<bool> {
    match arg {
        None => Some(!current),
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(other) => {
            eprintln!("error: {command} takes on or off, not '{other}'");
            None
        }
    }
}
