//! Integration tests: the real server over real HTTP, on SQLite by default
//! and on PostgreSQL when `TEST_DATABASE_URL=postgres://…` is set.

mod helpers;
mod support;

mod auth;
mod authorization;
mod batching;
mod big_batches;
mod collaborators;
mod concurrency;
mod connections;
mod datasets;
mod folders;
mod groups;
mod hostile_input;
mod http;
mod import_processes;
mod import_progress;
mod imports;
mod integrations;
mod limits;
mod lists;
mod matrix;
mod ontologies;
mod operations;
mod projects;
mod races;
mod response_order;
mod s3;
mod schema;
mod seed;
mod ssrf;
mod storage_without_ranges;
mod tokens;
mod uploads;
mod visibility;
mod workspace;
mod ws;
