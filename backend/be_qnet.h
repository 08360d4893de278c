/*
 * be_qnet - the query service's transport: frontends' QueryRequests in over
 * NNG REP + mutual TLS (proto/query.proto), handed to a pool of worker
 * threads, QueryReplies back.
 *
 * Like the ingest server (be_net), it answers Hello and Auth itself and binds
 * the CN of the peer's certificate to its connection (be_peer); unlike it,
 * only CNs starting with conf.cn_prefix ("frontend") are accepted, and every
 * other call from a pipe that did not authenticate is answered
 * Q_PEER_UNAUTHENTICATED without reaching a worker.  Frames are bounded by
 * NNG_OPT_RECVMAXSZ before NNG allocates them; undecodable frames get
 * Q_BAD_REQUEST.  Several requests are in flight at once: conf.nctx NNG
 * contexts receive in parallel and conf.nworkers threads answer them, each
 * with its own worker argument (the query handler with its own database
 * connection).
 *
 * REPLY BOUND: a frontend says in Hello (max_reply) how large a reply it
 * accepts (its NNG receive bound); a reply over it would be dropped by NNG
 * on the frontend with the whole connection, and the call would only time
 * out there.  It is answered Q_INTERNAL with the sizes instead, counted
 * (err_too_large) and logged.  A frontend that does not say is not capped.
 *
 * FLOW CONTROL: a context whose request is queued or with a worker receives
 * nothing more until it replied, so at most nctx requests wait; past that
 * NNG stops reading and the frontends' requests wait in TCP (and time out
 * on their side).
 *
 * OWNERSHIP: be_qnet_start copies conf's strings; worker_args stay the
 * caller's and must outlive be_qnet_stop.  The request handed to the handler
 * is valid during the call; the handler appends the packed reply to out.
 * ERRORS: 0 or a negative errno (see be_net.h for the NNG ones).
 * THREADS: NNG callback threads receive and answer Hello/Auth; the handler
 * runs on the worker threads, worker i always with worker_args[i].
 * SECURITY: everything in a request is untrusted; the handler validates the
 * fields of the call (be_query_check).  The peer identity is the CN of a
 * certificate proven on this connection, never a field of the request.
 */
#ifndef BE_QNET_H
#define BE_QNET_H

#include <stddef.h>
#include <stdint.h>

#include "be_peer.h"
#include "el_buf.h"
#include "query.pb-c.h"

#define BE_QNET_MAX_WORKERS 64

/*
 * be_qnet_handler - answer rq from peer (its CN) into out (a packed
 * QueryReply); returns the reply's status, which be_qnet counts.
 */
typedef Else__QueryStatus (*be_qnet_handler)(void *worker_arg, const char *peer,
					     const Else__QueryRequest *rq, el_buf *out);

/* Statuses counted apart in be_qnet_stats.status (the last counts any later one). */
#define BE_QNET_NSTATUS 10

typedef struct be_qnet_conf {
	const char *url;           /* tls+tcp://HOST:PORT; port 0 picks one */
	const char *ca_file;       /* the ELSE CA */
	const char *cert_key_file; /* the backend's key + server certificate */
	const char *cn_prefix;     /* accepted peer CNs start with it; NULL: "frontend" */
	size_t max_frame;          /* bytes per request; 64 KiB..64 MiB, 0 = 4 MiB */
	int nctx;                  /* requests in flight; 1..256, 0 = 16 */
	int max_pipes;             /* connections; 1..65536, 0 = 256 */
	int nworkers;              /* 1..BE_QNET_MAX_WORKERS */
	void **worker_args;        /* nworkers of them */
	be_qnet_handler handle;
} be_qnet_conf;

typedef struct be_qnet_stats {
	uint64_t requests, bytes_in, replies, bytes_out;
	uint64_t err_unpack;    /* not a QueryRequest */
	uint64_t err_peer;      /* calls from a pipe that did not authenticate */
	uint64_t err_send;      /* replies NNG could not send */
	uint64_t err_tls;       /* TLS handshakes refused: NNG's count */
	uint64_t err_frame;     /* connections NNG dropped (oversized frames among them) */
	uint64_t err_too_large; /* replies over what their frontend accepts: Q_INTERNAL */
	be_peer_stats peers;    /* Hello/Auth, connections */
	uint32_t queued, busy;  /* requests waiting, with a worker now */
	uint64_t status[BE_QNET_NSTATUS]; /* calls answered, by QueryStatus */
} be_qnet_stats;

typedef struct be_qnet be_qnet;

int be_qnet_start(be_qnet **out, const be_qnet_conf *conf);
int be_qnet_port(be_qnet *q);
void be_qnet_stats_get(be_qnet *q, be_qnet_stats *out);
/* be_qnet_stop - stop workers (after their current request), close, free; NULL is a no-op */
void be_qnet_stop(be_qnet *q);

#endif
