//! Client authentication at the token endpoint (RFC 6749 §2.3, OAuth 2.1 §2.4),
//! and at revocation and introspection, which authenticate the same way.
//!
//! Four methods: `client_secret_basic` (HTTP Basic, each half form-urldecoded,
//! RFC 6749 §2.3.1), `client_secret_post` (both in the body), `none` (a public
//! client names itself with `client_id`) and `private_key_jwt` (RFC 7523 §2.2,
//! OIDC Core §9: `client_assertion_type` and a `client_assertion` signed by a
//! key the client registered; the claims' rules are `oauth::assertion`'s, its
//! `jti` is spent in the replay cache every replica shares). Only a client
//! registered for `private_key_jwt` may use it, and such a client may use
//! nothing else. The secret methods pay nothing for it: one absent-parameter
//! lookup. A client holding a secret may use
//! either secret method (claude.ai posts even when Basic was registered;
//! mcp-interop §1.8), and a `client_id` in the body alongside Basic is accepted
//! when it names the same client (the Python SDK always sends it). Every
//! failure is 401 `invalid_client`.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use percent_encoding::percent_decode_str;

use super::body::OAuthForm;
use crate::assertions::{KeySource, replay_key, unverified_claim};
use crate::error::{Error, Result};
use crate::oauth::assertion::{Claims, client_assertion};
use crate::oauth::client::AuthMethod;
use crate::state::AppState;
use crate::store::clients::{ClientAuth, ClientKeys};

/// RFC 7523 §2.2's `client_assertion_type`.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Credentials as presented.
pub struct Presented {
    pub client_id: String,
    /// `None` for a public client or a client assertion.
    secret: Option<String>,
    /// A `private_key_jwt` client assertion.
    assertion: Option<String>,
}

/// The secret and the assertion never reach a log line or a `Debug` output.
impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("assertion", &self.assertion.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Form-urldecode one half of Basic credentials (RFC 6749 §2.3.1). Issued
/// ids and secrets are URL-safe, so usually there is nothing to decode and
/// nothing is allocated beyond the owned result.
fn form_decode(s: &str) -> Option<String> {
    if !s.bytes().any(|b| b == b'+' || b == b'%') {
        return Some(s.to_owned());
    }
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn basic(value: &str) -> Result<(String, String)> {
    let bad = || Error::invalid_client("malformed Basic credentials");
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::invalid_client(
            "only Basic authentication is accepted here",
        ));
    }
    let encoded = encoded.trim();
    let raw = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let (id, secret) = (
        form_decode(id).ok_or_else(bad)?,
        form_decode(secret).ok_or_else(bad)?,
    );
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// Read the presented credentials without touching the database.
pub fn presented(headers: &HeaderMap, form: &OAuthForm) -> Result<Presented> {
    presented_with(headers.get(header::AUTHORIZATION), form)
}

/// [`presented`], given only the `Authorization` header.
pub fn presented_with(authorization: Option<&HeaderValue>, form: &OAuthForm) -> Result<Presented> {
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    if let Some(kind) = form.get("client_assertion_type") {
        return with_assertion(authorization.is_some() || body_secret.is_some(), kind, form);
    }
    if let Some(value) = authorization {
        let value = value
            .to_str()
            .map_err(|_| Error::invalid_client("malformed Authorization header"))?;
        let (client_id, secret) = basic(value)?;
        if body_secret.is_some() {
            return Err(Error::invalid_request(
                "use one client authentication method, not Basic and client_secret",
            ));
        }
        if body_id.is_some_and(|b| b != client_id) {
            return Err(Error::invalid_request(
                "client_id in the body does not match the Basic credentials",
            ));
        }
        return Ok(Presented {
            client_id,
            secret: Some(secret),
            assertion: None,
        });
    }
    if form.get("client_assertion").is_some() {
        return Err(Error::invalid_request(
            "a client_assertion needs its client_assertion_type",
        ));
    }
    match (body_id, body_secret) {
        (Some(id), secret) => Ok(Presented {
            client_id: id.to_owned(),
            secret: secret.map(str::to_owned),
            assertion: None,
        }),
        (None, _) => Err(Error::invalid_client("client authentication is required")),
    }
}

/// Credentials presented as a client assertion (RFC 7523 §2.2): the client
/// is the `client_id` parameter, or else the assertion's `sub` (RFC 7521 §4.2
/// makes `client_id` optional); `other` says another method was used too.
fn with_assertion(other: bool, kind: &str, form: &OAuthForm) -> Result<Presented> {
    if other {
        return Err(Error::invalid_request(
            "use one client authentication method, not a client assertion and a secret",
        ));
    }
    if kind != JWT_BEARER_ASSERTION {
        return Err(Error::invalid_client(format!(
            "client_assertion_type must be {JWT_BEARER_ASSERTION}"
        )));
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| Error::invalid_client("client_assertion is missing"))?;
    let client_id = match form.get("client_id") {
        Some(id) => id.to_owned(),
        None => unverified_claim(assertion, "sub")
            .ok_or_else(|| Error::invalid_client("the client assertion names no client (sub)"))?,
    };
    Ok(Presented {
        client_id,
        secret: None,
        assertion: Some(assertion.to_owned()),
    })
}

/// Authenticate the presented credentials: one primary-key lookup and, for
/// confidential clients, one constant-time HMAC comparison (or, for a
/// `private_key_jwt` client, one signature and one replay-cache insert).
pub async fn authenticate(app: &AppState, presented: &Presented) -> Result<Arc<ClientAuth>> {
    let client = app
        .store
        .client_auth_cached(&presented.client_id, app.clock.now())
        .await?
        .ok_or_else(|| Error::invalid_client("unknown client"))?;
    match (&presented.assertion, client.auth_method) {
        (Some(assertion), AuthMethod::PrivateKeyJwt) => {
            key_signed(app, &client, assertion).await?;
            return Ok(client);
        }
        (Some(_), _) => {
            return Err(Error::invalid_client(
                "this client is not registered for private_key_jwt: authenticate as registered",
            ));
        }
        (None, AuthMethod::PrivateKeyJwt) => {
            return Err(Error::invalid_client(
                "this client must authenticate with a private_key_jwt client assertion",
            ));
        }
        (None, _) => {}
    }
    match (&presented.secret, &client.secret_hash) {
        (Some(secret), Some(hash)) => {
            if !app.hasher.verify(secret, hash) {
                return Err(Error::invalid_client("client authentication failed"));
            }
            if client.secret_expires_at != 0 && app.clock.now() >= client.secret_expires_at {
                return Err(Error::invalid_client("the client secret has expired"));
            }
        }
        (None, Some(_)) => {
            return Err(Error::invalid_client(
                "this client must authenticate with its secret",
            ));
        }
        (Some(_), None) => {
            return Err(Error::invalid_client(
                "this is a public client: it has no secret",
            ));
        }
        (None, None) => {}
    }
    Ok(client)
}

/// Check a `private_key_jwt` client assertion: signed by one of the client's
/// keys, its claims as RFC 7523 §3 says (`oauth::assertion`), its `jti` not
/// spent before on any replica.
async fn key_signed(app: &AppState, client: &ClientAuth, assertion: &str) -> Result<()> {
    let refuse = |why: String| Error::invalid_client(format!("client assertion refused: {why}"));
    let source = match &client.keys {
        Some(ClientKeys::Inline(set)) => KeySource::Inline(set.clone()),
        Some(ClientKeys::Remote(url)) => KeySource::Remote {
            url,
            allow_loopback: app.config.registration.metadata_document_loopback,
        },
        None => return Err(refuse("the client has no registered keys".into())),
    };
    let verified = app
        .assertions
        .verify(assertion, source)
        .await
        .map_err(refuse)?;
    let claims: Claims = serde_json::from_value(verified.claims)
        .map_err(|_| refuse("its registered claims are malformed".into()))?;
    let issuer = &app.config.issuer;
    let accepted = [
        issuer.as_str().to_owned(),
        issuer.endpoint("/token"),
        issuer.endpoint("/oauth/token"),
        issuer.endpoint("/oauth2/token"),
        issuer.endpoint("/revoke"),
        issuer.endpoint("/introspect"),
    ];
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    let now = app.clock.now();
    let spent = client_assertion(&claims, &client.id, &accepted, now)?;
    let key = replay_key("client", &client.id, &spent.jti);
    if !app.store.spend_assertion(&key, spent.exp, now).await? {
        return Err(refuse(
            "its jti was used before (a replayed assertion)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::basic;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    fn header(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_halves_are_form_urldecoded_only_when_encoded() {
        let plain = basic(&header("AaJLVh8o-_x", "ESjb_S6n-12k")).unwrap();
        assert_eq!(plain, ("AaJLVh8o-_x".into(), "ESjb_S6n-12k".into()));
        // RFC 6749 §2.3.1: each half is application/x-www-form-urlencoded.
        let encoded = basic(&header("my%3Aclient", "a+b%2Bc%25")).unwrap();
        assert_eq!(encoded, ("my:client".into(), "a b+c%".into()));
        assert!(
            basic(&header("id", "%FF")).is_err(),
            "not UTF-8 once decoded"
        );
        assert!(basic(&header("", "secret")).is_err(), "an empty id");
    }
}

/// Property tests: any `Authorization` value is read or refused without a
/// panic, and credentials encoded as RFC 6749 §2.3.1 says read back exactly.
#[cfg(test)]
mod properties {
    use super::basic;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        vec(any::<char>(), len).prop_map(String::from_iter)
    }

    fn encoded(s: &str) -> String {
        form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_header_value_is_read_or_refused_without_a_panic(value in text(0..200)) {
            let _ = basic(&value);
        }

        #[test]
        fn any_base64_payload_is_read_or_refused_without_a_panic(raw in vec(any::<u8>(), 0..200)) {
            if let Ok((id, _)) = basic(&format!("Basic {}", STANDARD.encode(&raw))) {
                prop_assert!(!id.is_empty());
            }
        }

        #[test]
        fn form_encoded_credentials_read_back_exactly(id in text(1..40), secret in text(0..60)) {
            let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", encoded(&id), encoded(&secret))));
            prop_assert_eq!(basic(&header).ok(), Some((id, secret)));
        }

        #[test]
        fn issued_style_credentials_read_back_unencoded(id in "[A-Za-z0-9_-]{1,43}", secret in "[A-Za-z0-9_-]{0,43}") {
            let header = format!("basic {}", STANDARD.encode(format!("{id}:{secret}")));
            prop_assert_eq!(basic(&header).ok(), Some((id, secret)));
        }
    }
}
