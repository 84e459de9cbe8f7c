//! Access-token claims (RFC 9068 §2.2).
//!
//! `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti` are required; `scope`
//! is the space-delimited granted scope; `permissions` carries the catalog's
//! internal permissions when any scope maps to some. With one resource `aud` is
//! a string, with several an array (RFC 7519 §4.1.3).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn from_list(mut list: Vec<String>) -> Self {
        if list.len() == 1 {
            Self::One(list.remove(0))
        } else {
            Self::Many(list)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub client_id: String,
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

impl AccessTokenClaims {
    /// The claims as JSON, byte for byte what `serde_json::to_vec` writes,
    /// without serde's byte-at-a-time string escaping (see `json_out`).
    pub fn to_json(&self) -> Vec<u8> {
        use crate::json_out::{push_int, push_key, push_str, push_str_array};
        let mut out = Vec::with_capacity(512);
        out.push(b'{');
        for (key, value) in [("iss", &self.iss), ("sub", &self.sub)] {
            push_key(&mut out, key, key == "iss");
            push_str(&mut out, value);
        }
        push_key(&mut out, "aud", false);
        match &self.aud {
            Audience::One(a) => push_str(&mut out, a),
            Audience::Many(list) => push_str_array(&mut out, list),
        }
        for (key, value) in [("client_id", &self.client_id), ("scope", &self.scope)] {
            push_key(&mut out, key, false);
            push_str(&mut out, value);
        }
        push_key(&mut out, "iat", false);
        push_int(&mut out, self.iat);
        push_key(&mut out, "exp", false);
        push_int(&mut out, self.exp);
        push_key(&mut out, "jti", false);
        push_str(&mut out, &self.jti);
        if let Some(auth_time) = self.auth_time {
            push_key(&mut out, "auth_time", false);
            push_int(&mut out, auth_time);
        }
        if !self.permissions.is_empty() {
            push_key(&mut out, "permissions", false);
            push_str_array(&mut out, &self.permissions);
        }
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: Audience, auth_time: Option<i64>, permissions: &[&str]) -> AccessTokenClaims {
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
        }
    }

    #[test]
    fn hand_written_claims_are_what_serde_writes() {
        let cases = [
            claims(Audience::One("http://127.0.0.1:3000/mcp".into()), None, &[]),
            claims(
                Audience::Many(vec!["https://a.example/mcp".into(), "https://b\"".into()]),
                Some(1_759_999_000),
                &["weather:read", "calendar:events:read"],
            ),
            claims(Audience::Many(vec![]), Some(-5), &["x"]),
        ];
        for c in cases {
            assert_eq!(
                String::from_utf8(c.to_json()).unwrap(),
                serde_json::to_string(&c).unwrap()
            );
        }
    }
}
