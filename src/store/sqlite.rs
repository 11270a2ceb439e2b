//! The embedded default: SQLite in WAL mode with full sync, so a commit that returned is
//! on disk (`kill -9` after an answer loses nothing).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use super::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteStore {
    changes: super::Changes,
    pool: SqlitePool,
}

impl SqliteStore {
    /// Case-insensitive LIKE: SQLite's LIKE already ignores ASCII case.
    const LIKE_CI: &'static str = "LIKE";

    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // SQLite's default 2 MiB page cache makes a storm's index updates re-read
            // pages through the kernel; 64 MiB per connection keeps the hot indexes in.
            .pragma("cache_size", "-65536")
            // Checkpoint in larger steps (16 MiB of WAL rather than 4): a page a storm
            // rewrites many times is copied into the database once per checkpoint.
            .pragma("wal_autocheckpoint", "4096");
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            changes: super::Changes::default(),
            pool,
        })
    }

    /// Matched through `json_each` rather than a JSON path, which cannot quote every
    /// label name.
    fn push_label_equals(qb: &mut sqlx::QueryBuilder<'_, Sqlite>, name: &str, value: &str) {
        qb.push("EXISTS (SELECT 1 FROM json_each(alerts.labels) WHERE json_each.key = ")
            .push_bind(name.to_string())
            .push(" AND json_each.value = ")
            .push_bind(value.to_string())
            .push(")");
    }
}

super::sql::impl_sql_store!(SqliteStore, Sqlite);
