use crate::helpers::*;
use serde_json::{json, Value};

const CREATE_FOLDER: &str =
    "mutation($n: String!, $p: ID) { createFolder(input: {name: $n, parentId: $p}) { \
    id name parent { id name } myRole \
    viewerCan { view addFiles edit manageCollaborators delete } \
    collaborators { role user { email } } } }";

const REGISTER: &str = "mutation($f: ID!, $files: [FileInput!]!) { registerFiles(input: {folderId: $f, files: $files}) { \
    id title kind objectUrl clientMetadata } }";

const FOLDER: &str = "query($id: ID!) { folder(id: $id) { id name myRole } }";

const FILE_COUNT: &str = "query($id: ID!) { folder(id: $id) { files { totalCount } } }";

const FILE: &str =
    "query($id: ID!) { file(id: $id) { id title folder { id } datasets { id title } } }";

const PAGE: &str = "query($id: ID!, $first: Int, $after: String) { folder(id: $id) { files(first: $first, after: $after) { \
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { title } } } } }";

/// The number of files a folder holds, as its owner sees it.
async fn file_count(app: &TestApp, owner: &TestUser, folder: &str) -> i64 {
    let data = app.ok(owner, FILE_COUNT, json!({ "id": folder })).await;
    data["folder"]["files"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn creating_a_folder_makes_the_creator_its_admin() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;

    let data = app
        .ok(
            &owner,
            CREATE_FOLDER,
            json!({ "n": "Raw footage", "p": null }),
        )
        .await;
    let folder = &data["createFolder"];
    assert_eq!(folder["name"], "Raw footage");
    assert_eq!(folder["parent"], Value::Null);
    assert_eq!(folder["myRole"], "ADMIN");
    assert_eq!(
        folder["viewerCan"],
        json!({ "view": true, "addFiles": true, "edit": true, "manageCollaborators": true, "delete": true })
    );
    assert_eq!(
        collaborators(&folder["collaborators"]),
        [pair("owner@example.com", "ADMIN")]
    );

    let listed = app
        .ok(&owner, "{ folders { totalCount nodes { id } } }", json!({}))
        .await;
    assert_eq!(listed["folders"]["totalCount"], 1);
    assert_eq!(listed["folders"]["nodes"][0]["id"], folder["id"]);
}

#[tokio::test]
async fn sub_folders_need_admin_on_the_parent() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let parent = app.folder(&owner, "Animals").await;
    app.share(&owner, "Folder", &parent, &[&viewer], "USER")
        .await;

    let data = app
        .ok(
            &owner,
            CREATE_FOLDER,
            json!({ "n": "Chickens", "p": parent }),
        )
        .await;
    assert_eq!(
        data["createFolder"]["parent"],
        json!({ "id": parent, "name": "Animals" })
    );
    assert_eq!(data["createFolder"]["myRole"], "ADMIN");

    let code = app
        .code(&viewer, CREATE_FOLDER, json!({ "n": "Cows", "p": parent }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    let code = app
        .code(
            &outsider,
            CREATE_FOLDER,
            json!({ "n": "Cows", "p": parent }),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let code = app
        .code(
            &owner,
            CREATE_FOLDER,
            json!({ "n": "Cows", "p": "not-an-id" }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");

    let listed = app
        .ok(&owner, "{ folders { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["folders"]["totalCount"], 2);

    // Someone who holds a role on the sub-folder only does not see its parent.
    let child = data["createFolder"]["id"].as_str().unwrap().to_owned();
    let guest = app.user("guest@example.com").await;
    app.share(&owner, "Folder", &child, &[&guest], "USER").await;
    let seen = app
        .ok(
            &guest,
            "query($id: ID!) { folder(id: $id) { name parent { id } } }",
            json!({ "id": child }),
        )
        .await;
    assert_eq!(
        seen["folder"],
        json!({ "name": "Chickens", "parent": null })
    );
}

#[tokio::test]
async fn sibling_folders_need_distinct_names_without_a_slash() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let animals = app.folder(&owner, "Animals").await;
    app.ok(
        &owner,
        CREATE_FOLDER,
        json!({ "n": "Chickens", "p": animals }),
    )
    .await;

    let code = app
        .code(&owner, CREATE_FOLDER, json!({ "n": "Animals", "p": null }))
        .await;
    assert_eq!(code, "CONFLICT");
    let code = app
        .code(
            &owner,
            CREATE_FOLDER,
            json!({ "n": "Chickens", "p": animals }),
        )
        .await;
    assert_eq!(code, "CONFLICT");
    // The same name elsewhere in the tree is fine.
    app.ok(&owner, CREATE_FOLDER, json!({ "n": "Chickens", "p": null }))
        .await;

    let code = app
        .code(&owner, CREATE_FOLDER, json!({ "n": "a/b", "p": null }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let code = app
        .code(&owner, CREATE_FOLDER, json!({ "n": "   ", "p": null }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");

    let listed = app
        .ok(&owner, "{ folders { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["folders"]["totalCount"], 3);
}

#[tokio::test]
async fn registering_files_needs_folder_admin() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    app.share(&owner, "Folder", &folder, &[&viewer], "USER")
        .await;
    let files = json!([{ "objectUrl": "s3://bucket/a.jpg", "kind": "IMAGE" }]);

    let code = app
        .code(&viewer, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    assert_eq!(code, "FORBIDDEN");
    let code = app
        .code(&outsider, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    assert_eq!(code, "NOT_FOUND");
    assert_eq!(file_count(&app, &owner, &folder).await, 0);

    let data = app
        .ok(&owner, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    assert_eq!(data["registerFiles"].as_array().unwrap().len(), 1);
    assert_eq!(file_count(&app, &owner, &folder).await, 1);
}

#[tokio::test]
async fn registered_files_keep_what_was_given_and_titles_default_to_the_url_path() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    let files = json!([
        { "objectUrl": "s3://bucket/animals/chicken.mp4", "kind": "VIDEO", "clientMetadata": { "farm": "north", "pens": [1, 2] } },
        { "objectUrl": "https://cdn.example.com/cow.jpg?sig=abc", "title": "A cow", "kind": "IMAGE" },
    ]);

    let data = app
        .ok(&owner, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    let registered = data["registerFiles"].as_array().unwrap();
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0]["title"], "animals/chicken.mp4");
    assert_eq!(registered[0]["kind"], "VIDEO");
    assert_eq!(
        registered[0]["objectUrl"],
        "s3://bucket/animals/chicken.mp4"
    );
    assert_eq!(
        registered[0]["clientMetadata"],
        json!({ "farm": "north", "pens": [1, 2] })
    );
    assert_eq!(registered[1]["title"], "A cow");
    assert_eq!(registered[1]["kind"], "IMAGE");
    assert_eq!(registered[1]["clientMetadata"], Value::Null);

    let one = app
        .ok(
            &owner,
            "query($id: ID!) { file(id: $id) { title folder { id name } } }",
            json!({ "id": registered[0]["id"] }),
        )
        .await;
    assert_eq!(one["file"]["title"], "animals/chicken.mp4");
    assert_eq!(
        one["file"]["folder"],
        json!({ "id": folder, "name": "Raw" })
    );
}

#[tokio::test]
async fn a_url_listed_twice_in_one_request_is_bad_user_input_and_nothing_is_registered() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    let files = json!([
        { "objectUrl": "s3://bucket/a.jpg", "kind": "IMAGE" },
        { "objectUrl": "s3://bucket/b.jpg", "kind": "IMAGE" },
        { "objectUrl": "s3://bucket/a.jpg", "kind": "IMAGE" },
    ]);

    let code = app
        .code(&owner, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    assert_eq!(file_count(&app, &owner, &folder).await, 0);
}

#[tokio::test]
async fn an_already_registered_url_is_a_conflict_and_nothing_of_the_request_is_registered() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    app.files(&owner, &folder, &["s3://bucket/a.jpg"]).await;
    let files = json!([
        { "objectUrl": "s3://bucket/b.jpg", "kind": "IMAGE" },
        { "objectUrl": "s3://bucket/c.jpg", "kind": "IMAGE" },
        { "objectUrl": "s3://bucket/a.jpg", "kind": "IMAGE" },
    ]);

    let code = app
        .code(&owner, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    assert_eq!(code, "CONFLICT");
    assert_eq!(file_count(&app, &owner, &folder).await, 1);

    // The same URL in another folder is a different file.
    let other = app.folder(&owner, "Copies").await;
    app.files(&owner, &other, &["s3://bucket/a.jpg"]).await;
    assert_eq!(file_count(&app, &owner, &other).await, 1);
}

#[tokio::test]
async fn object_urls_need_a_known_scheme_and_a_path() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;

    for bad in [
        "ftp://host/a.jpg",
        "bucket/a.jpg",
        "s3://",
        "s3://bucket/a b.jpg",
        "",
    ] {
        let files = json!([
            { "objectUrl": "s3://bucket/good.jpg", "kind": "IMAGE" },
            { "objectUrl": bad, "kind": "IMAGE" },
        ]);
        let code = app
            .code(&owner, REGISTER, json!({ "f": folder, "files": files }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "objectUrl {bad:?}");
    }
    assert_eq!(file_count(&app, &owner, &folder).await, 0);

    for good in [
        "gs://bucket/a.jpg",
        "az://container/a.jpg",
        "file:///data/a.jpg",
        "https://host/a.jpg",
    ] {
        app.files(&owner, &folder, &[good]).await;
    }
    assert_eq!(file_count(&app, &owner, &folder).await, 4);
}

#[tokio::test]
async fn client_metadata_must_be_a_json_object() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;

    for bad in [json!([1, 2]), json!("text"), json!(5), json!(true)] {
        let files =
            json!([{ "objectUrl": "s3://bucket/a.jpg", "kind": "IMAGE", "clientMetadata": bad }]);
        let code = app
            .code(&owner, REGISTER, json!({ "f": folder, "files": files }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "clientMetadata {bad}");
    }
    assert_eq!(file_count(&app, &owner, &folder).await, 0);
}

#[tokio::test]
async fn folder_files_page_through_with_first_and_after_up_to_one_hundred() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    let urls = [
        "s3://b/1.jpg",
        "s3://b/2.jpg",
        "s3://b/3.jpg",
        "s3://b/4.jpg",
        "s3://b/5.jpg",
    ];
    for url in urls {
        app.files(&owner, &folder, &[url]).await;
    }

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut has_next = Vec::new();
    loop {
        let data = app
            .ok(
                &owner,
                PAGE,
                json!({ "id": folder, "first": 2, "after": after }),
            )
            .await;
        let files = &data["folder"]["files"];
        assert_eq!(files["totalCount"], 5);
        assert_eq!(files["pageInfo"]["hasPreviousPage"], after.is_some());
        let edges = files["edges"].as_array().unwrap();
        for edge in edges {
            seen.push(edge["node"]["title"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            files["pageInfo"]["endCursor"],
            edges.last().unwrap()["cursor"]
        );
        let next = files["pageInfo"]["hasNextPage"].as_bool().unwrap();
        has_next.push((edges.len(), next));
        if !next {
            break;
        }
        after = Some(files["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(has_next, [(2, true), (2, true), (1, false)]);
    assert_eq!(seen, ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg"]);

    // Pages hold at most 100 items; cursors must be ones the API handed out.
    let code = app
        .code(&owner, PAGE, json!({ "id": folder, "first": 101 }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let code = app
        .code(&owner, PAGE, json!({ "id": folder, "first": -1 }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let code = app
        .code(&owner, PAGE, json!({ "id": folder, "after": "garbage" }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let data = app
        .ok(&owner, PAGE, json!({ "id": folder, "first": 100 }))
        .await;
    assert_eq!(
        data["folder"]["files"]["edges"].as_array().unwrap().len(),
        5
    );
    assert_eq!(data["folder"]["files"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn folders_lists_only_the_callers_folders_filtered_by_search() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let other = app.user("other@example.com").await;
    app.folder(&owner, "Chicken videos").await;
    app.folder(&owner, "Cow images").await;
    app.folder(&owner, "More chickens").await;
    app.folder(&other, "Chicken secrets").await;
    let query = "query($s: String) { folders(search: $s) { totalCount nodes { name } } }";

    let data = app.ok(&owner, query, json!({ "s": "CHICKEN" })).await;
    assert_eq!(data["folders"]["totalCount"], 2);
    assert_eq!(
        data["folders"]["nodes"],
        json!([{ "name": "Chicken videos" }, { "name": "More chickens" }])
    );
    let data = app.ok(&owner, query, json!({ "s": null })).await;
    assert_eq!(data["folders"]["totalCount"], 3);
    // LIKE wildcards in the search text are taken literally.
    let data = app.ok(&owner, query, json!({ "s": "%" })).await;
    assert_eq!(data["folders"]["totalCount"], 0);
    let data = app.ok(&other, query, json!({ "s": "chicken" })).await;
    assert_eq!(
        data["folders"]["nodes"],
        json!([{ "name": "Chicken secrets" }])
    );
}

#[tokio::test]
async fn a_file_is_visible_to_a_folder_user_but_not_to_an_outsider() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let outsider = app.user("outsider@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    let files = app.files(&owner, &folder, &["s3://bucket/a.jpg"]).await;
    app.share(&owner, "Folder", &folder, &[&viewer], "USER")
        .await;

    let data = app.ok(&viewer, FILE, json!({ "id": files[0] })).await;
    assert_eq!(data["file"]["title"], "a.jpg");
    assert_eq!(data["file"]["folder"]["id"], folder.as_str());
    let data = app.ok(&viewer, FOLDER, json!({ "id": folder })).await;
    assert_eq!(data["folder"]["myRole"], "USER");

    assert_eq!(
        app.code(&outsider, FILE, json!({ "id": files[0] })).await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(&outsider, FOLDER, json!({ "id": folder })).await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_file_seen_through_a_dataset_shows_no_folder_and_only_visible_datasets() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    let files = app.files(&owner, &folder, &["s3://bucket/a.jpg"]).await;
    let shared = app.dataset(&owner, "Shared", None).await;
    let private = app.dataset(&owner, "Private", None).await;
    app.attach(&owner, &shared, &files).await;
    app.attach(&owner, &private, &files).await;
    app.share(&owner, "Dataset", &shared, &[&viewer], "USER")
        .await;

    let data = app.ok(&viewer, FILE, json!({ "id": files[0] })).await;
    assert_eq!(data["file"]["title"], "a.jpg");
    assert_eq!(data["file"]["folder"], Value::Null);
    assert_eq!(
        data["file"]["datasets"],
        json!([{ "id": shared, "title": "Shared" }])
    );

    let data = app.ok(&owner, FILE, json!({ "id": files[0] })).await;
    assert_eq!(data["file"]["folder"]["id"], folder.as_str());
    assert_eq!(titles(&data["file"]["datasets"]), ["Private", "Shared"]);
}

#[tokio::test]
async fn update_folder_renames_it_but_not_for_a_user_collaborator() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    app.folder(&owner, "Taken").await;
    app.share(&owner, "Folder", &folder, &[&viewer], "USER")
        .await;
    let update =
        "mutation($id: ID!, $n: String!) { updateFolder(input: {id: $id, name: $n}) { id name } }";

    let data = app
        .ok(&owner, update, json!({ "id": folder, "n": "Curated" }))
        .await;
    assert_eq!(
        data["updateFolder"],
        json!({ "id": folder, "name": "Curated" })
    );

    assert_eq!(
        app.code(&viewer, update, json!({ "id": folder, "n": "Mine" }))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(&owner, update, json!({ "id": folder, "n": "Taken" }))
            .await,
        "CONFLICT"
    );
    assert_eq!(
        app.code(&owner, update, json!({ "id": folder, "n": "x/y" }))
            .await,
        "BAD_USER_INPUT"
    );

    let data = app.ok(&viewer, FOLDER, json!({ "id": folder })).await;
    assert_eq!(data["folder"]["name"], "Curated");
}

#[tokio::test]
async fn delete_folder_conflicts_while_it_holds_files_and_works_once_empty() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    let files = app.files(&owner, &folder, &["s3://bucket/a.jpg"]).await;
    app.share(&owner, "Folder", &folder, &[&viewer], "USER")
        .await;
    let delete = "mutation($id: ID!) { deleteFolder(input: {id: $id}) }";

    assert_eq!(
        app.code(&viewer, delete, json!({ "id": folder })).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.code(&owner, delete, json!({ "id": folder })).await,
        "CONFLICT"
    );
    let parent = app.folder(&owner, "Parent").await;
    app.ok(&owner, CREATE_FOLDER, json!({ "n": "Child", "p": parent }))
        .await;
    assert_eq!(
        app.code(&owner, delete, json!({ "id": parent })).await,
        "CONFLICT"
    );

    // Move the file out into a dataset mirroring another folder.
    let archive = app.folder(&owner, "Archive").await;
    let mirror = app.dataset(&owner, "Archive", Some(&archive)).await;
    app.ok(
        &owner,
        "mutation($f: [ID!]!, $d: ID!) { moveFiles(input: {fileIds: $f, toDatasetId: $d}) { id } }",
        json!({ "f": files, "d": mirror }),
    )
    .await;
    assert_eq!(file_count(&app, &owner, &folder).await, 0);

    let data = app.ok(&owner, delete, json!({ "id": folder })).await;
    assert_eq!(data["deleteFolder"], folder.as_str());
    assert_eq!(
        app.code(&owner, FOLDER, json!({ "id": folder })).await,
        "NOT_FOUND"
    );
    let listed = app
        .ok(&owner, "{ folders { nodes { name } } }", json!({}))
        .await;
    assert_eq!(
        listed["folders"]["nodes"],
        json!([{ "name": "Parent" }, { "name": "Child" }, { "name": "Archive" }])
    );
    let data = app.ok(&owner, FILE, json!({ "id": files[0] })).await;
    assert_eq!(data["file"]["folder"]["id"], archive.as_str());
}

#[tokio::test]
async fn a_folder_shared_with_a_group_reaches_its_members_but_not_its_managers() {
    let app = spawn_app().await;
    let admin = app.workspace_admin("admin@example.com").await;
    let owner = app.user("owner@example.com").await;
    let member = app.user("member@example.com").await;
    let manager = app.user("manager@example.com").await;
    let group = app.group(&admin, "Annotators").await;
    app.add_members(&admin, &group, &[&member], "MEMBER").await;
    app.add_members(&admin, &group, &[&manager], "MANAGER")
        .await;
    let folder = app.folder(&owner, "Raw").await;
    let files = app.files(&owner, &folder, &["s3://bucket/a.jpg"]).await;
    app.share_with_group(&owner, "Folder", &folder, &group, "ADMIN")
        .await;

    let data = app.ok(&member, FOLDER, json!({ "id": folder })).await;
    assert_eq!(data["folder"]["myRole"], "ADMIN");
    let data = app.ok(&member, FILE, json!({ "id": files[0] })).await;
    assert_eq!(data["file"]["folder"]["id"], folder.as_str());
    app.files(&member, &folder, &["s3://bucket/b.jpg"]).await;
    assert_eq!(file_count(&app, &owner, &folder).await, 2);

    assert_eq!(
        app.code(&manager, FOLDER, json!({ "id": folder })).await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.code(&manager, FILE, json!({ "id": files[0] })).await,
        "NOT_FOUND"
    );
    let listed = app
        .ok(&manager, "{ folders { totalCount } }", json!({}))
        .await;
    assert_eq!(listed["folders"]["totalCount"], 0);
    let files = json!([{ "objectUrl": "s3://bucket/c.jpg", "kind": "IMAGE" }]);
    let code = app
        .code(&manager, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    assert_eq!(code, "NOT_FOUND");

    // A group's ADMIN role does not count as the folder's last ADMIN.
    let remove = "mutation($f: ID!, $u: ID!) { removeFolderCollaborator(input: {folderId: $f, userId: $u}) { id } }";
    let code = app
        .code(&member, remove, json!({ "f": folder, "u": owner.id }))
        .await;
    assert_eq!(code, "CONFLICT");
    let remove_group = "mutation($f: ID!, $g: ID!) { removeFolderCollaborator(input: {folderId: $f, groupId: $g}) { \
        collaborators { role user { email } } } }";
    let data = app
        .ok(&owner, remove_group, json!({ "f": folder, "g": group }))
        .await;
    assert_eq!(
        collaborators(&data["removeFolderCollaborator"]["collaborators"]),
        [pair("owner@example.com", "ADMIN")]
    );
    assert_eq!(
        app.code(&member, FOLDER, json!({ "id": folder })).await,
        "NOT_FOUND"
    );
}

/// A page of files reads only the columns its selected fields show: every
/// field, however it is selected (`nodes`, `edges { node }`, fragments),
/// answers as the file itself does, and a page of titles answers titles.
#[tokio::test]
async fn a_page_of_files_answers_every_selected_field_as_the_file_does() {
    let app = spawn_app().await;
    let owner = app.user("owner@example.com").await;
    let folder = app.folder(&owner, "Raw").await;
    let files = json!([
        { "objectUrl": "s3://bucket/animals/chicken.mp4", "kind": "VIDEO", "clientMetadata": { "farm": "north" } },
        { "objectUrl": "https://cdn.example.com/cow.jpg", "title": "A cow", "kind": "IMAGE" },
    ]);
    app.ok(&owner, REGISTER, json!({ "f": folder, "files": files }))
        .await;
    const FIELDS: &str = "id title kind objectUrl objectUrls sizeBytes mimeType width height \
        durationSeconds frameRate frameCount variableFrameRate clientMetadata createdAt \
        folder { id } datasets { id }";
    let whole = |file: &str| {
        let query = format!("query($id: ID!) {{ file(id: $id) {{ {FIELDS} }} }}");
        let (app, owner, id) = (&app, &owner, file.to_owned());
        async move { app.ok(owner, &query, json!({ "id": id })).await["file"].clone() }
    };
    let page = app
        .ok(
            &owner,
            &format!(
                "query($f: ID!) {{ folder(id: $f) {{
                    all: files {{ nodes {{ {FIELDS} }} }}
                    edges: files {{ edges {{ node {{ id ...Kind ... on File {{ clientMetadata objectUrls }} }} }} }}
                    titles: files {{ nodes {{ title }} }}
                }} }}
                fragment Kind on File {{ kind createdAt mimeType }}"
            ),
            json!({ "f": folder }),
        )
        .await;
    let all = page["folder"]["all"]["nodes"].as_array().unwrap();
    assert_eq!(all.len(), 2);
    for (at, file) in all.iter().enumerate() {
        let whole = whole(file["id"].as_str().unwrap()).await;
        assert_eq!(file, &whole);
        let edge = &page["folder"]["edges"]["edges"][at]["node"];
        for field in [
            "id",
            "kind",
            "createdAt",
            "mimeType",
            "clientMetadata",
            "objectUrls",
        ] {
            assert_eq!(edge[field], whole[field], "{field}");
        }
        assert_eq!(
            page["folder"]["titles"]["nodes"][at],
            json!({ "title": whole["title"] })
        );
    }
    assert!(all
        .iter()
        .any(|f| f["clientMetadata"] == json!({ "farm": "north" })));
}
