//! Authorization holes an outside attack found, kept closed: contents of
//! objects reached without view access, roles cached on an open WebSocket,
//! group managers managing themselves, imports outliving their submitter's
//! rights, and sharing through projects left out of the audit log.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::imports::{finished, integration, many_images, mirrored_dataset, slow_server, submit};
use crate::support::ws::Ws;

/// The codes of a response's errors, with their paths.
fn errors(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["extensions"]["code"].as_str().unwrap_or("").to_owned(),
                        e["path"].to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Ann's workspace: a folder of two files (one with client metadata), a
/// dataset mirroring it, a plain dataset holding the files, and a project
/// using the plain dataset. Returns (mirrored, plain).
async fn anns_datasets(app: &TestApp, ann: &TestUser) -> (String, String) {
    let folder = app.folder(ann, "Secret folder").await;
    let data = app
        .ok(
            ann,
            "mutation($f: ID!) { registerFiles(input: {folderId: $f, files: [
                {objectUrl: \"s3://farm/secret-1.jpg\", kind: IMAGE, clientMetadata: {patient: \"Jane Doe\"}},
                {objectUrl: \"s3://farm/secret-2.jpg\", kind: IMAGE}]}) { id } }",
            json!({ "f": folder }),
        )
        .await;
    let files: Vec<String> = data["registerFiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    let mirrored = app.dataset(ann, "Mirrored", Some(&folder)).await;
    let plain = app.dataset(ann, "Plain", None).await;
    app.attach(ann, &plain, &files).await;
    let ontology = app.ontology(ann, "Farm").await;
    app.project(ann, "Labelling", &ontology, &[&plain]).await;
    (mirrored, plain)
}

const WORKSPACE_DATASETS: &str = "{ workspaceDatasets(first: 100) { totalCount nodes {
    id title description mirrored createdAt updatedAt createdBy { email } myRole
    viewerCan { view addData }
    collaborators { role user { email } }
    files { totalCount nodes { title objectUrl clientMetadata } }
    folder { id name }
    projects { id title } } } }";

#[tokio::test]
async fn a_workspace_admin_sees_the_summary_of_unjoined_datasets_but_none_of_their_contents() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let ann = app.user("ann@example.com").await;
    let (mirrored, plain) = anns_datasets(&app, &ann).await;

    let (_, body) = app
        .post(Some(&admin.token), WORKSPACE_DATASETS, json!({}))
        .await;
    let nodes = body["data"]["workspaceDatasets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no datasets: {body:#}"));
    assert_eq!(nodes.len(), 2, "{body:#}");
    for node in nodes {
        // The summary.
        assert!(["Mirrored", "Plain"].contains(&node["title"].as_str().unwrap()));
        assert_eq!(node["createdBy"]["email"], "ann@example.com");
        assert_eq!(node["myRole"], Value::Null);
        assert_eq!(
            node["viewerCan"],
            json!({ "view": false, "addData": false })
        );
        assert_eq!(node["collaborators"][0]["user"]["email"], "ann@example.com");
        // Nothing of the contents.
        assert_eq!(node["files"]["nodes"], json!([]), "{node:#}");
        assert_eq!(node["files"]["totalCount"], 0, "{node:#}");
        assert_eq!(node["folder"], Value::Null, "{node:#}");
        assert_eq!(node["projects"], json!([]), "{node:#}");
    }
    assert!(!body.to_string().contains("secret-1"), "{body:#}");
    assert!(!body.to_string().contains("Jane Doe"), "{body:#}");
    assert!(!body.to_string().contains("Labelling"), "{body:#}");
    // Each hidden field says NOT_FOUND, as a dataset the caller cannot see does.
    let found = errors(&body);
    assert!(
        found.iter().all(|(code, _)| code == "NOT_FOUND"),
        "{found:?}"
    );
    for field in ["files", "folder", "projects"] {
        assert!(
            found.iter().any(|(_, path)| path.contains(field)),
            "no NOT_FOUND on {field}: {found:?}"
        );
    }
    // The summary counts the files it does not show.
    let counted = app
        .ok(
            &admin,
            "{ workspaceDatasets { nodes { fileCount } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        counted["workspaceDatasets"]["nodes"],
        json!([{ "fileCount": 2 }, { "fileCount": 2 }])
    );
    // dataset(id:) and node(id:) agree.
    for query in [
        "query($id: ID!) { dataset(id: $id) { files { nodes { title } } } }",
        "query($id: ID!) { node(id: $id) { ... on Dataset { files { nodes { title } } } } }",
    ] {
        assert_eq!(
            app.code(&admin, query, json!({ "id": plain })).await,
            "NOT_FOUND"
        );
    }

    // Joining shows the contents.
    app.ok(
        &admin,
        "mutation($d: ID!) { joinDataset(input: {datasetId: $d}) { id } }",
        json!({ "d": mirrored }),
    )
    .await;
    let (_, body) = app
        .post(Some(&admin.token), WORKSPACE_DATASETS, json!({}))
        .await;
    let nodes = body["data"]["workspaceDatasets"]["nodes"]
        .as_array()
        .unwrap();
    let joined = nodes.iter().find(|n| n["id"] == mirrored.as_str()).unwrap();
    assert_eq!(joined["myRole"], "ADMIN");
    assert_eq!(joined["files"]["totalCount"], 2);
    assert_eq!(
        joined["files"]["nodes"][0]["objectUrl"],
        "s3://farm/secret-1.jpg"
    );
    let other = nodes.iter().find(|n| n["id"] == plain.as_str()).unwrap();
    assert_eq!(other["files"]["nodes"], json!([]), "{other:#}");
}

#[tokio::test]
async fn a_payload_after_removing_ones_own_role_shows_no_contents() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let (mirrored, _) = anns_datasets(&app, &ann).await;
    app.share(&ann, "Dataset", &mirrored, &[&bob], "ADMIN")
        .await;
    let ontology = app.ontology(&ann, "Private").await;
    app.share(&ann, "Ontology", &ontology, &[&bob], "ADMIN")
        .await;

    let (_, body) = app
        .post(
            Some(&bob.token),
            "mutation($d: ID!, $u: ID!) { removeDatasetCollaborator(input: {datasetId: $d, userId: $u}) {
                title files { nodes { objectUrl clientMetadata } } folder { name } } }",
            json!({ "d": mirrored, "u": bob.id }),
        )
        .await;
    let dataset = &body["data"]["removeDatasetCollaborator"];
    assert_eq!(dataset["title"], "Mirrored", "{body:#}");
    assert_eq!(dataset["files"]["nodes"], json!([]), "{body:#}");
    assert_eq!(dataset["folder"], Value::Null, "{body:#}");
    assert_eq!(errors(&body)[0].0, "NOT_FOUND", "{body:#}");

    let (_, body) = app
        .post(
            Some(&bob.token),
            "mutation($o: ID!, $u: ID!) { removeOntologyCollaborator(input: {ontologyId: $o, userId: $u}) {
                title structure } }",
            json!({ "o": ontology, "u": bob.id }),
        )
        .await;
    let ontology = &body["data"]["removeOntologyCollaborator"];
    assert_eq!(ontology["structure"], Value::Null, "{body:#}");
    assert_eq!(errors(&body)[0].0, "NOT_FOUND", "{body:#}");
}

#[tokio::test]
async fn a_folder_payload_after_removing_ones_own_role_shows_no_files() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let folder = app.folder(&ann, "Scans").await;
    app.files(&ann, &folder, &["s3://farm/scan.jpg"]).await;
    app.share(&ann, "Folder", &folder, &[&bob], "ADMIN").await;
    let (_, body) = app
        .post(
            Some(&bob.token),
            "mutation($f: ID!, $u: ID!) { removeFolderCollaborator(input: {folderId: $f, userId: $u}) {
                name files { nodes { objectUrl } } } }",
            json!({ "f": folder, "u": bob.id }),
        )
        .await;
    assert_eq!(
        body["data"]["removeFolderCollaborator"]["files"]["nodes"],
        json!([]),
        "{body:#}"
    );
    assert_eq!(errors(&body)[0].0, "NOT_FOUND", "{body:#}");
}

// ---- WebSocket: roles read for each operation --------------------------------

const SET_ROLE: &str = "mutation($u: ID!, $r: WorkspaceRole!) {
    setWorkspaceRole(input: {userId: $u, role: $r}) { workspaceRole } }";

fn first_code(payload: &Value) -> &str {
    payload["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {payload:#}"))
}

#[tokio::test]
async fn a_demoted_admin_loses_admin_powers_on_an_open_websocket_at_the_next_operation() {
    let app = spawn_app().await;
    let root = app.workspace_admin("root@example.com").await;
    let mallory = app.workspace_admin("mallory@example.com").await;
    let mut ws = Ws::signed_in(&app, Some(&mallory)).await;
    let listed = ws
        .run("1", "{ workspaceDatasets { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["data"]["workspaceDatasets"]["totalCount"], 0);

    app.ok(&root, SET_ROLE, json!({ "u": mallory.id, "r": "MEMBER" }))
        .await;

    let listed = ws
        .run("2", "{ workspaceDatasets { totalCount } }", json!({}))
        .await;
    assert_eq!(first_code(&listed), "FORBIDDEN", "{listed:#}");
    let promoted = ws
        .run("3", SET_ROLE, json!({ "u": mallory.id, "r": "ADMIN" }))
        .await;
    assert_eq!(first_code(&promoted), "FORBIDDEN", "{promoted:#}");
    let me = ws.run("4", "{ me { workspaceRole } }", json!({})).await;
    assert_eq!(me["data"]["me"]["workspaceRole"], "MEMBER");
    let data = app
        .ok(
            &root,
            "query($id: ID!) { user(id: $id) { workspaceRole } }",
            json!({ "id": mallory.id }),
        )
        .await;
    assert_eq!(data["user"]["workspaceRole"], "MEMBER");
}

/// Runs `sql` (its one value, `$1`, a user's e-mail) on the database behind
/// the server's back, as an operator or another instance would.
async fn behind_the_server(app: &TestApp, sql: &str, email: &str) {
    let db = &app.server.state.services.db;
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace("$1", "?"),
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [email.into()]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_deleted_user_is_unauthenticated_at_the_next_operation_on_an_open_websocket() {
    let app = spawn_app().await;
    let gone = app.user("gone@example.com").await;
    let mut ws = Ws::signed_in(&app, Some(&gone)).await;
    let me = ws.run("1", "{ me { email } }", json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "gone@example.com");

    // No mutation deletes users; an operator removes the row.
    behind_the_server(
        &app,
        "DELETE FROM users WHERE email = $1",
        "gone@example.com",
    )
    .await;

    let me = ws.run("2", "{ me { email } }", json!({})).await;
    assert_eq!(first_code(&me), "UNAUTHENTICATED", "{me:#}");

    // A new connection with the same token signs its user in afresh.
    let mut ws = Ws::signed_in(&app, Some(&gone)).await;
    let me = ws.run("1", "{ me { id email } }", json!({})).await;
    assert_eq!(me["data"]["me"]["email"], "gone@example.com", "{me:#}");
    assert_ne!(me["data"]["me"]["id"], gone.id.as_str(), "a new account");
}

#[tokio::test]
async fn a_caller_signed_in_before_meets_a_demotion_or_a_removal_at_the_next_request() {
    let app = spawn_app().await;
    let root = app.workspace_admin("root@example.com").await;
    let mallory = app.workspace_admin("mallory@example.com").await;
    let listed = app
        .ok(&mallory, "{ workspaceDatasets { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["workspaceDatasets"]["totalCount"], 0);
    app.ok(&root, SET_ROLE, json!({ "u": mallory.id, "r": "MEMBER" }))
        .await;
    let code = app
        .code(&mallory, "{ workspaceDatasets { totalCount } }", json!({}))
        .await;
    assert_eq!(code, "FORBIDDEN");
    // Demoted directly in the database (another instance, an operator).
    behind_the_server(
        &app,
        "UPDATE users SET workspace_role = 'MEMBER' WHERE email = $1",
        "root@example.com",
    )
    .await;
    let code = app
        .code(&root, SET_ROLE, json!({ "u": mallory.id, "r": "ADMIN" }))
        .await;
    assert_eq!(code, "FORBIDDEN");

    // An account an operator removes: the request that finds it gone is
    // refused, the next signs the token's user in afresh.
    app.ok(&mallory, "{ datasets { totalCount } }", json!({}))
        .await;
    behind_the_server(
        &app,
        "DELETE FROM users WHERE email = $1",
        "mallory@example.com",
    )
    .await;
    let code = app.code(&mallory, "{ me { email } }", json!({})).await;
    assert_eq!(code, "UNAUTHENTICATED");
    let me = app
        .ok(&mallory, "{ me { id email workspaceRole } }", json!({}))
        .await;
    assert_eq!(me["me"]["email"], "mallory@example.com");
    assert_eq!(me["me"]["workspaceRole"], "MEMBER");
    assert_ne!(me["me"]["id"], mallory.id.as_str(), "a new account");
}

// ---- Group memberships ------------------------------------------------------

const ADD_MEMBERS: &str = "mutation($g: ID!, $u: [ID!]!, $r: GroupRole!) {
    addGroupMembers(input: {groupId: $g, userIds: $u, role: $r}) { id } }";
const REMOVE_MEMBER: &str = "mutation($g: ID!, $u: ID!) {
    removeGroupMember(input: {groupId: $g, userId: $u}) { id } }";
const MEMBERS: &str = "query($id: ID!) { group(id: $id) { members { user { email } role } } }";

async fn roles(app: &TestApp, user: &TestUser, group: &str) -> Vec<(String, String)> {
    let data = app.ok(user, MEMBERS, json!({ "id": group })).await;
    let mut out: Vec<(String, String)> = data["group"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pair(email: &str, role: &str) -> (String, String) {
    (email.to_owned(), role.to_owned())
}

#[tokio::test]
async fn a_group_manager_cannot_make_himself_a_member_and_inherit_the_groups_grants() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let ann = app.user("ann@example.com").await;
    let manager = app.user("manager@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    let dataset = app.dataset(&ann, "Members only", None).await;
    app.share_with_group(&ann, "Dataset", &dataset, &group, "USER")
        .await;

    let (_, body) = app
        .post(
            Some(&manager.token),
            ADD_MEMBERS,
            json!({ "g": group, "u": [manager.id], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(errors(&body)[0].0, "FORBIDDEN", "{body:#}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("own membership"), "{message}");
    assert_eq!(
        roles(&app, &admin, &group).await,
        [pair("manager@example.com", "MANAGER")]
    );
    assert_eq!(
        app.code(
            &manager,
            "query($id: ID!) { dataset(id: $id) { title } }",
            json!({ "id": dataset })
        )
        .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_group_manager_cannot_promote_demote_or_remove_another_manager() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let first = app.user("first@example.com").await;
    let second = app.user("second@example.com").await;
    let alice = app.user("alice@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&first, &second], "MANAGER")
        .await;

    // Plain members: the manager's to manage.
    app.ok(
        &first,
        ADD_MEMBERS,
        json!({ "g": group, "u": [alice.id], "r": "MEMBER" }),
    )
    .await;
    for (query, vars) in [
        (
            ADD_MEMBERS,
            json!({ "g": group, "u": [alice.id], "r": "MANAGER" }),
        ),
        (
            ADD_MEMBERS,
            json!({ "g": group, "u": [second.id], "r": "MEMBER" }),
        ),
        (REMOVE_MEMBER, json!({ "g": group, "u": second.id })),
    ] {
        assert_eq!(
            app.code(&first, query, vars.clone()).await,
            "FORBIDDEN",
            "{vars}"
        );
    }
    let expected = [
        pair("alice@example.com", "MEMBER"),
        pair("first@example.com", "MANAGER"),
        pair("second@example.com", "MANAGER"),
    ];
    assert_eq!(roles(&app, &admin, &group).await, expected);

    // A workspace ADMIN may.
    app.ok(
        &admin,
        ADD_MEMBERS,
        json!({ "g": group, "u": [second.id], "r": "MEMBER" }),
    )
    .await;
    app.ok(&first, REMOVE_MEMBER, json!({ "g": group, "u": alice.id }))
        .await;
    assert_eq!(
        roles(&app, &admin, &group).await,
        [
            pair("first@example.com", "MANAGER"),
            pair("second@example.com", "MEMBER")
        ]
    );
}

#[tokio::test]
async fn removing_the_last_manager_is_a_conflict_for_himself_and_for_a_workspace_admin() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let first = app.user("first@example.com").await;
    let second = app.user("second@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&first, &second], "MANAGER")
        .await;

    // Leaving is allowed while another manager remains.
    app.ok(
        &second,
        REMOVE_MEMBER,
        json!({ "g": group, "u": second.id }),
    )
    .await;
    for who in [&first, &admin] {
        let (_, body) = app
            .post(
                Some(&who.token),
                REMOVE_MEMBER,
                json!({ "g": group, "u": first.id }),
            )
            .await;
        assert_eq!(errors(&body)[0].0, "CONFLICT", "{body:#}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("last MANAGER"), "{message}");
    }
    assert_eq!(
        roles(&app, &admin, &group).await,
        [pair("first@example.com", "MANAGER")]
    );
}

#[tokio::test]
async fn demoting_the_last_manager_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let first = app.user("first@example.com").await;
    let second = app.user("second@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&first], "MANAGER").await;
    app.add_members(&admin, &group, &[&second], "MEMBER").await;

    // Demoting the only MANAGER, alone or with someone else in the same call.
    for users in [
        vec![first.id.clone()],
        vec![second.id.clone(), first.id.clone()],
    ] {
        let (_, body) = app
            .post(
                Some(&admin.token),
                ADD_MEMBERS,
                json!({ "g": group, "u": users, "r": "MEMBER" }),
            )
            .await;
        assert_eq!(errors(&body)[0].0, "CONFLICT", "{body:#}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("without a MANAGER"), "{message}");
        assert_eq!(
            roles(&app, &admin, &group).await,
            [
                pair("first@example.com", "MANAGER"),
                pair("second@example.com", "MEMBER")
            ]
        );
    }

    // With a second MANAGER in place, the first may be demoted.
    app.add_members(&admin, &group, &[&second], "MANAGER").await;
    app.add_members(&admin, &group, &[&first], "MEMBER").await;
    assert_eq!(
        roles(&app, &admin, &group).await,
        [
            pair("first@example.com", "MEMBER"),
            pair("second@example.com", "MANAGER")
        ]
    );
}

// ---- Imports stop when their submitter loses a right -------------------------

/// Entries of the slow imports below.
const ENTRIES: i64 = 100;

/// Ann's HTTP integration over a server that answers each request after
/// 50 ms, which Bob may use, and a manifest of its images.
struct SlowStorage {
    integration: String,
    manifest: String,
    /// The served folder, kept while the test runs.
    _media: tempfile::TempDir,
}

async fn slow_storage(app: &TestApp, ann: &TestUser, bob: &TestUser) -> SlowStorage {
    let (media, manifest) = many_images(ENTRIES as usize, "");
    let (base, _, _) = slow_server(media.path().to_path_buf(), Duration::from_millis(50)).await;
    let integration = integration(
        app,
        ann,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
    )
    .await;
    app.share(ann, "Integration", &integration, &[bob], "USER")
        .await;
    SlowStorage {
        integration,
        // The listed names (`00000.png`, …) become URLs under the server.
        manifest: manifest.replace("\n0", &format!("\n{base}0")),
        _media: media,
    }
}

/// Bob's import into `dataset`, once it has registered some files (most
/// are still to read): its id.
async fn import_under_way(
    app: &TestApp,
    bob: &TestUser,
    dataset: &str,
    storage: &SlowStorage,
) -> String {
    let job = submit(
        app,
        bob,
        dataset,
        &storage.integration,
        &storage.manifest,
        json!({ "ignore": true }),
    )
    .await;
    let job = job["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let data = app
            .ok(
                bob,
                "query($id: ID!) { importJob(id: $id) { succeeded } }",
                json!({ "id": job }),
            )
            .await;
        if data["importJob"]["succeeded"].as_i64().unwrap() > 0 {
            return job;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that a job stopped FAILED for losing the right `lost`, before
/// reading every entry.
fn assert_stopped_for(ended: &Value, lost: &str) {
    assert_eq!(ended["status"], "FAILED", "{ended:#}");
    let message = ended["message"].as_str().unwrap();
    assert!(
        message.contains(lost),
        "the message names the lost right: {message}"
    );
    let processed = ended["processed"].as_i64().unwrap();
    assert!(
        ended["succeeded"].as_i64().unwrap() > 0 && processed < ENTRIES,
        "{ended:#}"
    );
}

#[tokio::test]
async fn a_running_import_stops_failed_when_its_submitter_may_no_longer_add_data() {
    let app = spawn_app_with(|c| c.import.concurrency = 2).await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let storage = slow_storage(&app, &ann, &bob).await;
    let (dataset, folder) = mirrored_dataset(&app, &ann).await;
    app.share(&ann, "Dataset", &dataset, &[&bob], "ADMIN").await;
    app.share(&ann, "Folder", &folder, &[&bob], "ADMIN").await;
    let job = import_under_way(&app, &bob, &dataset, &storage).await;

    app.ok(
        &ann,
        "mutation($d: ID!, $u: ID!) { removeDatasetCollaborator(input: {datasetId: $d, userId: $u}) { id } }",
        json!({ "d": dataset, "u": bob.id }),
    )
    .await;

    let ended = finished(&app, &ann, &job).await;
    assert_stopped_for(&ended, "add data to this dataset");
    // What it registered stays.
    let data = app
        .ok(
            &ann,
            "query($id: ID!) { dataset(id: $id) { files { totalCount } } }",
            json!({ "id": dataset }),
        )
        .await;
    assert_eq!(data["dataset"]["files"]["totalCount"], ended["succeeded"]);
}

#[tokio::test]
async fn a_running_import_stops_failed_when_its_submitter_may_no_longer_use_the_integration() {
    let app = spawn_app_with(|c| c.import.concurrency = 2).await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let storage = slow_storage(&app, &ann, &bob).await;
    let (dataset, _) = mirrored_dataset(&app, &bob).await;
    let job = import_under_way(&app, &bob, &dataset, &storage).await;

    app.ok(
        &ann,
        "mutation($i: ID!, $u: ID!) { removeIntegrationCollaborator(input: {integrationId: $i, userId: $u}) { id } }",
        json!({ "i": storage.integration, "u": bob.id }),
    )
    .await;

    let ended = finished(&app, &bob, &job).await;
    assert_stopped_for(&ended, "use this storage integration");
}

// ---- Sharing through projects is audited -------------------------------------

const EVENTS: &str = "query($r: ID) { auditEvents(resourceId: $r, first: 100) { nodes {
    action resourceType resourceId actor { email } details } } }";

/// The UUID a global ID names, as audit details record it.
fn uuid_of(global: &str) -> String {
    annograph::ids::decode(global)
        .expect("a global ID")
        .1
        .to_string()
}

async fn events(app: &TestApp, admin: &TestUser, resource: &str) -> Vec<Value> {
    app.ok(admin, EVENTS, json!({ "r": resource })).await["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn sharing_a_dataset_or_ontology_through_a_project_is_audited() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let ann = app.user("ann@example.com").await;
    let first = app.dataset(&ann, "First", None).await;
    let second = app.dataset(&ann, "Second", None).await;
    let farm = app.ontology(&ann, "Farm").await;
    let zoo = app.ontology(&ann, "Zoo").await;

    let project = app.project(&ann, "Labelling", &farm, &[&first]).await;
    app.ok(
        &ann,
        "mutation($p: ID!, $d: ID!) { attachDatasetToProject(input: {projectId: $p, datasetId: $d}) { id } }",
        json!({ "p": project, "d": second }),
    )
    .await;
    app.ok(
        &ann,
        "mutation($p: ID!, $o: ID!) { setProjectOntology(input: {projectId: $p, ontologyId: $o}) { id } }",
        json!({ "p": project, "o": zoo }),
    )
    .await;

    let project_uuid = uuid_of(&project);
    for (resource, kind, action) in [
        (&first, "dataset", "dataset.project.attach"),
        (&second, "dataset", "dataset.project.attach"),
        (&farm, "ontology", "ontology.project.use"),
        (&zoo, "ontology", "ontology.project.use"),
    ] {
        let found = events(&app, &admin, resource).await;
        let event = found
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} on {resource}: {found:#?}"));
        assert_eq!(event["resourceType"], kind);
        assert_eq!(event["resourceId"], resource.as_str());
        assert_eq!(event["actor"]["email"], "ann@example.com");
        assert_eq!(event["details"]["projectId"], project_uuid);
        assert_eq!(event["details"]["projectTitle"], "Labelling");
    }
    let zoo_events = events(&app, &admin, &zoo).await;
    let set = zoo_events
        .iter()
        .find(|e| e["action"] == "ontology.project.use")
        .unwrap();
    assert_eq!(set["details"]["previousOntologyId"], uuid_of(&farm));

    // Attaching again changes nothing and records nothing more.
    app.ok(
        &ann,
        "mutation($p: ID!, $d: ID!) { attachDatasetToProject(input: {projectId: $p, datasetId: $d}) { id } }",
        json!({ "p": project, "d": second }),
    )
    .await;
    let attached = events(&app, &admin, &second)
        .await
        .into_iter()
        .filter(|e| e["action"] == "dataset.project.attach")
        .count();
    assert_eq!(attached, 1);
}
