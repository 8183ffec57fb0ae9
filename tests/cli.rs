//! The `saasql` command, run as a real process: exact output, exit codes and
//! one-line errors.
//!
//! Every test works on small Parquet data that the first test to need it
//! writes (with `saasql run` and `COPY … TO`) under Cargo's
//! the OS temporary folder (outside any saasql project), and passes `--data`
//! explicitly.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_saasql");

/// What a run of `saasql` produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `saasql ARGS` in `dir` with `stdin` as input (empty if `None`).
fn saasql_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    saasql_env(dir, args, &[], stdin)
}

/// [`saasql_in`] with extra environment variables.
fn saasql_env(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut child = Command::new(BIN)
        .current_dir(root())
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        // No user config file or data directory from the machine running the tests.
        .env("XDG_CONFIG_HOME", root())
        .env_remove("SAASQL_DATA")
        .env_remove("SAASQL_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("saasql starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("saasql runs");
    Run {
        code: out.status.code().expect("saasql exits normally"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Runs `saasql --data <fixture data> ARGS` in a scratch directory.
fn saasql(args: &[&str], stdin: Option<&str>) -> Run {
    let data = fixture().join("data");
    let mut all = vec!["--data", data.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    saasql_in(fixture(), &all, stdin)
}

/// The test binary's own scratch root (fresh per run).
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        // In the OS temporary folder, not the target folder: a target folder
        // inside the repository would put every test inside the repository's
        // saasql project (found upwards from the working directory).
        let root = std::env::temp_dir().join(format!("saasql-cli-test-{}", std::process::id()));
        // Earlier runs' folders, whose process is gone.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("saasql-cli-test-")
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create scratch root");
        root
    })
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// An empty data directory (no tables).
fn empty_dir() -> &'static str {
    static EMPTY: OnceLock<String> = OnceLock::new();
    EMPTY.get_or_init(|| scratch("empty").to_str().expect("utf-8 path").to_string())
}

/// `fixture/data/` holds `surveys.parquet` and a hive-partitioned `events/`;
/// `fixture/` holds the test's SQL files.
fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = scratch("fixture");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("create data dir");
        let sql = format!(
            "COPY (SELECT * FROM (VALUES (1, 'acme', 9), (2, 'globex', 3), (3, 'initech', 10), (4, 'umbrella', NULL))
                   AS t(customer_id, name, score))
               TO '{d}/surveys.parquet' STORED AS PARQUET;
             COPY (SELECT * FROM (VALUES (1, '2025-03', 'login'), (2, '2025-03', 'login'),
                                         (1, '2025-04', 'report_created'))
                   AS e(customer_id, month, event_name))
               TO '{d}/events/' STORED AS PARQUET PARTITIONED BY (month);",
            d = data.display()
        );
        let run = saasql_in(
            &dir,
            &["--data", empty_dir(), "run", "-"],
            Some(&sql),
        );
        assert_eq!(run.code, 0, "fixture: {run:?}");
        dir
    })
}

/// Writes `sql` to `fixture/NAME` and returns NAME.
fn sql_file(name: &str, sql: &str) -> String {
    std::fs::write(fixture().join(name), sql).expect("write sql file");
    name.to_string()
}

/// Asserts a run failed with `code` and exactly one line on stderr that
/// starts with `prefix`.
#[track_caller]
fn assert_one_line_error(run: &Run, code: i32, prefix: &str) {
    assert_eq!(run.code, code, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
    assert!(
        run.stderr.starts_with(prefix),
        "stderr should start with {prefix:?}: {run:?}"
    );
}

/// `--help` documents the exit codes. (A debug build also runs clap's
/// `debug_assert` of the whole command definition while parsing.)
#[test]
fn help_documents_exit_codes() {
    let run = saasql_in(root(), &["--help"], None);
    assert_eq!(run.code, 0, "{run:?}");
    for line in [
        "Exit codes:",
        "  0    success",
        "  1    query or data error",
        "  2    usage error",
        "  3    input file or table not found or unreadable",
        "  4    output could not be written",
    ] {
        assert!(
            run.stdout.contains(line),
            "missing {line:?} in\n{}",
            run.stdout
        );
    }
    for sub in ["run", "functions", "gen", "batch", "repl"] {
        let run = saasql_in(root(), &[sub, "--help"], None);
        assert_eq!(run.code, 0, "{sub} --help: {run:?}");
    }
    let run = saasql_in(root(), &["--no-such-flag"], None);
    assert_eq!(run.code, 2, "{run:?}");
}

/// `saasql completions SHELL` prints a completion script that knows every
/// subcommand; `saasql man` prints the roff man page naming them, and
/// `saasql man --dir DIR` writes it and one page per subcommand.
#[test]
fn completions_and_man_pages() {
    let mut subcommands = vec![
        "repl",
        "run",
        "functions",
        "gen",
        "batch",
        "init",
        "models",
        "config",
        "test",
        "completions",
        "man",
    ];
    if cfg!(feature = "cluster") {
        subcommands.extend(["scheduler", "executor"]);
    }
    if cfg!(feature = "serve") {
        subcommands.push("serve");
    }
    let run = saasql_in(root(), &["completions", "bash"], None);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert!(run.stdout.contains("complete -F _saasql "), "{run:?}");
    for sub in &subcommands {
        assert!(
            run.stdout.contains(&format!("saasql,{sub})")),
            "bash: {sub}"
        );
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let run = saasql_in(root(), &["completions", shell], None);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{shell}: {run:?}");
        assert!(
            run.stdout.contains("saasql") && run.stdout.contains("batch"),
            "{shell}"
        );
    }
    let run = saasql_in(root(), &["completions", "tcsh"], None);
    assert_eq!(run.code, 2, "{run:?}");

    // clap_mangen defines the quote string (`.ie`/`.el`) before the title.
    let starts_with_title = |page: &str, title: &str| {
        page.lines()
            .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
            .is_some_and(|l| l.starts_with(&format!(".TH {title} 1 ")))
    };
    let run = saasql_in(root(), &["man"], None);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert!(starts_with_title(&run.stdout, "saasql"), "{}", run.stdout);
    assert!(run.stdout.contains("\n.SH SUBCOMMANDS\n"), "{}", run.stdout);
    assert!(run.stdout.contains("Exit codes:"), "{}", run.stdout);
    for sub in &subcommands {
        assert!(
            run.stdout.contains(&format!("\nsaasql\\-{sub}(1)\n")),
            "man: {sub}"
        );
    }
    assert!(!run.stdout.contains("saasql\\-help(1)"), "{}", run.stdout);

    let dir = scratch("man");
    let run = saasql_in(&dir, &["man", "--dir", "man1"], None);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );
    let mut pages: Vec<String> = std::fs::read_dir(dir.join("man1"))
        .expect("man1/ written")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut expected: Vec<String> = subcommands
        .iter()
        .map(|sub| format!("saasql-{sub}.1"))
        .chain(["saasql.1".to_string()])
        .collect();
    expected.sort();
    assert_eq!(pages, expected);
    let run_page = std::fs::read_to_string(dir.join("man1/saasql-run.1")).expect("saasql-run.1");
    assert!(starts_with_title(&run_page, "saasql-run"), "{run_page}");
    assert!(
        run_page.contains(concat!(" \"saasql ", env!("CARGO_PKG_VERSION"), "\"")),
        "{run_page}"
    );
    assert!(run_page.contains("\\-\\-output"), "{run_page}");
}

#[test]
fn stdin_is_run_as_a_report() {
    let run = saasql(&["--format", "csv"], Some("select 1+1 as x;"));
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "x\n2\n", "")
    );
}

#[test]
fn run_prints_every_result_in_order() {
    let file = sql_file(
        "report.sql",
        "-- comments and blank lines are fine; ';' inside strings too
SET saasql.ltv_churn_floor = 2;
CREATE VIEW promoters AS SELECT * FROM surveys WHERE score >= 9;

SELECT name, score FROM promoters ORDER BY customer_id;
SELECT month, count(*) AS n FROM events GROUP BY month ORDER BY month;
SELECT round(nps(score), 2) AS nps, 'a;b' AS s FROM surveys;
",
    );
    let run = saasql(&["run", &file, "--format", "csv"], None);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "name,score\nacme,9\ninitech,10\n\nmonth,n\n2025-03,2\n2025-04,1\n\nnps,s\n33.33,a;b\n"
    );
    assert_eq!(run.code, 0);
}

#[test]
fn output_formats() {
    let file = sql_file(
        "formats.sql",
        "SELECT customer_id AS id, name, score FROM surveys WHERE customer_id IN (2, 4) ORDER BY id;",
    );
    let json = saasql(&["run", &file, "-f", "json"], None);
    assert_eq!(
        json.stdout,
        "[{\"id\":2,\"name\":\"globex\",\"score\":3},{\"id\":4,\"name\":\"umbrella\",\"score\":null}]\n"
    );
    let ndjson = saasql(&["run", &file, "-f", "ndjson"], None);
    assert_eq!(
        ndjson.stdout,
        "{\"id\":2,\"name\":\"globex\",\"score\":3}\n{\"id\":4,\"name\":\"umbrella\",\"score\":null}\n"
    );
    let md = saasql(&["run", &file, "-f", "markdown"], None);
    assert_eq!(
        md.stdout,
        "| id | name | score |\n| ---: | --- | ---: |\n| 2 | globex | 3 |\n| 4 | umbrella |  |\n"
    );
    let table = saasql(&["run", &file], None);
    assert!(table.stdout.contains("umbrella"), "{table:?}");
    assert!(table.stdout.contains("NULL"), "{table:?}");
    assert!(table.stdout.ends_with("\n2 rows\n"), "{table:?}");
    let parquet = saasql(&["run", &file, "-f", "parquet"], None);
    assert_one_line_error(
        &parquet,
        2,
        "saasql: error: --format parquet needs --output PATH",
    );
}

#[test]
fn params_are_typed_and_bound() {
    let file = sql_file(
        "params.sql",
        "SELECT arrow_typeof($d) AS d, arrow_typeof($i) AS i, arrow_typeof($f) AS f,
        arrow_typeof($b) AS b, arrow_typeof($m) AS m, $m AS mv, $z AS z;
SELECT count(*) AS n FROM events WHERE month = $m AND customer_id = $i;",
    );
    let run = saasql(
        &[
            "run",
            &file,
            "-f",
            "csv",
            "--param",
            "d=2025-03-01",
            "--param",
            "i=1",
            "--param",
            "f=1.5",
            "--param",
            "b=true",
            "--param",
            "m=2025-04",
            "--param",
            "z=007",
        ],
        None,
    );
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "d,i,f,b,m,mv,z\nDate32,Int64,Float64,Boolean,Utf8,2025-04,007\n\nn\n1\n"
    );
    assert_eq!(run.code, 0);
}

#[test]
fn bad_params_are_usage_errors() {
    let file = sql_file(
        "one_param.sql",
        "SELECT count(*) FROM events WHERE month = $month;",
    );
    let malformed = saasql(&["run", &file, "--param", "x"], None);
    assert_eq!(malformed.code, 2);
    assert_eq!(
        malformed.stderr,
        "saasql: error: --param 'x': expected NAME=VALUE, e.g. --param month=2025-03\n"
    );
    let unused = saasql(
        &["run", &file, "--param", "month=2025-03", "--param", "y=1"],
        None,
    );
    assert_eq!(unused.code, 2);
    assert_eq!(
        unused.stderr,
        "saasql: error: --param y is not used by any statement (the SQL uses $month)\n"
    );
    // A date or integer that is not valid is a usage error, not a text or DOUBLE.
    for (arg, why) in [
        (
            "month=2025-02-30",
            "2025-02-30 is not a valid date (YYYY-MM-DD); write '2025-02-30' to pass it as text",
        ),
        (
            "month=9223372036854775808",
            "9223372036854775808 is outside the integer (BIGINT) range -9223372036854775808..9223372036854775807; write '9223372036854775808' to pass it as text",
        ),
    ] {
        let run = saasql(&["run", &file, "--param", arg], None);
        assert_eq!(run.code, 2, "{run:?}");
        let name = arg.split('=').next().expect("name");
        assert_eq!(
            run.stderr,
            format!("saasql: error: --param {name}: {why}\n")
        );
    }
    let quoted = sql_file("quoted.sql", "SELECT arrow_typeof($x) AS t, $x AS x;");
    let run = saasql(
        &["run", &quoted, "-f", "csv", "--param", "x='2025-02-30'"],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "t,x\nUtf8,2025-02-30\n"),
        "{run:?}"
    );
    let missing = saasql(&["run", &file], None);
    assert_eq!(missing.code, 2);
    assert_eq!(
        missing.stderr,
        "one_param.sql:1: error: no value for $month; pass --param month=VALUE\n  | SELECT count(*) FROM events WHERE month = $month\n"
    );
}

#[test]
fn sql_error_stops_the_run_at_its_line() {
    let file = sql_file(
        "syntax.sql",
        "SELECT 1 AS one;\n\nSELEC oops;\nSELECT 3 AS three;\n",
    );
    let run = saasql(&["run", &file, "-f", "csv"], None);
    assert_eq!(run.code, 1, "{run:?}");
    // Nothing ran: the file is parsed before the first statement runs.
    assert_eq!(run.stdout, "");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(
        lines[0].starts_with("syntax.sql:3: error: SQL error: "),
        "{run:?}"
    );
    // Carets under the word the parser stopped at.
    assert_eq!(lines[1], "  | SELEC oops;");
    assert_eq!(lines[2], "  | ^^^^^");

    let file = sql_file(
        "plan_error.sql",
        "SELECT 1 AS one;\nSELECT nps(score, 'x') FROM surveys;\nSELECT 3 AS three;\n",
    );
    let run = saasql(&["run", &file, "-f", "csv"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "one\n1\n");
    assert!(
        run.stderr.starts_with("plan_error.sql:2: error: "),
        "{run:?}"
    );
    assert!(
        run.stderr
            .ends_with("\n  | SELECT nps(score, 'x') FROM surveys\n"),
        "{run:?}"
    );
}

#[test]
fn unknown_table_is_an_input_error() {
    let file = sql_file(
        "unknown.sql",
        "SELECT 1 AS one;\nSELECT * FROM nope;\nSELECT 3;\n",
    );
    let run = saasql(&["run", &file, "-f", "csv"], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "one\n1\n");
    assert_eq!(
        run.stderr,
        "unknown.sql:2: error: Error during planning: table 'datafusion.public.nope' not found\n  | SELECT * FROM nope;\n  |               ^^^^\n"
    );
    // A near miss gets a suggestion.
    let run = saasql(&["-c", "SELECT * FROM survey"], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        run.stderr,
        "-c#1:1: error: Error during planning: table 'datafusion.public.survey' not found. Did you mean 'surveys'?\n  | SELECT * FROM survey\n  |               ^^^^^^\n"
    );
}

/// Where no data directory exists (no --data, SAASQL_DATA, config `data` or
/// ./data) the session has no tables: the binary never falls back to the
/// tree it was built in. Naming a table says how to point saasql at data,
/// and so does the shell's banner.
#[test]
fn without_a_data_directory_there_are_no_tables() {
    const HINT: &str = "No data directory was found (no --data, SAASQL_DATA, `data =` in the \
        config file, or ./data): point saasql at your data files with --data DIR, \
        `data = \"DIR\"` in ~/.config/saasql/config.toml or SAASQL_DATA=DIR";
    let dir = scratch("no_data");
    let run = saasql_in(&dir, &["-f", "csv", "run", "-"], Some("SELECT 1 AS one;"));
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "one\n1\n", "")
    );
    let run = saasql_in(&dir, &["run", "-"], Some("SELECT count(*) FROM events;"));
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        run.stderr,
        format!(
            "<stdin>:1: error: Error during planning: table 'datafusion.public.events' not found. \
             {HINT}\n  | SELECT count(*) FROM events;\n  |                      ^^^^^^\n"
        )
    );
    // ./data is still the default.
    std::fs::create_dir(dir.join("data")).expect("create data/");
    std::fs::copy(
        fixture().join("data/surveys.parquet"),
        dir.join("data/surveys.parquet"),
    )
    .expect("copy surveys");
    let run = saasql_in(
        &dir,
        &["-f", "csv", "-c", "SELECT count(*) AS n FROM surveys"],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "n\n4\n", "")
    );
    // With a data directory that has no such table, no hint.
    let run = saasql_in(&dir, &["-c", "SELECT * FROM events"], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains("No data directory"), "{run:?}");

    // The shell's banner.
    use expectrl::{Eof, Expect, Session};
    let shell_dir = scratch("no_data_shell");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root());
    cmd.current_dir(&shell_dir)
        .env("HOME", &shell_dir)
        .env("XDG_DATA_HOME", &shell_dir)
        .env("XDG_CONFIG_HOME", &shell_dir)
        .env_remove("SAASQL_DATA")
        .env_remove("SAASQL_CONFIG")
        .env("TERM", "xterm");
    let mut p = Session::spawn(cmd).expect("saasql starts in a pty");
    p.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    p.expect("No data directory was found")
        .expect("the banner says so");
    p.expect("SAASQL_DATA=DIR")
        .expect("and how to point at data");
    p.expect("> ").expect("a prompt");
    p.send("\\q\r").expect("send");
    p.expect(Eof).expect("the shell quits");
}

#[test]
fn missing_inputs_exit_3() {
    let run = saasql(&["run", "no_such_file.sql"], None);
    assert_one_line_error(&run, 3, "saasql: error: cannot read no_such_file.sql: ");
    let run = saasql_in(
        root(),
        &["--data", "no/such/dir", "run", "-"],
        Some("SELECT 1;"),
    );
    assert_one_line_error(
        &run,
        3,
        "saasql: error: data directory no/such/dir not found",
    );
}

#[test]
fn corrupt_parquet_exits_3() {
    let dir = scratch("corrupt");
    std::fs::write(dir.join("bad.parquet"), b"this is not parquet").expect("write junk");
    // Only the queries that use the table fail; the problem is a warning at start.
    let run = saasql_in(&dir, &["--data", ".", "run", "-"], Some("SELECT 1 AS one;"));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.starts_with("saasql: warning: table 'bad' cannot be read: ./bad.parquet is not a readable Parquet file"),
        "{run:?}"
    );
    let run = saasql_in(
        &dir,
        &["--data", ".", "run", "-"],
        Some("SELECT * FROM bad;"),
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("<stdin>:1: error: "), "{run:?}");
    assert!(run.stderr.contains("Parquet"), "{run:?}");
    // The same file through SQL.
    let run = saasql_in(
        &dir,
        &["--data", empty_dir(), "run", "-"],
        Some("CREATE EXTERNAL TABLE b STORED AS PARQUET LOCATION 'bad.parquet';"),
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.starts_with("<stdin>:1: error: "), "{run:?}");

    // Corruption inside a readable file, found while the query reads it (a
    // damaged page header; damaged compressed data), also exits 3.
    let inner = scratch("corrupt_inner");
    let run = saasql_in(
        &inner,
        &["--data", empty_dir(), "run", "-"],
        Some(
            "COPY (SELECT value AS id, value * 3 AS v, 'name ' || value AS s FROM range(5000))
             TO 'base.parquet' STORED AS PARQUET;",
        ),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let base = std::fs::read(inner.join("base.parquet")).expect("read base");
    std::fs::create_dir(inner.join("data")).expect("mkdir");
    for (offset, what) in [
        (8, "compressed_page_size"),
        (40, "Data corruption detected"),
    ] {
        let mut bytes = base.clone();
        bytes[offset] ^= 0xff;
        std::fs::write(inner.join("data/t.parquet"), bytes).expect("write");
        let run = saasql_in(
            &inner,
            &["--data", "data", "run", "-"],
            Some("SELECT * FROM t WHERE id % 1000 = 7;"),
        );
        assert_eq!(run.code, 3, "offset {offset}: {run:?}");
        assert!(run.stderr.contains(what), "offset {offset}: {run:?}");
    }
}

#[test]
fn unwritable_output_exits_4() {
    let file = sql_file("one_result.sql", "SELECT name FROM surveys ORDER BY name;");
    let run = saasql(&["run", &file, "--output", "/nonexistent/dir/x.csv"], None);
    assert_one_line_error(
        &run,
        4,
        "saasql: error: cannot write /nonexistent/dir/x.csv: ",
    );
}

#[test]
fn output_is_written_atomically() {
    let dir = scratch("atomic");
    let out = dir.join("names.csv");
    let out_str = out.to_str().expect("utf-8");
    let file = sql_file("names.sql", "SELECT name FROM surveys ORDER BY name;");
    let run = saasql(&["run", &file, "--output", out_str], None);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", "")
    );
    assert_eq!(
        std::fs::read_to_string(&out).expect("output exists"),
        "name\nacme\nglobex\ninitech\numbrella\n"
    );

    // A failing run leaves the existing file alone and no temporary files.
    let failing = sql_file("failing.sql", "SELECT CAST(name AS INT) FROM surveys;");
    let run = saasql(&["run", &failing, "--output", out_str], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(&out).expect("output still exists"),
        "name\nacme\nglobex\ninitech\numbrella\n"
    );
    let fresh = dir.join("fresh.csv");
    let run = saasql(
        &["run", &failing, "--output", fresh.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(!fresh.exists(), "a failed run must not leave output");
    let mut entries: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["names.csv"]);

    // Two results cannot go to one file.
    let two = sql_file("two.sql", "SELECT 1;\nSELECT 2;\n");
    let run = saasql(
        &["run", &two, "--output", fresh.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!fresh.exists());
}

#[test]
fn parquet_output_round_trips() {
    let dir = scratch("parquet_out");
    let out = dir.join("scores.parquet");
    let file = sql_file("scores.sql", "SELECT customer_id, score FROM surveys;");
    let run = saasql(&["run", &file, "-o", out.to_str().expect("utf-8")], None);
    assert_eq!(run.code, 0, "{run:?}");
    let run = saasql_in(
        &dir,
        &["--data", ".", "-f", "csv", "run", "-"],
        Some("SELECT count(*) AS n, sum(score) AS s FROM scores;"),
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "n,s\n4,22\n"),
        "{run:?}"
    );
}

#[test]
fn create_external_table_and_config_file() {
    let dir = scratch("config");
    let surveys = fixture().join("data/surveys.parquet");
    std::fs::write(
        dir.join("saasql.toml"),
        format!(
            "data = \"{}\"\n[tables]\nresponses = \"{}\"\n[settings]\nltv_churn_floor = 1.5\n",
            empty_dir(),
            surveys.display()
        ),
    )
    .expect("write config");
    let sql = format!(
        "CREATE EXTERNAL TABLE ev STORED AS PARQUET LOCATION '{}/';
         SHOW saasql.ltv_churn_floor;
         SELECT count(*) AS n FROM responses;
         SELECT month, count(*) AS n FROM ev GROUP BY month ORDER BY month;",
        fixture().join("data/events").display()
    );
    let run = saasql_in(
        &dir,
        &["--config", "saasql.toml", "-f", "csv", "run", "-"],
        Some(&sql),
    );
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "name,value\nsaasql.ltv_churn_floor,1.5\n\nn\n4\n\nmonth,n\n2025-03,2\n2025-04,1\n"
    );

    std::fs::write(dir.join("bad.toml"), "[settings]\nltv_churn_floor = 500\n").expect("write");
    let run = saasql_in(
        &dir,
        &["--config", "bad.toml", "run", "-"],
        Some("SELECT 1;"),
    );
    assert_one_line_error(&run, 2, "saasql: error: config file bad.toml: settings: ");
}

#[test]
fn broken_pipe_is_not_an_error() {
    let data = fixture().join("data");
    let mut child = Command::new(BIN)
        .current_dir(root())
        .args([
            "--data",
            data.to_str().expect("utf-8"),
            "-f",
            "csv",
            "run",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("saasql starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"SELECT * FROM generate_series(1, 20000000);")
        .expect("write stdin");
    drop(stdin);
    let mut stdout = child.stdout.take().expect("stdout");
    let mut head = [0u8; 8];
    stdout.read_exact(&mut head).expect("some output");
    drop(stdout);
    let out = child.wait_with_output().expect("saasql exits");
    assert_eq!(&head, b"value\n1\n");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn functions_reference() {
    let run = saasql_in(root(), &["functions", "nps"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("nps(score)"), "{run:?}");
    let run = saasql_in(root(), &["functions", "npz"], None);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "saasql: error: unknown function 'npz' (did you mean 'nps'?); see `saasql functions`\n"
    );
    let run = saasql_in(root(), &["functions", "-f", "csv"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("function,kind,summary\n"), "{run:?}");
    assert!(run.stdout.contains("\nnps,aggregate,"), "{run:?}");
    let run = saasql_in(root(), &["functions", "--markdown"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, saasql::reference::reference_markdown());
}

#[test]
fn gen_writes_the_tables() {
    let dir = scratch("gen");
    let run = saasql_in(
        &dir,
        &[
            "gen",
            "--customers",
            "5",
            "--days",
            "3",
            "--out",
            "out",
            "-f",
            "csv",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("table,rows,bytes\ncustomers,5,"),
        "{run:?}"
    );
    assert!(dir.join("out/customers.parquet").is_file());
    let run = saasql_in(
        &dir,
        &["--data", "out", "-f", "csv", "run", "-"],
        Some("SELECT count(*) AS n FROM customers;"),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "n\n5\n"), "{run:?}");
    let run = saasql_in(&dir, &["gen", "--start", "2025-02-30"], None);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn batch_writes_all_outputs_or_none() {
    let dir = scratch("batch");
    let events = fixture().join("data/events");
    std::fs::write(
        dir.join("job.toml"),
        format!(
            "[inputs]\nev = \"{}/\"\n\n[[outputs]]\nname = \"by_month\"\n\
             sql = \"SELECT month, count(*) AS n FROM ev GROUP BY month\"\n\
             path = \"out/by_month\"\npartition_by = [\"month\"]\n\n[[outputs]]\nname = \"ids\"\n\
             sql = \"SELECT DISTINCT customer_id FROM ev ORDER BY customer_id\"\n\
             path = \"out/ids.csv\"\nformat = \"csv\"\n",
            events.display()
        ),
    )
    .expect("write job");
    let run = saasql_in(
        &dir,
        &["--data", empty_dir(), "-f", "csv", "batch", "job.toml"],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .starts_with("output,rows,files,bytes,path\nby_month,2,2,"),
        "{run:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out/ids.csv")).expect("ids.csv"),
        "customer_id\n1\n2\n"
    );
    assert!(dir.join("out/by_month/month=2025-03").is_dir());

    std::fs::write(
        dir.join("bad.toml"),
        "[[outputs]]\nname = \"fine\"\nsql = \"SELECT 1 AS x\"\npath = \"out2/fine.parquet\"\n\n\
         [[outputs]]\nname = \"broken\"\nsql = \"SELECT * FROM nope\"\npath = \"out2/broken\"\n",
    )
    .expect("write job");
    let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "bad.toml"], None);
    assert_eq!(run.code, 3, "{run:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("out2"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "nothing is written when an output fails: {leftovers:?}"
    );
}

/// What `--output` may replace: a device or FIFO is written in place, a
/// symbolic link is followed and its target replaced, a folder is refused,
/// and temporaries of killed runs are removed.
#[test]
fn output_paths_are_never_destroyed() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("output_kinds");
    let file = sql_file("kinds.sql", "SELECT name FROM surveys ORDER BY name;");
    let expected = "name\nacme\nglobex\ninitech\numbrella\n";
    let csv_to = |path: &Path| {
        saasql(
            &[
                "run",
                &file,
                "-f",
                "csv",
                "--output",
                path.to_str().expect("utf-8"),
            ],
            None,
        )
    };

    // A character device stays one.
    let run = csv_to(Path::new("/dev/null"));
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    let null = std::fs::symlink_metadata("/dev/null").expect("stat /dev/null");
    assert!(null.file_type().is_char_device(), "/dev/null was replaced");

    // A FIFO is written through, streaming, and stays a FIFO.
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read fifo"))
    };
    let run = csv_to(&fifo);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert_eq!(reader.join().expect("reader"), expected);
    let meta = std::fs::symlink_metadata(&fifo).expect("stat fifo");
    assert!(meta.file_type().is_fifo(), "the FIFO was replaced");

    // A Unix socket is connected to and written through.
    let socket = dir.join("socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind socket");
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read socket");
        text
    });
    let run = csv_to(&socket);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert_eq!(reader.join().expect("reader"), expected);
    let meta = std::fs::symlink_metadata(&socket).expect("stat socket");
    assert!(meta.file_type().is_socket(), "the socket was replaced");

    // A symbolic link is followed: the link stays, its target is replaced.
    let target = dir.join("target.csv");
    std::fs::write(&target, "old\n").expect("write target");
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink("target.csv", &link).expect("symlink");
    let run = saasql(
        &["run", &file, "--output", link.to_str().expect("utf-8")],
        None,
    );
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("stat link")
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&target).expect("target"), expected);

    // A folder is refused and left alone.
    let folder = dir.join("folder.csv");
    std::fs::create_dir(&folder).expect("mkdir");
    let run = saasql(
        &["run", &file, "--output", folder.to_str().expect("utf-8")],
        None,
    );
    assert_one_line_error(
        &run,
        4,
        &format!(
            "saasql: error: cannot write {}: it is a directory",
            folder.display()
        ),
    );
    assert!(folder.is_dir());

    // Temporaries of a process that is gone are removed by the next run
    // into the folder; those of a running process (PID 1) are kept.
    let stale = dir.join(".target.csv.saasql-999999999-Ab3dEf.tmp");
    let live = dir.join(".target.csv.saasql-1-Ab3dEf.tmp");
    std::fs::write(&stale, "half").expect("write stale");
    std::fs::write(&live, "busy").expect("write live");
    let run = saasql(
        &["run", &file, "--output", target.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !stale.exists(),
        "a dead process's temporary file is removed"
    );
    assert!(live.exists(), "a running process's temporary file is kept");
}

/// SIGTERM stops a run with exit 143 and leaves no temporary file.
#[test]
fn sigterm_removes_temporaries() {
    let dir = scratch("sigterm");
    let out = dir.join("slow.csv");
    let slow = sql_file(
        "slow.sql",
        "SELECT count(*) AS n FROM range(1000000000000) a WHERE a.value % 7 = 3;",
    );
    let child = Command::new(BIN)
        .current_dir(root())
        .args([
            "--data",
            empty_dir(),
            "run",
            &slow,
            "--output",
            out.to_str().expect("utf-8"),
        ])
        .current_dir(fixture())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("saasql starts");
    // Wait until its temporary file exists, then stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_dir(&dir).expect("list").next().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no temporary file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = child.wait_with_output().expect("saasql exits");
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "saasql: error: terminated\n"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Spill files live in `saasql-spill-PID` in the temporary folder: removed
/// at exit, and by a later run when their process was killed.
#[test]
fn spill_folders_of_killed_runs_are_removed() {
    let tmp = scratch("spill_tmp");
    let stale = tmp.join("saasql-spill-999999999");
    std::fs::create_dir(&stale).expect("mkdir");
    std::fs::write(stale.join("datafusion-x.arrow"), vec![0u8; 4096]).expect("write");
    let other = tmp.join("unrelated");
    std::fs::create_dir(&other).expect("mkdir");
    let out = Command::new(BIN)
        .current_dir(root())
        .args(["--data", empty_dir(), "--memory-limit", "20M", "-f", "csv", "run", "-"])
        .env("TMPDIR", &tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"SELECT count(*) AS n FROM (SELECT value FROM range(2000000) ORDER BY value DESC);")?;
            child.wait_with_output()
        })
        .expect("saasql runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n2000000\n");
    let mut left: Vec<String> = std::fs::read_dir(&tmp)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["unrelated"]);
}

/// `-c` runs SQL without a file; `--param` binds `$name` in `-c`, on stdin
/// and in batch jobs too.
#[test]
fn dash_c_and_params_everywhere() {
    let run = saasql(
        &[
            "-f",
            "csv",
            "-c",
            "SELECT 1 AS a",
            "-c",
            "SELECT name FROM surveys WHERE customer_id = $id",
            "-p",
            "id=3",
        ],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "a\n1\n\nname\ninitech\n", ""),
        "{run:?}"
    );
    let run = saasql(&["-c", "SELEC 1"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.starts_with("-c#1:1: error: "), "{run:?}");
    let run = saasql(&["-c", "SELECT 1", "functions"], None);
    assert_one_line_error(&run, 2, "saasql: error: -c runs its SQL on its own");
    let run = saasql(
        &["-f", "csv", "--param", "who=globex"],
        Some("SELECT customer_id FROM surveys WHERE name = $who;"),
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "customer_id\n2\n"),
        "{run:?}"
    );

    // The user's config file and SAASQL_* variables (flags win over both).
    let home = scratch("user_config");
    write_file(
        &home,
        "saasql/config.toml",
        &format!("data = \"{}\"\n", fixture().join("data").display()),
    );
    let out = Command::new(BIN)
        .current_dir(root())
        .args(["-c", "SELECT count(*) AS n FROM surveys"])
        .env("XDG_CONFIG_HOME", &home)
        .env("SAASQL_FORMAT", "csv")
        .current_dir(&home)
        .output()
        .expect("saasql runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n4\n", "{out:?}");
    let out = Command::new(BIN)
        .current_dir(root())
        .args(["-c", "SELECT count(*) AS n FROM surveys", "-f", "json"])
        .env("XDG_CONFIG_HOME", &home)
        .env("SAASQL_FORMAT", "csv")
        .current_dir(&home)
        .output()
        .expect("saasql runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[{\"n\":4}]\n",
        "{out:?}"
    );

    let dir = scratch("batch_params");
    write_file(
        &dir,
        "job.toml",
        "[[outputs]]\nname = \"one\"\nsql = \"SELECT $n * 2 AS x\"\npath = \"one.csv\"\nformat = \"csv\"\n",
    );
    let run = saasql_in(
        &dir,
        &[
            "--data",
            empty_dir(),
            "batch",
            "job.toml",
            "--param",
            "n=21",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("one.csv")).expect("one.csv"),
        "x\n42\n"
    );
    let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "job.toml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("no value for $n; pass --param n=VALUE"),
        "{run:?}"
    );
}

/// The shell in a real terminal: parameters, expanded rows, commands inside
/// an unfinished statement, dot commands, `\i`, `\o` and tab completion.
#[test]
fn shell_in_a_terminal() {
    use expectrl::{Eof, Expect, Session};
    let dir = scratch("shell");
    write_file(&dir, "q.sql", "SELECT count(*) AS included FROM surveys;\n");
    // Run at start, like ~/.psqlrc.
    write_file(&dir, ".saasqlrc", "\\set who 2\n");
    // A project: its models are views in the shell too.
    write_file(&dir, "saasql.toml", "# the shell test's project\n");
    std::fs::create_dir_all(dir.join("models")).expect("models/");
    write_file(
        &dir,
        "models/promoters.sql",
        "-- Customers who would recommend us.\nSELECT name FROM surveys WHERE score >= 9\n",
    );
    let data = fixture().join("data");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(root());
    cmd.args(["--data", data.to_str().expect("utf-8")])
        .current_dir(&dir)
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", &dir)
        .env("TERM", "xterm");
    let log = std::fs::File::create(dir.join("pty.log")).expect("create pty log");
    let p = Session::spawn(cmd).expect("saasql starts in a pty");
    // Everything the terminal saw, for a failing expectation.
    let mut p = expectrl::session::log(p, log).expect("log the session");
    p.set_expect_timeout(Some(std::time::Duration::from_secs(60)));
    // Typed-ahead input is dropped when the line editor takes the terminal,
    // so each line waits for a prompt (`saasql> ` or `   ...> `), as a
    // person does, and each expectation reads up to what it names.
    let line = |p: &mut Session<_, _>, text: &str| {
        p.expect("> ").expect("a prompt");
        p.send(text).expect("send");
        p.send("\r").expect("send");
    };

    line(&mut p, "SELECT name FROM surveys WHERE customer_id = $who;");
    p.expect("globex").expect("a parameter is bound");

    line(&mut p, "\\dv");
    p.expect("Customers who would recommend us.")
        .expect("\\dv lists the models");
    line(&mut p, "SELECT count(*) AS promoters FROM promoters;");
    p.expect("│         2 │").expect("a model is a view");

    line(&mut p, "\\x");
    p.expect("Expanded display is on.").expect("\\x");
    line(
        &mut p,
        "SELECT customer_id, name FROM surveys WHERE customer_id = 1;",
    );
    p.expect("-[ RECORD 1 ]-").expect("expanded record");
    p.expect("name        | acme").expect("expanded value");
    line(&mut p, "\\x off");
    p.expect("Expanded display is off.").expect("\\x off");

    // A command inside an unfinished statement runs, and the statement goes on.
    line(&mut p, "SELECT count(*) AS n");
    line(&mut p, ".tables");
    p.expect("surveys").expect(".tables lists tables");
    line(&mut p, "FROM surveys;");
    p.expect("1 row").expect("the statement finished");

    line(&mut p, "\\i q.sql");
    p.expect("included").expect("\\i runs the file");

    line(&mut p, ".mode csv");
    p.expect("Format is csv.").expect(".mode");
    line(&mut p, "\\o out.csv");
    line(&mut p, "SELECT name FROM surveys ORDER BY name LIMIT 2;");
    line(&mut p, "\\o");
    p.expect("Results written to out.csv.")
        .expect("\\o closes the file");

    // Tab completes a table name.
    p.expect("> ").expect("a prompt");
    p.send("SELECT count(*) AS k FROM surv").expect("send");
    p.send("\t").expect("send tab");
    p.send(";\r").expect("send");
    p.expect("k\r\n4\r\n").expect("the completed query ran");

    // Tab completes a keyword, a function and a setting name.
    p.expect("> ").expect("a prompt");
    p.send("SEL").expect("send");
    p.send("\t").expect("send tab");
    p.send(" 7 AS kw;\r").expect("send");
    p.expect("kw\r\n7\r\n").expect("the completed keyword ran");
    p.expect("> ").expect("a prompt");
    p.send("SELECT engagement_ti").expect("send");
    p.send("\t").expect("send tab");
    p.send("(50) AS tier;\r").expect("send");
    p.expect("tier\r\n").expect("the completed function ran");
    p.expect("> ").expect("a prompt");
    p.send("SHOW saasql.engagement_wei").expect("send");
    p.send("\t").expect("send tab");
    p.send(";\r").expect("send");
    p.expect("saasql.engagement_weights,")
        .expect("the completed setting");

    // .schema, .read, \unset.
    line(&mut p, ".schema surveys");
    p.expect("customer_id").expect(".schema lists columns");
    line(&mut p, ".read q.sql");
    p.expect("included").expect(".read runs the file");
    line(&mut p, "\\set gone 1");
    line(&mut p, "\\unset gone");
    line(&mut p, "SELECT $gone AS g;");
    p.expect("no value for $gone")
        .expect("\\unset removes the parameter");

    // A misspelt table gets a suggestion; a parse error gets carets under
    // the failing part; the shell carries on.
    line(&mut p, "SELECT * FROM survey;");
    p.expect("Did you mean 'surveys'?")
        .expect("a table suggestion");
    line(&mut p, "SELECT count(*)");
    line(&mut p, "FROM surveys WHERE WHERE;");
    p.expect("^").expect("carets under the error");
    line(&mut p, "SELECT 41 + 1 AS still;");
    p.expect("42").expect("the shell carries on");

    line(&mut p, ".quit");
    p.expect(Eof).expect("the shell quits");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).expect("out.csv"),
        "name\nacme\nglobex\n"
    );
}

/// Writes `text` to `dir/NAME` and returns the path.
fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    std::fs::write(&path, text).expect("write file");
    path
}

/// Outputs that would replace the job's own folder, its inputs or each
/// other are refused before anything is written; a folder that does not
/// look like an earlier output is not replaced.
#[test]
fn batch_refuses_overlapping_outputs() {
    let dir = scratch("batch_overlap");
    let w = dir.join("w");
    write_file(
        &w,
        "job.toml",
        "[[outputs]]\nname = \"up\"\nsql = \"SELECT 1 AS x\"\npath = \"../w\"\n",
    );
    let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "w/job.toml"], None);
    assert_one_line_error(
        &run,
        2,
        "saasql: error: output 'up': path w/../w would replace the job's own folder",
    );
    assert!(w.join("job.toml").is_file(), "the job's folder is intact");

    let events = fixture().join("data/events");
    write_file(
        &dir,
        "into_input.toml",
        &format!(
            "[inputs]\nev = \"{e}/\"\n[[outputs]]\nname = \"x\"\nsql = \"SELECT 1 AS x\"\npath = \"{e}/month=2025-05\"\n",
            e = events.display()
        ),
    );
    let run = saasql_in(
        &dir,
        &["--data", empty_dir(), "batch", "into_input.toml"],
        None,
    );
    assert_one_line_error(&run, 2, "saasql: error: output 'x': path ");
    assert!(run.stderr.contains("overlaps the input"), "{run:?}");
    assert!(!events.join("month=2025-05").exists());

    write_file(
        &dir,
        "nested.toml",
        "[[outputs]]\nname = \"a\"\nsql = \"SELECT 1 AS x\"\npath = \"out\"\n\n\
         [[outputs]]\nname = \"b\"\nsql = \"SELECT 2 AS x\"\npath = \"out/b.parquet\"\n",
    );
    let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "nested.toml"], None);
    assert_one_line_error(
        &run,
        2,
        "saasql: error: output 'a': path out overlaps output 'b'",
    );

    let keep = write_file(&dir, "mine/notes.txt", "precious");
    write_file(
        &dir,
        "folder.toml",
        "[[outputs]]\nname = \"m\"\nsql = \"SELECT 1 AS x\"\npath = \"mine\"\n",
    );
    let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "folder.toml"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("refusing to replace the folder mine: it holds"),
        "{run:?}"
    );
    assert_eq!(std::fs::read_to_string(keep).expect("kept"), "precious");
}

/// The version tag each output of the crash test holds: one value for a
/// single file, or the set of values of a folder of CSV files.
fn versions_in(out: &Path) -> Vec<String> {
    let mut files = vec![];
    let mut stack = vec![out.to_path_buf()];
    while let Some(p) = stack.pop() {
        match std::fs::read_dir(&p) {
            Ok(entries) => stack.extend(entries.flatten().map(|e| e.path())),
            Err(_) if p.is_file() => files.push(p),
            Err(_) => {}
        }
    }
    let mut versions: Vec<String> = files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("read output")
                .lines()
                .filter(|l| l.starts_with('v'))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// `kill -9` at random points of a three-output job, many times: every
/// output is always entirely old or entirely new; the next run finishes or
/// rolls back the commit, so all outputs agree; nothing is left behind.
#[test]
fn batch_killed_at_random_points_is_all_or_nothing() {
    let dir = scratch("batch_crash");
    let job = dir.join("job.toml");
    let write_job = |version: &str, fail: bool| {
        let last = if fail {
            "SELECT CAST('x' AS INT) AS tag".to_string()
        } else {
            format!("SELECT '{version}' AS tag")
        };
        std::fs::write(
            &job,
            format!(
                "[[outputs]]\nname = \"a\"\nsql = \"SELECT '{version}' AS tag\"\npath = \"out/a.csv\"\nformat = \"csv\"\n\n\
                 [[outputs]]\nname = \"b\"\nsql = \"SELECT '{version}' AS tag, k FROM (VALUES (1), (2), (3)) t(k)\"\n\
                 path = \"out/b\"\nformat = \"csv\"\npartition_by = [\"k\"]\n\n\
                 [[outputs]]\nname = \"c\"\nsql = \"{last}\"\npath = \"out/c.csv\"\nformat = \"csv\"\n"
            ),
        )
        .expect("write job");
    };
    let run_job = |pause: bool| {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(root());
        cmd.args(["--data", empty_dir(), "batch", "job.toml"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if pause {
            cmd.env("SAASQL_TEST_COMMIT_PAUSE_MS", "100");
        }
        cmd.spawn().expect("saasql starts")
    };
    let outputs = ["a.csv", "b", "c.csv"];
    let state = || -> Vec<Vec<String>> {
        outputs
            .iter()
            .map(|o| versions_in(&dir.join("out").join(o)))
            .collect()
    };
    write_job("v0", false);
    let started = std::time::Instant::now();
    let first = run_job(true).wait_with_output().expect("first run");
    assert!(first.status.success(), "{first:?}");
    let full = started.elapsed();
    assert_eq!(state(), vec![vec!["v0".to_string()]; 3]);

    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
        | 1;
    let mut current = "v0".to_string();
    for i in 1..=12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = full.mul_f64((seed % 1000) as f64 / 1000.0 * 1.2);
        let new = format!("v{i}");
        write_job(&new, false);
        let mut child = run_job(true);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let context = format!("seed {seed}, kill after {delay:?} of {full:?}");
        for (o, versions) in outputs.iter().zip(state()) {
            assert!(
                versions == [current.clone()] || versions == [new.clone()],
                "{context}: output {o} holds {versions:?}, not {current} or {new}"
            );
        }
        // The next run (which fails on its own) finishes or rolls back the commit.
        write_job("never", true);
        let next = run_job(false).wait_with_output().expect("next run");
        assert_eq!(next.status.code(), Some(1), "{context}: {next:?}");
        let after = state();
        assert!(
            after == vec![vec![current.clone()]; 3] || after == vec![vec![new.clone()]; 3],
            "{context}: outputs disagree after recovery: {after:?}"
        );
        current = after[0][0].clone();
        let mut left: Vec<String> = std::fs::read_dir(dir.join("out"))
            .expect("list out")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.csv", "b", "c.csv"], "{context}: left behind");
        assert!(
            !dir.join(".job.toml.saasql-journal").exists(),
            "{context}: journal left"
        );
    }
}

/// A table that cannot be read is named in one warning at start and fails
/// only the queries that use it (exit 3); the other tables work.
#[test]
fn unreadable_tables_fail_only_their_queries() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("unreadable");
    std::fs::copy(
        fixture().join("data/surveys.parquet"),
        dir.join("good.parquet"),
    )
    .expect("copy");
    std::fs::write(dir.join("junk.parquet"), b"this is not parquet").expect("write");
    std::fs::write(dir.join("empty.parquet"), b"").expect("write");
    std::os::unix::fs::symlink("nowhere.parquet", dir.join("dangling.parquet")).expect("link");
    std::os::unix::fs::symlink("looped.parquet", dir.join("looped.parquet")).expect("link");
    let odd = std::ffi::OsStr::from_bytes(b"odd\xff.parquet");
    std::fs::copy(fixture().join("data/surveys.parquet"), dir.join(odd)).expect("copy");
    // Two tables' files in one folder.
    let mixed = dir.join("mixed");
    std::fs::create_dir(&mixed).expect("mkdir");
    std::fs::copy(
        fixture().join("data/surveys.parquet"),
        mixed.join("a.parquet"),
    )
    .expect("copy");
    let run = saasql_in(
        &dir,
        &["--data", empty_dir(), "run", "-"],
        Some(&format!(
            "COPY (SELECT 1 AS invoice_id, 2.5 AS amount) TO '{}' STORED AS PARQUET;",
            mixed.join("b.parquet").display()
        )),
    );
    assert_eq!(run.code, 0, "{run:?}");

    let run = saasql_in(
        &dir,
        &["--data", ".", "-f", "csv", "run", "-"],
        Some("SELECT count(*) AS n FROM good;"),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "n\n4\n"), "{run:?}");
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 6, "{run:?}");
    assert!(
        warnings.iter().all(|w| w.starts_with("saasql: warning: ")),
        "{run:?}"
    );
    for needle in [
        "table 'junk' cannot be read: ./junk.parquet is not a readable Parquet file",
        "table 'empty' cannot be read: ./empty.parquet is empty (0 bytes), not a Parquet file",
        "table 'dangling' cannot be read: ./dangling.parquet: No such file or directory",
        "table 'looped' cannot be read: ./looped.parquet: ",
        "odd\u{fffd}.parquet: skipped, the name is not valid UTF-8",
        "table 'mixed' cannot be read: its files have different columns: ./mixed/a.parquet has (customer_id Int64, name Utf8, score Int64) but ./mixed/b.parquet has (invoice_id Int64, amount Float64)",
    ] {
        assert!(run.stderr.contains(needle), "missing {needle:?} in {run:?}");
    }
    for (table, file) in [("junk", "./junk.parquet"), ("mixed", "./mixed/a.parquet")] {
        let run = saasql_in(
            &dir,
            &["--data", ".", "run", "-"],
            Some(&format!("SELECT * FROM {table};")),
        );
        assert_eq!(run.code, 3, "{run:?}");
        let error = run
            .stderr
            .lines()
            .find(|l| l.starts_with("<stdin>:1: error: "));
        assert!(
            error.is_some_and(
                |l| l.contains(&format!("table '{table}' cannot be read")) && l.contains(file)
            ),
            "{run:?}"
        );
    }
    // Opting in to union by name reads the folder, with nullable columns.
    let config = write_file(&dir, "union.toml", "union_by_name = true\n");
    let union = |sql: &str| {
        saasql_in(
            &dir,
            &[
                "--data",
                ".",
                "--config",
                config.to_str().expect("utf-8"),
                "-f",
                "csv",
                "-c",
                sql,
            ],
            None,
        )
    };
    let run = union("SELECT count(*) AS n, count(invoice_id) AS invoices FROM mixed");
    assert!(run.stdout.ends_with("n,invoices\n5,1\n"), "{run:?}");
    // Every column of the union may be NULL (each is missing from some file).
    let run = union(
        "SELECT DISTINCT is_nullable FROM information_schema.columns WHERE table_name = 'mixed'",
    );
    assert!(run.stdout.ends_with("is_nullable\nYES\n"), "{run:?}");
}

/// Arrow IPC and TSV files become tables; CSV options come from `[csv]` in
/// the config; a folder mixing formats is refused; a data format saasql does
/// not read is named in a warning.
#[test]
fn export_formats_and_csv_options() {
    let dir = scratch("formats");
    let data = dir.join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let run = saasql_in(
        &dir,
        &["--data", empty_dir(), "run", "-"],
        Some(&format!(
            "COPY (SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b') TO '{d}/ipc.arrow' STORED AS ARROW;
             COPY (SELECT 1 AS id, 'x' AS name) TO '{d}/mixed/part1.csv' STORED AS CSV OPTIONS ('format.has_header' 'true');
             COPY (SELECT 2 AS id, 'y' AS name) TO '{d}/mixed/part2.parquet' STORED AS PARQUET;",
            d = data.display()
        )),
    );
    assert_eq!(run.code, 0, "{run:?}");
    // [csv] applies to every CSV and TSV table: no header here either.
    write_file(&data, "tabs.tsv", "1\tp\n2\tq\n3\tr\n");
    write_file(&data, "legacy.avro", "not read");
    write_file(&dir, "semi/plain.csv", "7;'a;b'\n8;'c'\n");
    write_file(
        &dir,
        "saasql.toml",
        "[tables]\nsemi = \"semi/plain.csv\"\n\n[csv]\nheader = false\ndelimiter = \";\"\nquote = \"'\"\n",
    );
    let run = saasql_in(
        &dir,
        &[
            "--data",
            "data",
            "--config",
            "saasql.toml",
            "-f",
            "csv",
            "-c",
            "SELECT (SELECT count(*) FROM ipc) AS ipc, (SELECT sum(column_1) FROM tabs) AS tsv, \
           (SELECT string_agg(column_2, '|' ORDER BY column_1) FROM semi) AS semi",
        ],
        None,
    );
    assert_eq!(run.stdout, "ipc,tsv,semi\n2,6,a;b|c\n", "{run:?}");
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{run:?}");
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "saasql: warning: data/legacy.avro: skipped, saasql does not read .avro files"
        )),
        "{run:?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with("saasql: warning: table 'mixed' cannot be read: its files mix formats: data/mixed/part1.csv is CSV (.csv) but data/mixed/part2.parquet is Parquet (.parquet)")),
        "{run:?}"
    );
    let run = saasql_in(&dir, &["--data", "data", "-c", "SELECT * FROM mixed"], None);
    assert_eq!(run.code, 3, "{run:?}");
    // A bad [csv] option is a usage error.
    write_file(&dir, "bad.toml", "[csv]\ndelimiter = \";;\"\n");
    let run = saasql_in(
        &dir,
        &["--data", "data", "--config", "bad.toml", "-c", "SELECT 1"],
        None,
    );
    assert_one_line_error(
        &run,
        2,
        "saasql: error: config file bad.toml: csv.delimiter: ';;' must be one ASCII character",
    );
}

/// The shipped reports print exactly their expected output on CSV, JSON
/// lines and compressed copies of the sample tables (every export format
/// reads like Parquet).
#[test]
fn reports_match_on_csv_and_json_copies() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tables = [
        "customers",
        "events",
        "invoices",
        "subscriptions",
        "surveys",
        "tickets",
        "subscription_items",
        "fx_rates",
    ];
    let mut reports: Vec<String> = std::fs::read_dir(repo.join("sql"))
        .expect("sql/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect();
    reports.sort();
    for (stored, ext) in [
        ("CSV", "csv"),
        ("JSON", "jsonl"),
        ("CSV", "csv.gz"),
        ("JSON", "json.zst"),
    ] {
        let dir = scratch(&format!("copies_{}", ext.replace('.', "_")));
        let compression = match ext.rsplit_once('.') {
            Some((_, "gz")) => ", 'format.compression' 'gzip'",
            Some((_, "zst")) => ", 'format.compression' 'zstd'",
            _ => "",
        };
        let copies: String = tables
            .iter()
            .map(|t| {
                format!(
                    "COPY (SELECT * FROM {t}) TO '{}' STORED AS {stored} OPTIONS ('format.has_header' 'true'{compression});\n",
                    dir.join(format!("{t}.{ext}")).display()
                )
                .replace("'format.has_header' 'true', ", if stored == "CSV" { "'format.has_header' 'true', " } else { "" })
                .replace(" OPTIONS ('format.has_header' 'true')", if stored == "CSV" { " OPTIONS ('format.has_header' 'true')" } else { "" })
            })
            .collect();
        let run = saasql_in(repo, &["--data", "data", "run", "-"], Some(&copies));
        assert_eq!(run.code, 0, "copies as {ext}: {run:?}");
        for name in &reports {
            let rel = format!("sql/{name}.sql");
            let run = saasql_in(
                repo,
                &[
                    "--data",
                    dir.to_str().expect("utf-8"),
                    "--format",
                    "csv",
                    "run",
                    &rel,
                ],
                None,
            );
            assert_eq!(
                (run.code, run.stderr.as_str()),
                (0, ""),
                "{rel} on {ext} copies"
            );
            let expected = std::fs::read_to_string(repo.join(format!("tests/expected/{name}.csv")))
                .expect("expected output");
            assert_eq!(run.stdout, expected, "{rel} on {ext} copies");
        }
    }
}

/// Outputs never destroy what the command reads, folder outputs replace
/// only folders saasql could have written, killed batch journals leave no
/// temporaries, and a FIFO without a reader does not hold off signals.
mod outputs_trust {
    use super::*;
    use std::time::{Duration, Instant};

    /// A fresh scratch folder with `dd/customers.parquet` (the fixture's
    /// surveys), and that file's bytes.
    fn with_data(name: &str) -> (PathBuf, Vec<u8>) {
        let dir = scratch(name);
        std::fs::create_dir_all(dir.join("dd")).expect("mkdir dd");
        std::fs::copy(
            fixture().join("data/surveys.parquet"),
            dir.join("dd/customers.parquet"),
        )
        .expect("copy parquet");
        let bytes = std::fs::read(dir.join("dd/customers.parquet")).expect("read parquet");
        (dir, bytes)
    }

    /// `run --output` and `COPY … TO` (in a file, `-c` and on stdin) over a
    /// table's file or the report itself are refused; the files stay.
    #[test]
    fn run_and_copy_never_replace_their_inputs() {
        let (dir, before) = with_data("trust_inputs");
        let parquet = dir.join("dd/customers.parquet");
        write_file(&dir, "q.sql", "SELECT customer_id FROM customers;\n");
        std::os::unix::fs::symlink("dd/customers.parquet", dir.join("link.parquet"))
            .expect("symlink");
        for output in [
            "dd/customers.parquet",
            "dd/../dd/customers.parquet",
            "link.parquet",
        ] {
            let args = [
                "--data", "dd", "run", "q.sql", "--format", "parquet", "--output", output,
            ];
            let run = saasql_in(&dir, &args, None);
            assert_one_line_error(
                &run,
                2,
                &format!("saasql: error: --output: path {output} overlaps the input "),
            );
            assert!(run.stderr.ends_with("; nothing was written\n"), "{run:?}");
            assert_eq!(std::fs::read(&parquet).expect("read"), before, "{output}");
        }

        let q2 = write_file(&dir, "q2.sql", "SELECT 1 AS x;\n");
        let run = saasql_in(
            &dir,
            &["--data", "dd", "run", "q2.sql", "--output", "q2.sql"],
            None,
        );
        assert_one_line_error(
            &run,
            2,
            "saasql: error: --output: path q2.sql would replace its SQL file q2.sql; nothing was written",
        );
        assert_eq!(
            std::fs::read_to_string(&q2).expect("read"),
            "SELECT 1 AS x;\n"
        );

        let copy = "COPY (SELECT 1 AS x) TO 'dd/customers.parquet' STORED AS PARQUET;\n";
        write_file(&dir, "copy.sql", copy);
        let runs: [(&[&str], Option<&str>); 4] = [
            (&["--data", "dd", "run", "copy.sql"], None),
            (&["--data", "dd", "-c", copy], None),
            (&["--data", "dd", "run", "-"], Some(copy)),
            (&["--data", "dd"], Some(copy)),
        ];
        for (args, stdin) in runs {
            let run = saasql_in(&dir, args, stdin);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(
                run.stderr
                    .contains("error: COPY: path dd/customers.parquet overlaps the input "),
                "{args:?}: {run:?}"
            );
            assert_eq!(std::fs::read(&parquet).expect("read"), before, "{args:?}");
        }

        let own = "COPY (SELECT 1 AS x) TO 'self.sql' STORED AS CSV;\n";
        let own_file = write_file(&dir, "self.sql", own);
        let run = saasql_in(&dir, &["--data", "dd", "run", "self.sql"], None);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.starts_with(
                "self.sql:1: error: COPY: path self.sql would replace its SQL file self.sql"
            ),
            "{run:?}"
        );
        assert_eq!(std::fs::read_to_string(&own_file).expect("read"), own);

        // A table named by its location in the query is an input too.
        let t = write_file(&dir, "t.csv", "a\n1\n");
        let run = saasql_in(
            &dir,
            &[
                "--data",
                "dd",
                "-c",
                "COPY (SELECT * FROM 't.csv') TO 't.csv' STORED AS CSV",
            ],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("error: COPY: path t.csv overlaps the input "),
            "{run:?}"
        );
        write_file(&dir, "url.sql", "SELECT * FROM 't.csv';\n");
        let run = saasql_in(
            &dir,
            &["--data", "dd", "run", "url.sql", "--output", "t.csv"],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("error: --output: path t.csv overlaps the input "),
            "{run:?}"
        );
        write_file(
            &dir,
            "url.toml",
            "[[outputs]]\nname = \"u\"\nsql = \"SELECT * FROM 't.csv'\"\npath = \"t.csv\"\nformat = \"csv\"\n",
        );
        let run = saasql_in(&dir, &["--data", "dd", "batch", "url.toml"], None);
        assert_one_line_error(
            &run,
            2,
            "saasql: error: output 'u': path t.csv overlaps the input ",
        );
        assert_eq!(std::fs::read_to_string(&t).expect("read"), "a\n1\n");
        let temporaries: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(temporaries.is_empty(), "{temporaries:?}");

        // Elsewhere both still write.
        let run = saasql_in(
            &dir,
            &[
                "--data", "dd", "run", "q.sql", "--format", "csv", "--output", "ids.csv",
            ],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        assert!(dir.join("ids.csv").is_file());
    }

    /// The shell's `\o FILE` and `COPY … TO` over a table's file are
    /// refused; results go on to the screen and the file stays.
    #[test]
    fn shell_never_replaces_an_input() {
        use expectrl::{Eof, Expect, Session};
        let (dir, before) = with_data("trust_shell");
        let mut cmd = Command::new(BIN);
        cmd.current_dir(root());
        cmd.args(["--data", "dd"])
            .current_dir(&dir)
            .env("HOME", &dir)
            .env("XDG_CONFIG_HOME", &dir)
            .env("XDG_DATA_HOME", &dir)
            .env("TERM", "xterm");
        let log = std::fs::File::create(dir.join("pty.log")).expect("create pty log");
        let p = Session::spawn(cmd).expect("saasql starts in a pty");
        let mut p = expectrl::session::log(p, log).expect("log the session");
        p.set_expect_timeout(Some(Duration::from_secs(60)));
        let line = |p: &mut Session<_, _>, text: &str| {
            p.expect("> ").expect("a prompt");
            p.send(text).expect("send");
            p.send("\r").expect("send");
        };
        line(&mut p, "\\o dd/customers.parquet");
        p.expect("\\o: path dd/customers.parquet overlaps the input ")
            .expect("\\o is refused");
        line(
            &mut p,
            "COPY (SELECT 1 AS x) TO 'dd/customers.parquet' STORED AS PARQUET;",
        );
        p.expect("COPY: path dd/customers.parquet overlaps the input ")
            .expect("COPY is refused");
        line(&mut p, "SELECT 41 + 1 AS still;");
        p.expect("42").expect("results go to the screen");
        line(&mut p, "\\q");
        p.expect(Eof).expect("the shell quits");
        assert_eq!(
            std::fs::read(dir.join("dd/customers.parquet")).expect("read"),
            before
        );
    }

    /// A folder output does not replace a folder of hidden files, nor an
    /// existing file; it still replaces an empty folder and its own output.
    #[test]
    fn folder_outputs_replace_only_saasql_folders() {
        let dir = scratch("trust_folders");
        let env = write_file(&dir, "hidden/.env", "SECRET=1\n");
        let notes = write_file(&dir, "hidden/.notes", "mine\n");
        write_file(
            &dir,
            "dot.toml",
            "[[outputs]]\nname = \"h\"\nsql = \"SELECT 1 AS x\"\npath = \"hidden\"\n",
        );
        let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "dot.toml"], None);
        assert_one_line_error(
            &run,
            2,
            "saasql: error: output 'h': refusing to replace the folder hidden: it holds hidden/.",
        );
        assert_eq!(std::fs::read_to_string(&env).expect("read"), "SECRET=1\n");
        assert_eq!(std::fs::read_to_string(&notes).expect("read"), "mine\n");

        let important = write_file(&dir, "keep/important.txt", "precious\n");
        for extra in ["partition_by = [\"k\"]\n", ""] {
            write_file(
                &dir,
                "file.toml",
                &format!(
                    "[[outputs]]\nname = \"p\"\nsql = \"SELECT 1 AS x, 'a' AS k\"\n\
                     path = \"keep/important.txt\"\n{extra}"
                ),
            );
            let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "file.toml"], None);
            assert_one_line_error(
                &run,
                2,
                "saasql: error: output 'p': refusing to replace the file keep/important.txt with a folder of parquet files",
            );
            assert_eq!(
                std::fs::read_to_string(&important).expect("still a file"),
                "precious\n"
            );
        }

        std::fs::create_dir(dir.join("empty")).expect("mkdir");
        write_file(
            &dir,
            "ok.toml",
            "[[outputs]]\nname = \"e\"\nsql = \"SELECT 1 AS x, 'a' AS k\"\npath = \"empty\"\n\
             partition_by = [\"k\"]\n",
        );
        for _ in 0..2 {
            let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "ok.toml"], None);
            assert_eq!(run.code, 0, "{run:?}");
            assert!(dir.join("empty/k=a").is_dir());
        }
    }

    /// A journal temporary left by a killed run (its process gone) is
    /// removed by the job's next run; a running process's is kept.
    #[test]
    fn stale_journal_temporaries_are_removed() {
        let dir = scratch("trust_journal");
        write_file(
            &dir,
            "job.toml",
            "[[outputs]]\nname = \"o\"\nsql = \"SELECT 1 AS x\"\npath = \"out/o.csv\"\nformat = \"csv\"\n",
        );
        let stale = write_file(
            &dir,
            "..job.toml.saasql-journal.saasql-999999999-Ab3dEf.tmp",
            "pid = 999999999\nstate = \"com",
        );
        let live = write_file(
            &dir,
            &format!(
                "..job.toml.saasql-journal.saasql-{}-Ab3dEf.tmp",
                std::process::id()
            ),
            "busy",
        );
        let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "job.toml"], None);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            std::fs::read_to_string(dir.join("out/o.csv")).expect("output"),
            "x\n1\n"
        );
        assert!(
            !stale.exists(),
            "a dead process's journal temporary is removed"
        );
        assert!(live.exists(), "a running process's temporary is kept");
    }

    /// `run --output FIFO` with no reader waits, and Ctrl-C or SIGTERM end
    /// the wait with exit 130 or 143, leaving nothing behind.
    #[test]
    fn a_fifo_without_a_reader_does_not_hold_off_signals() {
        let dir = scratch("trust_fifo");
        let tmp = scratch("trust_fifo_tmp");
        write_file(&dir, "q.sql", "SELECT 1 AS x;\n");
        let made = Command::new("mkfifo")
            .arg(dir.join("fifo"))
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        for (signal, code) in [("INT", 130), ("TERM", 143)] {
            let mut child = Command::new(BIN)
                .current_dir(root())
                .args(["--data", empty_dir(), "run", "q.sql", "--output", "fifo"])
                .current_dir(&dir)
                .env("XDG_CONFIG_HOME", root())
                .env("TMPDIR", &tmp)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("saasql starts");
            // Its spill folder is made after its signal handlers are set.
            let spill = tmp.join(format!("saasql-spill-{}", child.id()));
            let deadline = Instant::now() + Duration::from_secs(30);
            while !spill.exists() {
                assert!(Instant::now() < deadline, "saasql did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(500));
            assert!(
                child.try_wait().expect("wait").is_none(),
                "it waits for a reader"
            );
            let sent = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(sent.success());
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().expect("wait").is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("SIG{signal} did not stop a run waiting for a FIFO reader");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let out = child.wait_with_output().expect("saasql exits");
            assert_eq!(out.status.code(), Some(code), "SIG{signal}: {out:?}");
            let mut left: Vec<String> = std::fs::read_dir(&dir)
                .expect("list")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            left.sort();
            assert_eq!(left, ["fifo", "q.sql"], "SIG{signal}");
            assert_eq!(
                std::fs::read_dir(&tmp).expect("list").count(),
                0,
                "SIG{signal}: spill folder left"
            );
        }
    }
}

/// The reports in `sql/` give byte-identical output on a real Ballista
/// cluster (a `saasql scheduler` and two `saasql executor` processes on
/// 127.0.0.1) and locally, and a `SET saasql.*` on the client reaches the
/// cluster's results.
#[cfg(feature = "cluster")]
mod cluster {
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{BIN, Run, empty_dir, fixture, root, saasql_in, scratch};

    /// Each `saasql` run, and the cluster's start-up, must finish within this.
    const LIMIT: Duration = Duration::from_secs(60);

    /// The cluster's processes; dropping it kills them, also when a test
    /// assertion fails.
    pub(super) struct Cluster {
        children: Vec<(String, Child)>,
        pub(super) dir: PathBuf,
        /// `df://127.0.0.1:PORT`, for clients.
        pub(super) url: String,
        /// `127.0.0.1:PORT`, for executors.
        pub(super) scheduler: String,
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            for (_, child) in &mut self.children {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// `n` free loopback ports. Every listener is held until all are
    /// chosen, so no port is picked twice.
    pub(super) fn free_ports(n: usize) -> Vec<u16> {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
            .collect();
        listeners
            .iter()
            .map(|l| l.local_addr().expect("local addr").port())
            .collect()
    }

    impl Cluster {
        /// Starts a scheduler and two executors on free loopback ports and
        /// waits until they accept connections.
        pub(super) fn start(dir: PathBuf) -> Cluster {
            let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
            let data = data.to_str().expect("utf-8 path");
            let mut cluster = Cluster::scheduler(dir, &[], &[]);
            for i in 0..2 {
                cluster.executor(&format!("executor{i}"), &["--data", data], &[]);
            }
            cluster
        }

        /// Starts a scheduler on a free loopback port with `args` and
        /// environment `env`, and waits until it accepts connections.
        pub(super) fn scheduler(dir: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Cluster {
            std::fs::create_dir_all(&dir).expect("create cluster dir");
            let port = free_ports(1)[0];
            let mut cluster = Cluster {
                children: vec![],
                url: format!("df://127.0.0.1:{port}"),
                scheduler: format!("127.0.0.1:{port}"),
                dir,
            };
            let bind = cluster.scheduler.clone();
            let mut all = vec!["scheduler", "--bind", &bind];
            all.extend_from_slice(args);
            cluster.spawn("scheduler", &all, env);
            cluster.wait_for_port(port);
            cluster
        }

        /// Starts an executor called `name` with `args` and environment
        /// `env` on two free loopback ports, and waits until both accept
        /// connections. Returns its ports (Flight, gRPC).
        pub(super) fn executor(
            &mut self,
            name: &str,
            args: &[&str],
            env: &[(&str, &str)],
        ) -> [u16; 2] {
            let ports = free_ports(2);
            let work = self.dir.join(name);
            let (flight, grpc) = (ports[0].to_string(), ports[1].to_string());
            let scheduler = self.scheduler.clone();
            let mut all = vec![
                "executor",
                "--scheduler",
                &scheduler,
                "--bind",
                &flight,
                "--grpc-port",
                &grpc,
                "--concurrent-tasks",
                "2",
                "--work-dir",
                work.to_str().expect("utf-8 path"),
            ];
            all.extend_from_slice(args);
            self.spawn(name, &all, env);
            self.wait_for_port(ports[0]);
            [ports[0], ports[1]]
        }

        pub(super) fn spawn(&mut self, name: &str, args: &[&str], env: &[(&str, &str)]) {
            let log = |suffix: &str| {
                std::fs::File::create(self.dir.join(format!("{name}.{suffix}")))
                    .expect("create log file")
            };
            let child = Command::new(BIN)
                .current_dir(root())
                .args(args)
                .envs(env.iter().copied())
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .stdout(log("out"))
                .stderr(log("err"))
                .spawn()
                .expect("saasql starts");
            self.children.push((name.to_string(), child));
        }

        /// Waits until `port` accepts connections, failing early if a
        /// cluster process exits.
        pub(super) fn wait_for_port(&mut self, port: u16) {
            let deadline = Instant::now() + LIMIT;
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                let exited = self.children.iter_mut().find_map(|(name, child)| {
                    child
                        .try_wait()
                        .ok()
                        .flatten()
                        .map(|s| format!("{name} exited with {s}"))
                });
                if let Some(exited) = exited {
                    panic!("{exited}: {}", self.logs());
                }
                assert!(
                    Instant::now() < deadline,
                    "port {port} not ready after {LIMIT:?}: {}",
                    self.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }

        /// What process `name` has written to stderr so far (its log).
        pub(super) fn log(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.join(format!("{name}.err"))).unwrap_or_default()
        }

        /// Waits until `done` holds for the logs, which are written as things
        /// happen (also after the client has its answer), for at most
        /// [`LIMIT`].
        pub(super) fn wait_for(&self, what: &str, done: impl Fn(&Cluster) -> bool) {
            let deadline = Instant::now() + LIMIT;
            while !done(self) {
                assert!(
                    Instant::now() < deadline,
                    "no {what} after {LIMIT:?}: {}",
                    self.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }

        /// Sends SIGTERM to process `name` and waits for it to exit; returns
        /// its exit code.
        pub(super) fn terminate(&mut self, name: &str) -> Option<i32> {
            let child = &mut self
                .children
                .iter_mut()
                .find(|(n, _)| n == name)
                .expect("a cluster process of that name")
                .1;
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill -TERM {name}");
            let deadline = Instant::now() + LIMIT;
            loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    return status.code();
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} still running after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        /// The cluster processes' output, for failure messages.
        pub(super) fn logs(&self) -> String {
            let mut all = String::new();
            for (name, _) in &self.children {
                for suffix in ["out", "err"] {
                    let text = std::fs::read_to_string(self.dir.join(format!("{name}.{suffix}")))
                        .unwrap_or_default();
                    all.push_str(&format!("\n--- {name}.{suffix}\n{text}"));
                }
            }
            all
        }
    }

    /// Runs `saasql ARGS` in `cwd` with `stdin` as input, killing it if it
    /// takes longer than [`LIMIT`] (a stuck Ballista job would otherwise hang
    /// the test). Its input and output go through files in `io`.
    pub(super) fn saasql_bounded(cwd: &Path, io: &Path, args: &[&str], stdin: &str) -> Run {
        saasql_bounded_env(cwd, io, args, stdin, &[])
    }

    /// [`saasql_bounded`] with extra environment variables.
    fn saasql_bounded_env(
        cwd: &Path,
        io: &Path,
        args: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> Run {
        let stdin_file = io.join("run.in");
        std::fs::write(&stdin_file, stdin).expect("write stdin file");
        let out = io.join("run.out");
        let err = io.join("run.err");
        let mut child = Command::new(BIN)
            .current_dir(root())
            .args(args)
            .envs(env.iter().copied())
            .current_dir(cwd)
            .stdin(std::fs::File::open(&stdin_file).expect("open stdin file"))
            .stdout(std::fs::File::create(&out).expect("create out"))
            .stderr(std::fs::File::create(&err).expect("create err"))
            .spawn()
            .expect("saasql starts");
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for saasql") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("saasql {args:?} did not finish within {LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code().expect("saasql exits normally"),
            stdout: std::fs::read_to_string(&out).expect("utf-8 stdout"),
            stderr: std::fs::read_to_string(&err).expect("utf-8 stderr"),
        }
    }

    /// The local address the TCP socket listening on `port` is bound to, as
    /// Linux shows it in `/proc/net/tcp` (`0100007F` is 127.0.0.1) — or
    /// `tcp6` when it listens on IPv6, which includes every address.
    #[cfg(target_os = "linux")]
    fn listening_address(port: u16) -> Vec<String> {
        let port = format!(":{port:04X}");
        let mut found = vec![];
        for table in ["tcp", "tcp6"] {
            let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // fields: sl, local_address, rem_address, st (0A = LISTEN)
                if fields.len() > 3 && fields[3] == "0A" && fields[1].ends_with(&port) {
                    let ip = fields[1].trim_end_matches(&port);
                    found.push(if table == "tcp" {
                        ip.to_string()
                    } else {
                        format!("tcp6 {ip}")
                    });
                }
            }
        }
        found
    }

    /// The scheduler and the executor's Flight port listen on 127.0.0.1 when
    /// `--bind` gives only a port, and `--help` says that is the default.
    #[test]
    fn servers_listen_on_loopback_by_default() {
        for (sub, default) in [
            ("scheduler", "127.0.0.1:50050"),
            ("executor", "127.0.0.1:50051"),
        ] {
            let help = saasql_in(root(), &[sub, "--help"], None);
            assert_eq!(help.code, 0, "{help:?}");
            assert!(
                help.stdout.contains(&format!("[default: {default}]")),
                "{}",
                help.stdout
            );
            assert!(
                help.stdout
                    .contains("127.0.0.1 unless --bind names another address"),
                "{}",
                help.stdout
            );
        }

        let port = free_ports(1)[0];
        let mut cluster = Cluster {
            children: vec![],
            url: format!("df://127.0.0.1:{port}"),
            scheduler: format!("127.0.0.1:{port}"),
            dir: scratch("loopback"),
        };
        cluster.spawn(
            "scheduler",
            &["scheduler", "--bind", &port.to_string()],
            &[],
        );
        cluster.wait_for_port(port);
        let [flight, grpc] = cluster.executor("executor", &[], &[]);
        #[cfg(target_os = "linux")]
        {
            for port in [port, flight] {
                assert_eq!(listening_address(port), ["0100007F"], "port {port}");
            }
            // Executors ask the scheduler for tasks: no gRPC server at all.
            assert!(listening_address(grpc).is_empty(), "gRPC port {grpc}");
        }
        let _ = (flight, grpc);
    }

    /// With no executor, a cluster query fails once `--timeout` has passed,
    /// with an error that names the cause, instead of waiting forever.
    #[test]
    fn no_executor_fails_within_the_timeout() {
        let cluster = Cluster::scheduler(scratch("no-executor"), &[], &[]);
        let started = Instant::now();
        let args = [
            "--cluster",
            &cluster.url,
            "--data",
            empty_dir(),
            "--timeout",
            "2",
        ];
        let run = saasql_bounded(&cluster.dir, &cluster.dir, &args, "SELECT 1 AS x;");
        assert_eq!(run.code, 1, "{run:?}");
        let cause = format!(
            "<stdin>:1: error: Execution error: cluster {}: no executor registered within 2 s\n",
            cluster.url
        );
        assert!(run.stderr.starts_with(&cause), "{run:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    /// Executors read only under `--allow-path` (after resolving `..` and
    /// symlinks), and write only with `--allow-write`, under the same roots.
    #[test]
    fn executors_touch_only_allowed_paths() {
        let dir = scratch("allowed-paths");
        let allowed = dir.join("allowed");
        let outside = dir.join("outside");
        for d in [&allowed, &outside] {
            std::fs::create_dir_all(d).expect("create dir");
        }
        let surveys = fixture().join("data/surveys.parquet");
        std::fs::copy(&surveys, allowed.join("surveys.parquet")).expect("copy");
        std::fs::copy(&surveys, outside.join("secret.parquet")).expect("copy");
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.join("secret.parquet"), allowed.join("link.parquet"))
            .expect("symlink");
        let allowed = std::fs::canonicalize(&allowed).expect("canonical");
        let outside = std::fs::canonicalize(&outside).expect("canonical");
        let (a, o) = (allowed.display(), outside.display());
        let query = |cluster: &Cluster, sql: &str| {
            let args = [
                "--cluster",
                &cluster.url,
                "--data",
                empty_dir(),
                "--format",
                "csv",
            ];
            saasql_bounded(&cluster.dir, &cluster.dir, &args, sql)
        };
        let refused = |run: &Run, message: &str| {
            assert_eq!(run.code, 1, "{run:?}");
            let first = run.stderr.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("<stdin>:1: error: Execution error: cluster df://127.0.0.1:")
                    && first.ends_with(&format!(": {message}")),
                "{message:?} in {run:?}"
            );
            assert!(!run.stdout.contains("acme"), "{run:?}");
        };
        let outside_message =
            format!("executor: path {o}/secret.parquet is outside the allowed roots {a}");

        let allow = allowed.to_str().expect("utf-8 path");
        let mut reader = Cluster::scheduler(dir.join("reader"), &[], &[]);
        reader.executor("executor", &["--allow-path", allow], &[]);
        let ok = query(
            &reader,
            &format!("SELECT name FROM '{a}/surveys.parquet' ORDER BY name;"),
        );
        assert_eq!((ok.code, ok.stderr.as_str()), (0, ""), "{ok:?}");
        assert!(ok.stdout.starts_with("name\nacme\n"), "{ok:?}");
        refused(
            &query(&reader, &format!("SELECT name FROM '{o}/secret.parquet';")),
            &outside_message,
        );
        #[cfg(unix)]
        refused(
            &query(&reader, &format!("SELECT name FROM '{a}/link.parquet';")),
            &outside_message,
        );
        let copy = format!("COPY (SELECT 1 AS x) TO '{a}/out.parquet' STORED AS PARQUET;");
        refused(
            &query(&reader, &copy),
            "executor: writing files is not allowed; start the executor with --allow-write",
        );
        assert!(!allowed.join("out.parquet").exists());
        drop(reader);

        let mut writer = Cluster::scheduler(dir.join("writer"), &[], &[]);
        writer.executor("executor", &["--allow-path", allow, "--allow-write"], &[]);
        let run = query(&writer, &copy);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        assert!(allowed.join("out.parquet").exists());
        let copy = format!("COPY (SELECT 1 AS x) TO '{o}/out.parquet' STORED AS PARQUET;");
        let message = format!("executor: path {o}/out.parquet is outside the allowed roots {a}");
        refused(&query(&writer, &copy), &message);
        assert!(!outside.join("out.parquet").exists());
    }

    /// Binding to a non-loopback address needs the cluster token; with a
    /// token, the scheduler and executors serve only requests that carry it,
    /// and no message shows it.
    #[test]
    fn cluster_token_is_required_and_checked() {
        const TOKEN: &str = "cluster-test-token-0123456789abcdef";
        const WRONG: &str = "cluster-test-token-wrong-wrong-wrong";
        let needs_token = "needs the cluster token: set SAASQL_CLUSTER_TOKEN or --token-file";
        // 192.0.2.1 is a documentation address no machine has: even without
        // the check no server would listen there.
        for args in [
            &["scheduler", "--bind", "192.0.2.1:0"][..],
            &["executor", "--bind", "192.0.2.1:0"][..],
        ] {
            let run = saasql_in(root(), args, None);
            assert_eq!(run.code, 2, "{args:?}: {run:?}");
            assert!(run.stderr.contains(needs_token), "{run:?}");
        }
        let dir = scratch("token");
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let data = data.to_str().expect("utf-8 path");
        let remote = ["--cluster", "df://192.0.2.1:50050", "--data", empty_dir()];
        let run = saasql_bounded(&dir, &dir, &remote, "SELECT 1;");
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("the scheduler is on another machine, so the cluster token is needed"),
            "{run:?}"
        );
        let short = saasql_bounded_env(
            &dir,
            &dir,
            &remote,
            "SELECT 1;",
            &[("SAASQL_CLUSTER_TOKEN", "sesame")],
        );
        assert_eq!(short.code, 2, "{short:?}");
        assert!(
            short.stderr.contains("at least 16 characters") && !short.stderr.contains("sesame"),
            "{short:?}"
        );

        let env = [("SAASQL_CLUSTER_TOKEN", TOKEN)];
        // The servers log at debug level, and still never show the token.
        let server_env = [("SAASQL_CLUSTER_TOKEN", TOKEN), ("RUST_LOG", "debug")];
        let mut cluster = Cluster::scheduler(dir.join("cluster"), &[], &server_env);
        for i in 0..2 {
            cluster.executor(&format!("executor{i}"), &["--data", data], &server_env);
        }
        let token_file = dir.join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token file");
        // Only its user may read it, or saasql warns.
        #[cfg(unix)]
        std::fs::set_permissions(
            &token_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod token file");
        let token_file = token_file.to_str().expect("utf-8 path");
        let query = |args: &[&str], env: &[(&str, &str)]| {
            let mut all = vec![
                "--cluster",
                &cluster.url,
                "--data",
                data,
                "--format",
                "csv",
                "--timeout",
                "5",
            ];
            all.extend_from_slice(args);
            // Two executors: the GROUP BY's shuffle is read over Flight.
            let sql = "SELECT plan, count(*) AS n FROM customers GROUP BY plan ORDER BY plan;";
            saasql_bounded_env(&cluster.dir, &cluster.dir, &all, sql, env)
        };
        let local = saasql_bounded(
            &dir,
            &dir,
            &["--data", data, "--format", "csv"],
            "SELECT plan, count(*) AS n FROM customers GROUP BY plan ORDER BY plan;",
        );
        for run in [query(&["--token-file", token_file], &[]), query(&[], &env)] {
            assert_eq!(
                (run.code, run.stderr.as_str()),
                (0, ""),
                "{run:?}{}",
                cluster.logs()
            );
            assert_eq!(run.stdout, local.stdout);
        }
        for run in [
            query(&[], &[]),
            query(&[], &[("SAASQL_CLUSTER_TOKEN", WRONG)]),
        ] {
            assert_eq!(run.code, 1, "{run:?}");
            let first = run.stderr.lines().next().unwrap_or_default();
            assert!(
                first.ends_with(&format!(
                    "cluster {}: missing or wrong cluster token (set the same SAASQL_CLUSTER_TOKEN \
                     or --token-file on the client, the scheduler and every executor)",
                    cluster.url
                )),
                "{run:?}"
            );
            assert!(
                !run.stderr.contains(TOKEN) && !run.stderr.contains(WRONG),
                "{run:?}"
            );
        }
        assert!(
            cluster.log("scheduler").contains(" DEBUG ")
                && cluster.log("executor0").contains(" DEBUG "),
            "no debug lines: {}",
            cluster.logs()
        );
        assert!(!cluster.logs().contains(TOKEN), "{}", cluster.logs());

        // An executor with the wrong token is refused and says so.
        let mut lonely = Cluster::scheduler(dir.join("lonely"), &[], &env);
        let scheduler = lonely.scheduler.clone();
        let wrong = [("SAASQL_CLUSTER_TOKEN", WRONG), ("RUST_LOG", "debug")];
        lonely.spawn(
            "executor",
            &["executor", "--scheduler", &scheduler, "--bind", "0"],
            &wrong,
        );
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = lonely.children[1].1.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "executor still running: {}",
                lonely.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(1), "{}", lonely.logs());
        let err = std::fs::read_to_string(lonely.dir.join("executor.err")).expect("log");
        assert!(
            err.contains(&format!(
                "saasql: error: executor: Execution error: scheduler {scheduler} refused this \
                 executor: missing or wrong cluster token"
            )),
            "{err}"
        );
        assert!(!err.contains(WRONG) && !err.contains(TOKEN), "{err}");
    }

    /// The scheduler and executors log a query's life at info level (the
    /// servers' default, `RUST_LOG=info` or `-v`): start-up, executors
    /// registering, the job submitted, its stages and the job completed or
    /// failed, each task; a task's error on an executor reaches the client
    /// as the same one-line error a local run shows; SIGTERM ends a server
    /// cleanly with a "shutting down" line.
    #[test]
    fn servers_log_the_life_of_a_query() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let data = data.to_str().expect("utf-8 path");
        let mut cluster = Cluster::scheduler(scratch("logs"), &[], &[("RUST_LOG", "info")]);
        cluster.executor("executor0", &["--data", data, "-v"], &[]);
        cluster.executor("executor1", &["--data", data], &[]);
        let args = ["--cluster", &cluster.url, "--data", data, "--format", "csv"];
        let local = ["--data", data, "--format", "csv"];

        cluster.wait_for("start-up lines", |c| {
            let scheduler = c.log("scheduler");
            scheduler.contains(&format!(
                "saasql scheduler {} listening on {}",
                env!("CARGO_PKG_VERSION"),
                c.scheduler
            )) && scheduler.matches(" registered: 127.0.0.1:").count() == 2
                && ["executor0", "executor1"].iter().all(|e| {
                    c.log(e).contains(&format!(
                        "saasql executor {} on 127.0.0.1:",
                        env!("CARGO_PKG_VERSION")
                    ))
                })
        });

        // Two stages: the GROUP BY's shuffle, then the final one.
        let sql = "SELECT plan, count(*) AS n FROM customers GROUP BY plan ORDER BY plan;";
        let run = saasql_bounded(&cluster.dir, &cluster.dir, &args, sql);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (0, ""),
            "{run:?}{}",
            cluster.logs()
        );
        let job_of = |log: &str, n: usize| -> String {
            log.split("Job submitted: [")
                .nth(n)
                .and_then(|rest| rest.split(']').next())
                .unwrap_or_else(|| panic!("job {n} not submitted: {log}"))
                .to_string()
        };
        cluster.wait_for("job completion", |c| {
            c.log("scheduler").contains(" completed in ")
        });
        let job = job_of(&cluster.log("scheduler"), 1);
        cluster.wait_for("the job's life", |c| {
            let log = c.log("scheduler");
            [
                format!("job {job} running"),
                format!("job {job} stage 2 running ("),
                format!("job {job} stage 1 completed in "),
                format!("job {job} stage 2 completed in "),
                format!("job {job} completed in "),
            ]
            .iter()
            .all(|line| log.contains(line.as_str()))
        });
        cluster.wait_for("executor task lines", |c| {
            let tasks = c.log("executor0") + &c.log("executor1");
            tasks.contains(&format!("job {job} stage 1 task "))
                && tasks.contains(&format!("job {job} stage 2 task "))
                && tasks.contains(" completed in ")
        });

        // A value out of range, computed on an executor.
        let sql = "SELECT nps(CASE WHEN score IS NULL THEN 0 ELSE 11 END) AS x FROM surveys;";
        let expected = saasql_bounded(&cluster.dir, &cluster.dir, &local, sql);
        assert_eq!(expected.code, 1, "{expected:?}");
        assert!(
            expected
                .stderr
                .contains("Execution error: nps: score 11 is outside 0..10"),
            "{expected:?}"
        );
        let run = saasql_bounded(&cluster.dir, &cluster.dir, &args, sql);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (1, expected.stderr.as_str()),
            "{}",
            cluster.logs()
        );
        cluster.wait_for("the failure in the logs", |c| {
            let log = c.log("scheduler");
            log.matches("Job submitted: [").count() == 2 && {
                let job = job_of(&log, 2);
                log.contains(&format!("job {job} failed after "))
                    && (c.log("executor0") + &c.log("executor1")).contains("failed after ")
                    && log.contains("nps: score 11 is outside 0..10")
            }
        });

        assert_eq!(
            cluster.terminate("executor1"),
            Some(0),
            "{}",
            cluster.logs()
        );
        assert!(
            cluster
                .log("executor1")
                .contains("executor shutting down (SIGTERM)"),
            "{}",
            cluster.logs()
        );
        assert_eq!(
            cluster.terminate("scheduler"),
            Some(0),
            "{}",
            cluster.logs()
        );
        assert!(
            cluster
                .log("scheduler")
                .contains("scheduler shutting down (SIGTERM)"),
            "{}",
            cluster.logs()
        );
    }

    #[test]
    fn cluster_results_equal_local() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = repo.join("data");
        let data = data.to_str().expect("utf-8 path");
        let cluster = Cluster::start(scratch("cluster"));
        let local = |args: &[&str], stdin: &str| {
            let mut all = vec!["--data", data, "--format", "csv"];
            all.extend_from_slice(args);
            saasql_bounded(repo, &cluster.dir, &all, stdin)
        };
        let remote = |args: &[&str], stdin: &str| {
            let mut all = vec!["--cluster", &cluster.url, "--data", data, "--format", "csv"];
            all.extend_from_slice(args);
            saasql_bounded(repo, &cluster.dir, &all, stdin)
        };

        let mut reports: Vec<PathBuf> = std::fs::read_dir(repo.join("sql"))
            .expect("read sql/")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        reports.sort();
        assert!(reports.len() >= 10, "{reports:?}");
        for report in &reports {
            let file = report.to_str().expect("utf-8 path");
            let expected = local(&["run", file], "");
            assert_eq!(
                (expected.code, expected.stderr.as_str()),
                (0, ""),
                "{file} locally"
            );
            let got = remote(&["run", file], "");
            assert_eq!(
                (got.code, got.stderr.as_str()),
                (0, ""),
                "{file} on the cluster:{}",
                cluster.logs()
            );
            assert_eq!(got.stdout, expected.stdout, "{file}: cluster vs local");
        }
        // The repository project's models expand in the plan the client
        // sends: executors need only the tables.
        let model = "SELECT count(*) AS n, round(sum(mrr), 2) AS mrr FROM mrr_by_month;";
        let got = remote(&[], model);
        assert_eq!((got.code, got.stderr.as_str()), (0, ""), "{got:?}");
        assert_eq!(got.stdout, local(&[], model).stdout);
        assert_eq!(got.stdout, "n,mrr\n1085,349156.03\n");

        // Settings are resolved on the client and travel with the plan.
        let scores = "SELECT customer_id, engagement_score(event_name) AS score \
                      FROM events GROUP BY customer_id ORDER BY customer_id;";
        let set = format!("SET saasql.engagement_weights = 'login:3';\n{scores}");
        let default_weights = remote(&[], scores);
        let expected = local(&[], &set);
        let got = remote(&[], &set);
        assert_eq!((got.code, got.stderr.as_str()), (0, ""), "{got:?}");
        assert_eq!(got.stdout, expected.stdout);
        assert_ne!(got.stdout, default_weights.stdout, "SET changed nothing");
    }
    /// A loopback cluster whose scheduler and executors get the bucket's
    /// credentials from their environment reads it: reports give the
    /// same bytes as locally, and a prefix outside --allow-path is refused.
    #[test]
    fn cluster_reads_a_bucket() {
        let s3 = super::storage::bucket();
        let owned = s3.env();
        let env: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cluster = Cluster::scheduler(scratch("cluster_s3"), &[], &env);
        for i in 0..2 {
            cluster.executor(
                &format!("executor{i}"),
                &["--allow-path", "s3://acme-exports/parquet"],
                &env,
            );
        }
        for name in ["overview", "churn", "engagement"] {
            let file = format!("sql/{name}.sql");
            let got = saasql_bounded_env(
                repo,
                &cluster.dir,
                &[
                    "--cluster",
                    &cluster.url,
                    "--data",
                    "s3://acme-exports/parquet",
                    "--format",
                    "csv",
                    "run",
                    &file,
                ],
                "",
                &env,
            );
            assert_eq!(
                (got.code, got.stderr.as_str()),
                (0, ""),
                "{file} on the cluster from the bucket:{}",
                cluster.logs()
            );
            let expected = std::fs::read_to_string(repo.join(format!("tests/expected/{name}.csv")))
                .expect("expected output");
            assert_eq!(
                got.stdout, expected,
                "{file}: cluster on the bucket vs expected"
            );
        }
        let got = saasql_bounded_env(
            repo,
            &cluster.dir,
            &[
                "--cluster",
                &cluster.url,
                "--data",
                "data",
                "--format",
                "csv",
                "run",
                "-",
            ],
            "SELECT count(*) FROM 's3://acme-exports/csv/tickets.csv';",
            &env,
        );
        assert_ne!(got.code, 0, "{got:?}");
        assert!(got.stderr.contains("outside the allowed paths"), "{got:?}");
    }

    /// A dead scheduler: the executor's failed polls for work (every 50 ms)
    /// are logged once per 10 s, not 20 times a second.
    #[test]
    fn a_dead_scheduler_does_not_flood_the_executor_log() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let data = data.to_str().expect("utf-8 path");
        let mut cluster = Cluster::scheduler(scratch("dead-scheduler"), &[], &[]);
        cluster.executor("executor0", &["--data", data], &[]);
        cluster.wait_for("the poll loop", |c| {
            c.log("executor0").contains("Starting poll work loop")
        });
        let (_, scheduler) = cluster
            .children
            .iter_mut()
            .find(|(n, _)| n == "scheduler")
            .expect("scheduler");
        scheduler.kill().expect("kill -9 the scheduler");
        let failed = |c: &Cluster| c.log("executor0").matches("poll work loop failed").count();
        cluster.wait_for("a failed poll", |c| failed(c) > 0);
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(failed(&cluster), 1, "{}", cluster.log("executor0"));
    }

    /// `kill -9` of the only executor while it runs a query: the client
    /// fails once the executor has missed its heartbeats (12 s) and
    /// `--timeout` has passed, naming the executor, instead of after
    /// Ballista's 180 s.
    #[test]
    fn a_lost_executor_fails_the_query_within_the_timeout() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let data = data.to_str().expect("utf-8 path");
        let mut cluster = Cluster::scheduler(scratch("lost-executor"), &[], &[]);
        let [flight, _] = cluster.executor("executor0", &["--data", data, "-vv"], &[]);
        let url = cluster.url.clone();
        // A self-join of every event by customer: long enough to be running
        // when the executor dies.
        let sql = "SELECT count(*) AS n FROM events a JOIN events b USING (customer_id)";
        cluster.spawn(
            "client",
            &[
                "--cluster",
                &url,
                "--data",
                data,
                "--timeout",
                "3",
                "-c",
                sql,
            ],
            &[],
        );
        cluster.wait_for("a running task", |c| {
            c.log("executor0").contains(") started")
        });
        std::thread::sleep(Duration::from_millis(500));
        let (_, executor) = cluster
            .children
            .iter_mut()
            .find(|(n, _)| n == "executor0")
            .expect("executor0");
        executor.kill().expect("kill -9 the executor");
        let killed = Instant::now();
        let (_, client) = cluster
            .children
            .iter_mut()
            .find(|(n, _)| n == "client")
            .expect("client");
        let status = loop {
            if let Some(status) = client.try_wait().expect("wait") {
                break status;
            }
            assert!(
                killed.elapsed() < LIMIT,
                "the client still waits {LIMIT:?} after the executor died"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let elapsed = killed.elapsed();
        let stderr = cluster.log("client");
        assert_eq!(status.code(), Some(1), "{stderr}");
        // 12 s to miss the heartbeats, 3 s of --timeout, probes and slack.
        assert!(elapsed < Duration::from_secs(30), "{elapsed:?}: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains(" error: "))
            .unwrap_or_default();
        assert!(
            line.contains(&format!("error: Execution error: cluster {url}: executor "))
                && line.contains(&format!(
                    " at 127.0.0.1:{flight} was lost (no heartbeat for "
                ))
                && line.ends_with(" s), and no other executor came within 3 s"),
            "{stderr}"
        );
    }
}

/// Every report in `sql/` runs on the bundled `data/` and prints exactly the
/// checked-in `tests/expected/<report>.csv`. The key figures were checked
/// against DuckDB plain SQL (`scripts/crosscheck.py`); `SAASQL_BLESS=1`
/// rewrites the files after an intended change (review the diff).
#[test]
fn every_report_matches_its_expected_output() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected_dir = repo.join("tests/expected");
    let mut reports: Vec<PathBuf> = std::fs::read_dir(repo.join("sql"))
        .expect("sql/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    reports.sort();
    assert!(reports.len() >= 10, "expected the shipped reports in sql/");
    let bless = std::env::var_os("SAASQL_BLESS").is_some();
    for report in reports {
        let name = report.file_stem().unwrap().to_str().unwrap().to_string();
        let rel = format!("sql/{name}.sql");
        let run = saasql_in(
            repo,
            &["--data", "data", "--format", "csv", "run", &rel],
            None,
        );
        assert_eq!(run.code, 0, "{rel} failed: {}", run.stderr);
        assert_eq!(run.stderr, "", "{rel} wrote to stderr");
        let path = expected_dir.join(format!("{name}.csv"));
        if bless {
            std::fs::create_dir_all(&expected_dir).unwrap();
            std::fs::write(&path, &run.stdout).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "{} missing: run SAASQL_BLESS=1 cargo test --test cli",
                path.display()
            )
        });
        assert_eq!(run.stdout, expected, "{rel} output changed");
    }
}

/// Copies the fixture's hive-partitioned `events/` to `to`.
fn storage_copy_fixture_events(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create dir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            if entry.path().is_dir() {
                copy(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
            }
        }
    }
    copy(&fixture().join("data/events"), to);
}

/// What a cluster's processes keep private (their work folders, the secret
/// files they read) and what a client is told when it cannot reach them.
mod cluster_trust {
    use std::net::TcpListener;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use super::cluster::{Cluster, free_ports, saasql_bounded};
    use super::{empty_dir, saasql_in, scratch, write_file};

    /// The permission bits of `path`.
    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    /// Without `--work-dir` an executor works in a new folder in `$TMPDIR`
    /// that only its user can read, and a clean stop removes it. A
    /// `--work-dir` it creates is its user's only; an existing one that
    /// others can read is used, with a warning.
    #[test]
    fn executor_work_folders_are_private() {
        let dir = scratch("work-folders");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("create tmp");
        let mut cluster = Cluster::scheduler(dir.join("cluster"), &[], &[]);
        let ports = free_ports(2);
        let (flight, grpc) = (ports[0].to_string(), ports[1].to_string());
        let scheduler = cluster.scheduler.clone();
        let args = [
            "executor",
            "--scheduler",
            &scheduler,
            "--bind",
            &flight,
            "--grpc-port",
            &grpc,
        ];
        let tmpdir = tmp.to_str().expect("utf-8 path");
        cluster.spawn("executor", &args, &[("TMPDIR", tmpdir)]);
        cluster.wait_for_port(ports[0]);
        let folders: Vec<PathBuf> = std::fs::read_dir(&tmp)
            .expect("read tmp")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("saasql-executor-"))
            })
            .collect();
        assert_eq!(folders.len(), 1, "{folders:?}: {}", cluster.logs());
        let work = &folders[0];
        assert_eq!(mode(work), 0o700, "{}", work.display());
        // Ballista works in it (and made no folder of its own).
        let used = format!("Executor working directory: {}", work.display());
        assert!(
            cluster.log("executor").contains(&used),
            "{}",
            cluster.logs()
        );
        assert_eq!(std::fs::read_dir(&tmp).expect("read tmp").count(), 1);
        assert_eq!(cluster.terminate("executor"), Some(0), "{}", cluster.logs());
        assert!(!work.exists(), "{} left behind", work.display());
        drop(cluster);

        // A fresh cluster: the helper fails when one of its processes exits.
        let mut cluster = Cluster::scheduler(dir.join("cluster2"), &[], &[]);
        let created = cluster.dir.join("created");
        cluster.executor("created", &[], &[]);
        assert_eq!(mode(&created), 0o700);
        assert!(!cluster.log("created").contains("readable by others"));

        let open = cluster.dir.join("open");
        std::fs::create_dir_all(&open).expect("create open");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        cluster.executor("open", &[], &[]);
        let warning = format!(
            "--work-dir {} is readable by others (mode 0755); chmod 700 it",
            open.display()
        );
        cluster.wait_for("work folder warning", |c| c.log("open").contains(&warning));
        assert_eq!(mode(&open), 0o755);
    }

    /// A `--token-file` or `--password-file` that other users can read gets
    /// one warning line naming it and its mode, never its contents; a file
    /// only its user can read gets none.
    #[test]
    fn secret_files_others_can_read_get_a_warning() {
        const SECRET: &str = "secret-file-test-0123456789abcdef";
        let dir = scratch("secret-modes");
        let file = write_file(&dir, "secret", &format!("{SECRET}\n"));
        let path = file.to_str().expect("utf-8 path");
        // A port that is taken, so each server stops right after reading
        // its secret.
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let busy = taken.local_addr().expect("local addr").to_string();
        let commands: [(&str, Vec<&str>); 2] = [
            (
                "--token-file",
                vec!["--token-file", path, "scheduler", "--bind", &busy],
            ),
            (
                "--password-file",
                vec![
                    "--data",
                    empty_dir(),
                    "serve",
                    "--postgres",
                    &busy,
                    "--password-file",
                    path,
                ],
            ),
        ];
        for mode in [0o644, 0o640, 0o604, 0o600, 0o400] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            for (option, args) in &commands {
                let run = saasql_in(&dir, args, None);
                assert_ne!(run.code, 0, "the port is taken: {run:?}");
                let warnings: Vec<&str> = run
                    .stderr
                    .lines()
                    .filter(|line| line.contains("readable by others"))
                    .collect();
                if mode & 0o044 != 0 {
                    let warning = format!(
                        "{option} {path} is readable by others (mode {mode:04o}); chmod 600 it"
                    );
                    assert_eq!(warnings.len(), 1, "{run:?}");
                    assert!(warnings[0].ends_with(&warning), "{run:?}");
                } else {
                    assert!(warnings.is_empty(), "{run:?}");
                }
                assert!(!run.stderr.contains(SECRET), "{run:?}");
            }
        }
    }

    /// With no scheduler listening, a cluster query fails at once with one
    /// line that names the scheduler's address and the cause.
    #[test]
    fn unreachable_scheduler_is_one_line() {
        let dir = scratch("no-scheduler");
        write_file(&dir, "q.sql", "SELECT 1 AS x;\n");
        let port = free_ports(1)[0];
        let url = format!("df://127.0.0.1:{port}");
        let args = ["--cluster", &url, "--data", empty_dir(), "run", "q.sql"];
        let run = saasql_bounded(&dir, &dir, &args, "");
        assert_eq!(run.code, 1, "{run:?}");
        // The error, then the statement it stopped at.
        assert_eq!(
            run.stderr,
            format!(
                "q.sql:1: error: Execution error: cluster {url}: cannot reach the scheduler \
                 at 127.0.0.1:{port}: connection refused\n  | SELECT 1 AS x\n"
            ),
            "{run:?}"
        );
        assert_eq!(run.stdout, "", "{run:?}");
    }
}

/// Object storage: an S3-compatible server (s3s-fs, in this test process)
/// on 127.0.0.1 serves a bucket holding the bundled sample data and CSV
/// copies of it; every report gives the same bytes as on local files, and
/// each way a bucket can fail gets one line and exit code 3.
mod storage {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use super::{Run, root, saasql_env, saasql_in, scratch};

    pub const KEY: &str = "saasql-test-key";
    pub const SECRET: &str = "saasql-test-secret-f00d";

    /// The running server: its address and the folder it serves (bucket
    /// `B` is folder `ROOT/B`).
    pub struct S3 {
        pub addr: SocketAddr,
        pub root: PathBuf,
    }

    impl S3 {
        pub fn endpoint(&self) -> String {
            format!("http://{}", self.addr)
        }

        /// The environment a client needs (credentials and endpoint).
        pub fn env(&self) -> Vec<(&'static str, String)> {
            vec![
                ("AWS_ACCESS_KEY_ID", KEY.to_string()),
                ("AWS_SECRET_ACCESS_KEY", SECRET.to_string()),
                ("AWS_REGION", "us-east-1".to_string()),
                ("AWS_ENDPOINT_URL", self.endpoint()),
                ("AWS_ALLOW_HTTP", "true".to_string()),
            ]
        }
    }

    /// The server, started once per test binary on its own runtime thread.
    pub fn s3() -> &'static S3 {
        static S3: OnceLock<S3> = OnceLock::new();
        S3.get_or_init(|| {
            let root = scratch("s3");
            let (tx, rx) = std::sync::mpsc::channel();
            let served = root.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind");
                    tx.send(listener.local_addr().expect("addr")).expect("send");
                    let fs = s3s_fs::FileSystem::new(&served).expect("s3s-fs");
                    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
                    builder.set_auth(s3s::auth::SimpleAuth::from_single(KEY, SECRET));
                    let service = builder.build();
                    let http = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    loop {
                        let Ok((socket, _)) = listener.accept().await else {
                            continue;
                        };
                        let conn = http
                            .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                            .into_owned();
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                });
            });
            let addr = rx.recv().expect("the S3 server starts");
            S3 { addr, root }
        })
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create dir");
        for entry in std::fs::read_dir(from).expect("read dir") {
            let entry = entry.expect("entry");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }

    /// Bucket `acme-exports` with the sample data under `parquet/`, CSV
    /// copies under `csv/` and JSON-lines copies under `json/` (made once).
    pub fn bucket() -> &'static S3 {
        static READY: OnceLock<()> = OnceLock::new();
        let s3 = s3();
        READY.get_or_init(|| {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
            let bucket = s3.root.join("acme-exports");
            copy_dir(&repo.join("data"), &bucket.join("parquet"));
            std::fs::remove_file(bucket.join("parquet/README.md")).expect("no README");
            let csv = bucket.join("csv");
            std::fs::create_dir_all(&csv).expect("csv dir");
            let json = bucket.join("json");
            std::fs::create_dir_all(&json).expect("json dir");
            let copies: String = [
                "customers",
                "events",
                "invoices",
                "subscriptions",
                "surveys",
                "tickets",
                "subscription_items",
                "fx_rates",
            ]
            .iter()
            .map(|t| {
                format!(
                    "COPY (SELECT * FROM {t}) TO '{}' STORED AS CSV OPTIONS ('format.has_header' 'true');\n\
                     COPY (SELECT * FROM {t}) TO '{}' STORED AS JSON;\n",
                    csv.join(format!("{t}.csv")).display(),
                    json.join(format!("{t}.json")).display()
                )
            })
            .collect();
            let run = saasql_in(repo, &["--data", "data", "run", "-"], Some(&copies));
            assert_eq!(run.code, 0, "CSV copies: {run:?}");
            std::fs::create_dir_all(s3.root.join("reports")).expect("reports bucket");
        });
        s3
    }

    fn run_with(s3_env: &[(&'static str, String)], args: &[&str], stdin: Option<&str>) -> Run {
        run_in(Path::new(env!("CARGO_MANIFEST_DIR")), s3_env, args, stdin)
    }

    /// `saasql ARGS` in `dir` with the environment `s3_env`.
    fn run_in(
        dir: &Path,
        s3_env: &[(&'static str, String)],
        args: &[&str],
        stdin: Option<&str>,
    ) -> Run {
        let env: Vec<(&str, &str)> = s3_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        saasql_env(dir, args, &env, stdin)
    }

    fn reports() -> Vec<String> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut reports: Vec<String> = std::fs::read_dir(repo.join("sql"))
            .expect("sql/ exists")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
            .collect();
        reports.sort();
        reports
    }

    #[test]
    fn reports_match_on_a_bucket() {
        let s3 = bucket();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for prefix in ["parquet", "csv", "json"] {
            let data = format!("s3://acme-exports/{prefix}");
            for name in reports() {
                let rel = format!("sql/{name}.sql");
                let run = run_with(
                    &s3.env(),
                    &["--data", &data, "--format", "csv", "run", &rel],
                    None,
                );
                assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{rel} on {data}");
                let expected =
                    std::fs::read_to_string(repo.join(format!("tests/expected/{name}.csv")))
                        .expect("expected output");
                assert_eq!(run.stdout, expected, "{rel} on {data}");
            }
        }
    }

    /// Settings from a config file's `[storage.s3]` (secret from a file),
    /// `SET s3.*`, URL tables, `CREATE EXTERNAL TABLE`, `COPY … TO` and
    /// `run --output` on the bucket; secrets appear nowhere.
    #[test]
    fn config_set_tables_and_outputs_on_a_bucket() {
        let s3 = bucket();
        let dir = scratch("s3_config");
        std::fs::write(dir.join("secret"), format!("{SECRET}\n")).expect("secret file");
        std::fs::write(
            dir.join("saasql.toml"),
            format!(
                "[tables]\nevents = \"s3://acme-exports/parquet/events/\"\n\n\
                 [storage.s3]\nregion = \"us-east-1\"\nendpoint = \"{}\"\nallow_http = true\n\
                 access_key_id = \"{KEY}\"\nsecret_access_key_file = \"secret\"\n",
                s3.endpoint()
            ),
        )
        .expect("config");
        let config = dir.join("saasql.toml");
        let config = config.to_str().expect("utf-8");
        let sql = "SELECT count(*) AS n FROM events;\n\
                   SELECT count(*) AS n FROM 's3://acme-exports/csv/customers.csv';\n\
                   CREATE EXTERNAL TABLE inv STORED AS PARQUET LOCATION 's3://acme-exports/parquet/invoices.parquet';\n\
                   SELECT count(*) AS n FROM inv;\n\
                   COPY (SELECT customer_id FROM inv LIMIT 3) TO 's3://reports/copied.parquet' STORED AS PARQUET;\n\
                   SELECT count(*) AS n FROM 's3://reports/copied.parquet';\n\
                   SHOW ALL;\n";
        let empty = root().join("no-data");
        std::fs::create_dir_all(&empty).expect("empty dir");
        // Outside the repository's project: its models need its tables.
        let run = run_in(
            root(),
            &[],
            &[
                "--config",
                config,
                "--data",
                empty.to_str().expect("utf-8"),
                "--format",
                "csv",
                "run",
                "-",
            ],
            Some(sql),
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert!(!run.stdout.contains(SECRET), "secret shown: {}", run.stdout);
        let counts: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
            .collect();
        assert_eq!(counts.len(), 4, "{}", run.stdout);
        assert_eq!(counts[3], "3", "{}", run.stdout);
        assert!(s3.root.join("reports/copied.parquet").is_file());

        // Hive-partitioned prefixes and globs work as they do locally.
        super::storage_copy_fixture_events(&s3.root.join("acme-exports/hive/events"));
        let by_month = "SELECT month, count(*) AS n FROM @T GROUP BY month ORDER BY month;\n\
                        SELECT count(*) AS n FROM @G;\n";
        let local_events = super::fixture().join("data/events/");
        let local = by_month
            .replace("@T", &format!("'{}'", local_events.display()))
            .replace(
                "@G",
                &format!("'{}/data/events/*.parquet'", env!("CARGO_MANIFEST_DIR")),
            );
        let remote = by_month
            .replace("@T", "'s3://acme-exports/hive/events/'")
            .replace("@G", "'s3://acme-exports/parquet/events/*.parquet'");
        let want = run_with(
            &[],
            &["--data", "data", "--format", "csv", "run", "-"],
            Some(&local),
        );
        let got = run_with(
            &s3.env(),
            &["--data", "data", "--format", "csv", "run", "-"],
            Some(&remote),
        );
        assert_eq!(want.code, 0, "{want:?}");
        assert_eq!(
            (got.code, got.stdout.as_str()),
            (0, want.stdout.as_str()),
            "{got:?}"
        );
        assert!(want.stdout.contains("2025-04,1"), "{want:?}");

        // `run --output URL` uploads the finished file.
        let run = run_with(
            &s3.env(),
            &[
                "--data",
                "data",
                "--format",
                "csv",
                "run",
                "--output",
                "s3://reports/overview.csv",
                "sql/overview.sql",
            ],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            std::fs::read_to_string(s3.root.join("reports/overview.csv")).expect("uploaded"),
            std::fs::read_to_string(repo.join("tests/expected/overview.csv")).expect("expected")
        );

        // A batch job reads a bucket; its outputs are local paths.
        std::fs::write(
            dir.join("job.toml"),
            "[inputs]\ninv = \"s3://acme-exports/csv/invoices.csv\"\n\n[[outputs]]\n\
             name = \"n\"\nsql = \"SELECT count(*) AS n FROM inv\"\npath = \"out/n.csv\"\n\
             format = \"csv\"\n",
        )
        .expect("job");
        let run = run_in(
            &dir,
            &s3.env(),
            &[
                "--data",
                empty.to_str().expect("utf-8"),
                "batch",
                "job.toml",
            ],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        let local = run_with(
            &[],
            &["--data", "data", "--format", "csv", "run", "-"],
            Some("SELECT count(*) AS n FROM invoices;"),
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("out/n.csv")).expect("n.csv"),
            local.stdout
        );
        // Batch outputs to a bucket: a file and a partitioned folder, the
        // same bytes as the same job writing local paths.
        let job = |prefix: &str| {
            format!(
                "[inputs]\ninv = \"s3://acme-exports/csv/invoices.csv\"\n\n\
                 [[outputs]]\nname = \"n\"\nsql = \"SELECT count(*) AS n FROM inv\"\n\
                 path = \"{prefix}n.csv\"\nformat = \"csv\"\n\n\
                 [[outputs]]\nname = \"by_status\"\n\
                 sql = \"SELECT status, customer_id, amount FROM inv ORDER BY invoice_id\"\n\
                 path = \"{prefix}by_status\"\nformat = \"csv\"\npartition_by = [\"status\"]\n"
            )
        };
        std::fs::write(dir.join("to_bucket.toml"), job("s3://reports/batch/")).expect("job");
        std::fs::write(dir.join("to_local.toml"), job("local/")).expect("job");
        let batch = |file: &str| {
            run_in(
                &dir,
                &s3.env(),
                &["--data", empty.to_str().expect("utf-8"), "batch", file],
                None,
            )
        };
        for file in ["to_bucket.toml", "to_local.toml"] {
            let run = batch(file);
            assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{file}");
        }
        let uploaded = s3.root.join("reports/batch");
        let tree = |root: &Path| {
            let mut files = vec![];
            let mut stack = vec![root.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).expect("read dir") {
                    let p = e.expect("entry").path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                        let rel = p.strip_prefix(root).unwrap().to_path_buf();
                        let folder = rel.parent().unwrap().display().to_string();
                        files.push((folder, std::fs::read_to_string(&p).expect("file")));
                    }
                }
            }
            files.sort();
            files
        };
        assert_eq!(
            std::fs::read_to_string(uploaded.join("n.csv")).expect("n.csv"),
            std::fs::read_to_string(dir.join("local/n.csv")).expect("n.csv")
        );
        let first = tree(&uploaded.join("by_status"));
        assert!(first.len() >= 2, "{first:?}");
        assert_eq!(first, tree(&dir.join("local/by_status")));
        // A rerun replaces the folder's files rather than adding to them.
        let run = batch("to_bucket.toml");
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(tree(&uploaded.join("by_status")), first);
        // A folder holding something else is refused before anything is
        // uploaded; an output overlapping an input is refused.
        std::fs::write(uploaded.join("by_status/notes.txt"), "keep").expect("foreign file");
        std::fs::remove_file(uploaded.join("n.csv")).expect("remove");
        let run = batch("to_bucket.toml");
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("refusing to replace the folder s3://reports/batch/by_status")
                && run.stderr.contains("notes.txt"),
            "{run:?}"
        );
        assert!(!uploaded.join("n.csv").exists());
        std::fs::write(
            dir.join("overlap.toml"),
            "[inputs]\ninv = \"s3://acme-exports/csv/invoices.csv\"\n\n[[outputs]]\n\
             name = \"n\"\nsql = \"SELECT 1 AS n\"\npath = \"s3://acme-exports/csv\"\n\
             format = \"csv\"\n",
        )
        .expect("job");
        let run = batch("overlap.toml");
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("overlaps the input s3://acme-exports/csv/invoices.csv"),
            "{run:?}"
        );

        // SET s3.endpoint applies to the next query; secrets cannot be SET.
        let mut env = s3.env();
        env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
        let sql = format!(
            "SET s3.endpoint = '{}';\nSELECT count(*) AS n FROM 's3://acme-exports/parquet/tickets.parquet';\n",
            s3.endpoint()
        );
        let run = run_with(
            &env,
            &["--data", "data", "--format", "csv", "run", "-"],
            Some(&sql),
        );
        assert_eq!(run.code, 0, "{run:?}");
        let run = run_with(
            &env,
            &["--data", "data", "run", "-"],
            Some("SET s3.secret_access_key = 'hunter2-top-secret';\n"),
        );
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("cannot be SET"), "{run:?}");
        assert!(!run.stderr.contains("hunter2"), "{run:?}");
    }

    /// Exit 3 and one line saying what failed (followed, for a statement,
    /// by the statement itself).
    #[track_caller]
    fn assert_fails(run: &Run, expect: &str) {
        assert_eq!(run.code, 3, "{run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(
            lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("  | ")),
            "one line: {run:?}"
        );
        assert!(lines[0].contains(expect), "expected {expect:?}: {run:?}");
        for bad in [
            "Internal error",
            "bug in DataFusion",
            "DataFusion error",
            SECRET,
            "<?xml",
        ] {
            assert!(!run.stderr.contains(bad), "{bad:?} in {run:?}");
        }
    }

    #[test]
    fn bucket_errors_are_one_line_with_exit_3() {
        let s3 = bucket();
        let query = |table: &str| format!("SELECT count(*) FROM '{table}';\n");
        let env = s3.env();
        let run = run_with(
            &env,
            &["--data", "data", "run", "-"],
            Some(&query("ftp://host/x.parquet")),
        );
        assert_fails(&run, "unknown scheme 'ftp://'");
        let run = run_with(
            &env,
            &["--data", "s3://no-such-bucket/x", "run", "-"],
            Some("SELECT 1;"),
        );
        assert_fails(&run, "no-such-bucket");
        let run = run_with(
            &env,
            &["--data", "data", "run", "-"],
            Some(&query("s3://acme-exports/parquet/nope.parquet")),
        );
        assert_fails(&run, "nope.parquet");
        // Wrong secret.
        let mut wrong = env.clone();
        wrong.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
        wrong.push(("AWS_SECRET_ACCESS_KEY", "wrong-secret".into()));
        let run = run_with(
            &wrong,
            &["--data", "data", "run", "-"],
            Some(&query("s3://acme-exports/parquet/tickets.parquet")),
        );
        assert_fails(&run, "access denied: the credentials were refused");
        assert!(!run.stderr.contains("wrong-secret"), "{run:?}");
        // No credentials at all.
        let none: Vec<(&'static str, String)> = env
            .iter()
            .filter(|(k, _)| !k.contains("KEY"))
            .cloned()
            .collect();
        let run = run_with(
            &none,
            &["--data", "data", "run", "-"],
            Some(&query("s3://acme-exports/parquet/tickets.parquet")),
        );
        assert_fails(&run, "no credentials");
        // An endpoint nobody listens on: fails soon, not hangs.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let mut unreachable = env.clone();
        unreachable.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
        unreachable.push(("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")));
        let started = Instant::now();
        let run = run_with(
            &unreachable,
            &["--data", "s3://acme-exports/parquet", "run", "-"],
            Some("SELECT 1;"),
        );
        assert_fails(&run, "cannot reach");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
        // A table in the config that cannot be read: a warning at start,
        // and the query that uses it fails with exit 3.
        let dir = scratch("s3_bad_table");
        std::fs::write(
            dir.join("c.toml"),
            "[tables]\ngone = \"s3://acme-exports/parquet/gone/\"\n",
        )
        .expect("config");
        let config = dir.join("c.toml");
        let run = run_with(
            &env,
            &[
                "--config",
                config.to_str().expect("utf-8"),
                "--data",
                "data",
                "run",
                "-",
            ],
            Some("SELECT count(*) FROM gone;\n"),
        );
        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            run.stderr.contains("s3://acme-exports/parquet/gone/"),
            "{run:?}"
        );
    }
}

/// Postgres tables (`postgres://…?table=…`) against a real PostgreSQL
/// started by each test on 127.0.0.1 with password (SCRAM) authentication:
/// a report joining a Postgres table with Parquet tables gives the same
/// bytes as on Parquet alone, passwords come from `PGPASSWORD` or a
/// `.pgpass` file and never show, and every failure is one line, exit 3.
#[cfg(feature = "postgres")]
mod postgres {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{Run, root, saasql_in, scratch};

    const USER: &str = "saasql";
    const PASSWORD: &str = "pg-Secret-7319";
    const DB: &str = "billing";

    /// A PostgreSQL server in a temporary folder; dropping it stops the
    /// server (also when the test panics) and removes the folder.
    struct Server {
        bin: PathBuf,
        port: u16,
        /// Run the server's tools as user `postgres` (PostgreSQL refuses
        /// to run as root).
        as_postgres: bool,
        dir: tempfile::TempDir,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let data = self.dir.path().join("data");
            let _ = self
                .tool("pg_ctl")
                .args(["-D", path_str(&data), "stop", "-m", "immediate"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    fn path_str(path: &Path) -> &str {
        path.to_str().expect("utf-8 path")
    }

    /// The folder of `initdb` and `pg_ctl`: the newest
    /// `/usr/lib/postgresql/*/bin`, else the one on `PATH`.
    fn postgres_bin() -> PathBuf {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .collect();
        versions.sort();
        if let Some((_, bin)) = versions.pop() {
            return bin;
        }
        let on_path = std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()));
        on_path.unwrap_or_else(|| {
            panic!(
                "initdb not found (in /usr/lib/postgresql/*/bin or on PATH): the Postgres \
                 tests need PostgreSQL's server (apt-get install postgresql)"
            )
        })
    }

    /// A port nothing listens on (now).
    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }

    fn check(what: &str, out: std::process::Output) {
        assert!(
            out.status.success(),
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    impl Server {
        /// initdb, then start on 127.0.0.1:PORT (socket in the folder) with
        /// SCRAM password authentication over TCP for superuser `saasql`,
        /// and create database `billing`.
        fn start() -> Server {
            Server::start_with(None)
        }

        /// `start`, with TLS from the certificate and key files `tls` (and
        /// connections logged, with their TLS protocol).
        fn start_with(tls: Option<(&Path, &Path)>) -> Server {
            let bin = postgres_bin();
            let as_postgres = std::fs::metadata("/proc/self").expect("/proc").uid() == 0;
            let dir = tempfile::Builder::new()
                .prefix("saasql-pg-")
                .tempdir()
                .expect("temporary folder");
            let pwfile = dir.path().join("pwfile");
            std::fs::write(&pwfile, format!("{PASSWORD}\n")).expect("write pwfile");
            let mut ssl = String::new();
            if let Some((cert, key)) = tls {
                let (to_cert, to_key) =
                    (dir.path().join("server.crt"), dir.path().join("server.key"));
                std::fs::copy(cert, &to_cert).expect("copy the certificate");
                std::fs::copy(key, &to_key).expect("copy the key");
                std::fs::set_permissions(&to_key, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod");
                ssl = format!(
                    " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={} -c log_connections=on",
                    path_str(&to_cert),
                    path_str(&to_key)
                );
            }
            if as_postgres {
                let out = Command::new("chown")
                    .args(["-R", "postgres:", path_str(dir.path())])
                    .output()
                    .expect("chown runs");
                check("chown", out);
            }
            let server = Server {
                bin,
                port: free_port(),
                as_postgres,
                dir,
            };
            let data = server.dir.path().join("data");
            let out = server
                .tool("initdb")
                .args(["-D", path_str(&data), "-U", USER])
                .arg(format!("--pwfile={}", path_str(&pwfile)))
                .args([
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ])
                .output()
                .expect("initdb runs");
            check("initdb", out);
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off{ssl}",
                server.port,
                path_str(server.dir.path())
            );
            let log = server.dir.path().join("log");
            let out = server
                .tool("pg_ctl")
                .args([
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-w",
                    "-t",
                    "60",
                ])
                .args(["-o", &options, "start"])
                .output()
                .expect("pg_ctl runs");
            if !out.status.success() {
                panic!(
                    "pg_ctl start failed: {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            server.psql("postgres", &format!("CREATE DATABASE {DB}"));
            server
        }

        /// One of the server's programs, as user `postgres` when we are root.
        fn tool(&self, name: &str) -> Command {
            let program = self.bin.join(name);
            if self.as_postgres {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(program);
                cmd.current_dir("/");
                cmd
            } else {
                Command::new(program)
            }
        }

        /// Runs `sql` with psql over the server's socket (trusted).
        fn psql(&self, db: &str, sql: &str) {
            let psql = self.bin.join("psql");
            let program = if psql.is_file() {
                psql
            } else {
                PathBuf::from("psql")
            };
            let out = Command::new(program)
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
                .args(["-h", path_str(self.dir.path())])
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    USER,
                    "-d",
                    db,
                    "-c",
                    sql,
                ])
                .env_remove("PGPASSWORD")
                .output()
                .expect("psql runs");
            check(&format!("psql -c {sql}"), out);
        }

        /// The server's log.
        fn log(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        }

        /// The location of `table` in database `billing`.
        fn url(&self, table: &str) -> String {
            format!(
                "postgres://{USER}@127.0.0.1:{}/{DB}?table={table}",
                self.port
            )
        }

        /// Loads the sample `invoices` (from the repository's Parquet, as
        /// CSV written by saasql) into `public.invoices`.
        fn load_invoices(&self) {
            let csv = self.dir.path().join("invoices.csv");
            let run = saasql_in(
                repo(),
                &[
                    "--data",
                    "data",
                    "--format",
                    "csv",
                    "-c",
                    "SELECT * FROM invoices ORDER BY invoice_id",
                ],
                None,
            );
            assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
            std::fs::write(&csv, &run.stdout).expect("write csv");
            self.psql(
                DB,
                "CREATE TABLE public.invoices (
                    invoice_id bigint PRIMARY KEY,
                    customer_id bigint NOT NULL,
                    subscription_id bigint NOT NULL,
                    period_start timestamptz NOT NULL,
                    period_end timestamptz NOT NULL,
                    amount double precision NOT NULL,
                    currency text NOT NULL,
                    status text NOT NULL,
                    paid_at timestamptz
                )",
            );
            self.psql(
                DB,
                &format!(
                    "\\copy public.invoices FROM '{}' WITH (FORMAT csv, HEADER true)",
                    path_str(&csv)
                ),
            );
        }
    }

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// Runs `saasql ARGS` in `dir` with `env` on top of a clean Postgres
    /// environment (no PGPASSWORD, PGUSER or ~/.pgpass of the machine), and
    /// how long it took.
    fn saasql_env(dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (Run, Duration) {
        let started = Instant::now();
        let mut cmd = Command::new(super::BIN);
        cmd.args(args)
            .current_dir(dir)
            .env("XDG_CONFIG_HOME", root())
            .env_remove("SAASQL_DATA")
            .env_remove("SAASQL_CONFIG")
            .env_remove("PGPASSWORD")
            .env_remove("PGUSER")
            .env_remove("PGCONNECT_TIMEOUT")
            .env_remove("PGSSLROOTCERT")
            .env_remove("PGSSLMODE")
            .env("PGPASSFILE", root().join("no-such-pgpass"));
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("saasql starts");
        let mut input = child.stdin.take().expect("stdin is piped");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        let out = child.wait_with_output().expect("saasql runs");
        let run = Run {
            code: out.status.code().expect("saasql exits normally"),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        };
        (run, started.elapsed())
    }

    /// The lines of stderr that are not the failing statement shown under
    /// an error (`  | …`).
    fn message_lines(run: &Run) -> Vec<&str> {
        run.stderr
            .lines()
            .filter(|l| !l.starts_with("  | "))
            .collect()
    }

    /// A config file in `dir` naming `invoices` at `location`.
    fn config(dir: &Path, name: &str, location: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, format!("[tables]\ninvoices = \"{location}\"\n")).expect("write");
        path_str(&path).to_string()
    }

    /// Revenue per plan (invoices) next to engagement per plan (events),
    /// and one customer's invoices row by row.
    const REPORT: &str = "
        WITH revenue AS (
            SELECT c.plan, count(DISTINCT i.customer_id) AS paying,
                   round(sum(i.amount), 2) AS paid, round(arpa(i.amount, i.customer_id), 2) AS arpa
            FROM invoices i JOIN customers c USING (customer_id)
            WHERE i.status = 'paid' AND i.paid_at >= TIMESTAMP '2025-03-01'
            GROUP BY c.plan
        ),
        engagement AS (
            SELECT c.plan, round(avg(s.score), 1) AS avg_score,
                   count(*) FILTER (WHERE engagement_tier(s.score) = 'highly_engaged') AS highly_engaged
            FROM (SELECT customer_id, engagement_score(event_name) AS score
                  FROM events GROUP BY customer_id) s
            JOIN customers c USING (customer_id)
            GROUP BY c.plan
        )
        SELECT r.plan, r.paying, r.paid, r.arpa, e.avg_score, e.highly_engaged
        FROM revenue r JOIN engagement e USING (plan)
        ORDER BY r.plan;
        SELECT invoice_id, subscription_id, period_start, period_end, amount, currency, status, paid_at
        FROM invoices WHERE customer_id = 7 ORDER BY invoice_id;
        SELECT count(*) AS invoices FROM invoices;
        SELECT count(*) AS big FROM invoices WHERE to_mrr(amount, 'year') > 100 AND currency < 'V';
    ";

    /// The same report on Postgres `invoices` (joined with Parquet
    /// `customers` and `events`) as on Parquet only, byte for byte, with the
    /// password from PGPASSWORD or from a `.pgpass` file; filters are
    /// pushed into the SQL Postgres runs; `CREATE EXTERNAL TABLE … STORED
    /// AS POSTGRES` works too.
    #[test]
    fn postgres_table_joins_parquet_tables() {
        let server = Server::start();
        server.load_invoices();
        let dir = scratch("postgres-join");
        let report = dir.join("report.sql");
        std::fs::write(&report, REPORT).expect("write report");
        let report = path_str(&report);
        let parquet = saasql_in(
            repo(),
            &["--data", "data", "--format", "csv", "run", report],
            None,
        );
        assert_eq!(
            (parquet.code, parquet.stderr.as_str()),
            (0, ""),
            "{parquet:?}"
        );
        assert!(parquet.stdout.lines().count() >= 8, "{parquet:?}");
        assert!(parquet.stdout.contains("paid_at"), "{parquet:?}");

        // sslmode=prefer (the default) falls back to plain TCP here.
        let cfg = config(&dir, "pg.toml", &server.url("public.invoices"));
        let args = [
            "--data", "data", "--config", &cfg, "--format", "csv", "run", report,
        ];
        let (run, _) = saasql_env(repo(), &args, "", &[("PGPASSWORD", PASSWORD)]);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        assert_eq!(run.stdout, parquet.stdout, "Postgres invoices vs Parquet");

        // The password from a .pgpass file (libpq's format, mode 0600).
        let pgpass = dir.join("pgpass");
        std::fs::write(
            &pgpass,
            format!(
                "# test server\nother:5432:*:{USER}:nope\n127.0.0.1:{}:{DB}:{USER}:{PASSWORD}\n",
                server.port
            ),
        )
        .expect("write pgpass");
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let (run, _) = saasql_env(repo(), &args, "", &[("PGPASSFILE", path_str(&pgpass))]);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        assert_eq!(run.stdout, parquet.stdout, "with the password from .pgpass");

        // Like libpq, a password file others may read is ignored, with a warning.
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (run, _) = saasql_env(
            repo(),
            &[
                "--data",
                "data",
                "--config",
                &cfg,
                "-c",
                "SELECT count(*) FROM invoices",
            ],
            "",
            &[("PGPASSFILE", path_str(&pgpass))],
        );
        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            run.stderr.contains("has group or world access")
                && run.stderr.contains("the server asks for a password"),
            "{run:?}"
        );
        assert!(!run.stderr.contains(PASSWORD), "{run:?}");

        // Projection and filter pushdown: Postgres runs the WHERE.
        let (run, _) = saasql_env(
            repo(),
            &[
                "--data",
                "data",
                "--config",
                &cfg,
                "-c",
                "EXPLAIN SELECT invoice_id FROM invoices WHERE customer_id = 7 AND status = 'paid'",
            ],
            "",
            &[("PGPASSWORD", PASSWORD)],
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        let pushed = run
            .stdout
            .lines()
            .find(|l| l.contains("SqlExec sql=SELECT"))
            .unwrap_or_else(|| panic!("no SqlExec in {run:?}"));
        assert!(
            pushed.contains("WHERE") && pushed.contains("customer_id") && pushed.contains("paid"),
            "{pushed}"
        );
        assert!(!pushed.contains("period_start"), "projection: {pushed}");
        // A saasql function, or text order (the database's collation), stays
        // in saasql.
        let (run, _) = saasql_env(
            repo(),
            &[
                "--data",
                "data",
                "--config",
                &cfg,
                "-c",
                "EXPLAIN SELECT invoice_id FROM invoices WHERE to_mrr(amount, 'year') > 100 AND currency < 'V' AND customer_id = 7",
            ],
            "",
            &[("PGPASSWORD", PASSWORD)],
        );
        let pushed = run
            .stdout
            .lines()
            .find(|l| l.contains("SqlExec sql=SELECT"))
            .unwrap_or_else(|| panic!("no SqlExec in {run:?}"));
        assert!(
            pushed.contains("customer_id") && !pushed.contains("to_mrr") && !pushed.contains("'V'"),
            "{pushed}"
        );

        // CREATE EXTERNAL TABLE … STORED AS POSTGRES.
        let count = "SELECT count(*) AS n, round(sum(amount), 2) AS total FROM {t};";
        let parquet = saasql_in(
            repo(),
            &[
                "--data",
                "data",
                "--format",
                "csv",
                "-c",
                &count.replace("{t}", "invoices"),
            ],
            None,
        );
        assert_eq!(parquet.code, 0, "{parquet:?}");
        let sql = format!(
            "CREATE EXTERNAL TABLE inv STORED AS POSTGRES LOCATION '{}';\n{}",
            server.url("public.invoices"),
            count.replace("{t}", "inv")
        );
        let (run, _) = saasql_env(
            repo(),
            &["--data", "data", "--format", "csv", "run", "-"],
            &sql,
            &[("PGPASSWORD", PASSWORD)],
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        assert_eq!(run.stdout, parquet.stdout, "{run:?}");
    }

    /// Every way a Postgres table can fail is one line naming the location
    /// (never a password), exit 3: wrong password, no password, missing
    /// table or database, a password in the URL, no server, --cluster.
    #[test]
    fn postgres_failures_are_one_line_errors() {
        let server = Server::start();
        server.psql(DB, "CREATE TABLE public.invoices (invoice_id bigint)");
        let dir = scratch("postgres-errors");
        const WRONG: &str = "Wrong-Pass-8842";
        let query = "SELECT count(*) FROM invoices;";
        let create = |location: &str| {
            format!("CREATE EXTERNAL TABLE inv STORED AS POSTGRES LOCATION '{location}';")
        };
        let shown = format!("postgres://{USER}@127.0.0.1:{}/{DB}", server.port);
        let no_leak = |run: &Run| {
            for secret in [PASSWORD, WRONG] {
                assert!(
                    !run.stderr.contains(secret) && !run.stdout.contains(secret),
                    "password shown: {run:?}"
                );
            }
            assert!(
                !run.stderr.contains("Internal error") && !run.stderr.contains("bug"),
                "{run:?}"
            );
        };
        // A table from the config: one warning at start, one error for the query.
        let config_run = |location: &str, env: &[(&str, &str)]| {
            let cfg = config(&dir, "bad.toml", location);
            let (run, took) = saasql_env(
                &dir,
                &[
                    "--data",
                    &dir.display().to_string(),
                    "--config",
                    &cfg,
                    "run",
                    "-",
                ],
                query,
                env,
            );
            no_leak(&run);
            assert_eq!(run.code, 3, "{run:?}");
            let lines = message_lines(&run);
            assert_eq!(lines.len(), 2, "{run:?}");
            assert!(
                lines[0].starts_with("saasql: warning: table 'invoices' cannot be read: ")
                    && lines[1].starts_with("<stdin>:1: error: table 'invoices' cannot be read: ")
                    && lines[0].ends_with(&lines[1]["<stdin>:1: error: ".len()..]),
                "{run:?}"
            );
            (run, took)
        };
        let create_run = |location: &str, env: &[(&str, &str)]| {
            let (run, took) = saasql_env(
                &dir,
                &["--data", &dir.display().to_string(), "run", "-"],
                &create(location),
                env,
            );
            no_leak(&run);
            assert_eq!(run.code, 3, "{run:?}");
            let lines = message_lines(&run);
            assert!(
                lines.len() == 1
                    && lines[0].starts_with("<stdin>:1: error: table 'inv' cannot be read: "),
                "{run:?}"
            );
            (run, took)
        };

        // Wrong password.
        let wrong = [("PGPASSWORD", WRONG)];
        let auth = format!(
            "cannot connect to {shown}: password authentication failed for user \"{USER}\" (the password came from PGPASSWORD)"
        );
        let (run, _) = config_run(&server.url("public.invoices"), &wrong);
        assert!(run.stderr.contains(&auth), "{run:?}");
        let (run, _) = create_run(&server.url("public.invoices"), &wrong);
        assert!(run.stderr.contains(&auth), "{run:?}");
        // No password at all.
        let (run, _) = create_run(&server.url("public.invoices"), &[]);
        assert!(
            run.stderr.contains(&format!(
                "cannot connect to {shown}: the server asks for a password (no password was given: set PGPASSWORD or add it to ~/.pgpass)"
            )),
            "{run:?}"
        );

        // A table or database that does not exist.
        let right = [("PGPASSWORD", PASSWORD)];
        let (run, _) = config_run(&server.url("public.nope"), &right);
        assert!(
            run.stderr.contains(&format!(
                "{shown}?table=public.nope: table public.nope does not exist in database {DB}"
            )),
            "{run:?}"
        );
        let (run, _) = create_run(&server.url("nope"), &right);
        assert!(run.stderr.contains("table nope does not exist"), "{run:?}");
        let missing_db = server.url("public.invoices").replace("/billing?", "/nodb?");
        let (run, _) = create_run(&missing_db, &right);
        assert!(
            run.stderr.contains("database \"nodb\" does not exist"),
            "{run:?}"
        );
        let (run, _) = create_run(&server.url("").replace("?table=", ""), &right);
        assert!(
            run.stderr.contains("no table: add ?table=SCHEMA.TABLE"),
            "{run:?}"
        );

        // A password in the URL is refused, and not echoed (not even in the
        // statement shown under the error).
        let with_password = server
            .url("public.invoices")
            .replace(&format!("{USER}@"), &format!("{USER}:{PASSWORD}@"));
        let refused = "a password in the URL is refused";
        let (run, _) = config_run(&with_password, &[]);
        assert!(run.stderr.contains(refused), "{run:?}");
        assert!(
            run.stderr.contains("set PGPASSWORD or put it in ~/.pgpass"),
            "{run:?}"
        );
        let (run, _) = saasql_env(
            &dir,
            &["--data", &dir.display().to_string(), "run", "-"],
            &format!("\n{}\n{query}", create(&with_password)),
            &[],
        );
        no_leak(&run);
        assert_eq!(run.code, 3, "{run:?}");
        assert!(run.stderr.contains(refused), "{run:?}");
        assert!(run.stderr.contains(&format!("{USER}:***@")), "{run:?}");
        let (run, _) = saasql_env(
            &dir,
            &[
                "--data",
                &dir.display().to_string(),
                "-c",
                &format!("SELECT count(*) FROM '{with_password}'"),
            ],
            "",
            &[],
        );
        no_leak(&run);
        assert_eq!(run.code, 3, "{run:?}");
        assert!(run.stderr.contains(refused), "{run:?}");

        // No server on the port: fails fast; a server that never answers:
        // fails after PGCONNECT_TIMEOUT.
        let nobody = format!(
            "postgres://{USER}@127.0.0.1:{}/{DB}?table=public.invoices",
            free_port()
        );
        let (run, took) = config_run(&nobody, &right);
        assert!(
            run.stderr.contains("cannot connect to postgres://"),
            "{run:?}"
        );
        assert!(took < Duration::from_secs(20), "took {took:?}");
        let (run, took) = create_run(&nobody, &right);
        assert!(run.stderr.contains("Connection refused"), "{run:?}");
        assert!(took < Duration::from_secs(20), "took {took:?}");
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let silent_url = format!(
            "postgres://{USER}@127.0.0.1:{}/{DB}?table=public.invoices",
            silent.local_addr().expect("address").port()
        );
        let (run, took) = create_run(&silent_url, &[("PGCONNECT_TIMEOUT", "2")]);
        assert!(run.stderr.contains("no answer within 2 s"), "{run:?}");
        assert!(took < Duration::from_secs(20), "took {took:?}");
        drop(silent);

        // The executors of a Ballista cluster cannot read Postgres tables.
        if cfg!(feature = "cluster") {
            let cfg = config(&dir, "cluster.toml", &server.url("public.invoices"));
            let cluster = format!("df://127.0.0.1:{}", free_port());
            let (run, _) = saasql_env(
                &dir,
                &[
                    "--cluster",
                    &cluster,
                    "--data",
                    &dir.display().to_string(),
                    "--config",
                    &cfg,
                    "run",
                    "-",
                ],
                query,
                &right,
            );
            no_leak(&run);
            assert_eq!(run.code, 3, "{run:?}");
            assert!(
                message_lines(&run).len() == 2
                    && run
                        .stderr
                        .contains("Postgres tables cannot be used with --cluster"),
                "{run:?}"
            );
        }
    }

    /// Certificates made with the `openssl` command: a CA, a server
    /// certificate it signed for `localhost` only (not `127.0.0.1`), and a
    /// second CA that signed nothing.
    fn tls_files(dir: &Path) -> [PathBuf; 4] {
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("the TLS tests need the openssl command");
            check(&format!("openssl {}", args.join(" ")), out);
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let (subject, key, pem) = (
                format!("/CN=saasql test {ca}"),
                format!("{ca}.key"),
                format!("{ca}.pem"),
            );
            let head = ["req", "-x509", "-days", "2", "-subj", &subject];
            let tail = ["-keyout", &key, "-out", &pem];
            openssl(&[&head[..], &ec[..], &tail[..]].concat());
        }
        let head = ["req", "-subj", "/CN=localhost"];
        let tail = ["-keyout", "server.key", "-out", "server.csr"];
        openssl(&[&head[..], &ec[..], &tail[..]].concat());
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write server.ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ]);
        ["ca.pem", "server.crt", "server.key", "other-ca.pem"].map(|name| dir.join(name))
    }

    /// Postgres over TLS (rustls, through the provider crate's copy in
    /// `vendor/`), with libpq's `sslmode`s: `verify-full` with the CA file
    /// (also from PGSSLROOTCERT, and from a path with a space), `verify-ca`
    /// where the certificate names another host, `require` and the default
    /// `prefer` without a CA; a wrong CA, a name mismatch under
    /// `verify-full`, no root certificate and a missing file are one-line
    /// errors. The binary does not load OpenSSL.
    #[test]
    fn postgres_tls_checks_the_server_certificate() {
        let dir = scratch("postgres-tls");
        let [ca, cert, key, other_ca] = tls_files(&dir);
        let server = Server::start_with(Some((&cert, &key)));
        server.psql(
            DB,
            "CREATE TABLE public.t (id bigint); INSERT INTO public.t VALUES (1), (2), (3)",
        );
        let spaced = dir.join("my ca.pem");
        std::fs::copy(&ca, &spaced).expect("copy");
        let at = |host: &str, params: &str| {
            format!(
                "postgres://{USER}@{host}:{}/{DB}?table=public.t{params}",
                server.port
            )
        };
        let run = |location: &str, env: &[(&str, &str)]| {
            let sql = format!(
                "CREATE EXTERNAL TABLE inv STORED AS POSTGRES LOCATION '{location}';\n\
                 SELECT count(*) AS n FROM inv;"
            );
            let mut all = vec![("PGPASSWORD", PASSWORD), ("HOME", path_str(&dir))];
            all.extend_from_slice(env);
            let (run, _) = saasql_env(&dir, &["--format", "csv", "run", "-"], &sql, &all);
            assert!(!run.stderr.contains(PASSWORD), "{run:?}");
            run
        };
        let ssl_lines = || server.log().matches("SSL enabled (protocol=TLS").count();
        let ok = |location: &str, env: &[(&str, &str)]| {
            let before = ssl_lines();
            let run = run(location, env);
            assert_eq!(
                (run.code, run.stdout.as_str(), run.stderr.as_str()),
                (0, "n\n3\n", ""),
                "{location}: {run:?}\n{}",
                server.log()
            );
            assert!(
                ssl_lines() > before,
                "{location}: not over TLS\n{}",
                server.log()
            );
        };
        let fails = |location: &str, env: &[(&str, &str)], expected: &str| {
            let run = run(location, env);
            assert_eq!(run.code, 3, "{location}: {run:?}");
            let lines = message_lines(&run);
            assert!(
                lines.len() == 1
                    && lines[0].starts_with("<stdin>:1: error: table 'inv' cannot be read: ")
                    && lines[0].contains(expected),
                "{location}: expected '{expected}' in {run:?}"
            );
        };
        let ca_s = path_str(&ca);

        ok(
            &at(
                "localhost",
                &format!("&sslmode=verify-full&sslrootcert={ca_s}"),
            ),
            &[],
        );
        ok(
            &at("localhost", "&sslmode=verify-full"),
            &[("PGSSLROOTCERT", ca_s)],
        );
        let spaced_url = path_str(&spaced).replace(' ', "%20");
        ok(
            &at(
                "localhost",
                &format!("&sslmode=verify-full&sslrootcert={spaced_url}"),
            ),
            &[],
        );
        ok(
            &at(
                "127.0.0.1",
                &format!("&sslmode=verify-ca&sslrootcert={ca_s}"),
            ),
            &[],
        );
        ok(&at("127.0.0.1", "&sslmode=require"), &[]);
        ok(&at("127.0.0.1", ""), &[]);

        // The certificate names localhost, not 127.0.0.1.
        fails(
            &at(
                "127.0.0.1",
                &format!("&sslmode=verify-full&sslrootcert={ca_s}"),
            ),
            &[],
            "certificate not valid for name \"127.0.0.1\"",
        );
        // Signed by another CA.
        let other = path_str(&other_ca);
        for mode in ["verify-ca", "verify-full", "require"] {
            fails(
                &at("localhost", &format!("&sslmode={mode}&sslrootcert={other}")),
                &[],
                "invalid peer certificate: UnknownIssuer",
            );
        }
        fails(
            &at("localhost", "&sslmode=verify-full"),
            &[],
            "sslmode=verify-full needs the root certificate to check the server's against: \
             add &sslrootcert=FILE",
        );
        fails(
            &at("localhost", "&sslmode=require&sslrootcert=system"),
            &[],
            "sslrootcert=system needs sslmode=verify-full",
        );
        // The system's roots (SSL_CERT_FILE: the test CA's rival) do not
        // include the test CA.
        fails(
            &at("localhost", "&sslmode=verify-full&sslrootcert=system"),
            &[("SSL_CERT_FILE", other)],
            "invalid peer certificate: UnknownIssuer",
        );
        ok(
            &at("localhost", "&sslmode=verify-full&sslrootcert=system"),
            &[("SSL_CERT_FILE", ca_s)],
        );
        fails(
            &at(
                "localhost",
                "&sslmode=verify-ca&sslrootcert=/no/such/ca.pem",
            ),
            &[],
            "sslrootcert /no/such/ca.pem: no such file",
        );
        let not_pem = dir.join("server.ext");
        fails(
            &at(
                "localhost",
                &format!("&sslmode=verify-ca&sslrootcert={}", path_str(&not_pem)),
            ),
            &[],
            "no certificate in it",
        );

        // PGSSLMODE when the URL has no sslmode; sslrootcert=system implies
        // verify-full (as in libpq 16).
        let before = ssl_lines();
        let plain = run(&at("127.0.0.1", ""), &[("PGSSLMODE", "disable")]);
        assert_eq!(
            (plain.code, plain.stdout.as_str()),
            (0, "n\n3\n"),
            "{plain:?}"
        );
        assert_eq!(ssl_lines(), before, "PGSSLMODE=disable still used TLS");
        fails(
            &at("127.0.0.1", ""),
            &[("PGSSLMODE", "verify-everything")],
            "PGSSLMODE=verify-everything is not supported",
        );
        fails(
            &at("127.0.0.1", "&sslrootcert=system"),
            &[("SSL_CERT_FILE", ca_s)],
            "certificate not valid for name \"127.0.0.1\"",
        );
        // ~/.postgresql/root.crt when nothing names a root certificate, also
        // under prefer; an empty sslrootcert= is no sslrootcert.
        let home_root = dir.join(".postgresql").join("root.crt");
        std::fs::create_dir_all(home_root.parent().expect("folder")).expect("mkdir");
        std::fs::copy(&other_ca, &home_root).expect("copy");
        fails(
            &at("localhost", "&sslrootcert="),
            &[],
            "invalid peer certificate: UnknownIssuer",
        );
        std::fs::copy(&ca, &home_root).expect("copy");
        ok(&at("localhost", "&sslmode=verify-full"), &[]);
        std::fs::remove_file(&home_root).expect("remove");

        // One TLS stack: the binary does not load OpenSSL's libraries.
        if let Ok(out) = Command::new("ldd").arg(super::BIN).output()
            && out.status.success()
        {
            let libs = String::from_utf8_lossy(&out.stdout);
            assert!(
                !libs.contains("libssl") && !libs.contains("libcrypto"),
                "{libs}"
            );
        }
    }
}

/// Second trust round: table-name clashes, error texts and exit codes.
mod trust_core {
    use super::*;

    /// Two files that would both be table `empty` make only that name fail:
    /// a warning at start, and every other table still works.
    #[test]
    fn clashing_table_names_fail_only_that_name() {
        let dir = scratch("clash");
        std::fs::copy(
            fixture().join("data/surveys.parquet"),
            dir.join("good.parquet"),
        )
        .expect("copy");
        std::fs::write(dir.join("empty.csv"), "a,b\n1,x\n").expect("write");
        std::fs::copy(
            fixture().join("data/surveys.parquet"),
            dir.join("empty.parquet"),
        )
        .expect("copy");
        let run = saasql_in(
            &dir,
            &[
                "--data",
                ".",
                "-f",
                "csv",
                "-c",
                "SELECT count(*) AS n FROM good",
            ],
            None,
        );
        assert_eq!((run.code, run.stdout.as_str()), (0, "n\n4\n"), "{run:?}");
        assert_eq!(
            run.stderr,
            "saasql: warning: two tables named 'empty' in .: ./empty.csv and ./empty.parquet; \
             rename or move one of them\n",
            "{run:?}"
        );
        let run = saasql_in(&dir, &["--data", ".", "-c", "SELECT * FROM empty"], None);
        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            run.stderr.lines().any(|l| l.starts_with(
                "-c#1:1: error: two tables named 'empty' \
                 in .: ./empty.csv and ./empty.parquet; rename or move one of them"
            )),
            "{run:?}"
        );
    }

    /// The bundled sample data (larger than the fixture's).
    fn repo_data() -> &'static str {
        concat!(env!("CARGO_MANIFEST_DIR"), "/data")
    }

    /// `--output /dev/tty` without a terminal (cron, CI) fails at once with
    /// exit 4, instead of waiting as for a FIFO without a reader.
    #[test]
    fn a_device_that_cannot_open_is_an_output_error() {
        let dir = scratch("no-tty");
        std::fs::write(dir.join("q.sql"), "SELECT 1 AS x;").expect("write");
        let started = std::time::Instant::now();
        let out = Command::new("setsid")
            .args([
                "-w",
                BIN,
                "--data",
                empty_dir(),
                "run",
                "--output",
                "/dev/tty",
                "q.sql",
            ])
            .current_dir(&dir)
            .env("XDG_CONFIG_HOME", root())
            .stdin(Stdio::null())
            .output()
            .expect("setsid runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            (out.status.code(), stderr.as_ref()),
            (
                Some(4),
                "saasql: error: cannot write /dev/tty: No such device or address (os error 6)\n"
            )
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    /// Tables that cannot be read, and files a view reads, are inputs too:
    /// no output replaces them.
    #[test]
    fn outputs_never_replace_unreadable_tables_or_files_under_views() {
        let dir = scratch("hidden-inputs");
        std::fs::write(dir.join("junk.parquet"), b"not parquet").expect("write");
        std::fs::write(dir.join("e.csv"), "a\n1\n2\n").expect("write");
        std::fs::write(dir.join("q.sql"), "SELECT 1 AS x;").expect("write");
        let run = saasql_in(
            &dir,
            &[
                "--data",
                ".",
                "run",
                "--format",
                "parquet",
                "--output",
                "junk.parquet",
                "q.sql",
            ],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("nothing was written"), "{run:?}");
        let sql = "CREATE VIEW v AS SELECT * FROM 'e.csv';\n\
                   COPY (SELECT count(*) AS n FROM v) TO 'e.csv' STORED AS CSV;";
        let run = saasql_in(&dir, &["--data", empty_dir(), "run", "-"], Some(sql));
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("nothing was written"), "{run:?}");
        assert_eq!(
            std::fs::read(dir.join("junk.parquet")).expect("read"),
            b"not parquet"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("e.csv")).expect("read"),
            "a\n1\n2\n"
        );
    }

    /// `--output /dev/stdout` when stdout is a pipe writes into the pipe
    /// (the link ends in `pipe:[N]`, which names no file).
    #[test]
    fn output_to_dev_stdout_into_a_pipe() {
        let dir = scratch("stdout-pipe");
        std::fs::write(dir.join("q.sql"), "SELECT 1 AS x;").expect("write");
        let run = saasql_in(
            &dir,
            &[
                "--data",
                empty_dir(),
                "-f",
                "csv",
                "run",
                "--output",
                "/dev/stdout",
                "q.sql",
            ],
            None,
        );
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (0, "x\n1\n", "")
        );
        assert_eq!(
            std::fs::read_dir(&dir).expect("list").count(),
            1,
            "no litter"
        );
    }

    /// Writes the bundled customers as an Arrow IPC file in `dir`.
    fn customers_arrow(dir: &Path) -> Vec<u8> {
        let file = dir.join("customers.arrow");
        let run = saasql_in(
            dir,
            &[
                "--data",
                repo_data(),
                "-c",
                &format!(
                    "COPY (SELECT * FROM customers) TO '{}' STORED AS ARROW",
                    file.display()
                ),
            ],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        let bytes = std::fs::read(&file).expect("read the Arrow file");
        std::fs::remove_file(&file).expect("remove");
        bytes
    }

    /// A truncated or damaged Arrow IPC file: one line without DataFusion's
    /// "Internal error … bug" wording, exit 3 (an unreadable input), also
    /// when the damage is found while the rows are read.
    #[test]
    fn damaged_arrow_files_are_input_errors() {
        let dir = scratch("damaged-arrow");
        let bytes = customers_arrow(&dir);
        std::fs::write(dir.join("truncated.arrow"), &bytes[..bytes.len() / 2]).expect("write");
        let mut flipped = bytes.clone();
        let third = bytes.len() / 3;
        for b in &mut flipped[third..third + 200] {
            *b ^= 0xff;
        }
        std::fs::write(dir.join("flipped.arrow"), &flipped).expect("write");
        for table in ["truncated", "flipped"] {
            let run = saasql_in(
                &dir,
                &["--data", ".", "-c", &format!("SELECT * FROM {table}")],
                None,
            );
            assert_eq!(run.code, 3, "{table}: {run:?}");
            assert!(
                !run.stderr.contains("Internal error") && !run.stderr.contains("bug"),
                "{table}: {run:?}"
            );
        }
        let run = saasql_in(&dir, &["--data", ".", "-c", "SELECT 1"], None);
        assert!(
            run.stderr.contains(
                "saasql: warning: table 'truncated' cannot be read: Failed to parse Arrow file"
            ),
            "{run:?}"
        );
    }

    /// `sum` over a text column: DataFusion's summary of the signatures,
    /// one line, not its "Internal error … bug report" text.
    #[test]
    fn aggregate_over_text_is_one_plain_line() {
        let dir = scratch("sum-text");
        std::fs::write(dir.join("t.csv"), "a,b\n1,x\n2,y\n").expect("write");
        let run = saasql_in(&dir, &["--data", ".", "-c", "SELECT sum(b) FROM t"], None);
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(
            run.stderr.lines().next().unwrap_or_default(),
            "-c#1:1: error: Error during planning: No function matches the given name and \
             argument types 'sum(Utf8)'. You might need to add explicit type casts. Candidate \
             functions: sum(Decimal) sum(UInt64) sum(Int64) sum(Float64) sum(Duration) \
             sum(Interval)",
            "{run:?}"
        );
    }

    /// A disk that fills up during a batch job: exit 4 with the cause, and
    /// the previous output stays as it was. Runs in a user and mount
    /// namespace of its own with a 512 KiB tmpfs (`unshare`).
    #[test]
    fn a_full_disk_during_a_batch_is_an_output_error() {
        if !Command::new("unshare")
            .args(["-rm", "true"])
            .status()
            .is_ok_and(|s| s.success())
        {
            eprintln!("skipped: unshare -rm is not permitted here");
            return;
        }
        let dir = scratch("full-disk");
        let events = Path::new(repo_data()).join("events");
        let job = |name: &str, sql: &str| {
            write_file(
                &dir,
                name,
                &format!(
                    "[inputs]\nev = \"{}/\"\n\n[[outputs]]\nname = \"all\"\nsql = \"{sql}\"\n\
                     path = \"out/all.csv\"\nformat = \"csv\"\n",
                    events.display()
                ),
            )
        };
        job("small.toml", "SELECT 1 AS x");
        // Every event, many times over: far more than 512 KiB of CSV.
        job(
            "big.toml",
            "SELECT e.* FROM ev e, (VALUES (1),(2),(3),(4)) t(k)",
        );
        let script = format!(
            "mkdir -p out && mount -t tmpfs -o size=512k tmpfs out && \
             {bin} --data {empty} batch small.toml >/dev/null && \
             {bin} --data {empty} batch big.toml; echo \"exit $?\"; ls -A out; cat out/all.csv",
            bin = BIN,
            empty = empty_dir()
        );
        let out = Command::new("unshare")
            .args(["-rm", "sh", "-c", &script])
            .current_dir(&dir)
            .env("XDG_CONFIG_HOME", root())
            .output()
            .expect("unshare runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stdout, "exit 4\nall.csv\nx\n1\n",
            "the old output and nothing else: {stderr}"
        );
        // CSV writers lose the cause inside DataFusion; Parquet keeps it.
        assert_eq!(
            stderr.trim_end(),
            "saasql: error: output 'all': cannot write: a file writer failed while finishing \
             its file, and DataFusion does not say why (is the disk full?)"
        );
        write_file(
            &dir,
            "parquet.toml",
            &format!(
                "[inputs]\nev = \"{}/\"\n\n[[outputs]]\nname = \"all\"\nsql = \"SELECT * FROM ev\"\n\
                 path = \"out/all.parquet\"\n",
                events.display()
            ),
        );
        let script = format!(
            "mkdir -p out && mount -t tmpfs -o size=256k tmpfs out && \
             {BIN} --data {} batch parquet.toml; echo \"exit $?\"; ls -A out",
            empty_dir()
        );
        let out = Command::new("unshare")
            .args(["-rm", "sh", "-c", &script])
            .current_dir(&dir)
            .env("XDG_CONFIG_HOME", root())
            .output()
            .expect("unshare runs");
        assert_eq!(
            (
                String::from_utf8_lossy(&out.stdout).as_ref(),
                String::from_utf8_lossy(&out.stderr).trim_end()
            ),
            (
                "exit 4\n",
                "saasql: error: output 'all': cannot write: No space left on device (os error 28)"
            )
        );
    }
}

/// `--format html`: the shipped reports as pages with charts, loaded in a
/// real headless Chromium (Debian's `chromium`; `.ci/run` installs it).
mod html {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{Run, assert_one_line_error, saasql, saasql_in, scratch, sql_file};

    /// The Chromium binary: `SAASQL_CHROMIUM`, else `chromium` on `PATH`.
    fn chromium() -> PathBuf {
        if let Some(path) = std::env::var_os("SAASQL_CHROMIUM") {
            return PathBuf::from(path);
        }
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("chromium"))
                .find(|p| p.is_file())
        });
        found.unwrap_or_else(|| {
            panic!(
                "chromium not found: the HTML report tests load pages in headless Chromium; \
                 install it with `apt-get install chromium` (.ci/run does) or set SAASQL_CHROMIUM"
            )
        })
    }

    /// Runs headless Chromium on `page` with `args`; returns (stdout, stderr).
    fn browse(page: &Path, profile: &Path, args: &[&str]) -> (String, String) {
        let url = format!("file://{}", page.display());
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--enable-logging=stderr",
                "--v=0",
                format!("--user-data-dir={}", profile.display()).as_str(),
            ])
            .args(args)
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let start = Instant::now();
        while child.try_wait().expect("wait for chromium").is_none() {
            if start.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                panic!("chromium did not finish with {url} within 120 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output().expect("chromium output");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Loads `page`: no console message, no refused fetch, and the DOM it
    /// built (returned) is a page with a table.
    fn load(page: &Path, profile: &Path) -> String {
        let (dom, log) = browse(page, profile, &["--dump-dom"]);
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused"))
            .collect();
        assert!(
            bad.is_empty(),
            "{}: console errors:\n{}",
            page.display(),
            bad.join("\n")
        );
        assert!(
            dom.contains("<table>"),
            "{}: no table in {dom}",
            page.display()
        );
        dom
    }

    /// `saasql --data data run sql/NAME.sql --format html --output OUT`.
    fn render(repo: &Path, reports: &[&str], out: &Path) -> Run {
        let mut args = vec!["--data", "data", "--format", "html", "run"];
        let files: Vec<String> = reports.iter().map(|r| format!("sql/{r}.sql")).collect();
        args.extend(files.iter().map(String::as_str));
        args.extend(["--output", out.to_str().expect("utf-8")]);
        saasql_in(repo, &args, None)
    }

    #[test]
    fn reports_render_with_charts_in_chromium() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = scratch("html_reports");
        let profile = dir.join("profile");
        // report → the chart it must show, and an SVG element it must draw
        let expected = [
            ("overview", "chart kpi", "class=\"tile\""),
            ("churn", "chart line", "<circle"),
            ("engagement", "chart bar", "class=\"bar\""),
            ("health", "chart bar", "class=\"bar\""),
            ("mrr_movements", "chart bar", "class=\"bar\""),
            ("stickiness", "chart line", "<circle"),
            ("surveys", "chart bar", "class=\"bar\""),
            ("ltv", "chart bar", "class=\"bar\""),
            ("support", "chart bar", "class=\"bar\""),
        ];
        for (report, chart, element) in expected {
            let page = dir.join(format!("{report}.html"));
            let run = render(repo, &[report], &page);
            assert_eq!(
                (run.code, run.stderr.as_str()),
                (0, ""),
                "{report}: {run:?}"
            );
            let dom = load(&page, &profile);
            assert_eq!(dom.matches("<svg").count(), 1, "{report}: one chart");
            assert!(dom.contains(chart), "{report}: a {chart}");
            assert!(
                dom.matches(element).count() >= 3,
                "{report}: {element} at least 3 times"
            );
        }
        // Retention has its chart turned off: the table only.
        let page = dir.join("retention.html");
        assert_eq!(render(repo, &["retention"], &page).code, 0);
        assert!(!load(&page, &profile).contains("<svg"));

        // Every report on one page, and a screenshot of it.
        let all: Vec<&str> = expected.iter().map(|(r, _, _)| *r).collect();
        let page = dir.join("all.html");
        let run = render(repo, &all, &page);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        let dom = load(&page, &profile);
        assert_eq!(dom.matches("<svg").count(), expected.len());
        assert_eq!(dom.matches("<table>").count(), expected.len());
        let shot = dir.join("all.png");
        browse(
            &page,
            &profile,
            &[
                format!("--screenshot={}", shot.display()).as_str(),
                "--window-size=1200,2000",
                "--hide-scrollbars",
            ],
        );
        let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "a real screenshot"
        );
        eprintln!("screenshot: {}", shot.display());
    }

    #[test]
    fn heat_maps_from_cohort_grids_and_lists() {
        let dir = scratch("html_heatmaps");
        let sql = sql_file(
            "cohorts_html.sql",
            "-- Cohort retention by month since first activity.
             SELECT c.cohort, p.months_later, v.pct
             FROM (VALUES ('2025-01'), ('2025-02'), ('2025-03')) AS c(cohort)
             CROSS JOIN (VALUES (0), (1), (2)) AS p(months_later)
             JOIN (VALUES (0, 100.0), (1, 71.5), (2, 60.25)) AS v(m, pct) ON v.m = p.months_later
             WHERE c.cohort <> '2025-03' OR p.months_later = 0
             ORDER BY 1, 2;
             -- The same as curves.
             SELECT * FROM (VALUES ('2025-01', [100.0, 71.5, 60.25]), ('2025-02', [100.0, 80.0, NULL]))
               AS t(cohort, curve);
             -- chart: heatmap x=cohort y=months_later value=pct
             SELECT 1 AS months_later, 'a' AS cohort, 5 AS pct UNION ALL SELECT 2, 'b', 7;",
        );
        let page = dir.join("cohorts.html");
        let run = saasql(
            &[
                "--format",
                "html",
                "run",
                &sql,
                "--output",
                page.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        let dom = load(&page, &dir.join("profile"));
        assert_eq!(dom.matches("chart heatmap").count(), 3, "{dom}");
        assert_eq!(dom.matches("class=\"cell\"").count(), 7 + 5 + 2, "{dom}");
        assert!(dom.contains("<h2>Cohort retention by month since first activity.</h2>"));
    }

    #[test]
    fn data_cannot_inject_markup() {
        let sql = "SELECT '<script>alert(1)</script>' AS \"<b>bold</b>\", 1 AS n
                   UNION ALL SELECT '\"><img src=x onerror=alert(2)>', 2";
        let run = saasql(&["--format", "html", "-c", sql], None);
        assert_eq!(run.code, 0, "{run:?}");
        let page = run.stdout;
        for tag in ["<script", "<img", "<b>"] {
            assert!(!page.contains(tag), "{tag} in {page}");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
        assert!(page.contains("class=\"chart bar\""), "{page}");
        // and in a browser, nothing runs and nothing is fetched
        let dir = scratch("html_injection");
        let file = dir.join("page.html");
        std::fs::write(&file, &page).unwrap();
        let dom = load(&file, &dir.join("profile"));
        assert!(!dom.contains("<img"));
    }

    #[test]
    fn bad_chart_directives_are_one_line_errors() {
        let bad = |name: &str, sql: &str| {
            let file = sql_file(name, sql);
            saasql(&["--format", "html", "run", &file], None)
        };
        let run = bad("pie.sql", "SELECT 1;\n-- chart: pie x=a\nSELECT 1 AS a;");
        assert_one_line_error(
            &run,
            1,
            "pie.sql:2: error: chart directive 'pie x=a': unknown chart 'pie'; allowed: bar, line, heatmap, kpi, none",
        );
        assert_eq!(run.stdout, "", "nothing runs");
        let run = bad("key.sql", "-- chart: line x=a colour=red\nSELECT 1 AS a;");
        assert_one_line_error(
            &run,
            1,
            "key.sql:1: error: chart directive 'line x=a colour=red': unknown key 'colour'; line takes x, y, series",
        );
        let run = bad(
            "column.sql",
            "-- chart: bar x=name y=mrr\nSELECT 'a' AS name, 1 AS n;",
        );
        assert_one_line_error(
            &run,
            1,
            "column.sql:1: error: chart directive 'bar x=name y=mrr': the result has no column 'mrr' (columns: name, n)",
        );
        let run = bad(
            "text.sql",
            "-- chart: line y=name\nSELECT 'a' AS name, 1 AS n;",
        );
        assert_one_line_error(
            &run,
            1,
            "text.sql:1: error: chart directive 'line y=name': y column 'name' does not hold numbers (number columns: n)",
        );
        let run = bad(
            "set.sql",
            "-- chart: bar\nSET saasql.ltv_churn_floor = 1;\nSELECT 1;",
        );
        assert_one_line_error(
            &run,
            1,
            "set.sql:1: error: chart directive 'bar' is not just before a query",
        );
        let run = bad("two.sql", "-- chart: bar\n-- chart: line\nSELECT 1;");
        assert_one_line_error(
            &run,
            1,
            "two.sql:2: error: two chart directives for one statement (the other is at two.sql:1)",
        );
        let run = bad("trailing.sql", "SELECT 1;\n-- chart: bar\n");
        assert_one_line_error(
            &run,
            1,
            "trailing.sql:2: error: chart directive 'bar' is after the last statement",
        );
        // Other formats ignore directives.
        let run = saasql(&["--format", "csv", "run", "pie.sql"], None);
        assert_eq!(
            (run.code, run.stdout.as_str()),
            (0, "Int64(1)\n1\n\na\n1\n"),
            "{run:?}"
        );
    }

    #[test]
    fn copy_to_html_writes_a_page() {
        let dir = scratch("html_copy");
        let page = dir.join("scores.html");
        let sql = format!(
            "-- Survey scores by customer.\n-- chart: bar x=name y=score\n\
             COPY (SELECT name, score FROM surveys ORDER BY name) TO '{}';",
            page.display()
        );
        let run = saasql(&["run", "-"], Some(&sql));
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (0, "", "")
        );
        let text = std::fs::read_to_string(&page).expect("the page");
        assert!(
            text.contains("<h2>Survey scores by customer.</h2>"),
            "{text}"
        );
        assert!(text.contains("class=\"chart bar\""), "{text}");
        assert_eq!(
            text.matches("class=\"bar\"").count(),
            3,
            "a bar per score: {text}"
        );
        let stored = dir.join("surveys-page");
        let run = saasql(
            &[
                "-c",
                &format!("COPY surveys TO '{}' STORED AS HTML", stored.display()),
            ],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            std::fs::read_to_string(&stored)
                .unwrap()
                .contains("umbrella")
        );
        let run = saasql(
            &[
                "-c",
                &format!(
                    "COPY surveys TO '{}/p.html' PARTITIONED BY (name)",
                    dir.display()
                ),
            ],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.starts_with(
                "-c#1:1: error: COPY … TO an HTML page takes no PARTITIONED BY and no OPTIONS"
            ),
            "{run:?}"
        );
    }

    #[test]
    fn batch_writes_html_pages() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = scratch("html_batch");
        let job = dir.join("job.toml");
        std::fs::write(
            &job,
            format!(
                "[inputs]\nevents = '{d}/events/'\ncustomers = '{d}/customers.parquet'\nsubscriptions = '{d}/subscriptions.parquet'\n\
                 [[outputs]]\nname = 'churn'\nsql_file = '{r}/sql/churn.sql'\npath = 'out/churn.html'\nformat = 'html'\n\
                 [[outputs]]\nname = 'folder'\nsql = 'SELECT 1 AS a'\npath = 'out/folder'\nformat = 'html'\n",
                d = repo.join("data").display(),
                r = repo.display()
            ),
        )
        .unwrap();
        // The report reads the repository project's models.
        let run = saasql_in(
            &dir,
            &[
                "--project",
                repo.to_str().expect("utf-8"),
                "batch",
                "job.toml",
            ],
            None,
        );
        assert_one_line_error(
            &run,
            2,
            "saasql: error: job file job.toml: output 'folder': an html output is one page: give a path ending in .html, without partition_by",
        );
        let text = std::fs::read_to_string(&job).unwrap();
        std::fs::write(
            &job,
            &text[..text.find("[[outputs]]\nname = 'folder'").unwrap()],
        )
        .unwrap();
        // The report reads the repository project's models.
        let run = saasql_in(
            &dir,
            &[
                "--project",
                repo.to_str().expect("utf-8"),
                "batch",
                "job.toml",
            ],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        let page = dir.join("out/churn.html");
        let dom = load(&page, &dir.join("profile"));
        assert!(
            dom.contains("class=\"chart line\""),
            "the directive in churn.sql applies"
        );
        assert!(
            dom.contains("Monthly customer churn"),
            "the heading is the report's comment"
        );
    }
}

/// Predictive CLV through SQL on the CDNOW data of Fader, Hardie & Lee
/// (`crates/saasql/tests/data/cdnow/`, see its SOURCE.md): `bgnbd_fit` on the published
/// summary reproduces the paper's estimates, `rfm` over the raw transactions
/// feeds `gamma_gamma_fit` the unrounded repeat spends of Hardie's note 025,
/// and the predictions match the `lifetimes` package's.
#[test]
fn clv_reproduces_the_cdnow_estimates() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cdnow = repo.join("crates/saasql/tests/data/cdnow");
    let data = scratch("cdnow");
    std::fs::copy(
        cdnow.join("cdnow_customers_summary.csv"),
        data.join("cdnow_summary.csv"),
    )
    .expect("copy summary");
    // CDNOW_sample.txt: master id, customer id, yyyymmdd, CDs, dollars
    let raw = std::fs::read_to_string(cdnow.join("CDNOW_sample.txt")).expect("transactions");
    let mut csv = String::from("customer_id,order_date,amount\n");
    for line in raw.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let d = f[2];
        csv.push_str(&format!(
            "{},{}-{}-{},{}\n",
            f[1].trim_start_matches('0'),
            &d[..4],
            &d[4..6],
            &d[6..],
            f[4]
        ));
    }
    std::fs::write(data.join("transactions.csv"), csv).expect("write transactions");
    let data = data.to_str().expect("utf-8 path");
    let run = |sql: &str| {
        let run = saasql_in(
            root(),
            &["--data", data, "--format", "csv", "-c", sql],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{sql}");
        run.stdout
    };

    // Fader, Hardie & Lee (2005), section 5
    assert_eq!(
        run(
            "SELECT round(m['r'], 3) AS r, round(m['alpha'], 3) AS alpha, round(m['a'], 3) AS a, \
             round(m['b'], 3) AS b, round(m['log_likelihood'], 1) AS ll, m['customers'] AS customers, \
             m['converged'] AS converged \
             FROM (SELECT bgnbd_fit(frequency, recency, \"T\") AS m FROM cdnow_summary)"
        ),
        "r,alpha,a,b,ll,customers,converged\n0.243,4.414,0.793,2.426,-9582.4,2357,true\n"
    );

    // rfm over the transactions (calibration period to 1997-09-30, weeks)
    // gives the published summary, and Hardie's note 025 from its spends
    assert_eq!(
        run(
            "WITH s AS (SELECT customer_id, rfm(order_date, amount, DATE '1997-09-30') AS s \
                        FROM transactions GROUP BY customer_id) \
             SELECT count(*) AS customers, \
                    count(*) FILTER (WHERE s.s['frequency'] = c.frequency \
                                       AND round(s.s['recency'], 2) = c.recency \
                                       AND round(s.s['t'], 2) = c.\"T\") AS same \
             FROM s JOIN cdnow_summary c ON c.\"ID\" = s.customer_id"
        ),
        "customers,same\n2357,2357\n"
    );
    assert_eq!(
        run(
            "SELECT round(m['p'], 2) AS p, round(m['q'], 2) AS q, round(m['v'], 2) AS v, \
             m['customers'] AS repeat_buyers, m['converged'] AS converged \
             FROM (SELECT gamma_gamma_fit(s['frequency'], s['monetary']) AS m \
                   FROM (SELECT rfm(order_date, amount, DATE '1997-09-30') AS s \
                         FROM transactions GROUP BY customer_id))"
        ),
        "p,q,v,repeat_buyers,converged\n6.25,3.74,15.44,946,true\n"
    );

    // Predictions from our fit against lifetimes' (its BG/NBD estimates
    // differ from ours by < 2e-4 relative)
    let out = run(
        "SELECT \"ID\" AS id, bgnbd_expected_purchases(m, 39, frequency, recency, \"T\") AS e39, \
                bgnbd_p_alive(m, frequency, recency, \"T\") AS p_alive \
         FROM cdnow_summary, (SELECT bgnbd_fit(frequency, recency, \"T\") AS m FROM cdnow_summary) \
         WHERE \"ID\" IN (1, 2, 18, 150, 1516, 2000) ORDER BY \"ID\"",
    );
    let reference =
        std::fs::read_to_string(cdnow.join("reference_customers.csv")).expect("reference");
    let want: Vec<(f64, f64)> = reference
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("cdnow_"))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[7].parse().unwrap(), f[9].parse().unwrap())
        })
        .collect();
    let got: Vec<(f64, f64)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(got.len(), 6, "{out}");
    for ((e, p), (we, wp)) in got.iter().zip(&want) {
        assert!(
            (e / we - 1.0).abs() < 1e-3,
            "E[Y(39)] {e} vs lifetimes {we}"
        );
        assert!(
            (p / wp - 1.0).abs() < 1e-3,
            "P(alive) {p} vs lifetimes {wp}"
        );
    }
}

/// `saasql serve --postgres`: the real `psql` against the server.
#[cfg(feature = "serve")]
mod serve {
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Output, Stdio};
    use std::time::{Duration, Instant};

    use super::{BIN, Run, root, saasql_in, scratch};

    pub(super) const PASSWORD: &str = "serve-Secret-4711";

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// A `saasql serve` process on a free loopback port (and one for Flight
    /// SQL if asked); dropping it kills the server.
    pub(super) struct Server {
        pub(super) child: Child,
        port: u16,
        pub(super) flight_port: Option<u16>,
        log: PathBuf,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }

    impl Server {
        /// `saasql --data data serve --postgres 127.0.0.1:PORT ARGS` in the
        /// repository, with `env`; waits until it accepts connections.
        pub(super) fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
            Self::start_with(name, args, env, false)
        }

        /// [`Self::start`], also serving Flight SQL if `flight`.
        pub(super) fn start_with(
            name: &str,
            args: &[&str],
            env: &[(&str, &str)],
            flight: bool,
        ) -> Server {
            let port = free_port();
            let flight_port = flight.then(free_port);
            let log = scratch(name).join("serve.log");
            let addr = format!("127.0.0.1:{port}");
            let mut all = if args.contains(&"--data") {
                vec!["serve", "--postgres", addr.as_str()]
            } else {
                vec!["--data", "data", "serve", "--postgres", addr.as_str()]
            };
            let flight_addr = flight_port.map(|p| format!("127.0.0.1:{p}"));
            if let Some(flight_addr) = &flight_addr {
                all.extend(["--flight-sql", flight_addr.as_str()]);
            }
            all.extend_from_slice(args);
            let child = Command::new(BIN)
                .current_dir(root())
                .args(&all)
                .current_dir(repo())
                .env("XDG_CONFIG_HOME", root())
                .env_remove("SAASQL_DATA")
                .env_remove("SAASQL_CONFIG")
                .env_remove("SAASQL_SERVE_PASSWORD")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("create log"))
                .spawn()
                .expect("saasql serve starts");
            let mut server = Server {
                child,
                port,
                flight_port,
                log,
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            let ready = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
            // Listening, and the start-up line logged (it follows the bind).
            while !ready(port)
                || flight_port.is_some_and(|p| !ready(p))
                || !server.log().contains("saasql serve ")
            {
                if let Some(status) = server.child.try_wait().expect("try_wait") {
                    panic!("serve exited with {status}: {}", server.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "serve not ready: {}",
                    server.log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            server
        }

        pub(super) fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        /// `psql` connected to the server as user `saasql` (unaligned,
        /// tuples only, comma-separated, stop at the first error, SQLSTATEs
        /// in messages), with ARGS and, if given, PGPASSWORD.
        fn psql(&self, password: Option<&str>) -> Command {
            let mut cmd = Command::new(psql_program());
            cmd.args(["-X", "-At", "-F", ",", "-P", "null=NULL"])
                .args(["-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"])
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "saasql", "-d", "saasql"])
                .env_remove("PGPASSWORD")
                .env_remove("PGUSER")
                .env_remove("PGSERVICE")
                .env("PGPASSFILE", root().join("no-such-pgpass"))
                .env("PGCONNECT_TIMEOUT", "20")
                .current_dir(repo())
                .stdin(Stdio::null());
            if let Some(password) = password {
                cmd.env("PGPASSWORD", password);
            }
            cmd
        }

        /// Starts psql running `sql` without a password, its output piped.
        pub(super) fn spawn(&self, sql: &str) -> std::process::Child {
            self.psql(None)
                .args(["-c", sql])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("psql starts")
        }

        /// Runs psql with `args` and returns its output as a [`Run`].
        pub(super) fn run(&self, password: Option<&str>, args: &[&str]) -> Run {
            let out = self.psql(password).args(args).output().expect("psql runs");
            run_of(out)
        }

        /// Runs one SQL command (`-c`), which must succeed; returns stdout.
        pub(super) fn query(&self, sql: &str) -> String {
            let run = self.run(None, &["-c", sql]);
            assert_eq!(
                (run.code, run.stderr.as_str()),
                (0, ""),
                "{sql}: {run:?}\nserver log:\n{}",
                self.log()
            );
            run.stdout
        }

        /// The server process's CPU time so far (user + system), from
        /// /proc, in clock ticks.
        pub(super) fn cpu_ticks(&self) -> u64 {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
                .expect("read /proc/PID/stat");
            let after = &stat[stat.rfind(')').expect("comm") + 2..];
            let fields: Vec<&str> = after.split(' ').collect();
            // Fields 14 and 15 of stat(5), counted after the command name.
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
        }

        /// Asserts the server process is (nearly) idle over one second: no
        /// abandoned query is still computing.
        #[track_caller]
        fn assert_idle(&self, what: &str) {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let before = self.cpu_ticks();
                std::thread::sleep(Duration::from_secs(1));
                let used = self.cpu_ticks() - before;
                if used < 30 {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: the server still computes ({used} ticks/s): {}",
                    self.log()
                );
            }
        }
    }

    /// Sends psql SIGINT (its Ctrl-C: a cancel request) and waits for it.
    pub(super) fn interrupt(client: std::process::Child) -> Run {
        let status = Command::new("kill")
            .args(["-INT", &client.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(status.success());
        run_of(client.wait_with_output().expect("psql ends"))
    }

    fn run_of(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
        }
    }

    /// `psql` on PATH, else the newest in /usr/lib/postgresql/*/bin.
    fn psql_program() -> PathBuf {
        let on_path = std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).find(|dir| dir.join("psql").is_file()));
        if let Some(dir) = on_path {
            return dir.join("psql");
        }
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let psql = e.path().join("bin/psql");
                psql.is_file().then_some((version, psql))
            })
            .collect();
        found.sort();
        found.pop().map(|(_, p)| p).unwrap_or_else(|| {
            panic!("psql not found: the serve tests need PostgreSQL's client (apt-get install postgresql-client)")
        })
    }

    /// `sql/overview.sql` through psql gives the numbers `saasql run` gives;
    /// types, NULLs and the nps_breakdown struct (JSON text) come through;
    /// psql's `\d` and BI tools' connect-time queries work; `SET saasql.*`
    /// is per connection.
    #[test]
    fn psql_gets_the_numbers_of_saasql_run() {
        let server = Server::start("serve-psql", &[], &[]);
        let run = saasql_in(
            repo(),
            &[
                "--data",
                "data",
                "--format",
                "csv",
                "run",
                "sql/overview.sql",
            ],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        let expected: Vec<&str> = run.stdout.lines().skip(1).collect();
        assert_eq!(expected.len(), 13, "{run:?}");
        let psql = server.run(None, &["-f", "sql/overview.sql"]);
        assert_eq!(
            (psql.code, psql.stderr.as_str()),
            (0, ""),
            "{psql:?}\n{}",
            server.log()
        );
        assert_eq!(psql.stdout.lines().collect::<Vec<_>>(), expected);

        // Types BI tools read: timestamps, dates, decimals, doubles, NULLs,
        // and a struct as JSON text.
        assert_eq!(
            server.query(
                "SELECT TIMESTAMP '2025-03-01 12:34:56' AS ts, DATE '2025-03-31' AS d, \
                 CAST(1234.5 AS DECIMAL(10, 2)) AS amount, CAST(0.25 AS DOUBLE) AS share, \
                 CAST(NULL AS BIGINT) AS nothing, 'text' AS label"
            ),
            "2025-03-01 12:34:56.000000,2025-03-31,1234.50,0.25,NULL,text\n"
        );
        assert_eq!(
            server.query(
                "SELECT nps_breakdown(score) AS b FROM (VALUES (10), (9), (3), (NULL)) AS t(score)"
            ),
            "{\"responses\":3,\"promoters\":2,\"passives\":0,\"detractors\":1,\"nps\":33.333333333333336}\n"
        );
        // The Postgres types (psql's \gdesc describes through the extended
        // protocol).
        let gdesc = scratch("serve-psql-files").join("gdesc.sql");
        std::fs::write(
            &gdesc,
            "SELECT TIMESTAMP '2025-03-01' AS ts, DATE '2025-03-01' AS d, \
             CAST(1.5 AS DECIMAL(10, 2)) AS amount, CAST(1.5 AS DOUBLE) AS share, \
             CAST(NULL AS BIGINT) AS nothing, 'x' AS label, nps_breakdown(9) AS b \\gdesc\n",
        )
        .expect("write gdesc.sql");
        let described = server.run(None, &["-f", gdesc.to_str().expect("utf-8")]);
        assert_eq!(
            (
                described.code,
                described.stdout.as_str(),
                described.stderr.as_str()
            ),
            (
                0,
                "ts,timestamp without time zone\nd,date\namount,numeric\nshare,double precision\n\
                 nothing,bigint\nlabel,text\nb,text\n",
                ""
            ),
            "{described:?}\n{}",
            server.log()
        );

        // psql's \d and \dt list the tables.
        for meta in ["\\d", "\\dt"] {
            let out = server.query(meta);
            for table in [
                "customers",
                "events",
                "invoices",
                "subscriptions",
                "surveys",
                "tickets",
            ] {
                assert!(
                    out.lines()
                        .any(|l| l.starts_with(&format!("public,{table},table,"))),
                    "{meta} lacks {table}:\n{out}"
                );
            }
        }

        // The project's models are views, their leading comment the
        // description (\dv+); the saasql functions are in pg_proc (\df),
        // with arguments, result and description (\df+).
        let views = server.query("\\dv+");
        assert!(
            views.lines().any(|l| l.starts_with("public,mrr_by_month,view,")
                && l.ends_with(",MRR of every paying customer at the start of every report month: the sum of to_mrr(amount, billing_interval) over the subscriptions running on the month's first day. Customers paying nothing that day have no row.")),
            "{views}"
        );
        assert_eq!(
            views.lines().count(),
            3,
            "only the models, not the hidden schema: {views}"
        );
        assert_eq!(
            server.query("\\df nps"),
            "public,nps,double precision,score,agg
"
        );
        let described = server.query("\\df+ engagement_weight");
        assert!(
            described.contains(",engagement_weight,double precision,event_name [, weights],func,")
                && described.contains("The weight event_name has in the engagement model"),
            "{described}"
        );
        let columns = server.query("\\d+ report_months");
        assert_eq!(
            columns,
            "month,timestamp with time zone,,not null,,plain,\n"
        );
        let definition = server.query(
            "SELECT pg_catalog.pg_get_viewdef(c.oid) FROM pg_catalog.pg_class c WHERE c.relname = 'report_months'",
        );
        assert!(
            definition.contains("SELECT DISTINCT date_trunc('month', event_time) AS month"),
            "{definition}"
        );
        // Whatever `saasql run` accepts, a client may send.
        assert_eq!(
            server.query("SELECT * EXCLUDE (name, segment, plan, country, signed_up_at) FROM customers ORDER BY 1 LIMIT 2"),
            "1\n2\n"
        );

        // What psycopg, Grafana and Metabase send on connect.
        assert!(
            server
                .query("SELECT version()")
                .starts_with("PostgreSQL 16.6 (saasql ")
        );
        assert_eq!(server.query("SELECT current_schema()"), "public\n");
        assert_eq!(
            server.query("SELECT current_setting('server_version_num')::int/100 AS version"),
            "1600\n"
        );
        assert_eq!(
            server.query("SHOW TRANSACTION ISOLATION LEVEL"),
            "read committed\n"
        );
        assert_eq!(server.query("show timezone"), "UTC\n");
        assert_eq!(server.query("SET extra_float_digits = 2"), "SET\n");
        assert_eq!(
            server.query("SET application_name = 'Metabase v0.55'; SELECT 1"),
            "SET\n1\n"
        );
        let schemas = server.query(
            "SELECT schema_name AS \"name\" FROM information_schema.schemata \
             WHERE schema_name NOT IN ('information_schema', 'pg_catalog', 'pg_toast') \
             ORDER BY schema_name",
        );
        assert!(schemas.lines().any(|l| l == "public"), "{schemas}");
        let tables = server.query(
            "SELECT quote_ident(table_name) AS \"table\" FROM information_schema.tables \
             WHERE quote_ident(table_schema) = 'public' ORDER BY 1",
        );
        assert!(tables.lines().any(|l| l == "customers"), "{tables}");
        assert_eq!(
            server.query("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"),
            ""
        );

        // SET saasql.* applies to its own connection only.
        let set = server.query("SET saasql.ltv_churn_floor = 0.25; SHOW saasql.ltv_churn_floor");
        assert_eq!(set, "SET\nsaasql.ltv_churn_floor,0.25\n");
        let other = server.query("SHOW saasql.ltv_churn_floor");
        assert!(other.starts_with("saasql.ltv_churn_floor,"), "{other}");
        assert_ne!(other, "saasql.ltv_churn_floor,0.25\n");
        let bad = server.run(None, &["-c", "SET saasql.no_such_setting = 1"]);
        assert_eq!(bad.code, 1, "{bad:?}");
        assert!(
            bad.stderr.starts_with(
                "ERROR:  42000: Error during planning: unknown setting saasql.no_such_setting"
            ),
            "{bad:?}"
        );
    }

    /// The Python clients' venv (tests/python/requirements.txt: psycopg and
    /// the ADBC Flight SQL driver), made on first use in the target folder
    /// and kept while the requirements stay the same.
    fn python_clients() -> PathBuf {
        static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        VENV.get_or_init(|| {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("venv-clients");
            let python = dir.join("bin/python");
            let requirements = repo().join("tests/python/requirements.txt");
            let wanted = std::fs::read_to_string(&requirements).expect("read requirements.txt");
            let stamp = dir.join("requirements.txt");
            if python.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted)
            {
                return python;
            }
            let _ = std::fs::remove_dir_all(&dir);
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .expect("the serve tests need python3 (with venv) for the Python clients");
            assert!(status.success(), "python3 -m venv {}", dir.display());
            let out = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "-r",
                ])
                .arg(&requirements)
                .output()
                .expect("pip runs");
            assert!(
                out.status.success(),
                "pip install -r tests/python/requirements.txt: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(&stamp, wanted).expect("write the venv's stamp");
            python
        })
        .clone()
    }

    /// Runs tests/python/clients.py with `args` in the clients' venv, which
    /// must end with "all ok".
    fn clients_all_ok(server: &Server, env: &[(&str, &str)], args: &[&std::ffi::OsStr]) {
        let out = Command::new(python_clients())
            .arg(repo().join("tests/python/clients.py"))
            .args(args)
            .current_dir(repo())
            .envs(env.iter().copied())
            .output()
            .expect("python runs");
        let checked = run_of(out);
        assert!(
            checked.code == 0 && checked.stdout.ends_with("all ok\n"),
            "{checked:?}\nserver log:\n{}",
            server.log()
        );
    }

    /// The PostgreSQL JDBC driver (pgjdbc: DBeaver, DataGrip, Tableau,
    /// Metabase) lists the tables, the project's models as views with their
    /// descriptions, their columns and the saasql functions, and gets the
    /// numbers of `saasql run` (tests/java/JdbcClient.java).
    #[test]
    fn pgjdbc_lists_models_and_gets_the_numbers() {
        let jar = Path::new("/usr/share/java/postgresql.jar");
        assert!(
            jar.is_file(),
            "the JDBC test needs pgjdbc at {} and a JDK: apt-get install libpostgresql-jdbc-java \
             default-jdk-headless (.ci/run installs them)",
            jar.display()
        );
        let env = [("SAASQL_SERVE_PASSWORD", PASSWORD)];
        let server = Server::start_with("serve-jdbc", &[], &env, false);
        let out = Command::new("java")
            .current_dir(repo())
            .env("SAASQL_SERVE_PASSWORD", PASSWORD)
            .arg("-cp")
            .arg(jar)
            .arg("tests/java/JdbcClient.java")
            .arg(server.port.to_string())
            .arg("tests/expected/overview.csv")
            .output()
            .expect("java runs (apt-get install default-jdk-headless)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.ends_with("all ok\n"),
            "{stdout}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
    }

    /// psycopg (Postgres wire protocol) and the ADBC Flight SQL driver get
    /// the numbers `saasql run` gives for sql/overview.sql, with the
    /// password; types, settings per session, refusals and wrong passwords
    /// (tests/python/clients.py). A Flight SQL client killed mid-query
    /// leaves the server idle and serving.
    #[test]
    fn python_clients_get_the_numbers_of_saasql_run() {
        let python = python_clients();
        let env = [("SAASQL_SERVE_PASSWORD", PASSWORD)];
        let server = Server::start_with("serve-python", &[], &env, true);
        let flight_port = server.flight_port.expect("flight port").to_string();
        let run = saasql_in(
            repo(),
            &[
                "--data",
                "data",
                "--format",
                "csv",
                "run",
                "sql/overview.sql",
            ],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        let expected = scratch("serve-python-files").join("overview.csv");
        std::fs::write(&expected, &run.stdout).expect("write overview.csv");
        let script = repo().join("tests/python/clients.py");
        let pg_port = server.port.to_string();
        clients_all_ok(
            &server,
            &env,
            &[
                "check".as_ref(),
                pg_port.as_ref(),
                flight_port.as_ref(),
                expected.as_os_str(),
            ],
        );

        // A Flight SQL client killed while its query runs.
        let mut client = Command::new(&python)
            .arg(&script)
            .args(["hang", &flight_port])
            .current_dir(repo())
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python runs");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(client.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read");
        assert_eq!(line, "started\n", "{}", server.log());
        std::thread::sleep(Duration::from_secs(2));
        client.kill().expect("kill the client");
        let _ = client.wait();
        server.assert_idle("after the Flight SQL client was killed");
        let after = server.run(Some(PASSWORD), &["-c", "SELECT 41 + 1"]);
        assert_eq!(
            (after.code, after.stdout.as_str()),
            (0, "42\n"),
            "{after:?}"
        );
    }

    /// With --tls-cert and --tls-key: psql, psycopg and ADBC connect over
    /// TLS, verifying the certificate (psycopg also binds SCRAM to the
    /// channel); plain connections are refused on both protocols; bad
    /// certificate or key files are one-line start errors.
    #[test]
    fn tls_only_when_given_a_certificate() {
        let dir = scratch("serve-tls-files");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("the TLS test needs the openssl command");
        assert!(made.status.success(), "openssl: {made:?}");
        let (cert_s, key_s) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));

        // Bad files: one line naming the flag and the file.
        let start = |args: &[&str]| {
            let mut all = vec!["--data", "data", "serve", "--postgres", "0"];
            all.extend_from_slice(args);
            saasql_in(repo(), &all, None)
        };
        let swapped = start(&["--tls-cert", key_s, "--tls-key", cert_s]);
        assert_eq!(swapped.code, 2, "{swapped:?}");
        assert_eq!(
            swapped.stderr,
            format!(
                "saasql: error: --tls-cert {key_s}: no certificate in it \
                 (expected PEM 'BEGIN CERTIFICATE' blocks)\n"
            )
        );
        let lone = start(&["--tls-cert", cert_s]);
        assert_eq!(lone.code, 2, "{lone:?}");
        assert!(lone.stderr.contains("--tls-key"), "{lone:?}");

        let env = [("SAASQL_SERVE_PASSWORD", PASSWORD)];
        let server = Server::start_with(
            "serve-tls",
            &["--tls-cert", cert_s, "--tls-key", key_s],
            &env,
            true,
        );
        assert!(server.log().contains("TLS only"), "{}", server.log());
        let verified = |mode: &str| {
            let mut cmd = server.psql(Some(PASSWORD));
            cmd.env("PGSSLMODE", mode)
                .env("PGSSLROOTCERT", &cert)
                .args(["-c", "\\conninfo", "-c", "SELECT 40 + 2"]);
            run_of(cmd.output().expect("psql runs"))
        };
        let ok = verified("verify-full");
        assert_eq!(ok.code, 0, "{ok:?}\n{}", server.log());
        assert!(
            ok.stdout.contains("SSL connection (protocol: TLSv1.3"),
            "{ok:?}"
        );
        assert!(ok.stdout.ends_with("42\n"), "{ok:?}");
        let plain = verified("disable");
        assert_eq!(plain.code, 2, "{plain:?}");
        assert!(
            plain
                .stderr
                .contains("FATAL:  saasql serve takes TLS connections only"),
            "{plain:?}"
        );
        assert!(
            server.log().contains("refused connection from 127.0.0.1"),
            "{}",
            server.log()
        );

        let (pg_port, flight_port) = (
            server.port.to_string(),
            server.flight_port.expect("flight port").to_string(),
        );
        clients_all_ok(
            &server,
            &env,
            &[
                "tls".as_ref(),
                pg_port.as_ref(),
                flight_port.as_ref(),
                cert.as_os_str(),
            ],
        );
        assert!(!server.log().contains(PASSWORD), "{}", server.log());
    }

    /// With --cluster, queries over the data run on the Ballista cluster
    /// and give the numbers `saasql run` gives; catalog queries (psql's
    /// `\dt`, `version()`) run in the server, which has the emulated
    /// `pg_catalog` the executors lack.
    #[test]
    fn serve_fronts_a_cluster() {
        let cluster = super::cluster::Cluster::start(scratch("serve-cluster-processes"));
        // Executors resolve paths in their own folder: give the data's full path.
        let data = repo().join("data");
        let data = data.to_str().expect("utf-8 path");
        let server = Server::start(
            "serve-cluster",
            &["--cluster", &cluster.url, "--data", data],
            &[],
        );
        let run = saasql_in(
            repo(),
            &[
                "--data",
                "data",
                "--format",
                "csv",
                "run",
                "sql/overview.sql",
            ],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
        let expected: Vec<&str> = run.stdout.lines().skip(1).collect();
        let psql = server.run(None, &["-f", "sql/overview.sql"]);
        assert_eq!(
            (psql.code, psql.stderr.as_str()),
            (0, ""),
            "{psql:?}\n{}",
            server.log()
        );
        assert_eq!(psql.stdout.lines().collect::<Vec<_>>(), expected);
        let tables = server.query("\\dt");
        assert!(
            tables
                .lines()
                .any(|l| l.starts_with("public,customers,table,")),
            "{tables}"
        );
        assert!(
            server
                .query("SELECT version()")
                .starts_with("PostgreSQL 16.6 (saasql ")
        );
        // The overview ran as a Ballista job; the catalog queries did not.
        let log = server.log();
        assert_eq!(
            log.matches("finished executing").count(),
            1,
            "one job expected:\n{log}"
        );
    }

    /// Without --allow-write, writes, paths as tables and server settings
    /// are refused with SQLSTATEs, and the server keeps serving.
    #[test]
    fn serve_is_read_only() {
        let server = Server::start("serve-readonly", &[], &[]);
        let out = scratch("serve-readonly-files").join("out.csv");
        let out = out.to_str().expect("utf-8 path");
        let refused = [
            (
                format!("COPY (SELECT 1 AS x) TO '{out}'"),
                "ERROR:  25006: saasql serve is read-only: COPY … TO is refused",
            ),
            (
                "CREATE EXTERNAL TABLE c2 STORED AS PARQUET LOCATION 'data/customers.parquet'"
                    .to_string(),
                "ERROR:  25006: saasql serve is read-only: CREATE EXTERNAL TABLE is refused",
            ),
            (
                "CREATE TABLE t AS SELECT 1 AS x".to_string(),
                "ERROR:  25006: saasql serve is read-only: CREATE TABLE is refused",
            ),
            (
                "INSERT INTO customers SELECT * FROM customers".to_string(),
                "ERROR:  25006: saasql serve is read-only: INSERT INTO is refused",
            ),
            ("SELECT * FROM '/etc/passwd'".to_string(), "ERROR:  42"),
            (
                "SET datafusion.runtime.memory_limit = '100G'".to_string(),
                "ERROR:  55P02: parameter \"datafusion.runtime.memory_limit\" belongs to the server",
            ),
            (
                "SET s3.endpoint = 'http://127.0.0.1:1'".to_string(),
                "ERROR:  55P02: parameter \"s3.endpoint\" cannot be changed over the wire",
            ),
        ];
        for (sql, expected) in &refused {
            let run = server.run(None, &["-c", sql]);
            assert_eq!(run.code, 1, "{sql}: {run:?}");
            assert!(
                run.stderr.starts_with(expected),
                "{sql}: expected {expected:?}, got {run:?}"
            );
        }
        assert!(!Path::new(out).exists(), "COPY wrote {out}");
        assert_eq!(server.query("SELECT count(*) FROM customers"), "300\n");
    }

    /// With --allow-write, the same statements run.
    #[test]
    fn allow_write_allows_writes() {
        let server = Server::start("serve-write", &["--allow-write"], &[]);
        let out = scratch("serve-write-files").join("out.csv");
        let out = out.to_str().expect("utf-8 path");
        assert_eq!(
            server.query(&format!("COPY (SELECT 1 AS x) TO '{out}'")),
            "COPY 1\n"
        );
        assert_eq!(std::fs::read_to_string(out).expect("COPY wrote"), "x\n1\n");
        assert_eq!(
            server.query("CREATE TABLE t AS SELECT 1 AS x; SELECT x FROM t"),
            "CREATE TABLE\n1\n"
        );
    }

    /// A password is required off loopback; with one, clients must give it
    /// (a wrong one is refused and the server keeps serving); it never
    /// shows in errors or logs.
    #[test]
    fn password_is_required_and_checked() {
        // Non-loopback without a password: refused at start.
        let port = free_port().to_string();
        let addr = format!("0.0.0.0:{port}");
        let run = saasql_in(
            repo(),
            &["--data", "data", "serve", "--postgres", &addr],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "saasql: error: serve: --postgres {addr} can be reached from other machines, \
                 so it needs a password: set SAASQL_SERVE_PASSWORD or --password-file\n"
            )
        );
        let run = saasql_in(
            repo(),
            &["--data", "data", "serve", "--flight-sql", &addr],
            None,
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "saasql: error: serve: --flight-sql {addr} can be reached from other machines, \
                 so it needs a password: set SAASQL_SERVE_PASSWORD or --password-file\n"
            )
        );
        let run = saasql_in(repo(), &["serve"], None);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("needs --postgres IP:PORT and/or --flight-sql IP:PORT"),
            "{run:?}"
        );

        let dir = scratch("serve-password");
        let file = dir.join("password");
        std::fs::write(&file, format!("{PASSWORD}\n")).expect("write password file");
        for (name, args, env) in [
            ("env", vec![], vec![("SAASQL_SERVE_PASSWORD", PASSWORD)]),
            (
                "file",
                vec!["--password-file", file.to_str().expect("utf-8")],
                vec![],
            ),
        ] {
            let server = Server::start(&format!("serve-password-{name}"), &args, &env);
            let wrong = server.run(Some("not-the-password"), &["-c", "SELECT 1"]);
            assert_eq!(wrong.code, 2, "{name}: {wrong:?}");
            assert!(
                wrong
                    .stderr
                    .contains("FATAL:  Password authentication failed for user \"saasql\""),
                "{name}: {wrong:?}"
            );
            let none = server.run(None, &["-w", "-c", "SELECT 1"]);
            assert_eq!(none.code, 2, "{name}: {none:?}");
            let right = server.run(Some(PASSWORD), &["-c", "SELECT 41 + 1"]);
            assert_eq!(
                (right.code, right.stdout.as_str(), right.stderr.as_str()),
                (0, "42\n", ""),
                "{name}: {right:?}\n{}",
                server.log()
            );
            let log = server.log();
            assert!(
                !log.contains(PASSWORD),
                "{name}: password in the log:\n{log}"
            );
            assert!(log.contains("refused login"), "{name}: {log}");
        }
    }

    /// A client killed mid-query, or one that cancels (psql's Ctrl-C sends
    /// a cancel request), stops its query; the server keeps serving. A
    /// query over its memory limit fails alone.
    #[test]
    fn dropped_and_cancelled_queries_stop() {
        // One query at a time, so a slot a stopped query kept would show.
        let server = Server::start(
            "serve-drop",
            &["--memory-limit", "64M", "--max-queries", "1"],
            &[],
        );
        let long = "SELECT sum(value % 7) FROM range(1, 1000000000000)";
        // Killed client.
        let mut client = server.spawn(long);
        std::thread::sleep(Duration::from_secs(2));
        client.kill().expect("kill psql");
        let _ = client.wait();
        server.assert_idle("after the client was killed");
        assert_eq!(server.query("SELECT 1"), "1\n");

        // Cancel request: SIGINT to psql.
        let client = server.spawn(long);
        std::thread::sleep(Duration::from_secs(2));
        let cancelled = interrupt(client);
        assert_eq!(cancelled.code, 1, "{cancelled:?}");
        assert!(
            cancelled
                .stderr
                .contains("57014: canceling statement due to user request"),
            "{cancelled:?}"
        );
        server.assert_idle("after the cancel request");

        // --max-queries 1: a second query waits for the first; a cancel
        // request ends its wait; a finished query frees the slot.
        let mut first = server.spawn(long);
        std::thread::sleep(Duration::from_secs(1));
        let waiting = server.spawn("SELECT 3");
        std::thread::sleep(Duration::from_secs(2));
        let waited = interrupt(waiting);
        assert_eq!(waited.code, 1, "a query ran beside the first: {waited:?}");
        assert!(waited.stderr.contains("57014"), "{waited:?}");
        first.kill().expect("kill psql");
        let _ = first.wait();
        assert_eq!(server.query("SELECT 4"), "4\n");
        server.assert_idle("after the waiting query was cancelled");

        // Over the per-query memory limit: this query fails, not the server.
        let big = server.run(
            None,
            &[
                "-c",
                "SELECT array_length(array_agg(value), 1) FROM range(20000000)",
            ],
        );
        assert_eq!(big.code, 1, "{big:?}");
        assert!(big.stderr.contains("ERROR:  53200:"), "{big:?}");
        assert_eq!(server.query("SELECT 2"), "2\n");
        assert!(server.child.id() > 0);
    }
}

/// `saasql serve` under abuse: cancelled and abandoned queries, password
/// guessing.
#[cfg(feature = "serve")]
mod serve_trust {
    use std::time::{Duration, Instant};

    use arrow_flight::sql::client::FlightSqlServiceClient;
    use futures::StreamExt;

    use super::serve::{PASSWORD, Server, interrupt};

    /// A query that computes far longer than the test: a cross join, which
    /// makes one batch per row of one side, so a single poll of it can run
    /// for a long time.
    const ENDLESS: &str = "SELECT sum((a.value * b.value) % 7) \
         FROM generate_series(1, 1000000) a CROSS JOIN generate_series(1, 1000000) b";

    /// The server's CPU time, in seconds, over two seconds that start half a
    /// second from now.
    fn cpu_seconds_soon_after(server: &Server) -> f64 {
        std::thread::sleep(Duration::from_millis(500));
        let before = server.cpu_ticks();
        std::thread::sleep(Duration::from_secs(2));
        // Clock ticks of 1/100 s (USER_HZ on Linux).
        (server.cpu_ticks() - before) as f64 / 100.0
    }

    /// Waits until the server has used three seconds of CPU from now on
    /// (its query computes, past its start into the join), at most 60 s.
    fn wait_until_it_computes(server: &Server) {
        let before = server.cpu_ticks();
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.cpu_ticks() - before < 300 {
            assert!(
                Instant::now() < deadline,
                "the query does not compute: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts ENDLESS and waits until the server computes it.
    fn start_endless(server: &Server) -> std::process::Child {
        let client = server.spawn(ENDLESS);
        wait_until_it_computes(server);
        client
    }

    /// A cancel request (psql's Ctrl-C) or a client that goes away stops
    /// the query's work within a quarter second or so, not only its rows;
    /// the server then serves the next query.
    #[test]
    fn cancel_and_disconnect_stop_the_work() {
        let server = Server::start("serve-trust-cancel", &["--max-queries", "1"], &[]);

        let cancelled = interrupt(start_endless(&server));
        assert!(
            cancelled
                .stderr
                .contains("57014: canceling statement due to user request"),
            "{cancelled:?}"
        );
        let after = cpu_seconds_soon_after(&server);
        assert!(
            after < 0.3,
            "after the cancel request the server still computes ({after}s of CPU in 2s)"
        );
        assert_eq!(server.query("SELECT 1"), "1\n");

        let mut client = start_endless(&server);
        client.kill().expect("kill psql");
        let _ = client.wait();
        let after = cpu_seconds_soon_after(&server);
        assert!(
            after < 0.3,
            "after the client went away the server still computes ({after}s of CPU in 2s)"
        );
        assert_eq!(server.query("SELECT 2"), "2\n");
    }

    /// A Flight SQL client of the server on `port`.
    async fn flight_client(port: u16) -> FlightSqlServiceClient<tonic::transport::Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        FlightSqlServiceClient::new(channel)
    }

    /// A Flight SQL client that closes its result stream early stops the
    /// query's work.
    #[test]
    fn closed_flight_stream_stops_the_work() {
        let server = Server::start_with("serve-trust-flight", &[], &[], true);
        let port = server.flight_port.expect("a Flight SQL port");
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        runtime.block_on(async {
            let mut client = flight_client(port).await;
            let info = client
                .execute(ENDLESS.to_string(), None)
                .await
                .expect("GetFlightInfo");
            let ticket = info.endpoint[0].ticket.clone().expect("a ticket");
            let mut batches = client.do_get(ticket).await.expect("DoGet");
            let first = tokio::time::timeout(Duration::from_millis(1500), batches.next()).await;
            assert!(first.is_err(), "the query ended early: {first:?}");
            wait_until_it_computes(&server);
            drop(batches);
            drop(client);
        });
        let after = cpu_seconds_soon_after(&server);
        assert!(
            after < 0.3,
            "after the stream was closed the server still computes ({after}s of CPU in 2s)"
        );
    }

    /// Wrong passwords from one address slow down its next logins (none
    /// for the first three, then 0.25 s, 0.5 s, 1 s, … up to 5 s); the
    /// right password still logs in; Flight SQL logins count the same
    /// failures; the server warns once per run of failures, naming the
    /// address and never the password.
    #[test]
    fn wrong_passwords_slow_down_their_address() {
        let server = Server::start_with(
            "serve-trust-throttle",
            &[],
            &[("SAASQL_SERVE_PASSWORD", PASSWORD)],
            true,
        );
        let wrong = "not-the-Password-0815";
        let start = Instant::now();
        for attempt in 1..=8 {
            let run = server.run(Some(wrong), &["-w", "-c", "SELECT 1"]);
            assert_eq!(run.code, 2, "attempt {attempt}: {run:?}");
            assert!(
                run.stderr.contains("Password authentication failed"),
                "attempt {attempt}: {run:?}"
            );
        }
        let took = start.elapsed();
        // 0.25 + 0.5 + 1 + 2 + 4 s of waiting, less a little.
        assert!(
            took >= Duration::from_millis(7500),
            "8 wrong passwords took only {took:?}: {}",
            server.log()
        );
        // Flight SQL shares the count: its login waits its turn (5 s), and
        // its success ends the run of failures.
        let port = server.flight_port.expect("a Flight SQL port");
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let waited = runtime.block_on(async {
            let mut client = flight_client(port).await;
            let start = Instant::now();
            client
                .handshake("saasql", PASSWORD)
                .await
                .expect("the right password logs in");
            start.elapsed()
        });
        assert!(
            waited >= Duration::from_millis(4500),
            "the Flight SQL login waited only {waited:?}"
        );
        let right = server.run(Some(PASSWORD), &["-w", "-c", "SELECT 41 + 1"]);
        assert_eq!(
            (right.code, right.stdout.as_str(), right.stderr.as_str()),
            (0, "42\n", ""),
            "{right:?}\n{}",
            server.log()
        );
        let log = server.log();
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("wrong passwords in a row"))
            .collect();
        assert_eq!(warnings.len(), 1, "{log}");
        assert!(
            warnings[0].contains("WARN") && warnings[0].contains("from 127.0.0.1 (Postgres)"),
            "{log}"
        );
        assert!(!log.contains(wrong) && !log.contains(PASSWORD), "{log}");
    }
}

/// The expected output of bundled report `name`.
fn expected_report(name: &str) -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(repo.join(format!("tests/expected/{name}.csv")))
        .expect("expected output")
}

/// `saasql init` writes a project that runs at once, from its folder or
/// below it or with --project; `saasql models` and `saasql config` describe
/// it; a second init replaces nothing.
#[test]
fn init_writes_a_project_that_runs() {
    let parent = scratch("init");
    let dir = parent.join("acme");
    let dir_text = dir.to_str().expect("utf-8");
    let run = saasql_in(&parent, &["init", "acme"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("created the project acme"), "{run:?}");
    for name in ["overview", "cohorts", "clv", "churn"] {
        let run = saasql_in(
            &dir,
            &["-f", "csv", "run", &format!("sql/{name}.sql")],
            None,
        );
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{name}");
        assert_eq!(run.stdout, expected_report(name), "{name}");
    }
    // Found from a sub-folder, and named from elsewhere.
    let run = saasql_in(
        &dir.join("sql"),
        &["-f", "csv", "run", "overview.sql"],
        None,
    );
    assert_eq!(run.stdout, expected_report("overview"), "{run:?}");
    let overview = dir.join("sql/overview.sql");
    let run = saasql_in(
        &parent,
        &[
            "--project",
            dir_text,
            "-f",
            "csv",
            "run",
            overview.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(run.stdout, expected_report("overview"), "{run:?}");

    let run = saasql_in(&dir, &["models", "-f", "json"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(r#""name":"mrr_by_month","description":"MRR of every paying customer"#)
            && run.stdout.contains(r#""columns":"month TIMESTAMP WITH TIME ZONE, customer_id BIGINT, mrr DOUBLE","depends_on":"report_months","replaces_table":false,"file":"models/mrr_by_month.sql""#),
        "{run:?}"
    );

    // Each value and its source: the project, a variable, a flag.
    let run = saasql_in(&dir, &["config", "-f", "csv"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let data = format!("data,{}/data,project saasql.toml\n", dir.display());
    assert!(run.stdout.contains(&data), "{run:?}");
    assert!(
        run.stdout
            .contains("params.as_of,\"computed when used: SELECT"),
        "{run:?}"
    );
    let run = saasql_env(
        &dir,
        &["config", "-f", "csv"],
        &[("SAASQL_TARGET_PARTITIONS", "3")],
        None,
    );
    assert!(
        run.stdout
            .contains("target_partitions,3,SAASQL_TARGET_PARTITIONS\n"),
        "{run:?}"
    );
    let run = saasql_in(
        &dir,
        &[
            "config",
            "-f",
            "csv",
            "--data",
            "/y",
            "-p",
            "as_of=2025-01-01",
        ],
        None,
    );
    assert!(run.stdout.contains("data,/y,--data\n"), "{run:?}");
    assert!(
        run.stdout.contains("params.as_of,2025-01-01,--param\n"),
        "{run:?}"
    );

    // A second init replaces nothing.
    let run = saasql_in(&parent, &["init", "acme"], None);
    assert_one_line_error(&run, 2, "saasql: error: init acme: is not empty");
    assert!(dir.join("saasql.toml").is_file());
    // Without a project, `models` says where it looked.
    let elsewhere = scratch("no_project");
    let run = saasql_in(&elsewhere, &["--data", empty_dir(), "models"], None);
    assert_one_line_error(
        &run,
        3,
        &format!(
            "saasql: error: no project: no saasql.toml in {} or its parents",
            elsewhere.display()
        ),
    );
    let run = saasql_in(
        &elsewhere,
        &["--project", elsewhere.to_str().expect("utf-8"), "models"],
        None,
    );
    assert_one_line_error(
        &run,
        3,
        &format!(
            "saasql: error: project {}: no saasql.toml there",
            elsewhere.display()
        ),
    );
}

/// A project's models are views in every entry point: a model named like a
/// table maps an export onto it (with a notice), models read models, and
/// `$parameters` take the project's defaults. A broken model is reported at
/// its file and line; a cycle is named.
#[test]
fn models_and_params_of_a_project() {
    let dir = scratch("project_models");
    write_file(
        &dir,
        "saasql.toml",
        "data = \"exports\"\n[params]\nmin_score = 9\ntop = { sql = \"SELECT max(score) FROM surveys\" }\n",
    );
    std::fs::create_dir_all(dir.join("exports")).expect("exports");
    // An export whose columns are not the canonical ones.
    write_file(
        &dir,
        "exports/surveys.csv",
        "cust,rating\n1,9\n2,3\n3,10\n4,7\n",
    );
    std::fs::create_dir_all(dir.join("models/nested")).expect("models");
    write_file(
        &dir,
        "models/surveys.sql",
        "-- The survey answers, renamed to the canonical columns.\nSELECT cust AS customer_id, rating AS score FROM surveys\n",
    );
    write_file(
        &dir,
        "models/nested/promoters.sql",
        "SELECT customer_id FROM surveys WHERE score >= 9;\n",
    );
    let notice = "saasql: notice: model surveys (models/surveys.sql) replaces the table surveys\n";

    let run = saasql_in(
        &dir,
        &["-f", "csv", "-c", "SELECT count(*) AS n FROM promoters"],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "n\n2\n", notice),
        "{run:?}"
    );
    let run = saasql_in(
        &dir,
        &["-f", "csv"],
        Some("SELECT nps(score) AS nps FROM surveys;"),
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "nps\n25.0\n"),
        "{run:?}"
    );
    write_file(
        &dir,
        "report.sql",
        "SELECT count(*) AS n FROM surveys WHERE score >= $min_score;\n",
    );
    let run = saasql_in(&dir, &["-f", "csv", "run", "report.sql"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, "n\n2\n"), "{run:?}");
    let run = saasql_in(
        &dir,
        &["-f", "csv", "-p", "min_score=10", "run", "report.sql"],
        None,
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "n\n1\n"), "{run:?}");
    // A default computed by a query, the first time a statement uses it.
    let run = saasql_in(&dir, &["-f", "csv", "-c", "SELECT $top AS top"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, "top\n10\n"), "{run:?}");
    // Batch jobs see models too.
    write_file(
        &dir,
        "job.toml",
        "[[outputs]]\nname = \"p\"\nsql = \"SELECT customer_id FROM promoters ORDER BY 1\"\npath = \"out/p.csv\"\nformat = \"csv\"\n",
    );
    let run = saasql_in(&dir, &["batch", "job.toml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("out/p.csv")).expect("p.csv"),
        "customer_id\n1\n3\n"
    );

    // A model that does not plan: its file and line, a caret under the name.
    write_file(
        &dir,
        "models/broken.sql",
        "SELECT customer_id,\n       nosuch\nFROM surveys\n",
    );
    let run = saasql_in(&dir, &["-c", "SELECT 1"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("models/broken.sql:2: error:") && run.stderr.contains("nosuch"),
        "{run:?}"
    );
    assert!(run.stderr.contains("|        ^^^^^^"), "{run:?}");
    std::fs::remove_file(dir.join("models/broken.sql")).expect("rm");
    write_file(&dir, "models/a.sql", "SELECT * FROM b_model\n");
    write_file(&dir, "models/b_model.sql", "SELECT * FROM a\n");
    let run = saasql_in(&dir, &["-c", "SELECT 1"], None);
    assert_one_line_error(
        &run,
        1,
        "saasql: error: the models read each other in a cycle: a → b_model → a (models/a.sql, models/b_model.sql)",
    );
    std::fs::remove_file(dir.join("models/b_model.sql")).expect("rm");
    write_file(&dir, "models/a.sql", "SELECT 1; SELECT 2;\n");
    let run = saasql_in(&dir, &["-c", "SELECT 1"], None);
    assert_one_line_error(
        &run,
        1,
        "saasql: error: model models/a.sql: a model holds exactly one SELECT, this file has 2 statements",
    );
}

/// Moving every timestamp of the sample by one calendar year moves every
/// month-based report's labels by a year and changes none of its numbers:
/// no report holds a date. clv is day-based (weeks between payments): the
/// sample's 2024 invoices cross 29 February, so a calendar year moves them by
/// 366 days and the later ones by 365; moved by exactly 52 weeks, clv prints
/// the same numbers.
#[test]
fn reports_follow_the_data_when_every_date_moves() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let parent = scratch("shifted");
    for (folder, shift) in [("year", "1 year"), ("weeks", "364 days")] {
        let dir = parent.join(folder);
        let run = saasql_in(&parent, &["init", "--no-data", folder], None);
        assert_eq!(run.code, 0, "{run:?}");
        // COPY statements that move every timestamp column of each table.
        let generate = format!(
            "SELECT 'COPY (SELECT ' || string_agg(CASE WHEN data_type LIKE 'Timestamp%' OR data_type = 'Date32' \
             THEN column_name || ' + INTERVAL ''{shift}'' AS ' || column_name ELSE column_name END, \
             ', ' ORDER BY ordinal_position) || ' FROM ' || table_name || ') TO ''{}/data/' || table_name || '.parquet'';' AS sql \
             FROM information_schema.columns GROUP BY table_name \
             HAVING table_name IN ('customers', 'events', 'invoices', 'subscriptions', 'surveys', 'tickets', \
             'subscription_items', 'fx_rates')",
            dir.display()
        );
        let run = saasql_in(
            repo,
            &["--data", "data", "-f", "csv", "-c", &generate],
            None,
        );
        assert_eq!(run.code, 0, "{run:?}");
        let copies: String = run
            .stdout
            .lines()
            .skip(1)
            .map(|l| l.trim_matches('"').replace("\"\"", "\"") + "\n")
            .collect();
        assert_eq!(copies.lines().count(), 8, "{copies}");
        let run = saasql_in(repo, &["--data", "data", "run", "-"], Some(&copies));
        assert_eq!(run.code, 0, "{run:?}");
        let reports: &[&str] = if folder == "year" {
            &[
                "arr_by_plan",
                "churn",
                "churn_conventions",
                "cohorts",
                "customers_by_plan",
                "engagement",
                "health",
                "ltv",
                "mrr_movements",
                "mrr_reconcile",
                "mrr_waterfall",
                "nrr_cohorts",
                "overview",
                "retention",
                "stickiness",
                "support",
                "surveys",
            ]
        } else {
            &["clv"]
        };
        for name in reports {
            let run = saasql_in(
                &dir,
                &["-f", "csv", "run", &format!("sql/{name}.sql")],
                None,
            );
            assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{name} ({shift})");
            let expected = if folder == "year" {
                expected_report(name)
                    .replace("2025-", "2026-")
                    .replace("2024-", "2025-")
            } else {
                expected_report(name)
            };
            assert_eq!(run.stdout, expected, "{name} moved by {shift}");
        }
    }
}

/// Copies every file of `from` into `to` (created if missing).
fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
}

/// The export mappings under examples/: every bundled report, run through
/// each example's models on its vendor-shaped export, prints exactly what it
/// prints on the same customers in the canonical shape; and
/// examples/make_fixtures.sql still makes the exports that are committed.
#[test]
fn export_mappings_run_every_report() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let parent = scratch("mappings");
    for name in ["segment", "stripe", "canonical"] {
        let run = saasql_in(&parent, &["init", "--no-data", name], None);
        assert_eq!(run.code, 0, "{run:?}");
    }
    for example in ["segment", "stripe"] {
        copy_files(
            &repo.join("examples").join(example).join("models"),
            &parent.join(example).join("models"),
        );
        copy_files(
            &repo.join("examples").join(example).join("data"),
            &parent.join(example).join("data"),
        );
    }
    // The same customers, canonical.
    let mut copies: String = [
        "customers",
        "events",
        "subscriptions",
        "invoices",
        "surveys",
        "tickets",
        "subscription_items",
    ]
    .iter()
    .map(|t| {
        format!(
            "COPY (SELECT * FROM {t} WHERE customer_id <= 20) TO '{}/canonical/data/{t}.parquet' STORED AS PARQUET;\n",
            parent.display()
        )
    })
    .collect();
    copies += &format!(
        "COPY (SELECT * FROM fx_rates) TO '{}/canonical/data/fx_rates.parquet' STORED AS PARQUET;\n",
        parent.display()
    );
    let run = saasql_in(repo, &["--data", "data", "run", "-"], Some(&copies));
    assert_eq!(run.code, 0, "{run:?}");
    let mut reports: Vec<String> = std::fs::read_dir(repo.join("sql"))
        .expect("sql/")
        .map(|e| {
            e.expect("entry")
                .path()
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    reports.sort();
    assert_eq!(reports.len(), 19);
    // The Stripe example's subscription_items model gives the canonical
    // items row for row (only the ids are Stripe's), so the six reports on
    // the ledger run through it too.
    let items = "SELECT customer_id, plan, started_at, ended_at, canceled_at, trial_end, amount, quantity, \
                 currency, billing_interval, interval_count, discount_percent, discount_amount, discount_end, metered \
                 FROM subscription_items ORDER BY customer_id, started_at, metered, amount, quantity";
    let canonical_items = saasql_in(&parent.join("canonical"), &["-f", "csv", "-c", items], None);
    let stripe_items = saasql_in(&parent.join("stripe"), &["-f", "csv", "-c", items], None);
    assert_eq!(canonical_items.code, 0, "{canonical_items:?}");
    assert!(
        canonical_items.stdout.lines().count() > 20,
        "{canonical_items:?}"
    );
    assert_eq!(
        stripe_items.stdout, canonical_items.stdout,
        "{stripe_items:?}"
    );
    let on_ledger = |report: &str| {
        std::fs::read_to_string(repo.join(format!("sql/{report}.sql")))
            .expect("report")
            .contains("mrr_ledger(")
    };
    assert_eq!(reports.iter().filter(|r| on_ledger(r)).count(), 6);
    for report in &reports {
        let file = format!("sql/{report}.sql");
        let canonical = saasql_in(
            &parent.join("canonical"),
            &["-f", "csv", "run", &file],
            None,
        );
        assert_eq!(
            (canonical.code, canonical.stderr.as_str()),
            (0, ""),
            "{report}"
        );
        assert!(
            canonical.stdout.lines().count() > 2,
            "{report}: {canonical:?}"
        );
        for example in ["segment", "stripe"] {
            let run = saasql_in(&parent.join(example), &["-f", "csv", "run", &file], None);
            assert_eq!(
                (run.code, run.stderr.as_str()),
                (0, ""),
                "{report} on {example}"
            );
            assert_eq!(run.stdout, canonical.stdout, "{report} on {example}");
        }
    }

    // make_fixtures.sql makes exactly the committed exports.
    let fresh = scratch("mappings_fresh");
    for example in ["segment", "stripe"] {
        std::fs::create_dir_all(fresh.join("examples").join(example).join("data")).expect("mkdir");
    }
    let script = repo.join("examples/make_fixtures.sql");
    let data = repo.join("data");
    let run = saasql_in(
        &fresh,
        &[
            "--data",
            data.to_str().expect("utf-8"),
            "run",
            script.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    for example in ["segment", "stripe"] {
        let committed = repo.join("examples").join(example).join("data");
        for entry in std::fs::read_dir(&committed).expect("data") {
            let path = entry.expect("entry").path();
            let made = fresh
                .join("examples")
                .join(example)
                .join("data")
                .join(path.file_name().expect("name"));
            let sql = format!(
                "SELECT (SELECT count(*) FROM (SELECT * FROM '{a}' EXCEPT ALL SELECT * FROM '{b}')) \
                 + (SELECT count(*) FROM (SELECT * FROM '{b}' EXCEPT ALL SELECT * FROM '{a}')) AS differ, \
                 (SELECT count(*) FROM '{a}') AS made",
                a = made.display(),
                b = path.display()
            );
            let run = saasql_in(
                &fresh,
                &["--data", empty_dir(), "-f", "csv", "-c", &sql],
                None,
            );
            assert_eq!(run.code, 0, "{run:?}");
            assert!(
                run.stdout.starts_with("differ,made\n0,") && !run.stdout.ends_with(",0\n"),
                "{}: {}",
                path.display(),
                run.stdout
            );
        }
    }
}

/// The Stripe example's subscription_items model on the cases the bundled
/// fixture lacks: a `once` coupon ends one billing interval after the first
/// paid day (Stripe records no end for it, and left open it would count as
/// a `forever` coupon), a `repeating` one when Stripe says, `amount_off` is
/// in cents and taken once per subscription, a seat added later starts
/// then, every 3 months stays month × 3, a price with only
/// unit_amount_decimal, usage is undiscounted, a trial that never converted
/// is an item but not a subscription, and a subscription whose first
/// payment failed is neither.
#[test]
fn stripe_mapping_of_coupons_intervals_and_usage() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let parent = scratch("stripe_cases");
    let run = saasql_in(&parent, &["init", "--no-data", "acme"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let dir = parent.join("acme");
    copy_files(&repo.join("examples/stripe/models"), &dir.join("models"));
    let ts = |s: &str| format!("CAST('{s}' AS TIMESTAMP)");
    let none = "CAST(NULL AS TIMESTAMP)";
    let exports = format!(
        "COPY (SELECT * FROM (VALUES \
           ('sub_a', 'cus_a', 'active', {a}, {a}, {a}, {at}, {none}, false, {none}, 'co_20off_once', {a}, {none}), \
           ('sub_b', 'cus_b', 'canceled', {b}, {b}, {none}, {none}, {bc}, true, {be}, 'co_5000usd_repeating3', {b}, {bd}), \
           ('sub_c', 'cus_c', 'active', {c}, {c}, {none}, {none}, {none}, false, {none}, NULL, {none}, {none}), \
           ('sub_d', 'cus_d', 'canceled', {d}, {d}, {d}, {de}, {dc}, true, {de}, NULL, {none}, {none}), \
           ('sub_e', 'cus_e', 'incomplete_expired', {d}, {d}, {none}, {none}, {none}, false, {de}, NULL, {none}, {none})) \
           AS t(id, customer_id, status, created, start_date, trial_start, trial_end, canceled_at, \
                cancel_at_period_end, ended_at, discount_coupon_id, discount_start, discount_end)) \
         TO 'data/stripe_subscriptions.parquet' STORED AS PARQUET;\n\
         COPY (SELECT * FROM (VALUES \
           ('si_1', 'sub_a', 'price_pro', CAST(2 AS BIGINT), {a}), \
           ('si_2', 'sub_b', 'price_ent_year', 1, {b}), \
           ('si_3', 'sub_c', 'price_growth_q', 1, {c}), \
           ('si_4', 'sub_c', 'price_usage', NULL, {c}), \
           ('si_5', 'sub_d', 'price_pro', 1, {d}), \
           ('si_6', 'sub_b', 'price_seat_year', 3, {bs}), \
           ('si_7', 'sub_e', 'price_pro', 1, {d})) \
           AS t(id, subscription_id, price_id, quantity, created)) \
         TO 'data/stripe_subscription_items.parquet' STORED AS PARQUET;\n\
         COPY (SELECT * FROM (VALUES \
           ('price_pro', 'prod_pro', 'pro', 'recurring', CAST(10000 AS BIGINT), '10000', 'usd', 'month', CAST(1 AS BIGINT), 'licensed'), \
           ('price_ent_year', 'prod_ent', 'enterprise', 'recurring', 120000, '120000', 'usd', 'year', 1, 'licensed'), \
           ('price_seat_year', 'prod_seat', 'seat', 'recurring', 12000, '12000', 'usd', 'year', 1, 'licensed'), \
           ('price_growth_q', 'prod_growth', 'growth', 'recurring', 30000, '30000', 'usd', 'month', 3, 'licensed'), \
           ('price_usage', 'prod_api_calls', 'API calls', 'recurring', NULL, '4500.5', 'usd', 'month', 1, 'metered')) \
           AS t(id, product_id, nickname, type, unit_amount, unit_amount_decimal, currency, recurring_interval, \
                recurring_interval_count, recurring_usage_type)) \
         TO 'data/stripe_prices.parquet' STORED AS PARQUET;\n\
         COPY (SELECT * FROM (VALUES \
           ('co_20off_once', CAST(20.0 AS DOUBLE), CAST(NULL AS BIGINT), CAST(NULL AS VARCHAR), 'once', CAST(NULL AS BIGINT)), \
           ('co_5000usd_repeating3', NULL, 5000, 'usd', 'repeating', 3)) \
           AS t(id, percent_off, amount_off, currency, duration, duration_in_months)) \
         TO 'data/stripe_coupons.parquet' STORED AS PARQUET;\n\
         COPY (SELECT * FROM (VALUES ('cus_a', 'account_id', '1'), ('cus_b', 'account_id', '2'), \
                                     ('cus_c', 'account_id', '3'), ('cus_d', 'account_id', '4'), \
                                     ('cus_e', 'account_id', '5')) \
           AS t(customer_id, key, value)) \
         TO 'data/stripe_customers_metadata.parquet' STORED AS PARQUET;\n",
        a = ts("2025-01-10 00:00:00"),
        at = ts("2025-01-24 00:00:00"),
        b = ts("2025-01-05 00:00:00"),
        bs = ts("2025-03-05 00:00:00"),
        bc = ts("2025-08-20 00:00:00"),
        bd = ts("2025-04-05 00:00:00"),
        be = ts("2026-01-05 00:00:00"),
        c = ts("2025-02-01 00:00:00"),
        d = ts("2025-03-01 00:00:00"),
        dc = ts("2025-03-12 00:00:00"),
        de = ts("2025-03-15 00:00:00"),
    );
    let run = saasql_in(&dir, &["run", "-"], Some(&exports));
    assert_eq!(run.code, 0, "{run:?}");
    let csv = |sql: &str| {
        let run = saasql_in(&dir, &["-f", "csv", "-c", sql], None);
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout
    };
    assert_eq!(
        csv(
            "SELECT customer_id, subscription_id, plan, started_at, amount, quantity, billing_interval, \
             interval_count, discount_percent, discount_amount, discount_end, metered FROM subscription_items \
             ORDER BY customer_id, metered, started_at"
        ),
        "customer_id,subscription_id,plan,started_at,amount,quantity,billing_interval,interval_count,\
         discount_percent,discount_amount,discount_end,metered\n\
         1,sub_a,pro,2025-01-10T00:00:00,100.0,2,month,1,20.0,,2025-02-24T00:00:00,false\n\
         2,sub_b,enterprise,2025-01-05T00:00:00,1200.0,1,year,1,,50.0,2025-04-05T00:00:00,false\n\
         2,sub_b,enterprise,2025-03-05T00:00:00,120.0,3,year,1,,,,false\n\
         3,sub_c,growth,2025-02-01T00:00:00,300.0,1,month,3,,,,false\n\
         3,sub_c,growth,2025-02-01T00:00:00,45.005,1,month,1,,,,true\n\
         4,sub_d,pro,2025-03-01T00:00:00,100.0,1,month,1,,,,false\n"
    );
    assert_eq!(
        csv("SELECT * FROM subscriptions ORDER BY customer_id"),
        "subscription_id,customer_id,plan,billing_interval,amount,currency,started_at,ended_at\n\
         sub_a,1,pro,month,200.0,USD,2025-01-24T00:00:00,\n\
         sub_b,2,enterprise,year,1560.0,USD,2025-01-05T00:00:00,2026-01-05T00:00:00\n\
         sub_c,3,growth,quarter,300.0,USD,2025-02-01T00:00:00,\n"
    );
    let ledger = |convention: &str, customer: u32| {
        csv(&format!(
            "SELECT customer_id, month, mrr, movement FROM mrr_ledger('subscription_items', '{convention}', \
             DATE '2025-04-01') WHERE customer_id = {customer} ORDER BY month"
        ))
    };
    // Stripe's own rule counts only forever coupons: the once coupon of
    // customer 1 does not lower its MRR; ChartMogul's counts it in the
    // first paid month, January (the trial ends on the 24th).
    assert_eq!(
        ledger("stripe", 1),
        "customer_id,month,mrr,movement\n1,2025-01-01,200.0,new\n1,2025-02-01,200.0,retained\n\
         1,2025-03-01,200.0,retained\n1,2025-04-01,200.0,retained\n"
    );
    assert_eq!(
        ledger("chartmogul", 1),
        "customer_id,month,mrr,movement\n1,2025-01-01,160.0,new\n1,2025-02-01,200.0,expansion\n\
         1,2025-03-01,200.0,retained\n1,2025-04-01,200.0,retained\n"
    );
    // $50 off each year for three months, once for the subscription; three
    // seats at $120 a year from March.
    assert_eq!(
        ledger("chartmogul", 2),
        "customer_id,month,mrr,movement\n2,2025-01-01,95.833333,new\n2,2025-02-01,95.833333,retained\n\
         2,2025-03-01,125.833333,expansion\n2,2025-04-01,130.0,expansion\n"
    );
}

/// A project whose tables are not there yet still opens: its models that
/// read a missing table are unavailable (one warning each at start, exit 3
/// for the queries that use them); a batch job's inputs are what its models
/// read; a report run from elsewhere finds the project it lives in; a found
/// saasql.toml of another user is not used; `saasql config` hides secrets.
#[test]
fn projects_without_data_batch_inputs_and_strangers() {
    let parent = scratch("project_edges");
    let run = saasql_in(&parent, &["init", "--no-data", "empty"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let dir = parent.join("empty");
    let run = saasql_in(&dir, &["-f", "csv", "-c", "SELECT 1 AS one"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, "one\n1\n"), "{run:?}");
    assert_eq!(
        run.stderr,
        "saasql: warning: model customer_lifetimes (models/customer_lifetimes.sql:4) cannot be used: table 'datafusion.public.subscriptions' not found\n\
         saasql: warning: model report_months (models/report_months.sql:4) cannot be used: table 'datafusion.public.events' not found\n\
         saasql: warning: model mrr_by_month (models/mrr_by_month.sql:4) cannot be used: it reads the model report_months, which cannot be used\n"
    );
    let run = saasql_in(&dir, &["run", "sql/retention.sql"], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("sql/retention.sql:5: error: model mrr_by_month (models/mrr_by_month.sql:4) cannot be used: it reads the model report_months"),
        "{run:?}"
    );

    // A batch job's inputs are the tables its models read.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let job = format!(
        "[inputs]\nevents = \"{d}/events/\"\nsubscriptions = \"{d}/subscriptions.parquet\"\n\
         [[outputs]]\nname = \"retention\"\nsql_file = \"sql/retention.sql\"\npath = \"out/retention.csv\"\nformat = \"csv\"\n",
        d = repo.join("data").display()
    );
    write_file(&dir, "job.toml", &job);
    let run = saasql_in(&dir, &["batch", "job.toml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("out/retention.csv")).expect("output"),
        expected_report("retention")
    );

    // `saasql run FILE` from outside any project: the report's project.
    let elsewhere = scratch("project_edges_elsewhere");
    let report = repo.join("sql/overview.sql");
    let run = saasql_in(
        &elsewhere,
        &["-f", "csv", "run", report.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, expected_report("overview").as_str()),
        "{run:?}"
    );

    // A saasql.toml that another user owns is not used when found.
    let stranger = scratch("project_edges_stranger");
    write_file(&stranger, "saasql.toml", "[params]\nx = 1\n");
    let chown = Command::new("chown")
        .args([
            "12345",
            stranger.join("saasql.toml").to_str().expect("utf-8"),
        ])
        .status();
    if chown.is_ok_and(|s| s.success()) {
        let run = saasql_in(&stranger, &["--data", empty_dir(), "-c", "SELECT $x"], None);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.starts_with(&format!(
                "saasql: warning: {} is owned by another user (uid 12345), so it is not used",
                stranger.join("saasql.toml").display()
            )),
            "{run:?}"
        );
        let named = stranger.to_str().expect("utf-8");
        let run = saasql_in(
            &stranger,
            &[
                "--project",
                named,
                "--data",
                empty_dir(),
                "-f",
                "csv",
                "-c",
                "SELECT $x AS x",
            ],
            None,
        );
        assert_eq!((run.code, run.stdout.as_str()), (0, "x\n1\n"), "{run:?}");
    }

    // `saasql config` shows no secret.
    let secretive = scratch("project_edges_secrets");
    write_file(
        &secretive,
        "saasql.toml",
        "[tables]\nbilling = \"postgres://reporting:hunter2@db:5432/billing?table=invoices\"\n\
         [settings]\n\"s3.secret_access_key\" = \"wJalrXUtnFEMI\"\n\
         [storage.s3]\naccess_key_id = \"AKIAEXAMPLE\"\n",
    );
    let run = saasql_in(
        &secretive,
        &["--data", empty_dir(), "config", "-f", "csv"],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    for secret in ["hunter2", "wJalrXUtnFEMI", "AKIAEXAMPLE"] {
        assert!(!run.stdout.contains(secret), "{secret}: {run:?}");
    }
    assert!(
        run.stdout
            .contains("settings.s3.secret_access_key,(set),project saasql.toml\n"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("storage.s3.access_key_id,(set),project saasql.toml\n"),
        "{run:?}"
    );
}

/// `saasql test`: the bundled project's checks pass on the sample; on data
/// made to fail each kind of check it reports every one (error, warn, did
/// not run), writes JUnit XML and exits 1; 3 when an input is unreadable;
/// 2 for a bad check or none at all.
#[test]
fn checks_pass_on_the_sample_and_fail_on_broken_data() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = saasql_in(repo, &["test", "-f", "csv"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr,
        "saasql: 6 checks: 6 passed, 0 warned, 0 failed\n"
    );
    let statuses: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["pass"; 6], "{run:?}");

    // The same project on broken exports.
    let parent = scratch("checks");
    let run = saasql_in(&parent, &["init", "--no-data", "broken"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let dir = parent.join("broken");
    let setup = format!(
        "COPY (SELECT * FROM (VALUES (1, 'a', 'smb', 'pro', 'DE', TIMESTAMP '2025-01-01 00:00:00+00:00')) \
              AS t(customer_id, name, segment, plan, country, signed_up_at)) TO '{d}/customers.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM (VALUES (1, 1, 'pro', 'month', -50.0, 'USD', TIMESTAMP '2025-01-01 00:00:00+00:00', CAST(NULL AS TIMESTAMP)))
              AS t(subscription_id, customer_id, plan, billing_interval, amount, currency, started_at, ended_at)) TO '{d}/subscriptions.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM (VALUES (TIMESTAMP '2025-03-01 10:00:00+00:00', 1, 1, 'login', 1), (TIMESTAMP '2025-03-10 10:00:00+00:00', 1, 1, 'login', 2))
              AS t(event_time, customer_id, user_id, event_name, session_id)) TO '{d}/events.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM (VALUES (1, 1, 'nps', 11, TIMESTAMP '2025-03-01 10:00:00+00:00'))
              AS t(customer_id, user_id, kind, score, responded_at)) TO '{d}/surveys.parquet' STORED AS PARQUET;",
        d = dir.join("data").display()
    );
    let run = saasql_in(&parent, &["--data", empty_dir(), "run", "-"], Some(&setup));
    assert_eq!(run.code, 0, "{run:?}");
    // A warn-severity check, and the as_of of freshness from the project's $as_of.
    write_file(
        &dir,
        "tests/checks/few_events.sql",
        "-- severity: warn\n-- warn_if: < 5\nSELECT * FROM events\n",
    );
    let run = saasql_in(
        &dir,
        &[
            "test",
            "-f",
            "csv",
            "--junit",
            "checks.xml",
            "--as-of",
            "2025-03-20",
            "--store-failures",
            "failures",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stderr, "saasql: error: 7 checks: 2 passed, 2 warned, 3 failed\n",
        "{run:?}"
    );
    let line = |name: &str| -> String {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap_or_else(|| panic!("no {name} in {}", run.stdout))
            .to_string()
    };
    assert!(
        line("mrr_never_negative").starts_with("mrr_never_negative,singular,error,1 failing row,"),
        "{}",
        run.stdout
    );
    assert!(
        line("mrr_never_negative")
            .contains("{month: 2025-03-01T00:00:00, customer_id: 1, mrr: -50.0}"),
        "{}",
        run.stdout
    );
    assert!(
        line("survey_scores_in_range")
            .starts_with("survey_scores_in_range,singular,error,1 failing row,"),
        "{}",
        run.stdout
    );
    assert!(
        line("few_events").starts_with("few_events,singular,warn,2 failing rows,"),
        "{}",
        run.stdout
    );
    // nps() refuses the score 11: the check could not run.
    assert!(
        line("nps_floor").starts_with("nps_floor,threshold,error,did not run,>= 0,"),
        "{}",
        run.stdout
    );
    assert!(
        line("nps_floor").contains("nps: score 11 is outside 0..10"),
        "{}",
        run.stdout
    );
    // The check's own as_of ($as_of: midnight after the last event, 10:00
    // on 2025-03-10) wins over --as-of: 14 hours, past warn_after 12h.
    assert!(
        line("events_fresh").starts_with("events_fresh,freshness,warn,14h 0m old,"),
        "{}",
        run.stdout
    );
    assert!(
        line("customers_exported").starts_with("customers_exported,row_count,pass,1 rows,"),
        "{}",
        run.stdout
    );
    // The failing rows, as Parquet.
    let stored = dir.join("failures/mrr_never_negative.parquet");
    let run2 = saasql_in(
        &dir,
        &[
            "--no-project",
            "--data",
            empty_dir(),
            "-f",
            "csv",
            "-c",
            &format!("SELECT mrr FROM '{}'", stored.display()),
        ],
        None,
    );
    assert_eq!(
        (run2.code, run2.stdout.as_str()),
        (0, "mrr\n-50.0\n"),
        "{run2:?}"
    );
    assert!(!dir.join("failures/customers_exported.parquet").exists());
    let junit = std::fs::read_to_string(dir.join("checks.xml")).expect("junit");
    assert!(
        junit.contains("<testsuite name=\"saasql\" tests=\"7\" failures=\"3\""),
        "{junit}"
    );
    assert!(junit.contains("<testcase classname=\"saasql.singular\" name=\"mrr_never_negative\" file=\"tests/checks/mrr_never_negative.sql\">\n    <failure message=\"error: 1 failing row"), "{junit}");

    // Freshness against --as-of when the check names none.
    let stale = scratch("checks_stale");
    write_file(
        &stale,
        "saasql.toml",
        "[[checks]]\nname = \"events_fresh\"\ntable = \"events\"\ncolumn = \"event_time\"\nwarn_after = \"1d\"\nerror_after = \"1w\"\n",
    );
    std::fs::create_dir_all(stale.join("data")).expect("data");
    let events = format!(
        "COPY (SELECT TIMESTAMP '2025-03-10 10:00:00+00:00' AS event_time) TO '{}/data/events.parquet' STORED AS PARQUET;",
        stale.display()
    );
    let run = saasql_in(&parent, &["--data", empty_dir(), "run", "-"], Some(&events));
    assert_eq!(run.code, 0, "{run:?}");
    for (as_of, status, code) in [
        ("2025-03-11 09:00:00", "pass", 0),
        ("2025-03-13", "warn", 0),
        ("2025-03-20", "error", 1),
    ] {
        let run = saasql_in(&stale, &["test", "-f", "csv", "--as-of", as_of], None);
        assert_eq!(run.code, code, "{as_of}: {run:?}");
        assert!(
            run.stdout
                .contains(&format!("events_fresh,freshness,{status},")),
            "{as_of}: {run:?}"
        );
    }

    // An anomaly check: the latest bucket against the ones before.
    let spiky = scratch("checks_anomaly");
    write_file(
        &spiky,
        "saasql.toml",
        "[[checks]]\nname = \"spike\"\nsql = \"SELECT d, v FROM (VALUES (DATE '2025-03-01', 10.0), \
         (DATE '2025-03-02', 11.0), (DATE '2025-03-03', 9.0), (DATE '2025-03-04', 10.0), \
         (DATE '2025-03-05', 30.0)) AS t(d, v)\"\ntraining = 14\n",
    );
    let run = saasql_in(&spiky, &["--data", empty_dir(), "test", "-f", "csv"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains(
            "spike,anomaly,error,\"2025-03-05: 30.0 (expected 10.0 ± 0.82, z 24.49) anomalous\","
        ),
        "{run:?}"
    );

    // An unreadable input: exit 3.
    write_file(&stale, "data/broken.parquet", "not parquet");
    write_file(&stale, "tests/reads_broken.sql", "SELECT * FROM broken\n");
    let run = saasql_in(
        &stale,
        &["test", "-f", "csv", "--as-of", "2025-03-11"],
        None,
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout
            .contains("reads_broken,singular,error,did not run,"),
        "{run:?}"
    );

    // A bad header, and no checks.
    std::fs::remove_file(stale.join("data/broken.parquet")).expect("rm");
    write_file(
        &stale,
        "tests/reads_broken.sql",
        "-- error_if: lots\nSELECT 1\n",
    );
    let run = saasql_in(&stale, &["test"], None);
    assert_one_line_error(
        &run,
        2,
        "saasql: error: check tests/reads_broken.sql: 'lots': expected a comparison and a number",
    );
    let none = scratch("checks_none");
    write_file(&none, "saasql.toml", "");
    let run = saasql_in(&none, &["--data", empty_dir(), "test"], None);
    assert_one_line_error(
        &run,
        2,
        &format!(
            "saasql: error: no checks: {} has no tests/*.sql",
            none.display()
        ),
    );
}

/// Backslash commands outside the shell: `\d` from stdin, `\set` carried
/// across `-c` commands, `\q` ending the run; bound parameters keep their
/// column names, also in joins of same-named columns.
#[test]
fn backslash_commands_in_scripts_and_parameter_names() {
    let run = saasql(&["-f", "csv"], Some("\\d surveys\n"));
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (
            0,
            "column_name,data_type,is_nullable\ncustomer_id,Int64,NO\nname,Utf8View,NO\nscore,Int64,YES\n"
        ),
        "{run:?}"
    );
    let run = saasql(
        &[
            "-f",
            "csv",
            "-c",
            "\\set n 5",
            "-c",
            "SELECT $n * 2 AS twice",
            "-c",
            "\\q",
            "-c",
            "SELECT nothing",
        ],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "twice\n10\n"),
        "{run:?}"
    );
    let run = saasql(
        &[
            "-f",
            "csv",
            "-p",
            "p=5",
            "-c",
            "SELECT a.id, b.id, $p * 2 FROM (VALUES (1)) a(id) JOIN (VALUES (1)) b(id) ON a.id = b.id",
        ],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "id,id,$p * Int64(2)\n1,1,10\n"),
        "{run:?}"
    );
    let run = saasql(&["-c", "\\x"], None);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            2,
            "-c#1:1: error: \\x works in the interactive shell; a report's format is --format\n  | \\x\n"
        )
    );
}

/// A batch job's input named like a model replaces the model (with a
/// notice), and the other models read the job's inputs.
#[test]
fn batch_inputs_win_over_models() {
    let dir = scratch("batch_vs_models");
    write_file(&dir, "saasql.toml", "");
    write_file(
        &dir,
        "models/counted.sql",
        "SELECT count(*) AS n FROM surveys\n",
    );
    write_file(&dir, "models/scores.sql", "SELECT 1 AS score\n");
    let data = fixture().join("data");
    let job = format!(
        "[inputs]\nsurveys = \"{d}/surveys.parquet\"\nscores = \"{d}/surveys.parquet\"\n\
         [[outputs]]\nname = \"o\"\nsql = \"SELECT (SELECT n FROM counted) AS n, (SELECT count(*) FROM scores) AS scores\"\n\
         path = \"out.csv\"\nformat = \"csv\"\n",
        d = data.display()
    );
    write_file(&dir, "job.toml", &job);
    let run = saasql_in(&dir, &["--data", empty_dir(), "batch", "job.toml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("saasql: notice: the job's input scores replaces the model scores"),
        "{run:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).expect("out"),
        "n,scores\n4,4\n"
    );
}

/// `run --test` and `batch --test`: a failing error-severity check stops
/// the command before it writes anything, and the previous output stays.
#[test]
fn run_and_batch_test_first() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = saasql_in(
        repo,
        &["-f", "csv", "run", "--test", "sql/overview.sql"],
        None,
    );
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
    assert_eq!(run.stdout, expected_report("overview"));

    let parent = scratch("gate");
    let run = saasql_in(&parent, &["init", "--no-data", "p"], None);
    assert_eq!(run.code, 0, "{run:?}");
    let dir = parent.join("p");
    // A sample with one negative subscription amount.
    let setup = format!(
        "COPY (SELECT customer_id, subscription_id, plan, billing_interval, \
                CASE WHEN subscription_id = (SELECT min(subscription_id) FROM subscriptions WHERE ended_at IS NULL) \
                     THEN -amount ELSE amount END AS amount, currency, started_at, ended_at \
              FROM subscriptions) TO '{d}/subscriptions.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM customers) TO '{d}/customers.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM events) TO '{d}/events.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM surveys) TO '{d}/surveys.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM invoices) TO '{d}/invoices.parquet' STORED AS PARQUET;
         COPY (SELECT * FROM tickets) TO '{d}/tickets.parquet' STORED AS PARQUET;",
        d = dir.join("data").display()
    );
    let run = saasql_in(repo, &["--data", "data", "run", "-"], Some(&setup));
    assert_eq!(run.code, 0, "{run:?}");
    write_file(&dir, "out.csv", "yesterday's report\n");
    let run = saasql_in(
        &dir,
        &["run", "--test", "--output", "out.csv", "sql/overview.sql"],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .starts_with("saasql: check mrr_never_negative error: "),
        "{run:?}"
    );
    assert!(
        run.stderr.ends_with("saasql: error: --test: 1 of 6 checks failed; nothing was run or written, the previous outputs stay\n"),
        "{run:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).expect("out"),
        "yesterday's report\n"
    );
    write_file(
        &dir,
        "job.toml",
        "[[outputs]]\nname = \"o\"\nsql = \"SELECT 1 AS x\"\npath = \"out.csv\"\nformat = \"csv\"\n",
    );
    let run = saasql_in(&dir, &["batch", "--test", "job.toml"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).expect("out"),
        "yesterday's report\n"
    );
    // Without --test the report runs.
    let run = saasql_in(&dir, &["batch", "job.toml"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).expect("out"),
        "x\n1\n"
    );
}

/// A webhook receiver on 127.0.0.1: answers each request with the next of
/// `answers` (status, body; the last repeats), or never answers when the
/// status is 0. Returns its address and the requests (path, body) it got.
/// The requests a [`webhook_server`] got: (path, body).
type Requests = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

fn webhook_server(answers: Vec<(u16, &'static str)>) -> (String, Requests) {
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let seen: Requests = Arc::<Mutex<_>>::default();
    let requests = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut held = vec![];
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut head = vec![];
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).to_string();
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            let _ = stream.read_exact(&mut body);
            requests
                .lock()
                .expect("lock")
                .push((path, String::from_utf8_lossy(&body).to_string()));
            let (status, text) = answers[n.min(answers.len() - 1)];
            if status == 0 {
                held.push(stream);
                continue;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (address, seen)
}

/// `[notify]` and `--on-failure`: a command gets the results as JSON on
/// stdin, a webhook gets them POSTed with a Slack `text` (retrying 5xx,
/// not 4xx, with a timeout); the webhook URL is read from the environment
/// or a file and never printed; an alert that cannot be delivered exits 1,
/// also after `run --test` wrote its report.
#[cfg(unix)]
#[test]
fn alerts_reach_a_command_and_a_webhook() {
    let dir = scratch("alerts");
    let warn_check =
        "[[checks]]\nname = \"one_is_small\"\nseverity = \"warn\"\nsql = \"SELECT 1\"\nmin = 2\n";
    let error_check = "[[checks]]\nname = \"two_is_big\"\nsql = \"SELECT 2\"\nmax = 1\n";
    let project = |checks: &str, notify: &str| {
        write_file(
            &dir,
            "saasql.toml",
            &format!("{checks}\n[notify]\n{notify}"),
        );
        let _ = std::fs::remove_file(dir.join("alert.json"));
    };
    let alert = || -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join("alert.json")).expect("alert.json");
        serde_json::from_str(&text).expect("JSON alert")
    };

    // A command, when a check warns: the results on stdin, in the
    // project's folder, its stdout kept off ours.
    project(warn_check, "command = \"cat > alert.json; echo sent\"\n");
    let run = saasql_in(&dir, &["-f", "csv", "test"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("check,kind,status"), "{run:?}");
    assert!(!run.stdout.contains("sent"), "{run:?}");
    assert!(
        run.stderr.ends_with(
            "sent\nsaasql: 1 checks: 0 passed, 1 warned, 0 failed; alert sent (command)\n"
        ),
        "{run:?}"
    );
    let a = alert();
    assert_eq!(a["status"], "warn");
    assert_eq!(a["command"], "saasql test");
    assert_eq!(a["summary"]["warned"], 1);
    assert_eq!(a["checks"][0]["check"], "one_is_small");
    assert_eq!(a["checks"][0]["observed"], "1");
    assert!(
        a["text"]
            .as_str()
            .expect("text")
            .contains("\n• warn one_is_small: 1 (threshold >= 2)"),
        "{a}"
    );
    // on = "error": a warning sends nothing; nor does a pass.
    project(
        warn_check,
        "on = \"error\"\ncommand = \"cat > alert.json\"\n",
    );
    let run = saasql_in(&dir, &["test"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!dir.join("alert.json").exists());
    project(
        "[[checks]]\nname = \"fine\"\nsql = \"SELECT 1\"\nmin = 0\n",
        "command = \"cat > alert.json\"\n",
    );
    let run = saasql_in(&dir, &["test"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!dir.join("alert.json").exists());
    // --on-failure replaces [notify] command; SAASQL_CHECKS_STATUS is set.
    project(error_check, "command = \"exit 9\"\n");
    let run = saasql_in(
        &dir,
        &[
            "test",
            "--on-failure",
            "printf %s \"$SAASQL_CHECKS_STATUS\" > status.txt; cat > alert.json",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(alert()["checks"][0]["status"], "error");
    assert_eq!(
        std::fs::read_to_string(dir.join("status.txt")).expect("status"),
        "error"
    );
    assert!(
        run.stderr.ends_with(
            "saasql: error: 1 checks: 0 passed, 0 warned, 1 failed; alert sent (command)\n"
        ),
        "{run:?}"
    );
    // A failing or hanging command is an error even when checks only warn.
    project(warn_check, "command = \"exit 7\"\n");
    let run = saasql_in(&dir, &["test"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.ends_with(
            "; the alert could not be delivered: notify command: exited with status 7\n"
        ),
        "{run:?}"
    );
    // What the command started is stopped too (else it would hold our
    // stderr open until it ends).
    project(
        warn_check,
        "command = \"sleep 30; true\"\ntimeout = \"1s\"\n",
    );
    let started = std::time::Instant::now();
    let run = saasql_in(&dir, &["test"], None);
    assert!(started.elapsed().as_secs() < 20, "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .ends_with("notify command: still running after 1s; stopped\n"),
        "{run:?}"
    );

    // A webhook: a 5xx is retried, the URL (credential in its path) never
    // printed.
    let secret = "T0000/B0000/hunter2secret";
    let hooked = |url: &str| {
        let run = saasql_env(&dir, &["test"], &[("HOOK_URL", url)], None);
        assert!(!run.stderr.contains("hunter2"), "{run:?}");
        run
    };
    let (address, seen) = webhook_server(vec![(500, "oops"), (429, ""), (200, "ok")]);
    let url = format!("http://{address}/services/{secret}");
    project(warn_check, "webhook_env = \"HOOK_URL\"\nretries = 2\n");
    let config = saasql_in(&dir, &["-f", "csv", "config"], None);
    assert!(
        config.stdout.contains("notify.webhook,$HOOK_URL,"),
        "{config:?}"
    );
    let run = hooked(&url);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .ends_with(&format!("alert sent (webhook ({address}))\n")),
        "{run:?}"
    );
    {
        let requests = seen.lock().expect("lock");
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert_eq!(requests[2].0, format!("/services/{secret}"));
        let body: serde_json::Value = serde_json::from_str(&requests[2].1).expect("JSON body");
        assert!(
            body["text"]
                .as_str()
                .expect("text")
                .starts_with("saasql checks: 0 failed, 1 warned (of 1) in alerts: saasql test"),
            "{body}"
        );
        assert_eq!(body["checks"][0]["check"], "one_is_small");
    }
    // Failing after its retries; a 4xx is not retried; no answer times out.
    let (address, seen) = webhook_server(vec![(503, "")]);
    let url = format!("http://{address}/services/{secret}");
    project(warn_check, "webhook_env = \"HOOK_URL\"\nretries = 1\n");
    let run = hooked(&url);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.ends_with(&format!(
            "the alert could not be delivered: notify webhook: {address} answered HTTP 503 Service Unavailable (after 2 attempts)\n"
        )),
        "{run:?}"
    );
    assert_eq!(seen.lock().expect("lock").len(), 2);
    let (address, seen) = webhook_server(vec![(
        404,
        "no_service for /services/T0000/B0000/hunter2secret",
    )]);
    let url = format!("http://{address}/services/{secret}");
    let run = hooked(&url);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.ends_with(&format!(
            "notify webhook: {address} answered HTTP 404 Not Found: no_service for /…\n"
        )),
        "{run:?}"
    );
    assert_eq!(seen.lock().expect("lock").len(), 1);
    let (address, _) = webhook_server(vec![(0, "")]);
    let url = format!("http://{address}/services/{secret}");
    project(
        warn_check,
        "webhook_env = \"HOOK_URL\"\nretries = 0\ntimeout = \"1s\"\n",
    );
    let run = hooked(&url);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.ends_with(&format!(
            "notify webhook: {address} did not answer within 1s\n"
        )),
        "{run:?}"
    );
    // Unset, plain http to another host, a literal URL in the file.
    let run = saasql_in(&dir, &["test"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.ends_with(
            "notify webhook: webhook_env: the environment variable HOOK_URL is not set\n"
        ),
        "{run:?}"
    );
    let far = format!("http://hooks.example.com/services/{secret}");
    let run = hooked(&far);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("(host hooks.example.com) uses plain http"),
        "{run:?}"
    );
    project(
        warn_check,
        &format!("webhook = \"https://hooks.example.com/services/{secret}\"\n"),
    );
    let run = saasql_in(&dir, &["test"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("set webhook_env = \"NAME\""), "{run:?}");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
    // The URL put where the variable's name goes: refused, not repeated.
    project(
        warn_check,
        &format!("webhook_env = \"https://hooks.example.com/services/{secret}\"\n"),
    );
    let run = saasql_in(&dir, &["test"], None);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains("hunter2"), "{run:?}");

    // run --test: the checks only warn, so the report is written; the
    // undeliverable alert then fails the command. The URL from a file.
    let (address, _) = webhook_server(vec![(500, "")]);
    write_file(
        &dir,
        "hook.txt",
        &format!("http://{address}/services/{secret}\n"),
    );
    write_file(&dir, "report.sql", "SELECT 42 AS answer\n");
    project(warn_check, "webhook_file = \"hook.txt\"\nretries = 0\n");
    let run = saasql_in(
        &dir,
        &["run", "--test", "--output", "out.csv", "report.sql"],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).expect("out"),
        "answer\n42\n"
    );
    assert!(
        run.stderr.ends_with(&format!(
            "saasql: error: the report ran and its outputs are written, but the check alert could not be delivered: notify webhook: {address} answered HTTP 500 Internal Server Error\n"
        )),
        "{run:?}"
    );
    assert!(!run.stderr.contains("hunter2"), "{run:?}");
    // batch --test with an error check: the alert goes out, nothing is run.
    project(error_check, "");
    write_file(
        &dir,
        "job.toml",
        "[[outputs]]\nname = \"o\"\nsql = \"SELECT 1 AS x\"\npath = \"out.csv\"\nformat = \"csv\"\n",
    );
    let run = saasql_in(
        &dir,
        &[
            "batch",
            "--test",
            "--on-failure",
            "cat > alert.json",
            "job.toml",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(alert()["command"], "saasql batch --test");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.csv")).expect("out"),
        "answer\n42\n"
    );
    // --on-failure needs --test on run and batch.
    let run = saasql_in(&dir, &["run", "--on-failure", "true", "report.sql"], None);
    assert_eq!(run.code, 2, "{run:?}");
}
