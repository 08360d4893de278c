-- 005_ingest_indexes.sql - fewer index writes per flow (issue 4, speed).
--
-- A Message-ID or queue ID search goes through email_keys (kinds 1 and 2),
-- which every message write fills anyway, then reads the e-mail's rows
-- through messages_email_id: the two btrees on messages repeated that
-- lookup and cost two index insertions per message.
--
-- Status: almost every message is 'delivered' and almost every recipient
-- 'sent'; an index entry for those values is never used (a search for them
-- reads the time range through the table's key), so the status indexes keep
-- only the other values.  docs/storage.md lists which index serves which search.
DROP INDEX messages_message_id;
DROP INDEX messages_queue_id;
DROP INDEX messages_status;
CREATE INDEX messages_status ON messages (status, first_seen) WHERE status <> 'delivered';
DROP INDEX recipients_status;
CREATE INDEX recipients_status ON recipients (status, first_seen) WHERE status <> 'sent';
