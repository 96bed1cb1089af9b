//! Big batches: attaching a folder of 100,000 files to a dataset at once,
//! and the cap on the IDs one `attachFilesToDataset` takes.

use chrono::Utc;
use sea_orm::{EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

const FILES: usize = 100_000;

const ATTACH_FOLDERS: &str = "mutation($d: ID!, $folders: [ID!]!) {
    attachFilesToDataset(input: {datasetId: $d, folderIds: $folders}) { id } }";

const ATTACH_FILES: &str = "mutation($d: ID!, $files: [ID!]!) {
    attachFilesToDataset(input: {datasetId: $d, fileIds: $files}) { id } }";

/// Registers `n` image files in `folder` straight in the database (the API
/// would take minutes for as many).
async fn register_files(app: &TestApp, owner: &TestUser, folder: &str, n: usize) {
    let (_, folder) = annograph::ids::decode(folder).unwrap();
    let (_, owner) = annograph::ids::decode(&owner.id).unwrap();
    let now = Utc::now();
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(1_000) {
        let rows = chunk.iter().map(|i| entity::file::ActiveModel {
            id: Set(Uuid::now_v7()),
            folder_id: Set(folder),
            title: Set(format!("{i:06}.png")),
            kind: Set(entity::enums::FileKind::Image),
            object_url: Set(format!("https://example.com/bulk/{i:06}.png")),
            integration_id: Set(None),
            size_bytes: Set(Some(275)),
            mime_type: Set(Some("image/png".into())),
            width: Set(None),
            height: Set(None),
            duration_seconds: Set(None),
            frame_rate: Set(None),
            frame_count: Set(None),
            variable_frame_rate: Set(None),
            client_metadata: Set(None),
            parts: Set(None),
            created_by: Set(Some(owner)),
            created_at: Set(now),
            updated_at: Set(now),
        });
        entity::file::Entity::insert_many(rows)
            .exec_without_returning(&app.server.state.services.db)
            .await
            .unwrap();
    }
}

async fn file_count(app: &TestApp, user: &TestUser, dataset: &str) -> i64 {
    app.ok(
        user,
        "query($id: ID!) { dataset(id: $id) { files(first: 1) { totalCount } } }",
        json!({ "id": dataset }),
    )
    .await["dataset"]["files"]["totalCount"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_folder_of_a_hundred_thousand_files_is_attached_to_a_dataset_at_once() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let folder = app.folder(&ann, "Bulk").await;
    let dataset = app.dataset(&ann, "Curated", None).await;
    register_files(&app, &ann, &folder, FILES).await;

    app.ok(
        &ann,
        ATTACH_FOLDERS,
        json!({ "d": dataset, "folders": [folder] }),
    )
    .await;
    assert_eq!(file_count(&app, &ann, &dataset).await, FILES as i64);
    // Again: nothing is attached twice.
    app.ok(
        &ann,
        ATTACH_FOLDERS,
        json!({ "d": dataset, "folders": [folder] }),
    )
    .await;
    assert_eq!(file_count(&app, &ann, &dataset).await, FILES as i64);
}

#[tokio::test]
async fn more_file_ids_than_the_cap_are_refused_as_bad_input() {
    let app = spawn_app().await;
    let ann = app.user("ann@example.com").await;
    let dataset = app.dataset(&ann, "Curated", None).await;
    let max = annograph::service::datasets::MAX_ATTACH_IDS;
    let ids: Vec<String> = (0..=max)
        .map(|_| annograph::ids::encode("File", Uuid::now_v7()))
        .collect();
    let (_, body) = app
        .post(
            Some(&ann.token),
            ATTACH_FILES,
            json!({ "d": dataset, "files": ids }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body:#}"
    );
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&max.to_string()), "{message}");
}
