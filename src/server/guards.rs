//! The limits every connection is served with, and the two guards that
//! enforce the ones hyper does not: a deadline on receiving a request body
//! ([`Deadline`]), and the time an HTTP/2 connection last moved a byte
//! ([`Activity`], [`Active`]), from which its idle limit is measured
//! (RFC 9113 §9.1 lets a server close an idle connection, after a GOAWAY).
//! HTTP/1.1's head and keep-alive idle limit is hyper's own
//! `header_read_timeout`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::http::body::BodyTimedOut;
use tokio::time::{Instant, Sleep};

/// The default of [`Limits::max_connections`] (and `max_connections`).
pub use crate::config::DEFAULT_MAX_CONNECTIONS;

/// Limits every connection is served with.
#[derive(Debug, Clone, Copy)]
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(30),
            body_read: Duration::from_secs(30),
            max_connections: DEFAULT_MAX_CONNECTIONS,
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

/// When a connection last moved a byte, shared between its I/O and the task
/// that watches it for idleness.
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

    fn touch(&self) {
        let ms = self.since.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.since + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }

    /// Resolves once the connection has moved no byte for `limit`.
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

/// I/O that records its reads and writes in an [`Activity`].
pub struct Active<I> {
    io: I,
    activity: Activity,
}

impl<I> Active<I> {
    pub fn new(io: I, activity: Activity) -> Self {
        Self { io, activity }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Active<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Active<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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
