//! Embedded migrations (`migrations/sqlite/`), applied at start-up.
//!
//! The ledger is the `_sqlx_migrations` table, in the layout sqlx's migrator
//! keeps (version, description, success, SHA-384 checksum), because Tessera
//! used that migrator before it used rusqlite alone: databases created by
//! earlier versions upgrade in place, and this version's databases still open
//! in them. A migration already applied must be byte-identical to the file
//! shipped now (migrations are never edited once shipped); a database that
//! has migrations this binary does not know was made by a newer Tessera and
//! is refused rather than half understood.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::store::{Error, Result};

struct Migration {
    file: &'static str,
    sql: &'static str,
}

macro_rules! migrations {
    ($($file:literal),* $(,)?) => {
        &[$(Migration {
            file: $file,
            sql: include_str!(concat!("../../../migrations/sqlite/", $file)),
        }),*]
    };
}

/// Every migration, in order. A new file must be added here too (a test
/// compares this list with the directory).
const MIGRATIONS: &[Migration] = migrations![
    "0001_settings.sql",
    "0002_clients.sql",
    "0003_signing_keys.sql",
    "0004_users.sql",
    "0005_sessions.sql",
    "0006_consents.sql",
    "0007_refresh_tokens.sql",
    "0008_authorization_codes.sql",
    "0009_key_rotation.sql",
    "0010_revoked_tokens.sql",
    "0011_client_introspection.sql",
    "0012_registration_management.sql",
    "0013_audit_log.sql",
    "0014_code_access_token.sql",
    "0015_audit_anchor.sql",
    "0016_changes.sql",
    "0017_rate_windows.sql",
    "0018_refresh_branches.sql",
    "0019_consent_per_resource.sql",
    "0020_people.sql",
    "0021_upstream_logins.sql",
    "0022_second_factors.sql",
    "0023_passkeys.sql",
    "0024_assertion_jtis.sql",
    "0025_sessions_by_person.sql",
];

impl Migration {
    /// `0007_refresh_tokens.sql` → 7.
    fn version(&self) -> i64 {
        let digits = self.file.split('_').next().unwrap_or_default();
        digits.parse().unwrap_or_default()
    }

    /// `0007_refresh_tokens.sql` → `refresh tokens`, as sqlx recorded it.
    fn description(&self) -> String {
        let rest = self.file.split_once('_').map_or("", |(_, rest)| rest);
        rest.trim_end_matches(".sql").replace('_', " ")
    }

    fn checksum(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA384, self.sql.as_bytes())
            .as_ref()
            .to_vec()
    }
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Bring the database at `conn` up to date.
pub fn run(conn: &mut Connection) -> Result<()> {
    let failed = |e: rusqlite::Error| Error::Open(format!("database migration failed: {e}"));
    conn.execute_batch(LEDGER).map_err(failed)?;
    let applied: Vec<(i64, Vec<u8>, bool)> = conn
        .prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .map_err(failed)?;
    for (version, checksum, success) in &applied {
        let known = MIGRATIONS.iter().find(|m| m.version() == *version);
        match known {
            _ if !success => {
                return Err(Error::Open(format!(
                    "database migration {version} failed earlier and left the database partly migrated"
                )));
            }
            None => {
                return Err(Error::Open(format!(
                    "the database has migration {version}, which this version of Tessera does not know: \
                     it was created by a newer version"
                )));
            }
            Some(m) if m.checksum() != *checksum => {
                return Err(Error::Open(format!(
                    "migration {} was changed after it was applied to this database",
                    m.file
                )));
            }
            Some(_) => {}
        }
    }
    for m in MIGRATIONS {
        if !applied.iter().any(|(v, _, _)| *v == m.version()) {
            apply(conn, m)
                .map_err(|e| Error::Open(format!("database migration {} failed: {e}", m.file)))?;
        }
    }
    Ok(())
}

/// Check, without writing, that the database at `conn` is exactly at this
/// version's schema (for opening it read-only).
pub fn check(conn: &Connection) -> Result<()> {
    let failed = |e: rusqlite::Error| Error::Open(format!("is not a Tessera database: {e}"));
    let applied: Vec<(i64, bool)> = conn
        .prepare("SELECT version, success FROM _sqlx_migrations ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(failed)?;
    let known: Vec<(i64, bool)> = MIGRATIONS.iter().map(|m| (m.version(), true)).collect();
    match applied.len().cmp(&known.len()) {
        _ if applied == known => Ok(()),
        std::cmp::Ordering::Less if known.starts_with(&applied) => Err(Error::Open(format!(
            "its schema is older than this version of Tessera ({} of {} migrations): \
             run `tessera serve` (or a command that changes something) once to migrate it",
            applied.len(),
            known.len()
        ))),
        _ => Err(Error::Open(
            "its schema is not the one this version of Tessera knows (made by a newer version?)"
                .into(),
        )),
    }
}

/// One migration and its ledger row, in one transaction. Another process
/// may have applied it since the ledger was read: the write lock is taken
/// first and the ledger read again under it.
fn apply(conn: &mut Connection, m: &Migration) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let done: Option<i64> = tx
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE version = ?",
            [m.version()],
            |r| r.get(0),
        )
        .optional()?;
    if done.is_none() {
        let started = std::time::Instant::now();
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?, ?, TRUE, ?, ?)",
            params![
                m.version(),
                m.description(),
                m.checksum(),
                started.elapsed().as_nanos() as i64
            ],
        )?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| f.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.file).collect();
        assert_eq!(files, listed);
        // Strictly increasing: numbers are reserved ahead for work done in
        // parallel, so a branch may have a gap until the others are merged.
        assert_eq!(MIGRATIONS[0].version(), 1);
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version() < pair[1].version(), "{}", pair[1].file);
        }
    }

    /// The ledger rows sqlx 0.9's migrator wrote into a database made by
    /// Tessera at 259375d (read back with `SELECT version, description,
    /// hex(checksum) FROM _sqlx_migrations`).
    const WRITTEN_BY_SQLX: &[(i64, &str, &str)] = &[
        (
            1,
            "settings",
            "c1bb0244fb53f0b3f44b758b3cd035f58f266981e9f956ca84ba0420ebaee554d080821b2d053cb1eced7b821f0b931f",
        ),
        (
            2,
            "clients",
            "40745e6512d8aa3b13b40fd34b4d34f9aff677f6fd8a096ff5c8eb1d755fa6ff97f32113410d49892527134f5684222a",
        ),
        (
            3,
            "signing keys",
            "da4439875b7a62f0f2bfd20e6b463b68ed7fe923ec5ae18076758eb258f593d4bf5b4a8273b4040d00bc6480e8e65982",
        ),
        (
            4,
            "users",
            "a25f6e4abfc43de316be908d3136e005a20025673b14dde4df2ea208219a3a91f8df010bdb48452ff5c5d891c00a81ab",
        ),
        (
            5,
            "sessions",
            "faffd47ea1247eced7babbc614a27a6e12da46e280fd51628616e01578f7808fb866a1196b8caad7964729ce16c16bdc",
        ),
        (
            6,
            "consents",
            "5e3513341a6cca553ea7500081075ffbbcd1f942e990d33b7d172ac8dcf65211c325d6de6b6d952bc079c563979979c6",
        ),
        (
            7,
            "refresh tokens",
            "8130982748ca99c685608166f9c73c9d1d2d2a051c24f7b625993b9f59a0ac5027888b3870e4f813596b6c32b9806f56",
        ),
        (
            8,
            "authorization codes",
            "5eeabc77409904740cdae6dbbd8e9f3d24336ad905e867014a06cb1be3a73260db4f55506592f241e521b729155019bd",
        ),
        (
            9,
            "key rotation",
            "0fb862305214246f4e800253de33014af69d59a82cf3819280240291277e53545b282af7e93415edb97bb7895175aec7",
        ),
        (
            10,
            "revoked tokens",
            "e5d83edfdbc5adbc978a3fd0bde54ea8fc39811483c5ada745cb6ccf6c402e99fe15b7459dc79a59e840505ab893db28",
        ),
        (
            11,
            "client introspection",
            "025030e2f29bf5631def58fd4954f26c427d8737abfbaec418fe995866024dc9359e37687fe751d566e0ae3af90cea2c",
        ),
        (
            12,
            "registration management",
            "4b81617b782d2f73a8888043f2c343b4cc03f32e282e1c36d652a7c17d620e59222fa3ebb8be04963c37cebbda2b5cb6",
        ),
        (
            13,
            "audit log",
            "4165d105492c325e4aaf2355fca00141f6ea3ae378ede00f3c54bb7523934d4e115598fdf978d92251cae541c0b8a25d",
        ),
        (
            14,
            "code access token",
            "9e1b76056fcb2312606ff7811876a0b3e0882cedf3d3adc0f453b243f8900e0979fe0c5fbd4d30857b3a139f9980e484",
        ),
        (
            15,
            "audit anchor",
            "82248ed59966ef8667fca8f94a45e72d93ef685546f338b1a0f80420dd2ae1cc4830d6a9889f6abc63ed23652d0b5795",
        ),
    ];

    #[test]
    fn the_ledger_is_what_sqlx_wrote() {
        // Migrations added since, after the ones sqlx applied, are checked only
        // for their shape (every_migration_file_is_listed_in_order).
        for (m, (version, description, checksum)) in MIGRATIONS.iter().zip(WRITTEN_BY_SQLX) {
            assert_eq!(m.version(), *version, "{}", m.file);
            assert_eq!(m.description(), *description, "{}", m.file);
            let hex: String = m.checksum().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, *checksum, "{}", m.file);
        }
    }

    #[test]
    fn migrating_twice_changes_nothing_and_a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        run(&mut conn).unwrap();
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM _sqlx_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, MIGRATIONS.len() as i64);
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (999, 'future', TRUE, x'00', 0)",
            [],
        )
        .unwrap();
        let err = run(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer version"), "{err}");
    }

    #[test]
    fn an_edited_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        conn.execute(
            "UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2",
            [],
        )
        .unwrap();
        let err = run(&mut conn).unwrap_err().to_string();
        assert!(err.contains("0002_clients.sql was changed"), "{err}");
    }
}
