//! Publishes scheduled entries when they fall due. Every node runs one; the
//! publish is a versioned write, so when two nodes pick the same entry only
//! one publish lands and the other sees a conflict and moves on.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::Editor;
use crate::tasks::Periodic;

/// Entries published per tick at most; the rest wait for the next tick.
const BATCH: u32 = 100;

/// Runs until `shutdown` turns true.
pub async fn run(editor: Editor, every: Duration, shutdown: watch::Receiver<bool>) {
    let mut ticks = Periodic::now(every, shutdown);
    while ticks.next().await {
        if let Err(e) = publish_due(&editor).await {
            tracing::warn!(error = %e, "scheduled publishing failed; retrying next tick");
        }
    }
}

/// One pass: publishes what is due now; returns how many this node published.
pub async fn publish_due(editor: &Editor) -> Result<usize, crate::error::AppError> {
    let due = editor.store().due_scheduled(Utc::now(), BATCH).await?;
    let mut published = 0;
    for entry in &due {
        match editor.publish_due(entry).await {
            Ok(true) => {
                published += 1;
                tracing::info!(id = %entry.id, r#type = %entry.type_name, slug = %entry.slug, "scheduled entry published");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(id = %entry.id, error = %e, "scheduled publish failed");
            }
        }
    }
    Ok(published)
}
