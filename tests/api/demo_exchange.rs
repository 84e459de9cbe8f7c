//! The token-exchange chain end to end over real TCP: a person's token for
//! the demo MCP server; its `calendar_read` tool exchanges that token at
//! Tessera (the kit's `TokenExchanger`) for one at the demo's calendar API,
//! a second resource, and calls the API with it. The API sees the person
//! as `sub`, the MCP server as the actor, and its own resource as `aud`.

use std::sync::Arc;

use serde_json::{Value, json};
use tessera::clients::{Origin, create};
use tessera::oauth::client::{RegistrationRequest, RegistrationRules};
use tessera_resource::exchange::TokenExchanger;

use crate::helpers::*;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// One JSON-RPC message to the MCP endpoint; the session id and the answer
/// (read from JSON or from the SSE stream's `data:` lines).
async fn rpc(
    url: &str,
    token: &str,
    session: Option<&str>,
    message: Value,
) -> (Option<String>, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let res = req.body(message.to_string()).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let session = res
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    let answer = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .or_else(|| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    (session, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_mcp_server_reaches_its_calendar_api_by_token_exchange() {
    let tessera_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", tessera_listener.local_addr().unwrap());
    let origin = format!("http://{}", demo_listener.local_addr().unwrap());
    let mcp_url = format!("{origin}/mcp");
    let api = format!("{origin}/calendar-api");
    let toml = format!(
        "issuer = \"{issuer}\"\n{}\n[[resources]]\nuri = \"{api}\"\nname = \"Demo calendar API\"\n\
         scopes = [\"mcp:tools:calendar:read\"]\n\n[[token_exchange]]\nfrom = \"{mcp_url}\"\n\
         to = \"{api}\"\nscopes = [\"mcp:tools:calendar:read\"]\n",
        tessera::config::EXAMPLE_CONFIG.replace(DEMO, &mcp_url)
    );
    let app = TestApp::build(&toml, Arc::new(tessera_resource::clock::SystemClock)).await;
    let router = app.router.clone();
    let make = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(tessera_listener, make).await });

    // The MCP server's own client, for the exchange.
    let rules = RegistrationRules {
        redirects: &app.state.config.registration.redirects,
        resources: &app.state.config.resources,
        privileged: true,
    };
    let metadata = rules
        .validate(RegistrationRequest {
            client_name: Some("demo MCP server".into()),
            grant_types: Some(vec![GRANT.into()]),
            ..RegistrationRequest::default()
        })
        .unwrap();
    let server = create(
        &app.state.store,
        &app.state.hasher,
        &metadata,
        Origin::Admin,
        false,
        0,
    )
    .await
    .unwrap();
    let exchanger = TokenExchanger::new(
        &format!("{issuer}/token"),
        &server.client_id,
        tessera_resource::Secret::new(server.client_secret.unwrap().expose().to_owned()),
    );
    let demo = tessera::demo::Demo::new(&issuer, &mcp_url)
        .unwrap()
        .with_downstream(exchanger)
        .unwrap();
    demo.data
        .events
        .lock()
        .unwrap()
        .push(tessera::demo::tools::Event {
            title: "Standup".into(),
            when: "2026-12-07T09:00".into(),
        });
    let demo_router = demo
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(demo_listener, demo_router).await });

    let (_, tokens) = app
        .person_tokens("mcp:tools:weather mcp:tools:calendar:read")
        .await;
    let token = tokens["access_token"].as_str().unwrap();
    let (_, person) = jwt_parts(token);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let (session, answer) = rpc(&mcp_url, token, None, init).await;
    assert!(answer.get("result").is_some(), "{answer}");
    let session = session.expect("a session");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    rpc(&mcp_url, token, Some(&session), note).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "calendar_read", "arguments": {}}});
    let (_, answer) = rpc(&mcp_url, token, Some(&session), call).await;
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("Standup"), "{answer}");

    let calls = demo
        .downstream
        .as_ref()
        .unwrap()
        .calls
        .lock()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].sub, person["sub"].as_str().unwrap(), "the person");
    assert_eq!(calls[0].actor.as_deref(), Some(server.client_id.as_str()));
    assert_eq!(calls[0].client_id, server.client_id);
    assert_eq!(calls[0].aud, vec![api.clone()]);
    // The person's own token is refused by the API: no passthrough.
    let res = reqwest::Client::new()
        .get(format!("{api}/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
