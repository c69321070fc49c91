-- A user's rating of an assistant message: at most one per message (a second
-- rating replaces the first), gone with the message, its session or its user.
CREATE TABLE message_feedback (
    message_id TEXT PRIMARY KEY NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    created_at BIGINT NOT NULL
);

-- The administrators' list, newest first, all of it or one rating.
CREATE INDEX message_feedback_created ON message_feedback (created_at DESC, message_id DESC);
CREATE INDEX message_feedback_rating_created ON message_feedback (rating, created_at DESC, message_id DESC);

-- Provider tokens spent per user per UTC day (`YYYY-MM-DD`), shared by every
-- replica: each reply adds to its row with one atomic upsert.
CREATE TABLE token_usage (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);

-- Named leases for work that one replica at a time should do (the retention
-- sweep): taken or renewed with one conditional upsert, held until expiry.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
