//! The store conformance suite: every case runs on SQLite and on PostgreSQL.
//!
//! The cases live in one module per aggregate, as the store's traits do
//! (`tests/store/<aggregate>.rs`); this file runs each on both backends, under the case's
//! own name (`services_and_keys::sqlite`), and holds the fixtures they share.

mod common;

#[path = "store/alerts.rs"]
mod alerts;
#[path = "store/catalog.rs"]
mod catalog;
#[path = "store/definitions.rs"]
mod definitions;
#[path = "store/directory.rs"]
mod directory;
#[path = "store/escalation.rs"]
mod escalation;
#[path = "store/handoffs.rs"]
mod handoffs;
#[path = "store/notifications.rs"]
mod notifications;
#[path = "store/routing.rs"]
mod routing;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::Db;
use oncall::domain::alert::{Alert, AlertStatus};
use oncall::domain::catalog::Service;
use oncall::domain::fingerprint::AlertKey;
use oncall::domain::lifecycle::AlertRef;
use oncall::domain::severity::Severity;
use oncall::store::Store;
use uuid::Uuid;

macro_rules! on_both_stores {
    ($($aggregate:ident::$case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test]
                async fn sqlite() {
                    let db = super::Db::sqlite();
                    super::$aggregate::$case(super::open(&db).await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let db = super::Db::postgres().await;
                    super::$aggregate::$case(super::open(&db).await).await;
                }
            }
        )*
    };
}

on_both_stores!(
    catalog::services_and_keys,
    directory::users_and_tokens,
    alerts::commits_apply_in_order_and_atomically,
    alerts::listing_filters_and_pages,
    routing::routing_rules_round_trip,
    definitions::definitions_round_trip,
    handoffs::handoffs_round_trip,
    directory::contact_methods_round_trip,
    escalation::escalation_chains_and_pages,
    definitions::inhibition_rules_documents_and_holds,
    alerts::service_timeouts_find_their_alerts,
    routing::alerts_unchanged_since_open,
    routing::routing_marks_and_what_is_left_to_route,
    notifications::templates_keep_every_version,
    notifications::deliveries_and_their_attempts,
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
