//! Authentication: password hashing, access tokens (JWT), refresh-token
//! secrets, and the extractors that guard endpoints.

mod extractor;
mod jwt;
mod password;

pub use extractor::{AdminUser, AuthUser};
pub use jwt::{AccessClaims, JwtKeys};
pub use password::PasswordHasher;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new opaque refresh token: 256 random bits, URL-safe.
pub fn new_refresh_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How refresh tokens are stored: only their SHA-256, so a database leak does
/// not leak usable tokens. (A fast hash is right here: the token has 256 bits
/// of entropy, unlike a password.)
pub fn hash_refresh_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
