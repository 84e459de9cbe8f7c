//! Token exchange (RFC 8693) for an MCP server calling another resource:
//! the person's token for the demo resource traded for one at the second
//! resource, narrowed, short-lived, naming the MCP server as actor, audited
//! with both `jti`s; every refusal on its own; and the whole chain through
//! the demo MCP server, its calendar API and the kit's `TokenExchanger`.

use serde_json::{Value, json};
use tessera::clients::{Origin, create};
use tessera::oauth::client::{RegistrationRequest, RegistrationRules};

use crate::helpers::*;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The example configuration with tokens for the demo exchangeable for
/// `FLOWS_RS` (calendar read and weather at most, two minutes).
fn config(clients: &str) -> String {
    format!(
        "{}\n[[token_exchange]]\nfrom = \"{DEMO}\"\nto = \"{FLOWS_RS}\"\n\
         scopes = [\"mcp:tools:calendar:read\", \"mcp:tools:weather\"]\n\
         clients = [{clients}]\nlifetime = \"2m\"\n",
        tessera::config::EXAMPLE_CONFIG
    )
}

/// An MCP server registered as a client for `grants`; (id, secret).
async fn server_client(app: &TestApp, grants: &[&str]) -> (String, String) {
    let request = RegistrationRequest {
        client_name: Some("the demo MCP server".into()),
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

/// Alice's access token for the demo resource.
async fn alice_token(app: &TestApp) -> String {
    let (_, tokens) = app
        .person_tokens("mcp:tools:weather mcp:tools:calendar:read mcp:tools:email:send")
        .await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn exchange(
    app: &TestApp,
    server: &(String, String),
    subject: &str,
    extra: &[(&str, &str)],
) -> TestResponse {
    let mut pairs = vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS),
    ];
    pairs.extend_from_slice(extra);
    app.post_form("/token", &form(&pairs), Some((&server.0, &server.1)))
        .await
}

/// A world where the server may exchange Alice's demo token.
async fn world() -> (TestApp, (String, String), String) {
    let app = spawn_app_with(&config("")).await;
    let server = server_client(&app, &[GRANT]).await;
    let subject = alice_token(&app).await;
    (app, server, subject)
}

fn described(res: &TestResponse, status: u16, code: &str, why: &str) {
    res.assert_error(status, code);
    let d = res.json()["error_description"].as_str().unwrap().to_owned();
    assert!(d.contains(why), "'{why}' in '{d}'");
}

#[tokio::test]
async fn an_mcp_server_exchanges_a_persons_token_for_one_at_another_resource() {
    let (app, server, subject) = world().await;
    let res = exchange(&app, &server, &subject, &[("resource", FLOWS_RS)]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("cache-control"), "no-store");
    let body = res.json();
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["expires_in"], 120, "the policy's lifetime");
    assert_eq!(
        body["scope"], "mcp:tools:weather mcp:tools:calendar:read",
        "the subject's scopes the policy allows; email dropped"
    );
    let (_, subject_claims) = jwt_parts(&subject);
    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["sub"], subject_claims["sub"], "still the person");
    assert_eq!(claims["aud"], FLOWS_RS);
    assert_eq!(claims["client_id"], server.0.as_str());
    assert_eq!(claims["act"], json!({ "sub": server.0 }));
    assert!(claims["exp"].as_i64() <= subject_claims["exp"].as_i64());
    // Asking for less narrows further.
    let res = exchange(
        &app,
        &server,
        &subject,
        &[("audience", FLOWS_RS), ("scope", "mcp:tools:weather")],
    )
    .await;
    assert_eq!(res.json()["scope"], "mcp:tools:weather");
    // The audit links both tokens by jti, never the tokens.
    crate::audit::flush(&app).await;
    let records = app.state.store.audit_page(0, 100_000).await.unwrap();
    let events: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(&r.event).unwrap())
        .filter(|e: &Value| e.to_string().contains("token_exchanged"))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    let text = events[0].to_string();
    assert!(text.contains(subject_claims["jti"].as_str().unwrap()));
    assert!(text.contains(claims["jti"].as_str().unwrap()));
    assert!(!text.contains(&subject), "never the token itself");
}

#[tokio::test]
async fn a_client_not_registered_for_the_grant_is_refused() {
    let app = spawn_app_with(&config("")).await;
    let server = app.machine_client("mcp:tools:weather", &[]).await;
    let subject = alice_token(&app).await;
    let res = exchange(&app, &server, &subject, &[("resource", FLOWS_RS)]).await;
    res.assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn a_client_the_policy_does_not_name_is_refused() {
    let app = spawn_app_with(&config("\"someone-else\"")).await;
    let server = server_client(&app, &[GRANT]).await;
    let subject = alice_token(&app).await;
    let res = exchange(&app, &server, &subject, &[("resource", FLOWS_RS)]).await;
    described(&res, 400, "unauthorized_client", "may not exchange");
}

#[tokio::test]
async fn a_target_without_a_policy_is_refused() {
    let (app, server, subject) = world().await;
    let res = exchange(&app, &server, &subject, &[("resource", DEMO)]).await;
    described(&res, 400, "invalid_target", "no token-exchange policy");
}

#[tokio::test]
async fn an_unknown_or_missing_target_is_refused() {
    let (app, server, subject) = world().await;
    let res = exchange(
        &app,
        &server,
        &subject,
        &[("resource", "https://nowhere.example")],
    )
    .await;
    described(&res, 400, "invalid_target", "not a resource");
    let res = exchange(&app, &server, &subject, &[]).await;
    described(&res, 400, "invalid_target", "exactly one");
}

#[tokio::test]
async fn a_wider_scope_is_refused() {
    let (app, server, subject) = world().await;
    let res = exchange(
        &app,
        &server,
        &subject,
        &[
            ("resource", FLOWS_RS),
            ("scope", "mcp:tools:calendar:write"),
        ],
    )
    .await;
    described(&res, 400, "invalid_scope", "only narrows");
}

#[tokio::test]
async fn a_scope_off_the_policy_is_refused() {
    let (app, server, subject) = world().await;
    let res = exchange(
        &app,
        &server,
        &subject,
        &[("resource", FLOWS_RS), ("scope", "mcp:tools:email:send")],
    )
    .await;
    described(&res, 400, "invalid_scope", "policy");
}

#[tokio::test]
async fn an_invalid_subject_token_is_refused() {
    let (app, server, _) = world().await;
    let res = exchange(&app, &server, "not.a.token", &[("resource", FLOWS_RS)]).await;
    described(&res, 400, "invalid_grant", "subject token");
}

#[tokio::test]
async fn a_revoked_subject_token_is_refused() {
    let (app, server, subject) = world().await;
    let (_, claims) = jwt_parts(&subject);
    app.state
        .store
        .revoke_jti(
            claims["jti"].as_str().unwrap(),
            claims["exp"].as_i64().unwrap(),
        )
        .await
        .unwrap();
    let res = exchange(&app, &server, &subject, &[("resource", FLOWS_RS)]).await;
    described(&res, 400, "invalid_grant", "subject token");
}

#[tokio::test]
async fn another_subject_token_type_is_refused() {
    let (app, server, subject) = world().await;
    let body = form(&[
        ("grant_type", GRANT),
        ("subject_token", &subject),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("resource", FLOWS_RS),
    ]);
    let res = app
        .post_form("/token", &body, Some((&server.0, &server.1)))
        .await;
    described(&res, 400, "invalid_request", "subject_token_type");
}

#[tokio::test]
async fn an_actor_token_is_refused() {
    let (app, server, subject) = world().await;
    let res = exchange(
        &app,
        &server,
        &subject,
        &[("resource", FLOWS_RS), ("actor_token", &subject)],
    )
    .await;
    described(&res, 400, "invalid_request", "actor_token");
}

#[tokio::test]
async fn metadata_lists_the_grant_only_when_configured() {
    let grants = |doc: Value| doc["grant_types_supported"].clone();
    let plain = spawn_app().await;
    let doc = plain
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(!grants(doc).as_array().unwrap().contains(&json!(GRANT)));
    let app = spawn_app_with(&config("")).await;
    let doc = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert!(grants(doc).as_array().unwrap().contains(&json!(GRANT)));
}
