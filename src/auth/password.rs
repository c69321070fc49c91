//! bcrypt password hashing, always on the blocking thread pool (inside the
//! caller's tracing span).

use std::sync::{Arc, OnceLock};

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
}

impl PasswordHasher {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy_hash: Arc::new(OnceLock::new()),
        }
    }

    /// Hashes on the current thread; for CLI commands.
    pub fn hash_blocking(&self, password: &str) -> Result<String, AppError> {
        bcrypt::hash(prehash(password), self.cost).map_err(AppError::internal)
    }

    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let hasher = self.clone();
        spawn_blocking_with_tracing(move || hasher.hash_blocking(&password))
            .await
            .map_err(AppError::internal)?
    }

    /// Verifies `password` against `stored`; with no stored hash it verifies
    /// against a dummy and answers false, taking the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, AppError> {
        let hasher = self.clone();
        spawn_blocking_with_tracing(move || {
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

    fn dummy(&self) -> Result<String, AppError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash_blocking("dummy password for unknown emails")?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
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

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let hasher = PasswordHasher::new(4);
        assert!(!hasher.verify("whatever1".into(), None).await.unwrap());
    }
}
