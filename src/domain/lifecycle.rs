//! The alert lifecycle as pure decisions: given what the engine knows of an alert and
//! what just happened, what is its next state and what must be written.
//!
//! The engine keeps only an [`AlertState`] per open alert (a few dozen bytes); the
//! store keeps the rest. Every decision returns the [`AlertWrite`] that records it, so
//! the state in memory never runs ahead of what will be committed.
//!
//! Over 600 lines because of its tests (the second half): every transition is checked
//! beside the function that decides it.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::alert::{ACTOR_SOURCE, Alert, AlertStatus};
use super::fingerprint::AlertKey;
use super::holder::Holder;
use super::incoming::{IncomingAlert, SenderState};
use super::severity::Severity;

/// What the engine holds in memory for one alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertState {
    pub id: Uuid,
    pub number: i64,
    pub status: AlertStatus,
    pub severity: Severity,
    /// Tells a repeat with changed annotations from a plain repeat without keeping them.
    pub annotations_digest: u64,
}

impl AlertState {
    pub fn of(alert: &Alert) -> AlertState {
        AlertState {
            id: alert.id,
            number: alert.number,
            status: alert.status,
            severity: alert.severity,
            annotations_digest: digest(&alert.annotations),
        }
    }
}

/// A stable-within-a-process digest of a map (the engine rebuilds digests on start).
pub fn digest(map: &BTreeMap<String, String>) -> u64 {
    let mut hasher = DefaultHasher::new();
    map.hash(&mut hasher);
    hasher.finish()
}

/// Enough to name an alert in a write and in a change notice.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRef {
    pub id: Uuid,
    pub number: i64,
    pub key: AlertKey,
}

/// Fields a responder may change on an alert; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertChanges {
    pub summary: Option<String>,
    pub details: Option<String>,
    pub severity: Option<Severity>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

impl AlertChanges {
    pub fn is_empty(&self) -> bool {
        *self == AlertChanges::default()
    }
}

/// One change to commit. The store turns each into rows, and appends the timeline
/// entry for every variant but [`AlertWrite::Repeat`] (a storm's repeats would drown the
/// timeline; the occurrence count records them).
#[derive(Clone, Debug, PartialEq)]
pub enum AlertWrite {
    Open(Box<Alert>),
    Repeat {
        alert: AlertRef,
        seen_at: DateTime<Utc>,
        annotations: Option<BTreeMap<String, String>>,
    },
    Acknowledge {
        alert: AlertRef,
        by: String,
        at: DateTime<Utc>,
        note: Option<String>,
    },
    Resolve {
        alert: AlertRef,
        by: String,
        at: DateTime<Utc>,
        note: Option<String>,
    },
    Escalate {
        alert: AlertRef,
        by: String,
        at: DateTime<Utc>,
        reason: String,
    },
    AddNote {
        alert: AlertRef,
        author: String,
        text: String,
        at: DateTime<Utc>,
    },
    Update {
        alert: AlertRef,
        by: String,
        at: DateTime<Utc>,
        changes: AlertChanges,
    },
    Suppress {
        alert: AlertRef,
        by: String,
        at: DateTime<Utc>,
        reason: String,
        /// What holds it, so that thing can release it.
        held_by: Option<Holder>,
    },
    Unsuppress {
        alert: AlertRef,
        by: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// An acknowledgement timed out: the alert is triggered again, unacknowledged.
    Retrigger {
        alert: AlertRef,
        by: String,
        at: DateTime<Utc>,
        reason: String,
    },
    /// A fact about the alert that changes none of its state: a notification sent or
    /// failed.
    Record {
        alert: AlertRef,
        kind: super::alert::TimelineKind,
        actor: String,
        message: String,
        at: DateTime<Utc>,
    },
}

/// What an ingested alert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    Created,
    Deduplicated,
    Acknowledged,
    Resolved,
    /// A resolve or acknowledge for nothing open: nothing to do.
    Ignored,
}

#[derive(Debug, PartialEq)]
pub struct IngestDecision {
    /// The alert's state after this event; `None` when it is closed (or never opened).
    pub next: Option<AlertState>,
    pub write: Option<AlertWrite>,
    pub outcome: IngestOutcome,
    /// The alert the event landed on, when there is one.
    pub alert: Option<AlertRef>,
}

/// Decides what an incoming alert does to the open alert with its key, if any.
/// `allocate` hands out an id and number, and is called only when an alert opens.
pub fn ingest(
    open: Option<&AlertState>,
    key: &AlertKey,
    incoming: IncomingAlert,
    now: DateTime<Utc>,
    allocate: impl FnOnce() -> (Uuid, i64),
) -> IngestDecision {
    let reference = |state: &AlertState| AlertRef {
        id: state.id,
        number: state.number,
        key: key.clone(),
    };
    match (incoming.state, open) {
        (SenderState::Firing, None) => {
            let (id, number) = allocate();
            let alert = Alert {
                id,
                number,
                service_id: key.service_id,
                fingerprint: key.fingerprint.clone(),
                summary: incoming.summary,
                details: incoming.details,
                severity: incoming.severity,
                source: incoming.source,
                source_instance: incoming.source_instance,
                labels: incoming.labels,
                annotations: incoming.annotations,
                status: AlertStatus::Triggered,
                triggered_at: incoming.triggered_at.unwrap_or(now),
                acknowledged_at: None,
                acknowledged_by: None,
                resolved_at: None,
                resolved_by: None,
                resolution_note: None,
                created_at: now,
                updated_at: now,
                last_seen_at: now,
                occurrence_count: 1,
                previous_alert_id: None,
            };
            let state = AlertState::of(&alert);
            IngestDecision {
                alert: Some(reference(&state)),
                next: Some(state),
                write: Some(AlertWrite::Open(Box::new(alert))),
                outcome: IngestOutcome::Created,
            }
        }
        (SenderState::Firing, Some(state)) => {
            let new_digest = digest(&incoming.annotations);
            let changed = new_digest != state.annotations_digest;
            let mut next = state.clone();
            next.annotations_digest = new_digest;
            IngestDecision {
                alert: Some(reference(state)),
                write: Some(AlertWrite::Repeat {
                    alert: reference(state),
                    seen_at: now,
                    annotations: changed.then_some(incoming.annotations),
                }),
                next: Some(next),
                outcome: IngestOutcome::Deduplicated,
            }
        }
        (SenderState::Resolved, Some(state)) => IngestDecision {
            alert: Some(reference(state)),
            write: Some(AlertWrite::Resolve {
                alert: reference(state),
                by: ACTOR_SOURCE.into(),
                at: now,
                note: None,
            }),
            next: None,
            outcome: IngestOutcome::Resolved,
        },
        (SenderState::Acknowledged, Some(state)) if state.status == AlertStatus::Acknowledged => {
            IngestDecision {
                alert: Some(reference(state)),
                next: Some(state.clone()),
                write: None,
                outcome: IngestOutcome::Acknowledged,
            }
        }
        (SenderState::Acknowledged, Some(state)) => {
            let mut next = state.clone();
            next.status = AlertStatus::Acknowledged;
            IngestDecision {
                alert: Some(reference(state)),
                write: Some(AlertWrite::Acknowledge {
                    alert: reference(state),
                    by: ACTOR_SOURCE.into(),
                    at: now,
                    note: None,
                }),
                next: Some(next),
                outcome: IngestOutcome::Acknowledged,
            }
        }
        (SenderState::Resolved | SenderState::Acknowledged, None) => IngestDecision {
            next: None,
            write: None,
            outcome: IngestOutcome::Ignored,
            alert: None,
        },
    }
}

/// What a responder asks of one alert.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Acknowledge {
        by: String,
        note: Option<String>,
    },
    Resolve {
        by: String,
        note: Option<String>,
    },
    Escalate {
        by: String,
        reason: String,
    },
    AddNote {
        author: String,
        text: String,
    },
    Update {
        by: String,
        changes: AlertChanges,
    },
    /// A routing rule or maintenance window holds the alert: no notification for it.
    Suppress {
        by: String,
        reason: String,
        /// What holds it, so that thing can release it.
        held_by: Option<Holder>,
    },
    /// What held the alert let it go: it is triggered again.
    Unsuppress {
        by: String,
        reason: String,
    },
    /// The service's ack timeout passed with the alert still acknowledged: it is
    /// triggered again.
    Retrigger {
        by: String,
        reason: String,
    },
    /// Record a fact (a notification sent or failed) without changing the alert.
    Record {
        kind: super::alert::TimelineKind,
        actor: String,
        message: String,
    },
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("alert {number} is resolved; it cannot be {verb}")]
    Resolved { number: i64, verb: &'static str },
}

/// Applies a responder's command to `state` (changed in place) and returns what to write,
/// or `None` for a no-op success (ack of an acked alert, resolve of a resolved one).
pub fn command(
    state: &mut AlertState,
    key: &AlertKey,
    command: Command,
    now: DateTime<Utc>,
) -> Result<Option<AlertWrite>, LifecycleError> {
    let alert = AlertRef {
        id: state.id,
        number: state.number,
        key: key.clone(),
    };
    let resolved = state.status == AlertStatus::Resolved;
    let refuse = |verb| LifecycleError::Resolved {
        number: state.number,
        verb,
    };
    let note = |n: Option<String>| n.filter(|text| !text.trim().is_empty());
    match command {
        Command::Acknowledge { .. } if resolved => Err(refuse("acknowledged")),
        Command::Acknowledge { .. } if state.status == AlertStatus::Acknowledged => Ok(None),
        Command::Acknowledge { by, note: text } => {
            state.status = AlertStatus::Acknowledged;
            Ok(Some(AlertWrite::Acknowledge {
                alert,
                by,
                at: now,
                note: note(text),
            }))
        }
        Command::Resolve { .. } if resolved => Ok(None),
        Command::Resolve { by, note: text } => {
            state.status = AlertStatus::Resolved;
            Ok(Some(AlertWrite::Resolve {
                alert,
                by,
                at: now,
                note: note(text),
            }))
        }
        Command::Escalate { .. } if resolved => Err(refuse("escalated")),
        Command::Escalate { by, reason } => Ok(Some(AlertWrite::Escalate {
            alert,
            by,
            at: now,
            reason,
        })),
        Command::AddNote { author, text } => Ok(Some(AlertWrite::AddNote {
            alert,
            author,
            text,
            at: now,
        })),
        Command::Suppress { .. } if resolved || state.status == AlertStatus::Suppressed => Ok(None),
        Command::Suppress {
            by,
            reason,
            held_by,
        } => {
            state.status = AlertStatus::Suppressed;
            Ok(Some(AlertWrite::Suppress {
                alert,
                by,
                at: now,
                reason,
                held_by,
            }))
        }
        Command::Unsuppress { .. } if state.status != AlertStatus::Suppressed => Ok(None),
        Command::Unsuppress { by, reason } => {
            state.status = AlertStatus::Triggered;
            Ok(Some(AlertWrite::Unsuppress {
                alert,
                by,
                at: now,
                reason,
            }))
        }
        Command::Retrigger { .. } if state.status != AlertStatus::Acknowledged => Ok(None),
        Command::Retrigger { by, reason } => {
            state.status = AlertStatus::Triggered;
            Ok(Some(AlertWrite::Retrigger {
                alert,
                by,
                at: now,
                reason,
            }))
        }
        Command::Record {
            kind,
            actor,
            message,
        } => Ok(Some(AlertWrite::Record {
            alert,
            kind,
            actor,
            message,
            at: now,
        })),
        Command::Update { changes, .. } if changes.is_empty() => Ok(None),
        Command::Update { by, changes } => {
            if let Some(severity) = changes.severity {
                state.severity = severity;
            }
            if let Some(annotations) = &changes.annotations {
                state.annotations_digest = digest(annotations);
            }
            Ok(Some(AlertWrite::Update {
                alert,
                by,
                at: now,
                changes,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::TimelineKind;
    use crate::domain::incoming::SenderState;

    fn key() -> AlertKey {
        AlertKey {
            service_id: Uuid::from_u128(1),
            fingerprint: "fp".into(),
        }
    }

    fn incoming(state: SenderState) -> IncomingAlert {
        IncomingAlert {
            fingerprint: Some("fp".into()),
            summary: "core down".into(),
            details: String::new(),
            severity: Severity::Critical,
            source: "alertmanager".into(),
            source_instance: String::new(),
            labels: BTreeMap::from([("site".into(), "IAD1".into())]),
            annotations: BTreeMap::from([("summary".into(), "core down".into())]),
            state,
            triggered_at: None,
        }
    }

    fn fresh() -> (Uuid, i64) {
        (Uuid::from_u128(99), 7)
    }

    fn opened() -> AlertState {
        let d = ingest(
            None,
            &key(),
            incoming(SenderState::Firing),
            Utc::now(),
            fresh,
        );
        d.next.unwrap()
    }

    #[test]
    fn first_firing_opens_with_receipt_time_when_source_gives_none() {
        let now = Utc::now();
        let d = ingest(None, &key(), incoming(SenderState::Firing), now, fresh);
        assert_eq!(d.outcome, IngestOutcome::Created);
        let Some(AlertWrite::Open(alert)) = d.write else {
            panic!("expected an open")
        };
        assert_eq!((alert.id, alert.number), fresh());
        assert_eq!(alert.status, AlertStatus::Triggered);
        assert_eq!(alert.triggered_at, now);
        assert_eq!(alert.created_at, now);
        assert_eq!(alert.occurrence_count, 1);
    }

    #[test]
    fn repeat_only_bumps_and_carries_annotations_only_when_changed() {
        let state = opened();
        let d = ingest(
            Some(&state),
            &key(),
            incoming(SenderState::Firing),
            Utc::now(),
            || panic!("a repeat must not allocate"),
        );
        assert_eq!(d.outcome, IngestOutcome::Deduplicated);
        assert!(matches!(
            d.write,
            Some(AlertWrite::Repeat {
                annotations: None,
                ..
            })
        ));

        let mut changed = incoming(SenderState::Firing);
        changed.annotations.insert("summary".into(), "worse".into());
        let d = ingest(Some(&state), &key(), changed, Utc::now(), fresh);
        assert!(matches!(
            d.write,
            Some(AlertWrite::Repeat {
                annotations: Some(_),
                ..
            })
        ));
        assert_ne!(d.next.unwrap().annotations_digest, state.annotations_digest);
    }

    #[test]
    fn source_resolve_closes_and_unknown_resolve_is_ignored() {
        let state = opened();
        let d = ingest(
            Some(&state),
            &key(),
            incoming(SenderState::Resolved),
            Utc::now(),
            fresh,
        );
        assert_eq!(d.outcome, IngestOutcome::Resolved);
        assert!(d.next.is_none());
        assert!(matches!(d.write, Some(AlertWrite::Resolve { ref by, .. }) if by == ACTOR_SOURCE));

        let d = ingest(
            None,
            &key(),
            incoming(SenderState::Resolved),
            Utc::now(),
            fresh,
        );
        assert_eq!(d.outcome, IngestOutcome::Ignored);
        assert!(d.write.is_none());
    }

    #[test]
    fn sender_acknowledge_acks_once() {
        let state = opened();
        let d = ingest(
            Some(&state),
            &key(),
            incoming(SenderState::Acknowledged),
            Utc::now(),
            fresh,
        );
        let acked = d.next.unwrap();
        assert_eq!(acked.status, AlertStatus::Acknowledged);
        let again = ingest(
            Some(&acked),
            &key(),
            incoming(SenderState::Acknowledged),
            Utc::now(),
            fresh,
        );
        assert!(again.write.is_none());
    }

    #[test]
    fn only_an_acknowledged_alert_is_triggered_again() {
        let mut state = opened();
        let retrigger = || Command::Retrigger {
            by: "system".into(),
            reason: "acknowledgement timed out".into(),
        };
        assert_eq!(
            command(&mut state, &key(), retrigger(), Utc::now()),
            Ok(None)
        );
        let ack = Command::Acknowledge {
            by: "u".into(),
            note: None,
        };
        command(&mut state, &key(), ack, Utc::now()).unwrap();
        let write = command(&mut state, &key(), retrigger(), Utc::now()).unwrap();
        assert!(matches!(write, Some(AlertWrite::Retrigger { .. })));
        assert_eq!(state.status, AlertStatus::Triggered);
        let change = write.unwrap().change().unwrap();
        assert_eq!(change.status, Some(AlertStatus::Triggered));
        assert_eq!(change.kind, TimelineKind::Escalated);
    }

    #[test]
    fn ack_rules_follow_the_lifecycle() {
        let mut state = opened();
        let ack = || Command::Acknowledge {
            by: "u".into(),
            note: Some("on it".into()),
        };
        assert!(
            command(&mut state, &key(), ack(), Utc::now())
                .unwrap()
                .is_some()
        );
        assert_eq!(state.status, AlertStatus::Acknowledged);
        assert_eq!(command(&mut state, &key(), ack(), Utc::now()), Ok(None));

        let resolve = || Command::Resolve {
            by: "u".into(),
            note: None,
        };
        assert!(
            command(&mut state, &key(), resolve(), Utc::now())
                .unwrap()
                .is_some()
        );
        assert_eq!(state.status, AlertStatus::Resolved);
        assert_eq!(command(&mut state, &key(), resolve(), Utc::now()), Ok(None));
        assert!(matches!(
            command(&mut state, &key(), ack(), Utc::now()),
            Err(LifecycleError::Resolved { .. })
        ));
        let escalate = Command::Escalate {
            by: "u".into(),
            reason: String::new(),
        };
        assert!(command(&mut state, &key(), escalate, Utc::now()).is_err());
        let note = Command::AddNote {
            author: "u".into(),
            text: "post-mortem".into(),
        };
        assert!(
            command(&mut state, &key(), note, Utc::now())
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn suppression_holds_and_releases_and_never_touches_resolved_alerts() {
        let mut state = opened();
        let hold = || Command::Suppress {
            by: "routing".into(),
            reason: "window".into(),
            held_by: Some(Holder::Window(Uuid::nil())),
        };
        let release = || Command::Unsuppress {
            by: "routing".into(),
            reason: "window closed".into(),
        };
        assert_eq!(command(&mut state, &key(), release(), Utc::now()), Ok(None));
        assert!(
            command(&mut state, &key(), hold(), Utc::now())
                .unwrap()
                .is_some()
        );
        assert_eq!(state.status, AlertStatus::Suppressed);
        assert_eq!(command(&mut state, &key(), hold(), Utc::now()), Ok(None));
        assert!(
            command(&mut state, &key(), release(), Utc::now())
                .unwrap()
                .is_some()
        );
        assert_eq!(state.status, AlertStatus::Triggered);
        state.status = AlertStatus::Resolved;
        assert_eq!(command(&mut state, &key(), hold(), Utc::now()), Ok(None));
    }

    #[test]
    fn blank_ack_notes_are_dropped_and_empty_updates_are_no_ops() {
        let mut state = opened();
        let w = command(
            &mut state,
            &key(),
            Command::Acknowledge {
                by: "u".into(),
                note: Some(" ".into()),
            },
            Utc::now(),
        )
        .unwrap();
        assert!(matches!(
            w,
            Some(AlertWrite::Acknowledge { note: None, .. })
        ));
        let update = Command::Update {
            by: "u".into(),
            changes: AlertChanges::default(),
        };
        assert_eq!(command(&mut state, &key(), update, Utc::now()), Ok(None));
        let update = Command::Update {
            by: "u".into(),
            changes: AlertChanges {
                severity: Some(Severity::Low),
                ..AlertChanges::default()
            },
        };
        assert!(
            command(&mut state, &key(), update, Utc::now())
                .unwrap()
                .is_some()
        );
        assert_eq!(state.severity, Severity::Low);
    }
}
