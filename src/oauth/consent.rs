//! Consent: what a person is asked given what they allowed before, where an
//! authorization request goes next, and what their answer grants (RFC 6749
//! §4.1.1–§4.1.2, OAuth 2.1 §4.1.1; RFC 9700 §4.15 for asking again).
//!
//! Remembered consent is per person, client and resource ([`Remembered`]):
//! allowing a scope at one MCP server says nothing about another. A person
//! is asked only for what is new: scopes their remembered consent covers (by
//! the one wildcard rule) at every resource of the request are shown as
//! already allowed, unless the client sent `prompt=consent`, which asks for
//! everything again. Allowing merges the chosen scopes into what is
//! remembered at each resource of the request, so a step-up after
//! `insufficient_scope` extends the same grant; the code carries what was
//! chosen plus what was already allowed.

use tessera_resource::scope::ScopeSet;

use crate::oauth::authorize::AuthorizationRequest;

/// What a person allowed a client before, resource by resource.
#[derive(Debug, Clone, Default)]
pub struct Remembered {
    at: Vec<(String, ScopeSet)>,
}

impl Remembered {
    /// From the stored rows (resource URI, scopes); rows that do not parse
    /// (they were validated when saved) count as nothing allowed.
    pub fn new(rows: Vec<(String, String)>) -> Self {
        let at = rows
            .into_iter()
            .map(|(resource, scope)| (resource, ScopeSet::parse(&scope).unwrap_or_default()))
            .collect();
        Self { at }
    }

    fn at(&self, resource: &str) -> Option<&ScopeSet> {
        self.at.iter().find(|(r, _)| r == resource).map(|(_, s)| s)
    }

    /// What is allowed at every one of `resources`: a scope counts only if
    /// each resource's consent covers it. (Covering scopes of one token are
    /// nested wildcards, so the most specific of them is in the result and
    /// covers it there too.)
    pub fn for_resources(&self, resources: &[String]) -> ScopeSet {
        let sets: Option<Vec<&ScopeSet>> = resources.iter().map(|r| self.at(r)).collect();
        let mut allowed = ScopeSet::default();
        let Some(sets) = sets.filter(|s| !s.is_empty()) else {
            return allowed;
        };
        for scope in sets.iter().flat_map(|s| s.iter()) {
            if sets.iter().all(|s| s.covers(scope)) {
                allowed.insert(scope);
            }
        }
        allowed
    }

    /// What to store once `granted` is allowed for `resources`: each
    /// resource's remembered scopes plus `granted`.
    pub fn merged(&self, resources: &[String], granted: &ScopeSet) -> Vec<(String, String)> {
        resources
            .iter()
            .map(|r| {
                let mut scope = self.at(r).cloned().unwrap_or_default();
                granted.iter().for_each(|s| scope.insert(s));
                (r.clone(), scope.to_string())
            })
            .collect()
    }
}

/// The scopes of a request, split by what remembered consent covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// Covered by remembered consent: not asked again.
    pub already: ScopeSet,
    /// To be asked.
    pub new: ScopeSet,
    /// Nothing was remembered: the whole request is new to the person.
    pub first: bool,
}

/// Split `asked` by `remembered`; with `ask_all` (`prompt=consent`) nothing
/// counts as already allowed.
pub fn split(asked: &ScopeSet, remembered: &ScopeSet, ask_all: bool) -> Asked {
    let mut already = ScopeSet::default();
    let mut new = ScopeSet::default();
    for scope in asked.iter() {
        if !ask_all && remembered.covers(scope) {
            already.insert(scope);
        } else {
            new.insert(scope);
        }
    }
    Asked {
        already,
        new,
        first: remembered.is_empty(),
    }
}

/// Where an authorization request goes next, for a person `P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<P> {
    /// Nobody is signed in.
    SignIn,
    /// Ask the person (the consent page).
    Consent(P, Asked),
    /// Everything asked is allowed: answer with a code for the person.
    Code(P, ScopeSet),
}

/// The next step for `request`, given who is signed in (if anyone) and what
/// they allowed this client before.
pub fn next_step<P>(
    person: Option<P>,
    request: &AuthorizationRequest,
    remembered: &ScopeSet,
) -> Next<P> {
    let Some(person) = person else {
        return Next::SignIn;
    };
    let asked = split(&request.scope, remembered, request.force_consent);
    if asked.new.is_empty() {
        Next::Code(person, request.scope.clone())
    } else {
        Next::Consent(person, asked)
    }
}

/// What the person's answer on the consent page grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Denied, or nothing left to grant: `access_denied`.
    Denied,
    Allowed {
        /// The code's scope: what was ticked plus what was already allowed,
        /// in the order the client asked (remembered with
        /// [`Remembered::merged`]).
        granted: ScopeSet,
    },
}

/// The person `allow`ed (or not) with the boxes `ticked`; only scopes of the
/// request count, whatever the form carried.
pub fn answer(
    request: &AuthorizationRequest,
    remembered: &ScopeSet,
    allow: bool,
    ticked: &[String],
) -> Answer {
    let asked = split(&request.scope, remembered, request.force_consent);
    let mut granted = ScopeSet::default();
    for scope in request.scope.iter() {
        if asked.already.contains(scope) || ticked.iter().any(|t| t == scope) {
            granted.insert(scope);
        }
    }
    if !allow || granted.is_empty() {
        return Answer::Denied;
    }
    Answer::Allowed { granted }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> ScopeSet {
        ScopeSet::parse(v).unwrap()
    }

    fn request(scope: &str, force_consent: bool) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            redirect_uri_sent: true,
            state: None,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scope: s(scope),
            resources: vec!["http://127.0.0.1:3000/mcp".into()],
            force_consent,
        }
    }

    #[test]
    fn what_remembered_consent_covers_is_not_asked_again() {
        // (asked, remembered, prompt=consent, already, new, first)
        let cases = [
            (
                "mcp:tools:weather",
                "",
                false,
                "",
                "mcp:tools:weather",
                true,
            ),
            (
                "mcp:tools:weather mcp:tools:email:send",
                "mcp:tools:weather",
                false,
                "mcp:tools:weather",
                "mcp:tools:email:send",
                false,
            ),
            (
                "mcp:tools:calendar:read",
                "mcp:tools:*",
                false,
                "mcp:tools:calendar:read",
                "",
                false,
            ),
            (
                "mcp:tools:*",
                "mcp:tools:calendar:read",
                false,
                "",
                "mcp:tools:*",
                false,
            ),
            (
                "mcp:tools:weather",
                "mcp:tools:weather",
                true,
                "",
                "mcp:tools:weather",
                false,
            ),
        ];
        for (asked, remembered, all, already, new, first) in cases {
            let got = split(&s(asked), &s(remembered), all);
            assert_eq!(
                got,
                Asked {
                    already: s(already),
                    new: s(new),
                    first
                },
                "{asked} / {remembered}"
            );
        }
    }

    #[test]
    fn a_signed_in_person_whose_consent_covers_the_request_gets_a_code() {
        let req = request("mcp:tools:weather", false);
        assert_eq!(
            next_step(None::<&str>, &req, &s("mcp:tools:*")),
            Next::SignIn
        );
        assert_eq!(
            next_step(Some("alice"), &req, &s("mcp:tools:*")),
            Next::Code("alice", s("mcp:tools:weather"))
        );
        assert!(matches!(
            next_step(Some("alice"), &req, &s("")),
            Next::Consent("alice", _)
        ));
        let again = request("mcp:tools:weather", true);
        assert!(
            matches!(
                next_step(Some("alice"), &again, &s("mcp:tools:weather")),
                Next::Consent(..)
            ),
            "prompt=consent asks again"
        );
    }

    #[test]
    fn an_answer_grants_the_ticked_and_the_already_allowed() {
        let req = request(
            "mcp:tools:weather mcp:tools:email:send mcp:tools:calendar:read",
            false,
        );
        let remembered = s("mcp:tools:calendar:read mcp:resources:x");
        let ticked = [
            "mcp:tools:email:send".to_owned(),
            "mcp:tools:not-asked".to_owned(),
        ];
        assert_eq!(
            answer(&req, &remembered, true, &ticked),
            Answer::Allowed {
                granted: s("mcp:tools:email:send mcp:tools:calendar:read"),
            }
        );
        assert_eq!(
            answer(&req, &remembered, false, &ticked),
            Answer::Denied,
            "deny"
        );
        let fresh = request("mcp:tools:weather", false);
        assert_eq!(
            answer(&fresh, &s(""), true, &[]),
            Answer::Denied,
            "nothing ticked"
        );
        let forced = request("mcp:tools:calendar:read", true);
        assert_eq!(
            answer(&forced, &remembered, true, &[]),
            Answer::Denied,
            "prompt=consent: what was allowed before must be ticked again"
        );
    }

    #[test]
    fn consent_counts_per_resource_and_a_request_for_several_needs_it_at_each() {
        const A: &str = "https://a.example/mcp";
        const B: &str = "https://b.example/mcp";
        let remembered = Remembered::new(vec![
            (A.into(), "mcp:tools:* mcp:resources:x".into()),
            (B.into(), "mcp:tools:weather".into()),
            (String::new(), "mcp:tools:email:send".into()),
        ]);
        let at = |rs: &[&str]| {
            let rs: Vec<String> = rs.iter().map(|r| r.to_string()).collect();
            remembered.for_resources(&rs).to_string()
        };
        assert_eq!(at(&[A]), "mcp:tools:* mcp:resources:x");
        assert_eq!(at(&[B]), "mcp:tools:weather");
        assert_eq!(at(&["https://c.example/mcp"]), "", "never allowed there");
        assert_eq!(at(&[A, B]), "mcp:tools:weather", "only what both allow");
        assert_eq!(at(&[B, A]), "mcp:tools:weather");
        assert_eq!(at(&[A, "https://c.example/mcp"]), "");
        assert_eq!(at(&[]), "");
        let merged = remembered.merged(
            &[B.to_owned(), "https://c.example/mcp".to_owned()],
            &s("mcp:tools:calendar:read"),
        );
        assert_eq!(
            merged,
            [
                (
                    B.to_owned(),
                    "mcp:tools:weather mcp:tools:calendar:read".to_owned()
                ),
                (
                    "https://c.example/mcp".to_owned(),
                    "mcp:tools:calendar:read".to_owned()
                ),
            ]
        );
    }
}
