//! Request bodies: content-type checks, a size cap, and form parsing that
//! answers in the OAuth error format instead of axum's plain-text rejections.
//!
//! RFC 6749 §3.1 / §3.2: parameters must not repeat (only RFC 8707 `resource`
//! may), and a parameter sent without a value is treated as omitted.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use bytes::Bytes;

use crate::error::{Error, ErrorCode, Result};

/// The error a request body ends with when it missed its deadline (the
/// server's body guard raises it; the readers here turn it into a reason).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub std::time::Duration);

/// Token, revocation and introspection requests are small; registration
/// documents a little larger. Anything bigger is refused unread.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// Parameters that may appear more than once (RFC 8707 §2).
const REPEATABLE: [&str; 1] = ["resource"];

pub fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

pub async fn read_body(req: Request, limit: usize, code: ErrorCode) -> Result<Bytes> {
    read_limited(req, limit)
        .await
        .map_err(|why| Error::new(code, why))
}

/// The request body, at most `limit` bytes, or why it could not be read
/// (too large, broken off, or not sent within the serving deadline), worded
/// for the OAuth error description or a person's error page alike.
pub async fn read_limited(req: Request, limit: usize) -> std::result::Result<Bytes, String> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| match timed_out(&e) {
            Some(late) => late.to_string(),
            None => format!("the request body is unreadable or larger than {limit} bytes"),
        })
}

/// The serving deadline a body missed, if that is why it could not be read.
fn timed_out(e: &axum::Error) -> Option<&BodyTimedOut> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = cause {
        if let Some(late) = e.downcast_ref::<BodyTimedOut>() {
            return Some(late);
        }
        cause = e.source();
    }
    None
}

/// An `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct OAuthForm {
    pairs: Vec<(String, String)>,
}

impl OAuthForm {
    pub fn parse(body: &[u8]) -> Result<Self> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if !REPEATABLE.contains(&name.as_ref()) && pairs.iter().any(|(n, _)| *n == name) {
                return Err(Error::invalid_request(format!(
                    "parameter '{name}' is repeated"
                )));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| Error::invalid_request(format!("parameter '{name}' is required")))
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = Error;

    async fn from_request(req: Request, _state: &S) -> Result<Self> {
        if !has_content_type(req.headers(), "application/x-www-form-urlencoded") {
            return Err(Error::invalid_request(
                "the request body must be application/x-www-form-urlencoded",
            ));
        }
        let body = read_body(req, MAX_FORM_BYTES, ErrorCode::InvalidRequest).await?;
        Self::parse(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_except_resource() {
        assert!(OAuthForm::parse(b"scope=a&scope=b").is_err());
        let f = OAuthForm::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(
            f.all("resource").collect::<Vec<_>>(),
            ["https://a", "https://b"]
        );
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let f = OAuthForm::parse(b"scope=&grant_type=client_credentials&scope=x").unwrap();
        assert_eq!(f.get("scope"), Some("x"));
        assert!(f.require("code").is_err());
    }
}

/// Property tests: any body parses or is refused without a panic, and a form
/// written by a client is read back parameter for parameter.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    /// Any text of `len` characters (faster to generate than a regex class).
    fn text(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
        vec(any::<char>(), len).prop_map(String::from_iter)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_body_parses_or_is_refused_without_a_panic(body in vec(any::<u8>(), 0..512)) {
            if let Ok(form) = OAuthForm::parse(&body) {
                for (name, value) in &form.pairs {
                    prop_assert!(!value.is_empty());
                    prop_assert_eq!(form.get(name).is_some(), true);
                }
            }
        }

        #[test]
        fn a_written_form_reads_back_as_written(
            params in btree_map(text(1..12), text(1..40), 0..8),
            resources in vec(text(1..40), 0..4),
        ) {
            let params: Vec<_> = params.into_iter().filter(|(n, _)| n != "resource").collect();
            let mut writer = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &params {
                writer.append_pair(name, value);
            }
            for r in &resources {
                writer.append_pair("resource", r);
            }
            let body = writer.finish();
            let form = OAuthForm::parse(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (name, value) in &params {
                prop_assert_eq!(form.get(name), Some(value.as_str()));
            }
            prop_assert_eq!(form.all("resource").collect::<Vec<_>>(), resources.iter().map(String::as_str).collect::<Vec<_>>());
        }

        #[test]
        fn a_repeated_parameter_other_than_resource_is_refused(
            name in "[a-z_]{1,12}", a in text(1..10), b in text(1..10),
        ) {
            prop_assume!(name != "resource");
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair(&name, &a)
                .append_pair(&name, &b)
                .finish();
            prop_assert!(OAuthForm::parse(body.as_bytes()).is_err());
        }
    }
}
