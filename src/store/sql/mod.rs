//! The SQL both backends share. SQLite and PostgreSQL accept the same statements here
//! (`$N` placeholders, `RETURNING`, partial indexes, `ON CONFLICT`), so each store trait
//! is implemented once and expanded for each pool type by [`impl_sql_store!`]; the few
//! dialect differences (JSON label matching, case-insensitive search) are inherent items
//! of each backend: `push_label_equals` and `LIKE_CI`.
//!
//! One file per aggregate, each a macro implementing that aggregate's trait: `alerts`
//! ([`AlertStore`]), `catalog` ([`CatalogStore`]), `directory` ([`DirectoryStore`]),
//! `definitions` ([`DefinitionStore`]), `routing` ([`RoutingStore`]), `escalation`
//! ([`EscalationStore`]), `handoffs` ([`HandoffStore`]) and `notifications`
//! ([`NotificationStore`]). This file holds what they share: the column conversions
//! below, and [`impl_sql_store!`], which defines the row readers more than one aggregate
//! uses (`DbRow`, `alert_of`, `newest_page`), expands every aggregate's macro and
//! implements [`Store`] itself. Each aggregate's macro wraps its items in
//! `const _: () = { ... };`, so its imports and its own row readers stay its own.
//!
//! [`Store`]: super::Store
//! [`AlertStore`]: super::AlertStore
//! [`CatalogStore`]: super::CatalogStore
//! [`DirectoryStore`]: super::DirectoryStore
//! [`DefinitionStore`]: super::DefinitionStore
//! [`RoutingStore`]: super::RoutingStore
//! [`EscalationStore`]: super::EscalationStore
//! [`HandoffStore`]: super::HandoffStore
//! [`NotificationStore`]: super::NotificationStore

pub(super) mod alerts;
pub(super) mod catalog;
pub(super) mod definitions;
pub(super) mod directory;
pub(super) mod escalation;
pub(super) mod handoffs;
pub(super) mod notifications;
pub(super) mod routing;

use std::collections::BTreeMap;

use super::{StoreError, StoreResult};
use crate::domain::access::Role;
use crate::domain::alert::{AlertStatus, TimelineKind};
use crate::domain::severity::Severity;

/// Rows per multi-row INSERT: under SQLite's 32,766 bound parameters at 23 per row.
pub(super) const INSERT_CHUNK: usize = 500;

pub(super) const ALERT_COLUMNS: &str = "id, number, service_id, fingerprint, summary, details, \
    severity, source, source_instance, labels, annotations, status, triggered_at, \
    acknowledged_at, acknowledged_by, resolved_at, resolved_by, resolution_note, created_at, \
    updated_at, last_seen_at, occurrence_count, previous_alert_id";

pub(super) fn status(name: &str) -> StoreResult<AlertStatus> {
    AlertStatus::parse(name).ok_or_else(|| StoreError::Corrupt(format!("status {name:?}")))
}

pub(super) fn severity(name: &str) -> StoreResult<Severity> {
    Severity::parse(name).ok_or_else(|| StoreError::Corrupt(format!("severity {name:?}")))
}

pub(super) fn role(name: &str) -> StoreResult<Role> {
    Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("role {name:?}")))
}

/// A stored duration in milliseconds; NULL is none.
pub(super) fn millis_to_duration(millis: Option<i64>) -> Option<std::time::Duration> {
    millis
        .and_then(|m| u64::try_from(m).ok())
        .map(std::time::Duration::from_millis)
}

pub(super) fn duration_to_millis(duration: Option<std::time::Duration>) -> Option<i64> {
    duration.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn timeline_kind(name: &str) -> StoreResult<TimelineKind> {
    TimelineKind::parse(name).ok_or_else(|| StoreError::Corrupt(format!("event kind {name:?}")))
}

/// A LIKE pattern matching `text` anywhere, with `%`, `_` and `\\` taken literally
/// (used with `ESCAPE '\\'`).
pub(super) fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub(super) fn conflict(err: sqlx::Error, what: &str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => StoreError::Database(err),
    }
}

/// Stored quiet hours: both ends or neither.
pub(super) fn quiet_hours_of(
    start: Option<String>,
    end: Option<String>,
) -> StoreResult<Option<crate::domain::notify::quiet::QuietHours>> {
    match (start, end) {
        (Some(start), Some(end)) => crate::domain::notify::quiet::QuietHours::parse(&start, &end)
            .map(Some)
            .map_err(|why| StoreError::Corrupt(format!("quiet hours: {why}"))),
        _ => Ok(None),
    }
}

pub(super) type Labels = sqlx::types::Json<BTreeMap<String, String>>;

/// Implements [`super::Store`] and every aggregate's trait for a backend struct with a
/// `pool` field of type `sqlx::Pool<$db>`.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::{QueryBuilder, Row};
        use uuid::Uuid;

        use crate::domain::alert::Alert;
        use crate::store::sql::{self, ALERT_COLUMNS, Labels};
        use crate::store::{Store, StoreResult};

        type DbRow = <$db as sqlx::Database>::Row;

        /// How many rows of `table` the filters select, and one page of them, newest first.
        async fn newest_page(
            pool: &sqlx::Pool<$db>,
            table: &str,
            filters: impl Fn(&mut QueryBuilder<'_, $db>),
            limit: i64,
            offset: i64,
        ) -> StoreResult<(i64, Vec<DbRow>)> {
            let mut count = QueryBuilder::<$db>::new(format!("SELECT COUNT(*) FROM {table}"));
            filters(&mut count);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            let mut select = QueryBuilder::<$db>::new(format!("SELECT * FROM {table}"));
            filters(&mut select);
            select
                .push(" ORDER BY created_at DESC, id LIMIT ")
                .push_bind(limit)
                .push(" OFFSET ")
                .push_bind(offset);
            Ok((total, select.build().fetch_all(pool).await?))
        }

        fn alert_of(row: &DbRow) -> StoreResult<Alert> {
            let labels: Labels = row.try_get("labels")?;
            let annotations: Labels = row.try_get("annotations")?;
            Ok(Alert {
                id: row.try_get("id")?,
                number: row.try_get("number")?,
                service_id: row.try_get("service_id")?,
                fingerprint: row.try_get("fingerprint")?,
                summary: row.try_get("summary")?,
                details: row.try_get("details")?,
                severity: sql::severity(row.try_get("severity")?)?,
                source: row.try_get("source")?,
                source_instance: row.try_get("source_instance")?,
                labels: labels.0,
                annotations: annotations.0,
                status: sql::status(row.try_get("status")?)?,
                triggered_at: row.try_get("triggered_at")?,
                acknowledged_at: row.try_get("acknowledged_at")?,
                acknowledged_by: row.try_get("acknowledged_by")?,
                resolved_at: row.try_get("resolved_at")?,
                resolved_by: row.try_get("resolved_by")?,
                resolution_note: row.try_get("resolution_note")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
                occurrence_count: row.try_get("occurrence_count")?,
                previous_alert_id: row.try_get("previous_alert_id")?,
            })
        }

        impl $store {
            /// Alerts of a service in a state (`filter`) whose `column` time is before
            /// `before`, oldest first: what the service timeouts act on.
            async fn alerts_older_than(
                &self,
                service_id: Uuid,
                filter: &str,
                column: &str,
                before: DateTime<Utc>,
                limit: i64,
            ) -> StoreResult<Vec<Alert>> {
                sqlx::query(&format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE service_id = $1 AND {filter} \
                     AND {column} < $2 ORDER BY {column}, id LIMIT $3"
                ))
                .bind(service_id)
                .bind(before)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(alert_of)
                .collect()
            }
        }

        crate::store::sql::alerts::impl_alert_store!($store, $db);
        crate::store::sql::catalog::impl_catalog_store!($store, $db);
        crate::store::sql::directory::impl_directory_store!($store, $db);
        crate::store::sql::definitions::impl_definition_store!($store, $db);
        crate::store::sql::routing::impl_routing_store!($store, $db);
        crate::store::sql::escalation::impl_escalation_store!($store, $db);
        crate::store::sql::handoffs::impl_handoff_store!($store, $db);
        crate::store::sql::notifications::impl_notification_store!($store, $db);

        #[async_trait]
        impl Store for $store {
            fn changes(&self) -> &crate::store::Changes {
                &self.changes
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}

pub(super) use impl_sql_store;
