//! Operations: health, metrics, backup and JSON logs.

use crate::helpers::*;

#[tokio::test]
async fn health_reports_its_services_and_turns_503_without_the_database() {
    let app = spawn_app().await;
    let res = app.get("/health").await;
    assert_eq!(res.status, 200);
    let h = res.json();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["services"]["database"], "healthy");
    assert_eq!(h["services"]["signing_keys"], "healthy");
    assert!(h["timestamp"].as_str().unwrap().contains('T'));
    assert_eq!(app.get("/health/live").await.status, 200);
    app.state.store.close().await;
    let res = app.get("/health").await;
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["status"], "degraded");
    assert_eq!(res.json()["services"]["database"], "unhealthy");
    assert_eq!(
        app.get("/health/live").await.status,
        200,
        "liveness does not depend on the database"
    );
}

/// Every sample line is `name{labels} value` with a numeric value.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {l}"));
            let name_ok = series
                .split('{')
                .next()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(name_ok, "bad metric name in {l}");
            if let Some(labels) = series.split_once('{').map(|(_, rest)| rest) {
                assert!(labels.ends_with('}'), "unterminated labels in {l}");
            }
            (
                series.to_owned(),
                value.parse().unwrap_or_else(|_| panic!("bad value in {l}")),
            )
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_refusals_in_prometheus_text() {
    let toml =
        tessera::config::EXAMPLE_CONFIG.replace("rate_limit_burst = 60", "rate_limit_burst = 1");
    let app = spawn_app_with(&toml).await;
    let (id, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    for _ in 0..2 {
        assert_eq!(app.client_credentials(&id, &secret).await.status, 200);
    }
    app.post_form(
        "/token",
        "grant_type=client_credentials",
        Some((&id, "wrong")),
    )
    .await;
    let body = serde_json::json!({"redirect_uris": ["http://localhost/cb"]});
    app.post_json("/register", &body, None).await;
    app.post_json("/register", &body, None).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status, 200);
    assert!(
        res.header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    let samples = parse_prometheus(&String::from_utf8(res.body).unwrap());
    let value = |series: &str| samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v);
    assert_eq!(
        value("tessera_tokens_issued_total{grant_type=\"client_credentials\"}"),
        Some(2.0)
    );
    assert_eq!(
        value("tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"}"),
        Some(2.0)
    );
    assert_eq!(
        value("tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"401\"}"),
        Some(1.0)
    );
    assert_eq!(
        value("tessera_http_request_duration_seconds_count{route=\"/token\"}"),
        Some(3.0)
    );
    assert_eq!(value("tessera_registrations_total"), Some(1.0));
    assert_eq!(
        value("tessera_rate_limited_total{limiter=\"registration\"}"),
        Some(1.0)
    );
    assert!(value("tessera_audit_backlog").is_some());
}

thread_local! {
    /// The log lines of this thread, while it captures them.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes a log line into [`CAPTURED`] when the writing thread captures.
struct ThreadCapture;

impl std::io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with_borrow_mut(|c| c.as_mut().map(|c| c.extend_from_slice(buf)));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Capture every log line this thread writes, at every level. One global
/// subscriber for the whole test binary: a thread's own (`set_default`)
/// misses events whose callsites other test threads registered meanwhile.
fn capture_this_threads_logs() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(|| ThreadCapture)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    CAPTURED.set(Some(Vec::new()));
}

#[tokio::test]
async fn no_secret_token_code_or_password_reaches_a_log_line_even_at_trace() {
    use crate::browser::Browser;
    use crate::flow::{PASSWORD, VERIFIER, authorize_url, get_code, sign_in_form};

    // The test runs on one thread (tokio's current-thread runtime): every
    // line its requests log is captured.
    capture_this_threads_logs();

    let app = spawn_app().await;
    app.add_user("alice").await;
    let (machine, secret) = app.machine_client("mcp:tools:weather", &[]).await;
    let machine_token = app.machine_token(&machine, &secret).await;
    let wrong = "a-wrong-secret-that-must-not-be-logged";
    app.client_credentials(&machine, wrong)
        .await
        .assert_error(401, "invalid_client");

    let client = app.public_client().await;
    let mut b = Browser::new(&app);
    // A failed sign-in first, then the real one inside get_code.
    let f = sign_in_form(&mut b, &client, "not-alices-password-at-all").await;
    assert_eq!(b.submit(&f, None).await.status, 200);
    let code = get_code(
        &mut b,
        &authorize_url(&client, &[("scope", "mcp:tools:weather")]),
        &[],
    )
    .await;
    let tokens = app.exchange(&client, &code).await.json();
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = app.refresh(&client, &first_refresh).await.json();
    let person_token = refreshed["access_token"].as_str().unwrap().to_owned();
    let body = form(&[("token", &person_token), ("client_id", &client)]);
    assert_eq!(app.post_form("/revoke", &body, None).await.status, 200);

    let log = String::from_utf8(CAPTURED.take().unwrap_or_default()).unwrap();
    for event in [
        "oauth_token_request",
        "sign_in_failed",
        "sign_in_succeeded",
        "consent_granted",
        "token_revoked",
    ] {
        assert!(log.contains(event), "the capture holds the {event} line");
    }
    let session = b.cookies.values().next().unwrap().clone();
    let secrets = [
        ("client secret", secret.as_str()),
        ("wrong client secret", wrong),
        ("password", PASSWORD),
        ("wrong password", "not-alices-password-at-all"),
        ("code", &code),
        ("code verifier", VERIFIER),
        ("refresh token", &first_refresh),
        (
            "rotated refresh token",
            refreshed["refresh_token"].as_str().unwrap(),
        ),
        ("machine access token", &machine_token),
        ("person's access token", &person_token),
        ("session cookie", &session),
    ];
    for (what, value) in secrets {
        assert!(!log.contains(value), "the {what} is in the log");
    }
}
