//! The `saasql` command, run as a real process: exact output, exit codes and
//! one-line errors.
//!
//! Every test works on small Parquet data that the first test to need it
//! writes (with `saasql run` and `COPY … TO`) under Cargo's
//! `CARGO_TARGET_TMPDIR`, and passes `--data` explicitly.

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
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
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
        let root =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}", std::process::id()));
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
    assert_eq!(lines.len(), 2, "{run:?}");
    assert!(
        lines[0].starts_with("syntax.sql:3: error: SQL error: "),
        "{run:?}"
    );
    assert_eq!(lines[1], "  | SELEC oops;");

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
        "unknown.sql:2: error: Error during planning: table 'datafusion.public.nope' not found\n  | SELECT * FROM nope\n"
    );
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
    let run = saasql_in(&dir, &["--data", ".", "run", "-"], Some("SELECT 1;"));
    assert_one_line_error(&run, 3, "saasql: error: table 'bad' (");
    assert!(run.stderr.contains("Parquet"), "{run:?}");
    // The same file through SQL.
    let run = saasql_in(
        &dir,
        &["--data", empty_dir(), "run", "-"],
        Some("CREATE EXTERNAL TABLE b STORED AS PARQUET LOCATION 'bad.parquet';"),
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.starts_with("<stdin>:1: error: "), "{run:?}");
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
    assert_eq!(run.stdout, saasql::docs::reference_markdown());
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
