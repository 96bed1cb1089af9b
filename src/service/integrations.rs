//! Cloud storage integrations, the service: named connections to S3 (and
//! S3-compatible endpoints), GCS, Azure, HTTP(S) and LOCAL root folders.
//!
//! An integration has non-secret settings (`config`, returned by the API) and
//! write-only `credentials` (stored, never returned by any field, error or log
//! line). USER may see an integration and import through it; ADMIN (the
//! creator) also edits, shares and deletes it; workspace ADMINs manage every
//! integration (`workspace, manage_integrations` in the policy). How settings
//! are checked and how storage is reached lives in `crate::storage`.

use entity::enums::AuditAction;
use std::time::Duration;

use chrono::Utc;
use entity::file;
use entity::integration::{self, Credentials};
use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStoreExt;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::policy::{Action, Kind};
use crate::service::access::{granted_ids, Access};
use crate::service::grants;
use crate::service::input::{contains_ci, required_text, search_term, TITLE_MAX};
use crate::service::page::{paginate, Page, PageArgs};
use crate::service::users::require_workspace;
use crate::service::{audit, Services};
use crate::storage::credentials::{parse_credentials, secret_texts, Secrets};
use crate::storage::redact::{describe_storage_error, scrub};
use crate::storage::settings::{stored_settings, validate_config, Settings};
use crate::storage::{build_store, object_path, open, Provider};

/// How long a connection test may take before it is reported as failed.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The integration, if the caller may see it, with what they may do to it.
pub async fn get(
    svc: &Services,
    caller: &Caller,
    id: Id<integration::Entity>,
) -> AppResult<(integration::Model, Access)> {
    let id = id.uuid();
    let access = grants::visible_access(svc, caller, Kind::Integration, id, "integration").await?;
    let model = integration::Entity::find_by_id(id)
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found("integration"))?;
    Ok((model, access))
}

/// Like `get`, and FORBIDDEN unless the caller may do `action`.
pub async fn get_for(
    svc: &Services,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> AppResult<(integration::Model, Access)> {
    let (model, access) = get(svc, caller, Id::new(id)).await?;
    if !access.can(&svc.policy, action) {
        return Err(match action {
            Action::Use => AppError::forbidden("use this integration"),
            Action::Edit => AppError::forbidden("edit this integration"),
            Action::Delete => AppError::forbidden("delete this integration"),
            other => AppError::forbidden(other.describe()),
        });
    }
    Ok((model, access))
}

/// Does the caller's workspace role let them manage every integration?
pub async fn manages_all(svc: &Services, caller: &Caller) -> AppResult<bool> {
    Ok(svc.policy.allows(
        Kind::Workspace,
        crate::service::users::workspace_role(svc, caller).await?,
        Action::ManageIntegrations,
    ))
}

/// Integrations the caller may see (workspace ADMINs: all), filtered in SQL.
pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    page: PageArgs,
) -> AppResult<Page<integration::Model>> {
    let mut query = integration::Entity::find();
    if !manages_all(svc, caller).await? {
        query = query.filter(
            granted_ids(svc, Kind::Integration, Action::View, caller.id)
                .contains(integration::Column::Id),
        );
    }
    if let Some(term) = search_term(search) {
        query = query.filter(contains_ci(integration::Column::Title, term));
    }
    paginate(
        &svc.db,
        query,
        crate::sort_keys!(integration, Title, title),
        page,
    )
    .await
}

/// The integrations among `ids` that the caller may see, in one statement.
pub async fn visible_by_ids(
    svc: &Services,
    caller: &Caller,
    ids: &[Uuid],
) -> AppResult<Vec<integration::Model>> {
    let mut query =
        integration::Entity::find().filter(integration::Column::Id.is_in(ids.iter().copied()));
    if !manages_all(svc, caller).await? {
        query = query.filter(
            granted_ids(svc, Kind::Integration, Action::View, caller.id)
                .contains(integration::Column::Id),
        );
    }
    Ok(query.all(&svc.db).await?)
}

/// A new integration; the caller becomes its ADMIN.
#[tracing::instrument(skip_all, fields(provider = provider.as_str()))]
pub async fn create(
    svc: &Services,
    caller: &Caller,
    title: &str,
    provider: Provider,
    config: &Value,
    credentials: Option<&Value>,
) -> AppResult<integration::Model> {
    require_workspace(svc, caller, Action::CreateResources).await?;
    let title = required_text("title", title, TITLE_MAX)?;
    let local_roots = svc.storage.local_roots();
    let settings = validate_config(provider, config, &local_roots, &svc.storage.allowed_hosts())?;
    let credentials = credentials.filter(|c| !c.is_null());
    let secrets = match credentials {
        Some(c) => parse_credentials(provider, c)?,
        None => Secrets::None,
    };
    let stored = credentials.map(|c| Credentials(c.to_string()));
    check_buildable(svc, &settings, &secrets, stored.as_ref())?;
    let now = Utc::now();
    let row = integration::ActiveModel {
        id: Set(Uuid::now_v7()),
        title: Set(title),
        provider: Set(provider),
        config: Set(settings.to_json()),
        credentials: Set(stored),
        created_by: Set(Some(caller.id)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    grants::create_owned(svc, caller, row, AppError::from).await
}

/// Builds the client once, so that settings the storage library refuses are
/// reported now rather than at the first import.
fn check_buildable(
    svc: &Services,
    settings: &Settings,
    secrets: &Secrets,
    stored: Option<&Credentials>,
) -> AppResult<()> {
    build_store(settings, secrets, svc.storage.allowed_hosts())
        .map(drop)
        .map_err(|message| {
            AppError::bad_input(format!(
                "these settings cannot be used: {}",
                scrub(&message, &secret_texts(stored))
            ))
        })
}

/// What an update does to the credentials.
pub enum CredentialsChange {
    /// Leave them as they are.
    Keep,
    /// Remove them (anonymous access).
    Clear,
    /// Replace them entirely.
    Replace(Value),
}

/// Changes the title, settings or credentials (integration ADMIN). The
/// provider stays; new credentials replace the old ones entirely. Settings
/// that change where requests go (bucket, region, endpoint, account,
/// container, base URL) drop the stored credentials unless new ones come
/// with them: they were given for the old place, not for whoever answers at
/// the new one.
#[tracing::instrument(skip_all, fields(integration = %id))]
pub async fn update(
    svc: &Services,
    caller: &Caller,
    id: Id<integration::Entity>,
    title: Option<&str>,
    config: Option<&Value>,
    credentials: CredentialsChange,
) -> AppResult<integration::Model> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Edit).await?;
    let (provider, current) = stored_settings(&existing)?;
    let settings = match config {
        Some(config) => validate_config(
            provider,
            config,
            &svc.storage.local_roots(),
            &svc.storage.allowed_hosts(),
        )?,
        None => current.clone(),
    };
    let moved = settings.location() != current.location();
    let dropped =
        moved && existing.credentials.is_some() && matches!(credentials, CredentialsChange::Keep);
    let (stored, credentials_changed) = match credentials {
        CredentialsChange::Keep if dropped => (None, true),
        CredentialsChange::Keep => (existing.credentials.clone(), false),
        CredentialsChange::Clear => (None, existing.credentials.is_some()),
        CredentialsChange::Replace(value) if value.is_null() => {
            (None, existing.credentials.is_some())
        }
        CredentialsChange::Replace(value) => {
            parse_credentials(provider, &value)?;
            (Some(Credentials(value.to_string())), true)
        }
    };
    let secrets = match &stored {
        Some(text) => {
            let value: Value = serde_json::from_str(text.expose())
                .map_err(|_| AppError::internal("unreadable credentials"))?;
            parse_credentials(provider, &value)?
        }
        None => Secrets::None,
    };
    check_buildable(svc, &settings, &secrets, stored.as_ref())?;
    let mut changed = Vec::new();
    let mut active = existing.clone().into_active_model();
    if let Some(title) = title {
        let title = required_text("title", title, TITLE_MAX)?;
        if title != existing.title {
            changed.push("title");
        }
        active.title = Set(title);
    }
    let config_json = settings.to_json();
    if config_json != existing.config {
        changed.push("config");
    }
    active.config = Set(config_json);
    if credentials_changed {
        changed.push("credentials");
    }
    active.credentials = Set(stored);
    active.updated_at = Set(Utc::now());
    let txn = crate::service::tx::write(&svc.db).await?;
    let updated = active.update(&txn).await?;
    if changed.iter().any(|c| *c != "title") {
        // Which parts changed, never their values.
        let mut detail = json!({ "changed": changed });
        if dropped {
            detail["credentialsDropped"] = json!(true);
        }
        audit::record(
            &txn,
            caller.id,
            AuditAction::IntegrationUpdate,
            Kind::Integration,
            id,
            detail,
        )
        .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Deletes an integration (integration ADMIN): CONFLICT while files
/// registered through it still refer to it.
#[tracing::instrument(skip_all, fields(integration = %id))]
pub async fn delete(
    svc: &Services,
    caller: &Caller,
    id: Id<integration::Entity>,
) -> AppResult<Uuid> {
    let id = id.uuid();
    let (existing, _) = get_for(svc, caller, id, Action::Delete).await?;
    let txn = crate::service::tx::write(&svc.db).await?;
    let files = file::Entity::find()
        .filter(file::Column::IntegrationId.eq(id))
        .count(&txn)
        .await?;
    if files > 0 {
        return Err(AppError::conflict(format!(
            "{files} file(s) were registered through this integration and still refer to it"
        )));
    }
    grants::delete_all(&txn, Kind::Integration, id).await?;
    integration::Entity::delete_by_id(id).exec(&txn).await?;
    audit::record(
        &txn,
        caller.id,
        AuditAction::IntegrationDelete,
        Kind::Integration,
        id,
        json!({ "title": existing.title, "provider": existing.provider }),
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// The outcome of a connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
}

/// Checks the integration can reach its storage (integration USER): reads
/// the head of `object_url` when given; otherwise lists a page of the prefix
/// (LOCAL: the root), or, for HTTP, asks for the base URL's headers.
/// Failures are reported in the result, in words without secrets.
#[tracing::instrument(skip_all, fields(integration = %id))]
pub async fn test_connection(
    svc: &Services,
    caller: &Caller,
    id: Id<integration::Entity>,
    object_url: Option<&str>,
) -> AppResult<TestResult> {
    let id = id.uuid();
    let (model, _) = get_for(svc, caller, id, Action::Use).await?;
    let path = object_url.map(|u| object_path(&model, u)).transpose()?;
    let store = match open(&svc.storage, &model) {
        Ok(store) => store,
        Err(AppError::Internal(detail)) => return Err(AppError::Internal(detail)),
        Err(e) => {
            return Ok(TestResult {
                ok: false,
                message: e.public_message(),
            })
        }
    };
    let (_, settings) = stored_settings(&model)?;
    let secrets = secret_texts(model.credentials.as_ref());
    let check = async {
        match (&path, &settings) {
            (Some(path), _) => store
                .head(path)
                .await
                .map(|meta| format!("connected: the object exists ({} bytes)", meta.size)),
            (None, Settings::Http(c)) => match store.head(&ObjectPath::default()).await {
                Ok(_) => Ok(format!("connected: {} answers", c.base_url)),
                // The server answered; a folder URL is often not an object.
                Err(object_store::Error::NotFound { .. }) => Ok(format!(
                    "connected: {} answers (the base URL itself is not an object; give an object URL to check one)",
                    c.base_url
                )),
                Err(e) => Err(e),
            },
            (None, settings) => {
                let prefix = settings.prefix_path();
                let mut listing = store.list(prefix.as_ref());
                match listing.next().await {
                    None => Ok("connected: nothing is stored under the prefix yet".to_owned()),
                    Some(Ok(_)) => Ok("connected: objects are listed".to_owned()),
                    Some(Err(e)) => Err(e),
                }
            }
        }
    };
    let result = match tokio::time::timeout(TEST_TIMEOUT, check).await {
        Ok(Ok(message)) => TestResult { ok: true, message },
        Ok(Err(error)) => {
            tracing::info!(error = %scrub(&error.to_string(), &secrets), "integration test failed");
            TestResult {
                ok: false,
                message: describe_storage_error(&error, &secrets),
            }
        }
        Err(_) => TestResult {
            ok: false,
            message: format!("no answer within {} seconds", TEST_TIMEOUT.as_secs()),
        },
    };
    Ok(result)
}
