//! Handing over the first administrator's password (`tessera serve` on a
//! database without users). On a terminal it is shown once; otherwise
//! stdout is a log (systemd's journal, `docker logs`, a file) that others
//! read and keep, so the password goes into a new owner-only file beside the
//! SQLite database (PostgreSQL: the working directory), and stdout says where.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The file's name, in the database's directory.
pub const FILE_NAME: &str = "tessera-admin-password";

/// The banner's lines about the first administrator, whose password is
/// `password`; writes the file when stdout is not a terminal.
pub fn notice(password: &str, data_dir: Option<PathBuf>) -> String {
    if std::io::stdout().is_terminal() {
        return format!(
            "Created the first user: admin / {password}\n  (shown only now; change it with: tessera user passwd admin)\n"
        );
    }
    let dir = data_dir
        .filter(|d| !d.as_os_str().is_empty())
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join(FILE_NAME);
    match write(&path, password) {
        Ok(()) => format!(
            "Created the first user: admin; its password is in {} (readable only by this user; \
             read it, delete the file, and change the password with: tessera user passwd admin)\n",
            path.display()
        ),
        Err(e) => format!(
            "Created the first user: admin; its password is not shown, since stdout is not a terminal, \
             and could not be written to {}: {e}. Set one with: tessera user passwd admin\n",
            path.display()
        ),
    }
}

fn write(path: &Path, password: &str) -> std::io::Result<()> {
    let mut file = crate::store::private_file::create(path)?;
    file.write_all(format!("{password}\n").as_bytes())?;
    file.sync_all()
}
