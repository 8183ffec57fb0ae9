//! The command line, defined with clap's derive API; doc comments are the help.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::LazyLock;

use clap::{ArgAction, Args, Parser, Subcommand};
use saasql::util::time::{format_date, parse_date};

use super::r#gen::GenOptions;
use super::output::Format;

const AFTER_HELP: &str = "\
Without a subcommand, saasql starts the interactive shell when stdin is a terminal;
otherwise it reads SQL statements from stdin and runs them like `saasql run`
(`echo 'SELECT 1;' | saasql --format csv`).

Tables: every data file (.parquet, .csv, .tsv, .json/.jsonl/.ndjson, .arrow; CSV
and JSON also .gz/.zst/.bz2/.xz) and every folder of such files in the data
directory is a table named after the file stem or folder; key=value sub-folders
(month=2025-03/) become partition columns. Add more with [tables] in --config or CREATE EXTERNAL TABLE.
The data directory may be a bucket (s3://bucket/prefix, gs://, az://, http(s)://);
credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and the other
standard variables) or [storage.s3] in --config, never from the command line.

Configuration, weakest first: ~/.config/saasql/config.toml, the project's
saasql.toml (the nearest one in the working directory or its parents, or
--project), --config, then SAASQL_DATA, SAASQL_PROJECT, SAASQL_CONFIG,
SAASQL_MEMORY_LIMIT, SAASQL_TARGET_PARTITIONS and SAASQL_FORMAT, and flags (a
flag wins over its variable). `saasql config` shows each value and its source.
The project's models/*.sql are views in every session. The shell runs
~/.saasqlrc (statements and \\ commands) at start.

Exit codes:
  0    success (also when the reader of stdout goes away, e.g. `| head`)
  1    query or data error (bad SQL, type error, failed execution); a
       failing check (saasql test, --test) or an undelivered check alert
  2    usage error (bad flags, --param, config file contents)
  3    input file or table not found or unreadable (including corrupt Parquet)
  4    output could not be written
  130  interrupted by Ctrl-C (outside the interactive shell)
  143  stopped by SIGTERM (temporary files removed, outputs untouched)";

/// SaaS customer metrics (NPS, engagement, churn, LTV, health) in SQL, on Apache DataFusion.
#[derive(Debug, Parser)]
#[command(name = "saasql", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do (default: the interactive shell, or stdin as a report).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options accepted before or after any subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Directory (or s3://, gs://, az://, http(s):// prefix) whose data files
    /// and folders become tables [default: `data` in --config, the project's
    /// saasql.toml or the user's config file; else the project's data/
    /// folder; else ./data if it exists]
    #[arg(long, global = true, value_name = "DIR", env = "SAASQL_DATA")]
    pub data: Option<PathBuf>,

    /// TOML file with `data = "dir"`, `[tables] name = "path or glob"`,
    /// `[settings] key = value` (applied as `SET saasql.key`) and `[params]`
    /// defaults; over the project's saasql.toml
    #[arg(long, global = true, value_name = "FILE", env = "SAASQL_CONFIG")]
    pub config: Option<PathBuf>,

    /// The project folder (holding saasql.toml) whose tables, settings,
    /// parameters and models/ every command uses
    /// [default: the nearest saasql.toml in the working directory or its parents]
    #[arg(long, global = true, value_name = "DIR", env = "SAASQL_PROJECT")]
    pub project: Option<PathBuf>,

    /// Use no project: no saasql.toml, models or parameter defaults (e.g. to
    /// look at other data from inside a project's folder)
    #[arg(long, global = true, conflicts_with = "project")]
    pub no_project: bool,

    /// Memory for query execution, e.g. 512M, 2G or 1.5G (powers of 1024);
    /// sorts, joins and aggregates spill to the OS temp directory beyond it
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size, env = "SAASQL_MEMORY_LIMIT")]
    pub memory_limit: Option<usize>,

    /// Number of partitions a query is split into [default: number of CPU cores]
    #[arg(
        long,
        global = true,
        value_name = "N",
        env = "SAASQL_TARGET_PARTITIONS"
    )]
    pub target_partitions: Option<NonZeroUsize>,

    /// Output format of query results [default: table]
    #[arg(
        long,
        short = 'f',
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "SAASQL_FORMAT"
    )]
    pub format: Option<Format>,

    /// Run SQL and exit, like `psql -c` (repeatable; run in order, like the
    /// statements of a report file)
    #[arg(long = "command", short = 'c', value_name = "SQL")]
    pub commands: Vec<String>,

    /// Bind `$NAME` in the SQL to VALUE, e.g. --param month=2025-03 (in `run`,
    /// `-c`, SQL on stdin, batch jobs, and as the shell's first `\set`). VALUE is
    /// typed: integer → BIGINT, decimal → DOUBLE, true/false → BOOLEAN,
    /// YYYY-MM-DD → DATE, 'quoted' or anything else → VARCHAR; a malformed
    /// integer or date is an error. Repeatable; in reports every NAME must be
    /// used. Wins over the project's [params] defaults
    #[arg(long = "param", short = 'p', global = true, value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// Log more on stderr: -v saasql's and Ballista's info lines, -vv debug
    /// [default: warnings and errors; info for scheduler and executor;
    /// RUST_LOG sets any filter, e.g. RUST_LOG=ballista_scheduler=debug]
    #[arg(long, short = 'v', global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Run queries on the Ballista cluster whose scheduler is at URL
    /// (df://HOST:PORT). Table paths must name the same files on this machine,
    /// the scheduler and every executor; --memory-limit then belongs on
    /// `saasql executor`
    #[cfg(feature = "cluster")]
    #[arg(long, global = true, value_name = "URL")]
    pub cluster: Option<String>,

    /// With --cluster: a query fails when the scheduler has had no live
    /// executor, or has not answered, for SECS seconds (a query that
    /// executors are running is never cut short)
    #[cfg(feature = "cluster")]
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// File holding the cluster token, the shared secret of the client, the
    /// scheduler and the executors [default: $SAASQL_CLUSTER_TOKEN]. Needed
    /// to bind a scheduler or executor to a non-loopback address, or to reach
    /// a scheduler on another machine
    #[cfg(feature = "cluster")]
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the interactive SQL shell (the default when stdin is a terminal)
    Repl,
    /// Run .sql files statement by statement, stopping at the first error
    Run(RunArgs),
    /// Show the saasql function reference
    Functions(FunctionsArgs),
    /// Generate the synthetic sample data set as Parquet
    Gen(GenArgs),
    /// Run a batch job (TOML) that writes query results as files
    Batch(BatchArgs),
    /// Create a project folder (saasql.toml, models/, sql/, data/) that runs at once
    Init(InitArgs),
    /// List the project's models (views from models/*.sql)
    Models,
    /// Show the settings in effect, each with where it came from
    Config,
    /// Run the project's checks (tests/*.sql and [[checks]] in saasql.toml)
    Test(TestArgs),
    /// Print a shell completion script to stdout (see `saasql completions --help`)
    Completions(CompletionsArgs),
    /// Print the saasql man page (roff), or write every page into a folder
    Man(ManArgs),
    /// Run a Ballista scheduler that knows the saasql functions
    #[cfg(feature = "cluster")]
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor that knows the saasql functions
    #[cfg(feature = "cluster")]
    Executor(ExecutorArgs),
    /// Serve the session to psql and BI tools over the Postgres wire protocol
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
}

/// `saasql run`.
#[derive(Debug, Args)]
#[command(after_help = "\
Statements run in order. Queries, SHOW, DESCRIBE and EXPLAIN print their rows;
DDL, SET and COPY just run. The first failing statement stops the run and is
reported as FILE:LINE.

With --output the report must produce exactly one result, which is written to a
temporary file next to PATH and renamed over PATH only when everything succeeded;
on failure PATH is left as it was.")]
pub struct RunArgs {
    /// SQL files to run, in order (`-` reads stdin)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Write the result to PATH instead of stdout (required for parquet)
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Run the project's checks first (as `saasql test`); when an
    /// error-severity check fails, exit 1 without running the report, so
    /// the previous output stays what readers see
    #[arg(long)]
    pub test: bool,

    /// With --test: when a check warns or fails, run CMD (through the
    /// shell) with the results as JSON on stdin, instead of [notify] command
    #[arg(long, value_name = "CMD", requires = "test", value_parser = parse_command)]
    pub on_failure: Option<String>,
}

/// `saasql init`.
#[derive(Debug, Args)]
#[command(after_help = "\
Writes saasql.toml (the project's settings and parameter defaults), models/
(views every report, shell and server sees), sql/ (the bundled reports) and
data/ (the bundled sample, generated). Then:
  cd DIR && saasql run sql/overview.sql
To use your own data, point `data` in saasql.toml at your exports and map
their names onto the reports' tables with models (see docs/project.md).
DIR must be missing or empty: init never replaces a file.")]
pub struct InitArgs {
    /// The folder to create
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Do not write the sample data (data/ is left for your own exports)
    #[arg(long)]
    pub no_data: bool,
}

/// `saasql test`.
#[derive(Debug, Args)]
#[command(after_help = "\
Checks:
  tests/**/*.sql   one query returning the failing rows (as dbt tests); header comments
                   `-- severity: warn`, `-- error_if: > 10`, `-- warn_if: > 0`
  [[checks]]       in saasql.toml: name plus sql with min/max (a metric within bounds),
                   table with min_rows/max_rows (a row count), or table, column and
                   warn_after/error_after such as 36h or 2d (freshness), or sql
                   returning (bucket_time, value) with training/sensitivity/seasonality
                   (an anomaly in the latest buckets)
Prints one line per check: pass, warn or error, what was observed, the threshold and a
few failing rows. Exit 0 when no error-severity check fails, 1 when one does (or the
alert could not be delivered), 3 when an input cannot be read.
Alerts: [notify] in saasql.toml runs a command (or --on-failure CMD) with the results
as JSON on stdin, and POSTs them to a webhook whose URL is read from webhook_env or
webhook_file, when a check warns or fails. See docs/checks.md.")]
pub struct TestArgs {
    /// Check files or folders to run instead of the project's tests/ (the
    /// declared [[checks]] run too)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Also write the results as JUnit XML (as CI servers read it) to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Measure freshness against this time (YYYY-MM-DD or a timestamp)
    /// instead of now, unless a check sets its own as_of
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,

    /// Write each failing query check's failing rows to DIR/<check>.parquet
    /// (DIR is created; a passing check's file there is removed)
    #[arg(long, value_name = "DIR")]
    pub store_failures: Option<PathBuf>,

    /// When a check warns or fails, run CMD (through the shell) with the
    /// results as JSON on stdin, instead of [notify] command
    #[arg(long, value_name = "CMD", value_parser = parse_command)]
    pub on_failure: Option<String>,
}

/// `saasql functions`.
#[derive(Debug, Args)]
pub struct FunctionsArgs {
    /// Show this function's documentation
    pub name: Option<String>,

    /// Print the whole reference as Markdown (as in docs/functions.md)
    #[arg(long)]
    pub markdown: bool,
}

/// `saasql completions`.
#[derive(Debug, Args)]
#[command(after_help = "\
Install the script where your shell looks for completions, e.g.:
  bash:  saasql completions bash > ~/.local/share/bash-completion/completions/saasql
  zsh:   saasql completions zsh > ~/.zfunc/_saasql
         (with fpath+=~/.zfunc before compinit in ~/.zshrc)
  fish:  saasql completions fish > ~/.config/fish/completions/saasql.fish
  powershell:  saasql completions powershell >> $PROFILE
  elvish:      saasql completions elvish >> ~/.config/elvish/rc.elv")]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `saasql man`.
#[derive(Debug, Args)]
#[command(after_help = "\
Install the pages where man looks, e.g.:
  saasql man --dir ~/.local/share/man/man1
  man saasql
(man searches ~/.local/share/man when ~/.local/bin is on PATH; else add it to MANPATH)")]
pub struct ManArgs {
    /// Write saasql.1 and one page per subcommand (saasql-run.1, …) into
    /// DIR (created if missing) instead of printing saasql.1 to stdout
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The generator's default first day, as text for `--help`.
static DEFAULT_START: LazyLock<String> =
    LazyLock::new(|| format_date(GenOptions::default().start_date));

/// `saasql gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Number of customers
    #[arg(long, value_name = "N", default_value_t = GenOptions::default().customers)]
    pub customers: u64,

    /// Number of days of activity
    #[arg(long, value_name = "D", default_value_t = GenOptions::default().days)]
    pub days: u32,

    /// Random seed; the same seed gives the same data
    #[arg(long, value_name = "S", default_value_t = GenOptions::default().seed)]
    pub seed: u64,

    /// Output directory (created if missing; the tables in it are replaced)
    #[arg(long, value_name = "DIR", default_value_os_t = GenOptions::default().out)]
    pub out: PathBuf,

    /// First day of activity, YYYY-MM-DD
    #[arg(long, value_name = "DATE", value_parser = parse_date_arg, default_value = DEFAULT_START.as_str())]
    pub start: i32,

    /// Rows per events Parquet file
    #[arg(long, value_name = "N", default_value_t = GenOptions::default().events_per_file)]
    pub events_per_file: usize,
}

/// `saasql batch`.
#[derive(Debug, Args)]
#[command(after_help = "\
Job file:
  [inputs]
  events = \"data/events/\"            # table name = path, folder or glob

  [[outputs]]
  name = \"monthly_nps\"
  sql = \"SELECT …\"                   # or sql_file = \"report.sql\" (one query)
  path = \"out/monthly_nps\"
  format = \"parquet\"                 # parquet (default), csv, json (an array), ndjson (lines) or html (a page)
  partition_by = [\"month\"]           # optional

Relative paths are relative to the job file. Each output is staged next to PATH;
when every output succeeded they are all put in place at once (journaled in
.JOB.toml.saasql-journal; a killed commit is rolled back by the next run). Outputs
that overlap an input, the job's folder or another output are refused, and an
existing folder is replaced only if it holds nothing but output files.")]
pub struct BatchArgs {
    /// The job file
    #[arg(value_name = "JOB.toml")]
    pub job: PathBuf,

    /// Run the project's checks first (as `saasql test`); when an
    /// error-severity check fails, exit 1 and replace no output
    #[arg(long)]
    pub test: bool,

    /// With --test: when a check warns or fails, run CMD (through the
    /// shell) with the results as JSON on stdin, instead of [notify] command
    #[arg(long, value_name = "CMD", requires = "test", value_parser = parse_command)]
    pub on_failure: Option<String>,
}

/// `saasql scheduler`.
#[cfg(feature = "cluster")]
#[derive(Debug, Args)]
#[command(after_help = "\
Clients connect with `saasql --cluster df://HOST:PORT …`; executors with
`saasql executor --scheduler HOST:PORT`. Runs until killed.

Listens on 127.0.0.1 unless --bind names another address. Any other address
needs the cluster token (SAASQL_CLUSTER_TOKEN or --token-file); with a token,
every request must carry it.")]
pub struct SchedulerArgs {
    /// Address and port to listen on; a bare PORT means 127.0.0.1:PORT
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:50050", value_parser = parse_bind)]
    pub bind: std::net::SocketAddr,
}

/// `saasql executor`.
#[cfg(feature = "cluster")]
#[derive(Debug, Args)]
#[command(after_help = "\
The executor reads tables by the paths the client registered, so they must
exist here at the same path (e.g. a shared mount). Waits up to 60 s for the
scheduler, then runs until killed or Ctrl-C. --memory-limit sets its memory
pool (default: 70 % of the machine's memory).

Its Arrow Flight port listens on 127.0.0.1 unless --bind names another address.
Any other address needs the cluster token (SAASQL_CLUSTER_TOKEN or
--token-file), which the executor then requires of every request and sends
with its own. It asks the scheduler for tasks, so it opens no gRPC port.

It reads only files under --allow-path (default: --data, else the current
directory; .. and symlinks are resolved first) and writes files only with
--allow-write, under the same directories.")]
pub struct ExecutorArgs {
    /// The scheduler to register with
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:50050")]
    pub scheduler: String,

    /// Address and Arrow Flight port to listen on (results and shuffle data
    /// are fetched from it); a bare PORT means 127.0.0.1:PORT
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:50051", value_parser = parse_bind)]
    pub bind: std::net::SocketAddr,

    /// Port of the executor's gRPC service, announced to the scheduler but
    /// not opened: saasql executors ask the scheduler for tasks
    #[arg(long, value_name = "PORT", default_value_t = 50052)]
    pub grpc_port: u16,

    /// Host name under which the client and other executors reach this one
    /// [default: the address the scheduler sees it connect from]
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,

    /// Tasks to run at the same time [default: number of CPU cores]
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<NonZeroUsize>,

    /// Directory for shuffle files [default: a temporary directory]
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// A directory (or s3://bucket/prefix, gs://…) whose files queries may
    /// read (and write, with --allow-write); repeatable. A plan that names
    /// any other path is refused [default: --data, else the current directory]
    #[arg(long = "allow-path", value_name = "DIR")]
    pub allow_paths: Vec<PathBuf>,

    /// Let queries write files (COPY … TO, batch outputs) under the allowed
    /// paths; without it a plan that writes is refused
    #[arg(long)]
    pub allow_write: bool,
}

#[cfg(feature = "serve")]
pub use saasql_serve::ServeArgs;

/// Parses a memory size with DataFusion's own parser, so `--memory-limit`,
/// `memory_limit` in the config file and `SET datafusion.runtime.memory_limit`
/// take the same spellings: a number and K, M or G, powers of 1024 (`512M`,
/// `2G`, `1.5G`).
pub fn parse_size(s: &str) -> Result<usize, String> {
    match datafusion::prelude::SessionContext::parse_capacity_limit("memory limit", s.trim()) {
        Ok(0) => Err(format!(
            "'{s}' is not a usable memory size: it must be above 0"
        )),
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(format!(
            "'{s}' is not a memory size: use a number and K, M or G (powers of 1024), \
             e.g. 512M, 2G or 1.5G (as SET datafusion.runtime.memory_limit takes)"
        )),
    }
}

#[cfg(feature = "cluster")]
use saasql_common::args::parse_bind;

fn parse_date_arg(s: &str) -> Result<i32, String> {
    parse_date(s).ok_or_else(|| format!("'{s}' is not a date in YYYY-MM-DD form"))
}

/// A shell command (`--on-failure`): not empty.
fn parse_command(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("empty: name a command, e.g. 'mail -s checks data@example.com'".into());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--memory-limit` takes what `SET datafusion.runtime.memory_limit`
    /// takes, and refuses the rest with the spellings that work.
    #[test]
    fn memory_sizes_are_datafusions() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size(" 1.5G "), Ok(3 << 29));
        for bad in ["2GiB", "2GB", "1073741824", "lots", "-1G", ""] {
            let e = parse_size(bad).expect_err(bad);
            assert!(e.contains("e.g. 512M, 2G or 1.5G"), "{bad}: {e}");
        }
        assert!(parse_size("0").expect_err("0").contains("above 0"));
    }
}
