//! Clients' SQL.

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{Postgres, database};
use crate::oauth::client::{AuthMethod, ClientMetadata, GrantType};
use crate::store::Result;
use crate::store::clients::{ClientAuth, ClientKeys, ClientRow, MetadataColumns, NewClient};
use tessera_resource::scope::ScopeSet;

/// The columns of a [`ClientRow`], in order.
macro_rules! row_select {
    () => {
        "SELECT id, metadata, created_by, created_at, can_introspect FROM clients"
    };
}

fn row(r: &PgRow) -> sqlx::Result<ClientRow> {
    Ok(ClientRow {
        id: r.try_get(0)?,
        metadata: r.try_get(1)?,
        created_by: r.try_get(2)?,
        created_at: r.try_get(3)?,
        can_introspect: r.try_get(4)?,
    })
}

impl Postgres {
    pub async fn insert_client(&self, c: &NewClient<'_>) -> Result<()> {
        let m = MetadataColumns::of(c.metadata)?;
        sqlx::query(
            "INSERT INTO clients (id, secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, \
             metadata, created_by, created_at, can_introspect, registration_token_hash) \
             VALUES ($1, $2, 0, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(c.id)
        .bind(c.secret_hash)
        .bind(m.auth_method)
        .bind(m.grant_types)
        .bind(m.scope)
        .bind(m.audience)
        .bind(m.json)
        .bind(c.created_by)
        .bind(c.created_at)
        .bind(c.can_introspect)
        .bind(c.registration_token_hash)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map(|_| ())
        .map_err(database)
    }

    pub async fn client_auth(&self, id: &str) -> Result<Option<ClientAuth>> {
        let row = sqlx::query(
            "SELECT secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, can_introspect, \
             CASE WHEN auth_method = 'private_key_jwt' THEN metadata END FROM clients WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        let Some(r) = row else { return Ok(None) };
        let text = |i: usize| -> Result<String> { r.try_get::<String, _>(i).map_err(database) };
        Ok(Some(ClientAuth {
            id: id.to_owned(),
            secret_hash: r.try_get(0).map_err(database)?,
            secret_expires_at: r.try_get(1).map_err(database)?,
            auth_method: AuthMethod::parse(&text(2)?).unwrap_or(AuthMethod::ClientSecretBasic),
            grant_types: text(3)?.split(' ').filter_map(GrantType::parse).collect(),
            allowed: ScopeSet::parse(&text(4)?),
            audience: crate::store::split_list(&text(5)?),
            can_introspect: r.try_get(6).map_err(database)?,
            keys: ClientKeys::of_metadata(
                r.try_get::<Option<String>, _>(7)
                    .map_err(database)?
                    .as_deref(),
            ),
        }))
    }

    pub async fn find_client(&self, id: &str) -> Result<Option<ClientRow>> {
        let r = sqlx::query(concat!(row_select!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        r.as_ref().map(row).transpose().map_err(database)
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRow>> {
        let rows = sqlx::query(concat!(row_select!(), " ORDER BY created_at, id"))
            .fetch_all(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        rows.iter()
            .map(row)
            .collect::<sqlx::Result<_>>()
            .map_err(database)
    }

    pub async fn remove_client(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *self.pool.conn().await?)
            .await
            .map_err(database)?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn upsert_document_client(
        &self,
        id: &str,
        m: &ClientMetadata,
        now: i64,
    ) -> Result<()> {
        let m = MetadataColumns::of(m)?;
        sqlx::query(
            "INSERT INTO clients (id, secret_hash, auth_method, grant_types, scope, audience, metadata, \
             created_by, created_at) VALUES ($1, NULL, 'none', $2, $3, '', $4, 'metadata_document', $5) \
             ON CONFLICT (id) DO UPDATE SET grant_types = excluded.grant_types, scope = excluded.scope, \
             metadata = excluded.metadata WHERE clients.created_by = 'metadata_document'",
        )
        .bind(id)
        .bind(m.grant_types)
        .bind(m.scope)
        .bind(m.json)
        .bind(now)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map(|_| ())
        .map_err(database)
    }

    pub async fn registration_token_hash(&self, id: &str) -> Result<Option<Option<Vec<u8>>>> {
        sqlx::query_scalar("SELECT registration_token_hash FROM clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.pool.conn().await?)
            .await
            .map_err(database)
    }

    pub async fn update_registration(
        &self,
        id: &str,
        m: &ClientMetadata,
        old_token: &[u8],
        new_token: &[u8],
    ) -> Result<bool> {
        let m = MetadataColumns::of(m)?;
        let done = sqlx::query(
            "UPDATE clients SET auth_method = $1, grant_types = $2, scope = $3, audience = $4, metadata = $5, \
             registration_token_hash = $6 WHERE id = $7 AND registration_token_hash = $8",
        )
        .bind(m.auth_method)
        .bind(m.grant_types)
        .bind(m.scope)
        .bind(m.audience)
        .bind(m.json)
        .bind(new_token)
        .bind(id)
        .bind(old_token)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn touch_client(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE clients SET last_used_at = $1 WHERE id = $2 \
             AND (last_used_at IS NULL OR last_used_at < $1 - 3600)",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map(|_| ())
        .map_err(database)
    }

    pub async fn prune_unused_clients(&self, before: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM clients WHERE created_by = 'registration' AND last_used_at IS NULL \
             AND created_at < $1 AND ' ' || grant_types || ' ' NOT LIKE '% client_credentials %'",
        )
        .bind(before)
        .execute(&mut *self.pool.conn().await?)
        .await
        .map_err(database)?;
        Ok(done.rows_affected())
    }
}
