//! Configuration rules, case by case.

use super::*;

fn load(text: &str) -> anyhow::Result<Config> {
    Config::from_toml(text, "test.toml", &Overrides::default())
}

#[test]
fn the_shipped_example_config_loads() {
    let c = load(EXAMPLE_CONFIG).unwrap();
    assert_eq!(c.issuer.as_str(), "http://127.0.0.1:8080");
    assert!(c.resources.default_resource().is_some());
    assert_eq!(c.tokens.access_token_ttl, Duration::from_secs(900));
}

#[test]
fn audit_retention_defaults_to_ninety_days_and_can_be_off() {
    let day = Duration::from_secs(86_400);
    assert_eq!(load("").unwrap().audit.retention, Some(90 * day));
    let year = load("[audit]\nretention = \"365d\"").unwrap();
    assert_eq!(year.audit.retention, Some(365 * day));
    let off = load("[audit]\nretention = \"off\"").unwrap();
    assert_eq!(off.audit.retention, None);
}

#[test]
fn the_connection_limit_defaults_to_ten_thousand() {
    assert_eq!(load("").unwrap().max_connections, 10_000);
    assert_eq!(load("max_connections = 64").unwrap().max_connections, 64);
}

#[test]
fn bad_configs_are_refused_with_one_line() {
    let cases = [
        ("bogus = 1", "unknown field"),
        ("[tokens]\naccess_token_ttl = \"forever\"", "duration"),
        ("issuer = \"http://auth.example.com\"", "non-loopback"),
        ("issuer = \"https://auth.example.com/\"", "end with '/'"),
        ("issuer = \"https://auth.example.com?x=1\"", "query"),
        ("listen = \"nope\"", "IP:PORT"),
        ("threads = 0", "between 1 and 1024"),
        ("max_connections = 0", "between 1 and 1000000"),
        ("[[resources]]\nuri = \"not-a-url\"", "absolute"),
        (
            "[[resources]]\nuri = \"https://x.example\"\nscopes = [\"mcp:tools:x\"]",
            "not in the scope catalog",
        ),
        ("[[scopes]]\nname = \"mcp:tools\"", "grammar"),
        ("[signing]\nalgorithm = \"HS256\"", "ES256"),
        ("[audit]\nretention = \"1h\"", "between 1day and 100years"),
        ("[audit]\nretain = \"30d\"", "unknown field"),
    ];
    for (text, want) in cases {
        let err = format!("{:#}", load(text).unwrap_err());
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(
            !err.contains('\n'),
            "{text:?} gave a multi-line error: {err}"
        );
    }
}

#[test]
fn https_issuers_may_have_a_path() {
    let i = Issuer::parse("https://auth.example.com/tenant").unwrap();
    assert_eq!(i.path(), "/tenant");
    assert_eq!(i.origin(), "https://auth.example.com");
    assert_eq!(
        i.endpoint("/token"),
        "https://auth.example.com/tenant/token"
    );
    assert_eq!(Issuer::parse("http://[::1]:8080").unwrap().path(), "");
}

#[test]
fn the_audit_chain_key_comes_from_the_environment_the_file_or_its_own_file() {
    let key = "k".repeat(32);
    assert!(
        load("").unwrap().audit_chain_key.is_none(),
        "default: kept in the database"
    );
    let inline = load(&format!("[security]\naudit_chain_key = \"{key}\"")).unwrap();
    assert_eq!(inline.audit_chain_key.unwrap().expose(), key);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    let file = format!("[security]\naudit_chain_key_file = \"{}\"", path.display());
    assert_eq!(load(&file).unwrap().audit_chain_key.unwrap().expose(), key);
    let env = Overrides {
        audit_chain_key: Some("e".repeat(40)),
        ..Overrides::default()
    };
    let from_env = Config::from_toml(&file, "test.toml", &env).unwrap();
    assert_eq!(from_env.audit_chain_key.unwrap().expose(), "e".repeat(40));
    for (text, why) in [
        (
            "[security]\naudit_chain_key = \"short\"".to_owned(),
            "at least 32",
        ),
        (format!("{file}\naudit_chain_key = \"{key}\""), "not both"),
        (
            "[security]\naudit_chain_key_file = \"/nonexistent/k\"".to_owned(),
            "cannot read",
        ),
    ] {
        let err = format!("{:#}", load(&text).unwrap_err());
        assert!(err.contains(why), "{text}: {err}");
    }
}

#[test]
fn the_audit_head_is_exported_every_five_minutes_unless_off() {
    let c = load("").unwrap();
    assert_eq!(c.audit.head_interval, Some(Duration::from_secs(300)));
    assert_eq!(c.audit.head_file, None);
    let off = load("[audit]\nhead_interval = \"off\"\nhead_file = \"/tmp/h\"").unwrap();
    assert_eq!(off.audit.head_interval, None);
    assert_eq!(
        off.audit.head_file,
        Some(std::path::PathBuf::from("/tmp/h"))
    );
}

#[test]
fn refresh_families_live_ninety_days_by_default() {
    let c = load("").unwrap();
    let day = Duration::from_secs(86_400);
    assert_eq!(c.tokens.refresh_token_max_lifetime, 90 * day);
    let short = load("[tokens]\nrefresh_token_max_lifetime = \"7d\"").unwrap();
    assert_eq!(short.tokens.refresh_token_max_lifetime, 7 * day);
}
