//! Imports from cloud storage over the API: manifests (JSON and CSV, inline)
//! read at submission, jobs run by the server's workers against a LOCAL root
//! and an HTTP server started by the test, all-or-nothing and
//! ignore-file-errors modes, duplicates, cancellation and permissions.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

pub const JOB_FIELDS: &str = "id status total processed succeeded failed skipped message \
    ignoreFileErrors skipDuplicateUrls format startedAt finishedAt \
    dataset { id } submittedBy { email } \
    errors(first: 50) { totalCount nodes { entry line objectUrl code message } }";

pub const IMPORT: &str = "mutation($d: ID!, $f: ID, $i: ID!, $m: String, $fmt: ManifestFormat, $ignore: Boolean, $skip: Boolean) {
    importFromCloud(input: {datasetId: $d, folderId: $f, integrationId: $i, manifest: $m, format: $fmt,
        ignoreFileErrors: $ignore, skipDuplicateUrls: $skip}) { id status total processed failed skipped } }";

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/media")
}

/// A folder under a temporary allowed root holding copies of `names`.
pub fn media_root(names: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let allowed = tempfile::tempdir().unwrap();
    let media = allowed.path().join("media");
    std::fs::create_dir(&media).unwrap();
    for name in names {
        std::fs::copy(fixtures().join(name), media.join(name)).unwrap();
    }
    let media = std::fs::canonicalize(media).unwrap();
    (allowed, media)
}

pub async fn integration(app: &TestApp, user: &TestUser, provider: &str, config: Value) -> String {
    app.ok(
        user,
        "mutation($p: StorageProvider!, $c: JSON!, $t: String!) {
            createIntegration(input: {title: $t, provider: $p, config: $c}) { id } }",
        json!({ "p": provider, "c": config, "t": format!("{provider} {}", uuid::Uuid::new_v4()) }),
    )
    .await["createIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A dataset with a folder of its own, and that folder.
pub async fn mirrored_dataset(app: &TestApp, user: &TestUser) -> (String, String) {
    let folder = app.folder(user, "Imports").await;
    let dataset = app.dataset(user, "Imported", Some(&folder)).await;
    (dataset, folder)
}

pub async fn submit(
    app: &TestApp,
    user: &TestUser,
    dataset: &str,
    integration: &str,
    manifest: &str,
    options: Value,
) -> Value {
    let mut vars = json!({ "d": dataset, "i": integration, "m": manifest });
    for (k, v) in options.as_object().cloned().unwrap_or_default() {
        vars[k] = v;
    }
    app.ok(user, IMPORT, vars).await["importFromCloud"].clone()
}

pub async fn job(app: &TestApp, user: &TestUser, id: &str) -> Value {
    app.ok(
        user,
        &format!("query($id: ID!) {{ importJob(id: $id) {{ {JOB_FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await["importJob"]
        .clone()
}

/// Polls the job until it ends (at most a minute).
pub async fn finished(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let job = job(app, user, id).await;
        if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the job did not end: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The files of a dataset: (title, the whole file).
pub async fn dataset_files(app: &TestApp, user: &TestUser, dataset: &str) -> Vec<Value> {
    app.ok(
        user,
        "query($id: ID!) { dataset(id: $id) { files(first: 100) { totalCount nodes {
            title kind objectUrl objectUrls sizeBytes mimeType width height durationSeconds frameRate
            frameCount variableFrameRate clientMetadata } } } }",
        json!({ "id": dataset }),
    )
    .await["dataset"]["files"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

fn by_title<'a>(files: &'a [Value], title: &str) -> &'a Value {
    files
        .iter()
        .find(|f| f["title"] == title)
        .unwrap_or_else(|| panic!("no file {title} in {files:#?}"))
}

fn counts(job: &Value) -> [i64; 5] {
    ["total", "processed", "succeeded", "failed", "skipped"].map(|k| job[k].as_i64().unwrap())
}

/// The `file://` URL of a local folder.
pub fn root_url(dir: &Path) -> String {
    url::Url::from_file_path(dir).unwrap().to_string()
}

fn allowed(dir: &Path) -> impl FnOnce(&mut annograph::config::Config) {
    let dir = dir.to_path_buf();
    move |c| c.local_roots = vec![dir]
}

#[tokio::test]
async fn a_csv_manifest_over_local_storage_registers_files_with_their_metadata() {
    let (root, media) = media_root(&["photo.jpg", "image.png", "cfr.mp4", "vfr.mp4"]);
    let app = spawn_app_with(allowed(root.path())).await;
    let ann = app.user("ann@example.com").await;
    let storage = integration(&app, &ann, "LOCAL", json!({ "root": media })).await;
    let (dataset, _) = mirrored_dataset(&app, &ann).await;
    let manifest = "objectUrl,title,kind,clientMetadata\n\
        ROOT/photo.jpg,A photo,IMAGE,\"{\"\"camera\"\": \"\"x\"\"}\"\n\
        ROOT/image.png,,,\n\
        ROOT/cfr.mp4,Constant,VIDEO,\n\
        ROOT/vfr.mp4,Variable,VIDEO,\n"
        .replace("ROOT", &root_url(&media));
    let manifest = manifest.as_str();
    let submitted = submit(&app, &ann, &dataset, &storage, manifest, json!({})).await;
    assert_eq!(submitted["status"], "QUEUED");
    assert_eq!(submitted["total"], 4);

    let done = finished(&app, &ann, submitted["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done:#}");
    assert_eq!(counts(&done), [4, 4, 4, 0, 0]);
    assert_eq!(done["format"], "CSV");
    assert_eq!(done["submittedBy"]["email"], "ann@example.com");
    assert_eq!(done["dataset"]["id"], dataset.as_str());
    assert!(done["startedAt"].is_string() && done["finishedAt"].is_string());
    assert_eq!(done["errors"]["totalCount"], 0);

    let files = dataset_files(&app, &ann, &dataset).await;
    assert_eq!(files.len(), 4);
    let photo = by_title(&files, "A photo");
    assert_eq!(photo["mimeType"], "image/jpeg");
    assert!(photo["width"].as_i64().unwrap() > 0);
    assert_eq!(photo["clientMetadata"], json!({ "camera": "x" }));
    assert_eq!(
        photo["sizeBytes"].as_u64().unwrap(),
        std::fs::metadata(media.join("photo.jpg")).unwrap().len()
    );
    let png_url = format!("{}/image.png", root_url(&media));
    let png = by_title(&files, png_url.trim_start_matches("file:///"));
    assert_eq!(png["kind"], "IMAGE");
    assert_eq!(png["objectUrls"], json!([png_url]));
    let cfr = by_title(&files, "Constant");
    assert_eq!(
        (cfr["width"].as_i64(), cfr["height"].as_i64()),
        (Some(160), Some(120))
    );
    assert_eq!(cfr["frameCount"], 50);
    assert_eq!(cfr["variableFrameRate"], false);
    assert_eq!(by_title(&files, "Variable")["variableFrameRate"], true);

    // The same manifest again registers nothing twice.
    let again = submit(&app, &ann, &dataset, &storage, manifest, json!({})).await;
    let again = finished(&app, &ann, again["id"].as_str().unwrap()).await;
    assert_eq!(again["status"], "SUCCEEDED");
    assert_eq!(counts(&again), [4, 4, 0, 0, 4]);
    assert_eq!(dataset_files(&app, &ann, &dataset).await.len(), 4);

    // Without skipping duplicates they are errors: the all-or-nothing job fails.
    let strict = submit(
        &app,
        &ann,
        &dataset,
        &storage,
        manifest,
        json!({ "skip": false }),
    )
    .await;
    let strict = finished(&app, &ann, strict["id"].as_str().unwrap()).await;
    assert_eq!(strict["status"], "FAILED");
    assert!(
        strict["message"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{strict:#}"
    );
    assert_eq!(strict["errors"]["nodes"][0]["code"], "DUPLICATE");
    assert_eq!(dataset_files(&app, &ann, &dataset).await.len(), 4);

    // The dataset lists its jobs, newest first.
    let jobs = app
        .ok(
            &ann,
            "query($d: ID!) { importJobs(datasetId: $d) { totalCount nodes { id status } } }",
            json!({ "d": dataset }),
        )
        .await;
    let nodes = jobs["importJobs"]["nodes"].as_array().unwrap();
    assert_eq!(jobs["importJobs"]["totalCount"], 3);
    assert_eq!(nodes[0]["id"], strict["id"]);
    assert_eq!(nodes[2]["id"], done["id"]);
}

#[tokio::test]
async fn a_json_manifest_with_groups_and_a_bad_entry_in_both_error_modes() {
    let (root, media) = media_root(&[
        "photo.jpg",
        "image.png",
        "image.gif",
        "cfr.mp4",
        "notes.txt",
    ]);
    let app = spawn_app_with(allowed(root.path())).await;
    let ann = app.user("ann@example.com").await;
    let storage = integration(&app, &ann, "LOCAL", json!({ "root": media })).await;
    let (dataset, _) = mirrored_dataset(&app, &ann).await;
    let at = |name: &str| format!("{}/{name}", root_url(&media));
    let manifest = json!({
        "videos": [{ "objectUrl": at("cfr.mp4"), "title": "Clip", "clientMetadata": { "k": 1 } }],
        "images": [
            { "objectUrl": at("photo.jpg") },
            { "objectUrl": at("missing.png"), "title": "Gone" },
            { "objectUrl": at("notes.txt"), "title": "Not an image" }
        ],
        "image_groups": [{ "title": "Pair", "objectUrl_0": at("image.png"), "objectUrl_1": at("image.gif") }]
    })
    .to_string();

    // All or nothing: the missing object fails the job, nothing is registered.
    let strict = submit(&app, &ann, &dataset, &storage, &manifest, json!({})).await;
    assert_eq!(strict["total"], 5);
    let strict = finished(&app, &ann, strict["id"].as_str().unwrap()).await;
    assert_eq!(strict["status"], "FAILED", "{strict:#}");
    assert_eq!(strict["format"], "JSON");
    assert!(strict["failed"].as_i64().unwrap() >= 1);
    assert!(dataset_files(&app, &ann, &dataset).await.is_empty());

    // Ignoring file errors: the good entries go in, the bad ones are listed.
    let lenient = submit(
        &app,
        &ann,
        &dataset,
        &storage,
        &manifest,
        json!({ "ignore": true }),
    )
    .await;
    let lenient = finished(&app, &ann, lenient["id"].as_str().unwrap()).await;
    assert_eq!(lenient["status"], "SUCCEEDED", "{lenient:#}");
    assert_eq!(counts(&lenient), [5, 5, 3, 2, 0]);
    let errors = lenient["errors"]["nodes"].as_array().unwrap();
    assert_eq!(lenient["errors"]["totalCount"], 2);
    assert_eq!(errors[0]["objectUrl"], at("missing.png"));
    assert_eq!(errors[0]["code"], "UNREACHABLE");
    assert_eq!(errors[0]["entry"], 2);
    assert_eq!(errors[1]["objectUrl"], at("notes.txt"));
    assert_eq!(errors[1]["code"], "UNSUPPORTED");

    let files = dataset_files(&app, &ann, &dataset).await;
    assert_eq!(files.len(), 3);
    assert_eq!(
        by_title(&files, "Clip")["clientMetadata"],
        json!({ "k": 1 })
    );
    let pair = by_title(&files, "Pair");
    assert_eq!(pair["kind"], "IMAGE_GROUP");
    assert_eq!(
        pair["objectUrls"],
        json!([at("image.png"), at("image.gif")])
    );
    let sizes: u64 = ["image.png", "image.gif"]
        .iter()
        .map(|n| std::fs::metadata(media.join(n)).unwrap().len())
        .sum();
    assert_eq!(pair["sizeBytes"].as_u64().unwrap(), sizes);
}

#[tokio::test]
async fn malformed_manifests_are_refused_at_once_naming_the_line_or_entry() {
    let (root, media) = media_root(&["photo.jpg"]);
    let app = spawn_app_with(allowed(root.path())).await;
    let ann = app.user("ann@example.com").await;
    let storage = integration(&app, &ann, "LOCAL", json!({ "root": media })).await;
    let (dataset, _) = mirrored_dataset(&app, &ann).await;
    let refused = |manifest: &'static str, options: Value| {
        let (app, ann, dataset, storage, media) = (&app, &ann, &dataset, &storage, &media);
        async move {
            let manifest = manifest.replace("ROOT", &root_url(media));
            let mut vars = json!({ "d": dataset, "i": storage, "m": manifest });
            for (k, v) in options.as_object().cloned().unwrap_or_default() {
                vars[k] = v;
            }
            let (_, body) = app.post(Some(&ann.token), IMPORT, vars).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{manifest}: {body:#}"
            );
            assert!(body["data"].is_null(), "{body:#}");
            body["errors"][0]["message"].as_str().unwrap().to_owned()
        }
    };
    let message = refused(
        "{\"images\": [{\"objectUrl\": \"ROOT/photo.jpg\"},\n  {\"objectUrl\": ]}",
        json!({}),
    )
    .await;
    assert!(message.contains("line 2"), "{message}");
    let message = refused("objectUrl,title\nROOT/photo.jpg,\"unclosed\n", json!({})).await;
    assert!(message.contains("line 2"), "{message}");
    let message = refused("title,kind\nA,IMAGE\n", json!({})).await;
    assert!(message.to_lowercase().contains("objecturl"), "{message}");
    let message = refused("{\"pictures\": []}", json!({})).await;
    assert!(message.contains("pictures"), "{message}");
    let message = refused("objectUrl\n", json!({})).await;
    assert!(message.contains("no entries"), "{message}");
    // A bad entry refuses an all-or-nothing manifest, naming it.
    let message = refused(
        "objectUrl,kind\nROOT/photo.jpg,IMAGE\nROOT/photo2.jpg,SPREADSHEET\n",
        json!({}),
    )
    .await;
    assert!(message.contains("line 3"), "{message}");
    let message = refused(
        "{\"images\": [{\"objectUrl\": \"ROOT/photo.jpg\"}, {\"title\": \"no url\"}]}",
        json!({}),
    )
    .await;
    assert!(message.contains("images[1]"), "{message}");
    // A URL outside the integration's root, likewise.
    let message = refused("objectUrl\nfile:///etc/passwd\n", json!({})).await;
    assert!(message.contains("line 2"), "{message}");
    // Listed twice without skipping duplicates.
    let message = refused(
        "objectUrl\nROOT/photo.jpg\nROOT/photo.jpg\n",
        json!({ "skip": false }),
    )
    .await;
    assert!(
        message.contains("line 3") && message.contains("twice"),
        "{message}"
    );
    // The manifest and the upload are exclusive; one is needed.
    let (_, body) = app
        .post(
            Some(&ann.token),
            "mutation($d: ID!, $i: ID!) { importFromCloud(input: {datasetId: $d, integrationId: $i}) { id } }",
            json!({ "d": dataset, "i": storage }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    // No job was created by any of these.
    let jobs = app
        .ok(
            &ann,
            "query($d: ID!) { importJobs(datasetId: $d) { totalCount } }",
            json!({ "d": dataset }),
        )
        .await;
    assert_eq!(jobs["importJobs"]["totalCount"], 0);

    // Ignoring file errors, a bad entry becomes an error of the job instead.
    let job = submit(
        &app,
        &ann,
        &dataset,
        &storage,
        &"objectUrl,kind\nROOT/photo.jpg,IMAGE\nROOT/photo2.jpg,SPREADSHEET\nROOT/photo.jpg,IMAGE\n"
            .replace("ROOT", &root_url(&media)),
        json!({ "ignore": true }),
    )
    .await;
    let job = finished(&app, &ann, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "SUCCEEDED");
    assert_eq!(counts(&job), [3, 3, 1, 1, 1]);
    let error = &job["errors"]["nodes"][0];
    assert_eq!(error["code"], "BAD_ENTRY");
    assert_eq!(error["line"], 3);
    assert!(error["message"].as_str().unwrap().contains("SPREADSHEET"));
}

/// An HTTP server for `dir` that waits `delay` before each answer and
/// counts the requests per path.
pub async fn slow_server(
    dir: PathBuf,
    delay: Duration,
) -> (
    String,
    Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    Arc<AtomicUsize>,
) {
    let seen: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
    let heads = Arc::new(AtomicUsize::new(0));
    let (log, head_count) = (seen.clone(), heads.clone());
    let app = axum::Router::new()
        .nest_service("/media", tower_http::services::ServeDir::new(dir))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let (log, head_count) = (log.clone(), head_count.clone());
                async move {
                    if request.method() == axum::http::Method::HEAD {
                        head_count.fetch_add(1, Ordering::SeqCst);
                        *log.lock()
                            .unwrap()
                            .entry(request.uri().path().to_owned())
                            .or_default() += 1;
                    }
                    tokio::time::sleep(delay).await;
                    next.run(request).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/media/"), seen, heads)
}

/// A folder of `n` copies of a small PNG, and a CSV manifest listing them
/// under `base`.
pub fn many_images(n: usize, base: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let png = std::fs::read(fixtures().join("image.png")).unwrap();
    let mut manifest = String::from("objectUrl,kind\n");
    for i in 0..n {
        std::fs::write(dir.path().join(format!("{i:05}.png")), &png).unwrap();
        manifest.push_str(&format!("{base}{i:05}.png,IMAGE\n"));
    }
    (dir, manifest)
}

#[tokio::test]
async fn an_http_import_into_a_dataset_attaches_its_files_and_can_be_cancelled() {
    let app = spawn_app_with(|c| c.import.concurrency = 2).await;
    let ann = app.user("ann@example.com").await;
    let folder = app.folder(&ann, "Uploads").await;
    let dataset = app.dataset(&ann, "Curated", None).await;

    // A quick import: registered in the folder, attached to the dataset.
    let (dir, _) = many_images(0, "");
    for name in ["photo.jpg", "cfr.mp4"] {
        std::fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    let (base, seen, _) = slow_server(dir.path().to_path_buf(), Duration::ZERO).await;
    let storage = integration(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
    )
    .await;
    let manifest = format!("objectUrl\n{base}photo.jpg\n{base}cfr.mp4\n");
    // The folder is required: this dataset has none of its own.
    let (_, body) = app
        .post(
            Some(&ann.token),
            IMPORT,
            json!({ "d": dataset, "i": storage, "m": manifest }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let job = submit(
        &app,
        &ann,
        &dataset,
        &storage,
        &manifest,
        json!({ "f": folder }),
    )
    .await;
    let job = finished(&app, &ann, job["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "SUCCEEDED", "{job:#}");
    let files = dataset_files(&app, &ann, &dataset).await;
    assert_eq!(files.len(), 2);
    assert_eq!(by_title(&files, "media/cfr.mp4")["frameCount"], 50);
    // Each object was looked up once.
    assert!(seen.lock().unwrap().values().all(|n| *n == 1), "{seen:?}");

    // A slow import, cancelled midway: it stops, and stays stopped.
    let (dir, manifest) = many_images(100, "");
    let (base, _, _) = slow_server(dir.path().to_path_buf(), Duration::from_millis(40)).await;
    let slow = integration(
        &app,
        &ann,
        "HTTP",
        json!({ "baseUrl": base, "allowHttp": true }),
    )
    .await;
    let manifest = manifest.replace("\n0", &format!("\n{base}0"));
    let job = submit(
        &app,
        &ann,
        &dataset,
        &slow,
        &manifest,
        json!({ "f": folder, "ignore": true }),
    )
    .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    while job_state(&app, &ann, &id).await["processed"]
        .as_i64()
        .unwrap()
        == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the job never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelled = app
        .ok(
            &ann,
            "mutation($id: ID!) { cancelImportJob(input: {id: $id}) { status finishedAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(cancelled["cancelImportJob"]["status"], "CANCELLED");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = job_state(&app, &ann, &id).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = job_state(&app, &ann, &id).await;
    assert_eq!(after["status"], "CANCELLED");
    assert_eq!(before, after, "a cancelled job went on");
    let processed = after["processed"].as_i64().unwrap();
    assert!(processed < 100, "{after:#}");
    let registered = app
        .ok(
            &ann,
            "query($id: ID!) { dataset(id: $id) { files { totalCount } } }",
            json!({ "id": dataset }),
        )
        .await["dataset"]["files"]["totalCount"]
        .as_i64()
        .unwrap();
    assert_eq!(registered, 2 + after["succeeded"].as_i64().unwrap());
    // An ended job cannot be cancelled again.
    let code = app
        .code(
            &ann,
            "mutation($id: ID!) { cancelImportJob(input: {id: $id}) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(code, "CONFLICT");
}

async fn job_state(app: &TestApp, user: &TestUser, id: &str) -> Value {
    app.ok(
        user,
        "query($id: ID!) { importJob(id: $id) { status processed succeeded failed skipped } }",
        json!({ "id": id }),
    )
    .await["importJob"]
        .clone()
}

#[tokio::test]
async fn importing_needs_add_data_on_the_dataset_and_use_of_the_integration() {
    let (root, media) = media_root(&["photo.jpg"]);
    let app = spawn_app_with(allowed(root.path())).await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let eve = app.user("eve@example.com").await;
    let storage = integration(&app, &ann, "LOCAL", json!({ "root": media })).await;
    let (dataset, folder) = mirrored_dataset(&app, &ann).await;
    let manifest = format!("objectUrl\n{}/photo.jpg\n", root_url(&media));
    let vars = json!({ "d": dataset, "i": storage, "m": manifest });

    // A stranger sees neither the dataset nor the integration.
    assert_eq!(app.code(&eve, IMPORT, vars.clone()).await, "NOT_FOUND");
    // A dataset USER may view but not add data.
    let cat = app.user("cat@example.com").await;
    app.share(&ann, "Dataset", &dataset, &[&cat], "USER").await;
    assert_eq!(app.code(&cat, IMPORT, vars.clone()).await, "FORBIDDEN");
    // A dataset (and folder) ADMIN still needs use of the integration.
    app.share(&ann, "Dataset", &dataset, &[&bob], "ADMIN").await;
    app.share(&ann, "Folder", &folder, &[&bob], "ADMIN").await;
    assert_eq!(app.code(&bob, IMPORT, vars.clone()).await, "NOT_FOUND");
    app.share(&ann, "Integration", &storage, &[&bob], "USER")
        .await;
    let job = app.ok(&bob, IMPORT, vars.clone()).await["importFromCloud"].clone();
    let id = job["id"].as_str().unwrap();
    let done = finished(&app, &bob, id).await;
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["submittedBy"]["email"], "bob@example.com");

    // Who can view the dataset can see the job; nobody else.
    let query = "query($id: ID!) { importJob(id: $id) { id } }";
    let (_, body) = app.post(Some(&eve.token), query, json!({ "id": id })).await;
    assert!(body["data"]["importJob"].is_null());
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let node = app
        .ok(
            &ann,
            "query($id: ID!) { node(id: $id) { ... on ImportJob { status } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(node["node"]["status"], "SUCCEEDED");
    assert_eq!(
        app.code(
            &eve,
            "query($d: ID!) { importJobs(datasetId: $d) { totalCount } }",
            json!({ "d": dataset })
        )
        .await,
        "NOT_FOUND"
    );
    // Without a token: UNAUTHENTICATED.
    let (_, body) = app.post(None, IMPORT, vars).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}
