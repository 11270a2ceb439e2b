//! The service catalog: the rows of `services` and of `integration_keys`, the keys
//! senders present. A service's keys are deleted with it.

/// Implements [`CatalogStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`CatalogStore`]: crate::store::CatalogStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_catalog_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;
            use uuid::Uuid;

            use crate::domain::catalog::{IntegrationKey, Service};
            use crate::store::sql;
            use crate::store::{CatalogStore, Page, StoreResult};

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

            #[async_trait]
            impl CatalogStore for $store {
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
            }
        };
    };
}

pub(in crate::store) use impl_catalog_store;
