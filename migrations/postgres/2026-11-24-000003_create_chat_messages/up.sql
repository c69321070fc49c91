CREATE TABLE chat_messages (
    id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    model TEXT,
    confidence DOUBLE PRECISION,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    latency_ms BIGINT,
    fallback BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- "A session's messages in order" (both directions) and keyset pagination over it.
CREATE INDEX chat_messages_session_created ON chat_messages (session_id, created_at, id);
-- Time-window statistics (last 24 h, per day).
CREATE INDEX chat_messages_created ON chat_messages (created_at);
