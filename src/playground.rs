//! The GraphQL playground: GraphiQL served from assets embedded in the binary,
//! so it works without internet access (no CDN).
//!
//! The vendored bundles live in `assets/graphiql/` (see `VERSIONS` there and
//! `vendor.sh`, which re-creates them from npm). [`page`] renders the HTML;
//! [`routes`] serves the assets under `/playground/assets/<file>`.
//!
//! The page loads no inline script: its settings travel in a JSON data block
//! (escaped so that no value can close it), read by `playground.js`, and a
//! Content-Security-Policy allows scripts from this origin only.

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Where the playground sends queries and mutations.
pub const ENDPOINT: &str = "/graphql";
/// Where subscriptions go (`graphql-ws`); the page turns it into a
/// `ws://` / `wss://` URL on the host it was loaded from.
pub const SUBSCRIPTION_PATH: &str = "/graphql/ws";
/// The prefix under which [`routes`] serves the embedded assets.
pub const ASSETS_PATH: &str = "/playground/assets";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// Assets are addressed with their content hash (`?v=`), so they never change.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Headers the playground pre-fills in its headers editor, e.g. the demo
/// user's `Authorization` (a JSON object text). Put it in the request
/// extensions (`Router::layer(axum::Extension(..))`) for the page handler.
#[derive(Clone, Debug)]
pub struct DefaultHeaders(pub Arc<str>);

impl DefaultHeaders {
    /// `{"Authorization": "Bearer <token>"}`.
    pub fn bearer(token: &str) -> Self {
        let json = serde_json::json!({ "Authorization": format!("Bearer {token}") });
        Self(json.to_string().into())
    }
}

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        body: include_bytes!("../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        body: include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        body: include_bytes!("../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        body: include_bytes!("../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "playground.js",
        content_type: JS,
        body: PLAYGROUND_JS.as_bytes(),
    },
];

/// Starts GraphiQL with the settings from the page's JSON data block.
const PLAYGROUND_JS: &str = r#"(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  try {
    var config = JSON.parse(document.getElementById('playground-config').textContent);
    var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var fetcher = GraphiQL.createFetcher({
      url: config.endpoint,
      // graphql-ws (bundled in GraphiQL); the headers editor's JSON becomes
      // the connection_init payload.
      subscriptionUrl: scheme + '//' + location.host + config.subscriptionPath
    });
    var props = {
      fetcher: fetcher,
      defaultQuery: config.defaultQuery,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false
    };
    if (typeof config.defaultHeaders === 'string') {
      props.defaultHeaders = config.defaultHeaders;
      props.headers = config.defaultHeaders;
    }
    ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
  } catch (e) {
    root.textContent = 'The playground failed to start: ' + e;
    throw e;
  }
})();
"#;

const DEFAULT_QUERY: &str = "\
# The annograph GraphQL playground. Put your token in
# the Headers tab below, {\"Authorization\": \"Bearer …\"}
# (`annograph token --user EMAIL` prints one), then
# run with Ctrl-Enter.
{
  me {
    email
    name
    workspaceRole
  }
}
";

/// FNV-1a, 64 bits: a stable content hash for ETags and cache busting.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One content hash per entry of [`ASSETS`], computed once.
static HASHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("{:016x}", fnv1a(a.body)))
        .collect()
});

fn find(name: &str) -> Option<(&'static Asset, &'static str)> {
    let i = ASSETS.iter().position(|a| a.name == name)?;
    Some((&ASSETS[i], HASHES[i].as_str()))
}

/// `/playground/assets/<file>?v=<content hash>`.
fn asset_url(name: &str) -> String {
    let (asset, hash) = find(name).expect("a known playground asset");
    format!("{ASSETS_PATH}/{}?v={hash}", asset.name)
}

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` only
/// occur inside JSON strings, where their `\u` escapes mean the same.
fn script_safe_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    for c in value.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The playground page. `default_headers` (a JSON object text such as
/// `{"Authorization": "Bearer …"}`) pre-fills the headers editor; it is
/// pretty-printed when it is valid JSON and shown as given otherwise, and in
/// either case embedded as data, never as markup or code.
pub fn page(default_headers: Option<&str>) -> Html<String> {
    let headers = default_headers.map(|text| {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(serde_json::Value::is_object)
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| text.to_owned())
    });
    let config = serde_json::json!({
        "endpoint": ENDPOINT,
        "subscriptionPath": SUBSCRIPTION_PATH,
        "defaultQuery": DEFAULT_QUERY,
        "defaultHeaders": headers,
    });
    let config = script_safe_json(&config);
    let css = asset_url("graphiql.min.css");
    let react = asset_url("react.production.min.js");
    let react_dom = asset_url("react-dom.production.min.js");
    let graphiql = asset_url("graphiql.min.js");
    let init = asset_url("playground.js");
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'">
<title>annograph · GraphQL playground</title>
<link rel="stylesheet" href="{css}">
<style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
<div id="graphiql">Loading the playground…</div>
<script id="playground-config" type="application/json">{config}</script>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="{init}"></script>
</body>
</html>
"#
    ))
}

/// Serves the embedded assets under `/playground/assets/<file>`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(&format!("{ASSETS_PATH}/{{file}}"), get(asset))
}

async fn asset(Path(file): Path<String>, request_headers: HeaderMap) -> Response {
    let Some((asset, hash)) = find(&file) else {
        return (StatusCode::NOT_FOUND, "no such playground asset").into_response();
    };
    let etag = format!("\"{hash}\"");
    let fresh = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = asset.body.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("a hex ETag"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON data block of a rendered page.
    fn config_of(html: &str) -> serde_json::Value {
        let start = html
            .find(r#"<script id="playground-config" type="application/json">"#)
            .expect("config block");
        let rest = &html[start..];
        let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
        serde_json::from_str(body).expect("config is JSON")
    }

    #[test]
    fn page_loads_nothing_from_elsewhere() {
        let html = page(None).0;
        assert!(!html.contains("http://"), "{html}");
        assert!(!html.contains("https://"), "{html}");
        assert!(!html.contains("//cdn"), "{html}");
        for asset in ASSETS {
            assert!(
                html.contains(&format!("\"{ASSETS_PATH}/{}?v=", asset.name)),
                "{} is not referenced",
                asset.name
            );
        }
        // Every src/href is on this origin, under the assets path (or the
        // empty favicon, which spares the browser a request).
        for attr in ["src=\"", "href=\""] {
            for (i, _) in html.match_indices(attr) {
                let url = &html[i + attr.len()..];
                assert!(
                    url.starts_with(ASSETS_PATH) || url.starts_with("data:,\""),
                    "{}",
                    &url[..40.min(url.len())]
                );
            }
        }
        let config = config_of(&html);
        assert_eq!(config["endpoint"], ENDPOINT);
        assert_eq!(config["subscriptionPath"], SUBSCRIPTION_PATH);
        assert!(config["defaultHeaders"].is_null());
        let query = config["defaultQuery"].as_str().unwrap();
        assert!(query.starts_with('#'));
        assert!(query.contains("me {"));
        assert!(query.contains("workspaceRole"));
        // The init script wires the headers editor and subscriptions.
        assert!(PLAYGROUND_JS.contains("isHeadersEditorEnabled: true"));
        assert!(PLAYGROUND_JS.contains("defaultEditorToolsVisibility: 'headers'"));
        assert!(PLAYGROUND_JS.contains("location.host + config.subscriptionPath"));
        assert!(!PLAYGROUND_JS.contains("http://"));
        assert!(!PLAYGROUND_JS.contains("https://"));
    }

    #[test]
    fn default_headers_prefill_the_editor() {
        let html = page(Some(r#"{"Authorization":"Bearer abc.def-ghi_jkl"}"#)).0;
        let headers = config_of(&html)["defaultHeaders"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            headers, "{\n  \"Authorization\": \"Bearer abc.def-ghi_jkl\"\n}",
            "pretty-printed"
        );
        let headers = DefaultHeaders::bearer("abc.def");
        let parsed: serde_json::Value = serde_json::from_str(&headers.0).unwrap();
        assert_eq!(parsed["Authorization"], "Bearer abc.def");
    }

    #[test]
    fn hostile_default_headers_are_escaped() {
        let hostile = [
            r#"{"Authorization":"</script><script>alert(1)</script>"}"#,
            r#"</script><script>alert(1)</script>"#,
            r#"{"x":"<!--<script>","y":"& \u2028 \u2029 ' \" `"}"#,
            "\"}</script><img src=x onerror=alert(1)>",
        ];
        for value in hostile {
            let html = page(Some(value)).0;
            assert_eq!(html.matches("<script").count(), 5, "{html}");
            assert_eq!(html.matches("</script>").count(), 5, "{html}");
            assert!(!html.contains("alert(1)</script>"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(!html.contains("<!--"), "{html}");
            assert!(!html.contains('\u{2028}'), "{html}");
            // The value survives intact as data.
            let shown = config_of(&html)["defaultHeaders"]
                .as_str()
                .unwrap()
                .to_owned();
            match serde_json::from_str::<serde_json::Value>(value) {
                Ok(v) if v.is_object() => {
                    assert_eq!(
                        serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
                        v
                    )
                }
                _ => assert_eq!(shown, value),
            }
        }
    }

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[tokio::test]
    async fn routes_serve_each_asset() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, routes::<()>()).await });
        let client = reqwest::Client::new();
        let base = format!("http://{addr}");

        for asset in ASSETS {
            let url = format!("{base}{}", asset_url(asset.name));
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{url}");
            let headers = response.headers().clone();
            let expected = if asset.name.ends_with(".css") {
                "text/css; charset=utf-8"
            } else {
                "text/javascript; charset=utf-8"
            };
            assert_eq!(headers[header::CONTENT_TYPE], expected, "{url}");
            assert_eq!(headers[header::CACHE_CONTROL], CACHE_CONTROL);
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let etag = headers[header::ETAG].to_str().unwrap().to_owned();
            assert!(url.ends_with(&format!("?v={}", etag.trim_matches('"'))));
            let body = response.bytes().await.unwrap();
            assert_eq!(&body[..], asset.body, "{url}");
            assert!(body.len() > 1000, "{url}");

            // Revalidation answers 304 without a body.
            let response = client
                .get(&url)
                .header(header::IF_NONE_MATCH, format!("W/\"x\", {etag}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 304, "{url}");
            assert_eq!(response.headers()[header::ETAG], etag.as_str());
            assert!(response.bytes().await.unwrap().is_empty());
        }

        for missing in [
            "nope.js",
            "graphiql.min.js.map",
            "..%2FCargo.toml",
            "graphiql/graphiql.min.js",
            "",
        ] {
            let url = format!("{base}{ASSETS_PATH}/{missing}");
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 404, "{url}");
        }
    }
}
