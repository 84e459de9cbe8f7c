//! The Identity Assertion JWT Authorization Grant (SEP-990; RFC 7523 §2.1):
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<ID-JAG>`
//! from a client authenticated as usual and registered for the grant.
//!
//! The assertion's `iss` picks the trusted identity provider, whose
//! published keys (cached, refetched once on an unknown `kid`) verify it;
//! `oauth::id_jag` checks every claim; its `jti` is spent in the replay
//! cache every replica shares. The provider's `sub` is the person linked to
//! it, or (if the provider may provision) a person created just in time;
//! a disabled person is refused. The scope asked (or the ID-JAG's, or the
//! resource's defaults) is narrowed by the ID-JAG's scope, the client's
//! registered ceiling and the person's scope policy. No refresh token.

use serde_json::json;
use tessera_resource::scope::ScopeSet;

use super::{TokenResponse, require_grant};
use crate::access_token::Grant;
use crate::assertions::{KeySource, replay_key, unverified_claim};
use crate::error::{Error, Result};
use crate::http::body::OAuthForm;
use crate::oauth::client::GrantType;
use crate::oauth::grant_scope;
use crate::oauth::id_jag::{self, Granted, IdJagClaims, People, TrustedIdp};
use crate::state::AppState;
use crate::store::clients::ClientAuth;
use crate::store::people::{Linked, UpstreamSignIn};

fn refused(why: impl std::fmt::Display) -> Error {
    Error::invalid_grant(format!("the identity assertion is refused: {why}"))
}

pub async fn grant(app: &AppState, client: &ClientAuth, form: &OAuthForm) -> Result<TokenResponse> {
    require_grant(client, GrantType::JwtBearer)?;
    let assertion = form.require("assertion")?;
    let iss = unverified_claim(assertion, "iss")
        .ok_or_else(|| refused("it is not a JWT naming its issuer (iss)"))?;
    let idp = app
        .config
        .trusted_idps
        .iter()
        .find(|i| i.issuer == iss)
        .ok_or_else(|| refused("iss is not a trusted identity provider"))?;
    // The operator chose this URL: it may be on the operator's own network.
    let source = KeySource::Remote {
        url: &idp.jwks_uri,
        allow_loopback: true,
    };
    let verified = app
        .assertions
        .verify(assertion, source)
        .await
        .map_err(refused)?;
    let claims: IdJagClaims =
        serde_json::from_value(verified.claims).map_err(|_| refused("its claims are malformed"))?;
    let asked: Vec<&str> = form.all("resource").collect();
    let resources = app.config.resources.select(&asked, &client.audience)?;
    let [resource] = resources.as_slice() else {
        return Err(Error::invalid_target("ask for one resource at a time"));
    };
    let now = app.clock.now();
    let issuer = app.config.issuer.as_str();
    let typ = verified.typ.as_deref();
    let granted = id_jag::check(typ, &claims, idp, issuer, &client.id, &resource.uri, now)?;
    let key = replay_key("idp", &idp.issuer, &granted.spent.jti);
    if !app
        .store
        .spend_assertion(&key, granted.spent.exp, now)
        .await?
    {
        return Err(refused("its jti was used before (a replayed assertion)"));
    }
    let user_id = person(app, idp, &granted, &claims, now).await?;
    let scope = scope(app, client, form, &granted, &resources, &user_id).await?;
    let grant = Grant {
        subject: &user_id,
        client_id: &client.id,
        resources: &resources,
        scope: &scope,
        auth_time: None,
    };
    let token = app.access_tokens().mint(&grant, now)?;
    let fields = json!({
        "client_id": client.id,
        "identity_provider": idp.issuer,
        "user_id": user_id,
        "assertion_jti": granted.spent.jti,
        "issued_jti": token.jti,
        "resource": resource.uri,
        "scope": token.scope,
    });
    app.audit
        .record("identity_assertion_grant", now, fields)
        .await;
    Ok(TokenResponse::new(token, None))
}

/// The person the provider's `sub` names: linked before, or provisioned
/// now if the provider may; never a disabled one.
async fn person(
    app: &AppState,
    idp: &TrustedIdp,
    granted: &Granted,
    claims: &IdJagClaims,
    now: i64,
) -> Result<String> {
    let groups = provider_rules(app, idp, granted, claims)?;
    let user_id = match idp.people {
        People::Link => app
            .store
            .linked_person(&idp.provider, &granted.sub)
            .await?
            .ok_or_else(|| {
                refused("its sub is linked to no person here (this provider only links)")
            })?,
        People::Provision => {
            let new_id = uuid::Uuid::new_v4().to_string();
            let mut usernames = Vec::new();
            if let Some(name) = claims.email.as_deref().and_then(|e| e.split('@').next()) {
                usernames.push(name.to_owned());
            }
            usernames.push(format!("{}-{}", idp.provider, &new_id[..8]));
            let linked = app
                .store
                .sign_in_upstream(&UpstreamSignIn {
                    provider: &idp.provider,
                    subject: &granted.sub,
                    email: claims.email.as_deref(),
                    groups: &groups,
                    new_id: &new_id,
                    usernames: &usernames,
                    now,
                })
                .await?;
            match linked {
                Linked::Known { user_id, .. } | Linked::Provisioned { user_id, .. } => user_id,
                Linked::Disabled { .. } => return Err(refused("the person is disabled")),
                Linked::NoFreeName => {
                    return Err(refused("no username is free to provision the person"));
                }
            }
        }
    };
    Ok(user_id)
}

/// When an `[[identity_providers]]` entry has the ID-JAG provider's id, its
/// sign-in rules (e-mail domains, groups) hold for the ID-JAG too, so a person
/// refused at the sign-in page is not let in by an assertion. The groups are
/// read from that entry's groups claim, and recorded with the link.
fn provider_rules(
    app: &AppState,
    idp: &TrustedIdp,
    granted: &Granted,
    claims: &IdJagClaims,
) -> Result<Vec<String>> {
    let Some(p) = app
        .config
        .identity_providers
        .iter()
        .find(|p| p.id == idp.provider)
    else {
        return Ok(Vec::new());
    };
    let groups = claims
        .other
        .get(&p.groups_claim)
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let who = crate::upstream::id_token::Person {
        subject: granted.sub.clone(),
        email: claims.email.clone(),
        // The provider signed the assertion about this person: its e-mail
        // claim is the provider's word, as a verified ID token's would be.
        email_verified: true,
        groups,
        preferred_username: None,
    };
    let refusal = crate::upstream::id_token::domain_refusal(&who, &p.allowed_domains)
        .or_else(|| crate::upstream::id_token::group_refusal(&who, &p.allowed_groups));
    match refusal {
        Some(why) => Err(refused(format!(
            "the sign-in rules of identity provider {} refuse the person ({why})",
            p.id
        ))),
        None => Ok(who.groups),
    }
}

/// The scope issued: asked (or the ID-JAG's, or the resource's defaults),
/// known and accepted by the resource, within the ID-JAG's scope, the
/// client's registered ceiling and the person's policy.
async fn scope(
    app: &AppState,
    client: &ClientAuth,
    form: &OAuthForm,
    granted: &Granted,
    resources: &[&crate::oauth::resource::Resource],
    user_id: &str,
) -> Result<ScopeSet> {
    let asked = form
        .get("scope")
        .map(ScopeSet::parse)
        .transpose()
        .map_err(|e| Error::invalid_scope(e.to_string()))?;
    let asked = asked.as_ref().or(granted.scope.as_ref());
    let mut scope = grant_scope::for_consent(asked, resources, &app.config.scopes)?;
    let within = |s: &str, set: Option<&ScopeSet>| set.is_none_or(|set| set.covers(s));
    let ceiling = client.allowed.as_ref().ok().filter(|c| !c.is_empty());
    let mut kept = ScopeSet::default();
    scope
        .iter()
        .filter(|s| *s != crate::oauth::offline_access::OFFLINE_ACCESS)
        .filter(|s| within(s, granted.scope.as_ref()) && within(s, ceiling))
        .for_each(|s| kept.insert(s));
    scope = kept;
    let Some(allowed) =
        crate::users::grantable(&app.store, app.config.scope_policy.as_ref(), user_id).await?
    else {
        return Err(refused("the person is disabled"));
    };
    let scope = allowed.narrow(&scope);
    if scope.is_empty() {
        return Err(Error::invalid_scope(
            "nothing asked is within the assertion's scope, the client's and the person's",
        ));
    }
    Ok(scope)
}
