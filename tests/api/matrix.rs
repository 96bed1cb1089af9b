//! The permission matrix in `policies/matrix.csv` is the product's table. It
//! is checked twice: the casbin files must agree with every row (and the rows
//! must cover every role × action the product knows), and every row with an
//! observable effect is exercised over HTTP for every way of holding a role.

use std::collections::HashMap;
use std::path::PathBuf;

use annograph::policy::{enforcer, Kind, KindRules, Policy, Role};
use casbin::CoreApi;
use serde_json::{json, Value};

use crate::helpers::*;

fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// (resource, action, role) -> allowed, from `policies/matrix.csv`.
fn matrix() -> HashMap<(String, String, String), bool> {
    let text = std::fs::read_to_string(policies_dir().join("matrix.csv")).unwrap();
    let mut rows = HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        assert_eq!(cells.len(), 4, "matrix.csv line {}: {line}", n + 1);
        let allowed = match cells[3] {
            "yes" => true,
            "no" => false,
            other => panic!(
                "matrix.csv line {}: allowed must be yes or no, not {other}",
                n + 1
            ),
        };
        let key = (
            cells[0].to_owned(),
            cells[1].to_owned(),
            cells[2].to_owned(),
        );
        assert!(
            rows.insert(key, allowed).is_none(),
            "matrix.csv line {} repeats a row",
            n + 1
        );
    }
    rows
}

fn allowed(kind: &str, action: &str, role: &str) -> bool {
    *matrix()
        .get(&(kind.to_owned(), action.to_owned(), role.to_owned()))
        .unwrap_or_else(|| panic!("matrix.csv has no row {kind},{action},{role}"))
}

#[tokio::test]
async fn the_casbin_files_agree_with_every_row_of_the_matrix() {
    let model = std::fs::read_to_string(policies_dir().join("model.conf")).unwrap();
    let policy = std::fs::read_to_string(policies_dir().join("policy.csv")).unwrap();
    let enforcer = enforcer(&model, &policy).await.unwrap();
    let rows = matrix();
    let mut expected = 0;
    for &kind in Kind::ALL {
        for action in kind.actions() {
            for role in kind.roles() {
                let key = (
                    kind.as_str().to_owned(),
                    action.as_str().to_owned(),
                    role.to_string(),
                );
                let want = *rows
                    .get(&key)
                    .unwrap_or_else(|| panic!("matrix.csv lacks the combination {key:?}"));
                let got = enforcer
                    .enforce((role.as_str(), kind.as_str(), action.as_str()))
                    .unwrap();
                assert_eq!(
                    got, want,
                    "casbin says {got} for {key:?}, the matrix says {want}"
                );
                expected += 1;
            }
        }
    }
    assert_eq!(
        rows.len(),
        expected,
        "matrix.csv has rows for combinations the product does not know"
    );
}

#[tokio::test]
async fn the_server_compiles_the_same_policy_from_the_files_as_the_builtin_copy() {
    let from_files = Policy::load(Some(&policies_dir())).await.unwrap();
    let builtin = Policy::load(None).await.unwrap();
    for &kind in Kind::ALL {
        for action in kind.actions() {
            assert_eq!(
                from_files.roles_allowing(kind, *action),
                builtin.roles_allowing(kind, *action)
            );
            for role in kind.roles() {
                assert_eq!(
                    from_files.allows(kind, *role, *action),
                    allowed(kind.as_str(), action.as_str(), role.as_str())
                );
            }
        }
    }
    assert_eq!(
        builtin.inheriting_membership_roles(),
        [Role::Member],
        "a group's grants reach MEMBERs only"
    );
    assert_eq!(builtin.join_role(), Some(Role::Admin));
}

#[tokio::test]
async fn changing_the_policy_files_changes_behaviour_without_code() {
    // A policy in which dataset USERs may also add data.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        policies_dir().join("model.conf"),
        dir.path().join("model.conf"),
    )
    .unwrap();
    let policy = std::fs::read_to_string(policies_dir().join("policy.csv")).unwrap()
        + "p, USER, dataset, add_data\n";
    std::fs::write(dir.path().join("policy.csv"), policy).unwrap();
    let path = dir.path().to_owned();
    let app = spawn_app_with(|c| c.policy_dir = Some(path)).await;
    let owner = app.user("owner@example.com").await;
    let user = app.user("user@example.com").await;
    let dataset = app.dataset(&owner, "D", None).await;
    app.share(&owner, "Dataset", &dataset, &[&user], "USER")
        .await;
    let data = app
        .ok(
            &user,
            "query($d: ID!) { dataset(id: $d) { viewerCan { addData delete } } }",
            json!({ "d": dataset }),
        )
        .await;
    assert_eq!(
        data["dataset"]["viewerCan"],
        json!({ "addData": true, "delete": false })
    );
}

/// How a test caller holds (or lacks) a role on the resource under test.
#[derive(Debug, Clone, Copy)]
enum Holder {
    Direct(&'static str),
    /// A MEMBER of a group holding the role.
    GroupMember(&'static str),
    /// A MANAGER of a group holding ADMIN: gets nothing.
    GroupManager,
    /// A collaborator of a project using the resource (datasets, ontologies).
    ProjectCollaborator,
    Outsider,
}

impl Holder {
    fn role(self) -> Option<&'static str> {
        match self {
            Holder::Direct(r) | Holder::GroupMember(r) => Some(r),
            _ => None,
        }
    }
}

/// The outcome the matrix predicts: `None` for success, else the error code.
fn predicted(kind: &str, action: &str, holder: Holder) -> Option<&'static str> {
    let can = |a: &str| holder.role().is_some_and(|r| allowed(kind, a, r));
    let view = can("view") || matches!(holder, Holder::ProjectCollaborator);
    if action == "view" && view || can(action) {
        None
    } else if view {
        Some("FORBIDDEN")
    } else {
        Some("NOT_FOUND")
    }
}

/// Runs a request and returns `None` on success, else its error code.
async fn outcome(app: &TestApp, who: &TestUser, query: &str, vars: Value) -> Option<String> {
    let (_, body) = app.post(Some(&who.token), query, vars).await;
    body.get("errors").map(|e| {
        e[0]["extensions"]["code"]
            .as_str()
            .unwrap_or("no code")
            .to_owned()
    })
}

struct Scenario {
    app: TestApp,
    caller: TestUser,
    third: TestUser,
    resource: String,
}

/// A resource of `kind` ("Dataset", "Project", "Ontology", "Folder",
/// "Integration") owned by
/// someone else, and a caller holding it as `holder` says.
async fn scenario(kind: &str, holder: Holder) -> Scenario {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let owner = app.user("owner@example.com").await;
    let caller = app.user("caller@example.com").await;
    let third = app.user("third@example.com").await;
    let ontology = app.ontology(&owner, "Owner's ontology").await;
    let resource = match kind {
        "Dataset" => app.dataset(&owner, "Owner's dataset", None).await,
        "Ontology" => ontology.clone(),
        "Project" => app.project(&owner, "Owner's project", &ontology, &[]).await,
        "Folder" => app.folder(&owner, "Owner's folder").await,
        // Nothing listens on the discard port: tests fail fast, as results.
        "Integration" => app
            .ok(
                &owner,
                "mutation { createIntegration(input: {title: \"Owner's storage\", provider: HTTP, config: {baseUrl: \"http://127.0.0.1:9/\", allowHttp: true}}) { id } }",
                json!({}),
            )
            .await["createIntegration"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        other => panic!("no scenario for {other}"),
    };
    match holder {
        Holder::Direct(role) => app.share(&owner, kind, &resource, &[&caller], role).await,
        Holder::GroupMember(_) | Holder::GroupManager => {
            let group = app.group(&admin, "Team").await;
            let (membership, role) = match holder {
                Holder::GroupMember(role) => ("MEMBER", role),
                _ => ("MANAGER", "ADMIN"),
            };
            app.add_members(&admin, &group, &[&caller], membership)
                .await;
            app.share_with_group(&owner, kind, &resource, &group, role)
                .await;
        }
        Holder::ProjectCollaborator => {
            let project = match kind {
                "Dataset" => {
                    app.project(&owner, "Using it", &ontology, &[&resource])
                        .await
                }
                "Ontology" => app.project(&owner, "Using it", &resource, &[]).await,
                other => panic!("{other} is not seen through projects"),
            };
            app.share(&owner, "Project", &project, &[&caller], "ANNOTATOR")
                .await;
        }
        Holder::Outsider => {}
    }
    Scenario {
        app,
        caller,
        third,
        resource,
    }
}

/// Performs `action` on the scenario's resource as its caller.
async fn act(kind: &str, action: &str, s: &Scenario) -> Option<String> {
    let (app, c, r) = (&s.app, &s.caller, s.resource.as_str());
    match (kind, action) {
        ("Dataset", "view") => outcome(app, c, "query($r: ID!) { dataset(id: $r) { id } }", json!({ "r": r })).await,
        ("Dataset", "attach_to_project") => {
            let o = app.ontology(c, "Caller's").await;
            let p = app.project(c, "Caller's", &o, &[]).await;
            outcome(app, c, "mutation($p: ID!, $r: ID!) { attachDatasetToProject(input: {projectId: $p, datasetId: $r}) { id } }", json!({ "p": p, "r": r })).await
        }
        ("Dataset", "add_data") => {
            let f = app.folder(c, "Caller's").await;
            let files = app.files(c, &f, &["s3://caller/1.jpg"]).await;
            outcome(app, c, "mutation($r: ID!, $f: [ID!]!) { attachFilesToDataset(input: {datasetId: $r, fileIds: $f}) { id } }", json!({ "r": r, "f": files })).await
        }
        ("Dataset", "adjust_settings") => outcome(app, c, "mutation($r: ID!) { updateDataset(input: {id: $r, title: \"t\"}) { id } }", json!({ "r": r })).await,
        ("Dataset", "delete") => outcome(app, c, "mutation($r: ID!) { deleteDataset(input: {id: $r, confirm: \"delete\"}) }", json!({ "r": r })).await,

        ("Project", "view") => outcome(app, c, "query($r: ID!) { project(id: $r) { id } }", json!({ "r": r })).await,
        ("Project", "annotate" | "review") => {
            let field = if action == "annotate" { "annotate" } else { "review" };
            let (_, body) = app.post(Some(&c.token), &format!("query($r: ID!) {{ project(id: $r) {{ viewerCan {{ {field} }} }} }}"), json!({ "r": r })).await;
            match &body["data"]["project"]["viewerCan"][field] {
                Value::Bool(true) => None,
                Value::Bool(false) => Some("FORBIDDEN".into()),
                _ => body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned),
            }
        }
        ("Project", "manage_collaborators") => outcome(app, c, "mutation($r: ID!, $u: [ID!]!) { addProjectCollaborators(input: {projectId: $r, userIds: $u, role: ANNOTATOR}) { id } }", json!({ "r": r, "u": [s.third.id] })).await,
        ("Project", "manage_admins") => {
            let fourth = app.user("fourth@example.com").await;
            outcome(app, c, "mutation($r: ID!, $u: [ID!]!) { addProjectCollaborators(input: {projectId: $r, userIds: $u, role: ADMIN}) { id } }", json!({ "r": r, "u": [fourth.id] })).await
        }
        ("Project", "adjust_settings") => outcome(app, c, "mutation($r: ID!) { updateProject(input: {id: $r, title: \"t\"}) { id } }", json!({ "r": r })).await,
        ("Project", "attach_dataset") => {
            let d = app.dataset(c, "Caller's", None).await;
            outcome(app, c, "mutation($r: ID!, $d: ID!) { attachDatasetToProject(input: {projectId: $r, datasetId: $d}) { id } }", json!({ "r": r, "d": d })).await
        }
        ("Project", "set_ontology") => {
            let o = app.ontology(c, "Caller's").await;
            outcome(app, c, "mutation($r: ID!, $o: ID!) { setProjectOntology(input: {projectId: $r, ontologyId: $o}) { id } }", json!({ "r": r, "o": o })).await
        }
        ("Project", "delete") => outcome(app, c, "mutation($r: ID!) { deleteProject(input: {id: $r}) }", json!({ "r": r })).await,

        ("Ontology", "view") => outcome(app, c, "query($r: ID!) { ontology(id: $r) { id } }", json!({ "r": r })).await,
        ("Ontology", "use") => {
            let result = outcome(app, c, "mutation($r: ID!) { createProject(input: {title: \"p\", ontologyId: $r}) { id } }", json!({ "r": r })).await;
            if result.is_none() {
                // Leave the ontology unused again, so that deleting it stays possible.
                let data = app.ok(c, "{ projects { nodes { id myRole } } }", json!({})).await;
                for p in data["projects"]["nodes"].as_array().unwrap().iter().filter(|p| p["myRole"] == "ADMIN") {
                    app.ok(c, "mutation($p: ID!) { deleteProject(input: {id: $p}) }", json!({ "p": p["id"] })).await;
                }
            }
            result
        }
        ("Ontology", "edit") => outcome(app, c, "mutation($r: ID!) { updateOntology(input: {id: $r, title: \"t\"}) { id } }", json!({ "r": r })).await,
        ("Ontology", "manage_collaborators") => outcome(app, c, "mutation($r: ID!, $u: [ID!]!) { addOntologyCollaborators(input: {ontologyId: $r, userIds: $u, role: USER}) { id } }", json!({ "r": r, "u": [s.third.id] })).await,
        ("Ontology", "delete") => outcome(app, c, "mutation($r: ID!) { deleteOntology(input: {id: $r}) }", json!({ "r": r })).await,

        ("Folder", "view") => outcome(app, c, "query($r: ID!) { folder(id: $r) { id } }", json!({ "r": r })).await,
        ("Folder", "add_files") => outcome(app, c, "mutation($r: ID!) { registerFiles(input: {folderId: $r, files: [{objectUrl: \"s3://b/x.jpg\", kind: IMAGE}]}) { id } }", json!({ "r": r })).await,
        ("Folder", "edit") => outcome(app, c, "mutation($r: ID!) { updateFolder(input: {id: $r, name: \"renamed\"}) { id } }", json!({ "r": r })).await,
        ("Folder", "manage_collaborators") => outcome(app, c, "mutation($r: ID!, $u: [ID!]!) { addFolderCollaborators(input: {folderId: $r, userIds: $u, role: USER}) { id } }", json!({ "r": r, "u": [s.third.id] })).await,
        ("Folder", "delete") => outcome(app, c, "mutation($r: ID!) { deleteFolder(input: {id: $r}) }", json!({ "r": r })).await,

        ("Integration", "view") => outcome(app, c, "query($r: ID!) { integration(id: $r) { id } }", json!({ "r": r })).await,
        ("Integration", "use") => outcome(app, c, "mutation($r: ID!) { testIntegration(input: {id: $r}) { ok } }", json!({ "r": r })).await,
        ("Integration", "edit") => outcome(app, c, "mutation($r: ID!) { updateIntegration(input: {id: $r, title: \"t\"}) { id } }", json!({ "r": r })).await,
        ("Integration", "manage_collaborators") => outcome(app, c, "mutation($r: ID!, $u: [ID!]!) { addIntegrationCollaborators(input: {integrationId: $r, userIds: $u, role: USER}) { id } }", json!({ "r": r, "u": [s.third.id] })).await,
        ("Integration", "delete") => outcome(app, c, "mutation($r: ID!) { deleteIntegration(input: {id: $r}) }", json!({ "r": r })).await,
        other => panic!("no driver for {other:?}"),
    }
}

/// Every action of `kind` for every holder, checked against the matrix. The
/// destructive action runs last, in a scenario of its own.
async fn check_kind(kind: &str, policy_kind: Kind, holders: &[Holder]) {
    let actions: Vec<&str> = policy_kind
        .actions()
        .iter()
        .map(|a| a.as_str())
        .filter(|a| *a != "granted_on_join")
        .collect();
    let mut failures = Vec::new();
    for &holder in holders {
        let s = scenario(kind, holder).await;
        for action in actions.iter().filter(|a| **a != "delete") {
            let got = act(kind, action, &s).await;
            let want = predicted(policy_kind.as_str(), action, holder);
            if got.as_deref() != want {
                failures.push(format!(
                    "{kind} {action} as {holder:?}: got {got:?}, the matrix says {want:?}"
                ));
            }
        }
        s.app.stop().await;
        let s = scenario(kind, holder).await;
        let got = act(kind, "delete", &s).await;
        let want = predicted(policy_kind.as_str(), "delete", holder);
        if got.as_deref() != want {
            failures.push(format!(
                "{kind} delete as {holder:?}: got {got:?}, the matrix says {want:?}"
            ));
        }
        s.app.stop().await;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_dataset_matrix_holds_over_http_for_every_way_of_holding_a_role() {
    check_kind(
        "Dataset",
        Kind::Dataset,
        &[
            Holder::Direct("ADMIN"),
            Holder::Direct("USER"),
            Holder::GroupMember("ADMIN"),
            Holder::GroupMember("USER"),
            Holder::GroupManager,
            Holder::ProjectCollaborator,
            Holder::Outsider,
        ],
    )
    .await;
}

#[tokio::test]
async fn the_project_matrix_holds_over_http_for_every_role() {
    let mut holders: Vec<Holder> = Kind::Project
        .roles()
        .iter()
        .map(|r| Holder::Direct(r.as_str()))
        .collect();
    holders.extend([
        Holder::GroupMember("TEAM_MANAGER"),
        Holder::GroupManager,
        Holder::Outsider,
    ]);
    check_kind("Project", Kind::Project, &holders).await;
}

#[tokio::test]
async fn the_ontology_matrix_holds_over_http_for_every_role() {
    check_kind(
        "Ontology",
        Kind::Ontology,
        &[
            Holder::Direct("ADMIN"),
            Holder::Direct("USER"),
            Holder::GroupMember("USER"),
            Holder::GroupManager,
            Holder::ProjectCollaborator,
            Holder::Outsider,
        ],
    )
    .await;
}

#[tokio::test]
async fn the_folder_matrix_holds_over_http_for_every_role() {
    check_kind(
        "Folder",
        Kind::Folder,
        &[
            Holder::Direct("ADMIN"),
            Holder::Direct("USER"),
            Holder::GroupMember("ADMIN"),
            Holder::GroupManager,
            Holder::Outsider,
        ],
    )
    .await;
}

#[tokio::test]
async fn the_integration_matrix_holds_over_http_for_every_role() {
    check_kind(
        "Integration",
        Kind::Integration,
        &[
            Holder::Direct("ADMIN"),
            Holder::Direct("USER"),
            Holder::GroupMember("ADMIN"),
            Holder::GroupMember("USER"),
            Holder::GroupManager,
            Holder::Outsider,
        ],
    )
    .await;
}
