-- 012_stats_top_compact.sql - stats_top_hot back to its size after a large load.
--
-- A day is all hot until its first refresh (006): a load of many days, or a
-- collector catching up a week, fills stats_top_hot with millions of rows
-- that the refresh then deletes.  Autovacuum makes that space reusable but
-- never gives it back, and the few thousand rows left of each day end up
-- scattered over a table of a gigabyte or more: a dashboard reading today's
-- hot rows then reads one page per row (10M e-mails: 178,000 rows on
-- 1.4 GB, bench/search.sh).
--
-- else_stats_top_compact rewrites the table in key order (CLUSTER on its
-- primary key: a day's rows of one kind are then on neighbouring pages)
-- when it is larger than p_min_bytes and than 8 times what its live rows
-- need (about 150 bytes each at fillfactor 70).  CLUSTER holds an ACCESS
-- EXCLUSIVE lock while it runs (seconds after a large load): the caller sets
-- a lock_timeout, and ingest and dashboards wait for it meanwhile.  The
-- live-row count is the statistics' (pg_stat_get_live_tuples): deletes of a
-- refresh that just ran may show only at the next call.  And CLUSTER keeps
-- the rows a transaction still running anywhere in the cluster may see (it
-- began before they were deleted): right after a refresh it may give back
-- little, so the backend rewrites at most once an hour.  Returns the bytes
-- given back, or NULL when the table was left alone.
CREATE FUNCTION else_stats_top_compact(p_min_bytes bigint) RETURNS bigint
	LANGUAGE plpgsql AS $$
DECLARE
	before bigint := pg_relation_size('stats_top_hot');
	live bigint := pg_stat_get_live_tuples('stats_top_hot'::regclass);
BEGIN
	IF before < p_min_bytes OR before < 8 * 150 * greatest(live, 1) THEN
		RETURN NULL;
	END IF;
	CLUSTER stats_top_hot USING stats_top_hot_pkey;
	RETURN before - pg_relation_size('stats_top_hot');
END $$;
