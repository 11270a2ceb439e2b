//! Escalation: chains and their pages (`EscalationStore`).

use std::sync::Arc;

use oncall::domain::escalation::{Chain, ChainStatus, PageKey};
use oncall::store::{Store, StoredPage};
use uuid::Uuid;

use super::at;

pub(super) async fn escalation_chains_and_pages(store: Arc<dyn Store>) {
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
