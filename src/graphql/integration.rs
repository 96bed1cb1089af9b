//! Cloud storage integrations: named connections to S3, GCS, Azure, HTTP(S)
//! or a local root folder. Credentials are write-only: no field returns them.

use async_graphql::{
    Context, Enum, InputObject, Json, MaybeUndefined, Object, Result, SimpleObject, ID,
};
use chrono::{DateTime, Utc};
use entity::integration;

use super::collaborators::{self, Collaborator};
use super::loaders::UserField;
use super::resource::Guarded;
use super::user::User;
use super::{connection, global_id, loaders, or_null, parse_id, scope};
use crate::error::AppError;
use crate::policy::{Action, Kind, Role};
use crate::service::integrations::{self, CredentialsChange};
use crate::storage::Provider;

/// Where an integration's objects live.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum StorageProvider {
    /// Amazon S3 or an S3-compatible endpoint (MinIO, Ceph, R2…).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Blob Storage.
    Azure,
    /// Files served over HTTP(S) under a base URL.
    Http,
    /// A folder on the server's file system (on-premise), under a root the
    /// operator allowed.
    Local,
}

crate::stored_as!(StorageProvider => Provider {
    S3 => S3,
    Gcs => Gcs,
    Azure => Azure,
    Http => Http,
    Local => Local,
});

/// A role on an integration.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum IntegrationRole {
    /// Uses, edits, shares and deletes the integration.
    Admin,
    /// Sees the integration and imports through it.
    User,
}

crate::stored_as!(IntegrationRole => Role { Admin => Admin, User => User });

/// What the caller may do with an integration.
#[derive(SimpleObject)]
pub struct IntegrationPermissions {
    /// See the integration and its settings (never its credentials).
    pub view: bool,
    /// Import data and test the connection through it.
    #[graphql(name = "use")]
    pub r#use: bool,
    /// Change title, settings and credentials.
    pub edit: bool,
    /// Add and remove collaborators.
    pub manage_collaborators: bool,
    /// Delete it.
    pub delete: bool,
}

/// A named connection to private storage. Its credentials are write-only.
pub type Integration = Guarded<integration::Entity>;

#[Object]
impl Integration {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::integration::Entity>(self.model.id)
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// Where the objects live.
    async fn provider(&self) -> Result<StorageProvider> {
        Ok(StorageProvider::try_from(self.model.provider)
            .map_err(|_| AppError::internal("integration with an unknown provider"))?)
    }
    /// The non-secret settings (bucket, region, endpoint, prefix, base URL,
    /// root…), as stored after validation.
    async fn config(&self) -> Json<&serde_json::Value> {
        Json(&self.model.config)
    }
    /// Whether credentials are stored. They are never returned.
    async fn has_credentials(&self) -> bool {
        self.model.credentials.is_some()
    }
    /// When the integration was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When it was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Who created it.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .user(UserField::IntegrationCreator, self.model.created_by)
            .await?
            .map(User))
    }
    /// The caller's own strongest role (null for a workspace ADMIN managing
    /// it without one).
    async fn my_role(&self, ctx: &Context<'_>) -> Result<Option<IntegrationRole>> {
        Ok(self
            .access(ctx)
            .await?
            .my_role()
            .and_then(|r| r.try_into().ok()))
    }
    /// What the caller may do with it.
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<IntegrationPermissions> {
        let (svc, _) = scope(ctx)?;
        let access = self.access(ctx).await?;
        let can = |a| access.can(&svc.policy, a);
        Ok(IntegrationPermissions {
            view: can(Action::View),
            r#use: can(Action::Use),
            edit: can(Action::Edit),
            manage_collaborators: can(Action::ManageCollaborators),
            delete: can(Action::Delete),
        })
    }
    /// Users and groups holding a role on it.
    async fn collaborators(&self, ctx: &Context<'_>) -> Result<Vec<Collaborator<IntegrationRole>>> {
        Ok(collaborators::list(ctx, Kind::Integration, self.model.id).await?)
    }
}

/// The outcome of `testIntegration`.
#[derive(SimpleObject)]
pub struct IntegrationTestResult {
    /// True when the storage answered as expected.
    pub ok: bool,
    /// What was checked, or why it failed (never a credential).
    pub message: String,
}

#[derive(Default)]
pub struct IntegrationQuery;

crate::query_object! {
    impl IntegrationQuery {
        paged {
            /// Integrations the caller holds a role on (workspace ADMINs: all).
            fn integrations(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in the title.")] search: Option<String>,
                ..page,
            ) -> Integration {
                let (svc, caller) = scope(ctx)?;
                let page = integrations::list(
                    svc,
                    caller,
                    search.as_deref(),
                    page,
                )
                .await?;
                Ok(connection(page, Integration::viewable))
            }
        }

        /// One integration; null with NOT_FOUND when missing or not visible.
        async fn integration(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Integration>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                Integration::load(svc, caller, id).await
            };
            or_null(ctx, result.await)
        }
    }
}

/// Creates an integration; the caller becomes its ADMIN.
#[derive(InputObject)]
pub struct CreateIntegrationInput {
    /// Title.
    pub title: String,
    /// Where the objects live.
    pub provider: StorageProvider,
    /// Non-secret settings. S3: `bucket`, `region`, `endpoint`, `prefix`,
    /// `allowHttp`, `virtualHostedStyle`; GCS: `bucket`, `prefix`; AZURE:
    /// `account`, `container`, `endpoint`, `prefix`, `allowHttp`; HTTP:
    /// `baseUrl`, `allowHttp`; LOCAL: `root`.
    pub config: Json<serde_json::Value>,
    /// Secrets, write-only. S3: `accessKeyId`, `secretAccessKey`,
    /// `sessionToken`; GCS: `serviceAccountKey`; AZURE: `accessKey`, or
    /// `sasToken`, or `clientId` + `clientSecret` + `tenantId`; HTTP:
    /// `bearerToken`, `headers`; LOCAL: none. Without: anonymous access.
    pub credentials: Option<Json<serde_json::Value>>,
}

/// Changes an integration; the provider stays.
#[derive(InputObject)]
pub struct UpdateIntegrationInput {
    /// The integration.
    pub id: ID,
    /// A new title.
    pub title: Option<String>,
    /// New settings, replacing the old ones entirely.
    pub config: Option<Json<serde_json::Value>>,
    /// New credentials, replacing the old ones entirely; null removes them;
    /// left out keeps them.
    pub credentials: MaybeUndefined<Json<serde_json::Value>>,
}

/// Deletes an integration.
#[derive(InputObject)]
pub struct DeleteIntegrationInput {
    /// The integration.
    pub id: ID,
}

/// Checks an integration reaches its storage.
#[derive(InputObject)]
pub struct TestIntegrationInput {
    /// The integration.
    pub id: ID,
    /// An object to look for (its headers only); without, a page of the
    /// prefix is listed (HTTP: the base URL is asked for its headers).
    pub object_url: Option<String>,
}

#[derive(Default)]
pub struct IntegrationMutation;

#[Object]
impl IntegrationMutation {
    /// Creates a storage integration; the caller becomes its ADMIN.
    async fn create_integration(
        &self,
        ctx: &Context<'_>,
        input: CreateIntegrationInput,
    ) -> Result<Integration> {
        let (svc, caller) = scope(ctx)?;
        let created = integrations::create(
            svc,
            caller,
            &input.title,
            input.provider.into(),
            &input.config.0,
            input.credentials.as_ref().map(|c| &c.0),
        )
        .await?;
        Ok(Integration::new(created))
    }

    /// Changes title, settings or credentials (integration ADMIN).
    async fn update_integration(
        &self,
        ctx: &Context<'_>,
        input: UpdateIntegrationInput,
    ) -> Result<Integration> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        let credentials = match input.credentials {
            MaybeUndefined::Undefined => CredentialsChange::Keep,
            MaybeUndefined::Null => CredentialsChange::Clear,
            MaybeUndefined::Value(value) => CredentialsChange::Replace(value.0),
        };
        let updated = integrations::update(
            svc,
            caller,
            id,
            input.title.as_deref(),
            input.config.as_ref().map(|c| &c.0),
            credentials,
        )
        .await?;
        Ok(Integration::new(updated))
    }

    /// Deletes an integration (integration ADMIN; CONFLICT while files
    /// registered through it refer to it).
    async fn delete_integration(
        &self,
        ctx: &Context<'_>,
        input: DeleteIntegrationInput,
    ) -> Result<ID> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(global_id::<entity::integration::Entity>(
            integrations::delete(svc, caller, id).await?,
        ))
    }

    /// Checks the integration reaches its storage (integration USER). A
    /// failure is reported in the result, not as an error.
    async fn test_integration(
        &self,
        ctx: &Context<'_>,
        input: TestIntegrationInput,
    ) -> Result<IntegrationTestResult> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        let result =
            integrations::test_connection(svc, caller, id, input.object_url.as_deref()).await?;
        Ok(IntegrationTestResult {
            ok: result.ok,
            message: result.message,
        })
    }
}

crate::collaborator_mutations! {
    mutation: IntegrationCollaboratorMutation,
    resource: Integration,
    role: IntegrationRole,
    noun: "integration" ("an integration"),
    id_field: integration_id("integrationId"),
    add: AddIntegrationCollaboratorsInput => add_integration_collaborators,
    set: SetIntegrationCollaboratorRoleInput => set_integration_collaborator_role,
    remove: RemoveIntegrationCollaboratorInput => remove_integration_collaborator,
}
