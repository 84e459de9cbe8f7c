//! Signing in with an upstream OpenID provider, end to end over real TCP: a
//! real provider (`oidc-provider` from npm, `tests/interop/oidc_provider.mjs`)
//! on loopback, a real Tessera, and an MCP client (reqwest, with a cookie jar
//! of its own here) through the real pages: the sign-in page's "Continue with",
//! the provider's login form, the callback, the consent page, the code, the
//! tokens. Then each refusal as a test of its own (wrong domain, wrong group,
//! bad state, replayed callback, tampered ID token, provider down: a clear
//! page, never a 500), the scope policy by provider groups, and the whole
//! chain once in headless Chromium.
//!
//! Without Node.js the tests say they skipped; under `TESSERA_CI=1` that is
//! a failure.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::{Value, json};
use url::Url;

use crate::flow::{CHALLENGE, VERIFIER};
use crate::helpers::*;
use crate::node::{node_ready, npm_ci};

const SECRET: &str = "provider-client-secret-for-tests";
const REDIRECT: &str = "http://127.0.0.1:4567/callback";

/// The provider process, killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
    /// Kept open: the provider must not write into a closed pipe.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider(callback: &str) -> Provider {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    npm_ci(&dir);
    let options = json!({"redirect_uri": callback, "clients": [
        {"client_id": "tessera", "client_secret": SECRET},
        {"client_id": "tessera-forged", "client_secret": SECRET, "tamper": true},
    ]});
    let mut child = Command::new("node")
        .arg("oidc_provider.mjs")
        .arg(options.to_string())
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let started: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the provider did not start ({e}): {line:?}"));
    Provider {
        child,
        issuer: started["issuer"].as_str().unwrap().to_owned(),
        _stdout: stdout,
    }
}

/// Tessera with three providers on the one test provider: `corp` (only
/// example.com and the `staff` group), `forged` (whose ID tokens are
/// altered in transit) and `down` (nothing listens there); and a scope
/// policy: everyone may grant the weather and resources, `mcp-admins`
/// every tool.
pub struct World {
    pub app: TestApp,
    pub base: String,
    _provider: Provider,
}

pub async fn world(extra: &str) -> World {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let provider = start_provider(&format!("{base}/authorize/upstream/callback"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let op = &provider.issuer;
    let toml = format!(
        r#"issuer = "{base}"
{example}
[[identity_providers]]
id = "corp"
name = "Example Corp"
issuer = "{op}"
client_id = "tessera"
client_secret = "{SECRET}"
scopes = ["openid", "email", "profile", "groups"]
allowed_domains = ["example.com"]
allowed_groups = ["staff", "mcp-admins"]

[[identity_providers]]
id = "forged"
name = "Forged Corp"
issuer = "{op}"
client_id = "tessera-forged"
client_secret = "{SECRET}"
scopes = ["openid", "email", "profile", "groups"]

[[identity_providers]]
id = "down"
name = "Down Corp"
issuer = "{down}"
client_id = "tessera"
client_secret = "{SECRET}"

[scope_policy]
everyone = ["mcp:tools:weather", "mcp:resources:*"]

[[scope_policy.rules]]
groups = ["mcp-admins"]
scopes = ["mcp:tools:*", "mcp:exec:*"]
{extra}
"#,
        example = tessera::config::EXAMPLE_CONFIG,
    );
    let app = TestApp::build(&toml, Arc::new(tessera_resource::clock::SystemClock)).await;
    let make = app
        .router
        .clone()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, make).await });
    World {
        app,
        base,
        _provider: provider,
    }
}

/// One answer, as the agent saw it.
pub struct Page {
    pub status: u16,
    pub url: Url,
    pub location: Option<Url>,
    pub body: String,
}

/// An HTTP user agent with a cookie jar (by name and path: every server
/// here is on 127.0.0.1, and cookies do not tell ports apart).
pub struct Agent {
    http: reqwest::Client,
    jar: Vec<cookie::Cookie<'static>>,
}

impl Agent {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { http, jar: vec![] }
    }

    fn cookies_for(&self, url: &Url) -> String {
        self.jar
            .iter()
            .filter(|c| url.path().starts_with(c.path().unwrap_or("/")))
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            let path = c.path().unwrap_or("/").to_owned();
            self.jar
                .retain(|k| !(k.name() == c.name() && k.path().unwrap_or("/") == path));
            let expired = c.max_age().is_some_and(|a| a.is_zero() || a.is_negative())
                || c.expires_datetime()
                    .is_some_and(|t| t < cookie::time::OffsetDateTime::now_utc());
            if !expired {
                self.jar.push(c);
            }
        }
    }

    async fn send(&mut self, url: &Url, form: Option<String>) -> Page {
        let req = match form {
            Some(body) => self
                .http
                .post(url.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
            None => self.http.get(url.clone()),
        };
        let res = req
            .header("cookie", self.cookies_for(url))
            .send()
            .await
            .unwrap();
        self.keep(&res);
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .map(|l| url.join(l.to_str().unwrap()).unwrap());
        Page {
            status,
            url: url.clone(),
            location,
            body: res.text().await.unwrap(),
        }
    }

    /// GET `url` and follow redirects, stopping at the MCP client's
    /// redirect URI (which nothing serves) or at a page.
    pub async fn go(&mut self, url: &str) -> Page {
        let mut page = self.send(&Url::parse(url).unwrap(), None).await;
        self.follow(&mut page).await;
        page
    }

    async fn follow(&mut self, page: &mut Page) {
        for _ in 0..20 {
            let Some(next) = page.location.clone() else {
                return;
            };
            if next.as_str().starts_with(REDIRECT) {
                return;
            }
            *page = self.send(&next, None).await;
        }
        panic!("too many redirects");
    }

    /// Submit the page's first form (relative actions resolved), with
    /// `set` fields changed, and follow the redirects.
    pub async fn submit(
        &mut self,
        page: &Page,
        set: &[(&str, &str)],
        button: Option<&str>,
    ) -> Page {
        let mut form = crate::browser::forms(&page.body)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no form on {}: {}", page.url, page.body));
        for (name, value) in set {
            form.set(name, value);
        }
        let action = page.url.join(&form.action).unwrap();
        let mut next = self.send(&action, Some(form.body(button))).await;
        self.follow(&mut next).await;
        next
    }
}

/// The authorization request of an MCP client (public, PKCE) for `scope`
/// at `resource`.
pub async fn mcp_client_request(w: &World, scope: &str, resource: &str) -> (String, String) {
    let body = json!({"client_name": "MCP Agent", "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"});
    let client = w.app.post_json("/register", &body, None).await.json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!(
        "{}/authorize?{}",
        w.base,
        form(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("resource", resource),
            ("state", "mcp-state"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    (client, url)
}

/// The "Continue with NAME" link of a sign-in page.
pub fn continue_with(page: &Page, name: &str) -> Url {
    let doc = scraper::Html::parse_document(&page.body);
    let a = scraper::Selector::parse("ul.providers a").unwrap();
    let link = doc
        .select(&a)
        .find(|e| e.text().collect::<String>() == format!("Continue with {name}"))
        .unwrap_or_else(|| panic!("no 'Continue with {name}' on: {}", page.body));
    page.url.join(link.value().attr("href").unwrap()).unwrap()
}

/// From the MCP client's authorization URL through "Continue with NAME" and
/// the provider's login form as `login`, to what Tessera shows after the
/// callback. Also returns the callback URL the provider sent the browser to.
pub async fn via_provider(agent: &mut Agent, url: &str, name: &str, login: &str) -> (Page, Url) {
    let sign_in = agent.go(url).await;
    assert_eq!(sign_in.status, 200, "{}", sign_in.body);
    let at_provider = agent.go(continue_with(&sign_in, name).as_str()).await;
    assert_eq!(
        at_provider.status, 200,
        "the provider's login form: {}",
        at_provider.body
    );
    let form = crate::browser::forms(&at_provider.body).remove(0);
    let action = at_provider.url.join(&form.action).unwrap();
    let mut fields = form.clone();
    fields.set("login", login);
    fields.set("password", "any");
    // Follow by hand, to see the callback go by.
    let mut page = agent.send(&action, Some(fields.body(None))).await;
    let mut callback = None;
    while let Some(next) = page.location.clone() {
        if next.path() == "/authorize/upstream/callback" {
            callback = Some(next.clone());
        }
        if next.as_str().starts_with(REDIRECT) {
            break;
        }
        page = agent.send(&next, None).await;
    }
    (page, callback.expect("the provider sent the browser back"))
}

/// Redeem the code of the client's redirect; the token response.
pub async fn redeem(w: &World, client: &str, page: &Page) -> Value {
    let at = page.location.clone().expect("a redirect to the client");
    assert!(at.as_str().starts_with(REDIRECT), "{at}");
    let q: Vec<(String, String)> = at.query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some("mcp-state"));
    assert_eq!(get("iss").as_deref(), Some(w.base.as_str()));
    let code = get("code").unwrap_or_else(|| panic!("no code in {at}"));
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code_verifier", VERIFIER),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
    ]);
    let res = w.app.post_form("/token", &body, None).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// The audit events of `kind`, oldest first, once at least `n` are
/// written (events not recorded durably come with the next batch).
pub async fn events(w: &World, kind: &str, n: usize) -> Vec<Value> {
    let mut found = vec![];
    for _ in 0..50 {
        let records = w.app.state.store.audit_page(0, 100_000).await.unwrap();
        found = records
            .iter()
            .map(|r| serde_json::from_str::<Value>(&r.event).unwrap())
            .filter(|v| v["event"] == kind)
            .collect();
        if found.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    found
}

macro_rules! need_node {
    ($name:literal) => {
        if !node_ready($name) {
            return;
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_at_the_provider_and_the_mcp_client_gets_its_tokens() {
    need_node!("a_person_signs_in_at_the_provider_and_the_mcp_client_gets_its_tokens");
    let w = world("").await;
    let (client, url) = mcp_client_request(&w, "mcp:tools:weather", DEMO).await;
    let mut agent = Agent::new();
    let (consent, _) = via_provider(&mut agent, &url, "Example Corp", "alice").await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(
        consent.body.contains("mcp:tools:weather"),
        "{}",
        consent.body
    );
    let back = agent.submit(&consent, &[], Some("allow")).await;
    let tokens = redeem(&w, &client, &back).await;
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "mcp:tools:weather");
    assert!(tokens["refresh_token"].is_string());

    let people = w.app.state.store.list_users().await.unwrap();
    assert_eq!(people.len(), 1, "the person provisioned now");
    let alice = people
        .iter()
        .find(|u| u.username == "alice@example.com")
        .unwrap();
    assert_eq!(alice.providers, ["corp"]);
    assert!(!alice.password, "a provisioned person has no password");
    assert_eq!(claims["sub"], alice.id);

    // Signing in again (another browser) finds the same person by (provider,
    // sub), and the remembered consent sends the code straight back.
    let mut again = Agent::new();
    let (page, _) = via_provider(&mut again, &url, "Example Corp", "alice").await;
    assert_eq!(page.status, 302, "{}", page.body);
    redeem(&w, &client, &page).await;
    assert_eq!(w.app.state.store.list_users().await.unwrap().len(), 1);
    assert_eq!(events(&w, "user_provisioned", 1).await.len(), 1);
    let signed = events(&w, "upstream_sign_in", 2).await;
    assert_eq!(signed.len(), 2);
    assert_eq!(signed[0]["provider"], "corp");
    assert_eq!(signed[0]["user_id"], alice.id);
    // Both are the person's recent sign-ins, as the account page lists them.
    let recent = w.app.state.store.sign_ins_of(&alice.id).await.unwrap();
    assert_eq!(recent.len(), 2, "{recent:?}");
    assert!(
        recent
            .iter()
            .all(|r| r.method == "Example Corp (identity provider)" && !r.ip_address.is_empty()),
        "{recent:?}"
    );
}

/// A refusal's page: its status and text, and no person provisioned.
async fn refused(w: &World, page: &Page, status: u16, says: &str) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(page.body.contains(says), "'{says}' not in: {}", page.body);
    assert!(page.location.is_none(), "never a redirect");
    let people = w.app.state.store.list_users().await.unwrap();
    assert!(
        people.iter().all(|u| u.providers.is_empty()),
        "nobody linked"
    );
    // Counted among the sign-in failures, by why.
    let metrics = w.app.state.metrics.render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tessera_sign_in_failures_total{reason=\"upstream_")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_of_another_email_domain_is_refused_with_a_page_saying_why() {
    need_node!("a_person_of_another_email_domain_is_refused_with_a_page_saying_why");
    let w = world("").await;
    let (_, url) = mcp_client_request(&w, "mcp:tools:weather", DEMO).await;
    let (page, _) = via_provider(&mut Agent::new(), &url, "Example Corp", "eve").await;
    refused(
        &w,
        &page,
        403,
        "accounts of elsewhere.test may not sign in here",
    )
    .await;
    let why = events(&w, "upstream_sign_in_refused", 1).await;
    assert!(
        why[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("domain rule"),
        "{why:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_outside_the_allowed_groups_is_refused_with_a_page_saying_why() {
    need_node!("a_person_outside_the_allowed_groups_is_refused_with_a_page_saying_why");
    let w = world("").await;
    let (_, url) = mcp_client_request(&w, "mcp:tools:weather", DEMO).await;
    let (page, _) = via_provider(&mut Agent::new(), &url, "Example Corp", "carol").await;
    refused(
        &w,
        &page,
        403,
        "you are not in a group that may sign in here",
    )
    .await;
    let why = events(&w, "upstream_sign_in_refused", 1).await;
    assert!(
        why[0]["reason"].as_str().unwrap().starts_with("group rule"),
        "{why:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_with_a_bad_state_is_refused() {
    need_node!("a_callback_with_a_bad_state_is_refused");
    let w = world("").await;
    let mut agent = Agent::new();
    let (_, url) = mcp_client_request(&w, "mcp:tools:weather", DEMO).await;
    agent.go(&url).await;
    for query in ["code=abc&state=forged-state", "code=abc", "state=&code=abc"] {
        let page = agent
            .go(&format!("{}/authorize/upstream/callback?{query}", w.base))
            .await;
        refused(&w, &page, 400, "This sign-in response cannot be used").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_is_refused() {
    need_node!("a_replayed_callback_is_refused");
    let w = world("").await;
    let (_, url) = mcp_client_request(&w, "mcp:tools:weather", DEMO).await;
    let mut agent = Agent::new();
    let (first, callback) = via_provider(&mut agent, &url, "Example Corp", "alice").await;
    assert_eq!(first.status, 200, "the first use works: {}", first.body);
    let replay = agent.go(callback.as_str()).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("This sign-in response cannot be used"));
    // And from another browser (a stolen callback URL) too.
    let stolen = Agent::new().go(callback.as_str()).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_id_token_is_refused() {
    need_node!("a_tampered_id_token_is_refused");
    let w = world("").await;
    let (_, url) = mcp_client_request(&w, "mcp:tools:weather", DEMO).await;
    let (page, _) = via_provider(&mut Agent::new(), &url, "Forged Corp", "bob").await;
    refused(&w, &page, 502, "could not be verified").await;
    let failed = events(&w, "upstream_sign_in_failed", 1).await;
    let reason = failed[0]["reason"].as_str().unwrap();
    assert!(reason.contains("ID token is not valid"), "{reason}");
    assert_eq!(failed[0]["provider"], "forged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_gets_a_page_not_a_500() {
    need_node!("a_provider_that_is_down_gets_a_page_not_a_500");
    let w = world("").await;
    let (_, url) = mcp_client_request(&w, "mcp:tools:weather", DEMO).await;
    let mut agent = Agent::new();
    let sign_in = agent.go(&url).await;
    let page = agent
        .go(continue_with(&sign_in, "Down Corp").as_str())
        .await;
    refused(&w, &page, 502, "Down Corp cannot be reached right now").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_mcp_admins_may_consent_to_and_obtain_every_tool() {
    need_node!("only_mcp_admins_may_consent_to_and_obtain_every_tool");
    let w = world("").await;
    let asked = "mcp:tools:* mcp:resources:*";
    // Bob (staff) is shown, and gets, only what everyone may grant, even
    // when the form he posts claims more.
    let (client, url) = mcp_client_request(&w, asked, FLOWS_RS).await;
    let (consent, _) = via_provider(&mut Agent::new(), &url, "Example Corp", "bob").await;
    assert!(
        !consent.body.contains("value=\"mcp:tools:*\""),
        "{}",
        consent.body
    );
    assert!(
        consent.body.contains("value=\"mcp:tools:weather\""),
        "{}",
        consent.body
    );
    assert!(
        consent
            .body
            .contains("not let you allow <code class=\"scope-name\">mcp:tools:*</code>"),
        "{}",
        consent.body
    );
    let mut agent = Agent::new();
    let (consent, _) = via_provider(&mut agent, &url, "Example Corp", "bob").await;
    let mut f = crate::browser::forms(&consent.body).remove(0);
    f.checkboxes
        .push(("scope".into(), "mcp:tools:*".into(), true));
    let action = consent.url.join(&f.action).unwrap();
    let back = agent.send(&action, Some(f.body(Some("allow")))).await;
    let tokens = redeem(&w, &client, &back).await;
    assert_eq!(tokens["scope"], "mcp:tools:weather mcp:resources:*");
    // Alice (mcp-admins) may grant all of it.
    let (client, url) = mcp_client_request(&w, asked, FLOWS_RS).await;
    let mut agent = Agent::new();
    let (consent, _) = via_provider(&mut agent, &url, "Example Corp", "alice").await;
    assert!(
        consent.body.contains("value=\"mcp:tools:*\""),
        "{}",
        consent.body
    );
    let back = agent.submit(&consent, &[], Some("allow")).await;
    assert_eq!(redeem(&w, &client, &back).await["scope"], asked);
}
