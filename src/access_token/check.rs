//! Would this access token be accepted? One answer, explained check by check,
//! shared by introspection (RFC 7662: `active` is "every check passed") and
//! `tessera token inspect` (the flows document's `debugTokenValidation`, done
//! properly: against our own keys, issuer, deny list, clients and users).

use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::Value;

use super::AccessTokens;
use crate::error::Result;
use tessera_resource::claims::{AccessTokenClaims, Audience};
use tessera_resource::uri::canonical;

#[derive(Debug, serde::Serialize)]
pub struct Check {
    pub what: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub header: Option<Value>,
    pub claims: Option<AccessTokenClaims>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn accepted(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    fn push(&mut self, what: &'static str, ok: bool, detail: impl Into<String>) -> bool {
        self.checks.push(Check {
            what,
            ok,
            detail: detail.into(),
        });
        ok
    }
}

fn audience_matches(aud: &Audience, wanted: &str) -> bool {
    let want = canonical(wanted);
    let same = |a: &String| a == wanted || (want.is_some() && canonical(a) == want);
    match aud {
        Audience::One(a) => same(a),
        Audience::Many(list) => list.iter().any(same),
    }
}

impl AccessTokens<'_> {
    /// Check `token` at `now` as a resource server at `audience` would, plus
    /// what only the issuer knows (revocation, deleted clients and users).
    pub async fn check(&self, token: &str, audience: Option<&str>, now: i64) -> Result<Report> {
        check(self, token, audience, now).await
    }
}

/// The checks in the order a resource server makes them, then the issuer's
/// own; the first that leaves nothing more to check ends the report.
async fn check(
    app: &AccessTokens<'_>,
    token: &str,
    audience: Option<&str>,
    now: i64,
) -> Result<Report> {
    let mut r = Report::default();
    let Some(claims) = signed_claims(app, token, &mut r) else {
        return Ok(r);
    };
    claim_checks(app, &claims, audience, now, &mut r);
    issuer_checks(app, &claims, &mut r).await?;
    r.claims = Some(claims);
    Ok(r)
}

/// Format, type, key and signature: the claims, if the token is ours.
fn signed_claims(app: &AccessTokens<'_>, token: &str, r: &mut Report) -> Option<AccessTokenClaims> {
    let Ok(header) = decode_header(token) else {
        r.push(
            "format",
            false,
            "not a JWT (three base64url parts with a JSON header)",
        );
        return None;
    };
    r.header = serde_json::to_value(&header).ok();
    let typ_ok = header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"));
    r.push(
        "type",
        typ_ok,
        match header.typ.as_deref() {
            Some(typ) => format!("typ is '{typ}'; access tokens have 'at+jwt' (RFC 9068)"),
            None => "no typ; access tokens have 'at+jwt' (RFC 9068)".to_owned(),
        },
    );
    let ring = app.keys.ring();
    let kid = header.kid.clone().unwrap_or_default();
    let Some((alg, key)) = ring.verifier(&kid) else {
        r.push(
            "key",
            false,
            format!("kid '{kid}' is not in this issuer's published key set"),
        );
        return None;
    };
    r.push("key", true, format!("kid '{kid}' is published"));
    // One encoding per token, as the kit accepts it (`tessera_resource::low_s`).
    if let Err(why) = tessera_resource::low_s::check_token(token, alg) {
        r.push("signature", false, why);
        return None;
    }
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    match decode::<AccessTokenClaims>(token, key, &validation) {
        Ok(data) => {
            r.push("signature", true, format!("{alg:?} signature verifies"));
            Some(data.claims)
        }
        Err(e) => {
            let why = format!("does not verify with kid '{kid}': {e}");
            r.push("signature", false, why);
            None
        }
    }
}

/// `aud` as a person reads it: `'a'`, or `'a', 'b'`.
fn audience_text(aud: &Audience) -> String {
    let list = match aud {
        Audience::One(a) => std::slice::from_ref(a),
        Audience::Many(many) => many.as_slice(),
    };
    let quoted: Vec<String> = list.iter().map(|a| format!("'{a}'")).collect();
    match quoted.is_empty() {
        true => "empty".to_owned(),
        false => quoted.join(", "),
    }
}

/// Issuer, audience and expiry: what the claims say.
fn claim_checks(
    app: &AccessTokens<'_>,
    claims: &AccessTokenClaims,
    audience: Option<&str>,
    now: i64,
    r: &mut Report,
) {
    let iss = app.config.issuer.as_str();
    r.push(
        "issuer",
        claims.iss == iss,
        format!("iss is '{}', this issuer is '{iss}'", claims.iss),
    );
    match audience {
        Some(a) => r.push(
            "audience",
            audience_matches(&claims.aud, a),
            format!("aud is {}, expected '{a}'", audience_text(&claims.aud)),
        ),
        None => r.push(
            "audience",
            true,
            format!(
                "aud is {} (not checked: pass --audience)",
                audience_text(&claims.aud)
            ),
        ),
    };
    let left = claims.exp - now;
    let expiry = if left > 0 {
        format!("expires in {left}s")
    } else {
        format!("expired {}s ago", -left)
    };
    r.push("expiry", left > 0, expiry);
}

/// What only the issuer knows: revocation, and whether the client and the
/// person still exist.
async fn issuer_checks(
    app: &AccessTokens<'_>,
    claims: &AccessTokenClaims,
    r: &mut Report,
) -> Result<()> {
    let revoked = app.store.is_revoked(&claims.jti).await?;
    let why = if revoked {
        "jti is on the revocation list"
    } else {
        "not revoked"
    };
    r.push("revocation", !revoked, why);
    let client = app.store.client_auth(&claims.client_id).await?.is_some();
    let state = if client { "exists" } else { "was deleted" };
    r.push(
        "client",
        client,
        format!("client '{}' {state}", claims.client_id),
    );
    if claims.sub != claims.client_id {
        let user = app.store.user_exists(&claims.sub).await?;
        let state = if user { "exists" } else { "was removed" };
        r.push("user", user, format!("user '{}' {state}", claims.sub));
    }
    Ok(())
}
