/*
 * else-collector - follow a mail host's logs and ship them to else-backend
 * over NNG/TLS, through a durable spool.
 *
 * usage: else-collector [-c CONFIG] [-o key=value]... [--print-config]
 *                       [--check-config] [--status]
 *
 * Started as root, it opens the spool and the sources (a syslog port below
 * 1024 needs root), then becomes `user` with the supplementary `group` (adm
 * reads /var/log/mail.log on Debian) before it connects anywhere.  Under
 * systemd (deploy/else-collector.service) it starts as that user directly.
 * SIGTERM/SIGINT stop cleanly (everything read is in the spool already);
 * SIGHUP reopens log_file.  Every status_ms the state goes to the status
 * file; --status prints it.  docs/collector.md describes operation.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "col_daemon.h"
#include "el_conf.h"
#include "el_log.h"
#include "el_priv.h"
#include "el_status.h"

#define COL_MAX_SOURCES 64

static el_conf_list cf_sources;
static char *cf_backend, *cf_ca, *cf_cert, *cf_server_name, *cf_state_dir, *cf_user, *cf_group,
	*cf_status_file, *cf_log_file, *cf_host;
static int64_t cf_spool_max, cf_segment, cf_fsync_ms, cf_batch_lines, cf_batch_bytes, cf_batch_ms,
	cf_send_timeout, cf_reconnect_max, cf_max_line, cf_poll_ms, cf_status_ms;
static bool cf_backfill, cf_start_at_end;

static const el_conf_item col_conf[] = {
	{ "source", EL_CONF_LIST, "file:/var/log/mail.log", &cf_sources, 0, COL_MAX_SOURCES,
	  "what to follow, once per source: file:PATH (a log file, through rotation), "
	  "msgtrk:DIR (Exchange message tracking), syslog:unix:PATH | syslog:udp://ADDR:PORT | "
	  "syslog:tcp://ADDR:PORT, stdin" },
	{ "backend", EL_CONF_STR, "\"\"", &cf_backend, 0, 200,
	  "the backend to ship to: tls+tcp://HOST:PORT" },
	{ "ca_file", EL_CONF_STR, "/etc/else/ca.crt", &cf_ca, 1, 500,
	  "the ELSE CA: the backend's certificate must chain to it" },
	{ "cert_file", EL_CONF_STR, "/etc/else/collector.pem", &cf_cert, 1, 500,
	  "this host's private key and client certificate, PEM (deploy/else-ca.sh client); "
	  "read again at every connection: keep it readable by `user`" },
	{ "server_name", EL_CONF_STR, "\"\"", &cf_server_name, 0, 253,
	  "the DNS name in the backend's certificate; empty: the host of `backend`" },
	{ "state_dir", EL_CONF_STR, "/var/lib/else-collector", &cf_state_dir, 1, 200,
	  "the spool (STATE_DIR/spool) and the status file" },
	{ "spool_max", EL_CONF_SIZE, "1G", &cf_spool_max, 1 << 20, 1LL << 40,
	  "bound on the spool's files: when full, reading stops (nothing is dropped)" },
	{ "segment_size", EL_CONF_SIZE, "16M", &cf_segment, 64 << 10, 1 << 30,
	  "spool segment file size (at most spool_max/8)" },
	{ "fsync_ms", EL_CONF_INT, "200", &cf_fsync_ms, 0, 60000,
	  "spooled lines reach the disk within this many ms; 0: before they count as read" },
	{ "batch_lines", EL_CONF_INT, "5000", &cf_batch_lines, 1, 100000,
	  "most lines in one batch" },
	{ "batch_bytes", EL_CONF_SIZE, "1M", &cf_batch_bytes, 4096, 8 << 20,
	  "about the most text in one batch" },
	{ "batch_ms", EL_CONF_INT, "500", &cf_batch_ms, 0, 60000,
	  "a batch that is not full leaves at most this long after its first line was read" },
	{ "send_timeout", EL_CONF_DURATION, "10s", &cf_send_timeout, 1, 600,
	  "wait this long for an acknowledgement before sending the batch again" },
	{ "reconnect_max", EL_CONF_DURATION, "10s", &cf_reconnect_max, 1, 600,
	  "longest pause between reconnection attempts and retries (backoff)" },
	{ "max_line", EL_CONF_SIZE, "64K", &cf_max_line, 256, 1 << 20,
	  "longer lines are cut (counted in the status)" },
	{ "poll_ms", EL_CONF_INT, "200", &cf_poll_ms, 10, 10000,
	  "how often followed files are checked for new lines and rotation" },
	{ "backfill", EL_CONF_BOOL, "no", &cf_backfill, 0, 0,
	  "on the very first start, also ship the rotated files (mail.log.1, .2.gz...)" },
	{ "start_at_end", EL_CONF_BOOL, "no", &cf_start_at_end, 0, 0,
	  "on the very first start, begin at the end of the files (ship only new lines)" },
	{ "user", EL_CONF_STR, "\"\"", &cf_user, 0, 64,
	  "started as root: run as this user once the spool and sources are open" },
	{ "group", EL_CONF_STR, "adm", &cf_group, 0, 64,
	  "with user: supplementary group that may read the logs" },
	{ "status_file", EL_CONF_STR, "\"\"", &cf_status_file, 0, 300,
	  "the status (JSON); empty: STATE_DIR/status.json" },
	{ "status_ms", EL_CONF_INT, "1000", &cf_status_ms, 100, 60000,
	  "how often the status file is rewritten" },
	{ "log_file", EL_CONF_STR, "\"\"", &cf_log_file, 0, 300,
	  "diagnostics go here (reopened on SIGHUP); empty: stderr (journald)" },
	{ "host", EL_CONF_STR, "\"\"", &cf_host, 0, 253,
	  "host name shown in batches (the backend records the certificate's name); empty: "
	  "gethostname" },
};
#define COL_NCONF (sizeof(col_conf) / sizeof(col_conf[0]))

/* col_parse_source - "kind:arg" into a source conf; -EINVAL if malformed */
static int col_parse_source(const char *spec, col_src_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->max_line = (size_t)cf_max_line;
	c->poll_ms = (int)cf_poll_ms;
	c->backfill = cf_backfill;
	c->start_at_end = cf_start_at_end;
	if (strncmp(spec, "file:", 5) == 0 && spec[5] == '/') {
		c->kind = COL_SRC_FILE;
		c->path = spec + 5;
	} else if (strncmp(spec, "msgtrk:", 7) == 0 && spec[7] == '/') {
		c->kind = COL_SRC_MSGTRK;
		c->path = spec + 7;
	} else if (strncmp(spec, "syslog:", 7) == 0 && spec[7] != '\0') {
		c->kind = COL_SRC_SYSLOG;
		c->listen = spec + 7;
	} else if (strcmp(spec, "stdin") == 0) {
		c->kind = COL_SRC_STDIN;
	} else {
		return -EINVAL;
	}
	/* Stream ids ("file:" + path) go to the backend, which takes 256 bytes. */
	if (strlen(spec) > 200)
		return -EINVAL;
	return 0;
}

/* col_open_log - diagnostics to log_file (start and SIGHUP) */
static void col_open_log(void)
{
	int fd;

	if (cf_log_file[0] == '\0')
		return;
	fd = open(cf_log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		el_warn("log_file %s: %s", cf_log_file, strerror(errno));
		return;
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* col_chown_tree - hand the state directory and spool files to the service user */
static void col_chown_tree(const char *spool, uid_t uid, gid_t gid)
{
	struct dirent *de;
	char p[900];
	DIR *d;

	if (chown(cf_state_dir, uid, gid) < 0 || chown(spool, uid, gid) < 0)
		el_fatal("cannot hand %s to the service user: %s", cf_state_dir, strerror(errno));
	if ((d = opendir(spool)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", spool, de->d_name);
		if (lchown(p, uid, gid) < 0)
			el_warn("%s: %s", p, strerror(errno));
	}
	closedir(d);
}

/* col_drop_privileges - become user, with group as supplementary group */
static void col_drop_privileges(const el_priv *pv)
{
	int rc;

	if ((rc = el_priv_drop(pv)) != 0)
		el_fatal("cannot become user %s: %s", pv->name, strerror(-rc));
	/* Read again at every connection (the Auth signature). */
	if (access(cf_cert, R_OK) < 0 || access(cf_ca, R_OK) < 0)
		el_fatal("cert_file %s or ca_file %s is not readable by user %s: %s", cf_cert,
			 cf_ca, pv->name, strerror(errno));
	el_info("running as user %s%s%s", pv->name, pv->has_extra ? ", group " : "",
		pv->has_extra ? cf_group : "");
}

/* col_usage - print usage and exit */
static void col_usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: else-collector [-c CONFIG] [-o key=value]... [--print-config]\n"
		"                      [--check-config] [--status]\n");
	exit(code);
}

int main(int argc, char **argv)
{
	char err[512], spool_dir[600], status[600], host[256];
	col_src_conf srcs[COL_MAX_SOURCES];
	el_priv pv;
	bool as_user = false;
	col_daemon_conf dc;
	col_daemon *d = NULL;
	el_conf_cli cli;
	int rc;

	el_log_set_prog("else-collector");
	el_conf_cli_parse(&cli, argc, argv, "/etc/else/else-collector.conf", NULL, col_usage);
	el_conf_cli_load(&cli, col_conf, COL_NCONF);
	if (cf_status_file[0])
		snprintf(status, sizeof(status), "%s", cf_status_file);
	else
		snprintf(status, sizeof(status), "%s/status.json", cf_state_dir);
	if (cli.mode == 's')
		return el_status_print("else-collector", status, 3 * cf_status_ms / 1000 + 5);

	/* Check everything before touching anything. */
	if (cf_sources.n == 0 &&
	    el_conf_set(col_conf, COL_NCONF, "source=file:/var/log/mail.log", err, sizeof(err)) < 0)
		el_fatal("source: %s", err); /* no source given: the documented default */
	for (size_t i = 0; i < cf_sources.n; i++) {
		if (col_parse_source(cf_sources.v[i], &srcs[i]) < 0)
			el_fatal(
				"source %s: expected file:/PATH, msgtrk:/DIR, syslog:ADDR or stdin "
				"(at most 200 bytes)",
				cf_sources.v[i]);
		for (size_t k = 0; k < i; k++)
			if (strcmp(cf_sources.v[i], cf_sources.v[k]) == 0)
				el_fatal("source %s is configured twice", cf_sources.v[i]);
	}
	if (strncmp(cf_backend, "tls+tcp://", 10) != 0)
		el_fatal("backend: expected tls+tcp://HOST:PORT, got '%s'", cf_backend);
	if (cf_segment > cf_spool_max / 8)
		cf_segment = cf_spool_max / 8;
	if (cf_user[0]) {
		rc = el_priv_lookup(&pv, cf_user, cf_group);
		if (rc == -ESRCH)
			el_fatal("group %s: no such group", cf_group);
		if (rc != 0)
			el_fatal("user %s: no such user", cf_user);
		as_user = true;
	}
	if (access(cf_ca, R_OK) < 0)
		el_fatal("ca_file %s: %s", cf_ca, strerror(errno));
	if (access(cf_cert, R_OK) < 0)
		el_fatal("cert_file %s: %s", cf_cert, strerror(errno));
	if (cli.mode == 'k') {
		printf("else-collector: configuration OK (%zu sources, backend %s)\n", cf_sources.n,
		       cf_backend);
		return 0;
	}

	col_open_log();
	if (mkdir(cf_state_dir, 0750) < 0 && errno != EEXIST)
		el_fatal("state_dir %s: %s", cf_state_dir, strerror(errno));
	snprintf(spool_dir, sizeof(spool_dir), "%s/spool", cf_state_dir);
	if (mkdir(spool_dir, 0750) < 0 && errno != EEXIST)
		el_fatal("%s: %s", spool_dir, strerror(errno));
	if (geteuid() == 0 && as_user)
		col_chown_tree(spool_dir, pv.uid, pv.gid);
	else if (geteuid() == 0)
		el_warn("running as root: set `user` (and `group`) to drop privileges");

	/* Signals are taken by the main thread only (sigtimedwait below). */
	sigset_t sigs;
	el_priv_signals(&sigs);

	if (cf_host[0])
		snprintf(host, sizeof(host), "%s", cf_host);
	else if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	memset(&dc, 0, sizeof(dc));
	dc.src = srcs;
	dc.src_spec = (const char *const *)cf_sources.v;
	dc.nsrc = cf_sources.n;
	dc.spool.dir = spool_dir;
	dc.spool.max_bytes = (uint64_t)cf_spool_max;
	dc.spool.segment_bytes = (uint64_t)cf_segment;
	dc.spool.fsync_ms = (int)cf_fsync_ms;
	dc.ship.url = cf_backend;
	dc.ship.ca_file = cf_ca;
	dc.ship.cert_key_file = cf_cert;
	dc.ship.server_name = cf_server_name[0] ? cf_server_name : NULL;
	dc.ship.max_frame = (size_t)(cf_batch_bytes + cf_max_line + cf_batch_lines * 32 + 65536);
	dc.ship.reconnect_max_ms = (int)(cf_reconnect_max * 1000);
	dc.ship.software = "else-collector 0.1";
	dc.batch_lines = (size_t)cf_batch_lines;
	dc.batch_bytes = (size_t)cf_batch_bytes;
	dc.batch_ms = (int)cf_batch_ms;
	dc.send_timeout_ms = (int)(cf_send_timeout * 1000);
	dc.backoff_max_ms = (int)(cf_reconnect_max * 1000);
	dc.status_file = status;
	dc.host = host;
	if ((rc = col_daemon_open(&d, &dc)) < 0)
		el_fatal("cannot start: %s", strerror(-rc));
	if (geteuid() == 0 && as_user)
		col_drop_privileges(&pv);
	if ((rc = col_daemon_start(d)) < 0)
		el_fatal("cannot start: %s", strerror(-rc));
	el_info("following %zu sources, shipping to %s, spool %s (max %lld bytes, fsync %s)",
		cf_sources.n, cf_backend, spool_dir, (long long)cf_spool_max,
		cf_fsync_ms ? "periodic" : "every append");

	for (;;) {
		struct timespec ts = { cf_status_ms / 1000,
				       (long)(cf_status_ms % 1000) * 1000000L };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP) {
			col_open_log();
			el_info("SIGHUP: log reopened");
		}
		col_daemon_status(d);
		if (col_daemon_done(d)) {
			el_info("every source finished and every line acknowledged");
			break;
		}
	}
	el_info("stopping");
	col_daemon_close(d);
	el_conf_free(col_conf, COL_NCONF);
	el_info("stopped");
	return 0;
}
