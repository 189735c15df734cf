//! Checked configuration: what the CLI's raw flags become once URLs are parsed
//! and the backend is chosen. Code past `main` takes these types, never raw
//! flags or environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `keel serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub database_url: DatabaseUrl,
    pub content_types: PathBuf,
    pub listen: SocketAddr,
    /// HTTP worker threads; the number of cores when unset.
    pub workers: usize,
    /// Seed the demo site into an empty database at start-up.
    pub demo: bool,
    /// Largest request body the editor API reads; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest image upload (`POST /api/v1/media`); larger ones get 413.
    pub max_upload_bytes: usize,
    /// Most request-body bytes held at once, every connection together;
    /// a large body beyond it gets 503 and Retry-After.
    pub body_memory_bytes: usize,
    /// How often the scheduler looks for due publishes.
    pub schedule_every: Duration,
    /// Byte budget of the in-memory page cache (all encodings).
    pub cache_bytes: u64,
    /// How often the event log is read without a wake-up (a lost NOTIFY,
    /// a write from another process on SQLite).
    pub event_poll: Duration,
    /// How often the pre-warm scheduler re-checks windows.
    pub prewarm_every: Duration,
    /// Share of `cache_bytes` a starting node fills with its most recent
    /// pages before it reports ready (pinned pages come first, outside it).
    pub warm_share: f64,
    /// The site's public origin, for sitemaps and robots.txt.
    pub base_url: url::Url,
    /// The CDN in front, to warm pre-warmed pages through; `None`: no edge.
    pub edge_url: Option<url::Url>,
    /// Edges purged after every change (`--edge-purge`).
    pub edge_purge: Vec<EdgePurge>,
    /// Receivers told of every change (`--webhooks FILE`).
    pub webhooks: Vec<Webhook>,
    /// Longest wait for every live node to hold an event before its purge
    /// goes out anyway.
    pub purge_wait: Duration,
    /// This node's name in heartbeats and leases; `None`: `{host}:{port}`.
    pub node_name: Option<String>,
    /// How long an idle keep-alive connection is kept open.
    pub keep_alive: Duration,
    /// How long a client may take to send a request head, and the longest
    /// pause allowed while it sends a body.
    pub request_timeout: Duration,
    /// How long a response may wait on a client that reads nothing before
    /// the connection is closed (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// Listen backlog; `None`: the kernel's `net.core.somaxconn`.
    pub backlog: Option<u32>,
    /// A second listener for the operations endpoints (`/metrics`,
    /// `/healthz`, `/readyz`); when set, `/metrics` leaves the public one.
    pub ops_listen: Option<SocketAddr>,
    /// How long the app's sessions live and whether their cookie is
    /// `Secure`.
    pub sessions: crate::accounts::SessionPolicy,
    /// Proxies (CDN, load balancer) whose `X-Forwarded-For` names the
    /// client for the audit log and the sign-in limits.
    pub trusted_proxies: crate::client::TrustedProxies,
}

impl ServeConfig {
    /// Defaults for everything but where the data and types live.
    pub fn new(database_url: DatabaseUrl, content_types: PathBuf) -> Self {
        ServeConfig {
            database_url,
            content_types,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            workers: 1,
            demo: false,
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: crate::media::Limits::default().max_bytes,
            body_memory_bytes: 256 * 1024 * 1024,
            schedule_every: Duration::from_secs(1),
            cache_bytes: 256 * 1024 * 1024,
            event_poll: Duration::from_secs(5),
            prewarm_every: Duration::from_secs(30),
            warm_share: 0.5,
            base_url: url::Url::parse(crate::render::DEFAULT_BASE_URL)
                .expect("the default base URL parses"),
            edge_url: None,
            edge_purge: Vec::new(),
            webhooks: Vec::new(),
            purge_wait: Duration::from_secs(5),
            node_name: None,
            keep_alive: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(60),
            backlog: None,
            ops_listen: None,
            sessions: crate::accounts::SessionPolicy::default(),
            trusted_proxies: crate::client::TrustedProxies::default(),
        }
    }
}

/// An edge keel purges by surrogate key after each change, once every
/// node holds it.
#[derive(Clone, PartialEq, Eq)]
pub enum EdgePurge {
    /// Varnish with the xkey VMOD (`deploy/varnish/keel.vcl`): a `PURGE`
    /// request to `url` naming the keys; soft (objects kept for grace and
    /// revalidated) unless `hard`.
    Varnish { url: url::Url, hard: bool },
    /// Fastly's purge-by-surrogate-key API for `service`, soft.
    Fastly {
        service: String,
        api: url::Url,
        token: String,
    },
    /// Cloudflare's purge-by-cache-tag API for `zone`.
    Cloudflare {
        zone: String,
        api: url::Url,
        token: String,
    },
}

impl EdgePurge {
    /// The destination's name: its cursor's key and its metrics label.
    /// Never holds a secret.
    pub fn name(&self) -> String {
        match self {
            EdgePurge::Varnish { url, hard: false } => format!("varnish:{url}"),
            EdgePurge::Varnish { url, hard: true } => format!("varnish-hard:{url}"),
            EdgePurge::Fastly { service, .. } => format!("fastly:{service}"),
            EdgePurge::Cloudflare { zone, .. } => format!("cloudflare:{zone}"),
        }
    }
}

/// Tokens stay out of logs and panics.
impl fmt::Debug for EdgePurge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A receiver of every change, signed with its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `[a-z0-9-]`, at most 64: its cursor is `webhook:{name}`.
    pub name: String,
    pub url: url::Url,
    /// At least [`Webhook::MIN_SECRET`] bytes.
    pub secret: String,
}

impl Webhook {
    /// HMAC-SHA256 keys shorter than the hash's 32 bytes weaken it (RFC
    /// 2104 §3).
    pub const MIN_SECRET: usize = 32;
}

/// The secret stays out of logs and panics.
impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "webhook:{} ({})", self.name, self.url)
    }
}

/// Which store a database URL selects.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://keel.db` (relative) or `sqlite:///var/lib/keel.db` (absolute).
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, passed to tokio-postgres as is.
    Postgres(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "unsupported database URL {0:?}: expected sqlite://PATH or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedDatabaseUrl(String),
    #[error("database URL {0:?} names no SQLite file")]
    EmptySqlitePath(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(ConfigError::EmptySqlitePath(raw.to_owned()));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        Err(ConfigError::UnsupportedDatabaseUrl(raw.to_owned()))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

/// Never prints a PostgreSQL password into logs.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) if u.password().is_some() => {
                    let _ = u.set_password(Some("***"));
                    write!(f, "{u}")
                }
                _ => write!(f, "{url}"),
            },
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://keel.db").unwrap(),
            DatabaseUrl::Sqlite("keel.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/keel.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/keel.db".into())
        );
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn postgres_urls_select_postgres() {
        let url = DatabaseUrl::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert_eq!(url.backend(), "postgres");
        assert!(DatabaseUrl::parse("postgresql://h/db").is_ok());
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(matches!(
            DatabaseUrl::parse("mysql://x"),
            Err(ConfigError::UnsupportedDatabaseUrl(_))
        ));
    }

    #[test]
    fn passwords_do_not_reach_logs() {
        let url = DatabaseUrl::parse("postgres://u:secret@h:5432/db").unwrap();
        assert!(!format!("{url:?}").contains("secret"));
    }
}
