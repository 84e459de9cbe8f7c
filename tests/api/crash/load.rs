//! The load the crash test puts on the server: tasks that register
//! clients, take Alice through sign-in and consent and redeem the codes,
//! refresh the families so made, and take client-credentials tokens, each
//! writing down in the ledger only what the server acknowledged.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster::{Browser, CALLBACK, Page, code_in, exchange, form_on};
use crate::flow::authorize_url;

/// The pause between a registrar's, a machine client's or a refresher's
/// requests: they would otherwise take the cores from sign-ins and consents.
const PACE: Duration = Duration::from_millis(5);
pub(super) const PASSWORD: &str = "correct horse battery staple";

/// A refresh token family and its latest acknowledged token.
pub(super) struct Family {
    pub(super) client: String,
    pub(super) token: String,
}

/// What the server acknowledged, and what went wrong while it was up.
#[derive(Default)]
pub(super) struct Ledger {
    /// Client ids and their registration access tokens.
    pub(super) registered: Vec<(String, String)>,
    /// Clients Alice consented to.
    pub(super) consented: Vec<String>,
    /// Families no task is refreshing at the moment.
    pub(super) families: VecDeque<Family>,
    /// Families whose refresh was in flight at a kill: set aside.
    pub(super) set_aside: usize,
    pub(super) refreshes: usize,
    pub(super) machine_tokens: usize,
    /// Unexpected answers, and requests lost while the server was up.
    pub(super) failures: Vec<String>,
}

impl Ledger {
    /// A family to refresh, keeping one back: however many refreshes a slow
    /// machine leaves in flight at the kills, a family is there to assert on.
    fn idle_family(&mut self) -> Option<Family> {
        if self.families.len() > 1 {
            self.families.pop_front()
        } else {
            None
        }
    }

    /// Where a family stands after a refresh with `outcome`.
    fn settle(&mut self, mut family: Family, outcome: Outcome) {
        match outcome {
            Outcome::Acknowledged(tokens) => {
                family.token = tokens["refresh_token"].as_str().unwrap().to_owned();
                self.refreshes += 1;
                self.families.push_back(family);
            }
            Outcome::Unsent => self.families.push_back(family),
            Outcome::Unknown => self.set_aside += 1,
            Outcome::Refused => {}
        }
    }
}

/// A request's outcome as a client sees it.
enum Outcome {
    Acknowledged(Value),
    /// Never reached the server (the connection was refused).
    Unsent,
    /// No answer: the server may or may not have done it.
    Unknown,
    /// Answered, but not with the expected status (a failure, recorded).
    Refused,
}

/// One life of the server: where it listens, whether it has been killed,
/// and the ledger all lives share.
#[derive(Clone)]
pub(super) struct Round {
    pub(super) base: String,
    pub(super) killed: Arc<AtomicBool>,
    pub(super) ledger: Arc<Mutex<Ledger>>,
    pub(super) http: reqwest::Client,
}

impl Round {
    pub(super) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap()
    }

    pub(super) fn running(&self) -> bool {
        !self.killed.load(Ordering::SeqCst)
    }

    /// A request that got no answer: expected once the kill was decided
    /// (the flag is set before the signal), a failure before.
    fn lost(&self, what: &str, e: &reqwest::Error) -> Outcome {
        if self.running() {
            self.ledger()
                .failures
                .push(format!("{what}: no answer: {e}"));
        }
        if e.is_connect() {
            Outcome::Unsent
        } else {
            Outcome::Unknown
        }
    }

    fn refused(&self, what: &str, status: StatusCode, body: &str) -> Outcome {
        // A page's title says what went wrong; a JSON error fits whole.
        let title = body.split_once("<title>").map(|(_, t)| t.split('<').next());
        let said = title.flatten().unwrap_or(body);
        let failure = format!("{what}: {status} {said}");
        self.ledger().failures.push(failure);
        Outcome::Refused
    }

    /// Send `req`; its JSON body if the answer is `expected`.
    async fn call(&self, what: &str, req: reqwest::RequestBuilder, expected: u16) -> Outcome {
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => return self.lost(what, &e),
        };
        let status = res.status();
        let body = match res.text().await {
            Ok(body) => body,
            Err(e) => return self.lost(what, &e),
        };
        if status != expected {
            return self.refused(what, status, &body);
        }
        Outcome::Acknowledged(serde_json::from_str(&body).unwrap())
    }

    async fn token(&self, what: &str, form: &[(&str, &str)]) -> Outcome {
        let req = self.http.post(format!("{}/token", self.base)).form(form);
        self.call(what, req, 200).await
    }

    /// A page a browser got with `expected` status: its `Location` and body.
    fn page(&self, what: &str, got: reqwest::Result<Page>, expected: u16) -> Option<Page> {
        match got {
            Ok(page) if page.0 == expected => Some(page),
            Ok((status, _, body)) => {
                self.refused(what, status, &body);
                None
            }
            Err(e) => {
                self.lost(what, &e);
                None
            }
        }
    }
}

/// Register a public client; its id once acknowledged.
async fn register(r: &Round) -> Option<String> {
    let body = json!({"client_name": "crash", "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none"});
    let req = r.http.post(format!("{}/register", r.base)).json(&body);
    let Outcome::Acknowledged(v) = r.call("registration", req, 201).await else {
        return None;
    };
    let field = |name: &str| v[name].as_str().unwrap().to_owned();
    let id = field("client_id");
    r.ledger()
        .registered
        .push((id.clone(), field("registration_access_token")));
    Some(id)
}

/// Alice signs in (unless her session lives on) and allows `client`; the
/// redirect back, with a code, once acknowledged.
async fn consent(r: &Round, browser: &mut Browser, client: &str) -> Option<String> {
    let start = browser.get(&r.base, &authorize_url(client, &[])).await;
    let (_, _, mut page) = r.page("authorization request", start, 200)?;
    let mut form = form_on(&page);
    if form.fields.iter().any(|(name, _)| name == "password") {
        form.set("username", "alice");
        form.set("password", PASSWORD);
        let signed_in = browser.submit(&r.base, &form, None).await;
        let (_, next, _) = r.page("sign-in", signed_in, 303)?;
        let shown = browser.get(&r.base, &next).await;
        page = r.page("consent page", shown, 200)?.2;
        form = form_on(&page);
    }
    let allowed = browser.submit(&r.base, &form, Some("allow")).await;
    let (_, back, _) = r.page("consent", allowed, 303)?;
    r.ledger().consented.push(client.to_owned());
    Some(back)
}

/// Register, consent and redeem the code, again and again: new
/// registrations, consents and refresh families. The browser (Alice's
/// session) lives on from one life of the server to the next.
pub(super) async fn flows(r: Round, mut browser: Browser) -> Browser {
    while r.running() && flow(&r, &mut browser).await.is_some() {}
    browser
}

pub(super) async fn flow(r: &Round, browser: &mut Browser) -> Option<()> {
    let client = register(r).await?;
    let back = consent(r, browser, &client).await?;
    let redeem = exchange(&code_in(&back), &client);
    let Outcome::Acknowledged(tokens) = r.token("code redemption", &redeem.each()).await else {
        return None;
    };
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    r.ledger().families.push_back(Family { client, token });
    Some(())
}

/// Refresh families in turn, each by one task at a time, never presenting
/// a token twice.
pub(super) async fn refresher(r: Round) {
    while r.running() {
        let next = r.ledger().idle_family();
        let Some(family) = next else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", &family.token),
            ("client_id", &family.client),
        ];
        let outcome = r.token("refresh", &form).await;
        r.ledger().settle(family, outcome);
        tokio::time::sleep(PACE).await;
    }
}

/// Client-credentials tokens for a machine client: each an audit record.
pub(super) async fn machine(r: Round, id: String, secret: String) {
    while r.running() {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let Outcome::Acknowledged(_) = r.token("client credentials", &form).await else {
            return;
        };
        r.ledger().machine_tokens += 1;
        tokio::time::sleep(PACE).await;
    }
}

/// Registrations, one after another.
pub(super) async fn registrar(r: Round) {
    while r.running() && register(&r).await.is_some() {
        tokio::time::sleep(PACE).await;
    }
}

/// Wait until the server reaches its database: the load time counts from
/// then, not from the start of a slow connection to PostgreSQL.
pub(super) async fn ready(r: &Round) {
    for _ in 0..300 {
        let health = r.http.get(format!("{}/health", r.base)).send().await;
        if health.is_ok_and(|res| res.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never became healthy", r.base);
}
