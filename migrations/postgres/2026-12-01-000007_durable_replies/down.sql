DROP INDEX chat_messages_status_lease;
ALTER TABLE chat_messages DROP COLUMN lease_expires_at;
ALTER TABLE chat_messages DROP COLUMN lease_owner;
ALTER TABLE chat_messages DROP COLUMN superseded_by;
ALTER TABLE chat_messages DROP COLUMN status;
