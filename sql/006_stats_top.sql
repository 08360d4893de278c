-- 006_stats_top.sql - top lists without aggregating every key (issue 6, speed).
--
-- stats_top_daily (002) holds one row per day, kind, host and key: at ISP
-- scale a day has hundreds of thousands of keys per kind, so a dashboard top
-- list that sums them over 30 days reads millions of rows.  stats_top_hot
-- holds the same rows, with the same counts, but only the heavy ones: per
-- (day, kind, host_id) the keys whose count is at least that group's cut.
--
-- The cut: else_stats_top_refresh(K) sets, for each (day, kind, host_id) of
-- the days ingest marked in stats_top_dirty, cut = 1 + the count of the
-- (K+1)-th key of the group when it has more than K keys (no cut row, that
-- is cut 1, otherwise), and rewrites the day's hot rows from stats_top_daily.
-- Between refreshes the ingest statement (backend/be_db_flow.c) copies every
-- stats_top_daily row it changes whose new count reaches the cut, or that is
-- already hot, with its new count.  So a hot row's count is always the exact
-- count, and every key at or above its group's cut is hot.
--
-- What a top list may miss (documented in docs/storage.md): a key is left out
-- of a (day, kind, host) only while its count there is below the cut, that is
-- at most the count of the (K+1)-th key of that group at the last refresh.
-- A list over a range of days and hosts undercounts a key by at most the sum
-- of (cut - 1) over the groups it is missing from, and any key it leaves out
-- had at most that sum.  Groups with K keys or fewer are exact.  The backend
-- refreshes every few minutes (the day being written changes), with K = 100.
--
-- Domain scoping reads the same rows: a small domain's keys on a busy host
-- may all be under that host's cut, and then its operators' lists are short.
CREATE TABLE stats_top_hot (
	day date NOT NULL,
	host_id integer NOT NULL,
	kind smallint NOT NULL,
	count bigint NOT NULL DEFAULT 0,
	domain text NOT NULL,
	key text NOT NULL,
	PRIMARY KEY (day, kind, host_id, key)
);
ALTER TABLE stats_top_hot SET (fillfactor = 70);

CREATE TABLE stats_top_cut (
	day date NOT NULL,
	kind smallint NOT NULL,
	host_id integer NOT NULL,
	cut bigint NOT NULL,
	PRIMARY KEY (day, kind, host_id)
);

-- Days whose stats_top_daily rows changed since their last refresh.
CREATE TABLE stats_top_dirty (
	day date PRIMARY KEY
);

-- Every day is dirty: the backend's first refresh, before it serves
-- queries, fills stats_top_hot (copying every row here first would leave
-- the table as large as stats_top_daily after the refresh deleted most).
INSERT INTO stats_top_dirty SELECT DISTINCT day FROM stats_top_daily;

-- else_stats_top_refresh - new cuts and hot rows for every dirty day (see
-- above); returns the number of days refreshed.
CREATE FUNCTION else_stats_top_refresh(p_keep integer) RETURNS integer
	LANGUAGE plpgsql AS $$
DECLARE
	d date;
	n integer := 0;
BEGIN
	FOR d IN DELETE FROM stats_top_dirty RETURNING day LOOP
		DELETE FROM stats_top_cut WHERE day = d;
		INSERT INTO stats_top_cut (day, kind, host_id, cut)
			SELECT d, kind, host_id, count + 1 FROM (SELECT kind, host_id, count,
				row_number() OVER (PARTITION BY kind, host_id ORDER BY count DESC) AS rn
				FROM stats_top_daily WHERE day = d) x
			WHERE rn = p_keep + 1;
		DELETE FROM stats_top_hot WHERE day = d;
		-- DO NOTHING: a concurrent ingest that wrote a row meanwhile wrote
		-- the newer count.
		INSERT INTO stats_top_hot AS h (day, host_id, kind, count, domain, key)
			SELECT t.day, t.host_id, t.kind, t.count, t.domain, t.key
			FROM stats_top_daily t LEFT JOIN stats_top_cut c ON c.day = d
				AND c.kind = t.kind AND c.host_id = t.host_id
			WHERE t.day = d AND t.count >= coalesce(c.cut, 1)
			ON CONFLICT DO NOTHING;
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;

-- else_stats_retention - as in 002, and the tables above.
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
	DELETE FROM stats_top_hot WHERE day < p_before;
	DELETE FROM stats_top_cut WHERE day < p_before;
	DELETE FROM stats_top_dirty WHERE day < p_before;
	RETURN n;
END $$;

CREATE FUNCTION else_grant_stats_top() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_ingest') THEN
		GRANT SELECT, INSERT, UPDATE, DELETE ON stats_top_hot, stats_top_cut,
			stats_top_dirty TO else_ingest;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_query') THEN
		GRANT SELECT ON stats_top_hot TO else_query;
	END IF;
END $$;
SELECT else_grant_stats_top();
