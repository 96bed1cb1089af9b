//! Folders and file registration.

use async_graphql::{Context, Enum, InputObject, Json, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::folder;

use super::collaborators::{self, Collaborator};
use super::file::{File, FileKind};
use super::resource::Guarded;
use super::{
    connection, empty_connection, global_id, hidden, loaders, or_null, page_args, parse_id, scope,
    Conn,
};
use crate::policy::{Action, Kind, Role};
use crate::service::files::NewFile;
use crate::service::files::{FileFilter, FileParent};
use crate::service::{files, folders};

/// A folder of the workspace's storage; files live in folders.
pub type Folder = Guarded<folder::Entity>;

/// A role on a folder.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum FolderRole {
    /// Adds files and folders, renames, shares and deletes the folder.
    Admin,
    /// Sees the folder and its files.
    User,
}

crate::stored_as!(FolderRole => Role { Admin => Admin, User => User });

/// What the caller may do with a folder.
#[derive(SimpleObject)]
pub struct FolderPermissions {
    /// See the folder and its files.
    pub view: bool,
    /// Register files and create folders inside it.
    pub add_files: bool,
    /// Rename it.
    pub edit: bool,
    /// Add and remove collaborators.
    pub manage_collaborators: bool,
    /// Delete it (when empty).
    pub delete: bool,
}

#[Object]
impl Folder {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::folder::Entity>(self.model.id)
    }
    /// Name, unique among its siblings.
    async fn name(&self) -> &str {
        &self.model.name
    }
    /// The parent folder, when there is one and the caller may see it.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Folder>> {
        let Some(parent) = self.model.parent_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?
            .folders
            .load_one(parent)
            .await?
            .map(Folder::viewable))
    }
    /// When the folder was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// The folder's files, oldest first (empty with NOT_FOUND unless the
    /// caller may view the folder).
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn files(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size (default 20, at most 100).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only files of this kind.")] kind: Option<FileKind>,
        #[graphql(desc = "Case-insensitive text to find in the title.")] search: Option<String>,
    ) -> Result<Conn<File>> {
        if !self.shows_contents(ctx).await? {
            return hidden(ctx, "folder contents", empty_connection());
        }
        let filter = FileFilter {
            kind: kind.map(Into::into),
            search,
        };
        let page = loaders(ctx)?
            .files(
                FileParent::Folder(self.model.id),
                page_args(first, after)?,
                filter,
                File::columns(ctx),
            )
            .await?;
        Ok(connection(page, File))
    }
    /// Users and groups holding a role on the folder.
    async fn collaborators(&self, ctx: &Context<'_>) -> Result<Vec<Collaborator<FolderRole>>> {
        Ok(collaborators::list(ctx, Kind::Folder, self.model.id).await?)
    }
    /// The caller's strongest role on the folder.
    async fn my_role(&self, ctx: &Context<'_>) -> Result<Option<FolderRole>> {
        Ok(self
            .access(ctx)
            .await?
            .my_role()
            .and_then(|r| r.try_into().ok()))
    }
    /// What the caller may do with the folder.
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<FolderPermissions> {
        let (svc, _) = scope(ctx)?;
        let access = self.access(ctx).await?;
        let can = |a| access.can(&svc.policy, a);
        Ok(FolderPermissions {
            view: can(Action::View),
            add_files: can(Action::AddFiles),
            edit: can(Action::Edit),
            manage_collaborators: can(Action::ManageCollaborators),
            delete: can(Action::Delete),
        })
    }
}

#[derive(Default)]
pub struct FolderQuery;

crate::query_object! {
    impl FolderQuery {
        paged {
            /// Folders the caller holds a role on.
            fn folders(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in the name.")] search: Option<String>,
                ..page,
            ) -> Folder {
                let (svc, caller) = scope(ctx)?;
                let page = folders::list(
                    svc,
                    caller,
                    search.as_deref(),
                    page,
                )
                .await?;
                Ok(connection(page, Folder::viewable))
            }
        }

        /// One folder; null with NOT_FOUND when missing or not visible.
        async fn folder(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Folder>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                Folder::load(svc, caller, id).await
            };
            or_null(ctx, result.await)
        }

        /// One file; null with NOT_FOUND when missing or not visible.
        async fn file(&self, ctx: &Context<'_>, id: ID) -> Result<Option<File>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                files::get(svc, caller, id).await.map(File)
            };
            or_null(ctx, result.await)
        }
    }
}

/// Creates a folder; the caller becomes its ADMIN.
#[derive(InputObject)]
pub struct CreateFolderInput {
    /// Name, unique among its siblings, without '/'.
    pub name: String,
    /// The parent folder (the caller must administer it); none for a top-level folder.
    pub parent_id: Option<ID>,
}

/// Renames a folder.
#[derive(InputObject)]
pub struct UpdateFolderInput {
    /// The folder.
    pub id: ID,
    /// The new name.
    pub name: String,
}

/// Deletes an empty folder.
#[derive(InputObject)]
pub struct DeleteFolderInput {
    /// The folder.
    pub id: ID,
}

/// An object in storage to register as a file.
#[derive(InputObject)]
pub struct FileInput {
    /// Where the object lives: s3://, gs://, az://, https://, file:// …; unique per folder.
    pub object_url: String,
    /// Title; defaults to the URL's path.
    pub title: Option<String>,
    /// What the object holds.
    pub kind: FileKind,
    /// Any JSON object the client wants kept with the file.
    pub client_metadata: Option<Json<serde_json::Value>>,
}

/// Registers known objects into a folder (all or nothing).
#[derive(InputObject)]
pub struct RegisterFilesInput {
    /// The folder (the caller must administer it).
    pub folder_id: ID,
    /// The objects, at most 1000.
    pub files: Vec<FileInput>,
}

#[derive(Default)]
pub struct FolderMutation;

#[Object]
impl FolderMutation {
    /// Creates a folder; the caller becomes its ADMIN.
    async fn create_folder(&self, ctx: &Context<'_>, input: CreateFolderInput) -> Result<Folder> {
        let (svc, caller) = scope(ctx)?;
        let parent = input
            .parent_id
            .as_ref()
            .map(|p| parse_id(p, "parentId"))
            .transpose()?;
        Ok(Folder::new(
            folders::create(svc, caller, &input.name, parent).await?,
        ))
    }

    /// Renames a folder (folder ADMIN).
    async fn update_folder(&self, ctx: &Context<'_>, input: UpdateFolderInput) -> Result<Folder> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(Folder::new(
            folders::rename(svc, caller, id, &input.name).await?,
        ))
    }

    /// Deletes an empty folder (folder ADMIN; CONFLICT while it holds anything).
    async fn delete_folder(&self, ctx: &Context<'_>, input: DeleteFolderInput) -> Result<ID> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(global_id::<entity::folder::Entity>(
            folders::delete(svc, caller, id).await?,
        ))
    }

    /// Registers known objects as files of a folder (folder ADMIN), synchronously.
    async fn register_files(
        &self,
        ctx: &Context<'_>,
        input: RegisterFilesInput,
    ) -> Result<Vec<File>> {
        let (svc, caller) = scope(ctx)?;
        let folder = parse_id(&input.folder_id, "folderId")?;
        let new_files = input
            .files
            .into_iter()
            .map(|f| NewFile {
                object_url: f.object_url,
                title: f.title,
                kind: f.kind.into(),
                client_metadata: f.client_metadata.map(|m| m.0),
            })
            .collect();
        Ok(files::register(svc, caller, folder, new_files)
            .await?
            .into_iter()
            .map(File)
            .collect())
    }
}

crate::collaborator_mutations! {
    mutation: FolderCollaboratorMutation,
    resource: Folder,
    role: FolderRole,
    noun: "folder" ("a folder"),
    id_field: folder_id("folderId"),
    add: AddFolderCollaboratorsInput => add_folder_collaborators,
    set: SetFolderCollaboratorRoleInput => set_folder_collaborator_role,
    remove: RemoveFolderCollaboratorInput => remove_folder_collaborator,
}
