//! One connection, from its first byte to its close: the TLS handshake if
//! any (10 s), the choice of HTTP/2 or HTTP/1.1 (ALPN over TLS, RFC 7301;
//! in the clear, HTTP/2's preface, RFC 9113 §3.4), then hyper serving it
//! under [`Limits`] until it ends, or until a shutdown or (HTTP/2) idleness
//! asks it to finish what is in flight and close.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::Service;

use super::guards::{Activity, Deadline, Limits};
use super::serve::{Connections, Slot};

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve one accepted connection, which holds its `slot` until it closes.
/// The HTTP phase is boxed once the protocol is known, so a connection that
/// never gets there (silent, or still shaking hands) stays a few hundred bytes.
pub(super) async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    with: Connections,
    _slot: Slot,
) {
    let Connections {
        router,
        tls,
        limits,
        mut stopping,
    } = with;
    let header_read = limits.header_read;
    let serve = Serve {
        peer,
        router,
        limits,
    };
    match tls {
        None => match unless_stopping(&mut stopping, speaks_h2(&stream, header_read)).await {
            Some(Some(h2)) => Box::pin(serve.http(stream, h2, stopping)).await,
            Some(None) => tracing::trace!(%peer, "closed or silent before a request"),
            None => {}
        },
        Some(acceptor) => {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            match unless_stopping(&mut stopping, handshake).await {
                Some(Ok(Ok(stream))) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    Box::pin(serve.http(stream, h2, stopping)).await
                }
                Some(Ok(Err(e))) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Some(Err(_)) => tracing::debug!(%peer, "TLS handshake timed out"),
                None => {}
            }
        }
    }
}

/// `step`'s outcome, or `None` once the shutdown has started: a client that
/// is silent or slow to shake hands must not hold the shutdown for the
/// length of its limit.
async fn unless_stopping<T>(
    stopping: &mut watch::Receiver<bool>,
    step: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        out = step => Some(out),
        _ = stopping.wait_for(|stopping| *stopping) => None,
    }
}

/// HTTP/2's connection preface (RFC 9113 §3.4), which a client with prior
/// knowledge sends first on a plain connection.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a plain-TCP client opens with HTTP/2's preface, read without
/// consuming it; `None` if it closed, or sent nothing conclusive within
/// `limit`. hyper's own detection would wait for those bytes for ever, and
/// its head timeout only starts once it knows the version.
async fn speaks_h2(stream: &TcpStream, limit: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut first = [0u8; 24];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut first))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if first[..n] != H2_PREFACE[..n] {
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            return Some(true);
        }
        // A preface split across segments: wait for the rest of it.
        tokio::time::sleep_until(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(1)),
        )
        .await;
    }
}

/// What an HTTP connection is served with once its protocol is known.
struct Serve {
    peer: SocketAddr,
    router: Router,
    limits: Limits,
}

impl Serve {
    /// Serve HTTP on `io`; every request carries the peer's address, which
    /// the per-IP limits read (`http::client_ip`), and a body deadline.
    async fn http<I>(self, io: I, h2: bool, stopping: watch::Receiver<bool>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            peer,
            router,
            limits,
        } = self;
        // hyper has no idle limit for HTTP/2: watch the connection's
        // requests (its bytes would count PING frames, which cost nothing to
        // send and would hold the connection for ever). HTTP/1.1's idle
        // limit is hyper's own, so its requests are not watched.
        let activity = h2.then(Activity::new);
        let idle = activity.clone();
        let body_read = limits.body_read;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(|body| Body::new(Deadline::new(body, body_read)));
            let activity = activity.clone();
            activity.as_ref().map(Activity::touch);
            // A Router is always ready, and its future never fails.
            let answer = router.clone().call(request);
            async move {
                let answered = answer.await;
                activity.as_ref().map(Activity::touch);
                answered
            }
        });
        let ended = if h2 {
            let conn = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(io), service);
            let idle = async move {
                match idle {
                    Some(activity) => activity.idle_for(limits.header_read).await,
                    None => std::future::pending().await,
                }
            };
            drive(conn, |c| c.graceful_shutdown(), stopping, idle).await
        } else {
            // hyper enforces its head timeout only with a timer (axum::serve
            // sets none): without one a client could hold a connection for ever.
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            drive(
                conn,
                |c| c.graceful_shutdown(),
                stopping,
                std::future::pending(),
            )
            .await
        };
        if let Err(e) = ended {
            tracing::trace!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Run a connection to its end. When the shutdown starts, or `idle`
/// resolves, it is asked to close gracefully (`close`): HTTP/1.1 after the
/// request in flight, HTTP/2 with a GOAWAY once its open streams are answered.
async fn drive<C: Future>(
    conn: C,
    close: impl Fn(Pin<&mut C>),
    mut stopping: watch::Receiver<bool>,
    idle: impl Future<Output = ()>,
) -> C::Output {
    let mut conn = std::pin::pin!(conn);
    let mut idle = std::pin::pin!(idle);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => return ended,
            _ = stopping.wait_for(|stopping| *stopping), if !closing => {}
            () = idle.as_mut(), if !closing => {}
        }
        close(conn.as_mut());
        closing = true;
    }
}
