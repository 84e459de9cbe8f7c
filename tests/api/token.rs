//! The client credentials grant, end to end.

use base64::Engine;
use serde_json::Value;

use crate::helpers::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[tokio::test]
async fn client_credentials_issues_an_rfc9068_access_token() {
    let app = spawn_app().await;
    let (id, secret) = app
        .machine_client("mcp:tools:calendar:read mcp:tools:weather", &[])
        .await;
    let res = app.client_credentials(&id, &secret).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("cache-control"), "no-store");
    assert_eq!(res.header("pragma"), "no-cache");
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"], 900,
        "15m from the example config, as an integer"
    );
    assert_eq!(body["scope"], "mcp:tools:calendar:read mcp:tools:weather");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], app.state.keys.ring().signer.kid());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["aud"], DEMO, "the default resource, as registered");
    assert_eq!(claims["scope"], "mcp:tools:calendar:read mcp:tools:weather");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
    assert_eq!(
        claims["permissions"],
        serde_json::json!(["weather:read", "calendar:events:read"])
    );
}

/// Verify with ring directly from the served JWK, without any of Tessera's
/// signing code or the JWT library it uses.
fn verify_es256_with_jwk(token: &str, jwk: &Value) -> bool {
    let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = B64.decode(jwk["y"].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(x);
    point.extend(y);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    key.verify(signing_input.as_bytes(), &B64.decode(signature).unwrap())
        .is_ok()
}

#[tokio::test]
async fn the_issued_token_verifies_against_the_served_jwks() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let token = app.machine_token(&id, &secret).await;
    let jwks = app.get("/jwks.json").await.json();
    let (header, _) = jwt_parts(&token);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid is published");
    assert!(verify_es256_with_jwk(&token, jwk));
    let mut tampered = token.clone();
    let at = token.len() - 5;
    let swapped = if &token[at..at + 1] == "A" { "B" } else { "A" };
    tampered.replace_range(at..at + 1, swapped);
    assert!(
        !verify_es256_with_jwk(&tampered, jwk),
        "a changed signature must not verify"
    );

    // And with a mainstream JWT library, checking issuer and audience as a resource server would.
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&parsed).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[DEMO]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(data.claims["client_id"], id.as_str());
}

#[tokio::test]
async fn every_signing_algorithm_yields_tokens_that_verify_against_the_jwks() {
    for alg in ["EdDSA", "RS256"] {
        let toml = format!(
            "{}\n",
            tessera::config::EXAMPLE_CONFIG
                .replace("algorithm = \"ES256\"", &format!("algorithm = \"{alg}\""))
        );
        let app = spawn_app_with(&toml).await;
        let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
        let token = app.machine_token(&id, &secret).await;
        let jwks = app.get("/jwks.json").await.json();
        let parsed: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
        let (header, _) = jwt_parts(&token);
        let jwk = parsed.find(header["kid"].as_str().unwrap()).unwrap();
        let algorithm = if alg == "EdDSA" {
            jsonwebtoken::Algorithm::EdDSA
        } else {
            jsonwebtoken::Algorithm::RS256
        };
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.set_audience(&[DEMO]);
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        jsonwebtoken::decode::<Value>(&token, &key, &validation)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[tokio::test]
async fn client_secret_post_and_basic_with_a_matching_body_client_id_both_work() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let post = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &secret),
    ]);
    assert_eq!(app.post_form("/token", &post, None).await.status, 200);
    let with_id = form(&[("grant_type", "client_credentials"), ("client_id", &id)]);
    assert_eq!(
        app.post_form("/token", &with_id, Some((&id, &secret)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_flows_document_machine_token_call_works_verbatim() {
    let app = spawn_app().await;
    let (id, secret) = app
        .machine_client("mcp:tools:inventory:check mcp:resources:store-data", &[])
        .await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &id),
        ("client_secret", &secret),
        (
            "scope",
            "mcp:tools:inventory:check mcp:resources:store-data",
        ),
        ("audience", "https://your-mcp-server.com"),
    ]);
    for path in ["/oauth/token", "/oauth2/token", "/token"] {
        let res = app.post_form(path, &body, None).await;
        assert_eq!(
            res.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], FLOWS_RS);
        assert_eq!(
            claims["scope"],
            "mcp:tools:inventory:check mcp:resources:store-data"
        );
    }
}

#[tokio::test]
async fn resources_are_matched_canonically_and_several_make_an_audience_array() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let one = form(&[
        ("grant_type", "client_credentials"),
        ("resource", "https://YOUR-mcp-server.com/"),
    ]);
    let res = app.post_form("/token", &one, Some((&id, &secret))).await;
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"], FLOWS_RS,
        "aud is issued as registered, not as requested"
    );

    let two = form(&[
        ("grant_type", "client_credentials"),
        ("resource", DEMO),
        ("resource", FLOWS_RS),
    ]);
    let res = app.post_form("/token", &two, Some((&id, &secret))).await;
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], serde_json::json!([DEMO, FLOWS_RS]));
}

#[tokio::test]
async fn a_wildcard_client_gets_what_the_resource_accepts_and_may_narrow_it() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:*", &[]).await;
    let res = app.client_credentials(&id, &secret).await;
    assert_eq!(
        res.json()["scope"],
        "mcp:tools:weather mcp:tools:calendar:read mcp:tools:calendar:write mcp:tools:email:send"
    );
    let narrow = form(&[
        ("grant_type", "client_credentials"),
        ("scope", "mcp:tools:calendar:read"),
    ]);
    let res = app.post_form("/token", &narrow, Some((&id, &secret))).await;
    assert_eq!(res.json()["scope"], "mcp:tools:calendar:read");
}

#[tokio::test]
async fn a_client_bound_to_an_audience_defaults_to_it_and_cannot_leave_it() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:*", &[FLOWS_RS]).await;
    let res = app.client_credentials(&id, &secret).await;
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], FLOWS_RS);
    assert_eq!(claims["scope"], "mcp:tools:*");
    let other = form(&[("grant_type", "client_credentials"), ("resource", DEMO)]);
    app.post_form("/token", &other, Some((&id, &secret)))
        .await
        .assert_error(400, "invalid_target");
}

#[tokio::test]
async fn a_resource_may_shorten_the_token_lifetime() {
    let toml = tessera::config::EXAMPLE_CONFIG
        .replace("# access_token_ttl = \"5m\"", "access_token_ttl = \"5m\"");
    let app = spawn_app_with(&toml).await;
    let (id, secret) = app.machine_client("mcp:tools:*", &[FLOWS_RS]).await;
    let res = app.client_credentials(&id, &secret).await;
    assert_eq!(res.json()["expires_in"], 300);
}

#[tokio::test]
async fn cors_preflight_on_the_token_endpoint_allows_browser_clients() {
    let app = spawn_app().await;
    let req = axum::http::Request::builder()
        .method("OPTIONS")
        .uri("/token")
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,mcp-protocol-version,authorization",
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.send(req).await;
    assert!(
        res.status.is_success(),
        "{} {}",
        res.status,
        String::from_utf8_lossy(&res.body)
    );
    assert_eq!(res.header("access-control-allow-origin"), "*");
    let allowed = res
        .header("access-control-allow-headers")
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "mcp-protocol-version"] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    assert!(res.header("access-control-allow-credentials").is_empty());
    // One policy for every origin and request: nothing for a cache to vary by.
    assert!(res.header("vary").is_empty());
}

#[tokio::test]
async fn the_oauth2_crate_obtains_a_token_over_real_tcp() {
    use oauth2::basic::BasicClient;
    use oauth2::{ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};

    let app = spawn_app().await;
    let (id, secret) = app
        .machine_client("mcp:tools:weather mcp:tools:calendar:read", &[])
        .await;
    let base = app.serve_tcp().await;
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("mcp:tools:weather".into()))
        .add_extra_param("resource", DEMO)
        .request_async(&http)
        .await
        .expect("the oauth2 crate accepts our token response");
    assert_eq!(token.scopes().unwrap()[0].as_str(), "mcp:tools:weather");
    assert_eq!(token.expires_in().unwrap().as_secs(), 900);
    let (_, claims) = jwt_parts(token.access_token().secret());
    assert_eq!(claims["client_id"], id.as_str());

    let wrong = BasicClient::new(ClientId::new(id))
        .set_client_secret(ClientSecret::new("wrong".into()))
        .set_token_uri(TokenUrl::new(format!("{base}/token")).unwrap());
    let err = wrong
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_client"), "{err:?}");
}
