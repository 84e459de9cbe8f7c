//! Redirect URI policy (OAuth 2.1 §2.3.1, RFC 8252 §7, RFC 9700 §4.1).
//!
//! Registration accepts `https` URIs, `http` only on loopback (`localhost`,
//! `127.0.0.1`, `[::1]`), and private-use schemes from the operator's allowlist
//! (Cursor's `cursor://…` by default). Fragments, credentials, and the
//! `javascript:`, `data:`, `file:` and `vbscript:` schemes never pass.
//!
//! Matching at the authorization endpoint is exact, except that for `http`
//! loopback URIs the port is ignored (RFC 8252 §7.3; the TypeScript SDK's
//! `redirectUriMatches`), so a registered port-less URI matches any port.
//! Host literals stay apart: `localhost` never matches `127.0.0.1`.

use tessera_resource::uri::is_loopback_host;
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

impl RedirectPolicy {
    /// Check one URI offered at registration; the error is the reason.
    pub fn validate(&self, uri: &str) -> Result<Url, String> {
        let url =
            Url::parse(uri).map_err(|_| format!("redirect URI '{uri}' is not an absolute URI"))?;
        if url.fragment().is_some() || uri.contains('#') {
            return Err(format!("redirect URI '{uri}' must not contain a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("redirect URI '{uri}' must not contain credentials"));
        }
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

/// Does the `redirect_uri` of an authorization request match a registered one?
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(reg), Ok(req)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    reg.scheme() == "http"
        && req.scheme() == "http"
        && is_loopback_host(&reg)
        && reg.host() == req.host()
        && reg.path() == req.path()
        && reg.query() == req.query()
        && req.fragment().is_none()
        && req.username().is_empty()
        && req.password().is_none()
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
