//! `annograph seed`: a workspace of realistic size, for measuring the server
//! on the data a real team has (`benches/api.rs` uses it).
//!
//! The default shape: 100,000 users; 1,000 groups of about 50 members
//! (90 % MEMBER, 10 % MANAGER); 10,000 datasets, each with 5 user grants
//! (its creator's ADMIN and 4 more, ADMIN or USER) and 2 group grants;
//! 1,000,000 files registered in one folder per dataset, attached to their
//! dataset (one dataset in ten mirrors its folder instead); 1,000 projects,
//! each with its own ontology, about 10 datasets and 6 collaborators. Three
//! users stand out: a heavy user, MEMBER of 20 groups that hold 25 dataset
//! grants each, who sees about 870 datasets; a light user who sees 20; and a
//! workspace ADMIN.
//!
//! Rows are what the server itself writes (the same role spellings,
//! resource types, creator grants, folder names and object URLs), with ids
//! and creation times of their own: ids are random UUIDs and creation times
//! spread over two years, so id order is not creation order, as with data
//! loaded from elsewhere. Everything comes from one seeded random generator:
//! the same `--seed` and sizes give the same rows, ids included.
//!
//! Rows go in as multi-row INSERTs, each under the database's cap on bound
//! values, inside write transactions; planner statistics are refreshed at
//! the end. The database must be empty of users: seeding never mixes with a
//! live workspace.

use std::time::{Duration, Instant};

use anyhow::bail;
use entity::user;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use uuid::Uuid;

use crate::config::DatabaseArgs;
use crate::policy::Policy;

mod plan;
mod write;

pub use write::analyze;

/// `annograph seed`.
#[derive(clap::Args, Debug)]
pub struct SeedArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Users (besides none: the heavy, light and ADMIN users are among them).
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Groups, of about 50 members each.
    #[arg(long, default_value_t = 1_000)]
    pub groups: usize,
    /// Datasets, each with 5 user grants and 2 group grants.
    #[arg(long, default_value_t = 10_000)]
    pub datasets: usize,
    /// Files, spread over the datasets.
    #[arg(long, default_value_t = 1_000_000)]
    pub files: usize,
    /// Projects, each with an ontology, datasets and collaborators.
    #[arg(long, default_value_t = 1_000)]
    pub projects: usize,
    /// The random generator's seed: the same seed and sizes give the same rows.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// E-mail of the user who sees many datasets (through 20 groups, direct
    /// grants and projects).
    #[arg(long, default_value = "heavy@seed.annograph.test")]
    pub heavy_user: String,
    /// E-mail of the user who sees about 20 datasets.
    #[arg(long, default_value = "light@seed.annograph.test")]
    pub light_user: String,
    /// E-mail of the workspace ADMIN.
    #[arg(long, default_value = "admin@seed.annograph.test")]
    pub admin_user: String,
}

/// The size and seed of a workspace to generate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape {
    pub users: usize,
    pub groups: usize,
    pub datasets: usize,
    pub files: usize,
    pub projects: usize,
    pub seed: u64,
    pub heavy_user: String,
    pub light_user: String,
    pub admin_user: String,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            users: 100_000,
            groups: 1_000,
            datasets: 10_000,
            files: 1_000_000,
            projects: 1_000,
            seed: 1,
            heavy_user: "heavy@seed.annograph.test".to_owned(),
            light_user: "light@seed.annograph.test".to_owned(),
            admin_user: "admin@seed.annograph.test".to_owned(),
        }
    }
}

impl From<&SeedArgs> for Shape {
    fn from(a: &SeedArgs) -> Shape {
        Shape {
            users: a.users,
            groups: a.groups,
            datasets: a.datasets,
            files: a.files,
            projects: a.projects,
            seed: a.seed,
            heavy_user: a.heavy_user.clone(),
            light_user: a.light_user.clone(),
            admin_user: a.admin_user.clone(),
        }
    }
}

/// What was seeded, and what the standing-out users see.
#[derive(Debug, Clone)]
pub struct Summary {
    pub heavy_user: String,
    pub light_user: String,
    pub admin_user: String,
    /// Datasets the heavy user may view (every route).
    pub heavy_datasets: usize,
    /// Datasets the light user may view.
    pub light_datasets: usize,
    /// Projects the heavy user collaborates on.
    pub heavy_projects: usize,
    /// Projects the light user collaborates on.
    pub light_projects: usize,
    /// The heavy user's largest dataset (attached files, not mirrored).
    pub big_dataset: Uuid,
    pub big_dataset_files: usize,
    /// A project the heavy user administers.
    pub heavy_project: Uuid,
    /// Projects the heavy user administers.
    pub heavy_admin_projects: usize,
    /// Datasets the heavy user holds a dataset role on (directly or
    /// through a group), not counting those seen through projects.
    pub heavy_dataset_roles: usize,
    /// Rows written per table.
    pub rows: Vec<(&'static str, u64)>,
    pub elapsed: Duration,
}

/// `annograph seed`: migrates, seeds and prints the users to sign in as.
pub async fn command(args: SeedArgs) -> anyhow::Result<()> {
    let db = crate::app::connect(
        &args.database.database_url,
        2,
        args.database.db_busy_timeout,
    )
    .await?;
    crate::app::migrate(&db).await?;
    let shape = Shape::from(&args);
    let summary = run(&db, &shape).await?;
    db.close().await.ok();
    for (table, n) in &summary.rows {
        println!("  {table:<18} {n:>10} rows");
    }
    println!(
        "seeded {} in {:.1} s",
        crate::app::redact(&args.database.database_url),
        summary.elapsed.as_secs_f64()
    );
    println!(
        "heavy user: {} (sees {} datasets, {} projects)",
        summary.heavy_user, summary.heavy_datasets, summary.heavy_projects
    );
    println!(
        "light user: {} (sees {} datasets, {} projects)",
        summary.light_user, summary.light_datasets, summary.light_projects
    );
    println!("workspace ADMIN: {}", summary.admin_user);
    Ok(())
}

/// How many of each special grant, scaled down for small workspaces.
#[derive(Debug, Clone, Copy)]
struct Specials {
    /// Groups the heavy user is a MEMBER of.
    heavy_groups: usize,
    /// Dataset grants each of those groups holds.
    per_heavy_group: usize,
    heavy_direct: usize,
    heavy_projects: usize,
    datasets_per_heavy_project: usize,
    light_direct: usize,
    light_project_datasets: usize,
}

impl Specials {
    fn for_shape(s: &Shape) -> Specials {
        let mut sp = Specials {
            heavy_groups: 20.min(s.groups / 2),
            per_heavy_group: 25,
            heavy_direct: 250,
            heavy_projects: 12.min(s.projects / 2),
            datasets_per_heavy_project: 10,
            light_direct: 15,
            light_project_datasets: 5,
        };
        // They use distinct datasets; leave most datasets to everyone else.
        while sp.needed() > s.datasets / 2 && sp.needed() > 5 {
            for n in [
                &mut sp.heavy_groups,
                &mut sp.per_heavy_group,
                &mut sp.heavy_direct,
                &mut sp.heavy_projects,
                &mut sp.datasets_per_heavy_project,
                &mut sp.light_direct,
                &mut sp.light_project_datasets,
            ] {
                *n = n.div_ceil(2);
            }
        }
        sp
    }

    fn needed(&self) -> usize {
        self.heavy_groups * self.per_heavy_group
            + self.heavy_direct
            + self.heavy_projects * self.datasets_per_heavy_project
            + self.light_direct
            + self.light_project_datasets
    }
}

fn validate(s: &Shape) -> anyhow::Result<()> {
    if s.users < 20 || s.groups < 6 || s.datasets < 20 || s.projects < 4 {
        bail!("seed at least 20 users, 6 groups, 20 datasets and 4 projects");
    }
    if s.files < s.datasets {
        bail!("seed at least one file per dataset (--files ≥ --datasets)");
    }
    let emails = [&s.heavy_user, &s.light_user, &s.admin_user];
    for e in emails {
        if !e.contains('@') || e.trim() != e.as_str() || e.to_ascii_lowercase() != *e {
            bail!("{e:?} is not a lower-case e-mail address");
        }
    }
    if s.heavy_user == s.light_user || s.heavy_user == s.admin_user || s.light_user == s.admin_user
    {
        bail!("the heavy, light and ADMIN users need three different e-mails");
    }
    Ok(())
}

/// Seeds `db` (migrated, without users) with the workspace `shape` describes.
pub async fn run(db: &DatabaseConnection, shape: &Shape) -> anyhow::Result<Summary> {
    validate(shape)?;
    let started = Instant::now();
    let existing = user::Entity::find().count(db).await?;
    if existing > 0 {
        bail!(
            "the database already holds {existing} users: seed a new, empty database \
             (a new SQLite file, or a PostgreSQL database just created)"
        );
    }
    let policy = Policy::load(None).await?;
    let mut seeder = plan::Seeder::new(db, shape);
    let people = seeder.people().await?;
    let datasets = seeder.datasets(&people).await?;
    let projects = seeder.projects(&people, &datasets).await?;
    seeder.role_grants(&people, &datasets, &projects).await?;
    seeder.files(&people, &datasets).await?;
    analyze(db).await?;
    Ok(seeder.summary(&policy, &people, &datasets, &projects, started))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_shape_has_the_heavy_and_light_users_of_a_real_workspace() {
        let sp = Specials::for_shape(&Shape::default());
        let heavy = sp.heavy_groups * sp.per_heavy_group
            + sp.heavy_direct
            + sp.heavy_projects * sp.datasets_per_heavy_project;
        assert_eq!((sp.heavy_groups, sp.per_heavy_group), (20, 25));
        assert_eq!(heavy, 870);
        assert_eq!(sp.light_direct + sp.light_project_datasets, 20);
    }

    #[test]
    fn small_shapes_scale_the_special_users_down() {
        let shape = Shape {
            users: 200,
            groups: 20,
            datasets: 100,
            files: 1_000,
            projects: 10,
            ..Shape::default()
        };
        let sp = Specials::for_shape(&shape);
        assert!(sp.needed() <= shape.datasets / 2, "{sp:?}");
        assert!(validate(&shape).is_ok());
    }
}
