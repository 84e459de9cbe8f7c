//! The scope policy: which scopes a person may grant (consent to), from the
//! groups their identity provider reported and their local roles.
//!
//! Without a policy everyone may grant every scope (the catalog and the
//! client's request still bound what is asked). With one, a person may grant
//! the scopes of `everyone` plus those of each rule whose groups or roles
//! they hold: e.g. only `mcp-admins` may grant `mcp:tools:*` and
//! `mcp:exec:*`. Patterns follow the one wildcard rule
//! ([`tessera_resource::scope::covers`]); a requested scope is narrowed to
//! the part of it the person may grant, so a request for `mcp:tools:*` by
//! someone allowed `mcp:tools:weather` yields `mcp:tools:weather`. The
//! consent page, the code and every refresh apply [`Allowed::narrow`]: what
//! is narrowed away is never shown, granted or issued.

use tessera_resource::scope::{ScopeSet, covers};

/// The groups and roles a person holds, as the store knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memberships {
    /// Local roles (`tessera user role`).
    pub roles: Vec<String>,
    /// Per provider id: the groups it reported at the person's last sign-in.
    pub groups: Vec<(String, Vec<String>)>,
}

impl Memberships {
    fn has_group(&self, provider: Option<&str>, group: &str) -> bool {
        self.groups
            .iter()
            .filter(|(p, _)| provider.is_none_or(|want| want == p))
            .any(|(_, gs)| gs.iter().any(|g| g == group))
    }
}

/// One rule: holders of any of `groups` (from `provider`, or any provider
/// when unset) or of any of `roles` may grant `scopes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub provider: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub scopes: ScopeSet,
}

/// The configured policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopePolicy {
    /// What every signed-in person may grant.
    pub everyone: ScopeSet,
    pub rules: Vec<Rule>,
}

/// What one person may grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// No policy is configured: anything.
    Everything,
    /// Only what these patterns cover.
    Only(ScopeSet),
}

impl ScopePolicy {
    /// The patterns a person with `m` may grant.
    pub fn allowed(&self, m: &Memberships) -> ScopeSet {
        let mut out = self.everyone.clone();
        for rule in &self.rules {
            let holds = rule.roles.iter().any(|r| m.roles.contains(r))
                || (rule.groups.iter()).any(|g| m.has_group(rule.provider.as_deref(), g));
            if holds {
                rule.scopes.iter().for_each(|s| out.insert(s));
            }
        }
        out
    }
}

/// What a person with `m` may grant under `policy` (`None`: no policy).
pub fn allowed_for(policy: Option<&ScopePolicy>, m: &Memberships) -> Allowed {
    match policy {
        None => Allowed::Everything,
        Some(p) => Allowed::Only(p.allowed(m)),
    }
}

impl Allowed {
    /// May the person grant `scope` as it is?
    pub fn permits(&self, scope: &str) -> bool {
        match self {
            Self::Everything => true,
            Self::Only(patterns) => patterns.covers(scope),
        }
    }

    /// The part of `requested` the person may grant: each scope they may
    /// grant whole, else the allowed patterns beneath it (the intersection
    /// of the two wildcard sets), in the order asked.
    pub fn narrow(&self, requested: &ScopeSet) -> ScopeSet {
        let Self::Only(patterns) = self else {
            return requested.clone();
        };
        let mut out = ScopeSet::default();
        for scope in requested.iter() {
            if patterns.covers(scope) {
                out.insert(scope);
            } else {
                patterns
                    .iter()
                    .filter(|p| covers(scope, p))
                    .for_each(|p| out.insert(p));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ScopeSet {
        ScopeSet::parse(v).unwrap()
    }

    fn policy() -> ScopePolicy {
        ScopePolicy {
            everyone: s("mcp:tools:weather mcp:resources:*"),
            rules: vec![
                Rule {
                    provider: None,
                    groups: vec!["mcp-admins".into()],
                    roles: vec!["admin".into()],
                    scopes: s("mcp:tools:* mcp:exec:*"),
                },
                Rule {
                    provider: Some("corp".into()),
                    groups: vec!["mail".into()],
                    roles: vec![],
                    scopes: s("mcp:tools:email:send"),
                },
            ],
        }
    }

    fn member(roles: &[&str], groups: &[(&str, &[&str])]) -> Memberships {
        Memberships {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            groups: groups
                .iter()
                .map(|(p, gs)| (p.to_string(), gs.iter().map(|g| g.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn only_holders_of_a_rule_may_grant_its_scopes() {
        let p = policy();
        let plain = allowed_for(Some(&p), &member(&[], &[("corp", &["staff"])]));
        let admin = allowed_for(Some(&p), &member(&[], &[("corp", &["mcp-admins"])]));
        let local_admin = allowed_for(Some(&p), &member(&["admin"], &[]));
        assert!(plain.permits("mcp:tools:weather"));
        assert!(plain.permits("mcp:resources:docs:read"));
        assert!(!plain.permits("mcp:tools:*"));
        assert!(!plain.permits("mcp:exec:shell:run"));
        assert!(!plain.permits("mcp:tools:email:send"));
        for who in [&admin, &local_admin] {
            assert!(who.permits("mcp:tools:*"));
            assert!(who.permits("mcp:exec:shell:run"));
        }
    }

    #[test]
    fn a_rule_bound_to_a_provider_counts_only_its_groups() {
        let p = policy();
        let corp = allowed_for(Some(&p), &member(&[], &[("corp", &["mail"])]));
        let other = allowed_for(Some(&p), &member(&[], &[("github", &["mail"])]));
        assert!(corp.permits("mcp:tools:email:send"));
        assert!(!other.permits("mcp:tools:email:send"));
        assert!(
            !allowed_for(Some(&p), &member(&["mail"], &[])).permits("mcp:tools:email:send"),
            "a local role is not a provider group"
        );
    }

    #[test]
    fn narrowing_keeps_what_may_be_granted_and_the_allowed_part_of_a_wildcard() {
        let p = policy();
        let plain = allowed_for(Some(&p), &member(&[], &[]));
        let asked = s("mcp:tools:* mcp:exec:shell:run mcp:resources:docs:read");
        assert_eq!(
            plain.narrow(&asked),
            s("mcp:tools:weather mcp:resources:docs:read")
        );
        let admin = allowed_for(Some(&p), &member(&["admin"], &[]));
        assert_eq!(admin.narrow(&asked), asked);
        assert_eq!(Allowed::Everything.narrow(&asked), asked);
        assert!(plain.narrow(&s("mcp:exec:*")).is_empty());
    }

    #[test]
    fn without_a_policy_everything_may_be_granted() {
        let everyone = allowed_for(None, &Memberships::default());
        assert_eq!(everyone, Allowed::Everything);
        assert!(everyone.permits("mcp:exec:*"));
    }
}
