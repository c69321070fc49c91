CREATE TABLE chat_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT,
    message_count BIGINT NOT NULL DEFAULT 0,
    last_message_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- "My sessions, most recently updated first" and keyset pagination over it.
CREATE INDEX chat_sessions_user_updated ON chat_sessions (user_id, updated_at DESC, id DESC);
-- The admin view of every session.
CREATE INDEX chat_sessions_updated ON chat_sessions (updated_at DESC, id DESC);
