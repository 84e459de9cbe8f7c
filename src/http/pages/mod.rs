//! HTML responses for people: security headers and the error page.
//!
//! Every page is `no-store`, cannot be framed (`X-Frame-Options: DENY` and CSP
//! `frame-ancestors 'none'`, RFC 9700 §4.16), loads nothing but our own
//! stylesheet, and runs no script (but `static/passkeys.js` on the pages that
//! offer passkeys: [`html_scripted`]). `form-action` names the one place a form on
//! the page may lead: ourselves, plus the client's redirect origin on the
//! consent page (browsers apply it to the redirect after the POST).

pub mod people;
pub mod templates;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use templates::ErrorPage;

pub fn issuer_host(app: &AppState) -> String {
    url::Url::parse(app.config.issuer.as_str())
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_default()
}

/// Render a page with the security headers.
pub fn html(status: StatusCode, page: &impl Template, also_form_action: Option<&str>) -> Response {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error.cause = %e, "a page failed to render");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    let form_action = match also_form_action {
        Some(extra) => format!("'self' {extra}"),
        None => "'self'".to_owned(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// [`html`] for a page that loads `static/passkeys.js` (the sign-in and
/// account pages when passkeys are on): the same headers, with our own
/// script and same-origin `fetch` allowed, still no inline script.
pub fn html_scripted(status: StatusCode, page: &impl Template) -> Response {
    let mut response = html(status, page, None);
    let csp = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
               img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    response
}

/// The page shown when the request cannot be trusted enough to redirect.
pub fn error(
    app: &AppState,
    status: StatusCode,
    title: &str,
    message: impl Into<String>,
) -> Response {
    let page = ErrorPage {
        static_prefix: app.config.issuer.path().to_owned(),
        issuer_host: issuer_host(app),
        title: title.to_owned(),
        message: message.into(),
        detail: None,
        return_to: None,
    };
    html(status, &page, None)
}
