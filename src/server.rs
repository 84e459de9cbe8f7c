//! Binding and serving: what `tessera serve` and the integration tests share.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::serving::{Limits, Placement};
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
    state: AppState,
}

impl Server {
    /// Open the database, load keys, and bind the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Self> {
        let listen = config.listen;
        let state = AppState::build(config, Arc::new(SystemClock)).await?;
        Self::bind_state(state, listen).await
    }

    pub async fn bind_state(state: AppState, listen: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then let in-flight requests finish
    /// and flush the audit trail. With `tls`, serve HTTPS (rustls on ring).
    /// With `threads` set, connections are served on lanes, else shared by
    /// the runtime's workers ([`crate::serving`]).
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
        let janitor = tokio::spawn(janitor(self.state.clone()));
        let served = crate::serving::serve(
            self.listener,
            crate::app(self.state.clone()),
            acceptor,
            placement,
            Limits {
                max_connections: self.state.config.max_connections,
                ..Limits::default()
            },
            shutdown,
        )
        .await;
        janitor.abort();
        self.state.close().await;
        served
    }

    /// Check TLS files before announcing readiness: a bad certificate is a
    /// start-up error, not a failure on the first connection.
    pub async fn check_tls(tls: &TlsFiles) -> anyhow::Result<()> {
        load_tls(tls).await.map(|_| ())
    }
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
    crate::serving::tls_acceptor(&cert, &key).with_context(context)
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

/// Every ten seconds, pick up key changes (rotation from the CLI, a pending
/// key activating) and rotate when due; every ten minutes, purge expired rows
/// and prune audit records past their retention.
async fn janitor(state: AppState) {
    let mut tick = tokio::time::interval(crate::signing::RELOAD_EVERY);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        let now = state.clock.now();
        match state.keys.maintain(&state.store, now).await {
            Ok(Some(key)) => {
                let lead = state.config.signing.publish_lead.as_secs() as i64;
                let fields = serde_json::json!({"kid": key.kid, "alg": key.alg.as_str(), "activates_at": now + lead, "by": "automatic rotation"});
                state.audit.record("key_rotated", now, fields).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "signing key maintenance failed"),
        }
        ticks += 1;
        if ticks % 60 != 1 {
            continue;
        }
        if let Some(after) = state.config.registration.prune_unused_after {
            match state
                .store
                .prune_unused_clients(now - after.as_secs() as i64)
                .await
            {
                Ok(n) if n > 0 => tracing::info!(clients = n, "pruned registrations never used"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning unused registrations failed"),
            }
        }
        match state.store.purge_expired(now).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
        if let Some(retention) = state.config.audit.retention {
            let before = now - retention.as_secs() as i64;
            match crate::audit::retention::prune(
                &state.store,
                &state.audit,
                before,
                now,
                "retention",
            )
            .await
            {
                Ok(Some(p)) => {
                    tracing::info!(records = p.records, "pruned audit records past retention")
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "pruning the audit trail failed")
                }
            }
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
