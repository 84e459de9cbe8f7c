//! Binding and serving: what `tessera serve` and the integration tests share.
//!
//! [`Server`] opens the state, binds, and serves the router until a signal
//! ([`serve`]: accepting, TLS, HTTP/1.1 and HTTP/2, the per-connection limits
//! of `guards`, a graceful shutdown), with the [`janitor`] and the change
//! feed's follower ([`watch`]) beside it.

mod connection;
mod guards;
mod janitor;
mod serve;
pub mod watch;

pub use guards::{DEFAULT_MAX_CONNECTIONS, Limits};
pub use serve::{GRACE, Placement, serve, tls_acceptor};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::state::AppState;
use tessera_resource::clock::SystemClock;

/// PEM certificate chain and private key for built-in HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

pub struct Server {
    listener: TcpListener,
    /// `--admin-listen`: metrics and health only.
    admin: Option<TcpListener>,
    state: Arc<AppState>,
}

impl Server {
    /// Open the database, load keys, and bind the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        let state = AppState::build(config, Arc::new(SystemClock)).await?;
        Self::bind_state(state, listen).await
    }

    pub async fn bind_state(state: Arc<AppState>, listen: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let admin = match state.config.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (admin_listen)"))?,
            ),
            None => None,
        };
        Ok(Self {
            listener,
            admin,
            state,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The admin listener's address, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serve until `shutdown` resolves, then let in-flight requests finish
    /// and flush the audit trail. With `tls`, serve HTTPS (rustls on ring).
    /// With `threads` set, connections are served on lanes, else shared by
    /// the runtime's workers ([`serve`]).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        tls: Option<&TlsFiles>,
    ) -> anyhow::Result<()> {
        let acceptor = match tls {
            Some(files) => Some(load_tls(files).await?),
            None => None,
        };
        let placement = match self.state.config.threads {
            Some(lanes) => Placement::Lanes(lanes),
            None => Placement::Shared,
        };
        let janitor = tokio::spawn(janitor::run(self.state.clone()));
        let watch = tokio::spawn(watch::run(self.state.clone()));
        // Plain HTTP/1.1 on a private address; it ends with the server.
        let admin = self.admin.map(|listener| {
            let app = crate::http::admin_router(self.state.clone());
            tokio::spawn(async move { axum::serve(listener, app).await })
        });
        let served = crate::server::serve(
            self.listener,
            crate::http::router(self.state.clone()),
            acceptor,
            placement,
            Limits {
                max_connections: self.state.config.max_connections,
                max_connections_per_ip: self.state.config.max_connections_per_ip,
                exempt: exempt_from_per_ip(&self.state.config),
                ..Limits::default()
            },
            shutdown,
        )
        .await;
        janitor.abort();
        watch.abort();
        if let Some(admin) = admin {
            admin.abort();
        }
        self.state.close().await;
        served
    }

    /// Check TLS files before announcing readiness: a bad certificate is a
    /// start-up error, not a failure on the first connection.
    pub async fn check_tls(tls: &TlsFiles) -> anyhow::Result<()> {
        load_tls(tls).await.map(|_| ())
    }
}

/// Addresses whose connections are not counted per IP: loopback (a proxy
/// on the same host) and the trusted proxies.
fn exempt_from_per_ip(config: &crate::config::Config) -> std::sync::Arc<[std::net::IpAddr]> {
    let loopback = [
        std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ];
    let proxies = config.rate_limits.trusted_proxies.iter().copied();
    loopback.into_iter().chain(proxies).collect()
}

/// The certificate chain and key (PEM), with ALPN offering h2 and http/1.1.
async fn load_tls(tls: &TlsFiles) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let context = || {
        format!(
            "cannot load TLS certificate {} and key {}",
            tls.cert.display(),
            tls.key.display()
        )
    };
    let cert = tokio::fs::read(&tls.cert).await.with_context(context)?;
    let key = tokio::fs::read(&tls.key).await.with_context(context)?;
    crate::server::tls_acceptor(&cert, &key).with_context(context)
}

/// Let the server hold as many connections as the system allows: raise the
/// soft limit on open files to the hard one, as Go's runtime does. Shells and
/// systemd start processes at a soft limit of 1,024, which would refuse
/// connections beyond about a thousand (every connection is a file). Returns
/// the limit in force.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // An unlimited hard limit cannot be the soft one for files on Linux
    // (it is capped by fs.nr_open, 1,048,576 by default).
    let target = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|current| current >= target) {
        return limit.current;
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => Some(target),
        Err(e) => {
            tracing::debug!(error = %e, "cannot raise the open-files limit");
            limit.current
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
