use std::path::PathBuf;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn hs256(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn me_with_header(app: &TestApp, header: &str) -> (u16, Value) {
    let response = app
        .client
        .post(&app.url)
        .header("Authorization", header)
        .json(&json!({ "query": "{ me { email name workspaceRole } }" }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn without_a_token_introspection_works_and_domain_fields_are_unauthenticated() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");

    for query in [
        "{ me { email } }",
        "{ datasets { totalCount } }",
        "{ groups { totalCount } }",
    ] {
        let (_, body) = app.post(None, query, json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{query}: {body}"
        );
    }
    let (_, body) = app
        .post(
            None,
            "mutation { createFolder(input: {name: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_malformed_or_invalid_token_is_a_401_never_a_downgrade() {
    let app = spawn_app().await;
    let expired = hs256(
        json!({ "sub": "a@example.com", "exp": now() - 3600 }),
        SECRET,
    );
    let wrong_key = hs256(
        json!({ "sub": "a@example.com", "exp": now() + 3600 }),
        "some-other-secret-value",
    );
    let no_exp = hs256(json!({ "sub": "a@example.com" }), SECRET);
    for header in [
        "Token abc".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not.a.jwt".to_owned(),
        format!("Bearer {expired}"),
        format!("Bearer {wrong_key}"),
        format!("Bearer {no_exp}"),
    ] {
        let (status, body) = me_with_header(&app, &header).await;
        assert_eq!(status, 401, "{header}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert!(
            body.get("data").is_none(),
            "no data for a refused request: {body}"
        );
    }
}

#[tokio::test]
async fn users_are_provisioned_on_first_request_from_email_or_subject() {
    let app = spawn_app().await;
    let token = hs256(
        json!({ "sub": "idp|123", "email": "Ann@Example.com", "name": "Ann Lee", "exp": now() + 600 }),
        SECRET,
    );
    let (status, body) = me_with_header(&app, &format!("Bearer {token}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["me"],
        json!({ "email": "ann@example.com", "name": "Ann Lee", "workspaceRole": "MEMBER" })
    );

    // Same person again, new name: one user, name kept current.
    let token = hs256(
        json!({ "sub": "idp|123", "email": "ann@example.com", "name": "Ann B. Lee", "exp": now() + 600 }),
        SECRET,
    );
    let (_, body) = me_with_header(&app, &format!("Bearer {token}")).await;
    assert_eq!(body["data"]["me"]["name"], "Ann B. Lee");

    let token = hs256(
        json!({ "sub": "service-account-7", "exp": now() + 600 }),
        SECRET,
    );
    let (_, body) = me_with_header(&app, &format!("Bearer {token}")).await;
    assert_eq!(body["data"]["me"]["email"], "service-account-7");

    let admin = app.workspace_admin("root@example.com").await;
    let data = app.ok(&admin, "{ users { totalCount } }", json!({})).await;
    assert_eq!(data["users"]["totalCount"], 3);
}

#[tokio::test]
async fn identity_provider_tokens_are_verified_with_the_public_key_issuer_and_audience() {
    for (alg, private, public) in [
        (Algorithm::ES256, "es256-private.pem", "es256-public.pem"),
        (Algorithm::RS256, "rs256-private.pem", "rs256-public.pem"),
    ] {
        let public_pem = std::fs::read(fixture(public)).unwrap();
        let app = spawn_app_with(|c| {
            c.auth.public_key_pem = Some(public_pem);
            c.auth.issuer = Some("https://idp.example.com/".into());
            c.auth.audience = Some("annograph".into());
        })
        .await;
        let key_pem = std::fs::read(fixture(private)).unwrap();
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&key_pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&key_pem).unwrap(),
        };
        let sign = |claims: Value| encode(&Header::new(alg), &claims, &key).unwrap();
        let good = sign(
            json!({ "sub": "u1", "email": "idp@example.com", "exp": now() + 600,
                                "iss": "https://idp.example.com/", "aud": "annograph" }),
        );
        let (status, body) = me_with_header(&app, &format!("Bearer {good}")).await;
        assert_eq!(
            (status, &body["data"]["me"]["email"]),
            (200, &json!("idp@example.com")),
            "{alg:?}: {body}"
        );

        let wrong_audience = sign(
            json!({ "sub": "u1", "exp": now() + 600, "iss": "https://idp.example.com/", "aud": "other" }),
        );
        let wrong_issuer = sign(
            json!({ "sub": "u1", "exp": now() + 600, "iss": "https://evil.example.com/", "aud": "annograph" }),
        );
        let hmac = hs256(
            json!({ "sub": "u1", "exp": now() + 600, "iss": "https://idp.example.com/", "aud": "annograph" }),
            SECRET,
        );
        for bad in [wrong_audience, wrong_issuer] {
            let (status, _) = me_with_header(&app, &format!("Bearer {bad}")).await;
            assert_eq!(status, 401, "{alg:?}");
        }
        // The shared secret is configured too, so HS256 tokens with the right claims pass.
        let (status, _) = me_with_header(&app, &format!("Bearer {hmac}")).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn only_configured_algorithms_are_accepted() {
    let public_pem = std::fs::read(fixture("es256-public.pem")).unwrap();
    let app = spawn_app_with(|c| {
        c.auth.secret = None;
        c.auth.public_key_pem = Some(public_pem);
    })
    .await;
    let hmac = hs256(json!({ "sub": "u1", "exp": now() + 600 }), SECRET);
    let (status, body) = me_with_header(&app, &format!("Bearer {hmac}")).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn the_token_command_mints_a_token_the_server_accepts() {
    let app = spawn_app().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_annograph"))
        .args([
            "token",
            "--user",
            "cli@example.com",
            "--name",
            "Cli User",
            "--ttl",
            "10m",
        ])
        .env("ANNOGRAPH_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(
        token.split('.').count(),
        3,
        "only the JWT is printed: {token}"
    );
    let (status, body) = me_with_header(&app, &format!("Bearer {token}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["me"]["name"], "Cli User");
}

#[tokio::test]
async fn engine_errors_carry_a_code_too() {
    let app = spawn_app().await;
    let user = app.user("a@example.com").await;
    let (_, body) = app
        .post(Some(&user.token), "{ me { nope } }", json!({}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let (_, body) = app.post(Some(&user.token), "{ me { ", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
}
