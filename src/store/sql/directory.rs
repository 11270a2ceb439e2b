//! The directory: the rows of `users`, of `api_tokens` and of `contact_methods`.

/// Implements [`DirectoryStore`] for a backend struct with a `pool` field of type
/// `sqlx::Pool<$db>`. Only [`impl_sql_store!`] expands it, beside the items the
/// aggregates share (`DbRow`, `alert_of`, `newest_page`).
///
/// [`DirectoryStore`]: crate::store::DirectoryStore
/// [`impl_sql_store!`]: super::impl_sql_store
macro_rules! impl_directory_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;
            use uuid::Uuid;

            use crate::domain::directory::{ApiToken, User};
            use crate::store::sql::{self, quiet_hours_of};
            use crate::store::{DirectoryStore, Page, StoreError, StoreResult};

            fn user_of(row: &DbRow) -> StoreResult<User> {
                Ok(User {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    email: row.try_get("email")?,
                    timezone: row.try_get("timezone")?,
                    quiet_hours: quiet_hours_of(
                        row.try_get("quiet_start")?,
                        row.try_get("quiet_end")?,
                    )?,
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

            fn contact_method_of(
                row: &DbRow,
            ) -> StoreResult<crate::domain::directory::ContactMethod> {
                let kind: String = row.try_get("kind")?;
                Ok(crate::domain::directory::ContactMethod {
                    id: row.try_get("id")?,
                    user_id: row.try_get("user_id")?,
                    kind: crate::domain::directory::ContactKind::parse(&kind).ok_or_else(|| {
                        StoreError::Corrupt(format!("contact method kind {kind:?}"))
                    })?,
                    address: row.try_get("address")?,
                    verified: row.try_get("verified")?,
                    code_hash: row.try_get("code_hash")?,
                    code_sent: row.try_get("code_sent")?,
                    code_detail: row.try_get("code_detail")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            #[async_trait]
            impl DirectoryStore for $store {
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
                    let items =
                        sqlx::query("SELECT * FROM users ORDER BY name, id LIMIT $1 OFFSET $2")
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

                async fn list_api_tokens(
                    &self,
                    user_id: Option<Uuid>,
                ) -> StoreResult<Vec<ApiToken>> {
                    let rows = match user_id {
                        Some(user_id) => sqlx::query(
                            "SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id",
                        )
                        .bind(user_id)
                        .fetch_all(&self.pool)
                        .await?,
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
            }
        };
    };
}

pub(in crate::store) use impl_directory_store;
