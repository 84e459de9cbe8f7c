//! ARCHITECTURE.md's invariants, checked by reading the sources: a claim no
//! test guards drifts. Each test names the invariant it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir`, with its text up to its first `#[cfg(test)]`
/// and without comment lines: the code that ships.
fn shipped_sources(dir: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![Path::new(ROOT).join(dir)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let shipped = text.split("#[cfg(test)]").next().unwrap_or_default();
                let code: Vec<&str> = shipped
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                files.push((path, code.join("\n")));
            }
        }
    }
    files.sort();
    files
}

/// The top-level module of a file under `src/` (`src/http/token/mod.rs` → `http`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(Path::new(ROOT).join("src")).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The crate's own modules a piece of code names (`crate::store::…` → `store`).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let before = code[..i].chars().last();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

/// The layers of the issuer, and what each may import. Dependencies point
/// down: a module may import only the modules listed for it, and the table
/// itself has no cycle (checked below), so neither do the imports.
const ALLOWED: &[(&str, &[&str])] = &[
    ("main", &["cli"]),
    ("lib", &["http", "state"]),
    (
        "cli",
        &[
            "access_token",
            "audit",
            "clients",
            "config",
            "demo",
            "keys",
            "oauth",
            "passwords",
            "secrets",
            "server",
            "state",
            "store",
            "telemetry",
            "users",
        ],
    ),
    ("demo", &["server"]),
    (
        "server",
        &[
            "audit",
            "config",
            "http",
            "keys",
            "state",
            "store",
            "telemetry",
        ],
    ),
    (
        "http",
        &[
            "access_token",
            "assertions",
            "audit",
            "clients",
            "config",
            "error",
            "keys",
            "limits",
            "metadata_documents",
            "oauth",
            "passwords",
            "secrets",
            "state",
            "store",
            "telemetry",
            "upstream",
            "users",
        ],
    ),
    (
        "state",
        &[
            "access_token",
            "assertions",
            "audit",
            "config",
            "keys",
            "limits",
            "metadata_documents",
            "passwords",
            "secrets",
            "store",
            "telemetry",
            "upstream",
        ],
    ),
    (
        "access_token",
        &["config", "error", "keys", "oauth", "store"],
    ),
    ("audit", &["secrets", "store", "telemetry"]),
    ("clients", &["oauth", "secrets", "store"]),
    (
        "users",
        &["config", "oauth", "passwords", "secrets", "store"],
    ),
    ("upstream", &["config"]),
    ("limits", &["config", "oauth", "store"]),
    ("metadata_documents", &["oauth", "store"]),
    ("assertions", &["metadata_documents", "oauth"]),
    ("config", &["keys", "oauth", "store"]),
    ("keys", &["store"]),
    ("store", &["error", "oauth"]),
    ("passwords", &["secrets"]),
    ("telemetry", &[]),
    ("secrets", &[]),
    ("oauth", &["error"]),
    ("error", &[]),
];

fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect()
}

#[test]
fn imports_point_down_only() {
    let allowed = allowed();
    let mut wrong = Vec::new();
    for (path, code) in shipped_sources("src") {
        let module = module_of(&path);
        let Some(may) = allowed.get(module.as_str()) else {
            wrong.push(format!(
                "{}: module '{module}' is not in the layer table",
                path.display()
            ));
            continue;
        };
        for used in crate_paths(&code) {
            if used != module && !may.contains(used.as_str()) {
                wrong.push(format!("{}: {module} imports {used}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways imports:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_table_has_no_cycle() {
    let allowed = allowed();
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(m) {
            return;
        }
        assert!(!path.contains(&m), "cycle: {} -> {m}", path.join(" -> "));
        path.push(m);
        for dep in graph.get(m).into_iter().flatten() {
            visit(dep, graph, path, done);
        }
        path.pop();
        done.insert(m);
    }
    let mut done = BTreeSet::new();
    for m in allowed.keys() {
        visit(m, &allowed, &mut Vec::new(), &mut done);
    }
}

/// `names` found in `code` as whole paths (`axum::`, `rusqlite::`…).
fn mentions<'a>(code: &str, names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|name| {
            code.match_indices(name).any(|(i, _)| {
                let before = code[..i].chars().last();
                !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            })
        })
        .collect()
}

#[test]
fn the_grant_core_touches_no_http_database_runtime_or_clock() {
    let forbidden = [
        "axum::",
        "hyper::",
        "tower::",
        "rusqlite::",
        "tokio::",
        "reqwest::",
        "tracing::",
        "SystemClock",
        "now_utc",
        "SystemTime",
    ];
    for (path, code) in shipped_sources("src/oauth") {
        let found = mentions(&code, &forbidden);
        assert!(found.is_empty(), "{}: uses {found:?}", path.display());
    }
}

#[test]
fn only_the_backends_know_their_drivers_and_sql() {
    let backends = [
        Path::new(ROOT).join("src/store/sqlite"),
        Path::new(ROOT).join("src/store/postgres"),
    ];
    for (path, code) in shipped_sources("src") {
        if backends.iter().any(|b| path.starts_with(b)) {
            continue;
        }
        let found = mentions(&code, &["rusqlite::", "sqlx::"]);
        assert!(found.is_empty(), "{}: uses {found:?}", path.display());
        for sql in [
            "SELECT ",
            "INSERT INTO",
            "UPDATE ",
            "DELETE FROM",
            "BEGIN IMMEDIATE",
            "VACUUM",
        ] {
            assert!(!code.contains(sql), "{}: holds SQL ({sql})", path.display());
        }
    }
}

#[test]
fn only_the_clock_reads_the_wall_clock() {
    for dir in ["src", "crates/tessera-resource/src"] {
        for (path, code) in shipped_sources(dir) {
            if path.ends_with("crates/tessera-resource/src/clock.rs") {
                continue;
            }
            let found = mentions(&code, &["now_utc", "SystemTime::now", "Utc::now"]);
            assert!(
                found.is_empty(),
                "{}: reads the wall clock ({found:?})",
                path.display()
            );
        }
    }
}

#[test]
fn key_and_secret_cryptography_lives_in_keys_secrets_and_passwords() {
    // Digests are protocol rules elsewhere (PKCE S256, the audit chain, the
    // migration ledger); keyed hashes, signatures, sealing and password
    // hashing are not.
    let keyed = [
        "hmac::",
        "aead::",
        "signature::",
        "argon2::",
        "rsa::",
        "min_jwt::",
    ];
    let homes = [
        "src/keys",
        "src/secrets.rs",
        "src/passwords.rs",
        "src/oauth/pkce.rs",
    ];
    for (path, code) in shipped_sources("src") {
        if homes
            .iter()
            .any(|h| path.starts_with(Path::new(ROOT).join(h)))
        {
            continue;
        }
        let found = mentions(&code, &keyed);
        assert!(found.is_empty(), "{}: uses {found:?}", path.display());
    }
}

#[test]
fn the_kit_is_its_own_crate_and_never_reaches_into_the_issuer() {
    let manifest =
        std::fs::read_to_string(Path::new(ROOT).join("crates/tessera-resource/Cargo.toml"))
            .unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for heavy in [
        "sqlx",
        "rusqlite",
        "argon2",
        "rmcp",
        "clap",
        "mimalloc",
        "rsa",
        "tessera-auth",
    ] {
        assert!(
            !deps.lines().any(|l| l.starts_with(&format!("{heavy} "))),
            "the kit depends on {heavy}"
        );
    }
    for (path, code) in shipped_sources("crates/tessera-resource/src") {
        // The log target `"tessera::audit"` is a name, not a path.
        let code = code.replace("\"tessera::audit\"", "");
        assert!(
            !code.contains("tessera::"),
            "{}: names the issuer crate",
            path.display()
        );
    }
}

#[test]
fn the_command_line_never_panics_on_a_closed_pipe() {
    // `println!` panics when stdout's reader has gone (`tessera … | head`);
    // the CLI writes through `say!`, whose error ends the command quietly.
    for (path, code) in shipped_sources("src") {
        let found = mentions(&code, &["println!", "print!"]);
        assert!(
            found.is_empty(),
            "{}: prints with {found:?}; use say! (src/cli/mod.rs)",
            path.display()
        );
    }
}
