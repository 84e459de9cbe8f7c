//! Second factors as the person's pages use them: checking a code typed at
//! sign-in (a TOTP code, RFC 6238, or a one-time recovery code), enrolling a
//! TOTP authenticator, and making recovery codes.
//!
//! A TOTP code is accepted once: the step it matched is spent by a guarded
//! update. Recovery codes are 50 random bits each, shown once, stored as
//! their keyed hash ([`crate::secrets::SecretHasher`]) and spent the same
//! way. Failed codes are counted by the callers as failed sign-ins.

use axum::http::StatusCode;
use axum::response::Response;
use data_encoding::BASE32_NOPAD;

use crate::error::{Error, Result};
use crate::http::pages::people::{RecoveryCodesPage, TotpEnrolPage};
use crate::http::pages::{html, issuer_host};
use crate::keys::totp::{DIGITS, TotpSecret};
use crate::secrets::random_bytes;
use crate::state::AppState;

/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;

/// What a typed code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Totp,
    RecoveryCode,
    Wrong,
}

impl Checked {
    /// The sign-in method it completes, as recorded.
    pub fn method(self) -> &'static str {
        match self {
            Self::Totp => "password+totp",
            Self::RecoveryCode => "password+recovery code",
            Self::Wrong => "",
        }
    }
}

/// Recovery codes to show once; `Debug` never prints them.
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.0.len())
    }
}

/// What the enrolment page shows: the secret as text and as a URI.
pub struct Enrolment {
    pub secret: String,
    pub uri: String,
}

/// A typed code without the spaces and dashes people add, lower case.
fn cleaned(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_totp_shaped(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// Check and spend `code` for `user_id`: six digits are a TOTP code, anything
/// else a recovery code.
pub async fn check(app: &AppState, user_id: &str, code: &str) -> Result<Checked> {
    let now = app.clock.now();
    let code = cleaned(code);
    if is_totp_shaped(&code) {
        let Some(factor) = app.store.totp_factor(user_id).await? else {
            return Ok(Checked::Wrong);
        };
        if !factor.confirmed {
            return Ok(Checked::Wrong);
        }
        let secret = app
            .factor_seal
            .open(user_id, &factor.sealed)
            .map_err(Error::internal)?;
        return Ok(match secret.matching_step(&code, now, factor.last_step) {
            Some(step) if app.store.spend_totp_step(user_id, step).await? => Checked::Totp,
            _ => Checked::Wrong,
        });
    }
    if code.is_empty() || code.len() > 64 {
        return Ok(Checked::Wrong);
    }
    let hash = app.hasher.hash(&code);
    Ok(
        if app.store.spend_recovery_code(user_id, &hash, now).await? {
            Checked::RecoveryCode
        } else {
            Checked::Wrong
        },
    )
}

/// New recovery codes (`xxxxx-xxxxx`, base32) and their keyed hashes.
pub fn new_recovery_codes(app: &AppState) -> Result<(RecoveryCodes, Vec<Vec<u8>>)> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = random_bytes::<7>().map_err(Error::internal)?;
        let text = BASE32_NOPAD.encode(&bytes).to_lowercase();
        let code = format!("{}-{}", &text[..5], &text[5..10]);
        hashes.push(app.hasher.hash(&cleaned(&code)));
        codes.push(code);
    }
    Ok((RecoveryCodes(codes), hashes))
}

/// Start (or restart) enrolment with a new secret; `None` when the person
/// already has a confirmed authenticator.
pub async fn begin(app: &AppState, user_id: &str, username: &str) -> Result<Option<Enrolment>> {
    let secret = TotpSecret::generate().map_err(Error::internal)?;
    let sealed = app
        .factor_seal
        .seal(user_id, &secret)
        .map_err(Error::internal)?;
    if !app
        .store
        .begin_totp(user_id, sealed, app.clock.now())
        .await?
    {
        return Ok(None);
    }
    Ok(Some(shown(app, &secret, username)))
}

/// The enrolment in progress again (after a wrong code), if there is one.
pub async fn in_progress(
    app: &AppState,
    user_id: &str,
    username: &str,
) -> Result<Option<Enrolment>> {
    let Some(factor) = app.store.totp_factor(user_id).await? else {
        return Ok(None);
    };
    if factor.confirmed {
        return Ok(None);
    }
    let secret = app
        .factor_seal
        .open(user_id, &factor.sealed)
        .map_err(Error::internal)?;
    Ok(Some(shown(app, &secret, username)))
}

fn shown(app: &AppState, secret: &TotpSecret, username: &str) -> Enrolment {
    let issuer = crate::http::pages::issuer_host(app);
    Enrolment {
        secret: secret.base32(),
        uri: secret.uri(&format!("Tessera {issuer}"), username),
    }
}

/// Confirm the enrolment in progress with `code`: the recovery codes to
/// show, or `None` when the code does not match.
pub async fn confirm(app: &AppState, user_id: &str, code: &str) -> Result<Option<RecoveryCodes>> {
    let Some(factor) = app.store.totp_factor(user_id).await? else {
        return Ok(None);
    };
    if factor.confirmed {
        return Ok(None);
    }
    let secret = app
        .factor_seal
        .open(user_id, &factor.sealed)
        .map_err(Error::internal)?;
    let Some(step) = secret.matching_step(&cleaned(code), app.clock.now(), 0) else {
        return Ok(None);
    };
    let (codes, hashes) = new_recovery_codes(app)?;
    let now = app.clock.now();
    Ok(app
        .store
        .confirm_totp(user_id, step, hashes, now)
        .await?
        .then_some(codes))
}

/// Whether the person has a confirmed authenticator.
pub async fn has_totp(app: &AppState, user_id: &str) -> Result<bool> {
    Ok(app
        .store
        .totp_factor(user_id)
        .await?
        .is_some_and(|f| f.confirmed))
}

/// What the enrolment page needs besides the enrolment.
pub struct EnrolForm {
    pub action: String,
    pub csrf_token: String,
    /// The sign-in continuation (during sign-in).
    pub request: Option<String>,
    /// The account page, to go back to (from the account page).
    pub cancel: Option<String>,
    pub error: Option<String>,
}

/// The enrolment page.
pub fn enrol_page(app: &AppState, enrolment: Enrolment, form: EnrolForm) -> Response {
    let page = TotpEnrolPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        action: form.action,
        csrf_token: form.csrf_token,
        request: form.request,
        secret: enrolment.secret,
        uri: enrolment.uri,
        required: app.config.sign_in.require_second_factor,
        error: form.error,
        cancel: form.cancel,
    };
    html(StatusCode::OK, &page, None)
}

/// The page that shows recovery codes once, then leads to `continue_to`.
pub fn codes_page(app: &AppState, codes: RecoveryCodes, continue_to: String) -> Response {
    let page = RecoveryCodesPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        codes: codes.0,
        continue_to,
    };
    html(StatusCode::OK, &page, None)
}
