//! The account page through the real router: its own sign-in, the
//! applications a person allowed (withdrawing one ends its refresh family at
//! once), changing the password, signing out everywhere, recent sign-ins,
//! its headers, and forms refused without the session's CSRF token.

use crate::browser::Browser;
use crate::flow::*;
use crate::helpers::*;
use crate::second_factors::{account_sign_in, events, form_to, text_of};

#[tokio::test]
async fn the_account_page_signs_in_then_lists_applications_and_sign_ins_with_the_pages_headers() {
    let app = spawn_app().await;
    let (client, _) = app.person_tokens("mcp:tools:weather").await;
    let mut b = Browser::new(&app);
    let page = b.get("/account").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Sign in to continue"));
    assert!(page.text().contains("your account"));
    let page = account_sign_in(&mut b).await;
    assert_eq!(page.status, 200, "{}", page.text());
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(page.header(name), value, "{name}");
    }
    let csp = page.header("content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert!(!page.text().contains("<script"));
    let apps = text_of(&page, ".app-title");
    assert_eq!(apps, ["Calendar Agent"]);
    assert!(page.text().contains(&client));
    assert!(page.text().contains("Check the weather") || page.text().contains("weather"));
    let meta = text_of(&page, ".app .meta").remove(0);
    assert!(
        meta.contains("Allowed since") && meta.contains("UTC"),
        "{meta}"
    );
    assert!(!meta.contains("not yet"), "tokens were issued: {meta}");
    // The two sign-ins: the authorization's and this one.
    let sign_ins = text_of(&page, ".sign-ins li");
    assert_eq!(sign_ins.len(), 2, "{sign_ins:?}");
    assert!(sign_ins[0].contains("password"), "{sign_ins:?}");
}

#[tokio::test]
async fn withdrawing_an_application_ends_its_refresh_family_at_once() {
    let app = spawn_app().await;
    let (client, tokens) = app.person_tokens("mcp:tools:weather").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let mut b = Browser::new(&app);
    let page = account_sign_in(&mut b).await;
    let withdraw = form_to(&page, "/account/withdraw");
    assert!(
        withdraw
            .fields
            .iter()
            .any(|(n, v)| n == "client_id" && v == &client)
    );
    let res = b.submit(&withdraw, None).await;
    assert_eq!(res.status, 303, "{}", res.text());
    assert_eq!(res.header("location"), "/account?done=withdrawn");
    app.refresh(&client, rt)
        .await
        .assert_error(400, "invalid_grant");
    let page = b.get(res.header("location")).await;
    assert!(page.text().contains("Access withdrawn"));
    assert!(text_of(&page, ".app-title").is_empty());
    let withdrawn = events(&app, "consent_withdrawn").await;
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0]["client_id"], client.as_str());
    assert!(withdrawn[0]["user_id"].is_string());
    // The next authorization asks for consent again.
    let mut other = Browser::new(&app);
    let page = other.get(&authorize_url(&client, &[])).await;
    let page = sign_in(&mut other, &page, "alice").await;
    assert!(page.text().contains("Allow"));
}

#[tokio::test]
async fn account_forms_without_the_sessions_csrf_token_are_refused() {
    let app = spawn_app().await;
    let (client, tokens) = app.person_tokens("mcp:tools:weather").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let mut b = Browser::new(&app);
    let page = account_sign_in(&mut b).await;
    for suffix in [
        "/account/withdraw",
        "/account/sign-out-everywhere",
        "/account/password",
        "/account/totp/start",
    ] {
        let mut f = form_to(&page, suffix);
        f.set("csrf_token", "forged");
        let res = b.submit(&f, None).await;
        assert_eq!(res.status, 400, "{suffix}");
        assert!(
            res.text().contains("not sent from your account page"),
            "{suffix}"
        );
    }
    // A form from another browser's session is refused too.
    let mut mallory = Browser::new(&app);
    let f = form_to(&page, "/account/withdraw");
    let res = mallory.submit(&f, None).await;
    assert_eq!(
        res.status, 303,
        "no session: back to the account page's sign-in"
    );
    let res = app.refresh(&client, rt).await;
    assert_eq!(res.status, 200, "nothing was withdrawn: {}", res.text());
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions_and_grants() {
    let app = spawn_app().await;
    let (client, tokens) = app.person_tokens("mcp:tools:weather").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let mut elsewhere = Browser::new(&app);
    account_sign_in(&mut elsewhere).await;
    let mut b = Browser::new(&app);
    let page = account_sign_in(&mut b).await;
    let mut f = form_to(&page, "/account/password");
    f.set("current_password", "not the password");
    f.set("new_password", "a brand new passphrase");
    f.set("confirm_password", "a brand new passphrase");
    let res = b.submit(&f, None).await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("current password is not right"));
    assert_eq!(events(&app, "sign_in_failed").await.len(), 1);
    f.set("current_password", PASSWORD);
    f.set("confirm_password", "something else");
    assert!(b.submit(&f, None).await.text().contains("differ"));
    f.set("new_password", "short");
    f.set("confirm_password", "short");
    assert!(b.submit(&f, None).await.text().contains("at least 8"));
    f.set("new_password", "a brand new passphrase");
    f.set("confirm_password", "a brand new passphrase");
    let res = b.submit(&f, None).await;
    assert_eq!(res.status, 303, "{}", res.text());
    let page = b.get(res.header("location")).await;
    assert!(
        page.text().contains("Your password was changed"),
        "{}",
        page.text()
    );
    let gone = elsewhere.get("/account").await;
    assert!(gone.text().contains("Sign in to continue"));
    app.refresh(&client, rt)
        .await
        .assert_error(400, "invalid_grant");
    let changed = events(&app, "password_changed").await;
    assert_eq!(changed.len(), 1);
    assert!(!changed[0].to_string().contains("passphrase"));
    let mut fresh = Browser::new(&app);
    let f = sign_in_form(&mut fresh, &client, "a brand new passphrase").await;
    assert_eq!(fresh.submit(&f, None).await.status, 303);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session_of_the_person() {
    let app = spawn_app().await;
    app.add_user("alice").await;
    app.add_user("bob").await;
    let mut one = Browser::new(&app);
    let page = account_sign_in(&mut one).await;
    let mut two = Browser::new(&app);
    account_sign_in(&mut two).await;
    let mut bob = Browser::new(&app);
    let bob_page = bob.get("/account").await;
    let mut f = form_to(&bob_page, "/authorize/sign-in");
    f.set("username", "bob");
    f.set("password", PASSWORD);
    assert_eq!(bob.submit(&f, None).await.status, 303);
    let res = one
        .submit(&form_to(&page, "/account/sign-out-everywhere"), None)
        .await;
    assert_eq!(res.status, 303);
    for b in [&mut one, &mut two] {
        assert!(
            b.get("/account")
                .await
                .text()
                .contains("Sign in to continue")
        );
    }
    assert!(
        bob.get("/account")
            .await
            .text()
            .contains("Sign out everywhere")
    );
    let ended = events(&app, "signed_out_everywhere").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["sessions"], 2);
}
