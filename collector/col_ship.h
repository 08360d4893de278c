/*
 * col_ship - the collector's side of the ingest protocol (proto/ingest.proto):
 * an NNG REQ socket dialing the backend over mutual TLS, the Hello/Auth
 * handshake, and one batch at a time sent and acknowledged.
 *
 * The dialer connects in the background and reconnects with backoff; a
 * request sent while disconnected waits for the connection within its
 * timeout.  After a reconnect the new connection is unauthenticated: the
 * backend answers the next batch with STATUS_UNAUTHENTICATED and
 * col_ship_send() redoes the handshake and resends, within the same
 * timeout, so callers never see it.
 *
 * NNG REQ's own resend (NNG_OPT_REQ_RESENDTIME, 60 s by default) is turned
 * off: the application resends the same batch after a timeout (same
 * sequence numbers, which the backend deduplicates), and REQ resending a
 * large batch behind the back of a slow backend would only queue a second
 * copy exactly when the backend is overloaded.  REQ still resends a pending
 * request when its connection drops: with the resend timer off, NNG 1.5.2
 * fails the pending request at once with NNG_ECONNRESET instead, and
 * col_ship_send() handshakes on the next connection and resends, within
 * the same timeout.
 *
 * A connection on which two requests in a row got nothing back in time is
 * closed and dialled again (col_ship_stats.stalled): a NAT or firewall that
 * forgot it, or a silent peer, would otherwise hold every resend until TCP
 * gives up on it, a quarter of an hour or more.
 *
 * OWNERSHIP: col_ship_open() copies conf.  col_ship_send() only reads the
 * batch (it is packed before the call returns).
 * ERRORS: col_ship_send() returns
 *   0            acknowledged; *committed_seq set
 *   -ETIMEDOUT   no answer within timeout_ms (backend down, slow, the
 *                connection refused at TLS or dropped again and again):
 *                resend the same batch
 *   -EAGAIN      the backend is busy (STATUS_BUSY): resend the same batch later
 *   -ERANGE      STATUS_SEQ_GAP: the backend misses lines before this batch;
 *                *committed_seq says where to resume
 *   -EPROTO      the backend refused the batch as malformed (BAD_REQUEST), or
 *                answered nonsense: do not resend it as is
 *   -EACCES      the backend refused our certificate or signature
 *   -EINVAL      the batch is too big to pack (over conf.max_frame)
 * THREADS: one col_ship per thread (one request in flight).
 * SECURITY: the backend's certificate must chain to conf.ca_file and carry
 * conf.server_name; replies are bounded by NNG_OPT_RECVMAXSZ and checked
 * (an ack must name our stream and batch).  Only the certificate, never the
 * private key, leaves this process.
 */
#ifndef COL_SHIP_H
#define COL_SHIP_H

#include <stddef.h>
#include <stdint.h>

#include "batch.pb-c.h"

typedef struct col_ship_conf {
	const char *url;           /* tls+tcp://HOST:PORT of the backend */
	const char *ca_file;       /* the ELSE CA */
	const char *cert_key_file; /* this host's key + client certificate (PEM) */
	const char *server_name;   /* name in the backend's certificate; NULL: URL host */
	size_t max_frame;          /* largest request we send; 0 = 16 MiB */
	int reconnect_min_ms;      /* 0 = 100 */
	int reconnect_max_ms;      /* 0 = 10000 */
	const char *software;      /* Hello.collector, e.g. "else-send 0.1" */
} col_ship_conf;

typedef struct col_ship col_ship;

typedef struct col_ship_stats {
	uint64_t batches;    /* acknowledged */
	uint64_t handshakes; /* successful Hello+Auth */
	uint64_t unauth;     /* STATUS_UNAUTHENTICATED answers (reconnects) */
	uint64_t timeouts;   /* col_ship_send calls that ran out of time */
	uint64_t resets;     /* requests failed by a dropped connection, resent */
	uint64_t stalled;    /* connections closed: requests in a row got nothing back */
	uint64_t busy;
	uint64_t bytes_out; /* request bytes handed to NNG */
} col_ship_stats;

/*
 * col_ship_open - load the certificate, start dialing.  Does not wait for
 * the connection.  -EINVAL (conf), -ENOENT/-EACCES/-EIO (files), NNG errors.
 */
int col_ship_open(col_ship **out, const col_ship_conf *conf);

/*
 * col_ship_handshake - Hello + Auth now (col_ship_send does it when needed).
 * 0, -ETIMEDOUT, -EACCES, -EPROTO.
 */
int col_ship_handshake(col_ship *c, int timeout_ms);

/* col_ship_send - send one batch and wait for its ack; see ERRORS */
int col_ship_send(col_ship *c, const Else__Batch *b, uint64_t *committed_seq, int timeout_ms);

/* col_ship_identity - the identity the backend bound to us ("" before) */
const char *col_ship_identity(const col_ship *c);

/* col_ship_stats_get - counters since open */
void col_ship_stats_get(const col_ship *c, col_ship_stats *out);

/* col_ship_close - stop dialing and free; col_ship_close(NULL) is a no-op */
void col_ship_close(col_ship *c);

#endif
