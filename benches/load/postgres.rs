//! The PostgreSQL suite's database (`--postgres URL`): a fresh database of its
//! own on that server, created before the suite prepares and dropped after.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

pub struct Database {
    /// The server's own URL, to drop from.
    server: String,
    name: String,
    /// The new database's URL, for `tessera --database`.
    pub url: String,
}

impl Database {
    pub async fn create(server: &str) -> Result<Self, String> {
        let name = format!("tessera_bench_{}", std::process::id());
        let mut url = url::Url::parse(server).map_err(|e| format!("--postgres {server}: {e}"))?;
        run(
            server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await?;
        run(server, &format!("CREATE DATABASE {name}")).await?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    pub async fn drop(self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = run(&self.server, &statement).await {
            eprintln!("warning: {e}");
        }
    }
}

async fn run(server: &str, statement: &str) -> Result<(), String> {
    let connect = PgConnection::connect(server);
    let mut conn = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| format!("PostgreSQL at {server} did not answer within 10 s"))?
        .map_err(|e| format!("PostgreSQL at {server}: {e}"))?;
    sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("{statement}: {e}"))?;
    let _ = conn.close().await;
    Ok(())
}
