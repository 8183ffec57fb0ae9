//! What `saasql serve` does to SQL before and after DataFusion: parsing
//! Postgres clients' SQL, the read-only check, `SET`/`SHOW`, errors as
//! SQLSTATEs, the Postgres-only functions, and struct columns as JSON text.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json::writer::{EncoderOptions, make_encoder};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::SessionState;
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::{
    ColumnarValue, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Statement as PlanStatement, Volatility, create_udf,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Set, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::{GenericDialect, PostgreSqlDialect};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::StreamExt;
use pgwire::error::{ErrorInfo, PgWireError};
use tokio::sync::Semaphore;

use saasql_common::error::{one_line, redact_secrets};

/// The Postgres version clients are told (`server_version`, `version()`,
/// `current_setting('server_version_num')`): libpq, psycopg and JDBC parse
/// it, and Grafana and Metabase pick their SQL by it.
pub const PG_VERSION: &str = "16.6";
const PG_VERSION_NUM: &str = "160006";

/// A protocol error with a SQLSTATE and one line of text (secrets blanked).
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        code.to_owned(),
        redact_secrets(&one_line(&message.into())),
    )))
}

/// A DataFusion error as a protocol error: DataFusion's one-line message
/// (as `saasql run` prints it) with the closest SQLSTATE.
pub fn df_error(e: DataFusionError) -> PgWireError {
    let code = match e.find_root() {
        DataFusionError::SQL(..) => "42601", // syntax_error
        DataFusionError::Plan(m) if m.starts_with("table '") => "42P01", // undefined_table
        DataFusionError::Plan(m) if m.starts_with("Invalid function") => "42883", // undefined_function
        DataFusionError::Plan(_) => "42000", // syntax_error_or_access_rule_violation
        DataFusionError::SchemaError(..) => "42703", // undefined_column
        DataFusionError::NotImplemented(_) => "0A000", // feature_not_supported
        DataFusionError::ResourcesExhausted(_) => "53200", // out_of_memory
        DataFusionError::Configuration(_) => "22023", // invalid_parameter_value
        DataFusionError::Execution(_) => "22000", // data_exception
        _ => "XX000",                        // internal_error
    };
    user_error(code, e.strip_backtrace())
}

/// `57014`: a cancel request (Ctrl-C in psql) stopped the query.
pub fn query_canceled() -> PgWireError {
    user_error("57014", "canceling statement due to user request")
}

/// Parses what a Postgres client sends. DataFusion's own statements
/// (`CREATE EXTERNAL TABLE`, `COPY … TO`, `EXPLAIN`) come from DataFusion's
/// parser; everything else from datafusion-pg-catalog's, which rewrites the
/// Postgres-isms of psql's and BI tools' catalog queries (`OPERATOR(…)`,
/// `COLLATE`, `::regclass`, …) into SQL DataFusion plans; what neither
/// parses is parsed as `saasql run` parses it (DataFusion's generic dialect).
pub fn parse(pg: &PostgresCompatibilityParser, sql: &str) -> Result<Vec<DfStatement>, PgWireError> {
    let fixed = super::catalog::fixed_oids(sql);
    let sql = fixed.as_deref().unwrap_or(sql);
    let canned = super::catalog::canned(sql);
    let sql = canned.as_deref().unwrap_or(sql);
    let datafusion = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {});
    if let Ok(statements) = &datafusion
        && statements
            .iter()
            .any(|s| !matches!(s, DfStatement::Statement(_)))
    {
        return Ok(statements.iter().cloned().collect());
    }
    match pg.parse(sql) {
        Ok(statements) => Ok(statements
            .into_iter()
            .map(|mut s| {
                super::catalog::redirect(&mut s);
                DfStatement::Statement(Box::new(s))
            })
            .collect()),
        Err(pg_error) => match datafusion {
            Ok(statements) => Ok(statements.into_iter().collect()),
            // saasql's own dialect, as `saasql run` parses: whatever a
            // report accepts, a client may send (`SELECT * EXCLUDE (c)`).
            Err(_) => match DFParser::parse_sql_with_dialect(sql, &GenericDialect {}) {
                Ok(statements) => Ok(statements.into_iter().collect()),
                Err(_) => Err(user_error("42601", pg_error.to_string())),
            },
        },
    }
}

/// "CreateExternalTable" → "CREATE EXTERNAL TABLE".
fn sql_words(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 && !out.ends_with(' ') {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// What in `plan` writes or changes the catalog (anywhere, subqueries and
/// `EXPLAIN ANALYZE` included), if anything.
pub fn writes(plan: &LogicalPlan) -> DFResult<Option<String>> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        found = match node {
            LogicalPlan::Ddl(ddl) => {
                Some(sql_words(ddl.name()).replace("CREATE MEMORY TABLE", "CREATE TABLE"))
            }
            LogicalPlan::Dml(dml) => Some(dml.op.to_string().to_uppercase()),
            LogicalPlan::Copy(_) => Some("COPY … TO".to_string()),
            LogicalPlan::Statement(s) => Some(sql_words(s.name())),
            _ => None,
        };
        Ok(if found.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(found)
}

/// `25006` unless writes are allowed; statements that would change the
/// server's own settings (`RESET datafusion.runtime.…`) are refused always.
pub fn check_plan(plan: &LogicalPlan, allow_write: bool) -> Result<(), PgWireError> {
    if let LogicalPlan::Statement(PlanStatement::SetVariable(_) | PlanStatement::ResetVariable(_)) =
        plan
    {
        return Err(user_error(
            "55P02", // cant_change_runtime_param
            "saasql serve: only SET saasql.* and datafusion.* (not datafusion.runtime.*) can be changed by a client",
        ));
    }
    if allow_write {
        return Ok(());
    }
    match writes(plan).map_err(df_error)? {
        Some(what) => Err(user_error(
            "25006", // read_only_sql_transaction
            format!(
                "saasql serve is read-only: {what} is refused (start the server with --allow-write to allow it)"
            ),
        )),
        None => Ok(()),
    }
}

/// Plans a statement (`SHOW` of a Postgres setting becomes a one-row
/// query) and refuses what the server does not allow.
pub async fn plan(
    ctx: &SessionContext,
    stmt: &DfStatement,
    allow_write: bool,
) -> Result<LogicalPlan, PgWireError> {
    let state = ctx.state();
    let plan = match show_query(stmt, allow_write) {
        Some(query) => state.create_logical_plan(&query?).await,
        None => state.statement_to_plan(stmt.clone()).await,
    }
    .map_err(df_error)?;
    check_plan(&plan, allow_write)?;
    Ok(plan)
}

/// A runtime for one query: the server's disk manager, caches and object
/// stores, with a memory pool of `bytes` of its own.
pub fn query_runtime(ctx: &SessionContext, bytes: usize) -> Result<Arc<RuntimeEnv>, PgWireError> {
    let top = NonZeroUsize::new(5).expect("5 is not zero");
    let pool = TrackConsumersPool::new(FairSpillPool::new(bytes), top);
    RuntimeEnvBuilder::from_runtime_env(&ctx.runtime_env())
        .with_memory_pool(Arc::new(pool))
        .build_arc()
        .map_err(df_error)
}

/// The server's query slots: at most `--max-queries` queries run at once
/// (over all connections and both protocols), so at most that many times
/// `--memory-limit` is in use. Later queries wait for a slot in arrival
/// order.
#[derive(Debug)]
pub struct QuerySlots {
    slots: Arc<Semaphore>,
    total: usize,
}

impl QuerySlots {
    /// `total` slots (at least 1).
    pub fn new(total: usize) -> Self {
        let total = total.max(1);
        Self {
            slots: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// How many queries may run at once.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Waits for a slot, then starts `physical`; the slot is freed when the
    /// returned stream is dropped (finished, cancelled or abandoned), and
    /// the query's tasks stop then too ([`super::yielding`]).
    pub async fn execute(
        &self,
        physical: Arc<dyn ExecutionPlan>,
        task: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream, PgWireError> {
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::debug!(
                    "all {} query slots are busy: a query waits for one",
                    self.total
                );
                Arc::clone(&self.slots)
                    .acquire_owned()
                    .await
                    .map_err(|_| user_error("57P01", "the server is shutting down"))?
            }
        };
        let physical = super::yielding::yielding(physical).map_err(df_error)?;
        let stream = execute_stream(physical, task).map_err(df_error)?;
        let schema = stream.schema();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.map(move |batch| {
                let _slot = &permit;
                batch
            }),
        )))
    }
}

/// Whether `plan` reads a table other than the server's own catalog tables
/// (`pg_catalog`, `information_schema`).
fn reads_data(plan: &LogicalPlan, state: &SessionState) -> DFResult<bool> {
    let options = state.config().options();
    let (catalog, schema) = (
        options.catalog.default_catalog.as_str(),
        options.catalog.default_schema.as_str(),
    );
    let mut data = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let table = scan.table_name.clone().resolve(catalog, schema);
            if !matches!(
                &*table.schema,
                "pg_catalog" | "information_schema" | super::catalog::SCHEMA
            ) {
                data = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(data)
}

/// The physical plan of `plan`. With `--cluster` (`cluster`), a plan that
/// reads no data table (catalog queries, `SELECT version()`) runs in the
/// server, since the executors have neither the emulated `pg_catalog` nor
/// the Postgres functions; the rest run on the cluster.
pub async fn physical_plan(
    state: &SessionState,
    plan: &LogicalPlan,
    cluster: bool,
) -> Result<Arc<dyn ExecutionPlan>, PgWireError> {
    if cluster && !reads_data(plan, state).map_err(df_error)? {
        let optimized = state.optimize(plan).map_err(df_error)?;
        return DefaultPhysicalPlanner::default()
            .create_physical_plan(&optimized, state)
            .await
            .map_err(df_error);
    }
    state.create_physical_plan(plan).await.map_err(df_error)
}

/// Statements answered without DataFusion's planner.
pub fn is_command(stmt: &DfStatement) -> bool {
    let DfStatement::Statement(s) = stmt else {
        return false;
    };
    matches!(
        **s,
        SqlStatement::StartTransaction { .. }
            | SqlStatement::Commit { .. }
            | SqlStatement::Rollback { .. }
            | SqlStatement::Set(_)
            | SqlStatement::Discard { .. }
            | SqlStatement::Deallocate { .. }
    )
}

/// What a command statement does: a transaction tag, or `SET` of these
/// `(name, value)` pairs.
#[derive(Debug)]
pub enum Command {
    /// `BEGIN`/`START TRANSACTION`: saasql has no transactions, but clients
    /// (psycopg, JDBC) send them.
    Begin,
    /// `COMMIT` or `ROLLBACK` (its tag).
    End(&'static str),
    /// `SET name = value`, lower-case names.
    Set(Vec<(String, String)>),
    /// Other `SET …` forms, `DISCARD`, `DEALLOCATE`: accepted, no effect.
    Nothing(&'static str),
}

/// Classifies a statement [`is_command`] accepted.
pub fn command(stmt: &DfStatement) -> Command {
    let DfStatement::Statement(s) = stmt else {
        return Command::Nothing("SET");
    };
    let value = |e: &datafusion::sql::sqlparser::ast::Expr| {
        let text = e.to_string();
        match text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
            Some(quoted) => quoted.replace("''", "'"),
            None => text,
        }
    };
    match &**s {
        SqlStatement::StartTransaction { .. } => Command::Begin,
        SqlStatement::Commit { .. } => Command::End("COMMIT"),
        SqlStatement::Rollback { .. } => Command::End("ROLLBACK"),
        SqlStatement::Discard { .. } => Command::Nothing("DISCARD ALL"),
        SqlStatement::Deallocate { .. } => Command::Nothing("DEALLOCATE"),
        SqlStatement::Set(Set::SingleAssignment {
            variable, values, ..
        }) => Command::Set(vec![(
            variable.to_string().to_ascii_lowercase(),
            values.iter().map(value).collect::<Vec<_>>().join(", "),
        )]),
        SqlStatement::Set(Set::MultipleAssignments { assignments }) => Command::Set(
            assignments
                .iter()
                .map(|a| (a.name.to_string().to_ascii_lowercase(), value(&a.value)))
                .collect(),
        ),
        _ => Command::Nothing("SET"),
    }
}

/// Applies `SET name = value` to a connection's session: `saasql.*` and
/// `datafusion.*` settings go to its config (so they apply to this
/// connection only); `datafusion.runtime.*` (the memory limit, spill
/// folder) and `s3.*` (the server's storage credentials) are refused;
/// Postgres client settings (`extra_float_digits`, `application_name`,
/// `DateStyle`, `search_path`, …) are accepted and ignored.
pub fn set(ctx: &SessionContext, name: &str, value: &str) -> Result<(), PgWireError> {
    if name.starts_with("datafusion.runtime.") || !name.contains('.') && is_runtime_alias(name) {
        return Err(user_error(
            "55P02",
            format!("parameter \"{name}\" belongs to the server and cannot be changed by a client"),
        ));
    }
    if name.starts_with("saasql.") || name.starts_with("datafusion.") {
        return ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .set(name, value)
            .map_err(df_error);
    }
    if name.contains('.') {
        return Err(user_error(
            "55P02",
            format!(
                "parameter \"{name}\" cannot be changed over the wire (only saasql.* and datafusion.* settings)"
            ),
        ));
    }
    Ok(())
}

/// DataFusion-style runtime names without a prefix are not Postgres
/// settings; refuse them rather than pretend.
fn is_runtime_alias(name: &str) -> bool {
    matches!(name, "memory_limit" | "temp_directory")
}

/// The Postgres settings clients ask for with `SHOW` or
/// `current_setting()`, and their fixed values.
fn pg_setting(name: &str, allow_write: bool) -> Option<String> {
    let read_only = if allow_write { "off" } else { "on" };
    Some(
        match name {
            "server_version" => PG_VERSION,
            "server_version_num" => PG_VERSION_NUM,
            "server_encoding" | "client_encoding" => "UTF8",
            "search_path" => "public",
            "timezone" => "UTC",
            "datestyle" => "ISO, MDY",
            "intervalstyle" => "postgres",
            "standard_conforming_strings" | "integer_datetimes" => "on",
            "transaction_isolation" | "default_transaction_isolation" => "read committed",
            "transaction_read_only" | "default_transaction_read_only" => read_only,
            "is_superuser" => "off",
            "max_identifier_length" => "63",
            "max_index_keys" => "32",
            "extra_float_digits" => "1",
            "statement_timeout" | "lock_timeout" => "0",
            "application_name" => "",
            "lc_collate" | "lc_ctype" | "lc_messages" => "C",
            _ => return None,
        }
        .to_string(),
    )
}

/// `SHOW name` of a Postgres setting, as the query that answers it (one
/// text column named like Postgres names it). `None` for `SHOW ALL` and
/// saasql's and DataFusion's settings, which DataFusion answers from the
/// session's config.
pub fn show_query(stmt: &DfStatement, allow_write: bool) -> Option<Result<String, PgWireError>> {
    let DfStatement::Statement(s) = stmt else {
        return None;
    };
    let SqlStatement::ShowVariable { variable } = &**s else {
        return None;
    };
    let words: Vec<String> = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    let name = match words.join(" ").as_str() {
        "transaction isolation level" => "transaction_isolation".to_string(),
        "time zone" => "timezone".to_string(),
        other => other.to_string(),
    };
    // `SHOW saasql.x` arrives as the words `saasql x` (sqlparser skips the dot).
    let first = words.first().map(String::as_str).unwrap_or_default();
    if matches!(first, "all" | "saasql" | "datafusion" | "s3") {
        return None;
    }
    let column = match name.as_str() {
        "timezone" => "TimeZone".to_string(),
        "datestyle" => "DateStyle".to_string(),
        "intervalstyle" => "IntervalStyle".to_string(),
        other => other.to_string(),
    };
    Some(match pg_setting(&name, allow_write) {
        Some(value) => Ok(format!("SELECT '{value}' AS \"{column}\"")),
        None => Err(unknown_setting(&name)),
    })
}

fn unknown_setting(name: &str) -> PgWireError {
    user_error(
        "42704", // undefined_object
        format!("unrecognized configuration parameter \"{name}\""),
    )
}

/// `current_setting(name)`: the Postgres settings of [`pg_setting`] (Grafana
/// reads `server_version_num` and `search_path`), and the session's
/// `saasql.*`/`datafusion.*` settings.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSetting {
    signature: Signature,
    allow_write: bool,
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let lookup = |name: &str| -> DFResult<String> {
            let lower = name.to_ascii_lowercase();
            if let Some(value) = pg_setting(&lower, self.allow_write) {
                return Ok(value);
            }
            if (lower.starts_with("saasql.") || lower.starts_with("datafusion."))
                && let Some(entry) = args
                    .config_options
                    .entries()
                    .into_iter()
                    .find(|e| e.key == lower)
            {
                return Ok(entry.value.unwrap_or_default());
            }
            plan_err!("unrecognized configuration parameter \"{name}\"")
        };
        match &args.args[0] {
            ColumnarValue::Scalar(s) => match s.try_as_str() {
                Some(Some(name)) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(lookup(
                    name,
                )?)))),
                Some(None) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None))),
                None => exec_err!("current_setting: the setting name must be text"),
            },
            ColumnarValue::Array(names) => {
                let mut out = StringBuilder::new();
                for i in 0..names.len() {
                    match ScalarValue::try_from_array(names, i)?
                        .try_as_str()
                        .flatten()
                    {
                        Some(name) => out.append_value(lookup(name)?),
                        None => out.append_null(),
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
        }
    }
}

/// Registers the functions Postgres clients call that saasql's session
/// lacks: `current_setting(name)` and a Postgres-style `version()` (psql
/// and BI tools read the server kind from it).
pub fn register_pg_functions(ctx: &SessionContext, allow_write: bool) {
    ctx.register_udf(ScalarUDF::new_from_impl(CurrentSetting {
        signature: Signature::string(1, Volatility::Stable),
        allow_write,
    }));
    let version = format!(
        "PostgreSQL {PG_VERSION} (saasql {} on Apache DataFusion {})",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    );
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| -> DFResult<ColumnarValue> {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version.clone(),
            ))))
        }),
    ));
}

/// `schema` with struct columns (`nps_breakdown(…)`) as text: they are sent
/// as JSON (`{"promoters":3,…}`), which every client can show and parse.
pub fn jsonify_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Struct(_) => Arc::new(Field::new(f.name(), DataType::Utf8, true)),
                _ => Arc::clone(f),
            })
            .collect::<Vec<_>>(),
    ))
}

/// `batch` with its struct columns as JSON text ([`jsonify_schema`]).
pub fn jsonify_batch(batch: RecordBatch) -> DFResult<RecordBatch> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Struct(_)))
    {
        return Ok(batch);
    }
    let options = EncoderOptions::default();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !matches!(field.data_type(), DataType::Struct(_)) {
            columns.push(Arc::clone(column));
            continue;
        }
        let mut encoder = make_encoder(field, column.as_ref(), &options)?;
        let mut out = StringBuilder::new();
        let mut buf = Vec::new();
        for row in 0..column.len() {
            if encoder.is_null(row) {
                out.append_null();
            } else {
                buf.clear();
                encoder.encode(row, &mut buf);
                out.append_value(String::from_utf8_lossy(&buf));
            }
        }
        columns.push(Arc::new(out.finish()));
    }
    Ok(RecordBatch::try_new(jsonify_schema(&schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_kinds_read_as_sql() {
        assert_eq!(sql_words("CreateExternalTable"), "CREATE EXTERNAL TABLE");
        assert_eq!(sql_words("Prepare"), "PREPARE");
    }

    #[test]
    fn show_answers_postgres_settings() {
        let pg = PostgresCompatibilityParser::new();
        let show = |sql: &str| {
            let stmts = parse(&pg, sql).unwrap();
            show_query(&stmts[0], false).map(|r| r.map_err(|e| e.to_string()))
        };
        assert_eq!(
            show("SHOW TRANSACTION ISOLATION LEVEL"),
            Some(Ok(
                "SELECT 'read committed' AS \"transaction_isolation\"".into()
            ))
        );
        assert_eq!(
            show("show timezone"),
            Some(Ok("SELECT 'UTC' AS \"TimeZone\"".into()))
        );
        assert!(show("SHOW saasql.nps_promoter_min").is_none());
        assert!(matches!(show("SHOW nonsense"), Some(Err(_))));
    }

    #[test]
    fn datafusion_statements_use_datafusion_parser() {
        let pg = PostgresCompatibilityParser::new();
        let stmts = parse(&pg, "COPY (SELECT 1) TO '/tmp/x.csv'").unwrap();
        assert!(matches!(stmts[0], DfStatement::CopyTo(_)));
        let stmts = parse(&pg, "SET saasql.x = 'a''b'; BEGIN").unwrap();
        match command(&stmts[0]) {
            Command::Set(pairs) => assert_eq!(pairs, vec![("saasql.x".into(), "a'b".into())]),
            other => panic!("{other:?}"),
        }
        assert!(is_command(&stmts[1]));
        assert!(parse(&pg, "-- ping").unwrap().is_empty());
        // What `saasql run` accepts, a client may send.
        let stmts = parse(&pg, "SELECT * EXCLUDE (b) FROM t").unwrap();
        assert_eq!(stmts.len(), 1);
        assert!(parse(&pg, "SELEC 1").is_err());
    }
}
