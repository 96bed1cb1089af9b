//! Collaborators, the same on every kind of resource: users granted,
//! promoted and revoked by an ADMIN, never by a lesser role, and never
//! leaving the resource without an ADMIN; groups whose grants reach their
//! members and not their managers.
//!
//! One table of kinds ([`KINDS`]: how to name, create and list each) and two
//! scenarios run over all of it, so that a kind added to the API is one row
//! here and a rule changed for one kind shows up as that kind failing. What
//! only one kind has (a project's TEAM_MANAGER, a folder's files seen
//! through a group, an ontology used through a group) stays with that
//! kind's tests.

use serde_json::{json, Value};

use crate::helpers::*;

/// A kind of resource that has collaborators.
struct Kind {
    /// Its GraphQL type. It names the mutations (`add{name}Collaborators`,
    /// `set{name}CollaboratorRole`, `remove{name}Collaborator`) and the role
    /// enum (`{name}Role`); lower-cased, the query field and the inputs' ID
    /// field (`{field}Id`).
    name: &'static str,
    /// A role below ADMIN.
    lesser: &'static str,
    /// The list of the caller's resources of this kind.
    list: &'static str,
    /// The fields of its `viewerCan`: every one is true for an ADMIN.
    powers: &'static str,
}

const KINDS: [Kind; 5] = [
    Kind {
        name: "Dataset",
        lesser: "USER",
        list: "datasets",
        powers: "view addData adjustSettings delete attachToProject",
    },
    Kind {
        name: "Folder",
        lesser: "USER",
        list: "folders",
        powers: "view addFiles edit manageCollaborators delete",
    },
    Kind {
        name: "Ontology",
        lesser: "USER",
        list: "ontologies",
        powers: "view use edit manageCollaborators delete",
    },
    Kind {
        name: "Project",
        lesser: "ANNOTATOR",
        list: "projects",
        powers: "view annotate review manageCollaborators manageAdmins adjustSettings \
            attachDatasets setOntology delete",
    },
    Kind {
        name: "Integration",
        lesser: "USER",
        list: "integrations",
        powers: "view use edit manageCollaborators delete",
    },
];

/// What the mutations return and the read query asks for.
const COLLABORATORS: &str = "collaborators { role user { email } group { name } }";

impl Kind {
    fn field(&self) -> String {
        self.name.to_lowercase()
    }

    /// A new resource of this kind, created by `owner`; its global ID.
    async fn create(&self, app: &TestApp, owner: &TestUser) -> String {
        match self.name {
            "Dataset" => app.dataset(owner, "Birds", None).await,
            "Folder" => app.folder(owner, "Raw").await,
            "Ontology" => app.ontology(owner, "Farm").await,
            "Project" => {
                let ontology = app.ontology(owner, "Farm").await;
                app.project(owner, "Labelling", &ontology, &[]).await
            }
            // Nothing listens on the discard port; no test reaches it.
            "Integration" => app
                .ok(
                    owner,
                    "mutation { createIntegration(input: {title: \"Storage\", provider: HTTP, \
                        config: {baseUrl: \"http://127.0.0.1:9/\", allowHttp: true}}) { id } }",
                    json!({}),
                )
                .await["createIntegration"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            other => panic!("no resource of kind {other}"),
        }
    }

    /// `add{Kind}Collaborators` of users `$u` with role `$role` on `$r`.
    fn add(&self) -> String {
        format!(
            "mutation($r: ID!, $u: [ID!]!, $role: {n}Role!) {{ add{n}Collaborators(input: \
                {{{f}Id: $r, userIds: $u, role: $role}}) {{ {COLLABORATORS} }} }}",
            n = self.name,
            f = self.field()
        )
    }

    /// `set{Kind}CollaboratorRole` of user `$u` to `$role` on `$r`.
    fn set(&self) -> String {
        format!(
            "mutation($r: ID!, $u: ID!, $role: {n}Role!) {{ set{n}CollaboratorRole(input: \
                {{{f}Id: $r, userId: $u, role: $role}}) {{ {COLLABORATORS} }} }}",
            n = self.name,
            f = self.field()
        )
    }

    /// `remove{Kind}Collaborator` of user `$u` from `$r`.
    fn remove(&self) -> String {
        format!(
            "mutation($r: ID!, $u: ID!) {{ remove{n}Collaborator(input: \
                {{{f}Id: $r, userId: $u}}) {{ {COLLABORATORS} }} }}",
            n = self.name,
            f = self.field()
        )
    }

    /// `remove{Kind}Collaborator` of group `$g` from `$r`.
    fn remove_group(&self) -> String {
        format!(
            "mutation($r: ID!, $g: ID!) {{ remove{n}Collaborator(input: \
                {{{f}Id: $r, groupId: $g}}) {{ {COLLABORATORS} }} }}",
            n = self.name,
            f = self.field()
        )
    }

    /// The IDs of the caller's resources of this kind.
    async fn listed(&self, app: &TestApp, user: &TestUser) -> Vec<String> {
        let query = format!("{{ {} {{ totalCount nodes {{ id }} }} }}", self.list);
        let data = app.ok(user, &query, json!({})).await;
        let list = &data[self.list];
        let ids: Vec<String> = list["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(list["totalCount"], ids.len(), "{list}");
        ids
    }

    /// `remove{Kind}Collaborator` naming a user and a group at once.
    fn remove_both(&self) -> String {
        format!(
            "mutation($r: ID!, $u: ID!, $g: ID!) {{ remove{n}Collaborator(input: \
                {{{f}Id: $r, userId: $u, groupId: $g}}) {{ id }} }}",
            n = self.name,
            f = self.field()
        )
    }

    /// The resource `$id` as its reader sees it: role, powers, collaborators.
    fn read(&self) -> String {
        format!(
            "query($id: ID!) {{ {f}(id: $id) {{ myRole viewerCan {{ {p} }} {COLLABORATORS} }} }}",
            f = self.field(),
            p = self.powers
        )
    }

    /// Every power of `viewerCan`, true.
    fn all_powers(&self) -> Value {
        self.powers
            .split_whitespace()
            .map(|power| (power.to_owned(), json!(true)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// The whole life of one collaborator on a resource of `kind`.
async fn collaborators_come_and_go_and_an_admin_stays(kind: &Kind) {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let alice = app.user("alice@example.com").await;
    let r = kind.create(&app, &owner).await;
    let (add, set, remove, read) = (kind.add(), kind.set(), kind.remove(), kind.read());
    let name = kind.name;

    // The creator is the one ADMIN, and may neither leave nor step down.
    let data = app.ok(&owner, &read, json!({ "id": r })).await;
    let field = kind.field();
    assert_eq!(data[&field]["myRole"], "ADMIN", "{name}");
    assert_eq!(
        collaborators(&data[&field]["collaborators"]),
        [pair("owner@example.com", "ADMIN")],
        "{name}"
    );
    let alone = [
        app.code(&owner, &remove, json!({ "r": r, "u": owner.id }))
            .await,
        app.code(
            &owner,
            &set,
            json!({ "r": r, "u": owner.id, "role": kind.lesser }),
        )
        .await,
    ];
    assert_eq!(alone, ["CONFLICT", "CONFLICT"], "{name}");

    // Granted a lesser role; granted again, with any role: a conflict.
    let data = app
        .ok(
            &owner,
            &add,
            json!({ "r": r, "u": [alice.id], "role": kind.lesser }),
        )
        .await;
    assert_eq!(
        collaborators(&data[format!("add{name}Collaborators")]["collaborators"]),
        [
            pair("alice@example.com", kind.lesser),
            pair("owner@example.com", "ADMIN")
        ],
        "{name}"
    );
    for role in [kind.lesser, "ADMIN"] {
        let code = app
            .code(
                &owner,
                &add,
                json!({ "r": r, "u": [alice.id], "role": role }),
            )
            .await;
        assert_eq!(code, "CONFLICT", "{name}: adding again as {role}");
    }

    // A lesser role manages no collaborator, itself included.
    let code = app
        .code(
            &alice,
            &add,
            json!({ "r": r, "u": [alice.id], "role": kind.lesser }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN", "{name}: add");
    let code = app
        .code(
            &alice,
            &set,
            json!({ "r": r, "u": alice.id, "role": "ADMIN" }),
        )
        .await;
    assert_eq!(code, "FORBIDDEN", "{name}: set");

    // Promoted, she holds every power.
    let data = app
        .ok(
            &owner,
            &set,
            json!({ "r": r, "u": alice.id, "role": "ADMIN" }),
        )
        .await;
    assert_eq!(
        collaborators(&data[format!("set{name}CollaboratorRole")]["collaborators"]),
        [
            pair("alice@example.com", "ADMIN"),
            pair("owner@example.com", "ADMIN")
        ],
        "{name}"
    );
    let data = app.ok(&alice, &read, json!({ "id": r })).await;
    assert_eq!(data[&field]["myRole"], "ADMIN", "{name}");
    assert_eq!(data[&field]["viewerCan"], kind.all_powers(), "{name}");

    // An ADMIN removes another, even the creator, who loses sight of it;
    // a grant that is gone is not found.
    let data = app
        .ok(&alice, &remove, json!({ "r": r, "u": owner.id }))
        .await;
    assert_eq!(
        collaborators(&data[format!("remove{name}Collaborator")]["collaborators"]),
        [pair("alice@example.com", "ADMIN")],
        "{name}"
    );
    let code = app.code(&owner, &read, json!({ "id": r })).await;
    assert_eq!(code, "NOT_FOUND", "{name}: the removed creator reads");
    let code = app
        .code(&alice, &remove, json!({ "r": r, "u": owner.id }))
        .await;
    assert_eq!(code, "NOT_FOUND", "{name}: removing again");

    // The last ADMIN may neither leave nor step down.
    let last = [
        app.code(&alice, &remove, json!({ "r": r, "u": alice.id }))
            .await,
        app.code(
            &alice,
            &set,
            json!({ "r": r, "u": alice.id, "role": kind.lesser }),
        )
        .await,
    ];
    assert_eq!(last, ["CONFLICT", "CONFLICT"], "{name}");

    // A removal names a user or a group, not both.
    let code = app
        .code(
            &alice,
            &kind.remove_both(),
            json!({ "r": r, "u": alice.id, "g": alice.id }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT", "{name}");

    let data = app.ok(&alice, &read, json!({ "id": r })).await;
    assert_eq!(data[&field]["myRole"], "ADMIN", "{name}");
    assert_eq!(
        collaborators(&data[&field]["collaborators"]),
        [pair("alice@example.com", "ADMIN")],
        "{name}"
    );
}

#[tokio::test]
async fn on_every_kind_collaborators_come_and_go_but_the_last_admin_stays() {
    let runs = KINDS
        .iter()
        .map(collaborators_come_and_go_and_an_admin_stays);
    futures_util::future::join_all(runs).await;
}

/// A grant of `role` on a resource of `kind` to a group: its members hold
/// the role for as long as they are members, its managers get nothing, and
/// the group is a collaborator like a user, except that its ADMIN role does
/// not keep the resource from losing its last ADMIN user.
async fn a_group_grant_reaches_members_only(kind: &Kind, role: &str) {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let leaving = app.user("leaving@example.com").await;
    let manager = app.user("manager@example.com").await;
    let group = app.group(&admin, "Labellers").await;
    app.add_members(&admin, &group, &[&member, &leaving], "MEMBER")
        .await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    let r = kind.create(&app, &owner).await;
    app.share_with_group(&owner, kind.name, &r, &group, role)
        .await;
    let (read, field, name) = (kind.read(), kind.field(), kind.name);
    let data = app.ok(&owner, &read, json!({ "id": r })).await;
    assert_eq!(
        collaborators(&data[&field]["collaborators"]),
        [pair("Labellers", role), pair("owner@example.com", "ADMIN")],
        "{name}"
    );

    for user in [&member, &leaving] {
        let data = app.ok(user, &read, json!({ "id": r })).await;
        assert_eq!(data[&field]["myRole"], role, "{name}");
        assert_eq!(kind.listed(&app, user).await, [r.as_str()], "{name}");
    }
    if role == "ADMIN" {
        let data = app.ok(&member, &read, json!({ "id": r })).await;
        assert_eq!(data[&field]["viewerCan"], kind.all_powers(), "{name}");
    }
    let code = app.code(&manager, &read, json!({ "id": r })).await;
    assert_eq!(code, "NOT_FOUND", "{name}: a manager of the group reads");
    assert_eq!(kind.listed(&app, &manager).await, [""; 0], "{name}");

    // Leaving the group takes the role away at once.
    app.ok(
        &admin,
        "mutation($g: ID!, $u: ID!) { removeGroupMember(input: {groupId: $g, userId: $u}) { id } }",
        json!({ "g": group, "u": leaving.id }),
    )
    .await;
    let code = app.code(&leaving, &read, json!({ "id": r })).await;
    assert_eq!(code, "NOT_FOUND", "{name}: a former member reads");
    assert_eq!(kind.listed(&app, &leaving).await, [""; 0], "{name}");

    if role == "ADMIN" {
        // The group's ADMIN does not count as the last ADMIN.
        let code = app
            .code(&member, &kind.remove(), json!({ "r": r, "u": owner.id }))
            .await;
        assert_eq!(code, "CONFLICT", "{name}: removing the last ADMIN user");
    }
    let data = app
        .ok(&owner, &kind.remove_group(), json!({ "r": r, "g": group }))
        .await;
    assert_eq!(
        collaborators(&data[format!("remove{name}Collaborator")]["collaborators"]),
        [pair("owner@example.com", "ADMIN")],
        "{name}"
    );
    let code = app.code(&member, &read, json!({ "id": r })).await;
    assert_eq!(
        code, "NOT_FOUND",
        "{name}: a member after the group's removal"
    );
}

#[tokio::test]
async fn on_every_kind_a_grant_to_a_group_reaches_its_members_and_not_its_managers() {
    let runs = KINDS.iter().flat_map(|kind| {
        [
            a_group_grant_reaches_members_only(kind, "ADMIN"),
            a_group_grant_reaches_members_only(kind, kind.lesser),
        ]
    });
    futures_util::future::join_all(runs).await;
}
