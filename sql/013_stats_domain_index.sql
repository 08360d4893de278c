-- 013_stats_domain_index.sql - the hourly rollups by domain, for operators
-- scoped by domain (issue 6, speed).
--
-- stats_msg_hourly, stats_rcpt_hourly and stats_reject_hourly (002) are keyed
-- by hour first: a dashboard of an operator who sees only their customers'
-- domains read every row of its range and kept those of the domains.  At 10M
-- e-mails over 30 days that is 9.2M and 7.9M rows (1.8 and 1.5 GB): 1.8-2 s
-- for a 30-day dashboard.  With these indexes it reads its domains' rows only
-- (6,400 for a customer domain of the bench data: 8-25 ms).  The Stats
-- statement (backend/be_db_query.c) drops its host condition when the reader
-- has no servers, so that the planner can use them.
--
-- Building them on an existing database takes about 10 s per GB of these
-- tables, once, at the start of the upgraded backend.
CREATE INDEX stats_msg_hourly_domain ON stats_msg_hourly (sender_domain, hour);
CREATE INDEX stats_rcpt_hourly_domain ON stats_rcpt_hourly (rcpt_domain, hour);
CREATE INDEX stats_reject_hourly_domain ON stats_reject_hourly (rcpt_domain, hour);
