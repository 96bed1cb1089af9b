use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn workspace_admins_read_the_audit_log_and_members_cannot() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let ds = app.dataset(&alice, "Birds", None).await;
    app.share(&alice, "Dataset", &ds, &[&bob], "USER").await;
    app.ok(
        &admin,
        "mutation($d: ID!) { joinDataset(input: {datasetId: $d}) { id } }",
        json!({ "d": ds }),
    )
    .await;
    app.ok(
        &alice,
        "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }",
        json!({ "d": ds }),
    )
    .await;

    let data = app
        .ok(
            &admin,
            "query($r: ID) { auditEvents(resourceId: $r) { totalCount nodes { action resourceType resourceId actor { email } details } } }",
            json!({ "r": ds }),
        )
        .await;
    let events = data["auditEvents"]["nodes"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["grant.add", "dataset.join", "dataset.delete"]);
    assert_eq!(events[0]["actor"]["email"], "alice@example.com");
    assert_eq!(events[0]["details"]["role"], "USER");
    assert_eq!(events[1]["actor"]["email"], "admin@example.com");
    assert!(events
        .iter()
        .all(|e| e["resourceId"] == json!(ds) && e["resourceType"] == "dataset"));

    assert_eq!(
        app.code(&alice, "{ auditEvents { totalCount } }", json!({}))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn workspace_roles_are_managed_by_admins_and_one_admin_always_remains() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let alice = app.user("alice@example.com").await;
    let set = "mutation($u: ID!, $r: WorkspaceRole!) { setWorkspaceRole(input: {userId: $u, role: $r}) { email workspaceRole } }";
    assert_eq!(
        app.code(&alice, set, json!({ "u": alice.id, "r": "ADMIN" }))
            .await,
        "FORBIDDEN"
    );
    let data = app
        .ok(&admin, set, json!({ "u": alice.id, "r": "ADMIN" }))
        .await;
    assert_eq!(
        data["setWorkspaceRole"],
        json!({ "email": "alice@example.com", "workspaceRole": "ADMIN" })
    );
    // Alice can now list every dataset.
    app.ok(&alice, "{ workspaceDatasets { totalCount } }", json!({}))
        .await;
    app.ok(&alice, set, json!({ "u": admin.id, "r": "MEMBER" }))
        .await;
    assert_eq!(
        app.code(&alice, set, json!({ "u": alice.id, "r": "MEMBER" }))
            .await,
        "CONFLICT"
    );
    let data = app.ok(&alice, "{ me { workspaceRole } }", json!({})).await;
    assert_eq!(data["me"]["workspaceRole"], "ADMIN");
}

#[tokio::test]
async fn any_object_resolves_through_node_for_those_who_may_see_it() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let alice = app.user("alice@example.com").await;
    let folder = app.folder(&alice, "F").await;
    let files = app.files(&alice, &folder, &["s3://b/1.jpg"]).await;
    let ds = app.dataset(&alice, "D", None).await;
    let ontology = app.ontology(&alice, "O").await;
    let project = app.project(&alice, "P", &ontology, &[&ds]).await;
    let group = app.group(&admin, "G").await;
    let node = "query($id: ID!) { node(id: $id) { __typename id } }";
    for (id, ty) in [
        (&alice.id, "User"),
        (&folder, "Folder"),
        (&files[0], "File"),
        (&ds, "Dataset"),
        (&ontology, "Ontology"),
        (&project, "Project"),
        (&group, "Group"),
    ] {
        let data = app.ok(&alice, node, json!({ "id": id })).await;
        assert_eq!(data["node"], json!({ "__typename": ty, "id": id }));
    }
    let outsider = app.user("eve@example.com").await;
    for id in [&folder, &files[0], &ds, &ontology, &project] {
        let (_, body) = app
            .post(Some(&outsider.token), node, json!({ "id": id }))
            .await;
        assert_eq!(body["data"]["node"], json!(null));
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    }
}

#[tokio::test]
async fn health_and_readiness_endpoints_answer() {
    let app = spawn_app().await;
    let base = app.url.trim_end_matches("/graphql");
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
}
