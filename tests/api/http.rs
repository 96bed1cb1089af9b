//! `/graphql` as the GraphQL-over-HTTP specification has it: media types,
//! status codes, parameter checks, GET, batches and limits, over raw HTTP.

use clap::Parser;
use reqwest::header::{ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

fn post_raw(app: &TestApp, accept: Option<&str>, body: impl Into<reqwest::Body>) -> RequestBuilder {
    let mut request = app
        .client
        .post(&app.url)
        .header(CONTENT_TYPE, JSON)
        .body(body);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    request
}

fn post_json(app: &TestApp, accept: Option<&str>, body: &Value) -> RequestBuilder {
    post_raw(app, accept, body.to_string())
}

fn get_query(app: &TestApp, accept: &str, params: &[(&str, &str)]) -> RequestBuilder {
    app.client
        .request(Method::GET, &app.url)
        .query(params)
        .header(ACCEPT, accept)
}

/// Status, the essence of the Content-Type and the JSON body.
pub async fn read(response: Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, content_type, body)
}

pub async fn send(request: RequestBuilder) -> (u16, String, Value) {
    read(request.send().await.expect("request sent")).await
}

/// Writes a raw HTTP/1.1 request and reads the answer until the server closes.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.server.addr)
        .await
        .expect("connect");
    stream.write_all(request).await.expect("request written");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("answer read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A refusal: the given status, errors with a code, and no `data`.
fn assert_refused(result: &(u16, String, Value), status: u16, what: &str) {
    let (got, _, body) = result;
    assert_eq!(*got, status, "{what}: {body:#}");
    assert!(body.get("data").is_none(), "{what}: {body:#}");
    assert!(body["errors"][0]["message"].is_string(), "{what}: {body:#}");
    assert!(
        body["errors"][0]["extensions"]["code"].is_string(),
        "{what}: {body:#}"
    );
}

#[tokio::test]
async fn accept_picks_the_response_media_type() {
    let app = spawn_app().await;
    let query = json!({ "query": "{ __typename }" });
    let cases: &[(Option<&str>, &str)] = &[
        (None, JSON),
        (Some(JSON), JSON),
        (Some("application/json; charset=utf-8"), JSON),
        (Some(GRAPHQL_RESPONSE_JSON), GRAPHQL_RESPONSE_JSON),
        (Some("*/*"), JSON),
        (Some("application/*"), JSON),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE_JSON,
        ),
        (
            Some("application/json;q=0.5, application/graphql-response+json"),
            GRAPHQL_RESPONSE_JSON,
        ),
        (
            Some("application/graphql-response+json;q=0.4, application/json;q=0.8"),
            JSON,
        ),
        (Some("text/plain, */*;q=0.1"), JSON),
        (
            Some("application/graphql-response+json, */*;q=0.5"),
            GRAPHQL_RESPONSE_JSON,
        ),
    ];
    for (accept, expected) in cases {
        let (status, content_type, body) = send(post_json(&app, *accept, &query)).await;
        assert_eq!(status, 200, "Accept {accept:?}: {body:#}");
        assert_eq!(content_type, *expected, "Accept {accept:?}");
        assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
    }

    for accept in [
        "text/plain",
        "application/xml, text/csv;q=0.5",
        "application/json;q=0",
        "application/graphql-response+json;q=0, application/json;q=0",
    ] {
        let result = send(post_json(&app, Some(accept), &query)).await;
        assert_refused(&result, 406, accept);
    }
}

#[tokio::test]
async fn post_needs_a_json_content_type() {
    let app = spawn_app().await;
    let body = json!({ "query": "{ __typename }" }).to_string();

    let missing = app.client.post(&app.url).body(body.clone());
    assert_refused(&send(missing).await, 415, "no Content-Type");
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/graphql",
        "application/x-www-form-urlencoded",
        "application/json; charset=iso-8859-1",
    ] {
        let request = app
            .client
            .post(&app.url)
            .header(CONTENT_TYPE, content_type)
            .body(body.clone());
        assert_refused(&send(request).await, 415, content_type);
    }

    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=\"UTF-8\"",
    ] {
        let request = app
            .client
            .post(&app.url)
            .header(CONTENT_TYPE, content_type)
            .body(body.clone());
        let (status, _, body) = send(request).await;
        assert_eq!(status, 200, "{content_type}: {body:#}");
        assert_eq!(body["data"]["__typename"], "Query");
    }
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let app = spawn_app().await;
    let bodies: &[(&str, &str)] = &[
        ("not JSON", r#"{ "not a JSON"#),
        ("empty", ""),
        ("a number", "42"),
        ("a string", r#""{ __typename }""#),
        ("no query", r#"{ "qeury": "{ __typename }" }"#),
        ("query an object", r#"{ "query": { "obj": "ect" } }"#),
        ("query a number", r#"{ "query": 0 }"#),
        ("query a boolean", r#"{ "query": false }"#),
        ("query null", r#"{ "query": null }"#),
        ("query an array", r#"{ "query": ["{ __typename }"] }"#),
        (
            "operationName a number",
            r#"{ "query": "{ __typename }", "operationName": 0 }"#,
        ),
        (
            "operationName an object",
            r#"{ "query": "{ __typename }", "operationName": {} }"#,
        ),
        (
            "variables a string",
            r#"{ "query": "{ __typename }", "variables": "{}" }"#,
        ),
        (
            "variables an array",
            r#"{ "query": "{ __typename }", "variables": [] }"#,
        ),
        (
            "variables a boolean",
            r#"{ "query": "{ __typename }", "variables": false }"#,
        ),
        (
            "extensions a string",
            r#"{ "query": "{ __typename }", "extensions": "x" }"#,
        ),
        (
            "extensions a number",
            r#"{ "query": "{ __typename }", "extensions": 1 }"#,
        ),
        ("an empty batch", "[]"),
        ("a batch of strings", r#"["{ __typename }"]"#),
        (
            "a batch with a bad item",
            r#"[{ "query": "{ __typename }" }, { "query": 1 }]"#,
        ),
    ];
    for accept in [JSON, GRAPHQL_RESPONSE_JSON] {
        for (what, body) in bodies {
            let result = send(post_raw(&app, Some(accept), *body)).await;
            assert_refused(&result, 400, &format!("{what} ({accept})"));
            assert_eq!(result.1, accept, "{what}: the negotiated media type");
            assert_eq!(
                result.2["errors"][0]["extensions"]["code"],
                "BAD_USER_INPUT"
            );
        }
    }

    // Null is as good as absent for the optional parameters.
    let nulls = json!({
        "query": "{ __typename }",
        "operationName": null,
        "variables": null,
        "extensions": null,
    });
    let (status, _, body) = send(post_json(&app, Some(GRAPHQL_RESPONSE_JSON), &nulls)).await;
    assert_eq!(
        (status, body),
        (200, json!({ "data": { "__typename": "Query" } }))
    );
    let maps = json!({
        "query": "query Type($name: String!) { __type(name: $name) { name } }",
        "operationName": "Type",
        "variables": { "name": "Query" },
        "extensions": { "some": "value" },
    });
    let (status, _, body) = send(post_json(&app, Some(GRAPHQL_RESPONSE_JSON), &maps)).await;
    assert_eq!(
        (status, body),
        (200, json!({ "data": { "__type": { "name": "Query" } } }))
    );
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;

    for accept in [JSON, GRAPHQL_RESPONSE_JSON] {
        let (status, content_type, body) =
            send(get_query(&app, accept, &[("query", "{ __typename }")])).await;
        assert_eq!((status, content_type.as_str()), (200, accept), "{body:#}");
        assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
    }

    // Variables and extensions come JSON-encoded; the operation name plain.
    let (status, _, body) = send(get_query(
        &app,
        GRAPHQL_RESPONSE_JSON,
        &[
            ("query", "query A { a: __typename } query Type($name: String!) { __type(name: $name) { name } }"),
            ("operationName", "Type"),
            ("variables", r#"{"name":"Query"}"#),
            ("extensions", r#"{"some":"value"}"#),
        ],
    ))
    .await;
    assert_eq!(
        (status, body),
        (200, json!({ "data": { "__type": { "name": "Query" } } }))
    );

    for (what, params) in [
        (
            "variables not JSON",
            vec![("query", "{ __typename }"), ("variables", "{name")],
        ),
        (
            "variables an array",
            vec![("query", "{ __typename }"), ("variables", "[1]")],
        ),
        (
            "extensions a string",
            vec![("query", "{ __typename }"), ("extensions", "\"x\"")],
        ),
        ("no query", vec![("operationName", "A")]),
        (
            "query twice",
            vec![("query", "{ __typename }"), ("query", "{ __typename }")],
        ),
    ] {
        let result = send(get_query(&app, GRAPHQL_RESPONSE_JSON, &params)).await;
        assert_refused(&result, 400, what);
    }

    // A mutation over GET: 405, Allow: POST, and nothing runs — whichever
    // media type, and also when the operation name selects it.
    let create = "mutation { createFolder(input: { name: \"via GET\" }) { id } }";
    let both =
        "query Q { __typename } mutation M { createFolder(input: { name: \"via GET\" }) { id } }";
    for (accept, params) in [
        (JSON, vec![("query", create)]),
        (GRAPHQL_RESPONSE_JSON, vec![("query", create)]),
        (
            GRAPHQL_RESPONSE_JSON,
            vec![("query", both), ("operationName", "M")],
        ),
    ] {
        let response = get_query(&app, accept, &params)
            .header(AUTHORIZATION, format!("Bearer {}", ann.token))
            .send()
            .await
            .expect("request sent");
        assert_eq!(
            response.headers().get(ALLOW).map(|v| v.to_str().unwrap()),
            Some("POST")
        );
        let result = read(response).await;
        assert_refused(&result, 405, "a mutation over GET");
        assert_eq!(result.1, accept);
    }
    let folders = app
        .ok(&ann, "{ folders(first: 10) { totalCount } }", json!({}))
        .await;
    assert_eq!(folders["folders"]["totalCount"], 0, "no mutation ran");

    // The query of the same document runs.
    let (status, _, body) = send(
        get_query(&app, JSON, &[("query", both), ("operationName", "Q")])
            .header(AUTHORIZATION, format!("Bearer {}", ann.token)),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({ "data": { "__typename": "Query" } }))
    );

    // A browser, or no query string at all, still gets the playground.
    for request in [
        app.client.get(&app.url).header(ACCEPT, "text/html"),
        app.client.get(&app.url),
    ] {
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
    }
}

#[tokio::test]
async fn request_errors_have_no_data_under_graphql_response_json() {
    let app = spawn_app().await;
    let cases = [
        ("a parse error", json!({ "query": "{" })),
        ("a validation error", json!({ "query": "{ noSuchField }" })),
        (
            "a variable coercion error",
            json!({ "query": "query($id: ID!) { __typename }", "variables": { "id": null } }),
        ),
        (
            "an unknown operation",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
        ),
        (
            "no operation chosen",
            json!({ "query": "query A { __typename } query B { __typename }" }),
        ),
        (
            "a subscription",
            json!({ "query": "subscription { __typename }" }),
        ),
    ];
    for (what, request) in &cases {
        let result = send(post_json(&app, Some(GRAPHQL_RESPONSE_JSON), request)).await;
        assert_refused(&result, 400, what);
        assert_eq!(result.1, GRAPHQL_RESPONSE_JSON, "{what}");
        assert_eq!(
            result.2["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{what}"
        );

        // The legacy media type answers the same body with 200.
        let (status, content_type, body) = send(post_json(&app, Some(JSON), request)).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, JSON),
            "{what}: {body:#}"
        );
        assert!(body.get("data").is_none(), "{what}: {body:#}");
        assert_eq!(body["errors"], result.2["errors"], "{what}");
    }

    // A subscription over GET is refused the same way.
    let result = send(get_query(
        &app,
        GRAPHQL_RESPONSE_JSON,
        &[("query", "subscription { __typename }")],
    ))
    .await;
    assert_refused(&result, 400, "a subscription over GET");

    // Once execution starts it is 200 with `data`, even when a field fails.
    for accept in [GRAPHQL_RESPONSE_JSON, JSON] {
        let (status, content_type, body) = send(post_json(
            &app,
            Some(accept),
            &json!({ "query": "{ me { id } }" }),
        ))
        .await;
        assert_eq!((status, content_type.as_str()), (200, accept), "{body:#}");
        assert!(body.get("data").is_some(), "{body:#}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert_eq!(body["errors"][0]["path"], json!(["me"]));
    }
}

#[tokio::test]
async fn a_bad_token_is_401_in_the_negotiated_media_type() {
    let app = spawn_app().await;
    for accept in [GRAPHQL_RESPONSE_JSON, JSON] {
        let response = post_json(&app, Some(accept), &json!({ "query": "{ __typename }" }))
            .header(AUTHORIZATION, "Bearer not-a-token")
            .send()
            .await
            .expect("request sent");
        assert!(response.headers().contains_key(WWW_AUTHENTICATE));
        let result = read(response).await;
        assert_refused(&result, 401, "a bad token");
        assert_eq!(result.1, accept);
        assert_eq!(
            result.2["errors"][0]["extensions"]["code"],
            "UNAUTHENTICATED"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|config| config.max_body_bytes = 1024).await;
    let padded = |size: usize| {
        let query = format!("{{ __typename }}#{}", "x".repeat(size));
        json!({ "query": query })
    };
    let (status, _, body) = send(post_json(&app, None, &padded(900))).await;
    assert_eq!(
        (status, body),
        (200, json!({ "data": { "__typename": "Query" } }))
    );
    for accept in [JSON, GRAPHQL_RESPONSE_JSON] {
        let result = send(post_json(&app, Some(accept), &padded(2000))).await;
        assert_refused(&result, 413, "2 kB over a 1 kB limit");
        assert_eq!(result.1, accept);
    }
    // Without a Content-Length the body is cut off as it streams in: send
    // 1.2 kB of chunks (whitespace is valid JSON) and no end, then read.
    let mut request = b"POST /graphql HTTP/1.1\r\nHost: localhost\r\n\
        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
        Connection: close\r\n\r\n"
        .to_vec();
    for _ in 0..4 {
        request.extend_from_slice(format!("12c\r\n{:300}\r\n", "").as_bytes());
    }
    let answer = raw_exchange(&app, &request).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("\"code\":\"BAD_USER_INPUT\""), "{answer}");

    // The default is 1 MiB.
    let app = spawn_app().await;
    let (status, _, _) = send(post_json(&app, None, &padded(1_000_000))).await;
    assert_eq!(status, 200);
    assert_refused(
        &send(post_json(&app, None, &padded(1_100_000))).await,
        413,
        "over 1 MiB",
    );
}

#[tokio::test]
async fn batches_run_in_order_within_the_limit() {
    let app = spawn_app().await;
    let batch = json!([
        { "query": "{ __typename }" },
        { "query": "{" },
        { "query": "query($n: String!) { __type(name: $n) { name } }", "variables": { "n": "Mutation" } },
    ]);
    for accept in [JSON, GRAPHQL_RESPONSE_JSON] {
        let (status, content_type, body) = send(post_json(&app, Some(accept), &batch)).await;
        assert_eq!((status, content_type.as_str()), (200, accept), "{body:#}");
        let items = body.as_array().expect("an array of responses");
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], json!({ "data": { "__typename": "Query" } }));
        assert!(items[1].get("data").is_none(), "{body:#}");
        assert_eq!(
            items[1]["errors"][0]["extensions"]["code"],
            "BAD_USER_INPUT"
        );
        assert_eq!(
            items[2],
            json!({ "data": { "__type": { "name": "Mutation" } } })
        );
    }

    let batch_of = |n: usize| Value::Array(vec![json!({ "query": "{ __typename }" }); n]);
    let (status, _, body) = send(post_json(&app, None, &batch_of(20))).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().map(Vec::len), Some(20));
    assert_refused(
        &send(post_json(&app, None, &batch_of(21))).await,
        400,
        "21 requests over the default 20",
    );

    let small = spawn_app_with(|config| config.max_batch_size = 2).await;
    let (status, _, _) = send(post_json(&small, None, &batch_of(2))).await;
    assert_eq!(status, 200);
    assert_refused(
        &send(post_json(&small, None, &batch_of(3))).await,
        400,
        "3 requests over a limit of 2",
    );
}

#[test]
fn serve_flags_set_the_limits() {
    use annograph::cli::{Cli, Command};
    let serve = |args: &[&str]| {
        let cli = Cli::try_parse_from(["annograph", "serve"].iter().chain(args))
            .expect("valid arguments");
        match cli.command {
            Command::Serve(args) => (args.max_body_bytes, args.max_batch_size),
            other => panic!("not serve: {other:?}"),
        }
    };
    if std::env::var_os("ANNOGRAPH_MAX_BODY_BYTES").is_none()
        && std::env::var_os("ANNOGRAPH_MAX_BATCH_SIZE").is_none()
    {
        assert_eq!(serve(&[]), (1024 * 1024, 20));
    }
    assert_eq!(
        serve(&["--max-body-bytes", "4096", "--max-batch-size", "5"]),
        (4096, 5)
    );
    for bad in [["--max-batch-size", "0"], ["--max-body-bytes", "-1"]] {
        assert!(Cli::try_parse_from(["annograph", "serve"].iter().chain(&bad)).is_err());
    }
}
