//! Business rules, one module per domain. Every public function takes the
//! calling user and asks the policy before it reads or writes anything.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::policy::Policy;

pub mod access;
pub mod audit;
pub mod datasets;
pub mod files;
pub mod folders;
pub mod grants;
pub mod groups;
pub mod input;
pub mod integrations;
pub mod ontologies;
pub mod page;
pub mod projects;
pub mod row;
pub mod tx;
pub mod users;

/// What every service call needs: the database and the compiled policy.
#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub policy: Arc<Policy>,
    pub metrics: Arc<Metrics>,
    /// Changes committed by the services, for subscriptions.
    pub events: EventBus,
    /// Storage settings of the instance (where LOCAL integrations may point).
    pub storage: crate::storage::StorageSettings,
    /// Bounds on the manifests of imports.
    pub manifest_limits: crate::config::ManifestLimits,
    /// Accounts signed in before, so that a user's requests start without a statement.
    pub accounts: Arc<users::Accounts>,
}

impl Services {
    pub fn new(
        db: DatabaseConnection,
        policy: Policy,
        metrics: Arc<Metrics>,
        events: EventBus,
    ) -> Services {
        Services {
            db,
            policy: Arc::new(policy),
            metrics,
            events,
            storage: crate::storage::StorageSettings::default(),
            manifest_limits: crate::config::ManifestLimits::default(),
            accounts: Arc::default(),
        }
    }
}
