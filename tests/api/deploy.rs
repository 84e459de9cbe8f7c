//! The operator files, checked without running them: `deploy/tessera.service`
//! passes `systemd-analyze verify` (where the tool exists), the `Dockerfile`
//! copies everything the build reads from paths that exist and runs as a
//! non-root user, `deploy/compose.yaml` gives both Tessera replicas one
//! database, and `deploy/tessera.toml` loads and trusts the compose proxy.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn deploy_unit_runs_unprivileged_and_hardened() {
    let unit = read("deploy/tessera.service");
    let lines: BTreeSet<&str> = unit.lines().map(str::trim).collect();
    for setting in [
        "ExecStart=/usr/local/bin/tessera serve",
        "User=tessera",
        "DynamicUser=no",
        "EnvironmentFile=-/etc/tessera/tessera.env",
        "StateDirectory=tessera",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "LimitNOFILE=1048576",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            lines.contains(setting),
            "deploy/tessera.service lacks {setting}"
        );
    }
}

#[test]
fn deploy_unit_verifies() {
    // Optional by design: the unit is checked where systemd is installed; a
    // machine without it says so instead of failing, even under TESSERA_CI=1.
    let help = match Command::new("systemd-analyze").arg("--help").output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("deploy_unit_verifies: SKIPPED: no systemd-analyze");
            return;
        }
        Err(e) => panic!("systemd-analyze: {e}"),
    };
    // Don't look for man pages (a minimal system has none), and fail only on
    // this unit's own problems, not on units of the machine it names.
    let mut flags = Vec::new();
    if help.contains("--man[") {
        flags.push("--man=no");
    }
    if help.contains("--recursive-errors=") {
        flags.push("--recursive-errors=no");
    }

    let unit = read("deploy/tessera.service");
    let exec = "ExecStart=/usr/local/bin/tessera ";
    assert_eq!(unit.matches(exec).count(), 1, "one ExecStart, of {exec}…");
    // verify requires ExecStart's binary to exist: use the one just built.
    let real = unit.replace(
        exec,
        &format!("ExecStart=\"{}\" ", env!("CARGO_BIN_EXE_tessera")),
    );
    let dir = tempfile::tempdir().unwrap();
    let verify = |text: &str| {
        let path = dir.path().join("tessera.service");
        std::fs::write(&path, text).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .args(&flags)
            .arg(&path)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Warnings about the machine's own units may appear; only lines
        // naming this unit are about it.
        let about_unit: Vec<String> = text
            .lines()
            .filter(|l| l.contains("tessera.service"))
            .map(str::to_owned)
            .collect();
        (out.status.success(), about_unit, text)
    };

    let (ok, about_unit, all) = verify(&real);
    assert!(
        ok && about_unit.is_empty(),
        "systemd-analyze verify {flags:?} deploy/tessera.service:\n{all}"
    );
    // The check can fail: a misspelt setting is reported against the unit.
    let broken = real.replace("[Service]\n", "[Service]\nNoNewPrivilege=yes\n");
    let (_, about_broken, all) = verify(&broken);
    assert!(
        about_broken.iter().any(|l| l.contains("NoNewPrivilege")),
        "a misspelt setting went unreported:\n{all}"
    );
}

/// The Dockerfile's instructions: continuation lines joined, comments dropped.
fn dockerfile_instructions() -> Vec<String> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    instructions
}

/// `path` (a file or folder, relative to the repository) with `.` and `..`
/// resolved, as `/`-separated text.
fn normalised(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// Paths the build of the `tessera` binary reads besides Rust modules:
/// `include_str!`/`include_bytes!` files, `sqlx::migrate!` folders and askama
/// templates, relative to the repository.
fn build_inputs() -> BTreeSet<String> {
    let root = Path::new(ROOT);
    let mut inputs = BTreeSet::new();
    let mut pending = vec![root.join("src"), root.join("crates")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    pending.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            // The whole file: `#[cfg(test)]` may mark just one item, and a
            // test-only input counted too is a false alarm, not a miss.
            let text = std::fs::read_to_string(&path).unwrap();
            let here = path.parent().unwrap();
            // migrate! and askama read from the crate's folder.
            let krate = here
                .ancestors()
                .find(|d| d.join("Cargo.toml").is_file())
                .unwrap();
            let here = here.strip_prefix(root).unwrap().to_owned();
            let krate = krate.strip_prefix(root).unwrap().to_owned();
            for (macro_name, base) in [
                ("include_str!(", here.clone()),
                ("include_bytes!(", here),
                ("migrate!(", krate.clone()),
                ("template(path = ", krate.join("templates")),
            ] {
                for (i, _) in text.match_indices(macro_name) {
                    // The first string literal: include_str!(concat!("dir/", $f))
                    // names at least its folder.
                    let rest = &text[i + macro_name.len()..];
                    let Some(literal) = rest.split('"').nth(1) else {
                        continue;
                    };
                    inputs.insert(normalised(&base.join(literal)));
                }
            }
        }
    }
    inputs
}

/// Whether `path` (relative, `/`-separated) matches a `.dockerignore`
/// pattern: relative to the root (a leading `/` changes nothing), `*` within
/// a name, `**` across folders, and a folder covering what is inside it.
fn ignored_by(pattern: &str, path: &str) -> bool {
    fn name_matches(pattern: &str, name: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == name,
            Some((head, tail)) => {
                let Some(rest) = name.strip_prefix(head) else {
                    return false;
                };
                (0..=rest.len()).any(|i| rest.is_char_boundary(i) && name_matches(tail, &rest[i..]))
            }
        }
    }
    fn matches(pattern: &[&str], path: &[&str]) -> bool {
        match (pattern.first(), path.first()) {
            (None, _) => true, // a folder's contents are covered by it
            (Some(&"**"), _) => (0..=path.len()).any(|i| matches(&pattern[1..], &path[i..])),
            (Some(p), Some(n)) => name_matches(p, n) && matches(&pattern[1..], &path[1..]),
            (Some(_), None) => false,
        }
    }
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches(&pattern, &path)
}

#[test]
fn dockerfile_copies_what_the_build_reads_and_runs_unprivileged() {
    let instructions = dockerfile_instructions();
    let ignore_text = read(".dockerignore");
    let ignored: Vec<&str> = ignore_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .collect();
    let root = Path::new(ROOT);

    let mut copied = Vec::new();
    let mut final_stage = Vec::new();
    for ins in &instructions {
        let (keyword, args) = ins.split_once(' ').unwrap_or((ins, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" {
            final_stage.clear();
        }
        final_stage.push((keyword.clone(), args.trim().to_owned()));
        if keyword != "COPY" && keyword != "ADD" {
            continue;
        }
        let words: Vec<String> = if args.trim_start().starts_with('[') {
            serde_json::from_str(args.trim()).unwrap()
        } else {
            args.split_whitespace().map(str::to_owned).collect()
        };
        if words.iter().any(|w| w.starts_with("--from")) {
            continue; // from another stage, not from the repository
        }
        let paths: Vec<&String> = words.iter().filter(|w| !w.starts_with("--")).collect();
        let (_, sources) = paths.split_last().expect("COPY names a destination");
        assert!(!sources.is_empty(), "{ins}: no source");
        for source in sources {
            let source = source.trim_end_matches('/');
            assert!(
                root.join(source).exists(),
                "the Dockerfile copies {source}, which the repository does not have"
            );
            for pattern in &ignored {
                assert!(
                    !ignored_by(pattern, source),
                    "the Dockerfile copies {source}, which .dockerignore leaves out ({pattern})"
                );
            }
            copied.push(source.to_owned());
        }
    }

    // The build reads nothing outside what is copied.
    for needed in ["Cargo.toml", "Cargo.lock", "src", "crates"] {
        assert!(
            copied.iter().any(|c| c == needed),
            "the Dockerfile does not copy {needed}"
        );
    }
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let mut inputs = build_inputs();
    // Cargo refuses a manifest whose declared target file is missing, even
    // when it builds another target.
    for (section, folder) in [
        ("bench", "benches"),
        ("test", "tests"),
        ("example", "examples"),
        ("bin", "src/bin"),
    ] {
        for target in manifest
            .get(section)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let path = match target.get("path").and_then(|p| p.as_str()) {
                Some(p) => p.to_owned(),
                None => format!("{folder}/{}.rs", target["name"].as_str().unwrap()),
            };
            inputs.insert(path);
        }
    }
    assert!(
        inputs.iter().any(|i| i.starts_with("migrations/")),
        "found no build inputs: {inputs:?}"
    );
    for input in &inputs {
        assert!(
            copied
                .iter()
                .any(|c| input == c || input.starts_with(&format!("{c}/"))),
            "the build reads {input}, which the Dockerfile does not copy (it copies {copied:?})"
        );
        for pattern in &ignored {
            assert!(
                !ignored_by(pattern, input),
                "the build reads {input}, which .dockerignore leaves out ({pattern})"
            );
        }
    }

    // The image runs the binary as a user of its own, not root.
    let user = final_stage
        .iter()
        .rev()
        .find(|(k, _)| k == "USER")
        .map(|(_, v)| v.as_str())
        .expect("the final stage sets USER");
    let name = user.split(':').next().unwrap();
    assert!(
        !matches!(name, "" | "root" | "0"),
        "the final stage runs as {user}"
    );
    let entrypoint = final_stage.iter().find(|(k, _)| k == "ENTRYPOINT");
    assert!(
        entrypoint.is_some_and(|(_, v)| v.contains("tessera")),
        "the final stage's ENTRYPOINT is tessera"
    );
}

/// A top-level block of `compose.yaml` (`services:`, an `x-` anchor block):
/// its lines, up to the next line as little indented as its key.
fn yaml_block<'a>(lines: &[&'a str], key_line: usize) -> Vec<&'a str> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let own = indent(lines[key_line]);
    lines[key_line + 1..]
        .iter()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || indent(l) > own)
        .copied()
        .collect()
}

/// The value of `name` set in `block` (`NAME: value` or `- NAME=value`).
fn yaml_env(block: &[&str], name: &str) -> Option<String> {
    block.iter().find_map(|l| {
        let l = l.trim().trim_start_matches("- ");
        let value = l
            .strip_prefix(&format!("{name}:"))
            .or_else(|| l.strip_prefix(&format!("{name}=")))?;
        Some(value.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

#[test]
fn compose_replicas_share_one_database() {
    let text = read("deploy/compose.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let at = |key: &str| lines.iter().position(|l| l.trim_end() == key);
    let services = yaml_block(&lines, at("services:").expect("compose.yaml has services"));
    let top = |l: &&str| l.len() - l.trim_start().len() == 2 && l.trim_end().ends_with(':');

    let mut urls = Vec::new();
    for (i, line) in services.iter().enumerate() {
        let name = line.trim().trim_end_matches(':');
        if !top(line) || !name.starts_with("tessera") {
            continue;
        }
        let block = yaml_block(&services, i);
        // Its own setting, or that of the block it merges (`<<: *anchor`).
        let url = yaml_env(&block, "TESSERA_DATABASE_URL").or_else(|| {
            let anchor = block.iter().find_map(|l| l.trim().strip_prefix("<<: *"))?;
            let anchored = lines
                .iter()
                .position(|l| l.trim_end().ends_with(&format!("&{anchor}")))
                .unwrap_or_else(|| panic!("no &{anchor} block"));
            yaml_env(&yaml_block(&lines, anchored), "TESSERA_DATABASE_URL")
        });
        urls.push((
            name.to_owned(),
            url.unwrap_or_else(|| panic!("{name} has no TESSERA_DATABASE_URL")),
        ));
    }
    assert!(
        urls.len() >= 2,
        "compose.yaml runs two Tessera services: {urls:?}"
    );
    assert!(
        urls.iter().all(|(_, u)| *u == urls[0].1),
        "the replicas use different databases: {urls:?}"
    );
    let url = &urls[0].1;
    assert!(
        url.starts_with("postgres://"),
        "the replicas share PostgreSQL, not {url}"
    );
    let host = url
        .rsplit('@')
        .next()
        .unwrap()
        .split([':', '/'])
        .next()
        .unwrap();
    assert!(
        services
            .iter()
            .any(|l| top(l) && l.trim() == format!("{host}:")),
        "the database host {host} is a service of compose.yaml"
    );
}

#[test]
fn deploy_config_loads_and_trusts_the_compose_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let config = Path::new(ROOT).join("deploy/tessera.toml");
    let db: PathBuf = dir.path().join("check.db");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env_remove("TESSERA_CONFIG")
        .env_remove("TESSERA_DATABASE_URL")
        .env_remove("TESSERA_KEY_ENCRYPTION_KEY")
        .arg("--config")
        .arg(&config)
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .arg("init")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy/tessera.toml does not load: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Per-IP limits behind the proxy need its fixed address in trusted_proxies.
    let settings: toml::Table = read("deploy/tessera.toml").parse().unwrap();
    let trusted: Vec<&str> = settings["rate_limits"]["trusted_proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let compose = read("deploy/compose.yaml");
    let proxy_ips: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ipv4_address:"))
        .map(str::trim)
        .collect();
    assert!(
        !proxy_ips.is_empty(),
        "compose.yaml gives the proxy a fixed address"
    );
    for ip in proxy_ips {
        assert!(
            trusted.contains(&ip),
            "trusted_proxies {trusted:?} lacks the proxy's {ip}"
        );
    }
}
