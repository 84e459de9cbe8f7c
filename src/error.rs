//! The one error type of the protocol: an OAuth `error` code with its
//! description, as RFC 6749 §5.2 (token), RFC 7591 §3.2.2 (registration),
//! RFC 7009/7662 (revocation, introspection), RFC 8707 §2 (`invalid_target`)
//! and RFC 6750 §3.1 (`invalid_token`) define them. Pure: how an error is
//! answered over HTTP (status, headers, JSON body, or a redirect) is
//! `http::error`'s business. Internal faults become a bare `server_error`
//! whose cause is kept for the log, never sent.

use std::borrow::Cow;

use tessera_resource::limits::Quota;

/// The `error` codes Tessera emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: missing, repeated or malformed parameter; unsupported body.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (unknown client, bad secret,
    /// no authentication). Always 401 with `WWW-Authenticate`.
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token) is invalid, expired or revoked.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported by this server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is unknown or exceeds what is allowed.
    InvalidScope,
    /// RFC 8707 §2: the requested resource is unknown or not acceptable.
    InvalidTarget,
    /// RFC 7591 §3.2.2: a redirect URI is not acceptable.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: some other registration metadata is not acceptable.
    InvalidClientMetadata,
    /// RFC 6750 §3.1: a bearer token (e.g. an initial access token) is invalid.
    InvalidToken,
    /// RFC 6749 §4.1.2.1: the resource owner denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: `response_type` is not supported.
    UnsupportedResponseType,
    /// No such route.
    NotFound,
    /// A method the route does not serve. RFC 6749 has no code for it, so
    /// the body says `invalid_request` (§5.2: "unsupported parameter value"
    /// is the nearest); the status is 405 and `Allow` lists the methods
    /// (RFC 9110 §15.5.6).
    MethodNotAllowed,
    /// Too many requests (the flows document's `rate_limit_exceeded`).
    RateLimitExceeded,
    /// RFC 6749 §5.2 / §4.1.2.1: an unexpected condition inside the server.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server cannot handle the request now (its
    /// database is unreachable); the client may retry.
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidToken => "invalid_token",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "invalid_request",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An error answered to a client. Construct with the shorthands below.
#[derive(Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// The cause of a `server_error`; logged, never sent.
    pub cause: Option<anyhow::Error>,
    /// The quota that refused the request (a 429).
    pub quota: Option<Quota>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            cause: None,
            quota: None,
        }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }

    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, d)
    }

    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }

    pub fn invalid_client_metadata(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, d)
    }

    pub fn invalid_redirect_uri(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, d)
    }

    /// A server fault: the cause is logged when the response is rendered.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: Cow::Borrowed("the server could not complete the request"),
            cause: Some(source.into()),
            quota: None,
        }
    }

    /// The database cannot be reached now: answer 503 and let the client
    /// retry. The cause is logged.
    pub fn unavailable(source: impl Into<anyhow::Error>) -> Self {
        Self {
            code: ErrorCode::TemporarilyUnavailable,
            description: Cow::Borrowed("the server is temporarily unavailable; try again shortly"),
            cause: Some(source.into()),
            quota: None,
        }
    }

    /// Too many requests: the flows document's `rate_limit_exceeded`, with
    /// the quota that refused it.
    pub fn over_quota(quota: Quota) -> Self {
        let mut e = Self::new(
            ErrorCode::RateLimitExceeded,
            "Too many requests from this client",
        );
        e.quota = Some(quota);
        e
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for Error {}
