/*
 * be_db_qstats - the Stats call: series and top lists from the rollups,
 * never a scan of messages.  See be_db_query.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_qint.h"

/*
 * be_db_q_stats - see be_db_query.h.  From the rollups of 002_stats.sql and
 * 006_stats_top.sql only (never a scan of messages), in one statement: a row
 * counts for an operator when its host is one of their servers or its domain
 * one of their domains.  Top lists read stats_top_hot, the keys at or above
 * each day's and host's cut (006_stats_top.sql: what a list may miss), except
 * for readers with no domain in their scope: they read the spans of
 * 011_stats_top_span.sql (weeks per host, and weeks and days over every host
 * for a reader who sees every host) for the days spans cover, and
 * stats_top_hot for the others.
 * Parameters: $1..$4 scope, $5 from, $6 to, $7 'hour'/'day', $8 server,
 * $9 domain, $10 top.  Result rows (sec, t, a, b, n): sec 0 messages, 1
 * recipients, 2 rejects (t the bucket, a status or event, b direction), 3
 * per server (a the name), 4 top lists (t the kind 1..7, a the key).
 */
/*
 * The cardinality test folds away in the plan of a reader without servers
 * (the statement is planned with its values), so that the domain indexes of
 * 013_stats_domain_index.sql can serve the domain condition alone.
 */
#define BE_DBQ_STATS_SCOPE(dom)                                                                    \
	"($8 = '' OR host_id = (SELECT id FROM hosts WHERE name = $8)) "                           \
	"AND ($9 = '' OR " dom " = lower($9)) AND ($1::integer = 1 OR ($1::integer = 2 AND "       \
	"((cardinality($2::integer[]) > 0 AND host_id = ANY ($2::integer[])) OR "                  \
	"(" dom " <> '' AND " dom " = ANY ($3::text[]))))) "
#define BE_DBQ_STATS_WHERE(dom)                                                                    \
	"NOT " BE_DBQ_STATS_HOSTONLY " AND hour >= " BE_DBQ_TS("$5") " AND hour < " BE_DBQ_TS(     \
		"$6") " AND " BE_DBQ_STATS_SCOPE(dom)
/* No domain needed (006_stats_top.sql): the series without the domain do. */
#define BE_DBQ_STATS_HOSTONLY "($9 = '' AND ($1::integer = 1 OR $3::text[] = '{}'))"
#define BE_DBQ_STATS_HWHERE                                                                        \
	BE_DBQ_STATS_HOSTONLY " AND hour >= " BE_DBQ_TS("$5") " AND hour < " BE_DBQ_TS(            \
		"$6") " AND ($8 = '' OR host_id = (SELECT id FROM hosts WHERE name = $8)) "        \
		      "AND ($1::integer = 1 OR ($1::integer = 2 AND host_id = ANY "                \
		      "($2::integer[]))) "
#define BE_DBQ_BUCKET BE_DBQ_US("date_trunc($7, hour)")
/* One clause per line: clang-format would split this string a character a line. */
/* clang-format off */
static const char be_dbq_stats_sql[] =
	/* The days of the range, and whether spans may serve (011_stats_top_span.sql). */
	"WITH rg AS (SELECT ("
	BE_DBQ_TS("$5")
	" AT TIME ZONE 'UTC')::date AS f, ("
	BE_DBQ_TS("$6")
	" AT TIME ZONE 'UTC')::date AS l, "
	BE_DBQ_STATS_HOSTONLY
	" AS ho, "
	BE_DBQ_STATS_HOSTONLY
	" AND $8 = '' AND ($1::integer = 1 OR ($1::integer = 2 AND NOT EXISTS "
	"(SELECT 1 FROM hosts WHERE id <> ALL ($2::integer[])))) AS al), "
	/* weeks inside the range with no day changed since their span was made */
	"tw AS (SELECT s.first, s.last FROM stats_top_spans s, rg WHERE rg.ho AND s.days = 7 "
	"AND s.first >= rg.f AND s.last <= rg.l AND NOT EXISTS (SELECT 1 FROM stats_top_dirty d "
	"WHERE d.day BETWEEN s.first AND s.last)), "
	/* then single days over every host, for a reader who sees every host */
	"td AS (SELECT s.first FROM stats_top_spans s, rg WHERE rg.al AND s.days = 1 "
	"AND s.first BETWEEN rg.f AND rg.l AND NOT EXISTS (SELECT 1 FROM tw WHERE s.first "
	"BETWEEN tw.first AND tw.last) AND NOT EXISTS (SELECT 1 FROM stats_top_dirty d "
	"WHERE d.day = s.first)), "
	/* and the hot rows of the other days */
	"hd AS (SELECT g::date AS day FROM rg, generate_series(rg.f, rg.l, interval '1 day') g "
	"WHERE NOT EXISTS (SELECT 1 FROM tw WHERE g::date BETWEEN tw.first AND tw.last) "
	"AND NOT EXISTS (SELECT 1 FROM td WHERE td.first = g::date)) "
	"SELECT sec, t, a, b, n "
	"FROM (SELECT 0 AS sec, "
	BE_DBQ_BUCKET
	" AS t, status AS a, '' AS b, sum(messages)::bigint AS n "
	"FROM stats_msg_host_hourly "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 2, 3 "
	"UNION ALL SELECT 0, "
	BE_DBQ_BUCKET
	", status, '', sum(messages)::bigint "
	"FROM stats_msg_hourly "
	"WHERE "
	BE_DBQ_STATS_WHERE("sender_domain")
	"GROUP BY 2, 3 "
	"UNION ALL SELECT 1, "
	BE_DBQ_BUCKET
	", status, direction, sum(recipients)::bigint "
	"FROM stats_rcpt_host_hourly "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 2, 3, 4 "
	"UNION ALL SELECT 1, "
	BE_DBQ_BUCKET
	", status, direction, sum(recipients)::bigint "
	"FROM stats_rcpt_hourly "
	"WHERE "
	BE_DBQ_STATS_WHERE("rcpt_domain")
	"GROUP BY 2, 3, 4 "
	"UNION ALL SELECT 2, "
	BE_DBQ_BUCKET
	", event, '', sum(rejects)::bigint "
	"FROM stats_reject_host_hourly "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 2, 3 "
	"UNION ALL SELECT 2, "
	BE_DBQ_BUCKET
	", event, '', sum(rejects)::bigint "
	"FROM stats_reject_hourly "
	"WHERE "
	BE_DBQ_STATS_WHERE("rcpt_domain")
	"GROUP BY 2, 3 "
	"UNION ALL (SELECT 3, 0, h.name, '', sum(messages)::bigint "
	"FROM stats_msg_host_hourly s JOIN hosts h ON h.id = s.host_id "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 3 "
	"ORDER BY 5 DESC, 3 LIMIT $10::integer) "
	"UNION ALL (SELECT 3, 0, h.name, '', sum(messages)::bigint "
	"FROM stats_msg_hourly s JOIN hosts h ON h.id = s.host_id "
	"WHERE "
	BE_DBQ_STATS_WHERE("sender_domain")
	"GROUP BY 3 "
	"ORDER BY 5 DESC, 3 LIMIT $10::integer) "
	"UNION ALL SELECT 4, kind, key, '', c "
	"FROM (SELECT kind, key, sum(count)::bigint AS c, row_number() OVER (PARTITION BY kind "
	"ORDER BY sum(count) DESC, key) AS rn "
	"FROM (SELECT p.kind, p.key, p.count FROM stats_top_span p JOIN tw ON p.first = tw.first "
	"AND p.days = 7, rg WHERE p.kind BETWEEN 1 AND 7 AND CASE WHEN rg.al THEN p.host_id = 0 "
	"ELSE p.host_id <> 0 AND ($8 = '' OR p.host_id = (SELECT id FROM hosts WHERE name = $8)) "
	"AND ($1::integer = 1 OR ($1::integer = 2 AND p.host_id = ANY ($2::integer[]))) END "
	"UNION ALL SELECT p.kind, p.key, p.count FROM stats_top_span p JOIN td ON "
	"p.first = td.first AND p.days = 1 WHERE p.host_id = 0 AND p.kind BETWEEN 1 AND 7 "
	/* a day at a time (OFFSET 0 keeps the subquery): the plan probes the index */
	"UNION ALL SELECT y.kind, y.key, y.count FROM hd, LATERAL (SELECT kind, key, count "
	"FROM stats_top_hot WHERE day = hd.day AND kind BETWEEN 1 AND 7 AND "
	BE_DBQ_STATS_SCOPE("domain")
	"OFFSET 0) y) z GROUP BY kind, key) x "
	"WHERE rn <= $10::integer AND $4::text[] IS NOT NULL AND $7 <> '') u "
	"ORDER BY sec, t, CASE WHEN sec >= 3 THEN -n END, a, b";
/* clang-format on */

int be_db_q_stats(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Stats *s,
		  int64_t now_us, Else__StatsReply *out)
{
	Else__StatsPoint ***pts[3] = { &out->messages, &out->recipients, &out->rejects };
	size_t *npts[3] = { &out->n_messages, &out->n_recipients, &out->n_rejects };
	/* Section 3 is per_server, 4 + k the top list of kind k (002_stats.sql). */
	Else__TopEntry ***tops[12] = { NULL,
				       NULL,
				       NULL,
				       &out->per_server,
				       NULL,
				       &out->top_senders,
				       &out->top_recipients,
				       &out->top_sender_domains,
				       &out->top_recipient_domains,
				       &out->top_client_ips,
				       &out->top_reject_reasons,
				       &out->top_defer_reasons };
	size_t *ntops[12] = { NULL,
			      NULL,
			      NULL,
			      &out->n_per_server,
			      NULL,
			      &out->n_top_senders,
			      &out->n_top_recipients,
			      &out->n_top_sender_domains,
			      &out->n_top_recipient_domains,
			      &out->n_top_client_ips,
			      &out->n_top_reject_reasons,
			      &out->n_top_defer_reasons };
	size_t cnt[12] = { 0 };
	char role[8], f[24], t[24], top[16];
	const char *p[10];
	int64_t from, to;
	PGresult *r;
	int rc, n;

	be_dbq_scope_params(sc, role, p);
	be_dbq_range(s->from_us, s->to_us, now_us, 86400000000LL, &from, &to);
	snprintf(f, sizeof(f), "%" PRId64, from);
	snprintf(t, sizeof(t), "%" PRId64, to);
	snprintf(top, sizeof(top), "%u", s->top ? s->top : 10);
	p[4] = f;
	p[5] = t;
	p[6] = s->daily ? "day" : "hour";
	p[7] = s->server ? s->server : "";
	p[8] = s->domain ? s->domain : "";
	p[9] = top;
	if ((rc = be_dbq_exec(db, "stats", be_dbq_stats_sql, 10, p, &r)) != 0)
		return rc;
	n = PQntuples(r);
	/* The section of each row: 0..3 as numbered, 4 + kind for the top lists. */
	for (int pass = 0; pass < 2; pass++) {
		size_t at[12] = { 0 };
		for (int i = 0; i < n; i++) {
			int64_t sec = be_dbq_i64(r, i, 0), tv = be_dbq_i64(r, i, 1);
			size_t k = sec == 4 && tv >= 1 && tv <= 7 ? (size_t)(4 + tv) : (size_t)sec;
			if (sec < 0 || sec > 4 || (sec == 4 && k == 4))
				continue; /* not what the statement makes */
			if (pass == 0) {
				cnt[k]++;
			} else if (k < 3) {
				Else__StatsPoint *pt = el_arena_alloc(a, sizeof(*pt));
				else__stats_point__init(pt);
				pt->time_us = tv;
				pt->status = be_dbq_str(a, r, i, 2);
				pt->direction = be_dbq_str(a, r, i, 3);
				pt->count = be_dbq_i64(r, i, 4);
				(*pts[k])[at[k]++] = pt;
			} else {
				Else__TopEntry *e = el_arena_alloc(a, sizeof(*e));
				else__top_entry__init(e);
				e->key = be_dbq_str(a, r, i, 2);
				e->count = be_dbq_i64(r, i, 4);
				(*tops[k])[at[k]++] = e;
			}
		}
		if (pass == 0) {
			for (size_t k = 0; k < 12; k++) {
				if (k < 3) {
					*pts[k] =
						el_arena_alloc(a, (cnt[k] + 1) * sizeof(**pts[k]));
					*npts[k] = cnt[k];
				} else if (k != 4) {
					*tops[k] =
						el_arena_alloc(a, (cnt[k] + 1) * sizeof(**tops[k]));
					*ntops[k] = cnt[k];
				}
			}
		}
	}
	PQclear(r);
	return 0;
}
