-- The full-text index is brought up to date once per write transaction
-- instead of in every statement.
--
-- FTS5 keeps the changes of a transaction in memory and writes them as one
-- new segment of its index, but it also writes them out at every savepoint
-- and every savepoint's release. The single writer runs each job of a group
-- commit in a savepoint of its own (and a job's transaction is a savepoint
-- inside it), so the index got several tiny segments per send, and merging
-- them back was most of what a send cost.
--
-- Now the triggers on `message_search_docs` only note what the index must
-- take in `message_search_pending` (an ordinary table, which savepoints
-- cost nothing), and the writer applies the notes in one statement at the
-- end of each transaction, before it commits (`src/db/search_index.rs`):
-- one segment per commit, and a search sees every message as soon as the
-- write that stored it has answered, as before.
--
-- The notes are a log of what the index still lacks, in order: `removes`
-- takes a document out (with the text the index holds, as an external
-- content table requires), otherwise it goes in. A document changed or
-- deleted before it was ever indexed changes its note instead of adding one
-- (a reply is stored empty and then written: one insert reaches the index).
CREATE TABLE message_search_pending (
    seq INTEGER PRIMARY KEY,
    doc INTEGER NOT NULL,
    content TEXT NOT NULL,
    owner TEXT NOT NULL,
    removes BOOLEAN NOT NULL
);

CREATE INDEX message_search_pending_doc ON message_search_pending (doc);

DROP TRIGGER message_search_docs_insert;
DROP TRIGGER message_search_docs_delete;
DROP TRIGGER message_search_docs_update;

CREATE TRIGGER message_search_docs_insert AFTER INSERT ON message_search_docs BEGIN
    INSERT INTO message_search_pending (doc, content, owner, removes)
    VALUES (new.id, new.content, new.owner, FALSE);
END;

CREATE TRIGGER message_search_docs_delete AFTER DELETE ON message_search_docs BEGIN
    -- Indexed (no insert waiting): take it out.
    INSERT INTO message_search_pending (doc, content, owner, removes)
    SELECT old.id, old.content, old.owner, TRUE
    WHERE NOT EXISTS (SELECT 1 FROM message_search_pending WHERE doc = old.id AND NOT removes);
    -- Not indexed yet: it never will be.
    DELETE FROM message_search_pending WHERE doc = old.id AND NOT removes;
END;

CREATE TRIGGER message_search_docs_update AFTER UPDATE OF content ON message_search_docs BEGIN
    -- Not indexed yet: the waiting insert takes the new text.
    UPDATE message_search_pending SET content = new.content WHERE doc = old.id AND NOT removes;
    -- Indexed: out with the old text, in with the new.
    INSERT INTO message_search_pending (doc, content, owner, removes)
    SELECT old.id, old.content, old.owner, TRUE
    WHERE NOT EXISTS (SELECT 1 FROM message_search_pending WHERE doc = old.id AND NOT removes);
    INSERT INTO message_search_pending (doc, content, owner, removes)
    SELECT new.id, new.content, new.owner, FALSE
    WHERE NOT EXISTS (SELECT 1 FROM message_search_pending WHERE doc = new.id AND NOT removes);
END;
