//! The second half of an upstream sign-in (see `upstream`): the provider's
//! answer verified (RFC 9207 `iss`, the code exchanged with its PKCE
//! verifier, the ID token validated, the keys fetched again once for an
//! unknown `kid`), then the provider's domain and group rules, the person
//! found or provisioned by (provider, `sub`), and a fresh signed-in session.

use axum::http::StatusCode;
use axum::response::Response;

use super::upstream::continue_with;
use crate::config::people::IdentityProvider;
use crate::error::Result;
use crate::http::pages;
use crate::http::session::{self, BrowserSession};
use crate::oauth::authorize::AuthorizationRequest;
use crate::state::AppState;
use crate::store::people::{Linked, UpstreamSignIn};
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
    old: &BrowserSession,
    person: &Person,
    request: &AuthorizationRequest,
) -> Result<Response> {
    let now = app.clock.now();
    let rule = id_token::domain_refusal(person, &p.allowed_domains)
        .map(|why| ("domain", why))
        .or_else(|| id_token::group_refusal(person, &p.allowed_groups).map(|why| ("group", why)));
    if let Some((rule, why)) = rule {
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
    app.store.delete_session(&old.id_hash, now).await?;
    let fresh = session::start(app, Some(&user_id)).await?;
    let fields = serde_json::json!({"user_id": user_id, "provider": p.id, "client_id": request.client_id, "groups": person.groups});
    app.audit.record("upstream_sign_in", now, fields).await;
    Ok(continue_with(app, &fresh, request))
}
