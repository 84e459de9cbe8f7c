//! A real headless Chromium, driven over WebDriver (chromedriver), signs in,
//! unticks one scope on the consent page and allows; the client then redeems
//! the code and the token carries exactly the scopes left ticked. Screenshots
//! of each page are saved under the target directory.
//!
//! Without chromium and chromedriver the test says it skipped; under
//! `TESSERA_CI=1` that is a failure.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::flow::*;
use crate::helpers::*;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        let out = Command::new("which").arg(n).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    })
}

/// `Some((chromium, chromedriver))`, or `None` after reporting the skip.
pub fn browser_programs(test: &str) -> Option<(String, String)> {
    let found = (
        find_program(&["chromium", "chromium-browser"]),
        find_program(&["chromedriver"]),
    );
    match found {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            let msg = format!(
                "{test}: SKIPPED: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
            );
            assert!(
                std::env::var("TESSERA_CI").as_deref() != Ok("1"),
                "{msg}, and TESSERA_CI=1 forbids skipping"
            );
            eprintln!("{msg}");
            None
        }
    }
}

/// A WebDriver session of a headless Chromium (also used by `passkeys`).
pub struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub async fn start(chromium: &str, chromedriver: &str) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut driver = Driver {
            child,
            base,
            session: String::new(),
            http,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=420,1100"]}}}});
        let created = driver.call("POST", "/session", Some(caps)).await;
        driver.session = created["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_owned();
        driver
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = path.replace("{s}", &self.session);
        let url = format!("{}{}", self.base, path);
        let req = match method {
            "POST" => self.http.post(url).json(&body.unwrap_or(json!({}))),
            "DELETE" => self.http.delete(url),
            _ => self.http.get(url),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = v["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path}: {err}: {}",
                v["value"]["message"]
            );
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/session/{s}/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/session/{s}/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            "POST",
            &format!("/session/{{s}}/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call("POST", &format!("/session/{{s}}/element/{e}/click"), None)
            .await;
    }

    pub async fn title(&self) -> String {
        self.call("GET", "/session/{s}/title", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Run a Chrome DevTools command (through chromedriver's `goog/cdp`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/session/{s}/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await
    }

    /// Resize the window (CSS pixels).
    pub async fn window(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/session/{s}/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    pub async fn delete_cookies(&self) {
        self.call("DELETE", "/session/{s}/cookie", None).await;
    }

    pub async fn source(&self) -> String {
        self.call("GET", "/session/{s}/source", None)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// Wait up to ten seconds until the page's source contains `text`.
    pub async fn wait_for_text(&self, text: &str) -> String {
        for _ in 0..100 {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {text:?}: {}", self.source().await);
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.call("GET", "/session/{s}/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
}

/// A client's redirect target that records the query it receives.
pub async fn callback_server() -> (u16, Arc<Mutex<Option<String>>>) {
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| {
            let record = record.clone();
            async move {
                *record.lock().unwrap() = q;
                axum::response::Html(
                    "<title>Callback received</title><p>You can close this window.</p>",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_signs_in_and_consents_to_a_subset() {
    let Some((chromium, chromedriver)) =
        browser_programs("headless_chromium_signs_in_and_consents_to_a_subset")
    else {
        return;
    };
    let app = spawn_app().await;
    let client = app.alice_and_a_client().await;
    let base = app.serve_tcp().await;
    let (port, seen) = callback_server().await;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let scope = "mcp:tools:calendar:read mcp:tools:calendar:write mcp:tools:weather";
    let url = format!(
        "{base}/authorize?{}",
        form(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", &redirect),
            ("scope", scope),
            ("state", "chromium"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    let driver = Driver::start(&chromium, &chromedriver).await;
    driver.goto(&url).await;
    driver.screenshot("1-sign-in").await;
    driver.type_into("input[name=username]", "alice").await;
    driver.type_into("input[name=password]", PASSWORD).await;
    driver.click("form button[type=submit]").await;
    driver.screenshot("2-consent").await;
    driver
        .click("input[type=checkbox][value='mcp:tools:calendar:write']")
        .await;
    driver.click("button[value=allow]").await;
    for _ in 0..50 {
        if seen.lock().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(driver.title().await, "Callback received");
    driver.screenshot("3-callback").await;
    driver.call("DELETE", "/session/{s}", None).await;

    let query = seen
        .lock()
        .unwrap()
        .clone()
        .expect("the browser reached the callback");
    let q: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(param(&q, "state"), Some("chromium"));
    assert_eq!(param(&q, "iss"), Some(ISSUER));
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", param(&q, "code").unwrap()),
        ("code_verifier", VERIFIER),
        ("client_id", &client),
        ("redirect_uri", &redirect),
    ]);
    let tokens = app.post_form("/token", &body, None).await;
    assert_eq!(tokens.status, 200);
    let (_, claims) = jwt_parts(tokens.json()["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "mcp:tools:calendar:read mcp:tools:weather");
}
