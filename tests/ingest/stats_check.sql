-- stats_check.sql - the rollups of sql/002_stats.sql recomputed from the
-- flow tables: prints one line per rollup row that differs (table, key, the
-- stored and the recomputed count), nothing when they agree.  Rows whose
-- count is 0 (taken back) count as absent.  Written independently of the
-- ingest statement in backend/be_db_flow.c, from the definitions in 002.
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
		WHEN a.kind IN (3, 4) THEN a.key ELSE '' END)
SELECT * FROM msg_diff UNION ALL SELECT * FROM rcpt_diff UNION ALL SELECT * FROM rej_diff
UNION ALL SELECT * FROM top_diff;
