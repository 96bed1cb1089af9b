use crate::helpers::*;
use serde_json::{json, Value};

const GROUP: &str = "query($id: ID!) { group(id: $id) { id name description \
    members { user { email } role } viewerCan { manageMembers manageGroup } } }";

const ADD_MEMBERS: &str = "mutation($g: ID!, $u: [ID!]!, $r: GroupRole!) { \
    addGroupMembers(input: {groupId: $g, userIds: $u, role: $r}) { id members { user { email } role } } }";

const REMOVE_MEMBER: &str = "mutation($g: ID!, $u: ID!) { \
    removeGroupMember(input: {groupId: $g, userId: $u}) { id members { user { email } role } } }";

const DATASETS: &str = "{ datasets { totalCount nodes { id title } } }";

const DATASET: &str = "query($id: ID!) { dataset(id: $id) { id title } }";

/// `(email, role)` of each member, in the order the API lists them.
fn members(group: &Value) -> Vec<(String, String)> {
    group["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members list: {group}"))
        .iter()
        .map(|m| {
            (
                m["user"]["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(email: &str, role: &str) -> (String, String) {
    (email.to_owned(), role.to_owned())
}

/// A dataset owned by a plain member, granted USER to the group.
async fn dataset_shared_with(app: &TestApp, group: &str) -> String {
    let owner = app.user("owner@example.com").await;
    let dataset = app.dataset(&owner, "Chickens", None).await;
    app.share_with_group(&owner, "Dataset", &dataset, group, "USER")
        .await;
    dataset
}

#[tokio::test]
async fn only_workspace_admins_create_groups() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let member = app.user("member@example.com").await;
    let query = "mutation($n: String!, $d: String) { createGroup(input: {name: $n, description: $d}) { id name description members { role } } }";

    let data = app
        .ok(
            &admin,
            query,
            json!({ "n": "Annotators", "d": "The labelling team" }),
        )
        .await;
    assert_eq!(data["createGroup"]["name"], "Annotators");
    assert_eq!(data["createGroup"]["description"], "The labelling team");
    assert_eq!(data["createGroup"]["members"], json!([]));

    assert_eq!(
        app.code(&member, query, json!({ "n": "Rogue", "d": null }))
            .await,
        "FORBIDDEN"
    );
    let listed = app
        .ok(
            &admin,
            "{ groups { totalCount nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["groups"]["totalCount"], 1);
    assert_eq!(listed["groups"]["nodes"], json!([{ "name": "Annotators" }]));
}

#[tokio::test]
async fn a_duplicate_group_name_is_a_conflict() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    app.group(&admin, "Annotators").await;

    let code = app
        .code(
            &admin,
            "mutation { createGroup(input: {name: \"Annotators\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    let listed = app.ok(&admin, "{ groups { totalCount } }", json!({})).await;
    assert_eq!(listed["groups"]["totalCount"], 1);
}

#[tokio::test]
async fn every_member_sees_the_groups_and_each_group() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let annotators = app.group(&admin, "Annotators").await;
    app.group(&admin, "Reviewers").await;

    let listed = app
        .ok(
            &outsider,
            "{ groups { totalCount nodes { id name } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["groups"]["totalCount"], 2);
    let names: Vec<&str> = listed["groups"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Annotators", "Reviewers"]);

    let searched = app
        .ok(
            &outsider,
            "query($s: String) { groups(search: $s) { nodes { id } } }",
            json!({ "s": "REVIEW" }),
        )
        .await;
    assert_eq!(searched["groups"]["nodes"].as_array().unwrap().len(), 1);

    let one = app.ok(&outsider, GROUP, json!({ "id": annotators })).await;
    assert_eq!(one["group"]["id"], annotators.as_str());
    assert_eq!(one["group"]["name"], "Annotators");

    let (_, anonymous) = app.post(None, "{ groups { totalCount } }", json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn a_workspace_admin_and_the_groups_manager_add_members_but_a_member_cannot() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let group = app.group(&admin, "Annotators").await;

    let data = app
        .ok(
            &admin,
            ADD_MEMBERS,
            json!({ "g": group, "u": [manager.id], "r": "MANAGER" }),
        )
        .await;
    assert_eq!(
        members(&data["addGroupMembers"]),
        [pair("manager@example.com", "MANAGER")]
    );

    let data = app
        .ok(
            &manager,
            ADD_MEMBERS,
            json!({ "g": group, "u": [alice.id], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(
        members(&data["addGroupMembers"]),
        [
            pair("manager@example.com", "MANAGER"),
            pair("alice@example.com", "MEMBER")
        ]
    );

    let code = app
        .code(
            &alice,
            ADD_MEMBERS,
            json!({ "g": group, "u": [bob.id], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let code = app
        .code(
            &bob,
            ADD_MEMBERS,
            json!({ "g": group, "u": [bob.id], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");

    let data = app.ok(&admin, GROUP, json!({ "id": group })).await;
    assert_eq!(members(&data["group"]).len(), 2);
}

#[tokio::test]
async fn managing_one_group_gives_no_say_over_another() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let alice = app.user("alice@example.com").await;
    let annotators = app.group(&admin, "Annotators").await;
    let reviewers = app.group(&admin, "Reviewers").await;
    app.add_members(&admin, &annotators, &[&manager], "MANAGER")
        .await;

    let code = app
        .code(
            &manager,
            ADD_MEMBERS,
            json!({ "g": reviewers, "u": [alice.id], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let data = app.ok(&admin, GROUP, json!({ "id": reviewers })).await;
    assert_eq!(data["group"]["members"], json!([]));
}

#[tokio::test]
async fn adding_a_member_again_changes_their_role() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let alice = app.user("alice@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&alice], "MEMBER").await;

    let data = app
        .ok(
            &admin,
            ADD_MEMBERS,
            json!({ "g": group, "u": [alice.id], "r": "MANAGER" }),
        )
        .await;
    assert_eq!(
        members(&data["addGroupMembers"]),
        [pair("alice@example.com", "MANAGER")]
    );

    // Another MANAGER takes over, so Alice may go back to MEMBER.
    let bob = app.user("bob@example.com").await;
    app.add_members(&admin, &group, &[&bob], "MANAGER").await;
    let data = app
        .ok(
            &admin,
            ADD_MEMBERS,
            json!({ "g": group, "u": [alice.id], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(
        members(&data["addGroupMembers"]),
        [
            pair("alice@example.com", "MEMBER"),
            pair("bob@example.com", "MANAGER")
        ]
    );
}

#[tokio::test]
async fn members_lists_each_user_with_their_role() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    app.add_members(&admin, &group, &[&alice, &bob], "MEMBER")
        .await;

    let data = app.ok(&bob, GROUP, json!({ "id": group })).await;
    let mut listed = members(&data["group"]);
    listed.sort();
    assert_eq!(
        listed,
        [
            pair("alice@example.com", "MEMBER"),
            pair("bob@example.com", "MEMBER"),
            pair("manager@example.com", "MANAGER"),
        ]
    );
}

#[tokio::test]
async fn removing_a_member_takes_them_out_and_a_non_member_is_not_found() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let alice = app.user("alice@example.com").await;
    let bob = app.user("bob@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    app.add_members(&admin, &group, &[&alice, &bob], "MEMBER")
        .await;

    let code = app
        .code(&alice, REMOVE_MEMBER, json!({ "g": group, "u": bob.id }))
        .await;
    assert_eq!(code, "FORBIDDEN");

    let data = app
        .ok(
            &manager,
            REMOVE_MEMBER,
            json!({ "g": group, "u": alice.id }),
        )
        .await;
    let mut listed = members(&data["removeGroupMember"]);
    listed.sort();
    assert_eq!(
        listed,
        [
            pair("bob@example.com", "MEMBER"),
            pair("manager@example.com", "MANAGER")
        ]
    );

    let code = app
        .code(&admin, REMOVE_MEMBER, json!({ "g": group, "u": alice.id }))
        .await;
    assert_eq!(code, "NOT_FOUND");

    let data = app
        .ok(&admin, REMOVE_MEMBER, json!({ "g": group, "u": bob.id }))
        .await;
    assert_eq!(
        members(&data["removeGroupMember"]),
        [pair("manager@example.com", "MANAGER")]
    );
}

#[tokio::test]
async fn viewer_can_tells_admins_managers_and_members_apart() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let member = app.user("member@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    app.add_members(&admin, &group, &[&member], "MEMBER").await;

    for (user, expected) in [
        (
            &admin,
            json!({ "manageMembers": true, "manageGroup": true }),
        ),
        (
            &manager,
            json!({ "manageMembers": true, "manageGroup": false }),
        ),
        (
            &member,
            json!({ "manageMembers": false, "manageGroup": false }),
        ),
        (
            &outsider,
            json!({ "manageMembers": false, "manageGroup": false }),
        ),
    ] {
        let data = app.ok(user, GROUP, json!({ "id": group })).await;
        assert_eq!(
            data["group"]["viewerCan"], expected,
            "viewerCan for {}",
            user.email
        );
    }
}

#[tokio::test]
async fn a_group_role_reaches_its_members_but_not_its_managers() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let member = app.user("member@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    app.add_members(&admin, &group, &[&member], "MEMBER").await;
    let dataset = dataset_shared_with(&app, &group).await;

    let listed = app.ok(&member, DATASETS, json!({})).await;
    assert_eq!(listed["datasets"]["totalCount"], 1);
    assert_eq!(listed["datasets"]["nodes"][0]["id"], dataset.as_str());
    let one = app
        .ok(
            &member,
            "query($id: ID!) { dataset(id: $id) { title myRole } }",
            json!({ "id": dataset }),
        )
        .await;
    assert_eq!(
        one["dataset"],
        json!({ "title": "Chickens", "myRole": "USER" })
    );

    let listed = app.ok(&manager, DATASETS, json!({})).await;
    assert_eq!(listed["datasets"]["totalCount"], 0);
    assert_eq!(
        app.code(&manager, DATASET, json!({ "id": dataset })).await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_member_added_later_gains_access_at_once_and_loses_it_when_removed() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let alice = app.user("alice@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    let dataset = dataset_shared_with(&app, &group).await;

    assert_eq!(
        app.code(&alice, DATASET, json!({ "id": dataset })).await,
        "NOT_FOUND"
    );

    app.add_members(&admin, &group, &[&alice], "MEMBER").await;
    let one = app.ok(&alice, DATASET, json!({ "id": dataset })).await;
    assert_eq!(one["dataset"]["title"], "Chickens");

    // Becoming a MANAGER of the group takes the group's roles away too.
    app.add_members(&admin, &group, &[&alice], "MANAGER").await;
    assert_eq!(
        app.code(&alice, DATASET, json!({ "id": dataset })).await,
        "NOT_FOUND"
    );

    // Back to MEMBER (once someone else manages the group).
    let bob = app.user("bob@example.com").await;
    app.add_members(&admin, &group, &[&bob], "MANAGER").await;
    app.add_members(&admin, &group, &[&alice], "MEMBER").await;
    app.ok(&alice, DATASET, json!({ "id": dataset })).await;
    app.ok(&admin, REMOVE_MEMBER, json!({ "g": group, "u": alice.id }))
        .await;
    assert_eq!(
        app.code(&alice, DATASET, json!({ "id": dataset })).await,
        "NOT_FOUND"
    );
    let listed = app.ok(&alice, DATASETS, json!({})).await;
    assert_eq!(listed["datasets"]["totalCount"], 0);
}

#[tokio::test]
async fn deleting_a_group_revokes_its_grants_and_returns_its_id() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let member = app.user("member@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    app.add_members(&admin, &group, &[&member], "MEMBER").await;
    let dataset = dataset_shared_with(&app, &group).await;
    app.ok(&member, DATASET, json!({ "id": dataset })).await;
    let delete = "mutation($id: ID!) { deleteGroup(input: {id: $id}) }";

    assert_eq!(
        app.code(&manager, delete, json!({ "id": group })).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(&member, delete, json!({ "id": group })).await,
        "FORBIDDEN"
    );

    let data = app.ok(&admin, delete, json!({ "id": group })).await;
    assert_eq!(data["deleteGroup"], group.as_str());

    assert_eq!(
        app.code(&member, DATASET, json!({ "id": dataset })).await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(&admin, GROUP, json!({ "id": group })).await,
        "NOT_FOUND"
    );
    let listed = app.ok(&admin, "{ groups { totalCount } }", json!({})).await;
    assert_eq!(listed["groups"]["totalCount"], 0);
    let owner = app.user("owner@example.com").await;
    let collaborators = app
        .ok(
            &owner,
            "query($id: ID!) { dataset(id: $id) { collaborators { role user { email } group { name } } } }",
            json!({ "id": dataset }),
        )
        .await;
    assert_eq!(
        collaborators["dataset"]["collaborators"],
        json!([{ "role": "ADMIN", "user": { "email": "owner@example.com" }, "group": null }])
    );
}

#[tokio::test]
async fn update_group_renames_it_and_only_workspace_admins_may() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let manager = app.user("manager@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.group(&admin, "Reviewers").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    let update = "mutation($id: ID!, $n: String, $d: String) { updateGroup(input: {id: $id, name: $n, description: $d}) { id name description } }";

    let data = app
        .ok(
            &admin,
            update,
            json!({ "id": group, "n": "Labellers", "d": "Day shift" }),
        )
        .await;
    assert_eq!(
        data["updateGroup"],
        json!({ "id": group, "name": "Labellers", "description": "Day shift" })
    );

    let code = app
        .code(&manager, update, json!({ "id": group, "n": "Mine" }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    let code = app
        .code(&admin, update, json!({ "id": group, "n": "Reviewers" }))
        .await;
    assert_eq!(code, "CONFLICT");

    let data = app.ok(&manager, GROUP, json!({ "id": group })).await;
    assert_eq!(data["group"]["name"], "Labellers");
    assert_eq!(data["group"]["description"], "Day shift");
}

#[tokio::test]
async fn malformed_or_foreign_global_ids_are_bad_user_input() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    let folder = app.folder(&admin, "Raw").await;

    assert_eq!(
        app.code(&admin, GROUP, json!({ "id": "not-an-id" })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.code(&admin, GROUP, json!({ "id": folder })).await,
        "BAD_USER_INPUT"
    );
    let code = app
        .code(
            &admin,
            ADD_MEMBERS,
            json!({ "g": group, "u": [group], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let code = app
        .code(
            &admin,
            ADD_MEMBERS,
            json!({ "g": admin.id, "u": [admin.id], "r": "MEMBER" }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let code = app
        .code(&admin, REMOVE_MEMBER, json!({ "g": group, "u": "bogus" }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let code = app
        .code(
            &admin,
            "mutation($id: ID!) { deleteGroup(input: {id: $id}) }",
            json!({ "id": "bogus" }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");

    let data = app.ok(&admin, GROUP, json!({ "id": group })).await;
    assert_eq!(data["group"]["members"], json!([]));
}
