//! Application state: everything a request needs, built once by the layer
//! above (the server, the CLI, a test) and shared as an `Arc<AppState>`.
//! There are no globals, so tests build many independent apps in one
//! process. The signing key and JWKS live in a lock-free swappable ring (see
//! [`crate::keys::rotation`]).

use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::keys::rotation::{KeyPolicy, SigningKeys};
use crate::passwords::Passwords;
use crate::secrets::SecretHasher;
use crate::store::Store;
use tessera_resource::clock::Clock;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keys: SigningKeys,
    pub hasher: SecretHasher,
    /// Keyed hash of the configured initial access token, compared in constant time.
    pub initial_access_token: Option<Vec<u8>>,
    pub passwords: Passwords,
    /// Seals TOTP secrets at rest (`keys::totp`).
    pub factor_seal: crate::keys::totp::FactorSeal,
    /// Passkeys' relying party (`None` when the issuer's host cannot be one).
    pub passkeys: Option<crate::keys::passkeys::RelyingParty>,
    /// Client ID metadata documents fetched and validated.
    pub metadata_documents: crate::metadata_documents::MetadataDocuments,
    /// JWT assertions' verification, with the key sets fetched for it.
    pub assertions: crate::assertions::Assertions,
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    pub audit: crate::audit::Audit,
    pub limits: crate::limits::Limits,
    /// Upstream OpenID providers: discovery and keys cached, the code exchange.
    pub upstream: crate::upstream::Upstream,
}

impl AppState {
    /// Open the store, load or create the signing key, the pepper and the
    /// audit chain's key.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Self>> {
        let store = Store::open_with(&config.database_url, &config.store_options()).await?;
        Self::with_store(config, store, clock).await
    }

    pub async fn with_store(
        config: Config,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<Self>> {
        let policy = KeyPolicy {
            algorithm: config.signing.algorithm,
            publish_lead: config.signing.publish_lead.as_secs() as i64,
            rotation_period: config.signing.rotation_period.map(|d| d.as_secs() as i64),
            max_token_ttl: config.max_access_token_ttl(),
        };
        let kek = config.key_encryption_key.as_ref().map(|k| k.expose());
        let keys = SigningKeys::load(&store, policy, kek, clock.now()).await?;
        let pepper = match &config.client_secret_pepper {
            Some(p) => p.expose().as_bytes().to_vec(),
            None => {
                let candidate = crate::secrets::random_bytes::<32>()?;
                store.client_secret_pepper(&candidate).await?
            }
        };
        crate::audit::keying::load_chain_key(&store, config.audit_chain_key.as_ref()).await?;
        let hasher = SecretHasher::new(&pepper);
        let factor_seal = crate::keys::totp::FactorSeal::new(&pepper, kek)?;
        let initial_access_token = config
            .registration
            .initial_access_token
            .as_ref()
            .map(|t| hasher.hash(t.expose()));
        let passwords = tokio::task::spawn_blocking(Passwords::new)
            .await
            .context("password setup failed")??;
        let metrics = Arc::new(crate::telemetry::metrics::Metrics::default());
        let limits = crate::limits::Limits::new(&config, &store, clock.clone()).await?;
        Ok(Arc::new(Self {
            passwords,
            factor_seal,
            passkeys: crate::keys::passkeys::RelyingParty::of(config.issuer.as_str()),
            metadata_documents: crate::metadata_documents::MetadataDocuments::default(),
            upstream: crate::upstream::Upstream::new()?,
            assertions: crate::assertions::Assertions::default(),
            audit: crate::audit::Audit::new(store.clone()),
            metrics,
            limits,
            keys,
            hasher,
            initial_access_token,
            config,
            store,
            clock,
        }))
    }
}

impl AppState {
    /// Minting and checking access tokens.
    pub fn access_tokens(&self) -> crate::access_token::AccessTokens<'_> {
        crate::access_token::AccessTokens {
            config: &self.config,
            keys: &self.keys,
            store: &self.store,
        }
    }

    /// Write what is queued (the audit trail's last records), then close
    /// the database.
    pub async fn close(&self) {
        self.store.close().await;
    }
}
