//! Builds the running server from `ServeConfig`: opens and migrates the
//! store, loads the content types, binds the listener, wires the routes and
//! starts the background tasks (the scheduler, cache housekeeping, the
//! event follower and the pre-warm: boot warm-up, then pinning rounds). `main` and the integration
//! tests share this path, so tests run the real server.

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;

use actix_http::HttpService;
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service,
    map_config,
};
use actix_web::dev::{AppConfig, Server as ActixServer, ServerHandle};
use actix_web::http::KeepAlive;
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use anyhow::Context;
use futures_util::FutureExt;
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
use crate::metrics::{self, Metrics};
use crate::prewarm::edge::EdgeWarmer;
use crate::prewarm::{self, Prewarmer, Warmth};
use crate::publish::{PageSink, Publisher};
use crate::render::Renderer;
use crate::seed;
use crate::store::breaker::{Breaker, BreakerOptions};
use crate::store::instrumented::Instrumented;
use crate::store::{self, Store};

/// The site's name in page templates.
const SITE_NAME: &str = "keel";
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
        let renderer = Arc::new(Renderer::new(types.clone(), SITE_NAME, metrics.clone()));
        // Rendered once per node; unknown paths are answered with it from memory.
        let not_found = renderer
            .not_found_page(chrono::Utc::now())
            .context("rendering the not-found page")?;
        cache.set_not_found(CachedPage::from_page(not_found));
        let wakeup = Wakeup::new();
        let sink: Arc<dyn PageSink> = Arc::new(CommitSignal::new(cache.clone(), wakeup.clone()));
        let editor = editor_with(store.clone(), types.clone(), renderer, Some(sink));
        if config.demo {
            if store.count_entries().await? == 0 {
                let report = seed::seed_demo(&editor, chrono::Utc::now()).await?;
                tracing::info!(%report, "seeded the demo site");
            } else {
                tracing::info!("database already holds entries; demo seed skipped");
            }
        }
        // Read before the index: an event committed in between is applied
        // again, which is harmless; one missed would not be.
        let boot_seq = store.last_seq().await.context("reading the event log")?;
        let follower = Follower::new(store.clone(), cache.clone(), &metrics, boot_seq);
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
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        let following = Following {
            follower,
            wakeup,
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
        };
        Self::start(config, listener, parts)
    }

    fn start(config: ServeConfig, listener: TcpListener, parts: Parts) -> anyhow::Result<Server> {
        let Parts {
            store,
            types,
            editor,
            metrics,
            cache,
            following,
            breaker,
            prewarmer,
        } = parts;
        let warmth = Arc::new(Warmth::default());
        let port = listener.local_addr()?.port();
        // Built once, outside the factory closure, which runs once per worker.
        let state = web::Data::new(AppState {
            store: store.clone(),
            types,
            breaker,
            cache: cache.clone(),
            warmth: warmth.clone(),
        });
        let auth = web::Data::new(Authenticator::new(store));
        let editor_data = web::Data::new(editor.clone());
        let timeouts = front::Timeouts {
            keep_alive: config.keep_alive,
            head: config.request_timeout,
        };
        let front = Arc::new(Front::new(cache.clone(), metrics.clone(), timeouts));
        let metrics = web::Data::from(metrics);
        let cache_data = web::Data::from(cache.clone());
        let prewarm_data = web::Data::from(prewarmer.clone());
        let max_body = config.max_body_bytes;
        // Runs once per worker, on the worker's thread: the app and its
        // HTTP/1 service are per worker, everything they share is built above.
        let app = move || {
            App::new()
                .app_data(state.clone())
                .app_data(auth.clone())
                .app_data(editor_data.clone())
                .app_data(metrics.clone())
                .app_data(cache_data.clone())
                .app_data(prewarm_data.clone())
                .wrap(from_fn(metrics::observe_request))
                .configure(health::routes)
                .route("/metrics", web::get().to(metrics::metrics_endpoint))
                .service(api::preview::preview)
                // Before the editor scope, which would claim all of /api/v1.
                .configure(delivery::routes)
                .service(api::scope(max_body))
                .default_service(web::to(delivery::serve))
        };
        let mut builder = actix_server::Server::build();
        let graceful = builder.graceful_shutdown_signal();
        let connections = front.clone();
        builder = builder.workers(config.workers).disable_signals().listen(
            "keel",
            listener,
            move || {
                // Nothing reads the app's host or address (no URL is built
                // from them), so the defaults stand in for actix-web's.
                let app = map_config(
                    app()
                        .into_factory()
                        .map_err(|err: actix_web::Error| err.error_response()),
                    |()| AppConfig::default(),
                );
                let http1 = HttpService::build()
                    .keep_alive(KeepAlive::from(timeouts.keep_alive))
                    .client_request_timeout(timeouts.head)
                    .h1(app);
                let front = connections.clone();
                fn_factory(move || {
                    let http1 = http1.new_service(());
                    let front = front.clone();
                    async move {
                        let http1 = Rc::new(http1.await?);
                        let fallback: front::Fallback = Rc::new(move |io, peer| {
                            let dispatch = http1.call((io, peer));
                            Box::pin(async move {
                                if let Err(e) = dispatch.await {
                                    tracing::debug!(error = %e, "connection ended with an error");
                                }
                            })
                        });
                        let worker = Rc::new(front::Worker::new(front, fallback));
                        Ok::<_, ()>(fn_service(move |stream| {
                            front::serve_connection(worker.clone(), stream).map(Ok::<_, ()>)
                        }))
                    }
                })
            },
        )?;
        let server = builder.run();
        tracing::info!(addr = %config.listen.ip(), port, "listening");

        let (shutdown, rx) = watch::channel(false);
        // Rounding down is fine: the budget is a share, not an exact size.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let warm_budget = (config.cache_bytes as f64 * config.warm_share) as u64;
        let mut stopped = rx.clone();
        let tasks = vec![
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
                "event-follower",
                tokio::spawn(events::run(
                    following.follower,
                    following.source,
                    following.wakeup,
                    config.event_poll,
                    rx,
                )),
            ),
        ];
        Ok(Server {
            port,
            server,
            shutdown,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
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
}

/// The event follower, built before the server starts and run with the
/// other background tasks.
struct Following {
    follower: Follower,
    wakeup: Wakeup,
    source: events::Source,
}

/// The write path for commands without a server (seed, render): no page
/// cache to keep current.
pub fn assemble_editor(
    store: Arc<dyn Store>,
    types: Arc<ContentTypes>,
    metrics: Arc<Metrics>,
    sink: Option<Arc<dyn PageSink>>,
) -> Editor {
    let renderer = Arc::new(Renderer::new(types.clone(), SITE_NAME, metrics));
    editor_with(store, types, renderer, sink)
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
