//! Cloud storage integrations over HTTP: LOCAL roots under the configured
//! local storage roots, HTTP integrations against a static server started
//! by the test, connection tests, write-only credentials, permissions, and
//! ranged reads of objects through an integration's store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use annograph::import::probe::{probe, RangeReader};
use annograph::storage;
use annograph::storage::object::StoreObject;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use entity::enums::FileKind;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::*;

const FIELDS: &str = "id title provider config hasCredentials createdAt updatedAt \
    createdBy { email } myRole viewerCan { view use edit manageCollaborators delete } \
    collaborators { role user { email } group { name } }";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media")
}

/// One request a test server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    range: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves `dir` under `/media/` on a loopback port; with `token`, only to
/// requests bearing it (401 otherwise). Returns the base URL and a log.
async fn static_server(dir: PathBuf, token: Option<&'static str>) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let app = axum::Router::new()
        .nest_service("/media", tower_http::services::ServeDir::new(dir))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(Seen {
                        method: request.method().to_string(),
                        path: request.uri().path().to_owned(),
                        range: request.headers().contains_key("range"),
                    });
                    let given = request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    match token {
                        Some(t) if given.as_deref() != Some(&format!("Bearer {t}")) => {
                            StatusCode::UNAUTHORIZED.into_response()
                        }
                        _ => next.run(request).await,
                    }
                }
            },
        ));
    let (addr, _) = serve(app).await;
    (format!("http://{addr}/media/"), log)
}

/// An "S3" endpoint that refuses everything and echoes the request's
/// headers (the signature, the access key id) in its error body.
async fn echoing_s3() -> String {
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let echoed: Vec<String> = headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
            .collect();
        (StatusCode::BAD_REQUEST, echoed.join("\n"))
    });
    let (addr, _) = serve(app).await;
    format!("http://{addr}")
}

async fn serve(app: axum::Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

/// A loopback address nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

pub async fn create(
    app: &TestApp,
    user: &TestUser,
    provider: &str,
    config: Value,
    credentials: Value,
) -> Value {
    app.ok(
        user,
        &format!(
            "mutation($t: String!, $p: StorageProvider!, $c: JSON!, $s: JSON) {{
                createIntegration(input: {{title: $t, provider: $p, config: $c, credentials: $s}}) {{ {FIELDS} }}
            }}"
        ),
        json!({ "t": format!("{provider} storage"), "p": provider, "c": config, "s": credentials }),
    )
    .await["createIntegration"]
        .clone()
}

/// The error of a request that must fail: (code, message, whole body).
async fn failure(
    app: &TestApp,
    user: &TestUser,
    query: &str,
    vars: Value,
) -> (String, String, String) {
    let (_, body) = app.post(Some(&user.token), query, vars).await;
    let error = &body["errors"][0];
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error, got {body:#}"))
            .to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
        body.to_string(),
    )
}

pub async fn test_integration(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    object: Option<&str>,
) -> Value {
    app.ok(
        user,
        "mutation($id: ID!, $o: String) { testIntegration(input: {id: $id, objectUrl: $o}) { ok message } }",
        json!({ "id": id, "o": object }),
    )
    .await["testIntegration"]
        .clone()
}

/// The stored model of an integration, by global ID.
async fn model(app: &TestApp, id: &str) -> entity::integration::Model {
    let (ty, uuid) = annograph::ids::decode(id).expect("global ID");
    assert_eq!(ty, "Integration");
    entity::integration::Entity::find_by_id(uuid)
        .one(&app.server.state.services.db)
        .await
        .unwrap()
        .expect("stored")
}

fn allowed_root(dir: &Path) -> impl FnOnce(&mut annograph::config::Config) {
    let dir = dir.to_owned();
    move |c| c.local_roots = vec![dir]
}

#[tokio::test]
async fn local_integrations_need_a_root_under_an_allowed_folder() {
    // Without configured roots, LOCAL is refused with a pointer to the setting.
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let dir = tempfile::tempdir().unwrap();
    let query = "mutation($c: JSON!) { createIntegration(input: {title: \"Disk\", provider: LOCAL, config: $c}) { id } }";
    let (code, message, _) =
        failure(&app, &ann, query, json!({ "c": { "root": dir.path() } })).await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("--local-storage-root"), "{message}");

    let allowed = tempfile::tempdir().unwrap();
    std::fs::create_dir(allowed.path().join("media")).unwrap();
    let app = spawn_app_with(allowed_root(allowed.path())).await;
    let ann = app.user("ann@example.com").await;
    for (config, words) in [
        (json!({ "root": dir.path() }), "local storage roots"),
        (
            json!({ "root": allowed.path().join("missing") }),
            "existing directory",
        ),
        (json!({ "root": "media" }), "absolute"),
        (json!({ "root": allowed.path().join("media/../..") }), ".."),
        (json!({}), "root"),
        (
            json!({ "root": allowed.path(), "bucket": "x" }),
            "unknown field",
        ),
    ] {
        let (code, message, _) = failure(&app, &ann, query, json!({ "c": config })).await;
        assert_eq!(code, "BAD_USER_INPUT", "{config}");
        assert!(message.contains(words), "{config}: {message}");
    }
    let (code, message, _) = failure(
        &app,
        &ann,
        "mutation($c: JSON!) { createIntegration(input: {title: \"Disk\", provider: LOCAL, config: $c, credentials: {password: \"pw\"}}) { id } }",
        json!({ "c": { "root": allowed.path().join("media") } }),
    )
    .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert!(message.contains("no credentials"), "{message}");

    let created = create(
        &app,
        &ann,
        "LOCAL",
        json!({ "root": allowed.path().join("media") }),
        Value::Null,
    )
    .await;
    let root = std::fs::canonicalize(allowed.path().join("media")).unwrap();
    assert_eq!(created["provider"], "LOCAL");
    assert_eq!(created["config"], json!({ "root": root }));
    assert_eq!(created["hasCredentials"], false);
    assert_eq!(created["myRole"], "ADMIN");
    assert_eq!(created["createdBy"]["email"], "ann@example.com");
    assert_eq!(
        created["viewerCan"],
        json!({ "view": true, "use": true, "edit": true, "manageCollaborators": true, "delete": true })
    );
    assert_eq!(
        created["collaborators"],
        json!([{ "role": "ADMIN", "user": { "email": "ann@example.com" }, "group": null }])
    );
}

#[tokio::test]
async fn test_integration_reports_reachable_and_unreachable_storage() {
    let allowed = tempfile::tempdir().unwrap();
    let media = allowed.path().join("media");
    std::fs::create_dir(&media).unwrap();
    std::fs::copy(fixtures().join("cfr.mp4"), media.join("cfr.mp4")).unwrap();
    let app = spawn_app_with(allowed_root(allowed.path())).await;
    let ann = app.user("ann@example.com").await;

    // LOCAL: the root is listed; an object is looked up; a missing one is reported.
    let local = create(&app, &ann, "LOCAL", json!({ "root": media }), Value::Null).await;
    let local_id = local["id"].as_str().unwrap();
    let result = test_integration(&app, &ann, local_id, None).await;
    assert_eq!(result["ok"], true, "{result}");
    let result = test_integration(&app, &ann, local_id, Some("cfr.mp4")).await;
    assert_eq!(result["ok"], true, "{result}");
    let size = std::fs::metadata(media.join("cfr.mp4")).unwrap().len();
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains(&size.to_string()),
        "{result}"
    );
    let result = test_integration(&app, &ann, local_id, Some("missing.mp4")).await;
    assert_eq!(result["ok"], false);
    assert!(
        result["message"].as_str().unwrap().contains("not found"),
        "{result}"
    );
    // A URL outside the root is refused as input, not reported as a failure.
    let (code, _, _) = failure(
        &app,
        &ann,
        "mutation($id: ID!) { testIntegration(input: {id: $id, objectUrl: \"../../etc/passwd\"}) { ok } }",
        json!({ "id": local_id }),
    )
    .await;
    assert_eq!(code, "BAD_USER_INPUT");

    // HTTP: a static server answers; with a bearer token only when it is right.
    let (base, _) = static_server(fixtures(), None).await;
    let http = create(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
        Value::Null,
    )
    .await;
    let http_id = http["id"].as_str().unwrap();
    let result = test_integration(&app, &ann, http_id, None).await;
    assert_eq!(result["ok"], true, "{result}");
    let result = test_integration(&app, &ann, http_id, Some(&format!("{base}cfr.mp4"))).await;
    assert_eq!(result["ok"], true, "{result}");

    let (guarded, _) = static_server(fixtures(), Some("open-sesame-token")).await;
    let good = create(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": guarded, "allowHttp": true }),
        json!({ "bearerToken": "open-sesame-token" }),
    )
    .await;
    let result = test_integration(
        &app,
        &ann,
        good["id"].as_str().unwrap(),
        Some(&format!("{guarded}cfr.mp4")),
    )
    .await;
    assert_eq!(result["ok"], true, "{result}");
    let bad = create(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": guarded, "allowHttp": true }),
        json!({ "bearerToken": "wrong-token-value" }),
    )
    .await;
    let result = test_integration(
        &app,
        &ann,
        bad["id"].as_str().unwrap(),
        Some(&format!("{guarded}cfr.mp4")),
    )
    .await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("authentication"),
        "{result}"
    );
    assert!(!result.to_string().contains("wrong-token-value"));

    // Nothing listens: a failure with a message, quickly.
    let closed = closed_port().await;
    let dead = create(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": format!("http://{closed}/"), "allowHttp": true }),
        Value::Null,
    )
    .await;
    let started = std::time::Instant::now();
    let result = test_integration(&app, &ann, dead["id"].as_str().unwrap(), None).await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(!result["message"].as_str().unwrap().is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    // The LOCAL root disappears: reported, not an error.
    std::fs::remove_dir_all(&media).unwrap();
    let result = test_integration(&app, &ann, local_id, None).await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("existing directory"),
        "{result}"
    );
}

#[tokio::test]
async fn credentials_are_write_only_and_never_appear_in_any_response() {
    const KEY_ID: &str = "AKIAEXAMPLEKEYID4242";
    const FIRST: &str = "first-secret-wJalrXUtnFEMI/K7MDENG";
    const SECOND: &str = "second-secret-bPxRfiCYEXAMPLEKEY+z";
    const MISPLACED: &str = "misplaced-secret-0xDEADBEEF";
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let ann = app.user("ann@example.com").await;
    let endpoint = echoing_s3().await;
    let mut responses = Vec::new();

    let created = create(
        &app,
        &ann,
        "S3",
        json!({ "bucket": "farm", "region": "eu-west-1", "endpoint": endpoint, "allowHttp": true, "prefix": "/animals/" }),
        json!({ "accessKeyId": KEY_ID, "secretAccessKey": FIRST }),
    )
    .await;
    responses.push(created.to_string());
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["hasCredentials"], true);
    assert_eq!(
        created["config"],
        json!({ "bucket": "farm", "region": "eu-west-1", "endpoint": format!("{endpoint}/"), "allowHttp": true, "prefix": "animals" })
    );
    assert!(model(&app, &id).await.credentials.is_some());

    let everything = format!(
        "query($id: ID!) {{
            integration(id: $id) {{ {FIELDS} }}
            integrations {{ totalCount nodes {{ {FIELDS} }} }}
            node(id: $id) {{ id ... on Integration {{ config hasCredentials }} }}
        }}"
    );
    let (_, body) = app
        .post(Some(&ann.token), &everything, json!({ "id": id }))
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
    responses.push(body.to_string());
    // The storage echoes the signed request: the message must not carry it.
    let result = test_integration(&app, &ann, &id, None).await;
    assert_eq!(result["ok"], false, "{result}");
    responses.push(result.to_string());
    let result = test_integration(&app, &ann, &id, Some("s3://farm/animals/cow.jpg")).await;
    assert_eq!(result["ok"], false, "{result}");
    responses.push(result.to_string());

    // Replace the credentials; omitting them keeps them; null removes them.
    let update = format!(
        "mutation($id: ID!, $s: JSON) {{ updateIntegration(input: {{id: $id, credentials: $s}}) {{ {FIELDS} }} }}"
    );
    let data = app
        .ok(
            &ann,
            &update,
            json!({ "id": id, "s": { "accessKeyId": KEY_ID, "secretAccessKey": SECOND } }),
        )
        .await;
    responses.push(data.to_string());
    assert!(model(&app, &id)
        .await
        .credentials
        .unwrap()
        .expose()
        .contains(SECOND));
    let data = app
        .ok(
            &ann,
            &format!("mutation($id: ID!) {{ updateIntegration(input: {{id: $id, title: \"Renamed\"}}) {{ {FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["updateIntegration"]["hasCredentials"], true);
    responses.push(data.to_string());
    let (_, body) = app
        .post(Some(&ann.token), &everything, json!({ "id": id }))
        .await;
    responses.push(body.to_string());
    let result = test_integration(&app, &ann, &id, Some("s3://farm/animals/cow.jpg")).await;
    responses.push(result.to_string());

    // Refused credentials are not quoted back.
    for credentials in [
        json!({ "accessKeyId": KEY_ID, "secretAccesKey": MISPLACED }),
        json!({ MISPLACED: "x" }),
        json!(MISPLACED),
    ] {
        let (code, _, body) = failure(
            &app,
            &ann,
            "mutation($id: ID!, $s: JSON) { updateIntegration(input: {id: $id, credentials: $s}) { id } }",
            json!({ "id": id, "s": credentials }),
        )
        .await;
        assert_eq!(code, "BAD_USER_INPUT");
        responses.push(body);
    }
    // Secrets put in the settings are refused too (they would be returned).
    let (code, _, body) = failure(
        &app,
        &ann,
        "mutation($id: ID!, $c: JSON) { updateIntegration(input: {id: $id, config: $c}) { id } }",
        json!({ "id": id, "c": { "bucket": "farm", "secretAccessKey": "x" } }),
    )
    .await;
    assert_eq!(code, "BAD_USER_INPUT");
    responses.push(body);

    // The audit log says what changed, never to what.
    let (_, body) = app
        .post(
            Some(&admin.token),
            "{ auditEvents(first: 100) { nodes { action details } } }",
            json!({}),
        )
        .await;
    assert!(body.to_string().contains("integration.update"), "{body:#}");
    responses.push(body.to_string());

    let data = app.ok(&ann, &update, json!({ "id": id, "s": null })).await;
    assert_eq!(data["updateIntegration"]["hasCredentials"], false);
    assert!(model(&app, &id).await.credentials.is_none());

    for text in &responses {
        for secret in [
            KEY_ID,
            FIRST,
            SECOND,
            MISPLACED,
            "wJalrXUtnFEMI",
            "bPxRfiCYEXAMPLEKEY",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
    // No field of the schema could return them.
    let (_, body) = app
        .post(
            Some(&ann.token),
            "{ __type(name: \"Integration\") { fields { name } } }",
            json!({}),
        )
        .await;
    let fields: Vec<&str> = body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"hasCredentials"));
    assert!(!fields
        .iter()
        .any(|f| *f == "credentials" || f.contains("secret")));
}

#[tokio::test]
async fn integrations_answer_to_their_roles_and_to_workspace_admins() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let owner = app.user("owner@example.com").await;
    let user = app.user("user@example.com").await;
    let member = app.user("member@example.com").await;
    let manager = app.user("manager@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let closed = closed_port().await;
    let created = create(
        &app,
        &owner,
        "HTTP",
        json!({ "baseUrl": format!("http://{closed}/files"), "allowHttp": true }),
        json!({ "headers": { "X-Api-Key": "key-of-the-owner" } }),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.share(&owner, "Integration", &id, &[&user], "USER")
        .await;
    let team = app.group(&admin, "Team").await;
    app.add_members(&admin, &team, &[&member], "MEMBER").await;
    app.add_members(&admin, &team, &[&manager], "MANAGER").await;
    app.share_with_group(&owner, "Integration", &id, &team, "USER")
        .await;

    let view = "query($id: ID!) { integration(id: $id) { myRole viewerCan { view use edit manageCollaborators delete } } integrations { totalCount } }";
    let test = "mutation($id: ID!) { testIntegration(input: {id: $id}) { ok } }";
    let edit =
        "mutation($id: ID!) { updateIntegration(input: {id: $id, title: \"Edited\"}) { title } }";
    let share = "mutation($id: ID!, $u: [ID!]!) { addIntegrationCollaborators(input: {integrationId: $id, userIds: $u, role: USER}) { id } }";
    let delete = "mutation($id: ID!) { deleteIntegration(input: {id: $id}) }";
    let vars = json!({ "id": id });

    // Outsiders and a group's MANAGER: as if it did not exist.
    for who in [&outsider, &manager] {
        let (_, body) = app.post(Some(&who.token), view, vars.clone()).await;
        assert_eq!(body["data"]["integration"], Value::Null);
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
        assert_eq!(body["data"]["integrations"]["totalCount"], 0);
        for mutation in [test, edit, delete] {
            assert_eq!(app.code(who, mutation, vars.clone()).await, "NOT_FOUND");
        }
        assert_eq!(
            app.code(who, share, json!({ "id": id, "u": [who.id] }))
                .await,
            "NOT_FOUND"
        );
    }

    // USER, directly or as a group MEMBER: view and use, nothing more.
    for who in [&user, &member] {
        let data = app.ok(who, view, vars.clone()).await;
        assert_eq!(data["integration"]["myRole"], "USER");
        assert_eq!(
            data["integration"]["viewerCan"],
            json!({ "view": true, "use": true, "edit": false, "manageCollaborators": false, "delete": false })
        );
        assert_eq!(data["integrations"]["totalCount"], 1);
        let result = app.ok(who, test, vars.clone()).await;
        assert_eq!(result["testIntegration"]["ok"], false);
        assert_eq!(app.code(who, edit, vars.clone()).await, "FORBIDDEN");
        assert_eq!(app.code(who, delete, vars.clone()).await, "FORBIDDEN");
        assert_eq!(
            app.code(who, share, json!({ "id": id, "u": [outsider.id] }))
                .await,
            "FORBIDDEN"
        );
    }

    // A workspace ADMIN manages every integration without a role of their own.
    let data = app.ok(&admin, view, vars.clone()).await;
    assert_eq!(data["integration"]["myRole"], Value::Null);
    assert_eq!(
        data["integration"]["viewerCan"],
        json!({ "view": true, "use": true, "edit": true, "manageCollaborators": true, "delete": true })
    );
    assert_eq!(data["integrations"]["totalCount"], 1);
    let data = app.ok(&admin, edit, vars.clone()).await;
    assert_eq!(data["updateIntegration"]["title"], "Edited");
    app.ok(&admin, share, json!({ "id": id, "u": [outsider.id] }))
        .await;
    let data = app.ok(&outsider, view, vars.clone()).await;
    assert_eq!(data["integration"]["myRole"], "USER");
    let data = app
        .ok(
            &admin,
            "query($id: ID!) { node(id: $id) { ... on Integration { title } } }",
            vars.clone(),
        )
        .await;
    assert_eq!(data["node"]["title"], "Edited");
    let data = app.ok(&admin, delete, vars.clone()).await;
    assert_eq!(data["deleteIntegration"], id);
    assert_eq!(app.code(&owner, view, vars.clone()).await, "NOT_FOUND");
    let data = app
        .ok(
            &admin,
            "query($id: ID!) { auditEvents(resourceId: $id) { nodes { action resourceType resourceId } } }",
            vars.clone(),
        )
        .await;
    let actions: Vec<&str> = data["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"integration.delete"), "{actions:?}");
    assert!(data.to_string().contains(&id));
}

#[tokio::test]
async fn integrations_list_filters_and_pages_like_every_list() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    for (who, title) in [
        (&ann, "Farm videos"),
        (&ann, "Farm photos"),
        (&bob, "Bob's bucket"),
    ] {
        app.ok(
            who,
            "mutation($t: String!) { createIntegration(input: {title: $t, provider: S3, config: {bucket: \"b\"}}) { id } }",
            json!({ "t": title }),
        )
        .await;
    }
    let data = app
        .ok(
            &ann,
            "{ all: integrations { totalCount nodes { title } } farm: integrations(search: \"VIDEO\") { nodes { title } } page: integrations(first: 1, orderBy: {field: NAME}) { nodes { title } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["all"]["totalCount"], 2);
    assert_eq!(
        titles(&data["all"]["nodes"]),
        ["Farm photos", "Farm videos"]
    );
    assert_eq!(titles(&data["farm"]["nodes"]), ["Farm videos"]);
    assert_eq!(titles(&data["page"]["nodes"]), ["Farm photos"]);
    assert_eq!(data["page"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn store_objects_read_the_right_bytes_over_local_and_http() {
    let allowed = tempfile::tempdir().unwrap();
    let media = allowed.path().join("media");
    std::fs::create_dir(&media).unwrap();
    for name in ["cfr.mp4", "photo.jpg"] {
        std::fs::copy(fixtures().join(name), media.join(name)).unwrap();
    }
    let app = spawn_app_with(allowed_root(allowed.path())).await;
    let ann = app.user("ann@example.com").await;
    let (base, log) = static_server(fixtures(), None).await;
    let local = create(&app, &ann, "LOCAL", json!({ "root": media }), Value::Null).await;
    let http = create(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
        Value::Null,
    )
    .await;
    let local = model(&app, local["id"].as_str().unwrap()).await;
    let http = model(&app, http["id"].as_str().unwrap()).await;
    let file_url = url::Url::from_file_path(std::fs::canonicalize(&media).unwrap().join("cfr.mp4"))
        .unwrap()
        .to_string();
    let expected = std::fs::read(fixtures().join("cfr.mp4")).unwrap();

    for (integration, url) in [
        (&local, file_url.clone()),
        (&local, "cfr.mp4".to_owned()),
        (&http, format!("{base}cfr.mp4")),
    ] {
        let object = StoreObject::new(
            storage::store(&app.server.state.services.storage, integration).unwrap(),
            storage::object_path(integration, &url).unwrap(),
        );
        assert_eq!(object.len().await.unwrap(), expected.len() as u64, "{url}");
        assert_eq!(object.read_range(0, 16).await.unwrap(), &expected[..16]);
        assert_eq!(
            object.read_range(1000, 1234).await.unwrap(),
            &expected[1000..1234],
            "{url}"
        );
        let tail = expected.len() as u64;
        assert_eq!(
            object.read_range(tail - 7, tail).await.unwrap(),
            &expected[expected.len() - 7..]
        );
        let video = probe(&object, FileKind::Video, &url).await.unwrap();
        assert_eq!(
            (video.width, video.height, video.frame_count),
            (Some(160), Some(120), Some(50)),
            "{url}"
        );
        assert_eq!(video.variable_frame_rate, Some(false));
        assert_eq!(video.size_bytes, expected.len() as u64);
    }
    let photo_url = format!("{base}photo.jpg");
    let photo = StoreObject::new(
        storage::store(&app.server.state.services.storage, &http).unwrap(),
        storage::object_path(&http, &photo_url).unwrap(),
    );
    let image = probe(&photo, FileKind::Image, &photo_url).await.unwrap();
    assert!(image.width.is_some() && image.height.is_some());
    assert_eq!(image.mime_type.as_deref(), Some("image/jpeg"));

    // Only headers and ranges travelled: never a whole-object GET.
    let seen = log.lock().unwrap().clone();
    assert!(seen.iter().any(|s| s.method == "HEAD"), "{seen:?}");
    assert!(
        seen.iter().all(|s| s.method != "GET" || s.range),
        "a GET without a range: {seen:?}"
    );
    assert!(seen.iter().all(|s| s.path.starts_with("/media/")));

    // A missing object is unreachable, not a panic; a foreign one is refused.
    let missing = StoreObject::new(
        storage::store(&app.server.state.services.storage, &http).unwrap(),
        storage::object_path(&http, &format!("{base}missing.mp4")).unwrap(),
    );
    assert!(missing.len().await.is_err());
    assert!(storage::object_path(&http, "http://127.0.0.1:1/media/cfr.mp4").is_err());
    assert!(storage::object_path(&local, "../cfr.mp4").is_err());
}
