//! The scenarios: one `async fn` per scenario, each one step of one virtual
//! user against the real server, failing on any answer it does not expect.
//!
//! Adding a scenario is one variant in [`Scenario`], a line in each of its
//! `match`es and one step function here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::header;
use serde_json::json;

use crate::http::{Conn, Response, form, input_value, location_param, location_path};

/// PKCE pair of RFC 7636 appendix B (also used by the API tests).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const CALLBACK: &str = "http://127.0.0.1/callback";
/// What people allow the public client, and what the machine client may ask.
pub const SCOPE: &str = "mcp:tools:weather mcp:tools:calendar:read";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Floor,
    ClientCredentials,
    AuthCodeFlow,
    Refresh,
    Jwks,
    Metadata,
    Register,
    SignIn,
    Introspection,
    KitValidation,
    KitValidationCold,
}

impl Scenario {
    pub const ALL: [Scenario; 11] = [
        Self::Floor,
        Self::ClientCredentials,
        Self::AuthCodeFlow,
        Self::Refresh,
        Self::Jwks,
        Self::Metadata,
        Self::Register,
        Self::SignIn,
        Self::Introspection,
        Self::KitValidation,
        Self::KitValidationCold,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::ClientCredentials => "client_credentials",
            Self::AuthCodeFlow => "auth_code_flow",
            Self::Refresh => "refresh",
            Self::Jwks => "jwks",
            Self::Metadata => "metadata",
            Self::Register => "register",
            Self::SignIn => "sign_in",
            Self::Introspection => "introspection",
            Self::KitValidation => "kit_validation",
            Self::KitValidationCold => "kit_validation_cold",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What one step is, for the report.
    pub const fn unit(self) -> &'static str {
        match self {
            Self::AuthCodeFlow => "flows",
            Self::SignIn => "sign-ins",
            Self::Refresh => "rotations",
            _ => "req",
        }
    }

    /// Why a scenario cannot run yet, if it cannot (every one can now).
    pub const fn unavailable(self) -> Option<&'static str> {
        None
    }

    /// One step of one virtual user.
    pub async fn step(self, vu: &mut VirtualUser) -> Result<(), String> {
        match self {
            Self::Floor => floor(vu).await,
            Self::ClientCredentials => client_credentials(vu).await,
            Self::AuthCodeFlow => auth_code_flow(vu).await,
            Self::Refresh => refresh(vu).await,
            Self::Jwks => get_ok(vu, "/jwks.json").await,
            Self::Metadata => get_ok(vu, "/.well-known/oauth-authorization-server").await,
            Self::Register => register(vu).await,
            Self::SignIn => sign_in(vu).await,
            Self::Introspection => introspection(vu).await,
            Self::KitValidation => kit_validation(&vu.fx.kit, &vu.fx.access_token).await,
            Self::KitValidationCold => kit_validation(&vu.fx.kit_cold, &vu.fx.access_token).await,
        }
    }
}

/// A person with a live session whose consent to the public client is remembered.
#[derive(Debug, Clone)]
pub struct Identity {
    pub username: String,
    pub session: String,
}

/// What every virtual user shares: the server and what was prepared on it.
pub struct Fixture {
    pub addr: SocketAddr,
    /// `Basic …` of the machine client (client_credentials).
    pub machine_basic: String,
    /// `Basic …` of a resource server allowed to introspect.
    pub introspector_basic: String,
    /// A live access token of the machine client, to introspect and to validate.
    pub access_token: String,
    /// The resource-server kit, as an MCP server would run it (in this
    /// process: validation is offline): with its verified-token cache …
    pub kit: tessera_resource::ResourceKit,
    /// … and without it (every validation checks the signature).
    pub kit_cold: tessera_resource::ResourceKit,
    /// The public client people authorize (authorization code + refresh).
    pub public_client: String,
    pub authorize_path: String,
    pub password: String,
    pub identities: Vec<Identity>,
    pub registrations: AtomicU64,
}

impl Fixture {
    /// The same fixture, sent to another server (the harness's ceiling).
    pub fn aimed_at(&self, addr: SocketAddr) -> Self {
        Self {
            addr,
            machine_basic: self.machine_basic.clone(),
            introspector_basic: self.introspector_basic.clone(),
            access_token: self.access_token.clone(),
            kit: self.kit.clone(),
            kit_cold: self.kit_cold.clone(),
            public_client: self.public_client.clone(),
            authorize_path: self.authorize_path.clone(),
            password: self.password.clone(),
            identities: self.identities.clone(),
            registrations: AtomicU64::new(0),
        }
    }

    pub fn authorize_path(public_client: &str) -> String {
        let query = form(&[
            ("response_type", "code"),
            ("client_id", public_client),
            ("redirect_uri", CALLBACK),
            ("scope", SCOPE),
            ("state", "bench"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        format!("/authorize?{query}")
    }
}

/// One virtual user: its own connection, its identity, its refresh-token chain.
pub struct VirtualUser {
    pub fx: Arc<Fixture>,
    pub conn: Conn,
    pub index: usize,
    refresh_token: Option<String>,
}

impl VirtualUser {
    pub fn new(index: usize, fx: Arc<Fixture>) -> Self {
        Self {
            conn: Conn::new(fx.addr),
            fx,
            index,
            refresh_token: None,
        }
    }

    fn identity(&self) -> Result<&Identity, String> {
        let ids = &self.fx.identities;
        ids.get(self.index % ids.len().max(1))
            .ok_or_else(|| "no prepared identity".to_owned())
    }
}

async fn floor(vu: &mut VirtualUser) -> Result<(), String> {
    get_ok(vu, "/health/live").await
}

async fn get_ok(vu: &mut VirtualUser, path: &str) -> Result<(), String> {
    vu.conn.get(path, None).await?.expect(200, path).map(drop)
}

async fn client_credentials(vu: &mut VirtualUser) -> Result<(), String> {
    let auth = vu.fx.machine_basic.clone();
    let res = vu
        .conn
        .post_form(
            "/token",
            "grant_type=client_credentials".to_owned(),
            &[(header::AUTHORIZATION, &auth)],
        )
        .await?
        .expect(200, "client_credentials")?;
    has_access_token(&res)
}

fn has_access_token(res: &Response) -> Result<(), String> {
    if memchr_contains(&res.body, b"\"access_token\"") {
        Ok(())
    } else {
        Err(format!("no access_token in {}", res.text()))
    }
}

fn memchr_contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A resource server introspects a live access token (RFC 7662).
/// One offline validation by the resource-server kit (JWKS already cached).
async fn kit_validation(kit: &tessera_resource::ResourceKit, token: &str) -> Result<(), String> {
    kit.verify(token)
        .await
        .map(|_| ())
        .map_err(|e| format!("kit refused the token: {e:?}"))
}

async fn introspection(vu: &mut VirtualUser) -> Result<(), String> {
    let auth = vu.fx.introspector_basic.clone();
    let body = form(&[("token", &vu.fx.access_token)]);
    let res = vu
        .conn
        .post_form("/introspect", body, &[(header::AUTHORIZATION, &auth)])
        .await?
        .expect(200, "introspection")?;
    match res.json()?["active"] {
        serde_json::Value::Bool(true) => Ok(()),
        _ => Err(format!("the token is not active: {}", res.text())),
    }
}

/// GET /authorize with the session and remembered consent: straight back with a code.
pub async fn authorize_code(conn: &mut Conn, path: &str, session: &str) -> Result<String, String> {
    let res = conn
        .get(path, Some(session))
        .await?
        .expect(302, "authorize with a session")?;
    location_param(&res, "code").ok_or_else(|| format!("no code in {:?}", res.header("location")))
}

/// POST /token with the code and the PKCE verifier; returns the refresh token.
pub async fn exchange(conn: &mut Conn, client_id: &str, code: &str) -> Result<String, String> {
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
        ("redirect_uri", CALLBACK),
    ]);
    let res = conn
        .post_form("/token", body, &[])
        .await?
        .expect(200, "code exchange")?;
    refresh_token_of(&res)
}

fn refresh_token_of(res: &Response) -> Result<String, String> {
    res.json()?["refresh_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no refresh_token in {}", res.text()))
}

async fn auth_code_flow(vu: &mut VirtualUser) -> Result<(), String> {
    let session = vu.identity()?.session.clone();
    let code = authorize_code(&mut vu.conn, &vu.fx.authorize_path, &session).await?;
    exchange(&mut vu.conn, &vu.fx.public_client, &code)
        .await
        .map(drop)
}

async fn refresh(vu: &mut VirtualUser) -> Result<(), String> {
    let current = match vu.refresh_token.take() {
        Some(t) => t,
        None => {
            // The first step starts this user's own family.
            let session = vu.identity()?.session.clone();
            let code = authorize_code(&mut vu.conn, &vu.fx.authorize_path, &session).await?;
            exchange(&mut vu.conn, &vu.fx.public_client, &code).await?
        }
    };
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &current),
        ("client_id", &vu.fx.public_client),
    ]);
    let res = vu
        .conn
        .post_form("/token", body, &[])
        .await?
        .expect(200, "refresh rotation")?;
    vu.refresh_token = Some(refresh_token_of(&res)?);
    Ok(())
}

async fn register(vu: &mut VirtualUser) -> Result<(), String> {
    let n = vu.fx.registrations.fetch_add(1, Ordering::Relaxed);
    let body = json!({
        "client_name": format!("bench client {n}"),
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    });
    let res = vu
        .conn
        .post_json("/register", &body)
        .await?
        .expect(201, "register")?;
    res.json()?["client_id"]
        .as_str()
        .map(drop)
        .ok_or_else(|| "no client_id".to_owned())
}

/// A fresh sign-in page (new session, CSRF token, sealed request), then the
/// password POST (argon2), up to the 303 that continues the authorization.
async fn sign_in(vu: &mut VirtualUser) -> Result<(), String> {
    let username = vu.identity()?.username.clone();
    let (password, path) = (vu.fx.password.clone(), vu.fx.authorize_path.clone());
    sign_in_once(&mut vu.conn, &path, &username, &password)
        .await
        .map(drop)
}

/// Sign in from scratch; returns the 303 answer (new session cookie, continue URL).
pub async fn sign_in_once(
    conn: &mut Conn,
    authorize: &str,
    user: &str,
    password: &str,
) -> Result<Response, String> {
    let page = conn
        .get(authorize, None)
        .await?
        .expect(200, "sign-in page")?;
    let cookie = page
        .session_cookie()
        .ok_or("the sign-in page set no session cookie")?;
    let html = page.text();
    let field = |name: &str| {
        input_value(&html, name).ok_or_else(|| format!("no {name} on the sign-in page"))
    };
    let body = form(&[
        ("csrf_token", &field("csrf_token")?),
        ("request", &field("request")?),
        ("username", user),
        ("password", password),
    ]);
    let res = conn
        .post_form("/authorize/sign-in", body, &[(header::COOKIE, &cookie)])
        .await?
        .expect(303, "sign-in")?;
    match location_path(&res) {
        Some(p) if p.starts_with("/authorize/continue") => Ok(res),
        other => Err(format!("sign-in went to {other:?}")),
    }
}

/// Sign in and allow every scope once, as a person would; returns the session
/// cookie, now carrying a remembered consent to the public client.
pub async fn open_session(
    conn: &mut Conn,
    authorize: &str,
    user: &str,
    password: &str,
) -> Result<String, String> {
    let signed_in = sign_in_once(conn, authorize, user, password).await?;
    let session = signed_in
        .session_cookie()
        .ok_or("sign-in set no new session cookie")?;
    let continue_path = location_path(&signed_in).ok_or("sign-in gave no Location")?;
    let consent = conn
        .get(&continue_path, Some(&session))
        .await?
        .expect(200, "consent page")?;
    let html = consent.text();
    let field = |name: &str| {
        input_value(&html, name).ok_or_else(|| format!("no {name} on the consent page"))
    };
    let mut pairs = vec![
        ("csrf_token".to_owned(), field("csrf_token")?),
        ("request".to_owned(), field("request")?),
    ];
    pairs.extend(
        checkbox_scopes(&html)
            .into_iter()
            .map(|s| ("scope".to_owned(), s)),
    );
    pairs.push(("decision".to_owned(), "allow".to_owned()));
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let res = conn
        .post_form(
            "/authorize/consent",
            form(&borrowed),
            &[(header::COOKIE, &session)],
        )
        .await?
        .expect(303, "consent")?;
    location_param(&res, "code").ok_or("consent gave no code")?;
    Ok(session)
}

/// The values of the consent page's scope checkboxes.
fn checkbox_scopes(html: &str) -> Vec<String> {
    let marker = "type=\"checkbox\" name=\"scope\" value=\"";
    html.match_indices(marker)
        .filter_map(|(i, _)| {
            let rest = &html[i + marker.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}
