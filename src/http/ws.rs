//! `/graphql/ws`: GraphQL over WebSocket, for subscriptions (queries and
//! mutations work too).
//!
//! Two subprotocols, picked from `Sec-WebSocket-Protocol` (the first one the
//! server supports, `graphql-transport-ws` preferred):
//!
//! - **`graphql-transport-ws`**, after
//!   <https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>:
//!   `connection_init` must come within `ws_init_timeout` (else close 4408)
//!   and only once (4429); `subscribe` before `connection_ack` closes 4401,
//!   with an id already running 4409; `ping` is answered with `pong` (echoing
//!   its payload) at any time, `pong` is ignored; a message that is not JSON,
//!   of an unknown or server-only type, or of the wrong shape closes 4400. An
//!   operation that fails before it executes (the document does not parse or
//!   validate, or the subscription cannot start: UNAUTHENTICATED, NOT_FOUND…)
//!   gets one `error` message and nothing else; otherwise `next` messages and
//!   a `complete`. A client `complete` stops the operation silently.
//! - **`graphql-ws`** (the legacy subscriptions-transport-ws protocol):
//!   `connection_init` → `connection_ack` (or `connection_error`, then the
//!   close codes above), `start` → `data`… `complete` or `error`, `stop`,
//!   `connection_terminate`. `start`s sent before the ack are held until it.
//!
//! Anything else (no supported subprotocol) closes 4406.
//!
//! **Limits.** A connection with no operation running for `ws_idle_timeout`
//! (from the upgrade, or from the end of its last operation) is closed 1000
//! "Idle timeout", signed in or not; one with a subscription running stays.
//! When the server shuts down, every connection is closed 1001. Opening the
//! socket and each operation take a turn in the rate limits
//! ([`super::rate_limit`]): a refused upgrade is a 429, a refused operation
//! gets one `error` message coded `RATE_LIMITED`.
//!
//! **Authentication.** The `connection_init` payload carries the token as
//! `{"Authorization": "Bearer …"}` (`authorization` and
//! `{"headers": {"Authorization": …}}` work too); without one, an
//! `Authorization` header on the upgrade request counts (a bad header is
//! refused with HTTP 401, like `/graphql`). A bad token in the payload closes
//! 4403; no token at all is anonymous, and subscriptions then answer
//! UNAUTHENTICATED. The connection is closed 4403 when the token expires.
//! The token is checked once, but the user it names is read again for each
//! operation: a demoted workspace ADMIN's next operation runs as a MEMBER,
//! and a deleted user's answers UNAUTHENTICATED.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{ServerError, Variables};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Extension;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::rate_limit::{self, ClientAddr, RateKey};
use super::{error_response, with_codes, AppState};
use crate::auth::{Caller, Principal};
use crate::error::AppError;
use crate::graphql::document::Budget;
use crate::graphql::subscription::ExecutionStarted;
use crate::service::users;

/// Subprotocols served, in order of preference.
pub const PROTOCOLS: [&str; 2] = ["graphql-transport-ws", "graphql-ws"];

/// Close codes (those of `graphql-ws`, and of RFC 6455).
pub mod close {
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    pub const INTERNAL: u16 = 4500;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// `graphql-ws`, the legacy subscriptions-transport-ws protocol.
    Legacy,
}

/// `GET /graphql/ws`.
pub async fn graphql_ws(
    State(state): State<AppState>,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let addr = addr.map(|Extension(addr)| addr);
    let max = state.limits.max_body_bytes;
    let upgrade = upgrade
        .protocols(PROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max);
    let protocol = match upgrade.selected_protocol().map(|p| p.as_bytes()) {
        Some(b"graphql-transport-ws") => Some(Protocol::TransportWs),
        Some(b"graphql-ws") => Some(Protocol::Legacy),
        _ => None,
    };
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => Session::anonymous(),
        Some(value) => {
            let session = match value.to_str() {
                Ok(value) => sign_in(&state, value).await,
                Err(_) => Err(AppError::Unauthenticated(
                    "the Authorization header is not valid text".into(),
                )),
            };
            match session {
                Ok(session) => session,
                Err(e) => return error_response(e),
            }
        }
    };
    // Opening a socket takes a turn, as a request does.
    if let Err(limited) = state
        .rate
        .check(RateKey::of(&from_header.principal, addr), addr)
    {
        return rate_limit::response(limited);
    }
    upgrade.on_upgrade(move |mut socket| async move {
        match protocol {
            Some(protocol) => serve(socket, state, protocol, from_header, addr).await,
            None => {
                let reason = "Subprotocol not acceptable";
                close_socket(&mut socket, close::SUBPROTOCOL_NOT_ACCEPTABLE, reason).await
            }
        }
    })
}

/// Who the connection acts for, and until when.
#[derive(Clone)]
struct Session {
    principal: Principal,
    /// The token's `exp` (seconds since the epoch).
    expires_at: Option<u64>,
}

impl Session {
    fn anonymous() -> Session {
        Session {
            principal: Principal::Anonymous,
            expires_at: None,
        }
    }

    /// Time left before the token expires (`None`: never).
    fn remaining(&self) -> Option<Duration> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.expires_at
            .map(|exp| Duration::from_secs(exp).saturating_sub(now))
    }
}

/// Verifies a bearer token and provisions its user, as `http::authenticate`.
async fn sign_in(state: &AppState, authorization: &str) -> Result<Session, AppError> {
    let claims = state.auth.verify_header(authorization).await?;
    let user = users::provision(&state.services.db, &claims).await?;
    Ok(Session {
        principal: Principal::User(Caller::from(&user)),
        expires_at: Some(claims.exp),
    })
}

/// The `Authorization` value of a `connection_init` payload; `Err` when it
/// is there but not a string.
fn authorization(payload: &Map<String, Value>) -> Result<Option<&str>, ()> {
    let headers = payload.get("headers").and_then(Value::as_object);
    let value = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .or_else(|| headers.and_then(|h| h.get("Authorization")))
        .or_else(|| headers.and_then(|h| h.get("authorization")));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(()),
    }
}

/// Sends a close frame and waits briefly for the client's.
async fn close_socket(socket: &mut WebSocket, code: u16, reason: &str) {
    // A close reason holds at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason[..end].into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_ok() {
        let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }
}

/// Where the connection stands with `connection_init`.
enum Init {
    Waiting,
    /// Received; the token is being checked.
    Checking,
    Ready(Session),
}

/// A running operation.
struct Operation {
    /// Tells this run apart from a later one reusing the id.
    seq: u64,
    task: AbortHandle,
}

/// What an operation's task reports.
struct Output {
    id: String,
    seq: u64,
    kind: OutputKind,
}

enum OutputKind {
    Next(async_graphql::Response),
    /// The operation failed before executing; nothing follows.
    Error(Vec<ServerError>),
    Complete,
}

/// What the connection does after a message.
enum Step {
    Continue,
    Close(u16, String),
    /// The client closed the connection; answer its close frame.
    ClosedByClient,
    /// The socket failed; stop without a close frame.
    Gone,
}

impl Step {
    fn close(code: u16, reason: impl Into<String>) -> Step {
        Step::Close(code, reason.into())
    }
}

type InitCheck = BoxFuture<'static, Result<Session, (u16, String)>>;

struct Connection {
    state: AppState,
    protocol: Protocol,
    /// Who the upgrade request's `Authorization` header named, if anyone.
    from_header: Session,
    init: Init,
    ops: HashMap<String, Operation>,
    next_seq: u64,
    outputs: mpsc::Sender<Output>,
    /// Legacy `start`s received while `connection_init` was being checked.
    held: Vec<(String, async_graphql::Request)>,
    /// The client's address, for the rate limits.
    addr: Option<ClientAddr>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for op in self.ops.values() {
            op.task.abort();
        }
    }
}

impl Connection {
    fn new(
        state: AppState,
        protocol: Protocol,
        from_header: Session,
        addr: Option<ClientAddr>,
    ) -> (Connection, mpsc::Receiver<Output>) {
        let (outputs, received) = mpsc::channel(64);
        let connection = Connection {
            state,
            protocol,
            from_header,
            init: Init::Waiting,
            ops: HashMap::new(),
            next_seq: 0,
            outputs,
            held: Vec::new(),
            addr,
        };
        (connection, received)
    }
}

/// Runs one connection until either side closes it.
async fn serve(
    mut socket: WebSocket,
    state: AppState,
    protocol: Protocol,
    from_header: Session,
    addr: Option<ClientAddr>,
) {
    let shutdown = state.shutdown.clone();
    let stopping = shutdown.begun();
    tokio::pin!(stopping);
    let (mut conn, mut outputs) = Connection::new(state, protocol, from_header, addr);
    // Closed after this long without a running operation.
    let idle_timeout = conn.state.limits.ws_idle_timeout;
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let mut idle_armed = true;
    let init_deadline = tokio::time::sleep(conn.state.limits.ws_init_timeout);
    tokio::pin!(init_deadline);
    let expiry = tokio::time::sleep(Duration::MAX / 4);
    tokio::pin!(expiry);
    let mut expires = false;
    let mut checking: Option<InitCheck> = None;
    let step = loop {
        let step = tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    conn.on_text(&mut socket, text.as_str(), &mut checking).await
                }
                Some(Ok(Message::Binary(_))) => {
                    Step::close(close::BAD_REQUEST, "Binary messages are not supported")
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Step::Continue,
                Some(Ok(Message::Close(_))) => Step::ClosedByClient,
                Some(Err(_)) | None => Step::Gone,
            },
            () = &mut init_deadline, if matches!(conn.init, Init::Waiting) => {
                Step::close(close::INIT_TIMEOUT, "Connection initialisation timeout")
            }
            checked = async { checking.as_mut().expect("checked").await }, if checking.is_some() => {
                checking = None;
                match checked {
                    Ok(session) => {
                        if let Some(left) = session.remaining() {
                            expiry.as_mut().reset(tokio::time::Instant::now() + left);
                            expires = true;
                        }
                        conn.acknowledge(&mut socket, session).await
                    }
                    Err((code, reason)) => Step::Close(code, reason),
                }
            }
            Some(output) = outputs.recv() => conn.forward(&mut socket, output).await,
            () = &mut expiry, if expires => {
                Step::close(close::FORBIDDEN, "Forbidden: the token has expired")
            }
            () = &mut idle, if idle_armed => {
                Step::close(close::NORMAL, "Idle timeout: no operation running")
            }
            () = &mut stopping => Step::close(close::GOING_AWAY, "Server shutting down"),
        };
        match step {
            Step::Continue => {}
            other => break other,
        }
        match (conn.ops.is_empty(), idle_armed) {
            (true, false) => {
                idle.as_mut()
                    .reset(tokio::time::Instant::now() + idle_timeout);
                idle_armed = true;
            }
            (false, true) => idle_armed = false,
            _ => {}
        }
    };
    drop(conn);
    if let Step::Close(code, reason) = step {
        if protocol == Protocol::Legacy && code != close::NORMAL {
            // The legacy protocol says why in `connection_error` first.
            let error = json!({ "type": "connection_error", "payload": { "message": reason } });
            let _ = socket.send(Message::Text(error.to_string().into())).await;
        }
        close_socket(&mut socket, code, &reason).await;
    } else if let Step::ClosedByClient = step {
        // Sends the reply to the client's close frame (queued when it was read).
        let _ = futures_util::SinkExt::flush(&mut socket).await;
    }
}

impl Connection {
    async fn send(&self, socket: &mut WebSocket, message: Value) -> Step {
        match socket.send(Message::Text(message.to_string().into())).await {
            Ok(()) => Step::Continue,
            Err(_) => Step::Gone,
        }
    }

    async fn on_text(
        &mut self,
        socket: &mut WebSocket,
        text: &str,
        checking: &mut Option<InitCheck>,
    ) -> Step {
        match self.protocol {
            Protocol::TransportWs => self.on_transport_ws(socket, text, checking).await,
            Protocol::Legacy => self.on_legacy(socket, text, checking).await,
        }
    }

    /// Starts checking a `connection_init` payload.
    fn begin_init(&mut self, payload: Map<String, Value>, checking: &mut Option<InitCheck>) {
        self.init = Init::Checking;
        let state = self.state.clone();
        let from_header = self.from_header.clone();
        *checking = Some(Box::pin(async move {
            let session = match authorization(&payload) {
                Err(()) => {
                    return Err((
                        close::FORBIDDEN,
                        "Forbidden: Authorization must be a string".to_owned(),
                    ))
                }
                Ok(None) => from_header,
                Ok(Some(value)) => match sign_in(&state, value).await {
                    Ok(session) => session,
                    Err(AppError::Internal(detail)) => {
                        tracing::error!(%detail, "cannot sign in a WebSocket client");
                        return Err((close::INTERNAL, "Internal server error".to_owned()));
                    }
                    Err(e) => {
                        return Err((
                            close::FORBIDDEN,
                            format!("Forbidden: {}", e.public_message()),
                        ))
                    }
                },
            };
            if session.remaining() == Some(Duration::ZERO) {
                return Err((
                    close::FORBIDDEN,
                    "Forbidden: the token has expired".to_owned(),
                ));
            }
            Ok(session)
        }));
    }

    async fn acknowledge(&mut self, socket: &mut WebSocket, session: Session) -> Step {
        self.init = Init::Ready(session);
        if let Step::Gone = self.send(socket, json!({ "type": "connection_ack" })).await {
            return Step::Gone;
        }
        for (id, request) in std::mem::take(&mut self.held) {
            self.start(id, request);
        }
        Step::Continue
    }

    /// A `graphql-transport-ws` message.
    async fn on_transport_ws(
        &mut self,
        socket: &mut WebSocket,
        text: &str,
        checking: &mut Option<InitCheck>,
    ) -> Step {
        let message = match parse_transport_ws(text) {
            Ok(message) => message,
            Err(reason) => return Step::Close(close::BAD_REQUEST, reason),
        };
        match message {
            ClientMessage::ConnectionInit(payload) => {
                if !matches!(self.init, Init::Waiting) {
                    return Step::close(close::TOO_MANY_INITS, "Too many initialisation requests");
                }
                self.begin_init(payload, checking);
                Step::Continue
            }
            ClientMessage::Ping(payload) => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = Value::Object(payload);
                }
                self.send(socket, pong).await
            }
            ClientMessage::Pong => Step::Continue,
            ClientMessage::Subscribe(id, request) => {
                if !matches!(self.init, Init::Ready(_)) {
                    return Step::close(close::UNAUTHORIZED, "Unauthorized");
                }
                if self.ops.contains_key(&id) {
                    return Step::Close(
                        close::SUBSCRIBER_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    );
                }
                self.start(id, *request);
                Step::Continue
            }
            ClientMessage::Complete(id) => {
                self.stop(&id);
                Step::Continue
            }
        }
    }

    /// A legacy `graphql-ws` message.
    async fn on_legacy(
        &mut self,
        socket: &mut WebSocket,
        text: &str,
        checking: &mut Option<InitCheck>,
    ) -> Step {
        let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
            let error = json!({ "type": "connection_error", "payload": { "message": "Message must be a JSON object" } });
            return self.send(socket, error).await;
        };
        let id = message.get("id").and_then(Value::as_str).map(str::to_owned);
        let error = |message: &str| match &id {
            Some(id) => json!({ "type": "error", "id": id, "payload": { "message": message } }),
            None => json!({ "type": "connection_error", "payload": { "message": message } }),
        };
        match message.get("type").and_then(Value::as_str) {
            Some("connection_init") => {
                if !matches!(self.init, Init::Waiting) {
                    return Step::close(close::TOO_MANY_INITS, "Too many initialisation requests");
                }
                let payload = match message.get("payload") {
                    Some(Value::Object(payload)) => payload.clone(),
                    _ => Map::new(),
                };
                self.begin_init(payload, checking);
                Step::Continue
            }
            Some("start") => {
                let Some(id) = id.clone() else {
                    return self.send(socket, error("start needs an id")).await;
                };
                let request = match message.get("payload") {
                    Some(Value::Object(payload)) => graphql_request(payload),
                    _ => Err("start needs a payload object".to_owned()),
                };
                let request = match request {
                    Ok(request) => request,
                    Err(reason) => return self.send(socket, error(&reason)).await,
                };
                match self.init {
                    Init::Waiting => self.send(socket, error("send connection_init first")).await,
                    Init::Checking => {
                        self.held.retain(|(held, _)| *held != id);
                        self.held.push((id, request));
                        Step::Continue
                    }
                    Init::Ready(_) => {
                        // The legacy protocol replaces an operation started again.
                        self.stop(&id);
                        self.start(id, request);
                        Step::Continue
                    }
                }
            }
            Some("stop") => {
                if let Some(id) = &id {
                    self.held.retain(|(held, _)| held != id);
                    self.stop(id);
                }
                Step::Continue
            }
            Some("connection_terminate") => Step::close(close::NORMAL, "Normal Closure"),
            _ => self.send(socket, error("Invalid message type!")).await,
        }
    }

    /// Runs an operation in its own task; its results come back through `outputs`.
    fn start(&mut self, id: String, mut request: async_graphql::Request) {
        let Init::Ready(session) = &self.init else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        // A document over the budget is answered at once, never parsed further.
        let parsed = parse_within(&mut request, self.state.limits.document);
        // Each operation takes a turn in the rate limits, as a request does.
        let admitted = self
            .state
            .rate
            .check(RateKey::of(&session.principal, self.addr), self.addr);
        let subscription = parsed.as_ref().is_ok_and(|s| *s);
        let started = ExecutionStarted::default();
        let signed_in = session.principal.clone();
        let state = self.state.clone();
        let metrics = self.state.services.metrics.clone();
        let outputs = self.outputs.clone();
        let op_id = id.clone();
        let task = tokio::spawn(async move {
            // An operation refused before it runs gets one `error` message.
            let refused = |errors| Output {
                id: op_id.clone(),
                seq,
                kind: OutputKind::Error(errors),
            };
            if let Err(limited) = admitted {
                let _ = outputs.send(refused(vec![limited.into()])).await;
                return;
            }
            if let Err(error) = parsed {
                let mut response = async_graphql::Response::from_errors(vec![error]);
                with_codes(&mut response);
                let _ = outputs.send(refused(response.errors)).await;
                return;
            }
            // Only the token is the connection's: who the user is now (their
            // workspace role, whether they still exist) is read for each
            // operation, exactly as each HTTP request does.
            let principal = match &signed_in {
                Principal::User(caller) => match users::current(&state.services.db, caller).await {
                    Ok(caller) => Principal::User(caller),
                    Err(e) => {
                        let error: async_graphql::Error = e.into();
                        let error = error.into_server_error(Default::default());
                        let _ = outputs.send(refused(vec![error])).await;
                        return;
                    }
                },
                Principal::Anonymous => Principal::Anonymous,
            };
            let request = request.data(principal).data(started.clone());
            let mut stream = state.schema.execute_stream(request);
            let _active = subscription.then(|| metrics.subscription_guard());
            let mut first = true;
            while let Some(mut response) = stream.next().await {
                with_codes(&mut response);
                let failed = first && !started.get() && !response.errors.is_empty();
                first = false;
                let kind = if failed {
                    OutputKind::Error(response.errors)
                } else {
                    OutputKind::Next(response)
                };
                let output = Output {
                    id: op_id.clone(),
                    seq,
                    kind,
                };
                if outputs.send(output).await.is_err() || failed {
                    return;
                }
            }
            let output = Output {
                id: op_id,
                seq,
                kind: OutputKind::Complete,
            };
            let _ = outputs.send(output).await;
        });
        self.ops.insert(
            id,
            Operation {
                seq,
                task: task.abort_handle(),
            },
        );
    }

    /// Stops an operation the client completed; nothing more is sent for it.
    fn stop(&mut self, id: &str) {
        if let Some(op) = self.ops.remove(id) {
            op.task.abort();
        }
    }

    /// Sends what an operation produced, unless the client stopped it.
    async fn forward(&mut self, socket: &mut WebSocket, output: Output) -> Step {
        match self.ops.get(&output.id) {
            Some(op) if op.seq == output.seq => {}
            _ => return Step::Continue,
        }
        if !matches!(output.kind, OutputKind::Next(_)) {
            self.ops.remove(&output.id);
        }
        let id = output.id;
        let message = match (self.protocol, output.kind) {
            (Protocol::TransportWs, OutputKind::Next(response)) => {
                json!({ "id": id, "type": "next", "payload": response })
            }
            (Protocol::Legacy, OutputKind::Next(response)) => {
                json!({ "id": id, "type": "data", "payload": response })
            }
            (Protocol::TransportWs, OutputKind::Error(errors)) => {
                json!({ "id": id, "type": "error", "payload": errors })
            }
            (Protocol::Legacy, OutputKind::Error(errors)) => {
                json!({ "id": id, "type": "error", "payload": legacy_error(&errors) })
            }
            (_, OutputKind::Complete) => json!({ "id": id, "type": "complete" }),
        };
        self.send(socket, message).await
    }
}

/// The legacy protocol's error payload is one error object: the first
/// error, with all of them under `errors` (which legacy clients prefer).
fn legacy_error(errors: &[ServerError]) -> Value {
    let mut payload = match errors.first().map(serde_json::to_value) {
        Some(Ok(Value::Object(first))) => first,
        _ => Map::new(),
    };
    payload.insert(
        "errors".into(),
        serde_json::to_value(errors).unwrap_or_default(),
    );
    payload.into()
}

/// Whether the request runs a subscription, its document parsed once here
/// within the budget and handed on; the refusal when it does not parse or
/// costs too much.
fn parse_within(request: &mut async_graphql::Request, budget: Budget) -> Result<bool, ServerError> {
    let document = crate::graphql::document::parse_within(&request.query, budget)?;
    let ty = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => ops
            .values()
            .next()
            .filter(|_| ops.len() == 1)
            .map(|op| op.node.ty),
    };
    request.set_parsed_query(document);
    Ok(ty == Some(OperationType::Subscription))
}

/// A client message of `graphql-transport-ws`.
enum ClientMessage {
    ConnectionInit(Map<String, Value>),
    Ping(Option<Map<String, Value>>),
    Pong,
    Subscribe(String, Box<async_graphql::Request>),
    Complete(String),
}

/// Reads a `graphql-transport-ws` message, checked as the protocol's
/// reference implementation checks it; `Err` is the reason to close 4400.
fn parse_transport_ws(text: &str) -> Result<ClientMessage, String> {
    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
        return Err("Message must be a JSON object".into());
    };
    let Some(ty) = message.get("type").and_then(Value::as_str) else {
        return Err("Message is missing the 'type' property".into());
    };
    let payload = || match message.get("payload") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(payload)) => Ok(Some(payload.clone())),
        Some(_) => Err(format!(
            "\"{ty}\" message expects the 'payload' property to be an object or nullish or missing"
        )),
    };
    let id = || match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(format!(
            "\"{ty}\" message requires a non-empty 'id' property of type string"
        )),
    };
    match ty {
        "connection_init" => Ok(ClientMessage::ConnectionInit(
            payload()?.unwrap_or_default(),
        )),
        "ping" => Ok(ClientMessage::Ping(payload()?)),
        "pong" => payload().map(|_| ClientMessage::Pong),
        "subscribe" => {
            let id = id()?;
            let Some(Value::Object(payload)) = message.get("payload") else {
                return Err(
                    "\"subscribe\" message expects the 'payload' property to be an object".into(),
                );
            };
            let request = graphql_request(payload)?;
            Ok(ClientMessage::Subscribe(id, Box::new(request)))
        }
        "complete" => Ok(ClientMessage::Complete(id()?)),
        "connection_ack" | "next" | "error" => {
            Err(format!("Unexpected message of type {ty} received"))
        }
        _ => Err(format!("Invalid message 'type' property \"{ty}\"")),
    }
}

/// A GraphQL request from a `subscribe` / `start` payload.
fn graphql_request(payload: &Map<String, Value>) -> Result<async_graphql::Request, String> {
    let Some(Value::String(query)) = payload.get("query") else {
        return Err("the payload's 'query' property must be a string".into());
    };
    let mut request = async_graphql::Request::new(query);
    match payload.get("operationName") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name),
        Some(_) => {
            return Err("the payload's 'operationName' property must be a string or null".into())
        }
    }
    match payload.get("variables") {
        None | Some(Value::Null) => {}
        Some(variables @ Value::Object(_)) => {
            request = request.variables(Variables::from_json(variables.clone()))
        }
        Some(_) => {
            return Err("the payload's 'variables' property must be an object or null".into())
        }
    }
    match payload.get("extensions") {
        None | Some(Value::Null) => {}
        Some(extensions @ Value::Object(_)) => {
            request.extensions = serde_json::from_value(extensions.clone())
                .map_err(|e| format!("the payload's 'extensions' property cannot be read: {e}"))?;
        }
        Some(_) => {
            return Err("the payload's 'extensions' property must be an object or null".into())
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_messages() {
        let bad = |text: &str| {
            parse_transport_ws(text)
                .err()
                .unwrap_or_else(|| panic!("{text} accepted"))
        };
        bad("nope");
        bad("[]");
        bad(r#"{"payload": {}}"#);
        bad(r#"{"type": "hello"}"#);
        bad(r#"{"type": "next", "id": "1", "payload": {}}"#);
        bad(r#"{"type": "connection_init", "payload": 3}"#);
        bad(r#"{"type": "subscribe", "id": "", "payload": {"query": "{a}"}}"#);
        bad(r#"{"type": "subscribe", "id": 1, "payload": {"query": "{a}"}}"#);
        bad(r#"{"type": "subscribe", "id": "1", "payload": {"query": 1}}"#);
        bad(r#"{"type": "subscribe", "id": "1", "payload": {"query": "{a}", "variables": []}}"#);
        bad(r#"{"type": "complete"}"#);
        assert!(matches!(
            parse_transport_ws(r#"{"type": "connection_init"}"#),
            Ok(ClientMessage::ConnectionInit(_))
        ));
        assert!(matches!(
            parse_transport_ws(r#"{"type": "ping", "payload": {"a": 1}}"#),
            Ok(ClientMessage::Ping(Some(_)))
        ));
        assert!(matches!(
            parse_transport_ws(
                r#"{"type": "subscribe", "id": "x", "payload": {"query": "{a}", "variables": null, "operationName": "A"}}"#
            ),
            Ok(ClientMessage::Subscribe(..))
        ));
    }

    #[test]
    fn finds_the_token() {
        let payload = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            authorization(&payload(json!({"Authorization": "Bearer a"}))),
            Ok(Some("Bearer a"))
        );
        assert_eq!(
            authorization(&payload(json!({"authorization": "Bearer b"}))),
            Ok(Some("Bearer b"))
        );
        assert_eq!(
            authorization(&payload(json!({"headers": {"Authorization": "Bearer c"}}))),
            Ok(Some("Bearer c"))
        );
        assert_eq!(authorization(&payload(json!({}))), Ok(None));
        assert_eq!(
            authorization(&payload(json!({"Authorization": 1}))),
            Err(())
        );
    }

    #[test]
    fn tells_subscriptions() {
        let budget = Budget {
            max_fields: 10,
            max_tokens: 100,
        };
        let mut request = async_graphql::Request::new("subscription { a }");
        assert_eq!(parse_within(&mut request, budget), Ok(true));
        let mut request =
            async_graphql::Request::new("query A { a } subscription B { a }").operation_name("A");
        assert_eq!(parse_within(&mut request, budget), Ok(false));
        let mut request = async_graphql::Request::new("{");
        assert!(parse_within(&mut request, budget).is_err());
        let mut request = async_graphql::Request::new("{ a a a a a a a a a a a }");
        assert!(parse_within(&mut request, budget).is_err());
    }
}
