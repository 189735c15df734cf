//! Tests of the PostgreSQL backend against a real server. Each test gets its
//! own freshly created database, dropped afterwards even when it fails; when
//! no server is reachable the tests skip (outside CI) or fail (under CI).

mod connection;
mod entries;
mod events;
mod harness;
mod media;
mod newsroom;
mod publishing;
mod tokens;
