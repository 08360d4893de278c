-- stats_check.sql - the rollups of sql/002_stats.sql and sql/007_stats_series.sql
-- recomputed from the flow tables, and the invariants of the top lists of
-- sql/006_stats_top.sql checked against stats_top_daily: prints one line per
-- violation (table, key, what is stored, what it should be), nothing when
-- all hold.  Rows whose count is 0 (taken back) count as absent in the
-- 002 and 007 tables.  Written independently of the ingest statement in
-- backend/be_db_flow.c, from the definitions in the migrations.
--
-- 007 (exact): each stats_*_host_hourly row is the sum over the domain of
-- what its 002 table should hold, i.e. recomputed from the flow tables too.
--
-- 006 (a bounded approximation with exact invariants), per (day, kind,
-- host_id) group and its cut (1 when the group has no stats_top_cut row):
--  - every stats_top_hot row has the count and domain of the
--    stats_top_daily row of its key ("stats_top_hot", stored = hot count and
--    domain, want = daily count and domain, empty when the key has none);
--  - every stats_top_daily key whose count is at or above the cut is hot
--    (stored empty, want = its count and domain);
--  - on a day that is not in stats_top_dirty (no change since its last
--    refresh) the hot keys are exactly those at or above the cut (a hot key
--    below it is a line with want "below cut N"), and each cut is 1 + the
--    count of the (K+1)-th key of its group, for one K: K is taken as the
--    smallest value the clean groups allow (a group without a cut has at
--    most K keys, one with a cut at most K keys at or above it), and a cut
--    that K does not give is a "stats_top_cut" line (stored the cut, want
--    the cut of that K, empty when the group has K keys or fewer).  So it
--    assumes every refresh used the same K, as else-backend does
--    (BE_TOP_KEEP).
-- 011 (spans made from stats_top_hot by the refresh): see span_diff below.
-- Run it when no ingest and no refresh are in progress: it reads the tables
-- in one snapshot, but the invariants hold at commits of either, not while
-- both run.
WITH
msg AS (SELECT else_hour(first_seen) AS hour, host_id, coalesce(else_domain(sender), '') AS d,
	       status, count(*) AS n, sum(coalesce(size, 0)) AS b
	FROM messages GROUP BY 1, 2, 3, 4),
msg_diff AS (
	SELECT 'stats_msg_hourly' AS tbl, concat_ws(' ', coalesce(a.hour, s.hour), coalesce(a.host_id, s.host_id),
		coalesce(a.d, s.sender_domain), coalesce(a.status, s.status)) AS k,
	       s.messages || '/' || s.bytes AS stored, a.n || '/' || a.b AS want
	FROM (SELECT * FROM stats_msg_hourly WHERE messages <> 0 OR bytes <> 0) s
	FULL JOIN msg a ON a.hour = s.hour AND a.host_id = s.host_id AND a.d = s.sender_domain
		AND a.status = s.status
	WHERE s.messages IS DISTINCT FROM a.n OR s.bytes IS DISTINCT FROM a.b),
rcpt AS (SELECT else_hour(first_seen) AS hour, host_id, coalesce(else_domain(rcpt), '') AS d,
		status, direction, count(*) AS n
	 FROM recipients GROUP BY 1, 2, 3, 4, 5),
rcpt_diff AS (
	SELECT 'stats_rcpt_hourly', concat_ws(' ', coalesce(a.hour, s.hour), coalesce(a.host_id, s.host_id),
		coalesce(a.d, s.rcpt_domain), coalesce(a.status, s.status), coalesce(a.direction, s.direction)),
	       s.recipients::text, a.n::text
	FROM (SELECT * FROM stats_rcpt_hourly WHERE recipients <> 0) s
	FULL JOIN rcpt a ON a.hour = s.hour AND a.host_id = s.host_id AND a.d = s.rcpt_domain
		AND a.status = s.status AND a.direction = s.direction
	WHERE s.recipients IS DISTINCT FROM a.n),
rej AS (SELECT else_hour(ts) AS hour, host_id, coalesce(else_domain(rcpt), '') AS d, event, status,
	       count(*) AS n
	FROM rejects GROUP BY 1, 2, 3, 4, 5),
rej_diff AS (
	SELECT 'stats_reject_hourly', concat_ws(' ', coalesce(a.hour, s.hour), coalesce(a.host_id, s.host_id),
		coalesce(a.d, s.rcpt_domain), coalesce(a.event, s.event), coalesce(a.status, s.status)),
	       s.rejects::text, a.n::text
	FROM (SELECT * FROM stats_reject_hourly WHERE rejects <> 0) s
	FULL JOIN rej a ON a.hour = s.hour AND a.host_id = s.host_id AND a.d = s.rcpt_domain
		AND a.event = s.event AND a.status = s.status
	WHERE s.rejects IS DISTINCT FROM a.n),
top_src AS (
	SELECT else_day(first_seen) AS day, host_id, 1 AS kind, lower(sender) AS key FROM messages WHERE sender <> ''
	UNION ALL SELECT else_day(first_seen), host_id, 3, else_domain(sender) FROM messages
		WHERE else_domain(sender) IS NOT NULL
	UNION ALL SELECT else_day(first_seen), host_id, 5, client_ip FROM messages WHERE client_ip IS NOT NULL
	UNION ALL SELECT else_day(ts), host_id, 5, client_ip FROM rejects WHERE client_ip IS NOT NULL
	UNION ALL SELECT else_day(first_seen), host_id, 2, lower(rcpt) FROM recipients WHERE rcpt <> ''
	UNION ALL SELECT else_day(first_seen), host_id, 4, else_domain(rcpt) FROM recipients
		WHERE else_domain(rcpt) IS NOT NULL
	UNION ALL SELECT else_day(first_seen), host_id, 7, else_reason_key(response) FROM recipients
		WHERE status = 'deferred' AND response IS NOT NULL
	UNION ALL SELECT else_day(ts), host_id, CASE WHEN status = 'deferred' THEN 7 ELSE 6 END,
		else_reason_key(reason) FROM rejects WHERE reason IS NOT NULL),
top AS (SELECT day, host_id, kind, key, count(*) AS n FROM top_src GROUP BY 1, 2, 3, 4),
top_diff AS (
	SELECT 'stats_top_daily', concat_ws(' ', coalesce(a.day, s.day), coalesce(a.host_id, s.host_id),
		coalesce(a.kind, s.kind), coalesce(a.key, s.key)),
	       s.count::text, a.n::text
	FROM (SELECT * FROM stats_top_daily WHERE count <> 0) s
	FULL JOIN top a ON a.day = s.day AND a.host_id = s.host_id AND a.kind = s.kind AND a.key = s.key
	WHERE s.count IS DISTINCT FROM a.n
	   OR s.domain IS DISTINCT FROM CASE WHEN a.kind IN (1, 2) THEN coalesce(else_domain(a.key), '')
		WHEN a.kind IN (3, 4) THEN a.key ELSE '' END),
-- 007: the 002 series summed over the domain.
msgh_diff AS (
	SELECT 'stats_msg_host_hourly', concat_ws(' ', coalesce(a.hour, s.hour),
		coalesce(a.host_id, s.host_id), coalesce(a.status, s.status)),
	       s.messages || '/' || s.bytes, a.n || '/' || a.b
	FROM (SELECT * FROM stats_msg_host_hourly WHERE messages <> 0 OR bytes <> 0) s
	FULL JOIN (SELECT hour, host_id, status, sum(n) AS n, sum(b) AS b FROM msg GROUP BY 1, 2, 3) a
		ON a.hour = s.hour AND a.host_id = s.host_id AND a.status = s.status
	WHERE s.messages IS DISTINCT FROM a.n OR s.bytes IS DISTINCT FROM a.b),
rcpth_diff AS (
	SELECT 'stats_rcpt_host_hourly', concat_ws(' ', coalesce(a.hour, s.hour),
		coalesce(a.host_id, s.host_id), coalesce(a.status, s.status),
		coalesce(a.direction, s.direction)),
	       s.recipients::text, a.n::text
	FROM (SELECT * FROM stats_rcpt_host_hourly WHERE recipients <> 0) s
	FULL JOIN (SELECT hour, host_id, status, direction, sum(n) AS n FROM rcpt GROUP BY 1, 2, 3, 4) a
		ON a.hour = s.hour AND a.host_id = s.host_id AND a.status = s.status
		AND a.direction = s.direction
	WHERE s.recipients IS DISTINCT FROM a.n),
rejh_diff AS (
	SELECT 'stats_reject_host_hourly', concat_ws(' ', coalesce(a.hour, s.hour),
		coalesce(a.host_id, s.host_id), coalesce(a.event, s.event), coalesce(a.status, s.status)),
	       s.rejects::text, a.n::text
	FROM (SELECT * FROM stats_reject_host_hourly WHERE rejects <> 0) s
	FULL JOIN (SELECT hour, host_id, event, status, sum(n) AS n FROM rej GROUP BY 1, 2, 3, 4) a
		ON a.hour = s.hour AND a.host_id = s.host_id AND a.event = s.event AND a.status = s.status
	WHERE s.rejects IS DISTINCT FROM a.n),
-- 006: stats_top_daily with each row's cut and whether its day is clean.
daily AS (
	SELECT t.day, t.host_id, t.kind, t.key, t.count, t.domain, coalesce(c.cut, 1) AS cut,
	       NOT EXISTS (SELECT 1 FROM stats_top_dirty d WHERE d.day = t.day) AS clean
	FROM stats_top_daily t LEFT JOIN stats_top_cut c ON c.day = t.day AND c.kind = t.kind
		AND c.host_id = t.host_id),
hot_diff AS (
	SELECT 'stats_top_hot', concat_ws(' ', coalesce(h.day, t.day), coalesce(h.host_id, t.host_id),
		coalesce(h.kind, t.kind), coalesce(h.key, t.key)),
	       h.count || ' ' || quote_literal(h.domain),
	       CASE WHEN h.key IS NOT NULL AND t.count = h.count AND t.domain = h.domain
		    THEN 'below cut ' || t.cut ELSE t.count || ' ' || quote_literal(t.domain) END
	FROM stats_top_hot h
	FULL JOIN daily t ON t.day = h.day AND t.host_id = h.host_id AND t.kind = h.kind
		AND t.key = h.key
	WHERE (h.key IS NOT NULL AND (t.key IS NULL OR t.count <> h.count OR t.domain <> h.domain))
	   OR (h.key IS NULL AND t.count >= t.cut)
	   OR (h.key IS NOT NULL AND t.clean AND t.count < t.cut)),
-- The clean groups: the keys there are, the cut, how many keys reach the
-- cut and how many reach cut - 1 (the count of the (K+1)-th key).
grp AS (
	SELECT g.day, g.kind, g.host_id, c.cut, count(t.key) AS n,
	       count(t.key) FILTER (WHERE t.count >= c.cut) AS hi,
	       count(t.key) FILTER (WHERE t.count >= c.cut - 1) AS lo
	FROM (SELECT day, kind, host_id FROM stats_top_daily
	      UNION SELECT day, kind, host_id FROM stats_top_cut) g
	LEFT JOIN stats_top_cut c ON c.day = g.day AND c.kind = g.kind AND c.host_id = g.host_id
	LEFT JOIN stats_top_daily t ON t.day = g.day AND t.kind = g.kind AND t.host_id = g.host_id
	WHERE NOT EXISTS (SELECT 1 FROM stats_top_dirty d WHERE d.day = g.day)
	GROUP BY g.day, g.kind, g.host_id, c.cut),
keep AS (SELECT max(CASE WHEN cut IS NULL THEN n ELSE hi END) AS k FROM grp),
cut_diff AS (
	SELECT 'stats_top_cut', concat_ws(' ', g.day, g.host_id, g.kind), g.cut::text,
	       (SELECT (t.count + 1)::text FROM stats_top_daily t WHERE t.day = g.day
		AND t.kind = g.kind AND t.host_id = g.host_id ORDER BY t.count DESC
		OFFSET (SELECT k FROM keep) LIMIT 1)
	FROM grp g
	WHERE g.cut IS NOT NULL AND g.lo <= (SELECT k FROM keep)),
-- 011: each span whose days are all clean holds, per (kind, host_id), the
-- keys whose sum of stats_top_hot counts over its days (host 0: over every
-- host) reaches its cut (1 without a stats_top_span_cut row), with that sum:
-- a span row with another count or under the cut, or a key at or above the
-- cut that is missing, is a "stats_top_span" line (stored the span count,
-- want the sum, "below cut N" or empty).  And the spans' shape: a week
-- starts on a Monday and ends within it, a day span is one day, host 0 only.
span_ok AS (
	SELECT p.first, p.days, p.last FROM stats_top_spans p
	WHERE NOT EXISTS (SELECT 1 FROM stats_top_dirty d WHERE d.day BETWEEN p.first AND p.last)),
span_sum AS (
	SELECT p.first, p.days, h.kind, h.host_id, h.key, sum(h.count) AS n
	FROM span_ok p JOIN stats_top_hot h ON h.day BETWEEN p.first AND p.last
	WHERE p.days = 7 AND h.kind BETWEEN 1 AND 7 GROUP BY 1, 2, 3, 4, 5
	UNION ALL
	SELECT p.first, p.days, h.kind, 0, h.key, sum(h.count)
	FROM span_ok p JOIN stats_top_hot h ON h.day BETWEEN p.first AND p.last
	WHERE h.kind BETWEEN 1 AND 7 GROUP BY 1, 2, 3, 4, 5),
span_diff AS (
	SELECT 'stats_top_span', concat_ws(' ', coalesce(s.first, a.first), coalesce(s.days, a.days),
		coalesce(s.kind, a.kind), coalesce(s.host_id, a.host_id), coalesce(s.key, a.key)),
	       s.count::text,
	       CASE WHEN s.key IS NOT NULL AND s.count = a.n THEN 'below cut ' || coalesce(c.cut, 1)
		    ELSE a.n::text END
	FROM (SELECT t.* FROM stats_top_span t JOIN span_ok p USING (first, days)) s
	FULL JOIN span_sum a ON a.first = s.first AND a.days = s.days AND a.kind = s.kind
		AND a.host_id = s.host_id AND a.key = s.key
	LEFT JOIN stats_top_span_cut c ON c.first = coalesce(s.first, a.first)
		AND c.days = coalesce(s.days, a.days) AND c.kind = coalesce(s.kind, a.kind)
		AND c.host_id = coalesce(s.host_id, a.host_id)
	WHERE (s.key IS NOT NULL AND (a.key IS NULL OR s.count <> a.n))
	   OR (s.key IS NULL AND a.n >= coalesce(c.cut, 1))
	   OR (s.key IS NOT NULL AND s.count < coalesce(c.cut, 1))),
spans_diff AS (
	SELECT 'stats_top_spans', concat_ws(' ', p.first, p.days), p.last::text, 'a span'
	FROM stats_top_spans p
	WHERE NOT ((p.days = 1 AND p.last = p.first)
		OR (p.days = 7 AND extract(isodow FROM p.first) = 1 AND p.last BETWEEN p.first AND p.first + 6))
	   OR (p.days = 1 AND EXISTS (SELECT 1 FROM stats_top_span t WHERE t.first = p.first
		AND t.days = 1 AND t.host_id <> 0)))
SELECT * FROM msg_diff UNION ALL SELECT * FROM rcpt_diff UNION ALL SELECT * FROM rej_diff
UNION ALL SELECT * FROM top_diff UNION ALL SELECT * FROM msgh_diff
UNION ALL SELECT * FROM rcpth_diff UNION ALL SELECT * FROM rejh_diff
UNION ALL SELECT * FROM hot_diff UNION ALL SELECT * FROM cut_diff
UNION ALL SELECT * FROM span_diff UNION ALL SELECT * FROM spans_diff;
