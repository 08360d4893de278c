/*
 * be_db_query - the query service's SQL (be_db family: be_db_auth.c for
 * users, sessions, groups, audit and history; be_db_query.c for mail data).
 * Results are written straight into the reply messages of
 * proto/query.proto, their strings and arrays allocated in the caller's
 * arena.
 *
 * AUTHORIZATION is in SQL: every mail-data query takes the caller's scope
 * (role and the PostgreSQL array literals of their host ids, domains and
 * addresses, as else_scope() returned them for the session) as its first
 * four parameters and filters every row through else_visible() /
 * else_reject_visible() (sql/003_users.sql).  A caller never sees, or learns
 * the existence of, an e-mail outside their scope: such a flow is -ENOENT.
 *
 * OWNERSHIP: outputs live in the arena (or caller storage for fixed sizes).
 * ERRORS: 0 or a negative errno: the be_db codes (-EIO server refused,
 * -EACCES privilege, -ECONNRESET/-ENOTCONN connection, -ECANCELED statement
 * timeout), -ENOENT not found (or not visible), -EEXIST a name taken,
 * -EINVAL a value the database refused as out of range (a bad cursor).
 * THREADS: a be_db belongs to one thread.
 * SECURITY: every value is a parameter; no SQL text is built from input.
 */
#ifndef BE_DB_QUERY_H
#define BE_DB_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "be_db.h"
#include "el_arena.h"
#include "query.pb-c.h"

/* The caller's scope (sql/003_users.sql else_scope). */
typedef struct be_db_scope {
	int role;            /* Else__Role; 0: sees nothing */
	const char *hosts;   /* int[] literal, e.g. "{1,4}" */
	const char *domains; /* text[] literal */
	const char *addrs;   /* text[] literal (lower case) */
} be_db_scope;

/* A session, as be_db_auth_session found it. */
typedef struct be_db_session {
	int64_t user_id;
	char name[65];
	int role;
	char csrf[65];
	int64_t expires_us; /* idle expiry after this call */
	be_db_scope scope;  /* strings in the arena */
} be_db_session;

/* ---- be_db_auth.c ---- */

/*
 * be_db_auth_setup - per-connection settings for the query service: the
 * statement timeout in ms, and synchronous_commit off.  What this connection
 * commits without waiting for the WAL flush (session last_used, search
 * history, the audit of searches and flow views) can be lost on a crash of
 * PostgreSQL: at most the last ~0.6 s (three wal_writer_delay), never
 * half-written.  Audit records passed durable (logins, refusals and every
 * administrative change) commit with synchronous_commit on, which also
 * flushes the change they record, before the reply goes out.
 */
int be_db_auth_setup(be_db *db, int timeout_ms);

/*
 * be_db_auth_user_pw - id, role, disabled and KDF string of a user by name,
 * for a login.  -ENOENT when there is no such user.
 */
int be_db_auth_user_pw(be_db *db, const char *name, int64_t *id, int *role, bool *disabled,
		       char *kdf, size_t kdfcap);

/*
 * be_db_auth_throttle - failed logins within window_s for this user name and
 * for this client IP, and the seconds until the oldest of them leaves the
 * window (for retry_after).
 */
int be_db_auth_throttle(be_db *db, const char *name, const char *ip, int64_t window_s,
			int64_t *fails_user, int64_t *fails_ip, int64_t *retry_user_s,
			int64_t *retry_ip_s);
/* be_db_auth_failed - record a failed login (and drop failures older than a day) */
int be_db_auth_failed(be_db *db, const char *name, const char *ip);

/*
 * be_db_auth_session_new - store a session (SHA-256 of the token), clear the
 * user's failures, note the login time.
 */
int be_db_auth_session_new(be_db *db, int64_t user_id, const uint8_t hash[32], const char *csrf,
			   const char *ip, const char *ua, const char *name);

/*
 * be_db_auth_session - the live session of this token hash: idle for less
 * than idle_s and younger than max_s, its user enabled.  Slides last_used
 * and loads the scope.  -ENOENT otherwise (expired sessions are deleted).
 */
int be_db_auth_session(be_db *db, const uint8_t hash[32], int64_t idle_s, int64_t max_s,
		       el_arena *a, be_db_session *s);
int be_db_auth_session_end(be_db *db, const uint8_t hash[32]);

/*
 * be_db_auth_password - set a user's KDF string; every session of the user
 * but keep (may be NULL: all) ends.  -ENOENT no such user.
 */
int be_db_auth_password(be_db *db, int64_t user_id, const char *kdf, const uint8_t *keep);

/* be_db_auth_userinfo - the UserInfo of a user */
int be_db_auth_userinfo(be_db *db, el_arena *a, int64_t user_id, Else__UserInfo *out);

/* be_db_auth_audit - append to the audit log (user_id 0: none); durable: see be_db_auth_setup */
int be_db_auth_audit(be_db *db, int64_t user_id, const char *user, const char *ip,
		     const char *action, const char *detail, bool durable);

/*
 * be_db_auth_search_log - searches into their users' history (keeping the
 * newest keep, give or take a batch) and their (not durable) audit records,
 * in one statement: batch is a JSON array of be_qlog's records.
 */
int be_db_auth_search_log(be_db *db, const char *batch, int keep);

int be_db_auth_history(be_db *db, el_arena *a, int64_t user_id, uint32_t limit,
		       Else__HistoryReply *out);
int be_db_auth_audit_list(be_db *db, el_arena *a, uint32_t limit, const char *cursor,
			  Else__AuditReply *out);

/*
 * Administration (the caller checked ROLE_ADMIN).  Each put or delete of a
 * user or group is one transaction, one at a time (BE_DB_LOCK_ADMIN), and
 * fails with -EPERM when it would leave no enabled admin.
 */
int be_db_auth_user_list(be_db *db, el_arena *a, Else__UserListReply *out);
/* be_db_auth_user_put - create (u->id 0; kdf required) or update (kdf NULL: unchanged) */
int be_db_auth_user_put(be_db *db, const Else__UserInfo *u, const char *kdf, int64_t *id);
int be_db_auth_user_delete(be_db *db, int64_t id);
int be_db_auth_group_list(be_db *db, el_arena *a, Else__GroupListReply *out);
int be_db_auth_group_put(be_db *db, const Else__GroupInfo *g, int64_t *id);
int be_db_auth_group_delete(be_db *db, int64_t id);

/* ---- be_db_query.c ---- */

int be_db_q_quick(be_db *db, el_arena *a, const be_db_scope *sc, const char *q, uint32_t limit,
		  Else__SearchReply *out);
int be_db_q_search(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Search *s,
		   int64_t now_us, Else__SearchReply *out);
int be_db_q_flow(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Flow *f,
		 Else__FlowReply *out);
/* The most transactions be_db_q_flow returns for one e-mail. */
#define BE_DB_Q_FLOW_MAX_HOPS 200
/*
 * be_db_q_flow_order - hops[0..n) in time order (as be_db_q_flow reads
 * them) moved so that every hop follows the one it came from (prev_host /
 * prev_queue_id) and the one it is a bounce of (dsn_of_*): log times have a
 * resolution of a second and hosts' clocks differ, so time alone put a
 * relay's next hop before it.  Otherwise the time order stays.  Links that
 * form a loop (forged lines) are broken at one of the loop's hops.  n at
 * most BE_DB_Q_FLOW_MAX_HOPS (more: left as they are).
 */
void be_db_q_flow_order(Else__Transaction **hops, size_t n);
int be_db_q_rejects(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Rejects *r,
		    int64_t now_us, Else__RejectsReply *out);
int be_db_q_stats(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Stats *s,
		  int64_t now_us, Else__StatsReply *out);
int be_db_q_servers(be_db *db, el_arena *a, const be_db_scope *sc, Else__ServersReply *out);
int be_db_q_tail(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Tail *t,
		 Else__TailReply *out);

/*
 * be_db_q_warm - run the quick search and flow statements (the flow's
 * transactions, recipients, lines and rejects) once with values that match
 * nothing, as the admin: a query connection plans
 * each generic statement at its first execution, over every partition
 * (150-250 ms at 10M e-mails over 30 days), and that should not be the
 * first user's wait.  0 or a negative errno.
 */
int be_db_q_warm(be_db *db);

/*
 * be_db_q_day_mark - note every stream's line counter for the current UTC
 * day (sql/004_lines_today.sql: ServerRow.lines_today counts from it).  On
 * the schema owner's connection, at start and when the UTC day changes;
 * calling it again the same day changes nothing.
 */
int be_db_q_day_mark(be_db *owner);

#endif
