/*
 * test_src_syslog - the syslog listeners on real sockets: unix datagram,
 * UDP, TCP with newline framing and octet counting (whole, split byte by
 * byte, over the size limit, malformed), and more TCP clients than allowed.
 */
#include "ts_src.h"

#include <dirent.h>
#include <sys/resource.h>

#define N_(a) (sizeof(a) / sizeof((a)[0]))

static const char m3164[] = "<22>Nov 22 13:23:01 mx1 postfix/smtpd[123]: connect from x[1.2.3.4]";
static const char m5424[] = "<22>1 2026-11-22T13:23:01.123456+01:00 mx1 postfix/qmgr 99 - - "
			    "ABC123: removed";

Test(col_src_syslog, unix_datagram)
{
	char *d = ts_dir(), *sock = ts_path(d, "log"), *l;
	ts_got g = { 0 };
	char big[300];

	cr_assert(asprintf(&l, "unix:%s", sock) > 0);
	col_src *s = ts_syslog_src(l, 100, 0);
	ts_unix_dgram(sock, m3164, strlen(m3164));
	ts_unix_dgram(sock, "<13>Nov 22 13:23:02 tag: with newline\n", 38);
	memset(big, 'B', sizeof(big));
	ts_unix_dgram(sock, big, sizeof(big));
	ts_unix_dgram(sock, "\n", 1); /* nothing left once the newline goes */
	ts_unix_dgram(sock, "after", 5);
	cr_assert_eq(ts_read_until(s, &g, 4, 2000), 4);
	cr_assert_str_eq(g.line[0], m3164);
	cr_assert_str_eq(g.line[1], "<13>Nov 22 13:23:02 tag: with newline");
	cr_assert_eq(g.len[2], 100);
	cr_assert_str_eq(g.line[3], "after");
	cr_assert_eq(g.pos_len, 0);
	cr_assert_eq(strncmp(g.stream, "syslog:unix:", 12), 0);
	col_src_stats st = ts_stats(s);
	cr_assert_eq(st.datagrams, 5);
	cr_assert_eq(st.truncated, 1);
	cr_assert_eq(st.lines, 4);
	col_src_close(s);
	/* The socket file is removed on close; a non-socket is never replaced. */
	cr_assert_eq(access(sock, F_OK), -1);
	ts_appends(sock, "not a socket\n");
	col_src_conf c = { .kind = COL_SRC_SYSLOG, .listen = l };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EEXIST);
	ts_got_free(&g);
	free(l), free(sock);
	ts_rmdir(d);
}

Test(col_src_syslog, udp)
{
	char l[64];
	ts_got g = { 0 };

	snprintf(l, sizeof(l), "udp://127.0.0.1:%d", ts_port(1));
	col_src *s = ts_syslog_src(l, 0, 0);
	ts_udp(ts_port(1), m3164, strlen(m3164));
	ts_udp(ts_port(1), m5424, strlen(m5424));
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	const char *want[] = { m3164, m5424 };
	ts_expect(&g, 0, want, 2);
	cr_assert_eq(ts_stats(s).datagrams, 2);
	col_src_close(s);
	ts_got_free(&g);
}

Test(col_src_syslog, bad_listen_addresses)
{
	const char *bad[] = { "udp://127.0.0.1",       "udp://127.0.0.1:0",
			      "udp://127.0.0.1:70000", "tcp://host.example:514",
			      "tcp://[::1:514",        "ftp://1.2.3.4:5",
			      "tcp://127.0.0.1:5x" };
	col_src *s = NULL;

	for (size_t i = 0; i < N_(bad); i++) {
		col_src_conf c = { .kind = COL_SRC_SYSLOG, .listen = bad[i] };
		cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EINVAL, "%s", bad[i]);
	}
	col_src_conf c = { .kind = COL_SRC_SYSLOG };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EINVAL);
}

Test(col_src_syslog, tcp_newline_framing)
{
	char l[64];
	ts_got g = { 0 };

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%d", ts_port(2));
	col_src *s = ts_syslog_src(l, 100, 0);
	int fd = ts_tcp(ts_port(2));
	ts_send(fd, "<13>a one\n<13>b two\r\n<13>c", 26);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	ts_send(fd, " three\n", 7);
	char big[250];
	memset(big, 'L', sizeof(big));
	big[0] = '<';
	ts_send(fd, big, sizeof(big)); /* over the limit, in pieces */
	ts_send(fd, big, sizeof(big));
	ts_send(fd, "\n<13>d four\n<13>e no newline", 28);
	close(fd); /* the last message ends with the connection */
	cr_assert_eq(ts_read_until(s, &g, 6, 2000), 6);
	cr_assert_str_eq(g.line[0], "<13>a one");
	cr_assert_str_eq(g.line[1], "<13>b two");
	cr_assert_str_eq(g.line[2], "<13>c three");
	cr_assert_eq(g.len[3], 100);
	cr_assert_eq(memcmp(g.line[3], big, 100), 0);
	cr_assert_str_eq(g.line[4], "<13>d four");
	cr_assert_str_eq(g.line[5], "<13>e no newline");
	/* A client that resets its connection: its last message is kept too. */
	fd = ts_tcp(ts_port(2));
	ts_send(fd, "<13>f whole\n<13>g reset", 23);
	struct linger lg = { 1, 0 };
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd); /* RST */
	cr_assert_eq(ts_read_until(s, &g, 8, 2000), 8);
	cr_assert_str_eq(g.line[6], "<13>f whole");
	cr_assert_str_eq(g.line[7], "<13>g reset");
	col_src_stats st = ts_stats(s);
	cr_assert_eq(st.truncated, 1);
	cr_assert_eq(st.connections, 2);
	cr_assert_eq(st.framing_errors, 0);
	col_src_close(s);
	ts_got_free(&g);
}

Test(col_src_syslog, tcp_octet_counting)
{
	char l[64], f[512];
	ts_got g = { 0 };

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%d", ts_port(3));
	col_src *s = ts_syslog_src(l, 100, 0);
	int fd = ts_tcp(ts_port(3));
	int n = snprintf(f, sizeof(f), "%zu %s%zu %s", strlen(m3164), m3164, strlen(m5424), m5424);
	ts_send(fd, f, (size_t)n);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	cr_assert_str_eq(g.line[0], m3164);
	cr_assert_str_eq(g.line[1], m5424);
	/* Byte by byte, with a newline inside the counted message. */
	const char *one = "11 <13>x\ny yy\n";
	for (const char *p = one; *p; p++) {
		ts_send(fd, p, 1);
		usleep(1000);
	}
	cr_assert_eq(ts_read_until(s, &g, 3, 2000), 3);
	cr_assert_str_eq(g.line[2], "<13>x\ny yy");
	/* A frame over the limit is cut, the next one is whole. */
	memset(f, 'Z', sizeof(f));
	n = snprintf(f, sizeof(f), "300 ");
	ts_send(fd, f, (size_t)n + 300);
	ts_send(fd, "4 next", 6);
	cr_assert_eq(ts_read_until(s, &g, 5, 2000), 5);
	cr_assert_eq(g.len[3], 100);
	cr_assert_str_eq(g.line[4], "next");
	cr_assert_eq(ts_stats(s).truncated, 1);
	/* A malformed count closes the connection and is counted. */
	ts_send(fd, "05 hello", 8);
	ts_quiet(s, &g, 100);
	char b;
	cr_assert_eq(recv(fd, &b, 1, 0), 0);
	close(fd);
	cr_assert_eq(ts_stats(s).framing_errors, 1);
	col_src_close(s);
	ts_got_free(&g);
}

Test(col_src_syslog, tcp_clients_over_the_bound_are_refused)
{
	char l[64], m[32];
	int fd[10];
	ts_got g = { 0 };

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%d", ts_port(4));
	col_src *s = ts_syslog_src(l, 0, 4);
	for (int i = 0; i < 10; i++) {
		fd[i] = ts_tcp(ts_port(4));
		int n = snprintf(m, sizeof(m), "<13>client %d\n", i);
		ts_send(fd[i], m, (size_t)n);
	}
	/* Four are served, in accept order: the first four. */
	cr_assert_eq(ts_read_until(s, &g, 4, 2000), 4);
	ts_quiet(s, &g, 100);
	const char *want[] = { "<13>client 0", "<13>client 1", "<13>client 2", "<13>client 3" };
	for (size_t i = 0; i < 4; i++) {
		bool found = false;
		for (size_t j = 0; j < g.n; j++)
			found |= strcmp(g.line[j], want[i]) == 0;
		cr_assert(found, "%s not read", want[i]);
	}
	col_src_stats st = ts_stats(s);
	cr_assert_eq(st.connections, 4);
	cr_assert_eq(st.clients_refused, 6);
	for (int i = 4; i < 10; i++) {
		char b;
		cr_assert(recv(fd[i], &b, 1, 0) <= 0, "client %d was not closed", i);
		close(fd[i]);
	}
	/* A slot freed is taken by the next client. */
	close(fd[0]);
	ts_quiet(s, &g, 50);
	int nfd = ts_tcp(ts_port(4));
	ts_send(nfd, "<13>late\n", 9);
	cr_assert_eq(ts_read_until(s, &g, 5, 2000), 5);
	cr_assert_str_eq(g.line[4], "<13>late");
	cr_assert_eq(ts_stats(s).connections, 5);
	for (int i = 1; i < 4; i++)
		close(fd[i]);
	close(nfd);
	col_src_close(s);
	ts_got_free(&g);
}

Test(col_src_syslog, out_of_descriptors_then_recovered)
{
	char l[64];
	int fd[3], maxfd = 0;
	ts_got g = { 0 };
	struct rlimit old, low;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%d", ts_port(7));
	col_src *s = ts_syslog_src(l, 0, 0);
	for (int i = 0; i < 3; i++) {
		fd[i] = ts_tcp(ts_port(7));
		ts_send(fd[i], "<13>queued\n", 11);
		if (fd[i] > maxfd)
			maxfd = fd[i];
	}
	/* No descriptor left for accept(): counted, and the read still ends. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)maxfd + 1;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ts_quiet(s, &g, 200);
	cr_assert(ts_stats(s).clients_refused >= 1);
	cr_assert_eq(ts_stats(s).connections, 0);
	/* Descriptors again: the waiting connections are served. */
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert_eq(ts_read_until(s, &g, 3, 2000), 3);
	cr_assert_eq(ts_stats(s).connections, 3);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	col_src_close(s);
	ts_got_free(&g);
}

Test(col_src_syslog, stop_wakes_a_blocked_read)
{
	char l[64];
	col_src_chunk c;

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%d", ts_port(5));
	col_src *s = ts_syslog_src(l, 0, 0);
	col_src_stop(s);
	cr_assert_eq(col_src_read(s, &c, -1), 0);
	cr_assert_eq(c.n, 0);
	col_src_close(s);
}

Test(col_src_syslog, chunks_respect_max_chunk)
{
	char l[64];
	ts_got g = { 0 };
	col_src *s = NULL;
	col_src_conf c = { .kind = COL_SRC_SYSLOG, .listen = l, .max_chunk = 25 };

	snprintf(l, sizeof(l), "tcp://127.0.0.1:%d", ts_port(6));
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	int fd = ts_tcp(ts_port(6));
	for (int i = 0; i < 40; i++) {
		char m[64];
		int n = snprintf(m, sizeof(m), "<13>message %02d%s\n", i,
				 i % 5 ? "" : " long long long");
		ts_send(fd, m, (size_t)n);
	}
	while (g.n < 40) {
		col_src_chunk ch;
		size_t text = 0;
		cr_assert_eq(col_src_read(s, &ch, 2000), 0);
		cr_assert(ch.n > 0);
		for (size_t i = 0; i < ch.n; i++)
			text += ch.lines[i].len;
		cr_assert(text <= 25 || ch.n == 1, "%zu lines, %zu bytes", ch.n, text);
		ts_take(&g, &ch);
	}
	for (int i = 0; i < 40; i++) {
		char m[64];
		snprintf(m, sizeof(m), "<13>message %02d%s", i, i % 5 ? "" : " long long long");
		cr_assert_str_eq(g.line[i], m);
	}
	close(fd);
	col_src_close(s);
	ts_got_free(&g);
}

/* ---- a real rsyslogd forwarding with omfwd to the listeners ---- */

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "el_parse.h"

extern char **environ;

/* ts_spawn - start argv[0] (a path) with argv; it dies with the test */
static pid_t ts_spawn(char *const argv[])
{
	pid_t parent = getpid(), pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		/* A failed assertion ends the test process: take the child along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execve(argv[0], argv, environ);
		_exit(127);
	}
	return pid;
}

/* ts_run - run a program to its end; its exit status */
static int ts_run(char *const argv[])
{
	int st;
	pid_t pid = ts_spawn(argv);

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ts_check_forwarded - three "removed" lines arrive and parse, with a host */
static void ts_check_forwarded(col_src *s, const char *what, bool has_service)
{
	ts_got g = { 0 };
	el_parse_ctx ctx;
	el_rec r;

	cr_assert_eq(ts_read_until(s, &g, 3, 15000), 3, "%s: %zu lines", what, g.n);
	el_parse_ctx_init(&ctx);
	for (size_t i = 0; i < 3; i++) {
		char qid[16];
		snprintf(qid, sizeof(qid), "ABCDE%zu", i + 1);
		el_parse_line(&ctx, g.line[i], g.len[i], &r);
		cr_assert_eq(r.event, EL_EV_REMOVED, "%s: %s", what, g.line[i]);
		el_span q = el_rec_get(&r, EL_F_QUEUE_ID), h = el_rec_get(&r, EL_F_HOST),
			sv = el_rec_get(&r, EL_F_SERVICE);
		cr_assert(q.len == strlen(qid) && memcmp(q.p, qid, q.len) == 0, "%s: %s", what,
			  g.line[i]);
		cr_assert(h.len > 0, "%s: no host in %s", what, g.line[i]);
		if (has_service)
			cr_assert(sv.len == 4 && memcmp(sv.p, "qmgr", 4) == 0, "%s: %s", what,
				  g.line[i]);
	}
	el_parse_ctx_fini(&ctx);
	ts_got_free(&g);
}

Test(col_src_rsyslog, omfwd_to_the_listeners, .timeout = 90)
{
	char *d = ts_dir(), *in = ts_path(d, "in.sock"), *conf = ts_path(d, "rsyslog.conf"),
	     *pidf = ts_path(d, "rsyslogd.pid"), *work = ts_path(d, "work");
	char l1[64], l2[64], l3[64], *text;

	cr_assert_eq(mkdir(work, 0700), 0);
	snprintf(l1, sizeof(l1), "tcp://127.0.0.1:%d", ts_port(30));
	snprintf(l2, sizeof(l2), "tcp://127.0.0.1:%d", ts_port(31));
	snprintf(l3, sizeof(l3), "udp://127.0.0.1:%d", ts_port(32));
	col_src *trad = ts_syslog_src(l1, 0, 0), *octet = ts_syslog_src(l2, 0, 0),
		*udp = ts_syslog_src(l3, 0, 0);
	/* Its own config, pid file and work directory; nothing of the system's. */
	cr_assert(
		asprintf(
			&text,
			"global(workDirectory=\"%s\")\n"
			"module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
			"input(type=\"imuxsock\" Socket=\"%s\")\n"
			"action(type=\"omfwd\" target=\"127.0.0.1\" port=\"%d\" protocol=\"tcp\")\n"
			"action(type=\"omfwd\" target=\"127.0.0.1\" port=\"%d\" protocol=\"tcp\" "
			"TCP_Framing=\"octet-counted\" "
			"template=\"RSYSLOG_SyslogProtocol23Format\")\n"
			"action(type=\"omfwd\" target=\"127.0.0.1\" port=\"%d\" protocol=\"udp\" "
			"template=\"RSYSLOG_ForwardFormat\")\n",
			work, in, ts_port(30), ts_port(31), ts_port(32)) > 0);
	ts_appends(conf, text);
	free(text);
	char *rs[] = { "/usr/sbin/rsyslogd", "-n", "-f", conf, "-i", pidf, NULL };
	pid_t pid = ts_spawn(rs);
	for (int i = 0; i < 100 && access(in, F_OK) != 0; i++)
		usleep(50000);
	cr_assert_eq(access(in, F_OK), 0, "rsyslogd did not create its socket");
	for (int i = 1; i <= 3; i++) {
		char msg[32];
		snprintf(msg, sizeof(msg), "ABCDE%d: removed", i);
		char *lg[] = { "/usr/bin/logger", "-u", in, "-t", "postfix/qmgr", "-i", msg, NULL };
		cr_assert_eq(ts_run(lg), 0);
	}
	ts_check_forwarded(trad, "omfwd tcp, traditional", true);
	ts_check_forwarded(octet, "omfwd tcp octet-counted, RFC 5424", false);
	ts_check_forwarded(udp, "omfwd udp, RSYSLOG_ForwardFormat", true);
	cr_assert_eq(ts_stats(octet).framing_errors, 0);
	kill(pid, SIGTERM);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	col_src_close(trad);
	col_src_close(octet);
	col_src_close(udp);
	free(in), free(conf), free(pidf), free(work);
	ts_rmdir(d);
}

Test(col_src_syslog, logger_local_form_on_the_unix_socket)
{
	char *d = ts_dir(), *sock = ts_path(d, "log"), *l;
	ts_got g = { 0 };
	el_parse_ctx ctx;
	el_rec r;

	cr_assert(asprintf(&l, "unix:%s", sock) > 0);
	col_src *s = ts_syslog_src(l, 0, 0);
	char *lg[] = { "/usr/bin/logger", "-u", sock, "-t", "postfix/qmgr", "-i",
		       "ABCDE9: removed", NULL };
	cr_assert_eq(ts_run(lg), 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 5000), 1);
	el_parse_ctx_init(&ctx);
	el_parse_line(&ctx, g.line[0], g.len[0], &r);
	cr_assert_eq(r.event, EL_EV_REMOVED, "%s", g.line[0]);
	cr_assert(el_rec_has(&r, EL_F_PID) && !el_rec_has(&r, EL_F_HOST), "%s", g.line[0]);
	el_parse_ctx_fini(&ctx);
	col_src_close(s);
	ts_got_free(&g);
	free(l), free(sock);
	ts_rmdir(d);
}

/* ts_nfd - open descriptors of this process */
static int ts_nfd(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	cr_assert(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

Test(col_src, errors_and_no_descriptor_left_behind)
{
	char *d = ts_dir(), *f = ts_path(d, "file"), *l, *mt = ts_path(d, "mt"),
	     *lg = ts_path(mt, "MSGTRK2026112200-1.LOG");
	col_src *s = NULL;
	col_src_conf c = { .kind = COL_SRC_SYSLOG, .listen = "unix:/nonexistent/dir/sock" };

	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -ENOENT);
	ts_appends(f, "x\n");
	c = (col_src_conf){ .kind = COL_SRC_MSGTRK, .path = f };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -ENOTDIR);
	c = (col_src_conf){ .kind = COL_SRC_FILE, .path = f, .max_line = (size_t)1 << 40 };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EINVAL);
	c = (col_src_conf){ .kind = COL_SRC_FILE, .path = f, .poll_ms = -1 };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EINVAL);
	char longp[COL_SRC_STREAM_MAX + 8];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	c = (col_src_conf){ .kind = COL_SRC_FILE, .path = longp };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EINVAL);

	/* Every kind, used, then closed: the descriptor count is back. */
	cr_assert_eq(mkdir(mt, 0755), 0);
	ts_appends(lg, "#Fields: date-time\n");
	int before = ts_nfd();
	cr_assert(asprintf(&l, "tcp://127.0.0.1:%d", ts_port(8)) > 0);
	ts_got g = { 0 };
	c = (col_src_conf){ .kind = COL_SRC_SYSLOG, .listen = l };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	int fd = ts_tcp(ts_port(8));
	ts_send(fd, "<13>x\n", 6);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	close(fd);
	col_src_close(s);
	c = (col_src_conf){ .kind = COL_SRC_FILE, .path = f, .poll_ms = 10 };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	col_src_close(s);
	c = (col_src_conf){ .kind = COL_SRC_MSGTRK, .path = mt, .poll_ms = 10 };
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	cr_assert_eq(ts_read_until(s, &g, 3, 2000), 3);
	col_src_close(s);
	cr_assert_eq(ts_nfd(), before);
	ts_got_free(&g);
	free(l), free(f), free(lg), free(mt);
	ts_rmdir(d);
}
