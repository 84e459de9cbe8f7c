//! The authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 8707).
//!
//! Validation runs in two stages, as RFC 6749 §4.1.2.1 requires. First the
//! client and its redirect URI: if either cannot be trusted the person sees an
//! error page and is never redirected ([`trusted_redirect`]). Only then are the
//! other parameters checked, and their errors go back to the client by redirect
//! with `state` and `iss` ([`validate`]). Where a valid request goes next
//! is [`crate::oauth::consent`]'s decision.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};
use crate::oauth::catalog::ScopeCatalog;
use crate::oauth::client::{ClientMetadata, GrantType};
use crate::oauth::grant_scope;
use crate::oauth::pkce;
use crate::oauth::redirect_uri;
use crate::oauth::resource::ResourceRegistry;
use tessera_resource::scope::ScopeSet;

/// Why the redirect URI cannot be used: shown on an error page, never redirected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted(pub String);

/// The raw parameters (query string or form), each at most once.
#[derive(Debug, Default)]
pub struct Params<'a> {
    pub response_type: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub state: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    pub resources: Vec<&'a str>,
    pub prompt: Option<&'a str>,
}

/// A validated authorization request, carried through sign-in and consent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// The redirect URI to answer at (the one sent, or the only registered one).
    pub redirect_uri: String,
    /// Whether the request named it; if so the token request must repeat it.
    pub redirect_uri_sent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub code_challenge: String,
    /// The scopes asked for (known, accepted by the resources, never empty).
    pub scope: ScopeSet,
    /// Registered URIs of the resources the token will be for.
    pub resources: Vec<String>,
    /// `prompt=consent`: show the consent page even if consent is remembered.
    pub force_consent: bool,
}

/// Stage one: pick the redirect URI, or say why none can be trusted.
pub fn trusted_redirect(
    registered: &[String],
    requested: Option<&str>,
) -> Result<String, Untrusted> {
    match requested {
        Some(uri) if registered.iter().any(|r| redirect_uri::matches(r, uri)) => Ok(uri.to_owned()),
        Some(uri) => Err(Untrusted(format!(
            "the redirect URI '{uri}' is not registered for this application"
        ))),
        None if registered.len() == 1 => Ok(registered[0].clone()),
        None => Err(Untrusted(
            "the request has no redirect_uri and the application registered several".into(),
        )),
    }
}

/// Stage two: everything else, starting with whether the client (`client_id`,
/// registered as `client`) may use this grant at all. The resources are
/// chosen within the client's bound `audience`, as on every grant. Errors
/// here are redirected to the client.
pub fn validate(
    client_id: &str,
    client: &ClientMetadata,
    redirect_uri: String,
    p: &Params<'_>,
    registry: &ResourceRegistry,
    catalog: &ScopeCatalog,
) -> Result<AuthorizationRequest> {
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(Error::unauthorized_client(
            "this client is not registered for the authorization code grant",
        ));
    }
    match p.response_type {
        Some("code") => {}
        Some(other) => {
            return Err(Error::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type '{other}' is not supported; use 'code'"),
            ));
        }
        None => return Err(Error::invalid_request("response_type is required")),
    }
    let challenge = p.code_challenge.ok_or_else(|| {
        Error::invalid_request(
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        )
    })?;
    if p.code_challenge_method != Some("S256") {
        return Err(Error::invalid_request("code_challenge_method must be S256"));
    }
    if !pkce::valid_challenge(challenge) {
        return Err(Error::invalid_request(
            "code_challenge must be the base64url SHA-256 of the verifier",
        ));
    }
    let resources = registry.select(&p.resources, &client.audience)?;
    let asked = p
        .scope
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| Error::invalid_scope(e.to_string()))?;
    let scope = grant_scope::for_consent(asked.as_ref(), &resources, catalog)?;
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri_sent: p.redirect_uri.is_some(),
        redirect_uri,
        state: p.state.map(str::to_owned),
        code_challenge: challenge.to_owned(),
        scope,
        resources: resources.iter().map(|r| r.uri.clone()).collect(),
        force_consent: p
            .prompt
            .is_some_and(|v| v.split(' ').any(|x| x == "consent")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::catalog::ScopeEntry;
    use crate::oauth::resource::Resource;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CALLBACK: &str = "http://127.0.0.1:5555/cb";

    const CODE: &[&str] = &["authorization_code", "refresh_token"];

    /// A registered client with these grants, bound to `audience`.
    fn client(grants: &[&str], audience: &[&str]) -> ClientMetadata {
        serde_json::from_value(serde_json::json!({
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none",
            "grant_types": grants,
            "response_types": ["code"],
            "audience": audience,
        }))
        .unwrap()
    }

    fn setup() -> (ResourceRegistry, ScopeCatalog) {
        let s = |v: &str| ScopeSet::parse(v).unwrap();
        let registry = ResourceRegistry::new(
            vec![
                Resource::new(
                    "http://127.0.0.1:3000/mcp",
                    "demo".into(),
                    s("mcp:tools:weather mcp:tools:calendar:read"),
                    None,
                )
                .unwrap(),
                Resource::new(
                    "https://other.example/mcp",
                    "other".into(),
                    s("mcp:tools:email:send"),
                    None,
                )
                .unwrap(),
            ],
            Some(0),
        );
        let entry = |n: &str| ScopeEntry {
            name: n.into(),
            description: String::new(),
            permissions: vec![],
        };
        let catalog = ScopeCatalog::new(vec![
            entry("mcp:tools:weather"),
            entry("mcp:tools:calendar:read"),
            entry("mcp:tools:email:send"),
        ]);
        (registry, catalog)
    }

    fn params() -> Params<'static> {
        Params {
            response_type: Some("code"),
            redirect_uri: Some(CALLBACK),
            scope: Some("mcp:tools:weather"),
            state: Some("xyz"),
            code_challenge: Some(CHALLENGE),
            code_challenge_method: Some("S256"),
            resources: vec![],
            prompt: None,
        }
    }

    #[test]
    fn a_sound_request_carries_its_scope_resource_and_binding() {
        let (registry, catalog) = setup();
        let person = client(CODE, &[]);
        let mut p = params();
        p.prompt = Some("login consent");
        let req = validate("c", &person, CALLBACK.into(), &p, &registry, &catalog).unwrap();
        assert_eq!(req.scope, ScopeSet::parse("mcp:tools:weather").unwrap());
        assert_eq!(req.resources, ["http://127.0.0.1:3000/mcp"]);
        assert_eq!((req.redirect_uri_sent, req.force_consent), (true, true));
        assert_eq!(req.state.as_deref(), Some("xyz"));
        // Without `scope`, the resource's own scopes are asked (MCP: PRM scopes_supported).
        p.scope = None;
        let req = validate("c", &person, CALLBACK.into(), &p, &registry, &catalog).unwrap();
        assert_eq!(
            req.scope.to_string(),
            "mcp:tools:weather mcp:tools:calendar:read"
        );
    }

    #[test]
    fn every_stage_two_refusal_has_its_rfc_error() {
        let (registry, catalog) = setup();
        type Edit = fn(&mut Params<'static>);
        // RFC 6749 §4.1.2.1, RFC 7636 §4.4.1, RFC 8707 §2.
        let cases: [(&str, Edit, ErrorCode); 9] = [
            (
                "no response_type",
                |p| p.response_type = None,
                ErrorCode::InvalidRequest,
            ),
            (
                "response_type=token",
                |p| p.response_type = Some("token"),
                ErrorCode::UnsupportedResponseType,
            ),
            (
                "no PKCE",
                |p| p.code_challenge = None,
                ErrorCode::InvalidRequest,
            ),
            (
                "plain PKCE",
                |p| p.code_challenge_method = Some("plain"),
                ErrorCode::InvalidRequest,
            ),
            (
                "no PKCE method",
                |p| p.code_challenge_method = None,
                ErrorCode::InvalidRequest,
            ),
            (
                "a malformed challenge",
                |p| p.code_challenge = Some("too-short"),
                ErrorCode::InvalidRequest,
            ),
            (
                "an unknown scope",
                |p| p.scope = Some("mcp:tools:nope"),
                ErrorCode::InvalidScope,
            ),
            (
                "a scope the resource does not take",
                |p| p.scope = Some("mcp:tools:email:send"),
                ErrorCode::InvalidScope,
            ),
            (
                "an unknown resource",
                |p| p.resources = vec!["https://unknown.example/mcp"],
                ErrorCode::InvalidTarget,
            ),
        ];
        for (why, edit, code) in cases {
            let mut p = params();
            edit(&mut p);
            let err = validate(
                "c",
                &client(CODE, &[]),
                CALLBACK.into(),
                &p,
                &registry,
                &catalog,
            )
            .unwrap_err();
            assert_eq!(err.code, code, "{why}");
        }
        // A client not registered for the grant: RFC 6749 §4.1.2.1.
        let machine = client(&["client_credentials"], &[]);
        let err = validate(
            "c",
            &machine,
            CALLBACK.into(),
            &params(),
            &registry,
            &catalog,
        );
        assert_eq!(err.unwrap_err().code, ErrorCode::UnauthorizedClient);
    }

    #[test]
    fn a_client_bound_to_resources_gets_codes_for_those_only() {
        let (registry, catalog) = setup();
        let bound = client(CODE, &["https://other.example/mcp"]);
        let mut p = params();
        p.scope = Some("mcp:tools:email:send");
        // Nothing named: the client's first audience, not the registry default.
        let req = validate("c", &bound, CALLBACK.into(), &p, &registry, &catalog).unwrap();
        assert_eq!(req.resources, ["https://other.example/mcp"]);
        p.resources = vec!["http://127.0.0.1:3000/mcp"];
        p.scope = Some("mcp:tools:weather");
        let err = validate("c", &bound, CALLBACK.into(), &p, &registry, &catalog).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
    }

    #[test]
    fn the_redirect_uri_is_trusted_only_when_registered() {
        let reg = vec![
            "http://127.0.0.1/cb".to_string(),
            "https://app.example/cb".to_string(),
        ];
        assert_eq!(
            trusted_redirect(&reg, Some("http://127.0.0.1:5555/cb")).unwrap(),
            "http://127.0.0.1:5555/cb"
        );
        assert!(trusted_redirect(&reg, Some("https://evil.example/cb")).is_err());
        assert!(
            trusted_redirect(&reg, None).is_err(),
            "ambiguous without redirect_uri"
        );
        assert_eq!(
            trusted_redirect(&reg[1..], None).unwrap(),
            "https://app.example/cb"
        );
    }
}
