//! One `/graphql/ws` connection: its state, and the loop that serves it.
//!
//! One task owns the socket and everything the connection knows (where it
//! stands with `connection_init`, the operations running, the timers), so
//! no lock guards that state. Each operation runs in a task of its own and
//! reports through a channel ([`super::operation`]); the loop waits on the
//! socket, those reports, the `connection_init` check and the timers (init
//! deadline, token expiry, idle time, shutdown) at once. Both subprotocols
//! share it and differ only in how they read and write messages
//! ([`super::transport_ws`], [`super::legacy`]).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::operation::{Operation, Output};
use super::{close, close_socket, Protocol};
use crate::error::AppError;
use crate::http::caller::{Credentials, Session};
use crate::http::rate_limit::ClientAddr;
use crate::http::AppState;

/// Where the connection stands with `connection_init`.
pub(super) enum Init {
    Waiting,
    /// Received; the token is being checked.
    Checking,
    Ready(Session),
}

/// What the connection does after a message.
pub(super) enum Step {
    Continue,
    Close(u16, String),
    /// The client closed the connection; answer its close frame.
    ClosedByClient,
    /// The socket failed; stop without a close frame.
    Gone,
}

impl Step {
    pub(super) fn close(code: u16, reason: impl Into<String>) -> Step {
        Step::Close(code, reason.into())
    }
}

pub(super) type InitCheck = BoxFuture<'static, Result<Session, (u16, String)>>;

pub(super) struct Connection {
    pub(super) state: AppState,
    pub(super) protocol: Protocol,
    /// Who the upgrade request's `Authorization` header named, if anyone.
    from_header: Session,
    pub(super) init: Init,
    pub(super) ops: HashMap<String, Operation>,
    pub(super) next_seq: u64,
    pub(super) outputs: mpsc::Sender<Output>,
    /// Legacy `start`s received while `connection_init` was being checked.
    pub(super) held: Vec<(String, async_graphql::Request)>,
    /// The client's address, for the rate limits.
    pub(super) addr: Option<ClientAddr>,
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
pub(super) async fn serve(
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
    pub(super) async fn send(&self, socket: &mut WebSocket, message: Value) -> Step {
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

    /// Starts checking a `connection_init` payload. Its token goes through
    /// the same check as a request's `Authorization` header; without one,
    /// the upgrade request's header counts.
    pub(super) fn begin_init(
        &mut self,
        payload: Map<String, Value>,
        checking: &mut Option<InitCheck>,
    ) {
        self.init = Init::Checking;
        let state = self.state.clone();
        let from_header = self.from_header.clone();
        *checking = Some(Box::pin(async move {
            let Ok(credentials) = Credentials::from_init_payload(&payload) else {
                return Err((
                    close::FORBIDDEN,
                    "Forbidden: Authorization must be a string".to_owned(),
                ));
            };
            let session = match credentials.is_present() {
                false => from_header,
                true => match credentials.sign_in(&state).await {
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
}
