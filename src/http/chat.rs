//! Acting on alerts from chat and SMS: Slack's interactive callbacks (the Ack and
//! Resolve buttons on oncall's messages) and Twilio's inbound SMS (`ack 42`,
//! `resolve 42`). Each request's signature is verified first; the sender is mapped to a
//! user through their verified Slack or SMS contact method, and the command runs as
//! that user, through the alert's actor like any other.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::json;
use uuid::Uuid;

use super::{ApiError, AppState};
use crate::actors::EngineError;
use crate::domain::alert::{Alert, AlertStatus};
use crate::domain::directory::ContactKind;
use crate::domain::lifecycle::Command;
use crate::domain::notify::format::escape_html;
use crate::notify::twilio;

/// Slack's replay window: a request older than this is refused.
const MAX_SKEW_SECONDS: i64 = 300;

/// What a sender asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Ack,
    Resolve,
}

pub async fn slack_actions(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(secret) = app.chat.slack_signing_secret.as_deref() else {
        return Err(ApiError::NotFound(
            "Slack actions are not configured ([notify.slack] signing_secret)".into(),
        ));
    };
    verify_slack(secret, &headers, &body, crate::clock::now().timestamp())?;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let payload = form
        .iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| ApiError::bad_request("payload", "required"))?;
    let payload: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| ApiError::bad_request("payload", format!("not JSON: {e}")))?;
    let slack_user = payload["user"]["id"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("payload.user.id", "required"))?;
    let action = &payload["actions"][0];
    let verb = match action["action_id"].as_str() {
        Some("oncall_ack") => Verb::Ack,
        Some("oncall_resolve") => Verb::Resolve,
        _ => {
            return Err(ApiError::bad_request(
                "payload.actions[0].action_id",
                "not an oncall action",
            ));
        }
    };
    let alert_id = action["value"]
        .as_str()
        .and_then(|v| Uuid::parse_str(v).ok())
        .ok_or_else(|| ApiError::bad_request("payload.actions[0].value", "not an alert id"))?;
    let reply = match user_of(&app, ContactKind::Slack, slack_user).await? {
        None => format!(
            "Your Slack account is not linked to an oncall user: add it as a Slack contact method ({slack_user}) and verify it."
        ),
        Some(user) => {
            act(
                &app,
                user,
                verb,
                app.store.get_alert(alert_id).await.map_err(unavailable)?,
            )
            .await
        }
    };
    Ok(
        axum::Json(json!({"response_type": "ephemeral", "replace_original": false, "text": reply}))
            .into_response(),
    )
}

/// `v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">` over a recent timestamp.
fn verify_slack(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let timestamp = header("x-slack-request-timestamp")
        .ok_or_else(|| ApiError::BadSignature("X-Slack-Request-Timestamp is missing".into()))?;
    let at: i64 = timestamp
        .parse()
        .map_err(|_| ApiError::BadSignature("X-Slack-Request-Timestamp is not a number".into()))?;
    if (now - at).abs() > MAX_SKEW_SECONDS {
        return Err(ApiError::BadSignature(
            "the request is too old (or from the future)".into(),
        ));
    }
    let given = header("x-slack-signature")
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| {
            ApiError::BadSignature("X-Slack-Signature is missing or malformed".into())
        })?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| ApiError::BadSignature("the Slack signature does not match".into()))
}

pub async fn twilio_sms(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(token) = app.chat.twilio_auth_token.as_deref() else {
        return Err(ApiError::NotFound(
            "Twilio is not configured ([notify.twilio])".into(),
        ));
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let url = format!(
        "{}/api/v1/twilio/sms",
        app.chat.public_url.trim_end_matches('/')
    );
    let expected = twilio::signature(token, &url, &params);
    let given = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadSignature("X-Twilio-Signature is missing".into()))?;
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::BadSignature(format!(
            "the Twilio signature does not match (it is computed over {url}, the public URL)"
        )));
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let from = field("From").ok_or_else(|| ApiError::bad_request("From", "required"))?;
    let text = field("Body").unwrap_or_default();
    let reply = match parse_sms(text) {
        None => "Reply 'ack N' or 'resolve N' with the alert's number.".to_string(),
        Some((verb, number)) => match user_of(&app, ContactKind::Sms, from).await? {
            None => "This number is not a verified contact method of any oncall user.".to_string(),
            Some(user) => {
                act(
                    &app,
                    user,
                    verb,
                    app.store
                        .find_alert_by_number(number)
                        .await
                        .map_err(unavailable)?,
                )
                .await
            }
        },
    };
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
        escape_html(&reply)
    );
    Ok(([(header::CONTENT_TYPE, "text/xml")], twiml).into_response())
}

/// `ack 42`, `ACK #42`, `resolve 42`, `r 42`...
fn parse_sms(text: &str) -> Option<(Verb, i64)> {
    let mut words = text.split_whitespace();
    let verb = match words.next()?.to_ascii_lowercase().as_str() {
        "ack" | "a" | "acknowledge" => Verb::Ack,
        "resolve" | "r" | "res" => Verb::Resolve,
        _ => return None,
    };
    let number = words.next()?.trim_start_matches('#').parse().ok()?;
    words.next().is_none().then_some((verb, number))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unavailable(error: crate::store::StoreError) -> ApiError {
    ApiError::Unavailable(format!("storage unavailable: {error}"))
}

/// The user whose verified method of `kind` is at `address`.
async fn user_of(
    app: &AppState,
    kind: ContactKind,
    address: &str,
) -> Result<Option<Uuid>, ApiError> {
    Ok(app
        .store
        .find_contact_methods(kind, address)
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|m| m.verified)
        .map(|m| m.user_id))
}

/// Runs the command as `user`; the answer says what happened, in words.
async fn act(app: &AppState, user: Uuid, verb: Verb, alert: Option<Alert>) -> String {
    let Some(alert) = alert else {
        return "No such alert.".into();
    };
    if alert.status == AlertStatus::Resolved {
        return format!("#{} is already resolved.", alert.number);
    }
    if verb == Verb::Ack && alert.status == AlertStatus::Acknowledged {
        return format!("#{} is already acknowledged.", alert.number);
    }
    let by = user.to_string();
    let (command, done) = match verb {
        Verb::Ack => (Command::Acknowledge { by, note: None }, "Acknowledged"),
        Verb::Resolve => (Command::Resolve { by, note: None }, "Resolved"),
    };
    match app.engine.command(alert.id, command).await {
        Ok(_) => format!("{done} #{} {}", alert.number, alert.summary),
        Err(EngineError::Lifecycle(why)) => format!("#{}: {why}", alert.number),
        Err(error) => format!(
            "#{} could not be changed now ({error}); try again",
            alert.number
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_commands_parse() {
        assert_eq!(parse_sms("ack 42"), Some((Verb::Ack, 42)));
        assert_eq!(parse_sms("  RESOLVE #7 "), Some((Verb::Resolve, 7)));
        assert_eq!(parse_sms("ack"), None);
        assert_eq!(parse_sms("ack 4 2"), None);
        assert_eq!(parse_sms("hello 42"), None);
    }

    #[test]
    fn slack_signatures_verify_and_expire() {
        let body = b"payload=%7B%7D";
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"v0:1700000000:");
        mac.update(body);
        let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        let mut headers = HeaderMap::new();
        headers.insert("x-slack-request-timestamp", "1700000000".parse().unwrap());
        headers.insert("x-slack-signature", signature.parse().unwrap());
        assert!(verify_slack("secret", &headers, body, 1_700_000_100).is_ok());
        assert!(verify_slack("other", &headers, body, 1_700_000_100).is_err());
        assert!(verify_slack("secret", &headers, b"payload=x", 1_700_000_100).is_err());
        assert!(
            verify_slack("secret", &headers, body, 1_700_001_000).is_err(),
            "replayed"
        );
    }
}
