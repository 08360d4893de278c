/*
 * relay - see relay.h.
 */
#include "relay.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define TR_MAX 16

/* tr_pump - from fd a to fd b what is there; false at the end or an error */
static bool tr_pump(int a, int b)
{
	char buf[65536];
	ssize_t n = read(a, buf, sizeof(buf));

	if (n <= 0)
		return false;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(b, buf + off, (size_t)(n - off));
		if (w <= 0)
			return false;
		off += w;
	}
	return true;
}

/* tr_accept - a new connection and its twin to the target, or false */
static bool tr_accept(tr_relay *r, int fd[2])
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)r->target),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	fd[0] = accept(r->lfd, NULL, NULL);
	fd[1] = socket(AF_INET, SOCK_STREAM, 0);
	if (fd[0] >= 0 && fd[1] >= 0 && connect(fd[1], (struct sockaddr *)&to, sizeof(to)) == 0)
		return true;
	if (fd[0] >= 0)
		close(fd[0]);
	if (fd[1] >= 0)
		close(fd[1]);
	return false;
}

static void *tr_main(void *arg)
{
	tr_relay *r = arg;
	struct {
		int fd[2], no;
	} c[TR_MAX];
	int nc = 0;

	while (!atomic_load(&r->stop)) {
		struct pollfd p[1 + 2 * TR_MAX];
		int who[1 + 2 * TR_MAX], np = 1;

		/* The poll before this one may have forwarded; none after will. */
		atomic_store(&r->frozen, atomic_load(&r->freeze));
		p[0] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
		for (int i = 0; i < nc; i++)
			for (int k = 0; k < 2 && c[i].no > atomic_load(&r->frozen); k++) {
				p[np] = (struct pollfd){ .fd = c[i].fd[k], .events = POLLIN };
				who[np++] = 2 * i + k;
			}
		if (poll(p, (nfds_t)np, 20) <= 0)
			continue;
		if ((p[0].revents & POLLIN) && nc < TR_MAX && tr_accept(r, c[nc].fd))
			c[nc++].no = atomic_fetch_add(&r->accepted, 1) + 1;
		for (int j = 1; j < np; j++) {
			int i = who[j] / 2, k = who[j] % 2;
			if (c[i].fd[0] < 0 || !(p[j].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!tr_pump(c[i].fd[k], c[i].fd[1 - k])) {
				close(c[i].fd[0]);
				close(c[i].fd[1]);
				c[i].fd[0] = c[i].fd[1] = -1;
			}
		}
		for (int i = 0; i < nc;) /* forget the closed ones */
			if (c[i].fd[0] < 0)
				c[i] = c[--nc];
			else
				i++;
	}
	for (int i = 0; i < nc; i++) {
		close(c[i].fd[0]);
		close(c[i].fd[1]);
	}
	return NULL;
}

/* tr_relay_start - see relay.h */
int tr_relay_start(tr_relay *r, int target)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	r->target = target;
	atomic_store(&r->stop, false);
	atomic_store(&r->freeze, 0);
	atomic_store(&r->frozen, 0);
	atomic_store(&r->accepted, 0);
	cr_assert_geq(r->lfd = socket(AF_INET, SOCK_STREAM, 0), 0);
	cr_assert_eq(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(r->lfd, 8), 0);
	cr_assert_eq(getsockname(r->lfd, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(pthread_create(&r->thread, NULL, tr_main, r), 0);
	return ntohs(a.sin_port);
}

/* tr_relay_freeze - see relay.h */
void tr_relay_freeze(tr_relay *r)
{
	int n = atomic_load(&r->accepted);

	atomic_store(&r->freeze, n);
	while (atomic_load(&r->frozen) != n)
		usleep(1000);
}

/* tr_relay_accepted - see relay.h */
int tr_relay_accepted(tr_relay *r)
{
	return atomic_load(&r->accepted);
}

/* tr_relay_stop - see relay.h */
void tr_relay_stop(tr_relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	close(r->lfd);
	r->lfd = -1;
}
