//! The policy engine: casbin decides which role allows which action; the
//! database decides who holds which role on what (see `service::access`).
//!
//! At start the enforcer is asked once for every (role, kind, action) the
//! product knows, and the answers become small role sets. Those sets serve
//! per-object checks and are compiled into the SQL filters of every list, so
//! changing `policy.csv` changes behaviour without touching Rust.

use std::collections::HashMap;
use std::path::Path;

use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};

/// The model and policy shipped with the binary (the files under `policies/`).
pub const BUILTIN_MODEL: &str = include_str!("../../policies/model.conf");
pub const BUILTIN_POLICY: &str = include_str!("../../policies/policy.csv");

/// The kinds of resource the policy speaks about (stored in grants and
/// audit events, hence defined with the entities).
pub use entity::enums::ResourceKind as Kind;
/// Roles, as stored; which apply to which kind is [`KindRules::roles`].
pub use entity::enums::Role;

/// What the policy knows of each kind: its roles and the actions asked about it.
pub trait KindRules {
    /// Roles that can be held on this kind, strongest first. `myRole`
    /// reports the first one a caller holds.
    fn roles(self) -> &'static [Role];
    /// Actions the product asks the policy about for this kind.
    fn actions(self) -> &'static [Action];
}

impl KindRules for Kind {
    fn roles(self) -> &'static [Role] {
        match self {
            Kind::Dataset | Kind::Ontology | Kind::Folder | Kind::Integration => {
                &[Role::Admin, Role::User]
            }
            Kind::Project => &[
                Role::Admin,
                Role::TeamManager,
                Role::AnnotatorReviewer,
                Role::Reviewer,
                Role::Annotator,
            ],
            Kind::Group => &[Role::Manager, Role::Member],
            Kind::Workspace => &[Role::Admin, Role::Member],
        }
    }

    fn actions(self) -> &'static [Action] {
        use Action::*;
        match self {
            Kind::Dataset => &[
                View,
                AttachToProject,
                AddData,
                AdjustSettings,
                Delete,
                GrantedOnJoin,
            ],
            Kind::Project => &[
                View,
                Annotate,
                Review,
                ManageCollaborators,
                ManageAdmins,
                AdjustSettings,
                AttachDataset,
                SetOntology,
                Delete,
            ],
            Kind::Ontology => &[View, Use, Edit, ManageCollaborators, Delete],
            Kind::Folder => &[View, AddFiles, Edit, ManageCollaborators, Delete],
            Kind::Integration => &[View, Use, Edit, ManageCollaborators, Delete],
            Kind::Group => &[InheritGrants, ManageMembers],
            Kind::Workspace => &[
                ViewDirectory,
                CreateResources,
                ListAllDatasets,
                JoinDataset,
                ManageGroups,
                ManageUsers,
                ViewAuditLog,
                ManageIntegrations,
            ],
        }
    }
}

/// Everything a role can be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    View,
    AttachToProject,
    AddData,
    AdjustSettings,
    Delete,
    GrantedOnJoin,
    Annotate,
    Review,
    ManageCollaborators,
    ManageAdmins,
    AttachDataset,
    SetOntology,
    Use,
    Edit,
    AddFiles,
    InheritGrants,
    ManageMembers,
    ViewDirectory,
    CreateResources,
    ListAllDatasets,
    JoinDataset,
    ManageGroups,
    ManageUsers,
    ViewAuditLog,
    ManageIntegrations,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        use Action::*;
        match self {
            View => "view",
            AttachToProject => "attach_to_project",
            AddData => "add_data",
            AdjustSettings => "adjust_settings",
            Delete => "delete",
            GrantedOnJoin => "granted_on_join",
            Annotate => "annotate",
            Review => "review",
            ManageCollaborators => "manage_collaborators",
            ManageAdmins => "manage_admins",
            AttachDataset => "attach_dataset",
            SetOntology => "set_ontology",
            Use => "use",
            Edit => "edit",
            AddFiles => "add_files",
            InheritGrants => "inherit_grants",
            ManageMembers => "manage_members",
            ViewDirectory => "view_directory",
            CreateResources => "create_resources",
            ListAllDatasets => "list_all_datasets",
            JoinDataset => "join_dataset",
            ManageGroups => "manage_groups",
            ManageUsers => "manage_users",
            ViewAuditLog => "view_audit_log",
            ManageIntegrations => "manage_integrations",
        }
    }

    /// Words used in error messages ("you are not allowed to …").
    pub fn describe(self) -> &'static str {
        use Action::*;
        match self {
            View => "view this resource",
            AttachToProject => "attach this dataset to a project",
            AddData => "add data to this dataset",
            AdjustSettings => "adjust the settings of this resource",
            Delete => "delete this resource",
            GrantedOnJoin => "join this dataset",
            Annotate => "annotate in this project",
            Review => "review in this project",
            ManageCollaborators => "manage the collaborators of this resource",
            ManageAdmins => "grant or revoke the ADMIN role",
            AttachDataset => "attach datasets to this project",
            SetOntology => "set the ontology of this project",
            Use => "use this ontology in a project",
            Edit => "edit this resource",
            AddFiles => "add files to this folder",
            InheritGrants => "inherit the grants of this group",
            ManageMembers => "manage the members of this group",
            ViewDirectory => "view the workspace directory",
            CreateResources => "create resources in this workspace",
            ListAllDatasets => "list every dataset of the workspace",
            JoinDataset => "join datasets",
            ManageGroups => "manage groups",
            ManageUsers => "manage users",
            ViewAuditLog => "view the audit log",
            ManageIntegrations => "manage every storage integration",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid policy: {0}")]
    Casbin(#[from] casbin::Error),
}

/// The compiled policy: for every (kind, action), the roles that allow it.
#[derive(Debug, Clone)]
pub struct Policy {
    allowed: HashMap<(Kind, Action), Vec<Role>>,
}

impl Policy {
    /// Loads `model.conf` and `policy.csv` from `dir`, or the built-in copies.
    pub async fn load(dir: Option<&Path>) -> Result<Policy, PolicyError> {
        let (model, policy) = match dir {
            Some(dir) => (
                read(&dir.join("model.conf")).await?,
                read(&dir.join("policy.csv")).await?,
            ),
            None => (BUILTIN_MODEL.to_owned(), BUILTIN_POLICY.to_owned()),
        };
        let enforcer = enforcer(&model, &policy).await?;
        let mut allowed = HashMap::new();
        for &kind in Kind::ALL {
            for &action in kind.actions() {
                let mut roles = Vec::new();
                for &role in kind.roles() {
                    if enforcer.enforce((role.as_str(), kind.as_str(), action.as_str()))? {
                        roles.push(role);
                    }
                }
                allowed.insert((kind, action), roles);
            }
        }
        Ok(Policy { allowed })
    }

    /// The roles on `kind` that allow `action`, strongest first.
    pub fn roles_allowing(&self, kind: Kind, action: Action) -> &[Role] {
        self.allowed
            .get(&(kind, action))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn allows(&self, kind: Kind, role: Role, action: Action) -> bool {
        self.roles_allowing(kind, action).contains(&role)
    }

    /// Does any of `roles` allow `action`?
    pub fn any_allows(&self, kind: Kind, roles: &[Role], action: Action) -> bool {
        roles.iter().any(|&r| self.allows(kind, r, action))
    }

    /// Membership roles through which a group's grants reach a user.
    pub fn inheriting_membership_roles(&self) -> &[Role] {
        self.roles_allowing(Kind::Group, Action::InheritGrants)
    }

    /// The dataset role a workspace ADMIN receives by joining a dataset.
    pub fn join_role(&self) -> Option<Role> {
        self.roles_allowing(Kind::Dataset, Action::GrantedOnJoin)
            .first()
            .copied()
    }

    /// The strongest of `roles` on `kind`, in the kind's ranking.
    pub fn strongest(kind: Kind, roles: &[Role]) -> Option<Role> {
        kind.roles().iter().find(|r| roles.contains(r)).copied()
    }
}

/// Builds a casbin enforcer from model and policy text, as the server does.
pub async fn enforcer(model: &str, policy: &str) -> Result<Enforcer, PolicyError> {
    let model = DefaultModel::from_str(model).await?;
    // The string adapter reads one policy line per line; comments and blank
    // lines are for people.
    let lines: Vec<&str> = policy
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let adapter = StringAdapter::new(lines.join("\n"));
    Ok(Enforcer::new(model, adapter).await?)
}

async fn read(path: &Path) -> Result<String, PolicyError> {
    tokio::fs::read_to_string(path)
        .await
        .map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })
}
