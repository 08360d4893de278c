-- 014_flow_journal_lz4.sql - flow_journal's values compressed with lz4.
--
-- 010 stored them uncompressed (pglz would cost a batch more than it saves).
-- A batch's row is as large as its lines (about 650 kB for 5,000 lines):
-- written out of line, its TOAST chunks and their WAL were a tenth of the
-- ingest worker's time per batch.  lz4 compresses the COPY-encoded rows
-- six- to sevenfold on bench/ingest.sh's data (800 messages: 189 kB -> 32
-- kB; 900 recipients: 233 kB -> 31 kB), at a fraction of pglz's CPU.  A
-- server built without lz4 keeps 010's storage.
DO $$
BEGIN
	ALTER TABLE flow_journal ALTER COLUMN messages SET STORAGE EXTENDED,
		ALTER COLUMN recipients SET STORAGE EXTENDED,
		ALTER COLUMN rejects SET STORAGE EXTENDED, ALTER COLUMN keys SET STORAGE EXTENDED,
		ALTER COLUMN messages SET COMPRESSION lz4,
		ALTER COLUMN recipients SET COMPRESSION lz4,
		ALTER COLUMN rejects SET COMPRESSION lz4, ALTER COLUMN keys SET COMPRESSION lz4;
EXCEPTION
	WHEN feature_not_supported THEN
		RAISE WARNING 'lz4 not available: flow_journal stays uncompressed';
END $$;
