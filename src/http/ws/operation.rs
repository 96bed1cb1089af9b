//! The operations of a `/graphql/ws` connection: each runs in its own task
//! and reports to the connection's loop, which alone writes to the socket.
//!
//! A task per operation lets a long subscription run beside queries on the
//! same connection, and lets `complete` / `stop` abort one at once. An id
//! may be reused once its operation ended, so every run carries a sequence
//! number and a late report of an earlier run is dropped. An operation that
//! fails before it executes (rate limits, a document that does not parse,
//! a user who no longer exists, a subscription that cannot start) reports
//! one error and nothing else, as graphql-transport-ws asks.

use async_graphql::parser::types::OperationType;
use async_graphql::ServerError;
use axum::extract::ws::WebSocket;
use futures_util::StreamExt;
use serde_json::json;
use tokio::task::AbortHandle;

use super::connection::{Connection, Init, Step};
use super::legacy::legacy_error;
use super::Protocol;
use crate::auth::Principal;
use crate::graphql::subscription::ExecutionStarted;
use crate::http::rate_limit::RateKey;
use crate::http::request;
use crate::http::response::with_codes;
use crate::service::users;

/// A running operation.
pub(super) struct Operation {
    /// Tells this run apart from a later one reusing the id.
    pub(super) seq: u64,
    pub(super) task: AbortHandle,
}

/// What an operation's task reports.
pub(super) struct Output {
    id: String,
    seq: u64,
    kind: OutputKind,
}

pub(super) enum OutputKind {
    Next(async_graphql::Response),
    /// The operation failed before executing; nothing follows.
    Error(Vec<ServerError>),
    Complete,
}

impl Connection {
    /// Runs an operation in its own task; its results come back through `outputs`.
    pub(super) fn start(&mut self, id: String, mut request: async_graphql::Request) {
        let Init::Ready(session) = &self.init else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        // A document over the budget is answered at once, never parsed further.
        let parsed = request::parse(&mut request, self.state.limits.document);
        // Each operation takes a turn in the rate limits, as a request does.
        let admitted = self
            .state
            .rate
            .check(RateKey::of(&session.principal, self.addr), self.addr);
        let subscription = parsed
            .as_ref()
            .is_ok_and(|op| op.is(OperationType::Subscription));
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
                Principal::User(caller) => match users::current(&state.services, caller).await {
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
    pub(super) fn stop(&mut self, id: &str) {
        if let Some(op) = self.ops.remove(id) {
            op.task.abort();
        }
    }

    /// Sends what an operation produced, unless the client stopped it.
    pub(super) async fn forward(&mut self, socket: &mut WebSocket, output: Output) -> Step {
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
