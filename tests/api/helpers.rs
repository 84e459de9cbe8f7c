//! Test harness: a real Tessera (real router, real SQLite file, real keys) per test.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tessera::AppState;

pub use crate::database::{Param, TestDatabase};
use tessera::clients::{Origin, create};
use tessera::config::{Config, EXAMPLE_CONFIG, Overrides};
use tessera::oauth::client::{OneOrMany, RegistrationRequest, RegistrationRules};
use tessera_resource::clock::SystemClock;
use tower::ServiceExt;

pub const ISSUER: &str = "http://127.0.0.1:8080";
pub const DEMO: &str = "http://127.0.0.1:3000/mcp";
pub const FLOWS_RS: &str = "https://your-mcp-server.com";
pub const IAT: &str = "initial-access-token-for-tests-0123456789";

pub struct TestApp {
    pub state: Arc<AppState>,
    pub router: axum::Router,
    /// Its database, on the backend under test (and a directory for files);
    /// shared with the apps [`TestApp::reopen`] makes.
    pub db: Arc<TestDatabase>,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Assert an OAuth error response: status, `error` code, and a description.
    pub fn assert_error(&self, status: u16, code: &str) {
        let body = self.json();
        assert_eq!(self.status.as_u16(), status, "status for {body}");
        assert_eq!(body["error"], code, "error code in {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "description in {body}"
        );
        assert_eq!(self.header("content-type"), "application/json");
    }
}

pub fn config_from(toml: &str, db: &str) -> Config {
    let overrides = Overrides {
        database_url: Some(db.to_owned()),
        initial_access_token: Some(IAT.to_owned()),
        ..Overrides::default()
    };
    Config::from_toml(toml, "test config", &overrides).expect("test config is valid")
}

/// A connection of the test's own to the database at `url` (`sqlite://PATH`),
/// to change what the server stores behind its back, as another process could.
pub fn database(url: &str) -> rusqlite::Connection {
    let path = url.strip_prefix("sqlite://").expect("a sqlite:// URL");
    rusqlite::Connection::open(path).unwrap()
}

/// Say that `test` skipped because `why`; under `TESSERA_CI=1`, where every
/// component is installed, a skip is a failure.
pub fn skipped(test: &str, why: &str) {
    let msg = format!("{test}: SKIPPED: {why}");
    assert!(
        std::env::var("TESSERA_CI").as_deref() != Ok("1"),
        "{msg}, and TESSERA_CI=1 forbids skipping"
    );
    eprintln!("{msg}");
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(EXAMPLE_CONFIG).await
}

pub async fn spawn_app_with(toml: &str) -> TestApp {
    TestApp::build(toml, Arc::new(SystemClock)).await
}

impl TestApp {
    /// A Tessera configured by `toml`, on a database of its own, with `clock`.
    pub async fn build(toml: &str, clock: Arc<dyn tessera_resource::clock::Clock>) -> Self {
        Self::on(Arc::new(TestDatabase::new()), toml, clock).await
    }

    /// A Tessera on `db`.
    pub async fn on_database(
        db: TestDatabase,
        toml: &str,
        clock: Arc<dyn tessera_resource::clock::Clock>,
    ) -> Self {
        Self::on(Arc::new(db), toml, clock).await
    }

    /// Another Tessera on this one's database (a restart with another
    /// configuration, or a second process).
    pub async fn reopen(&self, toml: &str, clock: Arc<dyn tessera_resource::clock::Clock>) -> Self {
        Self::on(self.db.clone(), toml, clock).await
    }

    async fn on(
        db: Arc<TestDatabase>,
        toml: &str,
        clock: Arc<dyn tessera_resource::clock::Clock>,
    ) -> Self {
        let config = config_from(toml, db.url());
        let state = AppState::build(config, clock).await.unwrap();
        Self {
            router: tessera::app(state.clone()),
            state,
            db,
        }
    }

    /// Run `sql` (`?` placeholders) on this app's database behind its back,
    /// as another process could.
    pub async fn execute(&self, sql: &str, params: &[Param<'_>]) {
        crate::database::execute(self.db.url(), sql, params).await;
    }

    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// POST a form body, optionally with HTTP Basic credentials.
    pub async fn post_form(
        &self,
        path: &str,
        body: &str,
        basic: Option<(&str, &str)>,
    ) -> TestResponse {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            req = req.header(header::AUTHORIZATION, basic_header(id, secret));
        }
        self.send(req.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    pub async fn post_json(&self, path: &str, body: &Value, bearer: Option<&str>) -> TestResponse {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    /// An administrator-created machine client; returns (id, secret).
    pub async fn machine_client(&self, scope: &str, audience: &[&str]) -> (String, String) {
        let request = RegistrationRequest {
            client_name: Some("test machine".into()),
            grant_types: Some(vec!["client_credentials".into()]),
            scope: Some(scope.into()),
            audience: Some(OneOrMany::Many(
                audience.iter().map(|s| s.to_string()).collect(),
            )),
            ..RegistrationRequest::default()
        };
        self.admin_client(request, false).await
    }

    /// A resource server allowed to introspect, and nothing else
    /// (`tessera client add --introspect`); returns (id, secret).
    pub async fn introspecting_client(&self) -> (String, String) {
        let request = RegistrationRequest {
            client_name: Some("an MCP server".into()),
            grant_types: Some(vec![]),
            ..RegistrationRequest::default()
        };
        self.admin_client(request, true).await
    }

    async fn admin_client(
        &self,
        request: RegistrationRequest,
        introspect: bool,
    ) -> (String, String) {
        let rules = RegistrationRules {
            redirects: &self.state.config.registration.redirects,
            resources: &self.state.config.resources,
            privileged: true,
        };
        let metadata = rules.validate(request).unwrap();
        let (store, hasher) = (&self.state.store, &self.state.hasher);
        let c = create(store, hasher, &metadata, Origin::Admin, introspect, 0)
            .await
            .unwrap();
        (c.client_id, c.client_secret.unwrap().expose().to_owned())
    }

    /// Serve the router on a real loopback TCP port, as `tessera serve`
    /// does; returns its base URL.
    pub async fn serve_tcp(&self) -> String {
        self.serve_tcp_with(tessera::server::Limits::default())
            .await
    }

    /// Serve with a 300 ms body limit, POST a form to `path` announcing 100
    /// bytes but sending only `start`, and return the whole raw answer.
    pub async fn post_stalled_form(&self, path: &str, start: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = tessera::server::Limits {
            body_read: std::time::Duration::from_millis(300),
            ..tessera::server::Limits::default()
        };
        let base = self.serve_tcp_with(limits).await;
        let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\n\
             content-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\n{start}"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_end(&mut answer),
        )
        .await
        .expect("answered, not left waiting")
        .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// [`Self::serve_tcp`] with other connection limits.
    pub async fn serve_tcp_with(&self, limits: tessera::server::Limits) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(tessera::server::serve(
            listener,
            self.router.clone(),
            None,
            tessera::server::Placement::Shared,
            limits,
            std::future::pending(),
        ));
        format!("http://{addr}")
    }
}

pub fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// Form-encode pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Decode a JWT's header and claims without verifying (for assertions).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut it = token.split('.');
    let header = serde_json::from_slice(&b64.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&b64.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

pub async fn spawn_app_with_clock(
    toml: &str,
    clock: tessera_resource::clock::FixedClock,
) -> TestApp {
    TestApp::build(toml, Arc::new(clock)).await
}

impl TestApp {
    /// POST a form with Basic credentials to a router (for use inside closures).
    pub async fn send_with(
        router: axum::Router,
        path: &str,
        body: &str,
        basic: (&str, &str),
    ) -> Value {
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, basic_header(basic.0, basic.1))
            .body(Body::from(body.to_owned()))
            .unwrap();
        let res = router.oneshot(req).await.unwrap();
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }
}

impl TestApp {
    /// `POST /token` with `grant_type=client_credentials` and HTTP Basic.
    pub async fn client_credentials(&self, id: &str, secret: &str) -> TestResponse {
        self.post_form(
            "/token",
            "grant_type=client_credentials",
            Some((id, secret)),
        )
        .await
    }

    /// A client_credentials access token for a machine client (asserting it is issued).
    pub async fn machine_token(&self, id: &str, secret: &str) -> String {
        let res = self.client_credentials(id, secret).await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        res.json()["access_token"].as_str().unwrap().to_owned()
    }
}
