-- 004_lines_today.sql - lines received per host today, for the query
-- service's Servers call (ServerRow.lines_today), without counting rows.
--
-- Counting today's lines of a host would scan today's whole lines partition
-- (about a second at 10M lines a day).  The ingest already keeps a per-stream
-- counter, streams.committed_seq (the newest line sequence number stored);
-- the backend notes every stream's counter when a UTC day begins
-- (else_day_mark(), run by else-backend at start and whenever the UTC day
-- changes), and lines_today is the sum over the host's streams of
-- committed_seq minus that note (a stream first seen today: all of it).
-- So it counts lines by arrival, not by their log time, and lines committed
-- between midnight and the note (under a second while the backend runs)
-- count to the day before.
CREATE TABLE stream_day_start (
	day date NOT NULL,
	host_id integer NOT NULL,
	stream_id text NOT NULL,
	seq bigint NOT NULL,
	PRIMARY KEY (day, host_id, stream_id)
);

-- else_day_mark - note every stream's counter for today (once: later calls
-- keep the first note), forget notes older than a week.
CREATE FUNCTION else_day_mark() RETURNS void
	LANGUAGE sql AS $$
INSERT INTO stream_day_start (day, host_id, stream_id, seq)
	SELECT (now() AT TIME ZONE 'UTC')::date, host_id, stream_id, committed_seq FROM streams
	ON CONFLICT DO NOTHING;
DELETE FROM stream_day_start WHERE day < (now() AT TIME ZONE 'UTC')::date - 7;
$$;

-- else_lines_today - lines received today from a host (see above)
CREATE FUNCTION else_lines_today(p_host integer) RETURNS bigint
	LANGUAGE sql STABLE AS $$
SELECT coalesce(sum(greatest(s.committed_seq - coalesce(d.seq, 0), 0)), 0)::bigint
FROM streams s LEFT JOIN stream_day_start d ON d.day = (now() AT TIME ZONE 'UTC')::date
	AND d.host_id = s.host_id AND d.stream_id = s.stream_id
WHERE s.host_id = p_host
$$;

CREATE FUNCTION else_grant_day() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_query') THEN
		GRANT SELECT ON stream_day_start TO else_query;
	END IF;
END $$;
SELECT else_grant_day();
