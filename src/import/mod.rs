//! Importing files from users' cloud storage into a dataset: reading the
//! manifest that lists them.

pub mod manifest;
pub mod probe;
