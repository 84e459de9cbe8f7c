//! The command line's exit statuses, one per kind of outcome, so a script can
//! tell a negative answer from a mistake or an outage:
//!
//! | Status | Meaning |
//! | --- | --- |
//! | 0 | done (also when the reader of stdout went away, as with `\| head`) |
//! | 1 | a negative answer: a token that would be rejected, a broken audit chain, no such client |
//! | 2 | usage: a bad flag, value or configuration |
//! | 3 | the database is unavailable: missing, unreadable, unreachable, or of another version |
//! | 4 | anything else |

use std::process::ExitCode;

use tessera_resource::clock::{Clock, SystemClock};

/// A negative answer to the question a command asked (status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Negative(pub String);

/// A mistake in what the command was given (status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Usage(pub anyhow::Error);

pub const OK: u8 = 0;
pub const NEGATIVE: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNAVAILABLE: u8 = 3;
pub const OTHER: u8 = 4;

/// The status for `e`; `None` when stdout was closed by its reader, which
/// ends a command early but is no failure of it.
pub fn status_of(e: &anyhow::Error) -> Option<u8> {
    let mut status = OTHER;
    for cause in e.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return None;
        }
        if cause.is::<Negative>() {
            return Some(NEGATIVE);
        }
        if cause.is::<Usage>() {
            return Some(USAGE);
        }
        if let Some(store) = cause.downcast_ref::<crate::store::Error>() {
            use crate::store::Error as E;
            status = match store {
                E::Unsupported(_) => USAGE,
                E::Open(_) | E::Unavailable(_) | E::Closed => UNAVAILABLE,
                E::Corrupt(_) | E::Database(_) => OTHER,
            };
        }
    }
    Some(status)
}

/// Report `e` on stderr (one JSON object under `--log-format json`) and
/// choose the exit status.
pub fn report(e: &anyhow::Error, json: bool) -> ExitCode {
    let Some(status) = status_of(e) else {
        return ExitCode::from(OK);
    };
    let message = format!("{e:#}");
    let line = if json {
        serde_json::json!({
            "timestamp": tessera_resource::clock::rfc3339(SystemClock.now()),
            "level": "ERROR",
            "target": "tessera",
            "message": message,
            "exit_status": status,
        })
        .to_string()
    } else {
        format!("tessera: error: {message}")
    };
    let _ = std::io::Write::write_all(
        &mut std::io::stderr().lock(),
        format!("{line}\n").as_bytes(),
    );
    ExitCode::from(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_own_status() {
        let cases: Vec<(anyhow::Error, Option<u8>)> = vec![
            (anyhow::anyhow!(Negative("rejected".into())), Some(NEGATIVE)),
            (anyhow::anyhow!(Usage(anyhow::anyhow!("bad"))), Some(USAGE)),
            (
                anyhow::Error::from(crate::store::Error::Open("gone".into())).context("opening"),
                Some(UNAVAILABLE),
            ),
            (
                anyhow::Error::from(crate::store::Error::Unsupported("x://".into())),
                Some(USAGE),
            ),
            (
                anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
                None,
            ),
            (anyhow::anyhow!("something else"), Some(OTHER)),
        ];
        for (e, expected) in cases {
            assert_eq!(status_of(&e), expected, "{e:#}");
        }
    }
}
