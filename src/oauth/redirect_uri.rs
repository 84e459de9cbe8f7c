//! Redirect URI policy (OAuth 2.1 §2.3.1 and §4.1.1, RFC 8252 §7, RFC 9700
//! §4.1.3).
//!
//! Registration accepts `https` URIs, `http` only on loopback (`localhost`,
//! `127.0.0.1`, `[::1]`), and private-use schemes from the operator's allowlist
//! (Cursor's `cursor://…` by default). Fragments, credentials, wildcards, an
//! empty host, whitespace, control and bidi characters, and the `javascript:`,
//! `data:`, `file:` and `vbscript:` schemes never pass; nor does a URI that URL
//! parsing would rewrite (`HTTP://`, `127.1`, `http:/x`, `%2e%2e`, a default
//! port): what is registered is what the client must send, byte for byte.
//!
//! Matching at the authorization endpoint compares strings, never parsed URLs
//! (RFC 9700 §4.1.3: a parser's leniency is an open redirect). The one
//! exception is RFC 8252 §7.3: for a registered `http://127.0.0.1`,
//! `http://[::1]` or `http://localhost` URI any port matches (the TypeScript
//! SDK's `redirectUriMatches`); the rest of the string must be identical.
//! Host literals stay apart: `localhost` never matches `127.0.0.1`.

use tessera_resource::uri::{check_chars, is_loopback_host};
use url::Url;

/// The redirect URI rules an operator configures.
#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    /// Private-use URI schemes accepted, e.g. `cursor`.
    pub private_schemes: Vec<String>,
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        Self {
            private_schemes: vec!["cursor".to_owned()],
        }
    }
}

const FORBIDDEN_SCHEMES: [&str; 4] = ["javascript", "data", "file", "vbscript"];

/// The loopback hosts whose port is free at matching time (RFC 8252 §7.3).
const PORT_FREE_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

impl RedirectPolicy {
    /// Check one URI offered at registration; the error is the reason.
    pub fn validate(&self, uri: &str) -> Result<Url, String> {
        check_chars(uri).map_err(|why| format!("a redirect URI {why}"))?;
        let url = parse_as_written(uri)?;
        let scheme = url.scheme();
        if FORBIDDEN_SCHEMES.contains(&scheme) {
            return Err(format!("redirect URI scheme '{scheme}:' is never allowed"));
        }
        match scheme {
            "https" if url.host().is_some() => Ok(url),
            "http" if is_loopback_host(&url) => Ok(url),
            "http" => Err(format!(
                "redirect URI '{uri}' uses http on a non-loopback host; use https, or http://127.0.0.1, http://[::1] or http://localhost"
            )),
            s if self
                .private_schemes
                .iter()
                .any(|p| p.eq_ignore_ascii_case(s)) =>
            {
                Ok(url)
            }
            s => Err(format!(
                "redirect URI scheme '{s}:' is not allowed (https, loopback http, or an allowed private-use scheme)"
            )),
        }
    }
}

/// Parse a URI already free of odd characters, refusing fragments,
/// credentials, an empty host, and any form the parser would rewrite.
fn parse_as_written(uri: &str) -> Result<Url, String> {
    if uri.contains('#') {
        return Err(format!("redirect URI '{uri}' must not contain a fragment"));
    }
    let url =
        Url::parse(uri).map_err(|_| format!("redirect URI '{uri}' is not an absolute URI"))?;
    let authority = uri.split_once("://").map(|(_, rest)| {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        &rest[..end]
    });
    if authority.is_some_and(|a| a.contains('@'))
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(format!("redirect URI '{uri}' must not contain credentials"));
    }
    if authority.is_some() && url.host_str().is_none_or(str::is_empty) {
        return Err(format!("redirect URI '{uri}' has an empty host"));
    }
    let read = url.as_str();
    let path_added = read.strip_suffix('/') == Some(uri) && url.path() == "/";
    if read != uri && !path_added {
        return Err(format!(
            "redirect URI '{uri}' is not in the form URL parsing reads it ('{read}'); register it exactly as the client sends it"
        ));
    }
    Ok(url)
}

/// Does the `redirect_uri` of an authorization request match a registered one?
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (port_free(registered), port_free(requested)) {
        (Some((reg_host, reg_rest)), Some((req_host, req_rest))) => {
            reg_host == req_host && reg_rest == req_rest
        }
        _ => false,
    }
}

/// A loopback `http` URI split into its host and what follows the port, if
/// the URI is exactly `http://HOST[:PORT]REST` with `HOST` one of
/// [`PORT_FREE_HOSTS`] and `PORT` decimal digits.
fn port_free(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = PORT_FREE_HOSTS
        .into_iter()
        .find(|h| authority.starts_with(h))?;
    match &authority[host.len()..] {
        "" => Some((host, tail)),
        port => {
            let digits = port.strip_prefix(':')?;
            let valid = (1..=5).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && digits.parse::<u16>().is_ok();
            valid.then_some((host, tail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_accepts_what_real_clients_send() {
        let p = RedirectPolicy::default();
        for uri in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://localhost:6274/oauth/callback",
            "http://127.0.0.1/",
            "http://127.0.0.1:33418/",
            "http://[::1]:8080/cb",
            "cursor://anysphere.cursor-mcp/oauth/callback",
            "https://www.cursor.com/agents/mcp/oauth/callback",
        ] {
            assert!(p.validate(uri).is_ok(), "{uri}: {:?}", p.validate(uri));
        }
    }

    #[test]
    fn registration_refuses_dangerous_or_unlisted_uris() {
        let p = RedirectPolicy::default();
        for uri in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "http://example.com/cb",
            "http://192.168.1.4/cb",
            "https://example.com/cb#frag",
            "https://user:pw@example.com/cb",
            "myapp://callback",
            "/relative/path",
            "",
        ] {
            assert!(p.validate(uri).is_err(), "{uri} should be refused");
        }
    }

    #[test]
    fn registration_refuses_odd_characters_wildcards_empty_hosts_and_rewritable_forms() {
        let p = RedirectPolicy::default();
        let long = format!("https://app.example/{}", "a".repeat(2000));
        for uri in [
            "https://*.example.com/cb",
            "https://app.example/*",
            "https:///cb",
            "cursor:///cb",
            "https://@app.example/cb",
            " https://app.example/cb",
            "https://app.example/cb\t",
            "https://app.example/cb\0",
            "https://app.example/c b",
            "https://app.example/cb\u{202e}",
            "\u{200e}https://app.example/cb",
            "https://app.example\\cb",
            "HTTPS://app.example/cb",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/a/../cb",
            "https://app.example/a/%2e%2e/cb",
            "http://127.1/cb",
            "http://0x7f.0.0.1/cb",
            "http:/127.0.0.1/cb",
            &long,
        ] {
            assert!(p.validate(uri).is_err(), "{uri:?} should be refused");
        }
        assert!(p.validate("https://app.example").is_ok(), "no path");
    }

    #[test]
    fn a_loopback_registration_matches_its_exact_string_on_any_port_only() {
        let registered = "http://127.0.0.1/cb";
        for requested in [
            "http://0x7f.0.0.1/cb",
            "http://2130706433/cb",
            "http://127.1/cb",
            "http:/127.0.0.1/cb",
            "HTTP://127.0.0.1/cb",
            "http://127.0.0.1/x/%2e%2e/cb",
            "http://127.0.0.1/x/../cb",
            " http://127.0.0.1/cb",
            "http://127.0.0.1/cb\0",
            "http://127.0.0.1/cb\t",
            "http://127.0.0.1:8080/cb\t",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:+80/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://127.0.0.1:80@evil.example/cb",
            "http://127.0.0.1\\cb",
            "http://127.0.0.1/CB",
            "http://127.0.0.1/cb#f",
        ] {
            assert!(!matches(registered, requested), "{requested:?}");
        }
        assert!(matches(registered, "http://127.0.0.1:5/cb"));
        assert!(matches(registered, "http://127.0.0.1:65535/cb"));
        for requested in [
            "HTTPS://app.example/cb",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/a/../cb",
            "https://app.example/cb\t",
        ] {
            assert!(
                !matches("https://app.example/cb", requested),
                "{requested:?}"
            );
        }
    }

    #[test]
    fn loopback_ports_are_ignored_but_everything_else_must_match() {
        assert!(matches("http://127.0.0.1/", "http://127.0.0.1:50123/"));
        assert!(matches(
            "http://localhost/callback",
            "http://localhost:4711/callback"
        ));
        assert!(matches(
            "http://127.0.0.1:33418/",
            "http://127.0.0.1:40000/"
        ));
        assert!(matches("http://[::1]/cb", "http://[::1]:9/cb"));
        assert!(!matches(
            "http://localhost/callback",
            "http://127.0.0.1:4711/callback"
        ));
        assert!(!matches(
            "http://localhost/callback",
            "http://localhost:4711/other"
        ));
        assert!(!matches(
            "http://localhost/cb?a=1",
            "http://localhost:1/cb?a=2"
        ));
        assert!(!matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(!matches(
            "https://app.example/cb",
            "https://app.example/cb/"
        ));
        assert!(matches("https://app.example/cb", "https://app.example/cb"));
    }
}
