-- 015_stats_top_due.sql - whether the top lists need their refresh before
-- the next one is due.
--
-- The backend refreshes the days ingest changed every 5 minutes (006).  A
-- day is all hot until its first refresh, so a large load (a collector
-- catching up, a backfill) fills stats_top_hot with every key of the days it
-- wrote, and until the refresh a dashboard sums them all: 3.7 s for the
-- 1-day dashboard of the administrator right after bench/search.sh loaded 1M
-- e-mails, 18 ms after the refresh.  After a refresh a (day, kind, host)
-- group holds at most p_keep hot keys, and between refreshes only the keys
-- that cross the cut are added; a dirty day with a group of more than twice
-- that has not been refreshed since a load, or, on a busy platform, a day
-- just begun whose first cuts were still low.  The backend asks every 30 s
-- and then refreshes at once (docs/storage.md).  After a load the first
-- qualifying group ends the scan (4 ms over 3.1M hot rows); otherwise every
-- hot row of the dirty days is read (about 1 s for 3.1M), and in steady
-- state, with one dirty day, the planner may scan the whole small table
-- (40,000 rows at 1M e-mails over 7 days).
CREATE FUNCTION else_stats_top_due(p_keep integer) RETURNS boolean
	LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM stats_top_hot h
		WHERE h.day IN (SELECT day FROM stats_top_dirty)
		GROUP BY h.day, h.kind, h.host_id HAVING count(*) > 2 * p_keep)
$$;
