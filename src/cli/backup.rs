//! `tessera backup PATH`: a consistent copy of the live SQLite database.

use crate::config::Config;
use crate::store::Store;

pub async fn run(path: &str, config: Config) -> anyhow::Result<()> {
    let store = Store::open_with(&config.database_url, &config.store_options()).await?;
    let result = store.backup(std::path::Path::new(path)).await;
    store.close().await;
    result?;
    say!("backed up {} to {path}", config.database_url);
    Ok(())
}
