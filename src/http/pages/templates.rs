//! The HTML pages people see in a browser: sign-in, consent and error.
//!
//! Each page is an askama template under `templates/` (sharing
//! `templates/base.html`) styled by `static/tessera.css`. The pages contain no
//! JavaScript, no inline scripts and no inline styles, so they render under a
//! strict CSP (`default-src 'none'; style-src 'self'; ...`). Every value is
//! HTML-escaped by askama; nothing is marked `|safe`.
//!
//! This module only builds the markup. The caller is responsible for the
//! response: status, `Content-Type`, and the security headers (CSP with the
//! right `form-action` targets, `X-Frame-Options`/`frame-ancestors`,
//! `Cache-Control: no-store`, `Referrer-Policy`).

use askama::Template;

/// One scope as shown on the consent page.
#[derive(Debug, Clone)]
pub struct ScopeView {
    /// The raw scope string; submitted as the checkbox value.
    pub name: String,
    /// Human-readable description, shown in bold.
    pub description: String,
    /// Whether the checkbox starts checked.
    pub checked: bool,
    /// Marks a scope the user has not granted this client before.
    pub new: bool,
}

/// One protected resource (RFC 8707 `resource`) as shown on the consent page.
#[derive(Debug, Clone)]
pub struct ResourceView {
    pub name: String,
    pub uri: String,
}

/// The sign-in form.
#[derive(Debug, Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    /// Path prefix for `/static/...` (usually empty).
    pub static_prefix: String,
    pub issuer_host: String,
    /// Form `action` (where the credentials are POSTed).
    pub action: String,
    pub csrf_token: String,
    /// Opaque id of the pending authorization request.
    pub request: String,
    /// The client asking; shown as "to <name>" when known.
    pub client_name: Option<String>,
    /// Prefilled username (empty for none). When set, the password field
    /// gets autofocus instead of the username field.
    pub username: String,
    /// Shown in a `role="alert"` box above the form.
    pub error: Option<String>,
    /// Where the passkey sign-in starts and ends (`None`: no passkeys).
    pub passkey: Option<PasskeyForm>,
    /// "Continue with NAME" for each upstream identity provider.
    pub providers: Vec<ProviderView>,
    /// Whether the password form is offered (`sign_in.password_form`).
    pub password_form: bool,
}

/// The actions of a page's passkey form (run by `static/passkeys.js`).
#[derive(Debug, Clone)]
pub struct PasskeyForm {
    pub start: String,
    pub finish: String,
    pub script: String,
}

/// One upstream identity provider on the sign-in page.
#[derive(Debug, Clone)]
pub struct ProviderView {
    pub name: String,
    /// Starts the round trip (carries the sealed request).
    pub href: String,
}

/// The consent screen.
#[derive(Debug, Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub static_prefix: String,
    pub issuer_host: String,
    pub action: String,
    pub csrf_token: String,
    pub request: String,
    pub client_name: String,
    /// The host that vouches for the client ("from <host>"): its client-id
    /// URL's for a metadata document, its `client_uri`'s for a client an
    /// administrator registered, else the host its redirect goes to.
    pub client_host: String,
    /// The host the client's own `client_uri` names, when it is not
    /// `client_host`: shown as an unverified claim.
    pub claimed_host: Option<String>,
    /// The name (or the claimed host) is the client's word alone: mark it.
    pub unverified: bool,
    /// The client registered itself (RFC 7591 open registration): the MCP
    /// specification's warning is shown.
    pub self_registered: bool,
    /// Host of the redirect URI ("will return you to <host>").
    pub redirect_host: String,
    /// Every redirect URI is a loopback address: show the local-app warning.
    pub localhost_only: bool,
    /// The signed-in user ("You are signed in as <name>"; omitted if empty).
    pub user_name: String,
    pub resources: Vec<ResourceView>,
    /// Scopes to decide on now, one checkbox each.
    pub scopes: Vec<ScopeView>,
    /// Scopes already granted to this client; listed without checkboxes.
    pub previously_granted: Vec<ScopeView>,
    /// Scopes the client asked for that the scope policy does not let this
    /// person grant: named on the page, never offered.
    pub withheld: Vec<String>,
}

/// A terminal error page (nothing to redirect to).
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub static_prefix: String,
    pub issuer_host: String,
    pub title: String,
    pub message: String,
    /// Technical detail, shown in a `<code>` block.
    pub detail: Option<String>,
    /// A link back to the application carrying the error, for a client
    /// whose redirect URI nobody vetted: the person sees where it goes
    /// before going (RFC 9700 §4.11.2).
    pub return_to: Option<ReturnLink>,
}

/// Where the "return to the application" link goes.
#[derive(Debug)]
pub struct ReturnLink {
    pub href: String,
    /// The host the link goes to, shown beside it.
    pub host: String,
}

/// Renders a page to a `String`.
pub fn render(page: &impl Template) -> Result<String, askama::Error> {
    page.render()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const XSS: &str = "<script>alert(1)</script>";
    const XSS_ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

    fn signin() -> SignInPage {
        SignInPage {
            static_prefix: String::new(),
            issuer_host: "auth.example.com".into(),
            action: "/authorize/login".into(),
            csrf_token: "csrf-123".into(),
            request: "req-456".into(),
            client_name: Some("Claude Desktop".into()),
            username: String::new(),
            error: None,
            passkey: None,
            providers: Vec::new(),
            password_form: true,
        }
    }

    fn scope(name: &str, description: &str, checked: bool, new: bool) -> ScopeView {
        ScopeView {
            name: name.into(),
            description: description.into(),
            checked,
            new,
        }
    }

    fn consent() -> ConsentPage {
        ConsentPage {
            static_prefix: "/auth".into(),
            issuer_host: "auth.example.com".into(),
            action: "/authorize/consent".into(),
            csrf_token: "csrf-789".into(),
            request: "req-abc".into(),
            client_name: "Notes Helper".into(),
            client_host: "notes.example.org".into(),
            claimed_host: None,
            unverified: false,
            self_registered: false,
            redirect_host: "notes.example.org".into(),
            localhost_only: false,
            user_name: "alice".into(),
            resources: vec![ResourceView {
                name: "Notes MCP".into(),
                uri: "https://mcp.example.com/notes".into(),
            }],
            scopes: vec![
                scope("notes:read", "Read your notes", true, false),
                scope("notes:write", "Create and edit notes", false, true),
            ],
            previously_granted: vec![],
            withheld: vec![],
        }
    }

    fn error_page() -> ErrorPage {
        ErrorPage {
            return_to: None,
            static_prefix: String::new(),
            issuer_host: "auth.example.com".into(),
            title: "Unknown application".into(),
            message: "This sign-in link is not valid.".into(),
            detail: Some("invalid_client: client_id not registered".into()),
        }
    }

    /// The `<input ...>` tag containing `needle`.
    fn input_with<'a>(html: &'a str, needle: &str) -> &'a str {
        let at = html
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {html}"));
        let start = html[..at].rfind("<input").unwrap();
        let end = at + html[at..].find('>').unwrap();
        &html[start..=end]
    }

    fn assert_no_script(html: &str) {
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains(" style="), "{html}");
        // No event-handler attributes (` onclick="`, ` onload="`, ...).
        for (at, _) in html.match_indices(" on") {
            let rest = &html[at + 3..];
            let name_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(0);
            assert!(
                !(name_len > 0 && rest[name_len..].starts_with("=\"")),
                "event handler attribute in {html}"
            );
        }
    }

    #[test]
    fn base_layout() {
        let html = render(&consent()).unwrap();
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(r#"<html lang="en">"#));
        assert!(
            html.contains(
                r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
            )
        );
        assert!(html.contains(r#"<link rel="stylesheet" href="/auth/static/tessera.css">"#));
        assert!(html.contains("Tessera"));
        assert!(html.contains("auth.example.com"));
        assert!(html.contains("<main"));
        assert!(html.contains("<footer"));
        assert_no_script(&html);
    }

    #[test]
    fn signin_form() {
        let html = render(&signin()).unwrap();
        assert!(html.contains("Sign in to continue"));
        assert!(html.contains("to <strong>Claude Desktop</strong>"));
        assert!(html.contains(r#"<form method="post" action="/authorize/login""#));
        assert!(html.contains(r#"<input type="hidden" name="csrf_token" value="csrf-123">"#));
        assert!(html.contains(r#"<input type="hidden" name="request" value="req-456">"#));
        assert!(html.contains(r#"<label for="username">Username</label>"#));
        assert!(html.contains(r#"<label for="password">Password</label>"#));
        let user = input_with(&html, r#"name="username""#);
        assert!(user.contains(r#"autocomplete="username""#));
        assert!(user.contains(" autofocus"));
        let pass = input_with(&html, r#"name="password""#);
        assert!(pass.contains(r#"type="password""#));
        assert!(pass.contains(r#"autocomplete="current-password""#));
        assert!(!pass.contains("autofocus"));
        assert!(html.contains(
            r#"<button type="submit" class="btn btn-primary btn-block">Sign in</button>"#
        ));
        assert!(!html.contains("role=\"alert\""));
        assert_no_script(&html);
    }

    #[test]
    fn signin_error_and_prefill() {
        let mut page = signin();
        page.username = "bob\"><x".into();
        page.error = Some("Wrong username or password.".into());
        page.client_name = None;
        let html = render(&page).unwrap();
        assert!(
            html.contains(r#"role="alert" id="signin-error">Wrong username or password.</div>"#)
        );
        assert!(!html.contains("to <strong>"));
        let user = input_with(&html, r#"name="username""#);
        assert!(user.contains(r#"value="bob&#34;&#62;&#60;x""#), "{user}");
        assert!(!user.contains("autofocus"));
        let pass = input_with(&html, r#"name="password""#);
        assert!(pass.contains(" autofocus"));
        assert!(pass.contains(r#"aria-describedby="signin-error""#));
    }

    #[test]
    fn signin_escapes_client_name() {
        let mut page = signin();
        page.client_name = Some(XSS.into());
        let html = render(&page).unwrap();
        assert!(html.contains(XSS_ESCAPED), "{html}");
        assert_no_script(&html);
    }

    #[test]
    fn consent_checkboxes() {
        let html = render(&consent()).unwrap();
        let read = input_with(&html, r#"value="notes:read""#);
        assert_eq!(
            read,
            r#"<input type="checkbox" name="scope" value="notes:read" id="scope-1" checked>"#
        );
        let write = input_with(&html, r#"value="notes:write""#);
        assert_eq!(
            write,
            r#"<input type="checkbox" name="scope" value="notes:write" id="scope-2">"#
        );
        assert!(html.contains(r#"<label for="scope-1">"#));
        assert!(html.contains(r#"<label for="scope-2">"#));
        assert!(html.contains(r#"<strong class="scope-desc">Read your notes</strong>"#));
        assert!(html.contains(r#"<code class="scope-name">notes:write</code>"#));
        // Only the new scope carries the badge.
        assert_eq!(html.matches(r#"<span class="badge">new</span>"#).count(), 1);
        let badge = html.find(r#"class="badge""#).unwrap();
        assert!(badge > html.find("Create and edit notes").unwrap());
        assert!(html.contains("<legend>Allow it to:</legend>"));
        assert!(html.contains(r#"<input type="hidden" name="csrf_token" value="csrf-789">"#));
        assert!(html.contains(r#"<input type="hidden" name="request" value="req-abc">"#));
        assert!(html.contains(r#"<form method="post" action="/authorize/consent""#));
        assert_no_script(&html);
    }

    #[test]
    fn consent_details() {
        let html = render(&consent()).unwrap();
        assert!(html.contains("Notes Helper"));
        assert!(html.contains("from <strong>notes.example.org</strong>"));
        assert!(html.contains("will return you to <strong>notes.example.org</strong>"));
        assert!(html.contains("signed in as <strong>alice</strong>"));
        assert!(html.contains("It wants access to:"));
        assert!(html.contains("Notes MCP"));
        assert!(html.contains("https://mcp.example.com/notes"));
        assert!(!html.contains("Already allowed"));
        let mut anonymous = consent();
        anonymous.user_name = String::new();
        assert!(!render(&anonymous).unwrap().contains("signed in as"));
        assert!(!html.contains("localhost"));
        assert!(!html.contains(r#"role="note""#));
    }

    #[test]
    fn consent_buttons_allow_then_deny() {
        let html = render(&consent()).unwrap();
        let allow = html
            .find(r#"<button type="submit" name="decision" value="allow" class="btn btn-primary">Allow</button>"#)
            .unwrap();
        let deny = html
            .find(r#"<button type="submit" name="decision" value="deny" class="btn btn-secondary">Deny</button>"#)
            .unwrap();
        assert!(allow < deny);
        // Both buttons are inside the one form.
        let form_end = html.find("</form>").unwrap();
        assert!(deny < form_end);
        assert_eq!(html.matches("<form").count(), 1);
    }

    #[test]
    fn consent_localhost_warning() {
        let mut page = consent();
        page.localhost_only = true;
        page.client_host = "localhost".into();
        page.redirect_host = "localhost".into();
        let html = render(&page).unwrap();
        assert!(html.contains(r#"<div class="warning" role="note">"#));
        assert!(html.contains("signed in as <strong>alice</strong>"));
        assert!(html.contains(
            "This app runs on your own computer (every redirect goes to localhost). \
             Only continue if you started it yourself."
        ));
    }

    #[test]
    fn a_self_registered_client_is_marked_unverified_with_its_claim_apart() {
        let mut page = consent();
        page.client_name = "Claude".into();
        page.client_host = "attacker.example".into();
        page.claimed_host = Some("claude.ai".into());
        page.unverified = true;
        page.self_registered = true;
        let html = render(&page).unwrap();
        assert!(html.contains("from <strong>attacker.example</strong>"));
        assert!(html.contains(r#"<span class="badge badge-warn">unverified</span>"#));
        assert!(html.contains("It says it is from claude.ai"));
        assert!(html.contains("registered itself"));
        assert!(!html.contains("from <strong>claude.ai"));
    }

    #[test]
    fn consent_previously_granted() {
        let mut page = consent();
        page.previously_granted = vec![scope("profile", "See your profile", true, false)];
        let html = render(&page).unwrap();
        assert!(html.contains("Already allowed:"));
        assert!(html.contains("See your profile"));
        // Listed, but not as a checkbox.
        assert!(!html.contains(r#"value="profile""#));
        assert_eq!(html.matches(r#"type="checkbox""#).count(), 2);
    }

    #[test]
    fn consent_escapes_everything() {
        let mut page = consent();
        page.client_name = XSS.into();
        page.user_name = XSS.into();
        page.redirect_host = XSS.into();
        page.resources[0].name = XSS.into();
        page.scopes[0].description = XSS.into();
        page.scopes[1].name = "a\" onclick=\"x".into();
        let html = render(&page).unwrap();
        assert_no_script(&html);
        assert!(html.contains(&format!("<title>Authorize {XSS_ESCAPED} · Tessera</title>")));
        assert!(html.contains(&format!(r#"<h1 class="app-name">{XSS_ESCAPED}</h1>"#)));
        assert!(html.matches(XSS_ESCAPED).count() >= 6);
        assert!(html.contains(r#"value="a&#34; onclick=&#34;x""#));
    }

    #[test]
    fn error_page_renders() {
        let html = render(&error_page()).unwrap();
        assert!(html.contains("<title>Unknown application · Tessera</title>"));
        assert!(html.contains("<h1>Unknown application</h1>"));
        assert!(html.contains("This sign-in link is not valid."));
        assert!(html.contains(
            r#"<pre class="detail"><code>invalid_client: client_id not registered</code></pre>"#
        ));
        assert!(!html.contains("<a "));
        assert!(!html.contains("<form"));
        assert_no_script(&html);

        let mut page = error_page();
        page.detail = None;
        page.message = XSS.into();
        let html = render(&page).unwrap();
        assert!(!html.contains("<code>"));
        assert!(html.contains(XSS_ESCAPED));
        assert_no_script(&html);
    }
}
