//! Reaching PostgreSQL: one clear message per failure, naming where provisiond tried to
//! connect (host, port, database, user) and why it could not, never the password.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;

use crate::config::DatabaseConfig;

/// `cannot connect to PostgreSQL at HOST:PORT (database D, user U): REASON`. It has no
/// `source()`: the reason is already in the message, so an error chain prints it once.
#[derive(Debug)]
pub struct ConnectError {
    place: String,
    reason: String,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot connect to PostgreSQL {}: {}",
            self.place, self.reason
        )
    }
}

impl std::error::Error for ConnectError {}

impl ConnectError {
    /// `error`, met while connecting with `options`, as one message.
    pub fn new(options: &PgConnectOptions, error: &sqlx::Error) -> Self {
        ConnectError {
            place: place(options),
            reason: reason(options, error),
        }
    }

    fn invalid_url(error: &sqlx::Error) -> Self {
        ConnectError {
            place: "(database.url)".into(),
            reason: format!("invalid database.url: {}", error),
        }
    }
}

/// `at 127.0.0.1:5432 (database provisiond, user provisiond)`; the password never.
fn place(options: &PgConnectOptions) -> String {
    let at = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    };
    let database = options.get_database().unwrap_or(options.get_username());
    format!(
        "at {at} (database {database}, user {})",
        options.get_username()
    )
}

/// Why the connection failed, in words an operator acts on.
fn reason(options: &PgConnectOptions, error: &sqlx::Error) -> String {
    let user = options.get_username();
    match error {
        sqlx::Error::Io(io) => io_reason(io),
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        sqlx::Error::PoolTimedOut => "no connection within database.acquire_timeout".into(),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01") => format!("password authentication failed for user {user}"),
            // No such role, or pg_hba.conf has no entry for it: PostgreSQL's words say which.
            Some("28000") => db.message().to_owned(),
            Some("3D000") => {
                let database = options.get_database().unwrap_or(user);
                format!("database {database} does not exist")
            }
            Some("53300") => "too many connections".into(),
            Some("57P03") => "the server is starting up or shutting down".into(),
            _ => db.message().to_owned(),
        },
        other => other.to_string(),
    }
}

fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut => "timed out".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::NotFound => "no such host or socket".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => error.to_string(),
    }
}

/// The connect options of `config.database.url`.
pub fn options(config: &DatabaseConfig) -> Result<PgConnectOptions, ConnectError> {
    PgConnectOptions::from_str(config.url.expose()).map_err(|e| ConnectError::invalid_url(&e))
}

/// Open and close one connection, within `database.acquire_timeout`: a command learns at
/// once (and in words) that the database cannot be reached, rather than after a pool
/// timeout that has forgotten why.
pub async fn check(config: &DatabaseConfig) -> Result<(), ConnectError> {
    let options = options(config)?;
    let timeout = config.acquire_timeout.max(Duration::from_secs(1));
    let attempt = tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await;
    match attempt {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(error)) => Err(ConnectError::new(&options, &error)),
        Err(_) => Err(ConnectError {
            place: place(&options),
            reason: format!("no answer within {timeout:?} (database.acquire_timeout)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> DatabaseConfig {
        DatabaseConfig {
            url: crate::domain::Secret::new(url),
            ..DatabaseConfig::default()
        }
    }

    #[tokio::test]
    async fn a_refused_connection_names_host_port_database_and_user_but_not_the_password() {
        // Port 9 (discard) is closed on the test machines: nothing listens there.
        let url = "postgres://alice:hunter2-secret@127.0.0.1:9/payroll";
        let error = check(&config(url)).await.unwrap_err().to_string();
        assert_eq!(
            error,
            "cannot connect to PostgreSQL at 127.0.0.1:9 (database payroll, user alice): \
             connection refused"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn an_invalid_url_says_so_without_repeating_itself() {
        let error = options(&config("postgres://a:b@host:notaport/db"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid database.url"), "{error}");
        assert!(!error.contains(":b@"), "{error}");
    }
}
