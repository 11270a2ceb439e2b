//! Every bad input gets its documented code and a body naming the field, never a 500,
//! and stores nothing.

mod common;

use common::{Db, Server, alertmanager_batch, fixture};

#[tokio::test]
async fn bad_requests_get_their_codes_and_store_nothing() {
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--max-body-bytes", "65536"]).await;
    let (service, key) = server.service_with_key("codes").await;
    let am = format!("/api/v1/webhook/alertmanager/{key}");
    let generic = format!("/api/v1/webhook/generic/{key}");

    // Malformed JSON.
    let (status, _, body) = server.post_json(&am, "{\"alerts\": [").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].is_string() && body["field"].is_string(),
        "{body}"
    );

    // One bad alert among good ones rejects the whole request, naming it.
    let mut payload: serde_json::Value = serde_json::from_str(&alertmanager_batch(0, 20)).unwrap();
    payload["alerts"][17]["labels"] = serde_json::json!("not a map");
    let (status, _, body) = server.post_json(&am, &payload.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "alerts[17].labels", "{body}");
    let mut payload: serde_json::Value = serde_json::from_str(&alertmanager_batch(0, 20)).unwrap();
    payload["alerts"][3]["status"] = serde_json::json!("exploding");
    let (status, _, body) = server.post_json(&am, &payload.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "alerts[3].status", "{body}");
    let (status, _, body) = server
        .post_json(
            &am,
            &alertmanager_batch(0, 1).replace("\"version\":\"4\"", "\"version\":\"3\""),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("version")),
        "{body}"
    );

    // Generic: summary required; a wrong type names its field.
    let (status, _, body) = server
        .post_json(&generic, r#"{"details": "no summary"}"#)
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("summary"))
    );
    let (status, _, body) = server
        .post_json(&generic, r#"{"summary": "x", "labels": [1]}"#)
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("labels")),
        "{body}"
    );

    // PagerDuty: field names follow its schema.
    let (status, _, body) = server
        .post_json(
            "/v2/enqueue",
            &format!(r#"{{"routing_key": "{key}", "event_action": "resolve"}}"#),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("dedup_key"))
    );
    let (status, _, body) = server
        .post_json(
            "/v2/enqueue",
            &format!(r#"{{"routing_key": "{key}", "event_action": "trigger", "payload": {{"summary": "x", "source": "y", "severity": "dire"}}}}"#),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("payload.severity"))
    );

    // Unknown and revoked keys: 401, the same answer.
    let (status, _, body) = server
        .post_json(
            "/api/v1/webhook/alertmanager/oik_not_a_key",
            &alertmanager_batch(0, 1),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, _, _) = server
        .post_json("/v2/enqueue", &fixture("pagerduty/trigger.json"))
        .await;
    assert_eq!(status, 401);
    let (status, _, _) = server
        .post_json("/api/v1/webhook/generic", r#"{"summary": "no key"}"#)
        .await;
    assert_eq!(status, 401);

    // Too many labels: 413 naming the alert.
    let mut payload: serde_json::Value = serde_json::from_str(&alertmanager_batch(0, 2)).unwrap();
    for i in 0..129 {
        payload["alerts"][1]["labels"][format!("l{i}")] = serde_json::json!("v");
    }
    let (status, _, body) = server.post_json(&am, &payload.to_string()).await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (413, Some("alerts[1].labels")),
        "{body}"
    );
    let long = "x".repeat(5000);
    let (status, _, body) = server
        .post_json(
            &generic,
            &format!(r#"{{"summary": "x", "labels": {{"device": "{long}"}}}}"#),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (413, Some("labels.device")),
        "{body}"
    );

    // NUL cannot be stored (PostgreSQL refuses it): a 400 naming the field, not a 503.
    let (status, _, body) = server
        .post_json(
            &generic,
            r#"{"summary": "x", "labels": {"device": "r1\u0000"}}"#,
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("labels.device")),
        "{body}"
    );

    // Body over the limit (64 KiB here): 413.
    let (status, _, body) = server.post_json(&am, &alertmanager_batch(0, 400)).await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (413, Some("body")),
        "{body}"
    );

    // Wrong content type: 415.
    let response = reqwest::Client::new()
        .post(server.http(&generic))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("summary=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    // Unknown format: 404.
    let (status, _, _) = server
        .post_json(&format!("/api/v1/webhook/nagios/{key}"), "{}")
        .await;
    assert_eq!(status, 404);

    assert_eq!(server.list_all(&service).await.1, 0, "nothing was stored");
    assert!(!server.logs().contains("panicked"), "{}", server.logs());
}

#[tokio::test]
async fn flood_guard_answers_503_to_alertmanager_and_429_to_the_rest() {
    let db = Db::sqlite();
    let server = Server::start_with(&db, &["--per-key-alerts-per-second", "10"]).await;
    let (_, key) = server.service_with_key("flood").await;
    let am = format!("/api/v1/webhook/alertmanager/{key}");
    let (status, _, _) = server.post_json(&am, &alertmanager_batch(0, 100)).await;
    assert_eq!(status, 200, "the first batch takes the whole allowance");
    let (status, headers, body) = server.post_json(&am, &alertmanager_batch(100, 100)).await;
    assert_eq!(status, 503, "{body}");
    assert!(headers.contains_key("retry-after"));
    let (status, headers, _) = server
        .post_json(
            &format!("/api/v1/webhook/generic/{key}"),
            r#"{"summary": "more"}"#,
        )
        .await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    let metrics = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("oncall_ingest_rejected_total{reason=\"flood_guard\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_full_engine_answers_retry_later_and_loses_nothing_it_accepted() {
    let db = Db::sqlite();
    // One alert in flight at a time: concurrent requests must be turned away.
    let server = Server::start_with(&db, &["--max-in-flight-alerts", "1"]).await;
    let (service, key) = server.service_with_key("busy").await;
    let am = format!("/api/v1/webhook/alertmanager/{key}");
    let generic = format!("/api/v1/webhook/generic/{key}");
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = server.http(if i % 2 == 0 { &am } else { &generic });
        let body = if i % 2 == 0 {
            alertmanager_batch(i * 100, 100)
        } else {
            format!(r#"{{"summary": "generic {i}"}}"#)
        };
        let expected = if i % 2 == 0 { 100 } else { 1 };
        tasks.push(tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let retry = response.headers().contains_key("retry-after");
            (i % 2 == 0, response.status().as_u16(), retry, expected)
        }));
    }
    let mut accepted = 0;
    let mut refused = 0;
    for task in tasks {
        let (alertmanager, status, retry, expected) = task.await.unwrap();
        match status {
            200 => accepted += expected,
            503 if alertmanager => {
                assert!(retry);
                refused += 1;
            }
            429 if !alertmanager => {
                assert!(retry);
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        refused > 0,
        "40 concurrent requests against a bound of 1 must see refusals"
    );
    assert_eq!(server.list_all(&service).await.1 as usize, accepted);
}
