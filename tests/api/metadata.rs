//! RFC 8414 metadata and the JWKS.

use serde_json::Value;

use crate::helpers::*;

fn assert_no_nulls(v: &Value, path: &str) {
    match v {
        Value::Null => panic!("null at {path}"),
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| assert_no_nulls(v, &format!("{path}.{k}"))),
        Value::Array(a) => a.iter().for_each(|v| assert_no_nulls(v, path)),
        _ => {}
    }
}

#[tokio::test]
async fn metadata_follows_rfc8414_and_the_mcp_interop_rules() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), "application/json");
    let m = res.json();
    assert_no_nulls(&m, "$");
    assert_eq!(
        m["issuer"], ISSUER,
        "byte-identical to the configured issuer"
    );
    assert_eq!(m["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(m["registration_endpoint"], format!("{ISSUER}/register"));
    assert_eq!(m["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(m["jwks_uri"], format!("{ISSUER}/jwks.json"));
    assert_eq!(
        m["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(m["response_types_supported"], serde_json::json!(["code"]));
    let methods = m["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for method in ["none", "client_secret_basic", "client_secret_post"] {
        assert!(methods.iter().any(|x| x == method), "{method}");
    }
    assert!(
        m["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "mcp:tools:calendar:read")
    );
    assert!(
        m["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "client_credentials")
    );
}

#[tokio::test]
async fn metadata_is_served_to_browsers_with_cors() {
    let app = spawn_app().await;
    let req = axum::http::Request::get("/.well-known/oauth-authorization-server")
        .header("origin", "http://localhost:6274")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(
        app.send(req).await.header("access-control-allow-origin"),
        "*"
    );
}

#[tokio::test]
async fn oidc_discovery_paths_are_404_because_we_are_not_an_openid_provider() {
    let app = spawn_app().await;
    app.get("/.well-known/openid-configuration")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn an_issuer_with_a_path_uses_path_insertion() {
    let toml = format!(
        "issuer = \"https://auth.example.com/tenant\"\n{}",
        tessera::config::EXAMPLE_CONFIG
    );
    let app = spawn_app_with(&toml).await;
    let m = app
        .get("/.well-known/oauth-authorization-server/tenant")
        .await
        .json();
    assert_eq!(m["issuer"], "https://auth.example.com/tenant");
    assert_eq!(m["token_endpoint"], "https://auth.example.com/tenant/token");
    assert_eq!(app.get("/tenant/jwks.json").await.status, 200);
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let res = app
        .post_form(
            "/tenant/token",
            "grant_type=client_credentials",
            Some((&id, &secret)),
        )
        .await;
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], "https://auth.example.com/tenant");
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_with_kid_use_and_alg() {
    let app = spawn_app().await;
    for path in ["/jwks.json", "/.well-known/jwks.json"] {
        let res = app.get(path).await;
        assert_eq!(res.status, 200);
        assert!(res.header("cache-control").contains("max-age"));
        let keys = res.json()["keys"].as_array().unwrap().clone();
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        assert_eq!(k["kid"], app.state.keys.ring().signer.kid());
        assert_eq!(k["use"], "sig");
        assert_eq!(k["alg"], "ES256");
        assert_eq!(k["kty"], "EC");
        assert_eq!(k["crv"], "P-256");
        assert!(k.get("d").is_none(), "never the private part");
    }
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let app = spawn_app().await;
    let kid = app.state.keys.ring().signer.kid().to_owned();
    let config = config_from(tessera::config::EXAMPLE_CONFIG, app.db.url());
    let again = tessera::AppState::build(
        config,
        std::sync::Arc::new(tessera_resource::clock::SystemClock),
    )
    .await
    .unwrap();
    assert_eq!(again.keys.ring().signer.kid(), kid);
}
