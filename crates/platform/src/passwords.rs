//! Password hashing (argon2id): every hash and verification of a running platform goes through
//! [`Hashing`]: at most one per core at a time, each with a memory buffer that is reused
//! (argon2id takes 19 MiB a hash), and a bounded queue beyond which a request is refused `busy`.

use crate::error::{Error, Kind, Result};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::OsRng;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Requests waiting for a hashing worker, per worker, before a request is refused `busy`.
pub const HASH_QUEUE_PER_WORKER: usize = 16;

/// The code of a refusal when the hashing queue is full (the server answers 503 with Retry-After).
pub const BUSY: &str = "busy";

/// Password hashing with bounded concurrency and memory: `workers` hashes at a time (one per
/// core), each in one of `workers` reused buffers, and at most `queue` more requests waiting.
pub struct Hashing {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    pub workers: usize,
    pub queue: usize,
}

impl Hashing {
    pub fn new(workers: usize) -> Hashing {
        let workers = workers.max(1);
        let queue = workers * HASH_QUEUE_PER_WORKER;
        Hashing {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            buffers: Default::default(),
            workers,
            queue,
        }
    }

    /// Runs `f` with a hashing buffer on a blocking thread once a worker is free; [`BUSY`] when
    /// the queue is full. The permits travel with the work, so a client that goes away does not
    /// let more hashes run than there are workers.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> Result<T> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            Error::new(Kind::Unavailable, BUSY, "too many logins are being checked at once: try again in a moment")
        })?;
        let running = self.running.clone().acquire_owned().await.map_err(|e| Error::internal(e.to_string()))?;
        let buffers = self.buffers.clone();
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, running);
            let mut buf = buffers.lock().ok().and_then(|mut b| b.pop()).unwrap_or_default();
            let out = f(&mut buf);
            if let Ok(mut b) = buffers.lock() {
                b.push(buf);
            }
            out
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))
    }

    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move |buf| hash_with(password.as_bytes(), buf)).await?
    }

    pub async fn verify(&self, password: String, hash: String) -> Result<bool> {
        self.run(move |buf| verify_with(password.as_bytes(), &hash, buf)).await
    }
}

/// The memory of a hash with `params`: the reusable `buf` (grown to the default cost once), or a
/// buffer of its own for a stored hash with a larger cost (not kept).
fn with_blocks<T>(params: &Params, buf: &mut Vec<Block>, f: impl FnOnce(&mut [Block]) -> T) -> T {
    let need = params.block_count();
    if need <= Params::DEFAULT.block_count() {
        if buf.len() < Params::DEFAULT.block_count() {
            buf.resize(Params::DEFAULT.block_count(), Block::default());
        }
        f(&mut buf[..need])
    } else {
        f(&mut vec![Block::default(); need])
    }
}

fn hash_with(password: &[u8], buf: &mut Vec<Block>) -> Result<String> {
    let err = |e: &dyn std::fmt::Display| Error::internal(format!("hashing the password: {e}"));
    let params = Params::DEFAULT;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|e| err(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_blocks(&params, buf, |blocks| argon.hash_password_into_with_memory(password, salt_bytes, &mut out, blocks))
        .map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &[u8], phc: &str, buf: &mut Vec<Block>) -> bool {
    let Ok(h) = PasswordHash::new(phc) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h)) else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    let done = with_blocks(&params, buf, |blocks| {
        argon.hash_password_into_with_memory(password, salt_bytes, &mut out, blocks)
    });
    // `Output` compares in constant time.
    done.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// An argon2id hash of `password` (for the command line and tests; the routes use [`Hashing`]).
pub fn hash_password(password: &str) -> Result<String> {
    hash_with(password.as_bytes(), &mut Vec::new())
}

/// Argon2id hashes of `passwords`, each with its own salt, on up to `threads` threads (each reusing
/// one buffer): e.g. the demo's users, without making the start `passwords.len()` hashes slower.
pub fn hash_passwords(passwords: &[&str], threads: usize) -> Result<Vec<String>> {
    let per = passwords.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = passwords
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut buf = Vec::new();
                    chunk.iter().map(|p| hash_with(p.as_bytes(), &mut buf)).collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(passwords.len());
        for w in workers {
            out.extend(w.join().map_err(|_| Error::internal("a hashing thread panicked"))??);
        }
        Ok(out)
    })
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_with(password.as_bytes(), hash, &mut Vec::new())
}

/// A hash no password matches in practice: verified for an unknown username, so that the time
/// taken does not tell which usernames exist.
pub fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;
    use argon2::PasswordVerifier;

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        // Hashes stored before (argon2's own hasher) verify with the reused buffers, and ours verify
        // with argon2's own verifier.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"old password", &salt).unwrap().to_string();
        let mut buf = Vec::new();
        assert!(verify_with(b"old password", &theirs, &mut buf));
        assert!(!verify_with(b"old passwore", &theirs, &mut buf));
        let ours = hash_with(b"new password", &mut buf).unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"new password", &parsed).is_ok());
        assert_ne!(ours, hash_with(b"new password", &mut buf).unwrap(), "a salt of its own each time");
        // A stored hash with a larger cost gets memory of its own; the reused buffer stays the default size.
        let big = Params::new(4 * Params::DEFAULT_M_COST, 1, 1, None).unwrap();
        let costly = Argon2::new(Algorithm::Argon2id, Version::V0x13, big).hash_password(b"pw", &salt).unwrap();
        assert!(verify_with(b"pw", &costly.to_string(), &mut buf));
        assert_eq!(buf.len(), Params::DEFAULT.block_count());
        assert!(!verify_with(b"pw", "not a hash", &mut buf));
        let many = hash_passwords(&["a"; 5], 2).unwrap();
        assert_eq!(many.iter().collect::<std::collections::HashSet<_>>().len(), 5);
        assert!(many.iter().all(|h| verify_password("a", h)));
    }
}
