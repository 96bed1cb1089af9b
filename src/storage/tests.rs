//! Unit tests of settings, credentials, object locations and redaction.

use std::path::Path as FsPath;

use chrono::Utc;
use entity::integration::{self, Credentials};
use sea_orm::IntoActiveModel;
use serde_json::{json, Value};
use url::Url;
use uuid::Uuid;

use super::allow_list::AllowList;
use super::credentials::{parse_credentials, S3Credentials};
use super::location::object_path;
use super::redact::{scrub, without_bodies, MESSAGE_MAX};
use super::settings::{validate_config, Provider};
use crate::error::AppError;

fn model(provider: Provider, config: Value, credentials: Option<Value>) -> integration::Model {
    integration::Model {
        id: Uuid::now_v7(),
        title: "t".into(),
        provider,
        config,
        credentials: credentials.map(|c| Credentials(c.to_string())),
        created_by: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn path(m: &integration::Model, url: &str) -> String {
    object_path(m, url)
        .unwrap_or_else(|e| panic!("{url}: {}", e.public_message()))
        .to_string()
}

fn refused(m: &integration::Model, url: &str) -> String {
    match object_path(m, url) {
        Ok(p) => panic!("{url} was mapped to {p}"),
        Err(AppError::BadUserInput(message)) => message,
        Err(other) => panic!("{url}: {}", other.code()),
    }
}

#[test]
fn s3_urls_map_to_keys_of_the_bucket_and_prefix() {
    let m = model(
        Provider::S3,
        json!({"bucket": "farm", "region": "eu-west-1", "prefix": "animals"}),
        None,
    );
    assert_eq!(path(&m, "s3://farm/animals/cow.jpg"), "animals/cow.jpg");
    assert_eq!(
        path(&m, "s3://farm/animals/a b/c+d.jpg"),
        "animals/a b/c+d.jpg"
    );
    assert_eq!(
        path(
            &m,
            "https://farm.s3.eu-west-1.amazonaws.com/animals/cow%20x.jpg"
        ),
        "animals/cow x.jpg"
    );
    assert_eq!(
        path(
            &m,
            "https://s3.eu-west-1.amazonaws.com/farm/animals/cow.jpg"
        ),
        "animals/cow.jpg"
    );
    assert!(refused(&m, "s3://other/animals/cow.jpg").contains("another bucket"));
    assert!(refused(&m, "s3://farm/plants/rose.jpg").contains("outside the prefix"));
    assert!(refused(&m, "s3://farm/animalsX/cow.jpg").contains("outside the prefix"));
    refused(&m, "s3://farm/animals/../secret.txt");
    refused(&m, "s3://farm/animals//cow.jpg");
    refused(&m, "s3://farm/");
    refused(&m, "gs://farm/animals/cow.jpg");
    refused(&m, "https://example.com/farm/animals/cow.jpg");
    refused(
        &m,
        "https://farm.s3.amazonaws.com/animals/cow.jpg?X-Amz-Signature=abc",
    );

    let minio = model(
        Provider::S3,
        json!({"bucket": "farm", "endpoint": "http://127.0.0.1:9000/", "allowHttp": true}),
        None,
    );
    assert_eq!(
        path(&minio, "http://127.0.0.1:9000/farm/a/b.jpg"),
        "a/b.jpg"
    );
    assert_eq!(path(&minio, "s3://farm/a/b.jpg"), "a/b.jpg");
    refused(&minio, "http://127.0.0.1:9001/farm/a/b.jpg");
    refused(&minio, "http://127.0.0.1:9000/other/a/b.jpg");
}

#[test]
fn gcs_and_azure_urls_map_to_their_bucket_or_container() {
    let gcs = model(Provider::Gcs, json!({"bucket": "farm"}), None);
    assert_eq!(path(&gcs, "gs://farm/x/y.mp4"), "x/y.mp4");
    assert_eq!(
        path(&gcs, "https://storage.googleapis.com/farm/x/y.mp4"),
        "x/y.mp4"
    );
    refused(&gcs, "gs://barn/x/y.mp4");
    refused(&gcs, "s3://farm/x/y.mp4");

    let az = model(
        Provider::Azure,
        json!({"account": "farmdata", "container": "videos"}),
        None,
    );
    assert_eq!(path(&az, "az://videos/2024/cow.mp4"), "2024/cow.mp4");
    assert_eq!(
        path(
            &az,
            "https://farmdata.blob.core.windows.net/videos/2024/cow.mp4"
        ),
        "2024/cow.mp4"
    );
    assert!(refused(
        &az,
        "https://otheraccount.blob.core.windows.net/videos/2024/cow.mp4"
    )
    .contains("another storage account"));
    assert!(refused(&az, "az://photos/cow.jpg").contains("another container"));
}

#[test]
fn http_urls_map_under_the_base_url_only() {
    let m = model(
        Provider::Http,
        json!({"baseUrl": "https://cdn.example.com/media/"}),
        None,
    );
    assert_eq!(
        path(&m, "https://cdn.example.com/media/clips/a%20b.mp4"),
        "clips/a b.mp4"
    );
    refused(&m, "https://cdn.example.com/other/a.mp4");
    refused(&m, "https://cdn.example.com/mediax/a.mp4");
    refused(&m, "https://evil.example.com/media/a.mp4");
    refused(&m, "http://cdn.example.com/media/a.mp4");
    refused(&m, "https://cdn.example.com:8443/media/a.mp4");
    refused(&m, "https://cdn.example.com/media/a%2F..%2F..%2Fetc");
    refused(&m, "https://cdn.example.com/media/%2e%2e/secret");
    refused(&m, "https://cdn.example.com/media/a.mp4?token=1");
    refused(&m, "https://cdn.example.com/media/");
    // The URL parser folds "/media/../x" into "/x", outside the base.
    refused(&m, "https://cdn.example.com/media/../x.mp4");
}

#[test]
fn local_paths_stay_inside_the_root_even_through_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("sub/a b.txt"), "x").unwrap();
    std::fs::write(outside.join("secret.txt"), "s").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("inner")).unwrap();
    }
    let root = std::fs::canonicalize(&root).unwrap();
    let m = model(Provider::Local, json!({"root": root}), None);
    let file_url = Url::from_file_path(root.join("sub/a b.txt")).unwrap();
    assert_eq!(path(&m, file_url.as_str()), "sub/a b.txt");
    assert_eq!(
        path(&m, root.join("sub/a b.txt").to_str().unwrap()),
        "sub/a b.txt"
    );
    assert_eq!(path(&m, "sub/a b.txt"), "sub/a b.txt");
    assert_eq!(path(&m, "sub/not-yet.txt"), "sub/not-yet.txt");
    refused(&m, "../outside/secret.txt");
    refused(&m, "sub/../../outside/secret.txt");
    refused(&m, outside.join("secret.txt").to_str().unwrap());
    refused(
        &m,
        Url::from_file_path(outside.join("secret.txt"))
            .unwrap()
            .as_str(),
    );
    refused(&m, "s3://bucket/sub/a.txt");
    refused(&m, root.to_str().unwrap());
    #[cfg(unix)]
    {
        assert!(refused(&m, "escape/secret.txt").contains("outside"));
        assert!(refused(&m, "escape/new.txt").contains("outside"));
        assert_eq!(path(&m, "inner/a b.txt"), "sub/a b.txt");
    }
    // The store reads the mapped path.
    let local = object_store::local::LocalFileSystem::new_with_prefix(&root).unwrap();
    let mapped = object_path(&m, "sub/a b.txt").unwrap();
    assert_eq!(
        local.path_to_filesystem(&mapped).unwrap(),
        root.join("sub/a b.txt")
    );
}

#[test]
fn settings_are_validated_with_clear_messages() {
    let none = AllowList::default();
    let bad =
        |provider: Provider, config: Value| match validate_config(provider, &config, &[], &none) {
            Err(AppError::BadUserInput(m)) => m,
            Ok(_) => panic!("{config} was accepted"),
            Err(e) => panic!("{}", e.code()),
        };
    assert!(bad(Provider::S3, json!({})).contains("bucket"));
    assert!(bad(Provider::S3, json!({"bucket": "a/b"})).contains("bucket"));
    assert!(
        bad(Provider::S3, json!({"bucket": "b", "secretAccessKey": "x"})).contains("unknown field")
    );
    assert!(bad(
        Provider::S3,
        json!({"bucket": "b", "endpoint": "http://minio:9000"})
    )
    .contains("allowHttp"));
    assert!(bad(
        Provider::Http,
        json!({"baseUrl": "https://user:pw@example.com/"})
    )
    .contains("credentials"));
    assert!(bad(
        Provider::Http,
        json!({"baseUrl": "https://example.com/?sig=1"})
    )
    .contains("query"));
    assert!(bad(Provider::Http, json!({"baseUrl": "ftp://example.com/"})).contains("http"));
    assert!(bad(
        Provider::Azure,
        json!({"account": "Farm", "container": "c"})
    )
    .contains("account"));
    assert!(bad(Provider::Local, json!({"root": "/tmp"})).contains("--local-storage-root"));
    let dir = tempfile::tempdir().unwrap();
    let allowed = [dir.path().to_owned()];
    let other = tempfile::tempdir().unwrap();
    let local =
        |root: &FsPath| validate_config(Provider::Local, &json!({ "root": root }), &allowed, &none);
    assert!(local(dir.path()).is_ok());
    assert!(local(&dir.path().join("missing")).is_err());
    assert!(local(other.path()).is_err());
    assert!(local(FsPath::new("relative/path")).is_err());
    assert!(local(&dir.path().join("../x")).is_err());
    let http = validate_config(
        Provider::Http,
        &json!({"baseUrl": "http://127.0.0.1:8000/files", "allowHttp": true}),
        &[],
        &AllowList::loopback(),
    )
    .unwrap();
    assert_eq!(
        http.to_json(),
        json!({"baseUrl": "http://127.0.0.1:8000/files/", "allowHttp": true})
    );
    // Internal endpoints, however spelled, unless the operator allows them.
    for (provider, config) in [
        (
            Provider::Http,
            json!({"baseUrl": "http://2130706433:8000/", "allowHttp": true}),
        ),
        (
            Provider::S3,
            json!({"bucket": "b", "endpoint": "http://169.254.169.254/", "allowHttp": true}),
        ),
        (
            Provider::Azure,
            json!({"account": "a", "container": "c", "endpoint": "https://[::ffff:10.0.0.1]/"}),
        ),
    ] {
        assert!(bad(provider, config.clone()).contains("--storage-allowed-hosts"));
        let allowed = AllowList::parse(&["127.0.0.0/8", "169.254.0.0/16", "10.0.0.0/8"]).unwrap();
        assert!(validate_config(provider, &config, &[], &allowed).is_ok());
    }
}

#[test]
fn credentials_are_bound_to_where_the_integration_points() {
    let settings = |provider, config: Value| {
        validate_config(provider, &config, &[], &AllowList::default()).unwrap()
    };
    let s3 = settings(Provider::S3, json!({"bucket": "farm"}));
    assert_eq!(
        s3.location(),
        settings(
            Provider::S3,
            json!({"bucket": "farm", "region": "us-east-1", "prefix": "x"})
        )
        .location()
    );
    for moved in [
        json!({"bucket": "barn"}),
        json!({"bucket": "farm", "region": "eu-west-1"}),
        json!({"bucket": "farm", "endpoint": "https://s3.example.com"}),
    ] {
        assert_ne!(s3.location(), settings(Provider::S3, moved).location());
    }
    assert_ne!(
        settings(Provider::Gcs, json!({"bucket": "a"})).location(),
        settings(Provider::Gcs, json!({"bucket": "b"})).location()
    );
    let azure = settings(Provider::Azure, json!({"account": "a", "container": "c"}));
    for moved in [
        json!({"account": "b", "container": "c"}),
        json!({"account": "a", "container": "d"}),
        json!({"account": "a", "container": "c", "endpoint": "https://blob.example.com"}),
    ] {
        assert_ne!(
            azure.location(),
            settings(Provider::Azure, moved).location()
        );
    }
}

#[test]
fn credential_errors_never_quote_what_was_sent() {
    let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
    for (provider, credentials) in [
        (
            Provider::S3,
            json!({ "accessKeyId": "AKIA", "secret": secret }),
        ),
        (Provider::S3, json!({ "accessKeyId": secret })),
        (Provider::S3, json!({ secret: secret })),
        (Provider::Gcs, json!({ "serviceAccountKey": secret })),
        (
            Provider::Azure,
            json!({ "accessKey": secret, "sasToken": secret }),
        ),
        (Provider::Http, json!({ "headers": { "X-Key": [secret] } })),
        (Provider::Local, json!({ "password": secret })),
        (Provider::S3, json!(secret)),
    ] {
        match parse_credentials(provider, &credentials) {
            Err(e) => assert!(
                !e.public_message().contains(secret) && !e.public_message().contains("wJal"),
                "{}",
                e.public_message()
            ),
            Ok(_) => panic!("{credentials} accepted"),
        }
    }
}

#[test]
fn messages_are_scrubbed_of_secrets_and_query_strings() {
    let secrets = vec!["s3cr3t/+=value".to_owned()];
    let text = "Error performing GET https://acct.blob.core.windows.net/c/x?sig=abc%2Bdef&sv=1 in 3ms: token s3cr3t/+=value or s3cr3t%2F%2B%3Dvalue; Credential=AKIA/x, Signature=55908ca302aca5412ca5\naccept";
    let scrubbed = scrub(text, &secrets);
    assert!(!scrubbed.contains("s3cr3t"), "{scrubbed}");
    assert!(!scrubbed.contains("abc%2Bdef"), "{scrubbed}");
    assert!(!scrubbed.contains("55908ca3"), "{scrubbed}");
    assert!(scrubbed.contains("Signature=***\naccept"), "{scrubbed}");
    assert!(scrub(&"x".repeat(5000), &[]).chars().count() <= MESSAGE_MAX + 1);
    assert!(scrubbed.contains("https://acct.blob.core.windows.net/c/x?…"));
}

#[test]
fn response_bodies_are_not_shown_back() {
    let text = "Generic S3 error: Error performing GET http://10.0.0.1/b in 2ms - Server returned non-2xx status code: 403 Forbidden: <?xml?><Error><Code>AccessDenied</Code><Message>internal data</Message></Error>";
    assert_eq!(
        without_bodies(text),
        "Generic S3 error: Error performing GET http://10.0.0.1/b in 2ms - Server returned non-2xx status code: 403 Forbidden (AccessDenied)"
    );
    assert!(!without_bodies("x - Server returned error response: secret page").contains("secret"));
    assert_eq!(without_bodies("plain"), "plain");
}

#[test]
fn models_print_no_credentials() {
    let m = model(
        Provider::S3,
        json!({"bucket": "farm"}),
        Some(json!({"accessKeyId": "AKIA1234", "secretAccessKey": "very-secret-value"})),
    );
    let printed = format!("{m:?} {:?}", m.clone().into_active_model());
    assert!(!printed.contains("very-secret-value"), "{printed}");
    let s3: S3Credentials = serde_json::from_value(
        json!({"accessKeyId": "AKIA1234", "secretAccessKey": "very-secret-value"}),
    )
    .unwrap();
    assert!(!format!("{:?}", s3.secret_access_key).contains("very"));
}
