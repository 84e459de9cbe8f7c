//! End to end with a real MCP client: the official TypeScript SDK client (v2,
//! from npm, driven by `tests/interop/mcp_client.mjs`) against a real Tessera
//! and the demo MCP server, both on loopback TCP. The client discovers Tessera
//! from the demo server's 401, registers (once by dynamic registration, once
//! with a client ID metadata document served here), passes the real sign-in
//! and consent pages, calls a tool, is refused a tool outside its grant with
//! 403 insufficient_scope, steps up, and refreshes.
//!
//! Without Node.js and npm the test says it skipped; under `TESSERA_CI=1` that
//! is a failure.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::flow::PASSWORD;
use crate::helpers::TestApp;
use crate::node::{node_ready, npm_ci};

struct World {
    app: TestApp,
    demo: tessera::demo::Demo,
    mcp_url: String,
    docs_base: String,
}

/// Tessera and the demo server on real ports, each knowing the other's URL.
async fn world() -> World {
    let tessera_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let docs_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", tessera_listener.local_addr().unwrap());
    let mcp_url = format!("http://{}/mcp", demo_listener.local_addr().unwrap());
    let toml = tessera::config::EXAMPLE_CONFIG
        .replace("http://127.0.0.1:3000/mcp", &mcp_url)
        .replace(
            "open = true",
            "open = true\nmetadata_document_loopback = true",
        );
    let toml = format!("issuer = \"{issuer}\"\n{toml}");
    let app = TestApp::build(&toml, Arc::new(tessera_resource::clock::SystemClock)).await;
    let router = app.router.clone();
    let make = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(tessera_listener, make).await });
    let demo = tessera::demo::Demo::new(&issuer, &mcp_url).unwrap();
    let demo_router = demo
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(demo_listener, demo_router).await });
    let docs_base = format!("http://{}", docs_listener.local_addr().unwrap());
    let doc = json!({"client_id": format!("{docs_base}/client.json"), "client_name": "Interop (metadata document)",
        "redirect_uris": ["http://127.0.0.1/callback"], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none"});
    let docs = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || async move { axum::Json(doc) }),
    );
    tokio::spawn(async move { axum::serve(docs_listener, docs).await });
    World {
        app,
        demo,
        mcp_url,
        docs_base,
    }
}

fn run_client(args: &[&str]) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    npm_ci(&dir);
    let out = Command::new("node")
        .arg("mcp_client.mjs")
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the MCP client failed:\n{stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bad output ({e}): {stderr}"))
}

async fn check(world: &World, report: &Value) {
    assert_eq!(
        report["tools"],
        json!(["calendar_read", "calendar_write", "email_send", "weather"])
    );
    assert!(report["weather"].as_str().unwrap().starts_with("Paris: "));
    assert_eq!(
        report["firstScope"],
        "mcp:tools:weather mcp:tools:calendar:read mcp:tools:calendar:write"
    );
    assert_eq!(
        report["email"], "sent to bob@example.com",
        "the call succeeded after step-up"
    );
    assert_eq!(
        report["steppedUpScope"],
        "mcp:tools:weather mcp:tools:calendar:read mcp:tools:calendar:write mcp:tools:email:send"
    );
    assert_eq!(
        report["consentPages"][1],
        json!(["mcp:tools:email:send"]),
        "step-up asks only for what is new"
    );
    assert_eq!(report["refreshResult"], "AUTHORIZED");
    assert_eq!(report["refreshRotated"], true);
    assert!(
        report["again"].as_str().unwrap().starts_with("Oslo: "),
        "the refreshed token works"
    );
    let audit = world.demo.audit.lock().unwrap().clone();
    assert!(
        audit
            .iter()
            .any(|e| e.tool_name == "email_send" && !e.success),
        "the refusal was audited"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.tool_name == "email_send" && e.success)
    );
    assert!(
        audit
            .iter()
            .all(|e| e.user_id.is_some() && e.event == "mcp_tool_access")
    );
    let sent = world.demo.data.outbox.lock().unwrap().len();
    assert_eq!(sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_client_registers_dynamically_and_completes_everything() {
    if !node_ready("the_typescript_sdk_client_registers_dynamically_and_completes_everything") {
        return;
    }
    let w = world().await;
    w.app.add_user("alice").await;
    let url = w.mcp_url.clone();
    let report = tokio::task::spawn_blocking(move || run_client(&[&url, "dcr", "alice", PASSWORD]))
        .await
        .unwrap();
    let id = report["client_id"].as_str().unwrap();
    let stored = w
        .app
        .state
        .store
        .find_client(id)
        .await
        .unwrap()
        .expect("registered by DCR");
    assert_eq!(stored.created_by, "registration");
    check(&w, &report).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_client_uses_a_client_id_metadata_document() {
    if !node_ready("the_typescript_sdk_client_uses_a_client_id_metadata_document") {
        return;
    }
    let w = world().await;
    w.app.add_user("alice").await;
    let (url, doc) = (w.mcp_url.clone(), format!("{}/client.json", w.docs_base));
    let report =
        tokio::task::spawn_blocking(move || run_client(&[&url, "cimd", "alice", PASSWORD, &doc]))
            .await
            .unwrap();
    assert_eq!(report["client_id"], format!("{}/client.json", w.docs_base));
    let stored = w
        .app
        .state
        .store
        .find_client(report["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.created_by, "metadata_document");
    check(&w, &report).await;
}
