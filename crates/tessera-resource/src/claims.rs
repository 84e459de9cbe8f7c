//! Access-token claims (RFC 9068 §2.2).
//!
//! `iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti` are required; `scope`
//! is the space-delimited granted scope; `permissions` carries the catalog's
//! internal permissions when any scope maps to some. With one resource `aud` is
//! a string, with several an array (RFC 7519 §4.1.3). Tessera writes these
//! claims and the kit reads them: one type for both ends.

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
    /// The actor of an exchanged token (RFC 8693 §4.1): the MCP server that
    /// exchanged the person's token, `{"sub": its client id}`, nested when
    /// exchanged again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}
