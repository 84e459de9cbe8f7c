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
