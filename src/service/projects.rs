//! Projects: exactly one ontology, many datasets, collaborators with project
//! roles who see the ontology and datasets read-only.

use entity::enums::AuditAction;
use std::collections::HashMap;

use chrono::Utc;
use entity::{dataset, ontology, project, project_dataset};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::policy::{Action, Kind, Role};
use crate::service::access::{visible_datasets, visible_projects, Access};
use crate::service::grants;
use crate::service::input::{
    contains_ci, optional_text, required_text, search_term, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::service::page::{paginate_visible, Page, PageArgs};
use crate::service::users::require_workspace;
use crate::service::{audit, datasets, ontologies, Services};

pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Id<project::Entity>,
) -> AppResult<(project::Model, Access)> {
    let id = id.uuid();
    grants::visible::<project::Entity>(svc, caller, Kind::Project, id, "project").await
}

pub async fn get_for(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> AppResult<(project::Model, Access)> {
    grants::visible_for::<project::Entity>(svc, caller, Kind::Project, id, "project", action).await
}

/// Projects the caller collaborates on; with `my_role`, only those on which
/// they hold one of these roles (directly or through a group).
pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    my_role: Option<&[Role]>,
    page: PageArgs,
) -> AppResult<Page<project::Model>> {
    let visible = match my_role {
        None => visible_projects(svc, caller.id),
        Some(roles) => {
            let roles = crate::service::access::viewing_roles(&svc.policy, Kind::Project, roles);
            sea_orm::Condition::all().add(
                crate::service::access::ids_with_roles(svc, Kind::Project, &roles, caller.id)
                    .contains(project::Column::Id),
            )
        }
    };
    let mut query = project::Entity::find().filter(visible);
    if let Some(term) = search_term(search) {
        query = query.filter(contains_ci(project::Column::Title, term));
    }
    paginate_visible(
        &svc.db,
        query,
        crate::sort_keys!(project, Title, title),
        page,
    )
    .await
}

/// The ontology must be one the caller holds a role on that allows using it.
async fn usable_ontology(svc: &Services, caller: &Caller, id: Uuid) -> AppResult<ontology::Model> {
    let (model, access) = ontologies::get(svc, caller, Id::new(id)).await?;
    if !svc
        .policy
        .any_allows(Kind::Ontology, &access.roles, Action::Use)
    {
        return Err(AppError::forbidden(Action::Use.describe()));
    }
    Ok(model)
}

/// The dataset must be one the caller holds a dataset role on that allows
/// attaching it; view through a project is not enough.
async fn attachable_dataset(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
) -> AppResult<dataset::Model> {
    let (model, access) = datasets::get(svc, caller, Id::new(id)).await?;
    if !svc
        .policy
        .any_allows(Kind::Dataset, &access.roles, Action::AttachToProject)
    {
        return Err(AppError::forbidden(Action::AttachToProject.describe()));
    }
    Ok(model)
}

#[tracing::instrument(skip(svc, caller))]
pub async fn create(
    svc: &Services,
    caller: &Caller,
    title: &str,
    description: Option<&str>,
    ontology_id: Id<ontology::Entity>,
    dataset_ids: &[Id<dataset::Entity>],
) -> AppResult<project::Model> {
    let ontology_id = ontology_id.uuid();
    let dataset_ids = &crate::ids::uuids(dataset_ids)[..];
    require_workspace(svc, caller, Action::CreateResources).await?;
    let title = required_text("title", title, TITLE_MAX)?;
    let description = optional_text("description", description, DESCRIPTION_MAX)?;
    usable_ontology(svc, caller, ontology_id).await?;
    let dataset_ids = grants::dedup(dataset_ids);
    for id in &dataset_ids {
        attachable_dataset(svc, caller, *id).await?;
    }
    let now = Utc::now();
    let txn = crate::service::tx::write(&svc.db).await?;
    let row = project::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(title),
        description: Set(description),
        ontology_id: Set(ontology_id),
        owner_id: Set(Some(caller.id)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let created = grants::insert_owned(&txn, caller, row, AppError::from).await?;
    // Every collaborator of the project now views the ontology and the
    // datasets: sharing, written down with the change.
    record_ontology_use(&txn, caller, &created, None).await?;
    for dataset_id in dataset_ids {
        if link(&txn, created.id, dataset_id).await? {
            record_dataset_link(
                &txn,
                caller,
                &created,
                dataset_id,
                AuditAction::DatasetProjectAttach,
            )
            .await?;
        }
    }
    txn.commit().await?;
    Ok(created)
}

/// Links a dataset to a project; false when it already was.
async fn link<C: ConnectionTrait>(db: &C, project_id: Uuid, dataset_id: Uuid) -> AppResult<bool> {
    let inserted = project_dataset::Entity::insert(project_dataset::ActiveModel {
        project_id: Set(project_id),
        dataset_id: Set(dataset_id),
        created_at: Set(Utc::now()),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

/// Audits, on the dataset, that a project's collaborators gained (`attach`)
/// or lost (`detach`) read access to it.
async fn record_dataset_link<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    project: &project::Model,
    dataset_id: Uuid,
    action: AuditAction,
) -> AppResult<()> {
    audit::record(
        db,
        caller.id,
        action,
        Kind::Dataset,
        dataset_id,
        json!({ "projectId": project.id, "projectTitle": project.title }),
    )
    .await
}

/// Audits, on the ontology a project now uses, that the project's
/// collaborators gained read access to it.
async fn record_ontology_use<C: ConnectionTrait>(
    db: &C,
    caller: &Caller,
    project: &project::Model,
    previous: Option<Uuid>,
) -> AppResult<()> {
    let mut details = json!({
        "projectId": project.id,
        "projectTitle": project.title,
    });
    if let Some(previous) = previous {
        details["previousOntologyId"] = json!(previous);
    }
    audit::record(
        db,
        caller.id,
        AuditAction::OntologyProjectUse,
        Kind::Ontology,
        project.ontology_id,
        details,
    )
    .await
}

#[tracing::instrument(skip(svc, caller))]
pub async fn update(
    svc: &Services,
    caller: &Caller,
    id: Id<project::Entity>,
    title: Option<&str>,
    description: Option<&str>,
) -> AppResult<project::Model> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::AdjustSettings).await?;
    let mut active = existing.into_active_model();
    if let Some(title) = title {
        active.title = Set(required_text("title", title, TITLE_MAX)?);
    }
    if description.is_some() {
        active.description = Set(optional_text("description", description, DESCRIPTION_MAX)?);
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(&svc.db).await?)
}

#[tracing::instrument(skip(svc, caller))]
pub async fn set_ontology(
    svc: &Services,
    caller: &Caller,
    id: Id<project::Entity>,
    ontology_id: Id<ontology::Entity>,
) -> AppResult<project::Model> {
    let id = id.uuid();
    let ontology_id = ontology_id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::SetOntology).await?;
    usable_ontology(svc, caller, ontology_id).await?;
    let previous = existing.ontology_id;
    let mut active = existing.into_active_model();
    active.ontology_id = Set(ontology_id);
    active.updated_at = Set(Utc::now());
    let txn = crate::service::tx::write(&svc.db).await?;
    let updated = active.update(&txn).await?;
    if previous != ontology_id {
        record_ontology_use(&txn, caller, &updated, Some(previous)).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

#[tracing::instrument(skip(svc, caller))]
pub async fn attach_dataset(
    svc: &Services,
    caller: &Caller,
    id: Id<project::Entity>,
    dataset_id: Id<dataset::Entity>,
) -> AppResult<project::Model> {
    let id = id.uuid();
    let dataset_id = dataset_id.uuid();
    let (model, _) = get_for(svc, caller, id, Action::AttachDataset).await?;
    attachable_dataset(svc, caller, dataset_id).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    if link(&txn, id, dataset_id).await? {
        record_dataset_link(
            &txn,
            caller,
            &model,
            dataset_id,
            AuditAction::DatasetProjectAttach,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(model)
}

#[tracing::instrument(skip(svc, caller))]
pub async fn detach_dataset(
    svc: &Services,
    caller: &Caller,
    id: Id<project::Entity>,
    dataset_id: Id<dataset::Entity>,
) -> AppResult<project::Model> {
    let id = id.uuid();
    let dataset_id = dataset_id.uuid();
    let (model, _) = get_for(svc, caller, id, Action::AttachDataset).await?;
    attachable_dataset(svc, caller, dataset_id).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    let removed = project_dataset::Entity::delete_by_id((id, dataset_id))
        .exec(&txn)
        .await?;
    if removed.rows_affected == 0 {
        return Err(AppError::bad_input(
            "the dataset is not attached to this project",
        ));
    }
    record_dataset_link(
        &txn,
        caller,
        &model,
        dataset_id,
        AuditAction::DatasetProjectDetach,
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

#[tracing::instrument(skip(svc, caller))]
pub async fn delete(svc: &Services, caller: &Caller, id: Id<project::Entity>) -> AppResult<Uuid> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Delete).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    grants::delete_all(&txn, Kind::Project, id).await?;
    project::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::ProjectDelete,
        Kind::Project,
        id,
        json!({ "title": existing.title }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// The datasets of each project. Every collaborator of a project sees all of
/// them (read-only through the project); the visibility filter keeps the
/// answer right for anyone else. Two statements whatever the number.
pub async fn datasets_of_many(
    svc: &Services,
    caller: &Caller,
    project_ids: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<dataset::Model>>> {
    let links: Vec<(Uuid, Uuid)> = project_dataset::Entity::find()
        .select_only()
        .column(project_dataset::Column::ProjectId)
        .column(project_dataset::Column::DatasetId)
        .filter(project_dataset::Column::ProjectId.is_in(project_ids.iter().copied()))
        .into_tuple()
        .all(&svc.db)
        .await?;
    let found = if links.is_empty() {
        Vec::new()
    } else {
        dataset::Entity::find()
            .filter(dataset::Column::Id.is_in(links.iter().map(|(_, d)| *d)))
            .filter(visible_datasets(svc, caller.id))
            .order_by_asc(dataset::Column::Id)
            .all(&svc.db)
            .await?
    };
    Ok(datasets::group_links(project_ids, &links, &found, |d| d.id))
}
