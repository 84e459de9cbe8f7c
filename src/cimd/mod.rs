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
use crate::state::App;
use crate::store::clients::StoredClient;

/// Validated documents by URL, with the time they expire.
#[derive(Default)]
pub struct DocumentCache {
    entries: Mutex<HashMap<String, (StoredClient, i64)>>,
}

impl DocumentCache {
    fn get(&self, url: &str, now: i64) -> Option<StoredClient> {
        let map = self.entries.lock().ok()?;
        map.get(url)
            .filter(|(_, exp)| *exp > now)
            .map(|(c, _)| c.clone())
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

/// The client a metadata-document URL describes; the error is shown to the
/// person on an error page (the request cannot be trusted enough to redirect).
pub async fn resolve(app: &App, client_id: &str) -> Result<StoredClient, String> {
    let now = app.clock.now();
    if let Some(hit) = app.documents.get(client_id, now) {
        return Ok(hit);
    }
    let allow_loopback = app.config.registration.metadata_document_loopback;
    let url = check_url(client_id, allow_loopback)?;
    let fetched = fetch::fetch(&url, allow_loopback).await?;
    let rules = RegistrationRules {
        redirects: &app.config.registration.redirects,
        resources: &app.config.resources,
        privileged: false,
    };
    let metadata = validate(client_id, &fetched.document, &rules)?;
    let stored = app
        .store
        .upsert_document_client(client_id, &metadata, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing a metadata-document client failed");
            "the server could not store the client".to_owned()
        })?;
    app.documents.put(
        client_id,
        stored.clone(),
        now + fetched.cache_for.as_secs() as i64,
    );
    tracing::info!(client.id = %client_id, "client metadata document fetched");
    Ok(stored)
}
