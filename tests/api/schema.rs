use crate::helpers::*;

#[test]
fn schema_graphql_equals_the_served_schema() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_annograph"))
        .arg("export-schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    let exported = String::from_utf8(output.stdout).unwrap();
    assert!(
        committed == exported,
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql`"
    );
    assert_eq!(exported, annograph::graphql::schema::sdl());
}

#[tokio::test]
async fn the_server_serves_the_exported_schema() {
    let app = spawn_app().await;
    let user = app.user("a@example.com").await;
    let (_, body) = app
        .post(
            Some(&user.token),
            "{ __type(name: \"Dataset\") { fields { name } } }",
            serde_json::json!({}),
        )
        .await;
    let served: Vec<&str> = body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for field in [
        "id",
        "title",
        "description",
        "mirrored",
        "createdAt",
        "createdBy",
        "files",
        "projects",
        "collaborators",
        "myRole",
        "viewerCan",
    ] {
        assert!(
            served.contains(&field),
            "Dataset.{field} is part of the contract"
        );
    }
}
