//! Schedule handoffs and their events (`HandoffStore`).

use std::sync::Arc;

use oncall::store::{HandoffEvent, Store, StoredHandoff};
use uuid::Uuid;

use super::at;

pub(super) async fn handoffs_round_trip(store: Arc<dyn Store>) {
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
