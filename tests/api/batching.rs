//! A nested query costs a number of SQL statements set by its shape, not by
//! its page sizes: every relation is loaded through per-request DataLoaders.

use serde_json::{json, Value};

use crate::helpers::*;

const NESTED: &str = "query($n: Int!) {
  projects(first: $n) {
    totalCount
    nodes {
      title myRole viewerCan { view annotate }
      owner { email }
      ontology { title myRole viewerCan { edit } projects { title } }
      collaborators { role user { email } group { name } }
      datasets {
        title mirrored myRole viewerCan { addData }
        createdBy { email }
        collaborators { role user { email } group { name } }
        projects { title }
        files(first: $n) { totalCount nodes { title folder { name } datasets { title } } }
      }
    }
  }
}";

/// Statements the server sends to the database while answering `query`.
async fn statements(app: &TestApp, user: &TestUser, query: &str, vars: Value) -> (u64, Value) {
    let metrics = &app.server.state.services.metrics;
    let before = metrics.sql_statements();
    let data = app.ok(user, query, vars).await;
    (metrics.sql_statements() - before, data)
}

/// The fewest statements of three runs of the nested query. A DataLoader
/// collects keys for a few milliseconds; on a machine busy with other work a
/// batch can now and then be cut in two, which says nothing about N+1. A
/// query that loads per item costs more on every run.
async fn fewest_statements(app: &TestApp, user: &TestUser, n: u32) -> (u64, Value) {
    let mut best: Option<(u64, Value)> = None;
    for _ in 0..3 {
        let (count, data) = statements(app, user, NESTED, json!({ "n": n })).await;
        if best.as_ref().is_none_or(|(b, _)| count < *b) {
            best = Some((count, data));
        }
    }
    best.expect("three runs")
}

/// `projects` projects, each with a mirrored and a plain dataset of `files`
/// files, shared with a group and a user.
async fn workspace(app: &TestApp, projects: usize, files: usize) -> (TestUser, TestUser) {
    let admin = app.workspace_admin("admin@example.com").await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let group = app.group(&admin, "Team").await;
    app.add_members(&admin, &group, &[&viewer], "MEMBER").await;
    let ontology = app.ontology(&owner, "Shared").await;
    for p in 0..projects {
        let folder = app.folder(&owner, &format!("Folder {p}")).await;
        let urls: Vec<String> = (0..files).map(|f| format!("s3://b/{p}/{f}.jpg")).collect();
        let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
        let ids = app.files(&owner, &folder, &urls).await;
        let mirrored = app
            .dataset(&owner, &format!("Mirror {p}"), Some(&folder))
            .await;
        let plain = app.dataset(&owner, &format!("Plain {p}"), None).await;
        app.attach(&owner, &plain, &ids).await;
        let project = app
            .project(
                &owner,
                &format!("Project {p}"),
                &ontology,
                &[&mirrored, &plain],
            )
            .await;
        app.share_with_group(&owner, "Project", &project, &group, "ANNOTATOR")
            .await;
        app.share(&owner, "Dataset", &plain, &[&viewer], "USER")
            .await;
    }
    (owner, viewer)
}

#[tokio::test]
async fn a_nested_query_costs_the_same_statements_for_page_sizes_5_and_100() {
    let app = spawn_app().await;
    let (owner, viewer) = workspace(&app, 7, 6).await;
    for user in [&owner, &viewer] {
        let (small, data) = fewest_statements(&app, user, 5).await;
        assert_eq!(data["projects"]["nodes"].as_array().unwrap().len(), 5);
        assert_eq!(
            data["projects"]["nodes"][0]["datasets"][0]["files"]["nodes"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        let (large, data) = fewest_statements(&app, user, 100).await;
        assert_eq!(data["projects"]["nodes"].as_array().unwrap().len(), 7);
        assert_eq!(
            data["projects"]["nodes"][0]["datasets"][0]["files"]["nodes"]
                .as_array()
                .unwrap()
                .len(),
            6
        );
        println!(
            "nested query as {}: {small} statements for first: 5, {large} for first: 100",
            user.email
        );
        assert_eq!(small, large, "statement count must not depend on page size");
        assert!(
            large <= 30,
            "a nested query of this shape takes a bounded number of statements, got {large}"
        );
    }
}

#[tokio::test]
async fn loaders_keep_each_callers_view() {
    let app = spawn_app().await;
    let (_owner, viewer) = workspace(&app, 2, 2).await;
    let data = app.ok(&viewer, NESTED, json!({ "n": 100 })).await;
    let project = &data["projects"]["nodes"][0];
    assert_eq!(project["myRole"], "ANNOTATOR");
    assert_eq!(project["ontology"]["myRole"], json!(null));
    let datasets = project["datasets"].as_array().unwrap();
    let roles: Vec<&Value> = datasets.iter().map(|d| &d["myRole"]).collect();
    assert_eq!(
        roles,
        [&json!(null), &json!("USER")],
        "mirrored: through the project; plain: own USER role"
    );
    // The folders stay private; each file lists only the datasets the viewer may see.
    let file = &datasets[0]["files"]["nodes"][0];
    assert_eq!(file["folder"], json!(null));
    assert_eq!(file["datasets"].as_array().unwrap().len(), 2);

    let outsider = app.user("eve@example.com").await;
    let data = app.ok(&outsider, NESTED, json!({ "n": 100 })).await;
    assert_eq!(data["projects"]["totalCount"], 0);
}

#[tokio::test]
async fn statement_counts_for_common_shapes() {
    let app = spawn_app().await;
    let (owner, _) = workspace(&app, 4, 3).await;
    for (name, query) in [
        ("me", "{ me { email } }"),
        ("datasets with roles", "{ datasets(first: 100) { nodes { title myRole viewerCan { delete } } } }"),
        ("datasets with files and totals", "{ datasets(first: 100) { totalCount nodes { files(first: 100) { totalCount nodes { title } } } } }"),
        ("folders with files", "{ folders(first: 100) { nodes { name files { nodes { title datasets { title } } } } } }"),
        ("groups with members", "{ groups { nodes { name members { user { email } role } } } }"),
    ] {
        let (n, _) = statements(&app, &owner, query, json!({})).await;
        println!("{name}: {n} statements");
        assert!(n <= 12, "{name}: {n} statements");
    }
}
