//! Relay lists: ordering, created ranges and file filters, with cursors that
//! keep their place.

use serde_json::{json, Value};

use crate::helpers::*;

fn names(connection: &Value, field: &str) -> Vec<String> {
    connection["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn lists_order_by_name_or_creation_in_both_directions_across_pages() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for title in ["Cherry", "apple", "Banana", "Date", "Elder"] {
        app.dataset(&alice, title, None).await;
    }
    let query = "query($o: ListOrder, $a: String) { datasets(first: 2, after: $a, orderBy: $o) { pageInfo { hasNextPage endCursor } nodes { title } } }";
    let walk = |order: Value| {
        let (app, alice) = (&app, alice.clone());
        async move {
            let mut seen = Vec::new();
            let mut after = Value::Null;
            loop {
                let data = app
                    .ok(&alice, query, json!({ "o": order, "a": after }))
                    .await;
                seen.extend(names(&data["datasets"], "title"));
                if data["datasets"]["pageInfo"]["hasNextPage"] != json!(true) {
                    return seen;
                }
                after = data["datasets"]["pageInfo"]["endCursor"].clone();
            }
        }
    };
    let created = walk(json!(null)).await;
    assert_eq!(created, ["Cherry", "apple", "Banana", "Date", "Elder"]);
    let newest_first = walk(json!({ "field": "CREATED_AT", "direction": "DESC" })).await;
    assert_eq!(newest_first, ["Elder", "Date", "Banana", "apple", "Cherry"]);
    let mut by_name = walk(json!({ "field": "NAME" })).await;
    let mut sorted = by_name.clone();
    sorted.sort();
    assert_eq!(
        by_name, sorted,
        "ordered by title with the database's collation"
    );
    assert_eq!(by_name.len(), 5);
    let by_name_desc = walk(json!({ "field": "NAME", "direction": "DESC" })).await;
    by_name.reverse();
    assert_eq!(by_name_desc, by_name);

    // A cursor of one ordering is refused by another.
    let data = app
        .ok(&alice, query, json!({ "o": { "field": "NAME" } }))
        .await;
    let cursor = data["datasets"]["pageInfo"]["endCursor"].clone();
    assert_eq!(
        app.code(&alice, query, json!({ "o": null, "a": cursor }))
            .await,
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn lists_filter_by_creation_time() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    app.project(&alice, "Old", &app.ontology(&alice, "O1").await, &[])
        .await;
    let data = app
        .ok(&alice, "{ projects { nodes { createdAt } } }", json!({}))
        .await;
    let first_created = data["projects"]["nodes"][0]["createdAt"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let middle = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.project(&alice, "New", &app.ontology(&alice, "O2").await, &[])
        .await;

    let query = "query($a: DateTime, $b: DateTime) { projects(createdAfter: $a, createdBefore: $b) { totalCount nodes { title } } }";
    let data = app.ok(&alice, query, json!({ "a": middle })).await;
    assert_eq!(names(&data["projects"], "title"), ["New"]);
    assert_eq!(data["projects"]["totalCount"], 1);
    let data = app.ok(&alice, query, json!({ "b": middle })).await;
    assert_eq!(names(&data["projects"], "title"), ["Old"]);
    let data = app.ok(&alice, query, json!({ "a": first_created })).await;
    assert_eq!(
        data["projects"]["totalCount"], 2,
        "createdAfter includes its bound"
    );
    assert_eq!(
        app.code(&alice, query, json!({ "a": middle, "b": first_created }))
            .await,
        "BAD_USER_INPUT"
    );
    let data = app
        .ok(
            &alice,
            "query($a: DateTime) { ontologies(createdAfter: $a) { totalCount } }",
            json!({ "a": middle }),
        )
        .await;
    assert_eq!(data["ontologies"]["totalCount"], 1);
}

#[tokio::test]
async fn files_filter_by_kind_and_title_with_matching_totals() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let folder = app.folder(&alice, "Mixed").await;
    let files: Vec<Value> = [
        ("s3://b/cat.jpg", "IMAGE"),
        ("s3://b/cat.mp4", "VIDEO"),
        ("s3://b/dog.jpg", "IMAGE"),
        ("s3://b/100%_dog.png", "IMAGE"),
    ]
    .iter()
    .map(|(u, k)| json!({ "objectUrl": u, "kind": k }))
    .collect();
    app.ok(
        &alice,
        "mutation($f: ID!, $files: [FileInput!]!) { registerFiles(input: {folderId: $f, files: $files}) { id } }",
        json!({ "f": folder, "files": files }),
    )
    .await;
    let mirrored = app.dataset(&alice, "Mirror", Some(&folder)).await;
    let plain = app.dataset(&alice, "Plain", None).await;
    app.ok(
        &alice,
        "mutation($d: ID!, $f: ID!) { attachFilesToDataset(input: {datasetId: $d, folderIds: [$f]}) { id } }",
        json!({ "d": plain, "f": folder }),
    )
    .await;
    let query = "query($f: ID!, $k: FileKind, $s: String) { folder(id: $f) { files(kind: $k, search: $s) { totalCount nodes { title } } } }";
    let data = app
        .ok(&alice, query, json!({ "f": folder, "k": "IMAGE" }))
        .await;
    assert_eq!(data["folder"]["files"]["totalCount"], 3);
    let data = app
        .ok(&alice, query, json!({ "f": folder, "s": "CAT" }))
        .await;
    assert_eq!(
        names(&data["folder"]["files"], "title"),
        ["cat.jpg", "cat.mp4"]
    );
    let data = app
        .ok(
            &alice,
            query,
            json!({ "f": folder, "k": "IMAGE", "s": "%_" }),
        )
        .await;
    assert_eq!(
        names(&data["folder"]["files"], "title"),
        ["100%_dog.png"],
        "wildcards are literal"
    );

    let both = "query($m: ID!, $p: ID!) {
        m: dataset(id: $m) { files(kind: VIDEO) { totalCount nodes { title } } }
        p: dataset(id: $p) { files(search: \"dog\") { totalCount nodes { title } } } }";
    let data = app
        .ok(&alice, both, json!({ "m": mirrored, "p": plain }))
        .await;
    assert_eq!(names(&data["m"]["files"], "title"), ["cat.mp4"]);
    assert_eq!(data["m"]["files"]["totalCount"], 1);
    assert_eq!(
        names(&data["p"]["files"], "title"),
        ["dog.jpg", "100%_dog.png"]
    );
    assert_eq!(data["p"]["files"]["totalCount"], 2);
}
