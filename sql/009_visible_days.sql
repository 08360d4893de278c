-- 009_visible_days.sql - else_visible() looks for an e-mail's transactions only
-- on the days it has them.
--
-- An operator's or a mailbox user's search checks every row it returns with
-- else_visible(email_id): may the caller see this e-mail (003)?  It looked the
-- e-mail's transactions up by email_id in every day partition of messages (90
-- index probes a row at the default retention).  email_keys kind 3 already
-- names the days an e-mail has transactions on (the quick search reads it):
-- now the days come first, and only their partitions are probed (run-time
-- pruning; OFFSET 0 keeps PostgreSQL from reordering the two).  Same answer.
-- Operators without domains skip the recipient lookup.
CREATE OR REPLACE FUNCTION else_visible(p_role integer, p_hosts integer[], p_domains text[],
			     p_addrs text[], p_email bigint) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT CASE p_role
	WHEN 1 THEN true
	WHEN 2 THEN EXISTS (
		SELECT 1 FROM (SELECT k.day FROM email_keys k
			       WHERE k.kind = 3 AND k.key = lpad(to_hex(p_email), 16, '0')
				 AND k.email_id = p_email OFFSET 0) d,
		LATERAL (SELECT 1 FROM messages m
			 WHERE m.email_id = p_email
			   AND m.first_seen >= (d.day::timestamp AT TIME ZONE 'UTC')
			   AND m.first_seen < ((d.day + 1)::timestamp AT TIME ZONE 'UTC')
			   AND (m.host_id = ANY (p_hosts)
				OR (cardinality(p_domains) > 0
				    AND (else_domain(m.sender) = ANY (p_domains)
					 OR EXISTS (SELECT 1 FROM recipients r
						    WHERE r.first_seen = m.first_seen
						      AND r.host_id = m.host_id
						      AND r.queue_id = m.queue_id
						      AND else_domain(r.rcpt) = ANY (p_domains)))))
			 OFFSET 0) x)
	WHEN 3 THEN EXISTS (
		SELECT 1 FROM (SELECT k.day FROM email_keys k
			       WHERE k.kind = 3 AND k.key = lpad(to_hex(p_email), 16, '0')
				 AND k.email_id = p_email OFFSET 0) d,
		LATERAL (SELECT 1 FROM messages m
			 WHERE m.email_id = p_email
			   AND m.first_seen >= (d.day::timestamp AT TIME ZONE 'UTC')
			   AND m.first_seen < ((d.day + 1)::timestamp AT TIME ZONE 'UTC')
			   AND (lower(m.sender) = ANY (p_addrs)
				OR EXISTS (SELECT 1 FROM recipients r
					   WHERE r.first_seen = m.first_seen AND r.host_id = m.host_id
					     AND r.queue_id = m.queue_id
					     AND (lower(r.rcpt) = ANY (p_addrs)
						  OR lower(r.orig_rcpt) = ANY (p_addrs))))
			 OFFSET 0) x)
	ELSE false
END $$;
