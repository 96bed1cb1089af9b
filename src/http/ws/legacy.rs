//! `graphql-ws`, the legacy subscriptions-transport-ws protocol that older
//! Apollo clients speak: how its messages are read and answered.
//!
//! It is kept beside graphql-transport-ws, on the same connection loop,
//! because clients that speak it are still in use; it differs in words
//! (`start`/`stop`/`data`, `connection_error`) and in leniency: a bad
//! message is answered with an error message rather than closing the
//! socket, and `start`s sent while `connection_init` is being checked are
//! held until it is acknowledged.

use async_graphql::ServerError;
use axum::extract::ws::WebSocket;
use serde_json::{json, Map, Value};

use super::close;
use super::connection::{Connection, Init, InitCheck, Step};
use crate::http::request::{graphql_request, Source};

impl Connection {
    /// A legacy `graphql-ws` message.
    pub(super) async fn on_legacy(
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
                    Some(Value::Object(payload)) => graphql_request(payload, Source::WebSocket),
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
}

/// The legacy protocol's error payload is one error object: the first
/// error, with all of them under `errors` (which legacy clients prefer).
pub(super) fn legacy_error(errors: &[ServerError]) -> Value {
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
