//! PostgreSQL going away under a running Tessera (a server of the test's own,
//! stopped and crashed for real): answers come within 5 s, as JSON 503
//! `temporarily_unavailable` from OAuth endpoints and an HTML 503 page for a
//! person; `/health` says 503; serving resumes without a restart once the
//! database is back; nothing acknowledged is lost in a crash.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_resource::clock::SystemClock;

use crate::database::{Backend, backend};
use crate::flow::*;
use crate::helpers::*;
use crate::private_postgres::{PrivatePostgres, eventually};

/// A private server, once per `cargo test` (in the SQLite run: these tests
/// bring their own PostgreSQL).
fn private_server(test: &str) -> Option<PrivatePostgres> {
    if backend() == Backend::Postgres {
        return None;
    }
    match PrivatePostgres::start() {
        Ok(pg) => Some(pg),
        Err(why) => {
            skipped(test, &why);
            None
        }
    }
}

async fn app_on(pg: &PrivatePostgres) -> TestApp {
    let db = TestDatabase::at(&pg.url("postgres"));
    TestApp::on_database(db, tessera::config::EXAMPLE_CONFIG, Arc::new(SystemClock)).await
}

/// `request` answered within 5 s.
async fn promptly(request: impl Future<Output = TestResponse>) -> TestResponse {
    let started = Instant::now();
    let res = request.await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    res
}

#[tokio::test]
async fn postgresql_down_is_answered_503_and_serving_resumes_when_it_is_back() {
    let test = "postgresql_down_is_answered_503_and_serving_resumes_when_it_is_back";
    let Some(pg) = private_server(test) else {
        return;
    };
    let app = app_on(&pg).await;
    let client = app.alice_and_a_client().await;
    let tokens = app.tokens(&client, "mcp:tools:weather").await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/health").await.status, 200);

    pg.stop("fast").unwrap();
    let res = promptly(app.refresh(&client, &refresh)).await;
    res.assert_error(503, "temporarily_unavailable");
    assert!(!res.header("retry-after").is_empty());
    let registration = json!({"redirect_uris": ["http://127.0.0.1:4567/callback"],
        "token_endpoint_auth_method": "none"});
    promptly(app.post_json("/register", &registration, None))
        .await
        .assert_error(503, "temporarily_unavailable");
    let page = promptly(app.get(&authorize_url(&client, &[]))).await;
    assert_eq!(page.status, 503);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.text().contains("Briefly unavailable"),
        "{}",
        page.text()
    );
    assert_eq!(promptly(app.get("/health")).await.status, 503);

    pg.start_again().unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || app
            .get("/health")
            .await
            .status
            == 200)
        .await,
        "/health stayed unhealthy after the database came back"
    );
    // The refresh refused meanwhile was not spent: it rotates now.
    let res = app.refresh(&client, &refresh).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        app.post_json("/register", &registration, None).await.status,
        201
    );
}

#[tokio::test]
async fn nothing_acknowledged_is_lost_when_postgresql_crashes() {
    let test = "nothing_acknowledged_is_lost_when_postgresql_crashes";
    let Some(pg) = private_server(test) else {
        return;
    };
    let app = app_on(&pg).await;
    let client = app.alice_and_a_client().await;
    let registration = json!({"redirect_uris": ["http://127.0.0.1:4567/callback"],
        "token_endpoint_auth_method": "none"});
    let mut registered = Vec::new();
    for _ in 0..20 {
        let res = app.post_json("/register", &registration, None).await;
        assert_eq!(res.status, 201);
        registered.push(res.json()["client_id"].as_str().unwrap().to_owned());
    }
    let tokens = app.tokens(&client, "mcp:tools:weather").await;
    let rotated = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await
        .json();

    pg.stop("immediate").unwrap();
    pg.start_again().unwrap();
    // A new process, so that nothing comes from a cache.
    let after = app_on(&pg).await;
    for id in &registered {
        let found = after.state.store.find_client(id).await.unwrap();
        assert!(
            found.is_some(),
            "registration {id} was acknowledged, then lost"
        );
    }
    let res = after
        .refresh(&client, rotated["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        res.status,
        200,
        "the rotated refresh token was lost: {}",
        res.text()
    );
}

#[tokio::test]
async fn sslmode_in_the_database_url_is_honoured() {
    let test = "sslmode_in_the_database_url_is_honoured";
    if backend() == Backend::Postgres {
        return;
    }
    let Some(db) = TestDatabase::postgres() else {
        return skipped(test, "TESSERA_TEST_POSTGRES_URL is not set");
    };
    let open = async |mode: &str| {
        let url = format!("{}?sslmode={mode}", db.url());
        tessera::store::Store::open(&url).await.map(drop)
    };
    open("disable").await.expect("a plain connection");
    let ssl = {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
            .await
            .unwrap();
        let (on,): (String,) = sqlx::query_as("SHOW ssl")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        on == "on"
    };
    if ssl {
        // The server's certificate (Debian's snakeoil) is self-signed: TLS
        // is used when required, and verified when asked to be.
        open("require").await.expect("a TLS connection");
        let refused = open("verify-full")
            .await
            .expect_err("an unverifiable certificate");
        assert!(refused.to_string().contains("certificate"), "{refused}");
    } else {
        let refused = open("require")
            .await
            .expect_err("TLS required, and the server has none");
        assert!(refused.to_string().contains("cannot connect"), "{refused}");
    }
}
