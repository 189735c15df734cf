//! keel: a spike-resilient headless CMS and content delivery server.
//!
//! Write path (editors): [`api`] (auth, problem+json) -> [`editor`]
//! (validate, check references) -> [`publish`] (render every dependent page
//! with [`render`], off the request threads) -> [`store`] (one transaction:
//! entry, revision, pages, event).
//! Read path (readers): delivery -> cache -> store, on a miss only.
//!
//! - [`cli`] and [`config`]: flags (and `KEEL_*` variables) -> checked config.
//! - [`startup`]: builds and runs the server and its background tasks.
//! - [`model`]: entries and pages, the shapes every layer shares.
//! - [`content_types`]: schemas, checks, entry validation, listing queries.
//! - [`store`]: the single source of truth (SQLite or PostgreSQL).
//! - [`events`]: follows the store's event log into this node's cache.
//! - [`outbox`]: the edges outside keel follow the log too: purges once
//!   every node holds a change, from a durable cursor, one sender at a time.
//! - [`front`]: the HTTP/1.1 server: owns every connection, checks every
//!   request by one set of rules, answers page reads from the cache and
//!   passes the rest to the actix-web app one request at a time.
//! - [`prewarm`]: loads and pins pages before their readers arrive (windows
//!   around kick-off, the boot warm-up, warm-up through the CDN).
//! - [`metrics`]: every Prometheus metric, by its contract name.
//! - [`health`]: `/healthz` and `/readyz`; [`panics`]: panic reporting.
//! - [`auth`]: token secrets and their hashes; [`seed`]: the demo site.
//! - [`client`]: the client's address behind trusted proxies.
//! - [`media`]: uploaded images to checked, metadata-free responsive variants;
//!   [`library`]: storing, listing, deleting and collecting them.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod client;
pub mod config;
pub mod content_types;
pub mod delivery;
pub mod editor;
pub mod error;
pub mod events;
pub mod front;
pub mod health;
pub mod import;
pub mod library;
pub mod media;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod panics;
pub mod prewarm;
pub mod publish;
pub mod render;
pub mod seed;
pub mod startup;
pub mod store;
pub mod tasks;
