//! Clients: their registered metadata and the rules for registering them.
//!
//! RFC 7591 §2 defines the metadata and its defaults (a missing
//! `token_endpoint_auth_method` means `client_secret_basic`, missing
//! `grant_types` means `authorization_code`). Tessera accepts four methods
//! (`none`, `client_secret_basic`, `client_secret_post`, and `private_key_jwt`
//! with `jwks` or `jwks_uri`: RFC 7523 §2.2, checked in [`super::client_keys`])
//! and three registrable grants.
//! Open registration may only create clients for which a person consents
//! (authorization code, refresh); a `client_credentials` client needs an
//! administrator or an initial access token (RFC 7591 §3). Unknown members
//! such as `application_type` or `software_id` are accepted and kept.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::oauth::client_fields::{
    MAX_LIST, MAX_NAME_CHARS, MAX_REDIRECT_URIS, MAX_SCOPE_BYTES, contacts, list, text, web_uri,
};
use crate::oauth::client_keys;
use crate::oauth::redirect_uri::RedirectPolicy;
use crate::oauth::resource::ResourceRegistry;
use tessera_resource::scope::ScopeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 §2.2 / OIDC Core §9: a JWT signed by a key the client registered.
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub const fn has_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    /// The client proves who it is (a secret or a key), unlike a public client.
    pub const fn authenticates(self) -> bool {
        !matches!(self, Self::None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 7523 §2.1 with an ID-JAG (SEP-990): enterprise-managed access.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:jwt-bearer")]
    JwtBearer,
    /// RFC 8693: an MCP server exchanging the token it received.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            crate::oauth::id_jag::GRANT_TYPE => Some(Self::JwtBearer),
            crate::oauth::token_exchange::GRANT_TYPE => Some(Self::TokenExchange),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::JwtBearer => crate::oauth::id_jag::GRANT_TYPE,
            Self::TokenExchange => crate::oauth::token_exchange::GRANT_TYPE,
        }
    }
}

/// The registered metadata, exactly what a registration response echoes
/// (RFC 7591 §3.2.1). Absent members are omitted, never `null`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// Registered scope. For `client_credentials` clients it is the ceiling of
    /// what they may request; for clients a person consents to it is only a hint
    /// (mcp-interop §1.5: the TypeScript client registers with its first scope
    /// and steps up later with the same `client_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Resources the client may obtain tokens for (the flows document's
    /// `audience`); empty means any registered resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<String>,
    /// The public keys of a `private_key_jwt` client, by value (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where the keys of a `private_key_jwt` client are published (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

impl ClientMetadata {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// One string or an array of strings (the flows document sends `audience` as a string).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// A registration request as clients send it (RFC 7591 §2); unknown members are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct RegistrationRequest {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub contacts: Option<Vec<String>>,
    pub scope: Option<String>,
    pub audience: Option<OneOrMany>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    pub application_type: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
}

/// What registration may do.
pub struct RegistrationRules<'a> {
    pub redirects: &'a RedirectPolicy,
    pub resources: &'a ResourceRegistry,
    /// An administrator, or a request with a valid initial access token.
    pub privileged: bool,
}

impl RegistrationRules<'_> {
    pub fn validate(&self, req: RegistrationRequest) -> Result<ClientMetadata> {
        let method = match req.token_endpoint_auth_method.as_deref() {
            None => AuthMethod::ClientSecretBasic,
            Some(m) => AuthMethod::parse(m).ok_or_else(|| {
                Error::invalid_client_metadata(format!(
                    "token_endpoint_auth_method '{m}' is not supported \
                     (none, client_secret_basic, client_secret_post, private_key_jwt)"
                ))
            })?,
        };
        let grant_types = self.grant_types(req.grant_types, method)?;
        let response_types = response_types(req.response_types, &grant_types)?;
        let redirect_uris =
            self.redirect_uris(req.redirect_uris.unwrap_or_default(), &grant_types)?;
        let scope = match req.scope {
            Some(s) if s.len() > MAX_SCOPE_BYTES => {
                return Err(Error::invalid_client_metadata(format!(
                    "scope is longer than {MAX_SCOPE_BYTES} bytes"
                )));
            }
            Some(s) => Some(
                ScopeSet::parse(&s)
                    .map_err(|e| Error::invalid_client_metadata(e.to_string()))?
                    .to_string(),
            ),
            None => None,
        };
        if grant_types.contains(&GrantType::ClientCredentials)
            && scope.as_deref().unwrap_or("").is_empty()
        {
            return Err(Error::invalid_client_metadata(
                "a client_credentials client must be registered with the scopes it may request",
            ));
        }
        let audience = self.audience(req.audience)?;
        let (jwks, jwks_uri) = client_keys::registered(method, req.jwks, req.jwks_uri)?;
        Ok(ClientMetadata {
            redirect_uris,
            token_endpoint_auth_method: method,
            grant_types,
            response_types,
            client_name: text(req.client_name, "client_name", MAX_NAME_CHARS)?,
            client_uri: web_uri(req.client_uri, "client_uri")?,
            logo_uri: web_uri(req.logo_uri, "logo_uri")?,
            tos_uri: web_uri(req.tos_uri, "tos_uri")?,
            policy_uri: web_uri(req.policy_uri, "policy_uri")?,
            contacts: contacts(req.contacts)?,
            scope,
            audience,
            software_id: text(req.software_id, "software_id", MAX_NAME_CHARS)?,
            software_version: text(req.software_version, "software_version", MAX_NAME_CHARS)?,
            application_type: text(req.application_type, "application_type", MAX_NAME_CHARS)?,
            jwks,
            jwks_uri,
        })
    }

    fn grant_types(
        &self,
        requested: Option<Vec<String>>,
        method: AuthMethod,
    ) -> Result<Vec<GrantType>> {
        let names = requested.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
        let names = list(names, MAX_LIST, "grant_types")?;
        let mut grants = Vec::with_capacity(names.len());
        for name in &names {
            let grant = GrantType::parse(name).ok_or_else(|| {
                Error::invalid_client_metadata(format!(
                    "grant type '{name}' is not supported (authorization_code, refresh_token, client_credentials, \
                     urn:ietf:params:oauth:grant-type:jwt-bearer, urn:ietf:params:oauth:grant-type:token-exchange)"
                ))
            })?;
            if !grants.contains(&grant) {
                grants.push(grant);
            }
        }
        // Only an administrator creates a client with no grant at all: a
        // resource server that authenticates to introspect tokens.
        if grants.is_empty() && !self.privileged {
            return Err(Error::invalid_client_metadata(
                "grant_types must not be empty",
            ));
        }
        let server_side = [GrantType::JwtBearer, GrantType::TokenExchange];
        if !self.privileged && grants.iter().any(|g| server_side.contains(g)) {
            return Err(Error::invalid_client_metadata(
                "open registration cannot create clients for the jwt-bearer or token-exchange grants: \
                 present an initial access token or ask an administrator (tessera client add)",
            ));
        }
        if grants.contains(&GrantType::TokenExchange) && !method.authenticates() {
            return Err(Error::invalid_client_metadata(
                "a token-exchange client must authenticate: choose client_secret_basic, \
                 client_secret_post or private_key_jwt",
            ));
        }
        if grants.contains(&GrantType::ClientCredentials) {
            if !self.privileged {
                return Err(Error::invalid_client_metadata(
                    "open registration cannot create client_credentials clients: \
                     present an initial access token or ask an administrator (tessera client add)",
                ));
            }
            if !method.authenticates() {
                return Err(Error::invalid_client_metadata(
                    "a client_credentials client must authenticate: choose client_secret_basic, \
                     client_secret_post or private_key_jwt",
                ));
            }
        }
        Ok(grants)
    }

    fn redirect_uris(&self, uris: Vec<String>, grants: &[GrantType]) -> Result<Vec<String>> {
        if grants.contains(&GrantType::AuthorizationCode) && uris.is_empty() {
            return Err(Error::invalid_redirect_uri(
                "redirect_uris must list at least one URI for the authorization_code grant",
            ));
        }
        if uris.len() > MAX_REDIRECT_URIS {
            return Err(Error::invalid_redirect_uri(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs"
            )));
        }
        for uri in &uris {
            self.redirects
                .validate(uri)
                .map_err(Error::invalid_redirect_uri)?;
        }
        Ok(uris)
    }

    fn audience(&self, audience: Option<OneOrMany>) -> Result<Vec<String>> {
        let list = list(
            audience.map(OneOrMany::into_vec).unwrap_or_default(),
            MAX_LIST,
            "audience",
        )?;
        for uri in &list {
            if self.resources.find(uri).is_none() {
                return Err(Error::invalid_client_metadata(format!(
                    "audience '{uri}' is not a resource registered with this issuer"
                )));
            }
        }
        Ok(list)
    }
}

/// RFC 7592 §2.2 update by the client itself (its registration access
/// token): it may narrow what it was registered with, never widen it. Only
/// an administrator, or a new registration with the initial access token,
/// grants more. Scope is compared as a ceiling (by the wildcard rule),
/// `audience` as a set where empty means every resource, grants as a set.
pub fn no_wider(registered: &ClientMetadata, update: &ClientMetadata) -> Result<()> {
    let refuse = |what: &str| {
        Err(Error::invalid_client_metadata(format!(
            "a registration update cannot widen {what}: ask an administrator, \
             or register again with the initial access token"
        )))
    };
    if !update.grant_types.iter().all(|g| registered.allows(*g)) {
        return refuse("grant_types");
    }
    if let Some(ceiling) = &registered.scope {
        let ceiling = ScopeSet::parse(ceiling).unwrap_or_default();
        let asked = update.scope.as_deref().unwrap_or_default();
        let asked = ScopeSet::parse(asked).unwrap_or_default();
        if !asked.iter().all(|s| ceiling.covers(s)) {
            return refuse("scope");
        }
    }
    let bound = &registered.audience;
    let wider = if bound.is_empty() {
        false
    } else {
        update.audience.is_empty() || !update.audience.iter().all(|a| bound.contains(a))
    };
    if wider {
        return refuse("audience");
    }
    Ok(())
}

fn response_types(requested: Option<Vec<String>>, grants: &[GrantType]) -> Result<Vec<String>> {
    let wants_code = grants.contains(&GrantType::AuthorizationCode);
    let types = match requested {
        Some(t) if !t.is_empty() => list(t, MAX_LIST, "response_types")?,
        _ if wants_code => vec!["code".to_owned()],
        _ => Vec::new(),
    };
    if let Some(bad) = types.iter().find(|t| t.as_str() != "code") {
        return Err(Error::invalid_client_metadata(format!(
            "response type '{bad}' is not supported (code)"
        )));
    }
    if !types.is_empty() && !wants_code {
        return Err(Error::invalid_client_metadata(
            "response type 'code' requires the authorization_code grant",
        ));
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn rules(privileged: bool) -> (RedirectPolicy, ResourceRegistry, bool) {
        (
            RedirectPolicy::default(),
            ResourceRegistry::default(),
            privileged,
        )
    }

    fn validate(req: serde_json::Value, privileged: bool) -> Result<ClientMetadata> {
        let (redirects, resources, privileged) = rules(privileged);
        let r = RegistrationRules {
            redirects: &redirects,
            resources: &resources,
            privileged,
        };
        r.validate(serde_json::from_value(req).unwrap())
    }

    #[test]
    fn rfc7591_defaults_apply_when_members_are_omitted() {
        let m = validate(
            serde_json::json!({"redirect_uris": ["http://localhost/cb"]}),
            false,
        )
        .unwrap();
        assert_eq!(m.token_endpoint_auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(m.response_types, ["code"]);
    }

    #[test]
    fn open_registration_cannot_create_machine_clients() {
        let req =
            serde_json::json!({"grant_types": ["client_credentials"], "scope": "mcp:tools:*"});
        assert_eq!(
            validate(req.clone(), false).unwrap_err().code,
            ErrorCode::InvalidClientMetadata
        );
        assert!(validate(req, true).is_ok());
    }

    #[test]
    fn bad_metadata_is_refused_with_the_rfc7591_code() {
        let cases = [
            (
                serde_json::json!({"redirect_uris": []}),
                ErrorCode::InvalidRedirectUri,
            ),
            (
                serde_json::json!({"redirect_uris": ["http://evil.example/cb"]}),
                ErrorCode::InvalidRedirectUri,
            ),
            (
                serde_json::json!({"redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"redirect_uris": ["http://localhost/cb"], "grant_types": ["implicit"]}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"redirect_uris": ["http://localhost/cb"], "response_types": ["token"]}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"redirect_uris": ["http://localhost/cb"], "scope": "mcp:tools"}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"redirect_uris": ["http://localhost/cb"], "client_uri": "javascript:x"}),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                serde_json::json!({"redirect_uris": ["http://localhost/cb"], "audience": "https://unknown.example"}),
                ErrorCode::InvalidClientMetadata,
            ),
        ];
        for (req, code) in cases {
            assert_eq!(validate(req.clone(), true).unwrap_err().code, code, "{req}");
        }
    }

    #[test]
    fn every_field_is_capped_and_displayed_text_must_be_clean() {
        let base = serde_json::json!({"redirect_uris": ["http://localhost/cb"]});
        let with = |k: &str, v: serde_json::Value| {
            let mut d = base.clone();
            d[k] = v;
            d
        };
        let uris = |n: usize| {
            (0..n)
                .map(|i| format!("http://localhost/cb{i}"))
                .collect::<Vec<_>>()
        };
        for (why, req, code) in [
            (
                "a 60 KB contact",
                with("contacts", serde_json::json!(["a".repeat(60_000)])),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "eleven contacts",
                with("contacts", serde_json::json!(vec!["a@example.com"; 11])),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "a bidi override in the name",
                with("client_name", serde_json::json!("Evil\u{202E}kooB")),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "a control character in the name",
                with("client_name", serde_json::json!("a\u{7}b")),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "a 201-character name",
                with("client_name", serde_json::json!("n".repeat(201))),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "a 2 KB software_version",
                with("software_version", serde_json::json!("1".repeat(2000))),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "a wildcard logo_uri",
                with("logo_uri", serde_json::json!("https://*.example/logo.png")),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "a huge scope",
                with("scope", serde_json::json!("x ".repeat(3000))),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "many grant types",
                with("grant_types", serde_json::json!(vec!["refresh_token"; 100])),
                ErrorCode::InvalidClientMetadata,
            ),
            (
                "21 redirect URIs",
                with("redirect_uris", serde_json::json!(uris(21))),
                ErrorCode::InvalidRedirectUri,
            ),
            (
                "a redirect URI with a tab",
                with(
                    "redirect_uris",
                    serde_json::json!(["http://localhost/cb\t"]),
                ),
                ErrorCode::InvalidRedirectUri,
            ),
        ] {
            let got = validate(req, true).map(|_| ()).map_err(|e| e.code);
            assert_eq!(got, Err(code), "{why}");
        }
        assert!(validate(with("redirect_uris", serde_json::json!(uris(20))), true).is_ok());
    }

    #[test]
    fn an_empty_scope_and_unknown_members_are_accepted() {
        let req = serde_json::json!({
            "redirect_uris": ["http://localhost:6274/oauth/callback"],
            "scope": "", "application_type": "native", "software_id": "x", "jwks": {"keys": []},
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]
        });
        let m = validate(req, false).unwrap();
        assert_eq!(m.scope.as_deref(), Some(""));
        assert_eq!(m.application_type.as_deref(), Some("native"));
    }
}
