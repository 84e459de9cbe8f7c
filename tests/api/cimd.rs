//! Client ID Metadata Documents: fetched from a real local HTTP server,
//! validated, cached, and refused for every way they can be wrong.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;

#[derive(Clone)]
struct Docs {
    base: String,
    hits: Arc<AtomicUsize>,
    flaky: Arc<AtomicUsize>,
}

async fn serve_doc(State(d): State<Docs>, Path(name): Path<String>) -> Response {
    d.hits.fetch_add(1, Ordering::SeqCst);
    let me = format!("{}/{name}", d.base);
    let good = json!({"client_id": me, "client_name": "Claude Code", "redirect_uris": [CALLBACK],
                      "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"});
    let cache = [(header::CACHE_CONTROL, "max-age=600")];
    match name.as_str() {
        "good" => (cache, axum::Json(good)).into_response(),
        "redirect" => (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{}/good", d.base))],
        )
            .into_response(),
        "missing" => StatusCode::NOT_FOUND.into_response(),
        "big" => {
            let mut doc = good;
            doc["padding"] = json!("x".repeat(6000));
            axum::Json(doc).into_response()
        }
        "mismatch" => axum::Json(
            json!({"client_id": "https://elsewhere.example/doc", "client_name": "x",
                                        "redirect_uris": [CALLBACK]}),
        )
        .into_response(),
        "secret" => {
            let mut doc = good;
            doc["client_secret"] = json!("s3cret");
            axum::Json(doc).into_response()
        }
        "notjson" => "<html>hello</html>".into_response(),
        "flaky" if d.flaky.fetch_add(1, Ordering::SeqCst) == 0 => {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        "flaky" => axum::Json(good).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn doc_server() -> Docs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/docs", listener.local_addr().unwrap());
    let docs = Docs {
        base,
        hits: Arc::default(),
        flaky: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/docs/{name}", axum::routing::get(serve_doc))
        .with_state(docs.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    docs
}

fn loopback_config() -> String {
    tessera::config::EXAMPLE_CONFIG.replace(
        "open = true",
        "open = true\nmetadata_document_loopback = true",
    )
}

fn error_text(res: &TestResponse) -> String {
    assert_eq!(res.status, 400, "{}", String::from_utf8_lossy(&res.body));
    assert!(res.header("location").is_empty(), "never a redirect");
    String::from_utf8_lossy(&res.body).into_owned()
}

#[tokio::test]
async fn a_metadata_document_client_completes_the_flow_and_is_cached() {
    let app = spawn_app_with(&loopback_config()).await;
    app.add_user("alice").await;
    let docs = doc_server().await;
    let client_id = format!("{}/good", docs.base);
    let mut b = Browser::new(&app);
    let first = b
        .get(&authorize_url(
            &client_id,
            &[("scope", "mcp:tools:weather")],
        ))
        .await;
    let consent = sign_in(&mut b, &first, "alice").await;
    let html = String::from_utf8_lossy(&consent.body).into_owned();
    let host = docs
        .base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        html.contains("Claude Code") && html.contains(&host),
        "the document's host is shown"
    );
    let res = b.submit(&Browser::page_form(&consent), Some("allow")).await;
    let code = param(&location(&res).1, "code").unwrap().to_owned();
    let t = app.exchange(&client_id, &code).await;
    assert_eq!(t.status, 200, "{}", String::from_utf8_lossy(&t.body));
    let (_, claims) = jwt_parts(t.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(
        docs.hits.load(Ordering::SeqCst),
        1,
        "fetched once, then served from the cache"
    );
    let m = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json();
    assert_eq!(m["client_id_metadata_document_supported"], true);
}

#[tokio::test]
async fn bad_documents_get_an_error_page() {
    let app = spawn_app_with(&loopback_config()).await;
    let docs = doc_server().await;
    let cases = [
        ("redirect", "200"),
        ("missing", "200"),
        ("big", "larger than"),
        ("mismatch", "does not equal"),
        ("secret", "secret"),
        ("notjson", "not JSON"),
    ];
    for (name, why) in cases {
        let res = app
            .get(&authorize_url(&format!("{}/{name}", docs.base), &[]))
            .await;
        let text = error_text(&res);
        assert!(text.contains(why), "{name}: {text}");
    }
}

#[tokio::test]
async fn failures_are_never_cached() {
    let app = spawn_app_with(&loopback_config()).await;
    let docs = doc_server().await;
    let url = authorize_url(&format!("{}/flaky", docs.base), &[]);
    error_text(&app.get(&url).await);
    assert_eq!(
        app.get(&url).await.status,
        200,
        "the second attempt fetches again and succeeds"
    );
}

#[tokio::test]
async fn private_and_loopback_addresses_are_refused_without_the_operator_flag() {
    let app = spawn_app().await;
    let docs = doc_server().await;
    let http = error_text(
        &app.get(&authorize_url(&format!("{}/good", docs.base), &[]))
            .await,
    );
    assert!(
        http.contains("not registered"),
        "plain http is not a document URL without the flag: {http}"
    );
    let port = docs
        .base
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    for host in [
        "127.0.0.1",
        "localhost",
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
    ] {
        let id = format!("https://{host}:{port}/docs/good");
        let text = error_text(&app.get(&authorize_url(&id, &[])).await);
        assert!(
            text.contains("special-use address") || text.contains("cannot resolve"),
            "{host}: {text}"
        );
    }
    assert_eq!(docs.hits.load(Ordering::SeqCst), 0, "nothing was fetched");
}

#[tokio::test]
async fn a_document_url_with_encoded_or_backslash_dot_segments_is_refused() {
    let app = spawn_app_with(&loopback_config()).await;
    let docs = doc_server().await;
    for path in [
        "x/%2e%2e/good",
        "x/%2E%2E/good",
        "x/.%2e/good",
        "x\\..\\good",
    ] {
        let id = format!("{}/{path}", docs.base);
        let text = error_text(&app.get(&authorize_url(&id, &[])).await);
        assert!(
            text.contains("dot segments") || text.contains("backslash"),
            "{path}: {text}"
        );
    }
    assert_eq!(docs.hits.load(Ordering::SeqCst), 0, "nothing was fetched");
}
