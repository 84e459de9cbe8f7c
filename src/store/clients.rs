//! Persisted clients.
//!
//! The token endpoint reads one narrow row ([`ClientAuth`]) by primary key;
//! the full registered metadata (a JSON column) is read only to echo or show it.

use std::sync::Arc;

use anyhow::Context;
use rusqlite::OptionalExtension;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::Store;
use crate::oauth::client::{AuthMethod, ClientMetadata, GrantType};
use crate::oauth::scope::{ScopeError, ScopeSet};

/// What the token endpoint needs to authenticate and authorize a client.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub id: String,
    pub secret_hash: Option<Vec<u8>>,
    pub secret_expires_at: i64,
    pub auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    /// The registered scope, parsed once when the row is read (the row is
    /// cached and serves every token request of the client); an error if the
    /// stored value is not a valid scope, which registration prevents.
    pub allowed: Result<ScopeSet, ScopeError>,
    pub audience: Vec<String>,
    /// A resource server allowed to call the introspection endpoint.
    pub can_introspect: bool,
}

impl ClientAuth {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// A client as shown to administrators and echoed by registration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredClient {
    pub client_id: String,
    pub client_id_issued_at: i64,
    pub created_by: String,
    pub can_introspect: bool,
    #[serde(flatten)]
    pub metadata: ClientMetadata,
}

pub struct NewClient<'a> {
    pub id: &'a str,
    pub secret_hash: Option<&'a [u8]>,
    pub metadata: &'a ClientMetadata,
    pub created_by: &'a str,
    pub created_at: i64,
    pub can_introspect: bool,
    pub registration_token_hash: Option<&'a [u8]>,
}

fn join<T>(items: &[T], f: impl Fn(&T) -> &str) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(" ")
}

impl Store {
    /// Insert a client; returns once the row is committed to disk.
    pub async fn insert_client(&self, c: &NewClient<'_>) -> anyhow::Result<()> {
        let m = c.metadata;
        sqlx::query(
            "INSERT INTO clients (id, secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, \
             metadata, created_by, created_at, can_introspect, registration_token_hash) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id)
        .bind(c.secret_hash)
        .bind(m.token_endpoint_auth_method.as_str())
        .bind(join(&m.grant_types, |g| g.as_str()))
        .bind(m.scope.as_deref().unwrap_or(""))
        .bind(m.audience.join(" "))
        .bind(serde_json::to_string(m)?)
        .bind(c.created_by)
        .bind(c.created_at)
        .bind(c.can_introspect)
        .bind(c.registration_token_hash)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The authentication row of a client, from the short-lived cache when
    /// fresh (see `client_cache`), else from the database.
    pub async fn client_auth_cached(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<Arc<ClientAuth>>, sqlx::Error> {
        if let Some(hit) = self.clients.get(id, now) {
            return Ok(Some(hit));
        }
        let Some(row) = self.client_auth(id).await? else {
            return Ok(None);
        };
        let row = Arc::new(row);
        self.clients.put(row.clone(), now);
        Ok(Some(row))
    }

    /// The authentication row of a client, by id (one indexed lookup).
    pub async fn client_auth(&self, id: &str) -> Result<Option<ClientAuth>, sqlx::Error> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, \
                 can_introspect FROM clients WHERE id = ?",
            )?
            .query_row([id], |r| {
                let allowed = ScopeSet::parse(r.get_ref(4)?.as_str()?);
                Ok(ClientAuth {
                    id: id.to_owned(),
                    secret_hash: r.get(0)?,
                    secret_expires_at: r.get(1)?,
                    auth_method: AuthMethod::parse(r.get_ref(2)?.as_str()?)
                        .unwrap_or(AuthMethod::ClientSecretBasic),
                    grant_types: r
                        .get_ref(3)?
                        .as_str()?
                        .split(' ')
                        .filter_map(GrantType::parse)
                        .collect(),
                    allowed,
                    audience: r
                        .get_ref(5)?
                        .as_str()?
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    can_introspect: r.get(6)?,
                })
            })
            .optional()
        })
    }

    pub async fn find_client(&self, id: &str) -> anyhow::Result<Option<StoredClient>> {
        let row = self.read(|conn| {
            conn.prepare_cached(
                "SELECT id, metadata, created_by, created_at, can_introspect FROM clients WHERE id = ?",
            )?
            .query_row([id], |r| {
                Ok(Columns {
                    id: r.get(0)?,
                    metadata: r.get(1)?,
                    created_by: r.get(2)?,
                    created_at: r.get(3)?,
                    can_introspect: r.get(4)?,
                })
            })
            .optional()
        })?;
        row.map(Columns::into_client).transpose()
    }

    pub async fn list_clients(&self) -> anyhow::Result<Vec<StoredClient>> {
        let rows = sqlx::query(
            "SELECT id, metadata, created_by, created_at, can_introspect FROM clients ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored).collect()
    }

    /// Delete a client; `false` if there was none.
    pub async fn remove_client(&self, id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE id = ?")
            .bind(id)
            .execute(self.writer())
            .await?;
        // After the commit: a request that raced the delete cannot re-cache the row.
        self.clients.forget(id);
        Ok(done.rows_affected() > 0)
    }
}

fn stored(r: &SqliteRow) -> anyhow::Result<StoredClient> {
    Columns {
        id: r.get("id"),
        metadata: r.get("metadata"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
        can_introspect: r.get("can_introspect"),
    }
    .into_client()
}

/// A client row's columns, as either driver reads them.
struct Columns {
    id: String,
    metadata: String,
    created_by: String,
    created_at: i64,
    can_introspect: bool,
}

impl Columns {
    fn into_client(self) -> anyhow::Result<StoredClient> {
        let metadata: ClientMetadata = serde_json::from_str(&self.metadata)
            .with_context(|| format!("stored metadata of client {} is unreadable", self.id))?;
        Ok(StoredClient {
            client_id: self.id,
            client_id_issued_at: self.created_at,
            created_by: self.created_by,
            can_introspect: self.can_introspect,
            metadata,
        })
    }
}

impl Store {
    /// Insert or refresh the client row of a metadata document (public, no
    /// secret). Rows created any other way are never overwritten.
    pub async fn upsert_document_client(
        &self,
        id: &str,
        m: &ClientMetadata,
        now: i64,
    ) -> anyhow::Result<StoredClient> {
        self.clients.forget(id);
        sqlx::query(
            "INSERT INTO clients (id, secret_hash, auth_method, grant_types, scope, audience, metadata, created_by, \
             created_at) VALUES (?, NULL, 'none', ?, ?, '', ?, 'metadata_document', ?) \
             ON CONFLICT (id) DO UPDATE SET grant_types = excluded.grant_types, scope = excluded.scope, \
             metadata = excluded.metadata WHERE clients.created_by = 'metadata_document'",
        )
        .bind(id)
        .bind(join(&m.grant_types, |g| g.as_str()))
        .bind(m.scope.as_deref().unwrap_or(""))
        .bind(serde_json::to_string(m)?)
        .bind(now)
        .execute(self.writer())
        .await?;
        self.find_client(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("client {id} vanished"))
    }
}

impl Store {
    /// The registration access token hash of a client: `None` if there is no
    /// such client, `Some(None)` if it has none (not dynamically registered).
    pub async fn registration_token_hash(
        &self,
        id: &str,
    ) -> Result<Option<Option<Vec<u8>>>, sqlx::Error> {
        sqlx::query_scalar("SELECT registration_token_hash FROM clients WHERE id = ?")
            .bind(id)
            .fetch_optional(self.pool())
            .await
    }

    /// Replace a client's registered metadata (RFC 7592 §2.2).
    pub async fn update_client_metadata(&self, id: &str, m: &ClientMetadata) -> anyhow::Result<()> {
        self.clients.forget(id);
        sqlx::query(
            "UPDATE clients SET auth_method = ?, grant_types = ?, scope = ?, audience = ?, metadata = ? WHERE id = ?",
        )
        .bind(m.token_endpoint_auth_method.as_str())
        .bind(join(&m.grant_types, |g| g.as_str()))
        .bind(m.scope.as_deref().unwrap_or(""))
        .bind(m.audience.join(" "))
        .bind(serde_json::to_string(m)?)
        .bind(id)
        .execute(self.writer())
        .await?;
        self.clients.forget(id);
        Ok(())
    }

    /// Record that a person authorized the client (at most one write an hour;
    /// this process remembers when it last wrote, so the hot authorization
    /// path does not queue for the writer connection to change nothing).
    pub async fn touch_client(&self, id: &str, now: i64) -> Result<(), sqlx::Error> {
        if !self.clients.touch_due(id, now) {
            return Ok(());
        }
        sqlx::query("UPDATE clients SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
            .bind(now)
            .bind(id)
            .bind(now - 3600)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Delete dynamically registered clients that were never used and are
    /// older than `before`. Machine clients (registered with an initial access
    /// token) are kept: they never pass the authorization endpoint.
    pub async fn prune_unused_clients(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM clients WHERE created_by = 'registration' AND last_used_at IS NULL AND created_at < ? \
             AND ' ' || grant_types || ' ' NOT LIKE '% client_credentials %'",
        )
        .bind(before)
        .execute(self.writer())
        .await?;
        self.clients.clear();
        Ok(done.rows_affected())
    }
}
