//! Serving connections, one thread per core: an acceptor hands each accepted
//! TCP connection, in turn, to one of N *lanes*; a lane is an OS thread with
//! its own single-threaded tokio runtime, and it serves the connections it is
//! given from their first byte to their close (HTTP/1.1, and HTTP/2 by prior
//! knowledge or, over TLS, by ALPN). Shared state (the store, the keys, the
//! limiters, the audit trail) is the same `AppState` on every lane.
//!
//! Why not tokio's work-stealing runtime, which `axum::serve` uses: on a
//! saturated server it keeps parking one worker and waking it again to steal
//! half of the other's queue. Every wake-up is a futex and an inter-processor
//! interrupt, and on a virtual machine a parked core takes tens of
//! microseconds to run again. On the two-core bench host a route that does the
//! HTTP floor's work plus one ES256 signature left a core idle 15% of the time
//! under load (median gap 37 µs) and reached 0.66–0.69 of its ideal rate; with
//! lanes the idle time fell below 1% and the same route reached 0.83–0.90
//! (BENCHMARKS.md, seventh session). A lane only sleeps when none of its own
//! connections has a request, which under load is never.
//!
//! The price is that a connection cannot move: a lane busy with one slow
//! request delays its other connections. Nothing slow runs on a lane: password
//! hashing has its own threads (`passwords`), SQLite writes go through sqlx's
//! and the audit writer's threads, and the inline reads of `store::reader` are
//! index lookups.
//!
//! Shutdown: the acceptor stops; each lane stops taking connections, lets
//! every in-flight request finish and closes idle keep-alive connections
//! (`hyper_util`'s graceful shutdown), for at most [`GRACE`].

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

/// How many lanes: the configured number, else one per available core.
pub fn count(configured: Option<usize>) -> usize {
    configured
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1)
}

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
    accept(&listener, &senders, shutdown).await;
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

/// Accept until `shutdown`, handing connections to the lanes in turn.
async fn accept(
    listener: &TcpListener,
    lanes: &[mpsc::UnboundedSender<Accepted>],
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was
                // accepted: wait a little rather than spin (as axum::serve does).
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Answers are written whole; Nagle's algorithm would only delay the
        // pieces of a streamed body (the demo MCP server's events).
        let _ = stream.set_nodelay(true);
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        if lanes[next].send((stream, peer)).is_err() {
            tracing::error!(lane = next, "a serving lane has stopped");
        }
        next = (next + 1) % lanes.len();
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
        let watcher = graceful.watcher();
        let (router, tls) = (router.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => connection(stream, peer, router, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection(stream, peer, router, watcher).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    if tokio::time::timeout(GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period were closed");
    }
}

/// Serve one connection; every request carries the peer's address, which
/// the per-IP limits read (`http::client_ip`).
async fn connection<I>(io: I, peer: SocketAddr, router: Router, watcher: Watcher)
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
