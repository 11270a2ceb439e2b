//! Named definitions, one table per [`Kind`] (maintenance windows, inhibition rules,
//! schedules, teams, policies and the reference data), each row an opaque body the
//! gRPC edge owns; and the settings documents, by name. Every definition write bumps
//! its kind in the store's change signal.
//!
//! [`Kind`]: crate::store::Kind

/// Implements [`DefinitionStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`DefinitionStore`]: crate::store::DefinitionStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_definition_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;
            use uuid::Uuid;

            use crate::store::sql;
            use crate::store::{DefinitionStore, StoreResult};

            fn definition_of(row: &DbRow) -> StoreResult<crate::store::StoredDefinition> {
                Ok(crate::store::StoredDefinition {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    body: row.try_get("body")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            #[async_trait]
            impl DefinitionStore for $store {
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

                async fn delete_definition(
                    &self,
                    kind: crate::store::Kind,
                    id: Uuid,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(&format!("DELETE FROM {} WHERE id = $1", kind.table()))
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                    self.changes.bump(kind);
                    Ok(done.rows_affected() > 0)
                }

                async fn get_document(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
                    Ok(
                        sqlx::query_scalar("SELECT body FROM documents WHERE name = $1")
                            .bind(name)
                            .fetch_optional(&self.pool)
                            .await?,
                    )
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
            }
        };
    };
}

pub(in crate::store) use impl_definition_store;
