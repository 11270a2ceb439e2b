//! Alerts: the rows of `alerts` and of `alert_events` (their timelines). The engine's
//! commits write them, in decision order and in one transaction; the reads are what the
//! engine rebuilds its shards from, what the service timeouts act on and what the edges
//! list.

/// Implements [`AlertStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`AlertStore`]: crate::store::AlertStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_alert_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use crate::domain::alert::{Alert, TimelineEntry, TimelineKind};
            use crate::domain::fingerprint::AlertKey;
            use crate::domain::lifecycle::{AlertState, AlertWrite, digest};
            use crate::domain::timeline::TimelineDraft;
            use crate::store::sql::{self, ALERT_COLUMNS, INSERT_CHUNK, Labels};
            use crate::store::{AlertQuery, AlertStore, Page, StoreResult};

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

            #[async_trait]
            impl AlertStore for $store {
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

                async fn max_alert_number(&self) -> StoreResult<i64> {
                    let max: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM alerts")
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(max.unwrap_or(0))
                }
            }
        };
    };
}

pub(in crate::store) use impl_alert_store;
