//! The generic webhook: a JSON POST of the alert to an operator's URL. Destinations on
//! loopback, private or link-local addresses are refused unless the operator allows them
//! (`--allow-private-destinations`), so a rule cannot be used to probe the inside network.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::domain::alert::Alert;

/// Longest a destination may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not worth retrying: a bad URL, a refused destination, a 4xx.
    #[error("{0}")]
    Permanent(String),
    /// Worth retrying: a timeout, a connection error, a 5xx or 429.
    #[error("{0}")]
    Retryable(String),
}

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookSender {
    pub fn new(allow_private: bool) -> Result<WebhookSender, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("oncall/", env!("CARGO_PKG_VERSION")))
            // A redirect could lead to a private address the check did not see.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(WebhookSender {
            client,
            allow_private,
        })
    }

    /// POSTs `body`; Ok carries the HTTP status.
    pub async fn post(&self, url: &str, body: &Value) -> Result<u16, WebhookError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| WebhookError::Permanent(format!("bad URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(WebhookError::Permanent(format!("{url:?} is not http(s)")));
        }
        if !self.allow_private {
            self.refuse_private(&parsed).await?;
        }
        let response = self
            .client
            .post(parsed)
            .json(body)
            .send()
            .await
            .map_err(|e| WebhookError::Retryable(format!("POST {url}: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else if status.is_server_error() || status.as_u16() == 429 {
            Err(WebhookError::Retryable(format!(
                "POST {url}: HTTP {status}"
            )))
        } else {
            Err(WebhookError::Permanent(format!(
                "POST {url}: HTTP {status}"
            )))
        }
    }

    async fn refuse_private(&self, url: &reqwest::Url) -> Result<(), WebhookError> {
        let host = url
            .host_str()
            .ok_or_else(|| WebhookError::Permanent("the URL has no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addresses = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| WebhookError::Retryable(format!("resolving {host}: {e}")))?;
        for address in addresses {
            if is_private(address.ip()) {
                return Err(WebhookError::Permanent(format!(
                    "{host} resolves to {}, a private address; allow private destinations to send there",
                    address.ip()
                )));
            }
        }
        Ok(())
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// The JSON an alert webhook carries.
pub fn alert_payload(alert: &Alert, rule: Option<(&str, &str)>) -> Value {
    json!({
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
        "rule": rule.map(|(id, name)| json!({"id": id, "name": name})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["203.0.113.9", "8.8.8.8", "2001:db8::1", "100.128.0.1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let strict = WebhookSender::new(false).unwrap();
        let err = strict
            .post("http://127.0.0.1:9/hook", &json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::Permanent(_)), "{err}");
        let err = strict
            .post("ftp://example.net/x", &json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, WebhookError::Permanent(_)));
        let open = WebhookSender::new(true).unwrap();
        let err = open
            .post("http://127.0.0.1:9/hook", &json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, WebhookError::Retryable(_)),
            "nothing listens on port 9: {err}"
        );
    }
}
