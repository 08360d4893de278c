-- 017_domain_inline.sql - else_domain() inlined by the planner (issue 4, speed).
--
-- else_domain() was declared STRICT.  The planner inlines a SQL function into
-- the expression that calls it only when it can prove that a STRICT function's
-- body is strict too, and a CASE is not: so every call ran through the SQL
-- function executor, 3 us instead of 0.4 us for the expression itself.  It is
-- called for each message, recipient and reject written (the domain indexes
-- of 001, the rollups of 002), twice per row.
--
-- The body is the same: NULL in gives NULL out without the declaration
-- (strpos(NULL) is NULL, and a CASE without a true branch is NULL).  The
-- indexes on else_domain() keep their entries; they and the searches now see
-- the inlined expression alike, so a search still matches its index.  A
-- connection that read an index's definition before this change keeps the
-- old form, and its searches miss the index, until it reconnects: none of
-- ELSE's search connections, which open after the migrations.
CREATE OR REPLACE FUNCTION else_domain(addr text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE WHEN strpos(addr, '@') > 0 THEN lower(split_part(addr, '@', -1)) END;
