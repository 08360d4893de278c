-- 002_stats.sql - statistics rollups, maintained at ingest.
--
-- Dashboards must not scan messages: top-10 senders over 7 days takes most of
-- a second at 10M e-mails, hourly counts for a day ~120 ms.  The ingest
-- transaction that writes a flow also adds it to these tables, so they agree
-- with the flows they summarise at every commit (a flow written again, by a
-- replay or because it changed, first takes back what it had added).
--
-- Scoping: a user sees only the servers (host_id) and e-mail domains of their
-- groups, so every rollup row carries the host and, where the key has one, the
-- domain it belongs to; the query side filters on those columns.
--
-- direction (recipients): 'local' delivered on the host (local, virtual,
-- lmtp, pipe), 'relay' handed by SMTP to another host ELSE follows (the next
-- hop is linked), 'out' handed by SMTP to anywhere else, '' no delivery
-- attempt (yet).  Set at ingest from the daemon of the latest attempt.
--
-- Exactness: the ingest statement (backend/be_db_flow.c) reads the rows a
-- flush replaces before replacing them and adds -1 for each old row and +1
-- for each new one, grouped by the rollup keys, so a row whose count went back
-- to 0 may remain (counts are never negative).  tests/ingest/stats_check.sql
-- recomputes every table from the flow tables.  Times are cut in UTC
-- (else_hour, else_day), whatever the session's time zone.
--
-- Retention: else_stats_retention() deletes rows older than its date; the
-- backend keeps stats_retention (400 days by default), run daily.  Rollups
-- outlive the flows they summarise (retention, 90 days): they then equal the
-- aggregates only over the days whose partitions are still there.

ALTER TABLE recipients ADD COLUMN direction text NOT NULL DEFAULT '';

-- The UTC hour and day of a time, independent of the session's TimeZone.
CREATE FUNCTION else_hour(t timestamptz) RETURNS timestamptz
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN date_trunc('hour', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
CREATE FUNCTION else_day(t timestamptz) RETURNS date
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN (t AT TIME ZONE 'UTC')::date;

-- else_reason_key - one key per cause: addresses become <addr>, IPv4 and
-- bracketed IPv6 literals <ip>, runs of 4+ digits and queue-ID-like hex words
-- # (SMTP codes such as 450 4.7.1 stay), lower case, at most 200 characters.
CREATE FUNCTION else_reason_key(r text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN left(lower(regexp_replace(regexp_replace(regexp_replace(r,
		'<[^<>]*>|[^[:space:]<>@]+@[^[:space:]<>]+', '<addr>', 'g'),
		'[0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\]', '<ip>', 'g'),
		'[0-9]{4,}|\m[0-9A-F]{8,}\M', '#', 'g')), 200);

-- Transactions per hour (of first_seen), host, sender domain and status.
CREATE TABLE stats_msg_hourly (
	hour timestamptz NOT NULL,
	host_id integer NOT NULL,
	messages bigint NOT NULL DEFAULT 0,
	bytes bigint NOT NULL DEFAULT 0,
	sender_domain text NOT NULL, -- '' for the null sender and local senders without '@'
	status text NOT NULL,
	PRIMARY KEY (hour, host_id, sender_domain, status)
);

-- Recipients per hour (of the transaction's first_seen), host, recipient
-- domain, status and direction.
CREATE TABLE stats_rcpt_hourly (
	hour timestamptz NOT NULL,
	host_id integer NOT NULL,
	recipients bigint NOT NULL DEFAULT 0,
	rcpt_domain text NOT NULL,
	status text NOT NULL,
	direction text NOT NULL,
	PRIMARY KEY (hour, host_id, rcpt_domain, status, direction)
);

-- Rejects (NOQUEUE, postscreen, lost connections) per hour, host, recipient
-- domain ('' when unknown) and event/status.
CREATE TABLE stats_reject_hourly (
	hour timestamptz NOT NULL,
	host_id integer NOT NULL,
	rejects bigint NOT NULL DEFAULT 0,
	rcpt_domain text NOT NULL,
	event text NOT NULL,
	status text NOT NULL,
	PRIMARY KEY (hour, host_id, rcpt_domain, event, status)
);

-- Top lists per day.  kind: 1 sender, 2 recipient, 3 sender domain,
-- 4 recipient domain, 5 client IP, 6 reject reason, 7 deferral reason.
-- domain is the key's own domain for kinds 1-4 and '' otherwise (those lists
-- are scoped by host only).  Reasons are normalised (numbers and addresses
-- replaced) so that one cause is one key, and cut to 200 bytes.
CREATE TABLE stats_top_daily (
	day date NOT NULL,
	host_id integer NOT NULL,
	kind smallint NOT NULL,
	count bigint NOT NULL DEFAULT 0,
	domain text NOT NULL,
	key text NOT NULL,
	PRIMARY KEY (day, kind, host_id, key)
);
-- No index on count: every increment would then be a non-HOT update that
-- writes every index again.  A top list reads (day, kind) through the key
-- and sorts.  fillfactor leaves room on each page for HOT updates.
ALTER TABLE stats_msg_hourly SET (fillfactor = 70);
ALTER TABLE stats_rcpt_hourly SET (fillfactor = 70);
ALTER TABLE stats_reject_hourly SET (fillfactor = 70);
ALTER TABLE stats_top_daily SET (fillfactor = 70);

-- else_stats_retention - delete rollup rows of days before p_before.
CREATE FUNCTION else_stats_retention(p_before date) RETURNS bigint
	LANGUAGE plpgsql AS $$
DECLARE
	n bigint := 0;
	k bigint;
	lim timestamptz := p_before::timestamp AT TIME ZONE 'UTC';
BEGIN
	DELETE FROM stats_msg_hourly WHERE hour < lim;
	GET DIAGNOSTICS k = ROW_COUNT;
	n := n + k;
	DELETE FROM stats_rcpt_hourly WHERE hour < lim;
	GET DIAGNOSTICS k = ROW_COUNT;
	n := n + k;
	DELETE FROM stats_reject_hourly WHERE hour < lim;
	GET DIAGNOSTICS k = ROW_COUNT;
	n := n + k;
	DELETE FROM stats_top_daily WHERE day < p_before;
	GET DIAGNOSTICS k = ROW_COUNT;
	RETURN n + k;
END $$;

CREATE OR REPLACE FUNCTION else_grant_stats() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_ingest') THEN
		GRANT SELECT, INSERT, UPDATE, DELETE ON stats_msg_hourly, stats_rcpt_hourly,
			stats_reject_hourly, stats_top_daily TO else_ingest;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_query') THEN
		GRANT SELECT ON stats_msg_hourly, stats_rcpt_hourly, stats_reject_hourly,
			stats_top_daily TO else_query;
	END IF;
END $$;
SELECT else_grant_stats();
