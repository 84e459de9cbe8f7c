//! The second half of an upstream sign-in (see `upstream`): the provider's
//! answer verified (RFC 9207 `iss`, the code exchanged with its PKCE
//! verifier, the ID token validated, the keys fetched again once for an
//! unknown `kid`), then the provider's domain and group rules, the person
//! found or provisioned by (provider, `sub`), and a fresh signed-in session;
//! or the page that says why not ([`finish`]).

use axum::http::StatusCode;
use axum::response::Response;

use super::upstream::continue_with;
use crate::config::people::IdentityProvider;
use crate::error::Result;
use crate::http::pages;
use crate::http::session::{self, BrowserSession};
use crate::oauth::authorize::AuthorizationRequest;
use crate::state::AppState;
use crate::store::factors::SignIn;
use crate::store::people::{Linked, UpstreamSignIn};

/// The browser a round trip returns to: its session and its address.
#[derive(Clone, Copy)]
pub struct Browser<'a> {
    pub session: &'a BrowserSession,
    pub ip: &'a str,
}
use crate::upstream::Failure;

use crate::upstream::discovery::bare;
use crate::upstream::id_token::{self, Expected, Invalid, Person};

/// The person the provider vouches for, or why not.
pub async fn verified(
    app: &AppState,
    p: &IdentityProvider,
    state: &str,
    code: Option<&str>,
    iss: Option<&str>,
) -> std::result::Result<Person, Failure> {
    let d = app.upstream.discover(p).await?;
    match iss {
        Some(iss) if bare(iss) != bare(&d.issuer) => {
            return Err(Failure::Invalid(
                "the response's iss is not the provider's".into(),
            ));
        }
        None if d.iss_parameter => {
            return Err(Failure::Invalid(
                "the response lacks the iss parameter".into(),
            ));
        }
        _ => {}
    }
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Err(Failure::Invalid("the response carries no code".into()));
    };
    let (nonce, verifier) = super::upstream::derived(app, state);
    let redirect_uri = super::upstream::callback_uri(app);
    let token = app
        .upstream
        .exchange(p, &d, code, &verifier, &redirect_uri)
        .await?;
    let expected = Expected {
        issuer: &d.issuer,
        client_id: &p.client_id,
        nonce: &nonce,
        groups_claim: &p.groups_claim,
        now: app.clock.now(),
    };
    match id_token::validate(&token, &d.keys, &expected) {
        Ok(person) => Ok(person),
        Err(Invalid::Other(f)) => Err(f),
        Err(Invalid::UnknownKey) => {
            let d = app.upstream.rediscover(p).await?;
            match id_token::validate(&token, &d.keys, &expected) {
                Ok(person) => Ok(person),
                Err(Invalid::Other(f)) => Err(f),
                Err(Invalid::UnknownKey) => Err(Failure::Invalid(
                    "the ID token is signed with a key the provider does not publish".into(),
                )),
            }
        }
    }
}

/// Names to try for a person provisioned now: the e-mail address (or the
/// provider's `preferred_username`), then the same with the provider's id,
/// then one that cannot be taken. Only characters a username may hold.
fn usernames(p: &IdentityProvider, person: &Person, new_id: &str) -> Vec<String> {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                    c
                } else {
                    '-'
                }
            })
            .take(48)
            .collect()
    };
    let mut out = Vec::new();
    let base = person
        .email
        .as_deref()
        .filter(|_| person.email_verified)
        .or(person.preferred_username.as_deref())
        .map(clean)
        .filter(|b| !b.is_empty());
    if let Some(base) = base {
        out.push(base.clone());
        out.push(format!("{base}-{}", p.id));
    }
    out.push(format!("{}-{}", p.id, &new_id[..8.min(new_id.len())]));
    out
}

/// Apply the provider's rules, link or provision the person, start their
/// session and continue the pending request.
pub async fn sign_in(
    app: &AppState,
    p: &IdentityProvider,
    browser: Browser<'_>,
    person: &Person,
    request: &AuthorizationRequest,
) -> Result<Response> {
    let now = app.clock.now();
    let rule = id_token::domain_refusal(person, &p.allowed_domains)
        .map(|why| ("domain", why))
        .or_else(|| id_token::group_refusal(person, &p.allowed_groups).map(|why| ("group", why)));
    if let Some((rule, why)) = rule {
        app.metrics.sign_in_failed("upstream_rule");
        let fields = serde_json::json!({"provider": p.id, "subject": person.subject, "client_id": request.client_id, "reason": format!("{rule} rule: {why}")});
        app.audit
            .record_durably("upstream_sign_in_refused", now, fields)
            .await?;
        let message = format!(
            "You signed in at {}, but {why}. Ask your administrator if you think this is wrong.",
            p.name
        );
        return Ok(pages::error(
            app,
            StatusCode::FORBIDDEN,
            "You may not sign in here",
            message,
        ));
    }
    let new_id = uuid::Uuid::new_v4().to_string();
    let names = usernames(p, person, &new_id);
    let linked = app
        .store
        .sign_in_upstream(&UpstreamSignIn {
            provider: &p.id,
            subject: &person.subject,
            email: person.email.as_deref(),
            groups: &person.groups,
            new_id: &new_id,
            usernames: &names,
            now,
        })
        .await?;
    let user_id = match linked {
        Linked::Known { user_id, .. } => user_id,
        Linked::Provisioned { user_id, username } => {
            let fields = serde_json::json!({"user_id": user_id, "username": username, "provider": p.id, "subject": person.subject, "by": "first sign-in (provisioned and linked)"});
            app.audit
                .record_durably("user_provisioned", now, fields)
                .await?;
            user_id
        }
        Linked::Disabled { user_id } => {
            app.metrics.sign_in_failed("disabled");
            let fields = serde_json::json!({"user_id": user_id, "provider": p.id, "client_id": request.client_id, "reason": "disabled"});
            app.audit
                .record_durably("upstream_sign_in_refused", now, fields)
                .await?;
            let message = "Your account here is disabled. Ask your administrator.";
            return Ok(pages::error(
                app,
                StatusCode::FORBIDDEN,
                "You may not sign in here",
                message,
            ));
        }
        Linked::NoFreeName => {
            return Err(crate::error::Error::internal(anyhow::anyhow!(
                "no free username for a provisioned person"
            )));
        }
    };
    app.store
        .delete_session(&browser.session.id_hash, now)
        .await?;
    let fresh = session::start(app, Some(&user_id)).await?;
    let fields = serde_json::json!({"user_id": user_id, "provider": p.id, "client_id": request.client_id, "groups": person.groups, "ip_address": browser.ip});
    app.audit.record("upstream_sign_in", now, fields).await;
    // The account page's "recent sign-ins" lists these beside local ones.
    let record = SignIn {
        at: now,
        method: format!("{} (identity provider)", p.name),
        ip_address: browser.ip.to_owned(),
    };
    app.store.record_sign_in(&user_id, record).await?;
    Ok(continue_with(app, &fresh, request))
}

/// The provider's answer to a round trip that is ours: its error, or the
/// person it vouches for signed in.
pub async fn finish(
    app: &AppState,
    p: &IdentityProvider,
    browser: Browser<'_>,
    request: &AuthorizationRequest,
    state: &str,
    q: &super::upstream::Callback,
) -> crate::error::Result<Response> {
    let now = app.clock.now();
    if let Some(error) = q.error.as_deref() {
        app.metrics.sign_in_failed("upstream_error");
        let error = super::upstream::short(error);
        let fields = serde_json::json!({"provider": p.id, "client_id": request.client_id, "reason": format!("provider error: {error}")});
        app.audit
            .record("upstream_sign_in_failed", now, fields)
            .await;
        let why = format!(
            "{} did not sign you in ({error}). Go back to the application and try again.",
            p.name
        );
        let title = "Sign-in was not completed";
        return Ok(super::upstream::refusal_page(
            app,
            StatusCode::FORBIDDEN,
            title,
            why,
        ));
    }
    let (code, iss) = (q.code.as_deref(), q.iss.as_deref());
    let failure = match verified(app, p, state, code, iss).await {
        Ok(person) => {
            return sign_in(app, p, browser, &person, request).await;
        }
        Err(failure) => failure,
    };
    if !matches!(failure, Failure::Unreachable(_)) {
        app.metrics.sign_in_failed("upstream_unverified");
    }
    let fields = serde_json::json!({"provider": p.id, "client_id": request.client_id, "reason": failure.to_string()});
    app.audit
        .record("upstream_sign_in_failed", now, fields)
        .await;
    Ok(match failure {
        Failure::Unreachable(_) => super::upstream::unreachable_page(app, p),
        Failure::Refused(_) | Failure::Invalid(_) => super::upstream::refusal_page(
            app,
            StatusCode::BAD_GATEWAY,
            "Sign-in could not be verified",
            format!(
                "The answer from {} could not be verified, so you were not signed in. \
                 Go back to the application and start again.",
                p.name
            ),
        ),
    })
}
