use crate::helpers::*;
use serde_json::{json, Value};

const CREATE: &str = "mutation($t: String!, $d: String, $s: JSON!) { createOntology(input: {title: $t, description: $d, structure: $s}) { \
    id title description structure myRole createdBy { email } \
    viewerCan { view use edit manageCollaborators delete } \
    collaborators { role user { email } } } }";

const ONTOLOGY: &str = "query($id: ID!) { ontology(id: $id) { id title structure myRole \
    viewerCan { view use edit manageCollaborators delete } } }";

const UPDATE: &str = "mutation($id: ID!, $t: String, $s: JSON) { updateOntology(input: {id: $id, title: $t, structure: $s}) { \
    id title structure } }";

const DELETE: &str = "mutation($id: ID!) { deleteOntology(input: {id: $id}) }";

const CREATE_PROJECT: &str = "mutation($t: String!, $o: ID!) { createProject(input: {title: $t, ontologyId: $o}) { id title } }";

const ONTOLOGIES: &str = "{ ontologies { totalCount nodes { id title } } }";

fn can(view: bool, use_: bool, edit: bool, manage: bool, delete: bool) -> Value {
    json!({ "view": view, "use": use_, "edit": edit, "manageCollaborators": manage, "delete": delete })
}

#[tokio::test]
async fn create_ontology_stores_the_structure_normalised() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;

    let only_objects = json!({ "objects": [{ "name": "Chicken", "shape": "bounding_box" }] });
    let data = app
        .ok(
            &owner,
            CREATE,
            json!({ "t": "Farm", "d": "Birds", "s": only_objects }),
        )
        .await;
    assert_eq!(data["createOntology"]["title"], "Farm");
    assert_eq!(data["createOntology"]["description"], "Birds");
    assert_eq!(
        data["createOntology"]["structure"],
        json!({ "objects": [{ "name": "Chicken", "shape": "bounding_box" }], "classifications": [] })
    );

    let only_classifications = json!({ "classifications": [
        { "name": "Weather", "type": "radio", "options": ["sun", "rain"] },
        { "name": "Notes", "type": "text" },
    ] });
    let data = app
        .ok(
            &owner,
            CREATE,
            json!({ "t": "Sky", "d": null, "s": only_classifications }),
        )
        .await;
    let id = data["createOntology"]["id"].clone();
    let expected = json!({ "objects": [], "classifications": [
        { "name": "Weather", "type": "radio", "options": ["sun", "rain"] },
        { "name": "Notes", "type": "text" },
    ] });
    assert_eq!(data["createOntology"]["structure"], expected);
    assert_eq!(data["createOntology"]["description"], "");

    let read = app.ok(&owner, ONTOLOGY, json!({ "id": id })).await;
    assert_eq!(read["ontology"]["structure"], expected);
}

#[tokio::test]
async fn create_ontology_refuses_malformed_structures() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;

    for (why, structure) in [
        (
            "unknown shape",
            json!({ "objects": [{ "name": "Chicken", "shape": "blob" }] }),
        ),
        (
            "duplicate object names",
            json!({ "objects": [{ "name": "Chicken", "shape": "point" }, { "name": "chicken", "shape": "polygon" }] }),
        ),
        (
            "object without a name",
            json!({ "objects": [{ "shape": "point" }] }),
        ),
        (
            "radio without options",
            json!({ "classifications": [{ "name": "Weather", "type": "radio" }] }),
        ),
        (
            "radio with empty options",
            json!({ "classifications": [{ "name": "Weather", "type": "radio", "options": [] }] }),
        ),
        (
            "radio options listed twice",
            json!({ "classifications": [{ "name": "Weather", "type": "radio", "options": ["sun", "Sun"] }] }),
        ),
        (
            "free text with options",
            json!({ "classifications": [{ "name": "Notes", "type": "text", "options": ["a"] }] }),
        ),
        (
            "unknown classification type",
            json!({ "classifications": [{ "name": "Q", "type": "slider" }] }),
        ),
        (
            "objects not an array",
            json!({ "objects": { "name": "Chicken" } }),
        ),
        ("unknown top-level key", json!({ "labels": [] })),
        (
            "top-level array",
            json!([{ "name": "Chicken", "shape": "point" }]),
        ),
        ("top-level string", json!("Chicken")),
        ("top-level number", json!(7)),
    ] {
        let code = app
            .code(&owner, CREATE, json!({ "t": "Bad", "s": structure }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{why}: {structure}");
    }
    let listed = app.ok(&owner, ONTOLOGIES, json!({})).await;
    assert_eq!(listed["ontologies"]["totalCount"], 0);
}

#[tokio::test]
async fn the_creator_of_an_ontology_is_its_admin() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;

    let structure = json!({ "objects": [{ "name": "Chicken", "shape": "point" }] });
    let data = app
        .ok(&owner, CREATE, json!({ "t": "Farm", "s": structure }))
        .await;
    let created = &data["createOntology"];
    assert_eq!(created["myRole"], "ADMIN");
    assert_eq!(created["createdBy"]["email"], "owner@example.com");
    assert_eq!(created["viewerCan"], can(true, true, true, true, true));
    assert_eq!(
        collaborators(&created["collaborators"]),
        [pair("owner@example.com", "ADMIN")]
    );

    let listed = app.ok(&owner, ONTOLOGIES, json!({})).await;
    assert_eq!(listed["ontologies"]["totalCount"], 1);
    assert_eq!(listed["ontologies"]["nodes"][0]["id"], created["id"]);
}

#[tokio::test]
async fn an_admin_updates_the_title_and_structure_with_the_same_checks() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let ontology = app.ontology(&owner, "Farm").await;

    let structure = json!({ "objects": [{ "name": "Cow", "shape": "polygon" }] });
    let data = app
        .ok(
            &owner,
            UPDATE,
            json!({ "id": ontology, "t": "Pasture", "s": structure }),
        )
        .await;
    assert_eq!(data["updateOntology"]["title"], "Pasture");
    assert_eq!(
        data["updateOntology"]["structure"],
        json!({ "objects": [{ "name": "Cow", "shape": "polygon" }], "classifications": [] })
    );

    let bad = json!({ "objects": [{ "name": "Cow", "shape": "cube" }] });
    let code = app
        .code(&owner, UPDATE, json!({ "id": ontology, "s": bad }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let read = app.ok(&owner, ONTOLOGY, json!({ "id": ontology })).await;
    assert_eq!(read["ontology"]["title"], "Pasture");
    assert_eq!(read["ontology"]["structure"]["objects"][0]["name"], "Cow");
}

#[tokio::test]
async fn a_user_collaborator_views_and_uses_an_ontology_but_cannot_change_it() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let ontology = app.ontology(&owner, "Farm").await;
    app.share(&owner, "Ontology", &ontology, &[&viewer], "USER")
        .await;

    let data = app.ok(&viewer, ONTOLOGY, json!({ "id": ontology })).await;
    assert_eq!(data["ontology"]["title"], "Farm");
    assert_eq!(data["ontology"]["myRole"], "USER");
    assert_eq!(
        data["ontology"]["viewerCan"],
        can(true, true, false, false, false)
    );
    let listed = app.ok(&viewer, ONTOLOGIES, json!({})).await;
    assert_eq!(titles(&listed["ontologies"]["nodes"]), ["Farm"]);

    let code = app
        .code(&viewer, UPDATE, json!({ "id": ontology, "t": "Mine" }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    assert_eq!(
        app.code(&viewer, DELETE, json!({ "id": ontology })).await,
        "FORBIDDEN"
    );
    let data = app.ok(&owner, ONTOLOGY, json!({ "id": ontology })).await;
    assert_eq!(data["ontology"]["title"], "Farm");

    let data = app
        .ok(
            &viewer,
            CREATE_PROJECT,
            json!({ "t": "Viewer's project", "o": ontology }),
        )
        .await;
    assert_eq!(data["createProject"]["title"], "Viewer's project");
}

#[tokio::test]
async fn an_outsider_gets_not_found_and_the_list_leaves_the_ontology_out() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let ontology = app.ontology(&owner, "Farm").await;
    app.ontology(&outsider, "Own").await;

    assert_eq!(
        app.code(&outsider, ONTOLOGY, json!({ "id": ontology }))
            .await,
        "NOT_FOUND"
    );
    let listed = app.ok(&outsider, ONTOLOGIES, json!({})).await;
    assert_eq!(listed["ontologies"]["totalCount"], 1);
    assert_eq!(titles(&listed["ontologies"]["nodes"]), ["Own"]);
    assert_eq!(
        app.code(&outsider, UPDATE, json!({ "id": ontology, "t": "Mine" }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(&outsider, DELETE, json!({ "id": ontology })).await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(
            &outsider,
            CREATE_PROJECT,
            json!({ "t": "Sneaky", "o": ontology })
        )
        .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn ontology_projects_lists_only_projects_the_caller_may_see() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let colleague = app.user("colleague@example.com").await;
    let ontology = app.ontology(&owner, "Farm").await;
    app.share(&owner, "Ontology", &ontology, &[&colleague], "USER")
        .await;
    app.project(&owner, "Owner's project", &ontology, &[]).await;
    app.project(&colleague, "Colleague's project", &ontology, &[])
        .await;
    let query = "query($id: ID!) { ontology(id: $id) { projects { title } } }";

    let data = app.ok(&owner, query, json!({ "id": ontology })).await;
    assert_eq!(titles(&data["ontology"]["projects"]), ["Owner's project"]);
    let data = app.ok(&colleague, query, json!({ "id": ontology })).await;
    assert_eq!(
        titles(&data["ontology"]["projects"]),
        ["Colleague's project"]
    );
}

#[tokio::test]
async fn delete_ontology_conflicts_while_a_project_uses_it_and_works_after_the_project_is_deleted()
{
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let ontology = app.ontology(&owner, "Farm").await;
    let project = app.project(&owner, "Counting", &ontology, &[]).await;

    assert_eq!(
        app.code(&owner, DELETE, json!({ "id": ontology })).await,
        "CONFLICT"
    );
    app.ok(&owner, ONTOLOGY, json!({ "id": ontology })).await;

    let data = app
        .ok(
            &owner,
            "mutation($id: ID!) { deleteProject(input: {id: $id}) }",
            json!({ "id": project }),
        )
        .await;
    assert_eq!(data["deleteProject"], project.as_str());

    let data = app.ok(&owner, DELETE, json!({ "id": ontology })).await;
    assert_eq!(data["deleteOntology"], ontology.as_str());
    assert_eq!(
        app.code(&owner, ONTOLOGY, json!({ "id": ontology })).await,
        "NOT_FOUND"
    );
    let listed = app.ok(&owner, ONTOLOGIES, json!({})).await;
    assert_eq!(listed["ontologies"]["totalCount"], 0);
}

#[tokio::test]
async fn project_collaborators_see_the_projects_ontology_read_only() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let annotator = app.user("annotator@example.com").await;
    let ontology = app.ontology(&owner, "Farm").await;
    let project = app.project(&owner, "Counting", &ontology, &[]).await;
    app.share(&owner, "Project", &project, &[&annotator], "ANNOTATOR")
        .await;

    let data = app
        .ok(&annotator, ONTOLOGY, json!({ "id": ontology }))
        .await;
    assert_eq!(data["ontology"]["title"], "Farm");
    assert_eq!(data["ontology"]["myRole"], Value::Null);
    assert_eq!(
        data["ontology"]["viewerCan"],
        can(true, false, false, false, false)
    );
    let listed = app.ok(&annotator, ONTOLOGIES, json!({})).await;
    assert_eq!(titles(&listed["ontologies"]["nodes"]), ["Farm"]);
    let through_project = app
        .ok(
            &annotator,
            "query($id: ID!) { project(id: $id) { ontology { id myRole } } }",
            json!({ "id": project }),
        )
        .await;
    assert_eq!(
        through_project["project"]["ontology"],
        json!({ "id": ontology, "myRole": null })
    );

    let code = app
        .code(&annotator, UPDATE, json!({ "id": ontology, "t": "Mine" }))
        .await;
    assert_eq!(code, "FORBIDDEN");
}

#[tokio::test]
async fn project_collaborators_cannot_use_the_projects_ontology_for_a_project_of_their_own() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let annotator = app.user("annotator@example.com").await;
    let ontology = app.ontology(&owner, "Farm").await;
    let project = app.project(&owner, "Counting", &ontology, &[]).await;
    app.share(&owner, "Project", &project, &[&annotator], "ADMIN")
        .await;

    let code = app
        .code(
            &annotator,
            CREATE_PROJECT,
            json!({ "t": "Spin-off", "o": ontology }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let listed = app
        .ok(&annotator, "{ projects { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["projects"]["totalCount"], 1);
}

#[tokio::test]
async fn a_group_member_holding_ontology_user_through_the_group_may_use_it() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let manager = app.user("manager@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&member], "MEMBER").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    let ontology = app.ontology(&owner, "Farm").await;
    app.share_with_group(&owner, "Ontology", &ontology, &group, "USER")
        .await;

    let data = app.ok(&member, ONTOLOGY, json!({ "id": ontology })).await;
    assert_eq!(data["ontology"]["myRole"], "USER");
    app.ok(
        &member,
        CREATE_PROJECT,
        json!({ "t": "Member's", "o": ontology }),
    )
    .await;

    assert_eq!(
        app.code(&manager, ONTOLOGY, json!({ "id": ontology }))
            .await,
        "NOT_FOUND"
    );
    let code = app
        .code(
            &manager,
            CREATE_PROJECT,
            json!({ "t": "Manager's", "o": ontology }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
}

#[tokio::test]
async fn malformed_or_foreign_ontology_ids_are_bad_user_input() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;

    assert_eq!(
        app.code(&owner, ONTOLOGY, json!({ "id": "nope" })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.code(&owner, ONTOLOGY, json!({ "id": folder })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.code(&owner, DELETE, json!({ "id": owner.id })).await,
        "BAD_USER_INPUT"
    );
    let code = app
        .code(&owner, CREATE_PROJECT, json!({ "t": "P", "o": folder }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}
