//! Notifications for real: the server talks to local providers that speak Slack's,
//! Twilio's, Teams' and SMTP's wire formats, and to signed webhooks.

mod common;
mod fakes;

use std::time::{Duration, Instant};

use common::{ADMIN_TOKEN, Db, Server, authed, eventually};
use fakes::{Fake, SLACK_TOKEN, TWILIO_SID, TWILIO_TOKEN, WEBHOOK_SECRET};
use oncall::pb::alerting::routing::v1 as routing;
use oncall::pb::directory::v1 as dir;
use oncall::pb::notification::v1 as pb;
use prost_types::{Struct, Value, value::Kind};
use tonic::Code;

/// A server whose providers are the fakes; returns it with its config file kept alive.
async fn server_with(db: &Db, toml: &str) -> (Server, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(file.path(), toml).expect("write config");
    let path = file.path().to_string_lossy().to_string();
    let server = Server::start_with(db, &["--allow-private-destinations", "--config", &path]).await;
    (server, file)
}

fn slack_config(slack_url: &str, extra: &str) -> String {
    format!(
        r#"
[notify]
retry_base_ms = 100
{extra}

[notify.slack]
api_base_url = "{slack_url}"
bot_token = "{SLACK_TOKEN}"
signing_secret = "slack-signing-secret"
per_channel_per_second = 1

[notify.webhook]
signing_secret = "{WEBHOOK_SECRET}"
"#
    )
}

fn text(value: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(value.into())),
    }
}

fn object(fields: &[(&str, Value)]) -> Value {
    Value {
        kind: Some(Kind::StructValue(Struct {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        })),
    }
}

fn context(fields: &[(&str, Value)]) -> Struct {
    Struct {
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

fn channel(kind: pb::ChannelType, content: &str) -> pb::ChannelTemplate {
    pb::ChannelTemplate {
        channel: kind as i32,
        content: content.into(),
        metadata: Default::default(),
    }
}

async fn create_template(
    server: &Server,
    name: &str,
    channels: Vec<pb::ChannelTemplate>,
) -> pb::Template {
    server
        .templates()
        .await
        .create_template(authed(
            pb::CreateTemplateRequest {
                template: Some(pb::Template {
                    name: name.into(),
                    channels,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("create template")
        .into_inner()
}

async fn send(
    server: &Server,
    request: pb::SendNotificationRequest,
) -> Result<pb::SendNotificationResponse, tonic::Status> {
    server
        .notifications()
        .await
        .send_notification(authed(request, ADMIN_TOKEN))
        .await
        .map(tonic::Response::into_inner)
}

fn to(kind: pb::ChannelType, address: &str) -> pb::Destination {
    pb::Destination {
        user_id: String::new(),
        channel: kind as i32,
        channel_address: address.into(),
    }
}

async fn status_of(server: &Server, delivery_id: &str) -> pb::DeliveryStatus {
    server
        .notifications()
        .await
        .get_delivery_status(authed(
            pb::GetDeliveryStatusRequest {
                delivery_id: delivery_id.into(),
                request_id: String::new(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .expect("delivery status")
        .into_inner()
        .deliveries
        .remove(0)
}

async fn settled(server: &Server, delivery_id: &str) -> pb::DeliveryStatus {
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let status = status_of(server, delivery_id).await;
        let state = pb::DeliveryState::try_from(status.state).unwrap();
        if !matches!(
            state,
            pb::DeliveryState::Pending | pb::DeliveryState::Retrying
        ) {
            return status;
        }
        last = Some(status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("delivery {delivery_id} did not settle: {last:?}");
}

fn hits_to(fake: &Fake, needle: &str) -> Vec<fakes::Hit> {
    fake.hits()
        .into_iter()
        .filter(|h| String::from_utf8_lossy(&h.body).contains(needle))
        .collect()
}

/// A routing rule that posts every alert to a Slack channel.
async fn route_everything_to_slack(server: &Server, channel_id: &str) {
    let mut notify = routing::RoutingAction {
        r#type: routing::ActionType::NotifyChannel as i32,
        ..Default::default()
    };
    notify.notify_channel = Some(routing::NotifyChannelAction {
        target: Some(routing::ChannelTarget {
            channel: routing::ChannelType::Slack as i32,
            slack: Some(routing::SlackTarget {
                channel_id: channel_id.into(),
            }),
            ..Default::default()
        }),
        template_id: String::new(),
    });
    server
        .routing()
        .await
        .create_routing_rule(authed(
            routing::CreateRoutingRuleRequest {
                rule: Some(routing::RoutingRule {
                    name: format!("everything to {channel_id}"),
                    priority: 1,
                    enabled: true,
                    actions: vec![notify],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn templates_are_versioned_validated_and_deleted() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let mut templates = server.templates().await;
    let created = create_template(
        &server,
        "page",
        vec![channel(pb::ChannelType::Slack, "*{{ alert.summary }}*")],
    )
    .await;
    assert_eq!(created.version, 1);

    let mut changed = created.clone();
    changed.channels = vec![channel(
        pb::ChannelType::Slack,
        "v2 {{ alert.summary|upper }}",
    )];
    let updated = templates
        .update_template(authed(
            pb::UpdateTemplateRequest {
                template: Some(changed),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.id.as_str(), updated.version),
        (created.id.as_str(), 2)
    );
    let get = |version: i32| pb::GetTemplateRequest {
        id: created.id.clone(),
        version,
    };
    let first = templates
        .get_template(authed(get(1), ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.channels[0].content, "*{{ alert.summary }}*",
        "old versions never change"
    );
    let latest = templates
        .get_template(authed(get(0), ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.created_at, created.created_at);

    // Bad input names the field.
    let bad = templates
        .create_template(authed(
            pb::CreateTemplateRequest {
                template: Some(pb::Template {
                    name: "broken".into(),
                    channels: vec![channel(pb::ChannelType::Slack, "{{ alert.summary ")],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().starts_with("template.channels[0].content"),
        "{}",
        bad.message()
    );
    let twice = templates
        .create_template(authed(
            pb::CreateTemplateRequest {
                template: Some(pb::Template {
                    name: "page".into(),
                    channels: vec![channel(pb::ChannelType::Slack, "x")],
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::AlreadyExists);

    // Validation: undefined names, runaway loops and channel limits are reported.
    let sample = context(&[("alert", object(&[("summary", text("BGP down"))]))]);
    let validation = templates
        .validate_template(authed(
            pb::ValidateTemplateRequest {
                template: Some(pb::Template {
                    name: "checked".into(),
                    channels: vec![
                        channel(pb::ChannelType::Slack, "{{ alert.summary }} {{ runbok }}"),
                        channel(
                            pb::ChannelType::Email,
                            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                        ),
                        channel(pb::ChannelType::Sms, "{{ alert.summary }}{% for i in range(50) %} more text{% endfor %}"),
                    ],
                    ..Default::default()
                }),
                sample_data: Some(sample),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!validation.valid);
    let messages: Vec<String> = validation
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("runbok")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("step budget")),
        "{messages:?}"
    );
    assert_eq!(validation.warnings.len(), 1, "{:?}", validation.warnings);
    assert_eq!(validation.warnings[0].channel, pb::ChannelType::Sms as i32);

    let listed = templates
        .list_templates(authed(pb::ListTemplatesRequest::default(), ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.templates.len(), 1);
    templates
        .delete_template(authed(
            pb::DeleteTemplateRequest {
                id: created.id.clone(),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let gone = templates
        .get_template(authed(get(1), ADMIN_TOKEN))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn the_sandbox_sees_only_the_context() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let mut templates = server.templates().await;
    let preview = |content: &str| pb::RenderPreviewRequest {
        template: Some(pb::Template {
            name: "probe".into(),
            channels: vec![channel(pb::ChannelType::Webhook, content)],
            ..Default::default()
        }),
        sample_data: Some(context(&[("alert", object(&[("summary", text("x"))]))])),
        ..Default::default()
    };
    for probe in [
        "{{ ONCALL_ADMIN_TOKEN }}",
        "{{ settings.admin_token }}",
        "{{ env.HOME }}",
        "{% include '/etc/passwd' %}",
    ] {
        let answer = templates
            .render_preview(authed(preview(probe), ADMIN_TOKEN))
            .await;
        let answer = answer.map(tonic::Response::into_inner);
        match answer {
            Ok(rendered) => {
                assert!(
                    rendered.previews.is_empty(),
                    "{probe} rendered: {rendered:?}"
                );
                assert!(!rendered.validation.unwrap().valid);
            }
            Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{probe}"),
        }
    }
    let runaway = templates
        .render_preview(authed(
            preview(
                "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            ),
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(runaway.previews.is_empty());
    assert!(
        runaway
            .validation
            .unwrap()
            .errors
            .iter()
            .any(|e| e.message.contains("step budget")),
        "the budget stops a runaway loop"
    );
}

#[tokio::test]
async fn a_preview_is_the_sent_body_byte_for_byte() {
    let (slack_url, slack) = fakes::slack().await;
    let (sink_url, sink) = fakes::sink().await;
    let db = Db::sqlite();
    let (server, _config) = server_with(&db, &slack_config(&slack_url, "")).await;
    let template = create_template(
        &server,
        "status",
        vec![
            channel(
                pb::ChannelType::Slack,
                "*{{ title|upper }}* at {{ site|default('unknown') }}\n{% for l in lines %}• {{ l|truncate(12) }}\n{% endfor %}",
            ),
            channel(pb::ChannelType::Webhook, "{{ title }} ({{ when|time('Europe/Berlin', '%H:%M %Z') }})"),
        ],
    )
    .await;
    let list = Value {
        kind: Some(Kind::ListValue(prost_types::ListValue {
            values: vec![text("core1 down hard"), text("core2 ok")],
        })),
    };
    let data = context(&[
        ("title", text("maintenance tonight")),
        ("lines", list),
        ("when", text("2026-11-28T21:00:00Z")),
    ]);
    let preview = server
        .templates()
        .await
        .render_preview(authed(
            pb::RenderPreviewRequest {
                template_id: template.id.clone(),
                sample_data: Some(data.clone()),
                channels: vec![pb::ChannelType::Slack as i32],
                channel_address: "C0PREVIEW".into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let slack_preview = &preview.previews["CHANNEL_TYPE_SLACK"];
    assert_eq!(
        slack_preview.content,
        "*MAINTENANCE TONIGHT* at unknown\n• core1 dow...\n• core2 ok\n"
    );

    let hook = format!("{sink_url}/hooks/noc");
    let hook_preview = server
        .templates()
        .await
        .render_preview(authed(
            pb::RenderPreviewRequest {
                template_id: template.id.clone(),
                sample_data: Some(data.clone()),
                channels: vec![pb::ChannelType::Webhook as i32],
                channel_address: hook.clone(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner()
        .previews["CHANNEL_TYPE_WEBHOOK"]
        .clone();
    assert!(
        hook_preview.content.ends_with("(22:00 CET)"),
        "{}",
        hook_preview.content
    );

    let sent = send(
        &server,
        pb::SendNotificationRequest {
            request_id: "preview-check".into(),
            template_id: template.id.clone(),
            render_context: Some(data),
            destinations: vec![
                to(pb::ChannelType::Slack, "C0PREVIEW"),
                to(pb::ChannelType::Webhook, &hook),
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(sent.deliveries.len(), 2);
    for delivery in &sent.deliveries {
        let status = settled(&server, &delivery.id).await;
        assert_eq!(status.state, pb::DeliveryState::Sent as i32, "{status:?}");
        assert_eq!(status.template_version, 1);
    }
    let received = slack.hits();
    assert_eq!(received.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&received[0].body),
        slack_preview.body,
        "byte for byte"
    );
    let posted = sink.hits();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        String::from_utf8_lossy(&posted[0].body),
        hook_preview.body,
        "byte for byte"
    );
    assert!(
        fakes::signature_ok(&posted[0], WEBHOOK_SECRET),
        "the webhook is signed"
    );
    assert!(!fakes::signature_ok(&posted[0], "another secret"));
}

#[tokio::test]
async fn a_5xx_is_retried_and_delivered_once_a_400_fails_without_retry_and_429_waits() {
    let (slack_url, slack) = fakes::slack().await;
    let db = Db::sqlite();
    let (server, _config) = server_with(&db, &slack_config(&slack_url, "")).await;
    let template = create_template(
        &server,
        "t",
        vec![channel(pb::ChannelType::Slack, "hello {{ who }}")],
    )
    .await;
    let request = |id: &str, address: &str| pb::SendNotificationRequest {
        request_id: id.into(),
        template_id: template.id.clone(),
        render_context: Some(context(&[("who", text(id))])),
        destinations: vec![to(pb::ChannelType::Slack, address)],
        ..Default::default()
    };

    slack.fail_next(503, None, Some("hello flaky"));
    let flaky = send(&server, request("flaky", "C0FLAKY")).await.unwrap();
    let status = settled(&server, &flaky.deliveries[0].id).await;
    assert_eq!(status.state, pb::DeliveryState::Sent as i32, "{status:?}");
    assert_eq!(status.attempts, 2);
    let outcomes: Vec<(String, i32)> = status
        .attempt_log
        .iter()
        .map(|a| (a.outcome.clone(), a.http_status))
        .collect();
    assert_eq!(
        outcomes,
        vec![("retrying".into(), 503), ("sent".into(), 200)]
    );
    let hits = hits_to(&slack, "hello flaky");
    assert_eq!(
        hits.iter().filter(|h| h.status == 200).count(),
        1,
        "delivered once"
    );

    slack.fail_next(400, None, Some("hello refused"));
    let refused = send(&server, request("refused", "C0BAD")).await.unwrap();
    let status = settled(&server, &refused.deliveries[0].id).await;
    assert_eq!(status.state, pb::DeliveryState::Failed as i32, "{status:?}");
    assert_eq!(status.attempts, 1);
    assert!(status.last_error.contains("400"), "{}", status.last_error);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        hits_to(&slack, "hello refused").len(),
        1,
        "no retry after a 400"
    );

    slack.fail_next(429, Some(2), Some("hello later"));
    let later = send(&server, request("later", "C0LATER")).await.unwrap();
    let status = settled(&server, &later.deliveries[0].id).await;
    assert_eq!(status.state, pb::DeliveryState::Sent as i32);
    let hits = hits_to(&slack, "hello later");
    assert_eq!(hits.len(), 2);
    assert!(
        hits[1].at - hits[0].at >= Duration::from_millis(1900),
        "Retry-After is honoured"
    );

    // The same request id again: the first deliveries, nothing sent twice.
    let again = send(&server, request("flaky", "C0FLAKY")).await.unwrap();
    assert_eq!(again.deliveries[0].id, flaky.deliveries[0].id);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hits_to(&slack, "hello flaky").len(), 2);
}

#[tokio::test]
async fn a_storm_to_one_slack_channel_stays_within_its_rate_and_tells_every_alert() {
    let (slack_url, slack) = fakes::slack().await;
    let db = Db::sqlite();
    let (server, _config) = server_with(&db, &slack_config(&slack_url, "")).await;
    let (_, key) = server.service_with_key("core").await;
    route_everything_to_slack(&server, "C0STORM").await;

    const ALERTS: usize = 10_000;
    let started = Instant::now();
    for first in (0..ALERTS).step_by(500) {
        let (status, _, _) = server
            .post_json(
                &format!("/api/v1/webhook/alertmanager/{key}"),
                &common::alertmanager_batch(first, 500),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the storm took {:?}",
        started.elapsed()
    );

    // Count every alert the channel was told about: one per single message, the
    // header's count per digest.
    let told = |hits: &[fakes::Hit]| -> usize {
        hits.iter()
            .filter(|h| h.status == 200)
            .map(|h| {
                let text = h.json()["text"].as_str().unwrap_or_default().to_string();
                if text.contains("(digest:") {
                    text.trim_start_matches('*')
                        .split(' ')
                        .next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(0)
                } else {
                    1
                }
            })
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while told(&slack.hits()) < ALERTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hits = slack.hits();
    assert_eq!(told(&hits), ALERTS, "every alert is in exactly one message");
    eprintln!(
        "storm: {} messages; gaps {:?}",
        hits.len(),
        hits.windows(2)
            .map(|p| (p[1].at - p[0].at).as_millis())
            .collect::<Vec<_>>()
    );
    assert!(hits.len() < 60, "{} messages for a storm", hits.len());
    // Sends start at least a second apart; what the fake measures on arrival also
    // carries each request's own latency, so single gaps get some slack and the rate
    // over every run of messages must hold exactly.
    for pair in hits.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(750),
            "two messages {gap:?} apart: over 1/s"
        );
    }
    for run in hits.windows(6) {
        let span = run[5].at - run[0].at;
        assert!(
            span >= Duration::from_millis(4_800),
            "6 messages in {span:?}: over 1/s"
        );
    }
    let digest = hits
        .iter()
        .map(|h| h.json())
        .find(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("more alerts")
        })
        .expect("a digest");
    let text = digest["text"].as_str().unwrap();
    assert_eq!(
        text.matches("• #").count(),
        20,
        "a digest lists 20 alerts: {text}"
    );

    // Every alert's delivery went out, alone or inside a digest (the log is written
    // just after the provider answers).
    eventually("no delivery left pending", async || {
        let pending = server
            .notifications()
            .await
            .list_delivery_status(authed(
                pb::ListDeliveryStatusRequest {
                    state: pb::DeliveryState::Pending as i32,
                    ..Default::default()
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap()
            .into_inner();
        pending.deliveries.is_empty().then_some(())
    })
    .await;
    let sent = server
        .notifications()
        .await
        .list_delivery_status(authed(
            pb::ListDeliveryStatusRequest {
                state: pb::DeliveryState::Sent as i32,
                page_size: 1000,
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(sent.deliveries.iter().any(|d| !d.merged_into.is_empty()));
    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(value("oncall_digests_total") >= 1.0, "{metrics}");
    assert!(
        value("oncall_digested_messages_total") >= 9_000.0,
        "{metrics}"
    );
    assert!(metrics.contains(r#"oncall_delivery_attempts_total{channel="slack",outcome="sent"}"#));
}

#[tokio::test]
async fn teams_email_sms_and_voice_reach_their_providers() {
    let (sink_url, sink) = fakes::sink().await;
    let (twilio_url, twilio) = fakes::twilio().await;
    let (smtp_port, mails) = fakes::smtp().await;
    let db = Db::sqlite();
    let config = format!(
        r#"
[notify.smtp]
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "oncall@example.net"

[notify.twilio]
api_base_url = "{twilio_url}"
account_sid = "{TWILIO_SID}"
auth_token = "{TWILIO_TOKEN}"
from_number = "+15550100"
"#
    );
    let (server, _config) = server_with(&db, &config).await;
    let mut email = channel(
        pb::ChannelType::Email,
        "Core router {{ device }} is down.\nSee the runbook.",
    );
    email.metadata.insert(
        "subject".into(),
        "[{{ severity|upper }}] {{ device }} down".into(),
    );
    let template = create_template(
        &server,
        "multi",
        vec![
            channel(pb::ChannelType::Teams, "**{{ device }}** down\nsecond line"),
            email,
            channel(pb::ChannelType::Sms, "{{ device }} down, reply ack"),
            channel(
                pb::ChannelType::Voice,
                "Router {{ device }} is down & needs you",
            ),
        ],
    )
    .await;
    let sent = send(
        &server,
        pb::SendNotificationRequest {
            request_id: "multi-1".into(),
            template_id: template.id.clone(),
            render_context: Some(context(&[
                ("device", text("core1.iad1")),
                ("severity", text("critical")),
            ])),
            priority: pb::NotificationPriority::High as i32,
            destinations: vec![
                to(pb::ChannelType::Teams, &format!("{sink_url}/teams/noc")),
                to(pb::ChannelType::Email, "erin@example.net"),
                to(pb::ChannelType::Sms, "+15550111"),
                to(pb::ChannelType::Voice, "+15550112"),
            ],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for delivery in &sent.deliveries {
        let status = settled(&server, &delivery.id).await;
        assert_eq!(status.state, pb::DeliveryState::Sent as i32, "{status:?}");
    }
    let card = sink.hits().remove(0).json();
    assert_eq!(card["type"], "message");
    let content = &card["attachments"][0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["body"][0]["text"], "core1.iad1 down");

    let mail = mails.lock().unwrap().remove(0);
    assert_eq!(mail.to, vec!["<erin@example.net>".to_string()]);
    assert!(
        mail.data.contains("Subject: [CRITICAL] core1.iad1 down"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("multipart/alternative"), "{}", mail.data);
    assert!(mail.data.contains("text/plain"));
    assert!(mail.data.contains("text/html"));

    let hits = twilio.hits();
    let sms = hits
        .iter()
        .find(|h| h.path.ends_with("/Messages.json"))
        .expect("an SMS");
    let form: std::collections::HashMap<String, String> = sms.form().into_iter().collect();
    assert_eq!(form["To"], "+15550111");
    assert_eq!(form["From"], "+15550100");
    assert_eq!(form["Body"], "core1.iad1 down, reply ack");
    let call = hits
        .iter()
        .find(|h| h.path.ends_with("/Calls.json"))
        .expect("a call");
    let form: std::collections::HashMap<String, String> = call.form().into_iter().collect();
    assert!(
        form["Twiml"].contains("<Say>Router core1.iad1 is down &amp; needs you</Say>"),
        "{}",
        form["Twiml"]
    );
}

#[tokio::test]
async fn users_are_reached_only_through_verified_methods_and_bad_requests_say_why() {
    let (sink_url, sink) = fakes::sink().await;
    let db = Db::sqlite();
    let (server, _config) = server_with(&db, "").await;
    let (user, _) = server.user_with_token("erin", dir::Role::Responder).await;
    let template = create_template(
        &server,
        "t",
        vec![channel(pb::ChannelType::Webhook, "for {{ who }}")],
    )
    .await;
    let request =
        |destinations: Vec<pb::Destination>, user_ids: Vec<String>| pb::SendNotificationRequest {
            template_id: template.id.clone(),
            render_context: Some(context(&[("who", text("erin"))])),
            destinations,
            user_ids,
            ..Default::default()
        };
    let refused = send(&server, request(vec![], vec![user.clone()]))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::FailedPrecondition,
        "{}",
        refused.message()
    );

    let mut users = server.users().await;
    let method = users
        .add_contact_method(authed(
            dir::AddContactMethodRequest {
                user_id: user.clone(),
                method: Some(dir::ContactMethod {
                    r#type: dir::ContactMethodType::Webhook as i32,
                    address: format!("{sink_url}/erin"),
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    let unverified = send(&server, request(vec![], vec![user.clone()]))
        .await
        .unwrap_err();
    assert_eq!(
        unverified.code(),
        Code::FailedPrecondition,
        "an unverified method gets only its code"
    );
    let code = eventually("the code", async || {
        sink.hits()
            .iter()
            .map(|h| h.json())
            .find_map(|b| b["code"].as_str().map(str::to_string))
    })
    .await;
    users
        .verify_contact_method(authed(
            dir::VerifyContactMethodRequest {
                user_id: user.clone(),
                method_id: method.id.clone(),
                code,
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    let sent = send(&server, request(vec![], vec![user.clone()]))
        .await
        .unwrap();
    assert_eq!(sent.deliveries.len(), 1);
    assert_eq!(
        sent.deliveries[0].destination.as_ref().unwrap().user_id,
        user
    );
    let status = settled(&server, &sent.deliveries[0].id).await;
    assert_eq!(status.state, pb::DeliveryState::Sent as i32, "{status:?}");

    for (bad, field) in [
        (
            request(vec![to(pb::ChannelType::Sms, "555-0100")], vec![]),
            "destinations[0].channel_address",
        ),
        (
            request(vec![to(pb::ChannelType::Unspecified, "x")], vec![]),
            "destinations[0].channel",
        ),
        (request(vec![], vec!["not-a-uuid".into()]), "user_ids[0]"),
        (request(vec![], vec![]), "destinations"),
        (
            pb::SendNotificationRequest {
                template_id: "nope".into(),
                ..request(vec![], vec![user.clone()])
            },
            "template_id",
        ),
        (
            pb::SendNotificationRequest {
                render_context: None,
                ..request(
                    vec![to(pb::ChannelType::Webhook, &format!("{sink_url}/x"))],
                    vec![],
                )
            },
            "render_context",
        ),
    ] {
        let status = send(&server, bad).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{field}: {}",
            status.message()
        );
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_reported_to_the_fallback() {
    let (slack_url, slack) = fakes::slack().await;
    let (sink_url, sink) = fakes::sink().await;
    let db = Db::sqlite();
    let extra = format!(
        "max_attempts = 2\nbreaker_failures = 2\nbreaker_cooldown_seconds = 60\nfallback_channel = \"webhook\"\nfallback_address = \"{sink_url}/fallback\""
    );
    let (server, _config) = server_with(&db, &slack_config(&slack_url, &extra)).await;
    *slack.always.lock().unwrap() = Some(fakes::Failure {
        status: 503,
        retry_after: None,
        when_body_contains: None,
    });
    let template =
        create_template(&server, "t", vec![channel(pb::ChannelType::Slack, "hello")]).await;
    let sent = send(
        &server,
        pb::SendNotificationRequest {
            template_id: template.id.clone(),
            destinations: vec![to(pb::ChannelType::Slack, "C0DOWN")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let status = settled(&server, &sent.deliveries[0].id).await;
    assert_eq!(status.state, pb::DeliveryState::Failed as i32);
    assert_eq!(status.attempts, 2);
    let notice = eventually("the fallback notice", async || {
        sink.hits().into_iter().find(|h| h.path == "/fallback")
    })
    .await;
    let text = notice.json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(text.contains("slack keeps failing"), "{text}");
}

#[tokio::test]
async fn slack_buttons_and_sms_replies_act_as_the_mapped_user() {
    let (slack_url, slack) = fakes::slack().await;
    let (twilio_url, _twilio) = fakes::twilio().await;
    let db = Db::sqlite();
    let config = format!(
        "{}\n[notify.twilio]\napi_base_url = \"{twilio_url}\"\naccount_sid = \"{TWILIO_SID}\"\nauth_token = \"{TWILIO_TOKEN}\"\nfrom_number = \"+15550100\"\n",
        slack_config(&slack_url, "")
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), config).unwrap();
    let path = file.path().to_string_lossy().to_string();
    let server = Server::start_with(
        &db,
        &[
            "--allow-private-destinations",
            "--config",
            &path,
            "--public-url",
            "https://oncall.example.net",
        ],
    )
    .await;
    let (service, key) = server.service_with_key("core").await;
    let _ = service;
    let (erin, _) = server.user_with_token("erin", dir::Role::Responder).await;
    let mut users = server.users().await;
    for (kind, address) in [
        (dir::ContactMethodType::Slack, "U012ERIN34"),
        (dir::ContactMethodType::Sms, "+15550199"),
    ] {
        users
            .add_contact_method(authed(
                dir::AddContactMethodRequest {
                    user_id: erin.clone(),
                    method: Some(dir::ContactMethod {
                        r#type: kind as i32,
                        address: address.into(),
                        verified: true,
                        ..Default::default()
                    }),
                },
                ADMIN_TOKEN,
            ))
            .await
            .unwrap();
    }
    // The alert is posted to #noc with Ack/Resolve buttons.
    route_everything_to_slack(&server, "C0NOC").await;
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &common::alertmanager_batch(0, 1),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let posted = eventually("the Slack message", async || {
        slack.hits().first().map(|h| h.json())
    })
    .await;
    let buttons = posted["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("Ack and Resolve buttons")
        .clone();
    let alert_id = buttons["elements"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(buttons["elements"][0]["action_id"], "oncall_ack");

    let slack_post = |payload: serde_json::Value, secret: &str, timestamp: i64| {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{timestamp}:{body}").as_bytes());
        let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        reqwest::Client::new()
            .post(server.http("/api/v1/slack/actions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", signature)
            .body(body)
            .send()
    };
    let click = serde_json::json!({
        "type": "block_actions",
        "user": {"id": "U012ERIN34", "username": "erin"},
        "actions": [{"action_id": "oncall_ack", "block_id": "oncall_alert", "value": alert_id}],
    });
    let now = chrono::Utc::now().timestamp();
    let forged = slack_post(click.clone(), "not the secret", now)
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let stale = slack_post(click.clone(), "slack-signing-secret", now - 3600)
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    assert_eq!(
        server.alert(&alert_id).await.status,
        oncall::pb::alerting::v1::AlertStatus::Triggered as i32
    );
    let answer = slack_post(click, "slack-signing-secret", now)
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().await.unwrap();
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .starts_with("Acknowledged #"),
        "{answer}"
    );
    let acked = server.alert(&alert_id).await;
    assert_eq!(
        acked.status,
        oncall::pb::alerting::v1::AlertStatus::Acknowledged as i32
    );
    assert_eq!(acked.acknowledged_by, erin);

    // An SMS reply resolves it, signed by Twilio over the public URL.
    let sms = |from: &str, text: &str, token: &str| {
        let params: Vec<(String, String)> = [
            ("From", from),
            ("To", "+15550100"),
            ("Body", text),
            ("MessageSid", "SM1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let signature = oncall::notify::twilio::signature(
            token,
            "https://oncall.example.net/api/v1/twilio/sms",
            &params,
        );
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        reqwest::Client::new()
            .post(server.http("/api/v1/twilio/sms"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
    };
    let reply = format!("resolve {}", acked.number);
    let forged = sms("+15550199", &reply, "wrong token").await.unwrap();
    assert_eq!(forged.status(), 401);
    let stranger = sms("+15550777", &reply, TWILIO_TOKEN).await.unwrap();
    assert!(
        stranger
            .text()
            .await
            .unwrap()
            .contains("not a verified contact method")
    );
    let answer = sms("+15550199", &reply, TWILIO_TOKEN).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/xml");
    let twiml = answer.text().await.unwrap();
    assert!(
        twiml.contains(&format!("<Message>Resolved #{}", acked.number)),
        "{twiml}"
    );
    let resolved = server.alert(&alert_id).await;
    assert_eq!(
        resolved.status,
        oncall::pb::alerting::v1::AlertStatus::Resolved as i32
    );
    let again = sms("+15550199", &reply, TWILIO_TOKEN)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("already resolved"), "{again}");
}

#[tokio::test]
async fn quiet_hours_hold_all_but_critical() {
    let (sink_url, sink) = fakes::sink().await;
    let db = Db::sqlite();
    let (server, _config) = server_with(&db, "").await;
    let (erin, erin_token) = server.user_with_token("erin", dir::Role::Responder).await;
    let mut users = server.users().await;
    users
        .add_contact_method(authed(
            dir::AddContactMethodRequest {
                user_id: erin.clone(),
                method: Some(dir::ContactMethod {
                    r#type: dir::ContactMethodType::Webhook as i32,
                    address: format!("{sink_url}/erin"),
                    verified: true,
                    ..Default::default()
                }),
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap();
    // Quiet from an hour ago until an hour from now, in Erin's zone.
    let zone: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
    let local = chrono::Utc::now().with_timezone(&zone);
    let hour = |offset: i64| {
        (local + chrono::Duration::hours(offset))
            .format("%H:%M")
            .to_string()
    };
    let me = users
        .get_user(authed(
            dir::GetUserRequest { id: erin.clone() },
            &erin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let bad = users
        .update_user(authed(
            dir::UpdateUserRequest {
                user: Some(dir::User {
                    quiet_hours_start: "22:00".into(),
                    ..me.clone()
                }),
            },
            &erin_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(
        bad.message().starts_with("user.quiet_hours_start"),
        "{}",
        bad.message()
    );
    let updated = users
        .update_user(authed(
            dir::UpdateUserRequest {
                user: Some(dir::User {
                    timezone: "Asia/Tokyo".into(),
                    quiet_hours_start: hour(-1),
                    quiet_hours_end: hour(1),
                    ..me
                }),
            },
            &erin_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.quiet_hours_end, hour(1));

    let template = create_template(
        &server,
        "t",
        vec![channel(pb::ChannelType::Webhook, "{{ what }}")],
    )
    .await;
    let request = |what: &str, priority: pb::NotificationPriority| pb::SendNotificationRequest {
        template_id: template.id.clone(),
        render_context: Some(context(&[("what", text(what))])),
        priority: priority as i32,
        user_ids: vec![erin.clone()],
        ..Default::default()
    };
    let routine = send(&server, request("routine", pb::NotificationPriority::High))
        .await
        .unwrap();
    let urgent = send(
        &server,
        request("urgent", pb::NotificationPriority::Critical),
    )
    .await
    .unwrap();
    let status = settled(&server, &urgent.deliveries[0].id).await;
    assert_eq!(
        status.state,
        pb::DeliveryState::Sent as i32,
        "critical goes through quiet hours"
    );
    let held = eventually("the hold recorded", async || {
        let status = status_of(&server, &routine.deliveries[0].id).await;
        status.last_error.contains("quiet hours").then_some(status)
    })
    .await;
    assert_eq!(held.state, pb::DeliveryState::Pending as i32);
    let texts: Vec<String> = sink
        .hits()
        .iter()
        .map(|h| h.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts, vec!["urgent".to_string()]);
}

#[tokio::test]
async fn an_external_kneutral_directory_is_asked_once_per_user_per_ttl() {
    use std::sync::atomic::Ordering;
    let (sink_url, sink) = fakes::sink().await;
    let remote_user = uuid::Uuid::new_v4().to_string();
    let directory = fakes::Kneutral {
        user: dir::User {
            id: remote_user.clone(),
            name: "remote-erin".into(),
            timezone: "UTC".into(),
            ..Default::default()
        },
        methods: vec![
            dir::ContactMethod {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: remote_user.clone(),
                r#type: dir::ContactMethodType::Webhook as i32,
                address: format!("{sink_url}/remote-erin"),
                verified: true,
                ..Default::default()
            },
            dir::ContactMethod {
                id: uuid::Uuid::new_v4().to_string(),
                user_id: remote_user.clone(),
                r#type: dir::ContactMethodType::Webhook as i32,
                address: format!("{sink_url}/unverified"),
                verified: false,
                ..Default::default()
            },
        ],
        token: "kneutral-token".into(),
        get_user_calls: Default::default(),
        list_methods_calls: Default::default(),
    };
    let url = fakes::kneutral(directory.clone()).await;
    let db = Db::sqlite();
    let config = format!(
        "[directory]\nkind = \"kneutral\"\nkneutral_grpc_url = \"{url}\"\nkneutral_token = \"kneutral-token\"\ncache_ttl_seconds = 60\n"
    );
    let (server, _config) = server_with(&db, &config).await;
    let template = create_template(
        &server,
        "t",
        vec![channel(pb::ChannelType::Webhook, "hello {{ n }}")],
    )
    .await;
    let request = |n: &str| pb::SendNotificationRequest {
        template_id: template.id.clone(),
        render_context: Some(context(&[("n", text(n))])),
        user_ids: vec![remote_user.clone()],
        ..Default::default()
    };
    let sends =
        futures_util::future::join_all((0..5).map(|n| send(&server, request(&n.to_string()))))
            .await;
    for sent in sends {
        let sent = sent.unwrap();
        assert_eq!(sent.deliveries.len(), 1, "only the verified method");
        let status = settled(&server, &sent.deliveries[0].id).await;
        assert_eq!(status.state, pb::DeliveryState::Sent as i32);
    }
    send(&server, request("later")).await.unwrap();
    assert_eq!(
        directory.get_user_calls.load(Ordering::SeqCst),
        1,
        "one flight, then the cache"
    );
    assert_eq!(directory.list_methods_calls.load(Ordering::SeqCst), 1);
    assert!(sink.hits().iter().all(|h| h.path == "/remote-erin"));
    let unknown = send(
        &server,
        pb::SendNotificationRequest {
            user_ids: vec![uuid::Uuid::new_v4().to_string()],
            ..request("x")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn email_goes_over_starttls_to_a_relay_with_a_private_ca() {
    let (port, mails, ca) = fakes::smtp_starttls().await;
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca).unwrap();
    let db = Db::sqlite();
    let config = format!(
        "[notify.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nstarttls = true\nfrom = \"oncall@example.net\"\nca_file = \"{}\"\n",
        ca_file.path().display()
    );
    let (server, _config) = server_with(&db, &config).await;
    let template = create_template(
        &server,
        "mail",
        vec![channel(pb::ChannelType::Email, "over TLS")],
    )
    .await;
    let sent = send(
        &server,
        pb::SendNotificationRequest {
            template_id: template.id.clone(),
            destinations: vec![to(pb::ChannelType::Email, "erin@example.net")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let status = settled(&server, &sent.deliveries[0].id).await;
    assert_eq!(status.state, pb::DeliveryState::Sent as i32, "{status:?}");
    let mail = mails.lock().unwrap().remove(0);
    assert!(mail.tls, "the mail went over the encrypted session");
    assert!(mail.data.contains("over TLS"));
}

#[tokio::test]
async fn idle_delivery_actors_stop_and_a_new_message_starts_one_again() {
    let (sink_url, sink) = fakes::sink().await;
    let db = Db::sqlite();
    let (server, _config) = server_with(&db, "[notify]\nidle_actor_seconds = 2\n").await;
    let template = create_template(
        &server,
        "t",
        vec![channel(pb::ChannelType::Webhook, "n={{ n }}")],
    )
    .await;
    let request = |n: &str| pb::SendNotificationRequest {
        template_id: template.id.clone(),
        render_context: Some(context(&[("n", text(n))])),
        destinations: vec![to(pb::ChannelType::Webhook, &format!("{sink_url}/idle"))],
        ..Default::default()
    };
    let actors = async || {
        let metrics = reqwest::get(server.http("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find(|l| l.starts_with("oncall_delivery_actors "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    let first = send(&server, request("1")).await.unwrap();
    assert_eq!(
        settled(&server, &first.deliveries[0].id).await.state,
        pb::DeliveryState::Sent as i32
    );
    assert_eq!(actors().await, 1);
    eventually("the idle actor to stop", async || {
        (actors().await == 0).then_some(())
    })
    .await;
    let second = send(&server, request("2")).await.unwrap();
    assert_eq!(
        settled(&server, &second.deliveries[0].id).await.state,
        pb::DeliveryState::Sent as i32
    );
    assert_eq!(sink.hits().len(), 2);
}
