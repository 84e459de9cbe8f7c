//! Serving connections: accepting them, TLS (rustls on ring, ALPN h2 and
//! http/1.1), HTTP/1.1 and HTTP/2 through hyper, and a graceful shutdown of at
//! most [`GRACE`]. Every connection gets the same limits (`connection`,
//! `guards`): a TLS handshake must finish within 10 s, a request head must
//! arrive whole within [`Limits::header_read`] (30 s; a connection idle that
//! long is closed, an HTTP/2 one after a GOAWAY), and a request body within
//! [`Limits::body_read`] of its first stall, so slow-loris clients cannot
//! hold connections or requests open. At most [`Limits::max_connections`]
//! are open at once.
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
//! again to steal half of the other's queue, and every wake-up is a futex
//! and an inter-processor interrupt; lanes avoid that. But a connection
//! cannot move off its lane, so when other work takes the lane's core
//! (password hashing under a sign-in flood) its requests wait. Hence shared
//! by default; lanes for issuers that only serve machines. BENCHMARKS.md
//! (seventh session) has the measurements.
//!
//! The shared state (the store, the keys, the limiters, the audit trail) is
//! the same `AppState` on every thread.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use super::connection::connection;
use super::guards::Limits;

/// How long a shutdown waits for in-flight requests and open connections.
pub const GRACE: Duration = Duration::from_secs(30);

type Accepted = (std::net::TcpStream, SocketAddr, Slot);

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
pub(super) struct Connections {
    pub(super) router: Router,
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
    pub(super) limits: Limits,
    /// Turns true when the shutdown starts: connections that have not
    /// reached HTTP yet end, the others finish what is in flight and close.
    pub(super) stopping: watch::Receiver<bool>,
}

async fn serve_shared(
    listener: TcpListener,
    with: Connections,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let tracker = TaskTracker::new();
    let limits = with.limits.clone();
    accept(&listener, shutdown, &limits, |stream, peer, slot| {
        tracker.spawn(connection(stream, peer, with.clone(), slot));
    })
    .await;
    drop(listener);
    wind_down(&tracker).await;
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
    accept(&listener, shutdown, &with.limits, |stream, peer, slot| {
        let Ok(stream) = stream.into_std() else {
            return;
        };
        if senders[next].send((stream, peer, slot)).is_err() {
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

/// A connection's place under [`Limits::max_connections`] and its
/// address's under [`Limits::max_connections_per_ip`], given back when its
/// task ends.
pub(super) struct Slot {
    _place: OwnedSemaphorePermit,
    _address: Option<PerAddress>,
}

/// Open connections per client address (an IPv6 /64 as one).
type Addresses = Arc<std::sync::Mutex<HashMap<u128, usize>>>;

/// One connection counted against its address.
struct PerAddress {
    addresses: Addresses,
    key: u128,
}

impl PerAddress {
    /// Count a connection from `ip`, unless its address holds `max` already.
    fn take(addresses: &Addresses, ip: IpAddr, max: usize) -> Option<Self> {
        let key = address_key(ip);
        let mut open = addresses.lock().ok()?;
        let n = open.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self {
            addresses: addresses.clone(),
            key,
        })
    }
}

impl Drop for PerAddress {
    fn drop(&mut self) {
        if let Ok(mut open) = self.addresses.lock()
            && let Some(n) = open.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// An address as counted: IPv4 (mapped or not) as itself, IPv6 by its /64
/// (a host is routinely given a whole /64 and can rotate through it).
fn address_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6) & !((1u128 << 64) - 1),
    }
}

/// Accept until `shutdown`, handing each connection to `place`. At most
/// `max_connections` are open at once: at the limit the acceptor waits for
/// one to close, and new connections wait in the kernel's backlog (as Go's
/// LimitListener), so a flood of connections cannot exhaust memory or
/// descriptors. One address past `max_connections_per_ip` has its new
/// connection closed at once, so that it cannot take every place.
async fn accept(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    limits: &Limits,
    mut place: impl FnMut(TcpStream, SocketAddr, Slot),
) {
    let max = limits.max_connections;
    let slots = Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)));
    let addresses = Addresses::default();
    let mut warned: Option<Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned.is_none_or(|at| at.elapsed() >= LIMIT_WARNING_EVERY) {
                    tracing::warn!(
                        max,
                        "connection limit reached: new connections wait for one to close"
                    );
                    warned = Some(Instant::now());
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                    () = &mut shutdown => return,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let ip = peer.ip();
                let address = if limits.exempt.contains(&ip) {
                    None
                } else {
                    match PerAddress::take(&addresses, ip, limits.max_connections_per_ip) {
                        Some(address) => Some(address),
                        None => {
                            tracing::debug!(%peer, "connection closed: its address holds too many");
                            continue;
                        }
                    }
                };
                // Answers are written whole; Nagle's algorithm would only delay
                // the pieces of a streamed body (the demo MCP server's events).
                let _ = stream.set_nodelay(true);
                let slot = Slot {
                    _place: slot,
                    _address: address,
                };
                place(stream, peer, slot);
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

/// How often a server held at its connection limit says so.
const LIMIT_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Wait for the connections, which the shutdown has asked to finish what is
/// in flight and close, for at most [`GRACE`].
async fn wind_down(tracker: &TaskTracker) {
    tracker.close();
    if tokio::time::timeout(GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period were closed");
    }
}

/// One lane: serve every connection handed over until the acceptor stops,
/// then shut them down gracefully.
async fn lane(mut incoming: mpsc::UnboundedReceiver<Accepted>, with: Connections) {
    let tracker = TaskTracker::new();
    while let Some((stream, peer, slot)) = incoming.recv().await {
        // Registers the socket with this lane's reactor.
        let Ok(stream) = TcpStream::from_std(stream) else {
            continue;
        };
        tracker.spawn(connection(stream, peer, with.clone(), slot));
    }
    wind_down(&tracker).await;
}
