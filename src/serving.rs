//! Serving connections: accepting them, TLS (rustls on ring, ALPN h2 and
//! http/1.1), HTTP/1.1 and HTTP/2 through hyper, and a graceful shutdown of at
//! most [`GRACE`]. Every connection gets the same limits: a TLS handshake must
//! finish within 10 s, and a request head must arrive whole within
//! [`Limits::header_read`] (30 s; it also closes a keep-alive connection
//! idle that long), so slow-loris clients cannot hold connections open.
//!
//! Two placements of connections on threads:
//!
//! - **Shared** (the default): each connection is a task on the process's
//!   work-stealing runtime, so a free core picks up a busy core's requests.
//! - **Lanes** (opt-in, `threads = N`): an acceptor deals connections in turn
//!   to N *lanes*, each an OS thread with its own single-threaded runtime
//!   that serves them from the first byte to the close.
//!
//! Lanes are somewhat faster at saturation and slower in the tail. A
//! saturated work-stealing runtime keeps parking one worker and waking it
//! again to steal half of the other's queue; every wake-up is a futex and an
//! inter-processor interrupt, and on the bench's virtual machine a parked core
//! took a median 37 µs to run again: a core sat idle 15% of the time under
//! token load (5% with lanes). Over the seventh session's runs
//! client_credentials reached a median 0.60 of the harness's ideal rate on
//! lanes (0.52–0.70, 11 runs) against 0.54 work-stealing (0.41–0.57, 14 runs).
//! But a connection cannot move off its lane, so when other work takes the
//! lane's core (password hashing under a sign-in flood) its requests wait:
//! token p99 beside the flood, paced at half of the peak, was 22–80 ms against
//! 8.65–31.7 ms work-stealing (BENCHMARKS.md, seventh session). Hence shared
//! by default; lanes for issuers that only serve machines.
//!
//! The shared state (the store, the keys, the limiters, the audit trail) is
//! the same `AppState` on every thread.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::Service;

/// How long a shutdown waits for in-flight requests and open connections.
pub const GRACE: Duration = Duration::from_secs(30);

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Accepted = (std::net::TcpStream, SocketAddr);

/// A TLS acceptor for a PEM certificate chain and private key (rustls on
/// ring), offering h2 and http/1.1 by ALPN.
pub fn tls_acceptor(cert: &[u8], key: &[u8]) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .context("the certificate file is not PEM")?;
    if chain.is_empty() {
        anyhow::bail!("the certificate file holds no certificate");
    }
    let key =
        PrivateKeyDer::from_pem_slice(key).context("the key file holds no PEM private key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Limits every connection is served with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest a client may take to send a whole request head, and the
    /// longest a keep-alive connection may stay idle.
    pub header_read: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(30),
        }
    }
}

/// Where connections are served (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Tasks on the process's work-stealing runtime.
    Shared,
    /// Dealt in turn to this many single-threaded lanes.
    Lanes(usize),
}

/// Serve `router` on `listener` until `shutdown` resolves, then shut down
/// gracefully. With `tls`, every connection is a TLS connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    placement: Placement,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop, stopping) = watch::channel(false);
    let with = Connections {
        router,
        tls,
        limits,
        stopping,
    };
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    match placement {
        Placement::Shared => serve_shared(listener, with, shutdown).await,
        Placement::Lanes(n) => serve_lanes(listener, with, n, shutdown).await,
    }
}

/// What every connection is served with, whatever thread serves it.
#[derive(Clone)]
struct Connections {
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    /// Turns true when the shutdown starts: it ends connections that have
    /// not reached HTTP yet, which hyper's graceful shutdown cannot reach.
    stopping: watch::Receiver<bool>,
}

async fn serve_shared(
    listener: TcpListener,
    with: Connections,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let graceful = GracefulShutdown::new();
    accept(&listener, shutdown, |stream, peer| {
        tokio::spawn(connection(stream, peer, with.clone(), graceful.watcher()));
    })
    .await;
    drop(listener);
    wind_down(graceful).await;
    Ok(())
}

async fn serve_lanes(
    listener: TcpListener,
    with: Connections,
    lanes: usize,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let lanes = lanes.max(1);
    let mut senders = Vec::with_capacity(lanes);
    let mut threads = Vec::with_capacity(lanes);
    for i in 0..lanes {
        let (tx, rx) = mpsc::unbounded_channel::<Accepted>();
        // Built here, so that a runtime that cannot start is a start-up error.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let with = with.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tessera-lane-{i}"))
            .spawn(move || runtime.block_on(lane(rx, with)))?;
        senders.push(tx);
        threads.push(thread);
    }
    let mut next = 0;
    accept(&listener, shutdown, |stream, peer| {
        let Ok(stream) = stream.into_std() else {
            return;
        };
        if senders[next].send((stream, peer)).is_err() {
            tracing::error!(lane = next, "a serving lane has stopped");
        }
        next = (next + 1) % senders.len();
    })
    .await;
    drop(listener);
    // A closed channel is a lane's signal to shut down.
    drop(senders);
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await?;
    Ok(())
}

/// Accept until `shutdown`, handing each connection to `place`.
async fn accept(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    mut place: impl FnMut(TcpStream, SocketAddr),
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                // Answers are written whole; Nagle's algorithm would only delay
                // the pieces of a streamed body (the demo MCP server's events).
                let _ = stream.set_nodelay(true);
                place(stream, peer);
            }
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was
                // accepted: wait a little rather than spin (as axum::serve does).
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Let in-flight requests finish and close idle connections, for at most [`GRACE`].
async fn wind_down(graceful: GracefulShutdown) {
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period were closed");
    }
}

/// One lane: serve every connection handed over until the acceptor stops,
/// then shut them down gracefully.
async fn lane(mut incoming: mpsc::UnboundedReceiver<Accepted>, with: Connections) {
    let graceful = GracefulShutdown::new();
    while let Some((stream, peer)) = incoming.recv().await {
        // Registers the socket with this lane's reactor.
        let Ok(stream) = TcpStream::from_std(stream) else {
            continue;
        };
        tokio::spawn(connection(stream, peer, with.clone(), graceful.watcher()));
    }
    wind_down(graceful).await;
}

/// One connection: the TLS handshake if any, then HTTP/2 or HTTP/1.1 (ALPN
/// over TLS, else the client's first bytes).
async fn connection(stream: TcpStream, peer: SocketAddr, with: Connections, watcher: Watcher) {
    let Connections {
        router,
        tls,
        limits,
        mut stopping,
    } = with;
    match tls {
        None => {
            match unless_stopping(&mut stopping, speaks_h2(&stream, limits.header_read)).await {
                Some(Some(h2)) => http(stream, peer, router, limits, h2, watcher).await,
                Some(None) => tracing::trace!(%peer, "closed or silent before a request"),
                None => {}
            }
        }
        Some(acceptor) => {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            match unless_stopping(&mut stopping, handshake).await {
                Some(Ok(Ok(stream))) => {
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    http(stream, peer, router, limits, h2, watcher).await
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

/// Serve one connection; every request carries the peer's address, which
/// the per-IP limits read (`http::client_ip`).
async fn http<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    h2: bool,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        // A Router is always ready, and its future never fails.
        router.clone().call(request.map(Body::new))
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    // hyper enforces its head timeout only with a timer (axum::serve sets
    // none): without one a client could hold a connection for ever.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::trace!(%peer, error = %e, "connection ended with an error");
    }
}
