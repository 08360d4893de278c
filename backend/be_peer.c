/*
 * be_peer - per-connection identities of TLS peers.  See be_peer.h.
 *
 * Per-pipe state (the Hello nonce, the authenticated CN) lives in a map keyed
 * by pipe id, created at ADD_PRE (before the pipe can deliver a message) and
 * deleted at REM_POST.  A request that arrives after its pipe was removed
 * finds no entry and is treated as unauthenticated.
 */
#include "be_peer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "el_map.h"

typedef struct be_peer {
	uint8_t nonce[BE_PEER_NONCE];
	bool has_nonce;
	bool authed;
	bool refused; /* over max_pipes: closed at ADD_POST */
	char cn[EL_OSSL_MAX_CN + 1];
	uint64_t max_reply; /* what the peer accepts; 0: not said */
} be_peer;

struct be_peer_tab {
	pthread_mutex_t mu;
	el_map peers; /* pipe id (4 bytes) -> be_peer */
	char *ca_file;
	char *prefix;
	size_t prefix_len;
	int max_pipes;
	bool closing;
	be_peer_stats st;
};

/* be_peer_key - the map key of a pipe id */
static el_span be_peer_key(const uint32_t *id)
{
	return el_span_make((const char *)id, sizeof(*id));
}

/* be_peer_tab_new - see be_peer.h */
int be_peer_tab_new(be_peer_tab **out, const char *ca_file, int max_pipes, const char *cn_prefix)
{
	be_peer_tab *t;

	*out = NULL;
	if (ca_file == NULL || max_pipes < 1)
		return -EINVAL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	el_map_init(&t->peers);
	t->ca_file = strdup(ca_file);
	t->prefix = strdup(cn_prefix ? cn_prefix : "");
	t->max_pipes = max_pipes;
	if (t->ca_file == NULL || t->prefix == NULL) {
		be_peer_tab_free(t);
		return -ENOMEM;
	}
	t->prefix_len = strlen(t->prefix);
	*out = t;
	return 0;
}

/* be_peer_tab_free - see be_peer.h */
void be_peer_tab_free(be_peer_tab *t)
{
	if (t == NULL)
		return;
	for (size_t k = 0; k < t->peers.cap; k++) {
		el_map_ent *e = &t->peers.ents[k];
		if (e->hash > 1)
			free(e->val);
	}
	el_map_fini(&t->peers);
	pthread_mutex_destroy(&t->mu);
	free(t->ca_file);
	free(t->prefix);
	free(t);
}

/* be_peer_pipe_event - see be_peer.h */
bool be_peer_pipe_event(be_peer_tab *t, uint32_t id, be_peer_ev ev)
{
	be_peer *peer;
	bool close_it = false;

	pthread_mutex_lock(&t->mu);
	if (ev == BE_PEER_ADD_PRE) {
		if ((peer = calloc(1, sizeof(*peer))) == NULL) {
			t->st.err_pipes_refused++;
		} else {
			if (t->closing || t->st.pipes >= (uint32_t)t->max_pipes) {
				t->st.err_pipes_refused++;
				peer->refused = true;
			} else {
				t->st.pipes++;
				t->st.pipes_total++;
			}
			el_map_put(&t->peers, be_peer_key(&id), peer);
		}
	} else if (ev == BE_PEER_ADD_POST) {
		peer = el_map_get(&t->peers, be_peer_key(&id));
		close_it = peer == NULL || peer->refused;
	} else if ((peer = el_map_del(&t->peers, be_peer_key(&id))) != NULL) {
		if (!peer->refused)
			t->st.pipes--;
		memset(peer, 0, sizeof(*peer));
		free(peer);
	}
	pthread_mutex_unlock(&t->mu);
	return close_it;
}

/* be_peer_closing - see be_peer.h */
void be_peer_closing(be_peer_tab *t)
{
	pthread_mutex_lock(&t->mu);
	t->closing = true;
	pthread_mutex_unlock(&t->mu);
}

/* be_peer_hello - see be_peer.h */
int be_peer_hello(be_peer_tab *t, uint32_t pipe, uint8_t nonce[BE_PEER_NONCE])
{
	be_peer *peer;
	int rv = 0;

	if (el_ossl_random(nonce, BE_PEER_NONCE) != 0)
		return -EIO;
	pthread_mutex_lock(&t->mu);
	peer = el_map_get(&t->peers, be_peer_key(&pipe));
	if (peer == NULL || t->closing) {
		rv = -ESHUTDOWN;
	} else if (peer->refused) {
		rv = -EBUSY;
	} else {
		/* A new Hello restarts authentication on this pipe. */
		memcpy(peer->nonce, nonce, BE_PEER_NONCE);
		peer->has_nonce = true;
		peer->authed = false;
		peer->cn[0] = '\0';
		t->st.hellos++;
	}
	pthread_mutex_unlock(&t->mu);
	return rv;
}

/* be_peer_auth - see be_peer.h */
int be_peer_auth(be_peer_tab *t, uint32_t pipe, el_span cert_pem, el_span sig, char *cn, size_t cap)
{
	uint8_t nonce[BE_PEER_NONCE];
	char got[EL_OSSL_MAX_CN + 1];
	be_peer *peer;
	bool had = false;
	int rv;

	if (cap <= EL_OSSL_MAX_CN)
		return -EINVAL;
	cn[0] = '\0';
	pthread_mutex_lock(&t->mu);
	peer = el_map_get(&t->peers, be_peer_key(&pipe));
	if (peer && peer->has_nonce && !peer->refused) {
		/* One attempt per nonce: a failure needs a new Hello. */
		memcpy(nonce, peer->nonce, sizeof(nonce));
		peer->has_nonce = false;
		had = true;
	} else {
		t->st.err_unauth++;
	}
	pthread_mutex_unlock(&t->mu);
	if (!had)
		return -ENOENT;
	rv = el_ossl_verify_peer(t->ca_file, cert_pem, nonce, sizeof(nonce), sig, got, sizeof(got));
	if (rv == 0 && strncmp(got, t->prefix, t->prefix_len) != 0)
		rv = -EACCES; /* a valid certificate, but not of this service's kind */
	pthread_mutex_lock(&t->mu);
	if (rv == 0 && (peer = el_map_get(&t->peers, be_peer_key(&pipe))) != NULL) {
		peer->authed = true;
		memcpy(peer->cn, got, sizeof(got));
		t->st.auths++;
	} else {
		if (rv == 0)
			rv = -ESHUTDOWN; /* the pipe went away meanwhile */
		t->st.err_auth++;
	}
	pthread_mutex_unlock(&t->mu);
	if (rv == 0)
		memcpy(cn, got, sizeof(got));
	return rv;
}

/* be_peer_identity - see be_peer.h */
bool be_peer_identity(be_peer_tab *t, uint32_t pipe, char *cn, size_t cap)
{
	be_peer *peer;
	bool ok = false;

	if (cap <= EL_OSSL_MAX_CN)
		return false;
	pthread_mutex_lock(&t->mu);
	peer = el_map_get(&t->peers, be_peer_key(&pipe));
	if (peer && peer->authed) {
		memcpy(cn, peer->cn, sizeof(peer->cn));
		ok = true;
	}
	pthread_mutex_unlock(&t->mu);
	return ok;
}

/* be_peer_set_max_reply - see be_peer.h */
void be_peer_set_max_reply(be_peer_tab *t, uint32_t pipe, uint64_t max_reply)
{
	be_peer *peer;

	pthread_mutex_lock(&t->mu);
	if ((peer = el_map_get(&t->peers, be_peer_key(&pipe))) != NULL)
		peer->max_reply = max_reply;
	pthread_mutex_unlock(&t->mu);
}

/* be_peer_max_reply - see be_peer.h */
uint64_t be_peer_max_reply(be_peer_tab *t, uint32_t pipe)
{
	be_peer *peer;
	uint64_t v = 0;

	pthread_mutex_lock(&t->mu);
	if ((peer = el_map_get(&t->peers, be_peer_key(&pipe))) != NULL)
		v = peer->max_reply;
	pthread_mutex_unlock(&t->mu);
	return v;
}

/* be_peer_stats_get - see be_peer.h */
void be_peer_stats_get(be_peer_tab *t, be_peer_stats *out)
{
	pthread_mutex_lock(&t->mu);
	*out = t->st;
	pthread_mutex_unlock(&t->mu);
}
