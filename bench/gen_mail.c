/*
 * gen_mail - harness-shaped Postfix logs at any scale, for bench/search.sh.
 *
 *   gen_mail --host NAME [--emails N] [--days D] [--end UNIX_TIME] [--seed S]
 *            [--from UNIX_TIME] [--to UNIX_TIME] [--site K]
 *   gen_mail [--site K] --list-hosts
 *
 * The real Postfix harness (tests/mta) writes about 150 messages/s, far too
 * slow for ten million e-mails.  This program writes the same line shapes the
 * harness captured (tests/data/postfix), with the fields varied: queue IDs,
 * Message-IDs, addresses over a few thousand domains with a skewed
 * popularity, client IPs, sizes, pids, relay hops between hosts, bounces with
 * their DSN, deferrals then delivery, NOQUEUE rejects.  E-mail i starts at
 * end - days + i * (days / N); each e-mail's story is a pure function of
 * (seed, i), so one process per host, each printing only its own host's
 * lines, gives logs that agree across hosts (the relay's "queued as" is the
 * next host's queue ID, with the same Message-ID).
 *
 * Hosts: relay1, relay2 (customers' outbound submission and inbound
 * filtering) and mx1..mx6 (mailbox hosts; customer domain k lives on mx(k%6+1)).
 * --site K (1..99) makes another platform: the same hosts named sK-relay1 ..
 * sK-mx6, other queue IDs and Message-IDs (the seed moves with K), the same
 * customers and outside senders.
 * Shapes, per e-mail: 40% inbound direct to an mx and delivered by lmtp;
 * 25% outbound from a customer through a relay; 15% inbound through a relay
 * and then its mx (two hops); 6% outbound bounced (5.1.1) with the DSN
 * delivered back to the customer's mx; 4% outbound deferred then delivered
 * 10-60 minutes later; 10% a NOQUEUE reject (no e-mail).
 *
 * Output: lines of this host in time order on stdout, RFC 3339 time stamps
 * with microseconds (the rsyslog high-precision format ELSE parses).  With
 * --from/--to only the lines timed in [from, to): a long load ships one day
 * after the other, each host's day a file, and the days join seamlessly.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GEN_NHOSTS 8
#define GEN_MAXLINE 1024

static const char *const gen_base[GEN_NHOSTS] = { "relay1", "relay2", "mx1", "mx2",
						  "mx3",    "mx4",    "mx5", "mx6" };
/* The names printed: gen_base, prefixed "sK-" for --site K (a second platform). */
static char gen_hosts[GEN_NHOSTS][24];

typedef struct gen_line {
	int64_t t_us;
	uint64_t order; /* ties keep the order they were made in */
	char *text;
} gen_line;

typedef struct gen_heap {
	gen_line *v;
	size_t n, cap;
} gen_heap;

typedef struct gen_rng {
	uint64_t s;
} gen_rng;

static int gen_me = -1; /* index of the host whose lines we print */
static int64_t gen_from_us = INT64_MIN, gen_to_us = INT64_MAX; /* window printed */
static uint64_t gen_order;
static gen_heap gen_q;

/* gen_mix - splitmix64 finaliser */
static uint64_t gen_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* gen_next - next 64 random bits */
static uint64_t gen_next(gen_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return gen_mix(r->s);
}

/* gen_below - uniform in [0, n) */
static uint32_t gen_below(gen_rng *r, uint32_t n)
{
	return (uint32_t)(((gen_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* gen_skew - in [0, n), small values far more likely (popular senders, domains) */
static uint32_t gen_skew(gen_rng *r, uint32_t n)
{
	double u = (double)(gen_next(r) >> 11) / 9007199254740992.0;
	uint32_t v = (uint32_t)(u * u * u * n);
	return v < n ? v : n - 1;
}

/* gen_heap_push - queue a line */
static void gen_heap_push(int64_t t_us, char *text)
{
	gen_line x = { t_us, gen_order++, text };
	size_t i;

	if (gen_q.n == gen_q.cap) {
		gen_q.cap = gen_q.cap ? gen_q.cap * 2 : 4096;
		gen_q.v = realloc(gen_q.v, gen_q.cap * sizeof(*gen_q.v));
		if (gen_q.v == NULL) {
			fprintf(stderr, "gen_mail: out of memory\n");
			exit(1);
		}
	}
	i = gen_q.n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		gen_line *q = &gen_q.v[p];
		if (q->t_us < x.t_us || (q->t_us == x.t_us && q->order < x.order))
			break;
		gen_q.v[i] = *q;
		i = p;
	}
	gen_q.v[i] = x;
}

/* gen_heap_pop - take the earliest line */
static gen_line gen_heap_pop(void)
{
	gen_line top = gen_q.v[0], x = gen_q.v[--gen_q.n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= gen_q.n)
			break;
		if (c + 1 < gen_q.n && (gen_q.v[c + 1].t_us < gen_q.v[c].t_us ||
					(gen_q.v[c + 1].t_us == gen_q.v[c].t_us &&
					 gen_q.v[c + 1].order < gen_q.v[c].order)))
			c++;
		if (x.t_us < gen_q.v[c].t_us ||
		    (x.t_us == gen_q.v[c].t_us && x.order < gen_q.v[c].order))
			break;
		gen_q.v[i] = gen_q.v[c];
		i = c;
	}
	gen_q.v[i] = x;
	return top;
}

/* gen_emit - one log line of host h at t_us (dropped unless h is ours) */
static void gen_emit(int h, int64_t t_us, const char *prog, uint32_t pid, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void gen_emit(int h, int64_t t_us, const char *prog, uint32_t pid, const char *fmt, ...)
{
	char buf[GEN_MAXLINE], *text;
	time_t secs = (time_t)(t_us / 1000000);
	struct tm tm;
	va_list ap;
	int n;

	if (h != gen_me || t_us < gen_from_us || t_us >= gen_to_us)
		return;
	gmtime_r(&secs, &tm);
	n = snprintf(buf, sizeof(buf),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00 %s postfix/%s[%u]: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (int)(t_us % 1000000), gen_hosts[h], prog, pid);
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	text = strdup(buf);
	if (text == NULL) {
		fprintf(stderr, "gen_mail: out of memory\n");
		exit(1);
	}
	gen_heap_push(t_us, text);
}

/* gen_qid - a Postfix short queue ID, unique per (host, e-mail, hop) */
static void gen_qid(char out[16], uint64_t seed, uint64_t i, int hop)
{
	uint64_t v = gen_mix(seed ^ (i * 4 + (uint64_t)hop)) & 0xFFFFFFFFFFULL;

	/* 10 hex digits from a bijection of i would be unique; mixing with the
	 * hop keeps the look of real IDs, and 40 bits keep collisions rare. */
	snprintf(out, 16, "%010" PRIX64, v);
}

typedef struct gen_ctx {
	uint64_t seed;
	gen_rng r;
	uint64_t i;
	int64_t t;
} gen_ctx;

/* gen_pid - a plausible pid for a daemon on a host, stable for a while */
static uint32_t gen_pid(const gen_ctx *g, int h, int daemon)
{
	return 1000 + (uint32_t)(gen_mix((uint64_t)h * 131 + (uint64_t)daemon * 7 +
					 (uint64_t)(g->t / 3600000000LL)) %
				 60000);
}

enum { D_SMTPD, D_CLEANUP, D_QMGR, D_SMTP, D_LMTP, D_BOUNCE, D_LOCAL };

/* gen_receive - smtpd + cleanup + qmgr lines of a message arriving on h */
static int64_t gen_receive(gen_ctx *g, int h, int64_t t, const char *qid, const char *client,
			   const char *ip, const char *sasl, const char *mid, const char *from,
			   uint32_t size, int nrcpt)
{
	uint32_t spid = gen_pid(g, h, D_SMTPD) + gen_below(&g->r, 50);

	gen_emit(h, t, "smtpd", spid, "connect from %s[%s]", client, ip);
	t += 20000 + gen_below(&g->r, 80000);
	if (sasl)
		gen_emit(h, t, "smtpd", spid,
			 "%s: client=%s[%s], sasl_method=PLAIN, sasl_username=%s", qid, client, ip,
			 sasl);
	else
		gen_emit(h, t, "smtpd", spid, "%s: client=%s[%s]", qid, client, ip);
	t += 5000 + gen_below(&g->r, 20000);
	gen_emit(h, t, "cleanup", gen_pid(g, h, D_CLEANUP), "%s: message-id=%s", qid, mid);
	t += 2000 + gen_below(&g->r, 10000);
	gen_emit(h, t, "qmgr", gen_pid(g, h, D_QMGR),
		 "%s: from=<%s>, size=%u, nrcpt=%d (queue active)", qid, from, size, nrcpt);
	gen_emit(h, t + 1000, "smtpd", spid,
		 "disconnect from %s[%s] ehlo=1 mail=1 rcpt=%d data=1 quit=1 commands=%d", client,
		 ip, nrcpt, nrcpt + 4);
	return t + 3000;
}

/* gen_removed - the qmgr line that ends a queue file's life */
static void gen_removed(gen_ctx *g, int h, int64_t t, const char *qid)
{
	gen_emit(h, t, "qmgr", gen_pid(g, h, D_QMGR), "%s: removed", qid);
}

/* gen_one - the story of e-mail i; its lines go to the heap */
static void gen_one(gen_ctx *g)
{
	char qid[16], qid2[16], mid[160], from[128], to[5][128], client[96], ip[48];
	uint32_t shape = gen_below(&g->r, 100), size = 1500 + gen_skew(&g->r, 200000);
	uint32_t cdom = gen_skew(&g->r, 3000), edom = gen_skew(&g->r, 20000);
	int mx = 2 + (int)(cdom % 6), relay = (int)gen_below(&g->r, 2), nrcpt = 1, k;
	int64_t t = g->t;
	double d;

	gen_qid(qid, g->seed, g->i, 0);
	gen_qid(qid2, g->seed, g->i, 1);
	snprintf(mid, sizeof(mid), "<%" PRIu64 ".%08" PRIx64 "@%s.example>", g->i,
		 gen_mix(g->seed + g->i) & 0xffffffff,
		 shape < 40 || (shape >= 65 && shape < 80) ? "mail.ext" : "mua.cust");
	k = (int)gen_below(&g->r, 100);
	nrcpt = k < 80 ? 1 : k < 95 ? 2 : 3 + (int)gen_below(&g->r, 3);
	snprintf(ip, sizeof(ip), "198.51.%u.%u", gen_skew(&g->r, 256), gen_below(&g->r, 254) + 1);
	snprintf(client, sizeof(client), "mail%u.ext%u.example", gen_below(&g->r, 4), edom);

	if (shape < 40 || (shape >= 65 && shape < 80)) {
		/* Inbound: external sender, customer recipients on one mx. */
		snprintf(from, sizeof(from), "user%u@ext%u.example", gen_skew(&g->r, 50000), edom);
		for (k = 0; k < nrcpt; k++)
			snprintf(to[k], sizeof(to[k]), "user%u@cust%u.example",
				 gen_skew(&g->r, 5000), cdom);
		int h = mx;
		if (shape >= 65) { /* through a relay first */
			h = relay;
			t = gen_receive(g, h, t, qid, client, ip, NULL, mid, from, size, nrcpt);
			d = 0.1 + gen_below(&g->r, 900) / 1000.0;
			int64_t t2 = t + (int64_t)(d * 1e6);
			for (k = 0; k < nrcpt; k++)
				gen_emit(h, t2 + k, "smtp", gen_pid(g, h, D_SMTP),
					 "%s: to=<%s>, relay=%s.isp.example[10.0.0.%d]:25, "
					 "delay=%.2f, "
					 "delays=0.01/0/0.02/%.2f, dsn=2.0.0, status=sent (250 "
					 "2.0.0 Ok: "
					 "queued as %s)",
					 qid, to[k], gen_hosts[mx], 10 + mx, d, d - 0.03, qid2);
			gen_removed(g, h, t2 + nrcpt + 500, qid);
			char rc[64], rip[32];
			snprintf(rc, sizeof(rc), "%s.isp.example", gen_hosts[h]);
			snprintf(rip, sizeof(rip), "10.0.0.%d", 10 + h);
			t = gen_receive(g, mx, t + 50000, qid2, rc, rip, NULL, mid, from,
					size + 900, nrcpt);
			memcpy(qid, qid2, sizeof(qid));
		} else {
			t = gen_receive(g, h, t, qid, client, ip, NULL, mid, from, size, nrcpt);
		}
		d = 0.05 + gen_below(&g->r, 500) / 1000.0;
		t += (int64_t)(d * 1e6);
		for (k = 0; k < nrcpt; k++)
			gen_emit(mx, t + k, "lmtp", gen_pid(g, mx, D_LMTP),
				 "%s: to=<%s>, relay=mailstore.isp.example[private/dovecot-lmtp], "
				 "delay=%.2f, delays=0.01/0/0.01/%.2f, dsn=2.0.0, status=sent (250 "
				 "2.0.0 "
				 "<%s> Saved)",
				 qid, to[k], d, d - 0.02, to[k]);
		gen_removed(g, mx, t + nrcpt + 300, qid);
		return;
	}
	if (shape < 90) {
		/* Outbound through a relay: sent, bounced (DSN back) or deferred. */
		char sasl[128];
		uint32_t cu = gen_skew(&g->r, 5000);
		snprintf(from, sizeof(from), "user%u@cust%u.example", cu, cdom);
		snprintf(sasl, sizeof(sasl), "user%u@cust%u.example", cu, cdom);
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", 1 + gen_below(&g->r, 3),
			 gen_below(&g->r, 256), 1 + gen_below(&g->r, 254));
		snprintf(client, sizeof(client), "customer%u.dsl.isp.example",
			 gen_below(&g->r, 100000));
		for (k = 0; k < nrcpt; k++)
			snprintf(to[k], sizeof(to[k]), "user%u@ext%u.example",
				 gen_skew(&g->r, 50000), gen_skew(&g->r, 20000));
		int h = relay;
		t = gen_receive(g, h, t, qid, client, ip, sasl, mid, from, size, nrcpt);
		if (shape < 84) {
			int deferred = shape >= 80;
			d = 0.2 + gen_below(&g->r, 2000) / 1000.0;
			if (deferred) {
				int64_t td = t + (int64_t)(d * 1e6);
				for (k = 0; k < nrcpt; k++)
					gen_emit(h, td + k, "smtp", gen_pid(g, h, D_SMTP),
						 "%s: to=<%s>, "
						 "relay=mx.ext%u.example[203.0.113.%u]:25, "
						 "delay=%.1f, delays=0.01/0/5/0, dsn=4.7.1, "
						 "status=deferred "
						 "(host mx.ext%u.example[203.0.113.%u] said: 451 "
						 "4.7.1 "
						 "Greylisted, see https://postgrey.example/%u.html "
						 "(in reply "
						 "to RCPT TO command))",
						 qid, to[k], edom, edom % 250 + 1, d, edom,
						 edom % 250 + 1, edom % 97);
				d += 600 + gen_below(&g->r, 3000);
			}
			t += (int64_t)(d * 1e6);
			for (k = 0; k < nrcpt; k++)
				gen_emit(h, t + k, "smtp", gen_pid(g, h, D_SMTP),
					 "%s: to=<%s>, relay=mx.ext%u.example[203.0.113.%u]:25, "
					 "delay=%.2f, "
					 "delays=0.01/0/0.05/%.2f, dsn=2.0.0, status=sent (250 "
					 "2.0.0 OK "
					 "%08" PRIx64 " - gsmtp)",
					 qid, to[k], edom, edom % 250 + 1, d,
					 d > 0.1 ? d - 0.06 : 0.01,
					 gen_mix(g->i + (uint64_t)k) & 0xffffffff);
			gen_removed(g, h, t + nrcpt + 200, qid);
			return;
		}
		/* Bounced: 5.1.1 from the remote side, DSN to the sender's mx. */
		d = 0.3 + gen_below(&g->r, 1000) / 1000.0;
		t += (int64_t)(d * 1e6);
		gen_emit(h, t, "smtp", gen_pid(g, h, D_SMTP),
			 "%s: to=<%s>, relay=mx.ext%u.example[203.0.113.%u]:25, delay=%.2f, "
			 "delays=0.01/0/0.05/%.2f, dsn=5.1.1, status=bounced (host "
			 "mx.ext%u.example[203.0.113.%u] said: 550 5.1.1 <%s>: Recipient address "
			 "rejected: User unknown in virtual mailbox table (in reply to RCPT TO "
			 "command))",
			 qid, to[0], edom, edom % 250 + 1, d, d - 0.06, edom, edom % 250 + 1,
			 to[0]);
		for (k = 1; k < nrcpt; k++)
			gen_emit(
				h, t + k, "smtp", gen_pid(g, h, D_SMTP),
				"%s: to=<%s>, relay=mx.ext%u.example[203.0.113.%u]:25, delay=%.2f, "
				"delays=0.01/0/0.05/%.2f, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
				qid, to[k], edom, edom % 250 + 1, d, d - 0.06);
		char dmid[96];
		snprintf(dmid, sizeof(dmid), "<%s.%s@%s.isp.example>", qid2, qid, gen_hosts[h]);
		gen_emit(h, t + 2000, "cleanup", gen_pid(g, h, D_CLEANUP), "%s: message-id=%s",
			 qid2, dmid);
		gen_emit(h, t + 2500, "bounce", gen_pid(g, h, D_BOUNCE),
			 "%s: sender non-delivery notification: %s", qid, qid2);
		gen_emit(h, t + 3000, "qmgr", gen_pid(g, h, D_QMGR),
			 "%s: from=<>, size=%u, nrcpt=1 (queue active)", qid2, 2400 + size % 400);
		gen_removed(g, h, t + 3500, qid);
		d = 0.05 + gen_below(&g->r, 300) / 1000.0;
		char qid3[16];
		gen_qid(qid3, g->seed, g->i, 2);
		int64_t t3 = t + 3500 + (int64_t)(d * 1e6);
		gen_emit(h, t3, "smtp", gen_pid(g, h, D_SMTP),
			 "%s: to=<%s>, relay=%s.isp.example[10.0.0.%d]:25, delay=%.2f, "
			 "delays=0.01/0/0.02/%.2f, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
			 "%s)",
			 qid2, from, gen_hosts[mx], 10 + mx, d, d - 0.03, qid3);
		gen_removed(g, h, t3 + 400, qid2);
		char rc[64], rip[32];
		snprintf(rc, sizeof(rc), "%s.isp.example", gen_hosts[h]);
		snprintf(rip, sizeof(rip), "10.0.0.%d", 10 + h);
		t = gen_receive(g, mx, t3 + 30000, qid3, rc, rip, NULL, dmid, "",
				2400 + size % 400 + 700, 1);
		gen_emit(mx, t + 40000, "lmtp", gen_pid(g, mx, D_LMTP),
			 "%s: to=<%s>, relay=mailstore.isp.example[private/dovecot-lmtp], "
			 "delay=0.05, "
			 "delays=0.01/0/0.01/0.03, dsn=2.0.0, status=sent (250 2.0.0 <%s> Saved)",
			 qid3, from, from);
		gen_removed(g, mx, t + 40500, qid3);
		return;
	}
	/* NOQUEUE reject at RCPT on an mx. */
	uint32_t spid = gen_pid(g, mx, D_SMTPD) + gen_below(&g->r, 50);
	snprintf(from, sizeof(from), "user%u@ext%u.example", gen_skew(&g->r, 50000), edom);
	snprintf(to[0], sizeof(to[0]), "user%u@cust%u.example", gen_skew(&g->r, 5000), cdom);
	gen_emit(mx, t, "smtpd", spid, "connect from %s[%s]", client, ip);
	switch (gen_below(&g->r, 3)) {
	case 0:
		gen_emit(mx, t + 30000, "smtpd", spid,
			 "NOQUEUE: reject: RCPT from %s[%s]: 550 5.1.1 <%s>: Recipient address "
			 "rejected: "
			 "User unknown in virtual mailbox table; from=<%s> to=<%s> proto=ESMTP "
			 "helo=<%s>",
			 client, ip, to[0], from, to[0], client);
		break;
	case 1:
		gen_emit(mx, t + 30000, "smtpd", spid,
			 "NOQUEUE: reject: RCPT from %s[%s]: 554 5.7.1 Service unavailable; Client "
			 "host "
			 "[%s] blocked using zen.spamhaus.org; from=<%s> to=<%s> proto=ESMTP "
			 "helo=<%s>",
			 client, ip, ip, from, to[0], client);
		break;
	default:
		gen_emit(
			mx, t + 30000, "smtpd", spid,
			"NOQUEUE: reject: RCPT from %s[%s]: 450 4.7.1 <%s>: Helo command rejected: "
			"Host not found; from=<%s> to=<%s> proto=ESMTP helo=<%s>",
			client, ip, client, from, to[0], client);
		break;
	}
	gen_emit(mx, t + 40000, "smtpd", spid,
		 "disconnect from %s[%s] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4", client, ip);
}

/* gen_flush - print queued lines older than before_us */
static void gen_flush(int64_t before_us)
{
	while (gen_q.n && gen_q.v[0].t_us < before_us) {
		gen_line l = gen_heap_pop();
		fputs(l.text, stdout);
		fputc('\n', stdout);
		free(l.text);
	}
}

/* gen_u64 - parse a decimal option or exit */
static uint64_t gen_u64(const char *name, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0') {
		fprintf(stderr, "gen_mail: --%s: not a number: %s\n", name, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "emails", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'd' },
		{ "end", required_argument, NULL, 'e' },
		{ "seed", required_argument, NULL, 's' },
		{ "list-hosts", no_argument, NULL, 'l' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "site", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t emails = 1000000, days = 30, seed = 42, end = (uint64_t)time(NULL), i, site = 0;
	const char *me = NULL;
	static char obuf[1 << 20];
	int c, k, list = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			me = optarg;
			break;
		case 'S':
			site = gen_u64("site", optarg);
			if (site > 99) {
				fprintf(stderr, "gen_mail: --site 0..99\n");
				return 2;
			}
			break;
		case 'n':
			emails = gen_u64("emails", optarg);
			break;
		case 'd':
			days = gen_u64("days", optarg);
			break;
		case 'e':
			end = gen_u64("end", optarg);
			break;
		case 's':
			seed = gen_u64("seed", optarg);
			break;
		case 'f':
			gen_from_us = (int64_t)gen_u64("from", optarg) * 1000000;
			break;
		case 't':
			gen_to_us = (int64_t)gen_u64("to", optarg) * 1000000;
			break;
		case 'l':
			list = 1;
			break;
		default:
			return 2;
		}
	}
	for (k = 0; k < GEN_NHOSTS; k++) {
		if (site)
			snprintf(gen_hosts[k], sizeof(gen_hosts[k]), "s%u-%s", (unsigned)site,
				 gen_base[k]);
		else
			snprintf(gen_hosts[k], sizeof(gen_hosts[k]), "%s", gen_base[k]);
		if (list)
			printf("%s\n", gen_hosts[k]);
		if (me && strcmp(me, gen_hosts[k]) == 0)
			gen_me = k;
	}
	if (list)
		return 0;
	/* Another platform's e-mails: other queue IDs and Message-IDs. */
	seed += site * 1000003;
	if (me && gen_me < 0) {
		fprintf(stderr, "gen_mail: unknown host %s (see --list-hosts)\n", me);
		return 2;
	}
	if (gen_me < 0 || emails == 0 || days == 0 || days > 400) {
		fprintf(stderr,
			"usage: gen_mail --host NAME [--emails N] [--days 1..400] [--end T] "
			"[--seed S] [--from T] [--to T] [--site K] | [--site K] --list-hosts\n");
		return 2;
	}
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	int64_t start_us = ((int64_t)end - (int64_t)days * 86400) * 1000000;
	double step_us = (double)days * 86400e6 / (double)emails;
	/* A story lasts at most ~1 h (deferrals): start a little before --from. */
	i = 0;
	if (gen_from_us != INT64_MIN && gen_from_us - 4000000000LL > start_us)
		i = (uint64_t)((double)(gen_from_us - 4000000000LL - start_us) / step_us);
	for (; i < emails; i++) {
		gen_ctx g = { seed,
			      { gen_mix(seed * 1000003 + i) },
			      i,
			      start_us + (int64_t)((double)i * step_us) };
		if (g.t >= gen_to_us)
			break;
		gen_one(&g);
		/* A story lasts at most ~1 h (deferrals): older lines are final. */
		if ((i & 1023) == 0)
			gen_flush(g.t - 4000000000LL);
	}
	gen_flush(INT64_MAX);
	free(gen_q.v);
	return fflush(stdout) == 0 ? 0 : 1;
}
