//! Rules that must hold when several people act at the same moment: sibling
//! folder names stay unique, and a resource (and the workspace) never loses
//! its last ADMIN to two changes that are each fine alone.
//!
//! Each race runs 50 times with fresh names and resources; a rule that only
//! holds by luck of scheduling fails one of the rounds.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::*;

const ROUNDS: usize = 50;

/// The code of the first error, or "OK" when the request succeeded.
fn outcome(body: &Value) -> String {
    match body.get("errors") {
        None => "OK".to_owned(),
        Some(errors) => errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or("NO CODE")
            .to_owned(),
    }
}

const CREATE_FOLDER: &str =
    "mutation($n: String!, $p: ID) { createFolder(input: {name: $n, parentId: $p}) { id } }";

#[tokio::test]
async fn a_second_folder_with_the_same_name_beside_the_first_is_a_conflict() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let parent = app.folder(&alice, "Parent").await;

    app.folder(&alice, "Birds").await;
    let (_, body) = app
        .post(
            Some(&bob.token),
            CREATE_FOLDER,
            json!({ "n": "Birds", "p": null }),
        )
        .await;
    assert_eq!(outcome(&body), "CONFLICT", "{body:#}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{body:#}"
    );

    app.ok(&alice, CREATE_FOLDER, json!({ "n": "Birds", "p": parent }))
        .await;
    assert_eq!(
        app.code(&alice, CREATE_FOLDER, json!({ "n": "Birds", "p": parent }))
            .await,
        "CONFLICT"
    );
    // Names compare exactly, as they always have: another case is another name.
    app.ok(&alice, CREATE_FOLDER, json!({ "n": "birds", "p": parent }))
        .await;

    // Renaming onto a sibling's name is the same clash.
    let other = app.folder(&alice, "Cats").await;
    assert_eq!(
        app.code(
            &alice,
            "mutation($id: ID!, $n: String!) { updateFolder(input: {id: $id, name: $n}) { id } }",
            json!({ "id": other, "n": "Birds" }),
        )
        .await,
        "CONFLICT"
    );
}

#[tokio::test]
async fn eight_people_creating_one_folder_name_at_once_get_one_folder_and_seven_conflicts() {
    // Runs on both backends: the insert is the request's first write, so
    // SQLite's writers wait for each other within the busy timeout.
    let app = spawn_app().await;
    let mut people = Vec::new();
    for i in 0..8 {
        people.push(app.user(&format!("user{i}@example.com")).await);
    }
    let parent = app.folder(&people[0], "Shared parent").await;
    app.share(
        &people[0],
        "Folder",
        &parent,
        &people.iter().skip(1).collect::<Vec<_>>(),
        "ADMIN",
    )
    .await;

    for round in 0..ROUNDS {
        // Alternate between top-level folders (no parent) and sub-folders.
        let parent_id = if round % 2 == 0 {
            Value::Null
        } else {
            json!(parent)
        };
        let name = format!("Round {round}");
        let app = &app;
        let bodies = join_all(people.iter().map(|p| {
            let variables = json!({ "n": name, "p": parent_id });
            async move { app.post(Some(&p.token), CREATE_FOLDER, variables).await.1 }
        }))
        .await;
        let outcomes: Vec<String> = bodies.iter().map(outcome).collect();
        assert_eq!(
            outcomes.iter().filter(|o| *o == "OK").count(),
            1,
            "round {round}: {outcomes:?}\n{bodies:#?}"
        );
        assert_eq!(
            outcomes.iter().filter(|o| *o == "CONFLICT").count(),
            7,
            "round {round}: {outcomes:?}\n{bodies:#?}"
        );
    }
}
