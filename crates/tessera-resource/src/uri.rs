//! URI rules the issuer and its resource servers must apply alike.
//!
//! Every URI Tessera accepts (a resource, a redirect URI, a metadata-document
//! URL, a client's web page) first passes [`check_chars`]: at most
//! [`MAX_URI_BYTES`], printable ASCII only (RFC 3986 §2 has no other
//! characters, so whitespace, control characters and bidi marks are refused
//! rather than silently stripped or percent-encoded by a URL parser), no
//! backslash (which WHATWG URL parsing reads as `/`) and no `*` wildcard.
//!
//! RFC 8707 §2: a resource is an absolute URI without a fragment. A resource
//! is accepted only when URL parsing would not rewrite it beyond RFC 3986's
//! syntax-based normalization (§6.2.2.1 case of scheme and host, §6.2.3 the
//! default port and an empty path), so `0x7f.0.0.1`, `127.1`, `http:/x`,
//! `%2e%2e` and dot segments never reach a comparison. Resources then compare
//! as exact strings of that normalized form, because real clients send
//! `https://x/` for `https://x` (mcp-interop §1.9); the token's `aud` keeps
//! the URI exactly as the operator registered it, and a resource server
//! compares its own URI with `aud` through the same form.

use url::{Host, Url};

/// The longest URI accepted anywhere.
pub const MAX_URI_BYTES: usize = 2000;

/// Refuse what no URI Tessera accepts may contain; the error says why
/// (worded to follow "the URI …").
pub fn check_chars(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty() {
        return Err("is empty");
    }
    if uri.len() > MAX_URI_BYTES {
        return Err("is longer than 2000 bytes");
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "contains whitespace, a control character or a non-ASCII character (such as a bidi mark)",
        );
    }
    if uri.contains('\\') {
        return Err("contains a backslash");
    }
    if uri.contains('*') {
        return Err("contains a wildcard '*'");
    }
    Ok(())
}

/// The comparison key of a resource URI, or why it is not acceptable (worded
/// to follow "the resource …").
pub fn check_resource(uri: &str) -> Result<String, &'static str> {
    check_chars(uri)?;
    if uri.contains('#') {
        return Err("has a fragment");
    }
    let url = Url::parse(uri).map_err(|_| "is not an absolute URI")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("is not an http(s) URI with a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("contains credentials");
    }
    // `https://./`, `https://a..b/`, `https://example.com./`: a name with an
    // empty label is no host a resource could be served from, or (the
    // trailing dot) a second spelling of one that would compare unequal.
    if let Some(url::Host::Domain(name)) = url.host()
        && name.split('.').any(str::is_empty)
    {
        return Err("has a host name with an empty label");
    }
    let key = String::from(url);
    if normalized(uri).as_deref() != Some(key.as_str()) {
        return Err(
            "is not in normal form (URL parsing would rewrite it: dot segments, a numeric or encoded host, a missing '//', credentials …)",
        );
    }
    Ok(key)
}

/// The comparison key of a resource URI; `None` if [`check_resource`] refuses it.
pub fn canonical(uri: &str) -> Option<String> {
    check_resource(uri).ok()
}

/// `uri` (already free of fragments and odd characters) with only RFC
/// 3986's syntax-based normalization: lowercase scheme and authority, the
/// default port dropped, an empty path as `/`. `None` without `//` or with
/// credentials.
fn normalized(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    let slash = if tail.starts_with('/') { "" } else { "/" };
    Some(format!("{scheme}://{authority}{slash}{tail}"))
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
    fn resources_the_url_parser_would_rewrite_are_refused() {
        for bad in [
            "http://0x7f.0.0.1:3000/mcp",
            "http://2130706433:3000/mcp",
            "http://127.1:3000/mcp",
            "http:/127.0.0.1:3000/mcp",
            "http://127.0.0.1:3000/%2e%2e/mcp",
            "http://127.0.0.1:3000/x/../mcp",
            "http://127.0.0.1:3000/./mcp",
            "http://127.0.0.1:3000\\mcp",
            " http://127.0.0.1:3000/mcp",
            "http://127.0.0.1:3000/mcp\0",
            "http://127.0.0.1:3000/mcp\t",
            "http://127.0.0.1:3000/m\tcp",
            "http://127.0.0.1:3000/mcp\u{202e}",
            "http://127.0.0.1:3000/m cp",
            "http://127.0.0.1:03000/mcp",
            "http://@127.0.0.1:3000/mcp",
            "http://127.0.0.1:3000/*",
            "https://ex%61mple.com/",
            "https://example.com:/",
            "https://./@",
            "https://a..b/mcp",
            "https://example.com./mcp",
        ] {
            assert_eq!(canonical(bad), None, "{bad:?}");
        }
        assert!(canonical(&format!("https://x/{}", "a".repeat(MAX_URI_BYTES))).is_none());
        assert_eq!(
            canonical("http://127.0.0.1:3000/mcp?x=1").as_deref(),
            Some("http://127.0.0.1:3000/mcp?x=1")
        );
        assert_eq!(
            canonical("https://x.example?q").as_deref(),
            Some("https://x.example/?q")
        );
        // '@' may be in a path (RFC 3986 §3.3), never in the authority.
        assert_eq!(
            canonical("https://x.example/@team").as_deref(),
            Some("https://x.example/@team")
        );
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

/// Property tests: any string is checked without a panic; an accepted
/// resource's key is itself an accepted resource with the same key (parse →
/// print → parse is stable) and holds only printable ASCII.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// One of `fixed`, or a string of the regex `free`.
    fn one_of(fixed: &'static [&'static str], free: &'static str) -> BoxedStrategy<String> {
        let fixed = proptest::sample::select(fixed).prop_map(str::to_owned);
        prop_oneof![3 => fixed, 1 => free].boxed()
    }

    /// URI-shaped strings: schemes, hosts, ports and paths that real and
    /// hostile clients send, with characters a parser might drop or rewrite.
    fn uri_like() -> impl Strategy<Value = String> {
        let scheme = one_of(&["https", "http", "HTTP", "urn", "http:"], "[a-z]{1,5}");
        let sep = one_of(&["://", ":/", ":", ":///"], "[:/]{1,3}");
        let host = one_of(
            &[
                "127.0.0.1",
                "0x7f.0.0.1",
                "127.1",
                "2130706433",
                "[::1]",
                "[::ffff:127.0.0.1]",
                "mcp.Example.com",
                "u:p@x.example",
                "ex%61mple.com",
                "",
                "*.example",
            ],
            "[a-z.]{1,12}",
        );
        let port = one_of(&["", ":443", ":80", ":3000", ":", ":0443"], ":[0-9]{1,6}");
        let segment = one_of(
            &[
                ".", "..", "%2e%2e", "%2E", "mcp", "a b", "\t", "\\", "\u{202e}", "?q=1", "#f",
            ],
            "[ -~]{0,6}",
        );
        (scheme, sep, host, port, vec(segment, 0..4))
            .prop_map(|(s, sep, h, p, path)| format!("{s}{sep}{h}{p}/{}", path.join("/")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_string_is_checked_without_a_panic(s in vec(any::<char>(), 0..120).prop_map(String::from_iter)) {
            if let Ok(key) = check_resource(&s) {
                prop_assert_eq!(check_resource(&key), Ok(key.clone()));
            }
        }

        #[test]
        fn an_accepted_resource_key_is_a_fixpoint_of_printable_ascii(uri in uri_like()) {
            if let Ok(key) = check_resource(&uri) {
                prop_assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{:?}", key);
                prop_assert!(!key.contains(['#', '\\', '*']), "{:?}", key);
                // '@' is a path character (RFC 3986 §3.3); never in the authority.
                let authority = key.split('/').nth(2).unwrap_or_default();
                prop_assert!(!authority.contains('@'), "{:?}", key);
                prop_assert_eq!(check_resource(&key), Ok(key.clone()));
                let path = key.split('?').next().unwrap_or_default();
                let segments: Vec<&str> = path.split('/').skip(3).collect();
                prop_assert!(!segments.iter().any(|s| *s == "." || *s == ".."), "{:?}", key);
            }
        }
    }
}
