//! The pages of a person's own account: the second-factor step of sign-in,
//! enrolling an authenticator, recovery codes shown once, and the account
//! page. Like the others, askama templates under `templates/` with no
//! script, every value escaped.

use askama::Template;

/// The code step of sign-in (TOTP or a recovery code).
#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    pub static_prefix: String,
    pub issuer_host: String,
    pub action: String,
    pub csrf_token: String,
    pub request: String,
    pub username: String,
    pub error: Option<String>,
}

/// Enrolling an authenticator: the secret as text and as an `otpauth://`
/// link, and the confirmation code field. `Debug` is not derived: it
/// holds the secret.
#[derive(Template)]
#[template(path = "totp_enrol.html")]
pub struct TotpEnrolPage {
    pub static_prefix: String,
    pub issuer_host: String,
    pub action: String,
    pub csrf_token: String,
    /// The sign-in continuation during sign-in; `None` on the account page.
    pub request: Option<String>,
    pub secret: String,
    pub uri: String,
    /// The operator requires a second factor (said on the page).
    pub required: bool,
    pub error: Option<String>,
    /// The account page's address, to go back without enrolling.
    pub cancel: Option<String>,
}

/// Recovery codes, shown once.
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub static_prefix: String,
    pub issuer_host: String,
    pub codes: Vec<String>,
    pub continue_to: String,
}

/// One application the person allowed.
#[derive(Debug)]
pub struct AppView {
    pub client_id: String,
    pub name: String,
    /// What it may do: scope descriptions, with the resource when known.
    pub grants: Vec<String>,
    pub since: String,
    pub last_used: String,
}

/// One recorded sign-in.
#[derive(Debug)]
pub struct SignInView {
    pub at: String,
    pub method: String,
    pub ip: String,
}

/// The account page.
#[derive(Debug, Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub static_prefix: String,
    pub issuer_host: String,
    /// The issuer's path: the forms' actions start with it.
    pub base: String,
    pub csrf_token: String,
    pub username: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub applications: Vec<AppView>,
    pub totp: bool,
    pub recovery_left: i64,
    pub require_second_factor: bool,
    pub sign_ins: Vec<SignInView>,
    /// The passkey form's actions (`None`: no passkeys here).
    pub passkey: Option<super::templates::PasskeyForm>,
    pub passkeys: Vec<PasskeyView>,
}

/// One registered passkey.
#[derive(Debug)]
pub struct PasskeyView {
    pub credential_id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
}
