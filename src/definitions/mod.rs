//! Definitions: what operators configure (routing rules and defaults, maintenance
//! windows, inhibition rules, escalation policies, schedules, teams, sites, customer
//! tiers, equipment types, carriers, templates), one module per kind. Each turns the
//! stored form into a domain value with `decode` + `compile`, or says which fields are
//! wrong ([`Invalid`]); the gRPC edge maps that to INVALID_ARGUMENT in one place.
//!
//! The stored form is still the public API message (see ARCHITECTURE.md, "Stored
//! definitions"); this module is the one place that knows it, so changing it is a
//! change here and a data migration, not a hunt through the actors.

pub mod audit;
pub mod carrier;
pub mod contact_method;
pub mod customer_tier;
pub mod equipment_type;
pub mod escalation;
pub mod fields;
pub mod inhibition;
pub mod maintenance;
pub mod routing;
pub mod routing_defaults;
pub mod schedule;
pub mod site;
mod stored;
pub mod team;
pub mod template;

pub use fields::{FieldProblem, Invalid};
pub use stored::{Definition, Definitions, LoadError};
