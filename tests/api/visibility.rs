//! Who sees what, route by route, through every list and lookup; the
//! "my role" and "joined" filters with their totals; creation-time order.

use annograph::ids;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::helpers::*;

/// Every route to a dataset, a file, a project, an ontology and a folder.
struct Scenario {
    app: TestApp,
    alice: TestUser,
    /// Direct USER on `d1`.
    bob: TestUser,
    /// MEMBER of the group holding USER on `d2`.
    carol: TestUser,
    /// MANAGER of that group: its grants do not reach her.
    dave: TestUser,
    /// ANNOTATOR on the project using `d3` and the ontology.
    erin: TestUser,
    /// USER on folder `f1` (files `a`, `b`).
    frank: TestUser,
    /// USER on `dm`, which mirrors folder `f2` (file `c`).
    gina: TestUser,
    d1: String,
    d2: String,
    d3: String,
    dm: String,
    f1: String,
    /// Files: `a` (f1, attached to d1), `b` (f1, attached to d2), `c` (f2).
    a: String,
    b: String,
    c: String,
    project: String,
}

async fn scenario() -> Scenario {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let carol = app.user("carol@example.com").await;
    let dave = app.user("dave@example.com").await;
    let erin = app.user("erin@example.com").await;
    let frank = app.user("frank@example.com").await;
    let gina = app.user("gina@example.com").await;
    let f1 = app.folder(&alice, "F1").await;
    let f2 = app.folder(&alice, "F2").await;
    let ab = app
        .files(&alice, &f1, &["s3://bucket/a.jpg", "s3://bucket/b.jpg"])
        .await;
    let c = app.files(&alice, &f2, &["s3://bucket/c.jpg"]).await;
    let d1 = app.dataset(&alice, "D1", None).await;
    let d2 = app.dataset(&alice, "D2", None).await;
    let d3 = app.dataset(&alice, "D3", None).await;
    let dm = app.dataset(&alice, "DM", Some(&f2)).await;
    app.attach(&alice, &d1, &ab[..1]).await;
    app.attach(&alice, &d2, &ab[1..]).await;
    let ontology = app.ontology(&alice, "O").await;
    let project = app.project(&alice, "P", &ontology, &[&d3]).await;

    app.share(&alice, "Dataset", &d1, &[&bob], "USER").await;
    let group = app.group(&admin, "G").await;
    app.add_members(&admin, &group, &[&carol], "MEMBER").await;
    app.add_members(&admin, &group, &[&dave], "MANAGER").await;
    app.share_with_group(&alice, "Dataset", &d2, &group, "USER")
        .await;
    app.share(&alice, "Project", &project, &[&erin], "ANNOTATOR")
        .await;
    app.share(&alice, "Folder", &f1, &[&frank], "USER").await;
    app.share(&alice, "Dataset", &dm, &[&gina], "USER").await;
    Scenario {
        app,
        alice,
        bob,
        carol,
        dave,
        erin,
        frank,
        gina,
        d1,
        d2,
        d3,
        dm,
        f1,
        a: ab[0].clone(),
        b: ab[1].clone(),
        c: c[0].clone(),
        project,
    }
}

/// Sorted titles of a list query's nodes, checked against its totalCount.
async fn listed(app: &TestApp, user: &TestUser, field: &str, args: &str) -> Vec<String> {
    let query = format!(
        "{{ list: {field}{args} {{ totalCount nodes {{ title: {} }} }} }}",
        if field == "folders" { "name" } else { "title" }
    );
    let data = app.ok(user, &query, json!({})).await;
    let found = titles(&data["list"]["nodes"]);
    assert_eq!(
        data["list"]["totalCount"],
        json!(found.len()),
        "{field}{args} for {}: totalCount agrees with the nodes",
        user.email
    );
    found
}

/// Is the file visible to `user` through `file(id)`?
async fn sees_file(app: &TestApp, user: &TestUser, file: &str) -> bool {
    let (_, body) = app
        .post(
            Some(&user.token),
            "query($id: ID!) { file(id: $id) { id } }",
            json!({ "id": file }),
        )
        .await;
    !body["data"]["file"].is_null()
}

/// Is the dataset visible to `user` through `dataset(id)`, and what does
/// `viewerCan` say?
async fn sees_dataset(app: &TestApp, user: &TestUser, dataset: &str) -> (bool, Value) {
    let (_, body) = app
        .post(
            Some(&user.token),
            "query($id: ID!) { dataset(id: $id) { viewerCan { view addData } myRole } }",
            json!({ "id": dataset }),
        )
        .await;
    let d = &body["data"]["dataset"];
    (!d.is_null(), d.clone())
}

#[tokio::test]
async fn every_route_shows_what_it_grants_and_nothing_else() {
    let s = scenario().await;
    let app = &s.app;
    let none: Vec<String> = Vec::new();

    // Datasets, by route.
    assert_eq!(listed(app, &s.bob, "datasets", "").await, ["D1"]);
    assert_eq!(listed(app, &s.carol, "datasets", "").await, ["D2"]);
    assert_eq!(listed(app, &s.dave, "datasets", "").await, none);
    assert_eq!(listed(app, &s.erin, "datasets", "").await, ["D3"]);
    assert_eq!(listed(app, &s.frank, "datasets", "").await, none);
    assert_eq!(listed(app, &s.gina, "datasets", "").await, ["DM"]);
    assert_eq!(
        listed(app, &s.alice, "datasets", "").await,
        ["D1", "D2", "D3", "DM"]
    );

    // One dataset at a time, and what the caller may do with it.
    for (user, dataset, visible) in [
        (&s.bob, &s.d1, true),
        (&s.bob, &s.d2, false),
        (&s.carol, &s.d2, true),
        (&s.dave, &s.d2, false),
        (&s.erin, &s.d3, true),
        (&s.erin, &s.d1, false),
        (&s.frank, &s.d1, false),
        (&s.gina, &s.dm, true),
    ] {
        let (seen, d) = sees_dataset(app, user, dataset).await;
        assert_eq!(seen, visible, "{} on a dataset: {d}", user.email);
        if seen {
            assert_eq!(d["viewerCan"]["view"], json!(true));
            assert_eq!(d["viewerCan"]["addData"], json!(false));
        }
    }
    let (_, d) = sees_dataset(app, &s.erin, &s.d3).await;
    assert_eq!(d["myRole"], Value::Null, "read-only through the project");
    let (_, d) = sees_dataset(app, &s.carol, &s.d2).await;
    assert_eq!(d["myRole"], json!("USER"), "through the group");

    // Files, by route: attached to a visible dataset, in a granted folder,
    // in the folder a visible dataset mirrors.
    for (user, file, visible) in [
        (&s.bob, &s.a, true),
        (&s.bob, &s.b, false),
        (&s.bob, &s.c, false),
        (&s.carol, &s.b, true),
        (&s.carol, &s.a, false),
        (&s.dave, &s.b, false),
        (&s.erin, &s.a, false),
        (&s.frank, &s.a, true),
        (&s.frank, &s.b, true),
        (&s.frank, &s.c, false),
        (&s.gina, &s.c, true),
        (&s.gina, &s.a, false),
    ] {
        assert_eq!(
            sees_file(app, user, file).await,
            visible,
            "{} on file {file}",
            user.email
        );
    }

    // A dataset's files and their count, and a mirrored dataset's.
    let files = "query($id: ID!) { dataset(id: $id) { fileCount files(first: 1) { totalCount pageInfo { hasNextPage } nodes { objectUrl } } } }";
    let data = app.ok(&s.bob, files, json!({ "id": s.d1 })).await;
    assert_eq!(data["dataset"]["files"]["totalCount"], json!(1));
    assert_eq!(
        data["dataset"]["files"]["nodes"][0]["objectUrl"],
        json!("s3://bucket/a.jpg")
    );
    let data = app.ok(&s.gina, files, json!({ "id": s.dm })).await;
    assert_eq!(data["dataset"]["files"]["totalCount"], json!(1));
    assert_eq!(
        data["dataset"]["files"]["nodes"][0]["objectUrl"],
        json!("s3://bucket/c.jpg")
    );

    // Projects, ontologies and folders.
    assert_eq!(listed(app, &s.erin, "projects", "").await, ["P"]);
    assert_eq!(listed(app, &s.bob, "projects", "").await, none);
    assert_eq!(listed(app, &s.erin, "ontologies", "").await, ["O"]);
    assert_eq!(listed(app, &s.bob, "ontologies", "").await, none);
    assert_eq!(listed(app, &s.frank, "folders", "").await, ["F1"]);
    assert_eq!(listed(app, &s.gina, "folders", "").await, none);
    assert_eq!(listed(app, &s.alice, "folders", "").await, ["F1", "F2"]);

    // A project's datasets as its collaborators see them.
    let data = app
        .ok(
            &s.erin,
            "query($id: ID!) { project(id: $id) { datasets { title } } }",
            json!({ "id": s.project }),
        )
        .await;
    assert_eq!(titles(&data["project"]["datasets"]), ["D3"]);
    let _ = &s.f1;
}

#[tokio::test]
async fn my_role_filters_count_only_the_callers_own_roles() {
    let s = scenario().await;
    let app = &s.app;
    let none: Vec<String> = Vec::new();
    // Erin sees D3 through the project only: no role of her own.
    assert_eq!(
        listed(app, &s.erin, "datasets", "(myRole: [ADMIN, USER])").await,
        none
    );
    // Carol's USER comes through her group.
    assert_eq!(
        listed(app, &s.carol, "datasets", "(myRole: [USER])").await,
        ["D2"]
    );
    assert_eq!(
        listed(app, &s.carol, "datasets", "(myRole: [ADMIN])").await,
        none
    );
    assert_eq!(
        listed(app, &s.dave, "datasets", "(myRole: [USER, ADMIN])").await,
        none
    );
    assert_eq!(
        listed(app, &s.alice, "datasets", "(myRole: [ADMIN])").await,
        ["D1", "D2", "D3", "DM"]
    );
    assert_eq!(
        listed(app, &s.alice, "datasets", "(myRole: [])").await,
        none
    );
    // Projects the caller administers.
    assert_eq!(
        listed(app, &s.alice, "projects", "(myRole: [ADMIN])").await,
        ["P"]
    );
    assert_eq!(
        listed(app, &s.erin, "projects", "(myRole: [ADMIN])").await,
        none
    );
    assert_eq!(
        listed(app, &s.erin, "projects", "(myRole: [ADMIN, ANNOTATOR])").await,
        ["P"]
    );

    // A workspace ADMIN's datasets, joined or not.
    let admin = app.workspace_admin("admin@example.com").await;
    let all = ["D1", "D2", "D3", "DM"];
    assert_eq!(
        listed(app, &admin, "workspaceDatasets", "(joined: false)").await,
        all
    );
    assert_eq!(
        listed(app, &admin, "workspaceDatasets", "(joined: true)").await,
        none
    );
    app.ok(
        &admin,
        "mutation($d: ID!) { joinDataset(input: {datasetId: $d}) { id } }",
        json!({ "d": s.d1 }),
    )
    .await;
    assert_eq!(
        listed(app, &admin, "workspaceDatasets", "(joined: false)").await,
        ["D2", "D3", "DM"]
    );
    assert_eq!(
        listed(app, &admin, "workspaceDatasets", "(joined: true)").await,
        ["D1"]
    );
    assert_eq!(listed(app, &admin, "workspaceDatasets", "").await, all);
    // Only workspace ADMINs list the workspace's datasets.
    assert_eq!(
        app.code(
            &s.bob,
            "{ workspaceDatasets(joined: false) { totalCount } }",
            json!({})
        )
        .await,
        "FORBIDDEN"
    );
}

/// Gives a dataset its own creation time, as a seed or an import would.
async fn set_created_at(app: &TestApp, dataset: &str, at: &str) {
    let (_, id) = ids::decode(dataset).expect("dataset id");
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let db = &app.server.state.services.db;
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE datasets SET created_at = $1 WHERE id = $2",
        _ => "UPDATE datasets SET created_at = ? WHERE id = ?",
    };
    let done = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [at.into(), id.into()],
        ))
        .await
        .expect("update created_at");
    assert_eq!(done.rows_affected(), 1);
}

#[tokio::test]
async fn creation_order_follows_created_at_with_stable_pages_across_ties() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mut made = Vec::new();
    for title in ["A", "B", "C", "D", "E", "F"] {
        made.push(app.dataset(&alice, title, None).await);
    }
    // Creation times out of id order, with a tie (B, D, F) across pages.
    for (dataset, at) in [
        (&made[0], "2024-03-01T00:00:00Z"),
        (&made[1], "2024-02-01T00:00:00Z"),
        (&made[2], "2024-01-01T00:00:00Z"),
        (&made[3], "2024-02-01T00:00:00Z"),
        (&made[4], "2024-01-15T00:00:00.000001Z"),
        (&made[5], "2024-02-01T00:00:00Z"),
    ] {
        set_created_at(&app, dataset, at).await;
    }
    let query = "query($o: ListOrder, $a: String) { datasets(first: 2, after: $a, orderBy: $o) { totalCount pageInfo { hasNextPage endCursor } nodes { title } } }";
    let walk = |direction: &'static str| {
        let (app, alice) = (&app, alice.clone());
        async move {
            let mut seen = Vec::new();
            let mut after = Value::Null;
            loop {
                let data = app
                    .ok(
                        &alice,
                        query,
                        json!({ "o": { "field": "CREATED_AT", "direction": direction }, "a": after }),
                    )
                    .await;
                assert_eq!(data["datasets"]["totalCount"], json!(6));
                for node in data["datasets"]["nodes"].as_array().unwrap() {
                    seen.push(node["title"].as_str().unwrap().to_owned());
                }
                if data["datasets"]["pageInfo"]["hasNextPage"] != json!(true) {
                    return seen;
                }
                after = data["datasets"]["pageInfo"]["endCursor"].clone();
            }
        }
    };
    // Ties in created_at are broken by id: creation order here.
    assert_eq!(walk("ASC").await, ["C", "E", "B", "D", "F", "A"]);
    assert_eq!(walk("DESC").await, ["A", "F", "D", "B", "E", "C"]);

    // A cursor naming only an id (as lists gave before) is refused cleanly.
    let (_, id) = ids::decode(&made[1]).unwrap();
    let old = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("cursor:{id}"))
    };
    assert_eq!(
        app.code(&alice, query, json!({ "o": null, "a": old }))
            .await,
        "BAD_USER_INPUT"
    );
}
