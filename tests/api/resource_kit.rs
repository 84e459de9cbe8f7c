//! The resource-server kit (`tessera::resource`) against a real Tessera over
//! real HTTP: a real issuer on a loopback port (its issuer string is its real
//! address), a fake MCP server protected by the kit on another, and every
//! answer the kit gives. Issuer and kit share a `FixedClock`, so expiry,
//! refetch intervals and caches move without sleeping.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera::AppState;
use tessera::config::EXAMPLE_CONFIG;
use tessera_resource::clock::{Clock, FixedClock, SystemClock};
use tessera_resource::{
    AuditEvent, Authenticated, RateLimits, ResourceKit, ResourceServer, audit_tool_access,
};
use tokio::net::TcpListener;

use crate::helpers::*;

type Audit = Arc<Mutex<Vec<AuditEvent>>>;

struct Rig {
    issuer: TestApp,
    issuer_url: String,
    mcp_url: String,
    kit: ResourceKit,
    clock: FixedClock,
    audit: Audit,
    http: reqwest::Client,
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn serve(listener: TcpListener, router: Router) {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
}

fn issuer_toml(issuer: &str, mcp_url: &str) -> String {
    format!(
        "issuer = \"{issuer}\"\n{EXAMPLE_CONFIG}\n[[resources]]\nuri = \"{mcp_url}\"\n\
         name = \"Kit test server\"\nscopes = [\"mcp:tools:*\"]\n"
    )
}

async fn whoami(auth: Authenticated) -> Json<Value> {
    Json(
        json!({"sub": auth.sub, "client_id": auth.client_id, "scopes": auth.scopes.to_string(),
                "aud": auth.aud, "jti": auth.claims.jti}),
    )
}

/// One tool per scope `mcp:tools:{name}`, audited as the flows document does.
async fn tool(
    auth: Authenticated,
    Path(name): Path<String>,
    State(audit): State<Audit>,
) -> Response {
    let checked = auth.require_scopes(&[&format!("mcp:tools:{name}")]);
    let outcome = checked.as_ref().map(|_| ()).map_err(|r| r.error_code());
    audit
        .lock()
        .unwrap()
        .push(audit_tool_access(&auth, &name, outcome));
    match checked {
        Ok(()) => Json(json!({"tool": name})).into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

async fn rig_with(configure: impl FnOnce(ResourceServer) -> ResourceServer) -> Rig {
    let clock = FixedClock::new(SystemClock.now());
    let ((issuer_listener, issuer_port), (mcp_listener, mcp_port)) =
        (listener().await, listener().await);
    let issuer_url = format!("http://127.0.0.1:{issuer_port}");
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let toml = issuer_toml(&issuer_url, &mcp_url);
    let issuer = TestApp::build(&toml, Arc::new(clock.clone())).await;
    serve(issuer_listener, issuer.router.clone());
    let rs = issuer.introspecting_client().await;
    let kit = configure(
        ResourceServer::new(&issuer_url, &mcp_url)
            .scopes(&["mcp:tools:weather", "mcp:tools:calendar:read"])
            .introspection(&rs.0, &rs.1)
            .clock(Arc::new(clock.clone())),
    )
    .build()
    .unwrap();
    let audit = Audit::default();
    let tools = Router::new()
        .route("/mcp/tools/{name}", post(tool))
        .route_layer(kit.auth());
    let sensitive = Router::new()
        .route("/mcp/sensitive", post(whoami))
        .route_layer(
            kit.auth()
                .require_scopes(&["mcp:tools:weather"])
                .require_active(),
        );
    let app = kit
        .protect(
            Router::new().route("/mcp", post(whoami)),
            &["mcp:tools:weather"],
        )
        .merge(sensitive)
        .merge(tools.with_state(audit.clone()))
        .merge(kit.metadata_router());
    serve(mcp_listener, app);
    let http = reqwest::Client::builder()
        .user_agent("kit-test/1")
        .build()
        .unwrap();
    Rig {
        issuer,
        issuer_url,
        mcp_url,
        kit,
        clock,
        audit,
        http,
    }
}

async fn rig() -> Rig {
    rig_with(|rs| rs).await
}

impl Rig {
    /// A machine client bound to the kit's resource; returns (id, secret).
    async fn client(&self, scope: &str) -> (String, String) {
        self.issuer.machine_client(scope, &[&self.mcp_url]).await
    }

    async fn token(&self, client: &(String, String), extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![("grant_type", "client_credentials")];
        pairs.extend_from_slice(extra);
        let res = self
            .http
            .post(format!("{}/token", self.issuer_url))
            .basic_auth(&client.0, Some(&client.1))
            .form(&pairs)
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    }

    async fn call(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.origin()))
            .header("origin", "http://inspector.test");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    fn origin(&self) -> &str {
        self.mcp_url.trim_end_matches("/mcp")
    }

    fn prm_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.origin())
    }
}

fn www_authenticate(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Status, challenge and JSON body of a refusal.
async fn refused(res: reqwest::Response, status: u16, error: &str) -> String {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let challenge = www_authenticate(&res);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    challenge
}

#[tokio::test]
async fn a_request_without_a_usable_token_gets_401_pointing_at_the_metadata() {
    let r = rig().await;
    let res = r.call("/mcp", None).await;
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    let expected = format!(
        "Bearer resource_metadata=\"{}\", scope=\"mcp:tools:weather\"",
        r.prm_url()
    );
    assert_eq!(refused(res, 401, "invalid_token").await, expected);

    let valid = r.token(&r.client("mcp:tools:weather").await, &[]).await;
    let in_query = r.call(&format!("/mcp?access_token={valid}"), None).await;
    assert_eq!(
        refused(in_query, 401, "invalid_token").await,
        expected,
        "never from the query"
    );

    let malformed = r.call("/mcp", Some("not-a-jwt")).await;
    let c = refused(malformed, 401, "invalid_token").await;
    assert!(
        c.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{c}"
    );
    assert!(
        c.ends_with(&format!(
            "resource_metadata=\"{}\", scope=\"mcp:tools:weather\"",
            r.prm_url()
        )),
        "{c}"
    );
    let basic = r
        .http
        .post(&r.mcp_url)
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    refused(basic, 401, "invalid_token").await;
}

#[tokio::test]
async fn a_valid_token_passes_and_verified_tokens_are_cached() {
    let r = rig().await;
    let client = r.client("mcp:tools:weather").await;
    let token = r.token(&client, &[]).await;
    for _ in 0..3 {
        let res = r.call("/mcp", Some(&token)).await;
        assert_eq!(res.status(), 200);
        let who: Value = res.json().await.unwrap();
        assert_eq!(who["sub"], client.0.as_str());
        assert_eq!(who["client_id"], client.0.as_str());
        assert_eq!(who["scopes"], "mcp:tools:weather");
        assert_eq!(who["aud"], json!([r.mcp_url]));
    }
    let stats = r.kit.stats();
    assert_eq!(
        (stats.signature_verifications, stats.jwks_fetches),
        (1, 1),
        "{stats:?}"
    );
    let other = r.token(&client, &[]).await;
    assert_eq!(r.call("/mcp", Some(&other)).await.status(), 200);
    assert_eq!(r.kit.stats().signature_verifications, 2);
}

#[tokio::test]
async fn expired_tokens_are_refused_after_the_leeway() {
    let r = rig().await;
    let token = r.token(&r.client("mcp:tools:weather").await, &[]).await;
    assert_eq!(r.call("/mcp", Some(&token)).await.status(), 200);
    r.clock.advance(15 * 60 + 60);
    assert_eq!(
        r.call("/mcp", Some(&token)).await.status(),
        200,
        "within the leeway"
    );
    r.clock.advance(1);
    let c = refused(r.call("/mcp", Some(&token)).await, 401, "invalid_token").await;
    assert!(c.contains("expired 61s ago"), "{c}");
}

#[tokio::test]
async fn tokens_for_another_audience_or_from_another_issuer_are_refused() {
    let r = rig().await;
    let unbound = r.issuer.machine_client("mcp:tools:weather", &[]).await;
    let elsewhere = r.token(&unbound, &[("resource", FLOWS_RS)]).await;
    let c = refused(r.call("/mcp", Some(&elsewhere)).await, 401, "invalid_token").await;
    assert!(c.contains("not for this server"), "{c}");

    // The same database (so the same signing key) under another issuer name.
    let other_issuer = r.issuer_url.replace("127.0.0.1", "localhost");
    let config = config_from(&issuer_toml(&other_issuer, &r.mcp_url), r.issuer.db.url());
    let twin = AppState::build(config, Arc::new(r.clock.clone()))
        .await
        .unwrap();
    let client = r.client("mcp:tools:weather").await;
    let body = form(&[("grant_type", "client_credentials")]);
    let minted =
        TestApp::send_with(tessera::app(twin), "/token", &body, (&client.0, &client.1)).await;
    let foreign = minted["access_token"].as_str().unwrap();
    let c = refused(r.call("/mcp", Some(foreign)).await, 401, "invalid_token").await;
    assert!(c.contains(&format!("issued by '{other_issuer}'")), "{c}");
}

#[tokio::test]
async fn a_flipped_signature_byte_is_refused() {
    let r = rig().await;
    let token = r.token(&r.client("mcp:tools:weather").await, &[]).await;
    let sig_at = token.rfind('.').unwrap() + 10;
    let mut bytes = token.into_bytes();
    bytes[sig_at] = if bytes[sig_at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(bytes).unwrap();
    let c = refused(r.call("/mcp", Some(&forged)).await, 401, "invalid_token").await;
    assert!(c.contains("signature"), "{c}");
}

/// A compact ES256 JWS with its signature's s replaced by n − s (P-256):
/// the same signature in its other encoding, which ring alone accepts too.
fn with_s_negated(token: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = b64.decode(sig).unwrap();
    let n: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        sig[32 + i] = (d + 256 * borrow) as u8;
    }
    format!("{input}.{}", b64.encode(sig))
}

#[tokio::test]
async fn an_es256_token_has_one_encoding_its_high_s_twin_is_refused() {
    let r = rig().await;
    let client = r.client("mcp:tools:weather").await;
    // Half of ring's raw signatures are high-S: several tokens, each accepted
    // as issued and refused with s negated.
    for _ in 0..6 {
        let token = r.token(&client, &[]).await;
        assert!(token.starts_with("eyJ"), "{token}");
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(r.call("/mcp", Some(&token)).await.status(), 200);
        let twin = with_s_negated(&token);
        let c = refused(r.call("/mcp", Some(&twin)).await, 401, "invalid_token").await;
        assert!(c.contains("high-S"), "{c}");
    }
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_key_set_at_most_once_per_interval() {
    let r = rig().await;
    let client = r.client("mcp:tools:weather").await;
    let before = r.token(&client, &[]).await;
    assert_eq!(r.call("/mcp", Some(&before)).await.status(), 200);
    assert_eq!(r.kit.stats().jwks_fetches, 1);

    let state = &r.issuer.state;
    state
        .keys
        .rotate(&state.store, r.clock.now(), true)
        .await
        .unwrap();
    let after = r.token(&client, &[]).await;
    let c = refused(r.call("/mcp", Some(&after)).await, 401, "invalid_token").await;
    assert!(c.contains("is not published"), "{c}");
    assert_eq!(
        r.kit.stats().jwks_fetches,
        1,
        "fetched moments ago: no refetch"
    );

    r.clock.advance(30);
    assert_eq!(r.call("/mcp", Some(&after)).await.status(), 200);
    assert_eq!(
        r.call("/mcp", Some(&before)).await.status(),
        200,
        "the old key is still published"
    );
    assert_eq!(r.kit.stats().jwks_fetches, 2);
}

#[tokio::test]
async fn missing_scopes_get_403_asking_for_the_union() {
    let r = rig().await;
    let calendar = r
        .token(&r.client("mcp:tools:calendar:read").await, &[])
        .await;
    let c = refused(
        r.call("/mcp", Some(&calendar)).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert!(c.starts_with("Bearer error=\"insufficient_scope\""), "{c}");
    assert!(
        c.contains(&format!("resource_metadata=\"{}\"", r.prm_url())),
        "{c}"
    );
    assert!(
        c.ends_with("scope=\"mcp:tools:calendar:read mcp:tools:weather\""),
        "{c}"
    );

    let weather_client = r.client("mcp:tools:weather").await;
    let weather = r.token(&weather_client, &[]).await;
    assert_eq!(
        r.call("/mcp/tools/weather", Some(&weather)).await.status(),
        200
    );
    let c = refused(
        r.call("/mcp/tools/calendar:read", Some(&weather)).await,
        403,
        "insufficient_scope",
    )
    .await;
    assert!(
        c.ends_with("scope=\"mcp:tools:weather mcp:tools:calendar:read\""),
        "{c}"
    );
    let everything = r.token(&r.client("mcp:tools:*").await, &[]).await;
    assert_eq!(
        r.call("/mcp/tools/calendar:read", Some(&everything))
            .await
            .status(),
        200,
        "wildcard"
    );

    let audit = r.audit.lock().unwrap().clone();
    assert_eq!(audit.len(), 3);
    let (ok, denied) = (&audit[0], &audit[1]);
    assert_eq!(
        (ok.event, ok.success, ok.error.as_deref()),
        ("mcp_tool_access", true, None)
    );
    assert_eq!(
        (ok.client_id.as_str(), ok.user_id.as_deref()),
        (weather_client.0.as_str(), None)
    );
    assert_eq!(
        (ok.tool_name.as_str(), ok.scopes.clone()),
        ("weather", vec!["mcp:tools:weather".to_owned()])
    );
    assert_eq!(
        (ok.ip_address.as_deref(), ok.user_agent.as_deref()),
        (Some("127.0.0.1"), Some("kit-test/1"))
    );
    assert!(
        time::OffsetDateTime::parse(
            &ok.timestamp,
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    assert_eq!(
        (denied.success, denied.error.as_deref()),
        (false, Some("insufficient_scope"))
    );
}

#[tokio::test]
async fn protected_resource_metadata_is_served_at_both_paths_with_cors() {
    let r = rig().await;
    for url in [
        r.prm_url(),
        format!("{}/.well-known/oauth-protected-resource", r.origin()),
    ] {
        let res = r
            .http
            .get(&url)
            .header("origin", "http://inspector.test")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        let doc: Value = res.json().await.unwrap();
        assert_eq!(
            doc,
            json!({
                "resource": r.mcp_url, "authorization_servers": [r.issuer_url],
                "scopes_supported": ["mcp:tools:weather", "mcp:tools:calendar:read"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
    let preflight = r
        .http
        .request(reqwest::Method::OPTIONS, &r.mcp_url)
        .header("origin", "http://inspector.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200, "preflights need no token");
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("mcp-protocol-version"),
        "{allowed}"
    );
}

#[tokio::test]
async fn rate_limits_are_tiered_by_scope_and_answer_429_with_retry_after() {
    let limits = RateLimits {
        tiers: vec![("mcp:tools:*".into(), 3)],
        default_limit: 2,
        ..RateLimits::default()
    };
    let r = rig_with(|rs| rs.rate_limits(Some(limits))).await;
    let weather = r.token(&r.client("mcp:tools:weather").await, &[]).await;
    let premium = r.token(&r.client("mcp:tools:*").await, &[]).await;
    for (token, limit) in [(Some(&weather), 2), (Some(&premium), 3), (None, 2)] {
        let ok = if token.is_some() { 200 } else { 401 };
        for _ in 0..limit {
            assert_eq!(r.call("/mcp", token.map(String::as_str)).await.status(), ok);
        }
        let res = r.call("/mcp", token.map(String::as_str)).await;
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "900");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": "rate_limit_exceeded",
                                "error_description": "Too many requests from this client"})
        );
    }
    r.clock.advance(900);
    assert_eq!(
        r.call("/mcp", Some(&weather)).await.status(),
        200,
        "a new window"
    );
}

#[tokio::test]
async fn require_active_refuses_a_revoked_token_that_offline_validation_accepts() {
    let r = rig_with(|rs| rs.active_cache_ttl(Duration::from_secs(5))).await;
    let client = r.client("mcp:tools:weather").await;
    let token = r.token(&client, &[]).await;
    for _ in 0..2 {
        assert_eq!(r.call("/mcp/sensitive", Some(&token)).await.status(), 200);
    }
    assert_eq!(
        r.kit.stats().introspections,
        1,
        "a positive answer is reused"
    );

    let revoke = r
        .http
        .post(format!("{}/revoke", r.issuer_url))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    assert_eq!(
        r.call("/mcp/sensitive", Some(&token)).await.status(),
        200,
        "cached for 5s"
    );
    r.clock.advance(5);
    let c = refused(
        r.call("/mcp/sensitive", Some(&token)).await,
        401,
        "invalid_token",
    )
    .await;
    assert!(
        c.contains("revoked") && c.ends_with("scope=\"mcp:tools:weather\""),
        "{c}"
    );
    assert_eq!(
        r.call("/mcp", Some(&token)).await.status(),
        200,
        "offline validation cannot know"
    );
    refused(
        r.call("/mcp/sensitive", Some(&token)).await,
        401,
        "invalid_token",
    )
    .await;
    assert_eq!(
        r.kit.stats().introspections,
        3,
        "negative answers are not cached"
    );
}

#[tokio::test]
async fn an_unreachable_issuer_is_503_not_invalid_token() {
    let r = rig().await;
    let token = r.token(&r.client("mcp:tools:weather").await, &[]).await;
    let (closed, port) = listener().await;
    drop(closed);
    let kit = ResourceServer::new(&format!("http://127.0.0.1:{port}"), &r.mcp_url)
        .build()
        .unwrap();
    let (mcp, mcp_port) = listener().await;
    serve(
        mcp,
        kit.protect(Router::new().route("/mcp", post(whoami)), &[]),
    );
    let url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let res = r.http.post(url).bearer_auth(&token).send().await.unwrap();
    refused(res, 503, "temporarily_unavailable").await;
    assert_eq!(kit.stats().jwks_fetches, 1);
}

/// Property: the real kit, holding the real issuer's published key, answers
/// any token (an issued one altered by a byte, cut short or lengthened, any
/// string, any JWT-shaped string) without a panic, and accepts only tokens
/// that carry exactly the claims the issuer signed.
#[test]
fn the_kit_accepts_no_altered_or_arbitrary_token() {
    use proptest::prelude::*;
    use proptest::sample::Index;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (r, token) = rt.block_on(async {
        let r = rig().await;
        let token = r.token(&r.client("mcp:tools:weather").await, &[]).await;
        (r, token)
    });
    let signed = rt.block_on(r.kit.verify(&token)).unwrap().claims.clone();
    let issued = token.clone();
    let altered = (any::<Index>(), any::<u8>(), 0u8..3).prop_map(move |(at, byte, how)| {
        let mut b = issued.clone().into_bytes();
        let i = at.index(b.len());
        match how {
            0 => b[i] = byte,
            1 => b.truncate(i),
            _ => b.insert(i, byte),
        }
        String::from_utf8_lossy(&b).into_owned()
    });
    let jwt_shaped = "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,120}\\.[A-Za-z0-9_-]{0,90}";
    let any_text = proptest::collection::vec(any::<char>(), 0..200).prop_map(String::from_iter);
    let candidates = prop_oneof![3 => altered, 1 => jwt_shaped, 1 => any_text];
    proptest!(ProptestConfig::with_cases(256), |(candidate in candidates)| {
        if let Ok(v) = rt.block_on(r.kit.verify(&candidate)) {
            prop_assert_eq!(&v.claims, &signed, "{:?}", candidate);
        }
    });
}
