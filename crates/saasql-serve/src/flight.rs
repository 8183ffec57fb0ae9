//! Arrow Flight SQL for `saasql serve --flight-sql`: ADBC and JDBC Flight SQL
//! drivers (and the BI tools built on them) get what Postgres clients get:
//! the tables, every saasql function, the read-only rule, a memory pool per
//! query, and settings of their own. Results travel as Arrow, so types (the
//! `nps_breakdown` struct included) arrive as DataFusion computed them.
//!
//! Statements and prepared statements are stateless here: a ticket or a
//! prepared-statement handle carries the SQL text (and, once parameters are
//! bound, their values), and is planned again when the client fetches it.
//!
//! Sessions: with a password, a client logs in with the handshake (HTTP
//! Basic, any user name, the password) and gets a bearer token; each token
//! is a session of its own, so `SET saasql.*` applies to it alone. A client
//! may instead send the password itself as the bearer token, or, on loopback
//! without a password, nothing; its session is then its connection (its
//! address and port).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, Any, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use datafusion::catalog::TableProvider;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{LogicalPlan, TableType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Stream, TryStreamExt};
use pgwire::error::PgWireError;
use prost::Message;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::pg::ServeOptions;
use super::sql::{self, Command, df_error};
use super::throttle::LoginThrottle;

/// A login's session ends after this long without a request.
const IDLE: Duration = Duration::from_secs(8 * 3600);

/// At most this many sessions; the longest idle go first.
const MAX_SESSIONS: usize = 10_000;

/// Whose session a request runs in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A token from the handshake.
    Token(String),
    /// A connection (client address and port).
    Peer(Option<SocketAddr>),
}

struct Session {
    ctx: SessionContext,
    used: Instant,
}

/// The Flight SQL service: one per server, shared by every client.
pub struct FlightSql {
    base: SessionContext,
    opts: Arc<ServeOptions>,
    parser: Arc<PostgresCompatibilityParser>,
    password: Option<Arc<super::pg::OnePassword>>,
    sessions: Mutex<HashMap<Key, Session>>,
    /// Failed logins per address, shared with the Postgres side.
    throttle: Arc<LoginThrottle>,
}

impl std::fmt::Debug for FlightSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightSql")
            .field("password", &self.password.is_some())
            .finish_non_exhaustive()
    }
}

/// Serves Flight SQL on `listener` until the process stops.
pub async fn serve(
    listener: TcpListener,
    base: SessionContext,
    opts: Arc<ServeOptions>,
    password: Option<Arc<super::pg::OnePassword>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    throttle: Arc<LoginThrottle>,
) -> Result<(), String> {
    let service = FlightSql {
        base,
        opts,
        parser: Arc::new(PostgresCompatibilityParser::new()),
        password,
        sessions: Mutex::new(HashMap::new()),
        throttle,
    };
    let router = tonic::transport::Server::builder().add_service(FlightServiceServer::new(service));
    match tls {
        Some(acceptor) => {
            router
                .serve_with_incoming(super::tls::incoming(listener, acceptor))
                .await
        }
        None => {
            router
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
        }
    }
    .map_err(|e| format!("Flight SQL server stopped: {e}"))
}

/// A protocol error as a gRPC status: the same one-line message a Postgres
/// client gets, with the closest status code.
fn status(e: PgWireError) -> Status {
    match e {
        PgWireError::UserError(info) => {
            let message = info.message.clone();
            match info.code.as_str() {
                "25006" | "55P02" => Status::permission_denied(message),
                "42P01" | "42883" | "42704" => Status::not_found(message),
                "53200" => Status::resource_exhausted(message),
                "57014" => Status::cancelled(message),
                "0A000" => Status::unimplemented(message),
                "XX000" => Status::internal(message),
                _ => Status::invalid_argument(message),
            }
        }
        other => Status::internal(other.to_string()),
    }
}

fn df_status(e: datafusion::error::DataFusionError) -> Status {
    status(df_error(e))
}

/// A statement, parsed and checked: a command (`SET`, `BEGIN`, …) or a plan.
enum Prepared {
    Command(datafusion::sql::parser::Statement),
    Plan(Box<LogicalPlan>),
}

impl Prepared {
    /// The schema of its results.
    fn schema(&self) -> SchemaRef {
        match self {
            Prepared::Command(_) => Arc::new(Schema::empty()),
            Prepared::Plan(plan) => Arc::new(plan.schema().as_arrow().clone()),
        }
    }
}

/// A prepared-statement handle: the SQL, and the bound parameters (an
/// Arrow IPC stream of one row) if any.
fn encode_handle(sql: &str, params: &[u8]) -> Vec<u8> {
    let mut handle = Vec::with_capacity(8 + sql.len() + params.len());
    handle.extend_from_slice(&(sql.len() as u64).to_le_bytes());
    handle.extend_from_slice(sql.as_bytes());
    handle.extend_from_slice(params);
    handle
}

fn decode_handle(handle: &[u8]) -> Result<(String, &[u8]), Status> {
    let bad = || Status::invalid_argument("saasql serve: not a prepared statement of this server");
    let (len, rest) = handle.split_first_chunk::<8>().ok_or_else(bad)?;
    let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad())?;
    if rest.len() < len {
        return Err(bad());
    }
    let (sql, params) = rest.split_at(len);
    let sql = String::from_utf8(sql.to_vec()).map_err(|_| bad())?;
    Ok((sql, params))
}

/// The first row of `batch` as positional parameters `$1`, `$2`, ….
fn params_of(batch: &RecordBatch) -> Result<ParamValues, Status> {
    if batch.num_rows() != 1 {
        return Err(Status::invalid_argument(format!(
            "saasql serve: bind one row of parameters per execution (got {})",
            batch.num_rows()
        )));
    }
    let values = batch
        .columns()
        .iter()
        .map(|c| ScalarValue::try_from_array(c, 0))
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(df_status)?;
    Ok(ParamValues::from(values))
}

/// One batch as an Arrow IPC stream.
fn ipc_bytes(batch: &RecordBatch) -> Result<Vec<u8>, Status> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema())
        .map_err(|e| Status::internal(e.to_string()))?;
    writer
        .write(batch)
        .and_then(|()| writer.finish())
        .map_err(|e| Status::internal(e.to_string()))?;
    drop(writer);
    Ok(bytes)
}

fn read_ipc(bytes: &[u8]) -> Result<Option<RecordBatch>, Status> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut reader = datafusion::arrow::ipc::reader::StreamReader::try_new(bytes, None)
        .map_err(|e| Status::invalid_argument(format!("saasql serve: bad parameters: {e}")))?;
    reader
        .next()
        .transpose()
        .map_err(|e| Status::invalid_argument(format!("saasql serve: bad parameters: {e}")))
}

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

/// Record batches as Flight data; a DataFusion error ends the stream with
/// its status. Dropping the stream (the client went away) stops the query.
fn flight_stream(stream: SendableRecordBatchStream) -> DoGetStream {
    let schema = stream.schema();
    let batches = stream.map_err(|e| FlightError::Tonic(Box::new(df_status(e))));
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from),
    )
}

fn one_batch(batch: RecordBatch) -> DoGetStream {
    let schema = batch.schema();
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(futures::stream::once(async { Ok(batch) }))
            .map_err(Status::from),
    )
}

/// FlightInfo for results of `schema`, fetched with `ticket`.
fn flight_info(
    schema: &Schema,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<Response<FlightInfo>, Status> {
    let info = FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(format!("cannot encode the schema: {e}")))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
        .with_descriptor(descriptor);
    Ok(Response::new(info))
}

static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut builder = SqlInfoDataBuilder::new();
    builder.append(SqlInfo::FlightSqlServerName, "saasql");
    builder.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    builder.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    builder.append(SqlInfo::FlightSqlServerSql, true);
    builder.append(SqlInfo::FlightSqlServerSubstrait, false);
    builder.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    builder.append(SqlInfo::FlightSqlServerCancel, false);
    builder.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    builder.build().expect("the SqlInfo table builds")
});

impl FlightSql {
    fn password_is(&self, given: &str) -> bool {
        self.password
            .as_ref()
            .is_some_and(|p| bool::from(p.expose().as_bytes().ct_eq(given.as_bytes())))
    }

    /// The session of a request, or `Unauthenticated`. A password sent as
    /// the bearer token is checked in the address's turn ([`LoginThrottle`]).
    fn session<T>(
        &self,
        request: &Request<T>,
    ) -> impl Future<Output = Result<SessionContext, Status>> + Send {
        let bearer = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|token| token.trim().to_string());
        let peer = request.remote_addr();
        async move {
            let key = match bearer {
                Some(token) if self.has_session(&token) => Key::Token(token),
                _ if self.password.is_none() => Key::Peer(peer),
                Some(token) => {
                    let ip = ip_of(peer);
                    self.throttle.admit(ip).await;
                    if !self.password_is(&token) {
                        self.throttle.failed(ip, "Flight SQL");
                        return Err(Status::unauthenticated(
                            "saasql serve: the token is not valid (expired or from another server): log in again",
                        ));
                    }
                    self.throttle.succeeded(ip);
                    Key::Peer(peer)
                }
                None => {
                    return Err(Status::unauthenticated(
                        "saasql serve: log in with the server's password (the handshake, or the password as a bearer token)",
                    ));
                }
            };
            Ok(self.session_of(key))
        }
    }

    /// Whether `token` is a live session's (from the handshake).
    fn has_session(&self, token: &str) -> bool {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.used) < IDLE);
        sessions.contains_key(&Key::Token(token.to_string()))
    }

    /// The session of `key`, made if new; marked as used now.
    fn session_of(&self, key: Key) -> SessionContext {
        let mut sessions = self.sessions.lock().expect("sessions lock");
        if !sessions.contains_key(&key) {
            make_room(&mut sessions);
        }
        let now = Instant::now();
        let session = sessions.entry(key).or_insert_with(|| Session {
            ctx: SessionContext::new_with_state(self.base.state()),
            used: now,
        });
        session.used = now;
        session.ctx.clone()
    }

    /// Parses and plans one statement, refusing what the server does not
    /// allow.
    async fn prepare(&self, ctx: &SessionContext, text: &str) -> Result<Prepared, Status> {
        let mut statements = sql::parse(&self.parser, text).map_err(status)?;
        if statements.len() != 1 {
            return Err(Status::invalid_argument(format!(
                "saasql serve: send one SQL statement per request (got {})",
                statements.len()
            )));
        }
        let stmt = statements.remove(0);
        if sql::is_command(&stmt) {
            return Ok(Prepared::Command(stmt));
        }
        let plan = sql::plan(ctx, &stmt, self.opts.allow_write)
            .await
            .map_err(status)?;
        Ok(Prepared::Plan(Box::new(plan)))
    }

    /// [`Self::prepare`], then binds `params` (the results' schema can
    /// depend on them: a bound value is not NULL).
    async fn prepare_with(
        &self,
        ctx: &SessionContext,
        text: &str,
        params: Option<ParamValues>,
    ) -> Result<Prepared, Status> {
        Ok(match (self.prepare(ctx, text).await?, params) {
            (Prepared::Plan(plan), Some(params)) => {
                Prepared::Plan(Box::new(plan.with_param_values(params).map_err(df_status)?))
            }
            (prepared, _) => prepared,
        })
    }

    /// Applies a command: `SET` changes the session's settings; `BEGIN`,
    /// `COMMIT`, … do nothing.
    fn apply(
        ctx: &SessionContext,
        stmt: &datafusion::sql::parser::Statement,
    ) -> Result<(), Status> {
        if let Command::Set(pairs) = sql::command(stmt) {
            for (name, value) in pairs {
                sql::set(ctx, &name, &value).map_err(status)?;
            }
        }
        Ok(())
    }

    /// The schema of a statement's results, for a FlightInfo: the request
    /// to execute it. A command (`SET …`) takes effect here, since clients
    /// need not fetch its (empty) results.
    async fn execute_info(
        &self,
        ctx: &SessionContext,
        text: &str,
        params: Option<ParamValues>,
    ) -> Result<SchemaRef, Status> {
        let prepared = self.prepare_with(ctx, text, params).await?;
        if let Prepared::Command(stmt) = &prepared {
            Self::apply(ctx, stmt)?;
        }
        Ok(prepared.schema())
    }

    /// Runs a statement; its results as a stream. A command runs only if
    /// `commands` (a fetch of its results does not run it again).
    async fn run(
        &self,
        ctx: &SessionContext,
        text: &str,
        params: Option<ParamValues>,
        commands: bool,
    ) -> Result<SendableRecordBatchStream, Status> {
        let plan = match self.prepare_with(ctx, text, params).await? {
            Prepared::Command(stmt) => {
                if commands {
                    Self::apply(ctx, &stmt)?;
                }
                let schema = Arc::new(Schema::empty());
                return Ok(Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::empty(),
                )));
            }
            Prepared::Plan(plan) => *plan,
        };
        if matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Statement(_)) {
            let df = ctx.execute_logical_plan(plan).await.map_err(df_status)?;
            return df.execute_stream().await.map_err(df_status);
        }
        let state = ctx.state();
        let physical = sql::physical_plan(&state, &plan, self.opts.cluster)
            .await
            .map_err(status)?;
        let runtime = sql::query_runtime(ctx, self.opts.query_memory).map_err(status)?;
        let task = Arc::new(TaskContext::from(&state).with_runtime(runtime));
        self.opts
            .slots
            .execute(physical, task)
            .await
            .map_err(status)
    }

    /// Runs a statement to the end; the number of rows it wrote.
    async fn run_update(
        &self,
        ctx: &SessionContext,
        text: &str,
        params: Option<ParamValues>,
    ) -> Result<i64, Status> {
        let batches: Vec<RecordBatch> = self
            .run(ctx, text, params, true)
            .await?
            .try_collect()
            .await
            .map_err(df_status)?;
        Ok(saasql_common::results::count_written(&batches) as i64)
    }

    /// The tables of every catalog and schema: (catalog, schema, table,
    /// provider).
    async fn tables(
        &self,
        ctx: &SessionContext,
    ) -> Result<Vec<(String, String, String, Arc<dyn TableProvider>)>, Status> {
        let mut out = Vec::new();
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table_name in schema.table_names() {
                    if let Some(table) = schema.table(&table_name).await.map_err(df_status)? {
                        out.push((catalog_name.clone(), schema_name.clone(), table_name, table));
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
        Ok(out)
    }
}

/// The address a client's failed logins count against (all clients of
/// unknown address share one).
fn ip_of(peer: Option<SocketAddr>) -> IpAddr {
    peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip())
}

/// Ends the longest-idle session when [`MAX_SESSIONS`] are open.
fn make_room(sessions: &mut HashMap<Key, Session>) {
    if sessions.len() < MAX_SESSIONS {
        return;
    }
    let oldest = sessions
        .iter()
        .min_by_key(|(_, s)| s.used)
        .map(|(k, _)| k.clone());
    if let Some(oldest) = oldest {
        sessions.remove(&oldest);
    }
}

fn table_type(t: TableType) -> &'static str {
    match t {
        TableType::Base => "TABLE",
        TableType::View => "VIEW",
        TableType::Temporary => "LOCAL TEMPORARY",
    }
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let peer = request.remote_addr();
        if self.password.is_some() {
            let ip = ip_of(peer);
            self.throttle.admit(ip).await;
            let basic = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .ok_or_else(|| {
                    Status::unauthenticated(
                        "saasql serve: log in with a user name and the server's password (HTTP Basic)",
                    )
                })?;
            // Go's Flight client (ADBC) leaves the padding off.
            let base64 = GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new()
                    .with_decode_padding_mode(DecodePaddingMode::Indifferent),
            );
            let decoded = base64
                .decode(basic.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Status::invalid_argument(
                        "saasql serve: the Basic credentials are not base64 text",
                    )
                })?;
            let given = decoded.split_once(':').map(|(_, p)| p).unwrap_or_default();
            if !self.password_is(given) {
                self.throttle.failed(ip, "Flight SQL");
                tracing::info!(
                    "refused Flight SQL login from {}: wrong password",
                    peer.map_or_else(|| "?".to_string(), |p| p.to_string())
                );
                return Err(Status::unauthenticated(
                    "saasql serve: wrong user name or password",
                ));
            }
            self.throttle.succeeded(ip);
        }
        let mut bytes = [0u8; 24];
        getrandom_02::getrandom(&mut bytes)
            .map_err(|e| Status::internal(format!("no random token: {e}")))?;
        let token = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| s.used.elapsed() < IDLE);
        make_room(&mut sessions);
        sessions.insert(
            Key::Token(token.clone()),
            Session {
                ctx: SessionContext::new_with_state(self.base.state()),
                used: Instant::now(),
            },
        );
        drop(sessions);
        tracing::debug!(
            "Flight SQL login from {}",
            peer.map_or_else(|| "?".to_string(), |p| p.to_string())
        );
        let bearer = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| Status::internal(e.to_string()))?;
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: token.into_bytes().into(),
        };
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ctx = self.session(&request).await?;
        let schema = self.execute_info(&ctx, &query.query, None).await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        flight_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let ctx = self.session(&request).await?;
        let text = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("saasql serve: the ticket is not SQL text"))?;
        let stream = self.run(&ctx, &text, None, false).await?;
        Ok(Response::new(flight_stream(stream)))
    }

    async fn do_put_statement_update(
        &self,
        command: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let ctx = self.session(&request).await?;
        self.run_update(&ctx, &command.query, None).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let ctx = self.session(&request).await?;
        let prepared = self.prepare(&ctx, &query.query).await?;
        let mut parameters = Vec::new();
        if let Prepared::Plan(plan) = &prepared {
            let mut types: Vec<(String, Option<DataType>)> = plan
                .get_parameter_types()
                .map_err(df_status)?
                .into_iter()
                .collect();
            types.sort_by_key(|(id, _)| {
                id.trim_start_matches('$')
                    .parse::<usize>()
                    .unwrap_or(usize::MAX)
            });
            parameters = types
                .into_iter()
                .map(|(id, t)| Field::new(id, t.unwrap_or(DataType::Null), true))
                .collect();
        }
        let ipc = |schema: &Schema| -> Result<_, Status> {
            let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
                .try_into()
                .map_err(|e: datafusion::arrow::error::ArrowError| {
                    Status::internal(e.to_string())
                })?;
            Ok(bytes)
        };
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: encode_handle(&query.query, &[]).into(),
            dataset_schema: ipc(&prepared.schema())?,
            parameter_schema: ipc(&Schema::new(parameters))?,
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        self.session(&request).await?;
        Ok(())
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.session(&request).await?;
        let (text, _) = decode_handle(&query.prepared_statement_handle)?;
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        )
        .try_collect()
        .await
        .map_err(Status::from)?;
        let params = match batches.as_slice() {
            [] => Vec::new(),
            [batch] => {
                params_of(batch)?;
                ipc_bytes(batch)?
            }
            _ => {
                return Err(Status::invalid_argument(
                    "saasql serve: bind one row of parameters per execution",
                ));
            }
        };
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(encode_handle(&text, &params).into()),
        })
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ctx = self.session(&request).await?;
        let (text, params) = decode_handle(&query.prepared_statement_handle)?;
        let params = read_ipc(params)?.map(|b| params_of(&b)).transpose()?;
        let schema = self.execute_info(&ctx, &text, params).await?;
        flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let ctx = self.session(&request).await?;
        let (text, params) = decode_handle(&query.prepared_statement_handle)?;
        let params = read_ipc(params)?.map(|b| params_of(&b)).transpose()?;
        let stream = self.run(&ctx, &text, params, false).await?;
        Ok(Response::new(flight_stream(stream)))
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let ctx = self.session(&request).await?;
        let (text, params) = decode_handle(&query.prepared_statement_handle)?;
        let params = read_ipc(params)?.map(|b| params_of(&b)).transpose()?;
        self.run_update(&ctx, &text, params).await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let ticket = query.as_any().encode_to_vec();
        flight_info(&query.into_builder().schema(), ticket, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let ctx = self.session(&request).await?;
        let mut builder = query.into_builder();
        let mut names = ctx.catalog_names();
        names.sort();
        for name in names {
            builder.append(name);
        }
        Ok(Response::new(one_batch(
            builder
                .build()
                .map_err(|e| Status::internal(e.to_string()))?,
        )))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let ticket = query.as_any().encode_to_vec();
        flight_info(&query.into_builder().schema(), ticket, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let ctx = self.session(&request).await?;
        let mut builder = query.into_builder();
        for catalog_name in ctx.catalog_names() {
            if let Some(catalog) = ctx.catalog(&catalog_name) {
                for schema_name in catalog.schema_names() {
                    builder.append(&catalog_name, schema_name);
                }
            }
        }
        Ok(Response::new(one_batch(
            builder
                .build()
                .map_err(|e| Status::internal(e.to_string()))?,
        )))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let ticket = query.as_any().encode_to_vec();
        flight_info(&query.into_builder().schema(), ticket, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let ctx = self.session(&request).await?;
        let mut builder = query.into_builder();
        for (catalog, schema, table, provider) in self.tables(&ctx).await? {
            builder
                .append(
                    catalog,
                    schema,
                    table,
                    table_type(provider.table_type()),
                    &provider.schema(),
                )
                .map_err(|e| Status::internal(e.to_string()))?;
        }
        Ok(Response::new(one_batch(
            builder
                .build()
                .map_err(|e| Status::internal(e.to_string()))?,
        )))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        flight_info(
            &table_types_schema(),
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(&request).await?;
        let types: ArrayRef = Arc::new(StringArray::from(vec!["LOCAL TEMPORARY", "TABLE", "VIEW"]));
        let batch = RecordBatch::try_new(table_types_schema(), vec![types])
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.session(&request).await?;
        let ticket = query.as_any().encode_to_vec();
        flight_info(
            query.into_builder(&SQL_INFO).schema().as_ref(),
            ticket,
            request.into_inner(),
        )
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(&request).await?;
        let batch = query
            .into_builder(&SQL_INFO)
            .build()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(one_batch(batch)))
    }

    async fn do_get_fallback(
        &self,
        request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<DoGetStream>, Status> {
        self.session(&request).await?;
        Err(Status::unimplemented(format!(
            "saasql serve: {} is not supported",
            message.type_url
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

fn table_types_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "table_type",
        DataType::Utf8,
        false,
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_carry_sql_and_parameters() {
        let handle = encode_handle("SELECT $1", b"ipc");
        assert_eq!(
            decode_handle(&handle).unwrap(),
            ("SELECT $1".to_string(), &b"ipc"[..])
        );
        assert!(decode_handle(b"short").is_err());
        assert!(decode_handle(&[200, 0, 0, 0, 0, 0, 0, 0, b'x']).is_err());
    }
}
