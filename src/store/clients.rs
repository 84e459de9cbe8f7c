//! Persisted clients.
//!
//! The token endpoint reads one narrow row ([`ClientAuth`]) by primary key,
//! through a short-lived cache; the full registered metadata (a JSON column)
//! is read only to echo or show it.

use std::sync::Arc;

use super::changes::Kind;
use super::{Error, Result, Store, on_backend};
use crate::oauth::client::{AuthMethod, ClientMetadata, GrantType};
use tessera_resource::scope::{ScopeError, ScopeSet};

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
    /// The keys of a `private_key_jwt` client (read only for that method).
    pub keys: Option<ClientKeys>,
}

/// Where a `private_key_jwt` client's public keys are (RFC 7591 §2).
#[derive(Debug, Clone)]
pub enum ClientKeys {
    /// Registered by value: the `jwks` object.
    Inline(Arc<serde_json::Value>),
    /// Registered by reference: the `jwks_uri`, fetched and cached.
    Remote(String),
}

impl ClientKeys {
    /// The keys named in a client's stored metadata (a JSON object), if any.
    pub(super) fn of_metadata(json: Option<&str>) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Keys {
            jwks: Option<serde_json::Value>,
            jwks_uri: Option<String>,
        }
        let keys: Keys = serde_json::from_str(json?).ok()?;
        match (keys.jwks, keys.jwks_uri) {
            (Some(set), _) => Some(Self::Inline(Arc::new(set))),
            (None, Some(uri)) => Some(Self::Remote(uri)),
            (None, None) => None,
        }
    }
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

/// A client row's columns as stored, before its metadata is parsed.
pub(super) struct ClientRow {
    pub id: String,
    pub metadata: String,
    pub created_by: String,
    pub created_at: i64,
    pub can_introspect: bool,
}

impl ClientRow {
    pub(super) fn into_client(self) -> Result<StoredClient> {
        let metadata: ClientMetadata = serde_json::from_str(&self.metadata)
            .map_err(|e| Error::Corrupt(format!("stored metadata of client {}: {e}", self.id)))?;
        Ok(StoredClient {
            client_id: self.id,
            client_id_issued_at: self.created_at,
            created_by: self.created_by,
            can_introspect: self.can_introspect,
            metadata,
        })
    }
}

/// The columns a client's metadata is kept in, as both backends write them:
/// what the token endpoint reads without parsing the JSON, and the JSON.
pub(super) struct MetadataColumns {
    pub auth_method: &'static str,
    /// Space-separated.
    pub grant_types: String,
    pub scope: String,
    /// Space-separated.
    pub audience: String,
    pub json: String,
}

impl MetadataColumns {
    pub(super) fn of(m: &ClientMetadata) -> Result<Self> {
        Ok(Self {
            auth_method: m.token_endpoint_auth_method.as_str(),
            grant_types: grant_list(m),
            scope: m.scope.clone().unwrap_or_default(),
            audience: m.audience.join(" "),
            json: serde_json::to_string(m).map_err(|e| Error::Corrupt(e.to_string()))?,
        })
    }
}

impl Store {
    /// Insert a client; returns once the row is committed to disk.
    pub async fn insert_client(&self, c: &NewClient<'_>) -> Result<()> {
        on_backend!(self, db => db.insert_client(c).await)
    }

    /// The authentication row of a client, from the short-lived cache when
    /// fresh (see `client_cache`), else from the database.
    pub async fn client_auth_cached(&self, id: &str, now: i64) -> Result<Option<Arc<ClientAuth>>> {
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

    /// Drop a client from this process's cache (it was found removed).
    pub fn forget_client(&self, id: &str) {
        self.clients.forget(id);
    }

    /// The authentication row of a client, by id (one indexed lookup).
    pub async fn client_auth(&self, id: &str) -> Result<Option<ClientAuth>> {
        on_backend!(self, db => db.client_auth(id).await)
    }

    pub async fn find_client(&self, id: &str) -> Result<Option<StoredClient>> {
        on_backend!(self, db => db.find_client(id).await)?
            .map(ClientRow::into_client)
            .transpose()
    }

    pub async fn list_clients(&self) -> Result<Vec<StoredClient>> {
        on_backend!(self, db => db.list_clients().await)?
            .into_iter()
            .map(ClientRow::into_client)
            .collect()
    }

    /// Delete a client; `false` if there was none. Every process hears of it
    /// (the change feed).
    pub async fn remove_client(&self, id: &str) -> Result<bool> {
        let removed = on_backend!(self, db => db.remove_client(id).await)?;
        // After the commit: a request that raced the delete cannot re-cache the row.
        self.clients.forget(id);
        if removed {
            self.note_change(Kind::Client, id).await?;
        }
        Ok(removed)
    }

    /// Insert or refresh the client row of a metadata document (public, no
    /// secret). Rows created any other way are never overwritten.
    pub async fn upsert_document_client(
        &self,
        id: &str,
        m: &ClientMetadata,
        now: i64,
    ) -> Result<StoredClient> {
        self.clients.forget(id);
        on_backend!(self, db => db.upsert_document_client(id, m, now).await)?;
        self.note_change(Kind::Client, id).await?;
        self.find_client(id)
            .await?
            .ok_or_else(|| Error::Corrupt(format!("client {id} vanished")))
    }

    /// The registration access token hash of a client: `None` if there is no
    /// such client, `Some(None)` if it has none (not dynamically registered).
    pub async fn registration_token_hash(&self, id: &str) -> Result<Option<Option<Vec<u8>>>> {
        on_backend!(self, db => db.registration_token_hash(id).await)
    }

    /// Replace a client's registered metadata (RFC 7592 §2.2) and rotate its
    /// registration access token, only while `old_token` is still its token
    /// (two updates with one token: the second finds it rotated). `false`
    /// if it was not.
    pub async fn update_registration(
        &self,
        id: &str,
        m: &ClientMetadata,
        old_token: &[u8],
        new_token: &[u8],
    ) -> Result<bool> {
        self.clients.forget(id);
        let updated =
            on_backend!(self, db => db.update_registration(id, m, old_token, new_token).await)?;
        self.clients.forget(id);
        if updated {
            self.note_change(Kind::Client, id).await?;
        }
        Ok(updated)
    }

    /// Record that a person authorized the client (at most one write an hour;
    /// this process remembers when it last wrote, so the hot authorization
    /// path does not queue for the writer to change nothing).
    pub async fn touch_client(&self, id: &str, now: i64) -> Result<()> {
        if !self.clients.touch_due(id, now) {
            return Ok(());
        }
        on_backend!(self, db => db.touch_client(id, now).await)
    }

    /// Delete dynamically registered clients that were never used and are
    /// older than `before`. Machine clients (registered with an initial access
    /// token) are kept: they never pass the authorization endpoint.
    pub async fn prune_unused_clients(&self, before: i64) -> Result<u64> {
        let pruned = on_backend!(self, db => db.prune_unused_clients(before).await)?;
        self.clients.clear();
        if pruned > 0 {
            self.note_change(Kind::Client, "*").await?;
        }
        Ok(pruned)
    }
}

/// `grant_types` as stored: space-separated.
fn grant_list(m: &ClientMetadata) -> String {
    m.grant_types
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
