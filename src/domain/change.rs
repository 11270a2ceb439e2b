//! What watchers are told when an alert changes: derived from the committed write.

use chrono::{DateTime, Utc};

use super::alert::{ACTOR_SOURCE, AlertStatus, TimelineKind};
use super::fingerprint::AlertKey;
use super::lifecycle::{AlertRef, AlertWrite};
use super::severity::Severity;

#[derive(Clone, Debug, PartialEq)]
pub struct AlertChange {
    pub kind: TimelineKind,
    pub alert: AlertRef,
    /// The status after the change, when the change sets one.
    pub status: Option<AlertStatus>,
    /// Known for new alerts and severity updates.
    pub severity: Option<Severity>,
    /// Known for new alerts and summary updates.
    pub summary: Option<String>,
    pub actor: String,
    pub at: DateTime<Utc>,
}

impl AlertWrite {
    /// The change this write makes visible, or `None` for a repeat (a storm's repeats
    /// change nothing a watcher acts on).
    pub fn change(&self) -> Option<AlertChange> {
        let alert = match self {
            AlertWrite::Open(alert) => {
                return Some(AlertChange {
                    kind: TimelineKind::Created,
                    alert: AlertRef {
                        id: alert.id,
                        number: alert.number,
                        key: AlertKey {
                            service_id: alert.service_id,
                            fingerprint: alert.fingerprint.clone(),
                        },
                    },
                    status: Some(alert.status),
                    severity: Some(alert.severity),
                    summary: Some(alert.summary.clone()),
                    actor: ACTOR_SOURCE.to_string(),
                    at: alert.created_at,
                });
            }
            AlertWrite::Repeat { .. } => return None,
            AlertWrite::Acknowledge { alert, .. }
            | AlertWrite::Resolve { alert, .. }
            | AlertWrite::Escalate { alert, .. }
            | AlertWrite::AddNote { alert, .. }
            | AlertWrite::Update { alert, .. }
            | AlertWrite::Suppress { alert, .. }
            | AlertWrite::Unsuppress { alert, .. }
            | AlertWrite::Retrigger { alert, .. }
            | AlertWrite::Record { alert, .. } => alert,
        };
        let first = self.timeline().into_iter().next()?;
        let (severity, summary) = match self {
            AlertWrite::Update { changes, .. } => (changes.severity, changes.summary.clone()),
            _ => (None, None),
        };
        Some(AlertChange {
            kind: first.kind,
            alert: alert.clone(),
            status: match first.kind {
                _ if matches!(self, AlertWrite::Retrigger { .. }) => Some(AlertStatus::Triggered),
                TimelineKind::Acknowledged => Some(AlertStatus::Acknowledged),
                TimelineKind::Resolved => Some(AlertStatus::Resolved),
                TimelineKind::Suppressed => Some(AlertStatus::Suppressed),
                TimelineKind::Unsuppressed => Some(AlertStatus::Triggered),
                _ => None,
            },
            severity,
            summary,
            actor: first.actor,
            at: first.at,
        })
    }
}
