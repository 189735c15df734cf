//! Embedded SQLite backend (placeholder until the backend lands).

use std::path::Path;

use super::StoreError;

pub struct SqliteStore;

impl SqliteStore {
    pub async fn open(_path: &Path) -> Result<Self, StoreError> {
        Err(StoreError::Unavailable("the SQLite backend is not built yet".into()))
    }
}
