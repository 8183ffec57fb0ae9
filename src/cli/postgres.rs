//! Postgres tables as saasql tables:
//! `postgres://USER@HOST:PORT/DB?table=SCHEMA.TABLE[&sslmode=MODE][&sslrootcert=FILE]`,
//! in the config file's `[tables]` or `CREATE EXTERNAL TABLE … STORED AS
//! POSTGRES LOCATION '…'`.
//!
//! The table is read through `datafusion-table-providers-postgres`: the
//! columns a query needs and its `WHERE` filters are sent to Postgres in the
//! SQL it runs (`EXPLAIN` shows it as `SqlExec sql=SELECT …`).
//!
//! Defaults are libpq's: port 5432, user `$PGUSER` or the OS user, database
//! named like the user, `sslmode` `$PGSSLMODE` or `prefer`; `sslmode` is
//! `disable`, `prefer`, `require`, `verify-ca` or `verify-full`, and the root
//! certificate is `sslrootcert=FILE` (or `system`), `$PGSSLROOTCERT` or
//! `~/.postgresql/root.crt` (see [`tls_settings`]; TLS is rustls, through the
//! copy of the provider crate in `vendor/`). The password never comes from the
//! location (one there is refused, so it cannot land in config files, shell
//! history or messages): it is `$PGPASSWORD`, else the matching line of the
//! password file (`$PGPASSFILE` or `~/.pgpass`, libpq's format), else none.
//! Connecting and looking the table up take at most `$PGCONNECT_TIMEOUT`
//! seconds (10 by default). Every error is one line that names the location
//! without a password.

use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{
    CreateExternalTable, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::prelude::SessionContext;
use datafusion_table_providers_postgres::PostgresTableFactory;
use datafusion_table_providers_postgres::pool::{Error as PoolError, PostgresConnectionPool};
use secrecy::SecretString;

use super::error::UnreadableTable;
use super::error::{one_line, redact_secrets};

/// How long connecting and looking the table up may take, unless
/// `PGCONNECT_TIMEOUT` says otherwise.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Postgres table cannot be used with `--cluster`.
const CLUSTER_LIMIT: &str = "Postgres tables cannot be used with --cluster (the executors \
    cannot read them); run this query without --cluster";

/// Whether `location` names a Postgres table.
pub fn is_postgres(location: &str) -> bool {
    let lower = location.get(..13).unwrap_or(location).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The provider for the Postgres table at `location`, or one line saying
/// why it cannot be read (naming the location, never a password).
pub async fn postgres_table(
    state: &SessionState,
    location: &str,
) -> std::result::Result<Arc<dyn TableProvider>, String> {
    open(location, is_cluster(state.config_options())).await
}

/// Registers the `STORED AS POSTGRES` table factory in `ctx`.
pub fn register_factory(ctx: &SessionContext) {
    ctx.state_ref()
        .write()
        .table_factories_mut()
        .insert("POSTGRES".to_string(), Arc::new(PostgresFactory));
}

/// `CREATE EXTERNAL TABLE name STORED AS POSTGRES LOCATION 'postgres://…'`:
/// reads an existing Postgres table (it never creates one).
#[derive(Debug)]
struct PostgresFactory;

#[async_trait]
impl TableProviderFactory for PostgresFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let fail = |message: String| DataFusionError::External(Box::new(UnreadableTable(message)));
        if !cmd.schema.fields().is_empty() {
            return Err(fail(format!(
                "table '{}': a Postgres table takes its columns from Postgres; leave out the column list",
                cmd.name
            )));
        }
        if !cmd.options.is_empty() {
            return Err(fail(format!(
                "table '{}': STORED AS POSTGRES takes no OPTIONS; put table=, sslmode= and sslrootcert= in the LOCATION",
                cmd.name
            )));
        }
        let [location] = cmd.locations.as_slice() else {
            return Err(fail(format!(
                "table '{}': STORED AS POSTGRES takes one LOCATION",
                cmd.name
            )));
        };
        open(location, is_cluster(state.config_options()))
            .await
            .map_err(|e| fail(format!("table '{}' cannot be read: {e}", cmd.name)))
    }
}

/// Whether the session's queries run on a Ballista cluster.
fn is_cluster(options: &datafusion::config::ConfigOptions) -> bool {
    #[cfg(feature = "cluster")]
    {
        saasql_cluster::runs_on_cluster(options)
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = options;
        false
    }
}

async fn open(
    location: &str,
    cluster: bool,
) -> std::result::Result<Arc<dyn TableProvider>, String> {
    let url = PgUrl::parse(location)?;
    if cluster {
        return Err(format!("{}: {CLUSTER_LIMIT}", url.with_table()));
    }
    let password = find_password(&url);
    let limit = connect_timeout();
    let shown = url.to_string();
    let (secret, source) = match &password {
        Some((p, source)) => (Some(p.clone()), Some(source.clone())),
        None => (None, None),
    };
    // A task of its own: the connection check of the provider crate is a
    // blocking TCP connect, which a timeout around a plain future could
    // not interrupt.
    let task = tokio::spawn(connect(url, secret, source));
    let result = match tokio::time::timeout(limit, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(format!("cannot connect to {shown}: {e}")),
        Err(_) => Err(format!(
            "cannot connect to {shown}: no answer within {} s (PGCONNECT_TIMEOUT)",
            limit.as_secs()
        )),
    };
    // Never show a password, whatever a driver put in its message.
    result.map_err(|e| {
        let e = redact_secrets(&e);
        match &password {
            Some((p, _)) if !p.is_empty() => e.replace(p.as_str(), "***"),
            _ => e,
        }
    })
}

/// Connects to the server of `url` and reads the table's schema.
async fn connect(
    url: PgUrl,
    password: Option<String>,
    source: Option<String>,
) -> std::result::Result<Arc<dyn TableProvider>, String> {
    let shown = url.to_string();
    let cannot = |cause: String| format!("cannot connect to {shown}: {cause}");
    let tls = tls_settings(&url)?;
    // A quick, interruptible reachability check first.
    if let Err(e) = tokio::net::TcpStream::connect((url.host.as_str(), url.port)).await {
        return Err(cannot(format!(
            "{e} (is the server running, and are the host and port right?)"
        )));
    }
    let mut params: HashMap<String, SecretString> = HashMap::new();
    let mut put = |key: &str, value: &str| {
        params.insert(key.to_string(), SecretString::from(conninfo_value(value)));
    };
    put("host", &url.host);
    put("port", &url.port.to_string());
    put("user", &url.user);
    put("db", &url.db);
    put("sslmode", &tls.mode);
    // A path the provider crate opens itself, not a conninfo value: unquoted.
    if let Some(root) = &tls.root {
        params.insert(
            "sslrootcert".to_string(),
            SecretString::from(root.path.clone()),
        );
    }
    // Times in UTC, as in saasql: a filter on a `timestamptz` column
    // compares with a time Postgres reads in the session's zone.
    params.insert(
        "options".to_string(),
        SecretString::from("-c TimeZone=UTC".to_string()),
    );
    if let Some(p) = &password {
        params.insert("pass".to_string(), SecretString::from(p.clone()));
    }
    let pool = PostgresConnectionPool::new(params)
        .await
        .map_err(|e| cannot(pool_error(&e, &url, &tls, source.as_deref())))?;
    let reference = TableReference::from(url.table.as_str());
    let table = url.with_table();
    {
        let conn = pool
            .connect_direct()
            .await
            .map_err(|e| cannot(pool_error(&e, &url, &tls, source.as_deref())))?;
        let name = reference.to_quoted_string();
        let row = conn
            .conn
            .query_one(
                "SELECT c::text, CASE WHEN c IS NULL THEN NULL ELSE has_table_privilege(c, 'SELECT') END \
                 FROM (SELECT to_regclass($1::text) AS c) t",
                &[&name],
            )
            .await
            .map_err(|e| {
                let cause = match e.as_db_error() {
                    Some(db) => db.message().to_string(),
                    None => chain(&e),
                };
                format!("{table}: {cause}")
            })?;
        let found: Option<String> = row.get(0);
        let readable: Option<bool> = row.get(1);
        if found.is_none() {
            return Err(format!(
                "{table}: table {name} does not exist in database {}",
                url.db
            ));
        }
        if readable == Some(false) {
            return Err(format!(
                "{table}: user {} may not read table {name} (no SELECT privilege)",
                url.user
            ));
        }
    }
    let provider = PostgresTableFactory::new(Arc::new(pool))
        .table_provider(reference)
        .await
        .map_err(|e| format!("{table}: {}", one_line(&e.to_string())))?;
    if provider.schema().fields().is_empty() {
        return Err(format!("{table}: the table has no columns"));
    }
    Ok(Arc::new(PostgresTable { inner: provider }))
}

/// The provider crate's table, with two fixes:
///
/// - Only filters that mean the same in Postgres are sent there: columns
///   and literals under `=`, `<>`, `AND`, `OR`, `NOT`, `IS [NOT] NULL`,
///   `IN (…)`, `LIKE`, and `<`, `<=`, `>`, `>=`, `BETWEEN` on non-text values
///   (text order depends on the database's collation). Function calls (the
///   saasql functions do not exist in Postgres), arithmetic and casts stay
///   in saasql.
/// - A scan without columns (`SELECT count(*) FROM t`) reads one column and
///   drops it (the crate's own plan for it has a column the query plan does
///   not expect).
#[derive(Debug)]
struct PostgresTable {
    inner: Arc<dyn TableProvider>,
}

#[async_trait]
impl TableProvider for PostgresTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let schema = self.schema();
        let mut answers = self.inner.supports_filters_pushdown(filters)?;
        for (answer, filter) in answers.iter_mut().zip(filters) {
            if !same_in_postgres(filter, &schema) {
                *answer = TableProviderFilterPushDown::Unsupported;
            }
        }
        Ok(answers)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let scan = |columns| async move {
            let input = self.inner.scan(state, columns, filters, limit).await?;
            Ok::<_, DataFusionError>(Arc::new(PostgresScan { input }) as Arc<dyn ExecutionPlan>)
        };
        match projection {
            Some(columns) if columns.is_empty() => Ok(Arc::new(ProjectionExec::try_new(
                Vec::<ProjectionExpr>::new(),
                scan(Some(&vec![0])).await?,
            )?)),
            _ => scan(projection).await,
        }
    }
}

/// Runs the provider crate's scan below it, and keeps the filters of the
/// plan above out of it: that scan would take any filter it can write as
/// SQL, also those [`same_in_postgres`] keeps in saasql.
#[derive(Debug)]
struct PostgresScan {
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for PostgresScan {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PostgresScan")
    }
}

impl ExecutionPlan for PostgresScan {
    fn name(&self) -> &str {
        "PostgresScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(PostgresScan { input })),
            _ => Err(DataFusionError::Internal(
                "PostgresScan has one input".to_string(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// Whether Postgres computes `filter` as saasql does (see [`PostgresTable`]).
fn same_in_postgres(filter: &Expr, schema: &Schema) -> bool {
    let same = |e: &Expr| same_in_postgres(e, schema);
    let text = |e: &Expr| match e {
        Expr::Column(c) => schema.field_with_name(&c.name).map_or(true, |f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }),
        Expr::Literal(v, _) => matches!(
            v.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ),
        _ => true,
    };
    match filter {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::BinaryExpr(b) => match b.op {
            Operator::And | Operator::Or | Operator::Eq | Operator::NotEq => {
                same(&b.left) && same(&b.right)
            }
            Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                !text(&b.left) && !text(&b.right) && same(&b.left) && same(&b.right)
            }
            _ => false,
        },
        Expr::Not(e)
        | Expr::IsNull(e)
        | Expr::IsNotNull(e)
        | Expr::IsTrue(e)
        | Expr::IsFalse(e)
        | Expr::IsNotTrue(e)
        | Expr::IsNotFalse(e) => same(e),
        Expr::Between(b) => !text(&b.expr) && same(&b.expr) && same(&b.low) && same(&b.high),
        Expr::InList(l) => same(&l.expr) && l.list.iter().all(same),
        Expr::Like(l) => same(&l.expr) && same(&l.pattern),
        _ => false,
    }
}

/// A value for the provider crate's `key=value` connection string (which it
/// splits at spaces): quoted when needed.
fn conninfo_value(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\', '\t']) {
        return value.to_string();
    }
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

/// One line for a connection failure of the pool.
fn pool_error(e: &PoolError, url: &PgUrl, tls: &Tls, password_source: Option<&str>) -> String {
    let hint = match password_source {
        Some(source) => format!(" (the password came from {source})"),
        None => " (no password was given: set PGPASSWORD or add it to ~/.pgpass)".to_string(),
    };
    match e {
        PoolError::InvalidUsernameOrPassword { source } => {
            let cause = match source.as_db_error() {
                Some(db) => db.message().to_string(),
                None => format!("password authentication failed for user \"{}\"", url.user),
            };
            format!("{cause}{hint}")
        }
        PoolError::PostgresConnectionError { source }
        | PoolError::ConnectionPoolError { source } => {
            let text = chain(source);
            let cause = match source.as_db_error() {
                Some(db) => db.message().to_string(),
                None => text.clone(),
            };
            if text.contains("password missing") {
                format!("the server asks for a password{hint}")
            } else if cause.starts_with("password authentication failed") {
                format!("{cause}{hint}")
            } else {
                one_line(&cause)
            }
        }
        PoolError::InvalidHostOrPortError { host, port, .. } => {
            format!(
                "nothing answers at {host}:{port} (is the server running, and are the host and port right?)"
            )
        }
        PoolError::ConnectionPoolRunError { source } => chain(source),
        PoolError::FailedToLoadCertError { reason } => {
            format!("{}: {}", tls.root_shown(), one_line(reason))
        }
        PoolError::FailedToReadCertError { source } => {
            format!("{}: {source}", tls.root_shown())
        }
        other => {
            // The crate's messages add advice lines; its first line (or the
            // underlying error) is the cause.
            match std::error::Error::source(other) {
                Some(cause) => chain(cause),
                None => other
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            }
        }
    }
}

/// An error and its causes, `: `-separated, on one line (a cause that its
/// error's text already shows is not repeated).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut current = e.source();
    while let Some(cause) = current {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        current = cause.source();
    }
    one_line(&text)
}

/// A parsed `postgres://` location.
#[derive(Debug, Clone)]
struct PgUrl {
    user: String,
    host: String,
    /// The host as written in a URL (IPv6 in brackets).
    url_host: String,
    port: u16,
    db: String,
    table: String,
    /// `sslmode=` of the location.
    sslmode: Option<String>,
    /// `sslrootcert=` of the location.
    sslrootcert: Option<String>,
}

impl fmt::Display for PgUrl {
    /// `postgres://USER@HOST:PORT/DB`: never with a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.user, self.url_host, self.port, self.db
        )
    }
}

impl PgUrl {
    /// The location with its table: `postgres://USER@HOST:PORT/DB?table=T`.
    fn with_table(&self) -> String {
        format!("{self}?table={}", self.table)
    }

    fn parse(location: &str) -> std::result::Result<PgUrl, String> {
        let shown = redact_secrets(location);
        let bad = |why: String| format!("{shown}: {why}");
        let url = url::Url::parse(location)
            .map_err(|e| bad(format!("not a valid postgres:// URL ({e})")))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(bad("expected a postgres:// URL".to_string()));
        }
        let refuse = || {
            bad(
                "a password in the URL is refused (it would show in files, logs and \
                 process lists): set PGPASSWORD or put it in ~/.pgpass (PGPASSFILE)"
                    .to_string(),
            )
        };
        if url.password().is_some() {
            return Err(refuse());
        }
        let user = match decode(url.username()).map_err(&bad)? {
            u if !u.is_empty() => u,
            _ => default_user().ok_or_else(|| {
                bad("no user name: put USER@ in the URL or set PGUSER".to_string())
            })?,
        };
        let (host, url_host) = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => {
                let d = decode(d).map_err(&bad)?;
                (d.clone(), d)
            }
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), ip.to_string()),
            Some(url::Host::Ipv6(ip)) => (ip.to_string(), format!("[{ip}]")),
            _ => ("localhost".to_string(), "localhost".to_string()),
        };
        let port = url.port().unwrap_or(5432);
        let path = url.path().trim_start_matches('/');
        if path.contains('/') {
            return Err(bad(format!(
                "'{path}' is not a database name (expected postgres://USER@HOST:PORT/DB?table=SCHEMA.TABLE)"
            )));
        }
        let db = match decode(path).map_err(&bad)? {
            d if !d.is_empty() => d,
            _ => user.clone(),
        };
        let mut table = None;
        let mut sslmode = None;
        let mut sslrootcert = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "table" if !value.is_empty() => table = Some(value.into_owned()),
                "sslmode" => sslmode = Some(ssl_mode(&value, "sslmode=").map_err(&bad)?),
                // Empty is unset, as in libpq.
                "sslrootcert" => sslrootcert = Some(value.into_owned()).filter(|v| !v.is_empty()),
                "password" => return Err(refuse()),
                other => {
                    return Err(bad(format!(
                        "unknown parameter '{other}' (saasql reads table=, sslmode= and sslrootcert=)"
                    )));
                }
            }
        }
        let table = table.ok_or_else(|| {
            bad("no table: add ?table=SCHEMA.TABLE (e.g. ?table=public.invoices)".to_string())
        })?;
        Ok(PgUrl {
            user,
            host,
            url_host,
            port,
            db,
            table,
            sslmode,
            sslrootcert,
        })
    }
}

/// A supported `sslmode` (`what` is `sslmode=` or `PGSSLMODE=`).
fn ssl_mode(value: &str, what: &str) -> std::result::Result<String, String> {
    match value {
        "disable" | "prefer" | "require" | "verify-ca" | "verify-full" => Ok(value.to_string()),
        other => Err(format!(
            "{what}{other} is not supported (use disable, prefer, require, verify-ca or verify-full)"
        )),
    }
}

/// How a connection uses TLS: the `sslmode`, and the root certificate to
/// check the server's against.
#[derive(Debug)]
struct Tls {
    mode: String,
    root: Option<RootCert>,
}

/// A root certificate file (or `system`) and where it was named.
#[derive(Debug)]
struct RootCert {
    path: String,
    from: &'static str,
}

impl Tls {
    /// The root certificate as messages name it.
    fn root_shown(&self) -> String {
        match &self.root {
            Some(RootCert { path, from }) => format!("root certificate {path} ({from})"),
            None => "root certificate".to_string(),
        }
    }
}

/// The `sslmode` and root certificate of a connection to `url`, as libpq
/// finds them:
/// - the mode is `sslmode=` of the location, else `$PGSSLMODE`, else
///   `verify-full` with `sslrootcert=system` (as libpq 16) and `prefer`
///   otherwise;
/// - the root certificate is `sslrootcert=` of the location, else
///   `$PGSSLROOTCERT`, else `~/.postgresql/root.crt` if it exists; `system` is
///   the system's trusted roots, and only goes with `verify-full` (any public
///   CA signs certificates, so only the host name in one tells the server
///   apart). `verify-ca` and `verify-full` need one; with `prefer` or
///   `require` one is used too (as libpq does); `disable` uses none.
fn tls_settings(url: &PgUrl) -> std::result::Result<Tls, String> {
    let table = url.with_table();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let given = match &url.sslrootcert {
        Some(path) => Some(RootCert {
            path: path.clone(),
            from: "sslrootcert",
        }),
        None => env("PGSSLROOTCERT").map(|path| RootCert {
            path,
            from: "PGSSLROOTCERT",
        }),
    };
    let system = given.as_ref().is_some_and(|r| r.path == "system");
    let mode = match (&url.sslmode, env("PGSSLMODE")) {
        (Some(mode), _) => mode.clone(),
        (None, Some(mode)) => ssl_mode(&mode, "PGSSLMODE=").map_err(|e| format!("{table}: {e}"))?,
        (None, None) if system => "verify-full".to_string(),
        (None, None) => "prefer".to_string(),
    };
    if mode == "disable" {
        return Ok(Tls { mode, root: None });
    }
    if let Some(root) = given {
        if system && mode != "verify-full" {
            return Err(format!(
                "{table}: {}=system needs sslmode=verify-full (any public CA signs \
                 certificates, so only the host name in one tells the server apart)",
                root.from
            ));
        }
        if !system && !Path::new(&root.path).is_file() {
            let what = if Path::new(&root.path).exists() {
                "not a file"
            } else {
                "no such file"
            };
            return Err(format!(
                "{table}: {} {}: {what} (give the server's root certificate as a PEM \
                 file, or sslrootcert=system for the system's trusted roots)",
                root.from, root.path
            ));
        }
        return Ok(Tls {
            mode,
            root: Some(root),
        });
    }
    let default = dirs::home_dir().map(|home| home.join(".postgresql").join("root.crt"));
    if let Some(path) = default.filter(|p| p.is_file()) {
        let root = RootCert {
            path: path.display().to_string(),
            from: "the default root certificate file",
        };
        return Ok(Tls {
            mode,
            root: Some(root),
        });
    }
    if mode.starts_with("verify-") {
        return Err(format!(
            "{table}: sslmode={mode} needs the root certificate to check the server's against: \
             add &sslrootcert=FILE (or sslrootcert=system for the system's trusted roots), \
             set PGSSLROOTCERT, or put it in ~/.postgresql/root.crt"
        ));
    }
    Ok(Tls { mode, root: None })
}

/// Percent-decodes a URL part.
fn decode(part: &str) -> std::result::Result<String, String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = part
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return Err(format!("bad percent-encoding in '{part}'")),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("'{part}' is not UTF-8 once decoded"))
}

/// libpq's default user: `$PGUSER`, else the OS user.
fn default_user() -> Option<String> {
    if let Ok(user) = std::env::var("PGUSER")
        && !user.is_empty()
    {
        return Some(user);
    }
    os_user().or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
}

/// The name of the user running this process, from `/etc/passwd`.
fn os_user() -> Option<String> {
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

/// How long connecting may take: `$PGCONNECT_TIMEOUT` seconds (at least 2,
/// as libpq), else 10.
fn connect_timeout() -> Duration {
    std::env::var("PGCONNECT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(DEFAULT_CONNECT_TIMEOUT, |s| Duration::from_secs(s.max(2)))
}

/// The password for `url` and where it came from: `$PGPASSWORD`, else the
/// password file.
fn find_password(url: &PgUrl) -> Option<(String, String)> {
    if let Ok(p) = std::env::var("PGPASSWORD")
        && !p.is_empty()
    {
        return Some((p, "PGPASSWORD".to_string()));
    }
    let path = match std::env::var_os("PGPASSFILE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => dirs::home_dir()?.join(".pgpass"),
    };
    match pgpass_lookup(&path, url) {
        Ok(found) => found.map(|p| (p, path.display().to_string())),
        Err(warning) => {
            eprintln!("saasql: warning: {warning}");
            None
        }
    }
}

/// The password of the first line of the password file at `path` that
/// matches `url`; `Err` is a warning (the file is not used).
fn pgpass_lookup(path: &Path, url: &PgUrl) -> std::result::Result<Option<String>, String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Err(format!(
            "password file {} is not a plain file; ignored",
            path.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "password file {} has group or world access; permissions should be u=rw (0600) or less; ignored",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("password file {}: {e}; ignored", path.display()))?;
    Ok(pgpass_match(
        &text,
        [&url.host, &url.port.to_string(), &url.db, &url.user],
    ))
}

/// libpq's `.pgpass` rule: `host:port:db:user:password` lines, `*` matches
/// anything, `\` escapes `:` and `\`, `#` starts a comment line; the first
/// matching line wins.
fn pgpass_match(text: &str, wanted: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        // (value, written as a bare `*`)
        let mut fields: Vec<(String, bool)> = vec![];
        let mut current = String::new();
        let mut raw = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    raw.push(c);
                    if let Some(next) = chars.next() {
                        current.push(next);
                        raw.push(next);
                    }
                }
                ':' if fields.len() < 4 => {
                    fields.push((std::mem::take(&mut current), raw == "*"));
                    raw.clear();
                }
                // An unescaped `:` ends the password.
                ':' => break,
                c => {
                    current.push(c);
                    raw.push(c);
                }
            }
        }
        if fields.len() < 4 {
            continue;
        }
        let matches = fields
            .iter()
            .zip(wanted)
            .all(|((value, any), want)| *any || value == want);
        if matches {
            return Some(current);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(location: &str) -> std::result::Result<PgUrl, String> {
        PgUrl::parse(location)
    }

    #[test]
    fn parses_locations_with_libpq_defaults() {
        let u = url("postgres://billing%20ro@db.example.com:6432/sales%2Deu?table=public.invoices&sslmode=disable").unwrap();
        assert_eq!(
            (u.user.as_str(), u.host.as_str(), u.port, u.db.as_str()),
            ("billing ro", "db.example.com", 6432, "sales-eu")
        );
        assert_eq!(
            (u.table.as_str(), u.sslmode.as_deref()),
            ("public.invoices", Some("disable"))
        );
        assert_eq!(
            u.with_table(),
            "postgres://billing ro@db.example.com:6432/sales-eu?table=public.invoices"
        );
        let u = url("postgresql://ann@[::1]/?table=invoices").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.db.as_str(), u.sslmode.as_deref()),
            ("::1", 5432, "ann", None)
        );
        assert_eq!(u.to_string(), "postgres://ann@[::1]:5432/ann");
        assert!(is_postgres("POSTGRES://x@h/db?table=t"));
        assert!(!is_postgres("/data/postgres://"));
    }

    #[test]
    fn bad_locations_are_one_line_without_the_password() {
        let e = url("postgres://ann@host/db").unwrap_err();
        assert!(e.contains("no table: add ?table=SCHEMA.TABLE"), "{e}");
        for location in [
            "postgres://ann:hunter2@host/db?table=t",
            "postgres://ann@host/db?table=t&password=hunter2",
            "postgres://ann:hun/ter2@host:99999/db?table=t",
        ] {
            let e = url(location).unwrap_err();
            assert!(!e.contains("hunter2") && !e.contains("ter2"), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let e = url("postgres://ann:hunter2@host/db?table=t").unwrap_err();
        assert!(e.contains("set PGPASSWORD or put it in ~/.pgpass"), "{e}");
        let e = url("postgres://ann@host/db?table=t&sslmode=allow").unwrap_err();
        assert!(e.contains("sslmode=allow is not supported"), "{e}");
        let e = url("postgres://ann@host/db?table=t&tabel=x").unwrap_err();
        assert!(e.contains("unknown parameter 'tabel'"), "{e}");
    }

    #[test]
    fn pgpass_lines_match_like_libpq() {
        let file = "# comment\n\
                    other:5432:*:ann:nope\n\
                    db\\:host:*:*:ann:colon\n\
                    *:5432:sales:*:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            pgpass_match(file, ["h", "5432", "sales", "bob"]).as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            pgpass_match(file, ["db:host", "1", "x", "ann"]).as_deref(),
            Some("colon")
        );
        assert_eq!(
            pgpass_match(file, ["h", "5433", "sales", "bob"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_match("a:b:c\n", ["a", "b", "c", "d"]), None);
        assert_eq!(
            pgpass_match("\\*:1:d:u:p\n", ["h", "1", "d", "u"]),
            None,
            "an escaped * is a literal *"
        );
    }

    #[test]
    fn passwords_are_blanked_out_of_text() {
        assert_eq!(
            redact_secrets("in 'postgres://ann:hun:ter2@h:1/db?table=t' here"),
            "in 'postgres://ann:***@h:1/db?table=t' here"
        );
        let plain = "s3://bucket/key.parquet and postgres://ann@h:5432/db?table=t";
        assert_eq!(redact_secrets(plain), plain);
        assert_eq!(
            redact_secrets("host=h PASSWORD=hunter2 user=u, ?password=x&table=t"),
            "host=h PASSWORD=*** user=u, ?password=***&table=t"
        );
    }

    #[test]
    fn conninfo_values_are_quoted_when_needed() {
        assert_eq!(conninfo_value("sales"), "sales");
        assert_eq!(conninfo_value("my db"), "'my db'");
        assert_eq!(conninfo_value("o'neil"), "'o\\'neil'");
    }
}
