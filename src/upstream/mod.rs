//! Upstream OpenID Connect providers (`[[identity_providers]]`): discovery
//! and the provider's keys ([`discovery`], cached), the authorization
//! request with state, nonce and PKCE S256 (OpenID Connect Core §3.1.2.1,
//! RFC 7636), the code exchange (§3.1.3), and the ID token's full
//! validation ([`id_token`]: §3.1.3.7).
//!
//! Done with reqwest on the project's rustls+ring stack and jsonwebtoken
//! (ring): an OIDC client crate would bring a second crypto stack. Every
//! request has a short timeout and no redirects; a provider that cannot be
//! reached, refuses, or answers something invalid is a [`Failure`] the
//! sign-in page explains, never a panic or a 500.

pub mod discovery;
pub mod id_token;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use url::Url;

use crate::config::people::IdentityProvider;
pub use discovery::Discovered;
pub use id_token::Person;

/// The most a provider's answer (discovery, keys, token) may hold.
const MAX_BYTES: usize = 256 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a round trip with a provider failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Could not connect, timed out, or answered with a server error.
    Unreachable(String),
    /// Answered with an OAuth error (the code was refused, …).
    Refused(String),
    /// Answered something that fails validation (a tampered ID token, a
    /// wrong issuer, …).
    Invalid(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "unreachable: {why}"),
            Self::Refused(why) => write!(f, "refused: {why}"),
            Self::Invalid(why) => write!(f, "invalid answer: {why}"),
        }
    }
}

/// The providers' client: one HTTP client and the discovery cache.
pub struct Upstream {
    http: reqwest::Client,
    cache: discovery::Cache,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstream")
    }
}

impl Upstream {
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // Sign-ins are rare: a pooled connection the provider closed
            // meanwhile would fail the exchange.
            .pool_max_idle_per_host(0)
            .user_agent("tessera")
            .build()?;
        Ok(Self {
            http,
            cache: discovery::Cache::default(),
        })
    }

    /// The provider's metadata and keys (cached; fetched when missing or old).
    pub async fn discover(
        &self,
        p: &IdentityProvider,
    ) -> Result<std::sync::Arc<Discovered>, Failure> {
        self.cache.get(&self.http, p).await
    }

    /// The provider's keys again when an ID token names a key they lack
    /// (the provider rotated); at most once per half minute per provider.
    pub async fn rediscover(
        &self,
        p: &IdentityProvider,
    ) -> Result<std::sync::Arc<Discovered>, Failure> {
        self.cache.refresh(&self.http, p).await
    }

    /// Exchange `code` for the ID token (the access token is not used).
    pub async fn exchange(
        &self,
        p: &IdentityProvider,
        d: &Discovered,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, Failure> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut request = self.http.post(d.token_endpoint.clone());
        if d.secret_post {
            let auth = [
                ("client_id", p.client_id.as_str()),
                ("client_secret", p.client_secret.expose()),
            ];
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .extend_pairs(auth)
                .finish();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        } else {
            // RFC 6749 §2.3.1: both parts form-encoded before Basic.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = B64_STD.encode(format!(
                "{}:{}",
                enc(&p.client_id),
                enc(p.client_secret.expose())
            ));
            request = request
                .header("authorization", format!("Basic {basic}"))
                .form(&form);
        }
        let response = request
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| Failure::Unreachable(describe(e)))?;
        let status = response.status();
        let body = read_json(response).await;
        if status.is_server_error() {
            return Err(Failure::Unreachable(format!(
                "token endpoint answered {status}"
            )));
        }
        let body = body?;
        if !status.is_success() {
            let error = body.get("error").and_then(|v| v.as_str()).unwrap_or("?");
            return Err(Failure::Refused(format!("token endpoint: {error}")));
        }
        body.get("id_token")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Failure::Invalid("the token response holds no id_token".into()))
    }
}

const B64_STD: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// What a failed request says, without its URL (whose query may hold a code).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        return "cannot connect".into();
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A JSON object of at most [`MAX_BYTES`].
async fn read_json(response: reqwest::Response) -> Result<serde_json::Value, Failure> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > MAX_BYTES)
    {
        return Err(Failure::Invalid("the answer is too large".into()));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::Unreachable(describe(e)))?;
    if bytes.len() > MAX_BYTES {
        return Err(Failure::Invalid("the answer is too large".into()));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| Failure::Invalid("the answer is not JSON".into()))?;
    if !value.is_object() {
        return Err(Failure::Invalid("the answer is not a JSON object".into()));
    }
    Ok(value)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// The authorization request to send the browser to.
pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub verifier: &'a str,
    pub redirect_uri: &'a str,
}

/// The provider's authorization endpoint with the request's parameters.
pub fn authorization_url(
    p: &IdentityProvider,
    d: &Discovered,
    r: &AuthorizationRequest<'_>,
) -> Url {
    let mut url = d.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &p.client_id)
        .append_pair("redirect_uri", r.redirect_uri)
        .append_pair("scope", &p.scopes.join(" "))
        .append_pair("state", r.state)
        .append_pair("nonce", r.nonce)
        .append_pair("code_challenge", &s256(r.verifier))
        .append_pair("code_challenge_method", "S256");
    url
}
