//! The keys of a `private_key_jwt` client (RFC 7523 §2.2, OIDC Core §9):
//! registered by value (`jwks`) or by reference (`jwks_uri`), never both
//! (RFC 7591 §2), and kept only for that method.
//!
//! A key set is checked when it is registered, so a bad one is refused with
//! `invalid_client_metadata` rather than found at the token endpoint: public
//! keys only (no private or symmetric members: an HMAC key would let anyone
//! who reads the metadata sign), of a type the signature allowlist can use,
//! at most [`MAX_KEYS`], in at most [`MAX_JWKS_BYTES`].

use serde_json::Value;

use crate::error::{Error, Result};
use crate::oauth::client::AuthMethod;

/// Keys one client may register.
pub const MAX_KEYS: usize = 10;
/// The largest key set, registered or fetched (ten 4096-bit RSA keys fit).
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// The longest `jwks_uri`.
const MAX_URI_BYTES: usize = 2048;

/// JWK members that hold private or symmetric key material (RFC 7518 §6).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The registered `jwks` and `jwks_uri`, checked for `method`.
pub fn registered(
    method: AuthMethod,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
) -> Result<(Option<Value>, Option<String>)> {
    let refuse = |why: String| Err(Error::invalid_client_metadata(why));
    match (method, jwks, jwks_uri) {
        (AuthMethod::PrivateKeyJwt, Some(_), Some(_)) => {
            refuse("register jwks or jwks_uri, not both (RFC 7591 §2)".into())
        }
        (AuthMethod::PrivateKeyJwt, None, None) => refuse(
            "a private_key_jwt client must register its public keys: jwks or jwks_uri".into(),
        ),
        (AuthMethod::PrivateKeyJwt, Some(set), None) => {
            key_set(&set).map_err(Error::invalid_client_metadata)?;
            Ok((Some(set), None))
        }
        (AuthMethod::PrivateKeyJwt, None, Some(uri)) => {
            jwks_uri_rule(&uri).map_err(Error::invalid_client_metadata)?;
            Ok((None, Some(uri)))
        }
        // Other clients have no use for keys: ignored, like any unknown
        // member (clients that send them anyway registered before this).
        _ => Ok((None, None)),
    }
}

/// A key set as registered or fetched: `{"keys": [...]}` of public keys
/// whose type the allowlist can verify with.
pub fn key_set(set: &Value) -> std::result::Result<(), String> {
    let size = serde_json::to_string(set).map_or(usize::MAX, |s| s.len());
    if size > MAX_JWKS_BYTES {
        return Err(format!("jwks is larger than {MAX_JWKS_BYTES} bytes"));
    }
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("jwks must be an object with a \"keys\" array")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("jwks must hold between 1 and {MAX_KEYS} keys"));
    }
    for key in keys {
        let obj = key
            .as_object()
            .ok_or("every key in jwks must be an object")?;
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
            return Err(format!(
                "jwks must hold public keys only (a key has the private or symmetric member \"{private}\")"
            ));
        }
        match obj.get("kty").and_then(Value::as_str) {
            Some("EC" | "RSA" | "OKP") => {}
            Some(other) => {
                return Err(format!(
                    "key type '{other}' is not accepted (EC, RSA or OKP)"
                ));
            }
            None => return Err("every key in jwks needs a kty".into()),
        }
        if obj
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return Err("a key in jwks is not for signatures (\"use\" is not \"sig\")".into());
        }
    }
    Ok(())
}

/// A `jwks_uri`: https (plain http only for a loopback host, which the fetch
/// itself refuses unless loopback documents are allowed), no credentials or
/// fragment, bounded.
pub fn jwks_uri_rule(uri: &str) -> std::result::Result<url::Url, String> {
    if uri.len() > MAX_URI_BYTES {
        return Err(format!("jwks_uri is longer than {MAX_URI_BYTES} bytes"));
    }
    let url = url::Url::parse(uri).map_err(|_| "jwks_uri is not a valid URL".to_owned())?;
    let loopback_http = url.scheme() == "http" && tessera_resource::uri::is_loopback_host(&url);
    if url.scheme() != "https" && !loopback_http {
        return Err("jwks_uri must use https".into());
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err("jwks_uri must not contain credentials or a fragment".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EC: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}"#;

    fn ec() -> Value {
        serde_json::from_str(EC).unwrap()
    }

    #[test]
    fn a_private_key_jwt_client_registers_exactly_one_key_source() {
        let m = AuthMethod::PrivateKeyJwt;
        let set = json!({"keys": [ec()]});
        assert!(registered(m, Some(set.clone()), None).is_ok());
        assert!(registered(m, None, Some("https://c.example/jwks".into())).is_ok());
        assert!(registered(m, None, None).is_err());
        assert!(registered(m, Some(set.clone()), Some("https://c.example/j".into())).is_err());
        assert_eq!(
            registered(AuthMethod::ClientSecretBasic, Some(set), None).unwrap(),
            (None, None),
            "keys are kept for private_key_jwt only"
        );
        assert_eq!(
            registered(AuthMethod::None, None, None).unwrap(),
            (None, None)
        );
    }

    #[test]
    fn only_public_signature_keys_of_known_types_are_registered() {
        let with = |k: &str, v: Value| {
            let mut key = ec();
            key[k] = v;
            json!({ "keys": [key] })
        };
        assert!(key_set(&json!({"keys": [ec()]})).is_ok());
        for bad in [
            with("d", json!("private")),
            with("kty", json!("oct")),
            with("use", json!("enc")),
            json!({"keys": []}),
            json!([ec()]),
            json!({"keys": vec![ec(); MAX_KEYS + 1]}),
        ] {
            assert!(key_set(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_jwks_uri_is_https_or_loopback_http() {
        assert!(jwks_uri_rule("https://c.example/jwks.json").is_ok());
        assert!(jwks_uri_rule("http://127.0.0.1:9000/jwks").is_ok());
        for bad in [
            "http://c.example/jwks",
            "https://u:p@c.example/jwks",
            "https://c.example/jwks#x",
            "not a url",
            "ftp://c.example/jwks",
        ] {
            assert!(jwks_uri_rule(bad).is_err(), "{bad}");
        }
    }
}
