//! A nested query costs a number of SQL statements set by its shape, not by
//! its page sizes: every relation is loaded through per-request DataLoaders,
//! whose batches are cut by the query's shape, the same on every run.

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

/// The statements of `runs` runs of the nested query at page size `n`,
/// which must all be the same: batches are cut by the query's shape, not by
/// how long its fields took, so every run costs the same.
async fn statements_every_run(app: &TestApp, user: &TestUser, n: u32, runs: usize) -> (u64, Value) {
    // A first request may open a database connection, whose setup
    // statements (on PostgreSQL) say nothing of the query.
    statements(app, user, NESTED, json!({ "n": n })).await;
    let mut counts = Vec::with_capacity(runs);
    let mut last = Value::Null;
    for _ in 0..runs {
        let (count, data) = statements(app, user, NESTED, json!({ "n": n })).await;
        counts.push(count);
        last = data;
    }
    assert!(
        counts.iter().all(|&c| c == counts[0]),
        "first: {n} as {}: the statements differ from run to run: {counts:?}",
        user.email
    );
    (counts[0], last)
}

/// A server that runs no import jobs: nothing but the requests of a test
/// sends statements.
async fn quiet_app() -> TestApp {
    spawn_app_with(|config| config.import.jobs = 0).await
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
async fn a_nested_query_costs_the_same_statements_for_every_page_size() {
    let app = quiet_app().await;
    let (owner, viewer) = workspace(&app, 7, 6).await;
    for user in [&owner, &viewer] {
        let (small, data) = statements_every_run(&app, user, 5, 20).await;
        assert_eq!(data["projects"]["nodes"].as_array().unwrap().len(), 5);
        assert_eq!(
            data["projects"]["nodes"][0]["datasets"][0]["files"]["nodes"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        let (middle, _) = statements_every_run(&app, user, 20, 20).await;
        let (large, data) = statements_every_run(&app, user, 100, 20).await;
        assert_eq!(data["projects"]["nodes"].as_array().unwrap().len(), 7);
        assert_eq!(
            data["projects"]["nodes"][0]["datasets"][0]["files"]["nodes"]
                .as_array()
                .unwrap()
                .len(),
            6
        );
        println!(
            "nested query as {}: {small} statements for first: 5, {middle} for 20, {large} for 100",
            user.email
        );
        assert_eq!(
            small, middle,
            "statement count must not depend on page size"
        );
        assert_eq!(small, large, "statement count must not depend on page size");
        assert!(
            large <= 30,
            "a nested query of this shape takes a bounded number of statements, got {large}"
        );
    }
}

#[tokio::test]
async fn a_nested_query_over_100_datasets_of_20_files_costs_the_same_on_every_run() {
    let app = quiet_app().await;
    // 50 projects of 2 datasets (one mirroring a folder, one attached), 20 files each.
    let (owner, viewer) = workspace(&app, 50, 20).await;
    for user in [&owner, &viewer] {
        let (small, _) = statements_every_run(&app, user, 5, 20).await;
        let (middle, _) = statements_every_run(&app, user, 20, 20).await;
        let (large, data) = statements_every_run(&app, user, 100, 20).await;
        let projects = data["projects"]["nodes"].as_array().unwrap();
        assert_eq!(projects.len(), 50);
        let files: usize = projects
            .iter()
            .flat_map(|p| p["datasets"].as_array().unwrap())
            .map(|d| d["files"]["nodes"].as_array().unwrap().len())
            .sum();
        assert_eq!(files, 100 * 20);
        println!(
            "nested query over 100 datasets as {}: {small} statements for first: 5, {middle} for 20, {large} for 100",
            user.email
        );
        assert_eq!(
            small, middle,
            "statement count must not depend on page size"
        );
        assert_eq!(small, large, "statement count must not depend on page size");
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
    let app = quiet_app().await;
    let (owner, _) = workspace(&app, 4, 3).await;
    // The page (with its count when asked), the access to its items when a
    // field asks for it (the contents of a row listed as viewable show
    // without it), a statement per relation loaded; the caller's workspace
    // role only where it decides (the directory, group management). A
    // caller signed in before costs no statement; their own row is one.
    for (name, query, expected) in [
        ("me", "{ me { email workspaceRole } }", 1),
        ("datasets with roles", "{ datasets(first: 100) { nodes { title myRole viewerCan { delete } } } }", 2),
        ("datasets with files and totals", "{ datasets(first: 100) { totalCount nodes { files(first: 100) { totalCount nodes { title } } } } }", 3),
        ("folders with files", "{ folders(first: 100) { nodes { name files { nodes { title datasets { title } } } } } }", 4),
        ("groups with members", "{ groups { nodes { name members { user { email } role } } } }", 4),
    ] {
        // A first request may open a connection (setup statements).
        statements(&app, &owner, query, json!({})).await;
        let (n, _) = statements(&app, &owner, query, json!({})).await;
        println!("{name}: {n} statements");
        assert_eq!(n, expected, "{name}: {n} statements");
    }
}

/// "My datasets" with each dataset's files, newest first.
const MY_DATASETS_WITH_FILES: &str = "query($n: Int!) {
  datasets(first: $n, orderBy: {field: CREATED_AT, direction: DESC}) {
    totalCount nodes { title files(first: $n) { totalCount nodes { title } } }
  }
}";

#[tokio::test]
async fn a_page_of_datasets_with_files_costs_the_same_statements_whatever_datasets_it_holds() {
    let app = quiet_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    // The oldest two: a mirrored dataset (its files are its folder's, which
    // the viewer may not see) and one the viewer sees only through a project.
    let folder = app.folder(&owner, "Mirrored").await;
    app.files(&owner, &folder, &["s3://b/m/1.jpg", "s3://b/m/2.jpg"])
        .await;
    let mirrored = app.dataset(&owner, "Mirror", Some(&folder)).await;
    app.share(&owner, "Dataset", &mirrored, &[&viewer], "USER")
        .await;
    let through_project = app.dataset(&owner, "Through a project", None).await;
    let ontology = app.ontology(&owner, "Labels").await;
    let project = app
        .project(&owner, "Project", &ontology, &[&through_project])
        .await;
    app.share(&owner, "Project", &project, &[&viewer], "ANNOTATOR")
        .await;
    // The newest five: plain datasets shared with the viewer, with files.
    let plain_folder = app.folder(&owner, "Plain").await;
    let files = app
        .files(&owner, &plain_folder, &["s3://b/p/1.jpg", "s3://b/p/2.jpg"])
        .await;
    for i in 0..5 {
        let plain = app.dataset(&owner, &format!("Plain {i}"), None).await;
        app.attach(&owner, &plain, &files).await;
        app.share(&owner, "Dataset", &plain, &[&viewer], "USER")
            .await;
    }

    let counted = |n: u32| {
        let (app, viewer) = (&app, &viewer);
        async move {
            // A first request may open a connection (setup statements).
            statements(app, viewer, MY_DATASETS_WITH_FILES, json!({ "n": n })).await;
            statements(app, viewer, MY_DATASETS_WITH_FILES, json!({ "n": n })).await
        }
    };
    let (five, data) = counted(5).await;
    let titles: Vec<&str> = data["datasets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert!(titles.iter().all(|t| t.starts_with("Plain")), "{titles:?}");
    let (fifty, data) = counted(50).await;
    let nodes = data["datasets"]["nodes"].as_array().unwrap();
    assert_eq!(data["datasets"]["totalCount"], 7);
    assert_eq!(nodes.len(), 7);
    assert_eq!(nodes[5]["title"], "Through a project");
    assert_eq!(nodes[6]["title"], "Mirror");
    assert_eq!(nodes[6]["files"]["totalCount"], 2);
    assert_eq!(nodes[5]["files"]["totalCount"], 0);
    assert_eq!(
        five, fifty,
        "first: 5 (plain datasets only) cost {five} statements, first: 50 (a mirrored dataset and one seen through a project too) {fifty}"
    );
    // The page and its count, file pages, file counts (the caller signed in
    // before; the datasets were listed as viewable: no statement asks for
    // access).
    assert_eq!(fifty, 3);
}

/// Statements the server sends while answering `query`, whatever the answer.
async fn statements_of_any(
    app: &TestApp,
    user: &TestUser,
    query: &str,
    vars: Value,
) -> (u64, Value) {
    let metrics = &app.server.state.services.metrics;
    let before = metrics.sql_statements();
    let (_, body) = app.post(Some(&user.token), query, vars).await;
    (metrics.sql_statements() - before, body)
}

#[tokio::test]
async fn an_object_by_id_costs_the_same_statements_visible_hidden_or_missing() {
    let app = quiet_app().await;
    let owner = app.user("owner@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let kept = app.dataset(&owner, "Kept", None).await;
    let gone = app.dataset(&owner, "Gone", None).await;
    app.ok(
        &owner,
        "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }",
        json!({ "d": gone }),
    )
    .await;
    let query = "query($id: ID!) { dataset(id: $id) { title } }";
    // A first request may open a connection (setup statements).
    statements_of_any(&app, &owner, query, json!({ "id": kept })).await;
    statements_of_any(&app, &outsider, query, json!({ "id": kept })).await;

    let (visible, body) = statements_of_any(&app, &owner, query, json!({ "id": kept })).await;
    assert_eq!(body["data"]["dataset"]["title"], "Kept", "{body}");
    let (hidden, body) = statements_of_any(&app, &outsider, query, json!({ "id": kept })).await;
    assert_eq!(body["data"]["dataset"], Value::Null, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{body}"
    );
    let (missing, body) = statements_of_any(&app, &owner, query, json!({ "id": gone })).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{body}"
    );
    // The row and the caller's access, read at once in every case: how
    // long the answer takes tells nothing of whether the dataset exists.
    assert_eq!((visible, hidden, missing), (2, 2, 2));
}
