//! Which timeline entries a write appends. The store inserts them; it does not decide them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::alert::TimelineKind;
use super::lifecycle::AlertWrite;

/// A timeline entry before the store gives it an id.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineDraft {
    pub alert_id: Uuid,
    pub kind: TimelineKind,
    pub actor: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

impl AlertWrite {
    /// The entries this write appends: none for an open (the alert row records its own
    /// creation) or a repeat (the occurrence count records those), two for an ack with a
    /// note (the ack, and the note among the alert's notes).
    pub fn timeline(&self) -> Vec<TimelineDraft> {
        let entry =
            |alert_id, kind, actor: &str, message: &str, at: &DateTime<Utc>| TimelineDraft {
                alert_id,
                kind,
                actor: actor.to_string(),
                message: message.to_string(),
                at: *at,
            };
        match self {
            AlertWrite::Open(_) | AlertWrite::Repeat { .. } => Vec::new(),
            AlertWrite::Acknowledge {
                alert,
                by,
                at,
                note,
            } => {
                let text = note.as_deref().unwrap_or("");
                let mut entries = vec![entry(alert.id, TimelineKind::Acknowledged, by, text, at)];
                if note.is_some() {
                    entries.push(entry(alert.id, TimelineKind::NoteAdded, by, text, at));
                }
                entries
            }
            AlertWrite::Resolve {
                alert,
                by,
                at,
                note,
            } => vec![entry(
                alert.id,
                TimelineKind::Resolved,
                by,
                note.as_deref().unwrap_or(""),
                at,
            )],
            AlertWrite::Escalate {
                alert,
                by,
                at,
                reason,
            } => vec![entry(alert.id, TimelineKind::Escalated, by, reason, at)],
            AlertWrite::AddNote {
                alert,
                author,
                text,
                at,
            } => vec![entry(alert.id, TimelineKind::NoteAdded, author, text, at)],
            AlertWrite::Suppress {
                alert,
                by,
                at,
                reason,
                ..
            } => vec![entry(alert.id, TimelineKind::Suppressed, by, reason, at)],
            AlertWrite::Unsuppress {
                alert,
                by,
                at,
                reason,
            } => vec![entry(alert.id, TimelineKind::Unsuppressed, by, reason, at)],
            AlertWrite::Retrigger {
                alert,
                by,
                at,
                reason,
            } => vec![entry(alert.id, TimelineKind::Escalated, by, reason, at)],
            AlertWrite::Record {
                alert,
                kind,
                actor,
                message,
                at,
            } => vec![entry(alert.id, *kind, actor, message, at)],
            AlertWrite::Update {
                alert,
                by,
                at,
                changes,
            } => {
                let fields: Vec<&str> = [
                    ("summary", changes.summary.is_some()),
                    ("details", changes.details.is_some()),
                    ("severity", changes.severity.is_some()),
                    ("labels", changes.labels.is_some()),
                    ("annotations", changes.annotations.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect();
                let message = format!("updated {}", fields.join(", "));
                vec![entry(alert.id, TimelineKind::Updated, by, &message, at)]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fingerprint::AlertKey;
    use crate::domain::lifecycle::{AlertChanges, AlertRef};
    use crate::domain::severity::Severity;

    fn reference() -> AlertRef {
        AlertRef {
            id: Uuid::from_u128(1),
            number: 1,
            key: AlertKey {
                service_id: Uuid::from_u128(2),
                fingerprint: "fp".into(),
            },
        }
    }

    #[test]
    fn an_ack_with_a_note_is_two_entries_and_a_repeat_none() {
        let at = Utc::now();
        let ack = AlertWrite::Acknowledge {
            alert: reference(),
            by: "alice".into(),
            at,
            note: Some("on it".into()),
        };
        let kinds: Vec<TimelineKind> = ack.timeline().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [TimelineKind::Acknowledged, TimelineKind::NoteAdded]);
        let repeat = AlertWrite::Repeat {
            alert: reference(),
            seen_at: at,
            annotations: None,
        };
        assert!(repeat.timeline().is_empty());
        assert!(repeat.change().is_none());
        let change = ack.change().unwrap();
        assert_eq!(change.kind, TimelineKind::Acknowledged);
        assert_eq!(change.actor, "alice");
    }

    #[test]
    fn updates_name_the_fields_they_change() {
        let update = AlertWrite::Update {
            alert: reference(),
            by: "bob".into(),
            at: Utc::now(),
            changes: AlertChanges {
                severity: Some(Severity::High),
                labels: Some(Default::default()),
                ..AlertChanges::default()
            },
        };
        assert_eq!(update.timeline()[0].message, "updated severity, labels");
        assert_eq!(update.change().unwrap().severity, Some(Severity::High));
    }
}
