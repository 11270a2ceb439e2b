//! The render context of an alert: the alert, its enrichment (the `oncall_*` labels
//! without their prefix) and the links its sender gave. Nothing else reaches a template.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::domain::alert::{Alert, AlertStatus};
use crate::domain::severity::Severity;

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

/// What a template is validated against when no sample data is given: a typical NOC
/// alert (a BGP session down at a site, with a runbook link), fixed so validation gives
/// the same answer every time.
pub fn sample_alert_context() -> Value {
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let labels: BTreeMap<String, String> = [
        ("alertname", "BGPSessionDown"),
        ("instance", "core-rtr-01.iad1"),
        ("job", "snmp"),
        ("peer_ip", "192.0.2.1"),
        ("severity", "critical"),
        ("oncall_site", "IAD1"),
        ("oncall_region", "us-east"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let annotations: BTreeMap<String, String> = [
        ("summary", "BGP session to 192.0.2.1 down on core-rtr-01"),
        ("runbook_url", "https://runbooks.example.net/bgp-down"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    alert_context(&Alert {
        id: Uuid::nil(),
        number: 4121,
        service_id: Uuid::nil(),
        fingerprint: "5f2b9c1e7a3d4b60".into(),
        summary: "BGP session to 192.0.2.1 down on core-rtr-01".into(),
        details: "Peer AS64500 went from Established to Idle.".into(),
        severity: Severity::Critical,
        source: "alertmanager".into(),
        source_instance: String::new(),
        labels,
        annotations,
        status: AlertStatus::Triggered,
        triggered_at: at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        resolution_note: None,
        created_at: at,
        updated_at: at,
        last_seen_at: at,
        occurrence_count: 1,
        previous_alert_id: None,
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
