//! The Identity Assertion JWT Authorization Grant (SEP-990) through real
//! HTTP: a test identity provider (scaffolding: its own ES256 key, its JWKS
//! served on loopback) signs ID-JAGs; everything on Tessera's side is real.
//! A person is provisioned just in time or found by link, a disabled one is
//! refused, and every failed check is its own `invalid_grant`.

use std::sync::Arc;

use serde_json::{Value, json};
use tessera::clients::{Origin, create};
use tessera::oauth::client::{RegistrationRequest, RegistrationRules};
use tessera::store::people::{Linked, UpstreamSignIn};

use crate::helpers::*;
use crate::signing_keys::{JwksServer, TestKey, hmac_signed, now, unsigned};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const IDP: &str = "https://idp.example.com";
const TYP: &str = "oauth-id-jag+jwt";

struct World {
    app: TestApp,
    key: TestKey,
    client: (String, String),
    _jwks: JwksServer,
}

/// A client registered for the grant (`grants`); (id, secret).
async fn client(app: &TestApp, grants: &[&str]) -> (String, String) {
    let request = RegistrationRequest {
        client_name: Some("enterprise agent".into()),
        grant_types: Some(grants.iter().map(|g| g.to_string()).collect()),
        ..RegistrationRequest::default()
    };
    let rules = RegistrationRules {
        redirects: &app.state.config.registration.redirects,
        resources: &app.state.config.resources,
        privileged: true,
    };
    let metadata = rules.validate(request).unwrap();
    let c = create(
        &app.state.store,
        &app.state.hasher,
        &metadata,
        Origin::Admin,
        false,
        0,
    )
    .await
    .unwrap();
    (c.client_id, c.client_secret.unwrap().expose().to_owned())
}

/// Tessera trusting the test IdP for a client of `grants` (listed in the
/// provider's clients unless `listed` is false), with `people` mapping.
async fn world_with(people: &str, grants: &[&str], listed: bool) -> World {
    world_configured(people, grants, listed, "").await
}

/// [`world_with`], with `extra` TOML appended.
async fn world_configured(people: &str, grants: &[&str], listed: bool, extra: &str) -> World {
    let key = TestKey::es256("idp-1");
    let jwks = JwksServer::start(key.jwks()).await;
    let first = spawn_app().await;
    let client = client(&first, grants).await;
    let listed_id = if listed {
        client.0.as_str()
    } else {
        "another-client"
    };
    let toml = format!(
        "{}\n[[trusted_idp]]\nissuer = \"{IDP}\"\njwks_uri = \"{}\"\nprovider = \"acme\"\n\
         clients = [\"{listed_id}\"]\nresources = [\"{DEMO}\"]\npeople = \"{people}\"\n{extra}",
        tessera::config::EXAMPLE_CONFIG,
        jwks.url
    );
    let app = first
        .reopen(&toml, Arc::new(tessera_resource::clock::SystemClock))
        .await;
    World {
        app,
        key,
        client,
        _jwks: jwks,
    }
}

async fn world() -> World {
    world_with("provision", &[GRANT], true).await
}

impl World {
    /// Good ID-JAG claims for `sub`, with `patch` (`null` removes).
    fn claims(&self, patch: Value) -> Value {
        let mut c = json!({
            "iss": IDP, "sub": "00u-alice", "aud": ISSUER, "client_id": self.client.0,
            "resource": DEMO, "scope": "mcp:tools:weather mcp:tools:calendar:read",
            "email": "alice@example.com",
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

    fn id_jag(&self, patch: Value) -> String {
        self.key.sign(Some(TYP), &self.claims(patch))
    }

    async fn present(&self, assertion: &str, extra: &[(&str, &str)]) -> TestResponse {
        let mut pairs = vec![("grant_type", GRANT), ("assertion", assertion)];
        pairs.extend_from_slice(extra);
        self.app
            .post_form(
                "/token",
                &form(&pairs),
                Some((&self.client.0, &self.client.1)),
            )
            .await
    }

    async fn refused(&self, assertion: &str, why: &str) {
        let res = self.present(assertion, &[]).await;
        res.assert_error(400, "invalid_grant");
        let d = res.json()["error_description"].as_str().unwrap().to_owned();
        assert!(d.contains(why), "'{why}' in '{d}'");
    }
}

#[tokio::test]
async fn an_id_jag_provisions_the_person_and_issues_a_narrowed_token() {
    let w = world().await;
    let res = w
        .present(
            &w.id_jag(json!({})),
            &[("scope", "mcp:tools:weather mcp:tools:email:send")],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.json();
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token unless configured"
    );
    assert_eq!(
        body["scope"], "mcp:tools:weather",
        "narrowed by the ID-JAG's scope"
    );
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], DEMO);
    assert_eq!(claims["client_id"], w.client.0.as_str());
    let person = claims["sub"].as_str().unwrap().to_owned();
    assert_ne!(
        person, "00u-alice",
        "a person of Tessera's, linked to the provider's sub"
    );
    // The same sub is the same person; without `scope`, the ID-JAG's.
    let res = w.present(&w.id_jag(json!({})), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let (_, again) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(again["sub"], person.as_str());
    assert_eq!(again["scope"], "mcp:tools:weather mcp:tools:calendar:read");
}

#[tokio::test]
async fn a_link_only_provider_needs_a_linked_person() {
    let w = world_with("link", &[GRANT], true).await;
    w.refused(&w.id_jag(json!({})), "linked to no person").await;
    let linked = w
        .app
        .state
        .store
        .sign_in_upstream(&UpstreamSignIn {
            provider: "acme",
            subject: "00u-alice",
            email: None,
            groups: &[],
            new_id: "alice-id",
            usernames: &["alice".to_owned()],
            now: now(),
        })
        .await
        .unwrap();
    assert!(matches!(linked, Linked::Provisioned { .. }));
    let res = w.present(&w.id_jag(json!({})), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let (_, claims) = jwt_parts(res.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "alice-id");
}

#[tokio::test]
async fn a_disabled_person_is_refused() {
    let w = world().await;
    let res = w.present(&w.id_jag(json!({})), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let users = w.app.state.store.list_users().await.unwrap();
    let username = users
        .iter()
        .find(|u| u.username != "admin")
        .unwrap()
        .username
        .clone();
    w.app
        .state
        .store
        .set_user_disabled(&username, true, now())
        .await
        .unwrap();
    w.refused(&w.id_jag(json!({})), "disabled").await;
}

#[tokio::test]
async fn a_replayed_id_jag_is_refused() {
    let w = world().await;
    let jwt = w.id_jag(json!({}));
    assert_eq!(w.present(&jwt, &[]).await.status, 200);
    w.refused(&jwt, "replayed").await;
}

#[tokio::test]
async fn an_id_jag_of_another_type_is_refused() {
    let w = world().await;
    let jwt = w.key.sign(Some("JWT"), &w.claims(json!({})));
    w.refused(&jwt, "typ").await;
}

#[tokio::test]
async fn an_untrusted_issuer_is_refused() {
    let w = world().await;
    w.refused(&w.id_jag(json!({"iss": "https://evil.example"})), "trusted")
        .await;
}

#[tokio::test]
async fn an_id_jag_for_another_audience_is_refused() {
    let w = world().await;
    w.refused(&w.id_jag(json!({"aud": "https://other-as.example"})), "aud")
        .await;
}

#[tokio::test]
async fn an_id_jag_for_another_client_is_refused() {
    let w = world().await;
    w.refused(&w.id_jag(json!({"client_id": "someone-else"})), "client_id")
        .await;
}

#[tokio::test]
async fn an_id_jag_for_another_resource_is_refused() {
    let w = world().await;
    w.refused(&w.id_jag(json!({"resource": FLOWS_RS})), "resource")
        .await;
}

#[tokio::test]
async fn an_expired_id_jag_is_refused() {
    let w = world().await;
    w.refused(
        &w.id_jag(json!({"exp": now() - 1, "iat": now() - 60})),
        "expired",
    )
    .await;
}

#[tokio::test]
async fn a_long_lived_id_jag_is_refused() {
    let w = world().await;
    w.refused(&w.id_jag(json!({"exp": now() + 3600})), "longer than")
        .await;
}

#[tokio::test]
async fn an_id_jag_without_iat_is_refused() {
    let w = world().await;
    w.refused(&w.id_jag(json!({"iat": null})), "iat").await;
}

#[tokio::test]
async fn an_id_jag_without_jti_is_refused() {
    let w = world().await;
    w.refused(&w.id_jag(json!({"jti": null})), "jti").await;
}

#[tokio::test]
async fn an_id_jag_signed_by_another_key_is_refused() {
    let w = world().await;
    let impostor = TestKey::es256("idp-1");
    w.refused(&impostor.sign(Some(TYP), &w.claims(json!({}))), "signature")
        .await;
}

#[tokio::test]
async fn an_unsigned_id_jag_is_refused() {
    let w = world().await;
    w.refused(&unsigned(&w.claims(json!({}))), "algorithm")
        .await;
}

#[tokio::test]
async fn an_hmac_id_jag_is_refused() {
    let w = world().await;
    w.refused(&hmac_signed(&w.claims(json!({})), b"idp-1"), "algorithm")
        .await;
}

#[tokio::test]
async fn a_client_the_provider_may_not_grant_for_is_refused() {
    let w = world_with("provision", &[GRANT], false).await;
    w.refused(&w.id_jag(json!({})), "may not grant for this client")
        .await;
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_refused() {
    let w = world_with("provision", &[], true).await;
    let res = w.present(&w.id_jag(json!({})), &[]).await;
    res.assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn metadata_lists_the_grant_when_a_provider_is_trusted() {
    let w = world().await;
    let doc = w
        .app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );
}

#[tokio::test]
async fn the_persons_scope_policy_narrows_what_an_id_jag_grants() {
    let policy = "\n[scope_policy]\neveryone = [\"mcp:tools:weather\"]\n";
    let w = world_configured("provision", &[GRANT], true, policy).await;
    let res = w.present(&w.id_jag(json!({})), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["scope"],
        "mcp:tools:weather",
        "calendar:read was in the ID-JAG but not the person's to grant"
    );
}

/// An `[[identity_providers]]` entry with the ID-JAG provider's id: its domain
/// and group rules hold for the assertion too.
#[tokio::test]
async fn the_sign_in_rules_of_the_same_provider_hold_for_an_id_jag() {
    let rules = "[[identity_providers]]\nid = \"acme\"\nname = \"Acme\"\n\
                 issuer = \"http://127.0.0.1:9\"\nclient_id = \"tessera\"\nclient_secret = \"not-used-here\"\n\
                 allowed_domains = [\"example.com\"]\nallowed_groups = [\"staff\"]\ngroups_claim = \"roles\"\n";
    let w = world_configured("provision", &[GRANT], true, rules).await;
    let wrong_domain = json!({"email": "eve@elsewhere.test", "roles": ["staff"]});
    w.refused(
        &w.id_jag(wrong_domain),
        "accounts of elsewhere.test may not sign in here",
    )
    .await;
    let no_group = json!({"roles": ["contractors"]});
    w.refused(&w.id_jag(no_group), "not in a group").await;
    assert!(w.app.state.store.list_users().await.unwrap().is_empty());

    let res = w.present(&w.id_jag(json!({"roles": ["staff"]})), &[]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let people = w.app.state.store.list_users().await.unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(people[0].providers, ["acme"]);
}
