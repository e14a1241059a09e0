//! A migrated database of its own for tests that drive the store without an app.

use provisiond::worker::Processor;
use sqlx::PgPool;

use super::*;

/// A database of its own (migrated), dropped by `remove`.
pub struct Db {
    pub pool: PgPool,
    name: String,
}

impl Db {
    pub async fn new() -> Db {
        let iso = Isolation::new();
        let config = test_config(&iso, &amqp_url());
        let pool = provisiond::store::connect(&config.database)
            .await
            .expect("test database created");
        provisiond::store::migrate(&pool)
            .await
            .expect("migrations apply");
        let (_, name) = iso.database_url.rsplit_once('/').expect("url has a path");
        Db {
            pool,
            name: name.to_owned(),
        }
    }

    /// A processor on this database whose only target is the built-in `directory`.
    pub fn processor(&self) -> Processor {
        Processor::new(self.pool.clone(), "directory".into())
    }

    pub async fn remove(self) {
        self.pool.close().await;
        let admin = PgPool::connect(&admin_database_url()).await.unwrap();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        sqlx::query(&sql).execute(&admin).await.unwrap();
        admin.close().await;
    }
}
