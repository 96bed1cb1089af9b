//! Importing files from users' cloud storage into a dataset: reading the
//! manifest that lists them, and reading their objects' headers through a
//! storage integration.

pub mod jobs;
pub mod manifest;
pub mod probe;
pub mod queue;
pub mod worker;
