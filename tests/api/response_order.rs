//! Every object of a response lists its fields in the order of the
//! selection set (aliases, fragments and `__typename` included), as the
//! GraphQL spec's serialization asks, whichever field finishes first.

use async_graphql::Value as Ordered;
use serde_json::json;

use crate::helpers::*;

/// The response keys of `value`, nested: `{a b{c} d[{e}]}`. A list shows
/// its first item, after checking that every item has the same keys.
fn keys(value: &Ordered) -> String {
    match value {
        Ordered::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(key, value)| format!("{key}{}", keys(value)))
                .collect();
            format!("{{{}}}", fields.join(" "))
        }
        Ordered::List(items) => {
            let shapes: Vec<String> = items.iter().map(keys).collect();
            if let Some(first) = shapes.first() {
                assert!(
                    shapes.iter().all(|s| s == first),
                    "items of one list differ in order: {shapes:?}"
                );
            }
            format!("[{}]", shapes.first().cloned().unwrap_or_default())
        }
        _ => String::new(),
    }
}

/// The key order of the `data` of `query`, read from the response text.
async fn order(app: &TestApp, user: &TestUser, query: &str) -> String {
    let response = app
        .client
        .post(&app.url)
        .bearer_auth(&user.token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request sent");
    let text = response.text().await.expect("body");
    // async-graphql's value keeps the order of the object's keys as read.
    let body: Ordered = serde_json::from_str(&text).expect("JSON body");
    let Ordered::Object(body) = body else {
        panic!("not an object: {text}")
    };
    assert!(body.get("errors").is_none(), "unexpected errors: {text}");
    keys(&body["data"])
}

async fn workspace(app: &TestApp) -> TestUser {
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Pictures").await;
    let urls: Vec<String> = (0..4).map(|f| format!("s3://b/{f}.jpg")).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let files = app.files(&owner, &folder, &urls).await;
    for d in 0..3 {
        let dataset = app.dataset(&owner, &format!("Dataset {d}"), None).await;
        app.attach(&owner, &dataset, &files).await;
    }
    owner
}

#[tokio::test]
async fn fields_come_back_in_the_order_they_are_asked_for() {
    let app = spawn_app().await;
    let owner = workspace(&app).await;
    for (query, expected) in [
        (
            "{ datasets { totalCount nodes { id title } } }",
            "{datasets{totalCount nodes[{id title}]}}",
        ),
        (
            "{ datasets { nodes { title id } totalCount } }",
            "{datasets{nodes[{title id}] totalCount}}",
        ),
        (
            "{ datasets { pageInfo { hasNextPage endCursor } totalCount edges { cursor node { title } } } }",
            "{datasets{pageInfo{hasNextPage endCursor} totalCount edges[{cursor node{title}}]}}",
        ),
        (
            "{ datasets { nodes { files(first: 2) { totalCount nodes { title } } fileCount myRole title createdBy { email } } } }",
            "{datasets{nodes[{files{totalCount nodes[{title}]} fileCount myRole title createdBy{email}}]}}",
        ),
        (
            "{ me { email id } datasets { totalCount } folders { totalCount nodes { files { totalCount } name } } }",
            "{me{email id} datasets{totalCount} folders{totalCount nodes[{files{totalCount} name}]}}",
        ),
        (
            "{ second: datasets(first: 1) { count: totalCount all: nodes { __typename t: title } } first: me { __typename } }",
            "{second{count all[{__typename t}]} first{__typename}}",
        ),
        (
            "query { datasets { ...Counted nodes { ...Named myRole ... on Dataset { id totalFiles: fileCount } } } }
             fragment Counted on DatasetConnection { totalCount pageInfo { hasPreviousPage } }
             fragment Named on Dataset { title createdBy { id } }",
            "{datasets{totalCount pageInfo{hasPreviousPage} nodes[{title createdBy{id} myRole id totalFiles}]}}",
        ),
        (
            // Objects of one field are not walked, but what is below them is.
            "{ datasets { nodes { files(first: 2) { nodes { title } totalCount } } } }",
            "{datasets{nodes[{files{nodes[{title}] totalCount}}]}}",
        ),
        (
            // A repeated field keeps its first place; its sub-selections merge.
            "{ datasets { nodes { title } totalCount nodes { id title myRole } } }",
            "{datasets{nodes[{title id myRole}] totalCount}}",
        ),
    ] {
        // Several runs: which field finishes first varies with timing.
        for _ in 0..3 {
            assert_eq!(order(&app, &owner, query).await, expected, "query: {query}");
        }
    }
}
