pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_domain;
mod m20261129_000002_create_integrations;
mod m20261129_000003_create_imports;
mod m20261201_000001_unique_folder_names;
mod m20261201_000002_visibility_indexes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_domain::Migration),
            Box::new(m20261129_000002_create_integrations::Migration),
            Box::new(m20261129_000003_create_imports::Migration),
            Box::new(m20261201_000001_unique_folder_names::Migration),
            Box::new(m20261201_000002_visibility_indexes::Migration),
        ]
    }
}
