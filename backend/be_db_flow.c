/*
 * be_db_flow - correlation output (be_tx, be_reject) into messages,
 * recipients, rejects, email_keys and addresses.
 *
 * Flows are encoded as binary COPY rows as they are emitted (the records are
 * only valid during the callback), COPYed into temporary staging tables at
 * flush, and moved into the partitioned tables by two statements:
 *
 *  - messages and recipients: a plain INSERT first (be_db_flows_flush), and
 *    when it meets a row, INSERT ... ON CONFLICT DO UPDATE, so writing a
 *    flow again (a replay after a crash re-emits what followed the
 *    checkpoint) leaves one row with the newest content.  DISTINCT ON keeps
 *    the newest of two stagings of one key in a batch, because ON CONFLICT DO
 *    UPDATE may not touch a row twice in one statement: without it, two forged
 *    lines could make a batch fail forever.
 *  - rejects: ON CONFLICT DO NOTHING (a reject never changes); email_keys
 *    likewise when the plain INSERT met a row.
 *
 * Recipients are never deleted on update: the engine only appends recipients
 * to a transaction, so a later emission has every recipient an earlier one
 * had, at the same index.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be_db_int.h"
#include "el_json.h"
#include "el_log.h"

#define BE_DB_MSG_COLS                                                                             \
	"first_seen, last_seen, email_id, size, host_id, nrcpt, nlines, prev_host_id, "            \
	"dsn_of_host_id, incomplete, queue_id, status, client_host, client_ip, sasl_username, "    \
	"sender, message_id, helo, prev_queue_id, dsn_of_queue_id, dsn, actions"
#define BE_DB_RCPT_COLS                                                                            \
	"first_seen, last_attempt, email_id, delay, host_id, idx, relay_port, attempts, "          \
	"next_host_id, queue_id, rcpt, orig_rcpt, status, dsn, relay_host, relay_ip, response, "   \
	"queued_as, next_queue_id, direction"
#define BE_DB_REJ_COLS                                                                             \
	"ts, reject_id, email_id, session_start, host_id, pid, client_port, queue_id, event, "     \
	"status, client_host, client_ip, helo, sender, rcpt, stage, proto, reject_code, "          \
	"reject_dsn, reason"
#define BE_DB_KEY_COLS "day, email_id, kind, key"

static const char be_db_stage_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS else_stage_messages "
	"(LIKE messages INCLUDING DEFAULTS, n integer NOT NULL) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS else_stage_recipients "
	"(LIKE recipients INCLUDING DEFAULTS, n integer NOT NULL) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS else_stage_rejects "
	"(LIKE rejects INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE IF NOT EXISTS else_stage_keys "
	"(LIKE email_keys INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

/*
 * Two statements move the staging tables into place and keep the rollups
 * (sql/002_stats.sql) equal to the flows: one for messages, one for
 * recipients and rejects, so that the ingest pipeline's two flows writers
 * can run them at once (be_ingest.c); a single connection runs both in one
 * transaction.  A third, after them, writes email_keys and addresses
 * (BE_DB_KEYS_SQL): the writer of the recipients runs it, for balance (a
 * message row keeps ten indexes and three rollups, and with its keys too the
 * messages writer took 16.5 s of CPU where the other took 4.3: bench/ingest.sh,
 * 3M lines, bench README session 23).  In the first two, om and orr read the
 * rows about to be replaced (the statement's snapshot is taken before any of
 * its writes), each contributes -1 to its rollup keys and each row written
 * +1, and the sums go into the stats tables.  Rejects never change: only
 * rows actually inserted (RETURNING) count.  Counts come back (messages,
 * recipients, rejects; the keys' statement returns zeros).
 *
 * om and orr probe the unique key once per staged row (a LATERAL subquery
 * with LIMIT 1, which the planner cannot turn into a join).  As a join, the
 * statement prepared once per connection kept the plan made for the day's
 * partition when it was new and empty (no statistics yet): a merge join over
 * a sequential scan of the whole partition in every flows statement (in
 * bench/ingest.sh, half of the recipients statement's time once the
 * partition held 60,000 rows).  The probe is ordered by the unique key too:
 * its plan, made for a partition while it looked empty (DEFAULT, while a
 * backlog's day waits for its partition), could otherwise pick any index
 * with first_seen in it, (status, first_seen) say, and scan all of it for
 * each probe: a 10M-e-mail load stalled for minutes in one statement (bench
 * README, session 12).  With the order, only the key index needs no sort.
 *
 * The two statements share rows of the top lists (client IPs of messages and
 * of rejects, the days in stats_top_dirty): each locks them in the same
 * order, (day, kind, host_id, key) sorted, top rows then hot rows then days,
 * so two writers wait for each other but never deadlock.
 */
#define BE_DB_KEY_M "first_seen, host_id, queue_id"
#define BE_DB_KEY_R "first_seen, host_id, queue_id, idx"
/*
 * The top lists from td (day, host_id, kind, key, domain, c); see
 * sql/006_stats_top.sql.  xh: the heavy keys, at or above the cut or already hot.
 */
#define BE_DB_TOP_SQL                                                                              \
	"xt AS (INSERT INTO stats_top_daily AS s (day, host_id, kind, key, domain, count) "        \
	"SELECT day, host_id, kind, key, min(domain), sum(c) FROM td "                             \
	"GROUP BY day, host_id, kind, key HAVING sum(c) <> 0 ORDER BY day, kind, host_id, key "    \
	"ON CONFLICT (day, kind, host_id, key) DO UPDATE SET count = s.count + EXCLUDED.count "    \
	"RETURNING day, host_id, kind, count, domain, key), "                                      \
	"xh AS (INSERT INTO stats_top_hot AS h (day, host_id, kind, count, domain, key) "          \
	"SELECT x.day, x.host_id, x.kind, x.count, x.domain, x.key FROM xt x "                     \
	"LEFT JOIN stats_top_cut c ON c.day = x.day AND c.kind = x.kind AND c.host_id = "          \
	"x.host_id "                                                                               \
	"WHERE x.count >= coalesce(c.cut, 1) OR EXISTS (SELECT 1 FROM stats_top_hot o "            \
	"WHERE o.day = x.day AND o.kind = x.kind AND o.host_id = x.host_id AND o.key = x.key) "    \
	"ORDER BY x.day, x.kind, x.host_id, x.key "                                                \
	"ON CONFLICT (day, kind, host_id, key) DO UPDATE SET count = EXCLUDED.count), "            \
	"xd AS (INSERT INTO stats_top_dirty (day) SELECT DISTINCT day FROM xt ORDER BY day "       \
	"ON CONFLICT DO NOTHING) "

/*
 * The messages statement.  sm: the newest staging of each key; om: the rows
 * it replaces (the upsert only); m: the rows written.  BE_DB_MSG_TAIL(old)
 * writes the e-mail keys and the rollups, old being the rows replaced.
 */
#define BE_DB_MSG_SM                                                                               \
	"WITH sm AS (SELECT DISTINCT ON (" BE_DB_KEY_M ") " BE_DB_MSG_COLS                         \
	" FROM pg_temp.else_stage_messages ORDER BY " BE_DB_KEY_M ", n DESC), "
#define BE_DB_MSG_OM                                                                               \
	"om AS (SELECT o.* FROM sm CROSS JOIN LATERAL (SELECT o.first_seen, o.host_id, o.status, " \
	"o.sender, o.size, o.client_ip FROM messages o WHERE o.first_seen = sm.first_seen AND "    \
	"o.host_id = sm.host_id AND o.queue_id = sm.queue_id "                                     \
	"ORDER BY o.first_seen, o.host_id, o.queue_id LIMIT 1) o), "
#define BE_DB_MSG_M                                                                                \
	"m AS (INSERT INTO messages (" BE_DB_MSG_COLS ") SELECT " BE_DB_MSG_COLS " FROM sm "
#define BE_DB_MSG_SET                                                                              \
	"ON CONFLICT (" BE_DB_KEY_M ") DO UPDATE SET "                                             \
	"last_seen = EXCLUDED.last_seen, email_id = EXCLUDED.email_id, size = EXCLUDED.size, "     \
	"nrcpt = EXCLUDED.nrcpt, nlines = EXCLUDED.nlines, prev_host_id = EXCLUDED.prev_host_id, " \
	"dsn_of_host_id = EXCLUDED.dsn_of_host_id, incomplete = EXCLUDED.incomplete, "             \
	"status = EXCLUDED.status, client_host = EXCLUDED.client_host, "                           \
	"client_ip = EXCLUDED.client_ip, sasl_username = EXCLUDED.sasl_username, "                 \
	"sender = EXCLUDED.sender, message_id = EXCLUDED.message_id, helo = EXCLUDED.helo, "       \
	"prev_queue_id = EXCLUDED.prev_queue_id, dsn_of_queue_id = EXCLUDED.dsn_of_queue_id, "     \
	"dsn = EXCLUDED.dsn, actions = EXCLUDED.actions, updated_at = now() "
#define BE_DB_MSG_OLD                                                                              \
	" UNION ALL SELECT first_seen, host_id, status, sender, size, client_ip, -1 FROM om"
/*
 * BE_DB_MSG_TAIL(old): the rollups, with signed
 * contributions (old: the rows replaced, -1 each) and every key computed
 * once (lower() and else_domain() cost more than the rest of a row's
 * rollups); stats_msg_host_hourly is the same series without the domain
 * (sql/006_stats_top.sql), the top lists' kinds are in sql/002_stats.sql.
 */
#define BE_DB_MSG_TAIL(old)                                                                        \
	"RETURNING first_seen, host_id, status, sender, size, client_ip), "                        \
	"dm AS (SELECT else_hour(first_seen) AS hour, host_id, status, lower(sender) AS lsender, " \
	"else_domain(sender) AS sdom, size, client_ip, c FROM (SELECT first_seen, host_id, "       \
	"status, sender, size, client_ip, 1 AS c FROM m" old ") x), "                              \
	"xm AS (INSERT INTO stats_msg_hourly AS s (hour, host_id, sender_domain, status, "         \
	"messages, bytes) SELECT hour, host_id, coalesce(sdom, ''), status, sum(c), "              \
	"sum(c * coalesce(size, 0)) FROM dm "                                                      \
	"GROUP BY 1, 2, 3, 4 HAVING sum(c) <> 0 OR sum(c * coalesce(size, 0)) <> 0 "               \
	"ON CONFLICT (hour, host_id, sender_domain, status) DO UPDATE SET "                        \
	"messages = s.messages + EXCLUDED.messages, bytes = s.bytes + EXCLUDED.bytes), "           \
	"ym AS (INSERT INTO stats_msg_host_hourly AS s (hour, host_id, status, messages, bytes) "  \
	"SELECT hour, host_id, status, sum(c), sum(c * coalesce(size, 0)) FROM dm "                \
	"GROUP BY 1, 2, 3 HAVING sum(c) <> 0 OR sum(c * coalesce(size, 0)) <> 0 "                  \
	"ON CONFLICT (hour, host_id, status) DO UPDATE SET "                                       \
	"messages = s.messages + EXCLUDED.messages, bytes = s.bytes + EXCLUDED.bytes), "           \
	"td AS (SELECT else_day(hour) AS day, host_id, 1 AS kind, lsender AS key, "                \
	"coalesce(sdom, '') AS domain, c FROM dm WHERE lsender <> '' "                             \
	"UNION ALL SELECT else_day(hour), host_id, 3, sdom, sdom, c FROM dm "                      \
	"WHERE sdom IS NOT NULL "                                                                  \
	"UNION ALL SELECT else_day(hour), host_id, 5, client_ip, '', c FROM dm "                   \
	"WHERE client_ip IS NOT NULL), " BE_DB_TOP_SQL "SELECT (SELECT count(*) FROM m), 0, 0"

static const char be_db_upsert_msg_sql[] =
	BE_DB_MSG_SM BE_DB_MSG_OM BE_DB_MSG_M BE_DB_MSG_SET BE_DB_MSG_TAIL(BE_DB_MSG_OLD);
static const char be_db_insert_msg_sql[] = BE_DB_MSG_SM BE_DB_MSG_M BE_DB_MSG_TAIL("");

/* The recipients and rejects statement, in the same parts. */
#define BE_DB_RCPT_SR                                                                              \
	"WITH sr AS (SELECT DISTINCT ON (" BE_DB_KEY_R ") " BE_DB_RCPT_COLS                        \
	" FROM pg_temp.else_stage_recipients ORDER BY " BE_DB_KEY_R ", n DESC), "
#define BE_DB_RCPT_ORR                                                                             \
	"orr AS (SELECT o.* FROM sr CROSS JOIN LATERAL (SELECT o.first_seen, o.host_id, o.rcpt, "  \
	"o.status, o.direction, o.response FROM recipients o WHERE o.first_seen = sr.first_seen "  \
	"AND o.host_id = sr.host_id AND o.queue_id = sr.queue_id AND o.idx = sr.idx "              \
	"ORDER BY o.first_seen, o.host_id, o.queue_id, o.idx LIMIT 1) o), "
#define BE_DB_RCPT_R                                                                               \
	"r AS (INSERT INTO recipients (" BE_DB_RCPT_COLS ") SELECT " BE_DB_RCPT_COLS " FROM sr "
#define BE_DB_RCPT_SET                                                                             \
	"ON CONFLICT (" BE_DB_KEY_R ") DO UPDATE SET "                                             \
	"last_attempt = EXCLUDED.last_attempt, email_id = EXCLUDED.email_id, "                     \
	"delay = EXCLUDED.delay, relay_port = EXCLUDED.relay_port, attempts = EXCLUDED.attempts, " \
	"next_host_id = EXCLUDED.next_host_id, rcpt = EXCLUDED.rcpt, "                             \
	"orig_rcpt = EXCLUDED.orig_rcpt, status = EXCLUDED.status, dsn = EXCLUDED.dsn, "           \
	"relay_host = EXCLUDED.relay_host, relay_ip = EXCLUDED.relay_ip, "                         \
	"response = EXCLUDED.response, queued_as = EXCLUDED.queued_as, "                           \
	"next_queue_id = EXCLUDED.next_queue_id, direction = EXCLUDED.direction, "                 \
	"updated_at = now() "
#define BE_DB_RCPT_OLD                                                                             \
	" UNION ALL SELECT first_seen, host_id, rcpt, status, direction, response, -1 FROM orr"
#define BE_DB_RCPT_TAIL(old)                                                                       \
	"RETURNING first_seen, host_id, rcpt, status, direction, response), "                      \
	"j AS (INSERT INTO rejects (" BE_DB_REJ_COLS ") SELECT " BE_DB_REJ_COLS                    \
	" FROM pg_temp.else_stage_rejects ON CONFLICT (ts, reject_id) DO NOTHING "                 \
	"RETURNING ts, host_id, rcpt, event, status, client_ip, reason), "                         \
	"dr AS (SELECT else_hour(first_seen) AS hour, host_id, lower(rcpt) AS lrcpt, "             \
	"else_domain(rcpt) AS rdom, status, direction, response, c FROM (SELECT first_seen, "      \
	"host_id, rcpt, status, direction, response, 1 AS c FROM r" old ") x), "                   \
	"xr AS (INSERT INTO stats_rcpt_hourly AS s (hour, host_id, rcpt_domain, status, "          \
	"direction, recipients) SELECT hour, host_id, coalesce(rdom, ''), status, direction, "     \
	"sum(c) FROM dr GROUP BY 1, 2, 3, 4, 5 HAVING sum(c) <> 0 "                                \
	"ON CONFLICT (hour, host_id, rcpt_domain, status, direction) DO UPDATE SET "               \
	"recipients = s.recipients + EXCLUDED.recipients), "                                       \
	"xj AS (INSERT INTO stats_reject_hourly AS s (hour, host_id, rcpt_domain, event, status, " \
	"rejects) SELECT else_hour(ts), host_id, coalesce(else_domain(rcpt), ''), event, status, " \
	"count(*) FROM j GROUP BY 1, 2, 3, 4, 5 "                                                  \
	"ON CONFLICT (hour, host_id, rcpt_domain, event, status) DO UPDATE SET "                   \
	"rejects = s.rejects + EXCLUDED.rejects), "                                                \
	"yr AS (INSERT INTO stats_rcpt_host_hourly AS s (hour, host_id, status, direction, "       \
	"recipients) SELECT hour, host_id, status, direction, sum(c) FROM dr "                     \
	"GROUP BY 1, 2, 3, 4 HAVING sum(c) <> 0 "                                                  \
	"ON CONFLICT (hour, host_id, status, direction) DO UPDATE SET "                            \
	"recipients = s.recipients + EXCLUDED.recipients), "                                       \
	"yj AS (INSERT INTO stats_reject_host_hourly AS s (hour, host_id, event, status, "         \
	"rejects) "                                                                                \
	"SELECT else_hour(ts), host_id, event, status, count(*) FROM j GROUP BY 1, 2, 3, 4 "       \
	"ON CONFLICT (hour, host_id, event, status) DO UPDATE SET "                                \
	"rejects = s.rejects + EXCLUDED.rejects), "                                                \
	"td AS (SELECT else_day(hour) AS day, host_id, 2 AS kind, lrcpt AS key, "                  \
	"coalesce(rdom, '') AS domain, c FROM dr WHERE lrcpt <> '' "                               \
	"UNION ALL SELECT else_day(hour), host_id, 4, rdom, rdom, c FROM dr "                      \
	"WHERE rdom IS NOT NULL "                                                                  \
	"UNION ALL SELECT else_day(hour), host_id, 7, else_reason_key(response), '', c "           \
	"FROM dr WHERE status = 'deferred' AND response IS NOT NULL "                              \
	"UNION ALL SELECT else_day(ts), host_id, 5, client_ip, '', 1 FROM j "                      \
	"WHERE client_ip IS NOT NULL "                                                             \
	"UNION ALL SELECT else_day(ts), host_id, CASE WHEN status = 'deferred' THEN 7 ELSE 6 "     \
	"END, "                                                                                    \
	"else_reason_key(reason), '', 1 FROM j WHERE reason IS NOT NULL), " BE_DB_TOP_SQL          \
	"SELECT 0, (SELECT count(*) FROM r), (SELECT count(*) FROM j)"

static const char be_db_upsert_rcpt_sql[] =
	BE_DB_RCPT_SR BE_DB_RCPT_ORR BE_DB_RCPT_R BE_DB_RCPT_SET BE_DB_RCPT_TAIL(BE_DB_RCPT_OLD);
static const char be_db_insert_rcpt_sql[] = BE_DB_RCPT_SR BE_DB_RCPT_R BE_DB_RCPT_TAIL("");

/*
 * The e-mail keys and the day's addresses: a statement of their own, after
 * the recipients', so that a key written already costs a second run of
 * this one only (be_db_flows_keys).  kset: how the keys meet one.
 */
#define BE_DB_KEYS_SQL(kset)                                                                       \
	"WITH a AS (INSERT INTO addresses (day, kind, addr) SELECT day, kind, lower(key) "         \
	"FROM pg_temp.else_stage_keys WHERE kind >= 4 ON CONFLICT DO NOTHING), "                   \
	"k AS (INSERT INTO email_keys (" BE_DB_KEY_COLS ") SELECT " BE_DB_KEY_COLS                 \
	" FROM pg_temp.else_stage_keys WHERE kind < 4" kset ") SELECT 0, 0, 0"
static const char be_db_upsert_keys_sql[] = BE_DB_KEYS_SQL(" ON CONFLICT DO NOTHING");
static const char be_db_insert_keys_sql[] = BE_DB_KEYS_SQL("");

/* be_db_json_time - ,"time":"2026-11-22T13:23:01.123456Z" as flows print it */
static void be_db_json_time(el_buf *b, int64_t us)
{
	int64_t s = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
	int32_t frac = (int32_t)(us - s * 1000000);
	time_t tt = (time_t)s;
	struct tm tm;
	char t[64];
	size_t n;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac)
		n += (size_t)snprintf(t + n, sizeof(t) - n, ".%06" PRId32, frac);
	el_buf_addc(b, '"');
	el_buf_add(b, t, n);
	el_buf_addlit(b, "Z\"");
}

/* be_db_json_kstr - ,"key":"value" when value is set */
static void be_db_json_kstr(el_buf *b, const char *k, const char *v)
{
	if (v == NULL)
		return;
	el_buf_addc(b, ',');
	el_json_key(b, k, strlen(k));
	el_json_str(b, el_span_make(v, strlen(v)));
}

/* be_db_host_of - DB id of the engine's host number, or 0 without a queue ID */
static int be_db_host_of(be_db *db, const be_corr *c, const be_ref *r, int32_t *id)
{
	*id = 0;
	if (r->qid[0] == '\0')
		return 0;
	return be_db_host_id(db, be_corr_host_name(c, r->host), id);
}

/* be_db_opt_host - an optional host id field */
static void be_db_opt_i32(el_buf *b, int32_t v)
{
	if (v)
		be_db_copy_i32(b, v);
	else
		be_db_copy_null(b);
}

/* be_db_day - UTC day number of a time */
static int64_t be_db_day(int64_t us)
{
	us = be_db_clamp_us(us);
	return us >= 0 ? us / 86400000000LL : (us - 86399999999LL) / 86400000000LL;
}

/* be_db_keys_forget - after a failure: no email_keys or addresses row is known to be on its way */
void be_db_keys_forget(be_db *db)
{
	for (int g = 0; g < 2; g++) {
		el_map *m[] = { &db->keys_seen[g], &db->addrs_seen[g] };
		for (size_t i = 0; i < 2; i++) {
			if (m[i]->used == 0)
				continue;
			el_map_fini(m[i]);
			el_map_init(m[i]);
		}
	}
}

/*
 * be_db_key_add - one email_keys or addresses row, once: the two hops of a
 * relayed e-mail share its e-mail id and Message-ID, and often go in
 * different flushes; an address recurs all day.  A row staged since the
 * last failure is on its way to the table (its batch committed it to
 * flow_journal, or the batch fails and be_db_keys_forget() runs), so it is
 * not staged again: the flows statement can then insert the keys without ON
 * CONFLICT, which costs half as much (bench README, session 18).  seen: the
 * two generations of gen rows each; the last gen rows, and up to as many
 * before them, are remembered.  One older than that, longer than
 * BE_DB_KEY_REMEMBER or of a day outside be_db_keys_window's may come again:
 * an e-mail key then makes the flush fall back to the upserts, an address is
 * skipped by ON CONFLICT DO NOTHING.  An address's text repairs are counted
 * by its message or recipient row, not again here.
 */
static void be_db_key_add(be_db *db, el_map seen[2], size_t gen, int64_t day, uint64_t email_id,
			  int kind, const char *key)
{
	be_db_copybuf *cb = &db->keys;
	size_t kl = strlen(key);
	uint64_t repaired = db->st.text_repaired;
	char kb[17 + BE_DB_KEY_REMEMBER];

	if (kl <= BE_DB_KEY_REMEMBER && day >= db->keys_min_day) {
		kb[0] = (char)kind;
		memcpy(kb + 1, &day, 8);
		memcpy(kb + 9, &email_id, 8);
		memcpy(kb + 17, key, kl);
		el_span k = el_span_make(kb, 17 + kl);
		/* el_map_put finds a key already there (and returns it) as it inserts. */
		if (el_map_get(&seen[1], k) || el_map_put(&seen[0], k, db))
			return;
		if (seen[0].used >= gen) {
			/* The older generation goes; its table, of the same size, is reused. */
			el_map t = seen[1];
			seen[1] = seen[0];
			seen[0] = t;
			el_map_clear(&seen[0]);
		}
	}

	be_db_copy_row(cb, 4);
	be_db_copy_date(&cb->b, day);
	be_db_copy_i64(&cb->b, (int64_t)email_id);
	be_db_copy_i16(&cb->b, (int16_t)kind);
	be_db_copy_cstr(db, &cb->b, key, BE_DB_TEXT_KEY);
	if (kind >= BE_DB_KEY_SENDER)
		db->st.text_repaired = repaired;
}

/* be_db_keys_window - see be_db.h */
void be_db_keys_window(be_db *db, int64_t today, int retention_days)
{
	if (db == NULL)
		return;
	int64_t min_day = retention_days > 0 ? today - retention_days + 1 : INT64_MIN;

	if (today != db->keys_today || min_day != db->keys_min_day) {
		be_db_keys_forget(db);
		db->keys_today = today;
		db->keys_min_day = min_day;
	}
}

/* be_db_flow_json - the dsn and actions arrays as JSON text */
static void be_db_flow_json(const be_corr *c, const be_tx *t, el_buf *dsn, el_buf *act)
{
	uint32_t i;

	if (t->ndsn) {
		el_buf_addc(dsn, '[');
		for (i = 0; i < t->ndsn && i < sizeof(t->dsn) / sizeof(t->dsn[0]); i++) {
			if (i)
				el_buf_addc(dsn, ',');
			el_buf_addlit(dsn, "{\"host\":");
			el_json_str(dsn, be_corr_host_name(c, t->dsn[i].host));
			el_buf_addlit(dsn, ",\"queue_id\":");
			el_json_str(dsn, el_span_make(t->dsn[i].qid, strlen(t->dsn[i].qid)));
			el_buf_addc(dsn, '}');
		}
		el_buf_addc(dsn, ']');
	}
	if (t->nactions) {
		el_buf_addc(act, '[');
		for (i = 0; i < t->nactions; i++) {
			const be_action *a = &t->actions[i];
			const char *ev = el_event_name(a->event);
			if (i)
				el_buf_addc(act, ',');
			el_buf_addlit(act, "{\"action\":");
			el_json_str(act, el_span_make(ev, strlen(ev)));
			be_db_json_kstr(act, "stage", a->stage);
			be_db_json_kstr(act, "text", a->text);
			el_buf_addlit(act, ",\"time\":");
			be_db_json_time(act, a->time_us);
			el_buf_addc(act, '}');
		}
		el_buf_addc(act, ']');
	}
}

/*
 * be_db_direction - recipients.direction (sql/002_stats.sql): the daemon of
 * the latest attempt, and for SMTP whether the next hop is a transaction
 * ELSE follows (linked by the engine).
 */
static const char *be_db_direction(const be_rcpt *r)
{
	switch (r->via) {
	case BE_VIA_LOCAL:
		return "local";
	case BE_VIA_SMTP:
		return r->next.qid[0] ? "relay" : "out";
	default:
		return "";
	}
}

/* be_db_flow_tx - see be_db.h */
int be_db_flow_tx(be_db *db, const be_corr *c, const be_tx *t)
{
	int32_t hid, prev, dsn_of, next;
	int16_t inc = 0;
	el_buf dsn, act;
	char hex[20];
	int64_t day;
	uint32_t i;
	int rc;

	if (db == NULL || c == NULL || t == NULL)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc == 0)
		rc = be_db_host_id(db, be_corr_host_name(c, t->host), &hid);
	if (rc == 0)
		rc = be_db_host_of(db, c, &t->prev, &prev);
	if (rc == 0)
		rc = be_db_host_of(db, c, &t->dsn_of, &dsn_of);
	if (rc)
		return rc;
	for (i = 0; i < t->nrcpts; i++) {
		rc = be_db_host_of(db, c, &t->rcpts[i].next, &next);
		if (rc)
			return rc;
	}
	if (t->flags & BE_TX_NO_START)
		inc |= BE_DB_INC_NO_START;
	if (!(t->flags & (BE_TX_REMOVED | BE_TX_REJECTED | BE_TX_DISCARDED | BE_TX_ABORTED)))
		inc |= BE_DB_INC_NOT_REMOVED;
	if (t->flags & BE_TX_EVICTED)
		inc |= BE_DB_INC_EVICTED;
	if (t->flags & BE_TX_ABORTED)
		inc |= BE_DB_INC_SESSION_ENDED;
	el_buf_init(&dsn);
	el_buf_init(&act);
	be_db_flow_json(c, t, &dsn, &act);

	be_db_copybuf *cb = &db->msg;
	el_buf *b = &cb->b;
	int32_t n = ++db->stage_n;
	be_db_copy_row(cb, 23);
	be_db_copy_ts(b, t->first_us);
	be_db_copy_ts(b, t->last_us);
	be_db_copy_i64(b, (int64_t)t->email_id);
	if (t->size)
		be_db_copy_i64(b, t->size);
	else
		be_db_copy_null(b);
	be_db_copy_i32(b, hid);
	be_db_opt_i32(b, t->nrcpt);
	be_db_copy_i32(b, (int32_t)t->nlines);
	be_db_opt_i32(b, prev);
	be_db_opt_i32(b, dsn_of);
	be_db_copy_i16(b, inc);
	be_db_copy_cstr(db, b, t->qid, BE_DB_TEXT_QID);
	be_db_copy_cstr(db, b, be_tstatus_name(be_tx_status(t)), BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, t->client_host, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, t->client_ip, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, t->sasl_username, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, t->from, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, t->message_id, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, t->helo, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, prev ? t->prev.qid : NULL, BE_DB_TEXT_QID);
	be_db_copy_cstr(db, b, dsn_of ? t->dsn_of.qid : NULL, BE_DB_TEXT_QID);
	if (dsn.len)
		be_db_copy_jsonb(b, &dsn);
	else
		be_db_copy_null(b);
	if (act.len)
		be_db_copy_jsonb(b, &act);
	else
		be_db_copy_null(b);
	be_db_copy_i32(b, n);
	el_buf_fini(&dsn);
	el_buf_fini(&act);

	cb = &db->rcpt;
	b = &cb->b;
	for (i = 0; i < t->nrcpts; i++) {
		const be_rcpt *r = &t->rcpts[i];
		be_db_host_of(db, c, &r->next, &next); /* cached above */
		be_db_copy_row(cb, 21);
		be_db_copy_ts(b, t->first_us);
		if (r->last_us)
			be_db_copy_ts(b, r->last_us);
		else
			be_db_copy_null(b);
		be_db_copy_i64(b, (int64_t)t->email_id);
		if (r->attempts)
			be_db_copy_f64(b, r->delay);
		else
			be_db_copy_null(b);
		be_db_copy_i32(b, hid);
		be_db_copy_i32(b, (int32_t)i);
		be_db_opt_i32(b, (int32_t)r->relay_port);
		be_db_copy_i32(b, (int32_t)r->attempts);
		be_db_opt_i32(b, next);
		be_db_copy_cstr(db, b, t->qid, BE_DB_TEXT_QID);
		be_db_copy_cstr(db, b, r->to ? r->to : "", BE_DB_TEXT_KEY);
		be_db_copy_cstr(db, b, r->orig_to, BE_DB_TEXT_KEY);
		be_db_copy_cstr(db, b, be_rstatus_name(r), BE_DB_TEXT_KEY);
		be_db_copy_cstr(db, b, r->dsn[0] ? r->dsn : NULL, BE_DB_TEXT_KEY);
		be_db_copy_cstr(db, b, r->relay_host, BE_DB_TEXT_KEY);
		be_db_copy_cstr(db, b, r->relay_ip, BE_DB_TEXT_KEY);
		be_db_copy_cstr(db, b, r->response, BE_DB_TEXT_LONG);
		be_db_copy_cstr(db, b, r->queued_as[0] ? r->queued_as : NULL, BE_DB_TEXT_QID);
		be_db_copy_cstr(db, b, next ? r->next.qid : NULL, BE_DB_TEXT_QID);
		be_db_copy_cstr(db, b, be_db_direction(r), BE_DB_TEXT_KEY);
		be_db_copy_i32(b, n);
	}

	day = be_db_day(t->first_us);
	snprintf(hex, sizeof(hex), "%016" PRIx64, t->email_id);
	if (t->message_id && t->message_id[0])
		be_db_key_add(db, db->keys_seen, BE_DB_KEYS_GEN, day, t->email_id,
			      BE_DB_KEY_MESSAGE_ID, t->message_id);
	if (t->qid[0])
		be_db_key_add(db, db->keys_seen, BE_DB_KEYS_GEN, day, t->email_id,
			      BE_DB_KEY_QUEUE_ID, t->qid);
	be_db_key_add(db, db->keys_seen, BE_DB_KEYS_GEN, day, t->email_id, BE_DB_KEY_EMAIL_ID, hex);
	/* The day's addresses (sql/018), lower-cased by the statement. */
	if (t->from && t->from[0])
		be_db_key_add(db, db->addrs_seen, BE_DB_ADDRS_GEN, day, 0, BE_DB_KEY_SENDER,
			      t->from);
	for (i = 0; i < t->nrcpts; i++)
		if (t->rcpts[i].to && t->rcpts[i].to[0])
			be_db_key_add(db, db->addrs_seen, BE_DB_ADDRS_GEN, day, 0, BE_DB_KEY_RCPT,
				      t->rcpts[i].to);
	return 0;
}

/*
 * be_db_reject_id - the dedupe key of a reject.  A reject that stands alone
 * already has an id hashed from its line; one that hit a queued message shares
 * the message's e-mail id with its siblings, so hash what tells them apart.
 */
static uint64_t be_db_reject_id(const be_reject *j)
{
	const char *s[] = { j->to, j->stage, j->reject_code, j->reject_dsn, j->reason };
	uint64_t id;
	el_buf kb;

	if (j->qid[0] == '\0')
		return j->email_id; /* hashed from its line, line_key included */
	el_buf_init(&kb);
	el_buf_add(&kb, &j->email_id, sizeof(j->email_id));
	el_buf_add(&kb, &j->line_key, sizeof(j->line_key));
	el_buf_add(&kb, &j->time_us, sizeof(j->time_us));
	el_buf_add(&kb, &j->pid, sizeof(j->pid));
	el_buf_add(&kb, &j->client_port, sizeof(j->client_port));
	el_buf_add(&kb, &j->event, sizeof(j->event));
	el_buf_add(&kb, j->qid, strlen(j->qid));
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		el_buf_addc(&kb, '\0');
		if (s[i])
			el_buf_add(&kb, s[i], strlen(s[i]));
	}
	id = el_hash_bytes(kb.p, kb.len, 0);
	el_buf_fini(&kb);
	return id;
}

/* be_db_rejects_forget - forget the reject ids counted by be_db_reject_nth */
void be_db_rejects_forget(be_db *db)
{
	el_map *m = &db->rej_seen;

	if (m->used == 0)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->ents[i].hash > 1)
			free(m->ents[i].val);
	el_map_fini(m);
	el_map_init(m);
}

/*
 * be_db_reject_nth - the stored id of the nth identical reject of a flush.
 * A client that sends the same refused RCPT three times in one second makes
 * three identical lines, hence three rejects with one id: they are three
 * rows.  The first keeps the id, the next ones hash in their ordinal.
 * Ordinals count within one flush, so writing the same flows again (a replay)
 * makes the same ids and never adds a row; identical lines that a batch
 * boundary splits can collapse into one row (undercount, never overcount).
 */
static uint64_t be_db_reject_nth(be_db *db, uint64_t id)
{
	el_span k = el_span_make((const char *)&id, sizeof(id));
	uint32_t *n = el_map_get(&db->rej_seen, k);
	uint64_t v[2];

	if (n == NULL) {
		n = calloc(1, sizeof(*n));
		if (n == NULL)
			el_panic("be_db: out of memory");
		el_map_put(&db->rej_seen, k, n);
	}
	if ((*n)++ == 0)
		return id;
	v[0] = id;
	v[1] = *n - 1;
	return el_hash_bytes(v, sizeof(v), 0);
}

/* be_db_flow_reject - see be_db.h */
int be_db_flow_reject(be_db *db, const be_corr *c, const be_reject *j)
{
	be_db_copybuf *cb;
	el_buf *b;
	int32_t hid;
	int rc;

	if (db == NULL || c == NULL || j == NULL)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc == 0)
		rc = be_db_host_id(db, be_corr_host_name(c, j->host), &hid);
	if (rc)
		return rc;
	cb = &db->rej;
	b = &cb->b;
	be_db_copy_row(cb, 20);
	be_db_copy_ts(b, j->time_us);
	be_db_copy_i64(b, (int64_t)be_db_reject_nth(db, be_db_reject_id(j)));
	be_db_copy_i64(b, (int64_t)j->email_id);
	if (j->session_us)
		be_db_copy_ts(b, j->session_us);
	else
		be_db_copy_null(b);
	be_db_copy_i32(b, hid);
	be_db_opt_i32(b, (int32_t)j->pid);
	be_db_opt_i32(b, (int32_t)j->client_port);
	be_db_copy_cstr(db, b, j->qid[0] ? j->qid : NULL, BE_DB_TEXT_QID);
	be_db_copy_cstr(db, b, el_event_name(j->event), BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b,
			j->event == EL_EV_REJECT          ? (j->temporary ? "deferred" : "rejected")
			: j->event == EL_EV_PS_DISCONNECT ? "dropped"
							  : "lost",
			BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->client_host, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->client_ip, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->helo, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->from, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->to, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->stage, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->proto, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->reject_code, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->reject_dsn, BE_DB_TEXT_KEY);
	be_db_copy_cstr(db, b, j->reason, BE_DB_TEXT_LONG);
	return 0;
}

/* be_db_flows_pending - flows buffered (transactions + rejects) */
size_t be_db_flows_pending(const be_db *db)
{
	return db ? db->msg.rows + db->rej.rows : 0;
}

/* be_db_flows_journaled - flows buffered that are in a journal row (transactions + rejects) */
size_t be_db_flows_journaled(const be_db *db)
{
	return db ? db->jrows[0] + db->jrows[2] : 0;
}

/* be_db_journal_unmarked - flow rows buffered after the last journal row */
bool be_db_journal_unmarked(const be_db *db)
{
	return db && (db->msg.rows > db->jrows[0] || db->rcpt.rows > db->jrows[1] ||
		      db->rej.rows > db->jrows[2] || db->keys.rows > db->jrows[3]);
}

/* be_db_copybuf_swap - exchange two tables' pending rows */
static void be_db_copybuf_swap(be_db_copybuf *a, be_db_copybuf *b)
{
	be_db_copybuf t = *a;

	*a = *b;
	*b = t;
}

/* be_db_flows_bytes - see be_db.h */
size_t be_db_flows_bytes(const be_db *db)
{
	return db ? db->msg.b.len + db->rcpt.b.len + db->rej.b.len + db->keys.b.len : 0;
}

/* be_db_flows_drop - see be_db.h */
void be_db_flows_drop(be_db *db)
{
	if (db == NULL)
		return;
	be_db_copy_reset(&db->msg);
	be_db_copy_reset(&db->rcpt);
	be_db_copy_reset(&db->rej);
	be_db_copy_reset(&db->keys);
	db->stage_n = 0;
	be_db_rejects_forget(db);
	be_db_keys_forget(db);
	be_db_journal_forget(db);
}

/*
 * be_db_copybuf_head - dst (empty) gets src's rows up to byte mark (rows of
 * them), src keeps those after, behind a header of its own.
 */
static void be_db_copybuf_head(be_db_copybuf *dst, be_db_copybuf *src, size_t mark, size_t rows)
{
	if (mark == src->b.len) {
		be_db_copybuf_swap(dst, src);
		return;
	}
	if (mark <= BE_DB_COPY_HEADER)
		return;
	el_buf_add(&dst->b, src->b.p, mark);
	dst->rows = rows;
	memmove(src->b.p + BE_DB_COPY_HEADER, src->b.p + mark, src->b.len - mark);
	src->b.len -= mark - BE_DB_COPY_HEADER;
	src->rows -= rows;
}

/*
 * be_db_copybuf_restage - subtract delta from the staging order, the last
 * column, of every row of cb (messages, recipients: be_db_flow_tx)
 */
static void be_db_copybuf_restage(be_db_copybuf *cb, int32_t delta)
{
	unsigned char *p = (unsigned char *)cb->b.p, *end = p + cb->b.len;

	if (cb->rows == 0)
		return;
	p += BE_DB_COPY_HEADER;
	for (size_t r = 0; r < cb->rows; r++) {
		unsigned nf = (unsigned)p[0] << 8 | p[1];
		unsigned char *last = NULL;
		p += 2;
		for (unsigned f = 0; f < nf; f++) {
			int32_t len = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
						(uint32_t)p[2] << 8 | p[3]);
			last = p + 4;
			p += 4 + (len > 0 ? len : 0);
		}
		if (last == NULL || last + 4 > end)
			el_panic("be_db: a staged row without its order");
		uint32_t v = (uint32_t)last[0] << 24 | (uint32_t)last[1] << 16 |
			     (uint32_t)last[2] << 8 | last[3];
		v -= (uint32_t)delta;
		last[0] = (unsigned char)(v >> 24);
		last[1] = (unsigned char)(v >> 16);
		last[2] = (unsigned char)(v >> 8);
		last[3] = (unsigned char)v;
	}
}

/* be_db_flows_take - see be_db.h */
int be_db_flows_take(be_db *dst, be_db *src)
{
	be_db_copybuf *d[4] = { &dst->msg, &dst->rcpt, &dst->rej, &dst->keys };
	be_db_copybuf *s[4] = { &src->msg, &src->rcpt, &src->rej, &src->keys };

	if (dst == NULL || src == NULL || dst == src || be_db_flows_bytes(dst))
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		be_db_copybuf_head(d[i], s[i], src->jmark[i], src->jrows[i]);
	dst->stage_n = src->stage_n;
	/*
	 * The messages left behind are the last ones staged, one number each:
	 * they are numbered again from 1, with their recipients, so the order
	 * never runs out under a load that always leaves some.
	 */
	int32_t delta = src->stage_n - (int32_t)src->msg.rows;
	be_db_copybuf_restage(&src->msg, delta);
	be_db_copybuf_restage(&src->rcpt, delta);
	src->stage_n -= delta;
	/* Reject ordinals count within one flush: the taken rows are one. */
	be_db_rejects_forget(src);
	be_db_journal_forget(src);
	be_db_journal_forget(dst);
	return 0;
}

/* be_db_flows_split - see be_db.h */
int be_db_flows_split(be_db *dst, be_db *src)
{
	if (dst == NULL || src == NULL || dst == src || be_db_flows_bytes(dst))
		return -EINVAL;
	be_db_copybuf_swap(&dst->rcpt, &src->rcpt);
	be_db_copybuf_swap(&dst->rej, &src->rej);
	be_db_copybuf_swap(&dst->keys, &src->keys);
	be_db_journal_forget(src);
	be_db_journal_forget(dst);
	return 0;
}

/* be_db_flows_stmt - a flows statement: its prepared name, text, slot, whether it runs */
typedef struct be_db_flows_stmt {
	const char *name, *sql;
	unsigned slot;
	bool run;
} be_db_flows_stmt;

/*
 * be_db_flows_run - run the flows statements u[0..n) (prepared once per
 * session, bit i of upsert_prepared for statement slot i); their counts are
 * added to cnt.  -EEXIST, and the server's error kept quiet, when an insert
 * met a key already written (SQLSTATE 23505, unique_violation) and quiet is
 * set: the caller then runs the upserts instead.
 */
static int be_db_flows_run(be_db *db, const be_db_flows_stmt *u, size_t n, bool quiet,
			   uint64_t cnt[3])
{
	PGresult *res;

	for (size_t i = 0; i < n; i++) {
		if (!u[i].run)
			continue;
		if (!(db->upsert_prepared & (1u << u[i].slot))) {
			/*
			 * Prepared once per session: planning costs about a fifth
			 * of running it.  They name the staging tables, which may
			 * be made again (after a rollback): PostgreSQL then plans
			 * them again.
			 */
			res = PQprepare(db->conn, u[i].name, u[i].sql, 0, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				return be_db_fail(db, res, "prepare upsert flows");
			PQclear(res);
			db->upsert_prepared |= 1u << u[i].slot;
		}
		res = PQexecPrepared(db->conn, u[i].name, 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			if (quiet && state && strcmp(state, "23505") == 0) {
				PQclear(res);
				return -EEXIST;
			}
			return be_db_fail(db, res, "upsert flows");
		}
		for (int c = 0; c < 3; c++)
			cnt[c] += strtoull(PQgetvalue(res, 0, c), NULL, 10);
		PQclear(res);
	}
	return 0;
}

/*
 * be_db_flows_keys - the staged e-mail keys and addresses, after the flows'
 * rows.  plain: the rows went in with the plain inserts; the keys try the
 * same, and when one is there already (a key staged again after
 * be_db_key_add forgot it: the two hops of an e-mail flushed far apart)
 * only this statement goes back to its savepoint and runs again with ON
 * CONFLICT DO NOTHING (keys_upserted), not the rows' statements, whose
 * upserts cost far more.  Otherwise (a replay, or rows met already) the
 * keys go straight to ON CONFLICT DO NOTHING.
 */
static int be_db_flows_keys(be_db *db, bool plain)
{
	const be_db_flows_stmt ins = { "else_insert_keys", be_db_insert_keys_sql, 4, true };
	const be_db_flows_stmt ups = { "else_upsert_keys", be_db_upsert_keys_sql, 5, true };
	uint64_t cnt[3] = { 0, 0, 0 };
	int rc;

	if (!plain)
		return be_db_flows_run(db, &ups, 1, false, cnt);
	rc = be_db_simple(db, "keys savepoint", "SAVEPOINT else_keys");
	if (rc == 0)
		rc = be_db_flows_run(db, &ins, 1, true, cnt);
	if (rc == -EEXIST) {
		db->st.keys_upserted++;
		rc = be_db_simple(db, "keys savepoint", "ROLLBACK TO SAVEPOINT else_keys");
		if (rc == 0)
			rc = be_db_flows_run(db, &ups, 1, false, cnt);
	}
	if (rc == 0)
		rc = be_db_simple(db, "keys savepoint", "RELEASE SAVEPOINT else_keys");
	return rc;
}

/*
 * be_db_flows_flush - see be_db.h and the file head.
 *
 * A flow is nearly always written once: the engine emits a transaction when
 * it is over, and a later line of its queue ID starts another one (another
 * first_seen, another key).  Only a replay (after a crash, flow_journal
 * applied again) or forged lines write a key again.  So the messages,
 * recipients and e-mail keys (staged once, be_db_key_add) go in first with a
 * plain INSERT, which neither probes for the row it would replace nor takes
 * the ON CONFLICT path: the two statements took 31 % less time in
 * bench/ingest.sh (bench README, session 18).  When a key is there already,
 * the server refuses the insert (unique_violation, all or nothing), the
 * transaction goes back to the savepoint taken before it, and the upserts
 * write the same staged rows.  flow_journal's apply, which expects to meet
 * its rows, runs the upserts only.
 */
int be_db_flows_flush(be_db *db)
{
	if (db == NULL)
		return -EINVAL;
	struct {
		be_db_copybuf *cb;
		const char *sql;
	} t[] = {
		{ &db->msg, "COPY pg_temp.else_stage_messages (" BE_DB_MSG_COLS
			    ", n) FROM STDIN (FORMAT binary)" },
		{ &db->rcpt, "COPY pg_temp.else_stage_recipients (" BE_DB_RCPT_COLS
			     ", n) FROM STDIN (FORMAT binary)" },
		{ &db->rej, "COPY pg_temp.else_stage_rejects (" BE_DB_REJ_COLS
			    ") FROM STDIN (FORMAT binary)" },
		{ &db->keys,
		  "COPY pg_temp.else_stage_keys (" BE_DB_KEY_COLS ") FROM STDIN (FORMAT binary)" },
	};
	bool run_msg = db->msg.rows, run_rcpt = db->rcpt.rows || db->rej.rows;
	const be_db_flows_stmt upsert[] = {
		{ "else_upsert_msg", be_db_upsert_msg_sql, 0, run_msg },
		{ "else_upsert_rcpt", be_db_upsert_rcpt_sql, 1, run_rcpt },
	};
	const be_db_flows_stmt insert[] = {
		{ "else_insert_msg", be_db_insert_msg_sql, 2, run_msg },
		{ "else_insert_rcpt", be_db_insert_rcpt_sql, 3, run_rcpt },
	};
	uint64_t cnt[3] = { 0, 0, 0 };
	bool opened, plain = !db->flows_replay; /* the plain inserts, not the upserts */
	size_t i;
	int rc;

	if (!run_msg && !run_rcpt && !db->keys.rows)
		return 0;
	rc = be_db_tx_wrap_begin(db, &opened);
	if (rc)
		goto out;
	if (!db->stage_ready) {
		rc = be_db_simple(db, "staging tables", be_db_stage_sql);
		if (rc)
			goto out;
		db->stage_ready = true;
	}
	/* Rows of an earlier flush in this transaction were moved already. */
	rc = be_db_simple(
		db, "staging tables",
		"SELECT pg_advisory_xact_lock_shared(" BE_DB_LOCK_TOP "); "
		"DELETE FROM pg_temp.else_stage_messages; "
		"DELETE FROM pg_temp.else_stage_recipients; "
		"DELETE FROM pg_temp.else_stage_rejects; DELETE FROM pg_temp.else_stage_keys");
	for (i = 0; rc == 0 && i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].cb->rows)
			rc = be_db_copy_send(db, "COPY staging", t[i].sql, t[i].cb);
	if (rc == 0 && plain && (run_msg || run_rcpt)) {
		rc = be_db_simple(db, "flows savepoint", "SAVEPOINT else_flows");
		if (rc == 0)
			rc = be_db_flows_run(db, insert, 2, true, cnt);
		if (rc == -EEXIST) {
			db->st.flows_upserted++;
			memset(cnt, 0, sizeof(cnt));
			rc = be_db_simple(db, "flows savepoint",
					  "ROLLBACK TO SAVEPOINT else_flows");
			plain = false;
		}
		if (rc == 0)
			rc = be_db_simple(db, "flows savepoint", "RELEASE SAVEPOINT else_flows");
	}
	if (rc == 0 && !plain)
		rc = be_db_flows_run(db, upsert, 2, false, cnt);
	if (rc == 0 && db->keys.rows)
		rc = be_db_flows_keys(db, plain);
	if (rc == 0) {
		db->st.messages += cnt[0];
		db->st.recipients += cnt[1];
		db->st.rejects += cnt[2];
		db->st.flushes++;
	}
out:
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		be_db_copy_reset(t[i].cb);
	db->stage_n = 0;
	be_db_rejects_forget(db);
	if (rc)
		be_db_keys_forget(db);
	be_db_journal_forget(db);
	return be_db_tx_wrap_end(db, opened, rc);
}

/*
 * The flow journal (sql/010_flow_journal.sql): the rows of the four flow
 * buffers, without their COPY header, as one flow_journal row.
 */

/* be_db_journal_forget - nothing buffered is in the journal */
void be_db_journal_forget(be_db *db)
{
	memset(db->jmark, 0, sizeof(db->jmark));
	memset(db->jrows, 0, sizeof(db->jrows));
}

static const char be_db_jrow_sql[] =
	"INSERT INTO flow_journal (messages, nmessages, recipients, nrecipients, rejects, "
	"nrejects, keys, nkeys) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

/* be_db_jrow_make - see be_db_int.h */
int be_db_jrow_make(be_db *db, be_db_jrow *j)
{
	be_db_copybuf *cb[4] = { &db->msg, &db->rcpt, &db->rej, &db->keys };

	j->rows = 0;
	for (int i = 0; i < 4; i++) {
		size_t from = db->jmark[i] ? db->jmark[i] : cb[i]->b.len ? BE_DB_COPY_HEADER : 0;

		j->rows += cb[i]->rows - db->jrows[i];
		snprintf(j->nb[i], sizeof(j->nb[i]), "%zu", cb[i]->rows - db->jrows[i]);
		j->vals[2 * i] = cb[i]->b.len > from ? cb[i]->b.p + from : "";
		j->lens[2 * i] = (int)(cb[i]->b.len - from);
		j->fmts[2 * i] = 1;
		j->vals[2 * i + 1] = j->nb[i];
		j->lens[2 * i + 1] = 0;
		j->fmts[2 * i + 1] = 0;
		/* A slice over 1 GiB cannot be one value: the caller flushes earlier. */
		if (cb[i]->b.len - from > ((size_t)1 << 30) - 1)
			return -EMSGSIZE;
	}
	j->q = (be_db_genq){ 0, "flow journal", be_db_jrow_sql, 8, j->vals, j->lens, j->fmts, 1 };
	return 0;
}

/* be_db_jrow_of - see be_db_int.h */
void be_db_jrow_of(const be_db_jcopy *jc, be_db_jrow *j)
{
	size_t off = 0;

	j->rows = 0;
	for (int i = 0; i < 4; i++) {
		j->rows += jc->rows[i];
		snprintf(j->nb[i], sizeof(j->nb[i]), "%zu", jc->rows[i]);
		j->vals[2 * i] = jc->len[i] ? jc->b.p + off : "";
		j->lens[2 * i] = (int)jc->len[i];
		j->fmts[2 * i] = 1;
		j->vals[2 * i + 1] = j->nb[i];
		j->lens[2 * i + 1] = 0;
		j->fmts[2 * i + 1] = 0;
		off += jc->len[i];
	}
	j->q = (be_db_genq){ 0, "flow journal", be_db_jrow_sql, 8, j->vals, j->lens, j->fmts, 1 };
}

/* be_db_journal_take - see be_db.h */
int be_db_journal_take(be_db *db, be_db_jcopy *jc)
{
	be_db_copybuf *cb[4] = { &db->msg, &db->rcpt, &db->rej, &db->keys };
	be_db_jrow j;
	int rc;

	if (db == NULL || jc == NULL)
		return -EINVAL;
	if ((rc = be_db_jrow_make(db, &j)) != 0)
		return rc;
	jc->b.len = 0;
	for (int i = 0; i < 4; i++) {
		el_buf_add(&jc->b, j.vals[2 * i], (size_t)j.lens[2 * i]);
		jc->len[i] = (size_t)j.lens[2 * i];
		jc->rows[i] = cb[i]->rows - db->jrows[i];
		db->jmark[i] = cb[i]->b.len;
		db->jrows[i] = cb[i]->rows;
	}
	return 0;
}

/* be_db_jrow_done - see be_db_int.h */
int be_db_jrow_done(be_db *db, PGresult *res, int64_t *id)
{
	be_db_copybuf *cb[4] = { &db->msg, &db->rcpt, &db->rej, &db->keys };
	int rc = 0;

	if (PQntuples(res) != 1 || PQgetlength(res, 0, 0) != 8)
		rc = -EIO;
	if (rc == 0) {
		*id = (int64_t)be_db_get_be64(PQgetvalue(res, 0, 0));
		for (int i = 0; i < 4; i++) {
			db->jmark[i] = cb[i]->b.len;
			db->jrows[i] = cb[i]->rows;
		}
	}
	PQclear(res);
	return rc;
}

/* be_db_journal_write - the journal row; with_lines: then the lines, its round trip shared */
static int be_db_journal_write(be_db *db, int64_t *id, bool with_lines)
{
	PGresult *res = NULL;
	be_db_jrow j;
	int rc;

	if (id == NULL)
		return -EINVAL;
	*id = 0;
	if (!db->in_tx)
		return -EINVAL;
	if ((rc = be_db_jrow_make(db, &j)) != 0)
		return rc;
	if (j.rows == 0)
		return with_lines ? be_db_lines_flush(db) : 0;
	rc = with_lines ? be_db_lines_flush_with(db, &j.q, &res)
			: be_db_exec(db, j.q.what, j.q.sql, j.q.n, j.q.vals, j.q.lens, j.q.fmts,
				     j.q.rfmt, &res);
	return rc ? rc : be_db_jrow_done(db, res, id);
}

/* be_db_journal_add - see be_db.h */
int be_db_journal_add(be_db *db, int64_t *id)
{
	return be_db_journal_write(db, id, false);
}

/* be_db_journal_lines_flush - see be_db.h */
int be_db_journal_lines_flush(be_db *db, int64_t *id)
{
	return be_db_journal_write(db, id, true);
}

/* be_db_journal_done - see be_db.h */
int be_db_journal_done(be_db *db, int64_t lo, int64_t hi)
{
	char lb[24], hb[24];
	const char *v[2] = { lb, hb };

	if (!db->in_tx || lo <= 0 || hi < lo)
		return -EINVAL;
	snprintf(lb, sizeof(lb), "%lld", (long long)lo);
	snprintf(hb, sizeof(hb), "%lld", (long long)hi);
	return be_db_exec(db, "flow journal", "DELETE FROM flow_journal WHERE id BETWEEN $1 AND $2",
			  2, v, NULL, NULL, 0, NULL);
}

/*
 * be_db_transient - a failure that passes by itself (SQLSTATE class):
 * connection (08), transaction rollback such as a deadlock (40), insufficient
 * resources such as a full disk (53), object not in prerequisite state such
 * as a lock not granted (55), operator intervention (57), system error such
 * as I/O (58), or no SQLSTATE at all (libpq's own failure).
 */
static bool be_db_transient(const char *state)
{
	static const char *const cls[] = { "08", "40", "53", "55", "57", "58" };

	if (state[0] == '\0')
		return true;
	for (size_t i = 0; i < sizeof(cls) / sizeof(cls[0]); i++)
		if (strncmp(state, cls[i], 2) == 0)
			return true;
	return false;
}

/* be_db_journal_apply_rows - be_db_journal_apply's loop, on the four buffers cb */
static int be_db_journal_apply_rows(be_db *db, be_db_copybuf *cb[4], uint64_t *applied,
				    uint64_t *bad)
{
	long long after = 0;
	int rc = 0;

	for (;;) {
		PGresult *res = NULL;
		char ab[24], idb[24];
		const char *v[1] = { ab };

		bool malformed = false; /* the row itself cannot be read */

		snprintf(ab, sizeof(ab), "%lld", after);
		if ((rc = be_db_begin(db)) < 0)
			return rc;
		db->err_state[0] = '\0';
		rc = be_db_exec(db, "flow journal",
				"SELECT id, messages, nmessages, recipients, nrecipients, rejects, "
				"nrejects, keys, nkeys FROM flow_journal WHERE id > $1 ORDER BY id "
				"LIMIT 1",
				1, v, NULL, NULL, 1, &res);
		if (rc == 0 && PQntuples(res) == 0) {
			PQclear(res);
			return be_db_commit(db);
		}
		if (rc == 0 && PQgetlength(res, 0, 0) != 8)
			rc = -EIO; /* no id to pass over: not the row's fault */
		if (rc == 0) {
			after = (long long)be_db_get_be64(PQgetvalue(res, 0, 0));
			snprintf(idb, sizeof(idb), "%lld", after);
			v[0] = idb;
		}
		for (int i = 0; rc == 0 && i < 4; i++) {
			size_t len = (size_t)PQgetlength(res, 0, 1 + 2 * i);
			int64_t rows =
				PQgetlength(res, 0, 2 + 2 * i) == 4
					? (int32_t)be_db_get_be32(PQgetvalue(res, 0, 2 + 2 * i))
					: -1;

			if (rows < 0 || (rows == 0) != (len == 0)) {
				rc = -EIO;
				malformed = true;
			} else if (rows) {
				be_db_copy_header(cb[i]);
				el_buf_add(&cb[i]->b, PQgetvalue(res, 0, 1 + 2 * i), len);
				cb[i]->rows = (size_t)rows;
			}
		}
		PQclear(res);
		if (rc == 0)
			rc = be_db_flows_flush(db);
		if (rc == 0)
			rc = be_db_exec(db, "flow journal",
					"DELETE FROM flow_journal WHERE id = $1", 1, v, NULL, NULL,
					0, NULL);
		if (rc == 0)
			rc = be_db_commit(db);
		if (rc == 0) {
			if (applied)
				(*applied)++;
			continue;
		}
		bool refused = malformed || (rc == -EIO && !be_db_transient(db->err_state));
		be_db_rollback(db);
		be_db_flows_drop(db);
		if (!refused || after == 0)
			return rc;
		/*
		 * A row the database refuses (it was written by this code, so
		 * only a bug or a hand-edited table makes one): kept for an
		 * operator to look at, and passed over so that ingest goes on.
		 * A failure that passes (a full disk, memory, a deadlock, the
		 * connection) is not the row's: the apply stops there and is
		 * tried again later, so that no later row is applied before it.
		 */
		el_warn("database: flow_journal row %lld cannot be applied: left in place", after);
		if (bad)
			(*bad)++;
	}
}

/* be_db_journal_apply - see be_db.h */
int be_db_journal_apply(be_db *db, uint64_t *applied, uint64_t *bad)
{
	int rc;

	if (applied)
		*applied = 0;
	if (bad)
		*bad = 0;
	if (db == NULL || db->in_tx || db->msg.rows || db->rcpt.rows || db->rej.rows ||
	    db->keys.rows)
		return -EINVAL;
	be_db_copybuf *cb[4] = { &db->msg, &db->rcpt, &db->rej, &db->keys };
	db->flows_replay = true;
	rc = be_db_journal_apply_rows(db, cb, applied, bad);
	db->flows_replay = false;
	return rc;
}
