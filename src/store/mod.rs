//! PostgreSQL access: pool, migrations, and the queries behind each table.

pub mod actions;
pub mod audit_log;
pub mod dead_letters;
pub mod employees;
pub mod events;
pub mod schedule;

use std::str::FromStr;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::config::DatabaseConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Create the database if it is missing and the role may, then open a pool.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let url = config.url.expose();
    match Postgres::database_exists(url).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!("database does not exist; creating it");
            Postgres::create_database(url).await?;
        }
        // Not allowed to look (no access to the maintenance database): just try to connect.
        Err(error) => tracing::debug!(%error, "cannot check whether the database exists"),
    }
    Ok(pool(config)?)
}

/// A lazily connecting pool: the process starts (and reports unready) while the database is down.
pub fn pool(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(config.url.expose())?;
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_lazy_with(options);
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when a trivial query succeeds (readiness).
pub async fn ping(pool: &PgPool) -> bool {
    sqlx::query("SELECT 1").execute(pool).await.is_ok()
}
