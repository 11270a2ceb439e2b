//! The SQL both backends share. SQLite and PostgreSQL accept the same statements here
//! (`$N` placeholders, `RETURNING`, partial indexes, `ON CONFLICT`), so the [`Store`]
//! implementation is written once and expanded for each pool type by
//! [`impl_sql_store!`]; the few dialect differences (JSON label matching,
//! case-insensitive search) are inherent items of each backend:
//! `push_label_equals` and `LIKE_CI`.
//!
//! [`Store`]: super::Store

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

/// Implements [`super::Store`] for a backend struct with a `pool` field of type `$pool`.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use sqlx::{QueryBuilder, Row};
        use uuid::Uuid;

        use crate::domain::alert::{Alert, TimelineEntry, TimelineKind};
        use crate::domain::catalog::{IntegrationKey, Service};
        use crate::domain::directory::{ApiToken, User};
        use crate::domain::fingerprint::AlertKey;
        use crate::domain::lifecycle::{AlertState, AlertWrite, digest};
        use crate::domain::timeline::TimelineDraft;
        use crate::store::sql::{self, ALERT_COLUMNS, INSERT_CHUNK, Labels, quiet_hours_of};
        use crate::store::{AlertQuery, Page, Store, StoreResult};

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

        fn template_of(row: &DbRow) -> StoreResult<crate::store::StoredTemplate> {
            Ok(crate::store::StoredTemplate {
                id: row.try_get("id")?,
                version: row.try_get("version")?,
                name: row.try_get("name")?,
                body: row.try_get("body")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn delivery_of(row: &DbRow) -> StoreResult<crate::store::StoredDelivery> {
            Ok(crate::store::StoredDelivery {
                id: row.try_get("id")?,
                request_id: row.try_get("request_id")?,
                kind: row.try_get("kind")?,
                priority: row.try_get("priority")?,
                channel: row.try_get("channel")?,
                address: row.try_get("address")?,
                user_id: row.try_get("user_id")?,
                alert_id: row.try_get("alert_id")?,
                template_id: row.try_get("template_id")?,
                template_version: row.try_get("template_version")?,
                state: row.try_get("state")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                merged_into: row.try_get("merged_into")?,
                message: row.try_get("message")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn service_of(row: &DbRow) -> StoreResult<Service> {
            Ok(Service {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                escalation_policy: row.try_get("escalation_policy_id")?,
                ack_timeout: sql::millis_to_duration(row.try_get("ack_timeout_ms")?),
                auto_resolve_after: sql::millis_to_duration(row.try_get("auto_resolve_after_ms")?),
            })
        }

        fn key_of(row: &DbRow) -> StoreResult<IntegrationKey> {
            Ok(IntegrationKey {
                id: row.try_get("id")?,
                service_id: row.try_get("service_id")?,
                name: row.try_get("name")?,
                key_hash: row.try_get("key_hash")?,
                key_prefix: row.try_get("key_prefix")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn user_of(row: &DbRow) -> StoreResult<User> {
            Ok(User {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                email: row.try_get("email")?,
                timezone: row.try_get("timezone")?,
                quiet_hours: quiet_hours_of(row.try_get("quiet_start")?, row.try_get("quiet_end")?)?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn token_of(row: &DbRow) -> StoreResult<ApiToken> {
            Ok(ApiToken {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                name: row.try_get("name")?,
                role: sql::role(row.try_get("role")?)?,
                token_hash: row.try_get("token_hash")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn rule_of(row: &DbRow) -> StoreResult<crate::store::StoredRule> {
            let tags: sqlx::types::Json<Vec<String>> = row.try_get("tags")?;
            Ok(crate::store::StoredRule {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                priority: row.try_get("priority")?,
                enabled: row.try_get("enabled")?,
                tags: tags.0,
                body: row.try_get("body")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn definition_of(row: &DbRow) -> StoreResult<crate::store::StoredDefinition> {
            Ok(crate::store::StoredDefinition {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                body: row.try_get("body")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn contact_method_of(row: &DbRow) -> StoreResult<crate::domain::directory::ContactMethod> {
            let kind: String = row.try_get("kind")?;
            Ok(crate::domain::directory::ContactMethod {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                kind: crate::domain::directory::ContactKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("contact method kind {kind:?}")))?,
                address: row.try_get("address")?,
                verified: row.try_get("verified")?,
                code_hash: row.try_get("code_hash")?,
                code_sent: row.try_get("code_sent")?,
                code_detail: row.try_get("code_detail")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn chain_of(row: &DbRow) -> StoreResult<crate::domain::escalation::Chain> {
            let status: String = row.try_get("status")?;
            Ok(crate::domain::escalation::Chain {
                id: row.try_get("id")?,
                alert_id: row.try_get("alert_id")?,
                policy_id: row.try_get("policy_id")?,
                generation: row.try_get("generation")?,
                step: row.try_get("step")?,
                repeat: row.try_get("repeat")?,
                next_fire_at: row.try_get("next_fire_at")?,
                status: crate::domain::escalation::ChainStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("chain status {status:?}")))?,
                started_at: row.try_get("started_at")?,
            })
        }

        fn handoff_of(row: &DbRow) -> StoreResult<crate::store::StoredHandoff> {
            Ok(crate::store::StoredHandoff {
                id: row.try_get("id")?,
                schedule_id: row.try_get("schedule_id")?,
                rotation_id: row.try_get("rotation_id")?,
                level: row.try_get("level")?,
                at: row.try_get("at")?,
                outgoing_user_id: row.try_get("outgoing_user_id")?,
                incoming_user_id: row.try_get("incoming_user_id")?,
                require_ack: row.try_get("require_ack")?,
                acknowledged_at: row.try_get("acknowledged_at")?,
                acknowledged_by: row.try_get("acknowledged_by")?,
                escalated_at: row.try_get("escalated_at")?,
            })
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

        /// Appends the WHERE clause of an alert listing.
        fn push_alert_filters(qb: &mut QueryBuilder<'_, $db>, query: &AlertQuery) {
            qb.push(" WHERE 1 = 1");
            if !query.statuses.is_empty() {
                qb.push(" AND status IN (");
                let mut list = qb.separated(", ");
                for status in &query.statuses {
                    list.push_bind(status.as_str());
                }
                qb.push(")");
            }
            if !query.severities.is_empty() {
                qb.push(" AND severity IN (");
                let mut list = qb.separated(", ");
                for severity in &query.severities {
                    list.push_bind(severity.as_str());
                }
                qb.push(")");
            }
            if !query.sources.is_empty() {
                qb.push(" AND source IN (");
                let mut list = qb.separated(", ");
                for source in &query.sources {
                    list.push_bind(source.clone());
                }
                qb.push(")");
            }
            if let Some(service_id) = query.service_id {
                qb.push(" AND service_id = ").push_bind(service_id);
            }
            for (name, value) in &query.labels {
                qb.push(" AND ");
                <$store>::push_label_equals(qb, name, value);
            }
            if let Some(from) = query.triggered_from {
                qb.push(" AND triggered_at >= ").push_bind(from);
            }
            if let Some(to) = query.triggered_to {
                qb.push(" AND triggered_at < ").push_bind(to);
            }
            if let Some(search) = &query.search {
                let pattern = sql::contains_pattern(search);
                for (i, column) in ["summary", "details", "fingerprint"].iter().enumerate() {
                    qb.push(if i == 0 { " AND (" } else { " OR " });
                    qb.push(*column)
                        .push(" ")
                        .push(<$store>::LIKE_CI)
                        .push(" ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\'");
                }
                qb.push(")");
            }
        }

        /// Inserts a run of new alerts with one statement per chunk, then links each to the
        /// last resolved alert with its key.
        async fn insert_alerts(
            tx: &mut sqlx::Transaction<'_, $db>,
            alerts: &[&Alert],
        ) -> StoreResult<()> {
            for chunk in alerts.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<$db>::new(format!("INSERT INTO alerts ({ALERT_COLUMNS}) "));
                qb.push_values(chunk.iter(), |mut row, alert| {
                    // Borrowed, not cloned: this runs in the one writer, once per alert
                    // of a storm.
                    row.push_bind(alert.id)
                        .push_bind(alert.number)
                        .push_bind(alert.service_id)
                        .push_bind(alert.fingerprint.as_str())
                        .push_bind(alert.summary.as_str())
                        .push_bind(alert.details.as_str())
                        .push_bind(alert.severity.as_str())
                        .push_bind(alert.source.as_str())
                        .push_bind(alert.source_instance.as_str())
                        .push_bind(sqlx::types::Json(&alert.labels))
                        .push_bind(sqlx::types::Json(&alert.annotations))
                        .push_bind(alert.status.as_str())
                        .push_bind(alert.triggered_at)
                        .push_bind(alert.acknowledged_at)
                        .push_bind(alert.acknowledged_by.as_deref())
                        .push_bind(alert.resolved_at)
                        .push_bind(alert.resolved_by.as_deref())
                        .push_bind(alert.resolution_note.as_deref())
                        .push_bind(alert.created_at)
                        .push_bind(alert.updated_at)
                        .push_bind(alert.last_seen_at)
                        .push_bind(alert.occurrence_count)
                        .push_bind(alert.previous_alert_id);
                });
                qb.build()
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| sql::conflict(e, "an open alert with this fingerprint"))?;
                // Linked in a second statement: a subquery on `alerts` inside the insert
                // would make SQLite save its cursors on every row inserted.
                let mut link = QueryBuilder::<$db>::new(
                    "UPDATE alerts SET previous_alert_id = (SELECT p.id FROM alerts p \
                     WHERE p.service_id = alerts.service_id AND p.fingerprint = alerts.fingerprint \
                     AND p.status = 'resolved' ORDER BY p.resolved_at DESC LIMIT 1) \
                     WHERE previous_alert_id IS NULL AND id IN (",
                );
                let mut ids = link.separated(", ");
                for alert in chunk {
                    ids.push_bind(alert.id);
                }
                link.push(
                    ") AND EXISTS (SELECT 1 FROM alerts p WHERE p.service_id = alerts.service_id \
                     AND p.fingerprint = alerts.fingerprint AND p.status = 'resolved')",
                );
                link.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        async fn insert_events(
            tx: &mut sqlx::Transaction<'_, $db>,
            events: &[TimelineDraft],
        ) -> StoreResult<()> {
            for chunk in events.chunks(INSERT_CHUNK) {
                let mut qb = QueryBuilder::<$db>::new(
                    "INSERT INTO alert_events (id, alert_id, kind, actor, message, created_at) ",
                );
                qb.push_values(chunk.iter(), |mut row, event| {
                    // Version 7 ids sort in creation order, which orders entries that
                    // share a timestamp (an ack and its note).
                    row.push_bind(Uuid::now_v7())
                        .push_bind(event.alert_id)
                        .push_bind(event.kind.as_str())
                        .push_bind(event.actor.clone())
                        .push_bind(event.message.clone())
                        .push_bind(event.at);
                });
                qb.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Applies one write other than an open. A write that finds its alert gone or
        /// already resolved fails the commit ([`StoreError::Stale`]): it was decided on
        /// a state the store does not hold, and must not be acknowledged.
        ///
        /// [`StoreError::Stale`]: crate::store::StoreError::Stale
        async fn apply_write(
            tx: &mut sqlx::Transaction<'_, $db>,
            write: &AlertWrite,
        ) -> StoreResult<()> {
            const OPEN: &str = " AND status <> 'resolved'";
            let (alert, done) = match write {
                AlertWrite::Open(_) => return Ok(()),
                AlertWrite::Repeat {
                    alert,
                    seen_at,
                    annotations,
                } => {
                    let mut qb = QueryBuilder::<$db>::new("UPDATE alerts SET last_seen_at = ");
                    qb.push_bind(*seen_at)
                        .push(", updated_at = ")
                        .push_bind(*seen_at)
                        .push(", occurrence_count = occurrence_count + 1");
                    if let Some(annotations) = annotations {
                        qb.push(", annotations = ")
                            .push_bind(sqlx::types::Json(annotations.clone()));
                    }
                    qb.push(" WHERE id = ").push_bind(alert.id).push(OPEN);
                    (alert, qb.build().execute(&mut **tx).await?)
                }
                AlertWrite::Acknowledge { alert, by, at, .. } => {
                    let done = sqlx::query(&format!(
                        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $1, \
                         acknowledged_by = $2, updated_at = $1 WHERE id = $3{OPEN}"
                    ))
                    .bind(*at)
                    .bind(by.as_str())
                    .bind(alert.id)
                    .execute(&mut **tx)
                    .await?;
                    (alert, done)
                }
                AlertWrite::Resolve {
                    alert,
                    by,
                    at,
                    note,
                } => {
                    let done = sqlx::query(&format!(
                        "UPDATE alerts SET status = 'resolved', resolved_at = $1, \
                         resolved_by = $2, resolution_note = $3, updated_at = $1 \
                         WHERE id = $4{OPEN}"
                    ))
                    .bind(*at)
                    .bind(by.as_str())
                    .bind(note.clone())
                    .bind(alert.id)
                    .execute(&mut **tx)
                    .await?;
                    (alert, done)
                }
                AlertWrite::Escalate { alert, at, .. } => {
                    let done = sqlx::query(&format!(
                        "UPDATE alerts SET updated_at = $1 WHERE id = $2{OPEN}"
                    ))
                    .bind(*at)
                    .bind(alert.id)
                    .execute(&mut **tx)
                    .await?;
                    (alert, done)
                }
                AlertWrite::Suppress {
                    alert, at, held_by, ..
                } => {
                    let done = sqlx::query(&format!(
                        "UPDATE alerts SET status = 'suppressed', suppressed_by = $1, \
                         updated_at = $2 WHERE id = $3{OPEN}"
                    ))
                    .bind(held_by.map(|h| h.to_string()))
                    .bind(*at)
                    .bind(alert.id)
                    .execute(&mut **tx)
                    .await?;
                    (alert, done)
                }
                AlertWrite::Unsuppress { alert, at, .. } => {
                    let done = sqlx::query(&format!(
                        "UPDATE alerts SET status = 'triggered', suppressed_by = NULL, \
                         updated_at = $1 WHERE id = $2{OPEN}"
                    ))
                    .bind(*at)
                    .bind(alert.id)
                    .execute(&mut **tx)
                    .await?;
                    // Released: routed again as if new, and again on the next start if a
                    // stop cuts that short.
                    sqlx::query("DELETE FROM routed_alerts WHERE alert_id = $1")
                        .bind(alert.id)
                        .execute(&mut **tx)
                        .await?;
                    (alert, done)
                }
                AlertWrite::Retrigger { alert, at, .. } => {
                    let done = sqlx::query(&format!(
                        "UPDATE alerts SET status = 'triggered', acknowledged_at = NULL, \
                         acknowledged_by = NULL, updated_at = $1 WHERE id = $2{OPEN}"
                    ))
                    .bind(*at)
                    .bind(alert.id)
                    .execute(&mut **tx)
                    .await?;
                    (alert, done)
                }
                AlertWrite::AddNote { alert, at, .. } | AlertWrite::Record { alert, at, .. } => {
                    let done = sqlx::query("UPDATE alerts SET updated_at = $1 WHERE id = $2")
                        .bind(*at)
                        .bind(alert.id)
                        .execute(&mut **tx)
                        .await?;
                    (alert, done)
                }
                AlertWrite::Update {
                    alert,
                    at,
                    changes,
                    ..
                } => {
                    let mut qb = QueryBuilder::<$db>::new("UPDATE alerts SET updated_at = ");
                    qb.push_bind(*at);
                    if let Some(summary) = &changes.summary {
                        qb.push(", summary = ").push_bind(summary.clone());
                    }
                    if let Some(details) = &changes.details {
                        qb.push(", details = ").push_bind(details.clone());
                    }
                    if let Some(severity) = changes.severity {
                        qb.push(", severity = ").push_bind(severity.as_str());
                    }
                    if let Some(labels) = &changes.labels {
                        qb.push(", labels = ").push_bind(sqlx::types::Json(labels.clone()));
                    }
                    if let Some(annotations) = &changes.annotations {
                        qb.push(", annotations = ")
                            .push_bind(sqlx::types::Json(annotations.clone()));
                    }
                    qb.push(" WHERE id = ").push_bind(alert.id);
                    (alert, qb.build().execute(&mut **tx).await?)
                }
            };
            if done.rows_affected() == 1 {
                Ok(())
            } else {
                Err(crate::store::StoreError::Stale(format!(
                    "alert {} is missing or already resolved",
                    alert.number
                )))
            }
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

        #[async_trait]
        impl Store for $store {
            fn changes(&self) -> &crate::store::Changes {
                &self.changes
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_service(&self, service: &Service) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO services (id, name, description, created_at, updated_at, \
                     escalation_policy_id, ack_timeout_ms, auto_resolve_after_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(service.id)
                .bind(service.name.as_str())
                .bind(service.description.as_str())
                .bind(service.created_at)
                .bind(service.updated_at)
                .bind(service.escalation_policy)
                .bind(sql::duration_to_millis(service.ack_timeout))
                .bind(sql::duration_to_millis(service.auto_resolve_after))
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "a service with this name"))?;
                Ok(())
            }

            async fn get_service(&self, id: Uuid) -> StoreResult<Option<Service>> {
                sqlx::query("SELECT * FROM services WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(service_of)
                    .transpose()
            }

            async fn list_services(
                &self,
                name_contains: Option<&str>,
                limit: i64,
                offset: i64,
            ) -> StoreResult<Page<Service>> {
                let pattern = sql::contains_pattern(name_contains.unwrap_or(""));
                let total: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM services WHERE name {} $1 ESCAPE '\\'",
                    <$store>::LIKE_CI
                ))
                .bind(pattern.as_str())
                .fetch_one(&self.pool)
                .await?;
                let rows = sqlx::query(&format!(
                    "SELECT * FROM services WHERE name {} $1 ESCAPE '\\' ORDER BY name, id \
                     LIMIT $2 OFFSET $3",
                    <$store>::LIKE_CI
                ))
                .bind(pattern.as_str())
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let items = rows.iter().map(service_of).collect::<StoreResult<_>>()?;
                Ok(Page { items, total })
            }

            async fn update_service(&self, service: &Service) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE services SET name = $1, description = $2, updated_at = $3, \
                     escalation_policy_id = $4, ack_timeout_ms = $5, auto_resolve_after_ms = $6 \
                     WHERE id = $7",
                )
                .bind(service.name.as_str())
                .bind(service.description.as_str())
                .bind(service.updated_at)
                .bind(service.escalation_policy)
                .bind(sql::duration_to_millis(service.ack_timeout))
                .bind(sql::duration_to_millis(service.auto_resolve_after))
                .bind(service.id)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "a service with this name"))?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_service(&self, id: Uuid) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM integration_keys WHERE service_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM services WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_integration_key(&self, key: &IntegrationKey) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO integration_keys (id, service_id, name, key_hash, key_prefix, \
                     created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(key.id)
                .bind(key.service_id)
                .bind(key.name.as_str())
                .bind(key.key_hash.as_str())
                .bind(key.key_prefix.as_str())
                .bind(key.created_at)
                .bind(key.expires_at)
                .bind(key.revoked_at)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "an integration key with this secret"))?;
                Ok(())
            }

            async fn get_integration_key(&self, id: Uuid) -> StoreResult<Option<IntegrationKey>> {
                sqlx::query("SELECT * FROM integration_keys WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(key_of)
                    .transpose()
            }

            async fn find_integration_key(
                &self,
                key_hash: &str,
            ) -> StoreResult<Option<IntegrationKey>> {
                sqlx::query("SELECT * FROM integration_keys WHERE key_hash = $1")
                    .bind(key_hash)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(key_of)
                    .transpose()
            }

            async fn list_integration_keys(
                &self,
                service_id: Uuid,
            ) -> StoreResult<Vec<IntegrationKey>> {
                sqlx::query(
                    "SELECT * FROM integration_keys WHERE service_id = $1 ORDER BY created_at, id",
                )
                .bind(service_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(key_of)
                .collect()
            }

            async fn retire_integration_key(
                &self,
                id: Uuid,
                expires_at: Option<DateTime<Utc>>,
                revoked_at: Option<DateTime<Utc>>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE integration_keys SET expires_at = COALESCE($1, expires_at), \
                     revoked_at = COALESCE($2, revoked_at) WHERE id = $3",
                )
                .bind(expires_at)
                .bind(revoked_at)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn insert_user(&self, user: &User) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO users (id, name, email, timezone, created_at, quiet_start, \
                     quiet_end) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(user.id)
                .bind(user.name.as_str())
                .bind(user.email.as_str())
                .bind(user.timezone.as_str())
                .bind(user.created_at)
                .bind(user.quiet_hours.map(|q| q.format().0))
                .bind(user.quiet_hours.map(|q| q.format().1))
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "a user with this id"))?;
                Ok(())
            }

            async fn update_user(&self, user: &User) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE users SET name = $1, email = $2, timezone = $3, quiet_start = $4, \
                     quiet_end = $5 WHERE id = $6",
                )
                .bind(user.name.as_str())
                .bind(user.email.as_str())
                .bind(user.timezone.as_str())
                .bind(user.quiet_hours.map(|q| q.format().0))
                .bind(user.quiet_hours.map(|q| q.format().1))
                .bind(user.id)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "a user with this name"))?;
                Ok(done.rows_affected() > 0)
            }

            async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
                sqlx::query("SELECT * FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(user_of)
                    .transpose()
            }

            async fn find_user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
                sqlx::query("SELECT * FROM users WHERE name = $1 ORDER BY created_at LIMIT 1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(user_of)
                    .transpose()
            }

            async fn list_users(&self, limit: i64, offset: i64) -> StoreResult<Page<User>> {
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                    .fetch_one(&self.pool)
                    .await?;
                let items = sqlx::query("SELECT * FROM users ORDER BY name, id LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(user_of)
                    .collect::<StoreResult<_>>()?;
                Ok(Page { items, total })
            }

            async fn insert_api_token(&self, token: &ApiToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, user_id, name, role, token_hash, created_at, \
                     revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(token.id)
                .bind(token.user_id)
                .bind(token.name.as_str())
                .bind(token.role.as_str())
                .bind(token.token_hash.as_str())
                .bind(token.created_at)
                .bind(token.revoked_at)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "an API token with this secret"))?;
                Ok(())
            }

            async fn get_api_token(&self, id: Uuid) -> StoreResult<Option<ApiToken>> {
                sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(token_of)
                    .transpose()
            }

            async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
                sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(token_of)
                    .transpose()
            }

            async fn list_api_tokens(&self, user_id: Option<Uuid>) -> StoreResult<Vec<ApiToken>> {
                let rows = match user_id {
                    Some(user_id) => {
                        sqlx::query(
                            "SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id",
                        )
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query("SELECT * FROM api_tokens ORDER BY created_at, id")
                            .fetch_all(&self.pool)
                            .await?
                    }
                };
                rows.iter().map(token_of).collect()
            }

            async fn revoke_api_token(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                )
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn commit(&self, writes: &[AlertWrite]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                let mut events = Vec::new();
                let mut opens: Vec<&Alert> = Vec::new();
                // Writes apply in order; a run of opens becomes one multi-row insert, flushed
                // before any other write so a later write to the same alert finds its row.
                for write in writes {
                    events.extend(write.timeline());
                    if let AlertWrite::Open(alert) = write {
                        opens.push(alert);
                        continue;
                    }
                    if !opens.is_empty() {
                        insert_alerts(&mut tx, &opens).await?;
                        opens.clear();
                    }
                    apply_write(&mut tx, write).await?;
                }
                insert_alerts(&mut tx, &opens).await?;
                insert_events(&mut tx, &events).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_alert(&self, id: Uuid) -> StoreResult<Option<Alert>> {
                sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(alert_of)
                    .transpose()
            }

            async fn find_alert_by_number(&self, number: i64) -> StoreResult<Option<Alert>> {
                sqlx::query(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE number = $1"))
                    .bind(number)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(alert_of)
                    .transpose()
            }

            async fn list_alerts(&self, query: &AlertQuery) -> StoreResult<Page<Alert>> {
                let mut count = QueryBuilder::<$db>::new("SELECT COUNT(*) FROM alerts");
                push_alert_filters(&mut count, query);
                let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
                let mut select =
                    QueryBuilder::<$db>::new(format!("SELECT {ALERT_COLUMNS} FROM alerts"));
                push_alert_filters(&mut select, query);
                select
                    .push(" ORDER BY number DESC LIMIT ")
                    .push_bind(query.limit)
                    .push(" OFFSET ")
                    .push_bind(query.offset);
                let items = select
                    .build()
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(alert_of)
                    .collect::<StoreResult<_>>()?;
                Ok(Page { items, total })
            }

            async fn alert_timeline(&self, id: Uuid) -> StoreResult<Vec<TimelineEntry>> {
                let Some(created) = sqlx::query("SELECT created_at, source FROM alerts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(Vec::new());
                };
                let mut timeline = vec![TimelineEntry {
                    id,
                    alert_id: id,
                    kind: TimelineKind::Created,
                    actor: crate::domain::alert::ACTOR_SOURCE.to_string(),
                    message: created.try_get("source")?,
                    at: created.try_get("created_at")?,
                }];
                let rows = sqlx::query(
                    "SELECT id, alert_id, kind, actor, message, created_at FROM alert_events \
                     WHERE alert_id = $1 ORDER BY created_at, id",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                for row in &rows {
                    timeline.push(TimelineEntry {
                        id: row.try_get("id")?,
                        alert_id: row.try_get("alert_id")?,
                        kind: sql::timeline_kind(row.try_get("kind")?)?,
                        actor: row.try_get("actor")?,
                        message: row.try_get("message")?,
                        at: row.try_get("created_at")?,
                    });
                }
                Ok(timeline)
            }

            async fn open_alerts(&self) -> StoreResult<Vec<(AlertKey, AlertState)>> {
                sqlx::query(
                    "SELECT id, number, service_id, fingerprint, status, severity, annotations \
                     FROM alerts WHERE status <> 'resolved'",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| {
                    let annotations: Labels = row.try_get("annotations")?;
                    let key = AlertKey {
                        service_id: row.try_get("service_id")?,
                        fingerprint: row.try_get("fingerprint")?,
                    };
                    let state = AlertState {
                        id: row.try_get("id")?,
                        number: row.try_get("number")?,
                        status: sql::status(row.try_get("status")?)?,
                        severity: sql::severity(row.try_get("severity")?)?,
                        annotations_digest: digest(&annotations.0),
                    };
                    Ok((key, state))
                })
                .collect()
            }

            async fn count_open_alerts(&self, service_id: Uuid) -> StoreResult<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM alerts WHERE service_id = $1 AND status <> 'resolved'",
                )
                .bind(service_id)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn silent_alerts(
                &self,
                service_id: Uuid,
                before: DateTime<Utc>,
                limit: i64,
            ) -> StoreResult<Vec<Alert>> {
                self.alerts_older_than(service_id, "status <> 'resolved'", "last_seen_at", before, limit)
                    .await
            }

            async fn stale_acknowledgements(
                &self,
                service_id: Uuid,
                before: DateTime<Utc>,
                limit: i64,
            ) -> StoreResult<Vec<Alert>> {
                self.alerts_older_than(service_id, "status = 'acknowledged'", "acknowledged_at", before, limit)
                    .await
            }

            async fn insert_rule(&self, rule: &crate::store::StoredRule) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO routing_rules (id, name, priority, enabled, tags, body, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(rule.id)
                .bind(rule.name.as_str())
                .bind(rule.priority)
                .bind(rule.enabled)
                .bind(sqlx::types::Json(&rule.tags))
                .bind(rule.body.as_slice())
                .bind(rule.created_at)
                .bind(rule.updated_at)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "a rule with this id"))?;
                Ok(())
            }

            async fn get_rule(&self, id: Uuid) -> StoreResult<Option<crate::store::StoredRule>> {
                sqlx::query("SELECT * FROM routing_rules WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(rule_of)
                    .transpose()
            }

            async fn list_rules(&self) -> StoreResult<Vec<crate::store::StoredRule>> {
                sqlx::query("SELECT * FROM routing_rules ORDER BY priority, name, id")
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(rule_of)
                    .collect()
            }

            async fn update_rule(&self, rule: &crate::store::StoredRule) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE routing_rules SET name = $1, priority = $2, enabled = $3, tags = $4, \
                     body = $5, updated_at = $6 WHERE id = $7",
                )
                .bind(rule.name.as_str())
                .bind(rule.priority)
                .bind(rule.enabled)
                .bind(sqlx::types::Json(&rule.tags))
                .bind(rule.body.as_slice())
                .bind(rule.updated_at)
                .bind(rule.id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_rule(&self, id: Uuid) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM routing_rules WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_definition(
                &self,
                kind: crate::store::Kind,
                definition: &crate::store::StoredDefinition,
            ) -> StoreResult<()> {
                sqlx::query(&format!(
                    "INSERT INTO {} (id, name, body, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                    kind.table()
                ))
                .bind(definition.id)
                .bind(definition.name.as_str())
                .bind(definition.body.as_slice())
                .bind(definition.created_at)
                .bind(definition.updated_at)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, &format!("{} with this id", kind.noun())))?;
                self.changes.bump(kind);
                Ok(())
            }

            async fn get_definition(
                &self,
                kind: crate::store::Kind,
                id: Uuid,
            ) -> StoreResult<Option<crate::store::StoredDefinition>> {
                sqlx::query(&format!("SELECT * FROM {} WHERE id = $1", kind.table()))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(definition_of)
                    .transpose()
            }

            async fn list_definitions(
                &self,
                kind: crate::store::Kind,
            ) -> StoreResult<Vec<crate::store::StoredDefinition>> {
                sqlx::query(&format!(
                    "SELECT * FROM {} ORDER BY {}",
                    kind.table(),
                    kind.order_by()
                ))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(definition_of)
                .collect()
            }

            async fn update_definition(
                &self,
                kind: crate::store::Kind,
                definition: &crate::store::StoredDefinition,
            ) -> StoreResult<bool> {
                let done = sqlx::query(&format!(
                    "UPDATE {} SET name = $1, body = $2, updated_at = $3 WHERE id = $4",
                    kind.table()
                ))
                .bind(definition.name.as_str())
                .bind(definition.body.as_slice())
                .bind(definition.updated_at)
                .bind(definition.id)
                .execute(&self.pool)
                .await?;
                self.changes.bump(kind);
                Ok(done.rows_affected() > 0)
            }

            async fn delete_definition(&self, kind: crate::store::Kind, id: Uuid) -> StoreResult<bool> {
                let done = sqlx::query(&format!("DELETE FROM {} WHERE id = $1", kind.table()))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                self.changes.bump(kind);
                Ok(done.rows_affected() > 0)
            }

            async fn insert_contact_method(
                &self,
                method: &crate::domain::directory::ContactMethod,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO contact_methods (id, user_id, kind, address, verified, \
                     code_hash, code_sent, code_detail, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(method.id)
                .bind(method.user_id)
                .bind(method.kind.as_str())
                .bind(method.address.as_str())
                .bind(method.verified)
                .bind(method.code_hash.as_deref())
                .bind(method.code_sent)
                .bind(method.code_detail.as_str())
                .bind(method.created_at)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "this contact method"))?;
                Ok(())
            }

            async fn get_contact_method(
                &self,
                id: Uuid,
            ) -> StoreResult<Option<crate::domain::directory::ContactMethod>> {
                sqlx::query("SELECT * FROM contact_methods WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(contact_method_of)
                    .transpose()
            }

            async fn list_contact_methods(
                &self,
                user_id: Uuid,
            ) -> StoreResult<Vec<crate::domain::directory::ContactMethod>> {
                sqlx::query(
                    "SELECT * FROM contact_methods WHERE user_id = $1 ORDER BY created_at, id",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(contact_method_of)
                .collect()
            }

            async fn find_contact_methods(
                &self,
                kind: crate::domain::directory::ContactKind,
                address: &str,
            ) -> StoreResult<Vec<crate::domain::directory::ContactMethod>> {
                sqlx::query(
                    "SELECT * FROM contact_methods WHERE kind = $1 AND address = $2 \
                     ORDER BY created_at, id",
                )
                .bind(kind.as_str())
                .bind(address)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(contact_method_of)
                .collect()
            }

            async fn update_contact_method(
                &self,
                method: &crate::domain::directory::ContactMethod,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE contact_methods SET verified = $1, code_hash = $2, code_sent = $3, \
                     code_detail = $4 WHERE id = $5",
                )
                .bind(method.verified)
                .bind(method.code_hash.as_deref())
                .bind(method.code_sent)
                .bind(method.code_detail.as_str())
                .bind(method.id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_contact_method(&self, id: Uuid) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM contact_methods WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn insert_chain(&self, chain: &crate::domain::escalation::Chain) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO escalation_chains (id, alert_id, policy_id, generation, step, \
                     repeat, next_fire_at, status, started_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (alert_id, policy_id, generation) DO NOTHING",
                )
                .bind(chain.id)
                .bind(chain.alert_id)
                .bind(chain.policy_id)
                .bind(chain.generation)
                .bind(chain.step)
                .bind(chain.repeat)
                .bind(chain.next_fire_at)
                .bind(chain.status.as_str())
                .bind(chain.started_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn get_chain(&self, id: Uuid) -> StoreResult<Option<crate::domain::escalation::Chain>> {
                sqlx::query("SELECT * FROM escalation_chains WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(chain_of)
                    .transpose()
            }

            async fn chains_of_alert(
                &self,
                alert_id: Uuid,
            ) -> StoreResult<Vec<crate::domain::escalation::Chain>> {
                sqlx::query(
                    "SELECT * FROM escalation_chains WHERE alert_id = $1 ORDER BY started_at, id",
                )
                .bind(alert_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(chain_of)
                .collect()
            }

            async fn active_chains(&self) -> StoreResult<Vec<crate::domain::escalation::Chain>> {
                sqlx::query(
                    "SELECT * FROM escalation_chains WHERE status = 'active' \
                     ORDER BY next_fire_at, id",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(chain_of)
                .collect()
            }

            async fn save_chain(
                &self,
                chain: &crate::domain::escalation::Chain,
                pages: &[crate::store::StoredPage],
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "UPDATE escalation_chains SET step = $1, repeat = $2, next_fire_at = $3, \
                     status = $4 WHERE id = $5",
                )
                .bind(chain.step)
                .bind(chain.repeat)
                .bind(chain.next_fire_at)
                .bind(chain.status.as_str())
                .bind(chain.id)
                .execute(&mut *tx)
                .await?;
                for page in pages {
                    sqlx::query(
                        "INSERT INTO escalation_pages (id, chain_id, alert_id, generation, \
                         policy_id, step, repeat, target, outcome, detail, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                         ON CONFLICT (alert_id, generation, policy_id, step, repeat, target) \
                         DO NOTHING",
                    )
                    .bind(page.id)
                    .bind(page.chain_id)
                    .bind(page.key.alert_id)
                    .bind(page.key.generation)
                    .bind(page.key.policy_id)
                    .bind(page.key.step)
                    .bind(page.key.repeat)
                    .bind(page.key.target.as_str())
                    .bind(page.outcome.as_str())
                    .bind(page.detail.as_str())
                    .bind(page.created_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn pages_of_chain(&self, chain_id: Uuid) -> StoreResult<Vec<crate::store::StoredPage>> {
                let rows = sqlx::query(
                    "SELECT * FROM escalation_pages WHERE chain_id = $1 ORDER BY created_at, id",
                )
                .bind(chain_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(crate::store::StoredPage {
                            id: row.try_get("id")?,
                            chain_id: row.try_get("chain_id")?,
                            key: crate::domain::escalation::PageKey {
                                alert_id: row.try_get("alert_id")?,
                                generation: row.try_get("generation")?,
                                policy_id: row.try_get("policy_id")?,
                                step: row.try_get("step")?,
                                repeat: row.try_get("repeat")?,
                                target: row.try_get("target")?,
                            },
                            outcome: row.try_get("outcome")?,
                            detail: row.try_get("detail")?,
                            created_at: row.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn mark_page(&self, id: Uuid, outcome: &str, detail: &str) -> StoreResult<()> {
                sqlx::query("UPDATE escalation_pages SET outcome = $1, detail = $2 WHERE id = $3")
                    .bind(outcome)
                    .bind(detail)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_handoff(&self, handoff: &crate::store::StoredHandoff) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO handoffs (id, schedule_id, rotation_id, level, at, \
                     outgoing_user_id, incoming_user_id, require_ack, acknowledged_at, \
                     acknowledged_by, escalated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (schedule_id, rotation_id, at) DO NOTHING",
                )
                .bind(handoff.id)
                .bind(handoff.schedule_id)
                .bind(handoff.rotation_id)
                .bind(handoff.level)
                .bind(handoff.at)
                .bind(handoff.outgoing_user_id)
                .bind(handoff.incoming_user_id)
                .bind(handoff.require_ack)
                .bind(handoff.acknowledged_at)
                .bind(handoff.acknowledged_by.as_deref())
                .bind(handoff.escalated_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn get_handoff(&self, id: Uuid) -> StoreResult<Option<crate::store::StoredHandoff>> {
                sqlx::query("SELECT * FROM handoffs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(handoff_of)
                    .transpose()
            }

            async fn list_handoffs(
                &self,
                schedule_id: Uuid,
                limit: i64,
            ) -> StoreResult<Vec<crate::store::StoredHandoff>> {
                sqlx::query(
                    "SELECT * FROM handoffs WHERE schedule_id = $1 ORDER BY at DESC, id LIMIT $2",
                )
                .bind(schedule_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(handoff_of)
                .collect()
            }

            async fn acknowledge_handoff(
                &self,
                id: Uuid,
                by: &str,
                at: DateTime<Utc>,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE handoffs SET acknowledged_at = $1, acknowledged_by = $2 \
                     WHERE id = $3 AND acknowledged_at IS NULL",
                )
                .bind(at)
                .bind(by)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn escalate_handoff(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE handoffs SET escalated_at = $1 \
                     WHERE id = $2 AND escalated_at IS NULL AND acknowledged_at IS NULL",
                )
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn add_handoff_event(
                &self,
                handoff_id: Uuid,
                event: &crate::store::HandoffEvent,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO handoff_events (id, handoff_id, kind, at, detail) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(Uuid::now_v7())
                .bind(handoff_id)
                .bind(event.kind.as_str())
                .bind(event.at)
                .bind(event.detail.as_str())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn handoff_events(
                &self,
                handoff_id: Uuid,
            ) -> StoreResult<Vec<crate::store::HandoffEvent>> {
                let rows = sqlx::query(
                    "SELECT kind, at, detail FROM handoff_events WHERE handoff_id = $1 \
                     ORDER BY at, id",
                )
                .bind(handoff_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        Ok(crate::store::HandoffEvent {
                            kind: row.try_get("kind")?,
                            at: row.try_get("at")?,
                            detail: row.try_get("detail")?,
                        })
                    })
                    .collect()
            }

            async fn get_document(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
                Ok(sqlx::query_scalar("SELECT body FROM documents WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn put_document(
                &self,
                name: &str,
                body: &[u8],
                at: DateTime<Utc>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO documents (name, body, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET body = excluded.body, \
                     updated_at = excluded.updated_at",
                )
                .bind(name)
                .bind(body)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn record_routing(
                &self,
                audits: &[crate::store::StoredAudit],
                routed: &[Uuid],
                at: DateTime<Utc>,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for chunk in audits.chunks(INSERT_CHUNK) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO routing_audit_logs (id, alert_id, matched_rule_ids, body, \
                         created_at) ",
                    );
                    qb.push_values(chunk.iter(), |mut row, audit| {
                        let rules: Vec<String> =
                            audit.matched_rule_ids.iter().map(Uuid::to_string).collect();
                        row.push_bind(audit.id)
                            .push_bind(audit.alert_id)
                            .push_bind(rules.join(","))
                            .push_bind(audit.body.clone())
                            .push_bind(audit.created_at);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                // One row per alert even when a batch names one twice: an upsert may not
                // touch a row twice in one statement.
                let routed: Vec<Uuid> = routed
                    .iter()
                    .copied()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                for chunk in routed.chunks(INSERT_CHUNK) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO routed_alerts (alert_id, routed_at) ",
                    );
                    qb.push_values(chunk.iter(), |mut row, id| {
                        row.push_bind(*id).push_bind(at);
                    });
                    qb.push(
                        " ON CONFLICT (alert_id) DO UPDATE SET routed_at = excluded.routed_at",
                    );
                    qb.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_alerts(&self, ids: &[Uuid]) -> StoreResult<Vec<Alert>> {
                let mut alerts = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(INSERT_CHUNK) {
                    let mut qb = QueryBuilder::<$db>::new(format!(
                        "SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN ("
                    ));
                    let mut list = qb.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    qb.push(")");
                    for row in qb.build().fetch_all(&self.pool).await? {
                        alerts.push(alert_of(&row)?);
                    }
                }
                Ok(alerts)
            }

            async fn unchanged_since_open(&self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
                let mut unchanged = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(INSERT_CHUNK) {
                    // Every write to an alert moves `updated_at` off `created_at`, but a
                    // repeat in the very batch that opened it shares its clock reading:
                    // the occurrence count tells that one apart.
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT id FROM alerts WHERE updated_at = created_at \
                         AND occurrence_count = 1 AND id IN (",
                    );
                    let mut list = qb.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    qb.push(")");
                    for row in qb.build().fetch_all(&self.pool).await? {
                        unchanged.push(row.try_get("id")?);
                    }
                }
                Ok(unchanged)
            }

            async fn list_audit(
                &self,
                query: &crate::store::AuditQuery,
            ) -> StoreResult<Page<crate::store::StoredAudit>> {
                let filters = |qb: &mut QueryBuilder<'_, $db>| {
                    qb.push(" WHERE 1 = 1");
                    if let Some(alert) = query.alert_id {
                        qb.push(" AND alert_id = ").push_bind(alert);
                    }
                    if let Some(rule) = query.rule_id {
                        qb.push(" AND matched_rule_ids LIKE ")
                            .push_bind(format!("%{rule}%"));
                    }
                    if let Some(from) = query.from {
                        qb.push(" AND created_at >= ").push_bind(from);
                    }
                    if let Some(to) = query.to {
                        qb.push(" AND created_at < ").push_bind(to);
                    }
                };
                let (total, rows) = newest_page(
                    &self.pool,
                    "routing_audit_logs",
                    filters,
                    query.limit,
                    query.offset,
                )
                .await?;
                let items = rows
                    .iter()
                    .map(|row| {
                        let rules: String = row.try_get("matched_rule_ids")?;
                        Ok(crate::store::StoredAudit {
                            id: row.try_get("id")?,
                            alert_id: row.try_get("alert_id")?,
                            matched_rule_ids: rules
                                .split(',')
                                .filter_map(|r| Uuid::parse_str(r).ok())
                                .collect(),
                            body: row.try_get("body")?,
                            created_at: row.try_get("created_at")?,
                        })
                    })
                    .collect::<StoreResult<_>>()?;
                Ok(Page { items, total })
            }

            async fn held_by(&self, holder: &str) -> StoreResult<Vec<Uuid>> {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM alerts WHERE suppressed_by = $1 AND status = 'suppressed' \
                     ORDER BY number",
                )
                .bind(holder)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn holders(&self, prefix: &str) -> StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT DISTINCT suppressed_by FROM alerts \
                     WHERE status = 'suppressed' AND substr(suppressed_by, 1, $1) = $2",
                )
                .bind(i32::try_from(prefix.len()).unwrap_or(i32::MAX))
                .bind(prefix)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn unrouted_alerts(&self) -> StoreResult<Vec<Uuid>> {
                Ok(sqlx::query_scalar(
                    "SELECT id FROM alerts WHERE status <> 'resolved' AND NOT EXISTS \
                     (SELECT 1 FROM routed_alerts r WHERE r.alert_id = alerts.id) ORDER BY number",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn max_alert_number(&self) -> StoreResult<i64> {
                let max: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM alerts")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(max.unwrap_or(0))
            }
            async fn insert_template_version(
                &self,
                template: &crate::store::StoredTemplate,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO notification_templates (id, version, name, body, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(template.id)
                .bind(template.version)
                .bind(template.name.as_str())
                .bind(template.body.as_slice())
                .bind(template.created_at)
                .execute(&self.pool)
                .await
                .map_err(|e| sql::conflict(e, "this template version"))?;
                Ok(())
            }

            async fn get_template(
                &self,
                id: Uuid,
                version: Option<i32>,
            ) -> StoreResult<Option<crate::store::StoredTemplate>> {
                let row = match version {
                    Some(version) => {
                        sqlx::query(
                            "SELECT * FROM notification_templates WHERE id = $1 AND version = $2 \
                             AND deleted = FALSE",
                        )
                        .bind(id)
                        .bind(version)
                        .fetch_optional(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query(
                            "SELECT * FROM notification_templates WHERE id = $1 AND deleted = FALSE \
                             ORDER BY version DESC LIMIT 1",
                        )
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?
                    }
                };
                row.as_ref().map(template_of).transpose()
            }

            async fn list_templates(&self) -> StoreResult<Vec<crate::store::StoredTemplate>> {
                sqlx::query(
                    "SELECT t.* FROM notification_templates t WHERE t.deleted = FALSE AND \
                     t.version = (SELECT MAX(v.version) FROM notification_templates v \
                     WHERE v.id = t.id) ORDER BY t.name, t.id",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(template_of)
                .collect()
            }

            async fn delete_template(&self, id: Uuid) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE notification_templates SET deleted = TRUE WHERE id = $1 AND deleted = FALSE",
                )
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn write_delivery_log(&self, log: &crate::store::DeliveryLog) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                for chunk in log.created.chunks(1000) {
                    let mut insert = QueryBuilder::<$db>::new(
                        "INSERT INTO deliveries (id, request_id, kind, priority, channel, address, \
                         user_id, alert_id, template_id, template_version, state, attempts, \
                         last_error, merged_into, message, created_at, updated_at) ",
                    );
                    insert.push_values(chunk, |mut row, d| {
                        row.push_bind(d.id)
                            .push_bind(d.request_id.as_str())
                            .push_bind(d.kind.as_str())
                            .push_bind(d.priority)
                            .push_bind(d.channel.as_str())
                            .push_bind(d.address.as_str())
                            .push_bind(d.user_id)
                            .push_bind(d.alert_id)
                            .push_bind(d.template_id)
                            .push_bind(d.template_version)
                            .push_bind(d.state.as_str())
                            .push_bind(d.attempts)
                            .push_bind(d.last_error.as_str())
                            .push_bind(d.merged_into)
                            .push_bind(d.message.as_slice())
                            .push_bind(d.created_at)
                            .push_bind(d.updated_at);
                    });
                    insert
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| sql::conflict(e, "a delivery with this request id"))?;
                }
                // A digest's members change together: consecutive updates with the same
                // values go as one statement over their ids, in order.
                for run in log.updates.chunk_by(|a, b| {
                    (&a.state, a.attempts, &a.last_error, a.merged_into, a.at)
                        == (&b.state, b.attempts, &b.last_error, b.merged_into, b.at)
                }) {
                    let first = &run[0];
                    for ids in run.chunks(INSERT_CHUNK) {
                        let mut update = QueryBuilder::<$db>::new("UPDATE deliveries SET state = ");
                        update
                            .push_bind(first.state.as_str())
                            .push(", attempts = ")
                            .push_bind(first.attempts)
                            .push(", last_error = ")
                            .push_bind(first.last_error.as_str())
                            .push(", merged_into = COALESCE(")
                            .push_bind(first.merged_into)
                            .push(", merged_into), updated_at = ")
                            .push_bind(first.at)
                            .push(" WHERE id IN (");
                        let mut list = update.separated(", ");
                        for u in ids {
                            list.push_bind(u.id);
                        }
                        update.push(")");
                        update.build().execute(&mut *tx).await?;
                    }
                }
                for chunk in log.attempts.chunks(1000) {
                    let mut insert = QueryBuilder::<$db>::new(
                        "INSERT INTO delivery_attempts (delivery_id, attempt, at, outcome, \
                         http_status, error) ",
                    );
                    insert.push_values(chunk, |mut row, a| {
                        row.push_bind(a.delivery_id)
                            .push_bind(a.attempt)
                            .push_bind(a.at)
                            .push_bind(a.outcome.as_str())
                            .push_bind(a.http_status)
                            .push_bind(a.error.as_str());
                    });
                    insert.push(" ON CONFLICT (delivery_id, attempt) DO NOTHING");
                    insert.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_delivery(
                &self,
                id: Uuid,
            ) -> StoreResult<Option<crate::store::StoredDelivery>> {
                sqlx::query("SELECT * FROM deliveries WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .as_ref()
                    .map(delivery_of)
                    .transpose()
            }

            async fn list_deliveries(
                &self,
                query: &crate::store::DeliveryQuery,
            ) -> StoreResult<Page<crate::store::StoredDelivery>> {
                let filters = |qb: &mut QueryBuilder<'_, $db>| {
                    qb.push(" WHERE 1 = 1");
                    if let Some(alert) = query.alert_id {
                        qb.push(" AND alert_id = ").push_bind(alert);
                    }
                    if let Some(request) = &query.request_id {
                        qb.push(" AND request_id = ").push_bind(request.clone());
                    }
                    if let Some(state) = &query.state {
                        qb.push(" AND state = ").push_bind(state.clone());
                    }
                    if let Some(channel) = &query.channel {
                        qb.push(" AND channel = ").push_bind(channel.clone());
                    }
                };
                let (total, rows) =
                    newest_page(&self.pool, "deliveries", filters, query.limit, query.offset)
                        .await?;
                let items = rows
                    .iter()
                    .map(delivery_of)
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Page { items, total })
            }

            async fn delivery_attempts(
                &self,
                id: Uuid,
            ) -> StoreResult<Vec<crate::store::DeliveryAttempt>> {
                sqlx::query(
                    "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
                )
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| {
                    Ok(crate::store::DeliveryAttempt {
                        delivery_id: row.try_get("delivery_id")?,
                        attempt: row.try_get("attempt")?,
                        at: row.try_get("at")?,
                        outcome: row.try_get("outcome")?,
                        http_status: row.try_get("http_status")?,
                        error: row.try_get("error")?,
                    })
                })
                .collect()
            }

            async fn unfinished_deliveries(&self) -> StoreResult<Vec<crate::store::StoredDelivery>> {
                sqlx::query(
                    "SELECT * FROM deliveries WHERE state IN ('pending', 'retrying') \
                     AND merged_into IS NULL ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(delivery_of)
                .collect()
            }
        }
    };
}

pub(super) use impl_sql_store;
