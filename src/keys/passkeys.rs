//! Passkeys (WebAuthn Level 2) with webauthn-rs: the relying party, and the
//! two ceremonies' halves with their state serialised for the database.
//!
//! The relying party id is the issuer's host and the origin is the issuer's
//! origin (a loopback issuer, for development, accepts any port). An issuer
//! whose host is an IP address has no passkeys: browsers accept no IP
//! address as a relying party id. Registration asks for a discoverable
//! credential (resident key required) with user verification, so a passkey
//! alone signs a person in without a username; sign-in asks for any
//! discoverable credential and finds the person by the credential id.

use anyhow::{Context, anyhow};
use url::Url;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::ResidentKeyRequirement;

/// The relying party.
pub struct RelyingParty {
    webauthn: Webauthn,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelyingParty(..)")
    }
}

/// A verified sign-in: the credential used and its updated form to store.
pub struct Verified {
    pub credential_id: String,
    pub passkey: String,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl RelyingParty {
    /// The relying party of `issuer`, or `None` when its host cannot be one.
    pub fn of(issuer: &str) -> Option<Self> {
        let url = Url::parse(issuer).ok()?;
        let host = url.domain()?.to_owned();
        let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
        let loopback =
            url.scheme() == "http" && (host == "localhost" || host.ends_with(".localhost"));
        let builder = WebauthnBuilder::new(&host, &origin)
            .ok()?
            .rp_name("Tessera")
            .allow_any_port(loopback);
        builder.build().ok().map(|webauthn| Self { webauthn })
    }

    /// Start registering a passkey for the person `user_id` (a UUID):
    /// the options for the browser and the state to keep.
    pub fn start_registration(
        &self,
        user_id: &str,
        username: &str,
        existing: &[String],
    ) -> anyhow::Result<(CreationChallengeResponse, String)> {
        let uuid = Uuid::parse_str(user_id).context("this account's id cannot name a passkey")?;
        let exclude = existing
            .iter()
            .filter_map(|p| serde_json::from_str::<Passkey>(p).ok())
            .map(|p| p.cred_id().clone())
            .collect::<Vec<_>>();
        let (mut ccr, state) = self
            .webauthn
            .start_passkey_registration(uuid, username, username, Some(exclude))
            .map_err(|e| anyhow!("starting a passkey registration failed: {e}"))?;
        if let Some(selection) = ccr.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        Ok((ccr, serde_json::to_string(&state)?))
    }

    /// Finish a registration: the credential id and the passkey to store.
    pub fn finish_registration(
        &self,
        credential: &RegisterPublicKeyCredential,
        state: &str,
    ) -> anyhow::Result<(String, String)> {
        let state: PasskeyRegistration = serde_json::from_str(state)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|e| anyhow!("the passkey was not accepted: {e}"))?;
        Ok((b64(passkey.cred_id()), serde_json::to_string(&passkey)?))
    }

    /// Start a sign-in with any discoverable passkey (a button press, not
    /// the autofill of conditional mediation).
    pub fn start_sign_in(&self) -> anyhow::Result<(RequestChallengeResponse, String)> {
        let (mut rcr, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|e| anyhow!("starting a passkey sign-in failed: {e}"))?;
        rcr.mediation = None;
        Ok((rcr, serde_json::to_string(&state)?))
    }

    /// The credential id an answer names (base64url), to find its passkey.
    pub fn credential_of(&self, answer: &PublicKeyCredential) -> anyhow::Result<String> {
        let (_, id) = self
            .webauthn
            .identify_discoverable_authentication(answer)
            .map_err(|e| anyhow!("the answer names no passkey: {e}"))?;
        Ok(b64(id))
    }

    /// Verify an answer against the stored `passkey` and the kept `state`.
    pub fn finish_sign_in(
        &self,
        answer: &PublicKeyCredential,
        state: &str,
        passkey: &str,
    ) -> anyhow::Result<Verified> {
        let state: DiscoverableAuthentication = serde_json::from_str(state)?;
        let mut passkey: Passkey = serde_json::from_str(passkey)?;
        let key = DiscoverableKey::from(&passkey);
        let result = self
            .webauthn
            .finish_discoverable_authentication(answer, state, &[key])
            .map_err(|e| anyhow!("the passkey's answer was not accepted: {e}"))?;
        passkey.update_credential(&result);
        Ok(Verified {
            credential_id: b64(passkey.cred_id()),
            passkey: serde_json::to_string(&passkey)?,
        })
    }
}
