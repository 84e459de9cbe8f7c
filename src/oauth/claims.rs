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
        let mut o = crate::json_out::Object::with_capacity(512);
        o.str("iss", &self.iss).str("sub", &self.sub);
        match &self.aud {
            Audience::One(a) => o.str("aud", a),
            Audience::Many(list) => o.str_array("aud", list),
        };
        o.str("client_id", &self.client_id)
            .str("scope", &self.scope)
            .int("iat", self.iat)
            .int("exp", self.exp)
            .str("jti", &self.jti);
        if let Some(auth_time) = self.auth_time {
            o.int("auth_time", auth_time);
        }
        if !self.permissions.is_empty() {
            o.str_array("permissions", &self.permissions);
        }
        o.finish()
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
