//! `/graphql/ws`: GraphQL over WebSocket, for subscriptions (queries and
//! mutations work too). The README says what clients get; this is how.
//!
//! Two subprotocols, picked from `Sec-WebSocket-Protocol` (the first one the
//! server supports, `graphql-transport-ws` preferred), anything else closes
//! 4406. They share one connection loop ([`connection`]) and one way to run
//! operations ([`operation`]), and differ only in their messages
//! ([`transport_ws`], which says why it is hand-written, and [`legacy`]).
//!
//! - **graphql-transport-ws** closes on every breach of the protocol:
//!   `connection_init` late (4408) or twice (4429), `subscribe` before
//!   `connection_ack` (4401) or with an id already running (4409), a message
//!   that is not JSON, of an unknown or server-only type, or of the wrong
//!   shape (4400). `ping` is answered with `pong` (echoing its payload) at
//!   any time. An operation
//!   that fails before it executes gets one `error` message and nothing
//!   else; otherwise `next` messages and a `complete`. A client `complete`
//!   stops the operation silently.
//! - **graphql-ws** (legacy): `connection_init` → `connection_ack` (or
//!   `connection_error`, then the close codes above), `start` → `data`…
//!   `complete` or `error`, `stop`, `connection_terminate`.
//!
//! **Limits.** A connection with no operation running for `ws_idle_timeout`
//! (from the upgrade, or from the end of its last operation) is closed 1000
//! "Idle timeout", signed in or not; one with a subscription running stays.
//! When the server shuts down, every connection is closed 1001. Opening the
//! socket and each operation take a turn in the rate limits
//! ([`crate::http::rate_limit`]): a refused upgrade is a 429, a refused
//! operation gets one `error` message coded `RATE_LIMITED`.
//!
//! **Authentication.** The token comes in the `connection_init` payload or,
//! without one there, in the upgrade request's `Authorization` header; both
//! go through [`crate::http::caller`], as `/graphql`'s header does. A bad
//! header is refused with HTTP 401, a bad payload token closes 4403, and the
//! connection closes 4403 when the token expires. The token is checked once,
//! but the user it names is read again for each operation: a demoted
//! workspace ADMIN's next operation runs as a MEMBER, and a deleted user's
//! answers UNAUTHENTICATED.

mod connection;
mod legacy;
mod operation;
mod transport_ws;

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;

use super::caller::Session;
use super::rate_limit::{self, ClientAddr, RateKey};
use super::AppState;

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

/// `GET /graphql/ws`: the upgrade. A bad `Authorization` header is refused
/// with a 401 here, like `/graphql`'s; opening a socket takes a turn in the
/// rate limits, as a request does.
pub async fn graphql_ws(
    State(state): State<AppState>,
    addr: Option<Extension<ClientAddr>>,
    upgrade: WebSocketUpgrade,
    from_header: Session,
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
    if let Err(limited) = state
        .rate
        .check(RateKey::of(&from_header.principal, addr), addr)
    {
        return rate_limit::response(limited);
    }
    upgrade.on_upgrade(move |mut socket| async move {
        match protocol {
            Some(protocol) => connection::serve(socket, state, protocol, from_header, addr).await,
            None => {
                let reason = "Subprotocol not acceptable";
                close_socket(&mut socket, close::SUBPROTOCOL_NOT_ACCEPTABLE, reason).await
            }
        }
    })
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
