//! Alerts: commits and the reads of `AlertStore`.

use std::collections::BTreeMap;
use std::sync::Arc;

use oncall::domain::alert::{Alert, AlertStatus, TimelineKind};
use oncall::domain::lifecycle::{AlertChanges, AlertWrite};
use oncall::domain::severity::Severity;
use oncall::store::{AlertQuery, Store, StoreError};
use uuid::Uuid;

use super::{alert, at, reference, service};

pub(super) async fn service_timeouts_find_their_alerts(store: Arc<dyn Store>) {
    let svc = service("edge");
    let other = service("core");
    store.insert_service(&svc).await.unwrap();
    store.insert_service(&other).await.unwrap();
    assert_eq!(store.get_service(svc.id).await.unwrap(), Some(svc.clone()));
    let mut quiet = alert(svc.id, 1, "quiet", &[]);
    quiet.last_seen_at = at(10);
    let mut chatty = alert(svc.id, 2, "chatty", &[]);
    chatty.last_seen_at = at(40);
    let mut elsewhere = alert(other.id, 3, "elsewhere", &[]);
    elsewhere.last_seen_at = at(5);
    let acked = alert(svc.id, 4, "acked", &[]);
    store
        .commit(&[
            AlertWrite::Open(Box::new(quiet.clone())),
            AlertWrite::Open(Box::new(chatty.clone())),
            AlertWrite::Open(Box::new(elsewhere.clone())),
            AlertWrite::Open(Box::new(acked.clone())),
            AlertWrite::Acknowledge {
                alert: reference(&acked),
                by: "alice".into(),
                at: at(20),
                note: None,
            },
        ])
        .await
        .unwrap();
    let ids = |alerts: Vec<Alert>| alerts.into_iter().map(|a| a.id).collect::<Vec<_>>();
    // Silent: open, this service, last seen before the cutoff, oldest first.
    assert_eq!(
        ids(store.silent_alerts(svc.id, at(35), 10).await.unwrap()),
        [quiet.id, acked.id]
    );
    assert_eq!(
        ids(store.silent_alerts(svc.id, at(35), 1).await.unwrap()),
        [quiet.id]
    );
    // Stale acknowledgements: acknowledged before the cutoff.
    assert!(
        store
            .stale_acknowledgements(svc.id, at(20), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(store
            .stale_acknowledgements(svc.id, at(21), 10)
            .await
            .unwrap()),
        [acked.id]
    );
    // Triggered again: unacknowledged, and no longer stale.
    store
        .commit(&[AlertWrite::Retrigger {
            alert: reference(&acked),
            by: "system".into(),
            at: at(50),
            reason: "ack timeout".into(),
        }])
        .await
        .unwrap();
    let again = store.get_alert(acked.id).await.unwrap().unwrap();
    assert_eq!(again.status, AlertStatus::Triggered);
    assert_eq!((again.acknowledged_at, again.acknowledged_by), (None, None));
    assert!(
        store
            .stale_acknowledgements(svc.id, at(59), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let last = store.alert_timeline(acked.id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.kind, last.message.as_str()),
        (TimelineKind::Escalated, "ack timeout")
    );
}

pub(super) async fn commits_apply_in_order_and_atomically(store: Arc<dyn Store>) {
    let svc = service("core");
    store.insert_service(&svc).await.unwrap();
    let first = alert(svc.id, 1, "fp-1", &[("site", "IAD1")]);
    let other = alert(svc.id, 2, "fp-2", &[]);
    let annotations = BTreeMap::from([("summary".to_string(), "worse".to_string())]);
    store
        .commit(&[
            AlertWrite::Open(Box::new(first.clone())),
            AlertWrite::Open(Box::new(other.clone())),
            AlertWrite::Repeat {
                alert: reference(&first),
                seen_at: at(31),
                annotations: Some(annotations.clone()),
            },
            AlertWrite::Acknowledge {
                alert: reference(&first),
                by: "alice".into(),
                at: at(32),
                note: Some("on it".into()),
            },
            AlertWrite::Update {
                alert: reference(&other),
                by: "bob".into(),
                at: at(33),
                changes: AlertChanges {
                    severity: Some(Severity::Critical),
                    ..AlertChanges::default()
                },
            },
        ])
        .await
        .unwrap();
    let stored = store.get_alert(first.id).await.unwrap().unwrap();
    assert_eq!(stored.occurrence_count, 2);
    assert_eq!(stored.last_seen_at, at(31));
    assert_eq!(stored.annotations, annotations);
    assert_eq!(stored.status, AlertStatus::Acknowledged);
    assert_eq!(stored.acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(stored.labels["site"], "IAD1");
    assert_eq!(
        store.get_alert(other.id).await.unwrap().unwrap().severity,
        Severity::Critical
    );
    let timeline: Vec<TimelineKind> = store
        .alert_timeline(first.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        timeline,
        [
            TimelineKind::Created,
            TimelineKind::Acknowledged,
            TimelineKind::NoteAdded
        ]
    );
    assert_eq!(store.max_alert_number().await.unwrap(), 2);
    let second = store.find_alert_by_number(2).await.unwrap().unwrap();
    assert_eq!(second.number, 2);
    assert!(store.find_alert_by_number(3).await.unwrap().is_none());
    assert_eq!(store.open_alerts().await.unwrap().len(), 2);

    // A second open alert for an open key is refused, and the whole commit with it.
    let duplicate = alert(svc.id, 3, "fp-1", &[]);
    let bystander = alert(svc.id, 4, "fp-4", &[]);
    assert!(matches!(
        store
            .commit(&[
                AlertWrite::Open(Box::new(bystander.clone())),
                AlertWrite::Open(Box::new(duplicate)),
            ])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_alert(bystander.id).await.unwrap(), None);

    // Resolve, then the same fingerprint opens a new alert linked to the old one.
    let reopened = alert(svc.id, 5, "fp-1", &[]);
    store
        .commit(&[
            AlertWrite::Resolve {
                alert: reference(&first),
                by: "source".into(),
                at: at(40),
                note: None,
            },
            AlertWrite::Open(Box::new(reopened.clone())),
        ])
        .await
        .unwrap();
    let reopened = store.get_alert(reopened.id).await.unwrap().unwrap();
    assert_eq!(reopened.previous_alert_id, Some(first.id));
    let open: Vec<Uuid> = store
        .open_alerts()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, state)| state.id)
        .collect();
    assert!(open.contains(&reopened.id) && !open.contains(&first.id));
    assert_eq!(store.count_open_alerts(svc.id).await.unwrap(), 2);

    // A write decided on a state the store does not hold is refused, with its commit.
    for stale in [
        AlertWrite::Acknowledge {
            alert: reference(&first),
            by: "late".into(),
            at: at(41),
            note: None,
        },
        AlertWrite::Repeat {
            alert: reference(&alert(svc.id, 99, "never-stored", &[])),
            seen_at: at(41),
            annotations: None,
        },
    ] {
        let bystander = alert(svc.id, 6, "fp-6", &[]);
        let refused = store
            .commit(&[AlertWrite::Open(Box::new(bystander.clone())), stale])
            .await;
        assert!(matches!(refused, Err(StoreError::Stale(_))), "{refused:?}");
        assert_eq!(store.get_alert(bystander.id).await.unwrap(), None);
    }
    assert_eq!(
        store.get_alert(first.id).await.unwrap().unwrap().status,
        AlertStatus::Resolved,
        "a late ack does not reopen a resolved alert"
    );
}

pub(super) async fn listing_filters_and_pages(store: Arc<dyn Store>) {
    let a = service("a");
    let b = service("b");
    store.insert_service(&a).await.unwrap();
    store.insert_service(&b).await.unwrap();
    let mut writes = Vec::new();
    for n in 1..=30 {
        let svc = if n % 3 == 0 { b.id } else { a.id };
        let site = if n % 2 == 0 { "IAD1" } else { "FRA3" };
        let mut alert = alert(
            svc,
            n,
            &format!("fp_{n}%"),
            &[("site", site), ("n", &n.to_string())],
        );
        if n == 7 {
            alert.severity = Severity::Critical;
            alert.source = "grafana".into();
            alert.summary = "Optical power LOW on xe-1/0/0".into();
        }
        writes.push(AlertWrite::Open(Box::new(alert)));
    }
    store.commit(&writes).await.unwrap();
    let query = |f: &dyn Fn(&mut AlertQuery)| {
        let mut q = AlertQuery {
            limit: 100,
            ..AlertQuery::default()
        };
        f(&mut q);
        q
    };
    let count = |q: AlertQuery| {
        let store = store.clone();
        async move { store.list_alerts(&q).await.unwrap().total }
    };
    assert_eq!(count(query(&|_| {})).await, 30);
    assert_eq!(count(query(&|q| q.service_id = Some(b.id))).await, 10);
    assert_eq!(
        count(query(&|q| q.severities = vec![Severity::Critical])).await,
        1
    );
    assert_eq!(
        count(query(&|q| q.sources = vec!["grafana".into()])).await,
        1
    );
    assert_eq!(
        count(query(&|q| q.statuses = vec![AlertStatus::Resolved])).await,
        0
    );
    assert_eq!(
        count(query(
            &|q| q.labels = BTreeMap::from([("site".into(), "IAD1".into())])
        ))
        .await,
        15
    );
    assert_eq!(
        count(query(&|q| {
            q.labels = BTreeMap::from([("site".into(), "IAD1".into()), ("n".into(), "8".into())])
        }))
        .await,
        1
    );
    assert_eq!(
        count(query(&|q| q.search = Some("optical power low".into()))).await,
        1
    );
    assert_eq!(
        count(query(&|q| q.search = Some("fp_1%".into()))).await,
        1,
        "% is literal"
    );
    assert_eq!(
        count(query(&|q| q.search = Some("summary_of".into()))).await,
        0,
        "_ is literal"
    );
    assert_eq!(
        count(query(&|q| {
            q.triggered_from = Some(at(10));
            q.triggered_to = Some(at(20));
        }))
        .await,
        10
    );
    let first = store
        .list_alerts(&query(&|q| {
            q.limit = 12;
        }))
        .await
        .unwrap();
    let second = store
        .list_alerts(&query(&|q| {
            q.limit = 12;
            q.offset = 12;
        }))
        .await
        .unwrap();
    assert_eq!(
        (first.items.len(), second.items.len(), first.total),
        (12, 12, 30)
    );
    assert_eq!(first.items[0].number, 30, "newest first");
    assert_eq!(second.items[0].number, 18);
    let quoted = alert(a.id, 31, "quoted", &[("we\"ird", "yes")]);
    store
        .commit(&[AlertWrite::Open(Box::new(quoted))])
        .await
        .unwrap();
    let selector = BTreeMap::from([("we\"ird".to_string(), "yes".to_string())]);
    assert_eq!(
        count(query(&|q| q.labels = selector.clone())).await,
        1,
        "any label name can be selected"
    );
}
