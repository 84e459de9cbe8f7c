//! Token lifecycle: revocation (RFC 7009), introspection (RFC 7662), key
//! rotation while tokens are in flight, and keys sealed at rest.

use std::sync::Arc;

use serde_json::{Value, json};
use tessera::config::{Config, EXAMPLE_CONFIG, Overrides};
use tessera_resource::clock::{Clock, FixedClock};

use crate::helpers::*;

async fn introspect(app: &TestApp, rs: &(String, String), token: &str) -> Value {
    let res = app
        .post_form(
            "/introspect",
            &form(&[("token", token)]),
            Some((&rs.0, &rs.1)),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("cache-control"), "no-store");
    res.json()
}

#[tokio::test]
async fn introspection_describes_live_tokens_and_nothing_else() {
    let app = spawn_app().await;
    let user = app.add_user("alice").await;
    let client = app.public_client().await;
    let rs = app.introspecting_client().await;
    let t = app.tokens(&client, "mcp:tools:weather").await;
    let at = introspect(&app, &rs, t["access_token"].as_str().unwrap()).await;
    assert_eq!(at["active"], true);
    assert_eq!(at["token_type"], "Bearer");
    assert_eq!(at["scope"], "mcp:tools:weather");
    assert_eq!(at["client_id"], client.as_str());
    assert_eq!(at["sub"], user.as_str());
    assert_eq!(at["aud"], DEMO);
    assert_eq!(at["iss"], ISSUER);
    for k in ["exp", "iat", "jti"] {
        assert!(!at[k].is_null(), "{k}");
    }
    let rt = introspect(&app, &rs, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    for junk in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        assert_eq!(
            introspect(&app, &rs, junk).await,
            json!({"active": false}),
            "{junk}"
        );
    }
    // A rotated refresh token is no longer active.
    app.refresh(&client, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        introspect(&app, &rs, t["refresh_token"].as_str().unwrap()).await["active"],
        false
    );
}

#[tokio::test]
async fn only_allowed_and_authenticated_clients_may_introspect() {
    let app = spawn_app().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let body = form(&[("token", "x")]);
    app.post_form("/introspect", &body, Some((&id, &secret)))
        .await
        .assert_error(400, "unauthorized_client");
    app.post_form("/introspect", &body, Some((&id, "wrong")))
        .await
        .assert_error(401, "invalid_client");
    let rs = app.introspecting_client().await;
    app.post_form("/introspect", "", Some((&rs.0, &rs.1)))
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn revoking_an_access_token_is_seen_by_introspection_at_once() {
    let app = spawn_app().await;
    let rs = app.introspecting_client().await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let t = app.client_credentials(&id, &secret).await.json();
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(introspect(&app, &rs, at).await["active"], true);
    for path in ["/revoke", "/oauth/revoke"] {
        let res = app
            .post_form(
                path,
                &form(&[("token", at), ("token_type_hint", "access_token")]),
                Some((&id, &secret)),
            )
            .await;
        assert_eq!(res.status, 200, "{path}");
    }
    assert_eq!(introspect(&app, &rs, at).await, json!({"active": false}));
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_family_and_public_clients_may_revoke() {
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let t = app.tokens(&client, "mcp:tools:weather").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let next = app.refresh(&client, rt).await.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Revoking the spent token still finds the family.
    let res = app
        .post_form(
            "/revoke",
            &form(&[("token", rt), ("client_id", &client)]),
            None,
        )
        .await;
    assert_eq!(res.status, 200);
    app.refresh(&client, &next)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn revocation_answers_200_for_unknown_or_foreign_tokens_and_changes_nothing() {
    let app = spawn_app().await;
    let rs = app.introspecting_client().await;
    let (a, a_secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let (b, b_secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let t = app.client_credentials(&a, &a_secret).await.json();
    let at = t["access_token"].as_str().unwrap();
    for token in ["unknown-token", at] {
        let res = app
            .post_form("/revoke", &form(&[("token", token)]), Some((&b, &b_secret)))
            .await;
        assert_eq!(res.status, 200);
    }
    assert_eq!(
        introspect(&app, &rs, at).await["active"],
        true,
        "b cannot revoke a's token"
    );
    app.post_form("/revoke", "", Some((&b, &b_secret)))
        .await
        .assert_error(400, "invalid_request");
    app.post_form("/revoke", &form(&[("token", at)]), Some((&b, "wrong")))
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn expired_tokens_and_tokens_of_deleted_clients_or_users_are_inactive() {
    let clock = FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(EXAMPLE_CONFIG, clock.clone()).await;
    app.add_user("alice").await;
    let rs = app.introspecting_client().await;
    let client = app.public_client().await;
    let t = app.tokens(&client, "mcp:tools:weather").await;
    let at = t["access_token"].as_str().unwrap().to_owned();
    clock.advance(901);
    assert_eq!(introspect(&app, &rs, &at).await["active"], false, "expired");
    clock.advance(-901);
    assert!(app.state.store.remove_user("alice").await.unwrap());
    assert_eq!(
        introspect(&app, &rs, &at).await["active"],
        false,
        "user removed"
    );
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let m = app.client_credentials(&id, &secret).await.json();
    app.state.store.remove_client(&id).await.unwrap();
    assert_eq!(
        introspect(&app, &rs, m["access_token"].as_str().unwrap()).await["active"],
        false,
        "client deleted"
    );
}

#[tokio::test]
async fn metadata_advertises_revocation_and_introspection() {
    let app = spawn_app().await;
    let m = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert_eq!(m["revocation_endpoint"], format!("{ISSUER}/revoke"));
    assert_eq!(m["introspection_endpoint"], format!("{ISSUER}/introspect"));
    assert!(
        m["revocation_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "none")
    );
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn verifies(token: &str, jwks: &Value) -> bool {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let (header, _) = jwt_parts(token);
    let Some(jwk) = set.find(header["kid"].as_str().unwrap()) else {
        return false;
    };
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.validate_exp = false;
    v.set_audience(&[DEMO]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .is_ok()
}

#[tokio::test]
async fn rotation_publishes_before_signing_and_retires_only_after_tokens_expire() {
    let clock = FixedClock::new(1_800_000_000);
    let app = spawn_app_with_clock(EXAMPLE_CONFIG, clock.clone()).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let token = |app: &TestApp| {
        let (id, secret) = (id.clone(), secret.clone());
        let router = app.router.clone();
        async move {
            let t = TestApp::send_with(
                router,
                "/token",
                "grant_type=client_credentials",
                (&id, &secret),
            )
            .await;
            t["access_token"].as_str().unwrap().to_owned()
        }
    };
    let old_kid = app.state.keys.ring().signer.kid().to_owned();
    let before = token(&app).await;
    let new = app
        .state
        .keys
        .rotate(&app.state.store, clock.now(), false)
        .await
        .unwrap();
    // A resource server fetches (and caches) the key set now.
    let cached = app.get("/jwks.json").await.json();
    assert_eq!(
        kids(&cached),
        [old_kid.clone(), new.kid.clone()],
        "the next key is published first"
    );
    let during = token(&app).await;
    assert_eq!(
        jwt_parts(&during).0["kid"],
        old_kid.as_str(),
        "it does not sign before the lead"
    );
    clock.advance(600);
    app.state
        .keys
        .reload(&app.state.store, clock.now())
        .await
        .unwrap();
    let after = token(&app).await;
    assert_eq!(
        jwt_parts(&after).0["kid"],
        new.kid.as_str(),
        "it signs after the lead"
    );
    for t in [&before, &during, &after] {
        assert!(
            verifies(t, &cached),
            "the cached key set verifies every token"
        );
        assert!(
            verifies(t, &app.get("/jwks.json").await.json()),
            "so does the current one"
        );
    }
    // The old key stays until the last token it signed has expired (900 s + 60 s leeway).
    clock.advance(959);
    app.state
        .keys
        .reload(&app.state.store, clock.now())
        .await
        .unwrap();
    assert_eq!(kids(&app.get("/jwks.json").await.json()).len(), 2);
    clock.advance(1);
    app.state
        .keys
        .reload(&app.state.store, clock.now())
        .await
        .unwrap();
    assert_eq!(
        kids(&app.get("/jwks.json").await.json()),
        std::slice::from_ref(&new.kid)
    );
}

#[tokio::test]
async fn keys_rotate_automatically_when_their_period_is_over() {
    let clock = FixedClock::new(1_800_000_000);
    let toml = EXAMPLE_CONFIG.replace("rotation_period = \"30d\"", "rotation_period = \"7d\"");
    let app = spawn_app_with_clock(&toml, clock.clone()).await;
    app.state
        .keys
        .maintain(&app.state.store, clock.now())
        .await
        .unwrap();
    assert_eq!(
        app.state.store.list_keys().await.unwrap().len(),
        1,
        "not due yet"
    );
    clock.advance(7 * 86_400);
    app.state
        .keys
        .maintain(&app.state.store, clock.now())
        .await
        .unwrap();
    let keys = app.state.store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys[1].activates_at,
        clock.now() + 600,
        "scheduled after the publish lead"
    );
    app.state
        .keys
        .maintain(&app.state.store, clock.now())
        .await
        .unwrap();
    assert_eq!(
        app.state.store.list_keys().await.unwrap().len(),
        2,
        "one pending key at a time"
    );
}

#[tokio::test]
async fn an_algorithm_change_is_scheduled_like_a_rotation() {
    let app = spawn_app().await;
    let old = app.state.keys.ring().signer.kid().to_owned();
    let toml = EXAMPLE_CONFIG.replace("algorithm = \"ES256\"", "algorithm = \"EdDSA\"");
    let state = tessera::AppState::build(
        config_from(&toml, app.db.url()),
        Arc::new(tessera_resource::clock::SystemClock),
    )
    .await
    .unwrap();
    assert_eq!(
        state.keys.ring().signer.kid(),
        old,
        "the old key signs until the new one is known"
    );
    let keys = state.store.list_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.alg.as_str()).collect::<Vec<_>>(),
        ["ES256", "EdDSA"]
    );
}

fn sealed_config(db: &str, key: Option<&str>) -> anyhow::Result<Config> {
    let o = Overrides {
        database_url: Some(db.to_owned()),
        key_encryption_key: key.map(str::to_owned),
        ..Overrides::default()
    };
    Config::from_toml(EXAMPLE_CONFIG, "test", &o)
}

#[tokio::test]
async fn private_keys_can_be_sealed_at_rest() {
    let database = TestDatabase::new();
    let db = database.url();
    let clock = Arc::new(tessera_resource::clock::SystemClock);
    // A plaintext key first, then encryption is switched on: it is sealed in place.
    let plain = tessera::AppState::build(sealed_config(db, None).unwrap(), clock.clone())
        .await
        .unwrap();
    let kid = plain.keys.ring().signer.kid().to_owned();
    let secret = "a key-encryption key of at least 32 chars";
    let sealed = tessera::AppState::build(sealed_config(db, Some(secret)).unwrap(), clock.clone())
        .await
        .unwrap();
    assert_eq!(sealed.keys.ring().signer.kid(), kid);
    let (flag, blob) = crate::database::stored_signing_key(db).await;
    assert!(flag);
    assert!(
        tessera::keys::KeyMaterial::from_private_der(tessera::keys::Algorithm::Es256, blob)
            .is_err()
    );
    let without = tessera::AppState::build(sealed_config(db, None).unwrap(), clock.clone()).await;
    assert!(format!("{:#}", without.err().unwrap()).contains("TESSERA_KEY_ENCRYPTION_KEY"));
    let wrong = sealed_config(db, Some("another key-encryption key of 32 chars")).unwrap();
    assert!(
        tessera::AppState::build(wrong, clock.clone())
            .await
            .is_err()
    );
    assert!(sealed_config(db, Some("short")).is_err());
}
