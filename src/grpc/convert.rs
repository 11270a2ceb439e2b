//! Conversions between wire types (prost) and domain types. Wire types stop here.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use tonic::Status;

use super::pb::alerting::v1 as pb;
use super::pb::directory::v1 as dir;
use crate::domain::access::Role;
use crate::domain::alert::{Alert, AlertStatus, TimelineEntry, TimelineKind};
use crate::domain::catalog::{IntegrationKey, Service};
use crate::domain::change::AlertChange;
use crate::domain::directory::{ApiToken, User};
use crate::domain::incoming::{AlertProblem, IncomingAlert, SenderState};
use crate::domain::severity::Severity;

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

pub fn opt_timestamp(at: Option<DateTime<Utc>>) -> Option<Timestamp> {
    at.map(timestamp)
}

/// A wire timestamp as a UTC instant; `field` names it in the error.
pub fn instant(field: &str, ts: &Timestamp) -> Result<DateTime<Utc>, Status> {
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| Status::invalid_argument(format!("{field}: not a valid timestamp")))
}

pub fn severity_to_pb(severity: Severity) -> pb::Severity {
    match severity {
        Severity::Info => pb::Severity::Info,
        Severity::Low => pb::Severity::Low,
        Severity::Medium => pb::Severity::Medium,
        Severity::High => pb::Severity::High,
        Severity::Critical => pb::Severity::Critical,
    }
}

/// `None` for SEVERITY_UNSPECIFIED; an error for a number that is no severity.
pub fn severity_from_pb(field: &str, value: i32) -> Result<Option<Severity>, Status> {
    match pb::Severity::try_from(value) {
        Ok(pb::Severity::Unspecified) => Ok(None),
        Ok(pb::Severity::Info) => Ok(Some(Severity::Info)),
        Ok(pb::Severity::Low) => Ok(Some(Severity::Low)),
        Ok(pb::Severity::Medium) => Ok(Some(Severity::Medium)),
        Ok(pb::Severity::High) => Ok(Some(Severity::High)),
        Ok(pb::Severity::Critical) => Ok(Some(Severity::Critical)),
        Err(_) => Err(Status::invalid_argument(format!(
            "{field}: unknown severity {value}"
        ))),
    }
}

pub fn status_to_pb(status: AlertStatus) -> pb::AlertStatus {
    match status {
        AlertStatus::Triggered => pb::AlertStatus::Triggered,
        AlertStatus::Acknowledged => pb::AlertStatus::Acknowledged,
        AlertStatus::Resolved => pb::AlertStatus::Resolved,
        AlertStatus::Suppressed => pb::AlertStatus::Suppressed,
    }
}

pub fn status_from_pb(field: &str, value: i32) -> Result<AlertStatus, Status> {
    match pb::AlertStatus::try_from(value) {
        Ok(pb::AlertStatus::Triggered) => Ok(AlertStatus::Triggered),
        Ok(pb::AlertStatus::Acknowledged) => Ok(AlertStatus::Acknowledged),
        Ok(pb::AlertStatus::Resolved) => Ok(AlertStatus::Resolved),
        Ok(pb::AlertStatus::Suppressed) => Ok(AlertStatus::Suppressed),
        _ => Err(Status::invalid_argument(format!(
            "{field}: unknown alert status {value}"
        ))),
    }
}

pub fn kind_to_pb(kind: TimelineKind) -> pb::AlertEventType {
    match kind {
        TimelineKind::Created => pb::AlertEventType::Created,
        TimelineKind::Acknowledged => pb::AlertEventType::Acknowledged,
        TimelineKind::Resolved => pb::AlertEventType::Resolved,
        TimelineKind::Escalated => pb::AlertEventType::Escalated,
        TimelineKind::NoteAdded => pb::AlertEventType::NoteAdded,
        TimelineKind::Updated => pb::AlertEventType::Updated,
        TimelineKind::Suppressed => pb::AlertEventType::Suppressed,
        TimelineKind::Unsuppressed => pb::AlertEventType::Unsuppressed,
        TimelineKind::Notified => pb::AlertEventType::Notified,
        TimelineKind::DeliveryFailed => pb::AlertEventType::DeliveryFailed,
        TimelineKind::SlaBreached => pb::AlertEventType::SlaBreached,
    }
}

pub fn event_to_pb(entry: &TimelineEntry) -> pb::AlertEvent {
    pb::AlertEvent {
        id: entry.id.to_string(),
        alert_id: entry.alert_id.to_string(),
        r#type: kind_to_pb(entry.kind) as i32,
        actor: entry.actor.clone(),
        message: entry.message.clone(),
        created_at: Some(timestamp(entry.at)),
    }
}

fn map(labels: &BTreeMap<String, String>) -> HashMap<String, String> {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// An alert with its timeline (empty in listings); notes are the note entries.
pub fn alert_to_pb(alert: &Alert, timeline: &[TimelineEntry]) -> pb::Alert {
    pb::Alert {
        id: alert.id.to_string(),
        number: alert.number,
        fingerprint: alert.fingerprint.clone(),
        summary: alert.summary.clone(),
        details: alert.details.clone(),
        severity: severity_to_pb(alert.severity) as i32,
        source: alert.source.clone(),
        source_instance: alert.source_instance.clone(),
        service_id: alert.service_id.to_string(),
        labels: map(&alert.labels),
        annotations: map(&alert.annotations),
        status: status_to_pb(alert.status) as i32,
        triggered_at: Some(timestamp(alert.triggered_at)),
        acknowledged_at: opt_timestamp(alert.acknowledged_at),
        acknowledged_by: alert.acknowledged_by.clone().unwrap_or_default(),
        resolved_at: opt_timestamp(alert.resolved_at),
        resolved_by: alert.resolved_by.clone().unwrap_or_default(),
        notes: timeline
            .iter()
            .filter(|e| e.kind == TimelineKind::NoteAdded)
            .map(|e| pb::Note {
                id: e.id.to_string(),
                author: e.actor.clone(),
                text: e.message.clone(),
                created_at: Some(timestamp(e.at)),
            })
            .collect(),
        events: timeline.iter().map(event_to_pb).collect(),
        created_at: Some(timestamp(alert.created_at)),
        updated_at: Some(timestamp(alert.updated_at)),
        last_seen_at: Some(timestamp(alert.last_seen_at)),
        occurrence_count: i32::try_from(alert.occurrence_count).unwrap_or(i32::MAX),
        previous_alert_id: alert
            .previous_alert_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        resolution_note: alert.resolution_note.clone().unwrap_or_default(),
    }
}

pub fn change_to_pb(change: &AlertChange) -> pb::AlertChange {
    pb::AlertChange {
        change_type: kind_to_pb(change.kind) as i32,
        alert_id: change.alert.id.to_string(),
        number: change.alert.number,
        service_id: change.alert.key.service_id.to_string(),
        fingerprint: change.alert.key.fingerprint.clone(),
        status: change.status.map_or(0, |s| status_to_pb(s) as i32),
        severity: change.severity.map_or(0, |s| severity_to_pb(s) as i32),
        summary: change.summary.clone().unwrap_or_default(),
        actor: change.actor.clone(),
        occurred_at: Some(timestamp(change.at)),
    }
}

/// An alert sent over gRPC, normalised. Severity defaults to the `severity` label.
pub fn incoming_from_pb(input: &pb::AlertInput) -> Result<IncomingAlert, AlertProblem> {
    let labels: BTreeMap<String, String> = input
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let severity = match pb::Severity::try_from(input.severity) {
        Ok(pb::Severity::Unspecified) => labels
            .get("severity")
            .map_or(Severity::Medium, |raw| Severity::from_label(raw)),
        Ok(s) => match severity_from_pb("severity", s as i32) {
            Ok(Some(s)) => s,
            _ => Severity::Medium,
        },
        Err(_) => {
            return Err(AlertProblem::invalid(
                "severity",
                format!("unknown severity {}", input.severity),
            ));
        }
    };
    let triggered_at = match &input.triggered_at {
        Some(ts) => Some(
            u32::try_from(ts.nanos)
                .ok()
                .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
                .ok_or_else(|| AlertProblem::invalid("triggered_at", "not a valid timestamp"))?,
        ),
        None => None,
    };
    Ok(IncomingAlert {
        fingerprint: (!input.fingerprint.is_empty()).then(|| input.fingerprint.clone()),
        summary: input.summary.clone(),
        details: input.details.clone(),
        severity,
        source: if input.source.is_empty() {
            "grpc".into()
        } else {
            input.source.clone()
        },
        source_instance: input.source_instance.clone(),
        labels,
        annotations: input
            .annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        state: if input.resolved {
            SenderState::Resolved
        } else {
            SenderState::Firing
        },
        triggered_at,
    })
}

pub fn service_to_pb(service: &Service) -> pb::Service {
    pb::Service {
        id: service.id.to_string(),
        name: service.name.clone(),
        description: service.description.clone(),
        created_at: Some(timestamp(service.created_at)),
        updated_at: Some(timestamp(service.updated_at)),
        escalation_policy_id: service
            .escalation_policy
            .map(|p| p.to_string())
            .unwrap_or_default(),
        ack_timeout: service
            .ack_timeout
            .and_then(|d| prost_types::Duration::try_from(d).ok()),
        auto_resolve_after: service
            .auto_resolve_after
            .and_then(|d| prost_types::Duration::try_from(d).ok()),
    }
}

/// A key for the wire; `plaintext` only in the answer that creates it.
pub fn key_to_pb(key: &IntegrationKey, plaintext: Option<&str>) -> pb::IntegrationKey {
    pb::IntegrationKey {
        id: key.id.to_string(),
        service_id: key.service_id.to_string(),
        name: key.name.clone(),
        key: plaintext.unwrap_or_default().to_string(),
        key_prefix: key.key_prefix.clone(),
        created_at: Some(timestamp(key.created_at)),
        expires_at: opt_timestamp(key.expires_at),
        revoked_at: opt_timestamp(key.revoked_at),
    }
}

pub fn user_to_pb(user: &User) -> dir::User {
    dir::User {
        id: user.id.to_string(),
        name: user.name.clone(),
        email: user.email.clone(),
        timezone: user.timezone.clone(),
        created_at: Some(timestamp(user.created_at)),
        quiet_hours_start: user.quiet_hours.map(|q| q.format().0).unwrap_or_default(),
        quiet_hours_end: user.quiet_hours.map(|q| q.format().1).unwrap_or_default(),
    }
}

pub fn role_to_pb(role: Role) -> dir::Role {
    match role {
        Role::Viewer => dir::Role::Viewer,
        Role::Responder => dir::Role::Responder,
        Role::Admin => dir::Role::Admin,
    }
}

pub fn role_from_pb(value: i32) -> Result<Role, Status> {
    match dir::Role::try_from(value) {
        Ok(dir::Role::Viewer) => Ok(Role::Viewer),
        Ok(dir::Role::Responder) => Ok(Role::Responder),
        Ok(dir::Role::Admin) => Ok(Role::Admin),
        _ => Err(Status::invalid_argument(
            "role: required (ROLE_VIEWER, ROLE_RESPONDER or ROLE_ADMIN)",
        )),
    }
}

/// A token for the wire; `plaintext` only in the answer that creates it.
pub fn token_to_pb(token: &ApiToken, plaintext: Option<&str>) -> dir::ApiToken {
    dir::ApiToken {
        id: token.id.to_string(),
        user_id: token.user_id.to_string(),
        name: token.name.clone(),
        role: role_to_pb(token.role) as i32,
        token: plaintext.unwrap_or_default().to_string(),
        created_at: Some(timestamp(token.created_at)),
        revoked_at: opt_timestamp(token.revoked_at),
    }
}
