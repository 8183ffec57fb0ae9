//! Parsing SQL scripts and running their statements: shared by `saasql run`,
//! SQL on stdin, the shell and batch jobs.
//!
//! Scripts are parsed with DataFusion's own parser (never split on `;`). The
//! parser is driven one statement at a time so that each statement keeps the
//! line it starts on, its first line of text and the `$name` parameters it
//! uses.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::common::{DataFusionError, ParamValues, Result as DFResult};
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::parser::{CopyToSource, DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement as SQLStatement;
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect, dialect_from_str};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};
use saasql::util::time::parse_date;

use super::commit::{self, OutputFile};
use super::error::{CliError, CliResult};
use super::html::{self, ChartComment};
use super::output::{Format, PrintOptions, Target, write_stream};

/// One parsed statement of a script.
#[derive(Debug, Clone)]
pub struct ScriptStatement {
    /// The parsed statement.
    pub statement: DFStatement,
    /// Line (1-based) where the statement starts.
    pub line: u64,
    /// The statement's first line of text, for error messages.
    pub first_line: String,
    /// Names of the `$name` parameters it uses, without the `$`.
    pub params: BTreeSet<String>,
    /// The `--` comments just before it (not directives), for `--format html` headings.
    pub comment: Option<String>,
    /// `-- chart:` directives just before it (`--format html` checks them).
    pub charts: Vec<ChartComment>,
}

impl ScriptStatement {
    /// Whether the statement is a query-like statement whose rows are output
    /// (SELECT, VALUES, WITH, SHOW, DESCRIBE, EXPLAIN, EXECUTE).
    pub fn returns_rows(&self) -> bool {
        match &self.statement {
            DFStatement::Explain(_) => true,
            DFStatement::Statement(s) => matches!(
                **s,
                SQLStatement::Query(_)
                    | SQLStatement::Explain { .. }
                    | SQLStatement::ExplainTable { .. }
                    | SQLStatement::Execute { .. }
                    | SQLStatement::ShowTables { .. }
                    | SQLStatement::ShowColumns { .. }
                    | SQLStatement::ShowVariable { .. }
                    | SQLStatement::ShowVariables { .. }
                    | SQLStatement::ShowFunctions { .. }
                    | SQLStatement::ShowCreate { .. }
                    | SQLStatement::ShowStatus { .. }
                    | SQLStatement::ShowSchemas { .. }
                    | SQLStatement::ShowDatabases { .. }
                    | SQLStatement::ShowCatalogs { .. }
                    | SQLStatement::ShowViews { .. }
                    | SQLStatement::ShowObjects { .. }
            ),
            _ => false,
        }
    }

    /// `PREPARE` binds its own `$1…` parameters later, at `EXECUTE`.
    fn is_prepare(&self) -> bool {
        matches!(&self.statement, DFStatement::Statement(s) if matches!(**s, SQLStatement::Prepare { .. }))
    }
}

/// A parsed SQL script.
#[derive(Debug, Clone)]
pub struct Script {
    /// File name (or `<stdin>`), used in `file:line` locations.
    pub name: String,
    /// The statements, in order.
    pub statements: Vec<ScriptStatement>,
    /// The script's text, for carets under errors.
    pub source: Arc<str>,
    /// `-- chart:` directives after the last statement (an error in `--format html`).
    pub trailing_charts: Vec<ChartComment>,
}

impl Script {
    /// The file the script was read from: its name, unless that is
    /// `<stdin>`, a `-c#N` command or a batch job's `JOB[output]` (no
    /// file of that name exists).
    pub fn file(&self) -> Option<PathBuf> {
        let path = PathBuf::from(&self.name);
        (self.name != "<stdin>" && !self.name.starts_with("-c#") && path.is_file()).then_some(path)
    }

    /// Where statement `s` is, as `file:line`.
    pub fn location(&self, s: &ScriptStatement) -> String {
        format!("{}:{}", self.name, s.line)
    }

    /// `err` from running statement `s`, located at `file:line`: under the
    /// message, the line DataFusion points at with carets under the failing
    /// span (its `Diagnostic`), else the statement's first line.
    pub fn error(
        &self,
        s: &ScriptStatement,
        err: CliError,
        df: Option<&DataFusionError>,
    ) -> CliError {
        let span = df
            .and_then(DataFusionError::diagnostic)
            .and_then(|d| d.span);
        match span {
            Some(span) if span.start.line > 0 => {
                let line = span.start.line;
                let end = if span.end.line == line {
                    span.end.column
                } else {
                    u64::MAX
                };
                let shown = carets(&self.source, line, span.start.column, end);
                err.at(format!("{}:{line}", self.name), Some(shown))
            }
            _ => err.at(self.location(s), Some(s.first_line.clone())),
        }
    }
}

/// Line `line` of `source` and, under it, carets from `column` up to (not
/// including) `end` (1-based columns, counted in characters).
fn carets(source: &str, line: u64, column: u64, end: u64) -> String {
    let text = source
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or_default()
        .trim_end();
    let len = text.chars().count() as u64;
    let start = column.saturating_sub(1).min(len);
    let width = end.saturating_sub(column).clamp(1, (len - start).max(1));
    format!(
        "{text}\n  | {}{}",
        " ".repeat(start as usize),
        "^".repeat(width as usize)
    )
}

/// A parser error's `at Line: L, Column: C`, if it has one.
fn parser_location(message: &str) -> Option<(u64, u64)> {
    let rest = &message[message.rfind("at Line: ")? + "at Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// The SQL dialect configured in the session (`datafusion.sql_parser.dialect`).
fn session_dialect(ctx: &SessionContext) -> (Box<dyn Dialect>, usize) {
    let state = ctx.state();
    let options = &state.config().options().sql_parser;
    let dialect = dialect_from_str(options.dialect).unwrap_or_else(|| Box::new(GenericDialect));
    (dialect, options.recursion_limit.get())
}

/// Parses `sql` into statements. A syntax error is reported as
/// `name:line: error: …` with the line of the statement it is in.
pub fn parse_script(ctx: &SessionContext, name: &str, sql: &str) -> CliResult<Script> {
    let (dialect, recursion_limit) = session_dialect(ctx);
    let source_lines: Vec<&str> = sql.lines().collect();
    let first_line_at = |line: u64, column: u64, end: Option<(u64, u64)>| -> String {
        let text = source_lines
            .get(line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or_default();
        let skip = column.saturating_sub(1) as usize;
        let take = match end {
            Some((end_line, end_col)) if end_line == line => {
                (end_col.saturating_sub(1) as usize).saturating_sub(skip)
            }
            _ => usize::MAX,
        };
        let s: String = text.chars().skip(skip).take(take).collect();
        shorten(s.trim_end())
    };
    let tokens: Vec<TokenWithSpan> = Tokenizer::new(dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|e| {
            let line = e.location.line.max(1);
            CliError::query(format!("SQL error: {}", e.message))
                .at(format!("{name}:{line}"), Some(first_line_at(line, 1, None)))
        })?;
    let mut parser = DFParserBuilder::new(tokens.clone())
        .with_dialect(dialect.as_ref())
        .with_recursion_limit(recursion_limit)
        .build()
        .map_err(|e| CliError::datafusion(&e).at(format!("{name}:1"), None))?;
    let mut statements = vec![];
    let mut trailing_charts = vec![];
    loop {
        while parser.parser.consume_token(&Token::SemiColon) {}
        let start = parser.parser.peek_token_ref().clone();
        if start.token == Token::EOF {
            let rest = &tokens[parser.parser.index().min(tokens.len())..];
            trailing_charts = leading_comments(name, rest).1;
            break;
        }
        let start_index = parser.parser.index();
        let (comment, charts) = leading_comments(name, &tokens[start_index.min(tokens.len())..]);
        let (line, column) = (start.span.start.line, start.span.start.column);
        let statement = parser.parse_statement().map_err(|e| {
            let error = CliError::datafusion(&e);
            match parser_location(&e.to_string()) {
                Some((at_line, at_column)) => {
                    // Under the whole word the parser stopped at.
                    let word = sql
                        .lines()
                        .nth(at_line.saturating_sub(1) as usize)
                        .unwrap_or_default()
                        .chars()
                        .skip(at_column.saturating_sub(1) as usize)
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .count() as u64;
                    error.at(
                        format!("{name}:{at_line}"),
                        Some(carets(sql, at_line, at_column, at_column + word.max(1))),
                    )
                }
                None => error.at(
                    format!("{name}:{line}"),
                    Some(first_line_at(line, column, None)),
                ),
            }
        })?;
        let end = parser.parser.get_current_token().span.end;
        let end_index = parser.parser.index();
        let params = tokens
            .get(start_index..end_index)
            .unwrap_or_default()
            .iter()
            .filter_map(|t| match &t.token {
                Token::Placeholder(p) => p.strip_prefix('$').map(str::to_string),
                _ => None,
            })
            .filter(|p| !p.is_empty())
            .collect();
        statements.push(ScriptStatement {
            statement,
            line,
            first_line: first_line_at(line, column, Some((end.line, end.column))),
            params,
            comment,
            charts,
        });
        // Statements must be separated by `;`.
        let next = parser.parser.peek_token_ref();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            let (l, c) = (next.span.start.line, next.span.start.column);
            return Err(CliError::query(format!(
                "SQL error: expected ';' after the statement on line {line}, found {}",
                next.token
            ))
            .at(format!("{name}:{l}"), Some(first_line_at(l, c, None))));
        }
    }
    Ok(Script {
        name: name.to_string(),
        statements,
        source: Arc::from(sql),
        trailing_charts,
    })
}

/// The `--` comments at the start of `tokens` (before the first token that
/// is not whitespace): the other comments' text joined (a heading for
/// `--format html`), and the `-- chart:` directives among them.
fn leading_comments(name: &str, tokens: &[TokenWithSpan]) -> (Option<String>, Vec<ChartComment>) {
    let mut text: Vec<String> = vec![];
    let mut charts = vec![];
    for t in tokens {
        match &t.token {
            Token::Whitespace(Whitespace::SingleLineComment { comment, prefix })
                if prefix == "--" =>
            {
                match html::directive::directive_text(comment) {
                    Some(d) => charts.push(ChartComment {
                        at: format!("{name}:{}", t.span.start.line),
                        text: d.to_string(),
                    }),
                    None if !comment.trim().is_empty() => text.push(comment.trim().to_string()),
                    None => {}
                }
            }
            Token::Whitespace(_) => {}
            _ => break,
        }
    }
    ((!text.is_empty()).then(|| text.join(" ")), charts)
}

/// Whether `buffer` holds complete SQL: its last token is `;` (comments and
/// whitespace aside) and no string or comment is left open.
pub fn is_complete(ctx: &SessionContext, buffer: &str) -> bool {
    let (dialect, _) = session_dialect(ctx);
    match Tokenizer::new(dialect.as_ref(), buffer).tokenize() {
        Ok(tokens) => tokens
            .iter()
            .rev()
            .find(|t| !matches!(t, Token::Whitespace(_)))
            .is_some_and(|t| *t == Token::SemiColon),
        Err(_) => false,
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 100;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX - 1).collect();
        format!("{cut}…")
    } else {
        s.to_string()
    }
}

/// What running a statement produced.
#[derive(Debug)]
pub enum Outcome {
    /// Rows to print (queries, SHOW, DESCRIBE, EXPLAIN).
    Rows(DataFrame),
    /// INSERT or COPY: the DataFrame yields the row count when collected.
    Write(DataFrame),
    /// DDL and SET: already done.
    Done(DataFrame),
}

/// Plans `statement`, binds the parameters it uses, and starts it
/// (DDL and SET take effect here).
pub async fn start(
    ctx: &SessionContext,
    statement: &ScriptStatement,
    params: &HashMap<String, ScalarValue>,
) -> DFResult<Outcome> {
    // `$name`s become literals before planning, so functions that need a
    // constant (`retention(…, $as_of)`) see one; a `$name` without --param
    // takes the project's or config's default.
    let mut values = HashMap::new();
    if !statement.is_prepare() {
        for name in &statement.params {
            let value = match params.get(name) {
                Some(v) => Some(v.clone()),
                None => super::project::param_default(ctx, name).await?,
            };
            if let Some(v) = value {
                values.insert(name.clone(), v);
            }
        }
    }
    let bound = bind_params(&statement.statement, &values)?;
    let mut plan = plan_statement(ctx, &bound).await?;
    let is_prepare = matches!(plan, LogicalPlan::Statement(PlanStatement::Prepare(_)));
    if !is_prepare && !plan.get_parameter_types()?.is_empty() {
        plan = plan.with_param_values(ParamValues::from(params.clone()))?;
    }
    if !values.is_empty() {
        plan = keep_parameter_names(ctx, statement, plan).await?;
    }
    let rows = match &plan {
        LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => Some(false),
        LogicalPlan::Ddl(_) => None,
        LogicalPlan::Statement(PlanStatement::Execute(_)) => Some(true),
        LogicalPlan::Statement(_) => None,
        _ => Some(true),
    };
    let df = ctx.execute_logical_plan(plan).await?;
    Ok(match rows {
        Some(true) => Outcome::Rows(df),
        Some(false) => Outcome::Write(df),
        None => Outcome::Done(df),
    })
}

/// A query's result columns keep the names they have with `$name` unbound
/// (`$n * Int64(2)`, as DataFusion names them when a parameter is bound
/// after planning), not the bound literal's (`Int64(5) * Int64(2)`). A
/// statement that does not plan unbound (a function that needs the value
/// as a constant) keeps the bound names.
async fn keep_parameter_names(
    ctx: &SessionContext,
    statement: &ScriptStatement,
    plan: LogicalPlan,
) -> DFResult<LogicalPlan> {
    if matches!(
        plan,
        LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::DescribeTable(_)
    ) {
        return Ok(plan);
    }
    let Ok(unbound) = ctx
        .state()
        .statement_to_plan(statement.statement.clone())
        .await
    else {
        return Ok(plan);
    };
    let names: Vec<&String> = unbound.schema().fields().iter().map(|f| f.name()).collect();
    let fields = plan.schema().fields();
    if names.len() != fields.len() || fields.iter().zip(&names).all(|(f, n)| f.name() == *n) {
        return Ok(plan);
    }
    // Only the renamed columns get an alias; the others keep their
    // qualifier (`a.id`, `b.id`). If that cannot be projected, the bound
    // names stay.
    let exprs: Vec<datafusion::logical_expr::Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .zip(names)
        .map(|(column, name)| {
            if column.name == *name {
                datafusion::logical_expr::Expr::Column(column)
            } else {
                datafusion::logical_expr::Expr::Column(column).alias(name.as_str())
            }
        })
        .collect();
    let renamed = datafusion::logical_expr::LogicalPlanBuilder::from(plan.clone())
        .project(exprs)
        .and_then(|b| b.build());
    Ok(renamed.unwrap_or(plan))
}

/// `statement` with each `$name` in `values` replaced by its value as a SQL
/// literal (`DATE '2025-06-30'`, `12`, `'text'`); other placeholders stay.
pub fn bind_params(
    statement: &DFStatement,
    values: &HashMap<String, ScalarValue>,
) -> DFResult<DFStatement> {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions_mut};
    use std::ops::ControlFlow;
    let mut statement = statement.clone();
    if values.is_empty() {
        return Ok(statement);
    }
    let mut literals = HashMap::new();
    for (name, value) in values {
        let literal = literal_expr(value)
            .map_err(|e| DataFusionError::Plan(format!("${name}: {}", e.message())))?;
        literals.insert(format!("${name}"), literal);
    }
    let mut replace = |e: &mut Expr| {
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
            && let Some(literal) = literals.get(p)
        {
            *e = literal.clone();
        }
        ControlFlow::<()>::Continue(())
    };
    fn walk(s: &mut DFStatement, f: &mut dyn FnMut(&mut Expr) -> ControlFlow<()>) {
        match s {
            DFStatement::Statement(s) => {
                let _ = visit_expressions_mut(s.as_mut(), &mut *f);
            }
            DFStatement::CopyTo(copy) => {
                if let CopyToSource::Query(q) = &mut copy.source {
                    let _ = visit_expressions_mut(q.as_mut(), &mut *f);
                }
            }
            DFStatement::Explain(explain) => walk(explain.statement.as_mut(), f),
            _ => {}
        }
    }
    walk(&mut statement, &mut replace);
    Ok(statement)
}

/// `value` as a SQL expression that plans to the same type and value.
fn literal_expr(value: &ScalarValue) -> DFResult<datafusion::sql::sqlparser::ast::Expr> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let text = match value {
        v if v.is_null() => {
            return Err(DataFusionError::Plan(
                "a parameter's value cannot be NULL".into(),
            ));
        }
        ScalarValue::Int64(Some(i64::MIN)) => format!("CAST('{}' AS BIGINT)", i64::MIN),
        ScalarValue::Int64(Some(i)) if *i < 0 => format!("({i})"),
        ScalarValue::Int64(Some(i)) => i.to_string(),
        ScalarValue::Float64(Some(f)) => format!("CAST('{f:?}' AS DOUBLE)"),
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Date32(Some(_)) => format!("DATE '{value}'"),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => quote(s),
        // Any other type (a query default's INT, DECIMAL, TIMESTAMP WITH
        // TIME ZONE…): its text cast back to exactly that type.
        other => {
            let data_type = other.data_type();
            let text = other
                .cast_to(&datafusion::arrow::datatypes::DataType::Utf8)
                .map_err(|_| {
                    DataFusionError::Plan(format!("cannot use a {data_type} value as a parameter"))
                })?;
            let ScalarValue::Utf8(Some(text)) = text else {
                return Err(DataFusionError::Plan(format!(
                    "cannot use a {data_type} value as a parameter"
                )));
            };
            format!(
                "arrow_cast({}, {})",
                quote(&text),
                quote(&data_type.to_string())
            )
        }
    };
    datafusion::sql::sqlparser::parser::Parser::new(&GenericDialect)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| DataFusionError::Plan(format!("parameter value {text}: {e}")))
}

/// Plans `statement` in the session, with a "did you mean" for an unknown
/// table ([`suggest_table`]).
pub async fn plan_statement(
    ctx: &SessionContext,
    statement: &datafusion::sql::parser::Statement,
) -> DFResult<LogicalPlan> {
    ctx.state()
        .statement_to_plan(statement.clone())
        .await
        .map_err(|e| suggest_table(ctx, e))
}

/// Adds "Did you mean 'events'?" to DataFusion's "table 'x' not found",
/// choosing the closest table name (by edit distance) when one is close, and
/// how to point saasql at data when the session has no data directory.
fn suggest_table(ctx: &SessionContext, err: DataFusionError) -> DataFusionError {
    // With spans collected the error comes wrapped in its diagnostic.
    let (diagnostic, inner) = match err {
        DataFusionError::Diagnostic(d, inner) => (Some(d), *inner),
        other => (None, other),
    };
    let rewrap = |e: DataFusionError| match &diagnostic {
        Some(d) => DataFusionError::Diagnostic(d.clone(), Box::new(e)),
        None => e,
    };
    let DataFusionError::Plan(message) = &inner else {
        return rewrap(inner);
    };
    let Some(missing) = message
        .strip_prefix("table '")
        .and_then(|m| m.strip_suffix("' not found"))
    else {
        return rewrap(inner);
    };
    let wanted = missing.rsplit('.').next().unwrap_or(missing);
    let mut names: Vec<String> = super::tables::schemas(ctx)
        .iter()
        .flat_map(|schema| schema.table_names())
        .collect();
    names.sort();
    let best = saasql::util::names::closest(wanted, names.iter().map(String::as_str));
    let mut message = match best {
        Some(name) => format!("{message}. Did you mean '{name}'?"),
        None => message.clone(),
    };
    if super::tables::has_no_data_dir(ctx) {
        let sep = if message.ends_with('?') { " " } else { ". " };
        message = format!("{message}{sep}{}", super::tables::NO_DATA_DIR_HINT);
    }
    rewrap(DataFusionError::Plan(message))
}

/// Runs a write (INSERT/COPY) and returns how many rows it wrote.
pub async fn finish_write(df: DataFrame) -> DFResult<u64> {
    Ok(count_written(&df.collect().await?))
}

pub use saasql_common::results::count_written;

/// Parses `--param NAME=VALUE` arguments into typed values: integers become
/// BIGINT, decimals DOUBLE, true/false BOOLEAN, YYYY-MM-DD DATE, anything else
/// VARCHAR ([`typed_value`]). Integers with leading zeros (`007`) and values
/// in single quotes stay text.
pub fn parse_params(raw: &[String]) -> CliResult<HashMap<String, ScalarValue>> {
    let mut out = HashMap::new();
    for arg in raw {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(CliError::usage(format!(
                "--param '{arg}': expected NAME=VALUE, e.g. --param month=2025-03"
            )));
        };
        let name = name.trim();
        let name = name.strip_prefix('$').unwrap_or(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(CliError::usage(format!(
                "--param '{arg}': parameter names use letters, digits and _"
            )));
        }
        let value =
            typed_value(value).map_err(|why| CliError::usage(format!("--param {name}: {why}")))?;
        if out.insert(name.to_string(), value).is_some() {
            return Err(CliError::usage(format!("--param {name} is given twice")));
        }
    }
    Ok(out)
}

/// The typed value of a `--param`, or why it is refused: a value that looks
/// like an integer or a `YYYY-MM-DD` date must be a valid one (an integer
/// outside BIGINT or `2025-02-30` is an error, not silently a DOUBLE or a
/// text). A value in single quotes (`'2025-02-30'`) is always text.
pub fn typed_value(value: &str) -> Result<ScalarValue, String> {
    if let Some(text) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return Ok(ScalarValue::Utf8(Some(text.to_string())));
    }
    let digits = value.strip_prefix('-').unwrap_or(value);
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let plain_integer = all_digits && (digits == "0" || !digits.starts_with('0'));
    if plain_integer {
        return value.parse::<i64>().map(|i| ScalarValue::Int64(Some(i))).map_err(|_| {
            format!(
                "{value} is outside the integer (BIGINT) range {}..{}; write '{value}' to pass it as text",
                i64::MIN,
                i64::MAX
            )
        });
    }
    let decimal = digits.bytes().any(|b| b.is_ascii_digit())
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && !(digits.starts_with('0') && digits.len() > 1 && !digits.starts_with("0."));
    if decimal && let Ok(f) = value.parse::<f64>() {
        if !f.is_finite() {
            return Err(format!(
                "{value} is outside the DOUBLE range; write '{value}' to pass it as text"
            ));
        }
        return Ok(ScalarValue::Float64(Some(f)));
    }
    match value {
        "true" | "TRUE" | "True" => return Ok(ScalarValue::Boolean(Some(true))),
        "false" | "FALSE" | "False" => return Ok(ScalarValue::Boolean(Some(false))),
        _ => {}
    }
    let date_shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if date_shaped {
        return parse_date(value)
            .map(|days| ScalarValue::Date32(Some(days)))
            .ok_or_else(|| {
                format!(
                    "{value} is not a valid date (YYYY-MM-DD); write '{value}' to pass it as text"
                )
            });
    }
    Ok(ScalarValue::Utf8(Some(value.to_string())))
}

/// How a report run writes its results.
#[derive(Debug)]
pub struct ReportOptions {
    /// Output format.
    pub format: Format,
    /// Write the (single) result here instead of stdout.
    pub output: Option<PathBuf>,
    /// `--param` values.
    pub params: HashMap<String, ScalarValue>,
}

/// Checks a report before anything runs: every `--param` is used, every
/// `$name` has a value, and `--output` gets exactly one result.
fn check_report(ctx: &SessionContext, scripts: &[Script], opts: &ReportOptions) -> CliResult<()> {
    let mut used = BTreeSet::new();
    for script in scripts {
        for s in script.statements.iter().filter(|s| !s.is_prepare()) {
            if let Some(missing) = s.params.iter().find(|p| {
                !opts.params.contains_key(*p) && !super::project::has_param_default(ctx, p)
            }) {
                return Err(CliError::usage(format!(
                    "no value for ${missing}; pass --param {missing}=VALUE"
                ))
                .at(script.location(s), Some(s.first_line.clone())));
            }
            used.extend(s.params.iter().cloned());
        }
    }
    let mut unused: Vec<&String> = opts.params.keys().filter(|p| !used.contains(*p)).collect();
    unused.sort();
    if let Some(name) = unused.first() {
        let hint = if used.is_empty() {
            "the SQL has no $parameters".to_string()
        } else {
            let names: Vec<String> = used.iter().map(|p| format!("${p}")).collect();
            format!("the SQL uses {}", names.join(", "))
        };
        return Err(CliError::usage(format!(
            "--param {name} is not used by any statement ({hint})"
        )));
    }
    if opts.format == Format::Parquet && opts.output.is_none() {
        return Err(CliError::usage("--format parquet needs --output PATH"));
    }
    if opts.format == Format::Html {
        check_charts(scripts)?;
    }
    if let Some(path) = opts.output.as_ref().filter(|_| opts.format != Format::Html) {
        let results: Vec<String> = scripts
            .iter()
            .flat_map(|script| {
                script
                    .statements
                    .iter()
                    .filter(|s| s.returns_rows())
                    .map(|s| script.location(s))
            })
            .collect();
        if results.len() != 1 {
            let found = if results.is_empty() {
                "none does".to_string()
            } else {
                format!("{} do: {}", results.len(), results.join(", "))
            };
            return Err(CliError::usage(format!(
                "--output {} needs exactly one statement that returns rows; {found}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// A result's heading in `--format html`: the comment just before its
/// statement; for the script's first result, else the comment at the top
/// of the script (a report's description, before a `SET`); else the
/// script's name and the result's number.
fn heading(script: &Script, s: &ScriptStatement, nth: usize) -> String {
    let top = script.statements.first().and_then(|f| f.comment.clone());
    s.comment
        .clone()
        .or(top.filter(|_| nth == 1))
        .unwrap_or_else(|| format!("{}, result {nth}", script.name))
}

/// A one-query script's result as a whole `--format html` page (a batch
/// output), with the query's heading and chart directive; and its row count.
pub async fn html_page(title: &str, script: &Script, df: DataFrame) -> CliResult<(String, u64)> {
    check_charts(std::slice::from_ref(script))?;
    let query = script.statements.iter().find(|s| s.returns_rows());
    page_of(title, script, query, df).await
}

/// Whether `s` is a `COPY … TO 'x.html'` (or `STORED AS HTML`), which the
/// runner writes itself ([`copy_to_html`]).
fn is_html_copy(s: &ScriptStatement) -> bool {
    let DFStatement::CopyTo(copy) = &s.statement else {
        return false;
    };
    match &copy.stored_as {
        Some(format) => format.eq_ignore_ascii_case("html"),
        None => std::path::Path::new(&copy.target)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm")),
    }
}

/// `COPY (…) TO 'x.html'`, `COPY table TO 'x.html'` or `… STORED AS HTML`:
/// runs the query and writes its page (heading and `-- chart:` directive
/// from the comments before the COPY) through an [`OutputFile`], atomically
/// like `--output`; returns the row count, or `None` for other statements.
///
/// Why not DataFusion's COPY: it writes through file-format sinks that
/// stream each partition's batches into files, while a page needs the whole
/// result at once, the statement's directive, and exactly one file.
pub async fn copy_to_html(
    ctx: &SessionContext,
    script: &Script,
    s: &ScriptStatement,
    params: &HashMap<String, ScalarValue>,
) -> Option<CliResult<u64>> {
    if !is_html_copy(s) {
        return None;
    }
    let DFStatement::CopyTo(copy) = &s.statement else {
        return None;
    };
    Some(
        async {
            let df_error = |e: DataFusionError| script.error(s, CliError::datafusion(&e), Some(&e));
            if !copy.partitioned_by.is_empty() || !copy.options.is_empty() {
                return Err(CliError::usage(
                    "COPY … TO an HTML page takes no PARTITIONED BY and no OPTIONS",
                )
                .at(script.location(s), Some(s.first_line.clone())));
            }
            let df = match &copy.source {
                CopyToSource::Query(query) => {
                    let select = ScriptStatement {
                        statement: DFStatement::Statement(Box::new(SQLStatement::Query(
                            query.clone(),
                        ))),
                        ..s.clone()
                    };
                    match start(ctx, &select, params).await.map_err(df_error)? {
                        Outcome::Rows(df) | Outcome::Write(df) | Outcome::Done(df) => df,
                    }
                }
                CopyToSource::Relation(name) => ctx
                    .sql(&format!("SELECT * FROM {name}"))
                    .await
                    .map_err(df_error)?,
            };
            let (page, rows) = page_of(&copy.target, script, Some(s), df)
                .await
                .map_err(|e| e.at(script.location(s), Some(s.first_line.clone())))?;
            let mut out = OutputFile::create_in(ctx, std::path::Path::new(&copy.target)).await?;
            std::io::Write::write_all(&mut out, page.as_bytes())
                .map_err(|e| CliError::write(&copy.target, &e))?;
            out.commit()?;
            Ok::<u64, CliError>(rows)
        }
        .await,
    )
}

/// Refuses a `COPY … TO` whose target would replace or write into a
/// table's files or one of `sources` (the SQL files being run), as batch
/// outputs are refused ([`commit::check_output`]). Checked just before the
/// statement runs, so tables created by earlier statements count.
pub async fn check_copy(
    ctx: &SessionContext,
    s: &ScriptStatement,
    sources: &[PathBuf],
) -> CliResult<()> {
    let DFStatement::CopyTo(copy) = &s.statement else {
        return Ok(());
    };
    let target = Path::new(&copy.target);
    commit::check_output(ctx, "COPY", target, sources).await?;
    // Tables named by their location (`FROM 'x.csv'`) are only in the plan;
    // a statement that does not plan fails when it runs.
    if let Ok(plan) = ctx.state().statement_to_plan(s.statement.clone()).await
        && let Some(why) = commit::plan_overlap(target, &plan)
    {
        return Err(commit::refuse("COPY", target, &why));
    }
    Ok(())
}

/// A whole page with one section: the result of `query` (a statement of
/// `script`), and its row count.
async fn page_of(
    title: &str,
    script: &Script,
    query: Option<&ScriptStatement>,
    df: DataFrame,
) -> CliResult<(String, u64)> {
    let schema = Arc::clone(df.schema().inner());
    let batches = df.collect().await?;
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut page = html::head(title, &html::now_utc());
    page.push_str(&html::section(&html::Section {
        heading: query.map_or_else(|| title.to_string(), |s| heading(script, s, 1)),
        location: query.map(|s| script.location(s)).unwrap_or_default(),
        chart: query.and_then(|s| s.charts.first()),
        schema,
        batches,
    })?);
    page.push_str(&html::tail());
    Ok((page, rows))
}

/// `--format html`: every `-- chart:` directive parses and stands just
/// before a statement that returns rows, at most one per statement.
fn check_charts(scripts: &[Script]) -> CliResult<()> {
    for script in scripts {
        for s in &script.statements {
            if let [first, second, ..] = s.charts.as_slice() {
                return Err(CliError::query(format!(
                    "two chart directives for one statement (the other is at {})",
                    first.at
                ))
                .at(second.at.clone(), None));
            }
            for chart in &s.charts {
                chart.parse()?;
                if !s.returns_rows() && !is_html_copy(s) {
                    return Err(CliError::query(format!(
                        "chart directive '{}' is not just before a query (the next statement, at {}, returns no rows)",
                        chart.text,
                        script.location(s)
                    ))
                    .at(chart.at.clone(), None));
                }
            }
        }
        if let Some(chart) = script.trailing_charts.first() {
            return Err(CliError::query(format!(
                "chart directive '{}' is after the last statement; put it just before a query",
                chart.text
            ))
            .at(chart.at.clone(), None));
        }
    }
    Ok(())
}

/// Runs scripts as a report: statements in order, results to stdout or
/// `--output`, stopping at the first failure (reported as `file:line`).
pub async fn run_report(
    ctx: &SessionContext,
    scripts: &[Script],
    opts: &ReportOptions,
) -> CliResult<()> {
    check_report(ctx, scripts, opts)?;
    let sources: Vec<PathBuf> = scripts.iter().filter_map(Script::file).collect();
    let mut target = match &opts.output {
        Some(path) => {
            commit::check_output(ctx, "--output", path, &sources).await?;
            Target::File(OutputFile::create_in(ctx, path).await?)
        }
        None => Target::stdout(),
    };
    let print = PrintOptions {
        format: opts.format,
        max_rows: None,
        footer: true,
        expanded: false,
    };
    let mut results = 0usize;
    if opts.format == Format::Html {
        let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
        target.write_str(&html::head(&names.join(", "), &html::now_utc()))?;
    }
    for script in scripts {
        let mut script_results = 0usize;
        for s in &script.statements {
            let at = |e: CliError| e.at(script.location(s), Some(s.first_line.clone()));
            let df_error = |e: DataFusionError| script.error(s, CliError::datafusion(&e), Some(&e));
            check_copy(ctx, s, &sources).await.map_err(at)?;
            if let Some(written) = copy_to_html(ctx, script, s, &opts.params).await {
                written?;
                continue;
            }
            let outcome = start(ctx, s, &opts.params).await.map_err(df_error)?;
            if let (Some(path), Outcome::Rows(df)) = (&opts.output, &outcome)
                && let Some(why) = commit::plan_overlap(path, df.logical_plan())
            {
                return Err(at(commit::refuse("--output", path, &why)));
            }
            match outcome {
                Outcome::Rows(df) if opts.format == Format::Html => {
                    results += 1;
                    script_results += 1;
                    let schema = Arc::clone(df.schema().inner());
                    let batches = df.collect().await.map_err(df_error)?;
                    let section = html::section(&html::Section {
                        heading: heading(script, s, script_results),
                        location: script.location(s),
                        chart: s.charts.first(),
                        schema,
                        batches,
                    })
                    .map_err(at)?;
                    target.write_str(&section).map_err(at)?;
                    target.flush().map_err(at)?;
                }
                Outcome::Rows(df) => {
                    if results > 0 {
                        if matches!(target, Target::File(_)) {
                            return Err(at(CliError::usage(
                                "--output needs exactly one statement that returns rows",
                            )));
                        }
                        if matches!(opts.format, Format::Table | Format::Markdown | Format::Csv) {
                            target.write_str("\n").map_err(at)?;
                        }
                    }
                    results += 1;
                    let stream = df.execute_stream().await.map_err(df_error)?;
                    write_stream(stream, &mut target, &print, || None)
                        .await
                        .map_err(at)?;
                    target.flush().map_err(at)?;
                }
                Outcome::Write(df) => {
                    finish_write(df).await.map_err(df_error)?;
                }
                Outcome::Done(df) => {
                    df.collect().await.map_err(df_error)?;
                }
            }
        }
    }
    if opts.format == Format::Html {
        target.write_str(&html::tail())?;
    }
    if let Some(path) = &opts.output {
        // Again: the script may have created a table over the output's path.
        commit::check_output(ctx, "--output", path, &sources).await?;
    }
    target.finish()
}
