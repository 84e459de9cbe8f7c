//! `tessera client add|list|show|remove`: administrator-managed clients.
//!
//! `add` goes through the same validation and creation path as `/register`,
//! with the administrator's privilege (machine clients allowed). The secret is
//! printed once and never again.

use std::sync::Arc;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::clients::{Origin, create};
use crate::config::Config;
use crate::oauth::client::{OneOrMany, RegistrationRequest, RegistrationRules};
use crate::state::AppState;
use crate::store::clients::StoredClient;
use tessera_resource::clock::SystemClock;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a client and print its id (and secret, once).
    Add(AddArgs),
    /// List clients.
    List {
        /// Print JSON (an array of clients) instead of one line each.
        #[arg(long)]
        json: bool,
    },
    /// Show one client and its grants (exit status 1 when there is none).
    Show {
        /// The client's id, as `client list` prints it.
        client_id: String,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client; its tokens stop being issued at once.
    Remove {
        /// The client's id, as `client list` prints it.
        client_id: String,
    },
}

impl ClientCommand {
    /// Whether the command only reads.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::List { .. } | Self::Show { .. })
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Human-readable name, shown on the consent page.
    #[arg(long)]
    name: String,
    /// Grant type (repeatable): client_credentials, authorization_code, refresh_token
    /// [default: client_credentials, or none with --introspect].
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// A resource server allowed to call the introspection endpoint.
    #[arg(long)]
    introspect: bool,
    /// Space-separated scopes the client may request; each must be in the
    /// scope catalog (`[[scopes]]`).
    #[arg(long)]
    scope: Option<String>,
    /// Redirect URI (repeatable), for authorization_code clients.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Resource the client may get tokens for (repeatable); the first is its default.
    #[arg(long = "audience")]
    audience: Vec<String>,
    /// Token endpoint auth method: client_secret_basic, client_secret_post, none or
    /// private_key_jwt [default: client_secret_basic, or private_key_jwt with
    /// --jwks-uri or --jwks-file].
    #[arg(long)]
    auth_method: Option<String>,
    /// Where the client publishes its public keys (private_key_jwt, RFC 7523 §2.2).
    #[arg(long, conflicts_with = "jwks_file")]
    jwks_uri: Option<String>,
    /// A file holding the client's public keys as a JWK set (private_key_jwt).
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// Print JSON (the registered metadata, with client_id and client_secret).
    #[arg(long)]
    json: bool,
}

/// `unix` as RFC 3339, or as the number when it is out of range.
pub fn timestamp(unix: i64) -> String {
    match tessera_resource::clock::rfc3339(unix) {
        text if text.is_empty() => unix.to_string(),
        text => text,
    }
}

pub async fn run(cmd: ClientCommand, config: Config) -> anyhow::Result<()> {
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let result = dispatch(cmd, &state).await;
    state.close().await;
    result
}

async fn dispatch(cmd: ClientCommand, state: &AppState) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Add(args) => add(args, state).await,
        ClientCommand::List { json } => {
            let clients = state.store.list_clients().await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&clients)?);
            } else {
                for c in &clients {
                    say!("{}", summary(c));
                }
            }
            Ok(())
        }
        ClientCommand::Show { client_id, json } => {
            let Some(client) = state.store.find_client(&client_id).await? else {
                bail!(super::exit::Negative(format!(
                    "no client with id {client_id}"
                )));
            };
            let families = state
                .store
                .families_of_client(&client_id, state.clock.now())
                .await?;
            if json {
                let mut out = serde_json::to_value(&client)?;
                out["refresh_families"] = serde_json::to_value(&families)?;
                say!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_details(&client)?;
                print_families(&families)?;
            }
            Ok(())
        }
        ClientCommand::Remove { client_id } => {
            if !state.store.remove_client(&client_id).await? {
                bail!(super::exit::Negative(format!(
                    "no client with id {client_id}"
                )));
            }
            let fields = serde_json::json!({"client_id": client_id, "by": "an administrator (tessera client remove)"});
            state
                .audit
                .record_durably("client_removed", state.clock.now(), fields)
                .await?;
            say!("removed client {client_id}");
            Ok(())
        }
    }
}

async fn add(args: AddArgs, state: &AppState) -> anyhow::Result<()> {
    // `/register` accepts any scope a client asks for (it gets only what the
    // catalog grants); an administrator's typo is refused instead. A name
    // must be a catalog entry itself: `mcp:tools:*` in the catalog would
    // cover `mcp:tools:nope` for a token request, but no entry describes it.
    let unknown: Vec<&str> = args
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty() && state.config.scopes.entry(s).is_none())
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = state
            .config
            .scopes
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        bail!(super::exit::Usage(anyhow::anyhow!(
            "--scope: {} not in the scope catalog (known: {})",
            unknown.join(", "),
            known.join(" ")
        )));
    }
    let jwks = match &args.jwks_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the JWK set {}: {e}", path.display()))?;
            Some(
                serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
                    anyhow::anyhow!("{} is not a JSON JWK set: {e}", path.display())
                })?,
            )
        }
        None => None,
    };
    let has_keys = jwks.is_some() || args.jwks_uri.is_some();
    let auth_method = args.auth_method.unwrap_or_else(|| {
        if has_keys {
            "private_key_jwt"
        } else {
            "client_secret_basic"
        }
        .to_owned()
    });
    let request = RegistrationRequest {
        jwks,
        jwks_uri: args.jwks_uri,
        client_name: Some(args.name),
        grant_types: Some(match (args.grants.is_empty(), args.introspect) {
            (true, false) => vec!["client_credentials".to_owned()],
            _ => args.grants,
        }),
        scope: args.scope,
        redirect_uris: Some(args.redirect_uris),
        audience: Some(OneOrMany::Many(args.audience)),
        token_endpoint_auth_method: Some(auth_method),
        ..RegistrationRequest::default()
    };
    let rules = RegistrationRules {
        redirects: &state.config.registration.redirects,
        resources: &state.config.resources,
        privileged: true,
    };
    let metadata = rules
        .validate(request)
        .map_err(|e| super::exit::Usage(anyhow::anyhow!("{}", e.description)))?;
    let created = create(
        &state.store,
        &state.hasher,
        &metadata,
        Origin::Admin,
        args.introspect,
        state.clock.now(),
    )
    .await?;
    let fields = json!({"client_id": created.client_id, "client_name": metadata.client_name,
                        "by": "an administrator (tessera client add)"});
    let now = state.clock.now();
    state
        .audit
        .record_durably("client_registered", now, fields)
        .await?;
    let secret = created.client_secret.as_ref().map(|s| s.expose());
    if args.json {
        let mut out = serde_json::to_value(&metadata)?;
        out["client_id"] = json!(created.client_id);
        if let Some(s) = secret {
            out["client_secret"] = json!(s);
        }
        say!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        say!("client_id:     {}", created.client_id);
        if let Some(s) = secret {
            say!("client_secret: {s}");
            say!("(the secret is shown only now: store it safely)");
        }
    }
    Ok(())
}

fn summary(c: &StoredClient) -> String {
    let grants: Vec<&str> = c.metadata.grant_types.iter().map(|g| g.as_str()).collect();
    format!(
        "{}  {}  [{}]  {}",
        c.client_id,
        c.metadata.client_name.as_deref().unwrap_or("(unnamed)"),
        grants.join(","),
        c.created_by
    )
}

fn print_details(c: &StoredClient) -> std::io::Result<()> {
    let m = &c.metadata;
    say!("client_id:    {}", c.client_id);
    say!(
        "name:         {}",
        m.client_name.as_deref().unwrap_or("(unnamed)")
    );
    say!(
        "created:      {} by {}",
        timestamp(c.client_id_issued_at),
        c.created_by
    );
    say!("auth method:  {}", m.token_endpoint_auth_method.as_str());
    let grants: Vec<&str> = m.grant_types.iter().map(|g| g.as_str()).collect();
    say!("grant types:  {}", grants.join(" "));
    say!("scope:        {}", m.scope.as_deref().unwrap_or(""));
    say!("audience:     {}", m.audience.join(" "));
    say!("redirect URIs:");
    for u in &m.redirect_uris {
        say!("  {u}");
    }
    Ok(())
}

fn print_families(families: &[crate::store::refresh::FamilySummary]) -> std::io::Result<()> {
    let live: Vec<_> = families
        .iter()
        .filter(|f| f.revoked_at.is_none() && f.live_tokens > 0)
        .collect();
    say!("active grants (refresh-token families): {}", live.len());
    for f in &live {
        let user = f.username.as_deref().unwrap_or("(removed)");
        say!(
            "  {}  {user}  since {}  {}",
            f.id,
            timestamp(f.created_at),
            f.scope
        );
    }
    for f in families.iter().filter(|f| f.revoked_at.is_some()).take(20) {
        let why = f.revoked_why.as_deref().unwrap_or("revoked");
        say!(
            "  {}  revoked {}: {why}",
            f.id,
            timestamp(f.revoked_at.unwrap_or_default())
        );
    }
    Ok(())
}
