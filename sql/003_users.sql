-- 003_users.sql - users, groups, sessions and the audit log of the query
-- service (backend/be_query*.c, be_db_auth.c, be_db_query.c), and the SQL
-- that decides what a user may see.  docs/query.md explains the rules.
--
-- Roles (users.role, the values of proto/query.proto's Role):
--   1 admin     everything, administration
--   2 operator  e-mails that touch a server or an e-mail domain of their groups
--   3 mailbox   e-mails from or to one of their own addresses (users.addresses)
--
-- Least privilege: else_query reads the mail data (SELECT only, 001/002) and
-- reads and writes these tables only; the audit log is append-only for it.

CREATE TABLE users (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_login timestamptz,
	password_changed timestamptz NOT NULL DEFAULT now(),
	role smallint NOT NULL CHECK (role IN (1, 2, 3)),
	disabled boolean NOT NULL DEFAULT false,
	name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
	full_name text NOT NULL DEFAULT '',
	-- The KDF string: "scrypt$LOG2N$R$P$SALT_HEX$HASH_HEX" (el_ossl_kdf_*).
	password text NOT NULL,
	-- ROLE_MAILBOX: the addresses the user may see, lower case.
	addresses text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE groups (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128)
);

-- A group owns servers (hosts.name: the collector certificate's CN) ...
CREATE TABLE group_servers (
	group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	host text NOT NULL,
	PRIMARY KEY (group_id, host)
);

-- ... and e-mail domains (lower case, as else_domain() returns them).
CREATE TABLE group_domains (
	group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	domain text NOT NULL,
	PRIMARY KEY (group_id, domain)
);

CREATE TABLE user_groups (
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	group_id bigint NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group ON user_groups (group_id);

-- A login session.  The token is never stored: token_hash is its SHA-256,
-- so a read of this table (a backup, a leak) gives no usable session.  The
-- CSRF token is returned by SessionCheck, so it is kept as it is.
CREATE TABLE sessions (
	token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used timestamptz NOT NULL DEFAULT now(),
	csrf text NOT NULL,
	client_ip text NOT NULL DEFAULT '',
	user_agent text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_used ON sessions (last_used);

-- Failed logins, for throttling.  kind 1: per user name, 2: per client IP.
CREATE TABLE login_failures (
	ts timestamptz NOT NULL DEFAULT now(),
	kind smallint NOT NULL CHECK (kind IN (1, 2)),
	key text NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (kind, key, ts);

-- Logins, failed logins, logouts, searches, flow views, admin actions.  The
-- user's name is copied: the log outlives the user.
CREATE TABLE audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	ts timestamptz NOT NULL DEFAULT now(),
	user_id bigint,
	user_name text NOT NULL DEFAULT '',
	client_ip text NOT NULL DEFAULT '',
	action text NOT NULL,
	detail text NOT NULL DEFAULT ''
);

-- Each user's searches (quick, search, rejects, flow), newest kept.
CREATE TABLE search_history (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	ts timestamptz NOT NULL DEFAULT now(),
	results integer NOT NULL DEFAULT 0,
	kind text NOT NULL,
	query_json text NOT NULL
);
CREATE INDEX search_history_user ON search_history (user_id, id);

-- Authorization ------------------------------------------------------------
-- Every query of the query service carries the caller's scope as four
-- parameters (role, host ids, domains, addresses: else_scope()) and filters
-- rows through these functions, so the rules live in one place, in SQL.

-- else_scope - a user's role and the servers (as host ids), domains and
-- addresses they may see.  Disabled and unknown users get role 0: nothing.
CREATE FUNCTION else_scope(p_user bigint)
	RETURNS TABLE (role integer, hosts integer[], domains text[], addrs text[])
	LANGUAGE sql STABLE AS $$
SELECT CASE WHEN u.disabled THEN 0 ELSE u.role::integer END,
	coalesce((SELECT array_agg(DISTINCT h.id) FROM user_groups ug
		  JOIN group_servers gs ON gs.group_id = ug.group_id
		  JOIN hosts h ON h.name = gs.host
		  WHERE ug.user_id = u.id), '{}'),
	coalesce((SELECT array_agg(DISTINCT gd.domain) FROM user_groups ug
		  JOIN group_domains gd ON gd.group_id = ug.group_id
		  WHERE ug.user_id = u.id), '{}'),
	(SELECT coalesce(array_agg(DISTINCT lower(a)), '{}') FROM unnest(u.addresses) a)
FROM users u WHERE u.id = p_user
$$;

-- else_visible - may a caller of this scope see e-mail p_email?
--   admin: yes.  operator: one of its transactions is on a group server, or
--   the sender or a recipient of one of them is in a group domain.
--   mailbox: the sender or a recipient (or original recipient) of one of its
--   transactions is one of their addresses.
CREATE FUNCTION else_visible(p_role integer, p_hosts integer[], p_domains text[],
			     p_addrs text[], p_email bigint) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT CASE p_role
	WHEN 1 THEN true
	WHEN 2 THEN EXISTS (
		SELECT 1 FROM messages m
		WHERE m.email_id = p_email
		  AND (m.host_id = ANY (p_hosts) OR else_domain(m.sender) = ANY (p_domains)
		       OR EXISTS (SELECT 1 FROM recipients r
				  WHERE r.first_seen = m.first_seen AND r.host_id = m.host_id
				    AND r.queue_id = m.queue_id
				    AND else_domain(r.rcpt) = ANY (p_domains))))
	WHEN 3 THEN EXISTS (
		SELECT 1 FROM messages m
		WHERE m.email_id = p_email
		  AND (lower(m.sender) = ANY (p_addrs)
		       OR EXISTS (SELECT 1 FROM recipients r
				  WHERE r.first_seen = m.first_seen AND r.host_id = m.host_id
				    AND r.queue_id = m.queue_id
				    AND (lower(r.rcpt) = ANY (p_addrs)
					 OR lower(r.orig_rcpt) = ANY (p_addrs)))))
	ELSE false
END $$;

-- else_reject_visible - may a caller of this scope see a reject row?  Its own
-- server, sender or recipient decides (a reject of a queued message is also
-- visible with that message: else_visible on its email_id).
CREATE FUNCTION else_reject_visible(p_role integer, p_hosts integer[], p_domains text[],
				    p_addrs text[], p_host integer, p_sender text, p_rcpt text)
	RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE p_role
	WHEN 1 THEN true
	WHEN 2 THEN p_host = ANY (p_hosts) OR coalesce(else_domain(p_sender) = ANY (p_domains), false)
		OR coalesce(else_domain(p_rcpt) = ANY (p_domains), false)
	WHEN 3 THEN coalesce(lower(p_sender) = ANY (p_addrs), false)
		OR coalesce(lower(p_rcpt) = ANY (p_addrs), false)
	ELSE false
END $$;

-- else_direction - where a recipient went, as 002_stats.sql defines it:
-- 'relay' to a host ELSE follows, 'local' delivered on the host (a transport
-- without an address: local, virtual, pipe, lmtp over a socket), 'out' to any
-- other address, '' not delivered (yet).
CREATE FUNCTION else_direction(p_status text, p_relay_host text, p_relay_ip text,
			       p_next_host integer) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
	WHEN p_next_host IS NOT NULL THEN 'relay'
	WHEN p_status <> 'sent' OR p_relay_host IS NULL OR p_relay_host = 'none' THEN ''
	WHEN p_relay_ip IS NULL OR p_relay_ip = '' THEN 'local'
	ELSE 'out'
END $$;

-- else_like - a LIKE pattern matching p literally: prefix (p_mode 1) or
-- substring (2).  Input never reaches LIKE as a pattern of its own.
CREATE FUNCTION else_like(p text, p_mode integer) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
SELECT CASE WHEN p_mode = 2 THEN '%' ELSE '' END
	|| replace(replace(replace(p, '\', '\\'), '%', '\%'), '_', '\_') || '%'
$$;

-- else_raw_text - a raw line (bytea) as text for display: UTF-8 when it is,
-- else each byte as Latin-1 (what else-parse prints), or with escapes when it
-- holds NUL bytes (text cannot).
CREATE FUNCTION else_raw_text(p bytea) RETURNS text
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
	RETURN convert_from(p, 'UTF8');
EXCEPTION
	WHEN character_not_in_repertoire OR untranslatable_character THEN
		IF position('\x00'::bytea IN p) = 0 THEN
			RETURN convert_from(p, 'LATIN1');
		END IF;
		RETURN encode(p, 'escape');
END $$;

-- Substring search: trigram indexes (pg_trgm).  The embedded cluster's owner
-- is a superuser and creates the extension; on an external server a DBA runs
-- CREATE EXTENSION pg_trgm first (docs/query.md), else substring searches
-- scan the days they cover.
DO $$
BEGIN
	BEGIN
		CREATE EXTENSION IF NOT EXISTS pg_trgm;
	EXCEPTION
		WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
			RAISE WARNING 'pg_trgm not available: substring search will scan (ask a DBA to CREATE EXTENSION pg_trgm)';
	END;
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
		CREATE INDEX messages_sender_trgm ON messages USING gin (lower(sender) gin_trgm_ops);
		CREATE INDEX recipients_rcpt_trgm ON recipients USING gin (lower(rcpt) gin_trgm_ops);
	END IF;
END $$;

-- Grants ---------------------------------------------------------------------
CREATE FUNCTION else_grant_users() RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'else_query') THEN
		GRANT SELECT, INSERT, UPDATE, DELETE ON users, groups, group_servers, group_domains,
			user_groups, sessions, login_failures, search_history TO else_query;
		GRANT SELECT, INSERT ON audit_log TO else_query;
		GRANT USAGE ON SEQUENCE users_id_seq, groups_id_seq, audit_log_id_seq,
			search_history_id_seq TO else_query;
	END IF;
END $$;
SELECT else_grant_users();
