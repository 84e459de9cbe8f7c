//! Scope tokens, scope sets and the one wildcard rule.
//!
//! RFC 6749 §3.3: a scope is a space-delimited list of case-sensitive tokens of
//! `NQCHAR` (`%x21 / %x23-5B / %x5D-7E`). Tokens in the `mcp:` namespace follow
//! the grammar of the MCP flows document:
//!
//! ```text
//! mcp:tools:NAME[:ACTION]        mcp:tools:*        mcp:tools:NAME:*
//! mcp:resources:NAME[:read|write] mcp:resources:*   mcp:resources:NAME:*
//! mcp:exec:KIND:NAME             mcp:exec:*         mcp:exec:KIND:*
//! ```
//!
//! A token ending in `:*` *covers* every token beneath its prefix, at any depth:
//! `mcp:tools:*` covers `mcp:tools:calendar:read` and `mcp:tools:calendar:*`.
//! [`covers`] is the only implementation of that rule: issuance, consent and the
//! resource-server kit all call it.

use std::fmt;

/// Why a scope token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError(pub String);

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Does a grant of `granted` permit `requested`?
pub fn covers(granted: &str, requested: &str) -> bool {
    if granted == requested {
        return true;
    }
    match granted.strip_suffix('*') {
        Some(prefix) if prefix.ends_with(':') => {
            requested.len() > prefix.len() && requested.starts_with(prefix)
        }
        _ => false,
    }
}

fn is_nqchar(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Check one scope token: `NQCHAR`s, and the MCP grammar inside `mcp:`.
pub fn validate_token(token: &str) -> Result<(), ScopeError> {
    if token.is_empty() || !token.chars().all(is_nqchar) {
        return Err(ScopeError(format!("'{token}' is not a valid scope token")));
    }
    let Some(rest) = token.strip_prefix("mcp:") else {
        return Ok(());
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let wildcard_tail = parts.last() == Some(&"*");
    let body = if wildcard_tail {
        &parts[..parts.len() - 1]
    } else {
        &parts[..]
    };
    let names_ok = body.iter().skip(1).all(|p| is_name(p));
    let shape_ok = match (body.first().copied(), body.len(), wildcard_tail) {
        (Some("tools"), 1 | 2, true) | (Some("tools"), 2 | 3, false) => true,
        (Some("resources"), 1 | 2, true) | (Some("resources"), 2, false) => true,
        (Some("resources"), 3, false) => matches!(body[2], "read" | "write"),
        (Some("exec"), 1 | 2, true) | (Some("exec"), 3, false) => true,
        _ => false,
    };
    if shape_ok && names_ok {
        Ok(())
    } else {
        Err(ScopeError(format!(
            "'{token}' does not follow the MCP scope grammar \
             (mcp:tools:NAME[:ACTION], mcp:resources:NAME[:read|write], mcp:exec:KIND:NAME, or a ':*' wildcard)"
        )))
    }
}

/// An ordered set of distinct, valid scope tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    /// Parse a space-delimited `scope` parameter (RFC 6749 §3.3). Repeated
    /// tokens collapse; an empty string is an empty set.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        Self::from_tokens(s.split(' ').filter(|t| !t.is_empty()))
    }

    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        let mut set = Self::default();
        for token in tokens {
            validate_token(token)?;
            set.insert(token);
        }
        Ok(set)
    }

    pub fn insert(&mut self, token: &str) {
        if !self.contains(token) {
            self.0.push(token.to_owned());
        }
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Does any token of this set cover `token` (see [`covers`])?
    pub fn covers(&self, token: &str) -> bool {
        self.0.iter().any(|g| covers(g, token))
    }

    /// Does this set cover every token of `other`?
    pub fn covers_all(&self, other: &ScopeSet) -> bool {
        other.iter().all(|t| self.covers(t))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for ScopeSet {
    /// The space-delimited wire form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// Serialized in its wire form, a space-delimited string.
impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read from its wire form; an invalid token is an error.
impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_tokens_cover_only_themselves() {
        assert!(covers("mcp:tools:weather", "mcp:tools:weather"));
        assert!(!covers("mcp:tools:weather", "mcp:tools:weather:read"));
        assert!(!covers("mcp:tools:calendar", "mcp:tools:calendar:read"));
    }

    #[test]
    fn a_wildcard_covers_everything_beneath_it_at_any_depth() {
        assert!(covers("mcp:tools:*", "mcp:tools:weather"));
        assert!(covers("mcp:tools:*", "mcp:tools:calendar:read"));
        assert!(covers("mcp:tools:*", "mcp:tools:calendar:*"));
        assert!(covers("mcp:tools:calendar:*", "mcp:tools:calendar:read"));
        assert!(covers(
            "mcp:resources:*",
            "mcp:resources:customer-data:write"
        ));
    }

    #[test]
    fn a_wildcard_does_not_cross_namespaces_or_climb() {
        assert!(!covers("mcp:tools:*", "mcp:resources:customer-data"));
        assert!(!covers("mcp:tools:calendar:*", "mcp:tools:email:send"));
        assert!(!covers("mcp:tools:calendar:*", "mcp:tools:*"));
        assert!(!covers("mcp:tools:calendar:*", "mcp:tools:calendar"));
        assert!(!covers("mcp:tools:*", "mcp:toolsx:a"));
        // A `*` that is not a whole final segment is not a wildcard.
        assert!(!covers("mcp:tools:cal*", "mcp:tools:calendar"));
    }

    #[test]
    fn the_flows_document_scopes_are_valid() {
        for s in [
            "mcp:resources:customer-data:read",
            "mcp:resources:customer-data:write",
            "mcp:resources:*",
            "mcp:resources:store-data",
            "mcp:tools:weather",
            "mcp:tools:calendar:read",
            "mcp:tools:email:send",
            "mcp:tools:*",
            "mcp:tools:inventory:check",
            "mcp:exec:workflows:risk-assessment",
            "mcp:exec:functions:data-analysis",
            "mcp:tools:calendar:*",
            "offline_access",
        ] {
            assert_eq!(validate_token(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn malformed_scopes_are_refused() {
        for s in [
            "",
            "mcp:",
            "mcp:tools",
            "mcp:tools:",
            "mcp:tools:a:b:c",
            "mcp:resources:data:delete",
            "mcp:exec:workflows",
            "mcp:other:thing",
            "mcp:tools:*:read",
            "mcp:tools:a b",
            "quote\"d",
            "back\\slash",
            "caf\u{e9}",
        ] {
            assert!(validate_token(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn a_scope_parameter_parses_into_distinct_tokens_in_order() {
        let set = ScopeSet::parse("mcp:tools:weather  mcp:tools:*  mcp:tools:weather").unwrap();
        assert_eq!(set.to_string(), "mcp:tools:weather mcp:tools:*");
        assert!(ScopeSet::parse("").unwrap().is_empty());
        assert!(ScopeSet::parse("mcp:tools:weather mcp:nope").is_err());
    }

    #[test]
    fn a_set_travels_as_its_wire_form() {
        let set = ScopeSet::parse("mcp:tools:weather mcp:tools:*").unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, "\"mcp:tools:weather mcp:tools:*\"");
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
        assert!(serde_json::from_str::<ScopeSet>("\"mcp:nope\"").is_err());
    }

    #[test]
    fn a_set_covers_what_any_member_covers() {
        let granted = ScopeSet::parse("mcp:tools:calendar:* mcp:resources:store-data").unwrap();
        let wanted = ScopeSet::parse("mcp:tools:calendar:read mcp:resources:store-data").unwrap();
        assert!(granted.covers_all(&wanted));
        assert!(!granted.covers("mcp:tools:email:send"));
    }
}

/// Property tests: any `scope` string parses or is refused without a panic,
/// and a parsed set prints to a string that parses back to the same set.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Tokens of the MCP grammar, wildcards included, and plain NQCHAR tokens.
    fn token() -> impl Strategy<Value = String> {
        let name = "[A-Za-z0-9._-]{1,8}";
        prop_oneof![
            (name, proptest::option::of("[a-z]{1,6}")).prop_map(|(n, a)| match a {
                Some(a) => format!("mcp:tools:{n}:{a}"),
                None => format!("mcp:tools:{n}"),
            }),
            (
                name,
                prop_oneof![Just(""), Just(":read"), Just(":write"), Just(":*")]
            )
                .prop_map(|(n, tail)| format!("mcp:resources:{n}{tail}")),
            (name, name).prop_map(|(k, n)| format!("mcp:exec:{k}:{n}")),
            prop_oneof![
                Just("mcp:tools:*"),
                Just("mcp:resources:*"),
                Just("mcp:exec:*")
            ]
            .prop_map(str::to_owned),
            "[!#-\\[\\]-~]{1,16}".prop_filter("outside mcp:", |t| !t.starts_with("mcp:")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_string_parses_or_is_refused_without_a_panic(s in vec(any::<char>(), 0..80).prop_map(String::from_iter)) {
            if let Ok(set) = ScopeSet::parse(&s) {
                prop_assert_eq!(ScopeSet::parse(&set.to_string()), Ok(set));
            }
        }

        #[test]
        fn parse_print_parse_is_stable(tokens in vec(token(), 0..8), spaces in 1usize..3) {
            let wire = tokens.join(&" ".repeat(spaces));
            let set = ScopeSet::parse(&wire).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let printed = set.to_string();
            let again = ScopeSet::parse(&printed);
            prop_assert_eq!(again.as_ref().map(ToString::to_string), Ok(printed));
            prop_assert_eq!(again, Ok(set.clone()));
            prop_assert!(tokens.iter().all(|t| set.contains(t) && set.covers(t)));
        }

        #[test]
        fn a_wildcard_covers_only_tokens_beneath_it(granted in token(), requested in token()) {
            if covers(&granted, &requested) && granted != requested {
                let prefix = granted.strip_suffix('*').unwrap_or(&granted);
                prop_assert!(prefix.ends_with(':') && requested.starts_with(prefix));
            }
        }
    }
}
