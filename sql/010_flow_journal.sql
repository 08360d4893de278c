-- 010_flow_journal.sql - the flows of a batch commit in the batch's own
-- transaction (issue 4: "correlation output is written in the same
-- transaction as the lines it came from").
--
-- The ingest pipeline (backend/be_ingest.c, ingest_pipeline = 1) stores a
-- batch's lines on one connection and upserts the flows they complete into
-- messages, recipients, rejects, email_keys and the rollups on a second one,
-- so that PostgreSQL works on both at once, on two cores.  The upsert is the
-- expensive part (eight indexes of messages, the rollups); what a flow is, is
-- known as soon as the engine has seen the batch.  So the batch's transaction
-- also inserts one row here: the batch's flows, encoded as the binary COPY
-- rows of the four tables they go to.  The flows writer then applies them to
-- those tables and deletes the row in one transaction of its own.
--
-- Lines and their flows therefore commit, or not, together.  A crash between
-- the two transactions leaves rows here; the backend applies them, in id
-- order, before it takes a batch or serves a query (be_db_journal_apply), and
-- also when a writer's transaction fails.  The journal is empty while the
-- backend is idle, and holds at most about 32 MiB of flows under load
-- (be_ingest.c, BE_INGEST_PIPE_MAX).
--
-- The columns are the COPY rows without the COPY header and trailer, and
-- their counts.  STORAGE EXTERNAL: stored out of line but not compressed
-- (compressing costs the batch CPU and the row is gone a moment later).
CREATE TABLE flow_journal (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	written_at timestamptz NOT NULL DEFAULT now(),
	messages bytea NOT NULL,
	nmessages integer NOT NULL,
	recipients bytea NOT NULL,
	nrecipients integer NOT NULL,
	rejects bytea NOT NULL,
	nrejects integer NOT NULL,
	keys bytea NOT NULL,
	nkeys integer NOT NULL
);
ALTER TABLE flow_journal ALTER COLUMN messages SET STORAGE EXTERNAL,
	ALTER COLUMN recipients SET STORAGE EXTERNAL, ALTER COLUMN rejects SET STORAGE EXTERNAL,
	ALTER COLUMN keys SET STORAGE EXTERNAL;
-- Rows live for a moment: vacuum it as soon as a few thousand are dead.
ALTER TABLE flow_journal SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 1000, toast.autovacuum_vacuum_scale_factor = 0,
	toast.autovacuum_vacuum_threshold = 5000);

CREATE FUNCTION else_grant_flow_journal() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_ingest') THEN
		GRANT SELECT, INSERT, DELETE ON flow_journal TO else_ingest;
	END IF;
END $$;
SELECT else_grant_flow_journal();
