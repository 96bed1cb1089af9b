//! What `annograph seed` writes, one step per table family, in the order the
//! rows depend on each other: users and groups, then datasets with their
//! folders, then ontologies and projects, then every role grant, then files.
//!
//! One random generator drives every step, always in the same order, so the
//! same `--seed` and sizes give the same rows, ids included: a step never
//! draws from the generator on behalf of another, and reordering the draws
//! changes the workspace.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use entity::{
    dataset, folder, group, group_membership, ontology, project, project_dataset, role_grant, user,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{DatabaseConnection, DbBackend, Set};
use serde_json::json;
use uuid::Uuid;

use super::write::{grant_row, insert_all, insert_files, Ids};
use super::{Shape, Specials, Summary};
use crate::policy::{Action, Kind, Policy, Role};

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

/// Two years of activity, from a fixed start (the same seed gives the same times).
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
}

pub(super) const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// A random time in `[from, from + within_ms)`, to the millisecond.
pub(super) fn time_after(rng: &mut StdRng, from: DateTime<Utc>, within_ms: i64) -> DateTime<Utc> {
    from + chrono::Duration::milliseconds(rng.random_range(0..within_ms.max(1)))
}

pub(super) fn random_id(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

struct Grant {
    kind: Kind,
    resource: usize,
    user: Option<usize>,
    group: Option<usize>,
    role: Role,
}

/// Users and groups, by index (the special users first).
pub(super) struct People {
    pub(super) users: Vec<Uuid>,
    groups: Vec<Uuid>,
    /// (group, user, role) of every membership.
    member_of: Vec<(usize, usize, Role)>,
}

/// Datasets by index, with their folders and which ones the special users get.
pub(super) struct Datasets {
    ids: Vec<Uuid>,
    times: Vec<DateTime<Utc>>,
    creators: Vec<usize>,
    folders: Vec<Uuid>,
    mirrored: Vec<bool>,
    /// The heavy user's largest dataset (attached files).
    big: usize,
    heavy_project_sets: Vec<Vec<usize>>,
    light_project_set: Vec<usize>,
}

/// Projects by index, each with its ontology (same index).
pub(super) struct Projects {
    ids: Vec<Uuid>,
    ontologies: Vec<Uuid>,
    times: Vec<DateTime<Utc>>,
    owners: Vec<usize>,
    /// (project, dataset) pairs.
    links: Vec<(usize, usize)>,
}

/// The generator, the target database and what was written so far.
pub(super) struct Seeder<'a> {
    db: &'a DatabaseConnection,
    backend: DbBackend,
    shape: &'a Shape,
    sp: Specials,
    rng: StdRng,
    /// The first year: users join.
    t0: DateTime<Utc>,
    /// The second year: resources are made, after every user exists.
    t1: DateTime<Utc>,
    /// Resource grants, planned by index and written together.
    grants: Vec<Grant>,
    folder_grants: Vec<role_grant::ActiveModel>,
    rows: Vec<(&'static str, u64)>,
}

impl<'a> Seeder<'a> {
    pub(super) fn new(db: &'a DatabaseConnection, shape: &'a Shape) -> Seeder<'a> {
        let t0 = epoch();
        Seeder {
            db,
            backend: db.get_database_backend(),
            shape,
            sp: Specials::for_shape(shape),
            rng: StdRng::seed_from_u64(shape.seed),
            t0,
            t1: t0 + chrono::Duration::milliseconds(YEAR_MS),
            grants: Vec::new(),
            folder_grants: Vec::new(),
            rows: Vec::new(),
        }
    }

    async fn write<A, I>(&mut self, table: &'static str, rows: I) -> anyhow::Result<()>
    where
        A: sea_orm::ActiveModelTrait + Send,
        I: IntoIterator<Item = A>,
    {
        let n = insert_all(self.db, self.backend, rows).await?;
        self.rows.push((table, n));
        Ok(())
    }

    fn ordinary_user(&mut self) -> usize {
        self.rng.random_range(SPECIAL_USERS..self.shape.users)
    }

    /// Groups other than the heavy user's hold the ordinary group grants.
    fn ordinary_group(&mut self) -> usize {
        self.rng
            .random_range(self.sp.heavy_groups..self.shape.groups)
    }

    /// Users, groups and memberships.
    pub(super) async fn people(&mut self) -> anyhow::Result<People> {
        let shape = self.shape;
        let rng = &mut self.rng;
        let user_ids: Vec<Uuid> = (0..shape.users).map(|_| random_id(rng)).collect();
        let user_times: Vec<DateTime<Utc>> = (0..shape.users)
            .map(|_| time_after(rng, self.t0, YEAR_MS))
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
        self.write("users", users).await?;

        let rng = &mut self.rng;
        let group_ids: Vec<Uuid> = (0..shape.groups).map(|_| random_id(rng)).collect();
        let group_times: Vec<DateTime<Utc>> = (0..shape.groups)
            .map(|_| time_after(rng, self.t1, YEAR_MS / 2))
            .collect();
        let groups = (0..shape.groups).map(|g| group::ActiveModel {
            id: Set(group_ids[g]),
            name: Set(format!("{} team {g:05}", SUBJECTS[g % SUBJECTS.len()])),
            description: Set(format!("Seeded group {g}")),
            created_by: Set(Some(user_ids[ADMIN])),
            created_at: Set(group_times[g]),
            updated_at: Set(group_times[g]),
        });
        self.write("groups", groups).await?;

        let rng = &mut self.rng;
        let mut member_of: Vec<(usize, usize, Role)> = Vec::new();
        let members = MEMBERS_PER_GROUP.min((shape.users - SPECIAL_USERS) / 2);
        for g in 0..shape.groups {
            let picked = rand::seq::index::sample(rng, shape.users - SPECIAL_USERS, members);
            for u in picked.into_iter().map(|u| u + SPECIAL_USERS) {
                let role = if rng.random_bool(0.1) {
                    Role::Manager
                } else {
                    Role::Member
                };
                member_of.push((g, u, role));
            }
        }
        // The heavy user is a MEMBER of the first groups; the light user
        // manages the next one (a MANAGER inherits nothing).
        for g in 0..self.sp.heavy_groups {
            member_of.push((g, HEAVY, Role::Member));
        }
        member_of.push((self.sp.heavy_groups, LIGHT, Role::Manager));
        let memberships: Vec<_> = member_of
            .iter()
            .map(|&(g, u, role)| group_membership::ActiveModel {
                group_id: Set(group_ids[g]),
                user_id: Set(user_ids[u]),
                role: Set(role),
                created_at: Set(time_after(rng, group_times[g], YEAR_MS / 4)),
            })
            .collect();
        self.write("group_memberships", memberships).await?;
        Ok(People {
            users: user_ids,
            groups: group_ids,
            member_of,
        })
    }

    /// Datasets, their folders and their grants (the grants are written
    /// later, with the projects' and ontologies').
    pub(super) async fn datasets(&mut self, people: &People) -> anyhow::Result<Datasets> {
        let d_count = self.shape.datasets;
        let sp = self.sp;
        let rng = &mut self.rng;
        let dataset_ids: Vec<Uuid> = (0..d_count).map(|_| random_id(rng)).collect();
        let dataset_times: Vec<DateTime<Utc>> = (0..d_count)
            .map(|_| time_after(rng, self.t1, YEAR_MS / 2))
            .collect();
        let creators: Vec<usize> = (0..d_count).map(|_| self.ordinary_user()).collect();
        // Which datasets carry the special grants: a random choice.
        let mut order: Vec<usize> = (0..d_count).collect();
        order.shuffle(&mut self.rng);
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
            .map(|d| d != big && self.rng.random_bool(0.1))
            .collect();

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
            self.grants
                .push(Grant::user(Kind::Dataset, d, creator, Role::Admin));
            let mut chosen = HashSet::from([creator]);
            for slot in 1..USER_GRANTS_PER_DATASET {
                let u = match direct_of[d] {
                    Some(special) if slot == USER_GRANTS_PER_DATASET - 1 => special,
                    _ => loop {
                        let u = self.ordinary_user();
                        if chosen.insert(u) {
                            break u;
                        }
                    },
                };
                // The heavy user administers their big dataset (and may share it).
                let role = if (d == big && u == HEAVY) || self.rng.random_bool(0.2) {
                    Role::Admin
                } else {
                    Role::User
                };
                self.grants.push(Grant::user(Kind::Dataset, d, u, role));
            }
            let first = match heavy_group_of[d] {
                Some(g) => g,
                None => self.ordinary_group(),
            };
            let mut second = self.ordinary_group();
            while second == first {
                second = self.ordinary_group();
            }
            for g in [first, second].into_iter().take(GROUP_GRANTS_PER_DATASET) {
                let role = if self.rng.random_bool(0.2) {
                    Role::Admin
                } else {
                    Role::User
                };
                self.grants.push(Grant {
                    kind: Kind::Dataset,
                    resource: d,
                    user: None,
                    group: Some(g),
                    role,
                });
            }
        }

        // One top-level folder per hundred datasets (made by the ADMIN), and
        // in it a folder per dataset, made by the dataset's creator.
        let rng = &mut self.rng;
        let admin = people.users[ADMIN];
        let teams = d_count.div_ceil(100);
        let team_ids: Vec<Uuid> = (0..teams).map(|_| random_id(rng)).collect();
        let team_times: Vec<DateTime<Utc>> = (0..teams)
            .map(|_| time_after(rng, self.t1, YEAR_MS / 8))
            .collect();
        let folder_ids: Vec<Uuid> = (0..d_count).map(|_| random_id(rng)).collect();
        let mut folders = Vec::with_capacity(teams + d_count);
        for t in 0..teams {
            folders.push(folder::ActiveModel {
                id: Set(team_ids[t]),
                name: Set(format!("Team {t:04}")),
                parent_id: Set(None),
                created_by: Set(Some(admin)),
                created_at: Set(team_times[t]),
                updated_at: Set(team_times[t]),
            });
            self.folder_grants.push(grant_row(
                rng,
                Kind::Folder,
                team_ids[t],
                Some(admin),
                None,
                Role::Admin,
                admin,
                team_times[t],
            ));
        }
        for d in 0..d_count {
            // The folder is made just before its dataset.
            let at = dataset_times[d] - chrono::Duration::milliseconds(rng.random_range(1..60_000));
            let creator = people.users[creators[d]];
            folders.push(folder::ActiveModel {
                id: Set(folder_ids[d]),
                name: Set(format!("dataset-{d:06}")),
                parent_id: Set(Some(team_ids[d / 100])),
                created_by: Set(Some(creator)),
                created_at: Set(at),
                updated_at: Set(at),
            });
            self.folder_grants.push(grant_row(
                rng,
                Kind::Folder,
                folder_ids[d],
                Some(creator),
                None,
                Role::Admin,
                creator,
                at,
            ));
        }
        self.write("folders", folders).await?;

        let datasets = (0..d_count).map(|d| {
            let subject = SUBJECTS[(d * 7 + d / 20) % SUBJECTS.len()];
            let media = MEDIA[d % MEDIA.len()];
            dataset::ActiveModel {
                id: Set(dataset_ids[d]),
                title: Set(format!("{subject} {media} {d:05}")),
                description: Set(format!("{subject} {media}, seeded dataset number {d}")),
                folder_id: Set(mirrored[d].then_some(folder_ids[d])),
                created_by: Set(Some(people.users[creators[d]])),
                created_at: Set(dataset_times[d]),
                updated_at: Set(dataset_times[d]),
            }
        });
        self.write("datasets", datasets).await?;
        Ok(Datasets {
            ids: dataset_ids,
            times: dataset_times,
            creators,
            folders: folder_ids,
            mirrored,
            big,
            heavy_project_sets,
            light_project_set,
        })
    }

    /// Ontologies, projects, their datasets and collaborators.
    pub(super) async fn projects(
        &mut self,
        people: &People,
        datasets: &Datasets,
    ) -> anyhow::Result<Projects> {
        let p_count = self.shape.projects;
        let d_count = self.shape.datasets;
        let sp = self.sp;
        let rng = &mut self.rng;
        let project_ids: Vec<Uuid> = (0..p_count).map(|_| random_id(rng)).collect();
        let ontology_ids: Vec<Uuid> = (0..p_count).map(|_| random_id(rng)).collect();
        let project_times: Vec<DateTime<Utc>> = (0..p_count)
            .map(|_| time_after(rng, self.t1 + chrono::Duration::days(200), YEAR_MS / 3))
            .collect();
        let owners: Vec<usize> = (0..p_count).map(|_| self.ordinary_user()).collect();
        let mut ontologies = Vec::with_capacity(p_count);
        let mut projects = Vec::with_capacity(p_count);
        let mut links: Vec<(usize, usize)> = Vec::new();
        let per_project = DATASETS_PER_PROJECT.min(d_count / 2);
        for p in 0..p_count {
            let owner = people.users[owners[p]];
            let at = project_times[p];
            let ontology_at =
                at - chrono::Duration::milliseconds(self.rng.random_range(1..3_600_000));
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
            self.grants
                .push(Grant::user(Kind::Ontology, p, owners[p], Role::Admin));
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
                datasets.heavy_project_sets[p].clone()
            } else if p == sp.heavy_projects {
                datasets.light_project_set.clone()
            } else {
                rand::seq::index::sample(&mut self.rng, d_count, per_project).into_vec()
            };
            for d in of_project {
                links.push((p, d));
            }
            self.grants
                .push(Grant::user(Kind::Project, p, owners[p], Role::Admin));
            let mut chosen = HashSet::from([owners[p]]);
            for slot in 1..USERS_PER_PROJECT {
                let (u, role) = match special_user {
                    Some(special) if slot == USERS_PER_PROJECT - 1 => special,
                    _ => loop {
                        let u = self.ordinary_user();
                        if chosen.insert(u) {
                            break (
                                u,
                                PROJECT_ROLES[self.rng.random_range(0..PROJECT_ROLES.len())],
                            );
                        }
                    },
                };
                self.grants.push(Grant::user(Kind::Project, p, u, role));
            }
            let group = self.ordinary_group();
            self.grants.push(Grant {
                kind: Kind::Project,
                resource: p,
                user: None,
                group: Some(group),
                role: Role::Annotator,
            });
        }
        self.write("ontologies", ontologies).await?;
        self.write("projects", projects).await?;
        let rng = &mut self.rng;
        let project_links: Vec<_> = links
            .iter()
            .map(|&(p, d)| project_dataset::ActiveModel {
                project_id: Set(project_ids[p]),
                dataset_id: Set(datasets.ids[d]),
                created_at: Set(time_after(rng, project_times[p], 3_600_000)),
            })
            .collect();
        self.write("project_datasets", project_links).await?;
        Ok(Projects {
            ids: project_ids,
            ontologies: ontology_ids,
            times: project_times,
            owners,
            links,
        })
    }

    /// Every planned grant: folders', datasets', ontologies' and projects'.
    pub(super) async fn role_grants(
        &mut self,
        people: &People,
        datasets: &Datasets,
        projects: &Projects,
    ) -> anyhow::Result<()> {
        let mut grant_rows = std::mem::take(&mut self.folder_grants);
        for g in &self.grants {
            let (resource_id, resource_at, creator) = match g.kind {
                Kind::Dataset => (
                    datasets.ids[g.resource],
                    datasets.times[g.resource],
                    datasets.creators[g.resource],
                ),
                Kind::Ontology => (
                    projects.ontologies[g.resource],
                    projects.times[g.resource] - chrono::Duration::hours(1),
                    projects.owners[g.resource],
                ),
                _ => (
                    projects.ids[g.resource],
                    projects.times[g.resource],
                    projects.owners[g.resource],
                ),
            };
            // The creator's own ADMIN comes with the resource; others follow.
            let own = g.user == Some(creator) && g.role == Role::Admin;
            let at = if own {
                resource_at
            } else {
                time_after(&mut self.rng, resource_at, YEAR_MS / 12)
            };
            grant_rows.push(grant_row(
                &mut self.rng,
                g.kind,
                resource_id,
                g.user.map(|u| people.users[u]),
                g.group.map(|x| people.groups[x]),
                g.role,
                people.users[creator],
                at,
            ));
        }
        self.write("role_grants", grant_rows).await
    }

    /// Files, spread over the datasets (the heavy user's big dataset gets a
    /// share of its own), registered in each dataset's folder.
    pub(super) async fn files(
        &mut self,
        people: &People,
        datasets: &Datasets,
    ) -> anyhow::Result<()> {
        let shape = self.shape;
        let d_count = shape.datasets;
        let big = datasets.big;
        let big_files = big_dataset_files(shape);
        let rest = shape.files - big_files;
        let weights: Vec<f64> = (0..d_count)
            .map(|d| {
                if d == big {
                    0.0
                } else {
                    self.rng.random_range(0.25..1.75)
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
            self.db,
            self.backend,
            &mut self.rng,
            shape,
            &Ids {
                users: &people.users,
                creators: &datasets.creators,
                datasets: &datasets.ids,
                dataset_times: &datasets.times,
                folders: &datasets.folders,
                mirrored: &datasets.mirrored,
                counts: &counts,
            },
        )
        .await?;
        self.rows.push(("files", files_n));
        self.rows.push(("dataset_files", links_n));
        Ok(())
    }

    /// What the standing-out users see, computed from the plan (not read
    /// back), so a test can compare it with what the server answers.
    pub(super) fn summary(
        self,
        policy: &Policy,
        people: &People,
        datasets: &Datasets,
        projects: &Projects,
        started: Instant,
    ) -> Summary {
        let view_dataset = policy.roles_allowing(Kind::Dataset, Action::View);
        let view_project = policy.roles_allowing(Kind::Project, Action::View);
        let inheriting = policy.inheriting_membership_roles();
        let sees = |who: usize| -> (usize, usize, usize) {
            let groups: HashSet<usize> = people
                .member_of
                .iter()
                .filter(|(_, u, role)| *u == who && inheriting.contains(role))
                .map(|(g, _, _)| *g)
                .collect();
            let holds =
                |g: &Grant| g.user == Some(who) || g.group.is_some_and(|x| groups.contains(&x));
            let mut visible: HashSet<usize> = self
                .grants
                .iter()
                .filter(|g| g.kind == Kind::Dataset && view_dataset.contains(&g.role) && holds(g))
                .map(|g| g.resource)
                .collect();
            let seen_projects: HashSet<usize> = self
                .grants
                .iter()
                .filter(|g| g.kind == Kind::Project && view_project.contains(&g.role) && holds(g))
                .map(|g| g.resource)
                .collect();
            let own = visible.len();
            visible.extend(
                projects
                    .links
                    .iter()
                    .filter(|(p, _)| seen_projects.contains(p))
                    .map(|(_, d)| *d),
            );
            (visible.len(), seen_projects.len(), own)
        };
        let (heavy_datasets, heavy_projects, heavy_dataset_roles) = sees(HEAVY);
        let (light_datasets, light_projects, _) = sees(LIGHT);
        let shape = self.shape;
        Summary {
            heavy_user: shape.heavy_user.clone(),
            light_user: shape.light_user.clone(),
            admin_user: shape.admin_user.clone(),
            heavy_datasets,
            light_datasets,
            heavy_projects,
            light_projects,
            big_dataset: datasets.ids[datasets.big],
            big_dataset_files: big_dataset_files(shape),
            heavy_project: projects.ids[0],
            heavy_admin_projects: self.sp.heavy_projects.min(HEAVY_ADMIN_PROJECTS),
            heavy_dataset_roles,
            rows: self.rows,
            elapsed: started.elapsed(),
        }
    }
}

/// Files of the heavy user's big dataset.
fn big_dataset_files(shape: &Shape) -> usize {
    (shape.files / 100).clamp(1, 10_000)
}

impl Grant {
    fn user(kind: Kind, resource: usize, user: usize, role: Role) -> Grant {
        Grant {
            kind,
            resource,
            user: Some(user),
            group: None,
            role,
        }
    }
}
