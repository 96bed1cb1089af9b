//! Many people writing at the same moment: on SQLite every writer waits its
//! turn for the write lock (up to the busy timeout) instead of failing, and
//! one that still cannot get it answers the retryable `BUSY`, never
//! `INTERNAL`.

use std::time::Duration;

use futures_util::future::join_all;
use sea_orm::{
    Database, DatabaseTransaction, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::imports::{integration, media_root, root_url, IMPORT};

const CREATE_FOLDER: &str = "mutation($n: String!) { createFolder(input: {name: $n}) { id } }";
const CREATE_DATASET: &str = "mutation($t: String!) { createDataset(input: {title: $t}) { id } }";
const UPDATE_DATASET: &str =
    "mutation($d: ID!, $t: String!) { updateDataset(input: {id: $d, title: $t}) { id title } }";
const ADD_COLLABORATOR: &str = "mutation($d: ID!, $u: ID!) {
    addDatasetCollaborators(input: {datasetId: $d, userIds: [$u], role: USER}) { id } }";
const REMOVE_COLLABORATOR: &str = "mutation($d: ID!, $u: ID!) {
    removeDatasetCollaborator(input: {datasetId: $d, userId: $u}) { id } }";

/// The errors of a response, or nothing.
fn errors(body: &Value) -> Option<String> {
    body.get("errors").map(|e| format!("{e:#}"))
}

#[tokio::test]
async fn thirty_two_mutations_from_eight_users_at_once_all_succeed_beside_a_large_import() {
    let (root, media) = media_root(&["image.png"]);
    let allowed = root.path().to_path_buf();
    let app = spawn_app_with(move |c| {
        c.local_roots = vec![allowed];
        // The manifest goes inline.
        c.max_body_bytes = 16 * 1024 * 1024;
    })
    .await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(app.user(&format!("writer{i}@example.com")).await);
    }
    let guest = app.user("guest@example.com").await;
    let mut datasets = Vec::new();
    for user in &users {
        datasets.push(app.dataset(user, "Shared", None).await);
    }

    // A large manifest: its submission stages every entry in one transaction.
    let importer = &users[0];
    let storage = integration(&app, importer, "LOCAL", json!({ "root": media })).await;
    let folder = app.folder(importer, "Imports").await;
    let base = root_url(&media);
    let mut manifest = String::from("objectUrl,kind\n");
    for i in 0..40_000 {
        manifest.push_str(&format!("{base}/missing-{i:05}.png,IMAGE\n"));
    }
    let import = app.post(
        Some(&importer.token),
        IMPORT,
        json!({ "d": datasets[0], "f": folder, "i": storage, "m": manifest, "ignore": true }),
    );

    let rounds = async {
        // The submission has begun staging when the others start.
        tokio::time::sleep(Duration::from_millis(150)).await;
        for round in 0..2 {
            rounds_of_writes(&app, &users, &guest, &datasets, round).await;
        }
    };
    let ((_, body), ()) = tokio::join!(import, rounds);
    assert!(errors(&body).is_none(), "the import failed: {body:#}");
    assert_eq!(body["data"]["importFromCloud"]["total"], 40_000);

    // Every write is there.
    for (i, user) in users.iter().enumerate() {
        let data = app
            .ok(
                user,
                "query($d: ID!) { dataset(id: $d) { title collaborators { role } } }",
                json!({ "d": datasets[i] }),
            )
            .await;
        assert_eq!(data["dataset"]["title"], "Shared 1");
        assert_eq!(
            data["dataset"]["collaborators"].as_array().unwrap().len(),
            1
        );
    }
}

/// 32 writes at once, four by each user; every one must succeed.
async fn rounds_of_writes(
    app: &TestApp,
    users: &[TestUser],
    guest: &TestUser,
    datasets: &[String],
    round: usize,
) {
    let mut requests = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let dataset = datasets[i].clone();
        let token = user.token.clone();
        let guest = guest.id.clone();
        let app = &app;
        requests.push(Box::pin(async move {
            let t = Some(token.as_str());
            let (_, body) = app
                .post(t, CREATE_FOLDER, json!({ "n": format!("F{round}-{i}") }))
                .await;
            vec![("createFolder", body)]
        })
            as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>);
        let token = user.token.clone();
        requests.push(Box::pin(async move {
            let (_, body) = app
                .post(
                    Some(&token),
                    CREATE_DATASET,
                    json!({ "t": format!("D{round}-{i}") }),
                )
                .await;
            vec![("createDataset", body)]
        }));
        let token = user.token.clone();
        let d = dataset.clone();
        requests.push(Box::pin(async move {
            let vars = json!({ "d": d, "u": guest });
            let (_, added) = app.post(Some(&token), ADD_COLLABORATOR, vars.clone()).await;
            let (_, removed) = app.post(Some(&token), REMOVE_COLLABORATOR, vars).await;
            vec![
                ("addDatasetCollaborators", added),
                ("removeDatasetCollaborator", removed),
            ]
        }));
        let token = user.token.clone();
        requests.push(Box::pin(async move {
            let (_, body) = app
                .post(
                    Some(&token),
                    UPDATE_DATASET,
                    json!({ "d": dataset, "t": format!("Shared {round}") }),
                )
                .await;
            vec![("updateDataset", body)]
        }));
    }
    assert_eq!(requests.len(), 32);
    let failures: Vec<String> = join_all(requests)
        .await
        .into_iter()
        .flatten()
        .filter_map(|(name, body)| errors(&body).map(|e| format!("{name}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "round {round}: {} writes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Holds SQLite's write lock through a connection of its own.
async fn hold_write_lock(database_url: &str) -> (sea_orm::DatabaseConnection, DatabaseTransaction) {
    let db = Database::connect(database_url).await.unwrap();
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .unwrap();
    (db, txn)
}

#[tokio::test]
async fn a_writer_that_cannot_get_the_lock_in_time_answers_busy_and_may_retry() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        // PostgreSQL locks rows, not the database: there is no lock to hold.
        return;
    }
    let app = spawn_app_with(|c| c.db_busy_timeout = Duration::from_millis(300)).await;
    let ann = app.user("ann@example.com").await;
    let dataset = app.dataset(&ann, "Held", None).await;

    let (db, txn) = hold_write_lock(&app.database_url).await;
    for (query, vars) in [
        (CREATE_FOLDER, json!({ "n": "Waiting" })),
        (UPDATE_DATASET, json!({ "d": dataset, "t": "Renamed" })),
    ] {
        let (_, body) = app.post(Some(&ann.token), query, vars).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BUSY",
            "{query}: {body:#}"
        );
    }
    // Readers are not held up by a writer.
    let seen = app
        .ok(
            &ann,
            "query($d: ID!) { dataset(id: $d) { title } }",
            json!({ "d": dataset }),
        )
        .await;
    assert_eq!(seen["dataset"]["title"], "Held");
    txn.rollback().await.unwrap();
    db.close().await.unwrap();

    // Once the lock is free, the same write goes through, and nothing of the
    // refused ones was kept.
    app.folder(&ann, "Waiting").await;
    let seen = app
        .ok(
            &ann,
            "query($d: ID!) { dataset(id: $d) { title } }",
            json!({ "d": dataset }),
        )
        .await;
    assert_eq!(seen["dataset"]["title"], "Held");
}

/// `--db-max-connections 1`: nothing the server runs beside requests (the
/// relay of events between instances on PostgreSQL, the import workers)
/// keeps a pooled connection for itself, so one connection serves every
/// request, a list and its nested pages included, on PostgreSQL as on SQLite.
#[tokio::test]
async fn a_pool_of_one_connection_serves_every_request() {
    let app = spawn_app_with(|c| c.db_max_connections = 1).await;
    let alice = app.user("alice@example.com").await;
    let folder = app.folder(&alice, "Media").await;
    let files = app
        .files(&alice, &folder, &["s3://b/one/1.jpg", "s3://b/one/2.jpg"])
        .await;
    let dataset = app.dataset(&alice, "One", None).await;
    app.attach(&alice, &dataset, &files).await;
    let data = app
        .ok(
            &alice,
            "{ datasets(first: 10) { totalCount nodes { title
                 files(first: 5) { totalCount nodes { title } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["datasets"]["totalCount"], 1);
    assert_eq!(data["datasets"]["nodes"][0]["files"]["totalCount"], 2);
}
