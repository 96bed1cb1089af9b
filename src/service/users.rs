//! Users: provisioned from verified tokens, listed for picking collaborators.

use std::sync::{Arc, OnceLock};

use chrono::Utc;
use entity::enums::AuditAction;
use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbBackend, EntityTrait,
    FromQueryResult, IntoActiveModel, QueryFilter, QuerySelect, QueryTrait, Set, Statement,
};
use uuid::Uuid;

use crate::auth::{Caller, Claims};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::policy::{Action, Kind, Role};
use crate::recent::Recent;
use crate::service::input::{contains_ci, search_term};
use crate::service::page::{paginate, Page, PageArgs};
use crate::service::Services;

impl From<&user::Model> for Caller {
    fn from(u: &user::Model) -> Caller {
        Caller::with_role(u.id, u.email.clone(), u.workspace_role)
    }
}

/// Accounts this instance has signed in, by their stored e-mail: the link
/// between an e-mail and a user id never changes once made (no mutation
/// changes an e-mail, and a removed account is forgotten when found gone), so
/// a user's later requests start without a statement. Their workspace role is
/// not kept here: a request that needs it reads it ([`workspace_role`]), so a
/// demotion made on any instance applies to the next request everywhere.
pub struct Accounts(Recent<String, Arc<Account>>);

struct Account {
    id: Uuid,
    /// The name as last written from a token.
    name: String,
}

impl Accounts {
    /// Accounts remembered at most.
    const CAPACITY: usize = 10_000;

    pub fn new() -> Accounts {
        Accounts(Recent::new(Self::CAPACITY))
    }

    fn remember(&self, user: &user::Model) {
        let account = Account {
            id: user.id,
            name: user.name.clone(),
        };
        self.0.insert(user.email.clone(), Arc::new(account));
    }
}

impl Default for Accounts {
    fn default() -> Self {
        Accounts::new()
    }
}

/// The caller a verified token names: found or provisioned ([`provision`]) on
/// first sight, from [`Accounts`] afterwards while the token's name claim is
/// the one written last.
pub async fn sign_in(svc: &Services, claims: &Claims) -> AppResult<Caller> {
    let (email, name) = identity(claims)?;
    if let Some(account) = svc.accounts.0.get(email.as_str()) {
        if name.as_ref().is_none_or(|name| *name == account.name) {
            return Ok(Caller::role_unread(account.id, email));
        }
    }
    let user = provision(&svc.db, &email, name.as_deref()).await?;
    svc.accounts.remember(&user);
    Ok(Caller::from(&user))
}

/// The caller's workspace role, read once per request when first needed;
/// UNAUTHENTICATED once the account is gone.
pub async fn workspace_role(svc: &Services, caller: &Caller) -> AppResult<Role> {
    workspace_role_on(&svc.db, svc, caller).await
}

/// [`workspace_role`], read on `db` (a transaction that needs it).
pub async fn workspace_role_on<C: sea_orm::ConnectionTrait>(
    db: &C,
    svc: &Services,
    caller: &Caller,
) -> AppResult<Role> {
    #[derive(FromQueryResult)]
    struct Row {
        workspace_role: Role,
    }
    let role = caller.workspace_role_cell().get_or_try_init(|| async {
        let row = user::Entity::find_by_id(caller.id)
            .select_only()
            .column(user::Column::WorkspaceRole)
            .into_model::<Row>()
            .one(db)
            .await?;
        match row {
            Some(row) => Ok(row.workspace_role),
            None => Err(account_gone(svc, caller)),
        }
    });
    role.await.copied()
}

/// Longest display name kept; a longer `name` claim is cut to this many characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The form an e-mail (or subject) is stored and matched in: trimmed, ASCII
/// letters lower-cased, nothing else changed. An identity that NFKC
/// normalisation would change is refused: otherwise look-alikes such as the
/// Kelvin sign (`\u{212A}ate@…`), full-width letters or decomposed accents
/// could name, or be taken for, another user's address.
fn normalize_email(raw: &str) -> AppResult<String> {
    use unicode_normalization::UnicodeNormalization;
    let email = raw.trim();
    if email.is_empty() || email.len() > 320 {
        return Err(AppError::bad_input(
            "a user needs an email (or subject) of 1 to 320 characters",
        ));
    }
    if !email.nfkc().eq(email.chars()) {
        return Err(AppError::bad_input(
            "an email (or subject) must be in Unicode normalisation form NFKC",
        ));
    }
    Ok(email.to_ascii_lowercase())
}

/// The `name` claim, trimmed and cut to [`MAX_NAME_CHARS`] characters.
fn claimed_name(claims: &Claims) -> Option<String> {
    let name = claims.name.as_deref()?.trim();
    match name.char_indices().nth(MAX_NAME_CHARS) {
        _ if name.is_empty() => None,
        Some((end, _)) => Some(name[..end].trim_end().to_owned()),
        None => Some(name.to_owned()),
    }
}

fn default_name(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_owned()
}

/// The stored e-mail and the name a verified token claims.
fn identity(claims: &Claims) -> AppResult<(String, Option<String>)> {
    // The e-mail is what links a token to an account; one the identity
    // provider has not verified must link to none (nor create one that a
    // verified token would later reach).
    if claims.email.is_some() && claims.email_verified == Some(false) {
        return Err(AppError::Unauthenticated(
            "the token's email address is not verified".into(),
        ));
    }
    let email = normalize_email(claims.identity()).map_err(|e| {
        AppError::Unauthenticated(format!("the token names no user: {}", e.public_message()))
    })?;
    Ok((email, claimed_name(claims)))
}

/// Finds or creates the user with this e-mail; keeps the name current.
#[tracing::instrument(skip(db, name))]
async fn provision(
    db: &DatabaseConnection,
    email: &str,
    name: Option<&str>,
) -> AppResult<user::Model> {
    if let Some(existing) = by_email(db, email).await? {
        return match name {
            Some(name) if name != existing.name => {
                let mut active = existing.into_active_model();
                active.name = Set(name.to_owned());
                active.updated_at = Set(Utc::now());
                Ok(active.update(db).await?)
            }
            _ => Ok(existing),
        };
    }
    let name = name
        .map(str::to_owned)
        .unwrap_or_else(|| default_name(email));
    match insert(db, email, &name, Role::Member).await {
        Ok(u) => Ok(u),
        // Two first requests of the same user raced; the other one won.
        Err(AppError::Conflict(_)) => by_email(db, email)
            .await?
            .ok_or_else(|| AppError::internal("user vanished during provisioning")),
        Err(e) => Err(e),
    }
}

/// The user with this (normalized, unique) e-mail. Every signed-in request starts
/// here, so the statement is rendered once per database kind and only the
/// e-mail is bound.
async fn by_email(db: &DatabaseConnection, email: &str) -> AppResult<Option<user::Model>> {
    static TEXT: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let backend = db.get_database_backend();
    let text = TEXT[usize::from(backend == DbBackend::Postgres)].get_or_init(|| {
        user::Entity::find()
            .filter(user::Column::Email.eq(""))
            .build(backend)
            .sql
    });
    let statement = Statement::from_sql_and_values(backend, text.as_str(), [email.into()]);
    Ok(user::Model::find_by_statement(statement).one(db).await?)
}

async fn insert(
    db: &DatabaseConnection,
    email: &str,
    name: &str,
    role: Role,
) -> AppResult<user::Model> {
    let now = Utc::now();
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.to_owned()),
        name: Set(name.to_owned()),
        workspace_role: Set(role),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(|e| AppError::on_unique(e, "a user with this email already exists"))
}

/// Creates a user, or updates the name and workspace role of an existing one
/// (operator command `annograph user add`).
pub async fn upsert(
    db: &DatabaseConnection,
    email: &str,
    name: Option<&str>,
    workspace_admin: bool,
) -> AppResult<user::Model> {
    let email = normalize_email(email)?;
    let role = if workspace_admin {
        Role::Admin
    } else {
        Role::Member
    };
    match user::Entity::find()
        .filter(user::Column::Email.eq(&email))
        .one(db)
        .await?
    {
        Some(existing) => {
            let mut active = existing.into_active_model();
            if let Some(name) = name {
                active.name = Set(name.to_owned());
            }
            active.workspace_role = Set(role);
            active.updated_at = Set(Utc::now());
            Ok(active.update(db).await?)
        }
        None => {
            let name = name
                .map(str::to_owned)
                .unwrap_or_else(|| default_name(&email));
            insert(db, &email, &name, role).await
        }
    }
}

/// The caller as the database knows them now, with their current workspace
/// role; UNAUTHENTICATED once the account is gone. A WebSocket connection
/// signs in once but asks this before each operation, so a demoted or
/// deleted user's next operation sees the change, as over HTTP.
pub async fn current(svc: &Services, caller: &Caller) -> AppResult<Caller> {
    me(svc, caller).await.map(|user| Caller::from(&user))
}

/// Any workspace member may look users up, to pick collaborators.
pub async fn require_directory(svc: &Services, caller: &Caller) -> AppResult<()> {
    require_workspace(svc, caller, Action::ViewDirectory).await
}

/// FORBIDDEN unless the caller's workspace role allows `action`.
pub async fn require_workspace(svc: &Services, caller: &Caller, action: Action) -> AppResult<()> {
    if svc
        .policy
        .allows(Kind::Workspace, workspace_role(svc, caller).await?, action)
    {
        Ok(())
    } else {
        Err(AppError::forbidden(action.describe()))
    }
}

/// The caller's own account: readable whatever the directory allows;
/// UNAUTHENTICATED once it is gone. Its workspace role serves the rest of
/// the request.
pub async fn me(svc: &Services, caller: &Caller) -> AppResult<user::Model> {
    let Some(user) = user::Entity::find_by_id(caller.id).one(&svc.db).await? else {
        return Err(account_gone(svc, caller));
    };
    let _ = caller.workspace_role_cell().set(user.workspace_role);
    Ok(user)
}

/// UNAUTHENTICATED for a caller whose account was removed; the account is
/// forgotten, so that the token's next request signs its user in afresh.
fn account_gone(svc: &Services, caller: &Caller) -> AppError {
    svc.accounts.0.remove(caller.email.as_str());
    AppError::Unauthenticated("this account no longer exists".into())
}

pub async fn get(svc: &Services, caller: &Caller, id: Id<user::Entity>) -> AppResult<user::Model> {
    let id = id.uuid();
    require_directory(svc, caller).await?;
    user::Entity::find_by_id(id)
        .one(&svc.db)
        .await?
        .ok_or_else(|| AppError::not_found("user"))
}

pub async fn list(
    svc: &Services,
    caller: &Caller,
    search: Option<&str>,
    page: PageArgs,
) -> AppResult<Page<user::Model>> {
    require_directory(svc, caller).await?;
    let mut query = user::Entity::find();
    if let Some(term) = search_term(search) {
        query = query.filter(
            Condition::any()
                .add(contains_ci(user::Column::Email, term))
                .add(contains_ci(user::Column::Name, term)),
        );
    }
    paginate(&svc.db, query, crate::sort_keys!(user, Email, email), page).await
}

/// Every one of `ids` must name an existing user; returns them in order.
pub async fn require_all<C: sea_orm::ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> AppResult<Vec<user::Model>> {
    let found = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    ids.iter()
        .map(|id| {
            found.iter().find(|u| u.id == *id).cloned().ok_or_else(|| {
                AppError::NotFound(format!("user {} not found", Id::<user::Entity>::new(*id)))
            })
        })
        .collect()
}

pub async fn by_ids(db: &DatabaseConnection, ids: &[Uuid]) -> AppResult<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// Changes a user's workspace role (workspace ADMINs); the workspace keeps at
/// least one ADMIN.
#[tracing::instrument(skip(svc, caller))]
pub async fn set_workspace_role(
    svc: &Services,
    caller: &Caller,
    id: Id<user::Entity>,
    role: Role,
) -> AppResult<user::Model> {
    let id = id.uuid();
    use sea_orm::PaginatorTrait;
    require_workspace(svc, caller, Action::ManageUsers).await?;
    let role = crate::service::grants::validate_role(Kind::Workspace, role)?;
    let txn = crate::service::tx::write(&svc.db).await?;
    lock_workspace_roles(&txn, id).await?;
    let existing = user::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let previous = existing.workspace_role;
    let mut active = existing.into_active_model();
    active.workspace_role = Set(role);
    active.updated_at = Set(Utc::now());
    let updated = active.update(&txn).await?;
    let admins = user::Entity::find()
        .filter(user::Column::WorkspaceRole.eq(Role::Admin))
        .count(&txn)
        .await?;
    if admins == 0 {
        return Err(AppError::conflict("the workspace would have no ADMIN left"));
    }
    crate::service::audit::record(
        &txn,
        caller.id,
        AuditAction::UserWorkspaceRole,
        Kind::Workspace,
        id,
        serde_json::json!({ "role": role, "previousRole": previous }),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Makes changes of workspace roles happen one after the other, so that the
/// last two ADMINs demoting each other at once cannot both succeed (each
/// would count the other as the ADMIN left). PostgreSQL: a transaction-scoped
/// advisory lock of fixed key. SQLite: a no-op UPDATE as the transaction's
/// first statement takes the database write lock.
async fn lock_workspace_roles<C: sea_orm::ConnectionTrait>(db: &C, user: Uuid) -> AppResult<()> {
    /// Any fixed number, the same on every instance ("wsroles" in ASCII).
    const WORKSPACE_ROLES_LOCK: i64 = 0x77_73_72_6f_6c_65_73;
    let backend = db.get_database_backend();
    let statement = match backend {
        sea_orm::DbBackend::Postgres => sea_orm::Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_xact_lock($1)",
            [WORKSPACE_ROLES_LOCK.into()],
        ),
        _ => sea_orm::Statement::from_sql_and_values(
            backend,
            "UPDATE users SET updated_at = updated_at WHERE id = ?",
            [user.into()],
        ),
    };
    db.execute_raw(statement).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_fold_ascii_case_and_refuse_what_nfkc_would_change() {
        assert_eq!(
            normalize_email(" Kate@Example.COM ").unwrap(),
            "kate@example.com"
        );
        assert_eq!(
            normalize_email("Jos\u{e9}@example.com").unwrap(),
            "jos\u{e9}@example.com"
        );
        for lookalike in [
            "\u{212A}ate@example.com",
            "\u{FF4B}ate@example.com",
            "ka\u{301}te@example.com",
        ] {
            assert!(normalize_email(lookalike).is_err(), "{lookalike}");
        }
    }

    #[test]
    fn a_claimed_name_is_trimmed_and_cut_to_200_characters() {
        let claims = |name: &str| Claims {
            sub: "s".into(),
            email: None,
            email_verified: None,
            name: Some(name.into()),
            exp: 0,
            nbf: None,
            iat: None,
            iss: None,
            aud: None,
        };
        assert_eq!(claimed_name(&claims("  Ann  ")).as_deref(), Some("Ann"));
        assert_eq!(claimed_name(&claims("   ")), None);
        let long = claimed_name(&claims(&"\u{e9}".repeat(300))).unwrap();
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
    }
}
