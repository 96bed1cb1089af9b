use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_project_has_exactly_one_ontology_which_can_be_replaced() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let first = app.ontology(&alice, "First").await;
    let second = app.ontology(&alice, "Second").await;
    let project = app.project(&alice, "P", &first, &[]).await;

    let (_, body) = app
        .post(
            Some(&alice.token),
            "mutation { createProject(input: {title: \"No ontology\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );

    let data = app
        .ok(
            &alice,
            "mutation($p: ID!, $o: ID!) { setProjectOntology(input: {projectId: $p, ontologyId: $o}) { ontology { title } } }",
            json!({ "p": project, "o": second }),
        )
        .await;
    assert_eq!(data["setProjectOntology"]["ontology"]["title"], "Second");
    let data = app
        .ok(
            &alice,
            "query($o: ID!) { ontology(id: $o) { projects { title } } }",
            json!({ "o": first }),
        )
        .await;
    assert_eq!(data["ontology"]["projects"], json!([]));

    let bob = app.user("bob@example.com").await;
    let bobs = app.ontology(&bob, "Bob's").await;
    assert_eq!(
        app.code(&alice, "mutation($p: ID!, $o: ID!) { setProjectOntology(input: {projectId: $p, ontologyId: $o}) { id } }", json!({ "p": project, "o": bobs })).await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn creating_a_project_needs_a_role_on_the_ontology_and_on_each_dataset() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let ontology = app.ontology(&alice, "Shared ontology").await;
    let dataset = app.dataset(&alice, "Shared dataset", None).await;
    let create = "mutation($o: ID!, $d: [ID!]!) { createProject(input: {title: \"B\", ontologyId: $o, datasetIds: $d}) { title myRole datasets { title } ontology { title } } }";
    assert_eq!(
        app.code(&bob, create, json!({ "o": ontology, "d": [] }))
            .await,
        "NOT_FOUND"
    );
    app.share(&alice, "Ontology", &ontology, &[&bob], "USER")
        .await;
    assert_eq!(
        app.code(&bob, create, json!({ "o": ontology, "d": [dataset] }))
            .await,
        "NOT_FOUND"
    );
    app.share(&alice, "Dataset", &dataset, &[&bob], "USER")
        .await;
    let data = app
        .ok(&bob, create, json!({ "o": ontology, "d": [dataset] }))
        .await;
    assert_eq!(
        data["createProject"],
        json!({ "title": "B", "myRole": "ADMIN", "datasets": [{ "title": "Shared dataset" }], "ontology": { "title": "Shared ontology" } })
    );
}

#[tokio::test]
async fn project_collaborators_see_the_ontology_datasets_and_files_read_only() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let annotator = app.user("annotator@example.com").await;
    let folder = app.folder(&owner, "Photos").await;
    let files = app
        .files(&owner, &folder, &["s3://b/1.jpg", "s3://b/2.jpg"])
        .await;
    let dataset = app.dataset(&owner, "Birds", None).await;
    app.attach(&owner, &dataset, &files).await;
    let ontology = app.ontology(&owner, "Birds ontology").await;
    let project = app
        .project(&owner, "Birds project", &ontology, &[&dataset])
        .await;
    app.share(&owner, "Project", &project, &[&annotator], "ANNOTATOR")
        .await;

    let data = app
        .ok(
            &annotator,
            "query($p: ID!) { project(id: $p) { myRole viewerCan { view annotate review adjustSettings }
                ontology { title myRole viewerCan { view use edit } }
                datasets { title myRole viewerCan { view addData adjustSettings delete attachToProject }
                           files { totalCount nodes { id folder { name } datasets { title } } } } } }",
            json!({ "p": project }),
        )
        .await;
    let p = &data["project"];
    assert_eq!(p["myRole"], "ANNOTATOR");
    assert_eq!(
        p["viewerCan"],
        json!({ "view": true, "annotate": true, "review": false, "adjustSettings": false })
    );
    assert_eq!(
        p["ontology"],
        json!({ "title": "Birds ontology", "myRole": null, "viewerCan": { "view": true, "use": false, "edit": false } })
    );
    let d = &p["datasets"][0];
    assert_eq!(d["myRole"], json!(null));
    assert_eq!(
        d["viewerCan"],
        json!({ "view": true, "addData": false, "adjustSettings": false, "delete": false, "attachToProject": false })
    );
    assert_eq!(d["files"]["totalCount"], 2);
    assert_eq!(
        d["files"]["nodes"][0]["folder"],
        json!(null),
        "the folder itself stays private"
    );
    assert_eq!(
        d["files"]["nodes"][0]["datasets"],
        json!([{ "title": "Birds" }])
    );

    // The same objects are reachable directly and through the lists.
    app.ok(
        &annotator,
        "query($d: ID!) { dataset(id: $d) { title } }",
        json!({ "d": dataset }),
    )
    .await;
    app.ok(
        &annotator,
        "query($f: ID!) { file(id: $f) { title } }",
        json!({ "f": files[0] }),
    )
    .await;
    let data = app.ok(&annotator, "{ datasets { totalCount } ontologies { totalCount } projects { totalCount } folders { totalCount } }", json!({})).await;
    assert_eq!(
        data,
        json!({ "datasets": { "totalCount": 1 }, "ontologies": { "totalCount": 1 }, "projects": { "totalCount": 1 }, "folders": { "totalCount": 0 } })
    );
}

#[tokio::test]
async fn access_through_a_project_cannot_be_passed_on() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let annotator = app.user("annotator@example.com").await;
    let friend = app.user("friend@example.com").await;
    let folder = app.folder(&owner, "Photos").await;
    let files = app.files(&owner, &folder, &["s3://b/1.jpg"]).await;
    let dataset = app.dataset(&owner, "Birds", None).await;
    app.attach(&owner, &dataset, &files).await;
    let ontology = app.ontology(&owner, "Birds ontology").await;
    let project = app
        .project(&owner, "Birds project", &ontology, &[&dataset])
        .await;
    app.share(&owner, "Project", &project, &[&annotator], "ANNOTATOR")
        .await;

    let own_ontology = app.ontology(&annotator, "Mine").await;
    let own_project = app.project(&annotator, "Mine", &own_ontology, &[]).await;
    let own_dataset = app.dataset(&annotator, "Mine", None).await;
    let attempts = [
        ("mutation($p: ID!, $d: ID!) { attachDatasetToProject(input: {projectId: $p, datasetId: $d}) { id } }", json!({ "p": own_project, "d": dataset }), "FORBIDDEN"),
        ("mutation($o: ID!, $d: [ID!]!) { createProject(input: {title: \"x\", ontologyId: $o, datasetIds: $d}) { id } }", json!({ "o": own_ontology, "d": [dataset] }), "FORBIDDEN"),
        ("mutation($o: ID!) { createProject(input: {title: \"x\", ontologyId: $o}) { id } }", json!({ "o": ontology }), "FORBIDDEN"),
        ("mutation($d: ID!, $u: [ID!]!) { addDatasetCollaborators(input: {datasetId: $d, userIds: $u, role: USER}) { id } }", json!({ "d": dataset, "u": [friend.id] }), "FORBIDDEN"),
        ("mutation($p: ID!, $u: [ID!]!) { addProjectCollaborators(input: {projectId: $p, userIds: $u, role: ANNOTATOR}) { id } }", json!({ "p": project, "u": [friend.id] }), "FORBIDDEN"),
        ("mutation($d: ID!, $f: [ID!]!) { attachFilesToDataset(input: {datasetId: $d, fileIds: $f}) { id } }", json!({ "d": own_dataset, "f": files }), "NOT_FOUND"),
    ];
    for (query, vars, code) in attempts {
        assert_eq!(app.code(&annotator, query, vars).await, code, "{query}");
    }
    let data = app
        .ok(
            &friend,
            "{ datasets { totalCount } projects { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({ "datasets": { "totalCount": 0 }, "projects": { "totalCount": 0 } })
    );
    let data = app
        .ok(
            &annotator,
            "query($d: ID!) { dataset(id: $d) { files { totalCount } } }",
            json!({ "d": own_dataset }),
        )
        .await;
    assert_eq!(data["dataset"]["files"]["totalCount"], 0);
}

#[tokio::test]
async fn datasets_attach_to_projects_the_caller_administers_empty_ones_too() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let ontology = app.ontology(&alice, "O").await;
    let project = app.project(&alice, "P", &ontology, &[]).await;
    let empty = app.dataset(&alice, "Empty", None).await;
    let attach = "mutation($p: ID!, $d: ID!) { attachDatasetToProject(input: {projectId: $p, datasetId: $d}) { datasets { title } } }";
    let detach = "mutation($p: ID!, $d: ID!) { detachDatasetFromProject(input: {projectId: $p, datasetId: $d}) { datasets { title } } }";
    let data = app
        .ok(&alice, attach, json!({ "p": project, "d": empty }))
        .await;
    assert_eq!(
        data["attachDatasetToProject"]["datasets"],
        json!([{ "title": "Empty" }])
    );
    let data = app
        .ok(&alice, attach, json!({ "p": project, "d": empty }))
        .await;
    assert_eq!(
        data["attachDatasetToProject"]["datasets"],
        json!([{ "title": "Empty" }]),
        "attaching twice is harmless"
    );
    let data = app
        .ok(
            &alice,
            "query($d: ID!) { dataset(id: $d) { projects { title } } }",
            json!({ "d": empty }),
        )
        .await;
    assert_eq!(data["dataset"]["projects"], json!([{ "title": "P" }]));

    // A dataset ADMIN who only annotates in the project may not attach there.
    let bobs = app.dataset(&bob, "Bob's", None).await;
    app.share(&alice, "Project", &project, &[&bob], "TEAM_MANAGER")
        .await;
    assert_eq!(
        app.code(&bob, attach, json!({ "p": project, "d": bobs }))
            .await,
        "FORBIDDEN"
    );

    let data = app
        .ok(&alice, detach, json!({ "p": project, "d": empty }))
        .await;
    assert_eq!(data["detachDatasetFromProject"]["datasets"], json!([]));
    assert_eq!(
        app.code(&alice, detach, json!({ "p": project, "d": empty }))
            .await,
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn a_team_manager_manages_collaborators_below_admin() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let manager = app.user("manager@example.com").await;
    let worker = app.user("worker@example.com").await;
    let ontology = app.ontology(&owner, "O").await;
    let project = app.project(&owner, "P", &ontology, &[]).await;
    app.share(&owner, "Project", &project, &[&manager], "TEAM_MANAGER")
        .await;

    let add = "mutation($p: ID!, $u: [ID!]!, $r: ProjectRole!) { addProjectCollaborators(input: {projectId: $p, userIds: $u, role: $r}) { collaborators { role user { email } } } }";
    let set = "mutation($p: ID!, $u: ID!, $r: ProjectRole!) { setProjectCollaboratorRole(input: {projectId: $p, userId: $u, role: $r}) { id } }";
    let remove = "mutation($p: ID!, $u: ID!) { removeProjectCollaborator(input: {projectId: $p, userId: $u}) { id } }";
    assert_eq!(
        app.code(
            &manager,
            add,
            json!({ "p": project, "u": [worker.id], "r": "ADMIN" })
        )
        .await,
        "FORBIDDEN"
    );
    app.ok(
        &manager,
        add,
        json!({ "p": project, "u": [worker.id], "r": "ANNOTATOR" }),
    )
    .await;
    app.ok(
        &manager,
        set,
        json!({ "p": project, "u": worker.id, "r": "REVIEWER" }),
    )
    .await;
    assert_eq!(
        app.code(
            &manager,
            set,
            json!({ "p": project, "u": worker.id, "r": "ADMIN" })
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(&manager, remove, json!({ "p": project, "u": owner.id }))
            .await,
        "FORBIDDEN"
    );
    let data = app
        .ok(
            &worker,
            "query($p: ID!) { project(id: $p) { myRole } }",
            json!({ "p": project }),
        )
        .await;
    assert_eq!(data["project"]["myRole"], "REVIEWER");
    app.ok(&manager, remove, json!({ "p": project, "u": worker.id }))
        .await;
    assert_eq!(
        app.code(
            &worker,
            "query($p: ID!) { project(id: $p) { id } }",
            json!({ "p": project })
        )
        .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn deleting_a_project_keeps_its_datasets_and_ontology() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let annotator = app.user("annotator@example.com").await;
    let ontology = app.ontology(&alice, "O").await;
    let dataset = app.dataset(&alice, "D", None).await;
    let project = app.project(&alice, "P", &ontology, &[&dataset]).await;
    app.share(&alice, "Project", &project, &[&annotator], "ANNOTATOR")
        .await;
    let delete = "mutation($p: ID!) { deleteProject(input: {id: $p}) }";
    assert_eq!(
        app.code(&annotator, delete, json!({ "p": project })).await,
        "FORBIDDEN"
    );
    let data = app.ok(&alice, delete, json!({ "p": project })).await;
    assert_eq!(data["deleteProject"], json!(project));
    let data = app
        .ok(
            &alice,
            "query($d: ID!) { dataset(id: $d) { projects { id } } }",
            json!({ "d": dataset }),
        )
        .await;
    assert_eq!(data["dataset"]["projects"], json!([]));
    assert_eq!(
        app.code(
            &annotator,
            "query($d: ID!) { dataset(id: $d) { id } }",
            json!({ "d": dataset })
        )
        .await,
        "NOT_FOUND"
    );
    let data = app
        .ok(
            &alice,
            "{ projects { totalCount } ontologies { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data,
        json!({ "projects": { "totalCount": 0 }, "ontologies": { "totalCount": 1 } })
    );
}

#[tokio::test]
async fn updating_a_project_needs_admin() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let reviewer = app.user("reviewer@example.com").await;
    let ontology = app.ontology(&alice, "O").await;
    let project = app.project(&alice, "P", &ontology, &[]).await;
    app.share(&alice, "Project", &project, &[&reviewer], "REVIEWER")
        .await;
    let update = "mutation($p: ID!, $t: String) { updateProject(input: {id: $p, title: $t, description: \"d\"}) { title description } }";
    assert_eq!(
        app.code(&reviewer, update, json!({ "p": project, "t": "R" }))
            .await,
        "FORBIDDEN"
    );
    let data = app
        .ok(&alice, update, json!({ "p": project, "t": "Renamed" }))
        .await;
    assert_eq!(
        data["updateProject"],
        json!({ "title": "Renamed", "description": "d" })
    );
    assert_eq!(
        app.code(&alice, update, json!({ "p": project, "t": "" }))
            .await,
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn a_project_s_datasets_show_only_while_the_caller_may_view_the_project() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let manager = app.user("manager@example.com").await;
    let folder = app.folder(&owner, "F").await;
    let files = app.files(&owner, &folder, &["s3://b/1.jpg"]).await;
    let dataset = app.dataset(&owner, "D", None).await;
    app.attach(&owner, &dataset, &files).await;
    let ontology = app.ontology(&owner, "O").await;
    let project = app.project(&owner, "P", &ontology, &[&dataset]).await;
    app.share(&owner, "Project", &project, &[&manager], "TEAM_MANAGER")
        .await;
    // A collaborator sees the project's datasets and their files.
    let contents = "datasets { title files { totalCount } } ontology { title }";
    let listed = app
        .ok(
            &manager,
            &format!("{{ projects {{ nodes {{ {contents} }} }} }}"),
            json!({}),
        )
        .await;
    let seen = &listed["projects"]["nodes"][0];
    assert_eq!(seen["datasets"][0]["files"]["totalCount"], 1, "{listed}");
    // Leaving the project, the manager gets it back as it now is to them:
    // a project whose datasets they no longer see.
    let left = app
        .ok(
            &manager,
            "mutation($p: ID!, $u: ID!) { removeProjectCollaborator(input: {projectId: $p, userId: $u}) { title datasets { title files { totalCount } } } }",
            json!({ "p": project, "u": manager.id }),
        )
        .await;
    assert_eq!(
        left["removeProjectCollaborator"],
        json!({ "title": "P", "datasets": [] })
    );
}
