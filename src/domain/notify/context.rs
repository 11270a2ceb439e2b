//! The render context of an alert: the alert, its enrichment (the `oncall_*` labels
//! without their prefix) and the links its sender gave. Nothing else reaches a template.

use serde_json::{Map, Value, json};

use crate::domain::alert::Alert;

use super::message::AlertRef;

/// What a template about `alert` sees.
pub fn alert_context(alert: &Alert) -> Value {
    let enrichment: Map<String, Value> = alert
        .labels
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("oncall_")
                .map(|name| (name.to_string(), Value::String(v.clone())))
        })
        .collect();
    json!({
        "alert": {
            "id": alert.id.to_string(),
            "number": alert.number,
            "fingerprint": alert.fingerprint,
            "service_id": alert.service_id.to_string(),
            "summary": alert.summary,
            "details": alert.details,
            "severity": alert.severity.as_str(),
            "status": alert.status.as_str(),
            "source": alert.source,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "triggered_at": alert.triggered_at.to_rfc3339(),
            "occurrence_count": alert.occurrence_count,
        },
        "enrichment": enrichment,
        "links": links(alert),
    })
}

/// Links the sender gave as annotations (`runbook_url`, `dashboard_url`,
/// `generatorURL`...), by name without the `_url` suffix.
pub fn links(alert: &Alert) -> Map<String, Value> {
    alert
        .annotations
        .iter()
        .filter(|(_, v)| v.starts_with("https://") || v.starts_with("http://"))
        .filter_map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            let name = lower
                .strip_suffix("_url")
                .or_else(|| lower.strip_suffix("url"))?;
            Some((
                name.trim_end_matches('_').to_string(),
                Value::String(v.clone()),
            ))
        })
        .collect()
}

/// The alert as a message lists it.
pub fn alert_ref(alert: &Alert) -> AlertRef {
    AlertRef {
        id: alert.id,
        number: alert.number,
        summary: alert.summary.clone(),
        severity: alert.severity.as_str().to_string(),
        site: alert.labels.get("oncall_site").cloned().unwrap_or_default(),
        service_id: alert.service_id,
    }
}
