use serde_json::json;

use crate::helpers::*;

const DATASET: &str = "query($id: ID!) { dataset(id: $id) { id title mirrored myRole
    viewerCan { view addData adjustSettings delete attachToProject }
    collaborators { role user { email } group { name } } files { totalCount nodes { title } } } }";

#[tokio::test]
async fn the_creator_of_a_dataset_is_its_admin() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let id = app.dataset(&alice, "Birds", None).await;
    let data = app.ok(&alice, DATASET, json!({ "id": id })).await;
    let d = &data["dataset"];
    assert_eq!(d["myRole"], "ADMIN");
    assert_eq!(d["mirrored"], false);
    assert_eq!(
        d["viewerCan"],
        json!({ "view": true, "addData": true, "adjustSettings": true, "delete": true, "attachToProject": true })
    );
    assert_eq!(
        d["collaborators"],
        json!([{ "role": "ADMIN", "user": { "email": "alice@example.com" }, "group": null }])
    );
}

#[tokio::test]
async fn a_dataset_user_views_and_attaches_to_own_projects_but_cannot_change_it() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let folder = app.folder(&alice, "Photos").await;
    let files = app
        .files(&alice, &folder, &["s3://b/1.jpg", "s3://b/2.jpg"])
        .await;
    let ds = app.dataset(&alice, "Birds", None).await;
    app.attach(&alice, &ds, &files[..1]).await;
    app.share(&alice, "Dataset", &ds, &[&bob], "USER").await;

    let data = app.ok(&bob, DATASET, json!({ "id": ds })).await;
    assert_eq!(data["dataset"]["myRole"], "USER");
    assert_eq!(
        data["dataset"]["viewerCan"],
        json!({ "view": true, "addData": false, "adjustSettings": false, "delete": false, "attachToProject": true })
    );
    assert_eq!(data["dataset"]["files"]["totalCount"], 1);

    let forbidden = [
        ("mutation($d: ID!, $f: [ID!]!) { attachFilesToDataset(input: {datasetId: $d, fileIds: $f}) { id } }", json!({ "d": ds, "f": [files[1]] })),
        ("mutation($d: ID!) { updateDataset(input: {id: $d, title: \"Mine\"}) { id } }", json!({ "d": ds })),
        ("mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }", json!({ "d": ds })),
        ("mutation($d: ID!, $u: [ID!]!) { addDatasetCollaborators(input: {datasetId: $d, userIds: $u, role: USER}) { id } }", json!({ "d": ds, "u": [bob.id] })),
    ];
    for (query, vars) in forbidden {
        assert_eq!(app.code(&bob, query, vars).await, "FORBIDDEN", "{query}");
    }
    // Nothing changed.
    let data = app.ok(&alice, DATASET, json!({ "id": ds })).await;
    assert_eq!(data["dataset"]["title"], "Birds");
    assert_eq!(data["dataset"]["files"]["totalCount"], 1);

    let ontology = app.ontology(&bob, "Bob's ontology").await;
    let project = app.project(&bob, "Bob's project", &ontology, &[]).await;
    let data = app
        .ok(
            &bob,
            "mutation($p: ID!, $d: ID!) { attachDatasetToProject(input: {projectId: $p, datasetId: $d}) { datasets { title } } }",
            json!({ "p": project, "d": ds }),
        )
        .await;
    assert_eq!(
        data["attachDatasetToProject"]["datasets"],
        json!([{ "title": "Birds" }])
    );
}

#[tokio::test]
async fn an_outsider_gets_not_found_exactly_as_for_a_missing_dataset() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let eve = app.user("eve@example.com").await;
    let ds = app.dataset(&alice, "Secret", None).await;
    let alice_ds = app.dataset(&alice, "Deleted soon", None).await;
    app.ok(
        &alice,
        "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }",
        json!({ "d": alice_ds }),
    )
    .await;

    let (_, hidden) = app
        .post(
            Some(&eve.token),
            "query($id: ID!) { dataset(id: $id) { title } }",
            json!({ "id": ds }),
        )
        .await;
    let (_, missing) = app
        .post(
            Some(&eve.token),
            "query($id: ID!) { dataset(id: $id) { title } }",
            json!({ "id": alice_ds }),
        )
        .await;
    assert_eq!(hidden["data"], json!({ "dataset": null }));
    assert_eq!(hidden["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(
        hidden, missing,
        "a hidden dataset must look exactly like a missing one"
    );

    for (query, vars) in [
        (
            "mutation($d: ID!) { updateDataset(input: {id: $d, title: \"x\"}) { id } }",
            json!({ "d": ds }),
        ),
        (
            "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }",
            json!({ "d": ds }),
        ),
        (
            "mutation($d: ID!) { joinDataset(input: {datasetId: $d}) { id } }",
            json!({ "d": ds }),
        ),
        ("query($d: ID!) { node(id: $d) { id } }", json!({ "d": ds })),
    ] {
        let code = app.code(&eve, query, vars).await;
        assert!(
            code == "NOT_FOUND" || (query.contains("joinDataset") && code == "FORBIDDEN"),
            "{query}: {code}"
        );
    }
    let data = app
        .ok(
            &eve,
            "{ datasets { totalCount nodes { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["datasets"]["totalCount"], 0);
}

#[tokio::test]
async fn workspace_admins_list_every_dataset_and_join_as_admin() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let alice = app.user("alice@example.com").await;
    let ds = app.dataset(&alice, "Private birds", None).await;
    app.dataset(&admin, "Admin's own", None).await;

    let data = app
        .ok(
            &admin,
            "{ workspaceDatasets { totalCount nodes { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        titles(&data["workspaceDatasets"]["nodes"]),
        ["Admin's own", "Private birds"]
    );
    let data = app
        .ok(
            &admin,
            "query($s: String) { workspaceDatasets(search: $s) { totalCount } }",
            json!({ "s": "BIRD" }),
        )
        .await;
    assert_eq!(data["workspaceDatasets"]["totalCount"], 1);
    assert_eq!(
        app.code(&alice, "{ workspaceDatasets { totalCount } }", json!({}))
            .await,
        "FORBIDDEN"
    );

    // Listing is not access: the contents stay closed until the admin joins.
    assert_eq!(
        app.code(&admin, DATASET, json!({ "id": ds })).await,
        "NOT_FOUND"
    );
    let data = app
        .ok(&admin, "{ datasets { totalCount } }", json!({}))
        .await;
    assert_eq!(data["datasets"]["totalCount"], 1);

    let data = app
        .ok(
            &admin,
            "mutation($d: ID!) { joinDataset(input: {datasetId: $d}) { myRole title } }",
            json!({ "d": ds }),
        )
        .await;
    assert_eq!(
        data["joinDataset"],
        json!({ "myRole": "ADMIN", "title": "Private birds" })
    );
    let data = app.ok(&admin, DATASET, json!({ "id": ds })).await;
    assert_eq!(data["dataset"]["viewerCan"]["delete"], true);

    assert_eq!(
        app.code(
            &alice,
            "mutation($d: ID!) { joinDataset(input: {datasetId: $d}) { id } }",
            json!({ "d": ds })
        )
        .await,
        "FORBIDDEN"
    );

    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let joins = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Action.eq("dataset.join"))
        .all(&app.server.state.services.db)
        .await
        .unwrap();
    assert_eq!(joins.len(), 1, "joining is audited");
}

#[tokio::test]
async fn deleting_a_dataset_needs_the_word_delete() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let ds = app.dataset(&alice, "Temporary", None).await;
    for word in ["", "yes", "DELETE", "delete "] {
        assert_eq!(
            app.code(
                &alice,
                "mutation($d: ID!, $c: String!) { deleteDataset(input: {id: $d, confirm: $c}) }",
                json!({ "d": ds, "c": word })
            )
            .await,
            "BAD_USER_INPUT",
            "{word:?}"
        );
    }
    app.ok(&alice, DATASET, json!({ "id": ds })).await;
    let data = app
        .ok(
            &alice,
            "mutation($d: ID!) { deleteDataset(input: {id: $d, confirm: \"delete\"}) }",
            json!({ "d": ds }),
        )
        .await;
    assert_eq!(data["deleteDataset"], json!(ds));
    assert_eq!(
        app.code(&alice, DATASET, json!({ "id": ds })).await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn moving_a_file_between_mirrored_datasets_moves_it_between_their_projects() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let farm_annotator = app.user("farm@example.com").await;
    let chicken_annotator = app.user("chicken@example.com").await;
    let animals = app.folder(&owner, "Animals").await;
    let chickens = app.folder(&owner, "Chickens").await;
    let files = app
        .files(
            &owner,
            &animals,
            &["s3://b/animals/chicken.mp4", "s3://b/animals/cow.jpg"],
        )
        .await;
    let animal_videos = app.dataset(&owner, "Animal videos", Some(&animals)).await;
    let chicken_videos = app.dataset(&owner, "Chicken videos", Some(&chickens)).await;
    let ontology = app.ontology(&owner, "Farm").await;
    let farm = app
        .project(&owner, "Farm", &ontology, &[&animal_videos])
        .await;
    let coop = app
        .project(&owner, "Coop", &ontology, &[&chicken_videos])
        .await;
    app.share(&owner, "Project", &farm, &[&farm_annotator], "ANNOTATOR")
        .await;
    app.share(&owner, "Project", &coop, &[&chicken_annotator], "ANNOTATOR")
        .await;

    let seen = |who: &TestUser, project: &str| {
        let (app, who, project) = (&app, who.clone(), project.to_owned());
        async move {
            let data = app
                .ok(
                    &who,
                    "query($p: ID!) { project(id: $p) { datasets { files { nodes { title } } } } }",
                    json!({ "p": project }),
                )
                .await;
            let mut titles: Vec<String> = data["project"]["datasets"][0]["files"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["title"].as_str().unwrap().to_owned())
                .collect();
            titles.sort();
            titles
        }
    };
    assert_eq!(
        seen(&farm_annotator, &farm).await,
        ["animals/chicken.mp4", "animals/cow.jpg"]
    );
    assert!(seen(&chicken_annotator, &coop).await.is_empty());

    let data = app
        .ok(
            &owner,
            "mutation($f: [ID!]!, $to: ID!) { moveFiles(input: {fileIds: $f, toDatasetId: $to}) { title folder { name } } }",
            json!({ "f": [files[0]], "to": chicken_videos }),
        )
        .await;
    assert_eq!(
        data["moveFiles"],
        json!([{ "title": "animals/chicken.mp4", "folder": { "name": "Chickens" } }])
    );

    assert_eq!(seen(&farm_annotator, &farm).await, ["animals/cow.jpg"]);
    assert_eq!(
        seen(&chicken_annotator, &coop).await,
        ["animals/chicken.mp4"]
    );
    let file_query = "query($f: ID!) { file(id: $f) { title } }";
    assert_eq!(
        app.code(&farm_annotator, file_query, json!({ "f": files[0] }))
            .await,
        "NOT_FOUND"
    );
    app.ok(&chicken_annotator, file_query, json!({ "f": files[0] }))
        .await;
}

#[tokio::test]
async fn moving_files_needs_a_mirrored_destination_and_add_data_on_both_sides() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let helper = app.user("helper@example.com").await;
    let a = app.folder(&owner, "A").await;
    let b = app.folder(&owner, "B").await;
    let files = app.files(&owner, &a, &["s3://b/a/1.jpg"]).await;
    let source = app.dataset(&owner, "Source", Some(&a)).await;
    let dest = app.dataset(&owner, "Dest", Some(&b)).await;
    let plain = app.dataset(&owner, "Plain", None).await;
    let mv = "mutation($f: [ID!]!, $to: ID!) { moveFiles(input: {fileIds: $f, toDatasetId: $to}) { id } }";
    assert_eq!(
        app.code(&owner, mv, json!({ "f": files, "to": plain }))
            .await,
        "BAD_USER_INPUT"
    );

    // ADMIN on the destination but only USER on the source: not allowed to take files out.
    app.share(&owner, "Dataset", &dest, &[&helper], "ADMIN")
        .await;
    app.share(&owner, "Dataset", &source, &[&helper], "USER")
        .await;
    assert_eq!(
        app.code(&helper, mv, json!({ "f": files, "to": dest }))
            .await,
        "FORBIDDEN"
    );
    let data = app.ok(&owner, DATASET, json!({ "id": source })).await;
    assert_eq!(data["dataset"]["files"]["totalCount"], 1, "nothing moved");
}

#[tokio::test]
async fn files_are_attached_one_by_one_or_by_folder_and_detached() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let folder = app.folder(&alice, "Photos").await;
    let other = app.folder(&alice, "More").await;
    let files = app
        .files(&alice, &folder, &["s3://b/1.jpg", "s3://b/2.jpg"])
        .await;
    app.files(
        &alice,
        &other,
        &["s3://b/3.jpg", "s3://b/4.jpg", "s3://b/5.jpg"],
    )
    .await;
    let ds = app.dataset(&alice, "Mixed", None).await;
    app.ok(
        &alice,
        "mutation($d: ID!, $f: [ID!]!, $o: [ID!]!) { attachFilesToDataset(input: {datasetId: $d, fileIds: $f, folderIds: $o}) { id } }",
        json!({ "d": ds, "f": [files[0], files[0]], "o": [other] }),
    )
    .await;
    // Attaching again changes nothing.
    app.attach(&alice, &ds, &files[..1]).await;
    let data = app.ok(&alice, DATASET, json!({ "id": ds })).await;
    assert_eq!(data["dataset"]["files"]["totalCount"], 4);

    let data = app
        .ok(
            &alice,
            "mutation($d: ID!, $f: [ID!]!) { detachFilesFromDataset(input: {datasetId: $d, fileIds: $f}) { files { totalCount } } }",
            json!({ "d": ds, "f": [files[0]] }),
        )
        .await;
    assert_eq!(data["detachFilesFromDataset"]["files"]["totalCount"], 3);
    let data = app
        .ok(
            &alice,
            "query($f: ID!) { file(id: $f) { title } }",
            json!({ "f": files[0] }),
        )
        .await;
    assert_eq!(data["file"]["title"], "1.jpg", "detaching keeps the file");

    let mirrored = app.dataset(&alice, "Mirror", Some(&folder)).await;
    assert_eq!(
        app.code(&alice, "mutation($d: ID!, $f: [ID!]!) { attachFilesToDataset(input: {datasetId: $d, fileIds: $f}) { id } }", json!({ "d": mirrored, "f": [files[1]] })).await,
        "BAD_USER_INPUT"
    );
    let data = app.ok(&alice, DATASET, json!({ "id": mirrored })).await;
    assert_eq!(data["dataset"]["mirrored"], true);
    assert_eq!(
        data["dataset"]["files"]["totalCount"], 2,
        "a mirrored dataset holds its folder's files"
    );
}

#[tokio::test]
async fn dataset_lists_page_and_search() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    for i in 0..5 {
        app.dataset(&alice, &format!("Set {i}"), None).await;
    }
    app.dataset(&alice, "100% cats", None).await;
    let page = "query($a: String) { datasets(first: 2, after: $a) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } nodes { title } } }";
    let mut seen = Vec::new();
    let mut after = serde_json::Value::Null;
    loop {
        let data = app.ok(&alice, page, json!({ "a": after })).await;
        let c = &data["datasets"];
        assert_eq!(c["totalCount"], 6);
        seen.extend(
            c["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["title"].as_str().unwrap().to_owned()),
        );
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        seen,
        ["Set 0", "Set 1", "Set 2", "Set 3", "Set 4", "100% cats"]
    );
    let data = app
        .ok(
            &alice,
            "{ datasets(search: \"%\") { nodes { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(titles(&data["datasets"]["nodes"]), ["100% cats"]);
    assert_eq!(
        app.code(&alice, "{ datasets(first: 101) { totalCount } }", json!({}))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.code(
            &alice,
            "{ datasets(after: \"nope\") { totalCount } }",
            json!({})
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.code(&alice, "{ dataset(id: \"nope\") { id } }", json!({}))
            .await,
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn bad_dataset_input_is_refused_with_a_code_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let create = "mutation($t: String!) { createDataset(input: {title: $t}) { id } }";
    assert_eq!(
        app.code(&alice, create, json!({ "t": "   " })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.code(&alice, create, json!({ "t": "x".repeat(201) }))
            .await,
        "BAD_USER_INPUT"
    );
    let data = app
        .ok(&alice, "{ datasets { totalCount } }", json!({}))
        .await;
    assert_eq!(data["datasets"]["totalCount"], 0);
    let folder = app.folder(&alice, "F").await;
    let bob = app.user("bob@example.com").await;
    // Mirroring a folder needs ADMIN on it.
    assert_eq!(
        app.code(
            &bob,
            "mutation($f: ID!) { createDataset(input: {title: \"m\", folderId: $f}) { id } }",
            json!({ "f": folder })
        )
        .await,
        "NOT_FOUND"
    );
}
