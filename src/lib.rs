//! annograph: the data and permission back end of an annotation platform,
//! served as one GraphQL API.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod import;
pub mod metrics;
pub mod playground;
pub mod policy;
pub mod recent;
pub mod seed;
pub mod service;
pub mod storage;
