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
    max_size: Option<String>,
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
    let max_size = match f.max_size.as_deref() {
        None | Some("off") => None,
        Some(text) => Some(size(text).context("audit.max_size")?),
    };
    Ok(AuditSettings {
        retention,
        head_interval,
        head_file: f.head_file.clone(),
        max_size,
    })
}

/// A size: a number with an optional unit, `500MB`, `2GiB`, `100000000`
/// (bytes); at least 1 MB, so a typo cannot empty the trail.
fn size(text: &str) -> anyhow::Result<u64> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .with_context(|| format!("'{text}' is not a size such as 500MB or 2GiB"))?;
    let unit = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1_000,
        "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "TiB" => 1 << 40,
        other => {
            bail!("'{text}': unknown unit '{other}' (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
        }
    };
    let bytes = number
        .checked_mul(unit)
        .with_context(|| format!("'{text}' is too large"))?;
    if bytes < 1_000_000 {
        bail!("'{text}' is below the least bound, 1MB");
    }
    Ok(bytes)
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

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_take_decimal_and_binary_units_and_refuse_tiny_or_unknown_ones() {
        assert_eq!(super::size("500MB").unwrap(), 500_000_000);
        assert_eq!(super::size("2GiB").unwrap(), 2 << 30);
        assert_eq!(super::size("1000000").unwrap(), 1_000_000);
        for bad in ["10", "5kB", "1 PB", "MB", "-1GB", "99999999999999TB"] {
            assert!(super::size(bad).is_err(), "{bad}");
        }
    }
}
