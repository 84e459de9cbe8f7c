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
