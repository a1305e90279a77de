//! Password hashing with argon2id. Hashing runs on the blocking pool behind a semaphore (each
//! hash holds `m` KiB of memory), and an unknown account still costs one verification, so the
//! response time does not tell whether an email is registered.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

/// Length rules (NIST 800-63B: length over composition; a cap so hashing stays bounded).
pub fn check_policy(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err("password must be at least 10 characters");
    }
    if password.len() > MAX_LEN {
        return Err("password must be at most 256 bytes");
    }
    Ok(())
}

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password: verified against when the account does not exist.
    dummy: Arc<String>,
}

impl Hasher {
    pub fn new(m_kib: u32, t: u32, p: u32, concurrency: usize) -> anyhow::Result<Self> {
        let params =
            Params::new(m_kib, t, p, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let mut hasher = Hasher {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(String::new()),
        };
        let random: [u8; 16] = rand::random();
        hasher.dummy = Arc::new(hasher.hash_now(&format!("{random:x?}"))?);
        Ok(hasher)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn describe(&self) -> String {
        format!(
            "argon2id m={} KiB t={} p={}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        )
    }

    fn hash_now(&self, password: &str) -> anyhow::Result<String> {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        Ok(self
            .argon()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("hash: {e}"))?
            .to_string())
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_now(&password)).await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no account
    /// (then the answer is always false, after the same work).
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let real = stored.is_some();
            let phc = stored.unwrap_or_else(|| me.dummy.as_str().to_owned());
            let parsed =
                PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            let ok = me
                .argon()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(ok && real)
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_pass() {
        let h = Hasher::new(1024, 1, 1, 2).unwrap();
        let stored = h.hash("correct horse battery".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{stored}"
        );
        assert!(
            h.verify("correct horse battery".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(
            !h.verify("wrong horse battery".into(), Some(stored))
                .await
                .unwrap()
        );
        assert!(!h.verify("anything at all".into(), None).await.unwrap());
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough pass").is_ok());
        assert!(check_policy(&"x".repeat(300)).is_err());
    }
}
