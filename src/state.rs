//! Application state: everything a request needs, built once and shared.
//!
//! `AppState` is an `Arc` so clones are cheap; there are no globals, so tests
//! build many independent apps in one process. Documents that never change
//! while the server runs (metadata, JWKS) are serialized here once.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;

use crate::clock::Clock;
use crate::config::Config;
use crate::keys::{KeyMaterial, Signer, jwks_document};
use crate::passwords::Passwords;
use crate::secrets::SecretHasher;
use crate::store::Store;
use crate::throttle::Throttle;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub signer: Signer,
    pub hasher: SecretHasher,
    /// Keyed hash of the configured initial access token, compared in constant time.
    pub initial_access_token: Option<Vec<u8>>,
    pub jwks: Bytes,
    pub metadata: Bytes,
    pub passwords: Passwords,
    /// Failed sign-ins per account.
    pub sign_in_throttle: Throttle,
    /// Failed sign-ins per client IP.
    pub ip_throttle: Throttle,
}

#[derive(Clone)]
pub struct AppState(Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl AppState {
    /// Open the store, load or create the signing key and pepper, and
    /// pre-render the public documents.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = Store::connect(&config.database_url).await?;
        Self::with_store(config, store, clock).await
    }

    pub async fn with_store(
        config: Config,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let key = signing_key(&store, &config, clock.now()).await?;
        let published = store.all_keys().await?;
        let jwks = Bytes::from(jwks_document(&published.iter().collect::<Vec<_>>()));
        let pepper = match &config.client_secret_pepper {
            Some(p) => p.expose().as_bytes().to_vec(),
            None => store.client_secret_pepper().await?,
        };
        let hasher = SecretHasher::new(&pepper);
        let initial_access_token = config
            .registration
            .initial_access_token
            .as_ref()
            .map(|t| hasher.hash(t.expose()));
        let metadata = Bytes::from(crate::http::metadata::document(&config));
        let passwords = tokio::task::spawn_blocking(Passwords::new)
            .await
            .context("password setup failed")??;
        let window = config.sign_in.failure_window.as_secs() as i64;
        let limit = config.sign_in.max_failures;
        Ok(Self(Arc::new(App {
            passwords,
            sign_in_throttle: Throttle::new(limit, window),
            ip_throttle: Throttle::new(limit.saturating_mul(10), window),
            signer: Signer::new(&key),
            hasher,
            initial_access_token,
            jwks,
            metadata,
            config,
            store,
            clock,
        })))
    }
}

async fn signing_key(store: &Store, config: &Config, now: i64) -> anyhow::Result<KeyMaterial> {
    let alg = config.signing_algorithm;
    if let Some(key) = store.newest_key(alg).await? {
        return Ok(key);
    }
    let key = tokio::task::spawn_blocking(move || KeyMaterial::generate(alg))
        .await
        .context("key generation task failed")??;
    store.insert_key(&key, now).await?;
    tracing::info!(kid = %key.kid, alg = alg.as_str(), "generated a new signing key");
    Ok(key)
}
