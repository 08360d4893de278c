/*
 * be_corr_int - engine internals shared by be_corr.c (ingest and links),
 * be_corr_out.c (status and JSON) and be_corr_state.c (dump/restore).
 */
#ifndef BE_CORR_INT_H
#define BE_CORR_INT_H

#include "be_corr.h"
#include "el_map.h"

#define BE_MAX_HOSTS 4096
#define BE_STR_MAX 1024    /* longest string kept from a line */
#define BE_MAX_RCPTS 10000 /* recipients kept per transaction */
#define BE_MAX_ACTIONS 64  /* actions kept per transaction */

typedef struct be_session {
	uint16_t host;
	uint32_t pid;
	int64_t start_us;
	char *client_host, *client_ip;
	uint32_t client_port;
	be_action *pending; /* NOQUEUE actions waiting for the transaction */
	uint32_t npending;
	uint64_t txs[8]; /* transactions started in this session */
	uint32_t ntxs;
	bool is_postscreen, passed, rejected;
	char *ps_tests; /* postscreen: tests that failed, space-separated */
} be_session;

typedef struct be_pending_hop {
	uint64_t tx;   /* upstream transaction */
	uint32_t rcpt; /* its recipient index */
	int64_t time_us;
	/* Enough of the upstream to link to it after it has been emitted. */
	be_ref ref;
	uint64_t email_id;
	char *message_id;
} be_pending_hop;

typedef struct be_vec {
	void **v;
	uint32_t n, cap;
} be_vec;

struct be_corr {
	be_corr_conf conf;
	be_corr_out out;
	el_map txmap;    /* host+qid -> current be_tx */
	el_map byqid;    /* qid -> be_vec of be_tx (any host, open or lingering) */
	el_map byid;     /* id (8 bytes) -> be_tx */
	el_map pending;  /* qid -> be_vec of be_pending_hop */
	el_map sessions; /* host+pid (smtpd) or host+ip+port (postscreen) -> be_session */
	el_map netmsg;   /* Exchange network message id -> email id (boxed) */
	el_map hostmap;  /* name -> host id + 1 */
	char *hosts[BE_MAX_HOSTS];
	int64_t host_clock[BE_MAX_HOSTS]; /* newest line time seen per host */
	uint32_t nhosts;
	be_tx *lru_head, *lru_tail;   /* open transactions, least recently active first */
	be_tx *done_head, *done_tail; /* completed, lingering */
	uint32_t nopen;
	uint64_t npending;        /* be_pending_hop entries in pending */
	int64_t pending_swept_us; /* floor at the last be_sweep_pending */
	int64_t clock_us;
	uint64_t line_key; /* be_corr_line_key() */
	uint64_t next_id;
	be_corr_stats st;
};

char *be_strdup(el_span s);
void be_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem);
void be_vec_push(be_vec *v, void *p);
void be_vec_remove(be_vec *v, void *p);
be_tx *be_tx_new(be_corr *c, uint16_t host, el_span qid, int64_t t_us);
void be_tx_free(be_tx *t);
uint64_t be_email_id_of(const be_corr *c, uint16_t host, const char *qid, int64_t t_us);
void be_tx_complete(be_corr *c, be_tx *t);
void be_set(char **dst, el_span s);
void be_copy_fixed(char *dst, size_t cap, el_span s);
el_span be_key_hq(char *buf, uint16_t host, const char *qid, size_t qlen);
uint16_t be_host_id(be_corr *c, el_span name);
be_tx *be_find_id(be_corr *c, uint64_t id);
bool be_link_hop(be_corr *c, be_tx *a, uint32_t ri, be_tx *b);
bool be_msgid_conflict(const be_tx *a, const be_tx *b);
void be_resolve_hop(be_corr *c, be_tx *a, uint32_t ri, int64_t t_us);
void be_claim_pending(be_corr *c, be_tx *b);
void be_sweep_pending(be_corr *c, int64_t floor_us);
be_rcpt *be_rcpt_get(be_tx *t, el_span to, el_span orig_to, uint32_t *idx);
void be_add_action(be_tx *t, const el_rec *rec, int64_t t_us);
void be_set_email(be_corr *c, be_tx *t, uint64_t e, int depth);
void be_lru_touch(be_corr *c, be_tx *t);
void be_emit_tx(be_corr *c, be_tx *t);
void be_session_free(be_session *s);
void be_reject_fini(be_reject *j);
be_session *be_session_put(be_corr *c, uint16_t host, bool psc, uint32_t pid, el_span ip,
			   uint32_t port);

#endif
