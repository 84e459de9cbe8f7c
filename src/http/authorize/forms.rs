//! What the person's pages share: reading a posted form, the checks every
//! post of the flow passes (a live session, its CSRF token, the sealed
//! request), the per-IP limits, and the error pages a person sees instead of
//! a redirect.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;

use super::ticket;
use crate::error::Result;
use crate::http::body::{MAX_FORM_BYTES, OAuthForm, read_limited};
use crate::http::pages;
use crate::http::session::{self, BrowserSession};
use crate::limits::Kind;
use crate::oauth::authorize::AuthorizationRequest;
use crate::state::AppState;

pub const SESSION_EXPIRED: &str =
    "Your session expired. Go back to the application and start again.";
pub const CLIENT_GONE: &str =
    "The application is not registered with this server. Ask it to register again.";

/// A posted form of the person's pages (authorize, sign-in, consent): its
/// head and its body, read like the OAuth endpoints' bodies. A body that is
/// too large, broken off or late gets the error page that says which.
pub async fn read_form(
    app: &AppState,
    request: Request,
) -> std::result::Result<(HeaderMap, Bytes), Response> {
    let headers = request.headers().clone();
    match read_limited(request, MAX_FORM_BYTES).await {
        Ok(body) => Ok((headers, body)),
        Err(why) => Err(bad_request(app, capitalized(&why))),
    }
}

/// A reason worded for an OAuth description, as a sentence on a page.
fn capitalized(why: &str) -> String {
    let mut chars = why.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

pub fn bad_request(app: &AppState, message: impl Into<String>) -> Response {
    pages::error(
        app,
        StatusCode::BAD_REQUEST,
        "This sign-in link cannot be used",
        message,
    )
}

/// Turn a `Result<Response>` whose error is a server fault into a page: 503
/// with `Retry-After` while the database cannot be reached, 500 otherwise.
pub fn or_error_page(app: &AppState, r: Result<Response>) -> Response {
    r.unwrap_or_else(|e| {
        if e.code == crate::error::ErrorCode::TemporarilyUnavailable {
            tracing::warn!(error = %e, "authorization step unavailable");
            let mut page = pages::error(
                app,
                StatusCode::SERVICE_UNAVAILABLE,
                "Briefly unavailable",
                "This service cannot reach its database just now. Please try again in a few seconds.",
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, crate::http::error::RETRY_UNAVAILABLE);
            return page;
        }
        tracing::error!(error = %e, "authorization step failed");
        pages::error(
            app,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Please try again in a moment.",
        )
    })
}

/// A 429 page when `ip` (`client_ip::key_of`) went over `limit` requests in
/// the window.
pub async fn over_limit(
    app: &AppState,
    kind: Kind,
    limit: u32,
    ip: String,
    name: &'static str,
) -> Option<Response> {
    let now = app.clock.now();
    let quota = app.limits.count(kind, &ip, limit, now).await.err()?;
    app.metrics.rate_limited(name);
    let mut response = pages::error(
        app,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        format!(
            "Too many requests from your network. Try again in {} seconds.",
            quota.retry_after()
        ),
    );
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(quota.retry_after()));
    crate::http::error::quota_headers(headers, &quota);
    Some(response)
}

/// What every form post of the flow checks: a live session (signed in when
/// `signed_in`), the form's CSRF token against it, and the sealed request
/// opened for that session. Any failure is an error page for the person.
pub async fn posted_request(
    app: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    signed_in: bool,
    page: &str,
) -> std::result::Result<(BrowserSession, AuthorizationRequest), Response> {
    let browser = match session::find(app, headers).await {
        Ok(Some(b)) if !signed_in || b.person().is_some() => b,
        Ok(_) => return Err(bad_request(app, SESSION_EXPIRED)),
        Err(e) => return Err(or_error_page(app, Err(e))),
    };
    if !session::csrf_matches(app, &browser.session, form.get("csrf_token")) {
        return Err(bad_request(
            app,
            format!(
                "The form was not sent from this {page} page. Start again from the application."
            ),
        ));
    }
    let Some(request) = form
        .get("request")
        .and_then(|t| ticket::open(app, t, &browser.session.csrf))
    else {
        return Err(bad_request(
            app,
            "This request expired. Go back to the application and start again.",
        ));
    };
    Ok((browser, request))
}

pub fn with_cookie(mut response: Response, set_cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    response
}
