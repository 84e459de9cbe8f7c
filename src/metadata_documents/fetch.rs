//! Fetching a client ID metadata document, or any JSON document a client
//! names (a `private_key_jwt` client's `jwks_uri`: [`fetch_json`]), safely.
//!
//! The host is resolved first and every address checked ([`super::address`]);
//! the connection is then pinned to the checked address, so DNS rebinding
//! cannot swap it between check and connect. No redirects, a short timeout,
//! 200 only, at most 5 KB (a metadata document) or the caller's bound, JSON.
//! The cache lifetime comes from the response's `Cache-Control: max-age`,
//! clamped to 5 minutes – 24 hours.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::address::allowed;

const MAX_BYTES: usize = 5 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const MIN_CACHE: u64 = 300;
const MAX_CACHE: u64 = 86_400;

pub struct Fetched {
    pub document: serde_json::Value,
    pub cache_for: Duration,
}

async fn pinned_address(url: &Url, allow_loopback: bool) -> Result<SocketAddr, String> {
    let host = url.host_str().ok_or("the URL has no host")?;
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| format!("cannot resolve {host}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    if let Some(bad) = addrs.iter().find(|a| !allowed(a.ip(), allow_loopback)) {
        return Err(format!(
            "{host} resolves to a special-use address ({}) that is never fetched",
            bad.ip()
        ));
    }
    Ok(addrs[0])
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    let seconds = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim_matches('"').parse::<u64>().ok())
        .unwrap_or(MIN_CACHE);
    Duration::from_secs(seconds.clamp(MIN_CACHE, MAX_CACHE))
}

pub async fn fetch(url: &Url, allow_loopback: bool) -> Result<Fetched, String> {
    fetch_json(url, allow_loopback, MAX_BYTES, "the metadata document").await
}

/// Fetch the JSON document at `url` (`what` names it in errors), at most
/// `max_bytes`, under the same address rules and pinning as a metadata
/// document.
pub async fn fetch_json(
    url: &Url,
    allow_loopback: bool,
    max_bytes: usize,
    what: &str,
) -> Result<Fetched, String> {
    let addr = pinned_address(url, allow_loopback).await?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .no_proxy()
        .resolve(&host, addr)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("fetching {what} failed: {}", without_url(&e)))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!(
            "{what} answered {} (only 200 is accepted)",
            response.status()
        ));
    }
    if response
        .content_length()
        .is_some_and(|n| n as usize > max_bytes)
    {
        return Err(format!("{what} is larger than {max_bytes} bytes"));
    }
    let cache_for = max_age(response.headers());
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the document failed: {}", without_url(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > max_bytes {
            return Err(format!("{what} is larger than {max_bytes} bytes"));
        }
    }
    let document = serde_json::from_slice(&body).map_err(|_| format!("{what} is not JSON"))?;
    Ok(Fetched {
        document,
        cache_for,
    })
}

fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetimes_are_clamped() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(max_age(&h), Duration::from_secs(300));
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "public, max-age=3600".parse().unwrap(),
        );
        assert_eq!(max_age(&h), Duration::from_secs(3600));
        h.insert(reqwest::header::CACHE_CONTROL, "max-age=5".parse().unwrap());
        assert_eq!(max_age(&h), Duration::from_secs(300));
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "max-age=9999999".parse().unwrap(),
        );
        assert_eq!(max_age(&h), Duration::from_secs(86_400));
    }
}
