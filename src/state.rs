//! Application state: everything a request needs, built once and shared.
//!
//! `AppState` is an `Arc` so clones are cheap; there are no globals, so tests
//! build many independent apps in one process. Documents that never change
//! while the server runs (metadata) are serialized here once; the signing key
//! and JWKS live in a lock-free swappable ring (see [`crate::signing`]).

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;

use crate::config::Config;
use crate::passwords::Passwords;
use crate::secrets::SecretHasher;
use crate::signing::Keys;
use crate::store::Store;
use tessera_resource::clock::Clock;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: Keys,
    pub hasher: SecretHasher,
    /// Keyed hash of the configured initial access token, compared in constant time.
    pub initial_access_token: Option<Vec<u8>>,
    pub metadata: Bytes,
    pub passwords: Passwords,
    /// Validated client ID metadata documents.
    pub documents: crate::cimd::DocumentCache,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub audit: crate::audit::Audit,
    pub limits: crate::limits::Limits,
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
        let store = Store::open(&config.database_url).await?;
        Self::with_store(config, store, clock).await
    }

    pub async fn with_store(
        config: Config,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let keys = Keys::load(&store, &config, clock.now()).await?;
        let pepper = match &config.client_secret_pepper {
            Some(p) => p.expose().as_bytes().to_vec(),
            None => {
                let candidate = crate::secrets::random_bytes::<32>()?;
                store.client_secret_pepper(&candidate).await?
            }
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
        let metrics = Arc::new(crate::metrics::Metrics::default());
        Ok(Self(Arc::new(App {
            passwords,
            documents: crate::cimd::DocumentCache::default(),
            audit: crate::audit::Audit::new(store.clone()),
            metrics,
            limits: crate::limits::Limits::new(&config),
            keys,
            hasher,
            initial_access_token,
            metadata,
            config,
            store,
            clock,
        })))
    }
}

impl AppState {
    /// Write what is queued (the audit trail's last records), then close
    /// the database.
    pub async fn close(&self) {
        self.store.close().await;
    }
}
