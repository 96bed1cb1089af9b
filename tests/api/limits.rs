//! Depth, complexity, alias, time and introspection limits, and automatic
//! persisted queries.

use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

async fn post_raw(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(token)
        .header("accept", "application/graphql-response+json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn first_error(body: &Value) -> (&str, &str) {
    (
        body["errors"][0]["message"].as_str().unwrap_or_default(),
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn queries_nested_too_deep_are_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut query = String::from("title");
    for _ in 0..9 {
        query = format!("datasets {{ projects {{ {query} }} }}");
    }
    let (status, body) = post_raw(
        &app,
        &alice.token,
        json!({ "query": format!("{{ projects {{ nodes {{ {query} }} }} }}") }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.get("data").is_none());
    let (message, code) = first_error(&body);
    assert!(message.contains("nested too deep"), "{message}");
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn connections_cost_their_page_size() {
    let app = spawn_app_with(|c| c.query.max_complexity = 300).await;
    let alice = app.user("alice@example.com").await;
    let query =
        "query($n: Int) { datasets(first: $n) { nodes { id title description mirrored } } }";
    app.ok(&alice, query, json!({ "n": 10 })).await;
    let (status, body) = post_raw(
        &app,
        &alice.token,
        json!({ "query": query, "variables": { "n": 100 } }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(first_error(&body).0.contains("too complex"), "{body}");
    // The default allows the nested front-end queries of this API.
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    app.ok(
        &alice,
        "{ projects(first: 100) { nodes { datasets { files(first: 100) { totalCount nodes { id title folder { name } } } } } } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn too_many_aliases_are_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let aliases = |n: usize| {
        format!(
            "{{ {} }}",
            (0..n)
                .map(|i| format!("a{i}: me {{ email }}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let data = app.ok(&alice, &aliases(50), json!({})).await;
    assert_eq!(data["a49"]["email"], "alice@example.com");
    let (status, body) = post_raw(&app, &alice.token, json!({ "query": aliases(51) })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        first_error(&body),
        (
            "the document uses 51 aliases; at most 50 are allowed",
            "BAD_USER_INPUT"
        )
    );
    // Aliases inside fragments count too.
    let fragment = format!(
        "query {{ ...F }} fragment F on Query {{ {} }}",
        (0..51)
            .map(|i| format!("a{i}: me {{ email }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let (status, _) = post_raw(&app, &alice.token, json!({ "query": fragment })).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn operations_that_run_too_long_are_stopped_and_keep_nothing() {
    // The limit is the schema's, the same on both backends; PostgreSQL lets a
    // test hold a table lock that makes one mutation wait for certain (SQLite
    // answers "database is locked" at once instead of waiting).
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let app = spawn_app_with(|c| c.query.request_timeout = Duration::from_millis(300)).await;
    let slow = app.user("slow@example.com").await;
    // Another connection locks the folders, so creating one waits far longer
    // than the limit.
    use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait, TransactionTrait};
    let other = Database::connect(&app.database_url).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE folders IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (_, body) = post_raw(
        &app,
        &slow.token,
        json!({ "query": "mutation { createFolder(input: {name: \"F\"}) { id } }" }),
    )
    .await;
    assert_eq!(first_error(&body).1, "TIMEOUT", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped at the limit, not when the lock went"
    );
    lock.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let folders = entity::folder::Entity::find()
        .count(&app.server.state.services.db)
        .await
        .unwrap();
    assert_eq!(folders, 0, "a stopped mutation is rolled back");
    // The server goes on serving.
    app.ok(
        &slow,
        "mutation { createFolder(input: {name: \"G\"}) { id } }",
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn a_query_that_runs_too_long_is_stopped_however_often_it_ran_before() {
    // PostgreSQL lets a test hold a lock that makes a read wait for certain.
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let app = spawn_app_with(|c| c.query.request_timeout = Duration::from_millis(300)).await;
    let alice = app.user("alice@example.com").await;
    app.dataset(&alice, "Kept", None).await;
    let query = "{ datasets { totalCount nodes { title } } }";
    // Checked and validated on the first run; the runs after it are not
    // checked again, and must be held to the same time limit.
    for _ in 0..2 {
        let data = app.ok(&alice, query, json!({})).await;
        assert_eq!(data["datasets"]["totalCount"], 1);
    }
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let other = Database::connect(&app.database_url).await.unwrap();
    let lock = other.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE datasets IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let (_, body) = post_raw(&app, &alice.token, json!({ "query": query })).await;
        assert_eq!(first_error(&body).1, "TIMEOUT", "{body}");
        assert!(body["data"].is_null(), "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "stopped at the limit"
        );
    }
    lock.rollback().await.unwrap();
    let data = app.ok(&alice, query, json!({})).await;
    assert_eq!(data["datasets"]["nodes"][0]["title"], "Kept");
}

#[tokio::test]
async fn a_mutation_stopped_by_the_time_limit_tells_which_fields_were_done() {
    // Three top-level fields run one after the other: the first creates a
    // folder, the second tests a connection to storage that answers after 8
    // seconds, the third would create another folder. With a 1.5 s limit the
    // first is done and kept, the second stopped, the third never runs; the
    // answer says exactly that (a client retries the second and third only).
    let app = spawn_app_with(|c| c.query.request_timeout = Duration::from_millis(1500)).await;
    let alice = app.user("alice@example.com").await;
    let media = tempfile::tempdir().unwrap();
    let (base, _, _) =
        crate::imports::slow_server(media.path().to_path_buf(), Duration::from_secs(8)).await;
    let integration = app
        .ok(
            &alice,
            "mutation($c: JSON!) { createIntegration(input: {title: \"Slow storage\", provider: HTTP, config: $c}) { id } }",
            json!({ "c": { "baseUrl": base, "allowHttp": true } }),
        )
        .await["createIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let started = std::time::Instant::now();
    let (status, body) = post_raw(
        &app,
        &alice.token,
        json!({
            "query": "mutation($i: ID!) {
                first: createFolder(input: {name: \"Kept\"}) { id name }
                check: testIntegration(input: {id: $i}) { ok message }
                last: createFolder(input: {name: \"Never\"}) { id }
            }",
            "variables": { "i": integration },
        }),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at the limit, not when storage answered: {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["data"]["first"]["name"], "Kept", "{body:#}");
    assert!(body["data"]["first"]["id"].is_string(), "{body:#}");
    assert_eq!(body["data"]["check"], Value::Null, "{body:#}");
    assert_eq!(body["data"]["last"], Value::Null, "{body:#}");

    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{body:#}");
    let (stopped, not_run) = (&errors[0], &errors[1]);
    assert_eq!(stopped["path"], json!(["check"]), "{body:#}");
    assert_eq!(stopped["extensions"]["code"], "TIMEOUT", "{body:#}");
    assert!(
        stopped["message"].as_str().unwrap().starts_with("stopped"),
        "{body:#}"
    );
    assert_eq!(not_run["path"], json!(["last"]), "{body:#}");
    assert_eq!(not_run["extensions"]["code"], "TIMEOUT", "{body:#}");
    assert!(
        not_run["message"].as_str().unwrap().starts_with("not run"),
        "{body:#}"
    );
    for e in errors {
        let message = e["message"].as_str().unwrap();
        assert!(
            !message.contains("nothing of it was kept"),
            "no error claims the whole mutation was undone: {body:#}"
        );
    }

    // The first field really was committed, the third really never ran.
    let data = app
        .ok(
            &alice,
            "{ folders(first: 10) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["folders"]["nodes"],
        json!([{ "name": "Kept" }]),
        "{data:#}"
    );
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let app = spawn_app_with(|c| c.query.introspection = false).await;
    let alice = app.user("alice@example.com").await;
    let (_, body) = post_raw(
        &app,
        &alice.token,
        json!({ "query": "{ __schema { queryType { name } } }" }),
    )
    .await;
    assert_eq!(
        first_error(&body),
        ("introspection is disabled on this server", "BAD_USER_INPUT"),
        "{body}"
    );
    assert!(body.get("data").is_none());
    app.ok(&alice, "{ me { email } }", json!({})).await;
}

#[tokio::test]
async fn automatic_persisted_queries_follow_the_apollo_protocol() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let query = "query Me { me { email } }";
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let persisted = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

    // Unknown hash: the client is told to send the text (status 200, as Apollo clients expect).
    let (status, body) = post_raw(&app, &alice.token, json!({ "extensions": persisted })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        first_error(&body),
        ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
    );

    let (status, body) = post_raw(
        &app,
        &alice.token,
        json!({ "query": query, "extensions": persisted }),
    )
    .await;
    assert_eq!(
        (status, &body["data"]["me"]["email"]),
        (200, &json!("alice@example.com")),
        "{body}"
    );

    let (_, body) = post_raw(&app, &alice.token, json!({ "extensions": persisted })).await;
    assert_eq!(body["data"]["me"]["email"], "alice@example.com", "{body}");

    // Over GET too, which lets CDNs cache by hash.
    let response = app
        .client
        .get(&app.url)
        .query(&[("extensions", persisted.to_string())])
        .bearer_auth(&alice.token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], "alice@example.com", "{body}");

    let wrong = json!({ "persistedQuery": { "version": 1, "sha256Hash": "0".repeat(64) } });
    let (status, body) = post_raw(
        &app,
        &alice.token,
        json!({ "query": query, "extensions": wrong }),
    )
    .await;
    assert_eq!(
        (status, first_error(&body).1),
        (400, "BAD_USER_INPUT"),
        "{body}"
    );

    // A persisted mutation still cannot run over GET.
    let mutation = "mutation { createFolder(input: {name: \"F\"}) { id } }";
    let m_hash = hex::encode(Sha256::digest(mutation.as_bytes()));
    let m_ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": m_hash } });
    post_raw(
        &app,
        &alice.token,
        json!({ "query": mutation, "extensions": m_ext }),
    )
    .await;
    let response = app
        .client
        .get(&app.url)
        .query(&[("extensions", m_ext.to_string())])
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}
