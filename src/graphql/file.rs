//! Files.

use async_graphql::{Context, Enum, Json, Object, Result, SelectionField, ID};
use chrono::{DateTime, Utc};
use entity::file;

use super::dataset::Dataset;
use super::folder::Folder;
use super::{global_id, loaders};
use crate::error::AppError;
use crate::service::files::FileColumns;
use entity::enums::FileKind as StoredFileKind;

/// An object in storage registered into a folder, attached to datasets.
pub struct File(pub file::Model);

impl File {
    /// The columns a page of files must read for what `ctx`'s selection (a
    /// connection of files) asks of its nodes, through `nodes` or
    /// `edges { node }`, fragments included.
    pub fn columns(ctx: &Context<'_>) -> FileColumns {
        let mut columns = FileColumns::KEY;
        for field in ctx.field().selection_set() {
            match field.name() {
                "nodes" => columns = columns.union(node_columns(field)),
                "edges" => {
                    for edge in field.selection_set() {
                        if edge.name() == "node" {
                            columns = columns.union(node_columns(edge));
                        }
                    }
                }
                _ => {}
            }
        }
        columns
    }
}

/// The columns the fields selected of a file read (every column for a
/// field this list does not know, so that a new field is never read from
/// an empty column).
fn node_columns(node: SelectionField<'_>) -> FileColumns {
    let mut columns = FileColumns::KEY;
    for field in node.selection_set() {
        use file::Column as C;
        let read: &[file::Column] = match field.name() {
            // The key (`folder` and `datasets` load by it).
            "__typename" | "id" | "folder" | "datasets" => &[],
            "title" => &[C::Title],
            "kind" => &[C::Kind],
            "objectUrl" => &[C::ObjectUrl],
            "objectUrls" => &[C::ObjectUrl, C::Parts],
            "sizeBytes" => &[C::SizeBytes],
            "mimeType" => &[C::MimeType],
            "width" => &[C::Width],
            "height" => &[C::Height],
            "durationSeconds" => &[C::DurationSeconds],
            "frameRate" => &[C::FrameRate],
            "frameCount" => &[C::FrameCount],
            "variableFrameRate" => &[C::VariableFrameRate],
            "clientMetadata" => &[C::ClientMetadata],
            "createdAt" => &[C::CreatedAt],
            _ => return FileColumns::ALL,
        };
        columns = columns.with(read);
    }
    columns
}

/// What a file holds.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum FileKind {
    /// A single image.
    Image,
    /// A video.
    Video,
    /// Images shown together.
    ImageGroup,
    /// Images shown as frames of a sequence.
    ImageSequence,
    /// A DICOM series.
    DicomSeries,
    /// Audio.
    Audio,
    /// Text.
    Text,
    /// A PDF document.
    Pdf,
}

crate::stored_as!(FileKind => StoredFileKind {
    Image => Image,
    Video => Video,
    ImageGroup => ImageGroup,
    ImageSequence => ImageSequence,
    DicomSeries => DicomSeries,
    Audio => Audio,
    Text => Text,
    Pdf => Pdf,
});

#[Object]
impl File {
    /// Global ID.
    pub async fn id(&self) -> ID {
        global_id::<entity::file::Entity>(self.0.id)
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// What the file holds.
    async fn kind(&self) -> Result<FileKind> {
        Ok(FileKind::try_from(self.0.kind)
            .map_err(|_| AppError::internal("file with an unknown kind"))?)
    }
    /// Where the object lives (the first object of an image group, image
    /// sequence or DICOM series).
    async fn object_url(&self) -> &str {
        &self.0.object_url
    }
    /// Every object of the file, in order (one for most kinds).
    async fn object_urls(&self) -> Vec<String> {
        self.0
            .parts
            .as_ref()
            .and_then(|parts| serde_json::from_value(parts.clone()).ok())
            .unwrap_or_else(|| vec![self.0.object_url.clone()])
    }
    /// Size in bytes, when known (all objects of the file together).
    async fn size_bytes(&self) -> Option<i64> {
        self.0.size_bytes
    }
    /// MIME type, when known.
    async fn mime_type(&self) -> Option<&str> {
        self.0.mime_type.as_deref()
    }
    /// Width in pixels (images, videos), when known.
    async fn width(&self) -> Option<i32> {
        self.0.width
    }
    /// Height in pixels (images, videos), when known.
    async fn height(&self) -> Option<i32> {
        self.0.height
    }
    /// Duration in seconds (videos, audio), when known.
    async fn duration_seconds(&self) -> Option<f64> {
        self.0.duration_seconds
    }
    /// Frames per second (videos), when known.
    async fn frame_rate(&self) -> Option<f64> {
        self.0.frame_rate
    }
    /// Number of frames (videos), when known.
    async fn frame_count(&self) -> Option<i64> {
        self.0.frame_count
    }
    /// True when the video's frame rate is not constant.
    async fn variable_frame_rate(&self) -> Option<bool> {
        self.0.variable_frame_rate
    }
    /// The JSON object the client registered with the file.
    async fn client_metadata(&self) -> Option<Json<&serde_json::Value>> {
        self.0.client_metadata.as_ref().map(Json)
    }
    /// When the file was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The file's folder, when the caller may see it.
    async fn folder(&self, ctx: &Context<'_>) -> Result<Option<Folder>> {
        Ok(loaders(ctx)?
            .folders
            .load_one(self.0.folder_id)
            .await?
            .map(Folder::viewable))
    }
    /// Datasets holding the file that the caller may see.
    async fn datasets(&self, ctx: &Context<'_>) -> Result<Vec<Dataset>> {
        let found = loaders(ctx)?
            .file_datasets
            .load_one((self.0.id, self.0.folder_id))
            .await?;
        Ok(found
            .unwrap_or_default()
            .into_iter()
            .map(Dataset::viewable)
            .collect())
    }
}
