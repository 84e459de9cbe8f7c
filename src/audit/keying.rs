//! Loading the audit chain's key (`store::chain`): the configured one
//! (`security.audit_chain_key`, `audit_chain_key_file`,
//! `TESSERA_AUDIT_CHAIN_KEY`), kept apart from the data, or else a default
//! generated into the database like the client-secret pepper. The default
//! keeps a database copied elsewhere verifiable on its own, but protects
//! nothing against someone who can read the database: they can read the key
//! too. The exported head (`audit::head`) is what holds then.

use tessera_resource::Secret;

use crate::store::Store;
use crate::store::chain::ChainKey;

/// Key `store`'s chain for this process with the configured key, or the
/// default kept in the database.
pub async fn load_chain_key(store: &Store, configured: Option<&Secret>) -> anyhow::Result<()> {
    let key = match configured {
        Some(k) => k.expose().as_bytes().to_vec(),
        None => {
            let candidate = crate::secrets::random_bytes::<32>()?;
            store.audit_chain_default_key(&candidate).await?
        }
    };
    let mac = crate::secrets::audit_chain_mac(&key);
    store.key_audit_chain(ChainKey::new(mac)).await?;
    Ok(())
}
