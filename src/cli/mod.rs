//! Command-line interface: clap's raw `Args` (every flag also read from a
//! `KEEL_*` variable) and their conversion to checked configuration. Nothing
//! past `main` sees these types.

mod edge;
pub mod user;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

pub use self::edge::{EdgeArgs, PurgeTarget};
pub use self::user::UserCommand;
use crate::config::{ConfigError, DatabaseUrl};

/// keel: a spike-resilient headless CMS and content delivery server.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about, long_about = None)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, ClapArgs)]
pub struct GlobalArgs {
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        global = true,
        env = "KEEL_DATABASE_URL",
        default_value = "sqlite://keel.db"
    )]
    pub database_url: String,

    /// Directory holding the content types (one folder per type or listing).
    #[arg(
        long,
        global = true,
        env = "KEEL_CONTENT_TYPES",
        default_value = "./content-types"
    )]
    pub content_types: PathBuf,

    /// The site's public origin (e.g. https://news.example): the URLs in
    /// /sitemap.xml and /robots.txt. Changing it re-renders the sitemaps at
    /// the next start.
    #[arg(
        long,
        global = true,
        env = "KEEL_BASE_URL",
        default_value = crate::render::DEFAULT_BASE_URL,
        value_parser = parse_base_url
    )]
    pub base_url: url::Url,

    /// Log filter, in tracing's env-filter syntax (e.g. `info,keel=debug`).
    #[arg(long, global = true, env = "KEEL_LOG", default_value = "info")]
    pub log: String,

    /// Log line format.
    #[arg(
        long,
        global = true,
        env = "KEEL_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the accounts of people who sign in to /admin.
    #[command(subcommand)]
    User(UserCommand),
    /// Load content into the database.
    Seed(SeedArgs),
    /// Validate the content types directory and print every problem found.
    Check,
    /// Print the editor API's OpenAPI 3.1 document (JSON) on stdout.
    Openapi,
    /// Re-render stored pages (after a template or content type change).
    Render(RenderArgs),
    /// Show which entries and pages would be pre-warmed and pinned at a time.
    Prewarm(PrewarmArgs),
    /// Manage the media library.
    #[command(subcommand)]
    Media(MediaCommand),
    /// Bulk-load entries from NDJSON, one
    /// {"type", "slug", "data", "status", "published_at"} object per line,
    /// rendering their pages; run it again to resume an interrupted import.
    Import(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// Delete images uploaded before a time that no published entry shows
    /// and no draft or pending change names, with their variants.
    Cleanup {
        /// Only images uploaded longer ago than this (e.g. 30d, 12h).
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// List what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, ClapArgs)]
pub struct ImportArgs {
    /// The NDJSON file (`-` reads standard input).
    pub file: std::path::PathBuf,

    /// What to do with a line that cannot be imported: report it and go on,
    /// or report it and stop.
    #[arg(long, env = "KEEL_IMPORT_ON_ERROR", value_enum, default_value_t = crate::import::OnError::Skip)]
    pub on_error: crate::import::OnError,

    /// Entries per transaction.
    #[arg(long, env = "KEEL_IMPORT_BATCH", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
}

#[derive(Debug, ClapArgs)]
pub struct RenderArgs {
    /// Re-render every published entry and listing.
    #[arg(long, env = "KEEL_RENDER_ALL")]
    pub all: bool,

    /// Pages per transaction.
    #[arg(long, env = "KEEL_RENDER_BATCH", default_value_t = 50)]
    pub batch: usize,
}

#[derive(Debug, ClapArgs)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KEEL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// HTTP worker threads (defaults to the number of cores).
    #[arg(long, env = "KEEL_WORKERS")]
    pub workers: Option<usize>,

    /// Seed the demo site when the database holds no entries.
    #[arg(long, env = "KEEL_DEMO")]
    pub demo: bool,

    /// Largest editor API request body, in bytes (larger ones get 413).
    #[arg(long, env = "KEEL_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest image upload to POST /api/v1/media, in bytes (larger ones get 413).
    #[arg(long, env = "KEEL_MAX_UPLOAD_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_upload_bytes: usize,

    /// Most request-body bytes held in memory at once, all connections together (a large body beyond it gets 503 and Retry-After).
    #[arg(long, env = "KEEL_BODY_MEMORY_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub body_memory_bytes: usize,

    /// Byte budget of the in-memory page cache (every encoding counted).
    #[arg(long, env = "KEEL_CACHE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub cache_bytes: u64,

    /// How often scheduled publishes are checked, e.g. `1s`.
    #[arg(long, env = "KEEL_SCHEDULE_EVERY", default_value = "1s", value_parser = humantime::parse_duration)]
    pub schedule_every: std::time::Duration,

    /// How often the event log is read without a notification, e.g. `5s`.
    #[arg(long, env = "KEEL_EVENT_POLL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub event_poll: std::time::Duration,
    /// How long an idle keep-alive connection is kept open, e.g. `5s`. Behind
    /// a CDN or load balancer, set it above their idle timeout to the origin.
    #[arg(long, env = "KEEL_KEEP_ALIVE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub keep_alive: std::time::Duration,
    /// How long a client may take to send a request head, e.g. `5s`.
    #[arg(long, env = "KEEL_REQUEST_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub request_timeout: std::time::Duration,
    /// How long a response may wait on a client that reads nothing, e.g. `60s`; the connection is closed after it.
    #[arg(long, env = "KEEL_SEND_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub send_timeout: std::time::Duration,
    /// Listen backlog (pending connections); defaults to the kernel's net.core.somaxconn.
    #[arg(long, env = "KEEL_BACKLOG")]
    pub backlog: Option<u32>,
    /// A separate listener for /metrics, /healthz and /readyz (e.g. a private interface); when set, /metrics is no longer served on --listen.
    #[arg(long, env = "KEEL_OPS_LISTEN")]
    pub ops_listen: Option<SocketAddr>,
    /// How often pre-warm windows are re-checked, e.g. `30s`.
    #[arg(long, env = "KEEL_PREWARM_EVERY", default_value = "30s", value_parser = humantime::parse_duration)]
    pub prewarm_every: std::time::Duration,
    /// Share of --cache-bytes filled with the most recent pages at start-up, before ready (0 to 1).
    #[arg(long, env = "KEEL_WARM_SHARE", default_value_t = 0.5, value_parser = parse_share)]
    pub warm_share: f64,
    /// The CDN in front (e.g. https://www.example.com): pre-warmed pages are also requested through it.
    #[arg(long, env = "KEEL_EDGE_URL", value_parser = parse_edge_url)]
    pub edge_url: Option<url::Url>,
    /// End an app session after this long without a request, e.g. `2h`.
    #[arg(long, env = "KEEL_SESSION_IDLE", default_value = "2h", value_parser = humantime::parse_duration)]
    pub session_idle: std::time::Duration,
    /// End an app session this long after sign-in, whatever the activity, e.g. `12h`.
    #[arg(long, env = "KEEL_SESSION_LIFETIME", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_lifetime: std::time::Duration,
    /// Send the session cookie only over HTTPS (`Secure`); default: when --base-url is https.
    #[arg(long, env = "KEEL_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// A proxy in front (CDN, load balancer) whose X-Forwarded-For names the client for the audit log and sign-in limits: an address or network, repeatable or comma-separated.
    #[arg(long = "trusted-proxy", env = "KEEL_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::client::parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

#[derive(Debug, ClapArgs)]
pub struct PrewarmArgs {
    /// When: an RFC 3339 time (2026-05-30T18:30:00Z), `now`, or an offset from now (`+2h`, `-30m`).
    #[arg(long, env = "KEEL_PREWARM_AT", default_value = "now", value_parser = parse_at)]
    pub at: At,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A point in time given on the command line, resolved when used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Now,
    /// Seconds from now (negative: in the past).
    Offset(i64),
    Exact(chrono::DateTime<chrono::Utc>),
}

impl At {
    pub fn resolve(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self {
            At::Now => now,
            At::Offset(secs) => now + chrono::Duration::seconds(secs),
            At::Exact(at) => at,
        }
    }
}

fn parse_at(raw: &str) -> Result<At, String> {
    let raw = raw.trim();
    if raw == "now" {
        return Ok(At::Now);
    }
    if let Some((sign, rest)) = raw
        .strip_prefix('+')
        .map(|r| (1, r))
        .or_else(|| raw.strip_prefix('-').map(|r| (-1, r)))
    {
        let duration = humantime::parse_duration(rest)
            .map_err(|e| format!("{raw:?} is not an offset like +2h or -30m: {e}"))?;
        let secs = i64::try_from(duration.as_secs()).map_err(|_| format!("{raw:?} is too far"))?;
        return Ok(At::Offset(sign * secs));
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|at| At::Exact(at.with_timezone(&chrono::Utc)))
        .map_err(|e| {
            format!("{raw:?} is not a time: expected RFC 3339 (2026-05-30T18:30:00Z), now, or +2h/-30m ({e})")
        })
}

fn parse_share(raw: &str) -> Result<f64, String> {
    let share: f64 = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not a number between 0 and 1"))?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("{share} is outside 0 to 1"))
    }
}

fn parse_base_url(raw: &str) -> Result<url::Url, String> {
    let url = parse_edge_url(raw)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{raw:?} must be an origin with an optional path, without ?query or #fragment"
        ));
    }
    Ok(url)
}

fn parse_edge_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{raw:?} must be an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.path() != "/" {
        return Err(format!(
            "{raw:?} must be the edge's origin only (no path or query): page paths are appended to it"
        ));
    }
    Ok(url)
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints the secret (only it) on stdout. Only its hash is stored.
    Create {
        /// Unique name of the token, recorded as the author of its changes.
        #[arg(long, env = "KEEL_TOKEN_NAME")]
        name: String,
        /// What the token may do.
        #[arg(long, env = "KEEL_TOKEN_ROLE", value_enum, default_value_t = RoleArg::Editor)]
        role: RoleArg,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the active token with this name.
    Revoke {
        /// Name of the token to revoke.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Writer,
    Editor,
    Admin,
}

impl From<RoleArg> for crate::store::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Writer => crate::store::Role::Writer,
            RoleArg::Editor => crate::store::Role::Editor,
            RoleArg::Admin => crate::store::Role::Admin,
        }
    }
}

#[derive(Debug, ClapArgs)]
pub struct SeedArgs {
    /// Load the demo site: teams, a dozen matches around now, articles.
    #[arg(long, env = "KEEL_SEED_DEMO")]
    pub demo: bool,
}

impl GlobalArgs {
    pub fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        DatabaseUrl::parse(&self.database_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_select_the_embedded_store() {
        let args = Args::try_parse_from(["keel", "serve"]).unwrap();
        assert_eq!(args.global.database_url, "sqlite://keel.db");
        let Command::Serve(serve) = args.command else {
            panic!("expected serve")
        };
        assert_eq!(serve.listen.to_string(), "127.0.0.1:8080");
        assert!(!serve.demo);
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let args = Args::try_parse_from([
            "keel",
            "token",
            "create",
            "--name",
            "desk",
            "--role",
            "admin",
            "--database-url",
            "postgres://h/db",
        ])
        .unwrap();
        assert_eq!(args.global.database_url, "postgres://h/db");
        assert!(matches!(
            args.command,
            Command::Token(TokenCommand::Create {
                role: RoleArg::Admin,
                ..
            })
        ));
    }

    #[test]
    fn prewarm_times_are_exact_now_or_offsets() {
        let at = |raw: &str| parse_at(raw);
        assert_eq!(at("now"), Ok(At::Now));
        assert_eq!(at("+2h"), Ok(At::Offset(7200)));
        assert_eq!(at("-30m"), Ok(At::Offset(-1800)));
        let exact = at("2026-05-30T18:30:00+02:00").unwrap();
        assert_eq!(
            exact.resolve(chrono::Utc::now()).to_rfc3339(),
            "2026-05-30T16:30:00+00:00"
        );
        assert!(at("tomorrow").unwrap_err().contains("RFC 3339"));
        assert!(at("+soon").unwrap_err().contains("offset"));
        let args = Args::try_parse_from(["keel", "prewarm", "--at", "+45m", "--json"]).unwrap();
        assert!(matches!(
            args.command,
            Command::Prewarm(PrewarmArgs {
                at: At::Offset(2700),
                json: true
            })
        ));
    }

    #[test]
    fn serve_checks_the_warm_share_and_the_edge_url() {
        let serve = |extra: &[&str]| {
            let mut argv = vec!["keel", "serve"];
            argv.extend_from_slice(extra);
            Args::try_parse_from(argv)
        };
        assert!(serve(&["--warm-share", "0.25"]).is_ok());
        let err = serve(&["--warm-share", "1.5"]).unwrap_err().to_string();
        assert!(err.contains("outside 0 to 1"), "{err}");
        assert!(serve(&["--edge-url", "https://www.example.com"]).is_ok());
        let err = serve(&["--edge-url", "ftp://x"]).unwrap_err().to_string();
        assert!(err.contains("http:// or https://"), "{err}");
        let err = serve(&["--edge-url", "https://cdn.example.com/site"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("origin only"), "{err}");
    }

    #[test]
    fn bad_roles_are_refused() {
        assert!(
            Args::try_parse_from(["keel", "token", "create", "--name", "x", "--role", "root"])
                .is_err()
        );
    }
}
