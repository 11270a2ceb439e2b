//! Routing: the rows of `routing_rules`, of `routing_audit_logs` (the decisions) and of
//! `routed_alerts` (which open alerts routing has acted on), and the reads of `alerts`
//! routing and the hold watchers make: alerts by id, which are unchanged since they
//! opened, and which suppressed alerts a holder holds.

/// Implements [`RoutingStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`RoutingStore`]: crate::store::RoutingStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_routing_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use crate::domain::alert::Alert;
            use crate::store::sql::{self, ALERT_COLUMNS, INSERT_CHUNK};
            use crate::store::{Page, RoutingStore, StoreResult};

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

            #[async_trait]
            impl RoutingStore for $store {
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
            }
        };
    };
}

pub(in crate::store) use impl_routing_store;
