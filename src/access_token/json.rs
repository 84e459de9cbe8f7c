//! Hand-written JSON output for the two documents the token endpoint writes on
//! every request: the access token's claims (RFC 9068 §2.2) and the token
//! response (RFC 6749 §5.1).
//!
//! Why not serde_json's serializer: it escapes strings a byte at a time, and
//! the token response is mostly one ~900-byte JWT that never needs escaping
//! (base64url and dots). Here a string that needs no escaping is checked in
//! one branch-free pass over its bytes and copied whole; any other string is
//! escaped by serde_json itself, so the output is byte for byte what
//! `serde_json::to_vec` writes for the same value (the tests compare the two).

#[cfg(test)]
use tessera_resource::claims::{AccessTokenClaims, Audience};

/// Append `s` as a JSON string (through [`Object`]; private so every
/// document is written the one way).
fn push_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly `"`, `\` and the control characters below 0x20.
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `&str` into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Append an integer.
fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, n: I) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A JSON object written member by member, in the order of the calls (the
/// order serde's derive uses is the field order, so writers list fields in it).
/// Keys are fixed ASCII names that need no escaping.
pub struct Object {
    out: Vec<u8>,
}

impl Object {
    pub fn with_capacity(bytes: usize) -> Self {
        let mut out = Vec::with_capacity(bytes);
        out.push(b'{');
        Self { out }
    }

    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        &mut self.out
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        push_str(self.key(key), value);
        self
    }

    pub fn int<I: itoa::Integer>(&mut self, key: &str, value: I) -> &mut Self {
        push_int(self.key(key), value);
        self
    }

    pub fn str_array<S: AsRef<str>>(&mut self, key: &str, items: &[S]) -> &mut Self {
        push_str_array(self.key(key), items);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Append a JSON array of strings.
fn push_str_array<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, item.as_ref());
    }
    out.push(b']');
}

/// RFC 9068 access-token claims, borrowed from what the token is minted
/// from: the fields of `tessera_resource::claims::AccessTokenClaims`, in its
/// order, without copying them into one first.
pub struct Claims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    /// One audience is written as a string, several as an array (`Audience`).
    pub aud: &'a [&'a str],
    pub client_id: &'a str,
    pub scope: &'a str,
    pub iat: i64,
    pub exp: i64,
    pub jti: &'a str,
    pub auth_time: Option<i64>,
    pub permissions: &'a [&'a str],
}

/// The claims as JSON, byte for byte what `serde_json::to_vec` writes for
/// the same `AccessTokenClaims`, without its byte-at-a-time string escaping.
pub fn claims(c: &Claims<'_>) -> Vec<u8> {
    let mut o = Object::with_capacity(512);
    o.str("iss", c.iss).str("sub", c.sub);
    match c.aud {
        [one] => o.str("aud", one),
        many => o.str_array("aud", many),
    };
    o.str("client_id", c.client_id)
        .str("scope", c.scope)
        .int("iat", c.iat)
        .int("exp", c.exp)
        .str("jti", c.jti);
    if let Some(auth_time) = c.auth_time {
        o.int("auth_time", auth_time);
    }
    if !c.permissions.is_empty() {
        o.str_array("permissions", c.permissions);
    }
    o.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_json(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        push_str(&mut out, s);
        out
    }

    #[test]
    fn strings_are_written_exactly_as_serde_json_writes_them() {
        let cases = [
            "",
            "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "mcp:tools:weather mcp:tools:calendar:read",
            "quote \" and backslash \\",
            "control \u{1} \n \t \u{1f} chars",
            "del \u{7f}, é, 日本, 🦀",
            "</script>",
        ];
        for s in cases {
            assert_eq!(
                as_json(s),
                serde_json::to_vec(s).unwrap(),
                "{s:?} is written differently"
            );
        }
    }

    #[test]
    fn integers_and_arrays_match_serde_json() {
        let mut out = Vec::new();
        push_int(&mut out, -1_760_000_000_i64);
        assert_eq!(out, b"-1760000000");
        let items = ["a", "b\"c", "d"];
        let mut out = Vec::new();
        push_str_array(&mut out, &items);
        assert_eq!(out, serde_json::to_vec(&items).unwrap());
        let mut out = Vec::new();
        push_str_array::<&str>(&mut out, &[]);
        assert_eq!(out, b"[]");
    }

    #[test]
    fn objects_separate_their_members() {
        let mut o = Object::with_capacity(64);
        o.str("a", "x").int("b", 2_u8).str_array("c", &["y"]);
        assert_eq!(o.finish(), br#"{"a":"x","b":2,"c":["y"]}"#);
        assert_eq!(Object::with_capacity(2).finish(), b"{}");
    }
}

#[cfg(test)]
mod claims_tests {
    use super::*;

    fn sample(aud: Audience, auth_time: Option<i64>, permissions: &[&str]) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://auth.example.com/tenant\"a\"".into(),
            sub: "Yk3q2n1hO0m5c4t7b8a9dQ".into(),
            aud,
            client_id: "client\\with\u{1}odd".into(),
            scope: "mcp:tools:weather mcp:tools:calendar:read".into(),
            iat: 1_760_000_000,
            exp: 1_760_000_900,
            jti: "0199a7c25b7e7cc39d6a3f0e2b1c4d5e".into(),
            auth_time,
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            act: None,
        }
    }

    #[test]
    fn hand_written_claims_are_what_serde_writes() {
        let cases = [
            sample(Audience::One("http://127.0.0.1:3000/mcp".into()), None, &[]),
            sample(
                Audience::Many(vec!["https://a.example/mcp".into(), "https://b\"".into()]),
                Some(1_759_999_000),
                &["weather:read", "calendar:events:read"],
            ),
            sample(Audience::Many(vec![]), Some(-5), &["x"]),
        ];
        for c in cases {
            let aud: Vec<&str> = match &c.aud {
                Audience::One(a) => vec![a.as_str()],
                Audience::Many(list) => list.iter().map(String::as_str).collect(),
            };
            let permissions: Vec<&str> = c.permissions.iter().map(String::as_str).collect();
            let borrowed = Claims {
                iss: &c.iss,
                sub: &c.sub,
                aud: &aud,
                client_id: &c.client_id,
                scope: &c.scope,
                iat: c.iat,
                exp: c.exp,
                jti: &c.jti,
                auth_time: c.auth_time,
                permissions: &permissions,
            };
            assert_eq!(
                String::from_utf8(claims(&borrowed)).unwrap(),
                serde_json::to_string(&c).unwrap()
            );
        }
    }
}
