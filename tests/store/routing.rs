//! Routing: rules, routing marks, and alerts unchanged since they opened (`RoutingStore`).

use std::sync::Arc;

use oncall::domain::holder::Holder;
use oncall::domain::lifecycle::AlertWrite;
use oncall::store::{Store, StoredRule};
use uuid::Uuid;

use super::{alert, at, reference, service};

pub(super) async fn routing_marks_and_what_is_left_to_route(store: Arc<dyn Store>) {
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

pub(super) async fn alerts_unchanged_since_open(store: Arc<dyn Store>) {
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

pub(super) async fn routing_rules_round_trip(store: Arc<dyn Store>) {
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
