-- 018_addresses.sql - the addresses of each day, for substring search
-- (issue 4, speed).
--
-- Substring search on a sender or recipient used a pg_trgm GIN index on
-- lower(sender) of every message and lower(rcpt) of every recipient (003):
-- one index entry per row written, 20 % of a message's insert and 40 % of a
-- recipient's (bench/README.md, session 20).  Mail repeats its addresses: a
-- mailbox host's recipients are its mailboxes, a relay's senders its users.
-- So the trigrams now index each address once per day it was seen:
--
--   addresses (day, kind, addr): addr = lower(sender) (kind 4) or
--   lower(rcpt) (kind 5) of a message or recipient whose first_seen is on
--   that UTC day.
--
-- A substring search finds the matching addresses of its days here, then
-- the messages or recipients with the btree on lower(sender) or lower(rcpt)
-- (be_db_query.c).  The ingest stages an address once per day, per writer,
-- as long as it remembers it (be_db_key_add): the kinds continue those of
-- email_keys, whose staging table and flow journal the rows travel in.
-- Partitioned by day like messages, so retention drops an address's day with
-- the day's mail.
CREATE TABLE addresses (
	day date NOT NULL,
	kind smallint NOT NULL,
	addr text NOT NULL
) PARTITION BY RANGE (day);
CREATE TABLE addresses_default PARTITION OF addresses DEFAULT;

-- else_day_tables - the day-partitioned tables and their partition columns.
-- else_partitions_ensure and else_retention read them from here now, so a
-- migration that adds such a table redefines only this list.
CREATE FUNCTION else_day_tables() RETURNS TABLE (tab text, col text)
	LANGUAGE sql IMMUTABLE AS $$
VALUES ('lines', 'ts'), ('messages', 'first_seen'), ('recipients', 'first_seen'),
       ('rejects', 'ts'), ('addresses', 'day')
$$;

-- As 001's, over else_day_tables().
CREATE OR REPLACE FUNCTION else_partitions_ensure(p_from date, p_to date) RETURNS integer
	LANGUAGE plpgsql AS $$
DECLARE
	d date;
	n integer := 0;
	t record;
BEGIN
	IF p_to < p_from OR p_to - p_from > 400 THEN
		RAISE EXCEPTION 'else_partitions_ensure: bad range % .. %', p_from, p_to;
	END IF;
	PERFORM pg_advisory_xact_lock(4542010);
	FOR d IN SELECT generate_series(p_from, p_to, interval '1 day')::date LOOP
		FOR t IN SELECT * FROM else_day_tables() LOOP
			n := n + else_partition_create(t.tab, to_char(d, 'YYYYMMDD'), t.col,
						       to_char(d, 'YYYY-MM-DD') || ' 00:00:00+00',
						       to_char(d + 1, 'YYYY-MM-DD') || ' 00:00:00+00')::integer;
		END LOOP;
	END LOOP;
	FOR d IN SELECT generate_series(date_trunc('month', p_from), p_to, interval '1 month')::date
	LOOP
		n := n + else_partition_create('email_keys', to_char(d, 'YYYYMM'), 'day',
					       to_char(d, 'YYYY-MM-DD'),
					       to_char(d + interval '1 month', 'YYYY-MM-DD'))::integer;
	END LOOP;
	RETURN n;
END $$;

CREATE OR REPLACE FUNCTION else_retention(p_before date) RETURNS integer
	LANGUAGE plpgsql AS $$
DECLARE
	r record;
	n integer := 0;
BEGIN
	PERFORM pg_advisory_xact_lock(4542010);
	FOR r IN
		SELECT c.relnamespace::regnamespace::text AS nsp, c.relname AS name
		FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		JOIN pg_class p ON p.oid = i.inhparent
		WHERE (p.relname IN (SELECT tab FROM else_day_tables())
		       AND c.relname = p.relname || '_p' || right(c.relname, 8)
		       AND right(c.relname, 8) ~ '^[0-9]{8}$'
		       AND to_date(right(c.relname, 8), 'YYYYMMDD') < p_before)
		   OR (p.relname = 'email_keys' AND c.relname ~ '^email_keys_p[0-9]{6}$'
		       AND to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month' <= p_before)
	LOOP
		EXECUTE format('DROP TABLE %s.%I', r.nsp, r.name);
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;

-- The days already there: a partition for each day messages has one, then
-- the addresses of the mail stored, then the indexes (built from the rows,
-- faster than kept up row by row).  At 10M e-mails over 30 days: 19 million
-- rows, some minutes at the upgraded backend's start.
DO $$
DECLARE
	d date;
BEGIN
	FOR d IN SELECT to_date(right(c.relname, 8), 'YYYYMMDD')
		 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		 WHERE i.inhparent = 'messages'::regclass AND c.relname ~ '^messages_p[0-9]{8}$'
		 ORDER BY 1 LOOP
		PERFORM else_partition_create('addresses', to_char(d, 'YYYYMMDD'), 'day',
					      to_char(d, 'YYYY-MM-DD'),
					      to_char(d + 1, 'YYYY-MM-DD'));
	END LOOP;
END $$;
INSERT INTO addresses (day, kind, addr)
	SELECT DISTINCT (first_seen AT TIME ZONE 'UTC')::date, 4::smallint, lower(sender)
	FROM messages WHERE sender <> ''
	UNION
	SELECT DISTINCT (first_seen AT TIME ZONE 'UTC')::date, 5::smallint, lower(rcpt)
	FROM recipients WHERE rcpt <> '';
ALTER TABLE addresses ADD CONSTRAINT addresses_key UNIQUE (kind, addr, day);

-- The trigrams move from the rows to the addresses: one index per kind, so
-- that a sender search does not read the recipients' entries (a trigram
-- that most addresses share has a posting list as long as the index).
DROP INDEX IF EXISTS messages_sender_trgm;
DROP INDEX IF EXISTS recipients_rcpt_trgm;
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
		CREATE INDEX addresses_sender_trgm ON addresses USING gin (addr gin_trgm_ops)
			WHERE kind = 4;
		CREATE INDEX addresses_rcpt_trgm ON addresses USING gin (addr gin_trgm_ops)
			WHERE kind = 5;
	END IF;
END $$;

CREATE FUNCTION else_grant_addresses() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_ingest') THEN
		GRANT SELECT, INSERT ON addresses TO else_ingest;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_query') THEN
		GRANT SELECT ON addresses TO else_query;
	END IF;
END $$;
SELECT else_grant_addresses();
