//! Projects.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::project;

use super::collaborators::{self, Collaborator};
use super::dataset::Dataset;
use super::loaders::UserField;
use super::ontology::Ontology;
use super::resource::Guarded;
use super::user::User;
use super::{connection, global_id, loaders, or_null, parse_id, parse_ids, scope};
use crate::error::AppError;
use crate::policy::{Action, Kind, Role};
use crate::service::projects;

/// Annotation work over many datasets with exactly one ontology.
pub type Project = Guarded<project::Entity>;

/// A role on a project.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ProjectRole {
    /// Everything, including settings, datasets, ontology, ADMIN grants and deletion.
    Admin,
    /// Annotates, reviews and manages collaborators below ADMIN.
    TeamManager,
    /// Reviews.
    Reviewer,
    /// Annotates.
    Annotator,
    /// Annotates and reviews.
    AnnotatorReviewer,
}

crate::stored_as!(ProjectRole => Role {
    Admin => Admin,
    TeamManager => TeamManager,
    Reviewer => Reviewer,
    Annotator => Annotator,
    AnnotatorReviewer => AnnotatorReviewer,
});

/// What the caller may do with a project, for front ends to render from.
#[derive(SimpleObject)]
pub struct ProjectPermissions {
    /// See the project, its ontology, datasets and their files.
    pub view: bool,
    /// Annotate the project's data.
    pub annotate: bool,
    /// Review annotations.
    pub review: bool,
    /// Add and remove collaborators below ADMIN.
    pub manage_collaborators: bool,
    /// Grant or revoke the ADMIN role.
    pub manage_admins: bool,
    /// Change title and description.
    pub adjust_settings: bool,
    /// Attach and detach datasets.
    pub attach_datasets: bool,
    /// Set the ontology.
    pub set_ontology: bool,
    /// Delete the project.
    pub delete: bool,
}

#[Object]
impl Project {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::project::Entity>(self.model.id)
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// Free text.
    async fn description(&self) -> &str {
        &self.model.description
    }
    /// When the project was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When the project was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Who created the project.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .user(UserField::ProjectOwner, self.model.owner_id)
            .await?
            .map(User))
    }
    /// The project's one ontology (every collaborator may view it).
    async fn ontology(&self, ctx: &Context<'_>) -> Result<Ontology> {
        let found = loaders(ctx)?
            .ontologies
            .load_one(self.model.ontology_id)
            .await?;
        // The loader reads the ontologies the caller may view.
        Ok(Ontology::viewable(
            found.ok_or_else(|| AppError::not_found("ontology"))?,
        ))
    }
    /// The project's datasets (every collaborator may view them, read-only).
    async fn datasets(&self, ctx: &Context<'_>) -> Result<Vec<Dataset>> {
        let found = loaders(ctx)?
            .project_datasets
            .load_one(self.model.id)
            .await?;
        // The loader reads the datasets the caller may view.
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(Dataset::viewable)
            .collect())
    }
    /// Users and groups holding a role on the project.
    async fn collaborators(&self, ctx: &Context<'_>) -> Result<Vec<Collaborator<ProjectRole>>> {
        Ok(collaborators::list(ctx, Kind::Project, self.model.id).await?)
    }
    /// The caller's strongest role on the project.
    async fn my_role(&self, ctx: &Context<'_>) -> Result<Option<ProjectRole>> {
        Ok(self
            .access(ctx)
            .await?
            .my_role()
            .and_then(|r| r.try_into().ok()))
    }
    /// What the caller may do with the project.
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<ProjectPermissions> {
        let (svc, _) = scope(ctx)?;
        let access = self.access(ctx).await?;
        let can = |a| access.can(&svc.policy, a);
        Ok(ProjectPermissions {
            view: can(Action::View),
            annotate: can(Action::Annotate),
            review: can(Action::Review),
            manage_collaborators: can(Action::ManageCollaborators),
            manage_admins: can(Action::ManageAdmins),
            adjust_settings: can(Action::AdjustSettings),
            attach_datasets: can(Action::AttachDataset),
            set_ontology: can(Action::SetOntology),
            delete: can(Action::Delete),
        })
    }
}

#[derive(Default)]
pub struct ProjectQuery;

crate::query_object! {
    impl ProjectQuery {
        paged {
            /// Projects the caller collaborates on.
            fn projects(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in the title.")] search: Option<String>,
                ..page,
                #[graphql(
                    desc = "Only projects on which the caller holds one of these roles (directly or through a group)."
                )]
                my_role: Option<Vec<ProjectRole>>,
            ) -> Project {
                let (svc, caller) = scope(ctx)?;
                let my_role: Option<Vec<Role>> =
                    my_role.map(|roles| roles.into_iter().map(Role::from).collect());
                let page = projects::list(
                    svc,
                    caller,
                    search.as_deref(),
                    my_role.as_deref(),
                    page,
                )
                .await?;
                Ok(connection(page, Project::viewable))
            }
        }

        /// One project; null with NOT_FOUND when missing or not visible.
        async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                Project::load(svc, caller, id).await
            };
            or_null(ctx, result.await)
        }
    }
}

/// Creates a project; the caller becomes its ADMIN.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// Title.
    pub title: String,
    /// Free text.
    pub description: Option<String>,
    /// The ontology (the caller needs a role on it).
    pub ontology_id: ID,
    /// Datasets to attach (the caller needs a dataset role on each).
    #[graphql(default)]
    pub dataset_ids: Vec<ID>,
}

/// Changes a project's title or description.
#[derive(InputObject)]
pub struct UpdateProjectInput {
    /// The project.
    pub id: ID,
    /// New title, when given.
    pub title: Option<String>,
    /// New description, when given.
    pub description: Option<String>,
}

/// Replaces a project's ontology.
#[derive(InputObject)]
pub struct SetProjectOntologyInput {
    /// The project.
    pub project_id: ID,
    /// The ontology (the caller needs a role on it).
    pub ontology_id: ID,
}

/// Attaches a dataset to a project, or detaches it.
#[derive(InputObject)]
pub struct ProjectDatasetInput {
    /// The project (the caller must administer it).
    pub project_id: ID,
    /// The dataset (the caller needs a dataset role of their own on it).
    pub dataset_id: ID,
}

/// Deletes a project (its datasets and ontology stay).
#[derive(InputObject)]
pub struct DeleteProjectInput {
    /// The project.
    pub id: ID,
}

#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Creates a project with one ontology and any datasets.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> Result<Project> {
        let (svc, caller) = scope(ctx)?;
        let ontology = parse_id(&input.ontology_id, "ontologyId")?;
        let datasets = parse_ids(&input.dataset_ids, "datasetIds")?;
        let model = projects::create(
            svc,
            caller,
            &input.title,
            input.description.as_deref(),
            ontology,
            &datasets,
        )
        .await?;
        Ok(Project::new(model))
    }

    /// Changes a project's title or description (project ADMIN).
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        input: UpdateProjectInput,
    ) -> Result<Project> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(Project::new(
            projects::update(
                svc,
                caller,
                id,
                input.title.as_deref(),
                input.description.as_deref(),
            )
            .await?,
        ))
    }

    /// Replaces a project's ontology (project ADMIN with a role on the ontology).
    async fn set_project_ontology(
        &self,
        ctx: &Context<'_>,
        input: SetProjectOntologyInput,
    ) -> Result<Project> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.project_id, "projectId")?;
        let ontology = parse_id(&input.ontology_id, "ontologyId")?;
        Ok(Project::new(
            projects::set_ontology(svc, caller, id, ontology).await?,
        ))
    }

    /// Attaches a dataset (empty ones too) to a project.
    async fn attach_dataset_to_project(
        &self,
        ctx: &Context<'_>,
        input: ProjectDatasetInput,
    ) -> Result<Project> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.project_id, "projectId")?;
        let dataset = parse_id(&input.dataset_id, "datasetId")?;
        Ok(Project::new(
            projects::attach_dataset(svc, caller, id, dataset).await?,
        ))
    }

    /// Detaches a dataset from a project.
    async fn detach_dataset_from_project(
        &self,
        ctx: &Context<'_>,
        input: ProjectDatasetInput,
    ) -> Result<Project> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.project_id, "projectId")?;
        let dataset = parse_id(&input.dataset_id, "datasetId")?;
        Ok(Project::new(
            projects::detach_dataset(svc, caller, id, dataset).await?,
        ))
    }

    /// Deletes a project (project ADMIN).
    async fn delete_project(&self, ctx: &Context<'_>, input: DeleteProjectInput) -> Result<ID> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(global_id::<entity::project::Entity>(
            projects::delete(svc, caller, id).await?,
        ))
    }
}

crate::collaborator_mutations! {
    mutation: ProjectCollaboratorMutation,
    resource: Project,
    role: ProjectRole,
    noun: "project" ("a project"),
    id_field: project_id("projectId"),
    add: AddProjectCollaboratorsInput => add_project_collaborators,
    set: SetProjectCollaboratorRoleInput => set_project_collaborator_role,
    remove: RemoveProjectCollaboratorInput => remove_project_collaborator,
}
