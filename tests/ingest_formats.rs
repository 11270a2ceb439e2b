//! Every supported format, posted to the real binary, deduplicated by fingerprint.

mod common;

use common::{ADMIN_TOKEN, Db, Server, authed, fixture};
use oncall::pb::alerting::v1 as pb;

async fn every_fixture_is_ingested_and_deduplicated(db: Db) {
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("backbone").await;
    let am = format!("/api/v1/webhook/alertmanager/{key}");

    // Alertmanager: two groups, then the storm group twice.
    for file in ["am-0.25-webhook-1.json", "am-0.25-webhook-2.json"] {
        let (status, _, body) = server
            .post_json(&am, &fixture(&format!("alertmanager/{file}")))
            .await;
        assert_eq!(status, 200, "{file}: {body}");
    }
    let storm = fixture("alertmanager/am-0.25-webhook-storm-group.json");
    let (status, _, first) = server.post_json(&am, &storm).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["received"], 235);
    assert_eq!(first["created"], 235);
    let (status, _, again) = server.post_json(&am, &storm).await;
    assert_eq!(status, 200);
    assert_eq!(
        again["created"], 0,
        "the same group twice makes no new alerts"
    );
    assert_eq!(again["deduplicated"], 235);
    let (_, total) = server.list_all(&service).await;
    assert_eq!(total, 1 + 2 + 235);

    // The resolved payload resolves the BGP alert, with the source as the actor.
    let (status, _, body) = server
        .post_json(&am, &fixture("alertmanager/am-0.25-webhook-3.json"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["resolved"], 1);
    let mut alerts = server.alerts().await;
    let bgp = alerts
        .list_alerts(authed(
            pb::ListAlertsRequest {
                service_id: service.clone(),
                label_selectors: [("alertname".to_string(), "BGPSessionDown".to_string())].into(),
                ..Default::default()
            },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bgp.total_count, 1);
    let bgp = &bgp.alerts[0];
    assert_eq!(bgp.status, pb::AlertStatus::Resolved as i32);
    assert_eq!(bgp.resolved_by, "source");
    assert_eq!(bgp.severity, pb::Severity::Critical as i32);
    assert_eq!(bgp.fingerprint, "920301b2e33ecfe9");
    assert_eq!(
        bgp.summary,
        "BGP session to AS3356 down on core-rtr-01.iad1"
    );
    assert_eq!(bgp.labels["site"], "IAD1");
    assert_eq!(
        bgp.triggered_at.as_ref().map(|t| t.seconds),
        Some(1_795_811_404),
        "triggered_at is the source's startsAt"
    );

    // A repeat counts occurrences and does not page again.
    let storm_alert = server
        .list_all(&service)
        .await
        .0
        .into_iter()
        .find(|a| a.fingerprint == "a2ae1c0c7caf15b6")
        .unwrap();
    assert_eq!(storm_alert.occurrence_count, 2);
    assert_eq!(
        storm_alert.severity,
        pb::Severity::Medium as i32,
        "warning maps to medium"
    );

    // Grafana unified (firing, then resolved) and legacy.
    let grafana = format!("/api/v1/webhook/grafana/{key}");
    let (status, _, body) = server
        .post_json(&grafana, &fixture("grafana/unified-firing.json"))
        .await;
    assert_eq!(
        (status.as_u16(), body["created"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let (status, _, body) = server
        .post_json(&grafana, &fixture("grafana/unified-resolved.json"))
        .await;
    assert_eq!(
        (status.as_u16(), body["resolved"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    let (status, _, body) = server
        .post_json(&grafana, &fixture("grafana/legacy-alerting.json"))
        .await;
    assert_eq!(
        (status.as_u16(), body["created"].as_u64()),
        (200, Some(1)),
        "{body}"
    );

    // Generic: minimal and the hijack, the latter with its own fingerprint.
    let generic = format!("/api/v1/webhook/generic/{key}");
    let (status, _, body) = server
        .post_json(&generic, &fixture("generic/minimal.json"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["alert"]["fingerprint"].as_str().map(str::len),
        Some(32),
        "derived fingerprint"
    );
    let (status, _, body) = server
        .post_json(&generic, &fixture("generic/bgp-hijack.json"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["fingerprint"], "hijack-203.0.113.0-24");
    let (_, _, body) = server
        .post_json(&generic, &fixture("generic/bgp-hijack.json"))
        .await;
    assert_eq!(body["deduplicated"], 1);

    // PagerDuty Events v2: trigger, then resolve by dedup_key.
    let trigger = fixture("pagerduty/trigger.json").replace("REPLACE_WITH_INTEGRATION_KEY", &key);
    let (status, _, body) = server.post_json("/v2/enqueue", &trigger).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["dedup_key"], "lon1-pdu-a17-feed-b");
    let found = server.list_all(&service).await.0;
    let pdu = found
        .iter()
        .find(|a| a.fingerprint == "lon1-pdu-a17-feed-b")
        .unwrap();
    assert_eq!(pdu.status, pb::AlertStatus::Triggered as i32);
    assert_eq!(pdu.severity, pb::Severity::Critical as i32);
    assert_eq!(pdu.source, "pagerduty");
    assert_eq!(pdu.source_instance, "pdu-a17.lon1");
    assert_eq!(pdu.labels["rack"], "A17");
    assert_eq!(
        pdu.triggered_at.as_ref().map(|t| t.seconds),
        Some(1_795_809_672)
    );
    let resolve = fixture("pagerduty/resolve.json").replace("REPLACE_WITH_INTEGRATION_KEY", &key);
    let (status, _, _) = server.post_json("/v2/enqueue", &resolve).await;
    assert_eq!(status, 202);
    let pdu = alerts
        .get_alert(authed(
            pb::GetAlertRequest { id: pdu.id.clone() },
            ADMIN_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pdu.status, pb::AlertStatus::Resolved as i32);
    assert_eq!(pdu.resolved_by, "source");

    // A PagerDuty trigger without a dedup_key gets one, returned in the answer.
    let no_key = serde_json::json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": "fan failure", "source": "sw1", "severity": "warning"}});
    let (status, _, body) = server.post_json("/v2/enqueue", &no_key.to_string()).await;
    assert_eq!(status, 202);
    assert_eq!(body["dedup_key"].as_str().map(str::len), Some(36));

    // A fingerprint that fires again after its resolve opens a new alert linked to the old.
    let (_, _, body) = server
        .post_json(&am, &fixture("alertmanager/am-0.25-webhook-1.json"))
        .await;
    assert_eq!(body["created"], 1);
    let reopened = server
        .list_all(&service)
        .await
        .0
        .into_iter()
        .find(|a| {
            a.fingerprint == "920301b2e33ecfe9" && a.status == pb::AlertStatus::Triggered as i32
        })
        .unwrap();
    assert_eq!(reopened.previous_alert_id, bgp.id);
    assert!(reopened.number > bgp.number);
}

#[tokio::test]
async fn every_fixture_on_sqlite() {
    every_fixture_is_ingested_and_deduplicated(Db::sqlite()).await;
}

#[tokio::test]
async fn every_fixture_on_postgres() {
    every_fixture_is_ingested_and_deduplicated(Db::postgres().await).await;
}

#[tokio::test]
async fn keys_also_come_in_headers() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("headers").await;
    let client = reqwest::Client::new();
    for (name, value) in [
        ("authorization", format!("Bearer {key}")),
        ("x-integration-key", key.clone()),
    ] {
        let response = client
            .post(server.http("/api/v1/webhook/generic"))
            .header("content-type", "application/json")
            .header(name, value)
            .body(format!(r#"{{"summary": "via {name}"}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
    }
    assert_eq!(server.list_all(&service).await.1, 2);
}

#[tokio::test]
async fn blank_summaries_fall_back_instead_of_losing_the_group() {
    let db = Db::sqlite();
    let server = Server::start(&db).await;
    let (service, key) = server.service_with_key("blank").await;
    let mut payload: serde_json::Value =
        serde_json::from_str(&fixture("alertmanager/am-0.25-webhook-2.json")).unwrap();
    payload["alerts"][0]["annotations"]["summary"] = serde_json::json!("");
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &payload.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let alerts = server.list_all(&service).await.0;
    assert_eq!(alerts.len(), 2);
    assert!(alerts.iter().all(|a| !a.summary.trim().is_empty()));
}
