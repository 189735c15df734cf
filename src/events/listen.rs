//! The PostgreSQL wake-up: a dedicated connection (not from the pool, whose
//! connection futures drop notifications) that LISTENs on the store's event
//! channel. Its driver task polls the connection itself and turns every
//! notification into a wake-up. When the connection ends it is opened again
//! with exponential backoff; each successful (re)connect wakes the follower
//! too, since notifications sent while it was down are lost, while the
//! events themselves are still in the log.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

use super::Wakeup;
use crate::store::postgres::EVENTS_CHANNEL;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
enum ListenError {
    #[error("invalid database URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
}

/// Keeps a LISTEN connection open until `shutdown`.
pub(super) async fn run(url: String, wakeup: Wakeup, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match listen_once(&url, &wakeup, &mut backoff, &mut shutdown).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Lost(reason)) => {
                tracing::warn!(%reason, retry_in = ?backoff, "event LISTEN connection lost; reconnecting");
            }
            Err(ListenError::Url(e)) => {
                tracing::error!(error = %e, "event listener cannot parse the database URL; polling only");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "event LISTEN connection failed; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

enum Ended {
    Shutdown,
    Lost(String),
}

async fn listen_once(
    url: &str,
    wakeup: &Wakeup,
    backoff: &mut Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Ended, ListenError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(ListenError::Url)?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("keel-events");
    let (client, mut connection) = config.connect(NoTls).await?;
    let notified = wakeup.clone();
    // `Connection`'s own future discards notifications; polling messages
    // ourselves is the only way to see them. The LISTEN below completes only
    // because this task drives the connection.
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => notified.wake(),
                Ok(_) => {}
                Err(e) => return e.to_string(),
            }
        }
        "connection closed".to_owned()
    });
    if let Err(e) = client
        .batch_execute(&format!("LISTEN {EVENTS_CHANNEL}"))
        .await
    {
        driver.abort();
        return Err(e.into());
    }
    tracing::info!(channel = EVENTS_CHANNEL, "listening for events");
    *backoff = BACKOFF_MIN;
    // Events committed while no connection listened are in the log: read
    // them now rather than at the next poll.
    wakeup.wake();
    let ended = tokio::select! {
        ended = &mut driver => Ended::Lost(ended.unwrap_or_else(|e| e.to_string())),
        // The flag only ever changes to "stop" (or its sender is dropped).
        _ = shutdown.changed() => {
            driver.abort();
            Ended::Shutdown
        }
    };
    drop(client);
    Ok(ended)
}
