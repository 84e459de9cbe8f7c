//! Dynamic client registration (RFC 7591).

use serde_json::{Value, json};

use crate::helpers::*;

fn flows_document_body() -> Value {
    // The flows document's registerClient() body, verbatim.
    json!({
        "client_name": "AI Sales Assistant",
        "client_uri": "https://sales-ai.company.com",
        "redirect_uris": ["https://sales-ai.company.com/oauth/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "mcp:tools:crm:read mcp:tools:email:send",
        "audience": "https://your-mcp-server.com",
        "token_endpoint_auth_method": "client_secret_basic"
    })
}

fn assert_no_nulls(v: &Value) {
    assert!(!v.to_string().contains("null"), "no null members: {v}");
}

#[tokio::test]
async fn the_flows_document_registration_is_created_and_echoed() {
    let app = spawn_app().await;
    for path in ["/register", "/resource-server/oauth/register"] {
        let res = app.post_json(path, &flows_document_body(), None).await;
        assert_eq!(
            res.status,
            201,
            "{path}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_eq!(res.header("cache-control"), "no-store");
        let c = res.json();
        assert_no_nulls(&c);
        assert!(c["client_id"].as_str().unwrap().len() >= 22);
        assert_eq!(c["client_secret"].as_str().unwrap().len(), 43);
        assert_eq!(c["client_secret_expires_at"], 0);
        assert!(c["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
        assert_eq!(c["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(
            c["redirect_uris"],
            json!(["https://sales-ai.company.com/oauth/callback"])
        );
        assert_eq!(
            c["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(c["response_types"], json!(["code"]));
        assert_eq!(c["client_name"], "AI Sales Assistant");
        assert_eq!(c["client_uri"], "https://sales-ai.company.com");
        assert_eq!(c["scope"], "mcp:tools:crm:read mcp:tools:email:send");
        assert_eq!(c["audience"], json!([FLOWS_RS]));
    }
}

#[tokio::test]
async fn a_public_client_gets_no_secret_and_an_omitted_method_defaults_to_basic() {
    let app = spawn_app().await;
    let public =
        json!({"redirect_uris": ["http://127.0.0.1:33418/"], "token_endpoint_auth_method": "none"});
    let c = app.post_json("/register", &public, None).await.json();
    assert!(c.get("client_secret").is_none() && c.get("client_secret_expires_at").is_none());
    assert_eq!(c["token_endpoint_auth_method"], "none");

    let omitted = json!({"redirect_uris": ["http://localhost:3030/callback"]});
    let c = app.post_json("/register", &omitted, None).await.json();
    assert_eq!(
        c["token_endpoint_auth_method"], "client_secret_basic",
        "RFC 7591 §2 default, echoed"
    );
    assert!(c["client_secret"].is_string());
}

#[tokio::test]
async fn what_real_mcp_clients_send_is_accepted() {
    let app = spawn_app().await;
    let bodies = [
        // VS Code
        json!({"client_name": "Visual Studio Code", "client_uri": "https://code.visualstudio.com",
               "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
               "redirect_uris": ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect",
                                 "http://127.0.0.1/", "http://127.0.0.1:33418/"],
               "scope": "mcp:tools:weather", "token_endpoint_auth_method": "none", "application_type": "native"}),
        // Cursor
        json!({"client_name": "Cursor", "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback",
               "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"],
               "token_endpoint_auth_method": "none"}),
        // MCP Inspector, with an empty scope
        json!({"client_name": "MCP Inspector", "redirect_uris": ["http://localhost:6274/oauth/callback"],
               "scope": "", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
               "software_id": "inspector", "software_version": "0.20", "logo_uri": ""}),
        // claude.ai (server-side, client_secret_post)
        json!({"client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
               "token_endpoint_auth_method": "client_secret_post", "grant_types": ["authorization_code", "refresh_token"]}),
    ];
    for body in bodies {
        let res = app.post_json("/register", &body, None).await;
        assert_eq!(
            res.status,
            201,
            "{body}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_no_nulls(&res.json());
        assert_eq!(res.json()["redirect_uris"], body["redirect_uris"]);
    }
}

#[tokio::test]
async fn machine_clients_need_the_initial_access_token() {
    let app = spawn_app().await;
    let body = json!({"client_name": "billing bot", "grant_types": ["client_credentials"],
                      "scope": "mcp:tools:weather", "token_endpoint_auth_method": "client_secret_post"});
    app.post_json("/register", &body, None)
        .await
        .assert_error(400, "invalid_client_metadata");
    let wrong = app
        .post_json("/register", &body, Some("not-the-token"))
        .await;
    wrong.assert_error(401, "invalid_token");
    assert!(wrong.header("www-authenticate").starts_with("Bearer"));

    let res = app.post_json("/register", &body, Some(IAT)).await;
    assert_eq!(res.status, 201);
    let c = res.json();
    let post = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", c["client_id"].as_str().unwrap()),
        ("client_secret", c["client_secret"].as_str().unwrap()),
    ]);
    let token = app.post_form("/token", &post, None).await;
    assert_eq!(token.status, 200);
    assert_eq!(token.json()["scope"], "mcp:tools:weather");
}

#[tokio::test]
async fn closed_registration_requires_the_initial_access_token() {
    let toml = tessera::config::EXAMPLE_CONFIG.replace("open = true", "open = false");
    let app = spawn_app_with(&toml).await;
    let body = json!({"redirect_uris": ["http://localhost/cb"]});
    app.post_json("/register", &body, None)
        .await
        .assert_error(401, "invalid_token");
    assert_eq!(
        app.post_json("/register", &body, Some(IAT)).await.status,
        201
    );
}

#[tokio::test]
async fn bad_registrations_get_rfc7591_errors() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://ok.example/cb", "https://ok.example/cb#frag"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["myapp://cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"client_name": "no redirect"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": "http://localhost/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["http://localhost/cb"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["http://localhost/cb"], "scope": "mcp:bad"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["http://localhost/cb"], "audience": "https://unknown.example"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let res = app.post_json("/register", &body, None).await;
        assert_eq!(res.json()["error"], code, "{body}");
        res.assert_error(400, code);
    }
}

#[tokio::test]
async fn malformed_registration_bodies_get_clear_errors() {
    let app = spawn_app().await;
    let send = |ct: &'static str, body: Vec<u8>| {
        axum::http::Request::post("/register")
            .header("content-type", ct)
            .body(axum::body::Body::from(body))
            .unwrap()
    };
    app.send(send("application/json", b"{not json".to_vec()))
        .await
        .assert_error(400, "invalid_client_metadata");
    app.send(send("text/plain", b"{}".to_vec()))
        .await
        .assert_error(400, "invalid_request");
    let huge = format!("{{\"client_name\": \"{}\"}}", "x".repeat(200_000));
    app.send(send("application/json", huge.into_bytes()))
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_registration_survives_a_restart() {
    let app = spawn_app().await;
    let c = app
        .post_json("/register", &flows_document_body(), None)
        .await
        .json();
    let config = config_from(tessera::config::EXAMPLE_CONFIG, app.db.url());
    let again = tessera::AppState::build(
        config,
        std::sync::Arc::new(tessera_resource::clock::SystemClock),
    )
    .await
    .unwrap();
    let stored = again
        .store
        .find_client(c["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.metadata.client_name.as_deref(),
        Some("AI Sales Assistant")
    );
}
