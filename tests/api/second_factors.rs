//! TOTP (RFC 6238) and recovery codes through the real pages: enrolment on
//! the account page with a code computed here from the secret the page
//! shows, the code step of an MCP authorization, replayed and wrong codes,
//! recovery codes that work once, throttling, and the operator's switch that
//! makes a person enrol before consent.

use data_encoding::BASE32_NOPAD;
use ring::hmac;
use scraper::{Html, Selector};
use serde_json::Value;
use tessera_resource::clock::FixedClock;

use crate::browser::{Browser, Form, forms};
use crate::flow::*;
use crate::helpers::*;

pub const START: i64 = 1_800_000_000;

/// The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s) of `secret` (base32 as
/// the page shows it) at `now`, computed here, apart from the server's code.
pub fn totp(secret: &str, now: i64) -> String {
    let compact: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
    let key = BASE32_NOPAD.decode(compact.as_bytes()).unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let tag = hmac::sign(&key, &(now / 30).to_be_bytes());
    let h = tag.as_ref();
    let o = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[o] & 0x7f, h[o + 1], h[o + 2], h[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

pub fn text_of(res: &TestResponse, selector: &str) -> Vec<String> {
    let doc = Html::parse_document(&res.text());
    let sel = Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// The form on the page whose action ends with `suffix`.
pub fn form_to(res: &TestResponse, suffix: &str) -> Form {
    forms(&res.text())
        .into_iter()
        .find(|f| f.action.ends_with(suffix))
        .unwrap_or_else(|| panic!("no form to {suffix} on: {}", res.text()))
}

/// Sign in to the account page as Alice (password only); the account page.
pub async fn account_sign_in(b: &mut Browser<'_>) -> TestResponse {
    let page = b.get("/account").await;
    assert_eq!(page.status, 200);
    let mut f = form_to(&page, "/authorize/sign-in");
    f.set("username", "alice");
    f.set("password", PASSWORD);
    let res = b.submit(&f, None).await;
    assert_eq!(res.status, 303, "{}", res.text());
    assert_eq!(res.header("location"), "/account");
    b.get("/account").await
}

/// Enrol an authenticator from the account page at the clock's `now`;
/// returns the secret shown and the recovery codes.
pub async fn enrol(b: &mut Browser<'_>, now: i64) -> (String, Vec<String>) {
    let account = b.get("/account").await;
    let start = form_to(&account, "/account/totp/start");
    let page = b.submit(&start, None).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let secret = text_of(&page, "#totp-secret").remove(0);
    let uri = text_of(&page, "a.otpauth").remove(0);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&secret.replace(' ', "")), "{uri}");
    // A wrong code first: the page again, with the same secret.
    let mut confirm = form_to(&page, "/account/totp/confirm");
    let wrong = if totp(&secret, now) == "000000" {
        "111111"
    } else {
        "000000"
    };
    confirm.set("code", wrong);
    let again = b.submit(&confirm, None).await;
    assert!(again.text().contains("That code is not right"));
    assert_eq!(text_of(&again, "#totp-secret")[0], secret);
    confirm.set("code", &totp(&secret, now));
    let done = b.submit(&confirm, None).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let codes = text_of(&done, ".codes code");
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// Start an authorization in a fresh browser and pass the password step;
/// the page that follows.
async fn password_step<'a>(app: &'a TestApp, client: &str) -> (Browser<'a>, TestResponse) {
    let mut b = Browser::new(app);
    let f = sign_in_form(&mut b, client, PASSWORD).await;
    let res = b.submit(&f, None).await;
    (b, res)
}

async fn submit_code(b: &mut Browser<'_>, page: &TestResponse, code: &str) -> TestResponse {
    let mut f = form_to(page, "/authorize/second-factor");
    f.set("code", code);
    b.submit(&f, None).await
}

pub async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    let now = app.state.clock.now();
    let flush = serde_json::json!({});
    app.state
        .audit
        .record_durably("test_flush", now, flush)
        .await
        .unwrap();
    let records = app.state.store.audit_page(0, 100_000).await.unwrap();
    records
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.event).unwrap())
        .filter(|e| e["event"] == kind)
        .collect()
}

#[tokio::test]
async fn a_totp_code_completes_sign_in_once_and_a_replayed_code_is_refused() {
    let clock = FixedClock::new(START);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    account_sign_in(&mut b).await;
    let (secret, _) = enrol(&mut b, START).await;
    let account = b.get("/account").await;
    assert!(account.text().contains("An authenticator app is set up"));
    let users = app.state.store.list_users().await.unwrap();
    assert!(
        users
            .iter()
            .any(|u| u.username == "alice" && u.totp && u.passkeys == 0)
    );

    // The code the enrolment spent is refused, even within its step.
    let (mut b, page) = password_step(&app, &client).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Enter your code"), "{}", page.text());
    let res = submit_code(&mut b, &page, &totp(&secret, START)).await;
    assert!(
        res.text().contains("That code is not right"),
        "{}",
        res.text()
    );
    // Not signed in: the continuation of the request is refused.
    assert!(
        b.get("/account")
            .await
            .text()
            .contains("Sign in to continue")
    );

    clock.advance(30);
    let now = START + 30;
    let res = submit_code(&mut b, &res, &totp(&secret, now)).await;
    assert_eq!(res.status, 303, "{}", res.text());
    let consent = b.get(res.header("location")).await;
    assert!(consent.text().contains("Allow"), "{}", consent.text());

    // The same code again, in another browser: refused.
    let (mut other, page) = password_step(&app, &client).await;
    let res = submit_code(&mut other, &page, &totp(&secret, now)).await;
    assert_eq!(res.status, 200);
    assert!(res.text().contains("That code is not right"));

    let methods: Vec<Value> = events(&app, "sign_in_succeeded")
        .await
        .into_iter()
        .map(|e| e["method"].clone())
        .collect();
    assert_eq!(methods, ["password", "password+totp"]);
    let failed = events(&app, "second_factor_failed").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|e| e["user_id"].is_string()));
    let enrolled = events(&app, "totp_enrolled").await;
    assert_eq!(enrolled.len(), 1);
    let all = serde_json::to_string(&events(&app, "totp_enrolled").await).unwrap();
    assert!(
        !all.contains(&secret.replace(' ', "")),
        "no secret in audit"
    );
}

#[tokio::test]
async fn a_recovery_code_works_once_and_wrong_codes_are_throttled() {
    let clock = FixedClock::new(START);
    let app = spawn_app_with_clock(tessera::config::EXAMPLE_CONFIG, clock.clone()).await;
    let client = app.alice_and_a_client().await;
    let mut b = Browser::new(&app);
    account_sign_in(&mut b).await;
    let (_, codes) = enrol(&mut b, START).await;

    let (mut b, page) = password_step(&app, &client).await;
    let res = submit_code(&mut b, &page, &codes[3].to_uppercase()).await;
    assert_eq!(res.status, 303, "{}", res.text());
    let used = events(&app, "recovery_code_used").await;
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["codes_left"], 9);
    assert!(!used[0].to_string().contains(&codes[3]));

    let (mut b, page) = password_step(&app, &client).await;
    let res = submit_code(&mut b, &page, &codes[3]).await;
    assert!(res.text().contains("That code is not right"));

    // Wrong codes count as failed sign-ins for the account: the fifth
    // failure (one above) blocks the code step and then the password.
    let mut page = res;
    for _ in 0..4 {
        page = submit_code(&mut b, &page, "123456").await;
    }
    let blocked = submit_code(&mut b, &page, &codes[4]).await;
    assert_eq!(blocked.status, 429, "{}", blocked.text());
    assert!(blocked.text().contains("Too many failed attempts"));
    let (_, page) = password_step(&app, &client).await;
    assert_eq!(page.status, 429, "{}", page.text());
}

#[tokio::test]
async fn when_the_operator_requires_a_second_factor_a_person_enrols_before_consent() {
    let clock = FixedClock::new(START);
    let toml = format!(
        "{}\n[security]\nrequire_second_factor = true\n",
        tessera::config::EXAMPLE_CONFIG
    );
    let app = spawn_app_with_clock(&toml, clock.clone()).await;
    let client = app.alice_and_a_client().await;
    let (mut b, page) = password_step(&app, &client).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("This server asks for a second factor"));
    assert!(!page.text().contains("Allow"));
    // Still not signed in.
    assert!(
        b.get("/account")
            .await
            .text()
            .contains("Sign in to continue")
    );
    let (mut b, page) = password_step(&app, &client).await;
    let secret = text_of(&page, "#totp-secret").remove(0);
    let mut f = form_to(&page, "/authorize/enrol");
    f.set("code", &totp(&secret, START));
    let codes = b.submit(&f, None).await;
    assert_eq!(codes.status, 200, "{}", codes.text());
    assert_eq!(text_of(&codes, ".codes code").len(), 10);
    let next = Html::parse_document(&codes.text())
        .select(&Selector::parse("a.btn-primary").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    let consent = b.get(&next).await;
    assert!(consent.text().contains("Allow"), "{}", consent.text());
    let res = b.submit(&Browser::page_form(&consent), Some("allow")).await;
    assert_eq!(res.status, 303);
    assert!(param(&location(&res).1, "code").is_some());
}
