//! The one way a write transaction begins.
//!
//! SQLite lets one writer at a time. A transaction begun deferred (`BEGIN`)
//! that reads first and writes later must upgrade its read lock; when another
//! writer holds the lock, SQLite refuses the upgrade at once (waiting could
//! deadlock), so the busy timeout never helps and concurrent writers fail.
//! Begun `IMMEDIATE`, the transaction takes the write lock up front, waiting
//! its turn for up to the busy timeout; one that still cannot get it fails
//! with `SQLITE_BUSY`, which `AppError` answers as the retryable `BUSY`.
//! PostgreSQL ignores the mode: it locks rows, not the database.
//!
//! Read-only work never begins one: it reads through the pool, and in WAL
//! mode readers go on while a writer holds the lock.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

/// Begins a transaction that will write: on SQLite it holds the write lock
/// from its first statement to its commit or rollback.
pub async fn write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}
