//! How a protocol error is answered over HTTP: its status, the OAuth JSON
//! body `{"error", "error_description"}`, `Cache-Control: no-store`, the
//! challenge a 401 must carry (RFC 6749 §5.2, RFC 6750 §3), and for a 429 the
//! `Retry-After`, `RateLimit-Policy` and `RateLimit` headers. A server fault's
//! cause is logged once, here, and never sent.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_resource::limits::Quota;

use crate::error::{Error, ErrorCode};

/// The HTTP status of an error code.
/// `Retry-After` of a 503 while the database cannot be reached (JSON or page):
/// a request meets an outage within a second (`store::postgres::pool`).
pub const RETRY_UNAVAILABLE: HeaderValue = HeaderValue::from_static("2");

pub const fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::RateLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[derive(serde::Serialize)]
struct Body<'a> {
    error: &'static str,
    error_description: &'a str,
    /// The request's id (`telemetry::request_id`), to quote to an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match (&self.cause, self.code) {
            (Some(cause), ErrorCode::TemporarilyUnavailable) => {
                tracing::warn!(error.cause = %format!("{cause:#}"), "request refused: the database is unavailable");
            }
            (Some(cause), _) => {
                tracing::error!(error.cause = %format!("{cause:#}"), "request failed with a server fault");
            }
            (None, _) => {}
        }
        let request_id = crate::telemetry::request_id::current();
        let body = serde_json::to_vec(&Body {
            error: self.code.as_str(),
            error_description: &self.description,
            request_id: request_id.as_ref().and_then(|id| id.to_str().ok()),
        })
        .unwrap_or_default();
        let mut response = (status(self.code), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.code == ErrorCode::TemporarilyUnavailable {
            headers.insert(header::RETRY_AFTER, RETRY_UNAVAILABLE);
        }
        if let Some(quota) = &self.quota {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(quota.retry_after()));
            quota_headers(headers, quota);
        }
        match self.code {
            // RFC 6749 §5.2: a 401 must carry a challenge for the scheme used.
            ErrorCode::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tessera\", charset=\"UTF-8\""),
                );
            }
            ErrorCode::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            _ => {}
        }
        response
    }
}

/// `RateLimit-Policy` and `RateLimit` as express-rate-limit sends them
/// (draft-ietf-httpapi-ratelimit-headers-07): `100;w=900` and
/// `limit=100, remaining=99, reset=873`.
pub fn quota_headers(headers: &mut HeaderMap, q: &Quota) {
    // Written with itoa rather than `format!`: these two headers are on every
    // token response.
    let mut n = itoa::Buffer::new();
    let mut policy = String::with_capacity(24);
    policy.push_str(n.format(q.limit));
    policy.push_str(";w=");
    policy.push_str(n.format(q.window));
    if let Ok(v) = HeaderValue::try_from(policy) {
        headers.insert("ratelimit-policy", v);
    }
    let mut state = String::with_capacity(48);
    state.push_str("limit=");
    state.push_str(n.format(q.limit));
    state.push_str(", remaining=");
    state.push_str(n.format(q.remaining));
    state.push_str(", reset=");
    state.push_str(n.format(q.reset.max(0)));
    if let Ok(v) = HeaderValue::try_from(state) {
        headers.insert("ratelimit", v);
    }
}
