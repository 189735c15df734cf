//! The SQLite connections and the only way to use them: one writer behind a
//! mutex and a few readers, each call run on tokio's blocking pool with its
//! op name. Every query of the backend goes through `read` or `write` here,
//! so a per-op metric is one line in `blocking`. Nothing here knows a table.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::{StoreError, StoreResult};

/// Reader connections. WAL lets readers run beside the writer and each other;
/// a handful covers a single node's cache misses without holding many files.
pub(super) const READERS: usize = 4;

/// How long a statement waits for a lock held by another process (a `keel`
/// CLI command next to the server) before failing as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements per connection kept prepared; above the number of distinct
/// queries the backend issues, so none is re-prepared.
const STATEMENT_CACHE: usize = 64;

pub(super) struct Pool {
    path: PathBuf,
    /// SQLite admits one writer per database at a time, so a second writer
    /// connection would only wait on the file lock; the mutex makes that wait
    /// explicit and in-process. A std mutex suffices: it is only taken on the
    /// blocking pool, never across an `.await`.
    writer: Arc<Mutex<Connection>>,
    /// Separate read connections so a cache miss never queues behind a write
    /// (WAL readers see the last commit while a write is in progress).
    readers: Arc<Readers>,
}

struct Readers {
    /// Idle connections; the lock is held only to push or pop one.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection. Waiting happens here, asynchronously, so a
    /// burst of reads does not park blocking-pool threads on the `idle` lock.
    permits: Arc<Semaphore>,
}

impl Pool {
    /// Opens (creating if missing) the database file and its connections.
    /// Blocking: call from the blocking pool.
    pub(super) fn open(path: &Path) -> StoreResult<Pool> {
        let writer = Connection::open(path).map_err(StoreError::from)?;
        configure(&writer)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(
                format!(
                    "{} does not support WAL (journal mode {mode})",
                    path.display()
                )
                .into(),
            ));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(path, flags)?;
            configure(&reader)?;
            // Reads never write; this turns a mistake into an error.
            reader.pragma_update(None, "query_only", true)?;
            readers.push(reader);
        }
        Ok(Pool {
            path: path.to_path_buf(),
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Readers {
                idle: Mutex::new(readers),
                permits: Arc::new(Semaphore::new(READERS)),
            }),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a reader connection.
    pub(super) async fn read<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite store is closed".into()))?;
        let readers = Arc::clone(&self.readers);
        blocking(op, move || {
            let lease = Lease::take(readers, permit)?;
            let conn = lease.conn()?;
            let result = guarded(op, || f(conn));
            end_open_transaction(conn);
            result
        })
        .await
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer, committing
    /// when it returns `Ok` and rolling back otherwise. IMMEDIATE takes the
    /// file's write lock up front, so a write never fails half-way because
    /// another process started writing after it had read.
    pub(super) async fn write<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.with_writer(op, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }

    /// Runs `f` with the writer connection itself (migrations manage their
    /// own transactions).
    pub(super) async fn with_writer<T, F>(&self, op: &'static str, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        blocking(op, move || {
            let mut conn = lock_writer(&writer)?;
            let result = guarded(op, || f(&mut conn));
            end_open_transaction(&conn);
            result
        })
        .await
    }

    /// Poisons the writer lock the way a panic outside `guarded` would.
    #[cfg(test)]
    pub(super) fn poison_writer(&self) {
        let writer = Arc::clone(&self.writer);
        let _ = std::thread::spawn(move || {
            let _guard = writer.lock();
            panic!("poisoning the writer lock on purpose");
        })
        .join();
    }
}

/// Pragmas every connection needs; they are per connection, not per file.
fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // With WAL, NORMAL is durable against application crashes and only a
    // power loss can drop the last commits; FULL would fsync every commit.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// A poisoned lock means a panic escaped while the writer was held. The
/// caller gets an error; the connection is rolled back to a clean state and
/// the lock cleared, so the store keeps working for later writes.
fn lock_writer(writer: &Mutex<Connection>) -> StoreResult<MutexGuard<'_, Connection>> {
    match writer.lock() {
        Ok(conn) => Ok(conn),
        Err(poisoned) => {
            let conn = poisoned.into_inner();
            end_open_transaction(&conn);
            if conn.is_autocommit() {
                writer.clear_poison();
            }
            Err(StoreError::Backend(
                "the SQLite writer was poisoned by an earlier panic".into(),
            ))
        }
    }
}

/// A transaction left open (a commit or rollback that failed, or a panic)
/// would swallow the next call's statements; end it.
fn end_open_transaction(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(err) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %err, "could not roll back a SQLite transaction left open");
    }
}

/// Runs `f` and turns a panic into an error, inside whatever lock the caller
/// holds, so the lock is released normally instead of being poisoned.
fn guarded<T>(op: &'static str, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(panicked(op, &*payload)))
}

fn panicked(op: &'static str, payload: &(dyn Any + Send)) -> StoreError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    StoreError::Backend(format!("SQLite {op} panicked: {message}").into())
}

/// The one place every SQLite call passes through, named by `op`.
async fn blocking<T, F>(op: &'static str, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || guarded(op, f)).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => Err(panicked(op, &*err.into_panic())),
        Err(_) => Err(StoreError::Unavailable(
            format!("SQLite {op} was cancelled: the runtime is shutting down").into(),
        )),
    }
}

/// A reader taken from the idle list; going back on drop, panic or not.
struct Lease {
    readers: Arc<Readers>,
    conn: Option<Connection>,
    /// Released after the connection is back in `idle` (fields drop after
    /// `Drop::drop`), so the next permit holder always finds one.
    _permit: OwnedSemaphorePermit,
}

impl Lease {
    fn take(readers: Arc<Readers>, permit: OwnedSemaphorePermit) -> StoreResult<Lease> {
        let conn = readers
            .idle
            .lock()
            .map_err(|_| StoreError::Backend("the SQLite reader list lock is poisoned".into()))?
            .pop();
        Ok(Lease {
            readers,
            conn,
            _permit: permit,
        })
    }

    fn conn(&self) -> StoreResult<&Connection> {
        // Permits equal connections, so an empty list means a lost connection.
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Backend("no idle SQLite reader for a held permit".into()))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Only push and pop run under this lock, so a poisoned Vec is intact.
            let mut idle = self
                .readers
                .idle
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            idle.push(conn);
        }
    }
}
