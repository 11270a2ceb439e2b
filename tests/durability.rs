//! An acknowledged alert survives `kill -9`: 2,000 alerts answered 200, the server
//! killed without warning, restarted, and every one of them is there.

mod common;

use common::{ADMIN_TOKEN, Db, Server, alertmanager_batch, authed};
use oncall::pb::alerting::v1 as pb;

async fn acknowledged_alerts_survive_kill_9(db: Db) {
    let mut server = Server::start(&db).await;
    let (service, key) = server.service_with_key("durable").await;
    let url = server.http(&format!("/api/v1/webhook/alertmanager/{key}"));
    let client = reqwest::Client::new();
    let mut sends = Vec::new();
    for batch in 0..20 {
        let client = client.clone();
        let url = url.clone();
        sends.push(tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/json")
                .body(alertmanager_batch(batch * 100, 100))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), 200);
    }
    server.kill_9();
    server.restart().await;
    let (alerts, total) = server.list_all(&service).await;
    assert_eq!(total, 2_000);
    assert_eq!(alerts.len(), 2_000);
    // The engine rehydrated them as open: the same batch again only deduplicates.
    let (status, _, body) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &alertmanager_batch(0, 100),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["deduplicated"], 100, "{body}");
    assert_eq!(body["created"], 0);
}

#[tokio::test]
async fn kill_9_loses_nothing_on_sqlite() {
    acknowledged_alerts_survive_kill_9(Db::sqlite()).await;
}

#[tokio::test]
async fn kill_9_loses_nothing_on_postgres() {
    acknowledged_alerts_survive_kill_9(Db::postgres().await).await;
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_exits_zero() {
    let db = Db::sqlite();
    let mut server = Server::start(&db).await;
    let (service, key) = server.service_with_key("graceful").await;
    let (status, _, _) = server
        .post_json(
            &format!("/api/v1/webhook/alertmanager/{key}"),
            &alertmanager_batch(0, 100),
        )
        .await;
    assert_eq!(status, 200);
    // A watcher's endless stream must not hold the server up.
    let mut alerts = server.alerts().await;
    let mut watch = alerts
        .watch_alerts(authed(pb::WatchAlertsRequest::default(), ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner();
    let exit = server.terminate().await;
    assert!(
        matches!(watch.message().await, Ok(None) | Err(_)),
        "the watch ended"
    );
    assert!(exit.success(), "{exit}");
    assert!(
        server.logs().contains("oncall stopped"),
        "{}",
        server.logs()
    );
    server.restart().await;
    assert_eq!(server.list_all(&service).await.1, 100);
}
