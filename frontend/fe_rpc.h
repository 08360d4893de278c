/*
 * fe_rpc - the frontend's client of the backend query service
 * (proto/query.proto): NNG REQ over mutual TLS to one or several backends,
 * the Hello/Auth proof of the frontend's certificate, several requests in
 * flight, timeouts and failover.
 *
 * Per backend URL one REQ socket with one dialer, so each backend is one
 * connection (pipe) at a time: the Hello/Auth handshake binds our identity
 * to that pipe, and every context of the socket uses it.  A pipe event
 * (connected, lost) clears the "authenticated" mark; the next call redoes
 * the handshake first (one thread does it, the others wait for it), and a
 * Q_PEER_UNAUTHENTICATED answer (the backend restarted under us) does the
 * same and resends.  Each backend has a small pool of nng_ctx + nng_aio,
 * one per request in flight (NNG 1.5.2's REQ timers are O(n^2) in contexts:
 * keep the pool to tens).
 *
 * A call goes to the next connected backend in turn; if the connection
 * drops under it, or the backend answers Q_BUSY, or its request times out
 * with time left (see fe_rpc_call), it moves on to another one within the
 * same deadline.  A state-changing call (idempotent = 0) is not resent
 * once it may have reached a backend: the caller gets -ECONNRESET.
 *
 * OWNERSHIP: fe_rpc_open copies conf.  fe_rpc_call only reads the request;
 * the reply is the caller's (else__query_reply__free_unpacked), and so is a
 * reply fe_rpc_start leaves packed (fe_rpc_raw_unpack or fe_rpc_raw_free).
 * ERRORS: 0 with a reply (whatever its status); -ETIMEDOUT (no backend
 * answered in time, none connected), -ECONNRESET (a write lost with its
 * connection), -EACCES (a backend refused our certificate), -EPROTO (a
 * backend answered nonsense), -E2BIG (a reply that would unpack to more
 * than 16 times its frame), -EMSGSIZE (request over max_frame), -ENOMEM.
 * THREADS: fe_rpc_call and fe_rpc_start are safe from any number of threads.
 * SECURITY: the backends' certificates must chain to conf.ca_file and carry
 * server_name; replies are bounded by NNG_OPT_RECVMAXSZ (max_frame) before
 * unpacking (NNG drops the connection of a bigger one: the call fails as
 * with a lost connection; Hello tells each backend max_frame, as max_reply,
 * so it answers a bigger result Q_INTERNAL instead), the memory their
 * unpacking takes to 16 times their size, and their status is checked to be
 * a known QueryStatus.
 */
#ifndef FE_RPC_H
#define FE_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "query.pb-c.h"

#define FE_RPC_MAX_BACKENDS 16

typedef struct fe_rpc_conf {
	const char *urls[FE_RPC_MAX_BACKENDS]; /* tls+tcp://HOST:PORT (tcp:// for tests only) */
	size_t nurls;
	const char *ca_file;
	const char *cert_key_file; /* our key + client certificate, CN "frontend..." */
	const char *server_name;   /* name in the backends' certificates; NULL: URL host */
	size_t max_frame;          /* largest reply; 0 = 16 MiB */
	unsigned inflight;         /* contexts per backend; 0 = 8 */
	size_t unpack_max; /* fe_rpc_start: bigger replies come raw; 0 = 64 KiB, at least 4 KiB */
	const char *software; /* Hello.collector */
} fe_rpc_conf;

typedef struct fe_rpc fe_rpc;

typedef struct fe_rpc_stats {
	uint64_t calls, failovers, handshakes, reauth;
	uint64_t timeouts;      /* calls no backend answered in time */
	uint64_t stalled;       /* connections closed after a request got no answer in time */
	uint64_t undecodable;   /* reply frames that are no QueryReply */
	uint64_t bad_status;    /* replies with a QueryStatus this frontend does not know */
	uint64_t bad_handshake; /* Hello answered Q_OK without a nonce of the right size */
	uint64_t too_large;     /* replies that unpack to more than 16 times their frame */
	/* Connections NNG closed on an error of its own: a reply over max_frame among them. */
	uint64_t dropped;
	unsigned connected; /* backends with a connection now */
} fe_rpc_stats;

int fe_rpc_open(fe_rpc **out, const fe_rpc_conf *conf);

/*
 * fe_rpc_call - send req (its caller/call set by the caller) and wait for
 * the reply, at most timeout_ms in all.  idempotent: may be resent to
 * another backend after a lost connection.
 */
int fe_rpc_call(fe_rpc *r, const Else__QueryRequest *req, int idempotent, int timeout_ms,
		Else__QueryReply **rep);

/*
 * fe_rpc_start - the same call without blocking, when it can go at once:
 * to a connected backend whose connection is authenticated, on a free
 * context.  done(arg, rv, rep, raw, len) is then called once, on NNG's task
 * thread (it must not block: one task thread serves all of NNG's I/O), with
 * fe_rpc_call's outcome and the reply's size in bytes, or with -EAGAIN when
 * the call needs what only fe_rpc_call does (a handshake, another backend
 * after Q_BUSY, a lost connection or a timeout of an idempotent call, a
 * backend that forgot us): call fe_rpc_call then, with the time left.
 * Returns 0 (done will be called) or -EAGAIN (it will not: use fe_rpc_call).
 *
 * A reply of more than unpack_max bytes is not unpacked on that thread: done
 * gets rv 0, rep NULL and raw, which the caller unpacks elsewhere with
 * fe_rpc_raw_unpack (or frees with fe_rpc_raw_free).  Such a reply is never
 * one fe_rpc_call would have retried: Q_PEER_UNAUTHENTICATED and Q_BUSY
 * replies are a status and a short error, under FE_RPC_UNPACK_MIN.
 */
#define FE_RPC_UNPACK_MIN 4096
typedef struct fe_rpc_raw fe_rpc_raw; /* a reply frame, not unpacked */
typedef void (*fe_rpc_done_fn)(void *arg, int rv, Else__QueryReply *rep, fe_rpc_raw *raw,
			       size_t len);
int fe_rpc_start(fe_rpc *r, const Else__QueryRequest *req, int idempotent, int timeout_ms,
		 fe_rpc_done_fn done, void *arg);

/*
 * fe_rpc_raw_unpack - raw (freed) into *rep; -EPROTO if it is not a reply,
 * -E2BIG if it unpacks too large (counted in r's stats).  NULL: a no-op
 */
int fe_rpc_raw_unpack(fe_rpc *r, fe_rpc_raw *raw, Else__QueryReply **rep);
/* fe_rpc_raw_free - free a reply left packed; NULL: a no-op */
void fe_rpc_raw_free(fe_rpc_raw *raw);

void fe_rpc_stats_get(fe_rpc *r, fe_rpc_stats *out);

/*
 * fe_rpc_close - stop dialing and free; NULL is a no-op.  No call may be in
 * flight: an fe_rpc_start call's done may then never be called.
 */
void fe_rpc_close(fe_rpc *r);

#endif
