//! Clients' SQL.

use rusqlite::{Connection, OptionalExtension, params};

use super::Sqlite;
use crate::oauth::client::{AuthMethod, ClientMetadata, GrantType};
use crate::store::Result;
use crate::store::clients::{ClientAuth, ClientKeys, ClientRow, MetadataColumns, NewClient};
use tessera_resource::scope::ScopeSet;

/// An owned copy of a row to insert, for the writer.
struct Insert {
    id: String,
    secret_hash: Option<Vec<u8>>,
    columns: MetadataColumns,
    created_by: String,
    created_at: i64,
    can_introspect: bool,
    registration_token_hash: Option<Vec<u8>>,
}

fn insert(r: &Insert, conn: &Connection) -> rusqlite::Result<()> {
    let m = &r.columns;
    conn.prepare_cached(
        "INSERT INTO clients (id, secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, \
         metadata, created_by, created_at, can_introspect, registration_token_hash) \
         VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        r.id,
        r.secret_hash,
        m.auth_method,
        m.grant_types,
        m.scope,
        m.audience,
        m.json,
        r.created_by,
        r.created_at,
        r.can_introspect,
        r.registration_token_hash,
    ])
    .map(|_| ())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok(ClientRow {
        id: r.get(0)?,
        metadata: r.get(1)?,
        created_by: r.get(2)?,
        created_at: r.get(3)?,
        can_introspect: r.get(4)?,
    })
}

/// A client's metadata columns with its id, for the writer.
struct Metadata {
    id: String,
    columns: MetadataColumns,
    now: i64,
}

impl Metadata {
    fn of(id: &str, m: &ClientMetadata, now: i64) -> Result<Self> {
        Ok(Self {
            id: id.to_owned(),
            columns: MetadataColumns::of(m)?,
            now,
        })
    }
}

impl Sqlite {
    pub async fn insert_client(&self, c: &NewClient<'_>) -> Result<()> {
        let row = Insert {
            id: c.id.to_owned(),
            secret_hash: c.secret_hash.map(<[u8]>::to_vec),
            columns: MetadataColumns::of(c.metadata)?,
            created_by: c.created_by.to_owned(),
            created_at: c.created_at,
            can_introspect: c.can_introspect,
            registration_token_hash: c.registration_token_hash.map(<[u8]>::to_vec),
        };
        self.write(row, insert).await
    }

    pub async fn client_auth(&self, id: &str) -> Result<Option<ClientAuth>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT secret_hash, secret_expires_at, auth_method, grant_types, scope, audience, \
                 can_introspect, CASE WHEN auth_method = 'private_key_jwt' THEN metadata END \
                 FROM clients WHERE id = ?",
            )?
            .query_row([id], |r| {
                let words = |i: usize| -> rusqlite::Result<Vec<String>> {
                    Ok(crate::store::split_list(r.get_ref(i)?.as_str()?))
                };
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
                    allowed: ScopeSet::parse(r.get_ref(4)?.as_str()?),
                    audience: words(5)?,
                    can_introspect: r.get(6)?,
                    keys: ClientKeys::of_metadata(r.get_ref(7)?.as_str_or_null()?),
                })
            })
            .optional()
        })
    }

    pub async fn find_client(&self, id: &str) -> Result<Option<ClientRow>> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT id, metadata, created_by, created_at, can_introspect FROM clients WHERE id = ?",
            )?
            .query_row([id], row)
            .optional()
        })
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRow>> {
        self.scan(|conn| {
            conn.prepare(
                "SELECT id, metadata, created_by, created_at, can_introspect FROM clients \
                 ORDER BY created_at, id",
            )?
            .query_map([], row)?
            .collect()
        })
        .await
    }

    pub async fn remove_client(&self, id: &str) -> Result<bool> {
        self.write(id.to_owned(), |id, conn| {
            conn.prepare_cached("DELETE FROM clients WHERE id = ?")?
                .execute([id])
                .map(|n| n > 0)
        })
        .await
    }

    pub async fn upsert_document_client(
        &self,
        id: &str,
        m: &ClientMetadata,
        now: i64,
    ) -> Result<()> {
        self.write(Metadata::of(id, m, now)?, |m, conn| {
            conn.prepare_cached(
                "INSERT INTO clients (id, secret_hash, auth_method, grant_types, scope, audience, metadata, \
                 created_by, created_at) VALUES (?, NULL, 'none', ?, ?, '', ?, 'metadata_document', ?) \
                 ON CONFLICT (id) DO UPDATE SET grant_types = excluded.grant_types, scope = excluded.scope, \
                 metadata = excluded.metadata WHERE clients.created_by = 'metadata_document'",
            )?
            .execute(params![m.id, m.columns.grant_types, m.columns.scope, m.columns.json, m.now])
            .map(|_| ())
        })
        .await
    }

    pub async fn registration_token_hash(&self, id: &str) -> Result<Option<Option<Vec<u8>>>> {
        self.read(|conn| {
            conn.prepare_cached("SELECT registration_token_hash FROM clients WHERE id = ?")?
                .query_row([id], |r| r.get(0))
                .optional()
        })
    }

    pub async fn update_registration(
        &self,
        id: &str,
        m: &ClientMetadata,
        old_token: &[u8],
        new_token: &[u8],
    ) -> Result<bool> {
        let job = (
            Metadata::of(id, m, 0)?,
            old_token.to_vec(),
            new_token.to_vec(),
        );
        self.write(job, |(m, old, new), conn| {
            conn.prepare_cached(
                "UPDATE clients SET auth_method = ?, grant_types = ?, scope = ?, audience = ?, metadata = ?, \
                 registration_token_hash = ? WHERE id = ? AND registration_token_hash = ?",
            )?
            .execute(params![
                m.columns.auth_method,
                m.columns.grant_types,
                m.columns.scope,
                m.columns.audience,
                m.columns.json,
                new,
                m.id,
                old
            ])
            .map(|n| n == 1)
        })
        .await
    }

    pub async fn touch_client(&self, id: &str, now: i64) -> Result<()> {
        self.write((id.to_owned(), now), |(id, now), conn| {
            conn.prepare_cached(
                "UPDATE clients SET last_used_at = ?1 WHERE id = ?2 \
                 AND (last_used_at IS NULL OR last_used_at < ?1 - 3600)",
            )?
            .execute(params![now, id])
            .map(|_| ())
        })
        .await
    }

    pub async fn prune_unused_clients(&self, before: i64) -> Result<u64> {
        self.write(before, |before, conn| {
            conn.prepare_cached(
                "DELETE FROM clients WHERE created_by = 'registration' AND last_used_at IS NULL \
                 AND created_at < ? AND ' ' || grant_types || ' ' NOT LIKE '% client_credentials %'",
            )?
            .execute([before])
            .map(|n| n as u64)
        })
        .await
    }
}
