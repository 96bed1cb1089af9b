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

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{DateTime, TimeZone, Utc};
use entity::{
    dataset, dataset_file, file, folder, group, group_membership, ontology, project,
    project_dataset, role_grant, user,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, Iterable,
    PaginatorTrait, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::config::DatabaseArgs;
use crate::policy::{Action, Kind, Policy, Role};

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

/// The three users who stand out come first.
const HEAVY: usize = 0;
const LIGHT: usize = 1;
const ADMIN: usize = 2;
const SPECIAL_USERS: usize = 3;

const MEMBERS_PER_GROUP: usize = 50;
const USER_GRANTS_PER_DATASET: usize = 5;
const GROUP_GRANTS_PER_DATASET: usize = 2;
const DATASETS_PER_PROJECT: usize = 10;
const USERS_PER_PROJECT: usize = 5;

/// Words the dataset titles are made of (searchable).
const SUBJECTS: [&str; 20] = [
    "Traffic",
    "Retail",
    "Farm",
    "Medical",
    "Drone",
    "Harbour",
    "Forest",
    "Factory",
    "Street",
    "Kitchen",
    "Warehouse",
    "Stadium",
    "Airport",
    "Railway",
    "Coast",
    "Vineyard",
    "Mine",
    "Clinic",
    "Orchard",
    "Highway",
];
const MEDIA: [&str; 8] = [
    "cameras",
    "footage",
    "scans",
    "photos",
    "survey",
    "inspection",
    "sequences",
    "captures",
];
/// Projects the heavy user is an ADMIN of (of their projects).
const HEAVY_ADMIN_PROJECTS: usize = 3;
const PROJECT_ROLES: [Role; 4] = [
    Role::TeamManager,
    Role::AnnotatorReviewer,
    Role::Reviewer,
    Role::Annotator,
];

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

/// Two years of activity, from a fixed start (the same seed gives the same times).
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// A random time in `[from, from + within_ms)`, to the millisecond.
fn time_after(rng: &mut StdRng, from: DateTime<Utc>, within_ms: i64) -> DateTime<Utc> {
    from + chrono::Duration::milliseconds(rng.random_range(0..within_ms.max(1)))
}

fn random_id(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

struct Grant {
    kind: Kind,
    resource: usize,
    user: Option<usize>,
    group: Option<usize>,
    role: Role,
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
    let sp = Specials::for_shape(shape);
    let mut rng = StdRng::seed_from_u64(shape.seed);
    let backend = db.get_database_backend();
    let t0 = epoch();
    let mut rows: Vec<(&'static str, u64)> = Vec::new();

    // ---- users ----------------------------------------------------------
    let user_ids: Vec<Uuid> = (0..shape.users).map(|_| random_id(&mut rng)).collect();
    let user_times: Vec<DateTime<Utc>> = (0..shape.users)
        .map(|_| time_after(&mut rng, t0, YEAR_MS))
        .collect();
    let users = (0..shape.users).map(|i| {
        let (email, name, role) = match i {
            HEAVY => (
                shape.heavy_user.clone(),
                "Heavy User".to_owned(),
                Role::Member,
            ),
            LIGHT => (
                shape.light_user.clone(),
                "Light User".to_owned(),
                Role::Member,
            ),
            ADMIN => (
                shape.admin_user.clone(),
                "Workspace Admin".to_owned(),
                Role::Admin,
            ),
            _ => (
                format!("user{i:07}@seed.annograph.test"),
                format!("User {i}"),
                Role::Member,
            ),
        };
        user::ActiveModel {
            id: Set(user_ids[i]),
            email: Set(email),
            name: Set(name),
            workspace_role: Set(role),
            created_at: Set(user_times[i]),
            updated_at: Set(user_times[i]),
        }
    });
    rows.push(("users", insert_all(db, backend, users).await?));
    let ordinary_user = |rng: &mut StdRng| rng.random_range(SPECIAL_USERS..shape.users);
    // Resources are made in the second year, after every user exists.
    let t1 = t0 + chrono::Duration::milliseconds(YEAR_MS);

    // ---- groups and memberships ------------------------------------------
    let group_ids: Vec<Uuid> = (0..shape.groups).map(|_| random_id(&mut rng)).collect();
    let group_times: Vec<DateTime<Utc>> = (0..shape.groups)
        .map(|_| time_after(&mut rng, t1, YEAR_MS / 2))
        .collect();
    let groups = (0..shape.groups).map(|g| group::ActiveModel {
        id: Set(group_ids[g]),
        name: Set(format!("{} team {g:05}", SUBJECTS[g % SUBJECTS.len()])),
        description: Set(format!("Seeded group {g}")),
        created_by: Set(Some(user_ids[ADMIN])),
        created_at: Set(group_times[g]),
        updated_at: Set(group_times[g]),
    });
    rows.push(("groups", insert_all(db, backend, groups).await?));
    let mut memberships = Vec::new();
    // (group, user, role) for the visibility sums below.
    let mut member_of: Vec<(usize, usize, Role)> = Vec::new();
    let members = MEMBERS_PER_GROUP.min((shape.users - SPECIAL_USERS) / 2);
    for g in 0..shape.groups {
        let picked = rand::seq::index::sample(&mut rng, shape.users - SPECIAL_USERS, members);
        for u in picked.into_iter().map(|u| u + SPECIAL_USERS) {
            let role = if rng.random_bool(0.1) {
                Role::Manager
            } else {
                Role::Member
            };
            member_of.push((g, u, role));
        }
    }
    // The heavy user is a MEMBER of the first groups; the light user manages
    // the next one (a MANAGER inherits nothing).
    for g in 0..sp.heavy_groups {
        member_of.push((g, HEAVY, Role::Member));
    }
    member_of.push((sp.heavy_groups, LIGHT, Role::Manager));
    for &(g, u, role) in &member_of {
        memberships.push(group_membership::ActiveModel {
            group_id: Set(group_ids[g]),
            user_id: Set(user_ids[u]),
            role: Set(role),
            created_at: Set(time_after(&mut rng, group_times[g], YEAR_MS / 4)),
        });
    }
    rows.push((
        "group_memberships",
        insert_all(db, backend, memberships).await?,
    ));

    // ---- datasets, their grants and folders --------------------------------
    let d_count = shape.datasets;
    let dataset_ids: Vec<Uuid> = (0..d_count).map(|_| random_id(&mut rng)).collect();
    let dataset_times: Vec<DateTime<Utc>> = (0..d_count)
        .map(|_| time_after(&mut rng, t1, YEAR_MS / 2))
        .collect();
    let creators: Vec<usize> = (0..d_count).map(|_| ordinary_user(&mut rng)).collect();
    // Which datasets carry the special grants: a random choice.
    let mut order: Vec<usize> = (0..d_count).collect();
    order.shuffle(&mut rng);
    let mut taken = order.into_iter();
    let mut take = |n: usize| -> Vec<usize> { taken.by_ref().take(n).collect() };
    let heavy_group_sets: Vec<Vec<usize>> = (0..sp.heavy_groups)
        .map(|_| take(sp.per_heavy_group))
        .collect();
    let heavy_direct = take(sp.heavy_direct);
    let heavy_project_sets: Vec<Vec<usize>> = (0..sp.heavy_projects)
        .map(|_| take(sp.datasets_per_heavy_project))
        .collect();
    let light_direct = take(sp.light_direct);
    let light_project_set = take(sp.light_project_datasets);
    // The heavy user's biggest dataset: their first direct one, with attached files.
    let big = heavy_direct[0];
    let mirrored: Vec<bool> = (0..d_count)
        .map(|d| d != big && rng.random_bool(0.1))
        .collect();

    let mut grants: Vec<Grant> = Vec::new();
    // Groups other than the heavy user's hold the ordinary group grants.
    let ordinary_group = |rng: &mut StdRng| rng.random_range(sp.heavy_groups..shape.groups);
    let mut heavy_group_of = vec![None; d_count];
    for (g, set) in heavy_group_sets.iter().enumerate() {
        for &d in set {
            heavy_group_of[d] = Some(g);
        }
    }
    let mut direct_of = vec![None; d_count];
    for &d in &heavy_direct {
        direct_of[d] = Some(HEAVY);
    }
    for &d in &light_direct {
        direct_of[d] = Some(LIGHT);
    }
    for d in 0..d_count {
        let creator = creators[d];
        grants.push(Grant {
            kind: Kind::Dataset,
            resource: d,
            user: Some(creator),
            group: None,
            role: Role::Admin,
        });
        let mut chosen = HashSet::from([creator]);
        for slot in 1..USER_GRANTS_PER_DATASET {
            let u = match direct_of[d] {
                Some(special) if slot == USER_GRANTS_PER_DATASET - 1 => special,
                _ => loop {
                    let u = ordinary_user(&mut rng);
                    if chosen.insert(u) {
                        break u;
                    }
                },
            };
            // The heavy user administers their big dataset (and may share it).
            let role = if (d == big && u == HEAVY) || rng.random_bool(0.2) {
                Role::Admin
            } else {
                Role::User
            };
            grants.push(Grant {
                kind: Kind::Dataset,
                resource: d,
                user: Some(u),
                group: None,
                role,
            });
        }
        let first = heavy_group_of[d].unwrap_or_else(|| ordinary_group(&mut rng));
        let mut second = ordinary_group(&mut rng);
        while second == first {
            second = ordinary_group(&mut rng);
        }
        for g in [first, second].into_iter().take(GROUP_GRANTS_PER_DATASET) {
            let role = if rng.random_bool(0.2) {
                Role::Admin
            } else {
                Role::User
            };
            grants.push(Grant {
                kind: Kind::Dataset,
                resource: d,
                user: None,
                group: Some(g),
                role,
            });
        }
    }

    // One top-level folder per hundred datasets (made by the ADMIN), and in
    // it a folder per dataset, made by the dataset's creator.
    let teams = d_count.div_ceil(100);
    let team_ids: Vec<Uuid> = (0..teams).map(|_| random_id(&mut rng)).collect();
    let team_times: Vec<DateTime<Utc>> = (0..teams)
        .map(|_| time_after(&mut rng, t1, YEAR_MS / 8))
        .collect();
    let folder_ids: Vec<Uuid> = (0..d_count).map(|_| random_id(&mut rng)).collect();
    let mut folders = Vec::with_capacity(teams + d_count);
    let mut folder_grants: Vec<role_grant::ActiveModel> = Vec::with_capacity(teams + d_count);
    for t in 0..teams {
        folders.push(folder::ActiveModel {
            id: Set(team_ids[t]),
            name: Set(format!("Team {t:04}")),
            parent_id: Set(None),
            created_by: Set(Some(user_ids[ADMIN])),
            created_at: Set(team_times[t]),
            updated_at: Set(team_times[t]),
        });
        folder_grants.push(grant_row(
            &mut rng,
            Kind::Folder,
            team_ids[t],
            Some(user_ids[ADMIN]),
            None,
            Role::Admin,
            user_ids[ADMIN],
            team_times[t],
        ));
    }
    for d in 0..d_count {
        // The folder is made just before its dataset.
        let at = dataset_times[d] - chrono::Duration::milliseconds(rng.random_range(1..60_000));
        let creator = user_ids[creators[d]];
        folders.push(folder::ActiveModel {
            id: Set(folder_ids[d]),
            name: Set(format!("dataset-{d:06}")),
            parent_id: Set(Some(team_ids[d / 100])),
            created_by: Set(Some(creator)),
            created_at: Set(at),
            updated_at: Set(at),
        });
        folder_grants.push(grant_row(
            &mut rng,
            Kind::Folder,
            folder_ids[d],
            Some(creator),
            None,
            Role::Admin,
            creator,
            at,
        ));
    }
    rows.push(("folders", insert_all(db, backend, folders).await?));

    let datasets = (0..d_count).map(|d| {
        let subject = SUBJECTS[(d * 7 + d / 20) % SUBJECTS.len()];
        let media = MEDIA[d % MEDIA.len()];
        dataset::ActiveModel {
            id: Set(dataset_ids[d]),
            title: Set(format!("{subject} {media} {d:05}")),
            description: Set(format!("{subject} {media}, seeded dataset number {d}")),
            folder_id: Set(mirrored[d].then_some(folder_ids[d])),
            created_by: Set(Some(user_ids[creators[d]])),
            created_at: Set(dataset_times[d]),
            updated_at: Set(dataset_times[d]),
        }
    });
    rows.push(("datasets", insert_all(db, backend, datasets).await?));

    // ---- ontologies, projects, their datasets and collaborators ----------
    let p_count = shape.projects;
    let project_ids: Vec<Uuid> = (0..p_count).map(|_| random_id(&mut rng)).collect();
    let ontology_ids: Vec<Uuid> = (0..p_count).map(|_| random_id(&mut rng)).collect();
    let project_times: Vec<DateTime<Utc>> = (0..p_count)
        .map(|_| time_after(&mut rng, t1 + chrono::Duration::days(200), YEAR_MS / 3))
        .collect();
    let owners: Vec<usize> = (0..p_count).map(|_| ordinary_user(&mut rng)).collect();
    let mut ontologies = Vec::with_capacity(p_count);
    let mut projects = Vec::with_capacity(p_count);
    let mut project_links = Vec::new();
    // (project, dataset) pairs for the visibility sums.
    let mut links: Vec<(usize, usize)> = Vec::new();
    let per_project = DATASETS_PER_PROJECT.min(d_count / 2);
    for p in 0..p_count {
        let owner = user_ids[owners[p]];
        let at = project_times[p];
        let ontology_at = at - chrono::Duration::milliseconds(rng.random_range(1..3_600_000));
        let subject = SUBJECTS[p % SUBJECTS.len()];
        ontologies.push(ontology::ActiveModel {
            id: Set(ontology_ids[p]),
            title: Set(format!("{subject} objects {p:04}")),
            description: Set(format!("What to label in {subject} data")),
            structure: Set(json!({
                "objects": [
                    { "name": "Person", "shape": "bounding_box" },
                    { "name": "Vehicle", "shape": "polygon" },
                    { "name": subject, "shape": "bounding_box" }
                ],
                "classifications": [
                    { "name": "Light", "type": "radio", "options": ["day", "dusk", "night"] }
                ]
            })
            .into()),
            created_by: Set(Some(owner)),
            created_at: Set(ontology_at),
            updated_at: Set(ontology_at),
        });
        grants.push(Grant {
            kind: Kind::Ontology,
            resource: p,
            user: Some(owners[p]),
            group: None,
            role: Role::Admin,
        });
        projects.push(project::ActiveModel {
            id: Set(project_ids[p]),
            title: Set(format!("{subject} labelling {p:04}")),
            description: Set(format!("Label the {subject} data")),
            ontology_id: Set(ontology_ids[p]),
            owner_id: Set(Some(owner)),
            created_at: Set(at),
            updated_at: Set(at),
        });
        // The heavy user administers a few of their projects.
        let special_user = if p < sp.heavy_projects.min(HEAVY_ADMIN_PROJECTS) {
            Some((HEAVY, Role::Admin))
        } else if p < sp.heavy_projects {
            Some((HEAVY, Role::Annotator))
        } else if p == sp.heavy_projects {
            Some((LIGHT, Role::Reviewer))
        } else {
            None
        };
        let of_project: Vec<usize> = if p < sp.heavy_projects {
            heavy_project_sets[p].clone()
        } else if p == sp.heavy_projects {
            light_project_set.clone()
        } else {
            rand::seq::index::sample(&mut rng, d_count, per_project).into_vec()
        };
        for d in of_project {
            links.push((p, d));
        }
        grants.push(Grant {
            kind: Kind::Project,
            resource: p,
            user: Some(owners[p]),
            group: None,
            role: Role::Admin,
        });
        let mut chosen = HashSet::from([owners[p]]);
        for slot in 1..USERS_PER_PROJECT {
            let (u, role) = match special_user {
                Some(special) if slot == USERS_PER_PROJECT - 1 => special,
                _ => loop {
                    let u = ordinary_user(&mut rng);
                    if chosen.insert(u) {
                        break (u, PROJECT_ROLES[rng.random_range(0..PROJECT_ROLES.len())]);
                    }
                },
            };
            grants.push(Grant {
                kind: Kind::Project,
                resource: p,
                user: Some(u),
                group: None,
                role,
            });
        }
        grants.push(Grant {
            kind: Kind::Project,
            resource: p,
            user: None,
            group: Some(ordinary_group(&mut rng)),
            role: Role::Annotator,
        });
    }
    rows.push(("ontologies", insert_all(db, backend, ontologies).await?));
    rows.push(("projects", insert_all(db, backend, projects).await?));
    for &(p, d) in &links {
        project_links.push(project_dataset::ActiveModel {
            project_id: Set(project_ids[p]),
            dataset_id: Set(dataset_ids[d]),
            created_at: Set(time_after(&mut rng, project_times[p], 3_600_000)),
        });
    }
    rows.push((
        "project_datasets",
        insert_all(db, backend, project_links).await?,
    ));

    // ---- role grants -----------------------------------------------------
    let mut grant_rows = folder_grants;
    for g in &grants {
        let (resource_id, resource_at, creator) = match g.kind {
            Kind::Dataset => (
                dataset_ids[g.resource],
                dataset_times[g.resource],
                creators[g.resource],
            ),
            Kind::Ontology => (
                ontology_ids[g.resource],
                project_times[g.resource] - chrono::Duration::hours(1),
                owners[g.resource],
            ),
            _ => (
                project_ids[g.resource],
                project_times[g.resource],
                owners[g.resource],
            ),
        };
        // The creator's own ADMIN comes with the resource; others follow.
        let own = g.user == Some(creator) && g.role == Role::Admin;
        let at = if own {
            resource_at
        } else {
            time_after(&mut rng, resource_at, YEAR_MS / 12)
        };
        grant_rows.push(grant_row(
            &mut rng,
            g.kind,
            resource_id,
            g.user.map(|u| user_ids[u]),
            g.group.map(|x| group_ids[x]),
            g.role,
            user_ids[creator],
            at,
        ));
    }
    rows.push(("role_grants", insert_all(db, backend, grant_rows).await?));

    // ---- files and their datasets ------------------------------------------
    let big_files = (shape.files / 100).clamp(1, 10_000);
    let rest = shape.files - big_files;
    let weights: Vec<f64> = (0..d_count)
        .map(|d| {
            if d == big {
                0.0
            } else {
                rng.random_range(0.25..1.75)
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut counts: Vec<usize> = weights
        .iter()
        .map(|w| ((rest as f64) * w / total).floor().max(1.0) as usize)
        .collect();
    counts[big] = big_files;
    // Rounding: the last datasets take what is left (or give back the excess).
    let mut sum: usize = counts.iter().sum();
    let mut d = 0;
    while sum != shape.files {
        let i = d % d_count;
        if i != big {
            if sum < shape.files {
                counts[i] += 1;
                sum += 1;
            } else if counts[i] > 1 {
                counts[i] -= 1;
                sum -= 1;
            }
        }
        d += 1;
    }
    let (files_n, links_n) = insert_files(
        db,
        backend,
        &mut rng,
        shape,
        &Ids {
            users: &user_ids,
            creators: &creators,
            datasets: &dataset_ids,
            dataset_times: &dataset_times,
            folders: &folder_ids,
            mirrored: &mirrored,
            counts: &counts,
        },
    )
    .await?;
    rows.push(("files", files_n));
    rows.push(("dataset_files", links_n));

    analyze(db).await?;

    // ---- what the standing-out users see -------------------------------
    let view_dataset = policy.roles_allowing(Kind::Dataset, Action::View);
    let view_project = policy.roles_allowing(Kind::Project, Action::View);
    let inheriting = policy.inheriting_membership_roles();
    let sees = |who: usize| -> (usize, usize, usize) {
        let groups: HashSet<usize> = member_of
            .iter()
            .filter(|(_, u, role)| *u == who && inheriting.contains(role))
            .map(|(g, _, _)| *g)
            .collect();
        let holds = |g: &Grant| g.user == Some(who) || g.group.is_some_and(|x| groups.contains(&x));
        let mut visible: HashSet<usize> = grants
            .iter()
            .filter(|g| g.kind == Kind::Dataset && view_dataset.contains(&g.role) && holds(g))
            .map(|g| g.resource)
            .collect();
        let projects: HashSet<usize> = grants
            .iter()
            .filter(|g| g.kind == Kind::Project && view_project.contains(&g.role) && holds(g))
            .map(|g| g.resource)
            .collect();
        let own = visible.len();
        visible.extend(
            links
                .iter()
                .filter(|(p, _)| projects.contains(p))
                .map(|(_, d)| *d),
        );
        (visible.len(), projects.len(), own)
    };
    let (heavy_datasets, heavy_projects, heavy_dataset_roles) = sees(HEAVY);
    let (light_datasets, light_projects, _) = sees(LIGHT);
    Ok(Summary {
        heavy_user: shape.heavy_user.clone(),
        light_user: shape.light_user.clone(),
        admin_user: shape.admin_user.clone(),
        heavy_datasets,
        light_datasets,
        heavy_projects,
        light_projects,
        big_dataset: dataset_ids[big],
        big_dataset_files: big_files,
        heavy_project: project_ids[0],
        heavy_admin_projects: sp.heavy_projects.min(HEAVY_ADMIN_PROJECTS),
        heavy_dataset_roles,
        rows,
        elapsed: started.elapsed(),
    })
}

#[allow(clippy::too_many_arguments)]
fn grant_row(
    rng: &mut StdRng,
    kind: Kind,
    resource_id: Uuid,
    user: Option<Uuid>,
    group: Option<Uuid>,
    role: Role,
    created_by: Uuid,
    at: DateTime<Utc>,
) -> role_grant::ActiveModel {
    role_grant::ActiveModel {
        id: Set(random_id(rng)),
        resource_type: Set(kind),
        resource_id: Set(resource_id),
        user_id: Set(user),
        group_id: Set(group),
        role: Set(role),
        created_by: Set(Some(created_by)),
        created_at: Set(at),
    }
}

/// The planned rows the files hang on.
struct Ids<'a> {
    users: &'a [Uuid],
    creators: &'a [usize],
    datasets: &'a [Uuid],
    dataset_times: &'a [DateTime<Utc>],
    folders: &'a [Uuid],
    mirrored: &'a [bool],
    counts: &'a [usize],
}

/// Files per write transaction (a huge one would only grow SQLite's log).
const FILES_PER_TRANSACTION: usize = 100_000;

/// Registers each dataset's files in its folder and attaches them (unless
/// the dataset mirrors the folder), a batch at a time.
async fn insert_files(
    db: &DatabaseConnection,
    backend: DbBackend,
    rng: &mut StdRng,
    shape: &Shape,
    ids: &Ids<'_>,
) -> anyhow::Result<(u64, u64)> {
    let mut files = Vec::with_capacity(FILES_PER_TRANSACTION);
    let mut links = Vec::with_capacity(FILES_PER_TRANSACTION);
    let (mut files_n, mut links_n) = (0, 0);
    for d in 0..shape.datasets {
        let creator = ids.users[ids.creators[d]];
        for j in 0..ids.counts[d] {
            let id = random_id(rng);
            let at = time_after(rng, ids.dataset_times[d], YEAR_MS / 6);
            let video = rng.random_bool(0.1);
            let (kind, ext, mime) = if video {
                ("VIDEO", "mp4", "video/mp4")
            } else {
                ("IMAGE", "jpg", "image/jpeg")
            };
            let url = format!(
                "s3://annograph-seed/team-{:04}/dataset-{d:06}/{j:06}.{ext}",
                d / 100
            );
            files.push(file::ActiveModel {
                id: Set(id),
                folder_id: Set(ids.folders[d]),
                title: Set(crate::service::files::title_from_url(&url)),
                kind: Set(kind.to_owned()),
                object_url: Set(url),
                size_bytes: Set(Some(rng.random_range(20_000..8_000_000))),
                mime_type: Set(Some(mime.to_owned())),
                width: Set(Some(1920)),
                height: Set(Some(1080)),
                created_by: Set(Some(creator)),
                created_at: Set(at),
                updated_at: Set(at),
                ..Default::default()
            });
            if !ids.mirrored[d] {
                links.push(dataset_file::ActiveModel {
                    dataset_id: Set(ids.datasets[d]),
                    file_id: Set(id),
                    created_at: Set(at + chrono::Duration::seconds(1)),
                });
            }
            if files.len() == FILES_PER_TRANSACTION {
                files_n += insert_all(db, backend, std::mem::take(&mut files)).await?;
                links_n += insert_all(db, backend, std::mem::take(&mut links)).await?;
            }
        }
    }
    files_n += insert_all(db, backend, files).await?;
    links_n += insert_all(db, backend, links).await?;
    Ok((files_n, links_n))
}

/// The most values one statement binds, with room to spare.
fn value_cap(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 65_535,
        _ => 32_766,
    }
}

/// Inserts every row in one write transaction, as multi-row INSERTs each
/// binding fewer values than the database's cap. Returns the rows written.
async fn insert_all<A, I>(
    db: &DatabaseConnection,
    backend: DbBackend,
    rows: I,
) -> anyhow::Result<u64>
where
    A: ActiveModelTrait + Send,
    I: IntoIterator<Item = A>,
{
    let mut rows = rows.into_iter().peekable();
    let Some(first) = rows.peek() else {
        return Ok(0);
    };
    let columns = <A::Entity as EntityTrait>::Column::iter()
        .filter(|c| !first.is_not_set(*c))
        .count()
        .max(1);
    let per_statement = value_cap(backend) / columns;
    let txn = crate::service::tx::write(db).await?;
    let mut written = 0u64;
    loop {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        if chunk.is_empty() {
            break;
        }
        written += chunk.len() as u64;
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(&txn)
            .await
            .with_context(|| {
                format!(
                    "inserting into {}",
                    sea_orm::EntityName::table_name(&<A::Entity as Default>::default())
                )
            })?;
    }
    txn.commit().await?;
    Ok(written)
}

/// Refreshes the planner's statistics after a bulk load.
pub async fn analyze(db: &DatabaseConnection) -> anyhow::Result<()> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared("ANALYZE").await?;
        }
        _ => {
            db.execute_unprepared("ANALYZE").await?;
            db.execute_unprepared("PRAGMA optimize").await?;
        }
    }
    Ok(())
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
