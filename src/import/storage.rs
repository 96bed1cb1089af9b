//! Ranged reads of objects in users' storage, through an integration's
//! `object_store` client: what the metadata probe reads from.

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::import::probe::{ProbeError, RangeReader};

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
}

impl std::fmt::Debug for StoreObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreObject")
            .field("store", &self.store.to_string())
            .field("path", &self.path.as_ref())
            .finish()
    }
}

/// A storage failure in words without secrets: the error's kind, never its
/// text (which may carry signed URLs).
fn unreachable(error: object_store::Error) -> ProbeError {
    ProbeError::Unreachable(crate::service::integrations::describe_storage_error(
        &error,
        &[],
    ))
}

impl RangeReader for StoreObject {
    async fn len(&self) -> Result<u64, ProbeError> {
        let meta = self.store.head(&self.path).await.map_err(unreachable)?;
        Ok(meta.size)
    }

    async fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>, ProbeError> {
        if end <= start {
            return Ok(Vec::new());
        }
        let bytes = self
            .store
            .get_range(&self.path, start..end)
            .await
            .map_err(unreachable)?;
        Ok(bytes.to_vec())
    }
}
