/*
 * else-frontend - the ELSE web UI and JSON API: a stateless HTTP(S) server
 * that answers every request by calling the backend's query service.
 *
 * usage: else-frontend [-c CONFIG] [-o key=value]... [--print-config]
 *                      [--check-config] [--status]
 *
 * Several frontends can run behind a load balancer with no shared state:
 * sessions live in the backend, the cookie carries only the token.
 * SIGTERM/SIGINT stop cleanly (API calls in progress are answered first);
 * SIGHUP is logged and ignored.  Every status_interval the counters go to
 * status_file (bad replies of the backends among them); --status prints it.
 * docs/frontend.md describes installation and operation.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "el_buf.h"
#include "el_conf.h"
#include "el_json.h"
#include "el_log.h"
#include "el_priv.h"
#include "el_status.h"
#include "el_time.h"
#include "fe_api.h"
#include "fe_http.h"
#include "fe_rpc.h"

/* Settings (deploy/else-frontend.conf documents them). */
static char *cf_listen, *cf_backend, *cf_server_name, *cf_ca, *cf_cert, *cf_https_cert,
	*cf_https_key, *cf_proxy, *cf_user, *cf_status_file;
static int64_t cf_max_conn, cf_per_ip, cf_timeout, cf_memory, cf_threads, cf_workers, cf_body,
	cf_rpc_timeout, cf_inflight, cf_max_frame, cf_queue, cf_max_str, cf_max_json, cf_status_s;

static const el_conf_item fe_conf[] = {
	{ "listen", EL_CONF_STR, "0.0.0.0:8443", &cf_listen, 1, 200,
	  "address:port of the web server ([v6]:port for IPv6)" },
	{ "backend", EL_CONF_STR, "tls+tcp://localhost:7702", &cf_backend, 1, 4000,
	  "query service URL(s) of the backend(s), comma-separated (failover and spreading)" },
	{ "backend_server_name", EL_CONF_STR, "\"\"", &cf_server_name, 0, 253,
	  "name in the backends' certificates; empty: the host of each URL" },
	{ "ca_file", EL_CONF_STR, "/etc/else/ca.crt", &cf_ca, 1, 500,
	  "the ELSE CA certificate: backends' certificates must chain to it" },
	{ "cert_file", EL_CONF_STR, "/etc/else/frontend.pem", &cf_cert, 1, 500,
	  "this frontend's private key and client certificate (CN frontend-...), PEM" },
	{ "https_cert", EL_CONF_STR, "\"\"", &cf_https_cert, 0, 500,
	  "certificate chain (PEM) for HTTPS; empty: plain HTTP behind a trusted proxy" },
	{ "https_key", EL_CONF_STR, "\"\"", &cf_https_key, 0, 500,
	  "private key (PEM) of https_cert" },
	{ "trusted_proxy", EL_CONF_STR, "\"\"", &cf_proxy, 0, 64,
	  "IP address of the reverse proxy whose X-Forwarded-For is believed" },
	{ "user", EL_CONF_STR, "\"\"", &cf_user, 0, 64,
	  "started as root, run as this user once the port is bound and the HTTPS key read "
	  "(cert_file must stay readable by it: every backend handshake signs with it)" },
	{ "max_connections", EL_CONF_INT, "256", &cf_max_conn, 1, 65536, "HTTP connections" },
	{ "per_ip_connections", EL_CONF_INT, "64", &cf_per_ip, 1, 65536,
	  "HTTP connections from one address (the proxy's, behind a proxy)" },
	{ "connection_timeout", EL_CONF_DURATION, "30s", &cf_timeout, 1, 3600,
	  "idle HTTP connections are closed after this" },
	{ "connection_memory", EL_CONF_SIZE, "64K", &cf_memory, 8 << 10, 16 << 20,
	  "memory pool of one HTTP connection (headers)" },
	{ "threads", EL_CONF_INT, "0", &cf_threads, 0, 256,
	  "HTTP threads; 0 = one per core (more than the cores is cut to the cores)" },
	{ "workers", EL_CONF_INT, "16", &cf_workers, 1, 256,
	  "API calls handled at once (each waits for the backend)" },
	{ "queue", EL_CONF_INT, "1024", &cf_queue, 1, 65536,
	  "API calls waiting for a worker; past it: 503" },
	{ "max_body", EL_CONF_SIZE, "64K", &cf_body, 1024, 16 << 20, "largest API request body" },
	{ "max_string", EL_CONF_SIZE, "16K", &cf_max_str, 256, 1 << 20,
	  "largest string in an API request" },
	{ "rpc_timeout", EL_CONF_DURATION, "15s", &cf_rpc_timeout, 1, 600,
	  "a backend call gives up after this (failover included)" },
	{ "rpc_inflight", EL_CONF_INT, "8", &cf_inflight, 1, 64,
	  "requests in flight per backend (NNG contexts)" },
	{ "max_frame", EL_CONF_SIZE, "16M", &cf_max_frame, 64 << 10, 256 << 20,
	  "largest reply accepted from a backend" },
	/*
	 * A reply's JSON can be many times its frame (field names, zero values,
	 * escaping); 256 MiB keeps the buffer, with the one value the encoder
	 * may add past it, below el_buf's 2 GiB (el_pbjson_encode_max).
	 */
	{ "max_json", EL_CONF_SIZE, "64M", &cf_max_json, 64 << 10, 256 << 20,
	  "largest JSON answer made of a backend's reply; past it: 502" },
	{ "status_file", EL_CONF_STR, "/run/else-frontend/status.json", &cf_status_file, 0, 300,
	  "the counters (JSON), for --status; the directory must be writable by user; empty: "
	  "none" },
	{ "status_interval", EL_CONF_DURATION, "5s", &cf_status_s, 1, 3600,
	  "how often status_file is rewritten" },
};
#define FE_NCONF (sizeof(fe_conf) / sizeof(fe_conf[0]))

/* fe_usage - print usage and exit */
static void fe_usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: else-frontend [-c CONFIG] [-o key=value]... [--print-config] "
		"[--check-config] [--status]\n");
	exit(rc);
}

/* A counter of the status file. */
typedef struct fe_kv {
	const char *k;
	uint64_t v;
} fe_kv;

#define FE_NKV(a) (sizeof(a) / sizeof((a)[0]))

/* fe_status_members - append "k":v, for each of kv[0..n) */
static void fe_status_members(el_buf *b, const fe_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		el_json_key(b, kv[i].k, strlen(kv[i].k));
		el_buf_add_u64(b, kv[i].v);
		el_buf_addc(b, ',');
	}
}

/* fe_status_obj - append "name":{kv[0..n)}, (n > 0) */
static void fe_status_obj(el_buf *b, const char *name, const fe_kv *kv, size_t n)
{
	el_json_key(b, name, strlen(name));
	el_buf_addc(b, '{');
	fe_status_members(b, kv, n);
	b->p[b->len - 1] = '}'; /* the last member's comma */
	el_buf_addc(b, ',');
}

/*
 * fe_status_write - the counters into status_file (docs/frontend.md lists
 * them).  A failure is logged once, until a write succeeds again: the
 * directory may be missing when the frontend runs outside its unit.
 */
static void fe_status_write(fe_rpc *rpc, fe_api *api, fe_http *http, int64_t started_us,
			    size_t nbackends)
{
	static int failing;
	int64_t now = el_now_us(CLOCK_REALTIME);
	fe_rpc_stats rs;
	fe_api_stats as;
	fe_http_stats hs;
	el_buf b;
	int rv;

	if (cf_status_file[0] == '\0')
		return;
	fe_rpc_stats_get(rpc, &rs);
	fe_api_stats_get(api, &as);
	fe_http_stats_get(http, &hs);
	const fe_kv top[] = { { "time", (uint64_t)(now / 1000000) },
			      { "uptime_s", (uint64_t)((now - started_us) / 1000000) },
			      { "pid", (uint64_t)getpid() } };
	const fe_kv web[] = {
		{ "requests", hs.requests },         { "api_calls", hs.api_calls },
		{ "too_large", hs.too_large },       { "refused_origin", hs.refused_origin },
		{ "refused_type", hs.refused_type }, { "busy", hs.busy }
	};
	const fe_kv backend[] = { { "backends", nbackends },       { "connected", rs.connected },
				  { "calls", rs.calls },           { "failovers", rs.failovers },
				  { "handshakes", rs.handshakes }, { "reauth", rs.reauth } };
	/* What the backends answered that the frontend refused, or did not answer. */
	const fe_kv errors[] = {
		{ "timeouts", rs.timeouts },          { "undecodable", rs.undecodable },
		{ "unknown_status", rs.bad_status },  { "bad_handshake", rs.bad_handshake },
		{ "wrong_result", as.bad_result },    { "too_large_unpacked", rs.too_large },
		{ "too_large_json", as.too_large },   { "dropped_connections", rs.dropped },
		{ "stalled_connections", rs.stalled }
	};
	el_buf_init(&b);
	el_buf_addc(&b, '{');
	fe_status_members(&b, top, FE_NKV(top));
	fe_status_obj(&b, "http", web, FE_NKV(web));
	fe_status_obj(&b, "backend", backend, FE_NKV(backend));
	fe_status_obj(&b, "backend_errors", errors, FE_NKV(errors));
	b.p[b.len - 1] = '}';
	el_buf_addc(&b, '\n');
	rv = el_status_write(cf_status_file, b.p, b.len);
	if (rv != 0 && !failing)
		el_warn("status_file %s: %s (logged once until it works)", cf_status_file,
			strerror(-rv));
	failing = rv != 0;
	el_buf_fini(&b);
}

/* fe_drop_privileges - become cf_user */
static void fe_drop_privileges(void)
{
	el_priv pv;
	int rc;

	if (cf_user[0] == '\0' || geteuid() != 0)
		return;
	if ((rc = el_priv_lookup(&pv, cf_user, NULL)) != 0)
		el_fatal("user %s: %s", cf_user, strerror(-rc));
	if ((rc = el_priv_drop(&pv)) != 0)
		el_fatal("cannot become %s: %s", cf_user, strerror(-rc));
}

int main(int argc, char **argv)
{
	char *urls, *save = NULL, *u;
	el_conf_cli cli;
	int rv;
	fe_rpc_conf rc = { 0 };
	fe_http_conf hc = { 0 };
	fe_api_conf ac = { 0 };
	fe_rpc *rpc = NULL;
	fe_api *api = NULL;
	fe_http *http = NULL;
	int64_t started = el_now_us(CLOCK_REALTIME);
	sigset_t sigs;
	int sig;

	el_log_set_prog("else-frontend");
	el_conf_cli_parse(&cli, argc, argv, "/etc/else/else-frontend.conf", NULL, fe_usage);
	el_conf_cli_load(&cli, fe_conf, FE_NCONF);
	if (cli.mode == 's') {
		if (cf_status_file[0] == '\0')
			el_fatal("status_file is empty: this frontend keeps no status");
		return el_status_print("else-frontend", cf_status_file, 3 * cf_status_s + 5);
	}
	if ((cf_https_cert[0] != '\0') != (cf_https_key[0] != '\0'))
		el_fatal("https_cert and https_key go together");
	urls = strdup(cf_backend);
	if (urls == NULL)
		el_fatal("out of memory");
	for (u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
		if (rc.nurls == FE_RPC_MAX_BACKENDS)
			el_fatal("backend: more than %d URLs", FE_RPC_MAX_BACKENDS);
		rc.urls[rc.nurls++] = u;
	}
	if (rc.nurls == 0)
		el_fatal("backend: no URL");
	if (cli.mode == 'k') {
		printf("else-frontend: %s is valid\n", cli.path);
		return 0;
	}
	/* Signals for the main thread only (sigwait below), before NNG's and MHD's threads. */
	el_priv_signals(&sigs);
	rc.ca_file = cf_ca;
	rc.cert_key_file = cf_cert;
	rc.server_name = cf_server_name[0] ? cf_server_name : NULL;
	rc.max_frame = (size_t)cf_max_frame;
	rc.inflight = (unsigned)cf_inflight;
	rc.software = "else-frontend 0.1";
	if ((rv = fe_rpc_open(&rpc, &rc)) != 0)
		el_fatal("cannot set up the backend client: %s", strerror(-rv));
	ac.timeout_ms = (int)cf_rpc_timeout * 1000;
	ac.max_str = (size_t)cf_max_str;
	ac.max_json = (size_t)cf_max_json;
	if ((rv = fe_api_new(&api, rpc, &ac)) != 0)
		el_fatal("out of memory");
	hc.listen = cf_listen;
	hc.https_cert = cf_https_cert;
	hc.https_key = cf_https_key;
	hc.trusted_proxy = cf_proxy;
	hc.max_conn = (unsigned)cf_max_conn;
	hc.per_ip = (unsigned)cf_per_ip;
	hc.timeout_s = (unsigned)cf_timeout;
	hc.conn_memory = (size_t)cf_memory;
	hc.threads = (unsigned)cf_threads;
	hc.workers = (unsigned)cf_workers;
	hc.queue_max = (unsigned)cf_queue;
	hc.max_body = (size_t)cf_body;
	if ((rv = fe_http_start(&http, &hc, api)) != 0)
		el_fatal("cannot serve on %s: %s", cf_listen, strerror(-rv));
	fe_drop_privileges();
	el_info("serving %s on %s, backend %s", cf_https_cert[0] ? "HTTPS" : "HTTP", cf_listen,
		cf_backend);

	/*
	 * The main thread waits for signals and writes the status between them.
	 * A reload by habit must not stop the frontend: it has nothing to re-read.
	 */
	struct timespec every = { (time_t)cf_status_s, 0 };
	for (;;) {
		fe_status_write(rpc, api, http, started, rc.nurls);
		sig = sigtimedwait(&sigs, NULL, &every);
		if (sig == SIGHUP)
			el_info("SIGHUP ignored: settings take effect at a restart (no state is "
				"lost)");
		else if (sig >= 0 || (errno != EAGAIN && errno != EINTR))
			break; /* SIGTERM, SIGINT */
	}
	el_info("stopping");
	fe_http_stop(http);
	fe_api_free(api);
	fe_rpc_close(rpc);
	free(urls);
	el_conf_free(fe_conf, FE_NCONF);
	return 0;
}
