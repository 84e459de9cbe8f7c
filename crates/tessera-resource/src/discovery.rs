//! Talking to the issuer: its RFC 8414 metadata (for `jwks_uri` and
//! `introspection_endpoint`), its RFC 7517 key set, and RFC 7662
//! introspection with `client_secret_basic` (RFC 6749 §2.3.1).
//!
//! The metadata is fetched once and kept (a failed fetch is retried on the next
//! call). Its `issuer` must equal the configured issuer byte for byte (RFC 8414
//! §3.3), which also proves the kit was pointed at the right server. Redirects
//! are not followed: an issuer answers its own well-known URL.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::issuer::Issuer;

use crate::config::IntrospectionCredentials;

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
    introspection_endpoint: Option<String>,
}

/// Answers larger than this are not key sets or introspection answers.
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug)]
pub struct Discovery {
    issuer: Issuer,
    http: reqwest::Client,
    metadata: OnceCell<Metadata>,
}

impl Discovery {
    pub fn new(issuer: Issuer, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera-resource-kit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            issuer,
            http,
            metadata: OnceCell::new(),
        })
    }

    /// RFC 8414 §3.1: the well-known suffix goes between origin and path.
    pub fn metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-authorization-server{}",
            self.issuer.origin(),
            self.issuer.path()
        )
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let res = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        read_json(res, url).await
    }

    async fn metadata(&self) -> Result<&Metadata, String> {
        self.metadata
            .get_or_try_init(|| async {
                let url = self.metadata_url();
                let doc: Metadata = serde_json::from_value(self.get_json(&url).await?)
                    .map_err(|e| format!("{url} is not authorization server metadata: {e}"))?;
                if doc.issuer != self.issuer.as_str() {
                    return Err(format!(
                        "{url} names issuer '{}', expected '{}'",
                        doc.issuer,
                        self.issuer.as_str()
                    ));
                }
                Ok(doc)
            })
            .await
    }

    /// The issuer's current key set, as JSON.
    pub async fn jwks(&self) -> Result<Value, String> {
        let uri = self.metadata().await?.jwks_uri.clone();
        self.get_json(&uri).await
    }

    /// Ask the issuer whether `token` is active (RFC 7662 §2.2 `active`).
    pub async fn introspect(
        &self,
        credentials: &IntrospectionCredentials,
        token: &str,
    ) -> Result<bool, String> {
        let endpoint = match &self.metadata().await?.introspection_endpoint {
            Some(e) => e.clone(),
            None => self.issuer.endpoint("/introspect"),
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        // RFC 6749 §2.3.1: each half is form-urlencoded before Basic encoding.
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let res = self
            .http
            .post(&endpoint)
            .basic_auth(
                encode(&credentials.client_id),
                Some(encode(credentials.client_secret.expose())),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {endpoint}: {e}"))?;
        let answer = read_json(res, &endpoint).await?;
        answer["active"]
            .as_bool()
            .ok_or_else(|| format!("{endpoint} answered without a boolean 'active'"))
    }
}

async fn read_json(res: reqwest::Response, url: &str) -> Result<Value, String> {
    let status = res.status();
    if !status.is_success() {
        return Err(format!("{url} answered {status}"));
    }
    if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(format!("{url} answered more than {MAX_BODY} bytes"));
    }
    let bytes = res.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    if bytes.len() > MAX_BODY {
        return Err(format!("{url} answered more than {MAX_BODY} bytes"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("{url} did not answer JSON: {e}"))
}
