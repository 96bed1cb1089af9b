//! `importProgress` over `/graphql/ws`, both protocols: the job's state at
//! once, coalesced progress while it runs, the terminal state then
//! `complete`; refusals, access lost mid-stream and cancellation.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::imports::{finished, integration, many_images, mirrored_dataset, slow_server, submit};
use crate::support::ws::{Protocol, Ws};

const PROGRESS: &str = "subscription($id: ID!) { importProgress(jobId: $id) {
    id status total processed succeeded failed skipped } }";

impl Ws {
    /// Starts `importProgress` for `job` as operation `id`.
    async fn follow(&mut self, id: &str, job: &str) {
        self.subscribe(id, PROGRESS, json!({ "id": job })).await;
    }

    /// The job state of the next message, which must be a result of
    /// operation `id`; `None` when it is its `complete`.
    async fn progress(&mut self, id: &str) -> Option<Value> {
        let message = self.recv().await;
        assert_eq!(message["id"], id, "{message:#}");
        if message["type"] == "complete" {
            return None;
        }
        assert_eq!(message["type"], self.protocol.data(), "{message:#}");
        assert!(message["payload"].get("errors").is_none(), "{message:#}");
        Some(message["payload"]["data"]["importProgress"].clone())
    }

    /// Every job state operation `id` sends until its `complete`.
    async fn until_complete(&mut self, id: &str) -> Vec<Value> {
        let mut states = Vec::new();
        while let Some(state) = self.progress(id).await {
            states.push(state);
        }
        states
    }

    /// The `extensions.code` of the `error` message the operation `id` gets.
    async fn refused(&mut self, id: &str) -> Value {
        let message = self.recv().await;
        assert_eq!(message["type"], "error", "{message:#}");
        assert_eq!(message["id"], id, "{message:#}");
        let error = match self.protocol {
            Protocol::TransportWs => &message["payload"][0],
            Protocol::Legacy => &message["payload"],
        };
        assert_eq!(error["path"], json!(["importProgress"]), "{message:#}");
        error["extensions"]["code"].clone()
    }
}

/// An import job over an HTTP server that answers each request after
/// `delay`: `n` small images into a dataset of `owner`.
struct SlowImport {
    job: String,
    dataset: String,
    /// The served folder, kept while the test runs.
    _media: tempfile::TempDir,
}

async fn slow_import(app: &TestApp, owner: &TestUser, n: usize, delay: Duration) -> SlowImport {
    let (media, manifest) = many_images(n, "");
    let (base, _, _) = slow_server(media.path().to_path_buf(), delay).await;
    let storage = integration(
        app,
        owner,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
    )
    .await;
    let (dataset, _) = mirrored_dataset(app, owner).await;
    // The listed names (`00000.png`, …) become URLs under the server.
    let manifest = manifest.replace("\n0", &format!("\n{base}0"));
    let job = submit(app, owner, &dataset, &storage, &manifest, json!({})).await;
    assert_eq!(job["total"], n, "{job:#}");
    SlowImport {
        job: job["id"].as_str().unwrap().to_owned(),
        dataset,
        _media: media,
    }
}

fn counter(state: &Value, name: &str) -> i64 {
    state[name]
        .as_i64()
        .unwrap_or_else(|| panic!("no {name} in {state:#}"))
}

/// Checks a stream that followed a whole job of `n` entries: the first
/// state before the end, counters that only grow, the last state
/// SUCCEEDED with every entry registered, and few messages.
fn assert_followed_to_success(states: &[Value], job: &str, n: i64) {
    let first = states.first().expect("at least one state");
    assert!(
        ["QUEUED", "RUNNING"].contains(&first["status"].as_str().unwrap()),
        "the first state is not the job's state at subscription: {states:#?}"
    );
    assert!(states.iter().all(|s| s["id"] == job && s["total"] == n));
    for pair in states.windows(2) {
        assert!(
            counter(&pair[1], "processed") >= counter(&pair[0], "processed"),
            "processed went down: {states:#?}"
        );
    }
    assert!(
        states.iter().any(|s| {
            let processed = counter(s, "processed");
            s["status"] == "RUNNING" && processed > 0 && processed < n
        }),
        "no progress was reported while the job ran: {states:#?}"
    );
    let last = states.last().unwrap();
    assert_eq!(last["status"], "SUCCEEDED", "{states:#?}");
    assert_eq!(
        [
            counter(last, "processed"),
            counter(last, "succeeded"),
            counter(last, "failed"),
            counter(last, "skipped")
        ],
        [n, n, 0, 0]
    );
    let terminal = states.iter().filter(|s| s["status"] == "SUCCEEDED").count();
    assert_eq!(terminal, 1, "{states:#?}");
    // Coalesced: far fewer messages than entries, but progress in between.
    assert!(
        states.len() > 2 && states.len() as i64 <= n / 4,
        "{} messages for {n} entries: {states:#?}",
        states.len()
    );
}

/// 60 objects at 30 ms a request, two at a time: about two seconds.
const ENTRIES: usize = 60;
const DELAY: Duration = Duration::from_millis(30);

async fn follows_a_running_job_to_success_over(protocol: Protocol) {
    let app = spawn_app_with(|c| c.import.concurrency = 2).await;
    let ann = app.user("ann@example.com").await;
    let import = slow_import(&app, &ann, ENTRIES, DELAY).await;

    let mut ws = Ws::signed_in_over(&app, protocol, Some(&ann)).await;
    ws.follow("1", &import.job).await;
    let states = ws.until_complete("1").await;
    assert_followed_to_success(&states, &import.job, ENTRIES as i64);
    ws.quiet().await;
    // The stream told the truth: the job is done as it said.
    let done = finished(&app, &ann, &import.job).await;
    assert_eq!(done["processed"], states.last().unwrap()["processed"]);
}

#[tokio::test]
async fn a_subscriber_follows_a_running_import_until_it_succeeds() {
    follows_a_running_job_to_success_over(Protocol::TransportWs).await;
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_follows_an_import_too() {
    follows_a_running_job_to_success_over(Protocol::Legacy).await;
}

#[tokio::test]
async fn a_job_that_already_ended_sends_its_final_state_once_then_completes() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let import = slow_import(&app, &ann, 3, Duration::ZERO).await;
    let done = finished(&app, &ann, &import.job).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done:#}");

    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let mut ws = Ws::signed_in_over(&app, protocol, Some(&ann)).await;
        ws.follow("1", &import.job).await;
        let state = ws.progress("1").await.expect("one state");
        assert_eq!(state["status"], "SUCCEEDED", "{state:#}");
        assert_eq!(
            (counter(&state, "processed"), counter(&state, "succeeded")),
            (3, 3)
        );
        assert_eq!(ws.progress("1").await, None, "complete follows");
        ws.quiet().await;
    }
}

#[tokio::test]
async fn only_signed_in_callers_who_can_view_the_dataset_may_follow_a_job() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let eve = app.user("eve@example.com").await;
    let import = slow_import(&app, &ann, 2, Duration::ZERO).await;

    // No token in connection_init: acknowledged as anonymous, then refused.
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let mut anonymous = Ws::signed_in_over(&app, protocol, None).await;
        anonymous.follow("1", &import.job).await;
        assert_eq!(anonymous.refused("1").await, "UNAUTHENTICATED");
        anonymous.quiet().await; // no `complete` after `error`
    }

    // Someone who cannot see the dataset: NOT_FOUND, as for a job that does
    // not exist.
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let mut ws = Ws::signed_in_over(&app, protocol, Some(&eve)).await;
        ws.follow("1", &import.job).await;
        assert_eq!(ws.refused("1").await, "NOT_FOUND");
        let missing = annograph::ids::encode("ImportJob", uuid::Uuid::now_v7());
        ws.follow("2", &missing).await;
        assert_eq!(ws.refused("2").await, "NOT_FOUND");
        ws.quiet().await;
    }

    // An ID of something else is bad input.
    let mut ws = Ws::signed_in(&app, Some(&ann)).await;
    ws.follow("1", &import.dataset).await;
    assert_eq!(ws.refused("1").await, "BAD_USER_INPUT");
    ws.quiet().await;
}

#[tokio::test]
async fn losing_access_to_the_dataset_ends_the_stream_before_the_job_does() {
    let app = spawn_app_with(|c| c.import.concurrency = 2).await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let import = slow_import(&app, &ann, 100, Duration::from_millis(40)).await;
    app.share(&ann, "Dataset", &import.dataset, &[&bob], "USER")
        .await;

    let mut bobs = Ws::signed_in(&app, Some(&bob)).await;
    bobs.follow("1", &import.job).await;
    let first = bobs.progress("1").await.expect("the job's state at once");
    assert!(first["status"] == "QUEUED" || first["status"] == "RUNNING");
    app.ok(
        &ann,
        "mutation($d: ID!, $u: ID!) { removeDatasetCollaborator(input: {datasetId: $d, userId: $u}) { id } }",
        json!({ "d": import.dataset, "u": bob.id }),
    )
    .await;
    // What was already on its way may arrive; then `complete`, with the job
    // still running.
    let rest = bobs.until_complete("1").await;
    assert!(rest.iter().all(|s| s["status"] == "RUNNING"), "{rest:#?}");
    bobs.quiet().await;
    let now = app
        .ok(
            &ann,
            "query($id: ID!) { importJob(id: $id) { status } }",
            json!({ "id": import.job }),
        )
        .await;
    assert_eq!(now["importJob"]["status"], "RUNNING", "the job ended first");
    app.ok(
        &ann,
        "mutation($id: ID!) { cancelImportJob(input: {id: $id}) { status } }",
        json!({ "id": import.job }),
    )
    .await;
}

#[tokio::test]
async fn cancelling_a_followed_job_sends_cancelled_then_completes() {
    let app = spawn_app_with(|c| c.import.concurrency = 2).await;
    let ann = app.user("ann@example.com").await;
    let import = slow_import(&app, &ann, 100, Duration::from_millis(40)).await;

    let mut ws = Ws::signed_in(&app, Some(&ann)).await;
    ws.follow("1", &import.job).await;
    // Cancel once the workers are at it.
    loop {
        let state = ws.progress("1").await.expect("a state before the end");
        assert!(!["SUCCEEDED", "FAILED", "CANCELLED"].contains(&state["status"].as_str().unwrap()));
        if state["status"] == "RUNNING" && counter(&state, "processed") > 0 {
            break;
        }
    }
    let cancelled = app
        .ok(
            &ann,
            "mutation($id: ID!) { cancelImportJob(input: {id: $id}) { status processed } }",
            json!({ "id": import.job }),
        )
        .await["cancelImportJob"]
        .clone();
    assert_eq!(cancelled["status"], "CANCELLED");

    let rest = ws.until_complete("1").await;
    let last = rest.last().expect("the cancelled state");
    assert_eq!(last["status"], "CANCELLED", "{rest:#?}");
    assert!(
        rest[..rest.len() - 1]
            .iter()
            .all(|s| s["status"] == "RUNNING"),
        "{rest:#?}"
    );
    assert!(counter(last, "processed") < 100, "{last:#}");
    assert_eq!(last["processed"], cancelled["processed"]);
    ws.quiet().await;
}
