//! Runs the migrations up, down and up again, and exercises every entity
//! plus the schema constraints against the migrated database.
//!
//! SQLite (in memory) always runs. PostgreSQL runs when `TEST_DATABASE_URL`
//! starts with `postgres`: a fresh `migtest_<random>` database is created on
//! that server (via its `postgres` database) and dropped afterwards.

use chrono::{SubsecRound, Utc};
use entity::enums::{AuditAction, FileKind, ResourceKind, Role, StorageProvider};
use entity::prelude::*;
use entity::{
    audit_event, dataset, dataset_file, file, folder, group, group_membership, integration,
    ontology, project, project_dataset, role_grant, user,
};
use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, IntoActiveModel,
    ModelTrait, PaginatorTrait, Set, Statement,
};
use serde_json::json;
use uuid::Uuid;

const TABLES: [&str; 15] = [
    "users",
    "groups",
    "group_memberships",
    "folders",
    "files",
    "datasets",
    "dataset_files",
    "ontologies",
    "projects",
    "project_datasets",
    "role_grants",
    "audit_events",
    "integrations",
    "import_jobs",
    "import_items",
];

const INDEXES: [(&str, &str); 34] = [
    ("group_memberships", "idx_group_memberships_user_role_group"),
    ("role_grants", "idx_role_grants_type_user_role_resource"),
    ("role_grants", "idx_role_grants_type_group_role_resource"),
    ("files", "idx_files_folder_id_id"),
    ("datasets", "idx_datasets_created_at_id"),
    ("projects", "idx_projects_created_at_id"),
    ("ontologies", "idx_ontologies_created_at_id"),
    ("folders", "idx_folders_created_at_id"),
    ("integrations", "idx_integrations_created_at_id"),
    ("users", "idx_users_created_at_id"),
    ("groups", "idx_groups_created_at_id"),
    ("import_jobs", "idx_import_jobs_created_at_id"),
    ("folders", "idx_folders_parent_id"),
    ("folders", "idx_folders_parent_id_name"),
    ("folders", "idx_folders_top_level_name"),
    ("files", "idx_files_folder_object_url"),
    ("datasets", "idx_datasets_folder_id"),
    ("datasets", "idx_datasets_created_by"),
    ("dataset_files", "idx_dataset_files_file_id"),
    ("projects", "idx_projects_ontology_id"),
    ("project_datasets", "idx_project_datasets_dataset_id"),
    ("role_grants", "idx_role_grants_user"),
    ("role_grants", "idx_role_grants_group"),
    ("role_grants", "idx_role_grants_user_resource_type"),
    ("role_grants", "idx_role_grants_group_resource_type"),
    ("audit_events", "idx_audit_events_resource"),
    ("audit_events", "idx_audit_events_created_at"),
    ("integrations", "idx_integrations_created_by"),
    ("import_jobs", "idx_import_jobs_dataset"),
    ("import_jobs", "idx_import_jobs_status"),
    ("import_jobs", "idx_import_jobs_folder"),
    ("import_jobs", "idx_import_jobs_integration"),
    ("import_jobs", "idx_import_jobs_submitted_by"),
    ("import_items", "idx_import_items_status"),
];

async fn assert_schema(db: &DatabaseConnection, present: bool) {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        assert_eq!(
            manager.has_table(table).await.unwrap(),
            present,
            "table {table} present?"
        );
    }
    if present {
        for (table, index) in INDEXES {
            assert!(
                manager.has_index(table, index).await.unwrap(),
                "index {index} on {table} missing"
            );
        }
    }
}

async fn exercise(db: &DatabaseConnection) {
    Migrator::up(db, None).await.unwrap();
    assert_schema(db, true).await;
    Migrator::down(db, None).await.unwrap();
    assert_schema(db, false).await;
    Migrator::up(db, None).await.unwrap();
    assert_schema(db, true).await;
    // Idempotent: nothing pending.
    Migrator::up(db, None).await.unwrap();

    exercise_entities(db).await;

    Migrator::down(db, None).await.unwrap();
    assert_schema(db, false).await;
}

async fn exercise_entities(db: &DatabaseConnection) {
    // Microsecond precision round-trips exactly on both backends.
    let now = Utc::now().trunc_subsecs(6);

    let alice = user::Model {
        id: Uuid::new_v4(),
        email: "alice@example.com".into(),
        name: "Alice".into(),
        workspace_role: Role::Admin,
        created_at: now,
        updated_at: now,
    };
    let bob = user::Model {
        id: Uuid::new_v4(),
        email: "bob@example.com".into(),
        name: "Bob".into(),
        workspace_role: Role::Member,
        created_at: now,
        updated_at: now,
    };
    for u in [&alice, &bob] {
        let inserted = u.clone().into_active_model().insert(db).await.unwrap();
        assert_eq!(&inserted, u);
    }
    // Unique email.
    let mut dup = bob.clone();
    dup.id = Uuid::new_v4();
    assert!(dup.into_active_model().insert(db).await.is_err());

    // Column default for workspace_role.
    let carol_id = Uuid::new_v4();
    let carol = user::ActiveModel {
        id: Set(carol_id),
        email: Set("carol@example.com".into()),
        name: Set("Carol".into()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(carol.workspace_role, Role::Member);

    let group = group::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set("annotators".into()),
        created_by: Set(Some(alice.id)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(group.description, "");

    for (u, role) in [(&alice, Role::Manager), (&bob, Role::Member)] {
        group_membership::Model {
            group_id: group.id,
            user_id: u.id,
            role,
            created_at: now,
        }
        .into_active_model()
        .insert(db)
        .await
        .unwrap();
    }
    assert_eq!(group.find_related(User).count(db).await.unwrap(), 2);
    assert_eq!(
        alice.find_related(Group).all(db).await.unwrap(),
        vec![group.clone()]
    );

    let root = folder::Model {
        id: Uuid::new_v4(),
        name: "root".into(),
        parent_id: None,
        created_by: Some(alice.id),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    let child = folder::Model {
        id: Uuid::new_v4(),
        name: "child".into(),
        parent_id: Some(root.id),
        created_by: Some(bob.id),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        child.find_linked(folder::ParentLink).one(db).await.unwrap(),
        Some(root.clone())
    );
    assert_eq!(
        root.find_linked(folder::ChildrenLink)
            .all(db)
            .await
            .unwrap(),
        vec![child.clone()]
    );
    // Self FK: unknown parent is rejected.
    let orphan = folder::Model {
        parent_id: Some(Uuid::new_v4()),
        id: Uuid::new_v4(),
        ..child.clone()
    };
    assert!(orphan.into_active_model().insert(db).await.is_err());

    let video = file::Model {
        id: Uuid::new_v4(),
        folder_id: child.id,
        title: "clip.mp4".into(),
        kind: FileKind::Video,
        object_url: "s3://bucket/clip.mp4".into(),
        integration_id: Some(Uuid::new_v4()),
        size_bytes: Some(10_000_000_000),
        mime_type: Some("video/mp4".into()),
        width: Some(1920),
        height: Some(1080),
        duration_seconds: Some(12.5),
        frame_rate: Some(29.97),
        frame_count: Some(375),
        variable_frame_rate: Some(false),
        client_metadata: Some(json!({"camera": {"model": "X"}, "tags": [1, 2, 3]})),
        parts: None,
        created_by: Some(bob.id),
        created_at: now,
        updated_at: now,
    };
    let inserted = video.clone().into_active_model().insert(db).await.unwrap();
    assert_eq!(inserted, video);
    assert_eq!(
        File::find_by_id(video.id).one(db).await.unwrap(),
        Some(video.clone())
    );
    let image = file::Model {
        id: Uuid::new_v4(),
        title: "img.png".into(),
        kind: FileKind::Image,
        object_url: "s3://bucket/img.png".into(),
        integration_id: None,
        size_bytes: None,
        mime_type: None,
        width: None,
        height: None,
        duration_seconds: None,
        frame_rate: None,
        frame_count: None,
        variable_frame_rate: None,
        client_metadata: None,
        ..video.clone()
    };
    image.clone().into_active_model().insert(db).await.unwrap();
    assert_eq!(
        File::find_by_id(image.id).one(db).await.unwrap(),
        Some(image.clone())
    );
    // Unique (folder_id, object_url); same URL in another folder is fine.
    let dup_url = file::Model {
        id: Uuid::new_v4(),
        ..video.clone()
    };
    assert!(dup_url
        .clone()
        .into_active_model()
        .insert(db)
        .await
        .is_err());
    file::Model {
        folder_id: root.id,
        ..dup_url
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();

    let ds = dataset::Model {
        id: Uuid::new_v4(),
        title: "Mirrored".into(),
        description: "mirror of child".into(),
        folder_id: Some(child.id),
        created_by: Some(bob.id),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    for f in [&video, &image] {
        dataset_file::Model {
            dataset_id: ds.id,
            file_id: f.id,
            created_at: now,
        }
        .into_active_model()
        .insert(db)
        .await
        .unwrap();
    }
    assert_eq!(ds.find_related(File).count(db).await.unwrap(), 2);
    assert_eq!(
        video.find_related(Dataset).all(db).await.unwrap(),
        vec![ds.clone()]
    );

    let onto = ontology::Model {
        id: Uuid::new_v4(),
        title: "Vehicles".into(),
        description: String::new(),
        structure: json!({"classes": [{"name": "car"}]}).into(),
        created_by: Some(alice.id),
        created_at: now,
        updated_at: now,
    };
    assert_eq!(
        onto.clone().into_active_model().insert(db).await.unwrap(),
        onto
    );
    let proj = project::Model {
        id: Uuid::new_v4(),
        title: "Labeling".into(),
        description: "desc".into(),
        ontology_id: onto.id,
        owner_id: Some(bob.id),
        created_at: now,
        updated_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    project_dataset::Model {
        project_id: proj.id,
        dataset_id: ds.id,
        created_at: now,
    }
    .into_active_model()
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        proj.find_related(Dataset).all(db).await.unwrap(),
        vec![ds.clone()]
    );
    assert_eq!(
        ds.find_related(Project).all(db).await.unwrap(),
        vec![proj.clone()]
    );
    // RESTRICT: ontology in use cannot be deleted.
    assert!(onto.clone().delete(db).await.is_err());

    // Role grants: exactly one grantee.
    let grant = |user_id: Option<Uuid>, group_id: Option<Uuid>| role_grant::Model {
        id: Uuid::new_v4(),
        resource_type: ResourceKind::Project,
        resource_id: proj.id,
        user_id,
        group_id,
        role: Role::Annotator,
        created_by: Some(alice.id),
        created_at: now,
    };
    let bob_grant = grant(Some(bob.id), None);
    assert_eq!(
        bob_grant
            .clone()
            .into_active_model()
            .insert(db)
            .await
            .unwrap(),
        bob_grant
    );
    grant(None, Some(group.id))
        .into_active_model()
        .insert(db)
        .await
        .unwrap();
    grant(Some(carol_id), None)
        .into_active_model()
        .insert(db)
        .await
        .unwrap();
    assert!(grant(None, None)
        .into_active_model()
        .insert(db)
        .await
        .is_err());
    assert!(grant(Some(bob.id), Some(group.id))
        .into_active_model()
        .insert(db)
        .await
        .is_err());
    assert!(grant(Some(bob.id), None)
        .into_active_model()
        .insert(db)
        .await
        .is_err());
    assert!(grant(None, Some(group.id))
        .into_active_model()
        .insert(db)
        .await
        .is_err());
    assert_eq!(RoleGrant::find().count(db).await.unwrap(), 3);
    assert_eq!(bob.find_related(RoleGrant).count(db).await.unwrap(), 1);
    assert_eq!(group.find_related(RoleGrant).count(db).await.unwrap(), 1);

    let event = audit_event::Model {
        id: Uuid::new_v4(),
        actor_id: Some(bob.id),
        action: AuditAction::DatasetDelete,
        resource_type: ResourceKind::Dataset,
        resource_id: Some(video.id),
        details: Some(json!({"title": "clip.mp4"})),
        created_at: now,
    };
    assert_eq!(
        event.clone().into_active_model().insert(db).await.unwrap(),
        event
    );

    // Integrations: JSON settings, write-only credentials that never print.
    let storage = integration::Model {
        id: Uuid::new_v4(),
        title: "Farm bucket".into(),
        provider: StorageProvider::S3,
        config: json!({"bucket": "farm", "region": "eu-west-1"}),
        credentials: Some(integration::Credentials(
            json!({"accessKeyId": "AKIA", "secretAccessKey": "hush-hush"}).to_string(),
        )),
        created_by: Some(bob.id),
        created_at: now,
        updated_at: now,
    };
    assert_eq!(
        storage
            .clone()
            .into_active_model()
            .insert(db)
            .await
            .unwrap(),
        storage
    );
    let printed = format!("{storage:?} {:?}", storage.clone().into_active_model());
    assert!(!printed.contains("hush-hush"), "{printed}");
    assert_eq!(
        Integration::find_by_id(storage.id)
            .one(db)
            .await
            .unwrap()
            .unwrap(),
        storage
    );

    // RESTRICT: folders with children / files / datasets cannot be deleted.
    assert!(root.clone().delete(db).await.is_err());
    assert!(child.clone().delete(db).await.is_err());

    // Deleting a user: SET NULL on authorship, CASCADE on memberships/grants.
    bob.clone().delete(db).await.unwrap();
    let v = File::find_by_id(video.id).one(db).await.unwrap().unwrap();
    assert_eq!(v.created_by, None);
    let c = Folder::find_by_id(child.id).one(db).await.unwrap().unwrap();
    assert_eq!(c.created_by, None);
    let d = Dataset::find_by_id(ds.id).one(db).await.unwrap().unwrap();
    assert_eq!(d.created_by, None);
    let p = Project::find_by_id(proj.id).one(db).await.unwrap().unwrap();
    assert_eq!(p.owner_id, None);
    let i = Integration::find_by_id(storage.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.created_by, None);
    let e = AuditEvent::find_by_id(event.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.actor_id, None);
    assert_eq!(GroupMembership::find().count(db).await.unwrap(), 1);
    assert_eq!(RoleGrant::find().count(db).await.unwrap(), 2);

    // Deleting a group cascades its memberships and grants.
    group.clone().delete(db).await.unwrap();
    assert_eq!(GroupMembership::find().count(db).await.unwrap(), 0);
    assert_eq!(RoleGrant::find().count(db).await.unwrap(), 1);

    // Deleting a dataset cascades its links; deleting a file likewise.
    video.clone().delete(db).await.unwrap();
    assert_eq!(DatasetFile::find().count(db).await.unwrap(), 1);
    ds.clone().delete(db).await.unwrap();
    assert_eq!(DatasetFile::find().count(db).await.unwrap(), 0);
    assert_eq!(ProjectDataset::find().count(db).await.unwrap(), 0);

    // Raw SQL defaults also apply outside the ORM.
    let backend = db.get_database_backend();
    let ts = match backend {
        sea_orm::DbBackend::Postgres => "now()",
        _ => "CURRENT_TIMESTAMP",
    };
    let ph = |n: usize| match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO datasets (id, title, created_at, updated_at) VALUES ({}, {}, {ts}, {ts})",
            ph(1),
            ph(2)
        ),
        [Uuid::new_v4().into(), "raw".into()],
    ))
    .await
    .unwrap();
}

/// A database migrated before sibling names were unique may hold same-named
/// siblings; the migration renames all but the oldest, then refuses new ones.
async fn exercise_duplicate_folder_names(db: &DatabaseConnection) {
    // Up to, not including, the unique folder names.
    Migrator::up(db, Some(3)).await.unwrap();
    let start = Utc::now().trunc_subsecs(6);
    let folder = |name: &str, parent: Option<Uuid>, minutes: i64| folder::Model {
        id: Uuid::new_v4(),
        name: name.into(),
        parent_id: parent,
        created_by: None,
        created_at: start + chrono::Duration::minutes(minutes),
        updated_at: start,
    };
    // Inserted newest first: the order of creation decides, not of insertion.
    let top_new = folder("Birds", None, 3);
    let top_taken = folder("Birds (2)", None, 0);
    let top_mid = folder("Birds", None, 2);
    let top_old = folder("Birds", None, 1);
    let parent = folder("Parent", None, 0);
    let sub_new = folder("Birds", Some(parent.id), 5);
    let sub_old = folder("Birds", Some(parent.id), 4);
    let other_case = folder("birds", None, 6);
    for f in [
        &top_new,
        &top_taken,
        &top_mid,
        &top_old,
        &parent,
        &sub_new,
        &sub_old,
        &other_case,
    ] {
        f.clone().into_active_model().insert(db).await.unwrap();
    }

    Migrator::up(db, None).await.unwrap();
    let name_of = |f: &folder::Model| {
        let id = f.id;
        async move { Folder::find_by_id(id).one(db).await.unwrap().unwrap().name }
    };
    assert_eq!(name_of(&top_old).await, "Birds");
    assert_eq!(name_of(&top_taken).await, "Birds (2)");
    assert_eq!(name_of(&top_mid).await, "Birds (3)");
    assert_eq!(name_of(&top_new).await, "Birds (4)");
    assert_eq!(name_of(&sub_old).await, "Birds");
    assert_eq!(name_of(&sub_new).await, "Birds (2)");
    assert_eq!(name_of(&other_case).await, "birds");

    // From now on the database refuses same-named siblings, top level
    // included, and still allows the name under another parent.
    assert!(folder("Birds", None, 7)
        .into_active_model()
        .insert(db)
        .await
        .is_err());
    assert!(folder("Birds", Some(parent.id), 7)
        .into_active_model()
        .insert(db)
        .await
        .is_err());
    folder("Birds", Some(top_old.id), 7)
        .into_active_model()
        .insert(db)
        .await
        .unwrap();

    Migrator::down(db, None).await.unwrap();
    assert_schema(db, false).await;
}

#[tokio::test]
async fn duplicate_folder_names_sqlite() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    exercise_duplicate_folder_names(&db).await;
}

#[tokio::test]
async fn migrate_sqlite() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    exercise(&db).await;
}

#[tokio::test]
async fn migrate_postgres() {
    let url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => {
            eprintln!("TEST_DATABASE_URL is not a PostgreSQL URL; skipping");
            return;
        }
    };
    // Split "<scheme>://<authority>/<db>?<params>" into server part and params.
    let (without_params, params) = match url.split_once('?') {
        Some((u, p)) => (u.to_string(), format!("?{p}")),
        None => (url.clone(), String::new()),
    };
    let after_scheme = without_params.find("://").map(|i| i + 3).unwrap_or(0);
    let server = match without_params[after_scheme..].find('/') {
        Some(i) => without_params[..after_scheme + i].to_string(),
        None => without_params.clone(),
    };

    let db_name = format!("migtest_{}", Uuid::new_v4().simple());
    let admin = Database::connect(format!("{server}/postgres{params}"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{db_name}\""))
        .await
        .unwrap();

    let result = {
        let db_url = format!("{server}/{db_name}{params}");
        tokio::spawn(async move {
            let db = Database::connect(db_url).await.unwrap();
            exercise(&db).await;
            exercise_duplicate_folder_names(&db).await;
            db.close().await.unwrap();
        })
        .await
    };

    admin
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();

    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
