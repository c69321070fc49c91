-- What is still noted goes into the index, then the triggers write it again.
INSERT INTO message_search (message_search, rowid, content, owner)
SELECT CASE WHEN removes THEN 'delete' END, doc, content, owner
FROM message_search_pending ORDER BY seq;

DROP TRIGGER message_search_docs_insert;
DROP TRIGGER message_search_docs_delete;
DROP TRIGGER message_search_docs_update;
DROP TABLE message_search_pending;

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
