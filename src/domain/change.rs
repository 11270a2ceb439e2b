//! What watchers are told when an alert changes: derived from the committed write.

use chrono::{DateTime, Utc};

use super::alert::{ACTOR_SOURCE, AlertStatus, TimelineKind};
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
        let plain = |kind, alert: &AlertRef, status, actor: &str, at: &DateTime<Utc>| AlertChange {
            kind,
            alert: alert.clone(),
            status,
            severity: None,
            summary: None,
            actor: actor.to_string(),
            at: *at,
        };
        match self {
            AlertWrite::Open(alert) => Some(AlertChange {
                kind: TimelineKind::Created,
                alert: AlertRef {
                    id: alert.id,
                    number: alert.number,
                    key: super::fingerprint::AlertKey {
                        service_id: alert.service_id,
                        fingerprint: alert.fingerprint.clone(),
                    },
                },
                status: Some(alert.status),
                severity: Some(alert.severity),
                summary: Some(alert.summary.clone()),
                actor: ACTOR_SOURCE.to_string(),
                at: alert.created_at,
            }),
            AlertWrite::Repeat { .. } => None,
            AlertWrite::Acknowledge { alert, by, at, .. } => Some(plain(
                TimelineKind::Acknowledged,
                alert,
                Some(AlertStatus::Acknowledged),
                by,
                at,
            )),
            AlertWrite::Resolve { alert, by, at, .. } => Some(plain(
                TimelineKind::Resolved,
                alert,
                Some(AlertStatus::Resolved),
                by,
                at,
            )),
            AlertWrite::Escalate { alert, by, at, .. } => {
                Some(plain(TimelineKind::Escalated, alert, None, by, at))
            }
            AlertWrite::AddNote {
                alert, author, at, ..
            } => Some(plain(TimelineKind::NoteAdded, alert, None, author, at)),
            AlertWrite::Update {
                alert,
                by,
                at,
                changes,
            } => {
                let mut change = plain(TimelineKind::Updated, alert, None, by, at);
                change.severity = changes.severity;
                change.summary = changes.summary.clone();
                Some(change)
            }
        }
    }
}
