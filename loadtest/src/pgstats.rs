//! PostgreSQL's own view of the run, read independently of keel: commits
//! and rollbacks of the database (`pg_stat_database`) and table scans
//! (`pg_stat_user_tables`), at every phase edge. Backends publish these
//! statistics with a delay of up to a few seconds, and this tool's own
//! snapshot queries count too (one transaction per edge), so read them as a
//! check on keel's counters, not to the unit.

use serde::Serialize;
use tokio_postgres::{Client, NoTls};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PgSnapshot {
    pub xact_commit: i64,
    pub xact_rollback: i64,
    pub tup_returned: i64,
    pub tup_fetched: i64,
    pub seq_scan: i64,
    pub idx_scan: i64,
}

impl PgSnapshot {
    pub fn since(&self, e: &PgSnapshot) -> PgSnapshot {
        PgSnapshot {
            xact_commit: self.xact_commit - e.xact_commit,
            xact_rollback: self.xact_rollback - e.xact_rollback,
            tup_returned: self.tup_returned - e.tup_returned,
            tup_fetched: self.tup_fetched - e.tup_fetched,
            seq_scan: self.seq_scan - e.seq_scan,
            idx_scan: self.idx_scan - e.idx_scan,
        }
    }

    pub fn transactions(&self) -> i64 {
        self.xact_commit + self.xact_rollback
    }
}

pub struct PgStats {
    client: Client,
}

impl PgStats {
    pub async fn connect(url: &str) -> anyhow::Result<PgStats> {
        let (client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to {} for statistics: {e}", redact(url)))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(PgStats { client })
    }

    pub async fn snapshot(&self) -> anyhow::Result<PgSnapshot> {
        // One statement in its own transaction, so the statistics snapshot
        // (cached per transaction) is fresh.
        let row = self
            .client
            .query_one(
                "SELECT d.xact_commit, d.xact_rollback, d.tup_returned, d.tup_fetched, \
                   (SELECT COALESCE(sum(seq_scan), 0)::bigint FROM pg_stat_user_tables), \
                   (SELECT COALESCE(sum(idx_scan), 0)::bigint FROM pg_stat_user_tables) \
                 FROM pg_stat_database d WHERE d.datname = current_database()",
                &[],
            )
            .await?;
        Ok(PgSnapshot {
            xact_commit: row.get(0),
            xact_rollback: row.get(1),
            tup_returned: row.get(2),
            tup_fetched: row.get(3),
            seq_scan: row.get(4),
            idx_scan: row.get(5),
        })
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("postgres://keel:s3cret@db:5432/keel"),
            "postgres://keel:***@db:5432/keel"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
