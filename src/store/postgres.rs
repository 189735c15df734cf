//! PostgreSQL backend (placeholder until the backend lands).

use super::StoreError;

pub struct PgStore;

impl PgStore {
    pub async fn connect(_url: &str) -> Result<Self, StoreError> {
        Err(StoreError::Unavailable("the PostgreSQL backend is not built yet".into()))
    }
}
