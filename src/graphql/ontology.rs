//! Ontologies.

use async_graphql::{Context, Enum, InputObject, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::ontology;

use super::collaborators::{self, Collaborator};
use super::loaders::UserField;
use super::project::Project;
use super::resource::Guarded;
use super::user::User;
use super::{connection, global_id, hidden, loaders, or_null, parse_id, scope};
use crate::error::AppError;
use crate::policy::{Action, Kind, Role};
use crate::service::ontologies;

/// The objects and classifications annotators label with; serves many projects.
pub type Ontology = Guarded<ontology::Entity>;

/// A role on an ontology.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OntologyRole {
    /// Views, edits, shares and deletes the ontology.
    Admin,
    /// Views the ontology and uses it in projects.
    User,
}

crate::stored_as!(OntologyRole => Role { Admin => Admin, User => User });

/// What the caller may do with an ontology.
#[derive(SimpleObject)]
pub struct OntologyPermissions {
    /// See the ontology.
    pub view: bool,
    /// Use the ontology in a project.
    pub r#use: bool,
    /// Change title, description and structure.
    pub edit: bool,
    /// Add and remove collaborators.
    pub manage_collaborators: bool,
    /// Delete the ontology (when no project uses it).
    pub delete: bool,
}

#[Object]
impl Ontology {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::ontology::Entity>(self.model.id)
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// Free text.
    async fn description(&self) -> &str {
        &self.model.description
    }
    /// `{ objects: [{ name, shape }], classifications: [{ name, type, options }] }`.
    /// Null with NOT_FOUND unless the caller may view the ontology; null, with
    /// an error on this field alone, when the stored structure cannot be read
    /// (`updateOntology` replaces it).
    async fn structure(&self, ctx: &Context<'_>) -> Result<Option<Json<&serde_json::Value>>> {
        if !self.shows_contents(ctx).await? {
            return hidden(ctx, "ontology contents", None);
        }
        match self.model.structure.value() {
            Ok(value) => Ok(Some(Json(value))),
            Err(reason) => Err(AppError::internal(format!(
                "ontology {}: the stored structure cannot be read: {reason}",
                self.model.id
            ))
            .into()),
        }
    }
    /// When the ontology was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When the ontology was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Who created the ontology.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .user(UserField::OntologyCreator, self.model.created_by)
            .await?
            .map(User))
    }
    /// Projects using the ontology that the caller may see (empty with
    /// NOT_FOUND unless the caller may view the ontology).
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<Project>> {
        if !self.shows_contents(ctx).await? {
            return hidden(ctx, "ontology contents", Vec::new());
        }
        let found = loaders(ctx)?
            .ontology_projects
            .load_one(self.model.id)
            .await?;
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(Project::viewable)
            .collect())
    }
    /// Users and groups holding a role on the ontology.
    async fn collaborators(&self, ctx: &Context<'_>) -> Result<Vec<Collaborator<OntologyRole>>> {
        Ok(collaborators::list(ctx, Kind::Ontology, self.model.id).await?)
    }
    /// The caller's own role (null when they see it only through a project).
    async fn my_role(&self, ctx: &Context<'_>) -> Result<Option<OntologyRole>> {
        Ok(self
            .access(ctx)
            .await?
            .my_role()
            .and_then(|r| r.try_into().ok()))
    }
    /// What the caller may do with the ontology.
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<OntologyPermissions> {
        let (svc, _) = scope(ctx)?;
        let access = self.access(ctx).await?;
        let can = |a| access.can(&svc.policy, a);
        Ok(OntologyPermissions {
            view: can(Action::View),
            r#use: can(Action::Use),
            edit: can(Action::Edit),
            manage_collaborators: can(Action::ManageCollaborators),
            delete: can(Action::Delete),
        })
    }
}

#[derive(Default)]
pub struct OntologyQuery;

crate::query_object! {
    impl OntologyQuery {
        paged {
            /// Ontologies the caller may see: through an ontology role or a project using it.
            fn ontologies(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in the title.")] search: Option<String>,
                ..page,
            ) -> Ontology {
                let (svc, caller) = scope(ctx)?;
                let page = ontologies::list(
                    svc,
                    caller,
                    search.as_deref(),
                    page,
                )
                .await?;
                Ok(connection(page, Ontology::viewable))
            }
        }

        /// One ontology; null with NOT_FOUND when missing or not visible.
        async fn ontology(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Ontology>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                Ontology::load(svc, caller, id).await
            };
            or_null(ctx, result.await)
        }
    }
}

/// Creates an ontology; the caller becomes its ADMIN.
#[derive(InputObject)]
pub struct CreateOntologyInput {
    /// Title.
    pub title: String,
    /// Free text.
    pub description: Option<String>,
    /// `{ objects: [{ name, shape }], classifications: [{ name, type, options }] }`;
    /// shapes: bounding_box, rotatable_bounding_box, polygon, polyline, point,
    /// bitmask, skeleton; types: radio, checklist, text.
    pub structure: Json<serde_json::Value>,
}

/// Changes an ontology.
#[derive(InputObject)]
pub struct UpdateOntologyInput {
    /// The ontology.
    pub id: ID,
    /// New title, when given.
    pub title: Option<String>,
    /// New description, when given.
    pub description: Option<String>,
    /// New structure, when given.
    pub structure: Option<Json<serde_json::Value>>,
}

/// Deletes an ontology no project uses.
#[derive(InputObject)]
pub struct DeleteOntologyInput {
    /// The ontology.
    pub id: ID,
}

#[derive(Default)]
pub struct OntologyMutation;

#[Object]
impl OntologyMutation {
    /// Creates an ontology; the caller becomes its ADMIN.
    async fn create_ontology(
        &self,
        ctx: &Context<'_>,
        input: CreateOntologyInput,
    ) -> Result<Ontology> {
        let (svc, caller) = scope(ctx)?;
        let model = ontologies::create(
            svc,
            caller,
            &input.title,
            input.description.as_deref(),
            &input.structure.0,
        )
        .await?;
        Ok(Ontology::new(model))
    }

    /// Changes an ontology (ontology ADMIN).
    async fn update_ontology(
        &self,
        ctx: &Context<'_>,
        input: UpdateOntologyInput,
    ) -> Result<Ontology> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        let structure = input.structure.as_ref().map(|s| &s.0);
        let model = ontologies::update(
            svc,
            caller,
            id,
            input.title.as_deref(),
            input.description.as_deref(),
            structure,
        )
        .await?;
        Ok(Ontology::new(model))
    }

    /// Deletes an ontology (ontology ADMIN; CONFLICT while a project uses it).
    async fn delete_ontology(&self, ctx: &Context<'_>, input: DeleteOntologyInput) -> Result<ID> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(global_id::<entity::ontology::Entity>(
            ontologies::delete(svc, caller, id).await?,
        ))
    }
}

crate::collaborator_mutations! {
    mutation: OntologyCollaboratorMutation,
    resource: Ontology,
    role: OntologyRole,
    noun: "ontology" ("an ontology"),
    id_field: ontology_id("ontologyId"),
    add: AddOntologyCollaboratorsInput => add_ontology_collaborators,
    set: SetOntologyCollaboratorRoleInput => set_ontology_collaborator_role,
    remove: RemoveOntologyCollaboratorInput => remove_ontology_collaborator,
}
