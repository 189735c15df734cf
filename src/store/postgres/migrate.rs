//! Schema migrations. Several nodes may start at once against one database,
//! so the run is serialised with a session advisory lock held on the very
//! connection refinery migrates with.

use deadpool_postgres::Object;

use super::error::{migration_error, pg_error};
use crate::store::StoreResult;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Advisory lock key for migrations: "keelmigr" in ASCII, fixed forever so
/// every keel version contends on the same lock.
const MIGRATION_LOCK: i64 = 0x6b65_656c_6d69_6772;

/// Applies pending migrations; returns how many ran.
pub(super) async fn run(mut client: Object) -> StoreResult<usize> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    let pg: &mut tokio_postgres::Client = &mut client;
    let outcome = embedded::migrations::runner().run_async(pg).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    if unlocked.is_err() {
        // A session lock lives as long as its connection: close this one
        // rather than hand a lock-holding connection back to the pool.
        drop(Object::take(client));
    }
    let report = outcome.map_err(migration_error)?;
    Ok(report.applied_migrations().len())
}
