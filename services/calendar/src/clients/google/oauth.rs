//! The OAuth `state`: sealed (AES-256-GCM, org bound) with the org, the user, an expiry and the
//! PKCE verifier inside, so a callback is accepted only for the admin who started it, in the
//! same org, within ten minutes, and the verifier never needs server-side storage.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::Utc;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use servicekit::crypto::{KeyRing, Sealed};
use tenancy::{OrgId, UserId};
use uuid::Uuid;

const PURPOSE: &str = "calendar.google_oauth_state";
/// How long a consent screen may stay open.
pub const STATE_TTL_SECS: i64 = 600;

#[derive(Debug, Serialize, Deserialize)]
struct StateBody {
    u: Uuid,
    e: i64,
    v: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("state is malformed or not ours")]
    Invalid,
    #[error("state belongs to another user")]
    OtherUser,
    #[error("state expired")]
    Expired,
}

/// A fresh PKCE verifier (43 url-safe characters) and its S256 challenge.
pub fn pkce() -> anyhow::Result<(String, String)> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| anyhow::anyhow!("random source failed"))?;
    let verifier = B64URL.encode(raw);
    let challenge = B64URL.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    Ok((verifier, challenge))
}

pub fn seal_state(
    keys: &KeyRing,
    org: OrgId,
    user: UserId,
    verifier: &str,
) -> anyhow::Result<String> {
    let body = serde_json::to_vec(&StateBody {
        u: user.as_uuid(),
        e: Utc::now().timestamp() + STATE_TTL_SECS,
        v: verifier.to_string(),
    })?;
    let sealed = keys.encrypt(org.as_uuid(), PURPOSE, &body)?;
    Ok(format!(
        "{}.{}",
        B64URL.encode(sealed.key_id.as_bytes()),
        B64URL.encode(&sealed.ciphertext)
    ))
}

/// Opens a state for `org` and `user`; returns the PKCE verifier.
pub fn open_state(
    keys: &KeyRing,
    org: OrgId,
    user: UserId,
    state: &str,
) -> Result<String, StateError> {
    let (kid, ct) = state.split_once('.').ok_or(StateError::Invalid)?;
    let key_id = String::from_utf8(B64URL.decode(kid).map_err(|_| StateError::Invalid)?)
        .map_err(|_| StateError::Invalid)?;
    let ciphertext = B64URL.decode(ct).map_err(|_| StateError::Invalid)?;
    // Another org's state does not open: the org is the associated data.
    let plain = keys
        .decrypt(org.as_uuid(), PURPOSE, &Sealed { key_id, ciphertext })
        .map_err(|_| StateError::Invalid)?;
    let body: StateBody = serde_json::from_slice(&plain).map_err(|_| StateError::Invalid)?;
    if body.u != user.as_uuid() {
        return Err(StateError::OtherUser);
    }
    if body.e < Utc::now().timestamp() {
        return Err(StateError::Expired);
    }
    Ok(body.v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_opens_only_for_its_org_and_user() {
        let keys = KeyRing::ephemeral();
        let (org, user) = (OrgId::new_random(), UserId::new_random());
        let (verifier, challenge) = pkce().unwrap();
        assert_eq!(verifier.len(), 43);
        assert_ne!(verifier, challenge);
        let state = seal_state(&keys, org, user, &verifier).unwrap();
        assert_eq!(open_state(&keys, org, user, &state).unwrap(), verifier);
        assert_eq!(
            open_state(&keys, OrgId::new_random(), user, &state),
            Err(StateError::Invalid)
        );
        assert_eq!(
            open_state(&keys, org, UserId::new_random(), &state),
            Err(StateError::OtherUser)
        );
        assert_eq!(
            open_state(&keys, org, user, "x.y"),
            Err(StateError::Invalid)
        );
        let mut tampered = state.clone();
        tampered.pop();
        tampered.push(if state.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            open_state(&keys, org, user, &tampered),
            Err(StateError::Invalid)
        );
    }

    #[test]
    fn the_challenge_is_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            B64URL.encode(ring::digest::digest(&ring::digest::SHA256, v.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
