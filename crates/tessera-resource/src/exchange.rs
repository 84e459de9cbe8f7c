//! Token exchange from the MCP server's side (RFC 8693 §2): the MCP server
//! must not pass the client's token on to the APIs it calls (MCP
//! authorization, "Token Passthrough"), so it trades that token at the
//! issuer for one aimed at the API, in one call:
//!
//! ```no_run
//! # async fn f(incoming: &str) -> Result<(), tessera_resource::exchange::ExchangeError> {
//! use tessera_resource::exchange::TokenExchanger;
//! use tessera_resource::Secret;
//! let exchanger = TokenExchanger::new(
//!     "https://auth.example.com/token",
//!     "mcp-server-client-id",
//!     Secret::new("its secret".into()),
//! );
//! let downstream = exchanger
//!     .exchange(incoming, "https://calendar-api.example.com", Some("calendar:read"))
//!     .await?;
//! // Call the API with `Authorization: Bearer {downstream.access_token}`.
//! # Ok(()) }
//! ```
//!
//! The MCP server authenticates as a confidential client with HTTP Basic
//! (RFC 6749 §2.3.1); the issuer decides by its policy which resources and
//! scopes the exchange may reach.

use std::time::Duration;

use crate::config::Secret;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An exchanged token.
#[derive(Clone)]
pub struct Exchanged {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
}

/// The token never reaches a log line or a `Debug` output.
impl std::fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanged")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum ExchangeError {
    /// The issuer could not be reached or answered something unreadable.
    Unavailable(String),
    /// The issuer refused: its RFC 6749 §5.2 `error` and description.
    Refused { error: String, description: String },
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "token exchange unavailable: {why}"),
            Self::Refused { error, description } => {
                write!(f, "token exchange refused: {error}: {description}")
            }
        }
    }
}

/// Exchanges tokens at one issuer's token endpoint as one client.
#[derive(Clone)]
pub struct TokenExchanger {
    token_endpoint: String,
    client_id: String,
    client_secret: Secret,
    http: reqwest::Client,
}

impl std::fmt::Debug for TokenExchanger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchanger")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenExchanger {
    pub fn new(token_endpoint: &str, client_id: &str, client_secret: Secret) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            token_endpoint: token_endpoint.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            http,
        }
    }

    /// Exchange `subject_token` (the access token this server received) for
    /// one at `resource`, with `scope` if given (else what the policy allows).
    pub async fn exchange(
        &self,
        subject_token: &str,
        resource: &str,
        scope: Option<&str>,
    ) -> Result<Exchanged, ExchangeError> {
        // Finished before any await: the serializer is not `Send`.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", GRANT_TYPE)
                .append_pair("subject_token", subject_token)
                .append_pair("subject_token_type", ACCESS_TOKEN_TYPE)
                .append_pair("requested_token_type", ACCESS_TOKEN_TYPE)
                .append_pair("resource", resource);
            if let Some(scope) = scope {
                form.append_pair("scope", scope);
            }
            form.finish()
        };
        let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = self
            .http
            .post(&self.token_endpoint)
            .basic_auth(
                encode(&self.client_id),
                Some(encode(self.client_secret.expose())),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| ExchangeError::Unavailable(e.without_url().to_string()))?;
        let ok = response.status().is_success();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| ExchangeError::Unavailable("the answer is not JSON".into()))?;
        let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        if !ok {
            return Err(ExchangeError::Refused {
                error: text("error").unwrap_or_else(|| "unknown".into()),
                description: text("error_description").unwrap_or_default(),
            });
        }
        Ok(Exchanged {
            access_token: text("access_token")
                .ok_or_else(|| ExchangeError::Unavailable("no access_token".into()))?,
            expires_in: body.get("expires_in").and_then(|v| v.as_u64()).unwrap_or(0),
            scope: text("scope").unwrap_or_default(),
        })
    }
}

impl std::error::Error for ExchangeError {}
