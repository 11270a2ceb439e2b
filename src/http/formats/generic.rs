//! oncall's own generic JSON: `summary` required; `details`, `severity`, `labels`,
//! `annotations`, `status` (`firing`/`resolved`) and `fingerprint` optional.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ParsedRequest, from_json};
use crate::domain::incoming::{IncomingAlert, SenderState};
use crate::domain::severity::Severity;
use crate::http::ApiError;

/// Fields this format does not know are ignored, so senders can add their own.
#[derive(Deserialize)]
struct Payload {
    summary: Option<String>,
    #[serde(default)]
    details: String,
    severity: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    status: Option<String>,
    fingerprint: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<ParsedRequest, ApiError> {
    let payload: Payload = from_json(body)?;
    let summary = payload
        .summary
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("summary", "required"))?;
    let state = match payload.status.as_deref() {
        None | Some("firing") => SenderState::Firing,
        Some("resolved") => SenderState::Resolved,
        Some(other) => {
            return Err(ApiError::bad_request(
                "status",
                format!("{other:?} is neither \"firing\" nor \"resolved\""),
            ));
        }
    };
    let severity = payload
        .severity
        .as_deref()
        .or_else(|| payload.labels.get("severity").map(String::as_str))
        .map_or(Severity::Medium, Severity::from_label);
    Ok(ParsedRequest {
        alerts: vec![IncomingAlert {
            fingerprint: payload.fingerprint,
            summary,
            details: payload.details,
            severity,
            source: "generic".into(),
            source_instance: String::new(),
            labels: payload.labels,
            annotations: payload.annotations,
            state,
            triggered_at: None,
        }],
    })
}
