-- "A session's conversation in order": the messages nothing has replaced
-- (regenerate and edit keep the replaced ones, marked with superseded_by).
-- The list, its keyset pages and the model's context read this range, so a
-- session with many superseded messages lists as fast as one without.
CREATE INDEX chat_messages_conversation ON chat_messages (session_id, created_at, id)
    WHERE superseded_by IS NULL;
