//! URI rules the issuer and its resource servers must apply alike.
//!
//! RFC 8707 §2: a resource is an absolute URI without a fragment. Resources
//! are compared on a canonical form (lowercase scheme and host, default port
//! dropped, empty path = `/`), because real clients send `https://x/` for
//! `https://x` (mcp-interop §1.9); the token's `aud` keeps the URI exactly as
//! the operator registered it, and a resource server compares its own URI
//! with `aud` through the same form.

use url::{Host, Url};

/// The canonical comparison key of a resource URI; `None` if it is not an
/// absolute http(s) URI without a fragment or credentials.
pub fn canonical(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.fragment().is_some()
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    Some(url.to_string())
}

/// Is the URL's host a loopback address (or `localhost`)? Such hosts may use
/// plain http: the traffic never leaves the machine.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_path_a_slash_case_and_the_default_port_compare_equal() {
        let a = canonical("https://mcp.example.com");
        assert_eq!(a, canonical("https://mcp.example.com/"));
        assert_eq!(a, canonical("HTTPS://MCP.example.com:443"));
        assert_ne!(
            canonical("http://127.0.0.1:3000/mcp"),
            canonical("http://127.0.0.1:3000/mcp/"),
            "a non-empty path keeps its slash"
        );
        for bad in ["urn:x:y", "https://x/#f", "https://u:p@x/", "not a uri"] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    #[test]
    fn loopback_hosts_are_localhost_and_the_loopback_addresses() {
        for (url, loopback) in [
            ("http://localhost:3000/", true),
            ("http://127.0.0.2/", true),
            ("http://[::1]:80/", true),
            ("http://example.com/", false),
            ("http://10.0.0.1/", false),
        ] {
            assert_eq!(
                is_loopback_host(&Url::parse(url).unwrap()),
                loopback,
                "{url}"
            );
        }
    }
}
