//! The database's files on disk, kept owner-only (0600): they hold the
//! signing keys, the client-secret pepper, the audit chain's default key and
//! every refresh family.
//!
//! The database and each backup are created empty and 0600
//! ([`crate::store::private_file`]) before SQLite opens them (SQLite takes
//! an empty file as a new database, and `VACUUM INTO` accepts an empty
//! target); SQLite then gives the `-wal`, `-shm` and `-journal` files it
//! creates the main file's mode. A file made by an earlier build, or by hand,
//! that others can read is reported at start-up with the command that fixes
//! it; it is not changed, since an operator may have a reason (a backup
//! user's group).

use std::path::{Path, PathBuf};

use crate::store::{Access, Error, Result};

/// Refuse, naming the path, a database that is not there when it must be
/// (every command but `serve`), or whose directory is missing when it would
/// be created: SQLite's own answer ("unable to open database file") names
/// neither.
pub(super) fn check_place(path: &Path, access: Access) -> Result<()> {
    if access != Access::Create {
        return match std::fs::metadata(path) {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(Error::Open(format!(
                "database {} is not a file",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Open(format!(
                "database {} does not exist (only `tessera serve` creates one; \
                 check --database, TESSERA_DATABASE_URL or the config file's `database`)",
                path.display()
            ))),
            Err(e) => Err(Error::Open(format!(
                "cannot open database {}: {e}",
                path.display()
            ))),
        };
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => return Ok(()),
    };
    if !dir.is_dir() {
        return Err(Error::Open(format!(
            "cannot create database {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// The database file, then its `-wal` and `-shm` companions.
fn companions(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with("-wal"), with("-shm")]
}

/// The database's files (existing ones) that group or others may read or
/// write, each with its mode.
pub(super) fn exposed(path: &Path) -> Vec<(PathBuf, u32)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        companions(path)
            .into_iter()
            .filter_map(|file| {
                let mode = std::fs::metadata(&file).ok()?.permissions().mode() & 0o777;
                (mode & 0o077 != 0).then_some((file, mode))
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        let _ = companions(path);
        Vec::new()
    }
}

/// Warn, once per file, about database files others can read.
pub(super) fn warn_if_exposed(path: &Path) {
    for (file, mode) in exposed(path) {
        tracing::warn!(
            file = %file.display(),
            mode = format!("{mode:o}"),
            "the database file is readable by other users, and it holds signing keys and the \
             client-secret pepper: chmod 600 it (and its -wal and -shm files)"
        );
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_others_can_read_is_reported_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        crate::store::private_file::create(&path).unwrap();
        assert!(exposed(&path).is_empty());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed(&path), vec![(path, 0o644)]);
    }
}
