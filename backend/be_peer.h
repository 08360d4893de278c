/*
 * be_peer - which TLS peer is who: the per-connection proof of identity
 * shared by the backend's servers: the ingest server (be_net, any CN of the
 * CA) and the query service (be_qnet, CN frontend*).
 *
 * NNG 1.5.2 cannot name the certificate a TLS peer presented, so a peer
 * proves it in the application protocol (proto/ingest.proto Hello/Auth):
 * Hello hands the connection (NNG pipe) a random nonce; Auth carries the
 * peer's certificate and its signature of the nonce (el_ossl); once they
 * verify against the ELSE CA, the certificate's CN is bound to that pipe
 * until it closes.  A table may demand a CN prefix: the query service only
 * serves certificates whose CN starts with "frontend", so a collector's
 * certificate, valid as it is, is refused there.
 *
 * With the identity, a pipe keeps what its peer said it accepts (the query
 * service's Hello.max_reply), for the replies sent on it.
 *
 * The caller owns the NNG socket and forwards its pipe events here
 * (be_peer_pipe_event); this module includes no NNG header.
 *
 * OWNERSHIP: be_peer_tab_new copies ca_file and cn_prefix; be_peer_tab_free
 * frees everything.
 * ERRORS: see each function.
 * THREADS: every function is safe from any thread (one mutex; certificate
 * verification runs outside it).
 * SECURITY: cert and sig come from the network; el_ossl_verify_peer bounds
 * and checks them.  One Auth attempt per nonce: a failure needs a new Hello.
 */
#ifndef BE_PEER_H
#define BE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "el_ossl.h"
#include "el_span.h"

#define BE_PEER_NONCE 32

typedef struct be_peer_tab be_peer_tab;

/* Pipe events, as NNG reports them (NNG_PIPE_EV_ADD_PRE, _ADD_POST, _REM_POST). */
typedef enum be_peer_ev { BE_PEER_ADD_PRE, BE_PEER_ADD_POST, BE_PEER_REM_POST } be_peer_ev;

typedef struct be_peer_stats {
	uint64_t hellos;            /* nonces handed out */
	uint64_t auths;             /* pipes authenticated */
	uint64_t pipes_total;       /* connections accepted */
	uint64_t err_pipes_refused; /* connections over max_pipes */
	uint64_t err_auth;          /* certificate, signature or CN prefix refused */
	uint64_t err_unauth;        /* Auth without Hello */
	uint32_t pipes;             /* connected now */
} be_peer_stats;

/* be_peer_tab_new - a table; cn_prefix may be NULL or "" (any CN).  -ENOMEM. */
int be_peer_tab_new(be_peer_tab **out, const char *ca_file, int max_pipes, const char *cn_prefix);
void be_peer_tab_free(be_peer_tab *t);

/*
 * be_peer_pipe_event - record a pipe event; true when the caller must close
 * the pipe (over max_pipes, or closing).  Close it at ADD_POST, never inside
 * ADD_PRE (NNG 1.5.2 then hung in a later nng_close; see be_net.c).
 */
bool be_peer_pipe_event(be_peer_tab *t, uint32_t pipe, be_peer_ev ev);

/* be_peer_closing - refuse new pipes from now on */
void be_peer_closing(be_peer_tab *t);

/*
 * be_peer_hello - a fresh nonce for the pipe (restarts its authentication).
 * 0; -EBUSY the pipe was refused (too many connections); -ESHUTDOWN the
 * pipe is gone or the table closing; -EIO no randomness.
 */
int be_peer_hello(be_peer_tab *t, uint32_t pipe, uint8_t nonce[BE_PEER_NONCE]);

/*
 * be_peer_auth - verify cert_pem and sig over the pipe's nonce, bind the CN
 * (copied to cn, cap > EL_OSSL_MAX_CN).  0; -ENOENT no Hello on this pipe
 * (or its nonce was used); -EINVAL unparsable certificate or signature;
 * -EACCES refused (chain, purpose, dates, signature, CN prefix); -EIO.
 */
int be_peer_auth(be_peer_tab *t, uint32_t pipe, el_span cert_pem, el_span sig, char *cn,
		 size_t cap);

/* be_peer_identity - the pipe's CN into cn (cap > EL_OSSL_MAX_CN); false if not authenticated */
bool be_peer_identity(be_peer_tab *t, uint32_t pipe, char *cn, size_t cap);

/*
 * be_peer_set_max_reply - the largest reply the pipe's peer accepts (its
 * Hello.max_reply; 0: not said); a no-op when the pipe is gone
 */
void be_peer_set_max_reply(be_peer_tab *t, uint32_t pipe, uint64_t max_reply);

/* be_peer_max_reply - what be_peer_set_max_reply recorded for the pipe, 0 if nothing */
uint64_t be_peer_max_reply(be_peer_tab *t, uint32_t pipe);

/* be_peer_stats_get - a snapshot of the counters */
void be_peer_stats_get(be_peer_tab *t, be_peer_stats *out);

#endif
