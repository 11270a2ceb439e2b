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
pub mod config;
pub mod directory;
pub mod domain;
pub mod enrichment;
pub mod flood_guard;
pub mod grpc;
pub mod http;
pub mod inhibitions;
pub mod notify;
pub mod paging;
pub mod rulebook;
pub mod server;
pub mod service_defaults;
pub mod store;
pub mod telemetry;
