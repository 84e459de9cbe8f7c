//! `private_key_jwt` client authentication (RFC 7523 §2.2, SEP-1046): keys
//! registered by value and published at a `jwks_uri` on a real loopback
//! server, ES256 and RS256, at the token, revocation and introspection
//! endpoints; every refusal on its own; replays refused.

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use tessera::clients::{Origin, create};
use tessera::oauth::client::{RegistrationRequest, RegistrationRules};

use crate::helpers::*;
use crate::signing_keys::{JwksServer, TestKey, hmac_signed, now, unsigned};

const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn loopback_config() -> String {
    tessera::config::EXAMPLE_CONFIG.replace(
        "open = true",
        "open = true\nmetadata_document_loopback = true",
    )
}

/// An administrator's `private_key_jwt` machine client with these keys.
async fn key_client(
    app: &TestApp,
    jwks: Option<Value>,
    jwks_uri: Option<&str>,
    introspect: bool,
) -> String {
    let request = RegistrationRequest {
        client_name: Some("a keyed machine".into()),
        grant_types: Some(vec!["client_credentials".into()]),
        scope: Some("mcp:tools:weather".into()),
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks,
        jwks_uri: jwks_uri.map(str::to_owned),
        ..RegistrationRequest::default()
    };
    let rules = RegistrationRules {
        redirects: &app.state.config.registration.redirects,
        resources: &app.state.config.resources,
        privileged: true,
    };
    let metadata = rules.validate(request).unwrap();
    let created = create(
        &app.state.store,
        &app.state.hasher,
        &metadata,
        Origin::Admin,
        introspect,
        0,
    )
    .await
    .unwrap();
    assert!(
        created.client_secret.is_none(),
        "a keyed client has no secret"
    );
    created.client_id
}

/// Good client-assertion claims for `id`, with `patch` applied (`null` removes).
fn claims(id: &str, patch: Value) -> Value {
    let mut c = json!({
        "iss": id, "sub": id, "aud": format!("{ISSUER}/token"),
        "exp": now() + 60, "iat": now(), "jti": uuid::Uuid::new_v4().to_string(),
    });
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

async fn token_with(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> TestResponse {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", TYPE),
        ("client_assertion", assertion),
    ];
    pairs.extend_from_slice(extra);
    app.post_form("/token", &form(&pairs), None).await
}

/// A keyed client with an ES256 key registered by value: the app, the
/// client and its key.
async fn es256_client() -> (TestApp, String, TestKey) {
    let app = spawn_app().await;
    let key = TestKey::es256("es-1");
    let id = key_client(&app, Some(key.jwks()), None, false).await;
    (app, id, key)
}

/// Assert `res` is a 401 `invalid_client` whose description mentions `why`.
fn refused(res: &TestResponse, why: &str) {
    res.assert_error(401, "invalid_client");
    let description = res.json()["error_description"].as_str().unwrap().to_owned();
    assert!(description.contains(why), "'{why}' in '{description}'");
}

#[tokio::test]
async fn an_es256_key_registered_by_value_authenticates_a_machine_client() {
    let (app, id, key) = es256_client().await;
    let res = token_with(&app, &key.sign(None, &claims(&id, json!({}))), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let (_, token) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(token["sub"], id.as_str());
    assert_eq!(token["client_id"], id.as_str());
    // The issuer itself is an accepted audience, with or without a slash,
    // and so is `client_id` in the body.
    for aud in [ISSUER.to_owned(), format!("{ISSUER}/")] {
        let jwt = key.sign(None, &claims(&id, json!({ "aud": aud })));
        let res = token_with(&app, &jwt, &[("client_id", &id)]).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
}

#[tokio::test]
async fn an_rs256_key_published_at_a_jwks_uri_authenticates_and_is_cached() {
    let app = spawn_app_with(&loopback_config()).await;
    let key = TestKey::rs256("rs-1");
    let server = JwksServer::start(key.jwks()).await;
    let id = key_client(&app, None, Some(&server.url), false).await;
    for _ in 0..3 {
        let res = token_with(&app, &key.sign(None, &claims(&id, json!({}))), &[]).await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    assert_eq!(server.hits(), 1, "the published set is cached");
}

#[tokio::test]
async fn an_es256_key_published_at_a_jwks_uri_authenticates() {
    let app = spawn_app_with(&loopback_config()).await;
    let key = TestKey::es256("es-published");
    let server = JwksServer::start(key.jwks()).await;
    let id = key_client(&app, None, Some(&server.url), false).await;
    let res = token_with(&app, &key.sign(None, &claims(&id, json!({}))), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn an_rs256_key_registered_by_value_authenticates() {
    let app = spawn_app().await;
    let key = TestKey::rs256("rs-inline");
    let id = key_client(&app, Some(key.jwks()), None, false).await;
    let res = token_with(&app, &key.sign(None, &claims(&id, json!({}))), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[tokio::test]
async fn a_rotated_key_is_fetched_at_once_and_made_up_kids_fetch_at_most_once() {
    let app = spawn_app_with(&loopback_config()).await;
    let (old, new) = (TestKey::es256("old"), TestKey::es256("new"));
    let server = JwksServer::start(old.jwks()).await;
    let id = key_client(&app, None, Some(&server.url), false).await;
    let res = token_with(&app, &old.sign(None, &claims(&id, json!({}))), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    server.publish(json!({"keys": [old.jwk, new.jwk]}));
    // The cache lacks `new`: the set is fetched again, once.
    let res = token_with(&app, &new.sign(None, &claims(&id, json!({}))), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(server.hits(), 2);
    // Unknown kids right after a fetch do not fetch again.
    let stranger = TestKey::es256("made-up");
    for _ in 0..3 {
        let res = token_with(&app, &stranger.sign(None, &claims(&id, json!({}))), &[]).await;
        refused(&res, "kid");
    }
    assert_eq!(server.hits(), 2, "rate-limited refetches");
}

#[tokio::test]
async fn a_replayed_client_assertion_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({})));
    assert_eq!(token_with(&app, &jwt, &[]).await.status, 200);
    refused(&token_with(&app, &jwt, &[]).await, "replayed");
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(
        None,
        &claims(&id, json!({"aud": "https://elsewhere.example/token"})),
    );
    refused(&token_with(&app, &jwt, &[]).await, "aud");
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(
        None,
        &claims(&id, json!({"exp": now() - 1, "iat": now() - 60})),
    );
    refused(&token_with(&app, &jwt, &[]).await, "expired");
}

#[tokio::test]
async fn a_long_lived_assertion_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({"exp": now() + 3600})));
    refused(&token_with(&app, &jwt, &[]).await, "short-lived");
}

#[tokio::test]
async fn an_assertion_issued_in_the_future_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({"iat": now() + 600})));
    refused(&token_with(&app, &jwt, &[]).await, "iat");
}

#[tokio::test]
async fn an_assertion_not_yet_valid_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({"nbf": now() + 600})));
    refused(&token_with(&app, &jwt, &[]).await, "nbf");
}

#[tokio::test]
async fn an_assertion_without_jti_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({"jti": null})));
    refused(&token_with(&app, &jwt, &[]).await, "jti");
}

#[tokio::test]
async fn an_assertion_whose_iss_is_not_the_client_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({"iss": "someone-else"})));
    refused(&token_with(&app, &jwt, &[]).await, "iss");
}

#[tokio::test]
async fn an_assertion_whose_sub_is_not_the_client_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({"sub": "someone-else"})));
    refused(&token_with(&app, &jwt, &[("client_id", &id)]).await, "sub");
}

#[tokio::test]
async fn an_assertion_signed_by_another_key_is_refused() {
    let (app, id, _) = es256_client().await;
    let impostor = TestKey::es256("es-1");
    let jwt = impostor.sign(None, &claims(&id, json!({})));
    refused(&token_with(&app, &jwt, &[]).await, "signature");
}

#[tokio::test]
async fn an_unsigned_assertion_is_refused() {
    let (app, id, _) = es256_client().await;
    let jwt = unsigned(&claims(&id, json!({})));
    let res = token_with(&app, &jwt, &[("client_id", &id)]).await;
    refused(&res, "algorithm");
}

#[tokio::test]
async fn an_hmac_assertion_is_refused() {
    let (app, id, _) = es256_client().await;
    // Keyed with the public key's own text: the classic algorithm confusion.
    let jwt = hmac_signed(&claims(&id, json!({})), b"es-1");
    refused(&token_with(&app, &jwt, &[]).await, "algorithm");
}

#[tokio::test]
async fn an_assertion_naming_an_unknown_kid_is_refused() {
    let (app, id, key) = es256_client().await;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("nope".into());
    let jwt = key.sign_with_header(&header, &claims(&id, json!({})));
    refused(&token_with(&app, &jwt, &[]).await, "kid");
}

#[tokio::test]
async fn another_assertion_type_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({})));
    let body = form(&[
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        ),
        ("client_assertion", &jwt),
    ]);
    refused(
        &app.post_form("/token", &body, None).await,
        "client_assertion_type",
    );
}

#[tokio::test]
async fn an_assertion_alongside_basic_credentials_is_refused() {
    let (app, id, key) = es256_client().await;
    let jwt = key.sign(None, &claims(&id, json!({})));
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_assertion_type", TYPE),
        ("client_assertion", &jwt),
    ]);
    let res = app.post_form("/token", &body, Some((&id, "x"))).await;
    res.assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_keyed_client_cannot_authenticate_without_its_assertion() {
    let (app, id, _) = es256_client().await;
    let body = form(&[("grant_type", "client_credentials"), ("client_id", &id)]);
    refused(
        &app.post_form("/token", &body, None).await,
        "private_key_jwt",
    );
    refused(
        &app.client_credentials(&id, "guess").await,
        "private_key_jwt",
    );
}

#[tokio::test]
async fn a_secret_client_cannot_present_an_assertion() {
    let app = spawn_app().await;
    let (id, _secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let key = TestKey::es256("k");
    let jwt = key.sign(None, &claims(&id, json!({})));
    refused(
        &token_with(&app, &jwt, &[]).await,
        "not registered for private_key_jwt",
    );
}

#[tokio::test]
async fn revocation_and_introspection_accept_private_key_jwt() {
    let app = spawn_app().await;
    let key = TestKey::es256("rs-server");
    let id = key_client(&app, Some(key.jwks()), None, true).await;
    let res = token_with(&app, &key.sign(None, &claims(&id, json!({}))), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let token = res.json()["access_token"].as_str().unwrap().to_owned();
    let with_assertion = |pairs: &[(&str, &str)]| {
        let jwt = key.sign(None, &claims(&id, json!({"aud": ISSUER})));
        let mut all = vec![("client_assertion_type", TYPE)];
        all.extend_from_slice(pairs);
        let mut body = form(&all);
        body.push_str(&format!("&client_assertion={jwt}"));
        body
    };
    let res = app
        .post_form("/introspect", &with_assertion(&[("token", &token)]), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["active"], true);
    let res = app
        .post_form("/revoke", &with_assertion(&[("token", &token)]), None)
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = app
        .post_form("/introspect", &with_assertion(&[("token", &token)]), None)
        .await;
    assert_eq!(res.json()["active"], false, "revoked");
    // The endpoints refuse a bad assertion like the token endpoint.
    let forged = TestKey::es256("rs-server").sign(None, &claims(&id, json!({})));
    let body = form(&[
        ("token", &token),
        ("client_assertion_type", TYPE),
        ("client_assertion", &forged),
    ]);
    refused(
        &app.post_form("/introspect", &body, None).await,
        "signature",
    );
}

#[tokio::test]
async fn registration_takes_jwks_and_refuses_private_keys() {
    let app = spawn_app().await;
    let key = TestKey::es256("reg");
    let body = json!({"client_name": "keyed", "grant_types": ["client_credentials"],
                      "scope": "mcp:tools:weather", "token_endpoint_auth_method": "private_key_jwt",
                      "jwks": key.jwks()});
    let res = app.post_json("/register", &body, Some(IAT)).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let registered = res.json();
    assert_eq!(registered["jwks"], key.jwks());
    assert!(registered.get("client_secret").is_none(), "no secret");
    let id = registered["client_id"].as_str().unwrap();
    let res = token_with(&app, &key.sign(None, &claims(id, json!({}))), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());

    let mut private = key.jwks();
    private["keys"][0]["d"] = json!("c2VjcmV0");
    let mut bad = body.clone();
    bad["jwks"] = private;
    let res = app.post_json("/register", &bad, Some(IAT)).await;
    res.assert_error(400, "invalid_client_metadata");
    let mut neither = body;
    neither.as_object_mut().unwrap().remove("jwks");
    let res = app.post_json("/register", &neither, Some(IAT)).await;
    res.assert_error(400, "invalid_client_metadata");
}

#[tokio::test]
async fn metadata_lists_private_key_jwt_and_its_algorithms() {
    let app = spawn_app().await;
    let doc = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    for member in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(
            doc[member]
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{member}"
        );
    }
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "RS256", "PS256", "EdDSA"])
    );
}
