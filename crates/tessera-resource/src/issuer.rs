//! The issuer identifier (RFC 8414 §2): what clients compare byte for byte.

use url::Url;

use crate::uri::is_loopback_host;

/// The issuer identifier (RFC 8414 §2): http(s), no query, no fragment, no
/// trailing slash, https unless the host is loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    value: String,
    /// The path part ("" for an origin-only issuer), under which routes are served.
    path: String,
}

impl Issuer {
    /// Parse and check an issuer identifier; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let url = Url::parse(s).map_err(|e| format!("issuer '{s}' is not an absolute URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("issuer '{s}' must use https"));
        }
        if url.query().is_some() || url.fragment().is_some() || s.contains('?') || s.contains('#') {
            return Err(format!("issuer '{s}' must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("issuer '{s}' must not contain credentials"));
        }
        if s.ends_with('/') {
            return Err(format!(
                "issuer '{s}' must not end with '/' (clients compare it byte for byte)"
            ));
        }
        if url.scheme() == "http" && !is_loopback_host(&url) {
            return Err(format!(
                "issuer '{s}' uses http on a non-loopback host: serve HTTPS with --tls-cert and --tls-key, \
                 or set --issuer https://HOST when a TLS-terminating proxy is in front"
            ));
        }
        let path = match url.path() {
            "/" => String::new(),
            p => p.to_owned(),
        };
        Ok(Self {
            value: s.to_owned(),
            path,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The origin alone (scheme, host, port).
    pub fn origin(&self) -> &str {
        &self.value[..self.value.len() - self.path.len()]
    }

    /// An absolute URL for an endpoint path such as `/token`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.value, path)
    }
}
