-- 019_partition_lock.sql - the partitions of a past day are made with their
-- locks taken first, all of them in one statement.
--
-- Seen in bench/search.sh's loads of past days (a backfill, then searches):
-- - else_partition_create moved the day's rows out of DEFAULT, then attached
--   the new partition.  Between the two, a writer could still put a row of
--   that day into DEFAULT: ATTACH then failed ("updated partition constraint
--   for default partition ... would be violated"), and the whole day, with
--   every day after it, waited in DEFAULT until the next try.
-- - The function locked the DEFAULT partitions of lines, messages, recipients,
--   ... one after the other while moving rows; a search transaction holding
--   one of them (messages_default, from its first statement) and asking for
--   another (lines_default, for the raw lines) closed a cycle, and the
--   deadlock detector cancelled the search.
-- Now else_partition_day takes every DEFAULT partition it may move rows from
-- in one statement, before any other work; a day whose partitions all exist
-- takes no lock at all.  Taking them first, it starts waiting before any search
-- that could close a cycle with it (such a search comes to wait on one of its
-- locks later), and the deadlock detector gives up the process that has waited
-- longest: the day, which the backend tries again shortly, not the search.  (The
-- backend also makes the day after each new day at once, before its rows come:
-- be_ingest.c.)
CREATE OR REPLACE FUNCTION else_partition_day(p_day date) RETURNS integer
	LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	v_missing boolean := to_regclass(quote_ident('email_keys_p' || to_char(p_day, 'YYYYMM')))
			     IS NULL;
	v_defaults text;
	t record;
BEGIN
	IF p_day IS NULL OR p_day < current_date - 3660 OR p_day > current_date + 366 THEN
		RAISE EXCEPTION 'else_partition_day: day % out of range', p_day;
	END IF;
	FOR t IN SELECT * FROM else_day_tables() LOOP
		v_missing := v_missing OR
			     to_regclass(quote_ident(t.tab || '_p' || to_char(p_day, 'YYYYMMDD'))) IS NULL;
	END LOOP;
	IF NOT v_missing THEN
		RETURN 0;
	END IF;
	SELECT string_agg(quote_ident(tab || '_default'), ', ') INTO v_defaults
		FROM (SELECT tab FROM else_day_tables() UNION ALL SELECT 'email_keys') d;
	EXECUTE 'LOCK TABLE ' || v_defaults || ' IN ACCESS EXCLUSIVE MODE';
	RETURN else_partitions_ensure(p_day, p_day);
END $$;
