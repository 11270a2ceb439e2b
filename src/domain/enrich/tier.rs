//! Customer tiers: SLA response times per severity, the escalation multiplier and the
//! customers that belong to a tier.

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use crate::domain::severity::Severity;

#[derive(Clone, Debug, PartialEq)]
pub struct CustomerTier {
    pub id: Uuid,
    /// Unique.
    pub name: String,
    /// 1 is the most important.
    pub level: u32,
    /// SLA response time per severity; a severity absent here has no SLA.
    pub response: BTreeMap<Severity, Duration>,
    /// Escalation delays are multiplied by this (0.5: steps come twice as fast).
    pub escalation_multiplier: f64,
    pub dedicated_team: Option<Uuid>,
    /// The `customer` label values that belong to this tier.
    pub customers: Vec<String>,
}

impl CustomerTier {
    /// How long an alert of this severity may wait for an acknowledgement.
    pub fn response_time(&self, severity: Severity) -> Option<Duration> {
        self.response.get(&severity).copied()
    }
}
