//! What every test of the API stands on: [`spawn_app`] starts the real
//! server on a loopback port against its own fresh database — a temporary
//! SQLite file, or a new PostgreSQL database when `TEST_DATABASE_URL` points
//! at a PostgreSQL server — and [`TestApp`] speaks GraphQL to it as signed-in
//! users, with builders for the objects of a scenario.
//!
//! The real server, not the schema alone, so that a test sees what a client
//! sees (transport, authentication, error codes); its own database, so that
//! tests run in parallel without seeing each other's rows. Tokens are minted
//! by the server's own authenticator, so no test depends on an identity
//! provider.
//!
//! The other harnesses are beside it: [`moto`] for an S3-compatible server,
//! [`ws`] for the one WebSocket client.

pub mod moto;
pub mod ws;

use std::time::Duration;

use annograph::app::{spawn, RunningServer};
use annograph::config::Config;
use annograph::service::users;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

pub const SECRET: &str = "test-secret-for-annograph-tests";

pub struct TestApp {
    pub server: RunningServer,
    pub url: String,
    /// The database this server uses (another server may share it).
    pub database_url: String,
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

/// A signed-in user of a test.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub email: String,
    pub token: String,
    /// Global ID.
    pub id: String,
}

/// The database URL for one test: a fresh database on PostgreSQL, or a
/// temporary SQLite file.
pub async fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("annograph_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&url)
                .await
                .expect("TEST_DATABASE_URL must be reachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            (annograph::app::database_url_named(&url, &name), None)
        }
        _ => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, Some(dir))
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like `spawn_app`, with the configuration adjusted first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (database_url, dir) = fresh_database().await;
    spawn_on(database_url, dir, adjust).await
}

/// A second server on the database of `other`, as when several instances
/// share one PostgreSQL database.
pub async fn spawn_app_beside(other: &TestApp) -> TestApp {
    spawn_on(other.database_url.clone(), None, |_| {}).await
}

async fn spawn_on(
    database_url: String,
    dir: Option<tempfile::TempDir>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let mut config = Config::for_database(&database_url, SECRET);
    // Tests serve storage (HTTP servers, moto) on loopback; the tests of
    // the refusal of internal addresses clear this in `adjust`.
    config.storage_allowed_hosts = annograph::storage::allow_list::AllowList::loopback();
    adjust(&mut config);
    let server = spawn(&config).await.expect("server starts");
    TestApp {
        database_url,
        url: format!("http://{}/graphql", server.addr),
        server,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the server and closes its database connections. A server that
    /// is only dropped serves on until the test's runtime ends, its pool
    /// open: a test that starts many servers in turn stops each one, so as
    /// to stay within the database's connections.
    pub async fn stop(self) {
        let db = self.server.state.services.db.clone();
        self.server.stop().await;
        db.close_by_ref().await.expect("close the database pool");
    }

    /// A workspace MEMBER, provisioned by their first request.
    pub async fn user(&self, email: &str) -> TestUser {
        let token = self
            .server
            .state
            .auth
            .mint(email, None, Duration::from_secs(3600))
            .expect("mint");
        let me = self.ok_as(&token, "{ me { id } }", json!({})).await;
        TestUser {
            email: email.to_owned(),
            token,
            id: me["me"]["id"].as_str().expect("id").to_owned(),
        }
    }

    /// A workspace ADMIN.
    pub async fn workspace_admin(&self, email: &str) -> TestUser {
        users::upsert(&self.server.state.services.db, email, None, true)
            .await
            .expect("upsert admin");
        self.user(email).await
    }

    /// Sends one GraphQL request and returns the status and the JSON body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut request = self
            .client
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    async fn ok_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let (_, body) = self.post(Some(token), query, variables).await;
        assert!(
            body.get("errors").is_none(),
            "unexpected errors: {body:#}\nquery: {query}"
        );
        body["data"].clone()
    }

    /// Runs a request that must succeed; returns `data`.
    pub async fn ok(&self, user: &TestUser, query: &str, variables: Value) -> Value {
        self.ok_as(&user.token, query, variables).await
    }

    /// Runs a request that must fail; returns the first error's code.
    pub async fn code(&self, user: &TestUser, query: &str, variables: Value) -> String {
        let (_, body) = self.post(Some(&user.token), query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("expected an error with a code, got {body:#}\nquery: {query}")
            })
            .to_owned()
    }

    // Builders for the common objects of a scenario. Each returns a global ID.

    pub async fn folder(&self, owner: &TestUser, name: &str) -> String {
        let data = self
            .ok(
                owner,
                "mutation($n: String!) { createFolder(input: {name: $n}) { id } }",
                json!({ "n": name }),
            )
            .await;
        data["createFolder"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn files(&self, owner: &TestUser, folder: &str, urls: &[&str]) -> Vec<String> {
        let files: Vec<Value> = urls
            .iter()
            .map(|u| json!({ "objectUrl": u, "kind": "IMAGE" }))
            .collect();
        let data = self
            .ok(
                owner,
                "mutation($f: ID!, $files: [FileInput!]!) { registerFiles(input: {folderId: $f, files: $files}) { id } }",
                json!({ "f": folder, "files": files }),
            )
            .await;
        data["registerFiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn dataset(&self, owner: &TestUser, title: &str, folder: Option<&str>) -> String {
        let data = self
            .ok(
                owner,
                "mutation($t: String!, $f: ID) { createDataset(input: {title: $t, folderId: $f}) { id } }",
                json!({ "t": title, "f": folder }),
            )
            .await;
        data["createDataset"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn attach(&self, owner: &TestUser, dataset: &str, files: &[String]) {
        self.ok(
            owner,
            "mutation($d: ID!, $f: [ID!]!) { attachFilesToDataset(input: {datasetId: $d, fileIds: $f}) { id } }",
            json!({ "d": dataset, "f": files }),
        )
        .await;
    }

    pub async fn ontology(&self, owner: &TestUser, title: &str) -> String {
        let data = self
            .ok(
                owner,
                "mutation($t: String!) { createOntology(input: {title: $t, structure: {objects: [{name: \"Chicken\", shape: \"bounding_box\"}]}}) { id } }",
                json!({ "t": title }),
            )
            .await;
        data["createOntology"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn project(
        &self,
        owner: &TestUser,
        title: &str,
        ontology: &str,
        datasets: &[&str],
    ) -> String {
        let data = self
            .ok(
                owner,
                "mutation($t: String!, $o: ID!, $d: [ID!]!) { createProject(input: {title: $t, ontologyId: $o, datasetIds: $d}) { id } }",
                json!({ "t": title, "o": ontology, "d": datasets }),
            )
            .await;
        data["createProject"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn group(&self, admin: &TestUser, name: &str) -> String {
        let data = self
            .ok(
                admin,
                "mutation($n: String!) { createGroup(input: {name: $n}) { id } }",
                json!({ "n": name }),
            )
            .await;
        data["createGroup"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn add_members(
        &self,
        admin: &TestUser,
        group: &str,
        users: &[&TestUser],
        role: &str,
    ) {
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        self.ok(
            admin,
            "mutation($g: ID!, $u: [ID!]!, $r: GroupRole!) { addGroupMembers(input: {groupId: $g, userIds: $u, role: $r}) { id } }",
            json!({ "g": group, "u": ids, "r": role }),
        )
        .await;
    }

    /// Grants `role` on a resource ("Dataset", "Project", "Ontology", "Folder") to users.
    pub async fn share(
        &self,
        owner: &TestUser,
        kind: &str,
        resource: &str,
        users: &[&TestUser],
        role: &str,
    ) {
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let query = format!(
            "mutation($r: ID!, $u: [ID!]!, $role: {kind}Role!) {{ add{kind}Collaborators(input: {{{}Id: $r, userIds: $u, role: $role}}) {{ id }} }}",
            kind.to_lowercase()
        );
        self.ok(
            owner,
            &query,
            json!({ "r": resource, "u": ids, "role": role }),
        )
        .await;
    }

    /// Grants `role` on a resource to a group.
    pub async fn share_with_group(
        &self,
        owner: &TestUser,
        kind: &str,
        resource: &str,
        group: &str,
        role: &str,
    ) {
        let query = format!(
            "mutation($r: ID!, $g: [ID!]!, $role: {kind}Role!) {{ add{kind}Collaborators(input: {{{}Id: $r, groupIds: $g, role: $role}}) {{ id }} }}",
            kind.to_lowercase()
        );
        self.ok(
            owner,
            &query,
            json!({ "r": resource, "g": [group], "role": role }),
        )
        .await;
    }
}

/// The titles of a list of nodes.
pub fn titles(nodes: &Value) -> Vec<String> {
    let mut out: Vec<String> = nodes
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {nodes}"))
        .iter()
        .map(|n| n["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

/// Like `spawn_app_beside`, with the configuration adjusted first (after
/// the test defaults).
pub async fn spawn_app_beside_with(other: &TestApp, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_on(other.database_url.clone(), None, adjust).await
}

/// A server on a database prepared beforehand (e.g. seeded), kept for the
/// test's life when it is a temporary SQLite file in `dir`.
pub async fn spawn_on_database(database_url: String, dir: Option<tempfile::TempDir>) -> TestApp {
    spawn_on(database_url, dir, |_| {}).await
}

/// `(email, role)` of each user collaborator and `(group name, role)` of
/// each group in a list of collaborators, sorted.
pub fn collaborators(list: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| {
            let who = c["user"]["email"].as_str().or(c["group"]["name"].as_str());
            (
                who.unwrap_or_else(|| panic!("neither user nor group: {c}"))
                    .to_owned(),
                c["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// An `(email or group name, role)` pair as [`collaborators`] lists them.
pub fn pair(who: &str, role: &str) -> (String, String) {
    (who.to_owned(), role.to_owned())
}
