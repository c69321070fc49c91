-- Full-text search over the conversation messages (not superseded ones).
--
-- An expression index: PostgreSQL keeps it in step with every insert,
-- update and delete of chat_messages by itself (no triggers, no copy of the
-- text), and the partial predicate leaves superseded messages out. Queries
-- must use the same expression, to_tsvector('english', content), and the
-- same predicate, superseded_by IS NULL, for the planner to use it.
-- The 'english' configuration stems ("invest" finds "investing") and folds
-- case.
CREATE INDEX chat_messages_search ON chat_messages
    USING GIN (to_tsvector('english', content))
    WHERE superseded_by IS NULL;
