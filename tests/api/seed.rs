//! `annograph seed`: a small generated workspace, read back through the API
//! as its heavy and light users.

use std::time::Duration;

use annograph::seed::{self, Shape};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};

use crate::helpers::{fresh_database, spawn_on_database, TestApp};

fn small() -> Shape {
    Shape {
        users: 200,
        groups: 20,
        datasets: 100,
        files: 1_000,
        projects: 10,
        seed: 7,
        ..Shape::default()
    }
}

async fn seeded(shape: &Shape) -> (String, Option<tempfile::TempDir>, seed::Summary) {
    let (url, dir) = fresh_database().await;
    let db = connect(&url).await;
    annograph::app::migrate(&db).await.expect("migrate");
    let summary = seed::run(&db, shape).await.expect("seed");
    db.close().await.ok();
    (url, dir, summary)
}

async fn connect(url: &str) -> DatabaseConnection {
    annograph::app::connect(url, 2, Duration::from_secs(15))
        .await
        .expect("connect")
}

/// Every id and creation time of a table, in id order.
async fn rows_of(url: &str, table: &str) -> Vec<String> {
    let db = connect(url).await;
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT id, created_at FROM {table} ORDER BY id"),
        ))
        .await
        .expect("select");
    db.close().await.ok();
    rows.iter()
        .map(|r| {
            let id: uuid::Uuid = r.try_get("", "id").expect("id");
            let at: chrono::DateTime<chrono::Utc> = r.try_get("", "created_at").expect("at");
            format!("{id} {}", at.to_rfc3339())
        })
        .collect()
}

async fn as_user(app: &TestApp, email: &str, query: &str, variables: Value) -> Value {
    let token = app
        .server
        .state
        .auth
        .mint(email, None, Duration::from_secs(600))
        .expect("mint");
    let (_, body) = app.post(Some(&token), query, variables).await;
    assert!(body.get("errors").is_none(), "errors: {body:#}");
    body["data"].clone()
}

const MY_DATASETS: &str = "query($after: String) {
  datasets(first: 100, after: $after, orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id createdAt }
  }
  projects(first: 100) { totalCount }
}";

#[tokio::test]
async fn seeded_users_see_what_the_seed_says() {
    let shape = small();
    let (url, dir, summary) = seeded(&shape).await;
    assert!(summary.heavy_datasets > summary.light_datasets);
    assert!(summary.light_datasets > 0);

    // Seeding refuses a database that already holds a workspace.
    let db = connect(&url).await;
    let refused = seed::run(&db, &shape).await.expect_err("second seed");
    assert!(refused.to_string().contains("already holds"), "{refused}");
    db.close().await.ok();

    let app = spawn_on_database(url, dir).await;
    for (email, datasets, projects) in [
        (
            &summary.heavy_user,
            summary.heavy_datasets,
            summary.heavy_projects,
        ),
        (
            &summary.light_user,
            summary.light_datasets,
            summary.light_projects,
        ),
    ] {
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let data = as_user(&app, email, MY_DATASETS, json!({ "after": after })).await;
            let page = &data["datasets"];
            assert_eq!(page["totalCount"], json!(datasets), "{email}");
            assert_eq!(data["projects"]["totalCount"], json!(projects), "{email}");
            for node in page["nodes"].as_array().unwrap() {
                seen.push(node["createdAt"].as_str().unwrap().to_owned());
            }
            if page["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen.len(), datasets, "{email}");
    }

    // The heavy user's big dataset holds the files the seed says.
    let data = as_user(
        &app,
        &summary.heavy_user,
        "query($id: ID!) { node(id: $id) { ... on Dataset { files(first: 1) { totalCount } } } }",
        json!({ "id": annograph::ids::encode("Dataset", summary.big_dataset) }),
    )
    .await;
    assert_eq!(
        data["node"]["files"]["totalCount"],
        json!(summary.big_dataset_files)
    );

    // The workspace ADMIN sees every dataset in the workspace list.
    let data = as_user(
        &app,
        &summary.admin_user,
        "{ workspaceDatasets(first: 1) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(
        data["workspaceDatasets"]["totalCount"],
        json!(shape.datasets)
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_rows_in_another_order_than_ids() {
    let shape = small();
    let (first, _a, one) = seeded(&shape).await;
    let (second, _b, two) = seeded(&shape).await;
    assert_eq!(one.rows, two.rows);
    for table in ["users", "datasets", "files", "role_grants", "projects"] {
        let rows = rows_of(&first, table).await;
        assert_eq!(rows, rows_of(&second, table).await, "{table}");
        // Seeded with their own creation times: id order is not time order.
        let times: Vec<&str> = rows.iter().map(|r| r.split_once(' ').unwrap().1).collect();
        assert!(!times.is_sorted(), "{table} created in id order");
    }
    let (other, _c, _) = seeded(&Shape { seed: 8, ..small() }).await;
    assert_ne!(
        rows_of(&first, "datasets").await,
        rows_of(&other, "datasets").await
    );
}
