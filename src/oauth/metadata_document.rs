//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document;
//! MCP 2025-11-25 "client ID metadata documents"; mcp-interop §1.6).
//!
//! A `client_id` that is an https URL names a JSON document describing the
//! client. The URL must be https with a path, no dot segments (`.`, `..`, or
//! either percent-encoded, which URL parsing decodes), no query, no fragment
//! and no credentials, within the URI character rules every URI passes (no
//! backslash, which URL parsing reads as `/`); it must be written exactly as
//! URL parsing reads it, since it is also the client's identity. The document
//! must be an object whose `client_id` equals the URL by simple string
//! comparison, with a `client_name` and non-empty `redirect_uris`, and without
//! any shared secret; its other members pass the registration rules
//! (`client::RegistrationRules`, the same caps and character rules as
//! `/register`). Such clients are public: they authenticate with `none`.

use tessera_resource::uri::check_chars;
use url::Url;

use crate::oauth::client::{
    AuthMethod, ClientMetadata, GrantType, RegistrationRequest, RegistrationRules,
};

/// Is `client_id` a metadata-document URL (as opposed to a registered id)?
pub fn is_document_url(client_id: &str, allow_loopback_http: bool) -> bool {
    client_id.starts_with("https://") || (allow_loopback_http && client_id.starts_with("http://"))
}

/// Check the shape of a document URL; the error says why it is refused.
pub fn check_url(client_id: &str, allow_loopback_http: bool) -> Result<Url, String> {
    check_chars(client_id).map_err(|why| format!("the client_id URL {why}"))?;
    let url = Url::parse(client_id).map_err(|_| "the client_id is not a valid URL".to_owned())?;
    let loopback_http = allow_loopback_http
        && url.scheme() == "http"
        && tessera_resource::uri::is_loopback_host(&url);
    if url.scheme() != "https" && !loopback_http {
        return Err("a client_id URL must use https".into());
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err("a client_id URL must have a path".into());
    }
    let raw_path = client_id.splitn(4, '/').nth(3).unwrap_or("");
    if raw_path.split(['/', '?', '#']).any(is_dot_segment) {
        return Err("a client_id URL must not contain dot segments".into());
    }
    if url.query().is_some() || url.fragment().is_some() || client_id.contains(['?', '#']) {
        return Err("a client_id URL must not have a query or fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a client_id URL must not contain credentials".into());
    }
    if url.as_str() != client_id {
        return Err(format!(
            "a client_id URL must be written as URL parsing reads it ('{}')",
            url.as_str()
        ));
    }
    Ok(url)
}

/// `.` or `..`, with any of its dots percent-encoded (`%2e`, `%2E`).
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let decoded = lower.replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// Validate a fetched document for `client_id` into registered metadata.
pub fn validate(
    client_id: &str,
    doc: &serde_json::Value,
    rules: &RegistrationRules<'_>,
) -> Result<ClientMetadata, String> {
    let obj = doc
        .as_object()
        .ok_or("the metadata document is not a JSON object")?;
    if obj.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
        return Err("the document's client_id does not equal its URL".into());
    }
    if obj.contains_key("client_secret") || obj.contains_key("client_secret_expires_at") {
        return Err("a metadata document must not carry a client secret".into());
    }
    match obj
        .get("token_endpoint_auth_method")
        .and_then(|v| v.as_str())
    {
        None | Some("none") => {}
        Some(other) => {
            return Err(format!(
                "token_endpoint_auth_method '{other}' is not allowed for a metadata document"
            ));
        }
    }
    if obj
        .get("client_name")
        .and_then(|v| v.as_str())
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err("the document has no client_name".into());
    }
    let mut req: RegistrationRequest = serde_json::from_value(doc.clone())
        .map_err(|e| format!("the document is malformed: {e}"))?;
    req.token_endpoint_auth_method = Some("none".into());
    if req.redirect_uris.as_ref().is_none_or(Vec::is_empty) {
        return Err("the document lists no redirect_uris".into());
    }
    let metadata = rules
        .validate(req)
        .map_err(|e| e.description.into_owned())?;
    if metadata.token_endpoint_auth_method != AuthMethod::None
        || metadata.allows(GrantType::ClientCredentials)
    {
        return Err("a metadata document describes a public client only".into());
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::redirect_uri::RedirectPolicy;
    use crate::oauth::resource::ResourceRegistry;
    use serde_json::json;

    const ID: &str = "https://claude.ai/oauth/claude-code-client-metadata";

    fn check(doc: serde_json::Value) -> Result<ClientMetadata, String> {
        let (redirects, resources) = (RedirectPolicy::default(), ResourceRegistry::default());
        validate(
            ID,
            &doc,
            &RegistrationRules {
                redirects: &redirects,
                resources: &resources,
                privileged: false,
            },
        )
    }

    #[test]
    fn url_shapes_are_checked() {
        assert!(check_url(ID, false).is_ok());
        for bad in [
            "http://claude.ai/x",
            "https://claude.ai",
            "https://claude.ai/",
            "https://claude.ai/a/../b",
            "https://claude.ai/a?x=1",
            "https://claude.ai/a#f",
            "https://u:p@claude.ai/a",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9/doc", true).is_ok());
        assert!(check_url("https://claude.ai/a/.well-known", false).is_ok());
        assert!(check_url("http://example.com/doc", true).is_err());
    }

    #[test]
    fn encoded_and_backslash_dot_segments_and_odd_characters_are_refused() {
        for bad in [
            "https://claude.ai/a/%2e%2e/b",
            "https://claude.ai/a/%2E%2E/b",
            "https://claude.ai/a/.%2e/b",
            "https://claude.ai/a/%2e/b",
            "https://claude.ai/a\\..\\b",
            "https://claude.ai/a\\b",
            "https://claude.ai/a/..\\b",
            "https://claude.ai/a/b\t",
            " https://claude.ai/a",
            "https://claude.ai/a\u{202e}",
            "https://CLAUDE.ai/a",
            "https://claude.ai:443/a",
            "https://@claude.ai/a",
            "https://*.claude.ai/a",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claude_codes_document_is_accepted_as_a_public_client() {
        let m = check(json!({
            "client_id": ID, "client_name": "Claude Code",
            "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "none"
        }))
        .unwrap();
        assert_eq!(m.token_endpoint_auth_method, AuthMethod::None);
        assert!(m.allows(GrantType::RefreshToken));
    }

    #[test]
    fn bad_documents_are_refused() {
        let base =
            json!({"client_id": ID, "client_name": "x", "redirect_uris": ["http://localhost/cb"]});
        let with = |k: &str, v: serde_json::Value| {
            let mut d = base.clone();
            d[k] = v;
            d
        };
        for (why, doc) in [
            ("not an object", json!([1])),
            (
                "other client_id",
                with("client_id", json!("https://claude.ai/other")),
            ),
            ("secret", with("client_secret", json!("s"))),
            (
                "secret method",
                with("token_endpoint_auth_method", json!("client_secret_basic")),
            ),
            ("no name", with("client_name", json!(""))),
            ("no redirects", with("redirect_uris", json!([]))),
            (
                "bad redirect",
                with("redirect_uris", json!(["http://evil.example/cb"])),
            ),
            (
                "machine grant",
                with("grant_types", json!(["client_credentials"])),
            ),
        ] {
            assert!(check(doc).is_err(), "{why}");
        }
    }
}
