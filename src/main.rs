//! The `keel` binary: parses the command line, sets up logging and runs one
//! subcommand. All behaviour lives in the library.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use keel::cli::{Args, Command, GlobalArgs, LogFormat, MediaCommand, TokenCommand};
use keel::config::ServeConfig;
use keel::content_types::ContentTypes;
use keel::startup::Server;
use keel::store::{self, Store};
use keel::{auth, seed};

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing(&args.global);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let global = args.global;
    match args.command {
        Command::Serve(serve) => {
            keel::panics::install();
            keel::startup::raise_open_file_limit();
            let config = ServeConfig {
                listen: serve.listen,
                workers: serve.workers.unwrap_or_else(default_workers).max(1),
                demo: serve.demo,
                max_body_bytes: serve.max_body_bytes,
                max_upload_bytes: serve.max_upload_bytes,
                body_memory_bytes: serve.body_memory_bytes,
                schedule_every: serve.schedule_every,
                cache_bytes: serve.cache_bytes,
                event_poll: serve.event_poll,
                prewarm_every: serve.prewarm_every,
                warm_share: serve.warm_share,
                edge_url: serve.edge_url,
                edge_purge: serve.edge.purges().map_err(|e| anyhow::anyhow!(e))?,
                webhooks: serve.edge.webhooks().map_err(|e| anyhow::anyhow!(e))?,
                purge_wait: serve.edge.purge_wait,
                node_name: serve.edge.node_name.clone(),
                base_url: global.base_url.clone(),
                keep_alive: serve.keep_alive,
                request_timeout: serve.request_timeout,
                send_timeout: serve.send_timeout,
                backlog: serve.backlog,
                ops_listen: serve.ops_listen,
                sessions: keel::accounts::SessionPolicy {
                    idle: serve.session_idle,
                    absolute: serve.session_lifetime,
                    secure_cookie: serve
                        .secure_cookies
                        .unwrap_or(global.base_url.scheme() == "https"),
                },
                trusted_proxies: keel::client::TrustedProxies::new(serve.trusted_proxies.clone()),
                ..ServeConfig::new(global.database_url()?, global.content_types.clone())
            };
            let server = Server::build(config).await?;
            server.run_until_stopped().await?;
        }
        Command::Migrate => {
            let store = open_store(&global).await?;
            let applied = store.migrate().await?;
            println!("{applied} migration(s) applied");
        }
        Command::Token(command) => {
            let store = open_migrated(&global).await?;
            token(store.as_ref(), command).await?;
        }
        Command::User(command) => {
            let store = open_migrated(&global).await?;
            keel::cli::user::run(store, command).await?;
        }
        Command::Seed(seed_args) => {
            if !seed_args.demo {
                anyhow::bail!("nothing to seed: pass --demo to load the demo site");
            }
            let types = std::sync::Arc::new(load_types(&global)?);
            let store = open_migrated(&global).await?;
            store.sync_content_types(&types.records()).await?;
            let metrics = std::sync::Arc::new(keel::metrics::Metrics::new());
            let settings =
                keel::model::SiteSettings::from_stored(&store.site_settings().await?.data);
            let editor = keel::startup::assemble_editor(
                store.clone(),
                types,
                metrics,
                &global.base_url,
                None,
            );
            editor.publisher().renderer().apply(&settings);
            editor
                .publisher()
                .ensure_index()
                .await
                .map_err(|e| anyhow::anyhow!("building the list index: {e}"))?;
            // No cache here: serving nodes learn of the images from the log.
            let library = keel::library::Library::new(
                store,
                None,
                editor.publisher().render_slots(),
                keel::media::Limits::default(),
            );
            let report = seed::seed_demo(&editor, &library, chrono::Utc::now()).await?;
            println!("{report}");
        }
        Command::Render(render) => {
            if !render.all {
                anyhow::bail!("nothing to render: pass --all to re-render every page");
            }
            let types = std::sync::Arc::new(load_types(&global)?);
            let store = open_migrated(&global).await?;
            store.sync_content_types(&types.records()).await?;
            let metrics = std::sync::Arc::new(keel::metrics::Metrics::new());
            let settings =
                keel::model::SiteSettings::from_stored(&store.site_settings().await?.data);
            let editor =
                keel::startup::assemble_editor(store, types, metrics, &global.base_url, None);
            editor.publisher().renderer().apply(&settings);
            editor
                .publisher()
                .ensure_index()
                .await
                .map_err(|e| anyhow::anyhow!("building the list index: {e}"))?;
            let pages = editor
                .publisher()
                .render_all(render.batch.max(2))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{pages} page(s) rendered");
        }
        Command::Prewarm(args) => {
            let types = load_types(&global)?;
            let store = open_migrated(&global).await?;
            let at = args.at.resolve(chrono::Utc::now());
            let plan = keel::prewarm::plan_at(store.as_ref(), &types, at).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                print_prewarm_plan(&plan);
            }
        }
        Command::Media(MediaCommand::Cleanup {
            older_than,
            dry_run,
        }) => {
            let store = open_migrated(&global).await?;
            let older_than = chrono::Duration::from_std(older_than)
                .ok()
                .and_then(|age| chrono::Utc::now().checked_sub_signed(age))
                .context("--older-than is too long")?;
            // No cache here: serving nodes learn of the deletes from the log.
            let library = keel::library::Library::new(
                store,
                None,
                std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
                keel::media::Limits::default(),
            );
            let report = library
                .cleanup(older_than, dry_run)
                .await
                .map_err(|e| anyhow::anyhow!("cleaning up the media library: {e}"))?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            for m in &report.deleted {
                println!(
                    "{verb} {} {} ({}x{}, {})",
                    m.id, m.name, m.width, m.height, m.created_at
                );
            }
            for id in &report.spared {
                println!("spared {id}: named by a draft or a pending change");
            }
            println!(
                "{} image(s) {verb}, {} spared",
                report.deleted.len(),
                report.spared.len()
            );
        }
        Command::Import(args) => {
            let types = std::sync::Arc::new(load_types(&global)?);
            let store = open_migrated(&global).await?;
            store.sync_content_types(&types.records()).await?;
            let metrics = std::sync::Arc::new(keel::metrics::Metrics::new());
            let settings =
                keel::model::SiteSettings::from_stored(&store.site_settings().await?.data);
            let publisher = keel::startup::assemble_importer(
                store.clone(),
                types.clone(),
                metrics,
                &global.base_url,
            );
            publisher.renderer().apply(&settings);
            publisher
                .ensure_index()
                .await
                .map_err(|e| anyhow::anyhow!("building the list index: {e}"))?;
            let stdin = args.file.as_os_str() == "-";
            let (input, total_lines): (Box<dyn std::io::BufRead>, _) = if stdin {
                (Box::new(std::io::stdin().lock()), None)
            } else {
                let file = std::fs::File::open(&args.file)
                    .with_context(|| format!("opening {}", args.file.display()))?;
                let total = keel::import::count_lines(&args.file).ok();
                (Box::new(std::io::BufReader::new(file)), total)
            };
            let options = keel::import::Options {
                on_error: args.on_error,
                batch: args.batch as usize,
                total_lines,
            };
            let report = keel::import::run(
                &publisher,
                store.as_ref(),
                &types,
                input,
                &options,
                |line| eprintln!("{line}"),
            )
            .await
            .map_err(anyhow::Error::new)?;
            println!("{report}");
            if !report.errors.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Openapi => {
            use utoipa::OpenApi;
            println!(
                "{}",
                keel::api::openapi::ApiDoc::openapi().to_pretty_json()?
            );
        }
        Command::Check => {
            return Ok(match ContentTypes::load(&global.content_types) {
                Ok(types) => {
                    println!(
                        "{}: {} content type(s), {} listing(s): ok",
                        global.content_types.display(),
                        types.types().count(),
                        types.listings().count()
                    );
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::FAILURE
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(store: &dyn Store, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name, role } => {
            let name = name.trim();
            if name.is_empty() {
                anyhow::bail!("a token needs a non-empty --name");
            }
            let secret = auth::generate_token();
            store
                .create_token(name, role.into(), &auth::hash_token(&secret))
                .await?;
            // The secret, and only it, on stdout so scripts can capture it.
            println!("{secret}");
        }
        TokenCommand::List => {
            println!(
                "{:<24} {:<7} {:<26} {:<26} revoked",
                "name", "role", "created", "last used"
            );
            for t in store.tokens().await? {
                let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_else(|| "-".into())
                };
                println!(
                    "{:<24} {:<7} {:<26} {:<26} {}",
                    t.name,
                    t.role.as_str(),
                    time(Some(t.created_at)),
                    time(t.last_used_at),
                    time(t.revoked_at)
                );
            }
        }
        TokenCommand::Revoke { name } => {
            store
                .revoke_token(&name)
                .await
                .with_context(|| format!("revoking token {name:?}"))?;
            eprintln!("token {name:?} revoked");
        }
    }
    Ok(())
}

fn print_prewarm_plan(plan: &keel::prewarm::Plan) {
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    println!(
        "pre-warmed at {}: {} entr{}, {} listing(s), {} path(s) pinned",
        time(plan.at),
        plan.entries.len(),
        if plan.entries.len() == 1 { "y" } else { "ies" },
        plan.listings.len(),
        plan.paths.len()
    );
    for entry in &plan.entries {
        println!(
            "{} {} (anchor {}, window {} to {})",
            entry.type_name,
            entry.slug,
            time(entry.anchor),
            time(entry.from),
            time(entry.until)
        );
        for path in &entry.paths {
            println!("  {path}");
        }
        if !entry.media.is_empty() {
            println!("  and {} image variant(s) it shows", entry.media.len());
        }
    }
    if !plan.listings.is_empty() {
        println!("listings:");
        for path in &plan.listings {
            println!("  {path}");
        }
    }
}

fn load_types(global: &GlobalArgs) -> anyhow::Result<ContentTypes> {
    ContentTypes::load(&global.content_types)
        .map_err(|errors| anyhow::anyhow!("invalid content types:\n{errors}"))
}

async fn open_store(global: &GlobalArgs) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let url = global.database_url()?;
    store::open(&url)
        .await
        .with_context(|| format!("opening {url}"))
}

async fn open_migrated(global: &GlobalArgs) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let store = open_store(global).await?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn init_tracing(global: &GlobalArgs) {
    let filter = EnvFilter::try_new(&global.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Logs go to stderr: stdout carries command output (a new token's secret).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
