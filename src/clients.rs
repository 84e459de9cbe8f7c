//! Creating clients: the one path shared by `POST /register` and
//! `tessera client add`. It generates the identifier and, for confidential
//! clients, the secret (returned once, stored only as a keyed hash).

use crate::oauth::client::ClientMetadata;
use crate::secrets::{ClientSecret, SecretHasher, new_client_id, new_client_secret};
use crate::store::Store;
use crate::store::clients::NewClient;

pub struct Created {
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    pub issued_at: i64,
    /// RFC 7592 registration access token, for dynamically registered clients.
    pub registration_access_token: Option<ClientSecret>,
}

/// Who created a client, recorded with it.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    Admin,
    Registration,
}

impl Origin {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Registration => "registration",
        }
    }
}

pub async fn create(
    store: &Store,
    hasher: &SecretHasher,
    metadata: &ClientMetadata,
    origin: Origin,
    can_introspect: bool,
    now: i64,
) -> anyhow::Result<Created> {
    let client_id = new_client_id(now)?;
    let client_secret = if metadata.token_endpoint_auth_method.has_secret() {
        Some(new_client_secret()?)
    } else {
        None
    };
    let hash = client_secret.as_ref().map(|s| hasher.hash(s.expose()));
    let registration_access_token = match origin {
        Origin::Registration => Some(new_client_secret()?),
        Origin::Admin => None,
    };
    let token_hash = registration_access_token
        .as_ref()
        .map(|t| hasher.hash(t.expose()));
    store
        .insert_client(&NewClient {
            id: &client_id,
            secret_hash: hash.as_deref(),
            metadata,
            created_by: origin.as_str(),
            created_at: now,
            can_introspect,
            registration_token_hash: token_hash.as_deref(),
        })
        .await?;
    Ok(Created {
        client_id,
        client_secret,
        issued_at: now,
        registration_access_token,
    })
}
