//! The one WebSocket client of the tests: `/graphql/ws` spoken frame by
//! frame, over `graphql-transport-ws` or the legacy `graphql-ws`.
//!
//! It is deliberately raw — JSON messages in, JSON messages out, close
//! frames as `(code, reason)` — rather than a protocol library, because the
//! tests check the protocol itself: what the server sends before and after
//! `connection_init`, the close codes of each violation, pings at any time.
//! What a test file needs beyond this (a subscription it watches, the shape
//! of its events) it adds in an `impl Ws` block of its own.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{TestApp, TestUser};

/// How long a test waits for a message that must come.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The two subprotocols of `/graphql/ws`, and the names they give the
/// messages the tests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    TransportWs,
    Legacy,
}

impl Protocol {
    /// The `Sec-WebSocket-Protocol` value.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        }
    }

    /// The message that starts an operation.
    pub fn start(self) -> &'static str {
        match self {
            Protocol::TransportWs => "subscribe",
            Protocol::Legacy => "start",
        }
    }

    /// The message that carries a result.
    pub fn data(self) -> &'static str {
        match self {
            Protocol::TransportWs => "next",
            Protocol::Legacy => "data",
        }
    }
}

/// What the server sent next: a text message or the close frame.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Message(Value),
    Closed(u16, String),
}

/// A connection to `/graphql/ws`.
pub struct Ws {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub protocol: Protocol,
}

/// The WebSocket endpoint of a test server.
pub fn ws_url(app: &TestApp) -> String {
    format!("{}/ws", app.url.replacen("http://", "ws://", 1))
}

/// The status of an upgrade to `url` with the given subprotocol and
/// `Authorization` header: 101 when it is accepted, else the HTTP status of
/// the refusal.
pub async fn upgrade_status(url: &str, protocol: Option<&str>, header: Option<&str>) -> u16 {
    match tokio_tungstenite::connect_async(request(url, protocol, header)).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected WebSocket error {e}"),
    }
}

fn request(
    url: &str,
    protocol: Option<&str>,
    header: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = url.into_client_request().expect("a WebSocket request");
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
    }
    if let Some(header) = header {
        request
            .headers_mut()
            .insert("authorization", header.parse().unwrap());
    }
    request
}

impl Ws {
    /// Connects to `url` offering `protocol` (and sending an
    /// `Authorization` header); the server must choose that protocol.
    pub async fn open_url(url: &str, protocol: Option<&str>, header: Option<&str>) -> Ws {
        let (socket, response) = tokio_tungstenite::connect_async(request(url, protocol, header))
            .await
            .expect("WebSocket upgrade");
        let chosen = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(chosen.as_deref(), protocol);
        let protocol = match protocol {
            Some("graphql-ws") => Protocol::Legacy,
            _ => Protocol::TransportWs,
        };
        Ws { socket, protocol }
    }

    /// Connects to a test server with the given subprotocol (and
    /// `Authorization` header).
    pub async fn open(app: &TestApp, protocol: Option<&str>, header: Option<&str>) -> Ws {
        Ws::open_url(&ws_url(app), protocol, header).await
    }

    /// Connects over `graphql-transport-ws`, not signed in yet.
    pub async fn connect(app: &TestApp) -> Ws {
        Ws::open(app, Some(Protocol::TransportWs.name()), None).await
    }

    /// Connects over the legacy `graphql-ws`, not signed in yet.
    pub async fn legacy(app: &TestApp) -> Ws {
        Ws::open(app, Some(Protocol::Legacy.name()), None).await
    }

    /// Connects over `graphql-transport-ws` and signs in with
    /// `connection_init` (no user: anonymous).
    pub async fn signed_in(app: &TestApp, user: Option<&TestUser>) -> Ws {
        Ws::signed_in_over(app, Protocol::TransportWs, user).await
    }

    /// Connects over `protocol` and signs in with `connection_init` (no
    /// user: anonymous).
    pub async fn signed_in_over(app: &TestApp, protocol: Protocol, user: Option<&TestUser>) -> Ws {
        let mut ws = Ws::open(app, Some(protocol.name()), None).await;
        ws.init(user.map(|u| u.token.as_str())).await;
        ws
    }

    /// Sends `connection_init` with the token in `Authorization` (none:
    /// an empty payload) and waits for `connection_ack`.
    pub async fn init(&mut self, token: Option<&str>) {
        self.send_init(token).await;
        assert_eq!(self.recv().await, json!({ "type": "connection_ack" }));
    }

    /// Sends `connection_init` with the token in `Authorization` (none: an
    /// empty payload), without waiting for the answer.
    pub async fn send_init(&mut self, token: Option<&str>) {
        let payload = match token {
            Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .expect("message sent");
    }

    /// Sends a close frame.
    pub async fn close(&mut self, code: u16, reason: &str) {
        self.socket
            .send(Message::Close(Some(CloseFrame {
                code: code.into(),
                reason: reason.into(),
            })))
            .await
            .expect("close frame sent");
    }

    /// Starts operation `id` (`subscribe`, or `start` in the legacy protocol).
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let start = self.protocol.start();
        self.send(json!({ "id": id, "type": start,
            "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// Runs one query or mutation as operation `id`; returns its result's
    /// payload (after its `complete`), or `{"errors": …}` for an `error`.
    pub async fn run(&mut self, id: &str, query: &str, variables: Value) -> Value {
        self.subscribe(id, query, variables).await;
        let first = self.recv().await;
        assert_eq!(first["id"], id, "{first:#}");
        match first["type"].as_str() {
            Some(t) if t == self.protocol.data() => {
                let done = self.recv().await;
                assert_eq!(done, json!({ "id": id, "type": "complete" }));
                first["payload"].clone()
            }
            Some("error") => json!({ "errors": first["payload"] }),
            _ => panic!("unexpected {first:#}"),
        }
    }

    /// The next message, which must be a text message in time.
    pub async fn recv(&mut self) -> Value {
        match self.next(PATIENCE).await {
            Some(message) => message,
            None => panic!("no message within {PATIENCE:?}"),
        }
    }

    /// The next text message within `wait`, if any.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        match self.answer_within(wait).await? {
            Answer::Message(message) => Some(message),
            closed => panic!("expected a text message, got {closed:?}"),
        }
    }

    /// The next text message or close frame, which must come in time.
    pub async fn answer(&mut self) -> Answer {
        match self.answer_within(PATIENCE).await {
            Some(answer) => answer,
            None => panic!("no answer within {PATIENCE:?}"),
        }
    }

    async fn answer_within(&mut self, wait: Duration) -> Option<Answer> {
        loop {
            let message = tokio::time::timeout(wait, self.socket.next()).await.ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(Answer::Message(
                        serde_json::from_str(&text).expect("JSON message"),
                    ))
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Some(Answer::Closed(frame.code.into(), frame.reason.to_string()))
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text message or a close frame, got {other:?}"),
            }
        }
    }

    /// The close frame the server sends next: its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        match self.answer().await {
            Answer::Closed(code, reason) => (code, reason),
            message => panic!("expected a close frame, got {message:?}"),
        }
    }

    /// Asserts the server says nothing more for a moment.
    pub async fn quiet(&mut self) {
        match self.protocol {
            // A ping is answered by the very next message.
            Protocol::TransportWs => {
                self.send(json!({ "type": "ping", "payload": { "quiet": true } }))
                    .await;
                assert_eq!(
                    self.recv().await,
                    json!({ "type": "pong", "payload": { "quiet": true } })
                );
            }
            // The legacy protocol has no ping: wait a little.
            Protocol::Legacy => {
                let message = self.next(Duration::from_millis(500)).await;
                assert!(message.is_none(), "unexpected {message:?}");
            }
        }
    }
}

/// Waits until `n` subscriptions listen on the server's event bus.
pub async fn listening(app: &TestApp, n: usize) {
    let events = &app.server.state.services.events;
    for _ in 0..500 {
        if events.subscribers() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{} subscriptions listen, expected {n}",
        events.subscribers()
    );
}

/// Waits until no subscription listens or counts as active any more.
pub async fn listening_none(app: &TestApp) {
    let services = &app.server.state.services;
    let running = || {
        (
            services.events.subscribers(),
            services.metrics.active_subscriptions(),
        )
    };
    for _ in 0..500 {
        if running() == (0, 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("(listening, active) subscriptions: {:?}", running());
}
