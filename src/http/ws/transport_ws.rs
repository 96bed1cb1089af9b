//! `graphql-transport-ws`, the protocol of the `graphql-ws` npm client
//! (<https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md>):
//! how its messages are read and answered.
//!
//! **Why hand-written.** async-graphql's own WebSocket support (which
//! `async-graphql-axum`'s `GraphQLSubscription` wraps) breaks the protocol
//! where the graphql-ws client and its reference server hold it: a message
//! that does not parse closes 1002 instead of 4400, there is no deadline
//! for `connection_init` (4408), a `subscribe` before `connection_ack`
//! closes 1011 instead of 4401, a second `subscribe` with a running id replaces the
//! operation instead of closing 4409, a refused `connection_init` closes
//! 1002, and an operation that fails before it executes is sent as `next`
//! rather than as one `error`. Messages are checked here as the reference
//! server checks them, each failure closing 4400 with its reason.

use axum::extract::ws::WebSocket;
use serde_json::{json, Map, Value};

use super::close;
use super::connection::{Connection, Init, InitCheck, Step};
use crate::http::request::{graphql_request, Source};

impl Connection {
    pub(super) async fn on_transport_ws(
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
            let request = graphql_request(payload, Source::WebSocket)?;
            Ok(ClientMessage::Subscribe(id, Box::new(request)))
        }
        "complete" => Ok(ClientMessage::Complete(id()?)),
        "connection_ack" | "next" | "error" => {
            Err(format!("Unexpected message of type {ty} received"))
        }
        _ => Err(format!("Invalid message 'type' property \"{ty}\"")),
    }
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
}
