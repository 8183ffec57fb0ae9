//! `saasql test`: the project's checks, so a scheduled report never
//! publishes quietly wrong numbers.
//!
//! - **Singular checks**: `tests/**/*.sql` in the project (or the files and
//!   folders given), each one query returning the failing rows (dbt's
//!   convention). Header comments: `-- severity: error|warn` (default
//!   error), `-- error_if: > 0` and `-- warn_if: > 0` (conditions on the
//!   number of failing rows; the defaults are `!= 0`).
//! - **Declared checks**: `[[checks]]` in `saasql.toml`: a threshold on the
//!   one value a query returns (`sql`, `min`, `max`), a row count (`table`,
//!   `min_rows`, `max_rows`) and freshness (`table`, `column`, `warn_after`,
//!   `error_after`, against `--as-of`, the check's `as_of`, or now), and
//!   an anomaly test (`sql` returning `(bucket_time, value)`, `training`,
//!   `sensitivity`, `seasonality`, `detection`: the latest buckets judged by
//!   `metric_anomaly`).
//!
//! Every check gives one line: pass, warn or error, what was observed, the
//! threshold, and for singular checks a few failing rows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use serde::Deserialize;

use saasql::util::numbers::fmt_num;

use super::error::{CliError, CliResult, Code};
use super::output::{Format, PrintOptions, Target, write_batches};
use super::project::shown;
use super::report::{Outcome, parse_script, start};

/// How many failing rows a line shows.
const SAMPLE_ROWS: usize = 3;

/// A `[[checks]]` entry of `saasql.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredCheck {
    /// Its name in the results.
    pub name: String,
    /// What it guards, for readers of the results.
    pub description: Option<String>,
    /// `error` (default) or `warn`.
    pub severity: Option<String>,
    /// A query returning one value (threshold check).
    pub sql: Option<String>,
    /// The smallest value allowed.
    pub min: Option<f64>,
    /// The largest value allowed.
    pub max: Option<f64>,
    /// The table of a row count or freshness check.
    pub table: Option<String>,
    /// Row count: at least this many rows.
    pub min_rows: Option<u64>,
    /// Row count: at most this many rows.
    pub max_rows: Option<u64>,
    /// Freshness: the timestamp column.
    pub column: Option<String>,
    /// Freshness: warn when the newest row is older than this (`36h`, `2d`).
    pub warn_after: Option<String>,
    /// Freshness: error when the newest row is older than this.
    pub error_after: Option<String>,
    /// Freshness: the time to measure against: a date or timestamp, or
    /// `$name` for a `[params]` value (default: `--as-of`, else now).
    pub as_of: Option<String>,
    /// Anomaly: how many earlier buckets of the same season to learn from
    /// (default 14).
    pub training: Option<u32>,
    /// Anomaly: how many standard deviations away is anomalous (default 3).
    pub sensitivity: Option<f64>,
    /// Anomaly: `none` (default), `day_of_week`, `day_of_month`, `hour_of_day`.
    pub seasonality: Option<String>,
    /// Anomaly: how many of the latest buckets must not be anomalous
    /// (default 1).
    pub detection: Option<u32>,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Within bounds.
    Pass,
    /// Outside the warning bounds, or a warn-severity failure.
    Warn,
    /// An error-severity failure, or the check could not run.
    Error,
}

impl Status {
    /// `pass`, `warn` or `error`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Error => "error",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// Its name.
    pub name: String,
    /// `singular`, `threshold`, `row_count`, `freshness`.
    pub kind: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was measured (`3 failing rows`, `41.2`, `2d 3h old`).
    pub observed: String,
    /// The rule (`error_if > 0`, `min 30`, `error_after 1d`).
    pub threshold: String,
    /// Failing rows, or why the check could not run.
    pub details: String,
    /// Where it is defined.
    pub source: String,
    /// The check could not run because an input is unreadable (exit 3).
    pub input_error: bool,
    /// A singular check's failing rows (for `--store-failures`).
    pub failures: Option<Vec<RecordBatch>>,
}

/// A condition on a number: `> 10`, `>= 1`, `!= 0`, `= 0`, `< 5`, `<= 5`.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    op: &'static str,
    value: f64,
}

impl Condition {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("'{text}': expected a comparison and a number, e.g. '> 10'");
        for op in [">=", "<=", "!=", "<>", ">", "<", "="] {
            if let Some(rest) = text.strip_prefix(op) {
                let value: f64 = rest.trim().parse().map_err(|_| bad())?;
                if !value.is_finite() {
                    return Err(bad());
                }
                let op = if op == "<>" { "!=" } else { op };
                return Ok(Condition { op, value });
            }
        }
        Err(bad())
    }

    fn holds(&self, n: f64) -> bool {
        match self.op {
            ">" => n > self.value,
            ">=" => n >= self.value,
            "<" => n < self.value,
            "<=" => n <= self.value,
            "=" => n == self.value,
            _ => n != self.value,
        }
    }

    fn text(&self) -> String {
        format!("{} {}", self.op, fmt_num(self.value))
    }
}

/// The singular check files: `.sql` files under each of `paths` (files
/// as they are), in path order.
pub fn singular_files(paths: &[PathBuf]) -> CliResult<Vec<PathBuf>> {
    let mut out = vec![];
    for path in paths {
        if path.is_dir() {
            collect(path, &mut out)?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(CliError::input(format!(
                "saasql test: {} not found",
                path.display()
            )));
        }
    }
    out.sort();
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> CliResult<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| CliError::input(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// A singular check's header settings.
struct Header {
    severity: Status,
    error_if: Condition,
    warn_if: Condition,
    description: Option<String>,
}

fn header(name: &str, sql: &str) -> CliResult<Header> {
    let bad = |why: String| CliError::usage(format!("check {name}: {why}"));
    let mut h = Header {
        severity: Status::Error,
        error_if: Condition {
            op: "!=",
            value: 0.0,
        },
        warn_if: Condition {
            op: "!=",
            value: 0.0,
        },
        description: None,
    };
    let mut words = vec![];
    for line in sql.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        let comment = comment.trim();
        let directive = comment
            .split_once(':')
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()));
        match directive {
            Some((key, value)) if key == "severity" => {
                h.severity = match value.to_ascii_lowercase().as_str() {
                    "error" => Status::Error,
                    "warn" => Status::Warn,
                    other => return Err(bad(format!("severity '{other}': use error or warn"))),
                };
            }
            Some((key, value)) if key == "error_if" => {
                h.error_if = Condition::parse(value).map_err(bad)?
            }
            Some((key, value)) if key == "warn_if" => {
                h.warn_if = Condition::parse(value).map_err(bad)?
            }
            _ => words.push(comment.to_string()),
        }
    }
    h.description = (!words.is_empty()).then(|| words.join(" "));
    Ok(h)
}

/// Runs a singular check: its query's rows are the failures.
async fn run_singular(ctx: &SessionContext, path: &Path) -> CliResult<CheckResult> {
    let source = shown(path);
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sql = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("cannot read {source}: {e}")))?;
    let h = header(&source, &sql)?;
    let threshold = match h.severity {
        Status::Error => format!(
            "error_if {}, warn_if {}",
            h.error_if.text(),
            h.warn_if.text()
        ),
        _ => format!("warn_if {} (severity warn)", h.warn_if.text()),
    };
    let mut result = CheckResult {
        name,
        kind: "singular",
        status: Status::Pass,
        observed: String::new(),
        threshold,
        details: h.description.clone().unwrap_or_default(),
        source: source.clone(),
        input_error: false,
        failures: None,
    };
    let script = parse_script(ctx, &source, &sql)?;
    let [statement] = script.statements.as_slice() else {
        return Err(CliError::usage(format!(
            "check {source}: a check holds one query returning the failing rows, this file has {} statements",
            script.statements.len()
        )));
    };
    let outcome = start(ctx, statement, &Default::default())
        .await
        .map_err(|e| script.error(statement, CliError::datafusion(&e), Some(&e)));
    let batches = match outcome {
        Ok(Outcome::Rows(df)) => df.collect().await.map_err(|e| CliError::datafusion(&e)),
        Ok(_) => Err(CliError::usage(format!(
            "check {source}: a check is a query (SELECT …) returning the failing rows"
        ))),
        Err(e) => Err(e),
    };
    let batches = match batches {
        Ok(b) => b,
        Err(e) => return Ok(failed_to_run(result, e)),
    };
    let failing: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let n = failing as f64;
    result.observed = format!(
        "{failing} failing row{}",
        if failing == 1 { "" } else { "s" }
    );
    result.status = if h.severity == Status::Error && h.error_if.holds(n) {
        Status::Error
    } else if h.warn_if.holds(n) {
        Status::Warn
    } else {
        Status::Pass
    };
    if failing > 0 {
        result.failures = Some(batches.clone());
        let sample = sample_rows(&batches, SAMPLE_ROWS);
        result.details = if failing > SAMPLE_ROWS {
            format!("{sample}; …")
        } else {
            sample
        };
    }
    Ok(result)
}

/// A check that could not run: an error with why.
fn failed_to_run(mut result: CheckResult, e: CliError) -> CheckResult {
    result.status = Status::Error;
    result.observed = "did not run".into();
    result.input_error = e.code() == Some(Code::Input);
    let message = e.message();
    result.details = ["Execution error: ", "Error during planning: "]
        .iter()
        .fold(message.as_str(), |m, p| m.trim_start_matches(p))
        .to_string();
    result
}

/// The first `n` rows as `{a: 1, b: x}; {…}`.
fn sample_rows(batches: &[RecordBatch], n: usize) -> String {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = vec![];
    for batch in batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .filter_map(|c| ArrayFormatter::try_new(c.as_ref(), &options).ok())
            .collect();
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for row in 0..batch.num_rows() {
            if rows.len() == n {
                return rows.join("; ");
            }
            let cells: Vec<String> = names
                .iter()
                .zip(&formatters)
                .map(|(name, f)| format!("{name}: {}", f.value(row)))
                .collect();
            rows.push(format!("{{{}}}", cells.join(", ")));
        }
    }
    rows.join("; ")
}

/// A duration such as `36h`, `2d`, `90m`, `1d12h`, in seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let mut total = 0i64;
    let mut number = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            ' ' => continue,
            _ => {
                return Err(format!(
                    "'{text}': use a number and s, m, h, d or w (e.g. 36h, 2d)"
                ));
            }
        };
        let n: i64 = number
            .parse()
            .map_err(|_| format!("'{text}': use a number and s, m, h, d or w (e.g. 36h, 2d)"))?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("'{text}': too long"))?;
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any {
        return Err(format!(
            "'{text}': use a number and s, m, h, d or w (e.g. 36h, 2d)"
        ));
    }
    Ok(total)
}

fn age_text(seconds: i64) -> String {
    let (d, rest) = (seconds / 86_400, seconds % 86_400);
    let (h, m) = (rest / 3600, (rest % 3600) / 60);
    match (d, h) {
        (0, 0) => format!("{m}m old"),
        (0, _) => format!("{h}h {m}m old"),
        _ => format!("{d}d {h}h old"),
    }
}

/// The one value `sql` returns, as a number (NULL: `None`).
async fn one_value(ctx: &SessionContext, sql: &str) -> CliResult<Option<ScalarValue>> {
    let df = ctx.sql(sql).await.map_err(|e| CliError::datafusion(&e))?;
    let batches = df.collect().await.map_err(|e| CliError::datafusion(&e))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let columns = batches.first().map_or(0, RecordBatch::num_columns);
    if rows != 1 || columns != 1 {
        return Err(CliError::usage(format!(
            "the query must return one row with one column; it returned {rows} row(s) with {columns} column(s)"
        )));
    }
    let batch = batches.iter().find(|b| b.num_rows() == 1).expect("one row");
    let value =
        ScalarValue::try_from_array(batch.column(0), 0).map_err(|e| CliError::datafusion(&e))?;
    Ok((!value.is_null()).then_some(value))
}

fn as_f64(value: &ScalarValue) -> Option<f64> {
    match value.cast_to(&DataType::Float64).ok()? {
        ScalarValue::Float64(v) => v,
        _ => None,
    }
}

/// Runs a declared check.
async fn run_declared(
    ctx: &SessionContext,
    check: &DeclaredCheck,
    origin: &str,
    as_of: Option<&str>,
) -> CliResult<CheckResult> {
    let bad = |why: String| CliError::usage(format!("{origin}: check {}: {why}", check.name));
    let severity = match check.severity.as_deref().unwrap_or("error") {
        "error" => Status::Error,
        "warn" => Status::Warn,
        other => return Err(bad(format!("severity '{other}': use error or warn"))),
    };
    let mut result = CheckResult {
        name: check.name.clone(),
        kind: "threshold",
        status: Status::Pass,
        observed: String::new(),
        threshold: String::new(),
        details: check.description.clone().unwrap_or_default(),
        source: origin.to_string(),
        input_error: false,
        failures: None,
    };
    // Out of bounds: this check's severity.
    let failed = |ok: bool| if ok { Status::Pass } else { severity };
    let anomaly = check.training.is_some()
        || check.sensitivity.is_some()
        || check.seasonality.is_some()
        || check.detection.is_some();
    if let (Some(sql), true) = (&check.sql, anomaly) {
        return run_anomaly(ctx, check, sql, result, severity).await;
    }
    if let Some(sql) = &check.sql {
        if check.min.is_none() && check.max.is_none() {
            return Err(bad("a threshold check needs min, max or both".into()));
        }
        result.threshold = match (check.min, check.max) {
            (Some(lo), Some(hi)) => format!("between {} and {}", fmt_num(lo), fmt_num(hi)),
            (Some(lo), None) => format!(">= {}", fmt_num(lo)),
            (None, Some(hi)) => format!("<= {}", fmt_num(hi)),
            (None, None) => unreachable!("checked above"),
        };
        return Ok(match one_value(ctx, sql).await {
            Ok(Some(v)) => match as_f64(&v) {
                Some(x) => {
                    result.observed = fmt_num(x);
                    result.status = failed(
                        check.min.is_none_or(|lo| x >= lo) && check.max.is_none_or(|hi| x <= hi),
                    );
                    result
                }
                None => failed_to_run(result, bad(format!("its query returned {v}, not a number"))),
            },
            Ok(None) => {
                result.observed = "NULL".into();
                result.status = severity;
                result.details = "the query returned NULL (no data?)".into();
                result
            }
            Err(e) => failed_to_run(result, e),
        });
    }
    let Some(table) = &check.table else {
        return Err(bad(
            "give sql (with min/max), or table (with min_rows/max_rows, or column with warn_after/error_after)"
                .into(),
        ));
    };
    if let Some(column) = &check.column {
        result.kind = "freshness";
        let warn = check
            .warn_after
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(bad)?;
        let error = check
            .error_after
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(bad)?;
        if warn.is_none() && error.is_none() {
            return Err(bad(
                "a freshness check needs warn_after, error_after or both".into(),
            ));
        }
        let reference = match check.as_of.as_deref().or(as_of) {
            Some(p) if p.starts_with('$') => {
                let name = &p[1..];
                match super::project::param_default(ctx, name).await {
                    Ok(Some(v)) => {
                        format!("CAST('{}' AS TIMESTAMP)", v.to_string().replace('\'', "''"))
                    }
                    Ok(None) => {
                        return Err(bad(format!("as_of {p}: no such parameter in [params]")));
                    }
                    Err(e) => return Ok(failed_to_run(result, CliError::datafusion(&e))),
                }
            }
            Some(t) => format!("CAST('{}' AS TIMESTAMP)", t.replace('\'', "''")),
            None => "CAST(now() AS TIMESTAMP)".into(),
        };
        result.threshold = [
            check.warn_after.as_ref().map(|w| format!("warn_after {w}")),
            check
                .error_after
                .as_ref()
                .map(|e| format!("error_after {e}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let sql = format!(
            "SELECT CAST(date_part('epoch', {reference} - CAST(max(\"{c}\") AS TIMESTAMP)) AS BIGINT) FROM \"{t}\"",
            c = column.replace('"', "\"\""),
            t = table.replace('"', "\"\"")
        );
        return Ok(match one_value(ctx, &sql).await {
            Ok(Some(v)) => {
                let age = as_f64(&v).unwrap_or_default() as i64;
                result.observed = age_text(age);
                result.status = if error.is_some_and(|e| age > e) {
                    severity
                } else if warn.is_some_and(|w| age > w) {
                    Status::Warn
                } else {
                    Status::Pass
                };
                result
            }
            Ok(None) => {
                result.observed = "no rows".into();
                result.status = severity;
                result
            }
            Err(e) => failed_to_run(result, e),
        });
    }
    result.kind = "row_count";
    if check.min_rows.is_none() && check.max_rows.is_none() {
        return Err(bad(
            "a row count check needs min_rows, max_rows or both".into()
        ));
    }
    result.threshold = match (check.min_rows, check.max_rows) {
        (Some(lo), Some(hi)) => format!("between {lo} and {hi} rows"),
        (Some(lo), None) => format!(">= {lo} rows"),
        (None, Some(hi)) => format!("<= {hi} rows"),
        (None, None) => unreachable!("checked above"),
    };
    let sql = format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\""));
    Ok(match one_value(ctx, &sql).await {
        Ok(Some(v)) => {
            let n = as_f64(&v).unwrap_or_default() as u64;
            result.observed = format!("{n} rows");
            result.status = failed(
                check.min_rows.is_none_or(|lo| n >= lo) && check.max_rows.is_none_or(|hi| n <= hi),
            );
            result
        }
        Ok(None) => failed_to_run(result, bad("count(*) returned NULL".into())),
        Err(e) => failed_to_run(result, e),
    })
}

/// An anomaly check: `sql` returns `(bucket_time, value)`; the latest
/// `detection` buckets must not be anomalous by `metric_anomaly`.
async fn run_anomaly(
    ctx: &SessionContext,
    check: &DeclaredCheck,
    sql: &str,
    mut result: CheckResult,
    severity: Status,
) -> CliResult<CheckResult> {
    result.kind = "anomaly";
    let training = check.training.unwrap_or(14);
    let sensitivity = check.sensitivity.unwrap_or(3.0);
    let seasonality = check.seasonality.clone().unwrap_or_else(|| "none".into());
    let detection = check.detection.unwrap_or(1).max(1);
    result.threshold = format!(
        "|z| <= {} over the latest {detection} bucket{} (training {training}, seasonality {seasonality})",
        fmt_num(sensitivity),
        if detection == 1 { "" } else { "s" }
    );
    let query = format!(
        "SELECT CAST(t AS VARCHAR) AS t, v, round(a['expected'], 2) AS expected, \
         round(a['stddev'], 2) AS stddev, round(a['zscore'], 2) AS zscore, a['anomalous'] AS anomalous \
         FROM (SELECT t, v, metric_anomaly(v, t, {training}, {sensitivity}, '{}') OVER (ORDER BY t) AS a \
               FROM ({}) AS q(t, v)) ORDER BY t DESC LIMIT {detection}",
        seasonality.replace('\'', "''"),
        sql.trim().trim_end_matches(';')
    );
    let batches = match async { ctx.sql(&query).await?.collect().await }.await {
        Ok(b) => b,
        Err(e) => return Ok(failed_to_run(result, CliError::datafusion(&e))),
    };
    let mut lines = vec![];
    let mut any = false;
    let mut verdicts = 0;
    for batch in &batches {
        let text = |i: usize| -> CliResult<Vec<Option<String>>> {
            let options = FormatOptions::default().with_null("NULL");
            let f = ArrayFormatter::try_new(batch.column(i).as_ref(), &options)
                .map_err(|e| CliError::query(e.to_string()))?;
            Ok((0..batch.num_rows())
                .map(|r| (!batch.column(i).is_null(r)).then(|| f.value(r).to_string()))
                .collect())
        };
        let (t, v, expected, stddev, z) = (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
        let anomalous = batch
            .column(5)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::BooleanArray>()
            .ok_or_else(|| CliError::query("anomalous is not a boolean"))?;
        for r in 0..batch.num_rows() {
            let t = t[r].clone().unwrap_or_default();
            let v = v[r].clone().unwrap_or_else(|| "NULL".into());
            match (&expected[r], &stddev[r]) {
                (Some(e), Some(s)) => {
                    verdicts += 1;
                    let z = z[r].clone().unwrap_or_else(|| "∞".into());
                    let flag = !anomalous.is_null(r) && anomalous.value(r);
                    any |= flag;
                    lines.push(format!(
                        "{t}: {v} (expected {e} ± {s}, z {z}){}",
                        if flag { " anomalous" } else { "" }
                    ));
                }
                _ => lines.push(format!("{t}: {v} (too little history)")),
            }
        }
    }
    result.observed = match lines.first() {
        Some(latest) => latest.clone(),
        None => "no buckets".into(),
    };
    if lines.len() > 1 {
        result.details = lines[1..].join("; ");
    }
    result.status = if any { severity } else { Status::Pass };
    if verdicts == 0 && !lines.is_empty() {
        result.details = "fewer than 3 earlier buckets of the same season: no verdict".into();
    }
    Ok(result)
}

/// The declared checks of a session's config files and project (a session
/// extension), with the file each comes from.
#[derive(Debug, Default)]
pub struct DeclaredChecks(pub Vec<(DeclaredCheck, String)>);

/// Attaches the declared checks to `ctx`.
pub fn set_declared(ctx: &SessionContext, checks: Vec<(DeclaredCheck, String)>) {
    ctx.state_ref()
        .write()
        .config_mut()
        .set_extension(Arc::new(DeclaredChecks(checks)));
}

/// The declared checks of `ctx`.
pub fn declared_of(ctx: &SessionContext) -> Vec<(DeclaredCheck, String)> {
    ctx.state_ref()
        .read()
        .config()
        .get_extension::<DeclaredChecks>()
        .map(|d| d.0.clone())
        .unwrap_or_default()
}

/// What `saasql test` runs: singular check files and declared checks (with
/// the file they come from).
#[derive(Debug, Default)]
pub struct Checks {
    /// Singular check files.
    pub files: Vec<PathBuf>,
    /// Declared checks and their origin.
    pub declared: Vec<(DeclaredCheck, String)>,
}

/// Runs every check, in order: singular ones, then declared ones.
pub async fn run_checks(
    ctx: &SessionContext,
    checks: &Checks,
    as_of: Option<&str>,
) -> CliResult<Vec<CheckResult>> {
    let mut results = vec![];
    for file in &checks.files {
        results.push(run_singular(ctx, file).await?);
    }
    for (check, origin) in &checks.declared {
        results.push(run_declared(ctx, check, origin, as_of).await?);
    }
    Ok(results)
}

/// The results as a table (check, kind, status, observed, threshold,
/// details, source).
pub fn results_batch(results: &[CheckResult]) -> CliResult<(SchemaRef, RecordBatch)> {
    let schema: SchemaRef = Arc::new(Schema::new(
        [
            "check",
            "kind",
            "status",
            "observed",
            "threshold",
            "details",
            "source",
        ]
        .iter()
        .map(|n| Field::new(*n, DataType::Utf8, false))
        .collect::<Vec<_>>(),
    ));
    let column = |f: &dyn Fn(&CheckResult) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(results.iter().map(f)))
    };
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            column(&|r| r.name.clone()),
            column(&|r| r.kind.to_string()),
            column(&|r| r.status.name().to_string()),
            column(&|r| r.observed.clone()),
            column(&|r| r.threshold.clone()),
            column(&|r| r.details.clone()),
            column(&|r| r.source.clone()),
        ],
    )
    .map_err(|e| CliError::query(e.to_string()))?;
    Ok((schema, batch))
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The results as JUnit XML (one `testcase` per check; errors as
/// `failure`, warnings as `system-out`), as CI servers read it.
pub fn junit(results: &[CheckResult]) -> String {
    let failures = results.iter().filter(|r| r.status == Status::Error).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"saasql\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n",
        results.len()
    );
    for r in results {
        out.push_str(&format!(
            "  <testcase classname=\"saasql.{}\" name=\"{}\" file=\"{}\">",
            r.kind,
            xml(&r.name),
            xml(&r.source)
        ));
        let message = format!(
            "{}: {} (threshold {})",
            r.status.name(),
            r.observed,
            r.threshold
        );
        match r.status {
            Status::Error => out.push_str(&format!(
                "\n    <failure message=\"{}\">{}</failure>\n  ",
                xml(&message),
                xml(&r.details)
            )),
            Status::Warn => out.push_str(&format!(
                "\n    <system-out>{}</system-out>\n  ",
                xml(&format!("{message}; {}", r.details))
            )),
            Status::Pass => {}
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

/// `saasql test`: runs the checks, prints one line each, writes `--junit`,
/// and fails (exit 1; 3 when a check's input is unreadable) when an
/// error-severity check does.
pub async fn test_command(
    ctx: &SessionContext,
    checks: &Checks,
    format: Format,
    junit_path: Option<&Path>,
    as_of: Option<&str>,
    store_failures: Option<&Path>,
    origin: super::notify::Origin<'_>,
) -> CliResult<()> {
    if let Some(path) = junit_path {
        super::commit::check_output(ctx, "--junit", path, &[]).await?;
    }
    if let Some(dir) = store_failures {
        super::commit::check_output(ctx, "--store-failures", dir, &[]).await?;
    }
    let results = run_checks(ctx, checks, as_of).await?;
    if let Some(dir) = store_failures {
        store(ctx, dir, &results).await?;
    }
    let (schema, batch) = results_batch(&results)?;
    let mut target = Target::stdout();
    let print = PrintOptions {
        format,
        max_rows: None,
        footer: false,
        expanded: false,
    };
    write_batches(schema, vec![batch], &mut target, &print).await?;
    target.finish()?;
    if let Some(path) = junit_path {
        let mut file = super::commit::OutputFile::create_in(ctx, path).await?;
        file.write_all(junit(&results).as_bytes())
            .map_err(|e| CliError::write(&path.display().to_string(), &e))?;
        file.commit()?;
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let mut summary = format!(
        "{} checks: {} passed, {} warned, {} failed",
        results.len(),
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Error)
    );
    let alert = super::notify::alert(ctx, &results, origin).await;
    match &alert {
        Ok(Some(sent)) => summary.push_str(&format!("; alert sent ({sent})")),
        Ok(None) => {}
        Err(why) => summary.push_str(&format!("; the alert could not be delivered: {why}")),
    }
    if results.iter().any(|r| r.input_error) {
        return Err(CliError::input(format!(
            "{summary} (an input could not be read)"
        )));
    }
    if count(Status::Error) > 0 || alert.is_err() {
        return Err(CliError::query(summary));
    }
    eprintln!("saasql: {summary}");
    Ok(())
}

/// `--store-failures DIR`: each singular check's failing rows as
/// `DIR/<check>.parquet` (written atomically); the file of a check that now
/// passes is removed, so DIR holds this run's failures only.
async fn store(ctx: &SessionContext, dir: &Path, results: &[CheckResult]) -> CliResult<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::write(&format!("--store-failures {}", dir.display()), &e))?;
    for r in results.iter().filter(|r| r.kind == "singular") {
        let path = dir.join(format!("{}.parquet", r.name));
        let Some(batches) = r.failures.as_ref().filter(|b| !b.is_empty()) else {
            if path.is_file() {
                std::fs::remove_file(&path)
                    .map_err(|e| CliError::write(&path.display().to_string(), &e))?;
            }
            continue;
        };
        let mut file = super::commit::OutputFile::create_in(ctx, &path).await?;
        let fail = |e: datafusion::parquet::errors::ParquetError| {
            CliError::write(
                &path.display().to_string(),
                &std::io::Error::other(e.to_string()),
            )
        };
        let mut writer =
            datafusion::parquet::arrow::ArrowWriter::try_new(&mut file, batches[0].schema(), None)
                .map_err(fail)?;
        for batch in batches {
            writer.write(batch).map_err(fail)?;
        }
        writer.close().map_err(fail)?;
        file.commit()?;
    }
    Ok(())
}

/// `--test` of `run` and `batch`: runs the project's checks (its `tests/`
/// and `[[checks]]`) before anything is written. Every check that did not
/// pass gets a line on stderr; an error-severity failure stops the command
/// (exit 1, or 3 for an unreadable input) before it replaces any output.
///
/// The alert (`[notify]`, `--on-failure`) is sent here. `Ok(Some(why))`:
/// the checks allow the command to go on but the alert could not be
/// delivered; the caller fails with `why` once its outputs are written.
pub async fn gate(
    ctx: &SessionContext,
    project: Option<&super::project::Project>,
    command: &str,
    on_failure: Option<&str>,
) -> CliResult<Option<String>> {
    let files = match project.map(|p| p.root.join("tests")) {
        Some(dir) if dir.is_dir() => singular_files(&[dir])?,
        _ => vec![],
    };
    let checks = Checks {
        files,
        declared: declared_of(ctx),
    };
    if checks.files.is_empty() && checks.declared.is_empty() {
        return Err(CliError::usage(
            "--test: the project has no checks (tests/*.sql or [[checks]] in saasql.toml)",
        ));
    }
    let results = run_checks(ctx, &checks, None).await?;
    for r in results.iter().filter(|r| r.status != Status::Pass) {
        eprintln!(
            "saasql: check {} {}: {} (threshold {}){}",
            r.name,
            r.status.name(),
            r.observed,
            r.threshold,
            if r.details.is_empty() {
                String::new()
            } else {
                format!("; {}", r.details)
            }
        );
    }
    let origin = super::notify::Origin {
        command,
        project: project.map(|p| p.root.as_path()),
        on_failure,
    };
    let alert = match super::notify::alert(ctx, &results, origin).await {
        Ok(Some(sent)) => {
            eprintln!("saasql: check alert sent ({sent})");
            None
        }
        Ok(None) => None,
        Err(why) => Some(format!("the check alert could not be delivered: {why}")),
    };
    let failed = results.iter().filter(|r| r.status == Status::Error).count();
    if failed == 0 {
        return Ok(alert);
    }
    let mut message = format!(
        "--test: {failed} of {} checks failed; nothing was run or written, the previous outputs stay",
        results.len()
    );
    if let Some(why) = alert {
        message.push_str(&format!("; {why}"));
    }
    if results.iter().any(|r| r.input_error) {
        Err(CliError::input(message))
    } else {
        Err(CliError::query(message))
    }
}
