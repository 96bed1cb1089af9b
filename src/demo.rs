//! `serve --demo`: a small sample workspace to explore the API with.

use anyhow::anyhow;
use entity::enums::FileKind;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::auth::Caller;
use crate::error::AppError;
use crate::ids::Id;
use crate::policy::Role;
use crate::service::files::NewFile;
use crate::service::{
    datasets, files, folders, grants, groups, ontologies, projects, users, Services,
};

pub struct DemoWorkspace {
    pub admin_email: String,
    pub other_emails: Vec<String>,
}

/// The seeded workspace and a token of its ADMIN, signed with the process's
/// own demo key: no other server accepts it, and it dies with the process.
pub struct DemoAccess {
    pub workspace: DemoWorkspace,
    pub token: String,
}

/// Seeds the workspace and mints the ADMIN's demo token.
pub async fn access(
    svc: &Services,
    auth: &crate::auth::Authenticator,
) -> anyhow::Result<DemoAccess> {
    let workspace = seed(svc).await?;
    let token = auth.mint_demo(
        &workspace.admin_email,
        Some("Alice Admin"),
        std::time::Duration::from_secs(7 * 24 * 3600),
    )?;
    Ok(DemoAccess { workspace, token })
}

const ADMIN: &str = "alice@example.com";
const OTHERS: [&str; 3] = ["bob@example.com", "carol@example.com", "dave@example.com"];

fn fail(e: AppError) -> anyhow::Error {
    anyhow!("seeding the demo workspace: {}", e.public_message())
}

/// Seeds the sample workspace once; later runs leave existing data alone.
pub async fn seed(svc: &Services) -> anyhow::Result<DemoWorkspace> {
    let info = DemoWorkspace {
        admin_email: ADMIN.to_owned(),
        other_emails: OTHERS.iter().map(|s| s.to_string()).collect(),
    };
    let already = entity::user::Entity::find()
        .filter(entity::user::Column::Email.eq(ADMIN))
        .count(&svc.db)
        .await?;
    if already > 0 {
        return Ok(info);
    }
    let alice = users::upsert(&svc.db, ADMIN, Some("Alice Admin"), true)
        .await
        .map_err(fail)?;
    let bob = users::upsert(&svc.db, OTHERS[0], Some("Bob Annotator"), false)
        .await
        .map_err(fail)?;
    let carol = users::upsert(&svc.db, OTHERS[1], Some("Carol Reviewer"), false)
        .await
        .map_err(fail)?;
    let dave = users::upsert(&svc.db, OTHERS[2], Some("Dave Manager"), false)
        .await
        .map_err(fail)?;
    let alice = Caller::from(&alice);

    let animals = folders::create(svc, &alice, "Animals", None)
        .await
        .map_err(fail)?;
    let chickens = folders::create(svc, &alice, "Chickens", None)
        .await
        .map_err(fail)?;
    let file = |url: &str, kind: FileKind| NewFile {
        object_url: url.to_owned(),
        title: None,
        kind,
        client_metadata: Some(json!({ "source": "demo" })),
    };
    files::register(
        svc,
        &alice,
        Id::new(animals.id),
        vec![
            file("s3://demo-bucket/animals/chicken.mp4", FileKind::Video),
            file("s3://demo-bucket/animals/cow.jpg", FileKind::Image),
            file("s3://demo-bucket/animals/horse.jpg", FileKind::Image),
        ],
    )
    .await
    .map_err(fail)?;
    files::register(
        svc,
        &alice,
        Id::new(chickens.id),
        vec![file("s3://demo-bucket/chickens/hen.mp4", FileKind::Video)],
    )
    .await
    .map_err(fail)?;

    let animal_videos = datasets::create(
        svc,
        &alice,
        "Animal videos",
        Some("Mirrors the Animals folder"),
        Some(Id::new(animals.id)),
    )
    .await
    .map_err(fail)?;
    let chicken_videos = datasets::create(
        svc,
        &alice,
        "Chicken videos",
        Some("Mirrors the Chickens folder"),
        Some(Id::new(chickens.id)),
    )
    .await
    .map_err(fail)?;
    let ontology = ontologies::create(
        svc,
        &alice,
        "Farm animals",
        Some("Boxes around animals, and the weather"),
        &json!({
            "objects": [
                { "name": "Chicken", "shape": "bounding_box" },
                { "name": "Cow", "shape": "polygon" }
            ],
            "classifications": [
                { "name": "Weather", "type": "radio", "options": ["sunny", "cloudy", "rainy"] }
            ]
        }),
    )
    .await
    .map_err(fail)?;
    let project = projects::create(
        svc,
        &alice,
        "Farm labelling",
        Some("Label the farm animals"),
        Id::new(ontology.id),
        &[Id::new(animal_videos.id)],
    )
    .await
    .map_err(fail)?;
    let annotators = groups::create(svc, &alice, "Annotators", Some("The labelling team"))
        .await
        .map_err(fail)?;
    groups::add_members(
        svc,
        &alice,
        Id::new(annotators.id),
        &[Id::new(bob.id)],
        Role::Member,
    )
    .await
    .map_err(fail)?;
    groups::add_members(
        svc,
        &alice,
        Id::new(annotators.id),
        &[Id::new(dave.id)],
        Role::Manager,
    )
    .await
    .map_err(fail)?;
    let project_access = grants::visible_access(
        svc,
        &alice,
        crate::policy::Kind::Project,
        project.id,
        "project",
    )
    .await
    .map_err(fail)?;
    grants::add(
        svc,
        &alice,
        &project_access,
        project.id,
        &[],
        &[annotators.id],
        Role::Annotator,
    )
    .await
    .map_err(fail)?;
    grants::add(
        svc,
        &alice,
        &project_access,
        project.id,
        &[carol.id],
        &[],
        Role::Reviewer,
    )
    .await
    .map_err(fail)?;
    let dataset_access = grants::visible_access(
        svc,
        &alice,
        crate::policy::Kind::Dataset,
        chicken_videos.id,
        "dataset",
    )
    .await
    .map_err(fail)?;
    grants::add(
        svc,
        &alice,
        &dataset_access,
        chicken_videos.id,
        &[dave.id],
        &[],
        Role::User,
    )
    .await
    .map_err(fail)?;
    tracing::info!("demo workspace seeded");
    Ok(info)
}
