//! Property tests of the grant core's readers of untrusted input: redirect
//! URIs ([`super::redirect_uri`]), `resource` values ([`super::resource`]),
//! registration JSON ([`super::client`], [`super::client_fields`]) and client
//! ID metadata documents ([`super::metadata_document`]). Any input is
//! answered without a panic, what is accepted obeys every rule, and accepted
//! registration metadata registers again to the same metadata.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Value, json};
use url::Url;

use super::client::{ClientMetadata, RegistrationRequest, RegistrationRules};
use super::client_fields::{MAX_NAME_CHARS, is_unsafe_char};
use super::metadata_document;
use super::redirect_uri::{RedirectPolicy, matches};
use super::resource::{Resource, ResourceRegistry};
use crate::error::ErrorCode;
use tessera_resource::scope::ScopeSet;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

fn any_text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    vec(any::<char>(), len).prop_map(String::from_iter)
}

/// One of `fixed`, or a string of the regex `free`.
fn one_of(fixed: &'static [&'static str], free: &'static str) -> BoxedStrategy<String> {
    let fixed = proptest::sample::select(fixed).prop_map(str::to_owned);
    prop_oneof![3 => fixed, 1 => free].boxed()
}

/// URI-shaped strings, biased towards what real and hostile clients send.
fn uri_like() -> impl Strategy<Value = String> {
    let scheme = one_of(
        &["https", "http", "HTTP", "cursor", "javascript", "http:"],
        "[a-z.]{1,6}",
    );
    let sep = one_of(&["://", ":/", ":", ":///"], "[:/]{1,3}");
    let host = one_of(
        &[
            "127.0.0.1",
            "localhost",
            "[::1]",
            "0x7f.0.0.1",
            "127.1",
            "2130706433",
            "app.example",
            "APP.example",
            "u:p@app.example",
            "@app.example",
            "*.example",
            "",
        ],
        "[a-z0-9.]{1,10}",
    );
    let port = one_of(&["", ":443", ":80", ":3000", ":", ":99999"], ":[0-9]{1,5}");
    let segment = one_of(
        &[
            "cb", ".", "..", "%2e%2e", "a b", "\t", "\0", "\\", "\u{202e}", "*", "?q=1", "#f",
        ],
        "[ -~]{0,5}",
    );
    (scheme, sep, host, port, vec(segment, 0..4))
        .prop_map(|(s, sep, h, p, path)| format!("{s}{sep}{h}{p}/{}", path.join("/")))
}

/// Redirect URIs that registration accepts, loopback ones among them.
fn registrable() -> impl Strategy<Value = String> {
    let origin = one_of(
        &[
            "http://127.0.0.1",
            "http://[::1]",
            "http://localhost",
            "http://127.0.0.2",
            "https://app.example",
            "cursor://anysphere.cursor-mcp",
        ],
        "https://[a-z]{1,8}\\.example",
    );
    let port = one_of(&["", ":3000"], ":[1-9][0-9]{0,3}");
    (
        origin,
        port,
        "(/([a-z0-9_~-][a-z0-9._~-]{0,5})?){0,3}",
        "(\\?[a-z]=[a-z0-9]{0,3})?",
    )
        .prop_map(|(o, p, path, q)| format!("{o}{p}{path}{q}"))
}

/// Client ID metadata document URLs, with dot segments in every disguise.
fn document_url() -> impl Strategy<Value = String> {
    let origin = one_of(
        &[
            "https://client.example",
            "http://127.0.0.1:9",
            "https://CLIENT.example",
            "https://client.example:443",
            "https://@client.example",
            "https:/client.example",
        ],
        "https://[a-z]{1,6}\\.example",
    );
    let segment = one_of(
        &[
            "doc", ".", "..", "%2e%2e", "%2E", ".%2e", "a\\b", "..\\x", "x y", "?q", "#f", "",
        ],
        "[a-z0-9._-]{1,6}",
    );
    (origin, vec(segment, 1..4)).prop_map(|(o, path)| format!("{o}/{}", path.join("/")))
}

/// `uri` without a port right after a `http://HOST`.
fn without_port(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("http://") else {
        return uri.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => authority,
    };
    format!("http://{host}{tail}")
}

fn registry() -> ResourceRegistry {
    let scopes = ScopeSet::parse("mcp:tools:*").unwrap_or_default();
    let resources = ["https://mcp.example.com", "http://127.0.0.1:3000/mcp"]
        .into_iter()
        .filter_map(|uri| Resource::new(uri, uri.into(), scopes.clone(), None).ok())
        .collect();
    ResourceRegistry::new(resources, Some(0))
}

fn validate(req: RegistrationRequest) -> crate::error::Result<ClientMetadata> {
    let (redirects, resources) = (RedirectPolicy::default(), registry());
    RegistrationRules {
        redirects: &redirects,
        resources: &resources,
        privileged: true,
    }
    .validate(req)
}

/// JSON values of every type, biased towards registration-shaped ones.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        uri_like().prop_map(Value::String),
        any_text(0..24).prop_map(Value::String),
        one_of(
            &[
                "none",
                "client_secret_basic",
                "client_secret_post",
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "code",
                "mcp:tools:weather",
                "",
                "http://127.0.0.1/cb",
                "https://mcp.example.com",
            ],
            "[a-z_]{1,12}",
        )
        .prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ];
    leaf.prop_recursive(1, 8, 4, |inner| vec(inner, 0..4).prop_map(Value::Array))
}

/// Objects with the RFC 7591 member names (and a stranger), any values.
fn registration_json() -> impl Strategy<Value = Value> {
    let name = proptest::sample::select(
        &[
            "redirect_uris",
            "token_endpoint_auth_method",
            "grant_types",
            "response_types",
            "client_name",
            "client_uri",
            "logo_uri",
            "tos_uri",
            "policy_uri",
            "contacts",
            "scope",
            "audience",
            "software_id",
            "software_version",
            "application_type",
            "client_id",
            "client_secret",
            "jwks",
        ][..],
    );
    btree_map(name, json_value(), 0..8).prop_map(|m| {
        let mut doc: serde_json::Map<String, Value> =
            m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        doc.entry("redirect_uris")
            .or_insert_with(|| json!(["http://127.0.0.1/cb"]));
        Value::Object(doc)
    })
}

#[test]
fn any_redirect_uri_is_checked_and_matched_without_a_panic() {
    let policy = RedirectPolicy::default();
    proptest!(config(), |(uri in prop_oneof![uri_like(), any_text(0..60)], other in uri_like())| {
        let accepted = policy.validate(&uri).is_ok();
        let _ = matches(&uri, &other);
        if accepted {
            prop_assert!(uri.bytes().all(|b| b.is_ascii_graphic()), "{:?}", uri);
            prop_assert!(!uri.contains(['*', '#', '\\']), "{:?}", uri);
            let read = Url::parse(&uri).map(String::from).unwrap_or_default();
            prop_assert!(read == uri || read == format!("{uri}/"), "{:?} is read as {:?}", uri, read);
            prop_assert!(matches(&uri, &uri));
        }
    });
}

#[test]
fn a_redirect_uri_matches_only_itself_or_itself_on_another_loopback_port() {
    let policy = RedirectPolicy::default();
    let port = one_of(
        &["", ":1", ":8080", ":65535", ":65536", ":", ":+1", ":1 "],
        ":[0-9]{1,6}",
    );
    proptest!(config(), |(registered in registrable(), requested in uri_like(), port in port)| {
        prop_assume!(policy.validate(&registered).is_ok());
        let on_port = without_port(&registered).replacen("http://127.0.0.1", &format!("http://127.0.0.1{port}"), 1);
        for asked in [requested, on_port] {
            if matches(&registered, &asked) && asked != registered {
                prop_assert_eq!(without_port(&asked), without_port(&registered));
                let host = ["http://127.0.0.1", "http://[::1]", "http://localhost"];
                prop_assert!(host.iter().any(|h| registered.starts_with(h)), "{:?}", registered);
                prop_assert!(asked.bytes().all(|b| b.is_ascii_graphic()), "{:?}", asked);
            }
        }
    });
}

#[test]
fn any_requested_resource_is_chosen_or_invalid_target() {
    let registry = registry();
    let granted = ["http://127.0.0.1:3000/mcp".to_owned()];
    proptest!(config(), |(uri in prop_oneof![uri_like(), any_text(0..60)])| {
        for outcome in [registry.select(&[&uri], &[]), registry.narrow(&granted, &[&uri])] {
            match outcome {
                Ok(chosen) => {
                    prop_assert!(uri.bytes().all(|b| b.is_ascii_graphic()), "{:?}", uri);
                    prop_assert!(chosen.iter().all(|r| registry.find(&r.uri).is_some()));
                }
                Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidTarget),
            }
        }
    });
}

#[test]
fn any_registration_is_validated_without_a_panic_and_registers_again_the_same() {
    proptest!(config(), |(doc in registration_json())| {
        let Ok(req) = serde_json::from_value::<RegistrationRequest>(doc) else {
            return Ok(());
        };
        let Ok(metadata) = validate(req) else {
            return Ok(());
        };
        let name = metadata.client_name.as_deref().unwrap_or("");
        prop_assert!(name.chars().count() <= MAX_NAME_CHARS && !name.chars().any(is_unsafe_char));
        prop_assert!(metadata.contacts.len() <= 10);
        let echoed = serde_json::to_value(&metadata).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = serde_json::from_value::<RegistrationRequest>(echoed)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = validate(again).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, metadata);
    });
}

#[test]
fn any_metadata_document_url_and_document_are_checked_without_a_panic() {
    const ID: &str = "https://client.example/oauth/metadata.json";
    let (redirects, resources) = (RedirectPolicy::default(), registry());
    let rules = RegistrationRules {
        redirects: &redirects,
        resources: &resources,
        privileged: false,
    };
    proptest!(config(), |(url in prop_oneof![document_url(), uri_like(), any_text(0..60)], loopback in any::<bool>(), doc in registration_json())| {
        if let Ok(parsed) = metadata_document::check_url(&url, loopback) {
            prop_assert_eq!(parsed.as_str(), url.as_str());
            let lower = url.to_ascii_lowercase().replace("%2e", ".");
            let dots = lower.split('/').skip(3).any(|s| s == "." || s == "..");
            prop_assert!(!dots && !url.contains(['\\', '?', '#', '@']), "{:?}", url);
        }
        let mut doc = doc;
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("client_id".into(), json!(ID));
            obj.entry("client_name").or_insert_with(|| json!("A client"));
        }
        if let Ok(metadata) = metadata_document::validate(ID, &doc, &rules) {
            prop_assert!(!metadata.token_endpoint_auth_method.has_secret());
            prop_assert!(!metadata.redirect_uris.is_empty());
        }
    });
}
