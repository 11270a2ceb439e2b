//! oncall: an alerting and on-call engine for ISP and datacenter NOCs.
//!
//! Layout (see ARCHITECTURE.md for the invariants):
//! * [`domain`]: the pure core: alerts, lifecycle, fingerprints, access rules.
//! * [`actors`]: the engine: supervised shards, alert actors, the group-committing persister.
//! * [`store`]: SQLite and PostgreSQL behind one trait.
//! * [`auth`]: bearer tokens and integration keys, hashed at rest.
//! * [`grpc`] and [`http`]: thin edges that parse, validate, convert and map errors.
//! * [`config`]: settings from flags, environment, a TOML file and defaults.
//! * [`server`]: wires it all together for `oncall serve`.

pub mod actors;
pub mod auth;
pub mod books;
pub mod clock;
pub mod config;
pub mod definitions;
pub mod directory;
pub mod domain;
pub mod flood_guard;
pub mod grpc;
pub mod handoff_summary;
pub mod http;
pub mod notify;
pub mod paging;
pub mod pb;
pub mod retry;
pub mod secret;
pub mod server;
pub mod store;
pub mod telemetry;
