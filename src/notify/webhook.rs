//! The generic webhook: a JSON POST of the alert to an operator's URL. Destinations on
//! loopback, private or link-local addresses are refused unless the operator allows them
//! (`--allow-private-destinations`), so a rule cannot be used to probe the inside network.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::provider::{Receipt, SendError};
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

impl From<SendError> for WebhookError {
    fn from(error: SendError) -> WebhookError {
        if error.retryable {
            WebhookError::Retryable(error.message)
        } else {
            WebhookError::Permanent(error.message)
        }
    }
}

/// Signs and posts to operators' URLs. Every POST carries `X-Oncall-Timestamp` and,
/// with a signing secret set, `X-Oncall-Signature: sha256=<hex HMAC of
/// "<timestamp>.<body>">`, so a receiver can check the message came from us and is fresh.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    allow_private: bool,
    signing_secret: Option<Arc<str>>,
}

impl WebhookSender {
    pub fn new(
        allow_private: bool,
        signing_secret: Option<String>,
    ) -> Result<WebhookSender, reqwest::Error> {
        Ok(WebhookSender {
            client: http_client()?,
            allow_private,
            signing_secret: signing_secret.map(Arc::from),
        })
    }

    /// POSTs `body` as JSON; Ok carries the HTTP status.
    pub async fn post(&self, url: &str, body: &Value) -> Result<u16, WebhookError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| WebhookError::Permanent(format!("encoding the body: {e}")))?;
        Ok(self.post_json(url, bytes).await?.http_status)
    }

    /// POSTs JSON bytes, signed, to an operator's URL.
    pub async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<Receipt, SendError> {
        let parsed = self.checked(url).await?;
        let timestamp = crate::clock::now().timestamp().to_string();
        let mut request = self
            .client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Oncall-Timestamp", &timestamp);
        if let Some(secret) = &self.signing_secret {
            request = request.header("X-Oncall-Signature", signature(secret, &timestamp, &body));
        }
        send(request.body(body), url).await
    }

    /// The URL, once it is http(s) and (unless allowed) not on a private address.
    pub async fn checked(&self, url: &str) -> Result<reqwest::Url, SendError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| SendError::permanent(format!("bad URL {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SendError::permanent(format!("{url:?} is not http(s)")));
        }
        if !self.allow_private {
            refuse_private(&parsed).await?;
        }
        Ok(parsed)
    }

    /// The client, for providers that post to operators' URLs (Teams).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The HTTP client every provider uses: bounded time, no redirects (a redirect could
/// lead to a private address the check did not see).
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("oncall/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Sends a request and sorts the answer: 2xx is a receipt; 5xx, 429 and transport
/// errors are worth retrying (429 with its Retry-After); other statuses are not.
pub async fn send(request: reqwest::RequestBuilder, what: &str) -> Result<Receipt, SendError> {
    let response = request.send().await.map_err(|e| SendError {
        message: format!("POST {what}: {e}"),
        retryable: true,
        http_status: 0,
        retry_after: None,
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(Receipt {
            http_status: status.as_u16(),
            body: text,
        });
    }
    let excerpt: String = text.chars().take(200).collect();
    Err(SendError {
        message: format!("POST {what}: HTTP {status} {excerpt}")
            .trim_end()
            .to_string(),
        retryable: status.is_server_error() || status.as_u16() == 429,
        http_status: status.as_u16(),
        retry_after,
    })
}

async fn refuse_private(url: &reqwest::Url) -> Result<(), SendError> {
    let host = url
        .host_str()
        .ok_or_else(|| SendError::permanent("the URL has no host".into()))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| SendError {
            message: format!("resolving {host}: {e}"),
            retryable: true,
            http_status: 0,
            retry_after: None,
        })?;
    for address in addresses {
        if is_private(address.ip()) {
            return Err(SendError::permanent(format!(
                "{host} resolves to {}, a private address; allow private destinations to send there",
                address.ip()
            )));
        }
    }
    Ok(())
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
    fn signature_is_hmac_of_timestamp_dot_body() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", "1700000000", br#"{"a":1}"#),
            "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }

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
        let strict = WebhookSender::new(false, None).unwrap();
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
        let open = WebhookSender::new(true, None).unwrap();
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
