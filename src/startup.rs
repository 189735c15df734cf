//! Builds the running server from `ServeConfig`: opens and migrates the
//! store, loads the content types, binds the listener, wires the routes and
//! starts the background tasks (the scheduler, cache housekeeping, the
//! event follower and the pre-warm: boot warm-up, then pinning rounds). `main` and the integration
//! tests share this path, so tests run the real server.

use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::Arc;

use actix_http::Request;
use actix_service::{IntoServiceFactory, Service, ServiceFactory, fn_factory, fn_service};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server as ActixServer, ServerHandle, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use anyhow::Context;
use futures_util::FutureExt;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api;
use crate::api::auth::Authenticator;
use crate::cache::{self, CachedPage, PageCache};
use crate::config::{DatabaseUrl, ServeConfig};
use crate::content_types::ContentTypes;
use crate::delivery;
use crate::editor::{Editor, scheduler};
use crate::events::{self, CommitSignal, Follower, Wakeup};
use crate::front::{self, Front};
use crate::health;
use crate::library::Library;
use crate::media;
use crate::metrics::{self, Metrics};
use crate::model::SiteSettings;
use crate::outbox;
use crate::prewarm::edge::EdgeWarmer;
use crate::prewarm::{self, Prewarmer, Warmth};
use crate::publish::{PageSink, Publisher, Refiner};
use crate::render::{BROTLI_QUALITY, Renderer};
use crate::seed;
use crate::store::breaker::{Breaker, BreakerOptions};
use crate::store::instrumented::Instrumented;
use crate::store::{self, Store};

/// The site's name in page templates.
const SITE_NAME: &str = "keel";
/// Brotli quality pages are first stored with when published by a server
/// (about 2 ms for 11 KB against 40 ms at 11); the refiner follows at 11.
const PUBLISH_BROTLI_QUALITY: u32 = 5;
/// How often the cache's entry and byte gauges are refreshed.
const GAUGES_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Shared, read-mostly state handed to every worker.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub types: Arc<ContentTypes>,
    /// The database circuit, for readiness.
    pub breaker: Arc<Breaker>,
    pub cache: Arc<PageCache>,
    /// Whether the boot warm-up finished, for readiness.
    pub warmth: Arc<Warmth>,
}

pub struct Server {
    port: u16,
    /// The operations listener's port, when there is one.
    ops_port: Option<u16>,
    server: ActixServer,
    shutdown: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Server {
    /// Opens the store, migrates it, checks the content types, seeds the demo
    /// site if asked, binds and starts the background tasks. Fails before
    /// binding on an invalid type or an unreachable database.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Server> {
        let types = ContentTypes::load(&config.content_types)
            .map_err(|errors| anyhow::anyhow!("invalid content types:\n{errors}"))?;
        let types = Arc::new(types);
        let metrics = Arc::new(Metrics::new());
        let destinations = outbox::destinations(&config.edge_purge, &config.webhooks).await?;
        let store = store::open(&config.database_url)
            .await
            .with_context(|| format!("opening {}", config.database_url))?;
        let store: Arc<dyn Store> = Arc::new(Instrumented::new(store, metrics.clone()));
        // Outside the counting layer: a call the open circuit refuses never
        // reaches the database and is not a query.
        let breaker = Arc::new(Breaker::new(store, BreakerOptions::default()));
        let store: Arc<dyn Store> = breaker.clone();
        let applied = store.migrate().await.context("migrating the database")?;
        tracing::info!(applied, backend = store.backend(), "database migrated");
        store
            .sync_content_types(&types.records())
            .await
            .context("recording content types")?;
        let cache = Arc::new(PageCache::new(
            store.clone(),
            metrics.clone(),
            config.cache_bytes,
        ));
        // Publishes compress fast; the refiner brings each page to the best
        // quality in the background (see `crate::publish::Refiner`).
        let renderer = Arc::new(
            Renderer::new(types.clone(), SITE_NAME, metrics.clone())
                .with_base_url(&config.base_url)
                .with_brotli_quality(PUBLISH_BROTLI_QUALITY),
        );
        // The site's name, origin and time zone as an admin last saved them.
        let settings = SiteSettings::from_stored(
            &store
                .site_settings()
                .await
                .context("reading the site settings")?
                .data,
        );
        renderer.apply(&settings);
        // Rendered once per node; unknown paths are answered with it from memory.
        let not_found = renderer
            .not_found_page(chrono::Utc::now())
            .context("rendering the not-found page")?;
        cache.set_not_found(CachedPage::from_page(not_found));
        let wakeup = Wakeup::new();
        let sink: Arc<dyn PageSink> = Arc::new(CommitSignal::new(cache.clone(), wakeup.clone()));
        let publisher = Publisher::new(
            store.clone(),
            types.clone(),
            renderer.clone(),
            Some(sink.clone()),
        );
        let refiner = Refiner::start(
            store.clone(),
            Some(sink.clone()),
            BROTLI_QUALITY,
            publisher.render_slots(),
        );
        let publisher = publisher.with_refiner(refiner).with_sitemap_indexer();
        let editor = Editor::new(store.clone(), types.clone(), Arc::new(publisher));
        let library = Library::new(
            store.clone(),
            Some(sink.clone()),
            editor.publisher().render_slots(),
            media::Limits {
                max_bytes: config.max_upload_bytes,
                ..media::Limits::default()
            },
        );
        editor
            .publisher()
            .ensure_index()
            .await
            .map_err(|e| anyhow::anyhow!("building the list index: {e}"))?;
        if config.demo {
            if store.count_entries().await? == 0 {
                // Compressed at the best quality right away: nobody waits on
                // the seed, and the refiner then has nothing to catch up on.
                let renderer = Arc::new(
                    Renderer::new(types.clone(), SITE_NAME, metrics.clone())
                        .with_base_url(&config.base_url),
                );
                renderer.apply(&settings);
                let seeder =
                    editor_with(store.clone(), types.clone(), renderer, Some(sink.clone()));
                let seed_library = Library::new(
                    store.clone(),
                    Some(sink.clone()),
                    seeder.publisher().render_slots(),
                    media::Limits::default(),
                );
                let report = seed::seed_demo(&seeder, &seed_library, chrono::Utc::now()).await?;
                tracing::info!(%report, "seeded the demo site");
            } else {
                tracing::info!("database already holds entries; demo seed skipped");
            }
        }
        // After the seed: its publishes leave the index to this.
        editor
            .publisher()
            .ensure_site_files()
            .await
            .map_err(|e| anyhow::anyhow!("rendering the sitemaps and robots.txt: {e}"))?;
        // Read before the index: an event committed in between is applied
        // again, which is harmless; one missed would not be.
        let boot_seq = store.last_seq().await.context("reading the event log")?;
        let (settings_saved, reload) = tokio::sync::mpsc::unbounded_channel();
        let follower = Follower::new(store.clone(), cache.clone(), &metrics, boot_seq)
            .with_settings_listener(settings_saved);
        let settings_task = tokio::spawn(reload_settings(
            reload,
            store.clone(),
            renderer.clone(),
            cache.clone(),
        ));
        let published = cache
            .load_index()
            .await
            .context("loading published paths")?;
        tracing::info!(published, "published paths indexed");
        let edge = config
            .edge_url
            .clone()
            .map(EdgeWarmer::new)
            .transpose()
            .context("building the edge warm-up client")?;
        let prewarmer = Arc::new(Prewarmer::new(
            store.clone(),
            types.clone(),
            cache.clone(),
            edge,
        ));
        let listener = listen(config.listen, config.backlog)?;
        let ops_listener = config
            .ops_listen
            .map(|addr| listen(addr, config.backlog))
            .transpose()?;
        let following = Following {
            follower,
            wakeup,
            settings: settings_task,
            source: match &config.database_url {
                DatabaseUrl::Sqlite(_) => events::Source::Local,
                DatabaseUrl::Postgres(url) => events::Source::Postgres(url.clone()),
            },
        };
        let parts = Parts {
            store,
            types,
            editor,
            metrics,
            cache,
            following,
            breaker,
            prewarmer,
            destinations,
            library,
        };
        Self::start(config, (listener, ops_listener), parts)
    }

    fn start(
        config: ServeConfig,
        (listener, ops_listener): (TcpListener, Option<TcpListener>),
        parts: Parts,
    ) -> anyhow::Result<Server> {
        let Parts {
            store,
            types,
            editor,
            metrics,
            cache,
            following,
            breaker,
            prewarmer,
            destinations,
            library,
        } = parts;
        let warmth = Arc::new(Warmth::default());
        let port = listener.local_addr()?.port();
        let node = config
            .node_name
            .clone()
            .unwrap_or_else(|| outbox::default_node_name(port));
        // After a purge, the edge warm-up sends the pinned pages it reached
        // again, so the edge fetches their new version before readers do.
        let (purged, mut rewarm) = tokio::sync::mpsc::unbounded_channel::<Vec<String>>();
        let rewarm_task = {
            let prewarmer = prewarmer.clone();
            async move {
                while let Some(paths) = rewarm.recv().await {
                    prewarmer.rewarm(&paths).await;
                }
            }
        };
        let outbox = outbox::Tasks {
            store: store.clone(),
            cache: cache.clone(),
            metrics: metrics.clone(),
            node,
            wait: config.purge_wait,
            destinations,
            purged: prewarmer.has_edge().then_some(purged),
        };
        // Built once, outside the factory closure, which runs once per worker.
        let state = web::Data::new(AppState {
            store: store.clone(),
            types,
            breaker,
            cache: cache.clone(),
            warmth: warmth.clone(),
        });
        let accounts = Arc::new(crate::accounts::Accounts::new(
            store.clone(),
            config.sessions,
        ));
        let auth = web::Data::new(Authenticator::new(store.clone(), accounts.clone()));
        let gate_auth = auth.clone();
        let accounts_data = web::Data::from(accounts.clone());
        let admin = web::Data::new(crate::admin::Admin::new(editor.clone(), accounts));
        let editor_data = web::Data::new(editor.clone());
        let library_data = web::Data::new(library);
        let limits = front::Limits {
            keep_alive: config.keep_alive,
            head: config.request_timeout,
            send: config.send_timeout,
            max_body: config.max_body_bytes,
            max_upload: config.max_upload_bytes + api::UPLOAD_OVERHEAD,
            body_memory: config.body_memory_bytes,
        };
        anyhow::ensure!(
            u32::try_from(limits.max_upload.max(limits.max_body)).is_ok(),
            "--max-upload-bytes and --max-body-bytes must be under 4 GiB"
        );
        anyhow::ensure!(
            limits.body_memory >= limits.max_upload.max(limits.max_body),
            "--body-memory-bytes ({}) is smaller than a body it must be able to hold: \
             an upload of {} (--max-upload-bytes and {} for a form's fields), \
             or {} (--max-body-bytes)",
            limits.body_memory,
            limits.max_upload,
            api::UPLOAD_OVERHEAD,
            limits.max_body,
        );
        let front = Arc::new(Front::new(cache.clone(), metrics.clone(), limits));
        let node_gauges = (state.clone(), metrics.clone());
        let metrics = web::Data::from(metrics);
        let cache_data = web::Data::from(cache.clone());
        let prewarm_data = web::Data::from(prewarmer.clone());
        let proxies = web::Data::new(config.trusted_proxies.clone());
        let max_body = config.max_body_bytes;
        // With a separate operations listener, the metrics leave the
        // public one; health stays on both, for load balancers.
        let public_metrics = config.ops_listen.is_none();
        // Runs once per worker, on the worker's thread: the app is per
        // worker, everything it shares is built above.
        let app = {
            let (state, metrics) = (state.clone(), metrics.clone());
            move || {
                App::new()
                    .app_data(state.clone())
                    .app_data(auth.clone())
                    .app_data(admin.clone())
                    .app_data(accounts_data.clone())
                    .app_data(editor_data.clone())
                    .app_data(library_data.clone())
                    .app_data(metrics.clone())
                    .app_data(cache_data.clone())
                    .app_data(prewarm_data.clone())
                    .app_data(proxies.clone())
                    .app_data(web::Data::from(metrics.shards.new_shard()))
                    .wrap(from_fn(metrics::observe_request))
                    .configure(health::routes)
                    .configure(|cfg| {
                        if public_metrics {
                            cfg.route("/metrics", web::get().to(metrics::metrics_endpoint));
                        }
                    })
                    .service(api::preview::preview)
                    // Before the editor scope, which would claim all of /api/v1.
                    .configure(delivery::routes)
                    .service(api::scope(max_body))
                    .service(crate::admin::scope())
                    .default_service(web::to(delivery::serve))
            }
        };
        let mut builder = actix_server::Server::build();
        let graceful = builder.graceful_shutdown_signal();
        builder = builder
            .workers(config.workers)
            .disable_signals()
            .listen("keel", listener, {
                let front = front.clone();
                move || {
                    let gate = api::body_gate(gate_auth.clone());
                    worker_service(front.clone(), Some(gate), app())
                }
            })?;
        let ops_port = match ops_listener {
            Some(ops) => {
                let port = ops.local_addr()?.port();
                let ops_app = move || {
                    App::new()
                        .app_data(state.clone())
                        .app_data(metrics.clone())
                        .wrap(from_fn(metrics::observe_request))
                        .configure(health::routes)
                        .route("/metrics", web::get().to(metrics::metrics_endpoint))
                };
                let front = front.clone();
                builder = builder.listen("keel-ops", ops, move || {
                    worker_service(front.clone(), None, ops_app())
                })?;
                Some(port)
            }
            None => None,
        };
        let server = builder.run();
        tracing::info!(addr = %config.listen.ip(), port, "listening");
        match (ops_port, config.ops_listen) {
            (Some(ops_port), Some(ops)) => {
                tracing::info!(addr = %ops.ip(), port = ops_port, "operations endpoints listening");
            }
            _ if !config.listen.ip().is_loopback() => tracing::warn!(
                "/metrics is served on the public listener; set --ops-listen to move it to a private one"
            ),
            _ => {}
        }

        let (shutdown, rx) = watch::channel(false);
        // Rounding down is fine: the budget is a share, not an exact size.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let warm_budget = (config.cache_bytes as f64 * config.warm_share) as u64;
        let mut stopped = rx.clone();
        let mut tasks = vec![
            (
                "graceful-stop",
                tokio::spawn(async move {
                    tokio::select! {
                        () = graceful.notified() => front.stop(),
                        _ = stopped.wait_for(|stop| *stop) => {}
                    }
                }),
            ),
            (
                "prewarm",
                tokio::spawn(prewarm::run(
                    prewarmer,
                    warmth,
                    warm_budget,
                    config.prewarm_every,
                    rx.clone(),
                )),
            ),
            (
                "scheduler",
                tokio::spawn(scheduler::run(editor, config.schedule_every, rx.clone())),
            ),
            (
                "cache-housekeeping",
                tokio::spawn(cache::run_housekeeping(cache, GAUGES_EVERY, rx.clone())),
            ),
            (
                "node-gauges",
                tokio::spawn(health::run_gauges(
                    node_gauges.0,
                    node_gauges.1,
                    GAUGES_EVERY,
                    rx.clone(),
                )),
            ),
            (
                "event-follower",
                tokio::spawn(events::run(
                    following.follower,
                    following.source,
                    following.wakeup,
                    config.event_poll,
                    rx.clone(),
                )),
            ),
        ];
        tasks.push(("settings-reload", following.settings));
        tasks.extend(outbox.spawn(&rx));
        // Ends when every sender (and with them the channel) is gone.
        tasks.push(("edge-rewarm", tokio::spawn(rewarm_task)));
        Ok(Server {
            port,
            ops_port,
            server,
            shutdown,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn ops_port(&self) -> Option<u16> {
        self.ops_port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until `handle().stop(..)` is called or the process gets
    /// SIGINT/SIGTERM, then stops the background tasks and waits for them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        let stop_on_signal = tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            handle.stop(true).await;
        });
        let result = server.await.map_err(std::io::Error::other)?;
        stop_on_signal.abort();
        let _ = self.shutdown.send(true);
        for (name, task) in self.tasks {
            if let Err(e) = task.await {
                tracing::warn!(task = name, error = %e, "background task ended abnormally");
            }
        }
        result
    }
}

/// The built parts of a server, handed from `build` to `start`.
struct Parts {
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    editor: Editor,
    metrics: Arc<Metrics>,
    cache: Arc<PageCache>,
    following: Following,
    breaker: Arc<Breaker>,
    prewarmer: Arc<Prewarmer>,
    destinations: Vec<Arc<dyn outbox::Destination>>,
    library: Library,
}

/// The event follower, built before the server starts and run with the
/// other background tasks.
struct Following {
    follower: Follower,
    wakeup: Wakeup,
    source: events::Source,
    /// Applies the settings events the follower passes on; ends with it.
    settings: tokio::task::JoinHandle<()>,
}

/// Below this many open files a node is warned about at start: the
/// connections of a spike (thousands without a CDN in front, each a file)
/// would be refused while memory and CPU were still to spare.
const FEW_OPEN_FILES: u64 = 16 * 1024;

/// Raises this process's soft limit on open files to its hard limit, as
/// Go's runtime and nginx's `worker_rlimit_nofile` do: many systems start
/// services with a soft limit of 1024, which a spike's connections reach
/// long before anything else runs short, while the hard limit is far
/// higher.
#[cfg(unix)]
pub fn raise_open_file_limit() {
    let before = rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            if before != Some(limit) {
                tracing::info!(from = before, to = limit, "open-file limit raised");
            }
            if limit < FEW_OPEN_FILES {
                tracing::warn!(
                    limit,
                    "this node can hold fewer than {FEW_OPEN_FILES} open files, so about that \
                     many connections; raise the service's hard limit (systemd's \
                     LimitNOFILE, or ulimit -Hn as root)"
                );
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, limit = before, "could not raise the open-file limit");
        }
    }
}

/// Elsewhere there is no such limit to raise.
#[cfg(not(unix))]
pub fn raise_open_file_limit() {}

/// Binds `addr` with a listen backlog of `backlog`, or the kernel's
/// `net.core.somaxconn` (std's `bind` uses 128, which drops the SYNs of a
/// connection storm: a CDN reconnecting after a deploy, a spike's start).
fn listen(addr: SocketAddr, backlog: Option<u32>) -> anyhow::Result<TcpListener> {
    let backlog = backlog.unwrap_or_else(somaxconn);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .context("creating a socket")?;
    // As std does: a restarted node binds while old connections linger.
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .with_context(|| format!("binding {addr}"))?;
    socket
        .listen(i32::try_from(backlog).unwrap_or(i32::MAX))
        .with_context(|| format!("listening on {addr}"))?;
    Ok(socket.into())
}

/// The kernel's cap on listen backlogs, which it applies silently.
fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4096)
}

/// One worker's connection service for a listener: keel's front over the
/// worker's instance of `app`. With the upload `gate` (the public
/// listener) pages come from the cache first; without it (the operations
/// listener) every request goes to `app`.
fn worker_service<S, B>(
    front: Arc<Front>,
    gate: Option<front::Gate>,
    app: impl IntoServiceFactory<S, Request>,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = (), InitError = ()>
where
    S: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let factory = app.into_factory();
    fn_factory(move || {
        let app = factory.new_service(AppConfig::default());
        let (front, gate) = (front.clone(), gate.clone());
        async move {
            let service = Rc::new(app.await?);
            let app: front::App = Rc::new(move |request| {
                let response = service.call(request);
                Box::pin(async move {
                    match response.await {
                        Ok(response) => HttpResponse::from(response.map_into_boxed_body()),
                        Err(err) => err.error_response(),
                    }
                })
            });
            let worker = Rc::new(match gate {
                Some(gate) => front::Worker::new(front, app).with_gate(gate),
                None => front::Worker::app_only(front, app),
            });
            Ok::<_, ()>(fn_service(move |stream| {
                front::serve_connection(worker.clone(), stream).map(Ok::<_, ()>)
            }))
        }
    })
}

/// Reloads the site's settings after each `settings` event (saved on any
/// node): later renders use them, and this node's not-found page, rendered
/// once per node, is rendered again. Ends with the follower.
async fn reload_settings(
    mut saved: tokio::sync::mpsc::UnboundedReceiver<i64>,
    store: Arc<dyn Store>,
    renderer: Arc<Renderer>,
    cache: Arc<PageCache>,
) {
    while let Some(seq) = saved.recv().await {
        let stored = match store.site_settings().await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(seq, error = %e, "could not reload the site settings");
                continue;
            }
        };
        renderer.apply(&SiteSettings::from_stored(&stored.data));
        match renderer.not_found_page(chrono::Utc::now()) {
            Ok(page) => cache.set_not_found(CachedPage::from_page(page)),
            Err(e) => tracing::warn!(error = %e, "could not render the not-found page"),
        }
        tracing::info!(seq, version = stored.version, "site settings reloaded");
    }
}

/// The write path for commands without a server (seed, render): no page
/// cache to keep current.
pub fn assemble_editor(
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    metrics: Arc<Metrics>,
    base_url: &url::Url,
    sink: Option<Arc<dyn PageSink>>,
) -> Editor {
    let renderer =
        Arc::new(Renderer::new(types.clone(), SITE_NAME, metrics).with_base_url(base_url));
    editor_with(store, types, renderer, sink)
}

/// The publisher `keel import` writes with: pages compressed at the
/// import's quality, no page cache.
pub fn assemble_importer(
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    metrics: Arc<Metrics>,
    base_url: &url::Url,
) -> Publisher {
    let renderer = Renderer::new(types.clone(), SITE_NAME, metrics)
        .with_base_url(base_url)
        .with_brotli_quality(crate::import::IMPORT_BROTLI_QUALITY);
    Publisher::new(store, types, Arc::new(renderer), None)
}

/// Publisher and editor over one store; `sink` receives pages committed on
/// this node (the page cache).
fn editor_with(
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    renderer: Arc<Renderer>,
    sink: Option<Arc<dyn PageSink>>,
) -> Editor {
    let publisher = Arc::new(Publisher::new(store.clone(), types.clone(), renderer, sink));
    Editor::new(store, types, publisher)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
