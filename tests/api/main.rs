//! Integration tests: the real server over real HTTP, on SQLite by default
//! and on PostgreSQL when `TEST_DATABASE_URL=postgres://…` is set.

mod helpers;

mod auth;
mod datasets;
mod matrix;
mod projects;
mod schema;
mod folders;
mod groups;
mod ontologies;
