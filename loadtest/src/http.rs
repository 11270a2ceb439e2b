//! The HTTP wire formats a storm goes out in, and a keep-alive connection that posts
//! them: Alertmanager's webhook v4 (what Alertmanager sends oncall), Alertmanager's own
//! `/api/v2/alerts` (what Prometheus sends Alertmanager), and PagerDuty Events v2.

use std::fmt::Write;
use std::time::Duration;

use crate::drive::{Connection, Outcome};
use crate::storm::{Storm, StormAlert};

/// Alertmanager's "no end yet" time, as its webhook sends it.
const NO_END: &str = "0001-01-01T00:00:00Z";

#[derive(Clone, Copy, Debug)]
pub enum Format {
    AlertmanagerWebhook,
    AlertmanagerApi,
    PagerDuty,
}

impl Format {
    /// The request body for batch `b`. Built by hand rather than through a JSON tree:
    /// the harness shares the machine with the server, and every cycle it spends is one
    /// the server does not get.
    pub fn body(self, storm: &Storm, b: u64, starts_at: &str, key: &str) -> String {
        let mut out = String::with_capacity(512 * storm.args.batch as usize);
        match self {
            Format::AlertmanagerWebhook => {
                out.push_str(r#"{"version":"4","status":"firing","receiver":"oncall","#);
                out.push_str(r#""externalURL":"http://alertmanager:9093","alerts":["#);
                for (n, alert) in storm.batch(b).enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(r#"{"status":"firing","labels":"#);
                    labels(&mut out, &alert);
                    out.push_str(r#","annotations":{"summary":"#);
                    string(&mut out, &alert.summary);
                    let _ = write!(
                        out,
                        r#"}},"startsAt":"{starts_at}","endsAt":"{NO_END}","generatorURL":"","fingerprint":"#
                    );
                    string(&mut out, &alert.fingerprint);
                    out.push('}');
                }
                out.push_str("]}");
            }
            Format::AlertmanagerApi => {
                out.push('[');
                for (n, alert) in storm.batch(b).enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(r#"{"labels":"#);
                    labels(&mut out, &alert);
                    out.push_str(r#","annotations":{"summary":"#);
                    string(&mut out, &alert.summary);
                    let _ = write!(
                        out,
                        r#"}},"startsAt":"{starts_at}","generatorURL":"http://prometheus:9090"}}"#
                    );
                }
                out.push(']');
            }
            Format::PagerDuty => {
                // Events v2 takes one event per request: the batch's first alert.
                if let Some(alert) = storm.batch(b).next() {
                    out.push_str(r#"{"routing_key":"#);
                    string(&mut out, key);
                    out.push_str(r#","event_action":"trigger","dedup_key":"#);
                    string(&mut out, &alert.fingerprint);
                    out.push_str(r#","payload":{"summary":"#);
                    string(&mut out, &alert.summary);
                    out.push_str(r#","source":"#);
                    string(
                        &mut out,
                        alert.labels.get("device").map_or("", String::as_str),
                    );
                    let _ = write!(out, r#","severity":"{}","custom_details":"#, alert.severity);
                    labels(&mut out, &alert);
                    out.push_str("}}");
                }
            }
        }
        out
    }
}

fn labels(out: &mut String, alert: &StormAlert) {
    out.push('{');
    for (n, (name, value)) in alert.labels.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        string(out, name);
        out.push(':');
        string(out, value);
    }
    out.push('}');
}

/// A JSON string literal, escaped as RFC 8259 asks, written straight into the buffer.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One keep-alive HTTP connection posting one format to one URL.
pub struct HttpConnection {
    client: reqwest::Client,
    url: String,
    format: Format,
    key: String,
    starts_at: String,
}

impl HttpConnection {
    pub fn new(
        url: String,
        format: Format,
        key: String,
        starts_at: String,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self {
            client,
            url,
            format,
            key,
            starts_at,
        })
    }
}

impl Connection for HttpConnection {
    async fn send(&mut self, storm: &Storm, batch: u64) -> Outcome {
        let body = self.format.body(storm, batch, &self.starts_at, &self.key);
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                // Read the body so the connection is free for the next request.
                match response.bytes().await {
                    Ok(_) => Outcome::Acked,
                    Err(e) => Outcome::Failed(kind_of(&e)),
                }
            }
            Ok(response) => Outcome::Rejected(format!("HTTP {}", response.status().as_u16())),
            Err(e) => Outcome::Failed(kind_of(&e)),
        }
    }
}

fn kind_of(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storm::StormArgs;

    fn storm() -> Storm {
        Storm::new(
            "r1".into(),
            StormArgs {
                alerts: 250,
                batch: 100,
                roots: 2,
                repeat_percent: 0,
                site: "IAD\"1\\\n".into(),
            },
        )
    }

    const AT: &str = "2026-11-28T08:00:00Z";

    #[test]
    fn webhook_bodies_are_alertmanager_v4() {
        let body = Format::AlertmanagerWebhook.body(&storm(), 2, AT, "k");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["version"], "4");
        let alerts = v["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 50);
        assert_eq!(
            alerts[0]["labels"]["site"], "IAD\"1\\\n",
            "escaped, not broken"
        );
        assert_eq!(alerts[0]["fingerprint"], "r1-0000000000c8");
        assert_eq!(alerts[0]["endsAt"], NO_END);
    }

    #[test]
    fn api_bodies_are_postable_alerts() {
        let body = Format::AlertmanagerApi.body(&storm(), 0, AT, "k");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let alerts = v.as_array().unwrap();
        assert_eq!(alerts.len(), 100);
        assert_eq!(alerts[0]["labels"]["alertname"], "BGPSessionDown");
        assert_eq!(alerts[0]["startsAt"], AT);
    }

    #[test]
    fn pagerduty_bodies_are_one_trigger_event() {
        let body = Format::PagerDuty.body(&storm(), 0, AT, "key-1");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["routing_key"], "key-1");
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["dedup_key"], "r1-000000000000");
        assert_eq!(v["payload"]["severity"], "critical");
        assert_eq!(v["payload"]["source"], "core-0");
    }
}
