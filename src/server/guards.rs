//! The limits every connection is served with, and the two guards that
//! enforce the ones hyper does not: a deadline on receiving a request body
//! ([`Deadline`]), and the time an HTTP/2 connection last began or finished
//! a request ([`Activity`]), from which its idle limit is measured (RFC 9113
//! §9.1 lets a server close an idle connection, after a GOAWAY). Bytes do
//! not count: a client sending only PING frames is idle. HTTP/1.1's head
//! and keep-alive idle limit is hyper's own `header_read_timeout`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::http::body::BodyTimedOut;
use tokio::time::{Instant, Sleep};

/// The default of [`Limits::max_connections`] (and `max_connections`).
pub use crate::config::DEFAULT_MAX_CONNECTIONS;

/// Limits every connection is served with.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The longest a client may take to send a whole request head, and the
    /// longest a connection may stay idle: HTTP/1.1 between requests,
    /// HTTP/2 without a frame either way (it is then sent a GOAWAY).
    pub header_read: Duration,
    /// The longest a request body may take to arrive, counted from the
    /// first moment it is not all there: a client that announces a body and
    /// then trickles or withholds it is answered with an error, not waited for.
    pub body_read: Duration,
    /// The most connections open at once; beyond it, new ones wait to be
    /// accepted until one closes.
    pub max_connections: usize,
    /// The most connections one client address (an IPv6 /64) may hold open;
    /// beyond it a new one is closed at once, so that one client cannot
    /// take every place under `max_connections`.
    pub max_connections_per_ip: usize,
    /// Addresses exempt from `max_connections_per_ip`: the server exempts
    /// loopback and the trusted proxies, which carry many clients'
    /// connections.
    pub exempt: Arc<[std::net::IpAddr]>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(30),
            body_read: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: crate::config::DEFAULT_MAX_CONNECTIONS_PER_IP,
            exempt: Arc::from([]),
        }
    }
}

/// A request body that fails once it has been incomplete for longer than
/// its limit. The timer starts only when a read would wait: a body that came
/// with its head (every OAuth form) never creates one.
pub struct Deadline {
    inner: Incoming,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    pub fn new(inner: Incoming, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            timer: None,
        }
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let limit = self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(BodyTimedOut(limit).into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// When a connection last began or finished a request, shared between its
/// service and the task that watches it for idleness.
#[derive(Clone)]
pub struct Activity {
    since: Instant,
    /// Milliseconds after `since`.
    last: Arc<AtomicU64>,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            since: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn touch(&self) {
        let ms = self.since.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.since + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// Resolves once the connection has begun or finished no request for
    /// `limit`.
    pub async fn idle_for(&self, limit: Duration) {
        loop {
            let due = self.last() + limit;
            if due <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idleness_is_counted_from_the_last_byte() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_millis(100)).await;
        activity.touch();
        let touched = Instant::now();
        activity.idle_for(Duration::from_millis(200)).await;
        // Not counted from the start: the touch moved the deadline (the
        // activity is recorded in whole milliseconds, so allow one).
        assert!(touched.elapsed() >= Duration::from_millis(199));
    }
}
