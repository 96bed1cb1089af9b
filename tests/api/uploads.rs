//! File uploads: the GraphQL multipart request on `POST /graphql`, its
//! limits and its refusals, over real HTTP.

use reqwest::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::http::{read, send};
use crate::imports::{finished, integration, media_root, mirrored_dataset};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const BOUNDARY: &str = "annograph-test-boundary";

/// A query whose variable a file can land in: the upload reads as a string,
/// and no type has that name.
const TAKES_F: &str = "query Upload($f: String!) { __type(name: $f) { name } }";

/// A form with `operations`, `map` and one CSV file per name.
fn form(operations: &Value, map: &Value, files: &[(&str, &[u8])]) -> Form {
    let mut form = Form::new()
        .text("operations", operations.to_string())
        .text("map", map.to_string());
    for (name, content) in files {
        let part = Part::bytes(content.to_vec())
            .file_name(format!("{name}.csv"))
            .mime_str("text/csv")
            .expect("a MIME type");
        form = form.part(name.to_string(), part);
    }
    form
}

/// A multipart body written by hand, for what a form cannot get wrong:
/// fields as (name, filename, content).
fn raw_body(fields: &[(&str, Option<&str>, &str)]) -> String {
    let mut body = String::new();
    for (name, filename, content) in fields {
        let filename = filename.map_or(String::new(), |f| format!("; filename=\"{f}\""));
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    body
}

fn post_raw(
    app: &TestApp,
    token: &str,
    accept: &str,
    content_type: &str,
    body: String,
) -> RequestBuilder {
    app.client
        .post(&app.url)
        .bearer_auth(token)
        .header(ACCEPT, accept)
        .header(CONTENT_TYPE, content_type)
        .body(body)
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A refusal by the transport: the status, `BAD_USER_INPUT`, no `data`, and
/// a message that says why.
fn assert_refused(result: &(u16, String, Value), status: u16, why: &str) {
    let (got, _, body) = result;
    assert_eq!(*got, status, "{why}: {body:#}");
    assert!(body.get("data").is_none(), "{why}: {body:#}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{why}: {body:#}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "{why:?} not in {message:?}");
}

#[tokio::test]
async fn files_land_in_the_variables_their_map_names() {
    let app = spawn_app().await;
    let token = app.user("uploader@example.com").await.token;

    // One request, one file; the variable holds the upload, the query runs.
    let operations = json!({ "query": TAKES_F, "variables": { "f": null } });
    let map = json!({ "0": ["variables.f"] });
    let upload = form(&operations, &map, &[("0", b"objectUrl\nfile:///x/a.png\n")]);
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .multipart(upload),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "data": { "__type": null } })));

    // No files at all is a request like any other.
    let plain = form(&json!({ "query": "{ __typename }" }), &json!({}), &[]);
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .multipart(plain),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({ "data": { "__typename": "Query" } }))
    );

    // A batch addresses its requests by index.
    let batch = json!([
        { "query": "{ __typename }" },
        { "query": TAKES_F, "variables": { "f": null } },
    ]);
    let upload = form(&batch, &json!({ "a": ["1.variables.f"] }), &[("a", b"x")]);
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .header(ACCEPT, GRAPHQL_RESPONSE_JSON)
            .multipart(upload),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!([
                { "data": { "__typename": "Query" } },
                { "data": { "__type": null } },
            ])
        )
    );
}

#[tokio::test]
async fn an_uploaded_manifest_becomes_an_import_job() {
    let (allowed, media) = media_root(&["image.png"]);
    let root = allowed.path().to_owned();
    let app = spawn_app_with(move |config| config.local_roots = vec![root]).await;
    let ann = app.user("ann@example.com").await;
    let (dataset, _) = mirrored_dataset(&app, &ann).await;
    let storage = integration(&app, &ann, "LOCAL", json!({ "root": media })).await;

    let manifest = format!("objectUrl\nfile://{}/image.png\n", media.display());
    let operations = json!({
        "query": "mutation($input: ImportFromCloudInput!) { importFromCloud(input: $input) { id total } }",
        "variables": { "input": { "datasetId": dataset, "integrationId": storage, "file": null } },
    });
    let map = json!({ "0": ["variables.input.file"] });
    let upload = form(&operations, &map, &[("0", manifest.as_bytes())]);
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .bearer_auth(&ann.token)
            .multipart(upload),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    let job = &body["data"]["importFromCloud"];
    assert_eq!(job["total"], 1, "{body:#}");

    let job = finished(&app, &ann, job["id"].as_str().unwrap()).await;
    assert_eq!(
        (&job["status"], &job["succeeded"]),
        (&json!("SUCCEEDED"), &json!(1)),
        "{job:#}"
    );
}

#[tokio::test]
async fn malformed_multipart_requests_are_400() {
    let app = spawn_app().await;
    let token = app.user("uploader@example.com").await.token;
    let operations = json!({ "query": TAKES_F, "variables": { "f": null } }).to_string();
    let ops = operations.as_str();
    let map = r#"{"0":["variables.f"]}"#;
    let file = ("0", Some("m.csv"), "objectUrl\n");
    let cases: Vec<(&str, String, String)> = vec![
        ("no `operations` field", multipart_type(), raw_body(&[])),
        (
            "must start with the `operations` field",
            multipart_type(),
            raw_body(&[("map", None, map), file]),
        ),
        (
            "the `operations` field is not valid JSON",
            multipart_type(),
            raw_body(&[("operations", None, "{"), ("map", None, map), file]),
        ),
        (
            "`query` must be a string",
            multipart_type(),
            raw_body(&[("operations", None, r#"{"query":1}"#), ("map", None, "{}")]),
        ),
        (
            "no `map` field",
            multipart_type(),
            raw_body(&[("operations", None, ops)]),
        ),
        (
            "`map` is not valid JSON",
            multipart_type(),
            raw_body(&[("operations", None, ops), ("map", None, "{\"0\":"), file]),
        ),
        (
            "`map` must be a JSON object",
            multipart_type(),
            raw_body(&[("operations", None, ops), ("map", None, "[\"0\"]"), file]),
        ),
        (
            "points at nothing in `operations`",
            multipart_type(),
            raw_body(&[
                ("operations", None, ops),
                ("map", None, r#"{"0":["variables.nothing"]}"#),
                file,
            ]),
        ),
        (
            "`map` names the file `0`, which the request does not carry",
            multipart_type(),
            raw_body(&[("operations", None, ops), ("map", None, map)]),
        ),
        (
            "the multipart field `1` is not a file named in `map`",
            multipart_type(),
            raw_body(&[
                ("operations", None, ops),
                ("map", None, map),
                file,
                ("1", Some("x"), "y"),
            ]),
        ),
        (
            "no part that opens with the boundary",
            "multipart/form-data; boundary=another-boundary".to_owned(),
            raw_body(&[("operations", None, ops), ("map", None, map), file]),
        ),
        (
            "needs a boundary",
            "multipart/form-data".to_owned(),
            raw_body(&[("operations", None, ops), ("map", None, map), file]),
        ),
    ];
    for accept in [JSON, GRAPHQL_RESPONSE_JSON] {
        for (why, content_type, body) in &cases {
            let result = send(post_raw(&app, &token, accept, content_type, body.clone())).await;
            assert_refused(&result, 400, why);
            assert_eq!(result.1, accept, "{why}: the negotiated media type");
        }
    }
}

#[tokio::test]
async fn files_over_the_upload_limit_are_413() {
    let app = spawn_app_with(|config| {
        config.max_upload_bytes = 1024;
        config.max_body_bytes = 2048;
    })
    .await;
    let token = app.user("uploader@example.com").await.token;
    let operations = json!({ "query": TAKES_F, "variables": { "f": null } });
    let map = json!({ "0": ["variables.f"] });

    let fits = form(&operations, &map, &[("0", &[b'x'; 1024])]);
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .multipart(fits),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "data": { "__type": null } })));

    for accept in [JSON, GRAPHQL_RESPONSE_JSON] {
        let over = form(&operations, &map, &[("0", &[b'x'; 1025])]);
        let request = app
            .client
            .post(&app.url)
            .bearer_auth(&token)
            .header(ACCEPT, accept);
        let result = send(request.multipart(over)).await;
        assert_refused(&result, 413, "the file `0` is larger than 1024 bytes");
        assert_eq!(result.1, accept);
    }

    // The rest of the request stays within `max_body_bytes`.
    let padded = json!({
        "query": format!("{TAKES_F}#{}", "x".repeat(2048)),
        "variables": { "f": null },
    });
    let result = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .multipart(form(&padded, &map, &[("0", b"x")])),
    )
    .await;
    assert_refused(&result, 413, "larger than 2048 bytes without its files");
}

#[tokio::test]
async fn a_request_carries_at_most_four_files() {
    let app = spawn_app().await;
    let token = app.user("uploader@example.com").await.token;
    // `n` files, each in a variable of its own.
    let upload = |n: usize| {
        let names: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
        let declared: Vec<String> = names.iter().map(|v| format!("${v}: String!")).collect();
        let selected: Vec<String> = names
            .iter()
            .map(|v| format!("{v}: __type(name: ${v}) {{ name }}"))
            .collect();
        let query = format!(
            "query Upload({}) {{ {} }}",
            declared.join(", "),
            selected.join(" ")
        );
        let variables: serde_json::Map<String, Value> =
            names.iter().map(|v| (v.clone(), Value::Null)).collect();
        let map: serde_json::Map<String, Value> = names
            .iter()
            .map(|v| (v.clone(), json!([format!("variables.{v}")])))
            .collect();
        let files: Vec<(&str, &[u8])> = names.iter().map(|v| (v.as_str(), &b"x"[..])).collect();
        form(
            &json!({ "query": query, "variables": variables }),
            &Value::Object(map),
            &files,
        )
    };
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .multipart(upload(4)),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body,
        json!({ "data": { "f0": null, "f1": null, "f2": null, "f3": null } })
    );
    let result = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .multipart(upload(5)),
    )
    .await;
    assert_refused(&result, 400, "at most 4 files, this `map` names 5");
}

#[tokio::test]
async fn uploads_follow_the_rules_of_json_requests() {
    let app = spawn_app_with(|config| config.max_batch_size = 2).await;
    let token = app.user("uploader@example.com").await.token;
    let map = json!({});

    // The batch limit.
    let batch = Value::Array(vec![json!({ "query": "{ __typename }" }); 3]);
    let result = send(app.client.post(&app.url).multipart(form(&batch, &map, &[]))).await;
    assert_refused(&result, 400, "a batch may hold at most 2 requests");

    // A bad token is a 401 before the body is read; without one, a request
    // is anonymous and may carry no file.
    let with_file = form(
        &json!({ "query": TAKES_F, "variables": { "f": null } }),
        &json!({ "0": ["variables.f"] }),
        &[("0", b"x")],
    );
    let (status, _, body) = send(app.client.post(&app.url).multipart(with_file)).await;
    assert_eq!(status, 401, "{body:#}");
    assert_eq!(body["errors"][0]["message"], "sign in to upload files");
    let me = json!({ "query": "query Me { me { id } }" });
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .bearer_auth("not-a-token")
            .multipart(form(&me, &map, &[])),
    )
    .await;
    assert_eq!(status, 401, "{body:#}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    // Request errors keep their status per media type.
    let broken = json!({ "query": "{" });
    for (accept, expected) in [(JSON, 200), (GRAPHQL_RESPONSE_JSON, 400)] {
        let (status, _, body) = send(
            app.client
                .post(&app.url)
                .header(ACCEPT, accept)
                .multipart(form(&broken, &map, &[])),
        )
        .await;
        assert_eq!(status, expected, "{accept}: {body:#}");
        assert!(body.get("data").is_none(), "{body:#}");
    }

    // An unknown persisted query asks for its text, as over JSON.
    let persisted = json!({ "extensions": { "persistedQuery": {
        "version": 1,
        "sha256Hash": "0".repeat(64),
    } } });
    let (status, _, body) = send(
        app.client
            .post(&app.url)
            .multipart(form(&persisted, &map, &[])),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{body:#}"
    );

    // Counted in the metrics under the operation's name.
    let upload = form(
        &json!({ "query": TAKES_F, "variables": { "f": null } }),
        &json!({ "0": ["variables.f"] }),
        &[("0", b"x")],
    );
    let (status, _, _) = send(
        app.client
            .post(&app.url)
            .bearer_auth(&token)
            .multipart(upload),
    )
    .await;
    assert_eq!(status, 200);
    let metrics = app
        .client
        .get(format!("http://{}/metrics", app.server.addr))
        .send()
        .await
        .expect("request sent")
        .text()
        .await
        .expect("body");
    assert!(
        metrics.contains("annograph_http_requests_total{operation=\"Upload\",status=\"200\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn get_refuses_multipart() {
    let app = spawn_app().await;
    let upload = || {
        form(
            &json!({ "query": TAKES_F, "variables": { "f": null } }),
            &json!({ "0": ["variables.f"] }),
            &[("0", b"x")],
        )
    };
    for request in [
        app.client.get(&app.url).multipart(upload()),
        app.client
            .get(&app.url)
            .query(&[("query", "{ __typename }")])
            .multipart(upload()),
    ] {
        let response = request.send().await.expect("request sent");
        assert_eq!(
            response.headers().get(ALLOW).map(|v| v.to_str().unwrap()),
            Some("POST")
        );
        assert_refused(&read(response).await, 405, "must be sent with POST");
    }
}
