//! The Postgres wire protocol on pgwire: one [`PgSession`] per connection,
//! password checks, cancel requests, and rows streamed from DataFusion.
//!
//! Why own handlers rather than datafusion-postgres' `DfSessionService`: it
//! shares one session between all connections (a `SET` would leak), accepts
//! any `SET` silently, and runs queries after pgwire's cancel window, so a
//! cancel request or a vanished client would not stop them. Here a query's
//! DataFusion stream lives inside the row stream pgwire sends from, next to
//! the connection's cancel and disconnect signals: either one drops the
//! stream, which stops DataFusion's tasks and frees its memory.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};

use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::execution::TaskContext;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, Stream, StreamExt, TryStreamExt};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{SCRAM_ITERATIONS, ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, ErrorHandler, METADATA_USER,
    PgWireConnectionState, PgWireServerHandlers, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::data::DataRow;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::types::format::FormatOptions;
use tokio::sync::watch;

use super::sql::{
    self, Command, PG_VERSION, df_error, jsonify_batch, jsonify_schema, query_canceled, user_error,
};
use super::throttle::LoginThrottle;

/// What the server was started with; shared by every connection.
#[derive(Debug)]
pub struct ServeOptions {
    /// `--allow-write`.
    pub allow_write: bool,
    /// The memory pool of each query, in bytes.
    pub query_memory: usize,
    /// Queries that read data run on a Ballista cluster (`--cluster`).
    pub cluster: bool,
    /// At most `--max-queries` run at once.
    pub slots: sql::QuerySlots,
}

/// A statement of the extended protocol, parsed (and planned) at Parse.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A query (or, with `--allow-write`, a write), planned.
    Plan(LogicalPlan),
    /// `BEGIN`, `SET`, … run at Execute.
    Command(DfStatement),
}

/// One connection: its own session (a copy of the server's: same tables,
/// functions and runtime; own settings), its cancel and disconnect signals.
#[derive(Clone)]
pub struct PgSession {
    ctx: SessionContext,
    opts: Arc<ServeOptions>,
    parser: Arc<PostgresCompatibilityParser>,
    /// Becomes true when the client has closed its end.
    gone: watch::Receiver<bool>,
    /// Bumped by each cancel request for this connection.
    cancel: Arc<watch::Sender<u64>>,
    registry: Arc<CancelRegistry>,
    key: Arc<OnceLock<CancelKey>>,
}

impl Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession")
            .field("session_id", &self.ctx.session_id())
            .finish_non_exhaustive()
    }
}

impl PgSession {
    /// A session for a new connection.
    pub fn new(
        base: &SessionContext,
        opts: Arc<ServeOptions>,
        parser: Arc<PostgresCompatibilityParser>,
        gone: watch::Receiver<bool>,
        registry: Arc<CancelRegistry>,
    ) -> Self {
        Self {
            ctx: SessionContext::new_with_state(base.state()),
            opts,
            parser,
            gone,
            cancel: Arc::new(watch::channel(0).0),
            registry,
            key: Arc::new(OnceLock::new()),
        }
    }

    /// Makes this connection's cancel key reach [`Self::cancel`] (once the
    /// key exists, i.e. after startup).
    fn register<C: ClientInfo>(&self, client: &C) {
        let (pid, secret) = client.pid_and_secret_key();
        let key = (pid, secret.to_bytes().to_vec());
        if self.key.set(key.clone()).is_ok() {
            self.registry
                .0
                .lock()
                .expect("cancel registry lock")
                .insert(key, Arc::clone(&self.cancel));
        }
    }

    /// Forgets the cancel key: the connection has ended.
    pub fn unregister(&self) {
        if let Some(key) = self.key.get() {
            self.registry
                .0
                .lock()
                .expect("cancel registry lock")
                .remove(key);
        }
    }

    /// Plans a statement and refuses what the server does not allow.
    async fn plan(&self, stmt: &DfStatement) -> PgWireResult<LogicalPlan> {
        sql::plan(&self.ctx, stmt, self.opts.allow_write).await
    }

    fn query_runtime(&self) -> PgWireResult<Arc<RuntimeEnv>> {
        sql::query_runtime(&self.ctx, self.opts.query_memory)
    }

    /// Runs a planned statement: a query streams its rows; a write (with
    /// `--allow-write`) runs to the end and answers with its tag.
    async fn run<C: ClientInfo>(
        &self,
        client: &C,
        plan: LogicalPlan,
        format: &Format,
    ) -> PgWireResult<Response> {
        self.register(client);
        if matches!(plan, LogicalPlan::Ddl(_)) {
            let tag = sql::writes(&plan).map_err(df_error)?.unwrap_or_default();
            let df = self
                .ctx
                .execute_logical_plan(plan)
                .await
                .map_err(df_error)?;
            df.collect().await.map_err(df_error)?;
            return Ok(Response::Execution(Tag::new(&tag)));
        }
        if matches!(plan, LogicalPlan::Statement(_)) {
            let df = self
                .ctx
                .execute_logical_plan(plan)
                .await
                .map_err(df_error)?;
            let schema = jsonify_schema(df.schema().as_arrow());
            let batches = df.collect().await.map_err(df_error)?;
            let fmt = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(fmt))?);
            if fields.is_empty() {
                return Ok(Response::Execution(Tag::new("OK")));
            }
            let rows = futures::stream::iter(batches)
                .map(|b| jsonify_batch(b).map_err(df_error))
                .flat_map(rows_of(Arc::clone(&fields)));
            return Ok(Response::Query(QueryResponse::new(fields, rows)));
        }
        let write = match &plan {
            LogicalPlan::Dml(dml) => Some(dml.op.name().split(' ').next().unwrap_or("INSERT")),
            LogicalPlan::Copy(_) => Some("COPY"),
            _ => None,
        };
        let state = self.ctx.state();
        let physical = sql::physical_plan(&state, &plan, self.opts.cluster).await?;
        let task = Arc::new(TaskContext::from(&state).with_runtime(self.query_runtime()?));
        let stream = self.start(physical, task).await?;
        if let Some(word) = write {
            let batches: Vec<RecordBatch> = stream.try_collect().await.map_err(df_error)?;
            let rows = saasql_common::results::count_written(&batches) as usize;
            let tag = match word.to_ascii_uppercase().as_str() {
                "INSERT" => Tag::new("INSERT").with_oid(0).with_rows(rows),
                other => Tag::new(other).with_rows(rows),
            };
            return Ok(Response::Execution(tag));
        }
        let schema = jsonify_schema(&stream.schema());
        let fmt = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let fields = Arc::new(arrow_schema_to_pg_fields(&schema, format, Some(fmt))?);
        let rows = guarded_rows(
            stream,
            Arc::clone(&fields),
            self.cancel.subscribe(),
            self.gone.clone(),
        );
        Ok(Response::Query(QueryResponse::new(fields, rows)))
    }

    /// Starts a physical plan once one of the server's query slots is free;
    /// a cancel request, or the client leaving, ends the wait.
    async fn start(
        &self,
        physical: Arc<dyn ExecutionPlan>,
        task: Arc<TaskContext>,
    ) -> PgWireResult<SendableRecordBatchStream> {
        let mut cancel = self.cancel.subscribe();
        let start = *cancel.borrow();
        let mut gone = self.gone.clone();
        tokio::select! {
            stream = self.opts.slots.execute(physical, task) => stream,
            _ = fired(&mut cancel, move |g| *g != start) => Err(query_canceled()),
            _ = fired(&mut gone, |gone| *gone) => Err(user_error("08006", "the client went away")),
        }
    }

    /// Runs `BEGIN`, `SET`, … (see [`sql::command`]).
    fn command(&self, stmt: &DfStatement) -> PgWireResult<Response> {
        Ok(match sql::command(stmt) {
            Command::Begin => Response::TransactionStart(Tag::new("BEGIN")),
            Command::End(tag) => Response::TransactionEnd(Tag::new(tag)),
            Command::Set(pairs) => {
                for (name, value) in pairs {
                    sql::set(&self.ctx, &name, &value)?;
                }
                Response::Execution(Tag::new("SET"))
            }
            Command::Nothing(tag) => Response::Execution(Tag::new(tag)),
        })
    }
}

/// Resolves when `signal`'s value satisfies `done`; never if its sender is
/// gone (such a signal cannot fire any more).
async fn fired<T>(signal: &mut watch::Receiver<T>, done: impl FnMut(&T) -> bool) {
    if signal.wait_for(done).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A batch (or an error) as DataRows.
fn rows_of(
    fields: Arc<Vec<FieldInfo>>,
) -> impl FnMut(PgWireResult<RecordBatch>) -> futures::stream::Iter<RowIter> {
    move |item| {
        let rows: RowIter = match item {
            Ok(batch) => encode_recordbatch(Arc::clone(&fields), batch),
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        futures::stream::iter(rows)
    }
}

type RowIter = Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync>;

/// A query's rows. A cancel request ends them with `57014`; a client that
/// went away ends them quietly. Either way the DataFusion stream is
/// dropped, which aborts its tasks and frees its memory.
fn guarded_rows(
    batches: SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
    cancel: watch::Receiver<u64>,
    gone: watch::Receiver<bool>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    let start = *cancel.borrow();
    let batches = futures::stream::unfold(
        (Some(batches), cancel, gone),
        move |(batches, mut cancel, mut gone)| async move {
            let mut batches = batches?;
            enum Next {
                Cancelled,
                Gone,
                Batch(Option<datafusion::error::Result<RecordBatch>>),
            }
            let next = {
                tokio::select! {
                    biased;
                    _ = fired(&mut cancel, |g| *g != start) => Next::Cancelled,
                    _ = fired(&mut gone, |gone| *gone) => Next::Gone,
                    next = batches.next() => Next::Batch(next),
                }
            };
            match next {
                Next::Cancelled => Some((Err(query_canceled()), (None, cancel, gone))),
                Next::Gone | Next::Batch(None) => None,
                Next::Batch(Some(Ok(batch))) => Some((
                    jsonify_batch(batch).map_err(df_error),
                    (Some(batches), cancel, gone),
                )),
                Next::Batch(Some(Err(e))) => Some((Err(df_error(e)), (None, cancel, gone))),
            }
        },
    );
    batches.flat_map(rows_of(fields))
}

#[async_trait]
impl SimpleQueryHandler for PgSession {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = sql::parse(&self.parser, query)?;
        if statements.is_empty() {
            // pgx's ping (Grafana's health check) is `-- ping`.
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for stmt in &statements {
            let response = if sql::is_command(stmt) {
                self.command(stmt)
            } else {
                match self.plan(stmt).await {
                    Ok(plan) => self.run(client, plan, &Format::UnifiedText).await,
                    Err(e) => Err(e),
                }
            };
            match response {
                Ok(r) => responses.push(r),
                // The statements before it still answer; the rest do not run.
                Err(e) if responses.is_empty() => return Err(e),
                Err(e) => {
                    responses.push(Response::Error(Box::new(e.into())));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// The extended protocol's Parse and Describe.
#[derive(Debug, Clone)]
pub struct PgParser(PgSession);

/// A plan's `$1`, `$2`, … types in order.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let mut types: Vec<_> = plan
        .get_parameter_types()
        .map_err(df_error)?
        .into_iter()
        .collect();
    types.sort_by_key(|(id, _)| {
        id.trim_start_matches('$')
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    Ok(types.into_iter().map(|(_, t)| t).collect())
}

#[async_trait]
impl QueryParser for PgParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = sql::parse(&self.0.parser, sql)?;
        if statements.is_empty() {
            return Ok(None);
        }
        if statements.len() > 1 {
            return Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let stmt = statements.remove(0);
        if sql::is_command(&stmt) {
            return Ok(Some(Prepared::Command(stmt)));
        }
        Ok(Some(Prepared::Plan(self.0.plan(&stmt).await?)))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        let Prepared::Plan(plan) = stmt else {
            return Ok(vec![]);
        };
        parameter_types(plan)?
            .into_iter()
            .map(|t| match t {
                Some(t) => into_pg_type(&t),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match stmt {
            Prepared::Plan(plan)
                if !matches!(
                    plan,
                    LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_)
                ) =>
            {
                arrow_schema_to_pg_fields(
                    &jsonify_schema(plan.schema().as_arrow()),
                    column_format.unwrap_or(&Format::UnifiedText),
                    None,
                )
            }
            _ => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for PgSession {
    type Statement = Prepared;
    type QueryParser = PgParser;

    fn query_parser(&self) -> Arc<PgParser> {
        Arc::new(PgParser(self.clone()))
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement {
            Prepared::Command(stmt) => self.command(stmt),
            Prepared::Plan(plan) => {
                let types = parameter_types(plan)?;
                let plan = if types.is_empty() {
                    plan.clone()
                } else {
                    let inferred: Vec<Option<&DataType>> =
                        types.iter().map(Option::as_ref).collect();
                    let params: ParamValues =
                        arrow_pg::datatypes::df::deserialize_parameters(portal, &inferred)?;
                    plan.clone()
                        .replace_params_with_values(&params)
                        .map_err(df_error)?
                };
                self.run(client, plan, &portal.result_column_format).await
            }
        }
    }
}

/// The one password, for any user name. Clients prove they know it with
/// SCRAM-SHA-256 (RFC 7677, as Postgres does by default), so it never
/// crosses the wire; with TLS also SCRAM-SHA-256-PLUS, which binds the proof
/// to the server's certificate. Only the salted form is kept for that.
pub struct OnePassword {
    password: String,
    salt: Vec<u8>,
    salted: Vec<u8>,
}

impl Debug for OnePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnePassword(<secret>)")
    }
}

impl OnePassword {
    /// The password clients must give.
    pub fn new(password: &str) -> Result<Self, String> {
        let mut salt = [0u8; 16];
        getrandom_02::getrandom(&mut salt).map_err(|e| format!("no random salt: {e}"))?;
        Ok(Self {
            password: password.to_string(),
            salted: gen_salted_password(password, &salt, SCRAM_ITERATIONS),
            salt: salt.to_vec(),
        })
    }

    /// The password itself, to compare with one a Flight SQL client sent.
    pub fn expose(&self) -> &str {
        &self.password
    }
}

#[async_trait]
impl AuthSource for OnePassword {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

/// A connection's cancel key: (process id, secret key).
pub type CancelKey = (i32, Vec<u8>);

/// Cancel key → that connection's cancel signal. Cancel requests come on
/// a new connection, so this is shared by all of them.
#[derive(Debug, Default)]
pub struct CancelRegistry(Mutex<HashMap<CancelKey, Arc<watch::Sender<u64>>>>);

/// Handles cancel requests: pgwire's own (which interrupts planning) and
/// ours (which stops the running query's rows).
#[derive(Debug)]
struct Cancel {
    manager: Arc<ConnectionManager>,
    registry: Arc<CancelRegistry>,
}

#[async_trait]
impl CancelHandler for Cancel {
    async fn on_cancel_request(&self, req: CancelRequest) {
        self.manager.cancel(req.pid, &req.secret_key).await;
        let key = (req.pid, req.secret_key.to_bytes().to_vec());
        if let Some(tx) = self
            .registry
            .0
            .lock()
            .expect("cancel registry lock")
            .get(&key)
        {
            tx.send_modify(|g| *g += 1);
        }
    }
}

/// Logs failed statements and logins (at debug and info; never a password,
/// which the SCRAM exchange does not send anyway).
#[derive(Debug)]
struct Errors;

impl ErrorHandler for Errors {
    fn on_error<C: ClientInfo>(&self, client: &C, error: &mut PgWireError) {
        match error {
            PgWireError::InvalidPassword(user) => {
                // SCRAM clients leave the user name out of their SCRAM
                // messages (libpq sends `n=`): name the one they logged in as.
                if user.is_empty()
                    && let Some(login) = client.metadata().get(METADATA_USER)
                {
                    *user = login.clone();
                }
                tracing::info!(
                    "refused login from {}: wrong password",
                    client.socket_addr()
                )
            }
            PgWireError::IoError(_) => {}
            other => tracing::debug!("{}: {other}", client.socket_addr()),
        }
    }
}

/// No password (loopback only): any client connects.
#[derive(Debug)]
pub struct NoAuth(Arc<ConnectionManager>);

impl NoopStartupHandler for NoAuth {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(Arc::clone(&self.0))
    }
}

/// How a connection logs in: with TLS required or not, and with no
/// password (loopback only) or SCRAM, whose attempts wait their turn at
/// `throttle` after wrong passwords from the same address.
struct Startup {
    require_tls: bool,
    auth: Auth,
    throttle: Arc<LoginThrottle>,
}

enum Auth {
    Open(NoAuth),
    Scram(Box<SASLAuthStartupHandler<DefaultServerParameterProvider>>),
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.require_tls && !client.is_secure() {
            tracing::info!("refused connection from {}: no TLS", client.socket_addr());
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_owned(),
                "28000".to_owned(), // invalid_authorization_specification
                "saasql serve takes TLS connections only: connect with sslmode=require \
                 (or verify-full with the server's certificate)"
                    .to_owned(),
            ))));
        }
        let scram = match &self.auth {
            Auth::Open(h) => return h.on_startup(client, message).await,
            Auth::Scram(h) => h,
        };
        let ip = client.socket_addr().ip();
        // Before the client is asked for its password.
        if matches!(message, PgWireFrontendMessage::Startup(_)) {
            self.throttle.admit(ip).await;
        }
        let proof = matches!(message, PgWireFrontendMessage::PasswordMessageFamily(_));
        let result = scram.on_startup(client, message).await;
        match &result {
            Err(PgWireError::InvalidPassword(_)) => self.throttle.failed(ip, "Postgres"),
            Ok(()) if proof && matches!(client.state(), PgWireConnectionState::ReadyForQuery) => {
                self.throttle.succeeded(ip)
            }
            _ => {}
        }
        result
    }
}

/// The handlers of one connection.
#[derive(Debug)]
pub struct ConnHandlers {
    pub session: Arc<PgSession>,
    pub manager: Arc<ConnectionManager>,
    pub registry: Arc<CancelRegistry>,
    pub password: Option<Arc<OnePassword>>,
    /// With `--tls-cert`: its PEM. Plain connections are then refused.
    pub cert_pem: Option<Arc<Vec<u8>>>,
    /// Failed logins per address, shared with Flight SQL.
    pub throttle: Arc<LoginThrottle>,
}

impl PgWireServerHandlers for ConnHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.session)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.session)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let auth = match &self.password {
            None => Auth::Open(NoAuth(Arc::clone(&self.manager))),
            Some(password) => {
                let mut params = DefaultServerParameterProvider::default();
                params.server_version = PG_VERSION.to_string();
                params.default_transaction_read_only = !self.session.opts.allow_write;
                let mut scram = ScramAuth::new(Arc::clone(password) as Arc<dyn AuthSource>);
                scram.set_iterations(SCRAM_ITERATIONS);
                if let Some(pem) = &self.cert_pem
                    && let Err(e) = scram.configure_certificate(pem)
                {
                    // Only channel binding (SCRAM-SHA-256-PLUS) is lost.
                    tracing::debug!("no SCRAM channel binding: {e}");
                }
                Auth::Scram(Box::new(
                    SASLAuthStartupHandler::new(Arc::new(params))
                        .with_scram(scram)
                        .with_connection_manager(Arc::clone(&self.manager)),
                ))
            }
        };
        Arc::new(Startup {
            require_tls: self.cert_pem.is_some(),
            auth,
            throttle: Arc::clone(&self.throttle),
        })
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(Cancel {
            manager: Arc::clone(&self.manager),
            registry: Arc::clone(&self.registry),
        })
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(Errors)
    }
}
