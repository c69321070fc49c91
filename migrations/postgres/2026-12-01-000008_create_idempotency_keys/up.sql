-- One row per (user, Idempotency-Key), written in the same transaction as
-- what the request stores, so a retried request finds either nothing (the
-- first attempt stored nothing) or everything it needs to answer again.
-- The primary key decides between concurrent duplicates.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- The answer's status code, and either the answer's body (when it is
    -- fixed at once) or the ids it is rebuilt from (a reply still growing).
    status_code INTEGER NOT NULL,
    response_body TEXT,
    user_message_id TEXT,
    reply_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
