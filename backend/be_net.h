/*
 * be_net - the backend's ingest server: collectors' batches in over NNG
 * REP + mutual TLS (proto/ingest.proto), one at a time out to the ingest
 * worker, acknowledgements back.
 *
 * The module answers Hello and Auth itself, binds the CN of the collector's
 * certificate to the connection (pipe) it proved it on (be_peer, shared with
 * the query service), and refuses
 * malformed, out-of-bounds and unauthenticated requests with the right
 * IngestStatus, counting each kind.  Only valid Batch requests from an
 * authenticated pipe reach the worker, through be_net_next().  The worker
 * answers each with be_net_reply() after it committed (or refused) it.
 *
 * FLOW CONTROL: conf.nctx NNG contexts receive in parallel; a context that
 * handed a batch to the worker receives nothing more until the worker
 * replied.  So at most nctx batches wait for or sit in the worker; when the
 * worker is slow, every context ends up waiting, NNG stops reading from the
 * connections (one pending frame per connection at most), TCP fills and the
 * collectors block with their data (they time out and resend the same
 * sequence numbers; the backend drops what it already stored).  Memory is
 * bounded by about (nctx + max_pipes) * max_frame plus the unpacked batches.
 *
 * PRIVILEGES: be_net_start() reads the CA and the certificate+key files;
 * after it returns, the process may drop privileges (the CA stays cached
 * for Auth, TLS holds its copies).
 * OWNERSHIP: be_net_start() copies conf (strings included).  A be_net_req
 * from be_net_next() belongs to the caller until be_net_reply(), which
 * always frees it: its batch, identity and every string in it die there.
 * ERRORS: 0 or a negative errno, see each function.
 * THREADS: NNG's callback threads receive, check and answer Hello/Auth (one
 * certificate verification, ~0.1-0.3 ms of CPU, runs there).  be_net_next()
 * may be called from one or more worker threads; one is the intended use,
 * since batches of one stream must be committed in order and are queued in
 * arrival order.  be_net_reply(), be_net_stats_get() and be_net_shutdown()
 * are safe from any thread.  be_net_stop() must be called once, after every
 * worker returned from be_net_next() and replied to what it took.
 * SECURITY: everything in a request is untrusted.  Frames are bounded by
 * NNG_OPT_RECVMAXSZ = conf.max_frame before NNG allocates them (NNG closes
 * the connection of a peer that announces more); after unpacking, every
 * field of a Batch is checked (be_net_check_batch) before the worker sees
 * it.  The identity is the CN of a certificate that chains to conf.ca_file,
 * never a field of the batch: batch->host is what the collector claims and
 * the worker may only display or cross-check it.
 */
#ifndef BE_NET_H
#define BE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "batch.pb-c.h"
#include "ingest.pb-c.h"

/* Bounds of the protocol (STYLE: untrusted lists and strings are bounded). */
#define BE_NET_MAX_STREAM_ID 256                /* bytes of Batch.stream_id */
#define BE_NET_MAX_HOST 253                     /* bytes of Batch.host */
#define BE_NET_MAX_LINES 100000                 /* lines per batch (conf may lower it) */
#define BE_NET_MAX_LINE (1u << 20)              /* bytes per line (conf may lower it) */
#define BE_NET_MAX_COLLECTOR 128                /* bytes of Hello.collector */
#define BE_NET_MAX_ERROR 256                    /* bytes of an error text sent back */
#define BE_NET_NONCE 32                         /* bytes of the Hello nonce */
#define BE_NET_MAX_SEQ INT64_MAX                /* seqs are stored as PostgreSQL bigint */
#define BE_NET_MAX_TIME_US 253402300799999999LL /* 9999-12-31T23:59:59.999999Z */

typedef struct be_net_conf {
	const char *url;           /* tls+tcp://HOST:PORT; port 0 picks one (be_net_port) */
	const char *ca_file;       /* the ELSE CA: collectors' certificates chain to it */
	const char *cert_key_file; /* the backend's key + server certificate, PEM */
	size_t max_frame;          /* bytes per request; 64 KiB..256 MiB, 0 = 16 MiB */
	size_t max_line;           /* bytes per line; 0 = BE_NET_MAX_LINE */
	uint32_t max_lines;        /* lines per batch; 0 = BE_NET_MAX_LINES */
	int nctx;                  /* requests in flight; 1..64, 0 = 8 */
	int max_pipes;             /* connections; 1..65536, 0 = 1024 */
} be_net_conf;

typedef struct be_net be_net;

/* One valid, authenticated batch for the worker. */
typedef struct be_net_req {
	const char *identity;     /* CN of the collector's certificate ([A-Za-z0-9._-]) */
	const Else__Batch *batch; /* checked by be_net_check_batch; n_lines >= 1 */
	uint32_t pipe_id;         /* the connection it came on (for logs) */
	size_t frame_bytes;       /* size on the wire */
} be_net_req;

typedef struct be_net_stats {
	uint64_t requests; /* frames received and decoded or not */
	uint64_t bytes_in; /* their bytes */
	uint64_t hellos;   /* nonces handed out */
	uint64_t auths;    /* pipes authenticated */
	uint64_t batches;  /* valid batches handed to the worker */
	uint64_t lines;    /* their lines */
	uint64_t acks;     /* be_net_reply() calls */
	uint64_t pipes_total;
	/* errors by kind */
	uint64_t err_tls; /* TLS handshakes refused (no/foreign cert): NNG's count */
	uint64_t
		err_frame; /* connections NNG dropped for other errors, frames over max_frame among them */
	uint64_t err_unpack;        /* not a protobuf IngestRequest */
	uint64_t err_invalid;       /* decoded but out of bounds (BAD_REQUEST) */
	uint64_t err_unauth;        /* Batch or Auth on a pipe without Hello/Auth */
	uint64_t err_auth;          /* certificate or signature refused */
	uint64_t err_pipes_refused; /* connections over max_pipes */
	uint64_t err_send;          /* replies NNG could not send (peer gone) */
	/* levels */
	uint32_t pipes;      /* connected now */
	uint32_t queued;     /* batches waiting for the worker now */
	uint32_t in_worker;  /* taken by be_net_next, not yet replied */
	uint32_t max_queued; /* high-water mark of queued + in_worker (<= nctx) */
} be_net_stats;

/*
 * be_net_start - listen on conf->url and serve.  -EINVAL for a bad conf
 * (not tls+tcp://, bounds), -EACCES/-ENOENT/-EIO for certificate files NNG
 * cannot load, -EADDRINUSE, other NNG errors as errnos.
 */
int be_net_start(be_net **out, const be_net_conf *conf);

/* be_net_port - the TCP port listened on (useful with port 0), or -errno */
int be_net_port(be_net *n);

/*
 * be_net_next - wait up to timeout_ms (< 0: forever, 0: poll) for the next
 * batch.  0 with *req set, -ETIMEDOUT, or -ESHUTDOWN once be_net_shutdown()
 * or be_net_stop() began (batches still queued then are dropped unanswered:
 * their collectors resend them).
 */
int be_net_next(be_net *n, be_net_req **req, int timeout_ms);

/*
 * be_net_reply - answer req and free it.  status OK: committed_seq is the
 * highest seq of the stream now stored (>= the batch's last line, or the
 * batch was a duplicate).  SEQ_GAP: committed_seq tells the collector where
 * to resume.  BUSY: the collector retries the same batch later.
 * BAD_REQUEST: the batch is refused for good.  error (may be NULL) is sent
 * cut at BE_NET_MAX_ERROR bytes.  Returns 0, or -errno if NNG could not
 * start the send (the request is freed anyway; the collector will time out).
 */
int be_net_reply(be_net *n, be_net_req *req, Else__IngestStatus status, uint64_t committed_seq,
		 const char *error);

/* be_net_stats_get - a consistent snapshot of the counters */
void be_net_stats_get(be_net *n, be_net_stats *out);

/* be_net_shutdown - make every be_net_next() return -ESHUTDOWN (any thread) */
void be_net_shutdown(be_net *n);

/*
 * be_net_stop - close the listener and every connection, cancel NNG work,
 * free everything.  See THREADS.  Takes about 200 ms (a pause that keeps
 * NNG 1.5.2 from hanging in nng_close) and at most about 5 s: if NNG still
 * hangs, it warns and leaves the server allocated for the process exit.
 * be_net_stop(NULL) is a no-op.
 */
void be_net_stop(be_net *n);

/*
 * be_net_check_batch - the semantic checks of a decoded Batch: stream_id
 * 1..BE_NET_MAX_STREAM_ID printable ASCII bytes, host at most
 * BE_NET_MAX_HOST printable bytes, source a known SourceKind, flags 0,
 * 1..max_lines lines, first_seq >= 1, lines[i].seq == first_seq + i with the
 * last seq <= BE_NET_MAX_SEQ, batch_seq <= BE_NET_MAX_SEQ, each text at most
 * max_line bytes, recv_time_us in 0..BE_NET_MAX_TIME_US.  0, or -EINVAL
 * with *why a static reason.
 */
int be_net_check_batch(const Else__Batch *b, size_t max_line, uint32_t max_lines, const char **why);

#endif
