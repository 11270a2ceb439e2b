//! Equipment types: what kind of device raised an alert and how much more it matters.

use regex::Regex;
use uuid::Uuid;

use crate::domain::severity::Severity;

#[derive(Clone, Debug)]
pub struct EquipmentType {
    pub id: Uuid,
    /// Unique.
    pub name: String,
    pub category: String,
    /// Levels to raise an alert's severity by, never above critical.
    pub severity_boost: u8,
    pub escalation_policy: Option<Uuid>,
    /// Compiled once, when the reference data is built.
    pub hostname_patterns: Vec<Regex>,
}

/// Types are the same when their data is; compiled patterns compare by their source.
impl PartialEq for EquipmentType {
    fn eq(&self, other: &EquipmentType) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.category == other.category
            && self.severity_boost == other.severity_boost
            && self.escalation_policy == other.escalation_policy
            && self
                .hostname_patterns
                .iter()
                .map(Regex::as_str)
                .eq(other.hostname_patterns.iter().map(Regex::as_str))
    }
}

impl EquipmentType {
    /// `severity` raised by the type's boost, capped at critical.
    pub fn boost(&self, severity: Severity) -> Severity {
        let rank = severity.rank().saturating_add(self.severity_boost).min(5);
        Severity::ALL
            .into_iter()
            .find(|s| s.rank() == rank)
            .unwrap_or(Severity::Critical)
    }

    pub fn recognises(&self, hostname: &str) -> bool {
        self.hostname_patterns.iter().any(|p| p.is_match(hostname))
    }
}
