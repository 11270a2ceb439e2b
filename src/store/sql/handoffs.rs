//! Schedule handoffs: the rows of `handoffs` (one per rotation and instant) and of
//! `handoff_events`, what was sent (or not) about each.

/// Implements [`HandoffStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`HandoffStore`]: crate::store::HandoffStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_handoff_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;
            use uuid::Uuid;

            use crate::store::{HandoffStore, StoreResult};

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

            #[async_trait]
            impl HandoffStore for $store {
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
            }
        };
    };
}

pub(in crate::store) use impl_handoff_store;
