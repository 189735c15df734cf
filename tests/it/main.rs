//! Integration tests: the real store backends, the real server on a random
//! port, the real binary. One test binary, a module per area.

mod admin;
mod api;
mod api_media;
mod archives;
mod bodies;
mod browser;
mod cli;
mod delivery;
mod edge;
mod failover;
mod follower;
mod framing;
mod front;
mod fuzz;
mod groups;
mod helpers;
mod hostile;
mod images;
mod import;
mod ops;
mod outbox;
mod prewarm;
mod publish_groups;
mod publish_scale;
mod readme;
mod server;
mod sitemap;
mod spike;
mod store_conformance;
mod store_lists;
mod store_media;
mod store_outbox;
mod webhooks;
mod wire;
