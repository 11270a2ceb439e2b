//! Per-channel formatting: rendered text in, the exact request body a provider is sent
//! out. RenderPreview and real sends both come through here, so a preview is the
//! message byte for byte.

use serde_json::{Value, json};
use uuid::Uuid;

use super::channel::Channel;
use super::message::{AlertRef, Kind};
use super::sms;

/// Slack Block Kit: most blocks in a message, most characters in a section's text.
pub const SLACK_MAX_BLOCKS: usize = 50;
pub const SLACK_MAX_SECTION_CHARS: usize = 3000;
/// Twilio's limit on the text of one `<Say>`.
pub const VOICE_MAX_CHARS: usize = 4000;
/// Teams refuses cards over about 28 KB; leave room for the card around the text.
pub const TEAMS_MAX_TEXT_BYTES: usize = 24 * 1024;
/// RFC 5322 line limit; a subject is one line.
pub const EMAIL_MAX_SUBJECT_CHARS: usize = 998;

/// A rendered message, before its channel's formatting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Content {
    pub text: String,
    /// Email subject; other channels ignore it.
    pub subject: String,
    /// Email HTML, rendered from the template's own `html` when it has one.
    pub html: Option<String>,
}

/// What the message is about, for buttons, links and machine-readable fields.
#[derive(Clone, Debug, Default)]
pub struct Meta<'a> {
    pub kind: Option<Kind>,
    pub alerts: &'a [AlertRef],
    /// A link the message offers: the alert's runbook, or the link its sender gave.
    pub link: Option<String>,
    /// Ack/Resolve buttons (Slack) act on this alert.
    pub actionable: Option<Uuid>,
}

/// A provider's request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Slack, Teams and webhooks: the JSON posted.
    Json(Vec<u8>),
    Email {
        subject: String,
        text: String,
        html: String,
    },
    /// Twilio's `Body` parameter.
    Sms(String),
    /// Twilio's `Twiml` parameter.
    Voice(String),
}

impl Body {
    /// The body as text: JSON as sent, the mail's parts, the SMS text, the TwiML.
    pub fn to_text(&self) -> String {
        match self {
            Body::Json(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Body::Email {
                subject,
                text,
                html,
            } => format!("Subject: {subject}\n\n{text}\n\n{html}"),
            Body::Sms(text) | Body::Voice(text) => text.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formatted {
    pub body: Body,
    /// The text was cut to fit the channel.
    pub truncated: bool,
}

/// Formats `content` for `channel`, addressed to `address`.
pub fn format(channel: Channel, address: &str, content: &Content, meta: &Meta) -> Formatted {
    match channel {
        Channel::Slack => slack(address, content, meta),
        Channel::Teams => teams(content, meta),
        Channel::Webhook => webhook(content, meta),
        Channel::Email => email(content, meta),
        Channel::Sms => {
            let (text, truncated) = sms::fit_one(&plain(&content.text));
            Formatted {
                body: Body::Sms(text),
                truncated,
            }
        }
        Channel::Voice => voice(content),
    }
}

/// Text without Slack's emphasis marks, for channels that show it literally.
pub fn plain(text: &str) -> String {
    text.replace(['*', '`'], "")
}

fn slack(address: &str, content: &Content, meta: &Meta) -> Formatted {
    let reserve = usize::from(meta.actionable.is_some());
    let chunks = split(&content.text, SLACK_MAX_SECTION_CHARS);
    let room = SLACK_MAX_BLOCKS - reserve;
    let truncated = chunks.len() > room;
    let mut blocks: Vec<Value> = chunks
        .into_iter()
        .take(room)
        .map(|chunk| json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk}}))
        .collect();
    if truncated && let Some(last) = blocks.last_mut() {
        let text = last["text"]["text"].as_str().unwrap_or_default();
        let keep: String = text.chars().take(SLACK_MAX_SECTION_CHARS - 20).collect();
        last["text"]["text"] = Value::String(format!("{keep}\n… (truncated)"));
    }
    if let Some(alert) = meta.actionable {
        blocks.push(json!({
            "type": "actions",
            "block_id": "oncall_alert",
            "elements": [
                {"type": "button", "action_id": "oncall_ack", "style": "primary",
                 "text": {"type": "plain_text", "text": "Acknowledge"}, "value": alert.to_string()},
                {"type": "button", "action_id": "oncall_resolve", "style": "danger",
                 "text": {"type": "plain_text", "text": "Resolve"}, "value": alert.to_string()},
            ],
        }));
    }
    let fallback: String = content.text.chars().take(SLACK_MAX_SECTION_CHARS).collect();
    let body = json!({"channel": address, "text": fallback, "blocks": blocks});
    Formatted {
        body: Body::Json(body.to_string().into_bytes()),
        truncated,
    }
}

fn teams(content: &Content, meta: &Meta) -> Formatted {
    let mut text = content.text.clone();
    let truncated = text.len() > TEAMS_MAX_TEXT_BYTES;
    if truncated {
        let mut cut = TEAMS_MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n… (truncated)");
    }
    let (title, rest) = match text.split_once('\n') {
        Some((title, rest)) => (plain(title), rest.to_string()),
        None => (plain(&text), String::new()),
    };
    let mut body = vec![
        json!({"type": "TextBlock", "text": title, "weight": "Bolder",
                               "size": "Medium", "wrap": true}),
    ];
    if !rest.trim().is_empty() {
        body.push(json!({"type": "TextBlock", "text": plain(&rest), "wrap": true}));
    }
    let actions: Vec<Value> = meta
        .link
        .iter()
        .map(|url| json!({"type": "Action.OpenUrl", "title": "Open link", "url": url}))
        .collect();
    let card = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    });
    Formatted {
        body: Body::Json(card.to_string().into_bytes()),
        truncated,
    }
}

/// Alerts a webhook body lists; `alert_count` counts them all.
pub const WEBHOOK_MAX_ALERTS: usize = 100;

fn webhook(content: &Content, meta: &Meta) -> Formatted {
    let alerts: Vec<Value> = meta
        .alerts
        .iter()
        .take(WEBHOOK_MAX_ALERTS)
        .map(|a| {
            json!({"id": a.id.to_string(), "number": a.number, "summary": a.summary,
                   "severity": a.severity, "site": a.site, "service_id": a.service_id.to_string()})
        })
        .collect();
    let body = json!({
        "type": meta.kind.map_or("message", Kind::as_str),
        "text": content.text,
        "subject": content.subject,
        "alerts": alerts,
        "alert_count": meta.alerts.len(),
        "link": meta.link,
    });
    Formatted {
        body: Body::Json(body.to_string().into_bytes()),
        truncated: false,
    }
}

fn email(content: &Content, meta: &Meta) -> Formatted {
    let first_line = content.text.lines().next().unwrap_or_default();
    let subject_source = if content.subject.trim().is_empty() {
        plain(first_line)
    } else {
        content.subject.clone()
    };
    let one_line = subject_source.replace(['\r', '\n'], " ");
    let truncated = one_line.chars().count() > EMAIL_MAX_SUBJECT_CHARS;
    let subject: String = one_line.chars().take(EMAIL_MAX_SUBJECT_CHARS).collect();
    let html = match &content.html {
        Some(html) => html.clone(),
        None => {
            let paragraphs: String = escape_html(&plain(&content.text))
                .lines()
                .map(|line| format!("{line}<br>"))
                .collect();
            let link = meta
                .link
                .as_ref()
                .map(|url| {
                    format!(
                        "<p><a href=\"{}\" style=\"display:inline-block;padding:8px 14px;background:#1f6feb;color:#ffffff;text-decoration:none;border-radius:4px\">Open link</a></p>",
                        escape_html(url)
                    )
                })
                .unwrap_or_default();
            format!(
                "<!DOCTYPE html><html><body style=\"margin:0;padding:16px;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328\"><div style=\"max-width:640px;border-left:4px solid #cf222e;padding-left:12px\"><p style=\"font-size:16px;font-weight:bold\">{}</p><p>{paragraphs}</p>{link}</div></body></html>",
                escape_html(&subject)
            )
        }
    };
    let mut text = plain(&content.text);
    if let Some(url) = &meta.link {
        text.push_str(&format!("\n\n{url}"));
    }
    Formatted {
        body: Body::Email {
            subject,
            text,
            html,
        },
        truncated,
    }
}

fn voice(content: &Content) -> Formatted {
    let text = plain(&content.text);
    let truncated = text.chars().count() > VOICE_MAX_CHARS;
    let said: String = text.chars().take(VOICE_MAX_CHARS).collect();
    let said = escape_html(&said.replace('\n', ". "));
    let twiml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>"
    );
    Formatted {
        body: Body::Voice(twiml),
        truncated,
    }
}

/// Pieces of at most `max` characters, cut at a line end where one is near.
fn split(text: &str, max: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    if rest.is_empty() {
        return vec![" ".to_string()];
    }
    while !rest.is_empty() {
        if rest.len() <= max {
            chunks.push(rest.iter().collect());
            break;
        }
        let cut = rest[..max]
            .iter()
            .rposition(|c| *c == '\n')
            .filter(|at| *at > max / 2)
            .map_or(max, |at| at + 1);
        chunks.push(rest[..cut].iter().collect());
        rest.drain(..cut);
    }
    chunks
}

/// Escapes text for HTML and XML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(text: &str) -> Content {
        Content {
            text: text.into(),
            ..Content::default()
        }
    }

    fn json_of(formatted: &Formatted) -> Value {
        match &formatted.body {
            Body::Json(bytes) => serde_json::from_slice(bytes).unwrap(),
            other => panic!("not JSON: {other:?}"),
        }
    }

    #[test]
    fn slack_splits_sections_caps_blocks_and_adds_buttons() {
        let alert = Uuid::new_v4();
        let meta = Meta {
            actionable: Some(alert),
            ..Meta::default()
        };
        let long = "x".repeat(SLACK_MAX_SECTION_CHARS * 60);
        let formatted = format(Channel::Slack, "C1", &content(&long), &meta);
        assert!(formatted.truncated);
        let body = json_of(&formatted);
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), SLACK_MAX_BLOCKS);
        for block in &blocks[..SLACK_MAX_BLOCKS - 1] {
            assert!(
                block["text"]["text"].as_str().unwrap().chars().count() <= SLACK_MAX_SECTION_CHARS
            );
        }
        let actions = &blocks[SLACK_MAX_BLOCKS - 1];
        assert_eq!(actions["elements"][0]["action_id"], "oncall_ack");
        assert_eq!(actions["elements"][1]["value"], alert.to_string());
        assert_eq!(body["channel"], "C1");

        let short = format(
            Channel::Slack,
            "C1",
            &content("*down*\nline two"),
            &Meta::default(),
        );
        assert!(!short.truncated);
        assert_eq!(json_of(&short)["blocks"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn split_prefers_line_ends() {
        let text = format!("{}\n{}", "a".repeat(2500), "b".repeat(2000));
        let chunks = split(&text, 3000);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0], format!("{}\n", "a".repeat(2500)));
    }

    #[test]
    fn teams_is_an_adaptive_card() {
        let meta = Meta {
            link: Some("https://oncall.example.net/alerts/1".into()),
            ..Meta::default()
        };
        let body = json_of(&format(
            Channel::Teams,
            "",
            &content("*Title*\nbody"),
            &meta,
        ));
        let card = &body["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert_eq!(card["content"]["body"][0]["text"], "Title");
        assert_eq!(
            card["content"]["actions"][0]["url"],
            "https://oncall.example.net/alerts/1"
        );
    }

    #[test]
    fn email_has_text_and_inline_styled_html() {
        let formatted = format(
            Channel::Email,
            "erin@example.net",
            &content("*Down* <core1>\nsecond line"),
            &Meta::default(),
        );
        let Body::Email {
            subject,
            text,
            html,
        } = formatted.body
        else {
            panic!()
        };
        assert_eq!(subject, "Down <core1>");
        assert_eq!(text, "Down <core1>\nsecond line");
        assert!(
            html.contains("Down &lt;core1&gt;<br>second line<br>"),
            "{html}"
        );
        assert!(html.contains("style=\""));
    }

    #[test]
    fn voice_is_escaped_twiml() {
        let Body::Voice(twiml) = format(
            Channel::Voice,
            "+15550100",
            &content("a < b & c"),
            &Meta::default(),
        )
        .body
        else {
            panic!()
        };
        assert!(twiml.contains("<Say>a &lt; b &amp; c</Say>"), "{twiml}");
    }
}
