//! Files Tessera writes that hold secrets (the SQLite database and its
//! backups, the first administrator's password): created owner-only (0600)
//! by the one call that creates them, so there is no moment when another
//! user could open them, and without touching the process's umask, which
//! everything else the process writes shares.

use std::fs::File;
use std::path::Path;

/// Create `path` as a new, empty, owner-only file. An existing file is an
/// error (`AlreadyExists`): nothing is ever overwritten, and a file someone
/// else made in its place is never written into.
pub fn create(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_file_is_owner_only_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = create(&path).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    }
}
