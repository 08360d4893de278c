-- 007_stats_series.sql - dashboard series without the domain (issue 6, speed).
--
-- stats_*_hourly (002) carry the sender or recipient domain for operators
-- scoped by domain, so an hour has a row per domain seen (hundreds of thousands of rows a week at ISP scale).  These
-- three sum them over the domain; dashboards that need no domain (an admin,
-- an operator scoped by servers only, no domain filter) read them instead:
-- a few rows per hour and host.  The ingest statement keeps them with the
-- others, exactly.
CREATE TABLE stats_msg_host_hourly (
	hour timestamptz NOT NULL,
	host_id integer NOT NULL,
	messages bigint NOT NULL DEFAULT 0,
	bytes bigint NOT NULL DEFAULT 0,
	status text NOT NULL,
	PRIMARY KEY (hour, host_id, status)
);
CREATE TABLE stats_rcpt_host_hourly (
	hour timestamptz NOT NULL,
	host_id integer NOT NULL,
	recipients bigint NOT NULL DEFAULT 0,
	status text NOT NULL,
	direction text NOT NULL,
	PRIMARY KEY (hour, host_id, status, direction)
);
CREATE TABLE stats_reject_host_hourly (
	hour timestamptz NOT NULL,
	host_id integer NOT NULL,
	rejects bigint NOT NULL DEFAULT 0,
	event text NOT NULL,
	status text NOT NULL,
	PRIMARY KEY (hour, host_id, event, status)
);
ALTER TABLE stats_msg_host_hourly SET (fillfactor = 70);
ALTER TABLE stats_rcpt_host_hourly SET (fillfactor = 70);
ALTER TABLE stats_reject_host_hourly SET (fillfactor = 70);
INSERT INTO stats_msg_host_hourly (hour, host_id, status, messages, bytes)
	SELECT hour, host_id, status, sum(messages), sum(bytes) FROM stats_msg_hourly
	GROUP BY 1, 2, 3;
INSERT INTO stats_rcpt_host_hourly (hour, host_id, status, direction, recipients)
	SELECT hour, host_id, status, direction, sum(recipients) FROM stats_rcpt_hourly
	GROUP BY 1, 2, 3, 4;
INSERT INTO stats_reject_host_hourly (hour, host_id, event, status, rejects)
	SELECT hour, host_id, event, status, sum(rejects) FROM stats_reject_hourly
	GROUP BY 1, 2, 3, 4;

-- else_stats_retention - as in 006, and the tables above.
CREATE OR REPLACE FUNCTION else_stats_retention(p_before date) RETURNS bigint
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
	n := n + k;
	DELETE FROM stats_msg_host_hourly WHERE hour < lim;
	DELETE FROM stats_rcpt_host_hourly WHERE hour < lim;
	DELETE FROM stats_reject_host_hourly WHERE hour < lim;
	DELETE FROM stats_top_hot WHERE day < p_before;
	DELETE FROM stats_top_cut WHERE day < p_before;
	DELETE FROM stats_top_dirty WHERE day < p_before;
	RETURN n;
END $$;

CREATE FUNCTION else_grant_stats_series() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_ingest') THEN
		GRANT SELECT, INSERT, UPDATE, DELETE ON stats_msg_host_hourly,
			stats_rcpt_host_hourly, stats_reject_host_hourly TO else_ingest;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_query') THEN
		GRANT SELECT ON stats_msg_host_hourly, stats_rcpt_host_hourly,
			stats_reject_host_hourly TO else_query;
	END IF;
END $$;
SELECT else_grant_stats_series();
