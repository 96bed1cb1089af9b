//! The one error type of the service layer and its mapping to GraphQL errors.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql converts
//! every `Display` type into an error without extensions, and we want each
//! variant to reach the client with its `extensions.code`.

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

/// What went wrong, in the terms a client can act on.
#[derive(Debug, Clone)]
pub enum AppError {
    /// No valid credentials were presented.
    Unauthenticated(String),
    /// The caller can see the resource but may not do this to it.
    Forbidden(String),
    /// The resource does not exist, or the caller may not see it.
    NotFound(String),
    /// The input is malformed or breaks a rule of the domain.
    BadUserInput(String),
    /// The request collides with the current state (duplicates, resources in use).
    Conflict(String),
    /// A fault on our side; the detail is logged, never sent.
    Internal(String),
    /// The database is busy with other writers (SQLite's write lock stayed
    /// taken past the busy timeout, or no pooled connection came free):
    /// nothing was written, and the same request may be sent again.
    Busy(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Internal(_) => "INTERNAL",
            AppError::Busy(_) => "BUSY",
        }
    }

    /// The message the client sees.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Unauthenticated(m)
            | AppError::Forbidden(m)
            | AppError::NotFound(m)
            | AppError::BadUserInput(m)
            | AppError::Conflict(m) => m.clone(),
            AppError::Internal(_) => "internal server error".to_owned(),
            AppError::Busy(_) => {
                "the database is busy with other changes; nothing was changed, try again".to_owned()
            }
        }
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn forbidden(action: &str) -> Self {
        AppError::Forbidden(format!("you are not allowed to {action}"))
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        AppError::BadUserInput(message.into())
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict(message.into())
    }

    pub fn unauthenticated() -> Self {
        AppError::Unauthenticated("authentication required".to_owned())
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal(detail.to_string())
    }

    /// Maps a database error, turning a unique-key violation into `CONFLICT`
    /// with the given message.
    pub fn on_unique(err: DbErr, message: &str) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::conflict(message),
            _ => AppError::from(err),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if is_busy(&err) {
            tracing::warn!(%err, "database busy");
            return AppError::Busy(format!("database: {err}"));
        }
        AppError::Internal(format!("database: {err}"))
    }
}

/// SQLite's "database is locked" (`SQLITE_BUSY`, any extended code), or a
/// pool with no connection free in time: both pass once others finish.
fn is_busy(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as SqlxError;
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    // The primary result code is the low byte of the extended one.
    const SQLITE_BUSY: i64 = 5;
    match err {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            SqlxError::Database(db)
                if db
                    .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
                    .is_some() =>
            {
                db.code()
                    .and_then(|code| code.parse::<i64>().ok())
                    .is_some_and(|code| code & 0xff == SQLITE_BUSY)
            }
            SqlxError::PoolTimedOut => true,
            _ => false,
        },
        _ => false,
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(detail) = &err {
            tracing::error!(%detail, "internal error");
        }
        let code = err.code();
        async_graphql::Error::new(err.public_message()).extend_with(|_, ext| ext.set("code", code))
    }
}
