//! The client's IP address, for per-IP limits.
//!
//! `X-Forwarded-For` is honoured only when the connection comes from a
//! configured trusted proxy: the address is then the right-most entry that is
//! not itself a trusted proxy (entries to its left can be forged by the client).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{Extensions, HeaderMap};

pub fn client_ip(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

/// As a limiter key. An IPv6 client is keyed by its /64: one host is
/// routinely given a whole /64 and can rotate through it at will, so
/// per-address keys would limit nothing. IPv4-mapped addresses count as
/// their IPv4 address.
pub fn key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

/// The limiter key of `request`'s client: what per-IP limits count.
pub fn key_of(request: &Request, trusted: &[IpAddr]) -> String {
    key(client_ip(request.extensions(), request.headers(), trusted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(peer: &str) -> Extensions {
        let mut e = Extensions::new();
        e.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 1234)));
        e
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn an_ipv6_client_is_keyed_by_its_64_and_a_mapped_ipv4_by_its_address() {
        let k = |s: &str| key(Some(s.parse().unwrap()));
        assert_eq!(k("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(k("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(k("2001:db8:1:3::1"), k("2001:db8:1:2::1"));
        assert_eq!(k("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(k("192.0.2.7"), "192.0.2.7");
        assert_eq!(key(None), "unknown");
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let spoof = xff("6.6.6.6, 1.2.3.4");
        assert_eq!(
            client_ip(&ext("9.9.9.9"), &spoof, &[proxy]),
            Some("9.9.9.9".parse().unwrap())
        );
        assert_eq!(
            client_ip(&ext("10.0.0.1"), &spoof, &[proxy]),
            Some("1.2.3.4".parse().unwrap())
        );
        let chain = xff("1.2.3.4, 10.0.0.1");
        assert_eq!(
            client_ip(&ext("10.0.0.1"), &chain, &[proxy]),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            client_ip(&ext("10.0.0.1"), &HeaderMap::new(), &[proxy]),
            Some(proxy)
        );
    }
}
