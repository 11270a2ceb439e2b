//! Notifications: template versions, deliveries and their attempts (`NotificationStore`).

use std::sync::Arc;

use oncall::store::{
    DeliveryAttempt, DeliveryLog, DeliveryQuery, DeliveryUpdate, Store, StoreError, StoredDelivery,
    StoredTemplate,
};
use uuid::Uuid;

use super::at;

pub(super) async fn templates_keep_every_version(store: Arc<dyn Store>) {
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

pub(super) async fn deliveries_and_their_attempts(store: Arc<dyn Store>) {
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
