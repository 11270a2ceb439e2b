//! Grafana alerting webhooks: unified alerting (Alertmanager-shaped `alerts`) and the
//! legacy dashboard alerts (`state`, `title`, `ruleName`, `tags`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::alertmanager::{self, WireAlert};
use super::{ParsedRequest, from_json};
use crate::domain::incoming::{IncomingAlert, SenderState};
use crate::domain::severity::Severity;
use crate::http::ApiError;

#[derive(Deserialize)]
struct Payload {
    /// Present in unified alerting, absent in legacy.
    alerts: Option<Vec<WireAlert>>,
    #[serde(rename = "externalURL", default)]
    external_url: String,
    title: Option<String>,
    state: Option<String>,
    message: Option<String>,
    #[serde(rename = "ruleId")]
    rule_id: Option<i64>,
    #[serde(rename = "ruleName")]
    rule_name: Option<String>,
    #[serde(rename = "ruleUrl")]
    rule_url: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub fn parse(body: &[u8]) -> Result<ParsedRequest, ApiError> {
    let payload: Payload = from_json(body)?;
    match payload.alerts {
        Some(alerts) => {
            let title = payload.title.clone();
            let alerts = alerts
                .into_iter()
                .enumerate()
                .map(|(i, alert)| {
                    alertmanager::normalise(
                        alert,
                        "grafana",
                        &payload.external_url,
                        title.as_deref(),
                    )
                    .map_err(|p| ApiError::from_problem(p.within(&format!("alerts[{i}]"))))
                })
                .collect::<Result<_, _>>()?;
            Ok(ParsedRequest { alerts })
        }
        None => legacy(payload),
    }
}

/// A legacy alert: one per request. `pending` and `paused` are not alert states, so
/// they carry no alert.
fn legacy(payload: Payload) -> Result<ParsedRequest, ApiError> {
    let state = match payload.state.as_deref() {
        Some("alerting") | Some("no_data") => SenderState::Firing,
        Some("ok") => SenderState::Resolved,
        Some("pending") | Some("paused") => return Ok(ParsedRequest { alerts: Vec::new() }),
        Some(other) => {
            return Err(ApiError::bad_request(
                "state",
                format!("unknown legacy alert state {other:?}"),
            ));
        }
        None => {
            return Err(ApiError::bad_request(
                "alerts",
                "neither unified alerts nor a legacy state: not a Grafana alert",
            ));
        }
    };
    let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let name = given(&payload.rule_name)
        .or_else(|| given(&payload.title))
        .ok_or_else(|| ApiError::bad_request("ruleName", "required for legacy alerts"))?;
    let mut labels = payload.tags;
    labels
        .entry("alertname".to_string())
        .or_insert_with(|| name.clone());
    if let Some(rule_id) = payload.rule_id {
        labels.insert("grafana_rule_id".into(), rule_id.to_string());
    }
    let mut annotations = BTreeMap::new();
    if let Some(message) = &payload.message {
        annotations.insert("message".to_string(), message.clone());
    }
    if let Some(url) = &payload.rule_url {
        annotations.insert("rule_url".to_string(), url.clone());
    }
    let severity = labels
        .get("severity")
        .map_or(Severity::Medium, |raw| Severity::from_label(raw));
    let mut summary = given(&payload.title).unwrap_or(name);
    if payload.state.as_deref() == Some("no_data") {
        summary.push_str(" (no data)");
    }
    Ok(ParsedRequest {
        alerts: vec![IncomingAlert {
            fingerprint: None,
            summary,
            details: payload.message.unwrap_or_default(),
            severity,
            source: "grafana".into(),
            source_instance: payload.rule_url.unwrap_or_default(),
            labels,
            annotations,
            state,
            triggered_at: None,
        }],
    })
}
