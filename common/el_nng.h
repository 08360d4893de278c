/*
 * el_nng - the adapter between ELSE and NNG 1.5: TLS configuration from
 * files, listen/dial helpers that always bound the frame size, NNG errors as
 * negative errnos, and the few NNG statistics ELSE reports.
 *
 * Only this module, be_net.c, col_ship.c and fe_rpc.c (and the backend's
 * query transport) include NNG headers; everything else sees ELSE types.
 * Moving to NNG 2.x touches these files.
 *
 * OWNERSHIP: a TLS config returned by el_nng_tls_server/_client belongs to
 * the caller (nng_tls_config_free); a listener or dialer holds its own
 * reference, so the caller may free its config right after listen/dial.
 * ERRORS: 0 or a negative errno (el_nng_err maps NNG's codes).
 * THREADS: all functions are safe from any thread (NNG's own locking).
 * SECURITY: every socket that receives from a peer must go through
 * el_nng_listen/el_nng_dial, which set NNG_OPT_RECVMAXSZ (NNG's default is
 * unlimited: a peer could announce any size and NNG would allocate it).
 * A server config REQUIRES a client certificate from the CA (mutual TLS);
 * a client config verifies the server certificate and its name.
 */
#ifndef EL_NNG_H
#define EL_NNG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* el_nng_err - an NNG error code as a negative errno (0 stays 0) */
int el_nng_err(int nng_rv);

/*
 * el_nng_tls_server - a server-side TLS config: own certificate and key from
 * cert_key_file (PEM, key and certificate in one file), peers must present a
 * certificate that chains to ca_file.
 */
int el_nng_tls_server(nng_tls_config **out, const char *ca_file, const char *cert_key_file);

/*
 * el_nng_tls_client - a client-side TLS config: the server's certificate must
 * chain to ca_file and carry server_name (a DNS name of its SANs: mbed TLS
 * 2.28 matches DNS names only, not IP SANs); the client presents
 * cert_key_file.  cert_key_file may be NULL (no client certificate).
 */
int el_nng_tls_client(nng_tls_config **out, const char *ca_file, const char *cert_key_file,
		      const char *server_name);

/*
 * el_nng_listen - start a listener on url with tls (NULL for plain tcp://,
 * ipc://, inproc://) and frames bounded to max_frame bytes.  *out may be NULL.
 */
int el_nng_listen(nng_socket s, const char *url, nng_tls_config *tls, size_t max_frame,
		  nng_listener *out);

/*
 * el_nng_dial - start a dialer on url (tls as above), frames bounded to
 * max_frame.  The dialer connects in the background and reconnects after a
 * loss with backoff between reconnect_min_ms and reconnect_max_ms; requests
 * sent meanwhile wait for the connection (their own timeouts apply).
 */
int el_nng_dial(nng_socket s, const char *url, nng_tls_config *tls, size_t max_frame,
		int reconnect_min_ms, int reconnect_max_ms, nng_dialer *out);

/*
 * el_nng_listener_errors - NNG's own per-listener error counters: TLS
 * handshakes that failed authentication (a peer without a certificate of the
 * CA), and "other" pipe errors, which include frames over max_frame (NNG
 * closes the connection and keeps no finer count).  Zeros when NNG was
 * built without statistics.
 */
void el_nng_listener_errors(nng_listener l, uint64_t *tls_auth, uint64_t *other);

/*
 * el_nng_dialer_errors - the same counters of a dialer: "other" counts the
 * connections NNG closed on an error of its own, a reply over max_frame
 * among them (the caller's receive then fails with -ECONNRESET).
 */
void el_nng_dialer_errors(nng_dialer d, uint64_t *tls_auth, uint64_t *other);

/*
 * el_nng_close_bounded - nng_close(s), but give up after max_ms.  NNG 1.5.2
 * now and then never returns from nng_close when a TLS pipe is closed in
 * the middle of I/O or of being set up (its reaper waits on an aio that
 * never completes; seen about once in eight closes under load here, on
 * both REP and REQ sockets).  Pausing settle_ms first, after the caller
 * stopped its own aios and dialers, lets pipes go idle and made it vanish
 * in our tests; the bound covers the rest.  0, or -ETIMEDOUT when NNG is
 * still closing: the caller must then leave alone (not free, but give to
 * el_nng_abandon) anything NNG may still use, and the process should exit.
 */
int el_nng_close_bounded(nng_socket s, int settle_ms, int max_ms);

/*
 * el_nng_abandon - keep p (what a socket that did not close may still use)
 * until the process exits: held in a list, so a leak checker sees it as
 * reachable, on purpose, rather than lost.  NULL: a no-op.
 */
void el_nng_abandon(void *p);

/*
 * el_nng_pipe_note - an NNG pipe callback (nng_pipe_notify, ADD_POST and
 * REM_POST) keeping in *arg, an atomic_uint, the id of the socket's
 * connection: the newest pipe added, 0 once it is removed.  Dialers keep
 * one connection; el_nng_pipe_close_id closes it.
 */
void el_nng_pipe_note(nng_pipe p, nng_pipe_ev ev, void *arg);

/*
 * el_nng_pipe_close_id - close the connection that *id names, so that its
 * dialer connects again (a connection gone silent: a NAT or firewall that
 * forgot it, a stuck peer).  0, or -ENOENT when there is none.
 */
int el_nng_pipe_close_id(atomic_uint *id);

/*
 * el_nng_url_host - copy the host part of a tcp:// or tls+tcp:// URL into
 * out (without brackets); -EINVAL if there is none or it does not fit.
 */
int el_nng_url_host(const char *url, char *out, size_t cap);

#endif
