//! Ranged reads of objects in users' storage, through an integration's
//! `object_store` client: what the metadata probe reads from. Failures come
//! back in words without secrets (the error's kind, never its text, which may
//! carry signed URLs).

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::storage::redact::describe_storage_error;

/// One object of a store: its size is a HEAD request, its bytes ranged GETs.
#[derive(Clone)]
pub struct StoreObject {
    pub store: Arc<dyn ObjectStore>,
    pub path: Path,
}

impl StoreObject {
    pub fn new(store: Arc<dyn ObjectStore>, path: Path) -> StoreObject {
        StoreObject { store, path }
    }

    /// The object's size in bytes (a HEAD request).
    pub async fn size(&self) -> Result<u64, String> {
        let meta = self.store.head(&self.path).await.map_err(described)?;
        Ok(meta.size)
    }

    /// Bytes `start..end` (end exclusive).
    pub async fn bytes(&self, start: u64, end: u64) -> Result<Vec<u8>, String> {
        if end <= start {
            return Ok(Vec::new());
        }
        let bytes = self
            .store
            .get_range(&self.path, start..end)
            .await
            .map_err(described)?;
        Ok(bytes.to_vec())
    }
}

impl std::fmt::Debug for StoreObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreObject")
            .field("store", &self.store.to_string())
            .field("path", &self.path.as_ref())
            .finish()
    }
}

fn described(error: object_store::Error) -> String {
    describe_storage_error(&error, &[])
}
