/*
 * relay - a TCP relay on 127.0.0.1 for tests, in a thread of the test
 * process: it can stop forwarding on the connections it has without closing
 * them, as a NAT or a firewall that forgot them would, or a peer gone
 * silent.  Connections made after that are relayed.
 *
 * THREADS: one thread per relay; tr_relay_freeze and tr_relay_accepted may
 * be called from any thread.
 */
#ifndef TESTS_NET_RELAY_H
#define TESTS_NET_RELAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct tr_relay {
	int lfd, target;
	pthread_t thread;
	atomic_bool stop;
	atomic_int freeze;   /* tr_relay_freeze's request: freeze up to this one */
	atomic_int frozen;   /* connections numbered up to this are frozen */
	atomic_int accepted; /* the number of the last connection accepted */
} tr_relay;

/* tr_relay_start - a relay to 127.0.0.1:target; its port (asserts) */
int tr_relay_start(tr_relay *r, int target);
/*
 * tr_relay_freeze - the connections accepted so far stop forwarding: once it
 * returns, nothing sent on them afterwards passes, either way
 */
void tr_relay_freeze(tr_relay *r);
/* tr_relay_accepted - connections accepted since the start */
int tr_relay_accepted(tr_relay *r);
/* tr_relay_stop - stop the thread and close every connection */
void tr_relay_stop(tr_relay *r);

#endif
