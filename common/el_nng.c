/*
 * el_nng - NNG 1.5 adapter: TLS configs, bounded listen/dial, errors.
 */
#include "el_nng.h"
#include "el_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* el_nng_err - see el_nng.h */
int el_nng_err(int rv)
{
	if (rv == 0)
		return 0;
	if (rv & NNG_ESYSERR) {
		int e = rv & ~NNG_ESYSERR;
		return e > 0 ? -e : -EIO;
	}
	if (rv & NNG_ETRANERR)
		return -EIO;
	switch (rv) {
	case NNG_EINTR:
		return -EINTR;
	case NNG_ENOMEM:
		return -ENOMEM;
	case NNG_EINVAL:
	case NNG_ENOARG:
	case NNG_EAMBIGUOUS:
	case NNG_EBADTYPE:
	case NNG_EWRITEONLY:
		return -EINVAL;
	case NNG_EBUSY:
		return -EBUSY;
	case NNG_ETIMEDOUT:
		return -ETIMEDOUT;
	case NNG_ECONNREFUSED:
		return -ECONNREFUSED;
	case NNG_ECLOSED:
		return -EBADF;
	case NNG_EAGAIN:
		return -EAGAIN;
	case NNG_ENOTSUP:
		return -ENOTSUP;
	case NNG_EADDRINUSE:
		return -EADDRINUSE;
	case NNG_ESTATE:
		return -EALREADY;
	case NNG_ENOENT:
		return -ENOENT;
	case NNG_EPROTO:
		return -EPROTO;
	case NNG_EUNREACHABLE:
		return -EHOSTUNREACH;
	case NNG_EADDRINVAL:
		return -EADDRNOTAVAIL;
	case NNG_EPERM:
		return -EPERM;
	case NNG_EMSGSIZE:
		return -EMSGSIZE;
	case NNG_ECONNABORTED:
		return -ECONNABORTED;
	case NNG_ECONNRESET:
		return -ECONNRESET;
	case NNG_ECANCELED:
		return -ECANCELED;
	case NNG_ENOFILES:
		return -EMFILE;
	case NNG_ENOSPC:
		return -ENOSPC;
	case NNG_EEXIST:
		return -EEXIST;
	case NNG_EREADONLY:
		return -EROFS;
	case NNG_ECRYPTO:
		return -EBADMSG;
	case NNG_EPEERAUTH:
		return -EACCES;
	case NNG_ECONNSHUT:
		return -ESHUTDOWN;
	default:
		return -EIO;
	}
}

/* el_nng_tls_new - a config in mode with the CA and our own cert+key */
static int el_nng_tls_new(nng_tls_config **out, nng_tls_mode mode, const char *ca_file,
			  const char *cert_key_file)
{
	nng_tls_config *cfg = NULL;
	int rv;

	*out = NULL;
	if (ca_file == NULL)
		return -EINVAL;
	if ((rv = nng_tls_config_alloc(&cfg, mode)) != 0)
		return el_nng_err(rv);
	/*
	 * TLS 1.2 only: this mbed TLS build refuses 1.3, and 1.0/1.1 are
	 * obsolete.  Set it explicitly so a rebuilt library cannot silently
	 * fall back.
	 */
	if ((rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_2)) != 0 ||
	    (rv = nng_tls_config_ca_file(cfg, ca_file)) != 0)
		goto fail;
	if (cert_key_file != NULL &&
	    (rv = nng_tls_config_cert_key_file(cfg, cert_key_file, NULL)) != 0)
		goto fail;
	*out = cfg;
	return 0;
fail:
	nng_tls_config_free(cfg);
	return el_nng_err(rv);
}

/* el_nng_tls_server - see el_nng.h */
int el_nng_tls_server(nng_tls_config **out, const char *ca_file, const char *cert_key_file)
{
	int rv;

	if (cert_key_file == NULL)
		return -EINVAL;
	if ((rv = el_nng_tls_new(out, NNG_TLS_MODE_SERVER, ca_file, cert_key_file)) != 0)
		return rv;
	/* NNG's server default is NONE: mutual TLS must be asked for. */
	if ((rv = nng_tls_config_auth_mode(*out, NNG_TLS_AUTH_MODE_REQUIRED)) != 0) {
		nng_tls_config_free(*out);
		*out = NULL;
		return el_nng_err(rv);
	}
	return 0;
}

/* el_nng_tls_client - see el_nng.h */
int el_nng_tls_client(nng_tls_config **out, const char *ca_file, const char *cert_key_file,
		      const char *server_name)
{
	int rv;

	if (server_name == NULL || server_name[0] == '\0')
		return -EINVAL;
	if ((rv = el_nng_tls_new(out, NNG_TLS_MODE_CLIENT, ca_file, cert_key_file)) != 0)
		return rv;
	if ((rv = nng_tls_config_auth_mode(*out, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
	    (rv = nng_tls_config_server_name(*out, server_name)) != 0) {
		nng_tls_config_free(*out);
		*out = NULL;
		return el_nng_err(rv);
	}
	return 0;
}

/*
 * el_nng_listen - see el_nng.h.  RECVMAXSZ goes on the socket (inherited by
 * endpoints created later) and on the listener itself (which copied the
 * socket's value when it was created).
 */
int el_nng_listen(nng_socket s, const char *url, nng_tls_config *tls, size_t max_frame,
		  nng_listener *out)
{
	nng_listener l;
	int rv;

	if (max_frame == 0)
		return -EINVAL;
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, max_frame)) != 0)
		return el_nng_err(rv);
	if ((rv = nng_listener_create(&l, s, url)) != 0)
		return el_nng_err(rv);
	if ((rv = nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, max_frame)) != 0)
		goto fail;
	if (tls != NULL && (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls)) != 0)
		goto fail;
	/* Keepalive finds collectors that vanished without a FIN. */
	if (strncmp(url, "tcp", 3) == 0 || strncmp(url, "tls+tcp", 7) == 0)
		(void)nng_listener_set_bool(l, NNG_OPT_TCP_KEEPALIVE, true);
	if ((rv = nng_listener_start(l, 0)) != 0)
		goto fail;
	if (out)
		*out = l;
	return 0;
fail:
	nng_listener_close(l);
	return el_nng_err(rv);
}

/* el_nng_dial - see el_nng.h */
int el_nng_dial(nng_socket s, const char *url, nng_tls_config *tls, size_t max_frame,
		int reconnect_min_ms, int reconnect_max_ms, nng_dialer *out)
{
	nng_dialer d;
	int rv;

	if (max_frame == 0 || reconnect_min_ms <= 0 || reconnect_max_ms < reconnect_min_ms)
		return -EINVAL;
	if ((rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, max_frame)) != 0)
		return el_nng_err(rv);
	if ((rv = nng_dialer_create(&d, s, url)) != 0)
		return el_nng_err(rv);
	if ((rv = nng_dialer_set_size(d, NNG_OPT_RECVMAXSZ, max_frame)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, reconnect_min_ms)) != 0 ||
	    (rv = nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, reconnect_max_ms)) != 0)
		goto fail;
	if (tls != NULL && (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls)) != 0)
		goto fail;
	if (strncmp(url, "tcp", 3) == 0 || strncmp(url, "tls+tcp", 7) == 0)
		(void)nng_dialer_set_bool(d, NNG_OPT_TCP_KEEPALIVE, true);
	/* Non-blocking: a backend that is down now is retried in the background. */
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
		goto fail;
	if (out)
		*out = d;
	return 0;
fail:
	nng_dialer_close(d);
	return el_nng_err(rv);
}

/* el_nng_ep_errors - the "auth" and "other" error counters of a listener's or dialer's stats */
static void el_nng_ep_errors(nng_stat *ep, uint64_t *tls_auth, uint64_t *other)
{
	nng_stat *st;

	if (ep == NULL)
		return;
	if ((st = nng_stat_find(ep, "auth")) != NULL)
		*tls_auth = nng_stat_value(st);
	if ((st = nng_stat_find(ep, "other")) != NULL)
		*other = nng_stat_value(st);
}

/* el_nng_listener_errors - see el_nng.h */
void el_nng_listener_errors(nng_listener l, uint64_t *tls_auth, uint64_t *other)
{
	nng_stat *all = NULL;

	*tls_auth = *other = 0;
	if (nng_stats_get(&all) != 0)
		return;
	el_nng_ep_errors(nng_stat_find_listener(all, l), tls_auth, other);
	nng_stats_free(all);
}

/* el_nng_dialer_errors - see el_nng.h */
void el_nng_dialer_errors(nng_dialer d, uint64_t *tls_auth, uint64_t *other)
{
	nng_stat *all = NULL;

	*tls_auth = *other = 0;
	if (nng_stats_get(&all) != 0)
		return;
	el_nng_ep_errors(nng_stat_find_dialer(all, d), tls_auth, other);
	nng_stats_free(all);
}

/* el_nng_url_host - see el_nng.h */
int el_nng_url_host(const char *url, char *out, size_t cap)
{
	nng_url *u = NULL;
	size_t n;
	int rv = -EINVAL;

	if (nng_url_parse(&u, url) != 0)
		return -EINVAL;
	n = strlen(u->u_hostname);
	if (n > 0 && n < cap) {
		memcpy(out, u->u_hostname, n + 1);
		rv = 0;
	}
	nng_url_free(u);
	return rv;
}

/* Shared by el_nng_close_bounded and its closing thread; the last frees it. */
typedef struct el_nng_closer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	nng_socket s;
	bool done;
	int refs;
} el_nng_closer;

/* el_nng_closer_unref - drop one reference */
static void el_nng_closer_unref(el_nng_closer *c)
{
	bool last;

	pthread_mutex_lock(&c->mu);
	last = --c->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		free(c);
	}
}

/* el_nng_closer_main - the closing thread */
static void *el_nng_closer_main(void *arg)
{
	el_nng_closer *c = arg;

	nng_close(c->s);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	el_nng_closer_unref(c);
	return NULL;
}

/* What el_nng_abandon keeps (a few sockets a process at most: the bug is rare). */
#define EL_NNG_ABANDON_MAX 64
static void *el_nng_abandoned[EL_NNG_ABANDON_MAX];
static unsigned el_nng_nabandoned;
static pthread_mutex_t el_nng_abandon_mu = PTHREAD_MUTEX_INITIALIZER;

/* el_nng_abandon - see el_nng.h */
void el_nng_abandon(void *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&el_nng_abandon_mu);
	if (el_nng_nabandoned < EL_NNG_ABANDON_MAX)
		el_nng_abandoned[el_nng_nabandoned++] = p;
	pthread_mutex_unlock(&el_nng_abandon_mu);
}

/* el_nng_pipe_note - see el_nng.h */
void el_nng_pipe_note(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	atomic_uint *id = arg;
	unsigned pid = (unsigned)nng_pipe_id(p);

	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_store(id, pid);
	else if (ev == NNG_PIPE_EV_REM_POST)
		atomic_compare_exchange_strong(id, &pid, 0u);
}

/* el_nng_pipe_close_id - see el_nng.h */
int el_nng_pipe_close_id(atomic_uint *id)
{
	nng_pipe p = NNG_PIPE_INITIALIZER;

	p.id = atomic_load(id);
	return p.id != 0 && nng_pipe_close(p) == 0 ? 0 : -ENOENT;
}

/* el_nng_close_bounded - see el_nng.h */
int el_nng_close_bounded(nng_socket s, int settle_ms, int max_ms)
{
	struct timespec ts = { settle_ms / 1000, (long)(settle_ms % 1000) * 1000000L };
	pthread_condattr_t ca;
	pthread_attr_t ta;
	el_nng_closer *c;
	pthread_t th;
	bool done;
	int rv;

	if (settle_ms > 0)
		nanosleep(&ts, NULL);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		nng_close(s);
		return 0;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	c->s = s;
	c->refs = 2;
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	rv = pthread_create(&th, &ta, el_nng_closer_main, c);
	pthread_attr_destroy(&ta);
	if (rv != 0) {
		nng_close(s); /* no thread: unbounded, as NNG does it */
		c->refs = 1;
		el_nng_closer_unref(c);
		return 0;
	}
	ts = el_deadline(CLOCK_MONOTONIC, max_ms);
	pthread_mutex_lock(&c->mu);
	while (!c->done)
		if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
			break;
	done = c->done;
	pthread_mutex_unlock(&c->mu);
	el_nng_closer_unref(c);
	return done ? 0 : -ETIMEDOUT;
}
