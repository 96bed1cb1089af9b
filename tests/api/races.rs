//! Rules that must hold when several people act at the same moment: sibling
//! folder names stay unique, a resource (and the workspace) never loses its
//! last ADMIN to two changes that are each fine alone, and files are only
//! moved out of a folder by someone allowed to take them from where they are.
//!
//! Each race runs 50 times with fresh names and resources; a rule that only
//! holds by luck of scheduling fails one of the rounds.

use entity::{audit_event, file, role_grant, user};
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::helpers::*;

const ROUNDS: usize = 50;

/// On SQLite without `BEGIN IMMEDIATE` (another item of this work), writers
/// that read before they write can fail with "database is locked" before
/// any rule of ours is reached; those races run on PostgreSQL only, the
/// single-request rules on both.
fn is_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

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

/// The kinds whose collaborators are managed alike, with how to make one.
async fn resource(app: &TestApp, owner: &TestUser, kind: &str, title: &str) -> String {
    match kind {
        "Dataset" => app.dataset(owner, title, None).await,
        "Folder" => app.folder(owner, title).await,
        "Ontology" => app.ontology(owner, title).await,
        "Project" => {
            let ontology = app.ontology(owner, title).await;
            app.project(owner, title, &ontology, &[]).await
        }
        other => panic!("no resource kind {other}"),
    }
}

#[tokio::test]
async fn two_admins_removing_each_other_at_once_leave_the_resource_an_admin() {
    if !is_postgres() {
        return;
    }
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let db = &app.server.state.services.db;
    let kinds = ["Dataset", "Project", "Ontology", "Folder"];

    for round in 0..ROUNDS {
        let kind = kinds[round % kinds.len()];
        let id = resource(&app, &alice, kind, &format!("Round {round}")).await;
        app.share(&alice, kind, &id, &[&bob], "ADMIN").await;
        let remove = format!(
            "mutation($r: ID!, $u: ID!) {{ remove{kind}Collaborator(input: {{{}Id: $r, userId: $u}}) {{ id }} }}",
            kind.to_lowercase()
        );
        let (a, b) = tokio::join!(
            app.post(Some(&alice.token), &remove, json!({ "r": id, "u": bob.id })),
            app.post(Some(&bob.token), &remove, json!({ "r": id, "u": alice.id })),
        );
        let outcomes = [outcome(&a.1), outcome(&b.1)];
        // The loser either finds the change would leave no ADMIN, or has
        // already lost sight of the resource.
        for o in &outcomes {
            assert!(
                ["OK", "CONFLICT", "NOT_FOUND"].contains(&o.as_str()),
                "round {round} ({kind}): {outcomes:?}\n{a:#?}\n{b:#?}"
            );
        }
        assert!(
            outcomes.iter().filter(|o| *o == "OK").count() <= 1,
            "round {round} ({kind}): both removals succeeded"
        );

        let (_, uuid) = annograph::ids::decode(&id).expect("global id");
        let admins = role_grant::Entity::find()
            .filter(role_grant::Column::ResourceId.eq(uuid))
            .filter(role_grant::Column::Role.eq("ADMIN"))
            .filter(role_grant::Column::UserId.is_not_null())
            .count(db)
            .await
            .unwrap();
        assert!(admins >= 1, "round {round} ({kind}): no ADMIN left");
    }
}

#[tokio::test]
async fn an_admin_losing_their_role_while_adding_a_collaborator_adds_nobody_after_losing_it() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let carol = app.user("carol@example.com").await;
    let db = &app.server.state.services.db;
    let remove = "mutation($r: ID!, $u: ID!) { \
        removeDatasetCollaborator(input: {datasetId: $r, userId: $u}) { id } }";
    let add = "mutation($r: ID!, $u: ID!) { \
        addDatasetCollaborators(input: {datasetId: $r, userIds: [$u], role: USER}) { id } }";

    for round in 0..ROUNDS {
        let id = app.dataset(&alice, &format!("Round {round}"), None).await;
        app.share(&alice, "Dataset", &id, &[&bob], "ADMIN").await;
        let (a, b) = tokio::join!(
            app.post(Some(&alice.token), remove, json!({ "r": id, "u": bob.id })),
            app.post(Some(&bob.token), add, json!({ "r": id, "u": carol.id })),
        );
        let outcomes = [outcome(&a.1), outcome(&b.1)];
        assert_eq!(outcomes[0], "OK", "round {round}: {a:#?}");
        // Bob's grant either came first (and stays), or he found his role
        // gone: never a grant made after he lost the right to make it.
        assert!(
            ["OK", "NOT_FOUND", "FORBIDDEN"].contains(&outcomes[1].as_str()),
            "round {round}: {outcomes:?}\n{b:#?}"
        );
        let (_, uuid) = annograph::ids::decode(&id).expect("global id");
        let actions: Vec<String> = audit_event::Entity::find()
            .filter(audit_event::Column::ResourceId.eq(uuid))
            .filter(audit_event::Column::Action.is_in(["grant.add", "grant.remove"]))
            .order_by_asc(audit_event::Column::CreatedAt)
            .order_by_asc(audit_event::Column::Id)
            .all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action.as_str().to_owned())
            .collect();
        // The first grant.add is Bob's own ADMIN, given by Alice.
        let expected: &[&str] = if outcomes[1] == "OK" {
            &["grant.add", "grant.add", "grant.remove"]
        } else {
            &["grant.add", "grant.remove"]
        };
        assert_eq!(actions, expected, "round {round}: {outcomes:?}");
    }
}

#[tokio::test]
async fn the_last_two_workspace_admins_demoting_each_other_at_once_leave_one_admin() {
    if !is_postgres() {
        return;
    }
    let app = spawn_app().await;
    let alice = app.workspace_admin("alice@example.com").await;
    let bob = app.workspace_admin("bob@example.com").await;
    let db = &app.server.state.services.db;
    let set = "mutation($u: ID!, $r: WorkspaceRole!) { setWorkspaceRole(input: {userId: $u, role: $r}) { id } }";

    for round in 0..ROUNDS {
        let (a, b) = tokio::join!(
            app.post(
                Some(&alice.token),
                set,
                json!({ "u": bob.id, "r": "MEMBER" })
            ),
            app.post(
                Some(&bob.token),
                set,
                json!({ "u": alice.id, "r": "MEMBER" })
            ),
        );
        let outcomes = [outcome(&a.1), outcome(&b.1)];
        for o in &outcomes {
            assert!(
                ["OK", "CONFLICT", "FORBIDDEN"].contains(&o.as_str()),
                "round {round}: {outcomes:?}\n{a:#?}\n{b:#?}"
            );
        }
        let admins = user::Entity::find()
            .filter(user::Column::WorkspaceRole.eq("ADMIN"))
            .count(db)
            .await
            .unwrap();
        assert_eq!(admins, 1, "round {round}: {outcomes:?}");

        // The one left promotes the other again for the next round.
        let (keeper, other) = if outcomes[0] == "OK" {
            (&alice, &bob)
        } else {
            (&bob, &alice)
        };
        app.ok(keeper, set, json!({ "u": other.id, "r": "ADMIN" }))
            .await;
    }
}

const MOVE_FILES: &str =
    "mutation($f: [ID!]!, $to: ID!) { moveFiles(input: {fileIds: $f, toDatasetId: $to}) { id } }";

#[tokio::test]
async fn two_people_moving_the_same_files_at_once_to_their_own_datasets_one_wins() {
    // Runs on both backends: the rights are checked inside the write
    // transaction, after the files are locked.
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let db = &app.server.state.services.db;

    for round in 0..ROUNDS {
        // Both may take the files from the shared source; each moves them
        // into a dataset of their own.
        let source_folder = app.folder(&alice, &format!("Source {round}")).await;
        let urls: Vec<String> = (0..3)
            .map(|i| format!("s3://b/round-{round}/{i}.jpg"))
            .collect();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        let files = app.files(&alice, &source_folder, &urls).await;
        let source = app
            .dataset(&alice, &format!("Source {round}"), Some(&source_folder))
            .await;
        app.share(&alice, "Dataset", &source, &[&bob], "ADMIN")
            .await;
        let alice_folder = app.folder(&alice, &format!("Alice {round}")).await;
        let alice_dest = app
            .dataset(&alice, &format!("Alice {round}"), Some(&alice_folder))
            .await;
        let bob_folder = app.folder(&bob, &format!("Bob {round}")).await;
        let bob_dest = app
            .dataset(&bob, &format!("Bob {round}"), Some(&bob_folder))
            .await;
        // In odd rounds each sees the other's destination (USER: may look,
        // may not take files out): the loser then sees the files where the
        // winner put them, and is refused taking them (FORBIDDEN). In even
        // rounds the files go out of the loser's sight (NOT_FOUND).
        let expected_refusal = if round % 2 == 1 {
            app.share(&alice, "Dataset", &alice_dest, &[&bob], "USER")
                .await;
            app.share(&bob, "Dataset", &bob_dest, &[&alice], "USER")
                .await;
            "FORBIDDEN"
        } else {
            "NOT_FOUND"
        };

        let (a, b) = tokio::join!(
            app.post(
                Some(&alice.token),
                MOVE_FILES,
                json!({ "f": files, "to": alice_dest })
            ),
            app.post(
                Some(&bob.token),
                MOVE_FILES,
                json!({ "f": files, "to": bob_dest })
            ),
        );
        let outcomes = [outcome(&a.1), outcome(&b.1)];
        let winner_folder = match (outcomes[0].as_str(), outcomes[1].as_str()) {
            ("OK", refusal) if refusal == expected_refusal => &alice_folder,
            (refusal, "OK") if refusal == expected_refusal => &bob_folder,
            _ => panic!(
                "round {round}: one move succeeds, the other is {expected_refusal}; got {outcomes:?}\n{a:#?}\n{b:#?}"
            ),
        };

        let (_, winner_folder) = annograph::ids::decode(winner_folder).expect("global id");
        let ids: Vec<uuid::Uuid> = files
            .iter()
            .map(|f| annograph::ids::decode(f).expect("global id").1)
            .collect();
        let in_winner = file::Entity::find()
            .filter(file::Column::Id.is_in(ids))
            .filter(file::Column::FolderId.eq(winner_folder))
            .count(db)
            .await
            .unwrap();
        assert_eq!(
            in_winner, 3,
            "round {round}: the files are where the successful move put them ({outcomes:?})"
        );
    }
}
