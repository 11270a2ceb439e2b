//! The engine against a real SQLite store (wrapped to fail on demand).

use std::collections::BTreeMap;

use super::*;
use crate::domain::alert::AlertStatus;
use crate::domain::catalog::Service;
use crate::domain::incoming::SenderState;
use crate::domain::lifecycle::IngestOutcome;
use crate::domain::severity::Severity;

async fn engine(idle: Duration) -> (Engine, RunningEngine, Uuid, tempfile::TempDir) {
    let (engine, running, service, dir, _) = faulty_engine(idle).await;
    (engine, running, service, dir)
}

/// An engine over a store that fails on demand.
async fn faulty_engine(
    idle: Duration,
) -> (
    Engine,
    RunningEngine,
    Uuid,
    tempfile::TempDir,
    Arc<crate::store::Faults>,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/oncall.db", dir.path().display());
    let (store, faults) = crate::store::FaultyStore::wrap(crate::store::open(&url).await.unwrap());
    let service = Service {
        id: Uuid::new_v4(),
        name: "core".into(),
        description: String::new(),
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        escalation_policy: None,
        ack_timeout: None,
        auto_resolve_after: None,
    };
    store.insert_service(&service).await.unwrap();
    let settings = EngineSettings {
        shards: 2,
        actor_idle_after: idle,
        ..EngineSettings::default()
    };
    let (engine, running) = Engine::start(store, settings, Metrics::new())
        .await
        .unwrap();
    (engine, running, service.id, dir, faults)
}

fn firing(fingerprint: &str) -> IncomingAlert {
    IncomingAlert {
        fingerprint: Some(fingerprint.into()),
        summary: "core-rtr-01 down".into(),
        details: String::new(),
        severity: Severity::Critical,
        source: "test".into(),
        source_instance: String::new(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        state: SenderState::Firing,
        triggered_at: None,
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn commands_activate_an_actor_that_passivates_when_idle() {
    let (engine, running, service, _dir) = engine(Duration::from_millis(200)).await;
    let report = engine
        .ingest(service, vec![firing("fp")], Admission::Immediate)
        .await
        .unwrap();
    assert_eq!(report.results[0].outcome, IngestOutcome::Created);
    let id = report.results[0].alert.as_ref().unwrap().id;
    assert_eq!(
        engine.metrics.active_actors.get(),
        0,
        "ingest activates nothing"
    );
    assert_eq!(engine.metrics.open_alerts.get(), 1);

    let acked = engine
        .command(
            id,
            Command::Acknowledge {
                by: "alice".into(),
                note: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(acked.status, AlertStatus::Acknowledged);
    assert_eq!(engine.metrics.active_actors.get(), 1);
    // While active, repeats go through the actor and still deduplicate.
    let report = engine
        .ingest(service, vec![firing("fp")], Admission::Immediate)
        .await
        .unwrap();
    assert_eq!(report.results[0].outcome, IngestOutcome::Deduplicated);

    let metrics = engine.metrics.clone();
    eventually("passivation", || metrics.active_actors.get() == 0).await;
    assert_eq!(
        engine.metrics.open_alerts.get(),
        1,
        "passivated, still open"
    );

    // The passivated state is the acknowledged one: a second ack is a no-op.
    let again = engine
        .command(
            id,
            Command::Acknowledge {
                by: "bob".into(),
                note: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(again.acknowledged_by.as_deref(), Some("alice"));
    let resolved = engine
        .command(
            id,
            Command::Resolve {
                by: "bob".into(),
                note: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(
        engine.metrics.active_actors.get(),
        0,
        "a resolved alert retires its actor"
    );
    assert_eq!(engine.metrics.open_alerts.get(), 0);
    running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_stopped_shard_is_restarted_from_the_store() {
    let (engine, running, service, _dir) = engine(Duration::from_secs(60)).await;
    let alerts: Vec<IncomingAlert> = (0..50).map(|i| firing(&format!("fp{i}"))).collect();
    engine
        .ingest(service, alerts.clone(), Admission::Immediate)
        .await
        .unwrap();
    let before = engine.shard_refs().unwrap();
    for shard in &before {
        shard.stop(Some("test".into()));
    }
    let shards = engine.shards.clone();
    eventually("restarted shards", || {
        shards.read().is_ok_and(|now| {
            now.iter()
                .zip(&before)
                .all(|(new, old)| new.get_id() != old.get_id())
        })
    })
    .await;
    let report = engine
        .ingest(service, alerts, Admission::Immediate)
        .await
        .unwrap();
    assert!(
        report
            .results
            .iter()
            .all(|r| r.outcome == IngestOutcome::Deduplicated),
        "the restarted shards reloaded every open alert"
    );
    running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_shard_whose_restart_fails_is_restarted_until_the_store_answers() {
    let (engine, running, service, _dir, faults) = faulty_engine(Duration::from_secs(60)).await;
    let alerts: Vec<IncomingAlert> = (0..40).map(|i| firing(&format!("fp{i}"))).collect();
    engine
        .ingest(service, alerts.clone(), Admission::Immediate)
        .await
        .unwrap();

    // The database goes away: a commit fails, so its shard stops to reload, and the
    // reload fails too.
    faults.fail(&["commit", "open_alerts"]);
    let refused = engine
        .ingest(service, vec![firing("during")], Admission::Immediate)
        .await;
    assert!(refused.is_err(), "a failed commit is not acknowledged");
    eventually("a failed restart", || faults.refused("open_alerts") >= 2).await;

    // The database is back: every fingerprint is accepted again, without a restart
    // of the process.
    faults.heal();
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        match engine
            .ingest(service, alerts.clone(), Admission::Immediate)
            .await
        {
            Ok(report) => break report,
            Err(error) => {
                assert!(Instant::now() < deadline, "still refused: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(
        report
            .results
            .iter()
            .all(|r| r.outcome == IngestOutcome::Deduplicated),
        "the restarted shard reloaded every open alert"
    );
    let metrics = engine.metrics.render();
    assert!(
        metrics.contains("oncall_store_retries_total{work=\"shard_restart\"}"),
        "{metrics}"
    );
    running.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn admission_is_bounded() {
    let (engine, running, service, _dir) = engine(Duration::from_secs(60)).await;
    let held = engine
        .admission
        .clone()
        .try_acquire_many_owned(engine.max_in_flight as u32)
        .unwrap();
    let refused = engine
        .ingest(service, vec![firing("fp")], Admission::Immediate)
        .await;
    assert!(matches!(refused, Err(EngineError::Overloaded)));
    let waiting = engine.ingest(
        service,
        vec![firing("fp")],
        Admission::Wait(Duration::from_millis(50)),
    );
    assert!(matches!(waiting.await, Err(EngineError::Overloaded)));
    drop(held);
    engine
        .ingest(service, vec![firing("fp")], Admission::Immediate)
        .await
        .unwrap();
    running.shutdown(Duration::from_secs(5)).await;
}
