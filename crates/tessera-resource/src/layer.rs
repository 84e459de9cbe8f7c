//! The tower layer that guards MCP routes and puts an [`Authenticated`] in
//! the request's extensions.
//!
//! Per request: read the bearer token from the `Authorization` header only
//! (RFC 6750 §2.1; never the query string or body, OAuth 2.1 §5.2), validate
//! it offline, count the request against the rate limit (keyed by client id,
//! else by IP, so token guessing is limited too), check the route's scopes
//! (403 with the union, mcp-interop §1.10), and, for revocation-sensitive
//! routes, ask the issuer (RFC 7662). Tools on one endpoint check their own
//! scopes with [`Authenticated::require_scopes`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::scope::ScopeSet;

use crate::authenticated::{Authenticated, check_scopes, require_active, scope_set};
use crate::rejection::{Kind, Rejection};
use crate::{ResourceKit, Verified, VerifyError};

/// `Authorization: Bearer <token>`; `Err` when a header is there but is not that.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one Authorization header");
    }
    let value = value
        .to_str()
        .map_err(|_| "the Authorization header is not ASCII")?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or("expected 'Authorization: Bearer <token>'")?;
    let token = token.trim_start_matches(' ');
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err("expected 'Authorization: Bearer <token>'");
    }
    Ok(Some(token))
}

/// Guards routes; build with [`ResourceKit::auth`].
#[derive(Clone)]
pub struct AuthLayer {
    kit: ResourceKit,
    required: Arc<ScopeSet>,
    active: bool,
}

impl AuthLayer {
    pub fn new(kit: ResourceKit) -> Self {
        Self {
            kit,
            required: Arc::new(ScopeSet::default()),
            active: false,
        }
    }

    /// Every request needs these scopes (403 otherwise).
    pub fn require_scopes(mut self, scopes: &[&str]) -> Self {
        self.required = Arc::new(scope_set(scopes));
        self
    }

    /// Every request's token is also checked with the issuer (introspection).
    pub fn require_active(mut self) -> Self {
        self.active = true;
        self
    }

    /// The `scope` of a 401: what this route needs, else what the server offers.
    fn challenge_scope(&self) -> String {
        if self.required.is_empty() {
            self.kit.config().scopes_supported.join(" ")
        } else {
            self.required.to_string()
        }
    }

    async fn admit(
        &self,
        headers: &HeaderMap,
        ip: Option<String>,
    ) -> Result<Authenticated, Rejection> {
        let kit = &self.kit;
        let unauthenticated = |kind: Kind, why: &str| {
            // Prefixed so an IP can never share a counter with a client id.
            let key = format!("ip:{}", ip.as_deref().unwrap_or("unknown"));
            kit.rate_limit(&key, &ScopeSet::default())?;
            Err(kit.reject(kind, why, &self.challenge_scope()))
        };
        let token = match bearer(headers) {
            Ok(Some(token)) => token,
            Ok(None) => {
                let why = "this endpoint needs an access token in the Authorization header \
                           (tokens in the query string are not accepted)";
                return unauthenticated(Kind::MissingToken, why);
            }
            Err(why) => return unauthenticated(Kind::InvalidToken, why),
        };
        let verified: Arc<Verified> = match kit.verify(token).await {
            Ok(v) => v,
            Err(VerifyError::Invalid(why)) => return unauthenticated(Kind::InvalidToken, &why),
            Err(VerifyError::Unavailable(why)) => {
                return Err(kit.reject(Kind::Unavailable, &why, ""));
            }
        };
        let key = format!("client:{}", verified.claims.client_id);
        kit.rate_limit(&key, &verified.scopes)?;
        check_scopes(kit, &verified.scopes, &self.required)?;
        if self.active {
            require_active(kit, token, verified.claims.exp, &verified.scopes).await?;
        }
        let user_agent = headers.get(header::USER_AGENT);
        let user_agent = user_agent.and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Authenticated::new(&verified, ip, user_agent, token, kit))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service [`AuthLayer`] wraps around a route.
#[derive(Clone)]
pub struct AuthService<S> {
    layer: AuthLayer,
    inner: S,
}

impl<S> Service<Request<Body>> for AuthService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // The ready service is the one to call; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        // The body is not `Sync`, so only headers and the peer cross the await.
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Box::pin(async move {
            match layer.admit(req.headers(), ip).await {
                Ok(auth) => {
                    req.extensions_mut().insert(auth);
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_one_bearer_header_is_a_token() {
        assert_eq!(bearer(&headers(&[])), Ok(None));
        assert_eq!(bearer(&headers(&["Bearer abc"])), Ok(Some("abc")));
        assert_eq!(bearer(&headers(&["bearer  abc"])), Ok(Some("abc")));
        for bad in [
            &["Basic abc"][..],
            &["Bearer"],
            &["Bearer "],
            &["Bearer a b"],
            &["Bearer a", "Bearer b"],
        ] {
            assert!(bearer(&headers(bad)).is_err(), "{bad:?}");
        }
    }
}
