-- 008_partition_day.sql - the ingest makes the partitions of the past days it
-- receives.
--
-- The backend makes partitions from yesterday to partitions_ahead days ahead.
-- Lines of older days (a collector backfilling rotated logs, one that was cut
-- off for days, a first import) used to land in the DEFAULT partitions, where
-- searches cannot prune them and retention never drops them.  The ingest now
-- calls else_partition_day() for every day within retention that a batch
-- brings and that it has not made yet (be_db_partition_day).  It runs as the
-- schema owner (SECURITY DEFINER: else_ingest has no DDL right), for one day at
-- a time, and only for days within ten years back and a year ahead.  Rows of
-- that day already in DEFAULT move into the new partition (else_partition_create).
CREATE FUNCTION else_partition_day(p_day date) RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF p_day IS NULL OR p_day < current_date - 3660 OR p_day > current_date + 366 THEN
		RAISE EXCEPTION 'else_partition_day: day % out of range', p_day;
	END IF;
	RETURN else_partitions_ensure(p_day, p_day);
END $$;
REVOKE ALL ON FUNCTION else_partition_day(date) FROM PUBLIC;

CREATE FUNCTION else_grant_partition_day() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_ingest') THEN
		GRANT EXECUTE ON FUNCTION else_partition_day(date) TO else_ingest;
	END IF;
END $$;
SELECT else_grant_partition_day();
