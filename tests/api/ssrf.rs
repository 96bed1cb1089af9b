//! Where integrations may connect: internal addresses (loopback, private,
//! link-local, …) refused by default however they are spelled, resolved or
//! redirected to, unless the operator allows them; credentials that never
//! follow an integration to a new address nor a redirect to another origin.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use annograph::storage::allow_list::AllowList;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::imports::{finished, mirrored_dataset, submit};

/// One request a test server saw: method, path and headers.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn record(log: &Log, method: &str, uri: &axum::http::Uri, headers: &HeaderMap) {
    log.lock().unwrap().push(Seen {
        method: method.to_owned(),
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect(),
    });
}

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// An "internal resource": answers every request with 200 and a body, and
/// records what reached it.
async fn internal_server() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                record(&seen, method.as_str(), &uri, &headers);
                (StatusCode::OK, "internal secret data, 32 bytes!!")
            }
        },
    );
    (serve(app).await, log)
}

/// Answers every request with a 302 to `target` followed by the path, and
/// records what reached it.
async fn redirecting_server(target: String) -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, headers: HeaderMap| {
            let seen = seen.clone();
            let target = target.clone();
            async move {
                record(&seen, method.as_str(), &uri, &headers);
                let location = format!("{}{}", target.trim_end_matches('/'), uri.path());
                (StatusCode::FOUND, [("location", location)]).into_response()
            }
        },
    );
    (serve(app).await, log)
}

fn no_internal_hosts(config: &mut annograph::config::Config) {
    config.storage_allowed_hosts = AllowList::default();
}

const CREATE: &str = "mutation($t: String!, $p: StorageProvider!, $c: JSON!, $s: JSON) {
    createIntegration(input: {title: $t, provider: $p, config: $c, credentials: $s}) { id hasCredentials config } }";

async fn create(app: &TestApp, user: &TestUser, provider: &str, config: Value) -> (u16, Value) {
    app.post(
        Some(&user.token),
        CREATE,
        json!({ "t": "storage", "p": provider, "c": config }),
    )
    .await
}

async fn create_ok(
    app: &TestApp,
    user: &TestUser,
    provider: &str,
    config: Value,
    credentials: Value,
) -> Value {
    app.ok(
        user,
        CREATE,
        json!({ "t": "storage", "p": provider, "c": config, "s": credentials }),
    )
    .await["createIntegration"]
        .clone()
}

async fn test_integration(app: &TestApp, user: &TestUser, id: &str, object: Option<&str>) -> Value {
    app.ok(
        user,
        "mutation($id: ID!, $o: String) { testIntegration(input: {id: $id, objectUrl: $o}) { ok message } }",
        json!({ "id": id, "o": object }),
    )
    .await["testIntegration"]
        .clone()
}

fn error_of(body: &Value) -> (String, String) {
    let error = &body["errors"][0];
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        error["message"].as_str().unwrap_or("").to_owned(),
    )
}

/// A name other than `localhost` that resolves to loopback only (from
/// `/etc/hosts`, or this machine's name).
async fn name_resolving_to_loopback() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut names: Vec<String> = hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip: std::net::IpAddr = words.next()?.parse().ok()?;
            ip.is_loopback()
                .then(|| words.map(str::to_owned).collect::<Vec<_>>())
        })
        .flatten()
        .collect();
    if let Ok(me) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(me.trim().to_owned());
    }
    for name in names {
        if name.contains("localhost") || name.is_empty() {
            continue;
        }
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((name.as_str(), 80)).await {
            Ok(addrs) => addrs.collect(),
            Err(_) => continue,
        };
        if !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()) {
            return name;
        }
    }
    panic!("this test needs a host name other than localhost that resolves to loopback (add one to /etc/hosts)");
}

const REFUSED: &str = "--storage-allowed-hosts";

#[tokio::test]
async fn internal_endpoints_are_refused_however_they_are_spelled() {
    let (addr, log) = internal_server().await;
    let port = addr.port();
    let app = spawn_app_with(no_internal_hosts).await;
    let ann = app.user("ann@example.com").await;
    for base in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::1]:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.0.1/".to_owned(),
        "http://[fd00::1]/".to_owned(),
    ] {
        let (_, body) = create(
            &app,
            &ann,
            "HTTP",
            json!({ "baseUrl": base, "allowHttp": true }),
        )
        .await;
        let (code, message) = error_of(&body);
        assert_eq!(code, "BAD_USER_INPUT", "{base}: {body}");
        assert!(message.contains(REFUSED), "{base}: {message}");
    }
    for (provider, config) in [
        (
            "S3",
            json!({ "bucket": "farm", "endpoint": format!("http://127.0.0.1:{port}"), "allowHttp": true }),
        ),
        (
            "AZURE",
            json!({ "account": "farm", "container": "c", "endpoint": format!("http://2130706433:{port}"), "allowHttp": true }),
        ),
    ] {
        let (_, body) = create(&app, &ann, provider, config).await;
        assert_eq!(error_of(&body).0, "BAD_USER_INPUT", "{provider}: {body}");
    }
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());

    // The operator allows loopback: the same integrations work.
    let allowed = spawn_app_with(|c| c.storage_allowed_hosts = AllowList::loopback()).await;
    let ann = allowed.user("ann@example.com").await;
    for base in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let created = create_ok(
            &allowed,
            &ann,
            "HTTP",
            json!({ "baseUrl": base, "allowHttp": true }),
            Value::Null,
        )
        .await;
        let id = created["id"].as_str().unwrap();
        let object = format!("{}clip.mp4", created["config"]["baseUrl"].as_str().unwrap());
        let result = test_integration(&allowed, &ann, id, Some(&object)).await;
        assert_eq!(result["ok"], true, "{base}: {result}");
    }
    assert_eq!(log.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn stored_internal_endpoints_are_refused_when_connecting_and_reach_nothing() {
    let (addr, log) = internal_server().await;
    // Created while loopback was allowed; the server beside it allows nothing.
    // The first runs no imports, so the import below is the second's to run.
    let before = spawn_app_with(|config| config.import.jobs = 0).await;
    let ann = before.user("ann@example.com").await;
    let literal = create_ok(
        &before,
        &ann,
        "HTTP",
        json!({ "baseUrl": format!("http://127.0.0.1:{}/media/", addr.port()), "allowHttp": true }),
        json!({ "bearerToken": "ann-token" }),
    )
    .await;
    let app = spawn_app_beside_with(&before, no_internal_hosts).await;
    let id = literal["id"].as_str().unwrap();
    let object = format!("http://127.0.0.1:{}/media/a.mp4", addr.port());
    let missing = format!("http://127.0.0.1:{}/media/missing.mp4", addr.port());
    let present = test_integration(&app, &ann, id, Some(&object)).await;
    let absent = test_integration(&app, &ann, id, Some(&missing)).await;
    let base = test_integration(&app, &ann, id, None).await;
    for result in [&present, &absent, &base] {
        assert_eq!(result["ok"], false, "{result}");
        assert!(
            result["message"].as_str().unwrap().contains(REFUSED),
            "{result}"
        );
    }
    // Whatever is there, the answer is the same.
    assert_eq!(present, absent);
    assert_eq!(present, base);

    // An import through it fails its entries without a request.
    let (dataset, _) = mirrored_dataset(&app, &ann).await;
    let manifest = json!({ "videos": [{ "objectUrl": object }] }).to_string();
    let job = submit(
        &app,
        &ann,
        &dataset,
        id,
        &manifest,
        json!({ "ignore": true }),
    )
    .await;
    let job = finished(&app, &ann, job["id"].as_str().unwrap()).await;
    assert_eq!(job["failed"], 1, "{job:#}");
    let error = &job["errors"]["nodes"][0];
    assert!(
        error["message"].as_str().unwrap().contains(REFUSED),
        "{job:#}"
    );
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

#[tokio::test]
async fn names_resolving_to_internal_addresses_are_refused_at_connection() {
    let (addr, log) = internal_server().await;
    let name = name_resolving_to_loopback().await;
    let app = spawn_app_with(no_internal_hosts).await;
    let ann = app.user("ann@example.com").await;
    let base = format!("http://{name}:{}/media/", addr.port());
    // The name is not known to be internal until it is resolved.
    let created = create_ok(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
        Value::Null,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    for object in [Some(format!("{base}a.mp4")), None] {
        let result = test_integration(&app, &ann, id, object.as_deref()).await;
        assert_eq!(result["ok"], false, "{result}");
        assert!(
            result["message"].as_str().unwrap().contains(REFUSED),
            "{result}"
        );
    }
    let (dataset, _) = mirrored_dataset(&app, &ann).await;
    let manifest = json!({ "videos": [{ "objectUrl": format!("{base}a.mp4") }] }).to_string();
    let job = submit(&app, &ann, &dataset, id, &manifest, json!({})).await;
    let job = finished(&app, &ann, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "FAILED", "{job:#}");
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());

    // Allowed by name, the same integration connects.
    let allowed = spawn_app_beside_with(&app, |c| {
        c.storage_allowed_hosts = AllowList::parse(&[format!("{name}:{}", addr.port())]).unwrap();
    })
    .await;
    let result = test_integration(&allowed, &ann, id, Some(&format!("{base}a.mp4"))).await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn redirects_to_internal_addresses_are_refused_and_reach_nothing() {
    let (internal, log) = internal_server().await;
    let port = internal.port();
    for target in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
    ] {
        let (front, front_log) = redirecting_server(target.clone()).await;
        // Only the redirecting server is allowed.
        let app = spawn_app_with(|c| {
            c.storage_allowed_hosts = AllowList::parse(&[front.to_string()]).unwrap();
        })
        .await;
        let ann = app.user("ann@example.com").await;
        let created = create_ok(
            &app,
            &ann,
            "HTTP",
            json!({ "baseUrl": format!("http://{front}/media/"), "allowHttp": true }),
            Value::Null,
        )
        .await;
        let id = created["id"].as_str().unwrap();
        let object = format!("http://{front}/media/a.mp4");
        let result = test_integration(&app, &ann, id, Some(&object)).await;
        assert_eq!(result["ok"], false, "{target}: {result}");
        assert!(
            result["message"].as_str().unwrap().contains(REFUSED),
            "{target}: {result}"
        );
        assert!(!front_log.lock().unwrap().is_empty());
        assert!(
            log.lock().unwrap().is_empty(),
            "{target}: {:?}",
            log.lock().unwrap()
        );
    }

    // With loopback allowed, the redirect is followed.
    let (front, _) = redirecting_server(format!("http://127.0.0.1:{port}/")).await;
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let created = create_ok(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": format!("http://{front}/media/"), "allowHttp": true }),
        Value::Null,
    )
    .await;
    let object = format!("http://{front}/media/a.mp4");
    let result = test_integration(&app, &ann, created["id"].as_str().unwrap(), Some(&object)).await;
    assert_eq!(result["ok"], true, "{result}");
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/media/a.mp4");
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    let (other, other_log) = internal_server().await;
    let (front, front_log) =
        redirecting_server(format!("http://127.0.0.1:{}/", other.port())).await;
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let created = create_ok(
        &app,
        &alice,
        "HTTP",
        json!({ "baseUrl": format!("http://{front}/media/"), "allowHttp": true }),
        json!({ "bearerToken": "alice-token", "headers": { "X-Api-Key": "alice-key" } }),
    )
    .await;
    let object = format!("http://{front}/media/a.mp4");
    let result =
        test_integration(&app, &alice, created["id"].as_str().unwrap(), Some(&object)).await;
    assert_eq!(result["ok"], true, "{result}");

    // The integration's own origin got the credentials…
    let at_front = front_log.lock().unwrap().clone();
    assert_eq!(
        at_front[0].headers.get("authorization").map(String::as_str),
        Some("Bearer alice-token")
    );
    assert_eq!(
        at_front[0].headers.get("x-api-key").map(String::as_str),
        Some("alice-key")
    );
    // …the origin it redirected to got none of them.
    let at_other = other_log.lock().unwrap().clone();
    assert_eq!(at_other.len(), 1, "{at_other:?}");
    assert_eq!(at_other[0].method, "HEAD");
    for seen in &at_other {
        let text = format!("{:?}", seen.headers);
        assert!(!text.contains("alice"), "{text}");
        assert!(!seen.headers.contains_key("authorization"), "{text}");
        assert!(!seen.headers.contains_key("x-api-key"), "{text}");
    }
}

/// Title and settings; the credentials left out (an unset `$s` would be
/// null, which clears them).
const UPDATE: &str = "mutation($id: ID!, $t: String, $c: JSON) {
    updateIntegration(input: {id: $id, title: $t, config: $c}) { id hasCredentials config } }";

const UPDATE_WITH_CREDENTIALS: &str = "mutation($id: ID!, $c: JSON, $s: JSON) {
    updateIntegration(input: {id: $id, config: $c, credentials: $s}) { id hasCredentials config } }";

#[tokio::test]
async fn repointing_an_integration_drops_its_credentials_unless_new_ones_come_along() {
    let (alices, alices_log) = internal_server().await;
    let (attackers, attackers_log) = internal_server().await;
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let admin = app.workspace_admin("root@example.com").await;
    let created = create_ok(
        &app,
        &alice,
        "HTTP",
        json!({ "baseUrl": format!("http://{alices}/media/"), "allowHttp": true }),
        json!({ "bearerToken": "alice-token", "headers": { "X-Api-Key": "alice-key" } }),
    )
    .await;
    assert_eq!(created["hasCredentials"], true);
    let id = created["id"].as_str().unwrap();

    // A new title keeps them.
    let renamed = app
        .ok(&admin, UPDATE, json!({ "id": id, "t": "Renamed" }))
        .await;
    assert_eq!(renamed["updateIntegration"]["hasCredentials"], true);

    // A workspace ADMIN points it elsewhere, leaving the credentials out.
    let moved = app
        .ok(
            &admin,
            UPDATE,
            json!({ "id": id, "c": { "baseUrl": format!("http://{attackers}/media/"), "allowHttp": true } }),
        )
        .await;
    assert_eq!(
        moved["updateIntegration"]["hasCredentials"], false,
        "{moved}"
    );
    let object = format!("http://{attackers}/media/a.mp4");
    let result = test_integration(&app, &admin, id, Some(&object)).await;
    assert_eq!(result["ok"], true, "{result}");
    let seen = attackers_log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let text = format!("{:?}", seen[0].headers);
    assert!(!text.contains("alice"), "{text}");
    assert!(!seen[0].headers.contains_key("authorization"), "{text}");
    assert!(alices_log.lock().unwrap().is_empty());

    // The audit event says the credentials were dropped (never what they were).
    let events = app
        .ok(
            &admin,
            "query($id: ID!) { auditEvents(resourceId: $id) { nodes { action details } } }",
            json!({ "id": id }),
        )
        .await;
    let update = events["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "integration.update" && e["details"]["credentialsDropped"] == true)
        .unwrap_or_else(|| panic!("no event of the drop: {events:#}"))
        .clone();
    assert!(update["details"]["changed"]
        .as_array()
        .unwrap()
        .contains(&json!("credentials")));
    assert!(!events.to_string().contains("alice-"), "{events}");

    // New credentials given in the same call go with the new address.
    let with_new = app
        .ok(
            &alice,
            UPDATE_WITH_CREDENTIALS,
            json!({ "id": id,
                "c": { "baseUrl": format!("http://{alices}/media/"), "allowHttp": true },
                "s": { "bearerToken": "alice-second" } }),
        )
        .await;
    assert_eq!(with_new["updateIntegration"]["hasCredentials"], true);
    let result = test_integration(
        &app,
        &alice,
        id,
        Some(&format!("http://{alices}/media/a.mp4")),
    )
    .await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        alices_log.lock().unwrap()[0]
            .headers
            .get("authorization")
            .map(String::as_str),
        Some("Bearer alice-second")
    );

    // Cloud providers: the bucket, region, endpoint, account and container
    // are where credentials go; the prefix is not.
    let s3 = create_ok(
        &app,
        &alice,
        "S3",
        json!({ "bucket": "farm", "region": "eu-west-1" }),
        json!({ "accessKeyId": "AKIAALICE", "secretAccessKey": "alice-secret-key" }),
    )
    .await;
    let s3_id = s3["id"].as_str().unwrap();
    let update = |config: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            app.ok(admin, UPDATE, json!({ "id": s3_id, "c": config }))
                .await["updateIntegration"]["hasCredentials"]
                .clone()
        }
    };
    assert_eq!(
        update(json!({ "bucket": "farm", "region": "eu-west-1", "prefix": "x" })).await,
        true
    );
    assert_eq!(
        update(json!({ "bucket": "farm", "region": "us-west-2" })).await,
        false
    );
    let azure = create_ok(
        &app,
        &alice,
        "AZURE",
        json!({ "account": "alice", "container": "videos" }),
        json!({ "accessKey": "YWxpY2UtYXp1cmUta2V5" }),
    )
    .await;
    let moved = app
        .ok(
            &admin,
            UPDATE,
            json!({ "id": azure["id"], "c": { "account": "mallory", "container": "videos" } }),
        )
        .await;
    assert_eq!(moved["updateIntegration"]["hasCredentials"], false);
}
