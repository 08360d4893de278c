-- bench/rsyslog/schema.sql - the table rsyslog's ompgsql writes to in
-- bench/ingest.sh (part 3).
--
-- This is rsyslog's stock PostgreSQL schema, as Debian's rsyslog-pgsql ships
-- it (/usr/share/dbconfig-common/data/rsyslog-pgsql/install/pgsql), minus
-- SystemEventsProperties, which the stock template never writes.  The stock
-- template (StdPgSQLFmt, the default of ompgsql) fills Message, Facility,
-- FromHost, Priority, DeviceReportedTime, ReceivedAt, InfoUnitID and
-- SysLogTag: one INSERT per line.  Its only index is the primary key: a
-- lighter table than ELSE's `lines` (one btree and two BRIN indexes).
CREATE TABLE SystemEvents
(
	ID serial not null primary key,
	CustomerID bigint,
	ReceivedAt timestamp without time zone NULL,
	DeviceReportedTime timestamp without time zone NULL,
	Facility smallint NULL,
	Priority smallint NULL,
	FromHost varchar(60) NULL,
	Message text,
	NTSeverity int NULL,
	Importance int NULL,
	EventSource varchar(60),
	EventUser varchar(60) NULL,
	EventCategory int NULL,
	EventID int NULL,
	EventBinaryData text NULL,
	MaxAvailable int NULL,
	CurrUsage int NULL,
	MinUsage int NULL,
	MaxUsage int NULL,
	InfoUnitID int NULL,
	SysLogTag varchar(60),
	EventLogType varchar(60),
	GenericFileName VarChar(60),
	SystemID int NULL
);
