-- A reply is a stored unit of work: its row exists (status 'generating') from
-- the moment the question is stored, its text is saved while it is written,
-- and whoever writes it holds a lease (owner, expiry) that it renews with
-- each save. A lease that expired belongs to a writer that died: any process
-- may claim it with a conditional update and finish the reply.
ALTER TABLE chat_messages ADD COLUMN status TEXT NOT NULL DEFAULT 'complete';
ALTER TABLE chat_messages ADD COLUMN superseded_by TEXT;
ALTER TABLE chat_messages ADD COLUMN lease_owner TEXT;
ALTER TABLE chat_messages ADD COLUMN lease_expires_at BIGINT;

-- "Replies being written whose lease has expired" (the takeover sweep): only
-- the few rows still being written are indexed.
CREATE INDEX chat_messages_status_lease ON chat_messages (lease_expires_at)
    WHERE status = 'generating';
