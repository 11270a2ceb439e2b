//! The store conformance suite: every case runs on SQLite and on PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::Db;
use oncall::domain::access::Role;
use oncall::domain::alert::{Alert, AlertStatus, TimelineKind};
use oncall::domain::catalog::{IntegrationKey, Service};
use oncall::domain::directory::{ApiToken, ContactKind, ContactMethod, User};
use oncall::domain::escalation::{Chain, ChainStatus, PageKey};
use oncall::domain::fingerprint::AlertKey;
use oncall::domain::holder::Holder;
use oncall::domain::lifecycle::{AlertChanges, AlertRef, AlertWrite};
use oncall::domain::notify::quiet::QuietHours;
use oncall::domain::severity::Severity;
use oncall::store::{
    AlertQuery, DeliveryAttempt, DeliveryLog, DeliveryQuery, DeliveryUpdate, HandoffEvent, Kind,
    Store, StoreError, StoredDefinition, StoredDelivery, StoredHandoff, StoredPage, StoredRule,
    StoredTemplate,
};
use uuid::Uuid;

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test]
                async fn sqlite() {
                    let db = super::Db::sqlite();
                    super::$case(super::open(&db).await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let db = super::Db::postgres().await;
                    super::$case(super::open(&db).await).await;
                }
            }
        )*
    };
}

on_both_stores!(
    services_and_keys,
    users_and_tokens,
    commits_apply_in_order_and_atomically,
    listing_filters_and_pages,
    routing_rules_round_trip,
    definitions_round_trip,
    handoffs_round_trip,
    contact_methods_round_trip,
    escalation_chains_and_pages,
    inhibition_rules_documents_and_holds,
    service_timeouts_find_their_alerts,
    alerts_unchanged_since_open,
    routing_marks_and_what_is_left_to_route,
    templates_keep_every_version,
    deliveries_and_their_attempts,
);

async fn open(db: &Db) -> Arc<dyn Store> {
    oncall::store::open(&db.url()).await.expect("open store")
}

fn at(minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 20, minute, 0).unwrap()
}

fn service(name: &str) -> Service {
    Service {
        id: Uuid::new_v4(),
        name: name.into(),
        description: String::new(),
        created_at: at(0),
        updated_at: at(0),
        escalation_policy: Some(Uuid::new_v4()),
        ack_timeout: Some(std::time::Duration::from_millis(90_500)),
        auto_resolve_after: None,
    }
}

fn key(service_id: Uuid, hash: &str) -> IntegrationKey {
    IntegrationKey {
        id: Uuid::new_v4(),
        service_id,
        name: "am".into(),
        key_hash: hash.into(),
        key_prefix: "oik_abc".into(),
        created_at: at(0),
        expires_at: None,
        revoked_at: None,
    }
}

fn alert(service_id: Uuid, number: i64, fingerprint: &str, labels: &[(&str, &str)]) -> Alert {
    Alert {
        id: Uuid::new_v4(),
        number,
        service_id,
        fingerprint: fingerprint.into(),
        summary: format!("summary of {fingerprint}"),
        details: String::new(),
        severity: Severity::Medium,
        source: "alertmanager".into(),
        source_instance: String::new(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: BTreeMap::new(),
        status: AlertStatus::Triggered,
        triggered_at: at(number as u32 % 60),
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        resolution_note: None,
        created_at: at(30),
        updated_at: at(30),
        last_seen_at: at(30),
        occurrence_count: 1,
        previous_alert_id: None,
    }
}

fn reference(alert: &Alert) -> AlertRef {
    AlertRef {
        id: alert.id,
        number: alert.number,
        key: AlertKey {
            service_id: alert.service_id,
            fingerprint: alert.fingerprint.clone(),
        },
    }
}

async fn services_and_keys(store: Arc<dyn Store>) {
    let backbone = service("backbone");
    store.insert_service(&backbone).await.unwrap();
    assert!(matches!(
        store.insert_service(&service("backbone")).await,
        Err(StoreError::Conflict(_))
    ));
    store.insert_service(&service("edge")).await.unwrap();
    assert_eq!(
        store.get_service(backbone.id).await.unwrap(),
        Some(backbone.clone())
    );
    let page = store.list_services(Some("BACK"), 10, 0).await.unwrap();
    assert_eq!((page.items.len(), page.total), (1, 1));
    let page = store.list_services(None, 1, 1).await.unwrap();
    assert_eq!((page.items[0].name.as_str(), page.total), ("edge", 2));

    let mut renamed = backbone.clone();
    renamed.name = "core".into();
    assert!(store.update_service(&renamed).await.unwrap());
    renamed.name = "edge".into();
    assert!(matches!(
        store.update_service(&renamed).await,
        Err(StoreError::Conflict(_))
    ));

    let k = key(backbone.id, "hash-1");
    store.insert_integration_key(&k).await.unwrap();
    assert_eq!(
        store.find_integration_key("hash-1").await.unwrap(),
        Some(k.clone())
    );
    assert_eq!(store.find_integration_key("hash-2").await.unwrap(), None);
    store
        .retire_integration_key(k.id, Some(at(10)), None)
        .await
        .unwrap();
    store
        .retire_integration_key(k.id, None, Some(at(5)))
        .await
        .unwrap();
    let retired = store.get_integration_key(k.id).await.unwrap().unwrap();
    assert_eq!(
        (retired.expires_at, retired.revoked_at),
        (Some(at(10)), Some(at(5)))
    );
    assert_eq!(
        store
            .list_integration_keys(backbone.id)
            .await
            .unwrap()
            .len(),
        1
    );

    assert!(store.delete_service(backbone.id).await.unwrap());
    assert!(!store.delete_service(backbone.id).await.unwrap());
    assert_eq!(
        store.find_integration_key("hash-1").await.unwrap(),
        None,
        "keys go with it"
    );
}

async fn users_and_tokens(store: Arc<dyn Store>) {
    let user = User {
        id: Uuid::new_v4(),
        name: "alice".into(),
        email: "alice@example.net".into(),
        timezone: "Europe/London".into(),
        quiet_hours: None,
        created_at: at(0),
    };
    store.insert_user(&user).await.unwrap();
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(user.clone()));
    let quiet = User {
        quiet_hours: Some(QuietHours::parse("22:00", "07:30").unwrap()),
        timezone: "Europe/Paris".into(),
        ..user.clone()
    };
    assert!(store.update_user(&quiet).await.unwrap());
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(quiet));
    assert!(store.update_user(&user).await.unwrap());
    assert!(
        !store
            .update_user(&User {
                id: Uuid::new_v4(),
                ..user.clone()
            })
            .await
            .unwrap()
    );
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(
        store.find_user_by_name("alice").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.list_users(10, 0).await.unwrap().total, 1);
    let token = ApiToken {
        id: Uuid::new_v4(),
        user_id: user.id,
        name: "laptop".into(),
        role: Role::Responder,
        token_hash: "token-hash".into(),
        created_at: at(0),
        revoked_at: None,
    };
    store.insert_api_token(&token).await.unwrap();
    assert!(matches!(
        store.insert_api_token(&token).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_api_token("token-hash").await.unwrap(),
        Some(token.clone())
    );
    store.revoke_api_token(token.id, at(3)).await.unwrap();
    store.revoke_api_token(token.id, at(9)).await.unwrap();
    let revoked = store.get_api_token(token.id).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(at(3)),
        "the first revocation time stays"
    );
    assert_eq!(store.list_api_tokens(Some(user.id)).await.unwrap().len(), 1);
    assert_eq!(
        store
            .list_api_tokens(Some(Uuid::new_v4()))
            .await
            .unwrap()
            .len(),
        0
    );
}

async fn service_timeouts_find_their_alerts(store: Arc<dyn Store>) {
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

async fn routing_marks_and_what_is_left_to_route(store: Arc<dyn Store>) {
    let svc = service("core");
    store.insert_service(&svc).await.unwrap();
    let [routed, released, waiting, resolved] =
        [1, 2, 3, 4].map(|n| alert(svc.id, n, &format!("fp-{n}"), &[]));
    let opens =
        [&routed, &released, &waiting, &resolved].map(|a| AlertWrite::Open(Box::new(a.clone())));
    store.commit(&opens).await.unwrap();
    store
        .commit(&[AlertWrite::Resolve {
            alert: reference(&resolved),
            by: "alice".into(),
            at: at(31),
            note: None,
        }])
        .await
        .unwrap();
    // A batch may name an alert twice; routing the same alert again later is fine too.
    let twice = [routed.id, released.id, routed.id];
    store.record_routing(&[], &twice, at(32)).await.unwrap();
    store
        .record_routing(&[], &[routed.id], at(33))
        .await
        .unwrap();
    assert_eq!(store.unrouted_alerts().await.unwrap(), vec![waiting.id]);

    // What a window held and let go is routed again, as if new.
    store
        .commit(&[
            AlertWrite::Suppress {
                alert: reference(&released),
                by: "window".into(),
                at: at(34),
                reason: "maintenance".into(),
                held_by: Some(Holder::Window(Uuid::from_u128(1))),
            },
            AlertWrite::Unsuppress {
                alert: reference(&released),
                by: "window".into(),
                at: at(35),
                reason: "window closed".into(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        store.unrouted_alerts().await.unwrap(),
        vec![released.id, waiting.id]
    );
}

async fn alerts_unchanged_since_open(store: Arc<dyn Store>) {
    let svc = service("core");
    store.insert_service(&svc).await.unwrap();
    let untouched = alert(svc.id, 1, "fp-1", &[]);
    let repeated = alert(svc.id, 2, "fp-2", &[]);
    let acknowledged = alert(svc.id, 3, "fp-3", &[]);
    let opens =
        [&untouched, &repeated, &acknowledged].map(|a| AlertWrite::Open(Box::new(a.clone())));
    store.commit(&opens).await.unwrap();
    store
        .commit(&[
            // A repeat at the very instant the alert opened (one batch, one clock reading).
            AlertWrite::Repeat {
                alert: reference(&repeated),
                seen_at: repeated.created_at,
                annotations: None,
            },
            AlertWrite::Acknowledge {
                alert: reference(&acknowledged),
                by: "alice".into(),
                at: at(31),
                note: None,
            },
        ])
        .await
        .unwrap();
    let never_stored = Uuid::new_v4();
    let unchanged = store
        .unchanged_since_open(&[untouched.id, repeated.id, acknowledged.id, never_stored])
        .await
        .unwrap();
    assert_eq!(unchanged, vec![untouched.id]);
}

async fn commits_apply_in_order_and_atomically(store: Arc<dyn Store>) {
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

async fn listing_filters_and_pages(store: Arc<dyn Store>) {
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

async fn routing_rules_round_trip(store: Arc<dyn Store>) {
    let rule = |name: &str, priority: i32| StoredRule {
        id: Uuid::new_v4(),
        name: name.into(),
        priority,
        enabled: true,
        tags: vec!["core".into()],
        body: vec![0, 1, 2, 255],
        created_at: at(0),
        updated_at: at(0),
    };
    let late = rule("late", 50);
    let early = rule("early", 10);
    store.insert_rule(&late).await.unwrap();
    store.insert_rule(&early).await.unwrap();
    assert_eq!(store.get_rule(late.id).await.unwrap(), Some(late.clone()));
    let names: Vec<String> = store
        .list_rules()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["early", "late"], "priority order");
    let mut moved = late.clone();
    moved.priority = 1;
    moved.enabled = false;
    moved.body = vec![9];
    assert!(store.update_rule(&moved).await.unwrap());
    assert_eq!(store.list_rules().await.unwrap()[0], moved);
    assert!(store.delete_rule(moved.id).await.unwrap());
    assert!(!store.delete_rule(moved.id).await.unwrap());
    assert!(!store.update_rule(&moved).await.unwrap());
}

async fn definitions_round_trip(store: Arc<dyn Store>) {
    for kind in [
        Kind::MaintenanceWindow,
        Kind::Schedule,
        Kind::Team,
        Kind::Site,
        Kind::CustomerTier,
        Kind::EquipmentType,
        Kind::Carrier,
    ] {
        let definition = StoredDefinition {
            id: Uuid::new_v4(),
            name: "IAD1".into(),
            body: vec![1, 2, 3],
            created_at: at(0),
            updated_at: at(0),
        };
        store.insert_definition(kind, &definition).await.unwrap();
        assert!(matches!(
            store.insert_definition(kind, &definition).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.get_definition(kind, definition.id).await.unwrap(),
            Some(definition.clone())
        );
        let mut changed = definition.clone();
        changed.body = vec![4];
        changed.updated_at = at(5);
        assert!(store.update_definition(kind, &changed).await.unwrap());
        assert_eq!(
            store.list_definitions(kind).await.unwrap(),
            vec![changed.clone()],
            "{kind:?}"
        );
        assert!(store.delete_definition(kind, definition.id).await.unwrap());
        assert!(store.list_definitions(kind).await.unwrap().is_empty());
        assert!(!store.update_definition(kind, &changed).await.unwrap());
    }
}

async fn handoffs_round_trip(store: Arc<dyn Store>) {
    let schedule = Uuid::new_v4();
    let handoff = |minute| StoredHandoff {
        id: Uuid::new_v4(),
        schedule_id: schedule,
        rotation_id: Uuid::nil(),
        level: 1,
        at: at(minute),
        outgoing_user_id: Uuid::new_v4(),
        incoming_user_id: Uuid::new_v4(),
        require_ack: true,
        acknowledged_at: None,
        acknowledged_by: None,
        escalated_at: None,
    };
    let (first, second) = (handoff(1), handoff(2));
    assert!(store.insert_handoff(&first).await.unwrap());
    assert!(store.insert_handoff(&second).await.unwrap());
    let again = StoredHandoff {
        id: Uuid::new_v4(),
        ..first.clone()
    };
    assert!(
        !store.insert_handoff(&again).await.unwrap(),
        "one handoff per rotation and instant"
    );
    assert_eq!(
        store.list_handoffs(schedule, 10).await.unwrap(),
        vec![second.clone(), first.clone()],
        "newest first"
    );
    assert!(
        store
            .acknowledge_handoff(first.id, "erin", at(3))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acknowledge_handoff(first.id, "finn", at(4))
            .await
            .unwrap(),
        "the first acknowledgement stands"
    );
    assert!(
        !store.escalate_handoff(first.id, at(5)).await.unwrap(),
        "an acknowledged handoff is not escalated"
    );
    assert!(store.escalate_handoff(second.id, at(5)).await.unwrap());
    assert!(!store.escalate_handoff(second.id, at(6)).await.unwrap());
    let acked = store.get_handoff(first.id).await.unwrap().unwrap();
    assert_eq!(acked.acknowledged_at, Some(at(3)));
    assert_eq!(acked.acknowledged_by.as_deref(), Some("erin"));
    for (kind, minute) in [("reminder.incoming", 1), ("acknowledged", 3)] {
        let event = HandoffEvent {
            kind: kind.into(),
            at: at(minute),
            detail: "sent".into(),
        };
        store.add_handoff_event(first.id, &event).await.unwrap();
    }
    let kinds: Vec<String> = store
        .handoff_events(first.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["reminder.incoming", "acknowledged"]);
}

async fn inhibition_rules_documents_and_holds(store: Arc<dyn Store>) {
    let rule = |name: &str, minute| StoredDefinition {
        id: Uuid::new_v4(),
        name: name.into(),
        body: vec![7],
        created_at: at(minute),
        updated_at: at(minute),
    };
    let (later, earlier) = (rule("later", 9), rule("earlier", 1));
    store
        .insert_definition(Kind::InhibitionRule, &later)
        .await
        .unwrap();
    store
        .insert_definition(Kind::InhibitionRule, &earlier)
        .await
        .unwrap();
    assert_eq!(
        store.list_definitions(Kind::InhibitionRule).await.unwrap(),
        vec![earlier.clone(), later.clone()],
        "oldest first"
    );
    assert!(
        store
            .delete_definition(Kind::InhibitionRule, later.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_definition(Kind::InhibitionRule, later.id)
            .await
            .unwrap()
    );

    assert_eq!(store.get_document("routing_defaults").await.unwrap(), None);
    store
        .put_document("routing_defaults", &[1, 2], at(1))
        .await
        .unwrap();
    store
        .put_document("routing_defaults", &[3], at(2))
        .await
        .unwrap();
    assert_eq!(
        store.get_document("routing_defaults").await.unwrap(),
        Some(vec![3])
    );

    let svc = service("core");
    store.insert_service(&svc).await.unwrap();
    let inhibited = alert(svc.id, 1, "fp-1", &[]);
    let in_window = alert(svc.id, 2, "fp-2", &[]);
    let suppress = |alert: &Alert, holder: Holder| AlertWrite::Suppress {
        alert: reference(alert),
        by: "routing".into(),
        at: at(31),
        reason: "held".into(),
        held_by: Some(holder),
    };
    let source = Holder::Inhibitor(Uuid::from_u128(7));
    store
        .commit(&[
            AlertWrite::Open(Box::new(inhibited.clone())),
            AlertWrite::Open(Box::new(in_window.clone())),
            suppress(&inhibited, source),
            suppress(&in_window, Holder::Window(Uuid::from_u128(8))),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.holders(Holder::INHIBITOR_PREFIX).await.unwrap(),
        vec![source.to_string()]
    );
    assert_eq!(
        store.held_by(&source.to_string()).await.unwrap(),
        vec![inhibited.id]
    );
}

async fn contact_methods_round_trip(store: Arc<dyn Store>) {
    let user = User {
        id: Uuid::new_v4(),
        name: "erin".into(),
        email: "erin@example.net".into(),
        timezone: "UTC".into(),
        quiet_hours: None,
        created_at: at(0),
    };
    store.insert_user(&user).await.unwrap();
    let method = ContactMethod {
        id: Uuid::new_v4(),
        user_id: user.id,
        kind: ContactKind::Sms,
        address: "+14155550100".into(),
        verified: false,
        code_hash: Some("hash".into()),
        code_sent: false,
        code_detail: "pending".into(),
        created_at: at(1),
    };
    store.insert_contact_method(&method).await.unwrap();
    let twin = ContactMethod {
        id: Uuid::new_v4(),
        ..method.clone()
    };
    assert!(matches!(
        store.insert_contact_method(&twin).await,
        Err(StoreError::Conflict(_))
    ));
    let mut verified = method.clone();
    verified.verified = true;
    verified.code_hash = None;
    assert!(store.update_contact_method(&verified).await.unwrap());
    assert_eq!(
        store.list_contact_methods(user.id).await.unwrap(),
        vec![verified.clone()]
    );
    assert_eq!(
        store.get_contact_method(method.id).await.unwrap(),
        Some(verified.clone())
    );
    assert_eq!(
        store
            .find_contact_methods(ContactKind::Sms, "+14155550100")
            .await
            .unwrap(),
        vec![verified]
    );
    assert!(
        store
            .find_contact_methods(ContactKind::Voice, "+14155550100")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.delete_contact_method(method.id).await.unwrap());
    assert!(
        store
            .list_contact_methods(user.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn escalation_chains_and_pages(store: Arc<dyn Store>) {
    let (alert, policy) = (Uuid::new_v4(), Uuid::new_v4());
    let chain = Chain {
        id: Uuid::new_v4(),
        alert_id: alert,
        policy_id: policy,
        generation: 0,
        step: 0,
        repeat: 0,
        next_fire_at: Some(at(1)),
        status: ChainStatus::Active,
        started_at: at(1),
    };
    assert!(store.insert_chain(&chain).await.unwrap());
    let twin = Chain {
        id: Uuid::new_v4(),
        ..chain.clone()
    };
    assert!(
        !store.insert_chain(&twin).await.unwrap(),
        "one chain per alert, policy and generation"
    );
    // Pages of one instant list in id order, and ids are time-ordered (v7).
    let page = |target: &str| StoredPage {
        id: Uuid::now_v7(),
        chain_id: chain.id,
        key: PageKey {
            alert_id: alert,
            generation: 0,
            policy_id: policy,
            step: 0,
            repeat: 0,
            target: target.into(),
        },
        outcome: "pending".into(),
        detail: String::new(),
        created_at: at(1),
    };
    let mut moved = chain.clone();
    moved.step = 1;
    moved.next_fire_at = Some(at(3));
    let first = page("user:a");
    store
        .save_chain(&moved, std::slice::from_ref(&first))
        .await
        .unwrap();
    // The same step decided again (a replay after a crash) adds no second page.
    store
        .save_chain(&moved, &[page("user:a"), page("user:b")])
        .await
        .unwrap();
    let pages = store.pages_of_chain(chain.id).await.unwrap();
    let targets: Vec<&str> = pages.iter().map(|p| p.key.target.as_str()).collect();
    assert_eq!(targets, ["user:a", "user:b"]);
    assert_eq!(pages[0].id, first.id);
    store.mark_page(first.id, "sent", "HTTP 200").await.unwrap();
    assert_eq!(
        store.pages_of_chain(chain.id).await.unwrap()[0].outcome,
        "sent"
    );
    assert_eq!(store.active_chains().await.unwrap(), vec![moved.clone()]);
    let mut stopped = moved.clone();
    stopped.stop();
    store.save_chain(&stopped, &[]).await.unwrap();
    assert!(store.active_chains().await.unwrap().is_empty());
    assert_eq!(
        store.chains_of_alert(alert).await.unwrap(),
        vec![stopped.clone()]
    );
    assert_eq!(store.get_chain(chain.id).await.unwrap(), Some(stopped));
}

async fn templates_keep_every_version(store: Arc<dyn Store>) {
    let id = Uuid::new_v4();
    let version = |n: i32, name: &str| StoredTemplate {
        id,
        version: n,
        name: name.into(),
        body: vec![n as u8; 3],
        created_at: at(n as u32),
    };
    store
        .insert_template_version(&version(1, "page"))
        .await
        .unwrap();
    store
        .insert_template_version(&version(2, "page v2"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_template_version(&version(2, "racing update"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let other = StoredTemplate {
        id: Uuid::new_v4(),
        ..version(1, "digest")
    };
    store.insert_template_version(&other).await.unwrap();
    assert_eq!(
        store.get_template(id, None).await.unwrap(),
        Some(version(2, "page v2"))
    );
    assert_eq!(
        store.get_template(id, Some(1)).await.unwrap(),
        Some(version(1, "page"))
    );
    assert_eq!(store.get_template(id, Some(3)).await.unwrap(), None);
    let listed: Vec<(String, i32)> = store
        .list_templates()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.version))
        .collect();
    assert_eq!(
        listed,
        vec![("digest".to_string(), 1), ("page v2".to_string(), 2)]
    );
    assert!(store.delete_template(id).await.unwrap());
    assert!(!store.delete_template(id).await.unwrap());
    assert_eq!(store.get_template(id, None).await.unwrap(), None);
    assert_eq!(store.get_template(id, Some(1)).await.unwrap(), None);
    assert_eq!(store.list_templates().await.unwrap().len(), 1);
}

async fn deliveries_and_their_attempts(store: Arc<dyn Store>) {
    let alert = Uuid::new_v4();
    let delivery = |request: &str, address: &str| StoredDelivery {
        id: Uuid::new_v4(),
        request_id: request.into(),
        kind: "page".into(),
        priority: 3,
        channel: "slack".into(),
        address: address.into(),
        user_id: Some(Uuid::new_v4()),
        alert_id: Some(alert),
        template_id: None,
        template_version: 0,
        state: "pending".into(),
        attempts: 0,
        last_error: String::new(),
        merged_into: None,
        message: b"{}".to_vec(),
        created_at: at(1),
        updated_at: at(1),
    };
    let first = delivery("r-1", "C1");
    let second = delivery("r-1", "C2");
    let anonymous = delivery("", "C1");
    let again = delivery("", "C1");
    store
        .write_delivery_log(&DeliveryLog {
            created: vec![
                first.clone(),
                second.clone(),
                anonymous.clone(),
                again.clone(),
            ],
            ..DeliveryLog::default()
        })
        .await
        .unwrap();
    let repeat = store
        .write_delivery_log(&DeliveryLog {
            created: vec![delivery("r-1", "C1")],
            ..DeliveryLog::default()
        })
        .await;
    assert!(matches!(repeat, Err(StoreError::Conflict(_))), "{repeat:?}");
    assert_eq!(
        store.get_delivery(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.unfinished_deliveries().await.unwrap().len(), 4);

    let attempt = |n: i32, outcome: &str| DeliveryAttempt {
        delivery_id: first.id,
        attempt: n,
        at: at(2),
        outcome: outcome.into(),
        http_status: if outcome == "sent" { 200 } else { 503 },
        error: String::new(),
    };
    store
        .write_delivery_log(&DeliveryLog {
            updates: vec![
                DeliveryUpdate {
                    id: first.id,
                    state: "sent".into(),
                    attempts: 2,
                    last_error: "HTTP 503".into(),
                    merged_into: None,
                    at: at(3),
                },
                DeliveryUpdate {
                    id: second.id,
                    state: "sent".into(),
                    attempts: 1,
                    last_error: String::new(),
                    merged_into: Some(first.id),
                    at: at(3),
                },
            ],
            attempts: vec![
                attempt(1, "retrying"),
                attempt(2, "sent"),
                attempt(2, "sent"),
            ],
            ..DeliveryLog::default()
        })
        .await
        .unwrap();
    let stored = store.get_delivery(first.id).await.unwrap().unwrap();
    assert_eq!((stored.state.as_str(), stored.attempts), ("sent", 2));
    assert_eq!(stored.updated_at, at(3));
    let merged = store.get_delivery(second.id).await.unwrap().unwrap();
    assert_eq!(merged.merged_into, Some(first.id));
    let attempts = store.delivery_attempts(first.id).await.unwrap();
    assert_eq!(attempts, vec![attempt(1, "retrying"), attempt(2, "sent")]);
    let unfinished: Vec<Uuid> = store
        .unfinished_deliveries()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(unfinished.len(), 2);
    assert!(unfinished.contains(&anonymous.id) && unfinished.contains(&again.id));

    // A digest's members change together, in one run of equal updates.
    let digest = Uuid::new_v4();
    let member = |id: Uuid| DeliveryUpdate {
        id,
        state: "failed".into(),
        attempts: 0,
        last_error: "HTTP 400".into(),
        merged_into: Some(digest),
        at: at(4),
    };
    store
        .write_delivery_log(&DeliveryLog {
            updates: vec![member(anonymous.id), member(again.id)],
            ..DeliveryLog::default()
        })
        .await
        .unwrap();
    for id in [anonymous.id, again.id] {
        let stored = store.get_delivery(id).await.unwrap().unwrap();
        assert_eq!(
            (stored.state.as_str(), stored.merged_into, stored.updated_at),
            ("failed", Some(digest), at(4))
        );
    }
    assert!(store.unfinished_deliveries().await.unwrap().is_empty());

    let page = store
        .list_deliveries(&DeliveryQuery {
            alert_id: Some(alert),
            state: Some("sent".into()),
            limit: 1,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items.len(), 1);
    let by_request = store
        .list_deliveries(&DeliveryQuery {
            request_id: Some("r-1".into()),
            channel: Some("slack".into()),
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_request.total, 2);
}
