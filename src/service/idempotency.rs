//! Idempotency keys: one row per (user, key), written in the transaction of
//! what the request stores, so a retry finds either nothing (the first try
//! stored nothing) or what it needs to answer the same again. The primary
//! key decides between concurrent duplicates: the loser's transaction rolls
//! back and it answers with the winner's result.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::db::models::IdempotencyKey;
use crate::db::schema::idempotency_keys;
use crate::db::DbConnection;
use crate::error::{is_unique_violation, AppError};

/// How long a key identifies its request.
pub const KEY_TTL_MS: i64 = 24 * 3600 * 1000;

/// A request made with an `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    pub user_id: String,
    pub key: String,
    pub method: String,
    pub path: String,
    pub request_hash: String,
}

impl KeyedRequest {
    pub fn new(user_id: &str, key: &str, method: &str, path: &str, body: &[u8]) -> Self {
        let mut hash = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes(), body] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        let request_hash = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Self {
            user_id: user_id.to_owned(),
            key: key.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            request_hash,
        }
    }
}

/// What was stored for an earlier request with the same key: its answer's
/// status and either its body or the ids it is rebuilt from.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status_code: i32,
    pub response_body: Option<String>,
    pub user_message_id: Option<String>,
    pub reply_id: Option<String>,
}

fn conflict() -> AppError {
    AppError::IdempotencyConflict("this Idempotency-Key was used for a different request".into())
}

/// The earlier request's outcome when the key was used within 24 hours by
/// the same request; 409 `idempotency_conflict` when it was used for
/// another one; `None` when it is new (an expired use is forgotten).
pub fn find(conn: &mut DbConnection, req: &KeyedRequest) -> Result<Option<Outcome>, AppError> {
    let now = now_ms();
    let mine = idempotency_keys::table
        .filter(idempotency_keys::user_id.eq(&req.user_id))
        .filter(idempotency_keys::key.eq(&req.key));
    diesel::delete(mine.filter(idempotency_keys::expires_at.le(now))).execute(conn)?;
    let Some(found) = mine
        .select(IdempotencyKey::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if found.method != req.method
        || found.path != req.path
        || found.request_hash != req.request_hash
    {
        return Err(conflict());
    }
    Ok(Some(Outcome {
        status_code: found.status_code,
        response_body: found.response_body,
        user_message_id: found.user_message_id,
        reply_id: found.reply_id,
    }))
}

/// Records the key with the outcome, inside the caller's transaction. When
/// another request took the key first, 409 `idempotency_conflict`: the
/// caller's transaction rolls back and it looks the winner up ([`find`]).
pub fn record(
    conn: &mut DbConnection,
    req: &KeyedRequest,
    outcome: Outcome,
) -> Result<(), AppError> {
    let now = now_ms();
    let row = IdempotencyKey {
        user_id: req.user_id.clone(),
        key: req.key.clone(),
        method: req.method.clone(),
        path: req.path.clone(),
        request_hash: req.request_hash.clone(),
        status_code: outcome.status_code,
        response_body: outcome.response_body,
        user_message_id: outcome.user_message_id,
        reply_id: outcome.reply_id,
        created_at: now,
        expires_at: now + KEY_TTL_MS,
    };
    match diesel::insert_into(idempotency_keys::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(conflict()),
        Err(e) => Err(e.into()),
    }
}

/// Forgets keys older than 24 hours; returns how many.
pub fn sweep(conn: &mut DbConnection) -> Result<usize, AppError> {
    Ok(
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::expires_at.le(now_ms())))
            .execute(conn)?,
    )
}
