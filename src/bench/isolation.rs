//! The bench's own database and queue prefix, created at the start and removed at the end,
//! so a run never touches the data or queues of a real deployment on the same servers.

use anyhow::Context as _;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use std::str::FromStr;

use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Postgres};

use crate::config::Config;
use crate::queue::Topology;

#[derive(Debug, Clone)]
pub struct Isolation {
    /// Random id shared by the database, the prefix and the bench's employee ids.
    pub id: String,
    pub database: String,
    pub database_url: String,
    pub prefix: String,
    pub topology: Topology,
    /// The raw publish ceiling's temporary queue.
    pub ceiling_queue: String,
    pub amqp_url: String,
}

impl Isolation {
    pub fn new(config: &Config) -> anyhow::Result<Isolation> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let database = format!("provisiond_bench_{id}");
        let database_url = with_database(config.database.url.expose(), &database)?;
        let prefix = format!("bench_{id}");
        let topology = Topology::new(&prefix, config.rabbitmq.delivery_limit)
            .with_retry_delays(&config.worker.retry_delays);
        Ok(Isolation {
            ceiling_queue: format!("{prefix}.ceiling"),
            id,
            database,
            database_url,
            prefix,
            topology,
            // The bench's own connections (ceilings, clean-up) go to the first node.
            amqp_url: config.rabbitmq.broker_urls()[0].expose().to_owned(),
        })
    }

    /// Create the database (the configured role needs `CREATEDB`).
    pub async fn create_database(&self) -> anyhow::Result<()> {
        Postgres::create_database(&self.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot create the bench database `{}` (does the database.url role have CREATEDB?)",
                    self.database
                )
            })
    }

    /// Drop the database and delete every queue and exchange of the prefix. Best effort:
    /// failures are reported, not fatal.
    pub async fn cleanup(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(error) = self.drop_database().await {
            problems.push(format!("cannot drop database {}: {error}", self.database));
        }
        if let Err(error) = self.delete_topology().await {
            problems.push(format!("cannot delete queues {}.*: {error}", self.prefix));
        }
        problems
    }

    /// `DROP DATABASE … WITH (FORCE)` from the server's maintenance database. It waits for
    /// a checkpoint, so it may take seconds after a heavy run: not worth a warning.
    async fn drop_database(&self) -> anyhow::Result<()> {
        let url = with_database(&self.database_url, "postgres")?;
        let options = PgConnectOptions::from_str(&url)?.disable_statement_logging();
        let mut connection = PgConnection::connect_with(&options).await?;
        let name = self.database.replace('"', "\"\"");
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        sqlx::query(&sql).execute(&mut connection).await?;
        let _ = connection.close().await;
        Ok(())
    }

    async fn delete_topology(&self) -> anyhow::Result<()> {
        let connection = crate::queue::connect(&self.amqp_url, "provisiond-bench-cleanup").await?;
        let mut queues = self.topology.queues();
        queues.push(self.ceiling_queue.clone());
        let mut failed = Vec::new();
        // Deleting what does not exist is fine for RabbitMQ; any error closes the channel,
        // so each deletion gets a fresh one and the others still happen.
        for name in &queues {
            let channel = connection.create_channel().await?;
            let options = QueueDeleteOptions::default();
            if let Err(error) = channel.queue_delete(name.as_str().into(), options).await {
                failed.push(format!("queue {name}: {error}"));
            }
            let _ = channel.close(200, "bye".into()).await;
        }
        for name in self.topology.exchanges() {
            let channel = connection.create_channel().await?;
            let options = ExchangeDeleteOptions::default();
            if let Err(error) = channel.exchange_delete(name.as_str().into(), options).await {
                failed.push(format!("exchange {name}: {error}"));
            }
            let _ = channel.close(200, "bye".into()).await;
        }
        let _ = connection.close(200, "bye".into()).await;
        if failed.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!(failed.join("; ")))
        }
    }
}

/// The same server and credentials with another database name (query string kept).
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base
        .split_once("://")
        .context("database.url has no scheme")?;
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        let url = "postgres://u:p@127.0.0.1:5432/provisiond";
        assert_eq!(
            with_database(url, "b").unwrap(),
            "postgres://u:p@127.0.0.1:5432/b"
        );
        let url = "postgresql://u@db/x?sslmode=disable";
        assert_eq!(
            with_database(url, "b").unwrap(),
            "postgresql://u@db/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://db:5432", "b").unwrap(),
            "postgres://db:5432/b"
        );
    }
}
