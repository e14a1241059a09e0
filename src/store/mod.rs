//! PostgreSQL access: pool, migrations, and the queries behind each table.

pub mod actions;
pub mod audit_log;
mod connection;
pub mod contracts;
pub mod dead_letters;
pub mod directories;
pub mod employees;
pub mod events;
pub mod grants;
pub mod handshakes;
pub mod history;
pub mod holds;
pub mod jobs;
pub mod lookup;
pub mod reconcile;
pub mod schedule;

/// Who did something an operator can do: a named admin token or a CLI user, and whom a
/// shared caller said it acted for (kept apart: only `name` is vouched for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub on_behalf_of: Option<String>,
}

impl Actor {
    pub fn named(name: impl Into<String>) -> Self {
        Actor {
            name: name.into(),
            on_behalf_of: None,
        }
    }

    /// `detail` with `on_behalf_of` added when there is one.
    pub fn annotate(&self, mut detail: serde_json::Value) -> serde_json::Value {
        if let (Some(on_behalf_of), Some(map)) = (&self.on_behalf_of, detail.as_object_mut()) {
            map.insert("on_behalf_of".into(), on_behalf_of.clone().into());
        }
        detail
    }
}

/// Several rows in one statement: the rows travel as one JSON array and PostgreSQL reads
/// them back with `jsonb_to_recordset`.
pub(crate) mod rows {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    /// Times as RFC 3339 with microseconds, cut (not rounded) the way sqlx's binary
    /// encoding cuts them, so a time reads back the same whichever way it was written.
    pub fn micros<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn micros_opt<S: Serializer>(
        time: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => micros(time, s),
            None => s.serialize_none(),
        }
    }
}

use std::str::FromStr;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::config::DatabaseConfig;

pub use connection::{check, ConnectError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// `CREATE DATABASE` lost a race with another process: `duplicate_database`, or the
/// unique violation on `pg_database` that concurrent creations get instead.
fn created_meanwhile(error: &sqlx::Error) -> bool {
    let Some(db) = error.as_database_error() else {
        return false;
    };
    matches!(db.code().as_deref(), Some("42P04" | "23505"))
}

/// Create the database if it is missing and the role may, check that it answers (an
/// unreachable database is one clear [`ConnectError`]), then open a pool.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let url = config.url.expose();
    let options = connection::options(config)?;
    match Postgres::database_exists(url).await {
        Ok(true) => {}
        Ok(false) => {
            let name = options.get_database().unwrap_or_default().to_owned();
            tracing::info!(database = %name, "database does not exist; creating it");
            match Postgres::create_database(url).await {
                Ok(()) => {}
                // Another process starting at the same moment created it first.
                Err(error) if created_meanwhile(&error) => {
                    tracing::info!(database = %name, "database created by another process");
                }
                Err(error) => {
                    let error = ConnectError::new(&options, &error);
                    anyhow::bail!("cannot create database {name}: {error}");
                }
            }
        }
        // Not allowed to look (no access to the maintenance database), or the server
        // does not answer: the check below says which.
        Err(error) => tracing::debug!(%error, "cannot check whether the database exists"),
    }
    check(config).await?;
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
