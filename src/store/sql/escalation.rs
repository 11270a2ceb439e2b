//! Escalation: the rows of `escalation_chains` (one per alert, policy and generation)
//! and of `escalation_pages` (one per page key, so a page is sent at most once).

/// Implements [`EscalationStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`EscalationStore`]: crate::store::EscalationStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_escalation_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::Row;
            use uuid::Uuid;

            use crate::store::{EscalationStore, StoreError, StoreResult};

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

            #[async_trait]
            impl EscalationStore for $store {
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
            }
        };
    };
}

pub(in crate::store) use impl_escalation_store;
