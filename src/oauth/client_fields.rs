//! Caps and character rules for every registration metadata field (RFC 7591
//! §2), applied alike to `POST /register`, RFC 7592 updates and client ID
//! metadata documents (all go through `client::RegistrationRules`).
//!
//! Every string and list is capped, because each is stored, echoed, logged
//! and shown. Text a person is shown (`client_name`, …) must not hold control
//! characters, line or paragraph separators, or bidi marks (which can make
//! "Evil" + U+202E + "kooB" read as "EvilBook" on the consent page). Web-page URIs
//! (`client_uri`, `logo_uri`, `tos_uri`, `policy_uri`) follow the same syntax
//! rules as redirect URIs, with `http(s)` only.

use url::Url;

use crate::error::{Error, Result};
use tessera_resource::uri::check_chars;

/// `client_name`, `software_id`, `software_version`, `application_type`.
pub const MAX_NAME_CHARS: usize = 200;
/// One `contacts` entry: an e-mail address (RFC 5321 §4.5.3.1.3).
pub const MAX_CONTACT_CHARS: usize = 254;
pub const MAX_CONTACTS: usize = 10;
pub const MAX_REDIRECT_URIS: usize = 20;
/// `grant_types`, `response_types`, `audience`.
pub const MAX_LIST: usize = 20;
pub const MAX_SCOPE_BYTES: usize = 4000;

/// The explicit bidi formatting characters (Unicode UAX #9 §2): embeddings,
/// overrides, isolates and the implicit marks.
const BIDI: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// Is `c` a character no displayed text may hold?
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || BIDI.contains(&c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A list of at most `max` entries.
pub fn list<T>(items: Vec<T>, max: usize, field: &str) -> Result<Vec<T>> {
    if items.len() > max {
        return Err(Error::invalid_client_metadata(format!(
            "{field} lists {} entries; at most {max} are accepted",
            items.len()
        )));
    }
    Ok(items)
}

/// Free text: at most `max` characters, none unsafe; blank counts as absent.
pub fn text(value: Option<String>, field: &str, max: usize) -> Result<Option<String>> {
    let Some(v) = value else {
        return Ok(None);
    };
    if v.chars().count() > max {
        return Err(Error::invalid_client_metadata(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if v.chars().any(is_unsafe_char) {
        return Err(Error::invalid_client_metadata(format!(
            "{field} contains a control character, a line separator or a bidi mark"
        )));
    }
    Ok(Some(v).filter(|v| !v.trim().is_empty()))
}

/// The `contacts` list: at most [`MAX_CONTACTS`] entries of safe text.
pub fn contacts(value: Option<Vec<String>>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in list(value.unwrap_or_default(), MAX_CONTACTS, "contacts")? {
        out.extend(text(Some(c), "a contacts entry", MAX_CONTACT_CHARS)?);
    }
    Ok(out)
}

/// A web page of the client: an absolute http(s) URL with a host, written
/// as URL parsing reads it, within the URI character rules.
pub fn web_uri(value: Option<String>, field: &str) -> Result<Option<String>> {
    let Some(v) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let refuse = |why: &str| Error::invalid_client_metadata(format!("{field} {why}"));
    check_chars(&v).map_err(refuse)?;
    let url = Url::parse(&v).map_err(|_| refuse("must be an http(s) URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must be an http(s) URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() || authority_has_at(&v) {
        return Err(refuse("must not contain credentials"));
    }
    let read = url.as_str();
    if read != v && read.strip_suffix('/') != Some(v.as_str()) {
        return Err(refuse(
            "is not in the form URL parsing reads it (dot segments, a numeric host, upper case, a default port …)",
        ));
    }
    Ok(Some(v))
}

fn authority_has_at(uri: &str) -> bool {
    uri.split_once("://").is_some_and(|(_, rest)| {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        rest[..end].contains('@')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displayed_text_refuses_control_and_bidi_characters_and_is_capped() {
        for bad in [
            "Evil\u{202E}kooB",
            "a\u{0}b",
            "line\nbreak",
            "tab\t",
            "x\u{2066}",
            "\u{2028}",
        ] {
            assert!(
                text(Some(bad.into()), "client_name", MAX_NAME_CHARS).is_err(),
                "{bad:?}"
            );
        }
        assert!(text(Some("é".repeat(200)), "client_name", MAX_NAME_CHARS).is_ok());
        assert!(text(Some("é".repeat(201)), "client_name", MAX_NAME_CHARS).is_err());
        assert_eq!(text(Some("  ".into()), "client_name", 10).unwrap(), None);
        assert_eq!(
            text(Some("Claude Code 🤖".into()), "client_name", 200)
                .unwrap()
                .as_deref(),
            Some("Claude Code 🤖")
        );
    }

    #[test]
    fn contacts_are_few_and_short() {
        assert!(contacts(Some(vec!["a".repeat(60_000)])).is_err());
        assert!(contacts(Some(vec!["ops@example.com".into(); 11])).is_err());
        assert_eq!(
            contacts(Some(vec!["ops@example.com".into()]))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn web_uris_are_http_urls_written_as_parsed() {
        for ok in [
            "https://app.example",
            "https://app.example/tos",
            "http://127.0.0.1:3000/",
        ] {
            assert!(web_uri(Some(ok.into()), "client_uri").is_ok(), "{ok}");
        }
        for bad in [
            "javascript:x",
            "https://*.example/",
            "https://app.example/a b",
            "https://app.example/\u{202e}",
            "HTTPS://app.example/",
            "https://app.example/a/../b",
            "https://u@app.example/",
            "https:///x",
        ] {
            assert!(web_uri(Some(bad.into()), "client_uri").is_err(), "{bad:?}");
        }
    }
}
