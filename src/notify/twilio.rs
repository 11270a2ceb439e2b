//! Twilio's REST API: SMS through `Messages.json`, voice calls through `Calls.json`
//! with the TwiML inline, both form-encoded with HTTP basic auth (account SID, auth
//! token). Inbound SMS replies are verified by `signature` (X-Twilio-Signature).

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, Mac};

use super::provider::{Provider, Receipt, SendError};
use super::settings::TwilioSettings;
use super::webhook::{http_client, send};
use crate::domain::notify::format::Body;

pub struct TwilioProvider {
    settings: TwilioSettings,
    client: reqwest::Client,
}

impl TwilioProvider {
    pub fn new(settings: TwilioSettings) -> Result<TwilioProvider, reqwest::Error> {
        Ok(TwilioProvider {
            settings,
            client: http_client()?,
        })
    }
}

#[async_trait]
impl Provider for TwilioProvider {
    async fn send(&self, address: &str, body: &Body) -> Result<Receipt, SendError> {
        let (resource, field, text) = match body {
            Body::Sms(text) => ("Messages.json", "Body", text),
            Body::Voice(twiml) => ("Calls.json", "Twiml", twiml),
            _ => {
                return Err(SendError::permanent(
                    "Twilio takes SMS text or TwiML".into(),
                ));
            }
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/{resource}",
            self.settings.api_base_url, self.settings.account_sid
        );
        let form = [
            ("To", address),
            ("From", self.settings.from_number.as_str()),
            (field, text.as_str()),
        ];
        let request = self
            .client
            .post(&url)
            .basic_auth(&self.settings.account_sid, Some(&self.settings.auth_token))
            .form(&form);
        send(request, &format!("Twilio {resource}")).await
    }
}

/// Twilio's request signature: base64 of HMAC-SHA1 over the full URL followed by each
/// POST parameter's name and value, sorted by name.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha1_of_url_and_sorted_params() {
        // The expected value was computed independently, with Python's hmac module.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            signature(
                "12345",
                "https://example.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "vNe7KK2kJwCsxc9K3OLkkKB3qqI="
        );
    }
}
