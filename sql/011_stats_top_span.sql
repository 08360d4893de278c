-- 011_stats_top_span.sql - top lists over weeks and over every host (issue 6, speed).
--
-- A top list over 30 days reads stats_top_hot (006) for every day and host in
-- range: at 10M e-mails some 180,000 rows (30 days x 7 kinds x 16 hosts x up
-- to K keys), and the table is scattered by the refreshes that rewrite a day
-- (half a second).  A span is a precomputed sum of those hot rows:
--
--  - days = 7: an ISO week (first is its Monday), per host and for every host
--    (host_id 0);
--  - days = 1: one day, for every host (host_id 0) only.
--
-- A span covers the days [first, last] that are over (before the UTC day of
-- the refresh): the span of the current week ends yesterday, and grows at the
-- refresh of the next day.  Its rows are, per (kind, host_id), the keys whose
-- sum of stats_top_hot counts over those days (and, for host 0, over every
-- host) is at least the group's cut (stats_top_span_cut: 1 + the (4K+1)-th sum
-- when the group has more than 4K keys, no row otherwise), with that sum: a
-- span keeps four times the keys of a day, so that a top K summed over
-- several spans loses little at their cuts.
-- Made by else_stats_top_refresh(K) only, from stats_top_hot in the same
-- transaction as the day refreshes, never touched by ingest.
--
-- Exactness: a span equals the hot rows it was made from only while none of
-- its days changed since.  Ingest marks a day it changes in stats_top_dirty
-- (006), so a reader uses a span only when no day of it is dirty, and the
-- refresh that cleans a day drops the spans over it and makes them again.
-- With that, a list read from spans differs from the same list summed from
-- stats_top_hot only by the span cut: a key left out of a (span, kind, host)
-- had a sum of at most cut - 1 there.  Added to the bound of 006 (a key is
-- missing from a day and host only while under that day's cut): a list
-- undercounts a key, or leaves out a key that had, at most the sum of
-- (cut - 1) over the day groups of 006 and the span groups it is missing
-- from.  Groups with K (spans: 4K) keys or fewer are exact.
--
-- Authorization: a reader scoped by domain (or filtering one) never reads
-- spans (they carry no domain), only stats_top_hot; host 0 serves only a
-- reader who sees every host (the admin, or an operator whose groups name
-- every known host) with no domain restriction and no server filter.
--
-- Spans are dropped by the refresh once a day they summed is no longer in
-- stats_top_hot (retention: since is before the oldest day left), so a span
-- never outlives its days.
CREATE TABLE stats_top_spans (
	first date NOT NULL,
	days smallint NOT NULL CHECK (days IN (1, 7)),
	last date NOT NULL,
	since date NOT NULL, -- the first day with hot rows when made (last if none)
	PRIMARY KEY (first, days)
);

CREATE TABLE stats_top_span (
	first date NOT NULL,
	days smallint NOT NULL,
	kind smallint NOT NULL,
	host_id integer NOT NULL, -- 0: every host
	count bigint NOT NULL,
	key text NOT NULL,
	PRIMARY KEY (first, days, kind, host_id, key),
	FOREIGN KEY (first, days) REFERENCES stats_top_spans ON DELETE CASCADE
);

CREATE TABLE stats_top_span_cut (
	first date NOT NULL,
	days smallint NOT NULL,
	kind smallint NOT NULL,
	host_id integer NOT NULL,
	cut bigint NOT NULL,
	PRIMARY KEY (first, days, kind, host_id),
	FOREIGN KEY (first, days) REFERENCES stats_top_spans ON DELETE CASCADE
);

-- else_stats_top_span - (re)make the span (p_first, p_days) over the days
-- p_first .. p_last from stats_top_hot, keeping p_keep keys per group.
CREATE FUNCTION else_stats_top_span(p_first date, p_days smallint, p_last date, p_keep integer)
	RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	-- Its rows and cuts go with it (ON DELETE CASCADE).
	DELETE FROM stats_top_spans WHERE first = p_first AND days = p_days;
	INSERT INTO stats_top_spans (first, days, last, since)
		SELECT p_first, p_days, p_last, coalesce(min(day), p_last) FROM stats_top_hot
		WHERE day BETWEEN p_first AND p_last;
	WITH s AS (SELECT kind, host_id, key, c,
			  row_number() OVER (PARTITION BY kind, host_id ORDER BY c DESC) AS rn
		   FROM (SELECT kind, host_id, key, sum(count)::bigint AS c
			 FROM stats_top_hot WHERE day BETWEEN p_first AND p_last
			 AND kind BETWEEN 1 AND 7 AND p_days = 7
			 GROUP BY kind, host_id, key
			 UNION ALL
			 SELECT kind, 0, key, sum(count)::bigint
			 FROM stats_top_hot WHERE day BETWEEN p_first AND p_last
			 AND kind BETWEEN 1 AND 7
			 GROUP BY kind, key) x),
	cu AS (SELECT kind, host_id, c + 1 AS cut FROM s WHERE rn = p_keep + 1),
	ic AS (INSERT INTO stats_top_span_cut (first, days, kind, host_id, cut)
		SELECT p_first, p_days, kind, host_id, cut FROM cu)
	INSERT INTO stats_top_span (first, days, kind, host_id, count, key)
		SELECT p_first, p_days, s.kind, s.host_id, s.c, s.key
		FROM s LEFT JOIN cu ON cu.kind = s.kind AND cu.host_id = s.host_id
		WHERE s.c >= coalesce(cu.cut, 1);
END $$;

-- else_stats_top_refresh - as in 006 (new cuts and hot rows for every dirty
-- day), then the spans: those over a refreshed day are made again, and every
-- day that is over and every week with such a day gets its span when it has
-- none or one that ends before the week's last day that is over.  Returns
-- the number of days refreshed.
CREATE OR REPLACE FUNCTION else_stats_top_refresh(p_keep integer) RETURNS integer
	LANGUAGE plpgsql AS $$
DECLARE
	d date;
	w date;
	n integer := 0;
	today date := else_day(now());
	oldest date;
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
		-- The spans over d are stale: made again below if d is over.
		DELETE FROM stats_top_spans WHERE d BETWEEN first AND last;
		n := n + 1;
	END LOOP;
	SELECT min(day) INTO oldest FROM stats_top_hot;
	DELETE FROM stats_top_spans WHERE oldest IS NULL OR since < oldest;
	-- Every day with hot rows (one index probe a day), oldest first.
	FOR d IN WITH RECURSIVE dd AS (SELECT oldest AS day
		UNION ALL SELECT (SELECT min(h.day) FROM stats_top_hot h WHERE h.day > dd.day)
		FROM dd WHERE dd.day IS NOT NULL)
		SELECT day FROM dd WHERE day IS NOT NULL AND day < today LOOP
		IF NOT EXISTS (SELECT 1 FROM stats_top_spans s WHERE s.first = d AND s.days = 1) THEN
			PERFORM else_stats_top_span(d, 1::smallint, d, 4 * p_keep);
		END IF;
		w := date_trunc('week', d)::date;
		IF NOT EXISTS (SELECT 1 FROM stats_top_spans s WHERE s.first = w
			AND s.days = 7 AND s.last = least(w + 6, today - 1)) THEN
			PERFORM else_stats_top_span(w, 7::smallint, least(w + 6, today - 1), 4 * p_keep);
		END IF;
	END LOOP;
	RETURN n;
END $$;

CREATE FUNCTION else_grant_stats_top_span() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_ingest') THEN
		GRANT SELECT, INSERT, UPDATE, DELETE ON stats_top_spans, stats_top_span,
			stats_top_span_cut TO else_ingest;
	END IF;
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_query') THEN
		GRANT SELECT ON stats_top_spans, stats_top_span, stats_top_dirty TO else_query;
	END IF;
END $$;
SELECT else_grant_stats_top_span();
