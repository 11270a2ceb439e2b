//! Alertmanager webhook payload, version 4 (as captured from Alertmanager 0.25).
//! Grafana's unified alerting sends the same alert shape.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ParsedRequest, from_json, real_time};
use crate::domain::incoming::{AlertProblem, IncomingAlert, SenderState};
use crate::domain::severity::Severity;
use crate::http::ApiError;

#[derive(Deserialize)]
struct Payload {
    version: Option<String>,
    #[serde(rename = "externalURL", default)]
    external_url: String,
    alerts: Vec<WireAlert>,
}

/// One alert as Alertmanager (and Grafana unified alerting) sends it.
#[derive(Deserialize)]
pub struct WireAlert {
    pub status: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt", default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<ParsedRequest, ApiError> {
    let payload: Payload = from_json(body)?;
    if let Some(version) = &payload.version
        && version != "4"
    {
        return Err(ApiError::bad_request(
            "version",
            format!(
                "webhook payload version {version:?} is not supported; Alertmanager sends \"4\""
            ),
        ));
    }
    let alerts = payload
        .alerts
        .into_iter()
        .enumerate()
        .map(|(i, alert)| {
            normalise(alert, "alertmanager", &payload.external_url, None)
                .map_err(|p| ApiError::from_problem(p.within(&format!("alerts[{i}]"))))
        })
        .collect::<Result<_, _>>()?;
    Ok(ParsedRequest { alerts })
}

/// Normalises one Alertmanager-shaped alert. `fallback_summary` is used when neither
/// annotations nor labels give one.
pub fn normalise(
    alert: WireAlert,
    source: &str,
    source_instance: &str,
    fallback_summary: Option<&str>,
) -> Result<IncomingAlert, AlertProblem> {
    let state = match alert.status.as_str() {
        "firing" => SenderState::Firing,
        "resolved" => SenderState::Resolved,
        other => {
            return Err(AlertProblem::invalid(
                "status",
                format!("{other:?} is neither \"firing\" nor \"resolved\""),
            ));
        }
    };
    // Blank values are skipped: a sender that retries only 5xx would lose a whole group
    // to a 400 over one empty annotation.
    let given = |value: Option<&String>| value.filter(|v| !v.trim().is_empty()).cloned();
    let summary = given(alert.annotations.get("summary"))
        .or_else(|| given(alert.annotations.get("description")))
        .or_else(|| given(alert.labels.get("alertname")))
        .or_else(|| {
            fallback_summary
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "alert with no summary, description or alertname".to_string());
    let severity = alert
        .labels
        .get("severity")
        .map_or(Severity::Medium, |raw| Severity::from_label(raw));
    let instance = match alert.generator_url.as_deref() {
        Some(url) if source_instance.is_empty() && !url.is_empty() => url.to_string(),
        _ => source_instance.to_string(),
    };
    Ok(IncomingAlert {
        fingerprint: alert.fingerprint.filter(|f| !f.is_empty()),
        details: alert
            .annotations
            .get("description")
            .cloned()
            .unwrap_or_default(),
        summary,
        severity,
        source: source.to_string(),
        source_instance: instance,
        labels: alert.labels,
        annotations: alert.annotations,
        state,
        triggered_at: real_time(alert.starts_at),
    })
}
