//! An alert as stored and shown, and the entries of its timeline.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::severity::Severity;

/// `Triggered → Acknowledged → Resolved`; `Suppressed` while a maintenance window or an
/// inhibition holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    Triggered,
    Acknowledged,
    Resolved,
    Suppressed,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 4] = [
        AlertStatus::Triggered,
        AlertStatus::Acknowledged,
        AlertStatus::Resolved,
        AlertStatus::Suppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Triggered => "triggered",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
            AlertStatus::Suppressed => "suppressed",
        }
    }

    pub fn parse(name: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Open alerts take part in dedup; a resolved one never reopens.
    pub fn is_open(self) -> bool {
        self != AlertStatus::Resolved
    }
}

/// What happened to an alert, one entry per change on its timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimelineKind {
    Created,
    Acknowledged,
    Resolved,
    Escalated,
    NoteAdded,
    Updated,
    Suppressed,
    Unsuppressed,
    Notified,
    DeliveryFailed,
    /// Unacknowledged past its customer tier's response time.
    SlaBreached,
}

impl TimelineKind {
    pub const ALL: [TimelineKind; 11] = [
        TimelineKind::Created,
        TimelineKind::Acknowledged,
        TimelineKind::Resolved,
        TimelineKind::Escalated,
        TimelineKind::NoteAdded,
        TimelineKind::Updated,
        TimelineKind::Suppressed,
        TimelineKind::Unsuppressed,
        TimelineKind::Notified,
        TimelineKind::DeliveryFailed,
        TimelineKind::SlaBreached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Created => "created",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Escalated => "escalated",
            TimelineKind::NoteAdded => "note_added",
            TimelineKind::Updated => "updated",
            TimelineKind::Suppressed => "suppressed",
            TimelineKind::Unsuppressed => "unsuppressed",
            TimelineKind::Notified => "notified",
            TimelineKind::DeliveryFailed => "delivery_failed",
            TimelineKind::SlaBreached => "sla_breached",
        }
    }

    pub fn parse(name: &str) -> Option<TimelineKind> {
        TimelineKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Who made a change: a user, the sender of the alert, or oncall itself.
pub const ACTOR_SOURCE: &str = "source";
pub const ACTOR_SYSTEM: &str = "system";
/// Changes made by routing rules.
pub const ACTOR_ROUTING: &str = "routing";

#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub kind: TimelineKind,
    pub actor: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub id: Uuid,
    /// Short and sequential, so people can type it: `ack 4121`.
    pub number: i64,
    pub service_id: Uuid,
    pub fingerprint: String,
    pub summary: String,
    pub details: String,
    pub severity: Severity,
    pub source: String,
    pub source_instance: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub status: AlertStatus,
    pub triggered_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub occurrence_count: i64,
    /// The alert this fingerprint opened before, when it fired again after a resolve.
    pub previous_alert_id: Option<Uuid>,
}
