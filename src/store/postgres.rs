//! Production storage on PostgreSQL: labels as JSONB with a GIN index.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

use super::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub struct PostgresStore {
    changes: super::Changes,
    pool: PgPool,
}

impl PostgresStore {
    const LIKE_CI: &'static str = "ILIKE";

    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PostgresStore {
            changes: super::Changes::default(),
            pool,
        })
    }

    fn push_label_equals(qb: &mut sqlx::QueryBuilder<'_, Postgres>, name: &str, value: &str) {
        let wanted = std::collections::BTreeMap::from([(name.to_string(), value.to_string())]);
        qb.push("labels @> ").push_bind(sqlx::types::Json(wanted));
    }
}

super::sql::impl_sql_store!(PostgresStore, Postgres);
