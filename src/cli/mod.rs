//! Command-line interface: clap's raw `Args` (every flag also read from a
//! `KEEL_*` variable) and their conversion to checked configuration. Nothing
//! past `main` sees these types.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Load content into the database.
    Seed(SeedArgs),
    /// Validate the content types directory and print every problem found.
    Check,
    /// Print the editor API's OpenAPI 3.1 document (JSON) on stdout.
    Openapi,
    /// Re-render stored pages (after a template or content type change).
    Render(RenderArgs),
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

    /// Byte budget of the in-memory page cache (every encoding counted).
    #[arg(long, env = "KEEL_CACHE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub cache_bytes: u64,

    /// How often scheduled publishes are checked, e.g. `1s`.
    #[arg(long, env = "KEEL_SCHEDULE_EVERY", default_value = "1s", value_parser = humantime::parse_duration)]
    pub schedule_every: std::time::Duration,

    /// How often the event log is read without a notification, e.g. `5s`.
    #[arg(long, env = "KEEL_EVENT_POLL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub event_poll: std::time::Duration,
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
    Editor,
    Admin,
}

impl From<RoleArg> for crate::store::Role {
    fn from(role: RoleArg) -> Self {
        match role {
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
    fn bad_roles_are_refused() {
        assert!(
            Args::try_parse_from(["keel", "token", "create", "--name", "x", "--role", "root"])
                .is_err()
        );
    }
}
