//! A content type as the database records it, so every node (and an
//! operator) can see which schema the data was written for.

use serde_json::Value;

/// A content type's definition as recorded in the `content_types` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentTypeRecord {
    pub name: String,
    /// The schema as JSON.
    pub schema: Value,
    /// Hex SHA-256 of the schema file and template sources.
    pub hash: String,
}
