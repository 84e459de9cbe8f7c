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

/// As a limiter key.
pub fn key(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
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
