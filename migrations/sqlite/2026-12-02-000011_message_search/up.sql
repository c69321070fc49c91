-- Full-text search over the conversation messages (not superseded ones).
--
-- `message_search_docs` holds one row per searchable message: its owner and
-- the text that was indexed. Its explicit INTEGER PRIMARY KEY
-- gives the FTS5 index a rowid that VACUUM never renumbers (chat_messages
-- has a text key, and its implicit rowid may change).
--
-- `message_search` is the FTS5 index over it (external content: the text is
-- stored once, in the docs table, and FTS5 reads it back for snippets).
-- Porter stemming over unicode61 tokens: "invest" finds "investing", case
-- and diacritics do not matter. The owner is indexed too, as one token (the
-- user id without its hyphens, column `owner`), so a search matches
-- `owner : <caller> AND <words>` inside the index: only the caller's
-- messages are ever ranked, however many other users' messages hold the
-- same words.
--
-- Triggers keep both in step with chat_messages in the statement that
-- changes it: an insert, a content save (replies are saved while they are
-- written), a change of superseded_by (a superseded message leaves the
-- index, one restored comes back), and a delete (including the cascades
-- from deleting a session or an account).
CREATE TABLE message_search_docs (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    owner TEXT NOT NULL GENERATED ALWAYS AS (replace(user_id, '-', '')) VIRTUAL,
    content TEXT NOT NULL
);

CREATE VIRTUAL TABLE message_search USING fts5 (
    content,
    owner,
    content = 'message_search_docs',
    content_rowid = 'id',
    tokenize = 'porter unicode61'
);

CREATE TRIGGER message_search_docs_insert AFTER INSERT ON message_search_docs BEGIN
    INSERT INTO message_search (rowid, content, owner) VALUES (new.id, new.content, new.owner);
END;

CREATE TRIGGER message_search_docs_delete AFTER DELETE ON message_search_docs BEGIN
    INSERT INTO message_search (message_search, rowid, content, owner)
    VALUES ('delete', old.id, old.content, old.owner);
END;

CREATE TRIGGER message_search_docs_update AFTER UPDATE OF content ON message_search_docs BEGIN
    INSERT INTO message_search (message_search, rowid, content, owner)
    VALUES ('delete', old.id, old.content, old.owner);
    INSERT INTO message_search (rowid, content, owner) VALUES (new.id, new.content, new.owner);
END;

CREATE TRIGGER chat_messages_search_insert AFTER INSERT ON chat_messages
WHEN new.superseded_by IS NULL BEGIN
    INSERT INTO message_search_docs (message_id, user_id, content)
    SELECT new.id, s.user_id, new.content FROM chat_sessions s WHERE s.id = new.session_id;
END;

-- The text of a message in the conversation changed: reindex it.
CREATE TRIGGER chat_messages_search_content AFTER UPDATE OF content ON chat_messages
WHEN new.superseded_by IS NULL AND old.superseded_by IS NULL AND new.content IS NOT old.content BEGIN
    UPDATE message_search_docs SET content = new.content WHERE message_id = new.id;
END;

-- Superseded: out of the index.
CREATE TRIGGER chat_messages_search_superseded AFTER UPDATE OF superseded_by ON chat_messages
WHEN new.superseded_by IS NOT NULL AND old.superseded_by IS NULL BEGIN
    DELETE FROM message_search_docs WHERE message_id = new.id;
END;

-- Back in the conversation (no operation does this today; kept symmetric).
CREATE TRIGGER chat_messages_search_restored AFTER UPDATE OF superseded_by ON chat_messages
WHEN new.superseded_by IS NULL AND old.superseded_by IS NOT NULL BEGIN
    INSERT INTO message_search_docs (message_id, user_id, content)
    SELECT new.id, s.user_id, new.content FROM chat_sessions s WHERE s.id = new.session_id;
END;

CREATE TRIGGER chat_messages_search_delete AFTER DELETE ON chat_messages BEGIN
    DELETE FROM message_search_docs WHERE message_id = old.id;
END;

-- Messages stored before this migration.
INSERT INTO message_search_docs (message_id, user_id, content)
SELECT m.id, s.user_id, m.content
FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id
WHERE m.superseded_by IS NULL
ORDER BY m.created_at, m.id;
