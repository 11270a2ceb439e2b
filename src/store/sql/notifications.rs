//! Notifications: the rows of `notification_templates` (every version kept, deletion a
//! mark), of `deliveries` and of `delivery_attempts`.

/// Implements [`NotificationStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`NotificationStore`]: crate::store::NotificationStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_notification_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use crate::store::sql::{self, INSERT_CHUNK};
            use crate::store::{NotificationStore, Page, StoreResult};

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

            #[async_trait]
            impl NotificationStore for $store {
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
    };
}

pub(in crate::store) use impl_notification_store;
