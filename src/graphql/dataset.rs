//! Datasets.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::dataset;

use super::collaborators::{self, Collaborator};
use super::file::{File, FileKind};
use super::folder::Folder;
use super::loaders::UserField;
use super::project::Project;
use super::resource::Guarded;
use super::user::User;
use super::{
    connection, empty_connection, global_id, hidden, loaders, or_null, page_args, parse_id,
    parse_ids, scope, Conn,
};
use crate::policy::{Action, Kind, Role};
use crate::service::datasets;
use crate::service::files::{FileFilter, FileParent};

/// A collection of files, shared through dataset roles and attached to projects.
///
/// A `Dataset` may be reached without view access (workspace ADMINs list
/// every dataset; a payload may follow the caller's own role going away), so
/// its summary fields answer anyone who reached it, while every field of its
/// contents first asks the caller's own access (loaded per caller, batched)
/// and answers nothing without `view`.
pub type Dataset = Guarded<dataset::Entity>;

/// A role on a dataset.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum DatasetRole {
    /// Views, adds data, adjusts settings and collaborators, deletes.
    Admin,
    /// Views the dataset and its files and attaches it to own projects.
    User,
}

crate::stored_as!(DatasetRole => Role { Admin => Admin, User => User });

/// What the caller may do with a dataset, for front ends to render from.
#[derive(SimpleObject)]
pub struct DatasetPermissions {
    /// See the dataset and its files.
    pub view: bool,
    /// Attach files, import from cloud storage, move files.
    pub add_data: bool,
    /// Change title, description, collaborators and roles.
    pub adjust_settings: bool,
    /// Delete the dataset.
    pub delete: bool,
    /// Attach the dataset to a project the caller administers.
    pub attach_to_project: bool,
}

/// Said of the contents of a dataset the caller has not joined.
const CONTENTS: &str = "dataset contents (join the dataset to see them)";

#[Object]
impl Dataset {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::dataset::Entity>(self.model.id)
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// Free text.
    async fn description(&self) -> &str {
        &self.model.description
    }
    /// True when the dataset mirrors a folder: its files are that folder's files.
    async fn mirrored(&self) -> bool {
        self.model.folder_id.is_some()
    }
    /// The folder a mirrored dataset is backed by, when the caller may see
    /// it (contents: null with NOT_FOUND unless the caller may view the dataset).
    async fn folder(&self, ctx: &Context<'_>) -> Result<Option<Folder>> {
        let Some(folder_id) = self.model.folder_id else {
            return Ok(None);
        };
        if !self.shows_contents(ctx).await? {
            return hidden(ctx, CONTENTS, None);
        }
        Ok(loaders(ctx)?
            .folders
            .load_one(folder_id)
            .await?
            .map(Folder::viewable))
    }
    /// When the dataset was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When the dataset was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Who created the dataset.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .user(UserField::DatasetCreator, self.model.created_by)
            .await?
            .map(User))
    }
    /// The number of files in the dataset (part of its summary).
    async fn file_count(&self, ctx: &Context<'_>) -> Result<u64> {
        let key = (FileParent::of_dataset(&self.model), FileFilter::default());
        Ok(loaders(ctx)?.file_counts.load_one(key).await?.unwrap_or(0))
    }
    /// The dataset's files, oldest first (contents: empty with NOT_FOUND
    /// unless the caller may view the dataset).
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
            return hidden(ctx, CONTENTS, empty_connection());
        }
        let filter = FileFilter {
            kind: kind.map(Into::into),
            search,
        };
        let page = loaders(ctx)?
            .files(
                FileParent::of_dataset(&self.model),
                page_args(first, after)?,
                filter,
                File::columns(ctx),
            )
            .await?;
        Ok(connection(page, File))
    }
    /// Projects using this dataset that the caller may see (contents: empty
    /// with NOT_FOUND unless the caller may view the dataset).
    async fn projects(&self, ctx: &Context<'_>) -> Result<Vec<Project>> {
        if !self.shows_contents(ctx).await? {
            return hidden(ctx, CONTENTS, Vec::new());
        }
        let found = loaders(ctx)?
            .dataset_projects
            .load_one(self.model.id)
            .await?;
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(Project::viewable)
            .collect())
    }
    /// Users and groups holding a role on the dataset.
    async fn collaborators(&self, ctx: &Context<'_>) -> Result<Vec<Collaborator<DatasetRole>>> {
        Ok(collaborators::list(ctx, Kind::Dataset, self.model.id).await?)
    }
    /// The caller's own role (null when they see it only through a project).
    async fn my_role(&self, ctx: &Context<'_>) -> Result<Option<DatasetRole>> {
        Ok(self
            .access(ctx)
            .await?
            .my_role()
            .and_then(|r| r.try_into().ok()))
    }
    /// What the caller may do with the dataset.
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<DatasetPermissions> {
        let (svc, _) = scope(ctx)?;
        let access = self.access(ctx).await?;
        let can = |a| access.can(&svc.policy, a);
        Ok(DatasetPermissions {
            view: can(Action::View),
            add_data: can(Action::AddData),
            adjust_settings: can(Action::AdjustSettings),
            delete: can(Action::Delete),
            attach_to_project: can(Action::AttachToProject),
        })
    }
}

#[derive(Default)]
pub struct DatasetQuery;

crate::query_object! {
    impl DatasetQuery {
        paged {
            /// Datasets the caller may see: through a dataset role, or read-only
            /// through a project they collaborate on.
            fn datasets(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in title or description.")] search: Option<
                    String,
                >,
                ..page,
                #[graphql(
                    desc = "Only datasets on which the caller holds one of these roles of their own (directly or through a group); read-only access through projects does not count."
                )]
                my_role: Option<Vec<DatasetRole>>,
            ) -> Dataset {
                let (svc, caller) = scope(ctx)?;
                let my_role: Option<Vec<Role>> =
                    my_role.map(|roles| roles.into_iter().map(Role::from).collect());
                let page = datasets::list(
                    svc,
                    caller,
                    search.as_deref(),
                    my_role.as_deref(),
                    page,
                )
                .await?;
                Ok(connection(page, Dataset::viewable))
            }

            /// Every dataset of the workspace (workspace ADMINs only; they may join
            /// any). Each shows its summary (title, description, dates, creator,
            /// collaborators, `fileCount`, `myRole`, `viewerCan`); its contents
            /// (`files`, `folder`, `projects`) only once the caller may view it, e.g.
            /// after `joinDataset`.
            fn workspace_datasets(
                ctx,
                #[graphql(desc = "Case-insensitive text to find in title or description.")] search: Option<
                    String,
                >,
                ..page,
                #[graphql(
                    desc = "true: only datasets on which the caller holds a role of their own (directly or through a group); false: only those on which they hold none."
                )]
                joined: Option<bool>,
            ) -> Dataset {
                let (svc, caller) = scope(ctx)?;
                let page = datasets::list_workspace(
                    svc,
                    caller,
                    search.as_deref(),
                    joined,
                    page,
                )
                .await?;
                Ok(connection(page, Dataset::new))
            }
        }

        /// One dataset; null with NOT_FOUND when missing or not visible.
        async fn dataset(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Dataset>> {
            let result = async {
                let (svc, caller) = scope(ctx)?;
                let id = parse_id(&id, "id")?;
                Dataset::load(svc, caller, id).await
            };
            or_null(ctx, result.await)
        }
    }
}

/// Creates a dataset; the caller becomes its ADMIN.
#[derive(InputObject)]
pub struct CreateDatasetInput {
    /// Title.
    pub title: String,
    /// Free text.
    pub description: Option<String>,
    /// A folder to mirror (needs ADMIN on it): the dataset's files are then the folder's files.
    pub folder_id: Option<ID>,
}

/// Changes a dataset's title or description.
#[derive(InputObject)]
pub struct UpdateDatasetInput {
    /// The dataset.
    pub id: ID,
    /// New title, when given.
    pub title: Option<String>,
    /// New description, when given.
    pub description: Option<String>,
}

/// Deletes a dataset (its files stay in their folders).
#[derive(InputObject)]
pub struct DeleteDatasetInput {
    /// The dataset.
    pub id: ID,
    /// Must be the word `delete`.
    pub confirm: String,
}

/// Attaches files to a dataset: individual files, or every file of folders.
#[derive(InputObject)]
pub struct AttachFilesToDatasetInput {
    /// The dataset (not a mirrored one).
    pub dataset_id: ID,
    /// Files to attach.
    #[graphql(default)]
    pub file_ids: Vec<ID>,
    /// Folders whose files are all attached.
    #[graphql(default)]
    pub folder_ids: Vec<ID>,
}

/// Detaches files from a dataset (the files themselves stay).
#[derive(InputObject)]
pub struct DetachFilesFromDatasetInput {
    /// The dataset (not a mirrored one).
    pub dataset_id: ID,
    /// Files to detach.
    pub file_ids: Vec<ID>,
}

/// Moves files into a mirrored dataset: they change folder.
#[derive(InputObject)]
pub struct MoveFilesInput {
    /// Files to move.
    pub file_ids: Vec<ID>,
    /// The mirrored dataset to move them into.
    pub to_dataset_id: ID,
}

/// A workspace ADMIN joins a dataset.
#[derive(InputObject)]
pub struct JoinDatasetInput {
    /// The dataset.
    pub dataset_id: ID,
}

#[derive(Default)]
pub struct DatasetMutation;

#[Object]
impl DatasetMutation {
    /// Creates a dataset; the caller becomes its ADMIN.
    async fn create_dataset(
        &self,
        ctx: &Context<'_>,
        input: CreateDatasetInput,
    ) -> Result<Dataset> {
        let (svc, caller) = scope(ctx)?;
        let folder = input
            .folder_id
            .as_ref()
            .map(|f| parse_id(f, "folderId"))
            .transpose()?;
        let model = datasets::create(
            svc,
            caller,
            &input.title,
            input.description.as_deref(),
            folder,
        )
        .await?;
        Ok(Dataset::new(model))
    }

    /// Changes a dataset's title or description (dataset ADMIN).
    async fn update_dataset(
        &self,
        ctx: &Context<'_>,
        input: UpdateDatasetInput,
    ) -> Result<Dataset> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        let model = datasets::update(
            svc,
            caller,
            id,
            input.title.as_deref(),
            input.description.as_deref(),
        )
        .await?;
        Ok(Dataset::new(model))
    }

    /// Deletes a dataset (dataset ADMIN; `confirm` must be `delete`).
    async fn delete_dataset(&self, ctx: &Context<'_>, input: DeleteDatasetInput) -> Result<ID> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.id, "id")?;
        Ok(global_id::<entity::dataset::Entity>(
            datasets::delete(svc, caller, id, &input.confirm).await?,
        ))
    }

    /// Attaches files, or all files of folders, to a dataset (dataset ADMIN).
    async fn attach_files_to_dataset(
        &self,
        ctx: &Context<'_>,
        input: AttachFilesToDatasetInput,
    ) -> Result<Dataset> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.dataset_id, "datasetId")?;
        let files = parse_ids(&input.file_ids, "fileIds")?;
        let folders = parse_ids(&input.folder_ids, "folderIds")?;
        Ok(Dataset::new(
            datasets::attach_files(svc, caller, id, &files, &folders).await?,
        ))
    }

    /// Detaches files from a dataset (dataset ADMIN).
    async fn detach_files_from_dataset(
        &self,
        ctx: &Context<'_>,
        input: DetachFilesFromDatasetInput,
    ) -> Result<Dataset> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.dataset_id, "datasetId")?;
        let files = parse_ids(&input.file_ids, "fileIds")?;
        Ok(Dataset::new(
            datasets::detach_files(svc, caller, id, &files).await?,
        ))
    }

    /// Moves files into a mirrored dataset; projects of the destination see
    /// them, projects of the datasets they left no longer do.
    async fn move_files(&self, ctx: &Context<'_>, input: MoveFilesInput) -> Result<Vec<File>> {
        let (svc, caller) = scope(ctx)?;
        let files = parse_ids(&input.file_ids, "fileIds")?;
        let to = parse_id(&input.to_dataset_id, "toDatasetId")?;
        Ok(datasets::move_files(svc, caller, &files, to)
            .await?
            .into_iter()
            .map(File)
            .collect())
    }

    /// Joins a dataset as a workspace ADMIN, receiving the dataset ADMIN role (audited).
    async fn join_dataset(&self, ctx: &Context<'_>, input: JoinDatasetInput) -> Result<Dataset> {
        let (svc, caller) = scope(ctx)?;
        let id = parse_id(&input.dataset_id, "datasetId")?;
        Ok(Dataset::new(datasets::join(svc, caller, id).await?))
    }
}

crate::collaborator_mutations! {
    mutation: DatasetCollaboratorMutation,
    resource: Dataset,
    role: DatasetRole,
    noun: "dataset" ("a dataset"),
    id_field: dataset_id("datasetId"),
    add: AddDatasetCollaboratorsInput => add_dataset_collaborators,
    set: SetDatasetCollaboratorRoleInput => set_dataset_collaborator_role,
    remove: RemoveDatasetCollaboratorInput => remove_dataset_collaborator,
}
