//! bcrypt password hashing, always on the blocking thread pool, and at most
//! `BCRYPT_MAX_CONCURRENT` hashes at once: bcrypt is pure CPU work, and a burst
//! of sign-ins or registrations must not take every core from the rest of the
//! API. Requests beyond the bound wait for a turn.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::telemetry::spawn_blocking_with_tracing;

/// bcrypt reads at most 72 bytes. Pre-hashing with SHA-256 (base64, 44 bytes,
/// no NUL) makes every character of a 256-character password count.
fn prehash(password: &str) -> String {
    STANDARD.encode(Sha256::digest(password.as_bytes()))
}

#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    /// A hash to verify against when the email is unknown, so the answer takes
    /// as long as for a known email (timing reveals nothing).
    dummy_hash: Arc<OnceLock<String>>,
    /// Turns at hashing.
    turns: Arc<Semaphore>,
}

impl PasswordHasher {
    /// A hasher at `cost` that computes one hash at a time; see
    /// [`PasswordHasher::with_max_concurrent`].
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy_hash: Arc::new(OnceLock::new()),
            turns: Arc::new(Semaphore::new(1)),
        }
    }

    /// At most `max` hashes at once (at least one).
    pub fn with_max_concurrent(self, max: usize) -> Self {
        Self {
            turns: Arc::new(Semaphore::new(max.max(1))),
            ..self
        }
    }

    /// True when `stored` was hashed at another cost than the configured one
    /// (or is not a bcrypt hash we can read): the next successful sign-in
    /// should hash the password again, so every account costs the same to
    /// check and timing tells nothing about how an account was created.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        bcrypt_cost(stored) != Some(self.cost)
    }

    /// Hashes on the current thread; for CLI commands.
    pub fn hash_blocking(&self, password: &str) -> Result<String, AppError> {
        bcrypt::hash(prehash(password), self.cost).map_err(AppError::internal)
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let turn = self.turn().await?;
        let hasher = self.clone();
        spawn_blocking_with_tracing(move || {
            let _turn = turn;
            hasher.hash_blocking(&password)
        })
        .await
        .map_err(AppError::internal)?
    }

    /// Verifies `password` against `stored`; with no stored hash it verifies
    /// against a dummy and answers false, taking the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let turn = self.turn().await?;
        let hasher = self.clone();
        spawn_blocking_with_tracing(move || {
            let _turn = turn;
            let candidate = prehash(&password);
            match stored {
                Some(hash) => Ok(bcrypt::verify(candidate, &hash).unwrap_or(false)),
                None => {
                    let dummy = hasher.dummy()?;
                    let _ = bcrypt::verify(candidate, &dummy);
                    Ok(false)
                }
            }
        })
        .await
        .map_err(AppError::internal)?
    }

    /// Waits for a turn at hashing. The turn moves into the blocking task, so
    /// it is held until the hash is done even when the request is abandoned.
    async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        Arc::clone(&self.turns)
            .acquire_owned()
            .await
            .map_err(AppError::internal)
    }

    fn dummy(&self) -> Result<String, AppError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash_blocking("dummy password for unknown emails")?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }
}

/// The cost field of a bcrypt hash: `$2b$12$…` → 12.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    let mut fields = hash.split('$');
    let (empty, version, cost) = (fields.next()?, fields.next()?, fields.next()?);
    let known = empty.is_empty() && matches!(version, "2a" | "2b" | "2x" | "2y");
    if known && cost.len() == 2 {
        cost.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_passwords_are_not_truncated() {
        let hasher = PasswordHasher::new(4);
        let base = "a".repeat(100);
        let hash = hasher.hash(format!("{base}1")).await.unwrap();
        assert!(hasher
            .verify(format!("{base}1"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify(format!("{base}2"), Some(hash)).await.unwrap());
    }

    #[test]
    fn hashes_at_another_cost_need_a_rehash() {
        let hasher = PasswordHasher::new(5);
        let at_4 = PasswordHasher::new(4).hash_blocking("password1").unwrap();
        let at_5 = hasher.hash_blocking("password1").unwrap();
        assert_eq!(bcrypt_cost(&at_4), Some(4));
        assert!(hasher.needs_rehash(&at_4));
        assert!(!hasher.needs_rehash(&at_5));
        assert!(hasher.needs_rehash("not a hash"));
        assert_eq!(bcrypt_cost("$2b$12$abc"), Some(12));
        assert_eq!(bcrypt_cost("$2b$123$abc"), None);
        assert_eq!(bcrypt_cost("x$2b$12$abc"), None);
        assert_eq!(bcrypt_cost("$3b$12$abc"), None);
    }

    #[tokio::test]
    async fn hashing_waits_for_a_turn() {
        let hasher = PasswordHasher::new(4).with_max_concurrent(2);
        assert_eq!(hasher.turns.available_permits(), 2);
        // Both turns taken (as by two hashes in progress): the next waits ...
        let held = hasher.turns.clone().acquire_many_owned(2).await.unwrap();
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            hasher.hash("password1".into()),
        )
        .await;
        assert!(waiting.is_err(), "hashed without a turn");
        let verifying = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            hasher.verify("password1".into(), None),
        )
        .await;
        assert!(verifying.is_err(), "verified without a turn");
        // ... and goes ahead once one is free.
        drop(held);
        assert!(hasher.hash("password1".into()).await.is_ok());
        assert_eq!(hasher.turns.available_permits(), 2);
    }

    #[test]
    fn the_dummy_hash_costs_as_much_as_a_real_one() {
        let hasher = PasswordHasher::new(5);
        let dummy = hasher.dummy().unwrap();
        assert_eq!(bcrypt_cost(&dummy), Some(5));
        assert_eq!(hasher.dummy().unwrap(), dummy, "computed once");
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let hasher = PasswordHasher::new(4);
        assert!(!hasher.verify("whatever1".into(), None).await.unwrap());
    }
}
