//! Process-wide counters, read by tests and operators.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    sql_statements: AtomicU64,
}

impl Metrics {
    /// Counts one SQL statement sent to the database.
    pub fn record_statement(&self) {
        self.sql_statements.fetch_add(1, Ordering::Relaxed);
    }

    /// SQL statements sent since start.
    pub fn sql_statements(&self) -> u64 {
        self.sql_statements.load(Ordering::Relaxed)
    }
}
