//! Consents' SQL.

use sqlx::Row;

use super::{Postgres, database};
use crate::store::Result;
use crate::store::consents::{AtResource, Consent};

impl Postgres {
    pub async fn consent(&self, user_id: &str, client_id: &str) -> Result<Vec<AtResource>> {
        sqlx::query_as("SELECT resource, scope FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_all(&mut *self.pool.conn().await?)
            .await
            .map_err(database)
    }

    pub async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        rows: Vec<AtResource>,
        now: i64,
    ) -> Result<()> {
        self.transaction(async |conn| {
            for (resource, scope) in &rows {
                sqlx::query(
                    "INSERT INTO consents (user_id, client_id, resource, scope, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, client_id, resource) \
                     DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
                )
                .bind(user_id)
                .bind(client_id)
                .bind(resource)
                .bind(scope)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        })
        .await
    }

    pub async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool> {
        self.transaction(async |conn| {
            let gone = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM refresh_families WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *conn)
                .await?;
            Ok(gone.rows_affected() > 0)
        })
        .await
    }

    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<Consent>> {
        let rows = sqlx::query(
            "SELECT client_id, resource, scope, updated_at FROM consents WHERE user_id = $1 \
             ORDER BY updated_at DESC, client_id, resource",
        )
        .bind(user_id)
        .fetch_all(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        rows.iter()
            .map(|r| {
                Ok(Consent {
                    client_id: r.try_get(0)?,
                    resource: r.try_get(1)?,
                    scope: r.try_get(2)?,
                    updated_at: r.try_get(3)?,
                })
            })
            .collect::<sqlx::Result<_>>()
            .map_err(database)
    }
}
