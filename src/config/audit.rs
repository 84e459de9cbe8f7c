//! The `[audit]` section and the audit chain's key (`security.audit_chain_key`,
//! `security.audit_chain_key_file`, `TESSERA_AUDIT_CHAIN_KEY`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use tessera_resource::Secret;

use super::AuditSettings;

/// `[audit]` as written.
#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAudit {
    retention: Option<String>,
    head_interval: Option<String>,
    head_file: Option<PathBuf>,
}

const DAY: u64 = 86_400;

pub(super) fn settings(f: &FileAudit) -> anyhow::Result<AuditSettings> {
    let retention = match f.retention.as_deref() {
        Some("off") => None,
        _ => Some(super::file::duration(
            &f.retention,
            "audit.retention",
            "90d",
            DAY,
            36_525 * DAY,
        )?),
    };
    let head_interval = match f.head_interval.as_deref() {
        Some("off") => None,
        _ => Some(super::file::duration(
            &f.head_interval,
            "audit.head_interval",
            "5m",
            10,
            DAY,
        )?),
    };
    Ok(AuditSettings {
        retention,
        head_interval,
        head_file: f.head_file.clone(),
    })
}

/// The chain key: the environment's, else the file's (inline or in a file
/// of its own), at least 32 characters; `None`: the default kept in the
/// database.
pub(super) fn chain_key(
    env: Option<&str>,
    inline: Option<&Secret>,
    file: Option<&PathBuf>,
) -> anyhow::Result<Option<Secret>> {
    if inline.is_some() && file.is_some() {
        bail!("set security.audit_chain_key or security.audit_chain_key_file, not both");
    }
    let key = match (env, inline, file) {
        (Some(k), _, _) => Some(Secret::new(k.to_owned())),
        (None, Some(k), _) => Some(k.clone()),
        (None, None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read security.audit_chain_key_file {}",
                    path.display()
                )
            })?;
            Some(Secret::new(text.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (None, None, None) => None,
    };
    if key.as_ref().is_some_and(|k| k.expose().len() < 32) {
        bail!("the audit chain key must be at least 32 characters");
    }
    Ok(key)
}
