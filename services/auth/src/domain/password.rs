//! Password hashing with argon2id. Hashing runs on a fixed set of threads behind a semaphore
//! (each hash holds `m` KiB of memory) with a bounded wait queue: when both are full a request is
//! refused at once (`HashError::Busy`) instead of waiting without bound. An unknown account
//! still costs one verification, so the response time does not tell whether an email is
//! registered.
//!
//! Each hashing thread owns one argon2 memory buffer for its whole life and every hash it runs
//! fills that buffer (`hash_password_into_with_memory`): allocating 19 MiB per hash, as
//! `hash_password` does, left freed blocks spread over the allocator's arenas and a flood grew
//! the process by about nine hashes' worth while only one ran at a time. Now hashing memory is
//! exactly threads × m.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// OWASP Password Storage Cheat Sheet: argon2id settings of equal strength (m KiB, t), p = 1.
/// A configuration meets the floor when it is at least one of them in both m and t.
pub const FLOOR: [(u32, u32); 5] = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)];

pub fn meets_floor(m_kib: u32, t: u32) -> bool {
    FLOOR.iter().any(|&(fm, ft)| m_kib >= fm && t >= ft)
}

/// Why no hash was computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is busy and the wait queue is full (or the wait ran out): shed at
    /// once rather than queue without bound.
    #[error("password hashing is at capacity; retry shortly")]
    Busy,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// How much hashing may run and wait at once.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    /// Hashes computed at the same time (each holds `m` KiB).
    pub concurrent: usize,
    /// Requests allowed to wait for a slot.
    pub queue: usize,
    /// The longest a request waits for a slot.
    pub wait: Duration,
    /// Places of `concurrent + queue` that password logins may not take (at most `queue`):
    /// kept for signups, password changes and resets, step-up and recovery codes, so a login
    /// flood cannot starve them.
    pub reserved: usize,
}

/// Who asks for a hash: a password login (what floods are made of) or anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Login,
    Other,
}

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Requests holding or waiting for a slot.
    admitted: Arc<AtomicUsize>,
    /// Hashes running now, and the most that ever ran at once (each holds `m` KiB: the peak
    /// times `m` is the most memory hashing ever held).
    running: Arc<AtomicUsize>,
    peak_running: Arc<AtomicUsize>,
    capacity: Capacity,
    /// The hashing threads (`capacity.concurrent` of them, for the life of the process): a
    /// fixed set rather than the blocking pool, each filling the one argon2 buffer it keeps
    /// ([`Memory`]), so hashing memory is `concurrent × m` under any load.
    workers: std::sync::mpsc::Sender<Job>,
    /// A real hash of a random password: verified against when the account does not exist.
    dummy: Arc<String>,
}

/// A hashing job: it gets its thread's argon2 memory buffer.
type Job = Box<dyn FnOnce(&mut Memory) + Send + 'static>;

/// One hashing thread's argon2 memory, allocated on its first hash and kept (grown only for a
/// stored hash made with a larger `m`).
#[derive(Default)]
pub struct Memory(Vec<Block>);

impl Memory {
    /// The first `blocks` blocks, growing the buffer if needed.
    fn blocks(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            self.0.resize(blocks, Block::default());
        }
        &mut self.0[..blocks]
    }
}

/// `n` threads running hashing jobs until every `Hasher` sharing the sender is gone.
fn start_workers(n: usize) -> anyhow::Result<std::sync::mpsc::Sender<Job>> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for i in 0..n {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                let mut memory = Memory::default();
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let run = std::panic::AssertUnwindSafe(|| job(&mut memory));
                    if std::panic::catch_unwind(run).is_err() {
                        tracing::error!("a password hashing job panicked");
                    }
                }
            })?;
    }
    Ok(tx)
}

/// A count as a gauge value (`auth_hash_running`, `auth_hash_peak_running`: the peak times `m`
/// is the most memory hashing ever held).
fn gauge(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

/// One admitted request (holding or waiting for a slot); leaving frees its place in the queue.
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hasher {
    pub fn new(m_kib: u32, t: u32, p: u32, capacity: Capacity) -> anyhow::Result<Self> {
        let params =
            Params::new(m_kib, t, p, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let capacity = Capacity {
            concurrent: capacity.concurrent.max(1),
            reserved: capacity.reserved.min(capacity.queue),
            ..capacity
        };
        let mut hasher = Hasher {
            params,
            permits: Arc::new(Semaphore::new(capacity.concurrent)),
            admitted: Arc::new(AtomicUsize::new(0)),
            running: Arc::new(AtomicUsize::new(0)),
            peak_running: Arc::new(AtomicUsize::new(0)),
            workers: start_workers(capacity.concurrent)?,
            capacity,
            dummy: Arc::new(String::new()),
        };
        let random: [u8; 16] = rand::random();
        hasher.dummy = Arc::new(hasher.hash_now(&format!("{random:x?}"), &mut Memory::default())?);
        Ok(hasher)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn describe(&self) -> String {
        format!(
            "argon2id m={} KiB t={} p={}, {} at once, {} waiting at most {} ms",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            self.capacity.concurrent,
            self.capacity.queue,
            self.capacity.wait.as_millis()
        )
    }

    /// Whether a request needing a hash would be shed now (every slot and queue place taken):
    /// lets a caller refuse before doing any other work for it.
    pub fn saturated(&self, class: Class) -> bool {
        self.admitted.load(Ordering::SeqCst) >= self.places(class)
    }

    /// How many requests of `class` may hold or wait for a slot.
    fn places(&self, class: Class) -> usize {
        let all = self.capacity.concurrent + self.capacity.queue;
        match class {
            Class::Login => all - self.capacity.reserved,
            Class::Other => all,
        }
    }

    /// The most hashes that ever ran at once.
    pub fn peak_running(&self) -> usize {
        self.peak_running.load(Ordering::SeqCst)
    }

    /// Requests now hashing or waiting to.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    /// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of `password` with a new salt,
    /// computed in `memory`.
    fn hash_now(&self, password: &str, memory: &mut Memory) -> anyhow::Result<String> {
        let salt_bytes: [u8; 16] = rand::random();
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.argon()
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt_bytes,
                &mut out,
                memory.blocks(self.params.block_count()),
            )
            .map_err(|e| anyhow::anyhow!("hash: {e}"))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params)
                .map_err(|e| anyhow::anyhow!("params: {e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `stored` (its own algorithm, version and
    /// parameters), computed in `memory`; the comparison is constant-time (`Output`'s `==`).
    fn verify_now(password: &str, stored: &str, memory: &mut Memory) -> anyhow::Result<bool> {
        let parsed = PasswordHash::new(stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let algorithm = Algorithm::try_from(parsed.algorithm)
            .map_err(|e| anyhow::anyhow!("stored hash algorithm: {e}"))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| anyhow::anyhow!("stored hash version: {e}"))?
            .unwrap_or_default();
        let params =
            Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("stored hash params: {e}"))?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(anyhow::anyhow!("stored hash without salt or hash"));
        };
        let mut salt_buf = [0u8; 64];
        let salt = salt
            .decode_b64(&mut salt_buf)
            .map_err(|e| anyhow::anyhow!("stored hash salt: {e}"))?;
        let mut out = vec![0u8; expected.len()];
        let blocks = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        if argon
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                memory.blocks(blocks),
            )
            .is_err()
        {
            return Ok(false);
        }
        Ok(Output::new(&out).is_ok_and(|o| o == expected))
    }

    /// A hashing slot, or `Busy` at once when the queue is full, or after `wait`. A request
    /// dropped while waiting (its client went away) leaves the queue and never hashes.
    async fn slot(&self, class: Class) -> Result<(Admission, OwnedSemaphorePermit), HashError> {
        let before = self.admitted.fetch_add(1, Ordering::SeqCst);
        let admission = Admission(self.admitted.clone());
        if before >= self.places(class) {
            return Err(HashError::Busy);
        }
        let permit = tokio::time::timeout(self.capacity.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|e| HashError::Failed(e.into()))?;
        Ok((admission, permit))
    }

    /// Runs `work` on the blocking pool holding a slot until it is done (even when the caller
    /// stops waiting, the slot stays taken while the hash runs, so no more than `concurrent`
    /// hashes ever run).
    async fn run<T: Send + 'static>(
        &self,
        class: Class,
        work: impl FnOnce(&Hasher, &mut Memory) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let (admission, permit) = self.slot(class).await?;
        let me = self.clone();
        let (done, answer) = tokio::sync::oneshot::channel();
        self.workers
            .send(Box::new(move |memory: &mut Memory| {
                let now = me.running.fetch_add(1, Ordering::SeqCst) + 1;
                let peak = me.peak_running.fetch_max(now, Ordering::SeqCst).max(now);
                metrics::gauge!("auth_hash_running").set(gauge(now));
                metrics::gauge!("auth_hash_peak_running").set(gauge(peak));
                let out = work(&me, memory);
                let now = me.running.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
                metrics::gauge!("auth_hash_running").set(gauge(now));
                drop(permit);
                drop(admission);
                // The caller may have gone (its client disconnected); the slot is free anyway.
                let _ = done.send(out);
            }))
            .map_err(|_| HashError::Failed(anyhow::anyhow!("the hashing threads are gone")))?;
        answer
            .await
            .map_err(|_| HashError::Failed(anyhow::anyhow!("a hashing thread ended")))?
            .map_err(HashError::Failed)
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(Class::Other, move |me, memory| {
            me.hash_now(&password, memory)
        })
        .await
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no account
    /// (then the answer is always false, after the same work).
    pub async fn verify(
        &self,
        class: Class,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.run(class, move |me, memory| {
            let real = stored.is_some();
            let phc = stored.unwrap_or_else(|| me.dummy.as_str().to_owned());
            let ok = Self::verify_now(&password, &phc, memory)?;
            Ok(ok && real)
        })
        .await
    }

    /// argon2id of `secret` with `salt`, 32 raw bytes (recovery codes: salted and slow, one
    /// derivation per check since all of a user's codes share the salt).
    pub async fn derive(&self, secret: String, salt: Vec<u8>) -> Result<Vec<u8>, HashError> {
        self.run(Class::Other, move |me, memory| {
            let mut out = vec![0u8; 32];
            me.argon()
                .hash_password_into_with_memory(
                    secret.as_bytes(),
                    &salt,
                    &mut out,
                    memory.blocks(me.params.block_count()),
                )
                .map_err(|e| anyhow::anyhow!("derive: {e}"))?;
            Ok(out)
        })
        .await
    }

    /// Whether `stored` was made with weaker settings than ours (another algorithm, or a lower
    /// m, t or p): rehash it when the user next proves the password.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return true;
        };
        if parsed.algorithm.as_str() != "argon2id" {
            return true;
        }
        let Ok(p) = Params::try_from(&parsed) else {
            return true;
        };
        p.m_cost() < self.params.m_cost()
            || p.t_cost() < self.params.t_cost()
            || p.p_cost() < self.params.p_cost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_pass() {
        let h = Hasher::new(1024, 1, 1, cap(2, 2)).unwrap();
        let stored = h.hash("correct horse battery".into()).await.unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{stored}"
        );
        assert!(
            h.verify(
                Class::Login,
                "correct horse battery".into(),
                Some(stored.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !h.verify(Class::Login, "wrong horse battery".into(), Some(stored))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(Class::Login, "anything at all".into(), None)
                .await
                .unwrap()
        );
    }

    fn cap(concurrent: usize, queue: usize) -> Capacity {
        Capacity {
            concurrent,
            queue,
            wait: Duration::from_secs(5),
            reserved: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_queue_sheds_at_once_and_never_runs_more_than_the_capacity() {
        let h = Hasher::new(8192, 2, 1, cap(1, 2)).unwrap();
        let started = std::time::Instant::now();
        let tries: Vec<_> = (0..12)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(format!("password number {i}")).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for t in tries {
            match t.await.unwrap() {
                Ok(_) => done += 1,
                Err(HashError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!((1..=3).contains(&done), "done {done}");
        assert_eq!(busy + done, 12);
        assert_eq!(h.admitted(), 0, "every admission left");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Logins fill only their share (1 running + 1 waiting of 1 + 2): a login beyond it is
    /// shed at once while another kind of hash (a signup) is still admitted and runs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn logins_cannot_take_the_reserved_places() {
        let h = Hasher::new(
            8192,
            2,
            1,
            Capacity {
                reserved: 1,
                ..cap(1, 2)
            },
        )
        .unwrap();
        let logins: Vec<_> = (0..2)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(
                    async move { h.verify(Class::Login, format!("guess {i}"), None).await },
                )
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(h.saturated(Class::Login));
        assert!(!h.saturated(Class::Other));
        assert!(matches!(
            h.verify(Class::Login, "one more".into(), None).await,
            Err(HashError::Busy)
        ));
        h.hash("a new user's password".into()).await.unwrap();
        for l in logins {
            assert!(!l.await.unwrap().unwrap());
        }
        assert_eq!(h.admitted(), 0);
    }

    /// 40 callers at once (20× the capacity of 2), half of them giving up after 50 ms like a
    /// client that went away: never more than 2 hashes run (so hashing memory stays at most
    /// 2 × m = 16 MiB here), callers beyond the 3 queue places are refused at once, and
    /// afterwards nothing is left admitted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_never_runs_more_hashes_than_the_capacity() {
        let h = Hasher::new(8192, 1, 1, cap(2, 3)).unwrap();
        let tries: Vec<_> = (0..40)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move {
                    let work = h.verify(Class::Login, format!("guess {i}"), None);
                    if i % 2 == 0 {
                        tokio::time::timeout(Duration::from_millis(50), work)
                            .await
                            .ok()
                    } else {
                        Some(work.await)
                    }
                })
            })
            .collect();
        let mut busy = 0;
        for t in tries {
            if let Some(Err(HashError::Busy)) = t.await.unwrap() {
                busy += 1;
            }
        }
        assert!(busy >= 40 - 2 - 3 - 20, "{busy} refused");
        assert!(h.peak_running() <= 2, "{} ran at once", h.peak_running());
        // Abandoned work that had not started never starts; what had started finishes.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(h.admitted(), 0);
    }

    /// Hashes stored before the reused buffer (argon2's own `hash_password`) still verify, and
    /// ours verify with argon2's own verifier: the same PHC strings either way.
    #[tokio::test]
    async fn the_reused_buffer_speaks_standard_phc() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = Hasher::new(2048, 1, 1, cap(1, 1)).unwrap();
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 2, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = argon
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(
            h.verify(
                Class::Login,
                "correct horse battery".into(),
                Some(old.clone())
            )
            .await
            .unwrap()
        );
        assert!(
            !h.verify(Class::Login, "wrong horse battery".into(), Some(old))
                .await
                .unwrap()
        );
        let ours = h.hash("correct horse battery".into()).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=2048,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(
            argon
                .verify_password(b"wrong horse battery", &parsed)
                .is_err()
        );
        // A larger stored m than ours grows the thread's buffer and still verifies.
        let big = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &salt)
        .unwrap()
        .to_string();
        assert!(
            h.verify(Class::Login, "correct horse battery".into(), Some(big))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn weaker_stored_hashes_need_a_rehash() {
        let weak = Hasher::new(1024, 1, 1, cap(1, 1)).unwrap();
        let strong = Hasher::new(2048, 2, 1, cap(1, 1)).unwrap();
        let stored = weak.hash("correct horse battery".into()).await.unwrap();
        assert!(strong.needs_rehash(&stored));
        assert!(!weak.needs_rehash(&stored));
        let again = strong.hash("correct horse battery".into()).await.unwrap();
        assert!(!strong.needs_rehash(&again));
        assert!(strong.needs_rehash("$2b$10$abcdefghijklmnopqrstuv"));
    }

    #[test]
    fn the_floor_is_owasps() {
        assert!(meets_floor(19456, 2));
        assert!(meets_floor(47104, 1));
        assert!(!meets_floor(19455, 2));
        assert!(!meets_floor(19456, 1));
        assert!(!meets_floor(1024, 10));
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("long enough pass").is_ok());
        assert!(check_policy(&"x".repeat(300)).is_err());
    }
}
