//! Serving on lanes, thread per core (opt-in: `threads = N` in the
//! configuration): an acceptor deals accepted connections in turn to N
//! *lanes*, each an OS thread with its own single-threaded tokio runtime that
//! serves them from the first byte to the close (HTTP/1.1, and HTTP/2 by
//! prior knowledge or, over TLS, by ALPN; hyper's 30 s limit on reading a
//! request head; a graceful shutdown of at most [`GRACE`]). Unset, the server
//! uses `axum::serve` on the process's work-stealing runtime (`server`).
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
//! 8.65–31.7 ms work-stealing (BENCHMARKS.md, seventh session). Hence
//! work-stealing by default; lanes for issuers that only serve machines.
//!
//! The shared state (the store, the keys, the limiters, the audit trail) is
//! the same `AppState` on every lane.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tower::Service;

/// How long a shutdown waits for in-flight requests and open connections.
pub const GRACE: Duration = Duration::from_secs(30);

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Accepted = (std::net::TcpStream, SocketAddr);

/// Serve `router` on `listener` over `lanes` threads until `shutdown`
/// resolves, then shut down gracefully. With `tls`, every connection is a
/// TLS connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
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
        let (router, tls) = (router.clone(), tls.clone());
        let thread = std::thread::Builder::new()
            .name(format!("tessera-lane-{i}"))
            .spawn(move || runtime.block_on(lane(rx, router, tls)))?;
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
async fn lane(
    mut incoming: mpsc::UnboundedReceiver<Accepted>,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let graceful = GracefulShutdown::new();
    while let Some((stream, peer)) = incoming.recv().await {
        // Registers the socket with this lane's reactor.
        let Ok(stream) = TcpStream::from_std(stream) else {
            continue;
        };
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            tls.clone(),
            graceful.watcher(),
        ));
    }
    wind_down(graceful).await;
}

/// One connection: the TLS handshake if any, then HTTP.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    watcher: Watcher,
) {
    match tls {
        None => http(stream, peer, router, watcher).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => http(stream, peer, router, watcher).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

/// Serve one connection; every request carries the peer's address, which
/// the per-IP limits read (`http::client_ip`).
async fn http<I>(io: I, peer: SocketAddr, router: Router, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        // A Router is always ready, and its future never fails.
        router.clone().call(request.map(Body::new))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer, hyper closes a connection that has not sent a whole
    // request head within 30 s (slow-loris clients).
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::trace!(%peer, error = %e, "connection ended with an error");
    }
}
