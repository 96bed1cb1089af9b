//! Token rules: `nbf`, required `iss`/`aud`, audience lists, the size limit,
//! identity matching, NUL bytes in claims, JWKS key rotation and demo tokens.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::support::ws::{upgrade_status, ws_url, Answer, Ws};

const ISSUER: &str = "https://idp.example.com/";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `{ me { … } }` with the given bearer token: the status and the body.
async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    let response = app
        .client
        .post(&app.url)
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({ "query": "{ me { email name } }" }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Asserts a 401 with code UNAUTHENTICATED; returns the message.
async fn refused(app: &TestApp, token: &str) -> String {
    let (status, body) = me(app, token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

/// Asserts the token signs in; returns `me`.
async fn accepted(app: &TestApp, token: &str) -> Value {
    let (status, body) = me(app, token).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["me"].clone()
}

/// Sends `connection_init` with the token; returns the close frame's code
/// and reason, or `None` when the server acknowledged.
async fn ws_sign_in(app: &TestApp, token: &str) -> Option<(u16, String)> {
    let mut ws = Ws::connect(app).await;
    ws.send_init(Some(token)).await;
    match ws.answer().await {
        Answer::Message(value) => {
            assert_eq!(value["type"], "connection_ack", "{value}");
            None
        }
        Answer::Closed(code, reason) => Some((code, reason)),
    }
}

/// The status of a WebSocket upgrade carrying the token in its header.
async fn ws_upgrade_status(app: &TestApp, token: &str) -> u16 {
    let header = format!("Bearer {token}");
    upgrade_status(&ws_url(app), Some("graphql-transport-ws"), Some(&header)).await
}

#[tokio::test]
async fn a_token_is_refused_before_its_not_before_time_beyond_the_leeway() {
    let app = spawn_app().await;
    let tomorrow =
        hs256(json!({ "sub": "nbf@example.com", "exp": now() + 2 * 86400, "nbf": now() + 86400 }));
    let message = refused(&app, &tomorrow).await;
    assert!(message.contains("not valid yet"), "{message}");
    // A few seconds of clock skew are forgiven (30 s by default).
    let soon = hs256(json!({ "sub": "nbf@example.com", "exp": now() + 600, "nbf": now() + 10 }));
    accepted(&app, &soon).await;
}

#[tokio::test]
async fn with_an_issuer_and_audience_configured_a_token_must_carry_both() {
    let app = spawn_app_with(|c| {
        c.auth.issuer = Some(ISSUER.into());
        c.auth.audience = Some("annograph".into());
    })
    .await;
    let exp = now() + 600;
    let no_issuer = hs256(json!({ "sub": "u@example.com", "exp": exp, "aud": "annograph" }));
    let no_audience = hs256(json!({ "sub": "u@example.com", "exp": exp, "iss": ISSUER }));
    assert!(refused(&app, &no_issuer).await.contains("iss"));
    assert!(refused(&app, &no_audience).await.contains("aud"));
    let both =
        hs256(json!({ "sub": "u@example.com", "exp": exp, "iss": ISSUER, "aud": "annograph" }));
    assert_eq!(accepted(&app, &both).await["email"], "u@example.com");
}

#[tokio::test]
async fn an_audience_list_naming_annograph_is_accepted_and_one_that_does_not_is_refused() {
    let app = spawn_app_with(|c| c.auth.audience = Some("annograph".into())).await;
    let exp = now() + 600;
    let listed =
        hs256(json!({ "sub": "a@example.com", "exp": exp, "aud": ["account", "annograph"] }));
    assert_eq!(accepted(&app, &listed).await["email"], "a@example.com");
    let others = hs256(json!({ "sub": "a@example.com", "exp": exp, "aud": ["account", "other"] }));
    refused(&app, &others).await;

    // Without a configured audience, a list is no reason to refuse either.
    let open = spawn_app().await;
    let listed = hs256(json!({ "sub": "b@example.com", "exp": exp, "aud": ["x", "y"] }));
    assert_eq!(accepted(&open, &listed).await["email"], "b@example.com");
}

/// A correctly signed token of about `bytes` bytes.
fn token_of_size(bytes: usize) -> String {
    let base = hs256(json!({ "sub": "big@example.com", "exp": now() + 600, "pad": "" }));
    // base64 turns 3 bytes of padding into 4 characters.
    let pad = "x".repeat((bytes.saturating_sub(base.len())) * 3 / 4);
    hs256(json!({ "sub": "big@example.com", "exp": now() + 600, "pad": pad }))
}

#[tokio::test]
async fn tokens_over_8_kib_are_refused_over_http_and_websocket() {
    let app = spawn_app().await;
    let fits = token_of_size(8 * 1024 - 64);
    assert!(fits.len() <= 8 * 1024);
    accepted(&app, &fits).await;

    let big = token_of_size(9 * 1024);
    assert!(big.len() > 8 * 1024);
    let message = refused(&app, &big).await;
    assert!(message.contains("8 KiB"), "{message}");
    // 200 KB of garbage gets the same answer: it is never decoded.
    let huge = format!("{}.{}.{}", "a".repeat(100_000), "b".repeat(100_000), "c");
    assert!(refused(&app, &huge).await.contains("8 KiB"));

    assert_eq!(ws_upgrade_status(&app, &big).await, 401);
    let (code, reason) = ws_sign_in(&app, &big).await.expect("refused");
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("8 KiB"), "{reason}");
    assert_eq!(ws_sign_in(&app, &fits).await, None);
}

#[tokio::test]
async fn a_kelvin_sign_does_not_sign_in_as_kate() {
    let app = spawn_app().await;
    let kate = app.user("kate@example.com").await;
    let exp = now() + 600;
    for lookalike in [
        "\u{212A}ate@example.com",
        "\u{FF4B}ate@example.com",
        "ka\u{0301}te@example.com",
    ] {
        let token = hs256(json!({ "sub": "idp|evil", "email": lookalike, "exp": exp }));
        let (status, body) = me(&app, &token).await;
        assert_ne!(
            body["data"]["me"]["email"], "kate@example.com",
            "{lookalike}: {body}"
        );
        assert_eq!(status, 401, "{lookalike}: {body}");
    }
    // ASCII case does not matter.
    let token = hs256(json!({ "sub": "idp|kate", "email": "KATE@Example.COM", "exp": exp }));
    assert_eq!(accepted(&app, &token).await["email"], kate.email);
    // A name outside ASCII, in NFKC form, is an identity of its own.
    let token = hs256(json!({ "sub": "idp|jose", "email": "jos\u{e9}@example.com", "exp": exp }));
    assert_eq!(
        accepted(&app, &token).await["email"],
        "jos\u{e9}@example.com"
    );
}

#[tokio::test]
async fn an_unverified_email_never_reaches_an_existing_account() {
    let app = spawn_app().await;
    app.user("kate@example.com").await;
    let exp = now() + 600;
    let unverified = hs256(
        json!({ "sub": "idp|x", "email": "kate@example.com", "email_verified": false, "exp": exp }),
    );
    let message = refused(&app, &unverified).await;
    assert!(message.contains("not verified"), "{message}");
    // Nor does it create one.
    let stranger = hs256(
        json!({ "sub": "idp|y", "email": "new@example.com", "email_verified": false, "exp": exp }),
    );
    refused(&app, &stranger).await;
    let admin = app.workspace_admin("root@example.com").await;
    let data = app
        .ok(
            &admin,
            "{ users(search: \"new@\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["users"]["totalCount"], 0);

    let verified = hs256(
        json!({ "sub": "idp|x", "email": "kate@example.com", "email_verified": true, "exp": exp }),
    );
    assert_eq!(accepted(&app, &verified).await["email"], "kate@example.com");
}

#[tokio::test]
async fn a_name_claim_is_cut_to_200_characters() {
    let app = spawn_app().await;
    let name = "\u{e9}".repeat(500);
    let token = hs256(json!({ "sub": "long@example.com", "name": name, "exp": now() + 600 }));
    let me = accepted(&app, &token).await;
    assert_eq!(me["name"].as_str().unwrap().chars().count(), 200);
}

#[tokio::test]
async fn a_nul_byte_in_any_claim_is_a_401() {
    let app = spawn_app().await;
    let exp = now() + 600;
    for claims in [
        json!({ "sub": "a\u{0}b", "exp": exp }),
        json!({ "sub": "idp|1", "email": "nul\u{0}@example.com", "exp": exp }),
        json!({ "sub": "nul@example.com", "name": "Nul\u{0}", "exp": exp }),
        json!({ "sub": "nul@example.com", "iss": "https://idp\u{0}/", "exp": exp }),
        json!({ "sub": "nul@example.com", "aud": ["a\u{0}"], "exp": exp }),
    ] {
        let message = refused(&app, &hs256(claims.clone())).await;
        assert!(message.contains("NUL"), "{claims}: {message}");
    }
    let (status, _) = me(
        &app,
        &hs256(json!({ "sub": "nul@example.com", "exp": exp })),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_clock_skew_leeway_is_configurable() {
    let strict = spawn_app_with(|c| c.auth.leeway = Duration::ZERO).await;
    let lenient = spawn_app().await;
    let early = hs256(json!({ "sub": "skew@example.com", "exp": now() + 600, "nbf": now() + 10 }));
    let late = hs256(json!({ "sub": "skew@example.com", "exp": now() - 10 }));
    for token in [&early, &late] {
        refused(&strict, token).await;
        accepted(&lenient, token).await;
    }
}

#[tokio::test]
async fn a_token_accepted_before_is_refused_once_it_expires() {
    // Verified tokens are kept between requests; their time claims are
    // read again on each one.
    let app = spawn_app_with(|c| c.auth.leeway = Duration::ZERO).await;
    let exp = now() + 2;
    let token = hs256(json!({ "sub": "brief@example.com", "exp": exp }));
    for _ in 0..2 {
        accepted(&app, &token).await;
    }
    while now() <= exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = refused(&app, &token).await;
    assert!(message.contains("expired"), "{message}");
}

// JWKS: keys of an identity provider served by the test on loopback.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jsonwebtoken::jwk::Jwk;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A signing key of the test identity provider and its public JWK.
struct IdpKey {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

impl IdpKey {
    fn new(file: &str, alg: Algorithm, kid: &'static str) -> IdpKey {
        let pem = std::fs::read(fixture(file)).unwrap();
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        let mut jwk = serde_json::to_value(jwk).unwrap();
        // Not every provider says `alg`: the key type and curve imply it.
        if alg == Algorithm::EdDSA {
            jwk.as_object_mut().unwrap().remove("alg");
        }
        IdpKey { kid, alg, key, jwk }
    }

    fn sign_with_kid(&self, kid: Option<&str>, email: &str) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        let claims = json!({ "sub": format!("idp|{email}"), "email": email, "exp": now() + 600,
                             "iss": ISSUER, "aud": ["annograph", "account"] });
        encode(&header, &claims, &self.key).unwrap()
    }

    fn sign(&self, email: &str) -> String {
        self.sign_with_kid(Some(self.kid), email)
    }
}

fn es1() -> IdpKey {
    IdpKey::new("es256-private.pem", Algorithm::ES256, "es-1")
}
fn es2() -> IdpKey {
    IdpKey::new("es256-second-private.pem", Algorithm::ES256, "es-2")
}
fn ed1() -> IdpKey {
    IdpKey::new("ed25519-private.pem", Algorithm::EdDSA, "ed-1")
}
fn rs1() -> IdpKey {
    IdpKey::new("rs256-private.pem", Algorithm::RS256, "rs-1")
}

/// A JWKS endpoint whose keys the test changes while servers run.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: &[&IdpKey]) -> JwksServer {
        let served = Arc::new(Mutex::new(Vec::new()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (state, count) = (served.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let keys = state.lock().unwrap().clone();
                count.fetch_add(1, Ordering::SeqCst);
                async move { axum::Json(json!({ "keys": keys })) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let server = JwksServer {
            url,
            keys: served,
            fetches,
        };
        server.publish(keys);
        server
    }

    fn publish(&self, keys: &[&IdpKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A server that trusts only this JWKS (no shared secret).
    async fn app(&self, refresh_every: Duration, min_refetch: Duration) -> TestApp {
        let url = self.url.clone();
        spawn_app_with(move |c| {
            c.auth.secret = None;
            c.auth.jwks_url = Some(url);
            c.auth.jwks.refresh_every = refresh_every;
            c.auth.jwks.min_refetch = min_refetch;
            c.auth.issuer = Some(ISSUER.into());
            c.auth.audience = Some("annograph".into());
        })
        .await
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn identity_provider_keys_come_from_the_jwks_url_in_rs256_es256_and_eddsa() {
    let (es1, ed1, rs1) = (es1(), ed1(), rs1());
    let jwks = JwksServer::start(&[&es1, &ed1, &rs1]).await;
    let app = jwks.app(HOUR, HOUR).await;
    assert_eq!(jwks.fetches(), 1, "fetched once at start");
    for key in [&es1, &ed1, &rs1] {
        let email = format!("{}@example.com", key.kid);
        assert_eq!(accepted(&app, &key.sign(&email)).await["email"], email);
    }
    // Several keys: a token must say which.
    let message = refused(&app, &es1.sign_with_kid(None, "nokid@example.com")).await;
    assert!(message.contains("kid"), "{message}");
    // A key is used only with its own algorithm.
    refused(&app, &es1.sign_with_kid(Some("rs-1"), "mixed@example.com")).await;
    // The shared secret is not configured: HS256 is refused.
    refused(
        &app,
        &hs256(json!({ "sub": "h@example.com", "exp": now() + 600 })),
    )
    .await;

    // One key: no `kid` needed.
    let single = JwksServer::start(&[&ed1]).await;
    let app = single.app(HOUR, HOUR).await;
    accepted(&app, &ed1.sign_with_kid(None, "single@example.com")).await;
}

#[tokio::test]
async fn a_new_key_is_fetched_when_a_token_names_it_at_most_once_per_interval() {
    let (es1, es2) = (es1(), es2());
    let jwks = JwksServer::start(&[&es1]).await;
    let app = jwks.app(HOUR, Duration::from_secs(2)).await;
    assert_eq!(jwks.fetches(), 1);

    // The provider rotates in a new key; tokens naming it arrive at once.
    jwks.publish(&[&es1, &es2]);
    let message = refused(&app, &es2.sign("new@example.com")).await;
    assert!(message.contains("es-2"), "{message}");
    refused(&app, &es2.sign("new@example.com")).await;
    assert_eq!(
        jwks.fetches(),
        1,
        "the start fetch was too recent to fetch again"
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        accepted(&app, &es2.sign("new@example.com")).await["email"],
        "new@example.com"
    );
    assert_eq!(jwks.fetches(), 2, "one fetch for the unknown key");
    // Garbage `kid`s do not hammer the provider.
    for _ in 0..5 {
        refused(&app, &es2.sign_with_kid(Some("nope"), "x@example.com")).await;
    }
    assert_eq!(jwks.fetches(), 2);
}

#[tokio::test]
async fn keys_rotate_while_the_server_runs() {
    let (es1, es2, ed1) = (es1(), es2(), ed1());
    let jwks = JwksServer::start(&[&es1, &ed1]).await;
    let app = jwks.app(Duration::from_millis(500), Duration::ZERO).await;
    // One token, sent again and again as a client would (verified tokens
    // are kept between requests).
    let old = es1.sign("old@example.com");
    accepted(&app, &old).await;
    accepted(&app, &old).await;

    // A new key appears: accepted after the refresh its `kid` causes.
    jwks.publish(&[&es1, &ed1, &es2]);
    accepted(&app, &es2.sign("new@example.com")).await;

    // The old key is retired: refused after the next periodic refresh.
    jwks.publish(&[&ed1, &es2]);
    let before = jwks.fetches();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = me(&app, &old).await;
        if status == 401 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retired key still works"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(jwks.fetches() > before);
    accepted(&app, &es2.sign("new@example.com")).await;
    accepted(&app, &ed1.sign("ed@example.com")).await;
}

// `--demo`.

#[tokio::test]
async fn demo_mode_refuses_a_non_loopback_address_unless_allowed() {
    let (database_url, _dir) = fresh_database().await;
    let mut config = annograph::config::Config::for_database(&database_url, SECRET);
    config.demo = true;
    config.listen = "0.0.0.0:0".parse().unwrap();
    let error = match annograph::app::build(&config).await {
        Ok(_) => panic!("a demo on 0.0.0.0 must not start"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("--demo-allow-remote"), "{error}");

    config.demo_allow_remote = true;
    annograph::app::build(&config).await.expect("allowed");
    config.demo_allow_remote = false;
    config.listen = "[::1]:0".parse().unwrap();
    annograph::app::build(&config).await.expect("loopback");
}

/// The token the playground page of a demo server pre-fills.
async fn playground_token(app: &TestApp) -> String {
    let page = app
        .client
        .get(&app.url)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("Bearer ").expect("a pre-filled token") + "Bearer ".len();
    page[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

#[tokio::test]
async fn the_demo_token_is_accepted_only_by_the_demo_process_that_made_it() {
    let demo = spawn_app_with(|c| c.demo = true).await;
    let token = playground_token(&demo).await;
    let (status, body) = demo
        .post(Some(&token), "{ me { email workspaceRole } }", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["me"],
        json!({ "email": "alice@example.com", "workspaceRole": "ADMIN" })
    );

    // Not signed with the configured secret...
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let real = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()).unwrap();
    assert!(jsonwebtoken::decode::<Value>(&token, &real, &validation).is_err());
    // ...so a server on the same database and secret refuses it,
    let other = spawn_app_beside(&demo).await;
    refused(&other, &token).await;
    // and so does the next demo process.
    let next = spawn_app_with(|c| c.demo = true).await;
    refused(&next, &token).await;
    // Ordinary tokens still work in demo mode.
    let bob = hs256(json!({ "sub": "bob@example.com", "exp": now() + 600 }));
    accepted(&demo, &bob).await;
}
