//! Consent: what a person is asked given what they allowed before, where an
//! authorization request goes next, and what their answer grants (RFC 6749
//! §4.1.1–§4.1.2, OAuth 2.1 §4.1.1; RFC 9700 §4.15 for asking again).
//!
//! Remembered consent is per person and client. A person is asked only for
//! what is new: scopes their remembered consent covers (by the one wildcard
//! rule) are shown as already allowed, unless the client sent
//! `prompt=consent`, which asks for everything again. Allowing merges the
//! chosen scopes into what is remembered, so a step-up after
//! `insufficient_scope` extends the same grant; the code carries what was
//! chosen plus what was already allowed.

use tessera_resource::scope::ScopeSet;

use crate::oauth::authorize::AuthorizationRequest;

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
        /// in the order the client asked.
        granted: ScopeSet,
        /// The consent to remember from now on.
        remember: ScopeSet,
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
    let mut remember = remembered.clone();
    granted.iter().for_each(|s| remember.insert(s));
    Answer::Allowed { granted, remember }
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
    fn an_answer_grants_the_ticked_and_the_already_allowed_and_remembers_the_union() {
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
                remember: s("mcp:tools:calendar:read mcp:resources:x mcp:tools:email:send"),
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
}
