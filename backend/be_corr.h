/*
 * be_corr - correlation: parsed lines from many hosts in, e-mail stories out.
 *
 * Postfix tells the story of one e-mail over many processes, lines, hosts and
 * days.  This engine puts it back together with no database: it keeps open
 * state for messages still in some queue and emits a flow record when a
 * message's story on one host is complete.
 *
 *  - A transaction (be_tx) is one queue ID lifetime on one host: from its first
 *    line to "removed" (or a terminal check action, or the end of an SMTP
 *    session that never queued it).  Postfix reuses queue IDs, so identity is
 *    host + queue ID + lifetime, never the queue ID alone.
 *  - Recipients carry every delivery attempt and their final outcome.
 *  - Rejects (NOQUEUE, postscreen, lost connections) are records of their own,
 *    linked to the SMTP session they came from.
 *  - Links join transactions into one e-mail (email_id): relay hops ("250 ...
 *    queued as X" from one host to the host where X lives), content-filter
 *    reinjection (same host, orig_queue_id), DSNs (bounce's new queue ID), and
 *    local's "forwarded as".  A Message-ID is supporting evidence only: two
 *    transactions whose Message-IDs differ are never linked.
 *
 * Time is log time: the newest timestamp seen.  A completed transaction lingers
 * for conf.linger_s of log time before it is emitted, so links that show up a
 * little late (another host's log arriving out of order) still join it.
 *
 * OWNERSHIP: the engine copies what it keeps from records; the be_tx/be_reject
 * passed to the emit callback are valid only during the call.
 * ERRORS: be_corr_restore() returns -EINVAL on a bad state file, -errno on I/O.
 * THREADS: an engine belongs to one thread.
 * SECURITY: lines are untrusted: anyone on a host can forge a syslog line.
 * Links need agreement (time window, Message-ID), open state is bounded by
 * conf.max_open, and every string kept is bounded in length.
 */
#ifndef BE_CORR_H
#define BE_CORR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "el_buf.h"
#include "el_parse.h"

typedef enum be_rstatus {
	BE_RS_PENDING, /* no delivery attempt seen yet */
	BE_RS_SENT,
	BE_RS_DEFERRED, /* last attempt failed temporarily; still queued */
	BE_RS_BOUNCED,
	BE_RS_EXPIRED,
	BE_RS_OTHER, /* deliverable/undeliverable probes, softbounce... */
} be_rstatus;

typedef enum be_tstatus {
	BE_TS_OPEN,
	BE_TS_DELIVERED,
	BE_TS_BOUNCED,
	BE_TS_DEFERRED,
	BE_TS_EXPIRED,
	BE_TS_PARTIAL,
	BE_TS_REJECTED,
	BE_TS_DISCARDED,
	BE_TS_HELD,
} be_tstatus;

/* be_ref - a transaction named by host and queue ID (for links) */
typedef struct be_ref {
	uint16_t host;
	char qid[32];
} be_ref;

typedef struct be_rcpt {
	char *to, *orig_to;
	be_rstatus status;
	char *status_text; /* Postfix's word when it is not one of ours */
	char dsn[16];
	char *relay_host, *relay_ip;
	uint32_t relay_port;
	char *response;
	uint32_t attempts;
	double delay;
	char queued_as[32];
	int64_t last_us;
	be_ref next;      /* next hop transaction, when linked */
	uint64_t next_tx; /* engine id of the next hop (0: none) */
	uint8_t via;      /* be_via: the daemon of the latest delivery attempt */
} be_rcpt;

/* be_via - how a recipient was last handed on (recipients.direction) */
typedef enum be_via {
	BE_VIA_NONE = 0,  /* no delivery attempt seen */
	BE_VIA_LOCAL = 1, /* local, virtual, lmtp, pipe; Exchange DELIVER */
	BE_VIA_SMTP = 2,  /* smtp (and any other transport); Exchange SEND */
} be_via;

/* be_via_of_program - the be_via of a delivering program ("postfix/lmtp") */
be_via be_via_of_program(el_span program);

typedef struct be_action {
	el_event event;
	char *stage, *text;
	int64_t time_us;
} be_action;

enum {
	BE_TX_STARTED = 1u << 0, /* saw client=, pickup or a DSN creation */
	BE_TX_QUEUED = 1u << 1,  /* saw cleanup message-id or qmgr queue active */
	BE_TX_REMOVED = 1u << 2,
	BE_TX_HELD = 1u << 3,
	BE_TX_DISCARDED = 1u << 4,
	BE_TX_REJECTED = 1u << 5, /* cleanup/milter reject: never queued */
	BE_TX_EXPIRED = 1u << 6,
	BE_TX_ABORTED = 1u << 7,  /* SMTP session ended before the message was queued */
	BE_TX_EVICTED = 1u << 8,  /* emitted because of limits, story incomplete */
	BE_TX_NO_START = 1u << 9, /* first line seen was not a start line */
	BE_TX_IN_FLUSH = 1u << 10,
};

typedef struct be_tx {
	uint64_t id; /* engine-local, increasing */
	uint64_t email_id;
	uint16_t host;
	char qid[32];
	unsigned flags;
	int64_t first_us, last_us, start_us, complete_us;
	char *client_host, *client_ip, *sasl_username, *from, *message_id, *helo;
	char *orig_qid; /* XFORWARD orig_queue_id on a reinjection */
	int64_t size;
	int32_t nrcpt;
	uint32_t nlines;
	uint32_t smtpd_pid;
	be_rcpt *rcpts;
	uint32_t nrcpts, rcap;
	be_action *actions;
	uint32_t nactions, acap;
	be_ref prev; /* upstream transaction (relay hop or filter) */
	uint64_t prev_tx;
	be_ref dsn_of; /* for a DSN: the message it reports on */
	be_ref dsn[4]; /* DSNs this message caused */
	uint32_t ndsn;
	struct be_reject *rejects; /* refusals of this message, emitted with it */
	uint32_t nrejects;
	/* engine bookkeeping */
	struct be_tx *lru_prev, *lru_next;
	struct be_tx *done_next;
} be_tx;

typedef struct be_reject {
	uint64_t email_id;
	uint16_t host;
	char qid[32];   /* set when the reject hit a queued transaction */
	el_event event; /* reject, lost_connection, ps_violation... */
	int64_t time_us, session_us;
	uint32_t pid;
	const char *client_host, *client_ip, *helo, *from, *to, *stage, *proto;
	const char *reject_code, *reject_dsn, *reason;
	uint32_t client_port;
	bool temporary;    /* 4xx: greylisting and other deferrals */
	uint64_t line_key; /* be_corr_line_key() of the line it came from */
} be_reject;

typedef struct be_corr_conf {
	uint32_t linger_s;     /* keep completed transactions this long (log time) */
	uint32_t hop_window_s; /* max clock disagreement for a relay hop link */
	uint32_t idle_evict_s; /* emit open transactions idle this long */
	uint32_t max_open;     /* at most this many open transactions */
	uint32_t catchup_s;    /* a host this far behind no longer holds completed ones back */
} be_corr_conf;

#define BE_CORR_CONF_DEFAULT                                                                       \
	{                                                                                          \
		30, 300, 8 * 86400, 1000000, 600                                                   \
	}

typedef struct be_corr be_corr;

typedef struct be_corr_out {
	void (*tx)(void *arg, const be_corr *c, const be_tx *t);
	void (*reject)(void *arg, const be_corr *c, const be_reject *r);
	void *arg;
} be_corr_out;

be_corr *be_corr_new(const be_corr_conf *conf, const be_corr_out *out);
void be_corr_free(be_corr *c);

/*
 * be_corr_line - feed one parsed line from host.  Returns the engine id of
 * the transaction the line belongs to, or 0.
 */
uint64_t be_corr_line(be_corr *c, el_span host, const el_rec *r);

/*
 * be_corr_line_key - name the next line(s) fed: a caller-chosen key that
 * stays the same when the same line is fed again (a replay), e.g. a hash of
 * its stream and sequence number.  Rejects carry it, so that two identical
 * refusals in the same second remain two records.  0 (the default) = none.
 */
void be_corr_line_key(be_corr *c, uint64_t key);

/* be_corr_tick - emit what is complete as of log time now_us */
void be_corr_tick(be_corr *c, int64_t now_us);
/*
 * be_corr_release - emit the completed transactions still lingering, without
 * waiting for log time to move (a quiet stream); open ones stay open.
 */
void be_corr_release(be_corr *c);
/* be_corr_flush - emit everything (end of input), open ones as they stand */
void be_corr_flush(be_corr *c);

/*
 * be_corr_dump/_restore - save and reload the state (open and lingering
 * transactions) across a restart; the _buf forms work in memory (for a
 * database checkpoint).  Restore into a fresh engine only.
 */
int be_corr_dump(be_corr *c, FILE *f);
int be_corr_restore(be_corr *c, FILE *f);
void be_corr_dump_buf(be_corr *c, el_buf *b);
int be_corr_restore_buf(be_corr *c, el_span s);

be_tstatus be_tx_status(const be_tx *t);
const char *be_tstatus_name(be_tstatus s);
const char *be_rstatus_name(const be_rcpt *r);
el_span be_corr_host_name(const be_corr *c, uint16_t host);

typedef struct be_corr_stats {
	uint64_t lines, lines_attached, tx_created, tx_emitted, rejects, links_hop, links_filter,
		links_dsn, links_refused, evicted, reused_qid, open,
		pending_hops,   /* "queued as" waiting for the other side */
		hops_unclaimed; /* ... given up after the hop window */
} be_corr_stats;

void be_corr_get_stats(const be_corr *c, be_corr_stats *s);

#endif
