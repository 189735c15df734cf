//! keel: a spike-resilient headless CMS and content delivery server.
//!
//! Request path (readers): delivery -> cache -> store (on a miss only).
//! Write path (editors): api -> validate -> render -> store.write (one
//! transaction: entry, revision, pages, event) -> event followers.
//!
//! - [`config`]: checked configuration built from the CLI's flags.
//! - [`store`]: the single source of truth (SQLite or PostgreSQL).

pub mod config;
pub mod content_types;
pub mod store;
