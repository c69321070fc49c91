-- Full-text search over the conversation messages (not superseded ones).
--
-- The text search configuration `chat_english` is PostgreSQL's `english`
-- (stems: "invest" finds "investing"; folds case) with accents folded first
-- through the `unaccent` dictionary ("cafe" finds "café"), as SQLite's
-- FTS5 `unicode61` tokenizer does. `unaccent` ships with PostgreSQL's
-- contrib modules and is a trusted extension: the database's owner may
-- create it.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION chat_english (COPY = english);
ALTER TEXT SEARCH CONFIGURATION chat_english
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;

-- An expression index: PostgreSQL keeps it in step with every insert,
-- update and delete of chat_messages by itself (no triggers, no copy of the
-- text), and the partial predicate leaves superseded messages out. Queries
-- must use the same expression, to_tsvector('chat_english', content), and
-- the same predicate, superseded_by IS NULL, for the planner to use it.
CREATE INDEX chat_messages_search ON chat_messages
    USING GIN (to_tsvector('chat_english', content))
    WHERE superseded_by IS NULL;
