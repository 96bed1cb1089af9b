//! Connections: slow, idle and too many clients are cut off; the server
//! stops within its deadline; rate limits answer 429. Raw TCP clients on
//! loopback, against the real server.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::support::ws::{listening, Ws};

/// Opens a TCP connection to the server.
async fn open(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.server.addr)
        .await
        .expect("TCP connection")
}

/// Whether the server closes `stream` within `wait` (EOF or reset);
/// whatever it sends first is read and returned.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// `GET /healthz` on a fresh connection, within `wait`.
async fn healthz(app: &TestApp, wait: Duration) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(wait)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let response = client
        .get(format!("http://{}/healthz", app.server.addr))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    response.text().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn slow_request_heads_neither_starve_health_checks_nor_stay() {
    let app = spawn_app_with(|c| c.connections.header_timeout = Duration::from_secs(2)).await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = open(&app).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: annograph\r\nX-Slow: ")
            .await
            .expect("half a head");
        slow.push(stream);
    }
    let asked = Instant::now();
    assert_eq!(
        healthz(&app, Duration::from_secs(2)).await.as_deref(),
        Ok("ok")
    );
    assert!(asked.elapsed() < Duration::from_secs(2));

    // Each is closed once the header timeout has passed, without an answer.
    for stream in &mut slow {
        let closed = closed_within(stream, Duration::from_secs(5)).await;
        assert_eq!(closed.as_deref(), Some(""), "a slow head was not cut off");
    }
    assert_eq!(
        healthz(&app, Duration::from_secs(2)).await.as_deref(),
        Ok("ok")
    );
}

#[tokio::test]
async fn a_kept_alive_connection_without_requests_is_closed() {
    let app = spawn_app_with(|c| c.connections.idle_timeout = Duration::from_secs(1)).await;
    let mut stream = open(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: annograph\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert_eq!(
        closed_within(&mut stream, Duration::from_secs(5))
            .await
            .as_deref(),
        Some("")
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// A POST whose body stops after a few of its declared bytes.
const UNFINISHED_BODY: &[u8] = b"POST /graphql HTTP/1.1\r\nHost: annograph\r\n\
    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":";

#[tokio::test]
async fn at_the_cap_a_new_connection_takes_the_place_of_the_longest_stalled_one() {
    let app = spawn_app_with(|c| c.connections.max_connections = Some(2)).await;
    let mut oldest = open(&app).await;
    oldest
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut newer = open(&app).await;
    newer.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        healthz(&app, Duration::from_secs(1)).await.as_deref(),
        Ok("ok")
    );
    assert_eq!(
        closed_within(&mut oldest, Duration::from_millis(500))
            .await
            .as_deref(),
        Some("")
    );
    assert_eq!(
        closed_within(&mut newer, Duration::from_millis(200)).await,
        None
    );
}

#[tokio::test]
async fn at_the_cap_with_every_connection_busy_a_new_one_waits_its_turn() {
    let app = spawn_app_with(|c| c.connections.max_connections = Some(2)).await;
    let mut first = open(&app).await;
    first.write_all(UNFINISHED_BODY).await.unwrap();
    let mut second = open(&app).await;
    second.write_all(UNFINISHED_BODY).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        healthz(&app, Duration::from_millis(700)).await.is_err(),
        "a third connection was served"
    );
    drop(first);
    assert_eq!(
        healthz(&app, Duration::from_secs(2)).await.as_deref(),
        Ok("ok")
    );
}

#[tokio::test]
async fn an_unfinished_body_gets_408_and_its_connection_is_closed() {
    let app = spawn_app_with(|c| c.connections.body_timeout = Duration::from_secs(1)).await;
    let mut stream = open(&app).await;
    stream.write_all(UNFINISHED_BODY).await.unwrap();
    let started = Instant::now();
    let answer = closed_within(&mut stream, Duration::from_secs(5))
        .await
        .expect("the connection is closed");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"TIMEOUT""#), "{answer}");

    // A body that comes whole in time is answered as usual.
    let (status, body) = app.post(None, "{ __typename }", json!({})).await;
    assert_eq!(
        (status, body),
        (200, json!({ "data": { "__typename": "Query" } }))
    );
}

const CHANGED: &str = "subscription($id: ID!) { datasetChanged(datasetId: $id) { change } }";

#[tokio::test]
async fn a_websocket_without_a_running_operation_is_closed_when_idle() {
    let app = spawn_app_with(|c| c.connections.ws_idle_timeout = Duration::from_secs(1)).await;
    let alice = app.user("alice@example.com").await;
    let birds = app.dataset(&alice, "Birds", None).await;
    let mut anonymous = Ws::signed_in(&app, None).await;
    let mut idle = Ws::signed_in(&app, Some(&alice)).await;
    let mut watching = Ws::signed_in(&app, Some(&alice)).await;
    let before = app.server.state.services.events.subscribers();
    watching
        .subscribe("w", CHANGED, json!({ "id": birds }))
        .await;
    listening(&app, before + 1).await;

    let closed = (1000, "Idle timeout: no operation running".to_owned());
    let started = Instant::now();
    assert_eq!(anonymous.closed().await, closed);
    assert_eq!(idle.closed().await, closed);
    assert!(started.elapsed() >= Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A subscribing socket is still served: a ping is answered.
    watching.quiet().await;
    // The subscription still delivers.
    app.ok(
        &alice,
        "mutation($id: ID!) { updateDataset(input: {id: $id, description: \"b\"}) { id } }",
        json!({ "id": birds }),
    )
    .await;
    let event = watching.recv().await;
    assert_eq!(event["type"], "next", "{event:#}");
}

#[tokio::test]
async fn shutdown_ends_within_its_deadline_while_a_body_is_unfinished() {
    let app = spawn_app_with(|c| c.connections.shutdown_timeout = Duration::from_secs(1)).await;
    let alice = app.user("alice@example.com").await;
    let mut unfinished = open(&app).await;
    unfinished.write_all(UNFINISHED_BODY).await.unwrap();
    let mut idle = open(&app).await;
    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let TestApp { server, .. } = app;
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    // Sockets are told at once; an idle connection closes at once.
    assert_eq!(ws.closed().await, (1001, "Server shutting down".to_owned()));
    assert_eq!(
        closed_within(&mut idle, Duration::from_millis(500))
            .await
            .as_deref(),
        Some("")
    );
    tokio::time::timeout(Duration::from_secs(4), stopping)
        .await
        .expect("the server stops within its deadline")
        .unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "stopped after {took:?}");
    assert!(
        closed_within(&mut unfinished, Duration::from_millis(500))
            .await
            .is_some(),
        "the unfinished request's connection is still open"
    );
}

/// Sends `{ me { email } }` (anonymous: `{ __typename }`) as `user`:
/// the status, `Retry-After` and the body.
async fn ask(app: &TestApp, user: Option<&TestUser>) -> (u16, Option<u64>, Value) {
    let query = match user {
        Some(_) => "{ me { email } }",
        None => "{ __typename }",
    };
    let mut request = app.client.post(&app.url).json(&json!({ "query": query }));
    if let Some(user) = user {
        request = request.bearer_auth(&user.token);
    }
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let status = response.status().as_u16();
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test]
async fn each_user_and_each_address_has_its_own_rate_limit() {
    const BURST: u32 = 4;
    let app = spawn_app_with(|c| {
        c.connections.rate_limit = 0.05; // one more every 20 s
        c.connections.rate_limit_burst = BURST;
        c.connections.rate_limit_loopback = true;
    })
    .await;
    // Each user's first request (as they are created) takes one turn.
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let carol = app.user("carol@example.com").await;
    for _ in 1..BURST {
        assert_eq!(ask(&app, Some(&alice)).await.0, 200);
    }
    let (status, retry_after, body) = ask(&app, Some(&alice)).await;
    assert_eq!(status, 429);
    assert!(
        retry_after.is_some_and(|s| (1..=20).contains(&s)),
        "{retry_after:?}"
    );
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert!(body.get("data").is_none(), "{body:#}");
    // Another user is not affected.
    assert_eq!(ask(&app, Some(&bob)).await.0, 200);

    // WebSocket operations take turns too: Carol's, after the upgrade took
    // one of the address's (it carried no token).
    let mut ws = Ws::signed_in(&app, Some(&carol)).await;
    for i in 1..BURST {
        let id = i.to_string();
        ws.send(
            json!({ "id": id, "type": "subscribe", "payload": { "query": "{ me { email } }" } }),
        )
        .await;
        assert_eq!(ws.recv().await["type"], "next");
        assert_eq!(ws.recv().await, json!({ "id": id, "type": "complete" }));
    }
    ws.send(
        json!({ "id": "over", "type": "subscribe", "payload": { "query": "{ me { email } }" } }),
    )
    .await;
    let refused = ws.recv().await;
    assert_eq!(refused["type"], "error", "{refused:#}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");

    // Without a token, the client's address counts: the upgrade took one.
    for _ in 1..BURST {
        assert_eq!(ask(&app, None).await.0, 200);
    }
    let (status, retry_after, body) = ask(&app, None).await;
    assert_eq!((status, retry_after.is_some()), (429, true));
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
}

#[tokio::test]
async fn loopback_clients_are_not_rate_limited_unless_configured() {
    let app = spawn_app_with(|c| {
        c.connections.rate_limit = 0.05;
        c.connections.rate_limit_burst = 2;
    })
    .await;
    let alice = app.user("alice@example.com").await;
    for _ in 0..6 {
        assert_eq!(ask(&app, Some(&alice)).await.0, 200);
        assert_eq!(ask(&app, None).await.0, 200);
    }
}
