//! PagerDuty Events API v2 (`POST /v2/enqueue`): trigger, acknowledge and resolve by
//! `dedup_key`; `routing_key` is the integration key.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::from_json;
use crate::domain::incoming::{IncomingAlert, SenderState};
use crate::domain::severity::Severity;
use crate::http::ApiError;

/// Most `custom_details` entries copied into labels.
const MAX_DETAIL_LABELS: usize = 64;
/// Longest `custom_details` value copied into a label.
const MAX_DETAIL_LABEL_BYTES: usize = 1024;

#[derive(Deserialize)]
struct Event {
    routing_key: String,
    event_action: String,
    dedup_key: Option<String>,
    payload: Option<Payload>,
    client: Option<String>,
    client_url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    summary: String,
    source: String,
    severity: String,
    timestamp: Option<String>,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    custom_details: Option<Value>,
}

/// A parsed event: the key it came with, the dedup key (generated for a trigger that
/// had none, and returned to the sender), and the alert.
pub struct ParsedEvent {
    pub routing_key: String,
    pub dedup_key: String,
    pub alert: IncomingAlert,
}

pub fn parse(body: &[u8]) -> Result<ParsedEvent, ApiError> {
    let event: Event = from_json(body)?;
    let dedup_key = event.dedup_key.filter(|k| !k.is_empty());
    let state = match event.event_action.as_str() {
        "trigger" => SenderState::Firing,
        "acknowledge" => SenderState::Acknowledged,
        "resolve" => SenderState::Resolved,
        other => {
            return Err(ApiError::bad_request(
                "event_action",
                format!("{other:?} is not trigger, acknowledge or resolve"),
            ));
        }
    };
    if state != SenderState::Firing && dedup_key.is_none() {
        return Err(ApiError::bad_request(
            "dedup_key",
            "required to acknowledge or resolve",
        ));
    }
    let dedup_key = dedup_key.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let alert = match (state, event.payload) {
        (SenderState::Firing, None) => {
            return Err(ApiError::bad_request("payload", "required to trigger"));
        }
        (SenderState::Firing, Some(payload)) => {
            trigger(payload, &dedup_key, event.client, event.client_url)?
        }
        (state, _) => IncomingAlert {
            fingerprint: Some(dedup_key.clone()),
            summary: format!("{} via PagerDuty Events", event.event_action),
            details: String::new(),
            severity: Severity::Medium,
            source: "pagerduty".into(),
            source_instance: String::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            state,
            triggered_at: None,
        },
    };
    Ok(ParsedEvent {
        routing_key: event.routing_key,
        dedup_key,
        alert,
    })
}

fn trigger(
    payload: Payload,
    dedup_key: &str,
    client: Option<String>,
    client_url: Option<String>,
) -> Result<IncomingAlert, ApiError> {
    if payload.summary.trim().is_empty() {
        return Err(ApiError::bad_request("payload.summary", "required"));
    }
    if payload.source.trim().is_empty() {
        return Err(ApiError::bad_request("payload.source", "required"));
    }
    let severity = match payload.severity.as_str() {
        "critical" => Severity::Critical,
        "error" => Severity::High,
        "warning" => Severity::Medium,
        "info" => Severity::Info,
        other => {
            return Err(ApiError::bad_request(
                "payload.severity",
                format!("{other:?} is not critical, error, warning or info"),
            ));
        }
    };
    let triggered_at = payload
        .timestamp
        .as_deref()
        .map(|raw| {
            parse_timestamp(raw).ok_or_else(|| {
                ApiError::bad_request(
                    "payload.timestamp",
                    format!("not an ISO 8601 time: {raw:?}"),
                )
            })
        })
        .transpose()?;
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    match payload.custom_details {
        Some(Value::Null) | None => {}
        Some(details) => {
            // Short scalar details become labels, so rules can route on them (`site`,
            // `rack`); the whole object is kept as an annotation, so nothing is lost and
            // a large payload does not trip the label limits.
            if let Value::Object(map) = &details {
                for (name, value) in map.iter().take(MAX_DETAIL_LABELS) {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => continue,
                    };
                    if !name.is_empty() && text.len() <= MAX_DETAIL_LABEL_BYTES {
                        labels.insert(name.clone(), text);
                    }
                }
            }
            annotations.insert("custom_details".to_string(), details.to_string());
        }
    }
    for (name, value) in [
        ("component", payload.component),
        ("group", payload.group),
        ("class", payload.class),
    ] {
        if let Some(value) = value {
            labels.entry(name.to_string()).or_insert(value);
        }
    }
    labels
        .entry("severity".to_string())
        .or_insert(payload.severity);
    if let Some(client) = client {
        annotations.insert("client".to_string(), client);
    }
    if let Some(url) = client_url {
        annotations.insert("client_url".to_string(), url);
    }
    Ok(IncomingAlert {
        fingerprint: Some(dedup_key.to_string()),
        summary: payload.summary,
        details: String::new(),
        severity,
        source: "pagerduty".into(),
        source_instance: payload.source,
        labels,
        annotations,
        state: SenderState::Firing,
        triggered_at,
    })
}

/// RFC 3339, or ISO 8601 with a `+0000`-style offset as PagerDuty's examples use.
fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_without_a_colon() {
        let t = parse_timestamp("2026-11-27T20:01:12.000+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T20:01:12+00:00");
        assert!(parse_timestamp("2026-11-27T20:01:12Z").is_some());
        assert!(parse_timestamp("yesterday").is_none());
    }
}
