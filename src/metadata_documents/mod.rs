//! Client ID Metadata Documents at the authorization endpoint.
//!
//! A `client_id` that is an https URL is fetched ([`fetch`]), validated
//! ([`crate::oauth::metadata_document`]) and stored as a client row (so codes,
//! consents and refresh tokens refer to it like any other client), then cached
//! for the document's lifetime. Failures are never cached: the next request
//! fetches again.

pub mod address;
pub mod fetch;

use std::collections::HashMap;
use std::sync::Mutex;

use crate::oauth::client::RegistrationRules;
use crate::oauth::metadata_document::{check_url, validate};
use crate::store::Store;
use crate::store::clients::StoredClient;

/// Client ID metadata documents: fetched, validated and cached by URL, with
/// the time each expires.
#[derive(Default)]
pub struct MetadataDocuments {
    entries: Mutex<HashMap<String, (StoredClient, i64)>>,
}

impl MetadataDocuments {
    fn get(&self, url: &str, now: i64) -> Option<StoredClient> {
        let map = self.entries.lock().ok()?;
        map.get(url)
            .filter(|(_, exp)| *exp > now)
            .map(|(c, _)| c.clone())
    }

    /// Forget a document (its client changed elsewhere); `*` forgets all.
    pub fn forget(&self, url: &str) {
        if let Ok(mut map) = self.entries.lock() {
            match url {
                "*" => map.clear(),
                url => {
                    map.remove(url);
                }
            }
        }
    }

    fn put(&self, url: &str, client: StoredClient, expires: i64) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (_, exp)| *exp > expires - 86_400);
            }
            map.insert(url.to_owned(), (client, expires));
        }
    }
}

impl MetadataDocuments {
    /// The client a metadata-document URL describes, fetched unless cached,
    /// validated by `rules` and stored as a client row. The error is shown to
    /// the person on an error page (the request cannot be trusted enough to
    /// redirect). `allow_loopback` lets documents live on loopback http.
    pub async fn resolve(
        &self,
        store: &Store,
        rules: &RegistrationRules<'_>,
        allow_loopback: bool,
        client_id: &str,
        now: i64,
    ) -> Result<StoredClient, String> {
        if let Some(hit) = self.get(client_id, now) {
            return Ok(hit);
        }
        let url = check_url(client_id, allow_loopback)?;
        let fetched = fetch::fetch(&url, allow_loopback).await?;
        let metadata = validate(client_id, &fetched.document, rules)?;
        let stored = store
            .upsert_document_client(client_id, &metadata, now)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "storing a metadata-document client failed");
                "the server could not store the client".to_owned()
            })?;
        let expires = now + fetched.cache_for.as_secs() as i64;
        self.put(client_id, stored.clone(), expires);
        tracing::info!(client.id = %client_id, "client metadata document fetched");
        Ok(stored)
    }
}
