//! Handing over the first administrator's password (`tessera serve` on a
//! database without users). On a terminal, with text logs, it is shown once;
//! otherwise stdout is a log (systemd's journal, `docker logs`, a file) that
//! others read and keep, so the password goes into a new owner-only file
//! beside the SQLite database (PostgreSQL: the working directory), and the
//! banner, or under `--log-format json` an event of its own, says where. The
//! password itself never reaches a log line.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The file's name, in the database's directory.
pub const FILE_NAME: &str = "tessera-admin-password";

/// Where the password went.
pub enum Handover {
    /// Shown on the terminal, in the banner.
    Shown(String),
    /// Written to this owner-only file.
    File(PathBuf),
    /// Neither: the file could not be written.
    Failed(PathBuf, std::io::Error),
}

/// Hand `password` over: shown when `may_show` and stdout is a terminal,
/// else written to the file in `data_dir`.
pub fn hand_over(password: &str, data_dir: Option<PathBuf>, may_show: bool) -> Handover {
    if may_show && std::io::stdout().is_terminal() {
        return Handover::Shown(password.to_owned());
    }
    let dir = data_dir
        .filter(|d| !d.as_os_str().is_empty())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join(FILE_NAME);
    match write(&path, password) {
        Ok(()) => Handover::File(path),
        Err(e) => Handover::Failed(path, e),
    }
}

impl Handover {
    /// The banner's lines about the first administrator.
    pub fn notice(&self) -> String {
        match self {
            Handover::Shown(password) => format!(
                "Created the first user: admin / {password}\n  (shown only now; change it with: tessera user passwd admin)\n"
            ),
            Handover::File(path) => format!(
                "Created the first user: admin; its password is in {} (readable only by this user; \
                 read it, delete the file, and change the password with: tessera user passwd admin)\n",
                path.display()
            ),
            Handover::Failed(path, e) => format!(
                "Created the first user: admin; its password is not shown, since stdout is not a terminal, \
                 and could not be written to {}: {e}. Set one with: tessera user passwd admin\n",
                path.display()
            ),
        }
    }

    /// The same, as a log event of its own (`first_admin_created`).
    pub fn log(&self) {
        match self {
            Handover::Shown(_) | Handover::File(_) => {
                let file = match self {
                    Handover::File(path) => path.display().to_string(),
                    _ => String::new(),
                };
                tracing::warn!(
                    event = "first_admin_created",
                    username = "admin",
                    password_file = %file,
                    "created the first user; read its password from the file, delete the file, \
                     and change the password with: tessera user passwd admin"
                );
            }
            Handover::Failed(path, e) => tracing::error!(
                event = "first_admin_created",
                username = "admin",
                password_file = %path.display(),
                error = %e,
                "created the first user, but could not write its password: set one with: tessera user passwd admin"
            ),
        }
    }
}

fn write(path: &Path, password: &str) -> std::io::Result<()> {
    let mut file = crate::store::private_file::create(path)?;
    file.write_all(format!("{password}\n").as_bytes())?;
    file.sync_all()
}
