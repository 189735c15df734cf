//! Test fixtures: a fresh store per test (a temp SQLite file, or a PostgreSQL
//! database created for the test and dropped after it), and the real server
//! on a random loopback port.

use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

use keel::config::{DatabaseUrl, ServeConfig};
use keel::startup::Server;
use keel::store::{self, Role, Store};
use tempfile::TempDir;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store that cleans up after itself.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub url: DatabaseUrl,
    /// The URL as given to `--database-url` (with any credentials).
    pub raw_url: String,
    _guard: Guard,
}

#[allow(dead_code)] // held for their Drop
enum Guard {
    Sqlite(TempDir),
    Postgres(PgDatabase),
}

impl TestStore {
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keel.db");
        let raw_url = format!("sqlite://{}", path.display());
        let url = DatabaseUrl::Sqlite(path);
        let store = store::open(&url).await.expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        TestStore {
            store,
            url,
            raw_url,
            _guard: Guard::Sqlite(dir),
        }
    }

    /// `None` (after one printed line) when PostgreSQL is unreachable and CI is
    /// not set; under `CI=true` an unreachable server fails the test.
    pub async fn postgres() -> Option<TestStore> {
        let db = PgDatabase::create().await?;
        let url = DatabaseUrl::Postgres(db.url.clone());
        let store = store::open(&url).await.expect("open postgres");
        store.migrate().await.expect("migrate postgres");
        Some(TestStore {
            store,
            url,
            raw_url: db.url.clone(),
            _guard: Guard::Postgres(db),
        })
    }
}

fn admin_url() -> String {
    std::env::var("KEEL_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A PostgreSQL database that exists for one test and is dropped after it.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Option<PgDatabase> {
        let admin_url = admin_url();
        let client = match connect(&admin_url).await {
            Ok(client) => client,
            Err(e) if !in_ci() => {
                static SKIP: Once = Once::new();
                SKIP.call_once(|| {
                    eprintln!(
                        "PostgreSQL at {admin_url} is unreachable ({e}); skipping PostgreSQL cases (set CI=true to fail instead)"
                    )
                });
                return None;
            }
            Err(e) => panic!("CI=true but PostgreSQL at {admin_url} is unreachable: {e}"),
        };
        let name = format!("keel_t_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let mut url = url::Url::parse(&admin_url).expect("KEEL_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(PgDatabase {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside a runtime; a thread with its own keeps it simple.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = connect(&admin_url).await?;
                client.batch_execute(&sql).await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The demo content types shipped in the repository.
pub fn demo_content_types() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("content-types")
}

/// Copies a directory tree (content type fixtures).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The real server on a random port, stopped when dropped.
pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    handle: actix_web::dev::ServerHandle,
    _fixture: Option<TestStore>,
}

impl TestApp {
    pub async fn spawn(store: TestStore, demo: bool) -> TestApp {
        let config = ServeConfig {
            demo,
            ..test_config(&store.url)
        };
        Self::spawn_with(config, store.store.clone(), Some(store)).await
    }

    /// A server on `config`; `fixture`, if given, is kept alive with it.
    pub async fn spawn_with(
        config: ServeConfig,
        store: Arc<dyn Store>,
        fixture: Option<TestStore>,
    ) -> TestApp {
        let app = Self::start(config, store, fixture).await;
        app.wait_ready().await;
        app
    }

    /// A server on `config`, returned as soon as it listens (it may still
    /// be warming up).
    pub async fn start(
        config: ServeConfig,
        store: Arc<dyn Store>,
        fixture: Option<TestStore>,
    ) -> TestApp {
        let server = Server::build(config).await.expect("server builds");
        let addr = format!("http://127.0.0.1:{}", server.port());
        let handle = server.handle();
        tokio::spawn(server.run_until_stopped());
        TestApp {
            addr,
            client: reqwest::Client::new(),
            store,
            handle,
            _fixture: fixture,
        }
    }

    /// Waits for `/readyz` to say 200, as a load balancer would before
    /// sending readers (the boot warm-up runs after the listener is bound).
    pub async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if self.get("/readyz").await.status() == reqwest::StatusCode::OK {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node not ready within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Stops the server as SIGTERM would (its background tasks too).
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.addr))
            .send()
            .await
            .expect("request")
    }

    /// A new token with `role`, stored the way `keel token create` stores it.
    pub async fn token(&self, name: &str, role: Role) -> String {
        let secret = keel::auth::generate_token();
        self.store
            .create_token(name, role, &keel::auth::hash_token(&secret))
            .await
            .expect("create token");
        secret
    }

    /// The node's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("metrics")
    }

    /// Creates an entry of type `ty` through the editor API and publishes
    /// it; returns its id.
    pub async fn publish_new(
        &self,
        token: &str,
        ty: &str,
        slug: &str,
        data: serde_json::Value,
    ) -> String {
        let created = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/entries/{ty}"),
                token,
            )
            .json(&serde_json::json!({"slug": slug, "data": data}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201, "create {ty} {slug}");
        let body: serde_json::Value = created.json().await.expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        let published = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/entries/{ty}/{id}/publish"),
                token,
            )
            .send()
            .await
            .expect("publish");
        assert_eq!(published.status(), 200, "publish {ty} {slug}");
        id
    }

    /// Replaces an entry's working data and publishes it in one request
    /// (`PATCH ...?publish=true`, whatever the current version); it must
    /// succeed.
    pub async fn republish(&self, token: &str, ty: &str, id: &str, data: serde_json::Value) {
        let path = format!("/api/v1/entries/{ty}/{id}?publish=true");
        let r = self
            .api(reqwest::Method::PATCH, &path, token)
            .header("If-Match", "*")
            .json(&serde_json::json!({ "data": data }))
            .send()
            .await
            .expect("patch and publish");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    /// The first entries of a type, as the editor API lists them, that
    /// `pick` accepts.
    pub async fn find_entry(
        &self,
        token: &str,
        ty: &str,
        pick: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let list: serde_json::Value = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/entries/{ty}?limit=100"),
                token,
            )
            .send()
            .await
            .expect("list entries")
            .json()
            .await
            .expect("json");
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| pick(e))
            .unwrap_or_else(|| panic!("no such {ty} entry among the first 100"))
            .clone()
    }

    /// A request to the API with a bearer token.
    pub fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.addr))
            .bearer_auth(token)
    }
}

/// Serve settings for tests: a random loopback port, one worker.
pub fn test_config(url: &DatabaseUrl) -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..ServeConfig::new(url.clone(), demo_content_types())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// Runs test bodies once per backend. `on_both_backends!(store: a, b)` makes
/// `a::sqlite` and `a::postgres` calling `a(Arc<dyn Store>)`;
/// `on_both_backends!(fixture: c)` passes the whole `TestStore` instead.
#[macro_export]
macro_rules! on_both_backends {
    (store: $($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@each |t| t.store.clone(); $($name),*);
    };
    (fixture: $($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@each |t| t; $($name),*);
    };
    (@each |$t:ident| $arg:expr; $($name:ident),*) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let $t = $crate::helpers::TestStore::sqlite().await;
                    super::$name($arg).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some($t) = $crate::helpers::TestStore::postgres().await else {
                        return;
                    };
                    super::$name($arg).await;
                }
            }
        )*
    };
}

/// The sum of `keel_db_queries_total` over the store operations in `ops`
/// (every operation when empty), from a `/metrics` text.
pub fn db_queries(metrics: &str, ops: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("keel_db_queries_total{"))
        .filter(|l| ops.is_empty() || ops.iter().any(|op| l.contains(&format!("op=\"{op}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Store operations a reader can cause: a miss (`page`) or a batch warm-up
/// (`pages`).
pub const READER_OPS: &[&str] = &["page", "pages"];
