//! The request id: one per HTTP request, taken from a trusted proxy's
//! `X-Request-Id` or generated, carried by the request's log lines (its
//! span), its `X-Request-Id` response header and its JSON error body.
//!
//! While a request is served its id is a task-local ([`current`]), so an
//! error rendered anywhere below the router names it without every handler
//! passing it along.

use axum::http::HeaderValue;

tokio::task_local! {
    static CURRENT: HeaderValue;
}

/// The longest id accepted from a proxy; longer ones are replaced.
const MAX_LEN: usize = 128;

/// A proxy's id when it can be trusted and is sane (visible ASCII, at most
/// 128 bytes: it goes into log lines and a header), else a new one.
pub fn choose(from_proxy: Option<&HeaderValue>) -> HeaderValue {
    match from_proxy {
        Some(v) if is_sane(v.as_bytes()) => v.clone(),
        _ => generate(),
    }
}

fn is_sane(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|b| b.is_ascii_graphic())
}

/// 32 hex digits from the process's user-space CSPRNG (`uuid`'s fast-rng).
pub fn generate() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
    let text = uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("unknown"))
}

/// Run `f` with `id` as the current request's.
pub async fn scope<F: Future>(id: HeaderValue, f: F) -> F::Output {
    CURRENT.scope(id, f).await
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<HeaderValue> {
    CURRENT.try_with(HeaderValue::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_id_is_kept_only_when_it_is_printable_and_short() {
        let kept = HeaderValue::from_static("abc-123_XYZ.7");
        assert_eq!(choose(Some(&kept)), kept);
        for bad in ["", "has space", &"x".repeat(129)] {
            let v = HeaderValue::from_str(bad).unwrap();
            let chosen = choose(Some(&v));
            assert_ne!(chosen, v, "{bad:?}");
            assert_eq!(chosen.len(), 32);
        }
        assert_ne!(generate(), generate());
    }
}
