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
-- lmtp, pipe), 'relay' handed by SMTP to another host ELSE follows, 'out'
-- handed by SMTP/LMTP to anywhere else, '' not delivered (yet).

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
CREATE INDEX stats_top_daily_count ON stats_top_daily (day, kind, count DESC);

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
