//! Refresh tokens without token rows (GoTrue v2 style): `base64url(version ‖ session id ‖
//! counter ‖ HMAC-SHA256(session key)[..16])`. The session row holds the key and the current
//! counter; rotation increments the counter, so a replayed older token is recognised by its
//! counter alone.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use uuid::Uuid;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const LEN: usize = 1 + 16 + 8 + MAC_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshToken {
    pub session_id: Uuid,
    pub counter: i64,
}

fn mac(key: &[u8], body: &[u8]) -> [u8; MAC_LEN] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), body);
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&tag.as_ref()[..MAC_LEN]);
    out
}

impl RefreshToken {
    pub fn encode(&self, key: &[u8]) -> String {
        let mut buf = Vec::with_capacity(LEN);
        buf.push(VERSION);
        buf.extend_from_slice(self.session_id.as_bytes());
        buf.extend_from_slice(&self.counter.to_be_bytes());
        let tag = mac(key, &buf);
        buf.extend_from_slice(&tag);
        B64.encode(buf)
    }

    /// Reads the session id and counter without checking the MAC (the key is in the session).
    pub fn parse(token: &str) -> Option<(RefreshToken, Vec<u8>)> {
        let raw = B64.decode(token.trim()).ok()?;
        if raw.len() != LEN || raw[0] != VERSION {
            return None;
        }
        let session_id = Uuid::from_slice(&raw[1..17]).ok()?;
        let counter = i64::from_be_bytes(raw[17..25].try_into().ok()?);
        Some((
            RefreshToken {
                session_id,
                counter,
            },
            raw,
        ))
    }

    /// Checks the MAC of a parsed token against the session key (constant time).
    pub fn verify(raw: &[u8], key: &[u8]) -> bool {
        if raw.len() != LEN {
            return false;
        }
        let (body, tag) = raw.split_at(LEN - MAC_LEN);
        constant_time_eq(&mac(key, body), tag)
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a presented refresh token means, given the session's current counter.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented {
    /// The current token: rotate.
    Current,
    /// The token just before the current one, within the grace interval: hand back the current.
    JustRotated,
    /// An older token, or the previous one after the grace interval: the session is compromised.
    Reused,
    /// A counter the server never issued.
    Forged,
}

pub fn classify(presented: i64, current: i64, within_grace: bool) -> Presented {
    match current - presented {
        0 => Presented::Current,
        d if d < 0 => Presented::Forged,
        1 if within_grace => Presented::JustRotated,
        _ => Presented::Reused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = [7u8; 32];
        let t = RefreshToken {
            session_id: Uuid::new_v4(),
            counter: 42,
        };
        let s = t.encode(&key);
        let (parsed, raw) = RefreshToken::parse(&s).unwrap();
        assert_eq!(parsed, t);
        assert!(RefreshToken::verify(&raw, &key));
        assert!(!RefreshToken::verify(&raw, &[8u8; 32]));
        let mut bad = raw.clone();
        bad[20] ^= 1;
        assert!(!RefreshToken::verify(&bad, &key));
        assert!(RefreshToken::parse("not a token").is_none());
    }

    #[test]
    fn classification() {
        assert_eq!(classify(5, 5, false), Presented::Current);
        assert_eq!(classify(4, 5, true), Presented::JustRotated);
        assert_eq!(classify(4, 5, false), Presented::Reused);
        assert_eq!(classify(3, 5, true), Presented::Reused);
        assert_eq!(classify(6, 5, true), Presented::Forged);
    }
}
