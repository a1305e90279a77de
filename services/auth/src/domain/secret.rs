//! Random single-use secrets and their stored form: mailed tokens, invitation tokens (which
//! name their org in their first 16 bytes) and MFA recovery codes. Only hashes are stored:
//! SHA-256 for 256-bit tokens; recovery codes (~49 bits) salted and slow (argon2id).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use tenancy::OrgId;
use uuid::Uuid;

/// SHA-256 of a token as presented (what the tables keep).
pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// 32 random bytes, base64url (mailed tokens).
pub fn new_token() -> String {
    B64.encode(rand::random::<[u8; 32]>())
}

/// An invitation token: the org's id then 32 random bytes, base64url.
pub fn new_invitation_token(org: OrgId) -> String {
    let mut raw = org.0.as_bytes().to_vec();
    raw.extend_from_slice(&rand::random::<[u8; 32]>());
    B64.encode(raw)
}

/// The org an invitation token names, when it has an invitation token's shape.
pub fn invitation_org(token: &str) -> Option<OrgId> {
    let raw = B64.decode(token).ok()?;
    if raw.len() != 48 {
        return None;
    }
    raw.get(..16)
        .and_then(|b| Uuid::from_slice(b).ok())
        .map(OrgId)
}

/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;

/// A recovery code as it is hashed (case, spaces and dashes do not matter).
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// The unsalted SHA-256 that codes issued before issue 11 were stored as (still accepted until
/// the user regenerates; new codes are `salted_recovery_hash`).
pub fn legacy_recovery_hash(code: &str) -> Vec<u8> {
    token_hash(&normalize_recovery_code(code))
}

/// Bytes of the per-user salt at the start of a stored recovery code.
pub const RECOVERY_SALT_LEN: usize = 16;

/// The stored form of a recovery code: the user's salt, then argon2id(code, salt).
pub fn salted_recovery_hash(salt: &[u8], derived: &[u8]) -> Vec<u8> {
    let mut stored = salt.to_vec();
    stored.extend_from_slice(derived);
    stored
}

/// The salt a stored recovery code starts with (`None` for a legacy SHA-256 one).
pub fn recovery_salt(stored: &[u8]) -> Option<&[u8]> {
    (stored.len() > 32)
        .then(|| stored.get(..RECOVERY_SALT_LEN))
        .flatten()
}

/// Fresh recovery codes (`xxxxx-xxxxx`, an alphabet without look-alikes).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes: [u8; 10] = rand::random();
            let s: String = bytes
                .iter()
                .filter_map(|b| ALPHABET.get(usize::from(*b) % ALPHABET.len()))
                .map(|b| char::from(*b))
                .collect();
            let (a, b) = s.split_at(5);
            format!("{a}-{b}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_tokens_name_their_org() {
        let org = OrgId::new_random();
        let t = new_invitation_token(org);
        assert_eq!(invitation_org(&t), Some(org));
        assert_eq!(invitation_org(&new_token()), None);
        assert_eq!(invitation_org("!!"), None);
    }

    #[test]
    fn recovery_codes_hash_loosely() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes.iter().all(|c| c.len() == 11));
        assert_eq!(
            legacy_recovery_hash("ABCDE-fghjk"),
            legacy_recovery_hash("abcde fghjk")
        );
        let salt = [7u8; RECOVERY_SALT_LEN];
        let stored = salted_recovery_hash(&salt, &[1u8; 32]);
        assert_eq!(recovery_salt(&stored), Some(&salt[..]));
        assert_eq!(recovery_salt(&legacy_recovery_hash("abcde-fghjk")), None);
    }
}
