//! Ontologies: the objects and classifications annotators label with. One
//! ontology serves many projects.

use entity::enums::AuditAction;
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::{ontology, project};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::policy::{Action, Kind};
use crate::service::access::{visible_ontologies, visible_projects, Access};
use crate::service::grants;
use crate::service::input::{
    contains_ci, json_input, optional_text, required_text, search_term, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::service::page::{paginate_visible, Page, PageArgs};
use crate::service::users::require_workspace;
use crate::service::{audit, Services};

pub const SHAPES: [&str; 7] = [
    "bounding_box",
    "rotatable_bounding_box",
    "polygon",
    "polyline",
    "point",
    "bitmask",
    "skeleton",
];
pub const CLASSIFICATION_TYPES: [&str; 3] = ["radio", "checklist", "text"];
const MAX_ENTRIES: usize = 1000;

/// Validates an ontology structure and returns it normalised (both arrays
/// present).
pub fn validate_structure(structure: &Value) -> AppResult<Value> {
    json_input("structure", structure)?;
    let bad = |m: String| AppError::bad_input(format!("structure: {m}"));
    let map = structure.as_object().ok_or_else(|| {
        bad("must be an object with `objects` and `classifications` arrays".into())
    })?;
    if let Some(key) = map
        .keys()
        .find(|k| *k != "objects" && *k != "classifications")
    {
        return Err(bad(format!("unknown key {key:?}")));
    }
    let list = |key: &str| -> AppResult<Vec<Value>> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= MAX_ENTRIES => Ok(items.clone()),
            Some(Value::Array(_)) => Err(bad(format!("{key} has more than {MAX_ENTRIES} entries"))),
            Some(_) => Err(bad(format!("{key} must be an array"))),
        }
    };
    let mut objects = list("objects")?;
    let mut classifications = list("classifications")?;
    // Names, shapes, types and options are stored as checked: trimmed.
    for entry in objects.iter_mut().chain(classifications.iter_mut()) {
        trim_strings(entry, &["name", "shape", "type"]);
        if let Some(Value::Array(options)) = entry.get_mut("options") {
            for o in options.iter_mut() {
                if let Value::String(s) = o {
                    *s = s.trim().to_owned();
                }
            }
        }
    }
    let mut names = HashSet::new();
    for (i, object) in objects.iter().enumerate() {
        let name = text_field(object, "name")
            .ok_or_else(|| bad(format!("objects[{i}].name must be a non-empty string")))?;
        if !names.insert(name.to_lowercase()) {
            return Err(bad(format!("objects[{i}].name {name:?} is used twice")));
        }
        let shape = text_field(object, "shape").unwrap_or("");
        if !SHAPES.contains(&shape) {
            return Err(bad(format!(
                "objects[{i}].shape must be one of {}",
                SHAPES.join(", ")
            )));
        }
    }
    let mut names = HashSet::new();
    for (i, c) in classifications.iter().enumerate() {
        let name = text_field(c, "name").ok_or_else(|| {
            bad(format!(
                "classifications[{i}].name must be a non-empty string"
            ))
        })?;
        if !names.insert(name.to_lowercase()) {
            return Err(bad(format!(
                "classifications[{i}].name {name:?} is used twice"
            )));
        }
        let kind = text_field(c, "type").unwrap_or("");
        if !CLASSIFICATION_TYPES.contains(&kind) {
            return Err(bad(format!(
                "classifications[{i}].type must be one of {}",
                CLASSIFICATION_TYPES.join(", ")
            )));
        }
        let options = c.get("options");
        if kind == "text" {
            if options.is_some_and(|o| !o.is_null()) {
                return Err(bad(format!(
                    "classifications[{i}] is free text and takes no options"
                )));
            }
            continue;
        }
        let options = options
            .and_then(Value::as_array)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| {
                bad(format!(
                    "classifications[{i}].options must be a non-empty array"
                ))
            })?;
        let mut seen = HashSet::new();
        for (j, o) in options.iter().enumerate() {
            let label = o
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    bad(format!(
                        "classifications[{i}].options[{j}] must be a non-empty string"
                    ))
                })?;
            if !seen.insert(label.to_lowercase()) {
                return Err(bad(format!(
                    "classifications[{i}].options[{j}] {label:?} is listed twice"
                )));
            }
        }
    }
    Ok(json!({ "objects": objects, "classifications": classifications }))
}

fn trim_strings(entry: &mut Value, keys: &[&str]) {
    if let Value::Object(map) = entry {
        for key in keys {
            if let Some(Value::String(s)) = map.get_mut(*key) {
                *s = s.trim().to_owned();
            }
        }
    }
}

fn text_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Id<ontology::Entity>,
) -> AppResult<(ontology::Model, Access)> {
    let id = id.uuid();
    grants::visible::<ontology::Entity>(svc, caller, Kind::Ontology, id, "ontology").await
}

pub async fn get_for(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> AppResult<(ontology::Model, Access)> {
    grants::visible_for::<ontology::Entity>(svc, caller, Kind::Ontology, id, "ontology", action)
        .await
}

pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    page: PageArgs,
) -> AppResult<Page<ontology::Model>> {
    let mut query = ontology::Entity::find().filter(visible_ontologies(svc, caller.id));
    if let Some(term) = search_term(search) {
        query = query.filter(contains_ci(ontology::Column::Title, term));
    }
    paginate_visible(
        &svc.db,
        query,
        crate::sort_keys!(ontology, Title, title),
        page,
    )
    .await
}

#[tracing::instrument(skip(svc, caller, structure))]
pub async fn create(
    svc: &Services,
    caller: &Caller,
    title: &str,
    description: Option<&str>,
    structure: &Value,
) -> AppResult<ontology::Model> {
    require_workspace(svc, caller, Action::CreateResources).await?;
    let title = required_text("title", title, TITLE_MAX)?;
    let description = optional_text("description", description, DESCRIPTION_MAX)?;
    let structure = validate_structure(structure)?;
    let now = Utc::now();
    let row = ontology::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(title),
        description: Set(description),
        structure: Set(structure.into()),
        created_by: Set(Some(caller.id)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    grants::create_owned(svc, caller, row, AppError::from).await
}

#[tracing::instrument(skip(svc, caller, structure))]
pub async fn update(
    svc: &Services,
    caller: &Caller,
    id: Id<ontology::Entity>,
    title: Option<&str>,
    description: Option<&str>,
    structure: Option<&Value>,
) -> AppResult<ontology::Model> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Edit).await?;
    let mut active = existing.into_active_model();
    if let Some(title) = title {
        active.title = Set(required_text("title", title, TITLE_MAX)?);
    }
    if description.is_some() {
        active.description = Set(optional_text("description", description, DESCRIPTION_MAX)?);
    }
    if let Some(structure) = structure {
        active.structure = Set(validate_structure(structure)?.into());
    }
    active.updated_at = Set(Utc::now());
    // In a transaction: the row is read back before the change commits, so
    // a change whose result cannot be read back is never kept.
    let txn = crate::service::tx::write(&svc.db).await?;
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes an ontology no project uses (CONFLICT otherwise).
#[tracing::instrument(skip(svc, caller))]
pub async fn delete(svc: &Services, caller: &Caller, id: Id<ontology::Entity>) -> AppResult<Uuid> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Delete).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    let used = project::Entity::find()
        .filter(project::Column::OntologyId.eq(id))
        .count(&txn)
        .await?;
    if used > 0 {
        return Err(AppError::conflict(format!(
            "the ontology is used by {used} project(s)"
        )));
    }
    grants::delete_all(&txn, Kind::Ontology, id).await?;
    ontology::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::OntologyDelete,
        Kind::Ontology,
        id,
        json!({ "title": existing.title }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// The projects using each ontology that the caller may see, in one statement.
pub async fn projects_of_many(
    svc: &Services,
    caller: &Caller,
    ontology_ids: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<project::Model>>> {
    let found = project::Entity::find()
        .filter(project::Column::OntologyId.is_in(ontology_ids.iter().copied()))
        .filter(visible_projects(svc, caller.id))
        .order_by_asc(project::Column::Id)
        .all(&svc.db)
        .await?;
    let mut out: HashMap<Uuid, Vec<project::Model>> =
        ontology_ids.iter().map(|id| (*id, Vec::new())).collect();
    for p in found {
        out.entry(p.ontology_id).or_default().push(p);
    }
    Ok(out)
}

/// The ontologies among `ids` that the caller may see, in one statement.
pub async fn visible_by_ids(
    svc: &Services,
    caller: &Caller,
    ids: &[Uuid],
) -> AppResult<Vec<ontology::Model>> {
    Ok(ontology::Entity::find()
        .filter(ontology::Column::Id.is_in(ids.iter().copied()))
        .filter(visible_ontologies(svc, caller.id))
        .all(&svc.db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_are_checked_entry_by_entry() {
        let ok = json!({"objects": [{"name": "Chicken", "shape": "bounding_box"}],
                        "classifications": [{"name": "Weather", "type": "radio", "options": ["sun", "rain"]}]});
        assert!(validate_structure(&ok).is_ok());
        assert_eq!(
            validate_structure(&json!({})).unwrap(),
            json!({"objects": [], "classifications": []})
        );
        for bad in [
            json!([]),
            json!({"objects": [{"name": "A", "shape": "blob"}]}),
            json!({"objects": [{"name": "A", "shape": "point"}, {"name": "a", "shape": "point"}]}),
            json!({"classifications": [{"name": "Q", "type": "radio", "options": []}]}),
            json!({"classifications": [{"name": "Q", "type": "text", "options": ["x"]}]}),
            json!({"labels": []}),
        ] {
            assert!(validate_structure(&bad).is_err(), "{bad} should be refused");
        }
    }
}
