//! The books: what the engine decides with, compiled from the store and swapped in whole
//! when it changes ([`snapshot::Snapshot`]): routing rules and defaults, maintenance
//! windows, inhibition rules with their open sources, enrichment's reference data, and
//! the services' and teams' default policies. Deciding never compiles and never waits
//! on the store.

pub mod compiled;
pub mod enrichment;
pub mod inhibitions;
pub mod rules;
pub mod service_defaults;
pub mod snapshot;
pub mod windows;

pub use enrichment::EnrichmentBook;
pub use inhibitions::InhibitionBook;
pub use rules::RuleBook;
pub use service_defaults::ServiceDefaults;
pub use windows::WindowBook;

use crate::definitions::schedule::PagedSchedule;
use crate::domain::escalation::Policy;
use crate::pb::alerting::routing::v1 as pb;

/// Every schedule, compiled for paging.
pub type ScheduleBook = compiled::CompiledBook<pb::Schedule, PagedSchedule>;
/// Every escalation policy, compiled.
pub type PolicyBook = compiled::CompiledBook<pb::EscalationPolicy, Policy>;
