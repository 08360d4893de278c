-- 020_lines_qid_index.sql - the raw lines of one transaction through
-- (host_id, queue_id), without ts.
--
-- The flow view reads a transaction's lines by host, queue ID and a time
-- window (be_db_qflow.c).  The window only ever narrows a handful of rows (a
-- queue ID's lines on one host, within one day partition), so ts in the index
-- bought nothing there, and it made every entry unique: queue IDs arrive in
-- random order, the btree splits its pages to about two thirds full, and it
-- took 61 bytes per line, a fifth of the table's size.  Without ts, the lines
-- of one queue ID are duplicates that PostgreSQL's btree deduplication keeps
-- as one entry with a list of row pointers (measured on a bench/search.sh load
-- of 2.6M lines: 24 MB built, against 160 MB for the old index as ingest had
-- grown it).  Rebuilding it on an existing database takes a few minutes per
-- hundred million lines, once, at the backend's start.
CREATE INDEX lines_host_qid ON lines (host_id, queue_id) WHERE queue_id IS NOT NULL;
DROP INDEX lines_host_queue_id;
