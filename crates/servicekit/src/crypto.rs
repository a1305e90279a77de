//! Field encryption at rest: AES-256-GCM (ring) with a key ring. Each ciphertext carries the id of
//! the key that sealed it, so keys rotate without re-encrypting first; the org id (and a purpose
//! label such as `"calendar.google_refresh_token"`) is bound as associated data, so a ciphertext
//! copied to another org's row or another column does not decrypt.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("malformed key ring: {0}")]
    BadKeyRing(String),
    #[error("ciphertext was sealed with key {0:?}, which is not in the key ring")]
    UnknownKey(String),
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("decryption failed: wrong key, wrong org or purpose, or tampered data")]
    Open,
    #[error("the system random source failed")]
    Random,
}

/// A sealed value: store `key_id` and `ciphertext` (nonce ‖ ciphertext ‖ tag) side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

#[derive(Clone)]
pub struct KeyRing {
    current: String,
    keys: Arc<HashMap<String, LessSafeKey>>,
    rng: SystemRandom,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("key_ids", &ids)
            .finish()
    }
}

impl KeyRing {
    /// Builds a ring from `(key id, 32-byte key)` pairs; the first is the one new data is sealed with.
    pub fn new(keys: Vec<(String, Vec<u8>)>) -> Result<Self, CryptoError> {
        let current = keys
            .first()
            .map(|(id, _)| id.clone())
            .ok_or_else(|| CryptoError::BadKeyRing("no keys".into()))?;
        let mut map = HashMap::new();
        for (id, raw) in keys {
            if id.is_empty()
                || id.len() > 32
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(CryptoError::BadKeyRing(format!(
                    "key id {id:?} must be 1-32 of [A-Za-z0-9_-]"
                )));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| {
                CryptoError::BadKeyRing(format!("key {id:?} must be exactly 32 bytes"))
            })?;
            if map.insert(id.clone(), LessSafeKey::new(unbound)).is_some() {
                return Err(CryptoError::BadKeyRing(format!(
                    "key id {id:?} appears twice"
                )));
            }
        }
        Ok(Self {
            current,
            keys: Arc::new(map),
            rng: SystemRandom::new(),
        })
    }

    /// Parses `"kid:base64,kid2:base64"` (the ENCRYPTION_KEYS format); the first key is current.
    pub fn parse(spec: &str) -> Result<Self, CryptoError> {
        let keys = spec
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|part| {
                let (id, b64) = part
                    .split_once(':')
                    .ok_or_else(|| CryptoError::BadKeyRing("expected kid:base64key".into()))?;
                let raw = B64
                    .decode(b64.trim())
                    .map_err(|_| CryptoError::BadKeyRing(format!("key {id:?} is not base64")))?;
                Ok((id.trim().to_string(), raw))
            })
            .collect::<Result<Vec<_>, CryptoError>>()?;
        Self::new(keys)
    }

    /// A random single key, for local runs and tests without configured keys: data does not
    /// survive a restart, which is the point — no built-in key can leak.
    pub fn ephemeral() -> Self {
        let rng = SystemRandom::new();
        let mut raw = [0u8; 32];
        // SystemRandom only fails when the OS has no entropy source; then nothing else works either.
        if rng.fill(&mut raw).is_err() {
            tracing::error!("system random source failed while creating an ephemeral key");
        }
        let id = format!("eph{}", &Uuid::new_v4().simple().to_string()[..8]);
        match Self::new(vec![(id, raw.to_vec())]) {
            Ok(ring) => ring,
            Err(_) => unreachable_ring(),
        }
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// A ring with `new_key` as the current key and every existing key still able to decrypt.
    pub fn with_new_current(&self, id: &str, raw: &[u8]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, raw)
            .map_err(|_| CryptoError::BadKeyRing("key must be 32 bytes".into()))?;
        if self.keys.contains_key(id) {
            return Err(CryptoError::BadKeyRing(format!(
                "key id {id:?} already present"
            )));
        }
        let mut map: HashMap<String, LessSafeKey> = HashMap::new();
        for (k, v) in self.keys.iter() {
            map.insert(k.clone(), v.clone());
        }
        map.insert(id.to_string(), LessSafeKey::new(unbound));
        Ok(Self {
            current: id.to_string(),
            keys: Arc::new(map),
            rng: self.rng.clone(),
        })
    }

    pub fn encrypt(
        &self,
        org_id: Uuid,
        purpose: &str,
        plaintext: &[u8],
    ) -> Result<Sealed, CryptoError> {
        let key = self
            .keys
            .get(&self.current)
            .ok_or_else(|| CryptoError::UnknownKey(self.current.clone()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad(org_id, purpose)),
            &mut buf,
        )
        .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(Sealed {
            key_id: self.current.clone(),
            ciphertext: out,
        })
    }

    pub fn decrypt(
        &self,
        org_id: Uuid,
        purpose: &str,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.ciphertext.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(CryptoError::Malformed);
        }
        let (nonce, body) = sealed.ciphertext.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Malformed)?;
        let mut buf = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(aad(org_id, purpose)), &mut buf)
            .map_err(|_| CryptoError::Open)?;
        Ok(plain.to_vec())
    }
}

fn aad(org_id: Uuid, purpose: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + purpose.len());
    v.extend_from_slice(org_id.as_bytes());
    v.extend_from_slice(purpose.as_bytes());
    v
}

#[allow(clippy::panic)]
fn unreachable_ring() -> KeyRing {
    // A 32-byte key with a valid id always builds a ring; reaching this is a bug in `new`.
    panic!("building an ephemeral key ring failed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring(id: &str, byte: u8) -> KeyRing {
        KeyRing::new(vec![(id.into(), vec![byte; 32])]).unwrap()
    }

    #[test]
    fn round_trip() {
        let r = ring("k1", 7);
        let org = Uuid::new_v4();
        let s = r.encrypt(org, "test.secret", b"refresh-token-123").unwrap();
        assert_eq!(s.key_id, "k1");
        assert_ne!(&s.ciphertext[NONCE_LEN..], b"refresh-token-123");
        assert_eq!(
            r.decrypt(org, "test.secret", &s).unwrap(),
            b"refresh-token-123"
        );
    }

    #[test]
    fn another_org_as_associated_data_fails() {
        let r = ring("k1", 7);
        let s = r.encrypt(Uuid::new_v4(), "p", b"secret").unwrap();
        assert_eq!(r.decrypt(Uuid::new_v4(), "p", &s), Err(CryptoError::Open));
    }

    #[test]
    fn another_purpose_fails() {
        let r = ring("k1", 7);
        let org = Uuid::new_v4();
        let s = r.encrypt(org, "a", b"secret").unwrap();
        assert_eq!(r.decrypt(org, "b", &s), Err(CryptoError::Open));
    }

    #[test]
    fn nonces_are_fresh() {
        let r = ring("k1", 7);
        let org = Uuid::new_v4();
        assert_ne!(
            r.encrypt(org, "p", b"x").unwrap(),
            r.encrypt(org, "p", b"x").unwrap()
        );
    }

    #[test]
    fn old_key_still_decrypts_after_rotation() {
        let old = ring("k1", 1);
        let org = Uuid::new_v4();
        let before = old.encrypt(org, "p", b"written under k1").unwrap();
        let rotated = old.with_new_current("k2", &[2u8; 32]).unwrap();
        let after = rotated.encrypt(org, "p", b"written under k2").unwrap();
        assert_eq!(after.key_id, "k2");
        assert_eq!(
            rotated.decrypt(org, "p", &before).unwrap(),
            b"written under k1"
        );
        assert_eq!(
            rotated.decrypt(org, "p", &after).unwrap(),
            b"written under k2"
        );
        // The same rotation expressed in configuration: new key first, old key kept.
        let from_env = KeyRing::parse(&format!(
            "k2:{},k1:{}",
            B64.encode([2u8; 32]),
            B64.encode([1u8; 32])
        ))
        .unwrap();
        assert_eq!(
            from_env.decrypt(org, "p", &before).unwrap(),
            b"written under k1"
        );
        assert_eq!(
            old.decrypt(org, "p", &after),
            Err(CryptoError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn bad_key_specs_are_refused() {
        assert!(KeyRing::parse("").is_err());
        assert!(KeyRing::parse("k1:notbase64!").is_err());
        assert!(KeyRing::parse(&format!("k1:{}", B64.encode([0u8; 16]))).is_err());
        assert!(KeyRing::parse(&format!("k1:{0},k1:{0}", B64.encode([0u8; 32]))).is_err());
    }

    proptest! {
        #[test]
        fn any_flipped_bit_fails(plain in proptest::collection::vec(any::<u8>(), 0..256), bit in any::<usize>()) {
            let r = ring("k1", 9);
            let org = Uuid::new_v4();
            let mut s = r.encrypt(org, "p", &plain).unwrap();
            let i = bit % (s.ciphertext.len() * 8);
            s.ciphertext[i / 8] ^= 1 << (i % 8);
            prop_assert_eq!(r.decrypt(org, "p", &s), Err(CryptoError::Open));
        }
    }
}
