//! What the kit answers when it refuses a request.
//!
//! RFC 6750 §3 and RFC 9728 §5.1, as MCP clients parse them (mcp-interop
//! §1.10–1.11): every challenge is `Bearer` with quoted values, carries
//! `resource_metadata` (the PRM URL) and `scope` (what this call needs; for
//! `insufficient_scope` everything needed, i.e. the token's scopes plus the
//! missing ones, so a client re-authorizing with it loses nothing). A request
//! without a token gets no `error` attribute (RFC 6750 §3.1). The body is
//! always `{"error", "error_description"}` with `Cache-Control: no-store`.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No bearer token in the `Authorization` header (401).
    MissingToken,
    /// Malformed, expired, for another audience or issuer, unknown key, bad
    /// signature, or revoked (401).
    InvalidToken,
    /// Valid, but without the scopes this call needs (403).
    InsufficientScope,
    /// Over the client's rate limit (429).
    RateLimited,
    /// The issuer could not be asked whether the token is still active (503).
    Unavailable,
    /// The MCP server is wired wrongly (500); the cause is logged.
    ServerError,
}

/// A refused request, ready to render.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub kind: Kind,
    pub description: String,
    /// The absolute PRM URL.
    pub resource_metadata: String,
    /// The `scope` to put in the challenge (space-delimited; may be empty).
    pub scope: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::MissingToken | Kind::InvalidToken => StatusCode::UNAUTHORIZED,
            Kind::InsufficientScope => StatusCode::FORBIDDEN,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` code of the body.
    pub fn error_code(&self) -> &'static str {
        match self.kind {
            Kind::MissingToken | Kind::InvalidToken => "invalid_token",
            Kind::InsufficientScope => "insufficient_scope",
            Kind::RateLimited => "rate_limit_exceeded",
            Kind::Unavailable => "temporarily_unavailable",
            Kind::ServerError => "server_error",
        }
    }

    /// The `WWW-Authenticate` value, for 401 and 403 only.
    pub fn challenge(&self) -> Option<String> {
        let mut params: Vec<(&str, String)> = Vec::new();
        match self.kind {
            Kind::MissingToken => {}
            Kind::InvalidToken | Kind::InsufficientScope => {
                params.push(("error", self.error_code().to_owned()));
                params.push(("error_description", self.description.clone()));
            }
            _ => return None,
        }
        params.push(("resource_metadata", self.resource_metadata.clone()));
        if !self.scope.is_empty() {
            params.push(("scope", self.scope.clone()));
        }
        let rendered: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", quotable(v)))
            .collect();
        Some(format!("Bearer {}", rendered.join(", ")))
    }
}

/// RFC 6750 §3: attribute values are `%x20-21 / %x23-5B / %x5D-7E`; anything
/// else (quotes, backslashes, controls, non-ASCII) would break the regex-based
/// parsers of MCP clients, so it is replaced rather than escaped.
fn quotable(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '\'',
        })
        .collect()
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        let body = json!({"error": self.error_code(), "error_description": self.description});
        (self.status(), headers, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(kind: Kind, description: &str, scope: &str) -> Rejection {
        Rejection {
            kind,
            description: description.into(),
            resource_metadata: "https://mcp.example/.well-known/oauth-protected-resource/mcp"
                .into(),
            scope: scope.into(),
            retry_after: None,
        }
    }

    #[test]
    fn a_missing_token_gets_metadata_and_scope_but_no_error() {
        let r = rejection(Kind::MissingToken, "no token", "mcp:tools:weather");
        assert_eq!(
            r.challenge().unwrap(),
            "Bearer resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource/mcp\", \
             scope=\"mcp:tools:weather\""
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn errors_are_quoted_and_descriptions_cannot_break_out() {
        let r = rejection(Kind::InvalidToken, "bad \"kid\" \\ é", "");
        let c = r.challenge().unwrap();
        assert!(
            c.starts_with("Bearer error=\"invalid_token\", error_description=\"bad 'kid' ' '\""),
            "{c}"
        );
        assert!(!c.contains("scope="), "no empty scope attribute: {c}");
        let r = rejection(Kind::InsufficientScope, "more", "a b");
        assert!(
            r.challenge()
                .unwrap()
                .contains("error=\"insufficient_scope\"")
        );
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn rate_limits_and_outages_carry_no_challenge() {
        assert!(
            rejection(Kind::RateLimited, "slow", "")
                .challenge()
                .is_none()
        );
        assert!(
            rejection(Kind::Unavailable, "later", "")
                .challenge()
                .is_none()
        );
        assert_eq!(
            rejection(Kind::RateLimited, "", "").error_code(),
            "rate_limit_exceeded"
        );
    }
}
