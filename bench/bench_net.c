/*
 * bench_net - an ingest server whose worker only acknowledges: the transport
 * ceiling of the backend (NNG + TLS + protobuf + be_net's checks), without
 * PostgreSQL.  bench/net.sh drives it with else-send.
 *
 *   bench_net URL CA CERTKEY [NCTX [DELAY_US]]
 *
 * Prints "port N" when listening, then on SIGTERM/SIGINT the server's
 * counters and the rate between the first and the last batch, and exits.
 * DELAY_US makes the worker sleep per batch (a slow database).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "be_net.h"
#include "el_log.h"

static volatile sig_atomic_t bn_stop;

/* bn_sig - ask the loop to finish */
static void bn_sig(int sig)
{
	(void)sig;
	bn_stop = 1;
}

/* bn_mono - CLOCK_MONOTONIC seconds */
static double bn_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	be_net_conf conf = { 0 };
	struct sigaction sa;
	struct utsname un;
	be_net_stats st;
	be_net_req *req;
	be_net *n;
	uint64_t lines = 0, bytes = 0, text = 0;
	double first = 0, last = 0;
	long delay_us = 0;
	int rv;

	el_log_set_prog("bench_net");
	if (argc < 4)
		el_fatal("usage: bench_net URL CA CERTKEY [NCTX [DELAY_US]]");
	conf.url = argv[1];
	conf.ca_file = argv[2];
	conf.cert_key_file = argv[3];
	conf.nctx = argc > 4 ? atoi(argv[4]) : 8;
	delay_us = argc > 5 ? atol(argv[5]) : 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bn_sig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((rv = be_net_start(&n, &conf)) != 0)
		el_fatal("cannot start: %s", strerror(-rv));
	printf("port %d\n", be_net_port(n));
	fflush(stdout);
	while (!bn_stop) {
		if ((rv = be_net_next(n, &req, 200)) == -ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		if (lines == 0)
			first = bn_mono();
		lines += req->batch->n_lines;
		bytes += req->frame_bytes;
		for (size_t i = 0; i < req->batch->n_lines; i++)
			text += req->batch->lines[i]->text.len;
		if (delay_us > 0) {
			struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
			nanosleep(&ts, NULL);
		}
		be_net_reply(n, req, ELSE__INGEST_STATUS__STATUS_OK,
			     req->batch->first_seq + req->batch->n_lines - 1, NULL);
		last = bn_mono();
	}
	be_net_stats_get(n, &st);
	be_net_stop(n);
	uname(&un);
	printf("machine: %s %s, %ld cpus\n", un.machine, un.release, sysconf(_SC_NPROCESSORS_ONLN));
	printf("server: %llu batches, %llu lines, %llu frame bytes, %llu text bytes, "
	       "%llu handshakes, errors unpack %llu invalid %llu unauth %llu auth %llu tls %llu, "
	       "max queued %u\n",
	       (unsigned long long)st.batches, (unsigned long long)lines, (unsigned long long)bytes,
	       (unsigned long long)text, (unsigned long long)st.auths,
	       (unsigned long long)st.err_unpack, (unsigned long long)st.err_invalid,
	       (unsigned long long)st.err_unauth, (unsigned long long)st.err_auth,
	       (unsigned long long)st.err_tls, st.max_queued);
	if (last > first)
		printf("server rate: %.0f lines/s, %.1f MB/s of frames (first to last batch)\n",
		       (double)lines / (last - first), (double)bytes / (last - first) / 1e6);
	return 0;
}
