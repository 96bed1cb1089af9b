//! Operations: `/metrics` in the Prometheus text format, CORS and the flags
//! that configure them.

use clap::Parser;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, ORIGIN,
};
use reqwest::Method;
use serde_json::json;

use annograph::config::Config;

use crate::helpers::{spawn_app, spawn_app_with, TestApp, SECRET};

const ORIGIN_OK: &str = "https://app.example.com";

/// `GET /metrics`: status, Content-Type and body.
async fn scrape(app: &TestApp) -> (u16, String, String) {
    let url = format!("http://{}/metrics", app.server.addr);
    let response = app.client.get(url).send().await.expect("request sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

/// The value of the sample with exactly this name and these labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Runs a named operation, passing its name as `operationName`.
async fn named(app: &TestApp, token: &str, query: &str, name: &str) -> serde_json::Value {
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "operationName": name }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("JSON body")
}

#[tokio::test]
async fn metrics_count_operations_errors_and_statements() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;

    let (status, content_type, text) = scrape(&app).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(text.contains("# TYPE annograph_http_requests_total counter"));
    assert!(text.contains("# TYPE annograph_graphql_request_duration_seconds histogram"));
    assert_eq!(sample(&text, "annograph_active_subscriptions"), Some(0.0));
    assert!(text.contains("# TYPE annograph_import_entries_total counter"));
    assert!(text.contains(&format!(
        "annograph_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(
        sample(
            &text,
            "annograph_http_requests_total{operation=\"MyDatasets\",status=\"200\"}"
        )
        .is_none(),
        "nothing named yet"
    );

    // Named by operationName, twice; named by the document alone, once.
    let query = "query MyDatasets { datasets(first: 5) { totalCount } }";
    for _ in 0..2 {
        let body = named(&app, &alice.token, query, "MyDatasets").await;
        assert_eq!(body["data"]["datasets"]["totalCount"], 0, "{body}");
    }
    app.ok(&alice, "query WhoAmI { me { email } }", json!({}))
        .await;

    // Errors: FORBIDDEN (not a workspace ADMIN) and NOT_FOUND.
    assert_eq!(
        app.code(
            &alice,
            "query Everything { workspaceDatasets { totalCount } }",
            json!({})
        )
        .await,
        "FORBIDDEN"
    );
    let missing = annograph::ids::encode("Dataset", uuid::Uuid::new_v4());
    assert_eq!(
        app.code(
            &alice,
            "query($id: ID!) { dataset(id: $id) { title } }",
            json!({ "id": missing }),
        )
        .await,
        "NOT_FOUND"
    );

    let (_, _, text) = scrape(&app).await;
    let series = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
    assert_eq!(
        series("annograph_http_requests_total{operation=\"MyDatasets\",status=\"200\"}"),
        2.0
    );
    assert_eq!(
        series("annograph_graphql_request_duration_seconds_count{operation=\"MyDatasets\"}"),
        2.0
    );
    assert_eq!(
        series(
            "annograph_graphql_request_duration_seconds_bucket{operation=\"MyDatasets\",le=\"+Inf\"}"
        ),
        2.0
    );
    assert!(
        series("annograph_graphql_request_duration_seconds_sum{operation=\"MyDatasets\"}") > 0.0
    );
    assert_eq!(
        series("annograph_http_requests_total{operation=\"WhoAmI\",status=\"200\"}"),
        1.0
    );
    // `app.user` and the unnamed dataset query are anonymous.
    assert!(series("annograph_http_requests_total{operation=\"anonymous\",status=\"200\"}") >= 2.0);
    assert_eq!(
        series("annograph_graphql_errors_total{code=\"FORBIDDEN\"}"),
        1.0
    );
    assert_eq!(
        series("annograph_graphql_errors_total{code=\"NOT_FOUND\"}"),
        1.0
    );
    assert!(series("annograph_sql_statements_total") > 0.0);
}

#[tokio::test]
async fn metrics_count_refusals_batches_and_bad_tokens() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;

    // A batch counts once, as `batch`; the errors inside it count each.
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(&alice.token)
        .json(&json!([
            { "query": "query A { me { id } }" },
            { "query": "{ workspaceDatasets { totalCount } }" },
        ]))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    // A body that is not JSON: 400, BAD_USER_INPUT.
    let response = app
        .client
        .post(&app.url)
        .header(CONTENT_TYPE, "application/json")
        .body("{")
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 400);
    // A bad token: 401, UNAUTHENTICATED, under the operation's name.
    let response = app
        .client
        .post(&app.url)
        .bearer_auth("not-a-token")
        .json(&json!({ "query": "query Me { me { id } }" }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 401);
    // The playground page is not a GraphQL request.
    let response = app
        .client
        .get(&app.url)
        .header("accept", "text/html")
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);

    let (_, _, text) = scrape(&app).await;
    let series = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
    assert_eq!(
        series("annograph_http_requests_total{operation=\"batch\",status=\"200\"}"),
        1.0
    );
    assert!(!text.contains("operation=\"A\""), "{text}");
    assert_eq!(
        series("annograph_http_requests_total{operation=\"anonymous\",status=\"400\"}"),
        1.0
    );
    assert_eq!(
        series("annograph_http_requests_total{operation=\"Me\",status=\"401\"}"),
        1.0
    );
    assert_eq!(
        series("annograph_graphql_errors_total{code=\"FORBIDDEN\"}"),
        1.0
    );
    assert_eq!(
        series("annograph_graphql_errors_total{code=\"BAD_USER_INPUT\"}"),
        1.0
    );
    assert_eq!(
        series("annograph_graphql_errors_total{code=\"UNAUTHENTICATED\"}"),
        1.0
    );
    // `app.user`'s request and the batch; not the playground page.
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("annograph_http_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 4.0, "{text}");
}

/// A CORS preflight for `POST /graphql` from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, &app.url)
        .header(ORIGIN, origin)
        .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(ACCESS_CONTROL_REQUEST_HEADERS, "content-type,authorization")
        .send()
        .await
        .expect("request sent")
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
}

#[tokio::test]
async fn cors_preflight_is_answered_for_configured_origins() {
    let app = spawn_app_with(|config| {
        config.cors_origins = vec![ORIGIN_OK.into(), "http://localhost:3000".into()]
    })
    .await;

    let response = preflight(&app, ORIGIN_OK).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(ORIGIN_OK)
    );
    let methods = header(&response, ACCESS_CONTROL_ALLOW_METHODS).expect("allow-methods");
    for method in ["get", "post", "options"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = header(&response, ACCESS_CONTROL_ALLOW_HEADERS).expect("allow-headers");
    for name in ["content-type", "authorization", "accept"] {
        assert!(headers.contains(name), "{headers}");
    }

    // The actual request carries the origin too.
    let response = app
        .client
        .post(&app.url)
        .header(ORIGIN, ORIGIN_OK)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some(ORIGIN_OK)
    );

    // Another origin is not allowed.
    let response = preflight(&app, "https://evil.example").await;
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn cors_wildcard_allows_any_origin() {
    let app = spawn_app_with(|config| config.cors_origins = vec!["*".into()]).await;
    let response = preflight(&app, "https://anywhere.example").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN).as_deref(),
        Some("*")
    );
}

#[tokio::test]
async fn no_cors_headers_without_configured_origins() {
    let app = spawn_app().await;
    let response = preflight(&app, ORIGIN_OK).await;
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_METHODS), None);
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_HEADERS), None);
    let response = app
        .client
        .post(&app.url)
        .header(ORIGIN, ORIGIN_OK)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
}

#[tokio::test]
async fn invalid_cors_origins_stop_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("cors.db").display());
    for bad in [
        "app.example.com",
        "https://app.example.com/",
        "*,https://a.example",
    ] {
        let mut config = Config::for_database(&database_url, SECRET);
        config.cors_origins = bad.split(',').map(str::to_owned).collect();
        let error = annograph::app::build(&config)
            .await
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert!(
            format!("{error:#}").contains("ANNOGRAPH_CORS_ORIGINS"),
            "{error:#}"
        );
    }
}

#[test]
fn serve_flag_sets_the_cors_origins() {
    use annograph::cli::{Cli, Command};
    let origins = |args: &[&str]| {
        let cli = Cli::try_parse_from(["annograph", "serve"].iter().chain(args))
            .expect("valid arguments");
        match cli.command {
            Command::Serve(args) => args.cors_origins,
            other => panic!("not serve: {other:?}"),
        }
    };
    if std::env::var_os("ANNOGRAPH_CORS_ORIGINS").is_none() {
        assert!(origins(&[]).is_empty());
    }
    assert_eq!(
        origins(&["--cors-origins", "https://a.example,http://localhost:3000"]),
        ["https://a.example", "http://localhost:3000"]
    );
    assert_eq!(origins(&["--cors-origins", "*"]), ["*"]);
}
