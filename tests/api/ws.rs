//! `/graphql/ws`: subscriptions over `graphql-transport-ws` and the legacy
//! `graphql-ws` protocol, spoken frame by frame.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::ws::{listening, listening_none, upgrade_status, ws_url, Ws};

const CHANGED: &str = "subscription($id: ID!) { datasetChanged(datasetId: $id) {
    change datasetId at dataset { title description myRole files { totalCount } } } }";

impl Ws {
    /// Subscribes to `datasetChanged` and waits until the subscription listens.
    async fn watch(&mut self, app: &TestApp, id: &str, dataset: &str) {
        let before = app.server.state.services.events.subscribers();
        self.subscribe(id, CHANGED, json!({ "id": dataset })).await;
        listening(app, before + 1).await;
    }

    /// The next `next` message of operation `id`: its `datasetChanged`.
    async fn event(&mut self, id: &str) -> Value {
        let message = self.recv().await;
        assert_eq!(message["type"], "next", "{message:#}");
        assert_eq!(message["id"], id, "{message:#}");
        assert!(message["payload"].get("errors").is_none(), "{message:#}");
        message["payload"]["data"]["datasetChanged"].clone()
    }
}

/// The global ID of a dataset that does not exist.
fn missing_dataset() -> String {
    annograph::ids::encode("Dataset", uuid::Uuid::now_v7())
}

#[tokio::test]
async fn subscribers_see_every_change_to_a_dataset_until_it_is_deleted() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let folder = app.folder(&alice, "Photos").await;
    let files = app
        .files(&alice, &folder, &["s3://b/1.jpg", "s3://b/2.jpg"])
        .await;
    let ds = app.dataset(&alice, "Birds", None).await;
    app.share(&alice, "Dataset", &ds, &[&bob], "USER").await;

    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    ws.watch(&app, "alice", &ds).await;
    // Bob, a dataset USER, signs in with the `headers` form of the payload.
    let mut bobs = Ws::connect(&app).await;
    bobs.send(json!({ "type": "connection_init",
        "payload": { "headers": { "Authorization": format!("Bearer {}", bob.token) } } }))
        .await;
    assert_eq!(bobs.recv().await, json!({ "type": "connection_ack" }));
    bobs.watch(&app, "bob", &ds).await;
    assert_eq!(app.server.state.services.metrics.active_subscriptions(), 2);

    app.ok(
        &alice,
        "mutation($d: ID!) { updateDataset(input: {id: $d, title: \"Wild birds\"}) { id } }",
        json!({ "d": ds }),
    )
    .await;
    let event = ws.event("alice").await;
    assert_eq!(event["change"], "SETTINGS_CHANGED");
    assert_eq!(event["datasetId"], ds);
    assert_eq!(event["dataset"]["title"], "Wild birds");
    assert_eq!(event["dataset"]["myRole"], "ADMIN");
    assert!(event["at"].as_str().unwrap().len() >= 20, "{event}");
    let event = bobs.event("bob").await;
    assert_eq!(event["change"], "SETTINGS_CHANGED");
    assert_eq!(event["dataset"]["myRole"], "USER");

    app.attach(&alice, &ds, &files).await;
    let event = ws.event("alice").await;
    assert_eq!(event["change"], "FILES_ATTACHED");
    assert_eq!(event["dataset"]["files"]["totalCount"], 2);
    assert_eq!(bobs.event("bob").await["change"], "FILES_ATTACHED");

    app.ok(
        &alice,
        "mutation($d: ID!, $f: [ID!]!) { detachFilesFromDataset(input: {datasetId: $d, fileIds: $f}) { id } }",
        json!({ "d": ds, "f": [files[0]] }),
    )
    .await;
    let event = ws.event("alice").await;
    assert_eq!(event["change"], "FILES_DETACHED");
    assert_eq!(event["dataset"]["files"]["totalCount"], 1);
    assert_eq!(bobs.event("bob").await["change"], "FILES_DETACHED");

    let carol = app.user("carol@example.com").await;
    app.share(&alice, "Dataset", &ds, &[&carol], "USER").await;
    assert_eq!(ws.event("alice").await["change"], "COLLABORATORS_CHANGED");
    assert_eq!(bobs.event("bob").await["change"], "COLLABORATORS_CHANGED");

    // A failed mutation publishes nothing.
    let code = app
        .code(
            &alice,
            "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"yes\"}) }",
            json!({ "d": ds }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    ws.quiet().await;

    app.ok(
        &alice,
        "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }",
        json!({ "d": ds }),
    )
    .await;
    for (socket, id) in [(&mut ws, "alice"), (&mut bobs, "bob")] {
        let event = socket.event(id).await;
        assert_eq!(event["change"], "DELETED");
        assert_eq!(event["datasetId"], ds);
        assert_eq!(event["dataset"], Value::Null);
        assert_eq!(socket.recv().await, json!({ "id": id, "type": "complete" }));
        socket.quiet().await;
    }
    listening_none(&app).await; // the gauge is back to 0 too
}

#[tokio::test]
async fn moving_files_reaches_the_destination_and_the_source() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let animals = app.folder(&alice, "Animals").await;
    let chickens = app.folder(&alice, "Chickens").await;
    let files = app
        .files(
            &alice,
            &animals,
            &["s3://farm/chicken.mp4", "s3://farm/cow.jpg"],
        )
        .await;
    let from = app.dataset(&alice, "Animal videos", Some(&animals)).await;
    let to = app.dataset(&alice, "Chicken videos", Some(&chickens)).await;
    let elsewhere = app.dataset(&alice, "Elsewhere", None).await;

    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    ws.watch(&app, "from", &from).await;
    ws.watch(&app, "to", &to).await;
    ws.watch(&app, "elsewhere", &elsewhere).await;

    app.ok(
        &alice,
        "mutation($f: [ID!]!, $to: ID!) { moveFiles(input: {fileIds: $f, toDatasetId: $to}) { id } }",
        json!({ "f": [files[0]], "to": to }),
    )
    .await;
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let message = ws.recv().await;
        assert_eq!(message["type"], "next", "{message:#}");
        let event = &message["payload"]["data"]["datasetChanged"];
        seen.insert(
            message["id"].as_str().unwrap().to_owned(),
            (
                event["change"].clone(),
                event["dataset"]["files"]["totalCount"].clone(),
            ),
        );
    }
    assert_eq!(seen["to"], (json!("FILES_MOVED_IN"), json!(1)));
    assert_eq!(seen["from"], (json!("FILES_MOVED_OUT"), json!(1)));
    ws.quiet().await; // nothing for "elsewhere"
}

#[tokio::test]
async fn only_those_who_can_view_a_dataset_may_subscribe() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let eve = app.user("eve@example.com").await;
    let ds = app.dataset(&alice, "Birds", None).await;

    // Someone who cannot see it: NOT_FOUND, as a query would say.
    let mut ws = Ws::signed_in(&app, Some(&eve)).await;
    ws.subscribe("1", CHANGED, json!({ "id": ds })).await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "error", "{message:#}");
    assert_eq!(message["id"], "1");
    assert_eq!(message["payload"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(message["payload"][0]["path"], json!(["datasetChanged"]));
    ws.quiet().await; // no `complete` after `error`

    // A dataset that does not exist answers the same.
    ws.subscribe("1", CHANGED, json!({ "id": missing_dataset() }))
        .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "error", "{message:#}");
    assert_eq!(message["payload"][0]["extensions"]["code"], "NOT_FOUND");

    // Documents that do not validate: `error`, with the code of the HTTP endpoint.
    ws.subscribe(
        "2",
        "subscription { datasetChanged(datasetId: \"x\") { nope } }",
        json!({}),
    )
    .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "error", "{message:#}");
    assert_eq!(message["id"], "2");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert!(message["payload"][0]["locations"].is_array(), "{message:#}");
    ws.subscribe("3", "subscription {", json!({})).await;
    assert_eq!(ws.recv().await["type"], "error");
    ws.quiet().await;

    // Nothing reaches Eve when the dataset changes.
    app.ok(
        &alice,
        "mutation($d: ID!) { updateDataset(input: {id: $d, title: \"Owls\"}) { id } }",
        json!({ "d": ds }),
    )
    .await;
    ws.quiet().await;

    // Without a token: UNAUTHENTICATED.
    let mut anonymous = Ws::signed_in(&app, None).await;
    anonymous.subscribe("1", CHANGED, json!({ "id": ds })).await;
    let message = anonymous.recv().await;
    assert_eq!(message["type"], "error", "{message:#}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    anonymous.quiet().await;
}

#[tokio::test]
async fn losing_access_ends_the_subscription() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let ds = app.dataset(&alice, "Birds", None).await;
    app.share(&alice, "Dataset", &ds, &[&bob], "USER").await;

    let mut bobs = Ws::signed_in(&app, Some(&bob)).await;
    bobs.watch(&app, "1", &ds).await;
    let mut alices = Ws::signed_in(&app, Some(&alice)).await;
    alices.watch(&app, "1", &ds).await;

    app.ok(
        &alice,
        "mutation($d: ID!, $u: ID!) { removeDatasetCollaborator(input: {datasetId: $d, userId: $u}) { id } }",
        json!({ "d": ds, "u": bob.id }),
    )
    .await;
    assert_eq!(alices.event("1").await["change"], "COLLABORATORS_CHANGED");
    // Bob learns nothing more: his subscription just completes.
    assert_eq!(bobs.recv().await, json!({ "id": "1", "type": "complete" }));
    bobs.quiet().await;
}

#[tokio::test]
async fn a_client_complete_stops_the_subscription_and_frees_its_id() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let ds = app.dataset(&alice, "Birds", None).await;
    let rename = |title: &'static str| {
        let app = &app;
        let alice = &alice;
        let ds = ds.clone();
        async move {
            app.ok(
                alice,
                "mutation($d: ID!, $t: String!) { updateDataset(input: {id: $d, title: $t}) { id } }",
                json!({ "d": ds, "t": title }),
            )
            .await;
        }
    };

    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    ws.watch(&app, "1", &ds).await;
    ws.send(json!({ "id": "1", "type": "complete" })).await;
    listening_none(&app).await;
    rename("Owls").await;
    ws.quiet().await; // no `next`, and no `complete` echoed back

    ws.watch(&app, "1", &ds).await; // the id may be used again
    rename("Swans").await;
    assert_eq!(ws.event("1").await["dataset"]["title"], "Swans");
}

#[tokio::test]
async fn queries_and_mutations_run_once() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    ws.subscribe("q", "{ me { email } }", json!({})).await;
    assert_eq!(
        ws.recv().await,
        json!({ "id": "q", "type": "next", "payload": { "data": { "me": { "email": "alice@example.com" } } } })
    );
    assert_eq!(ws.recv().await, json!({ "id": "q", "type": "complete" }));
    ws.subscribe(
        "m",
        "mutation { createDataset(input: {title: \"Birds\"}) { title } }",
        json!({}),
    )
    .await;
    assert_eq!(
        ws.recv().await["payload"]["data"]["createDataset"]["title"],
        "Birds"
    );
    assert_eq!(ws.recv().await, json!({ "id": "m", "type": "complete" }));
    // A field error once execution started is a result, not an `error`.
    ws.subscribe(
        "n",
        "query($id: ID!) { dataset(id: $id) { id } }",
        json!({ "id": missing_dataset() }),
    )
    .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "next", "{message:#}");
    assert_eq!(message["payload"]["data"], json!({ "dataset": null }));
    assert_eq!(ws.recv().await, json!({ "id": "n", "type": "complete" }));
}

#[tokio::test]
async fn ping_is_answered_with_pong_at_any_time() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut ws = Ws::connect(&app).await;
    ws.send(json!({ "type": "ping" })).await; // before connection_init
    assert_eq!(ws.recv().await, json!({ "type": "pong" }));
    ws.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", alice.token) } }))
        .await;
    assert_eq!(ws.recv().await, json!({ "type": "connection_ack" }));
    ws.send(json!({ "type": "ping", "payload": { "sent": 1 } }))
        .await;
    assert_eq!(
        ws.recv().await,
        json!({ "type": "pong", "payload": { "sent": 1 } })
    );
    ws.send(json!({ "type": "pong" })).await; // unsolicited: ignored
    ws.quiet().await;

    // The server answers the client's close frame.
    ws.close(1000, "bye").await;
    assert_eq!(ws.closed().await.0, 1000);
}

#[tokio::test]
async fn connection_init_must_come_in_time() {
    let app = spawn_app_with(|c| c.ws_init_timeout = Duration::from_millis(1000)).await;
    let alice = app.user("alice@example.com").await;
    let mut ws = Ws::connect(&app).await;
    ws.quiet().await; // pings do not count
    assert_eq!(
        ws.closed().await,
        (4408, "Connection initialisation timeout".to_owned())
    );
    let mut legacy = Ws::legacy(&app).await;
    let (code, _) = legacy.closed_after_connection_error().await;
    assert_eq!(code, 4408);

    // In time, the connection stays.
    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws.quiet().await;
}

impl Ws {
    /// Legacy protocol: `connection_error`, then the close frame.
    async fn closed_after_connection_error(&mut self) -> (u16, String) {
        let message = self.recv().await;
        assert_eq!(message["type"], "connection_error", "{message:#}");
        assert!(message["payload"]["message"].is_string());
        self.closed().await
    }
}

#[tokio::test]
async fn protocol_violations_close_the_socket() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let query = json!({ "query": "{ me { email } }" });

    let mut ws = Ws::connect(&app).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": query }))
        .await;
    assert_eq!(ws.closed().await, (4401, "Unauthorized".to_owned()));

    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    ws.watch(&app, "same", &app.dataset(&alice, "Birds", None).await)
        .await;
    ws.send(json!({ "id": "same", "type": "subscribe", "payload": query }))
        .await;
    assert_eq!(
        ws.closed().await,
        (4409, "Subscriber for same already exists".to_owned())
    );
    listening_none(&app).await; // the connection's subscriptions ended with it

    let mut ws = Ws::signed_in(&app, Some(&alice)).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(
        ws.closed().await,
        (4429, "Too many initialisation requests".to_owned())
    );

    let mut ws = Ws::connect(&app).await;
    ws.send(
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not-a-token" } }),
    )
    .await;
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403);
    assert!(reason.starts_with("Forbidden"), "{reason}");

    for bad in [
        "not json",
        r#"{"type": "subscribe", "id": "1"}"#,
        r#"{"type": "subscribe", "id": "", "payload": {"query": "{ me { email } }"}}"#,
        r#"{"type": "next", "id": "1", "payload": {}}"#,
        r#"{"type": "start", "id": "1", "payload": {"query": "{ me { email } }"}}"#,
        r#"{"type": "connection_init", "payload": "token"}"#,
    ] {
        let mut ws = Ws::connect(&app).await;
        ws.send_text(bad).await;
        assert_eq!(ws.closed().await.0, 4400, "{bad}");
    }

    // No subprotocol the server speaks.
    let mut ws = Ws::open(&app, None, None).await;
    assert_eq!(
        ws.closed().await,
        (4406, "Subprotocol not acceptable".to_owned())
    );
}

#[tokio::test]
async fn the_upgrade_request_may_carry_the_token() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bearer = format!("Bearer {}", alice.token);
    let mut ws = Ws::open(&app, Some("graphql-transport-ws"), Some(&bearer)).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.recv().await, json!({ "type": "connection_ack" }));
    ws.subscribe("1", "{ me { email } }", json!({})).await;
    assert_eq!(
        ws.recv().await["payload"]["data"]["me"]["email"],
        "alice@example.com"
    );

    // A bad header is refused before the upgrade, as on /graphql.
    let status = upgrade_status(
        &ws_url(&app),
        Some("graphql-transport-ws"),
        Some("Bearer nope"),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_connection_closes_when_the_token_expires() {
    let app = spawn_app().await;
    app.user("alice@example.com").await;
    let token = app
        .server
        .state
        .auth
        .mint("alice@example.com", None, Duration::from_secs(3))
        .unwrap();
    let mut ws = Ws::connect(&app).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(ws.recv().await, json!({ "type": "connection_ack" }));
    let (code, reason) = ws.closed().await;
    assert_eq!(code, 4403);
    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let eve = app.user("eve@example.com").await;
    let ds = app.dataset(&alice, "Birds", None).await;

    let mut ws = Ws::legacy(&app).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", alice.token) } }))
        .await;
    // Legacy clients start operations without waiting for the ack.
    ws.send(json!({ "id": "1", "type": "start",
        "payload": { "query": CHANGED, "variables": { "id": ds } } }))
        .await;
    assert_eq!(ws.recv().await, json!({ "type": "connection_ack" }));
    listening(&app, 1).await;

    app.ok(
        &alice,
        "mutation($d: ID!) { updateDataset(input: {id: $d, title: \"Owls\"}) { id } }",
        json!({ "d": ds }),
    )
    .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "data", "{message:#}");
    assert_eq!(message["id"], "1");
    let event = &message["payload"]["data"]["datasetChanged"];
    assert_eq!(event["change"], "SETTINGS_CHANGED");
    assert_eq!(event["dataset"]["title"], "Owls");

    ws.send(json!({ "id": "1", "type": "stop" })).await;
    listening_none(&app).await;
    app.ok(
        &alice,
        "mutation($d: ID!) { updateDataset(input: {id: $d, title: \"Swans\"}) { id } }",
        json!({ "d": ds }),
    )
    .await;
    assert!(
        ws.next(Duration::from_millis(300)).await.is_none(),
        "nothing after stop"
    );

    // A query runs once: data, then complete.
    ws.send(json!({ "id": "2", "type": "start", "payload": { "query": "{ me { email } }" } }))
        .await;
    assert_eq!(
        ws.recv().await,
        json!({ "id": "2", "type": "data", "payload": { "data": { "me": { "email": "alice@example.com" } } } })
    );
    assert_eq!(ws.recv().await, json!({ "id": "2", "type": "complete" }));

    // A subscription that cannot start: `error`.
    ws.send(json!({ "id": "3", "type": "start", "payload": { "query": "subscription { nope }" } }))
        .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "error", "{message:#}");
    assert_eq!(message["id"], "3");
    assert!(message["payload"]["message"].is_string(), "{message:#}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );

    ws.send(json!({ "type": "connection_terminate" })).await;
    assert_eq!(ws.closed().await.0, 1000);

    // Eve may not watch Alice's dataset.
    let mut ws = Ws::legacy(&app).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", eve.token) } }))
        .await;
    assert_eq!(ws.recv().await, json!({ "type": "connection_ack" }));
    ws.send(json!({ "id": "1", "type": "start",
        "payload": { "query": CHANGED, "variables": { "id": ds } } }))
        .await;
    let message = ws.recv().await;
    assert_eq!(message["type"], "error", "{message:#}");
    assert_eq!(message["payload"]["extensions"]["code"], "NOT_FOUND");

    // A bad token: connection_error, then the socket closes.
    let mut ws = Ws::legacy(&app).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }))
        .await;
    assert_eq!(ws.closed_after_connection_error().await.0, 4403);
}

#[tokio::test]
async fn on_postgresql_a_subscriber_sees_changes_made_on_another_instance() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        // One SQLite file serves one instance; the relay exists for PostgreSQL.
        return;
    }
    let a = spawn_app().await;
    let b = spawn_app_beside(&a).await;
    let alice = a.user("alice@example.com").await;
    let dataset = a.dataset(&alice, "Shared", None).await;
    let alice_on_b = b.user("alice@example.com").await;

    let mut ws = Ws::signed_in(&b, Some(&alice_on_b)).await;
    ws.watch(&b, "1", &dataset).await;
    a.ok(
        &alice,
        "mutation($d: ID!) { updateDataset(input: {id: $d, title: \"Renamed on A\"}) { id } }",
        json!({ "d": dataset }),
    )
    .await;
    let event = ws.event("1").await;
    assert_eq!(event["change"], "SETTINGS_CHANGED");
    assert_eq!(event["dataset"]["title"], "Renamed on A");

    // And the instance that made the change delivers it once, itself.
    let mut local = Ws::signed_in(&a, Some(&alice)).await;
    local.watch(&a, "2", &dataset).await;
    // A subscription counts as listening before its access check ends; an
    // event it delivers proves it has started, so the delete cannot overtake it.
    b.ok(
        &alice_on_b,
        "mutation($d: ID!) { updateDataset(input: {id: $d, title: \"Renamed on B\"}) { id } }",
        json!({ "d": dataset }),
    )
    .await;
    assert_eq!(local.event("2").await["change"], "SETTINGS_CHANGED");
    assert_eq!(ws.event("1").await["change"], "SETTINGS_CHANGED");
    b.ok(
        &alice_on_b,
        "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }",
        json!({ "d": dataset }),
    )
    .await;
    assert_eq!(local.event("2").await["change"], "DELETED");
    assert_eq!(local.recv().await, json!({ "id": "2", "type": "complete" }));
    assert_eq!(ws.event("1").await["change"], "DELETED");
    assert_eq!(ws.recv().await, json!({ "id": "1", "type": "complete" }));
    ws.quiet().await;
}
