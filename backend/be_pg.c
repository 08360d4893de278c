/*
 * be_pg - the embedded PostgreSQL cluster.  See be_pg.h.
 *
 * PostgreSQL's own tools do the work (initdb, pg_ctl): they know how to wait
 * for readiness and how to get past a stale postmaster.pid.  We only choose
 * the user they run as, the settings, and retry a start whose predecessor's
 * processes are still on their way out after a kill -9.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "be_db.h"
#include "be_pg.h"
#include "el_log.h"

#define BE_PG_DBNAME "else"
#define BE_PG_START_TRIES 10

/* be_pg_user - who PostgreSQL's processes run as */
typedef struct be_pg_user {
	bool switch_to; /* we are root: become uid/gid in the child */
	uid_t uid;
	gid_t gid;
	gid_t groups[64];
	int ngroups;
	char name[64];
} be_pg_user;

/* be_pg_paths - the files under STATE_DIR/pg */
typedef struct be_pg_paths {
	char pg[PATH_MAX], data[PATH_MAX], run[PATH_MAX], log[PATH_MAX], ctl_log[PATH_MAX];
	char version[PATH_MAX], conf[PATH_MAX], else_conf[PATH_MAX];
} be_pg_paths;

/* be_pg_bindir - where initdb and pg_ctl are */
static const char *be_pg_bindir(void)
{
	const char *d = getenv("ELSE_PG_BINDIR");
	return d && d[0] ? d : BE_PG_BINDIR;
}

/* be_pg_paths_make - every path, or -ENAMETOOLONG */
static int be_pg_paths_make(be_pg_paths *p, const char *state_dir)
{
	struct sockaddr_un sun;
	size_t n;
	int r = 0;

	for (const char *s = state_dir; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return -EINVAL; /* would break else.conf and conninfo quoting */
	r |= snprintf(p->pg, sizeof(p->pg), "%s/pg", state_dir) >= (int)sizeof(p->pg);
	r |= snprintf(p->data, sizeof(p->data), "%s/data", p->pg) >= (int)sizeof(p->data);
	r |= snprintf(p->run, sizeof(p->run), "%s/run", p->pg) >= (int)sizeof(p->run);
	r |= snprintf(p->log, sizeof(p->log), "%s/postgresql.log", p->pg) >= (int)sizeof(p->log);
	r |= snprintf(p->ctl_log, sizeof(p->ctl_log), "%s/pg_ctl.log", p->pg) >=
	     (int)sizeof(p->ctl_log);
	r |= snprintf(p->version, sizeof(p->version), "%s/PG_VERSION", p->data) >=
	     (int)sizeof(p->version);
	r |= snprintf(p->conf, sizeof(p->conf), "%s/postgresql.conf", p->data) >=
	     (int)sizeof(p->conf);
	r |= snprintf(p->else_conf, sizeof(p->else_conf), "%s/else.conf", p->data) >=
	     (int)sizeof(p->else_conf);
	if (r)
		return -ENAMETOOLONG;
	n = strlen(p->run) + strlen("/.s.PGSQL.5432");
	if (n >= sizeof(sun.sun_path)) {
		el_warn("embedded PostgreSQL: socket path %s/.s.PGSQL.5432 is %zu bytes, over the "
			"unix socket limit of %zu: use a shorter state directory",
			p->run, n, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* be_pg_user_resolve - as root, run_as_user (default postgres); else ourselves */
static int be_pg_user_resolve(const char *run_as, be_pg_user *u)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	memset(u, 0, sizeof(*u));
	if (geteuid() != 0) {
		if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
			el_warn("embedded PostgreSQL: uid %u has no passwd entry",
				(unsigned)geteuid());
			return -ENOENT;
		}
		u->uid = geteuid();
		u->gid = getegid();
	} else {
		const char *name = run_as && run_as[0] ? run_as : "postgres";
		if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
			el_warn("embedded PostgreSQL: running as root, PostgreSQL must run as an "
				"unprivileged user, and user \"%s\" does not exist: create it or "
				"set "
				"another run_as_user",
				name);
			return -ENOENT;
		}
		if (pw.pw_uid == 0) {
			el_warn("embedded PostgreSQL: refusing to run PostgreSQL as \"%s\" (uid 0)",
				name);
			return -EPERM;
		}
		u->switch_to = true;
		u->uid = pw.pw_uid;
		u->gid = pw.pw_gid;
		u->ngroups = (int)(sizeof(u->groups) / sizeof(u->groups[0]));
		if (getgrouplist(name, pw.pw_gid, u->groups, &u->ngroups) < 0) {
			u->groups[0] = pw.pw_gid;
			u->ngroups = 1;
		}
	}
	if (strlen(pw.pw_name) >= sizeof(u->name))
		return -ENAMETOOLONG;
	memcpy(u->name, pw.pw_name, strlen(pw.pw_name) + 1);
	return 0;
}

/*
 * be_pg_child - in the forked child: stdio, descriptors, user.  Only
 * async-signal-safe calls from here on (the parent may have threads).
 */
static void be_pg_child(const be_pg_user *u, int logfd)
{
	int nul = open("/dev/null", O_RDONLY);

	if (nul >= 0 && nul != 0)
		dup2(nul, 0);
	if (logfd >= 0) {
		dup2(logfd, 1);
		dup2(logfd, 2);
	}
	close_range(3, ~0U, 0);
	if (u->switch_to && (setgroups((size_t)u->ngroups, u->groups) != 0 || setgid(u->gid) != 0 ||
			     setuid(u->uid) != 0 || setuid(0) == 0))
		_exit(126);
	if (chdir("/") != 0)
		_exit(126);
}

/* be_pg_wait - exit status of child pid, or -errno */
static int be_pg_wait(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* be_pg_run - run a PostgreSQL tool as u, output appended to logfd */
static int be_pg_run(const be_pg_user *u, const char *const argv[], int logfd)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC", NULL };
	pid_t pid;

	if (logfd >= 0) {
		char line[512];
		int n = snprintf(line, sizeof(line), "--- %s %s\n", argv[0],
				 argv[1] ? argv[1] : "");
		if (n > (int)sizeof(line) - 1)
			n = (int)sizeof(line) - 1;
		if (n > 0 && write(logfd, line, (size_t)n) < 0)
			el_warn("embedded PostgreSQL: writing the tool log: %s", strerror(errno));
	}
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		be_pg_child(u, logfd);
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	return be_pg_wait(pid);
}

/* be_pg_user_can_enter - can u read, write and enter dir (as u) */
static bool be_pg_user_can_enter(const be_pg_user *u, const char *dir)
{
	pid_t pid;

	if (!u->switch_to)
		return access(dir, R_OK | W_OK | X_OK) == 0;
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		be_pg_child(u, -1);
		_exit(access(dir, R_OK | W_OK | X_OK) == 0 ? 0 : 1);
	}
	return be_pg_wait(pid) == 0;
}

/* be_pg_tail - log the end of a tool's output after a failure */
static void be_pg_tail(const char *what, const char *path)
{
	char buf[600], out[4 * 600 + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n = 0;

	if (fd >= 0) {
		end = lseek(fd, 0, SEEK_END);
		if (end > (off_t)sizeof(buf))
			lseek(fd, end - (off_t)sizeof(buf), SEEK_SET);
		else
			lseek(fd, 0, SEEK_SET);
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	el_log_printable(out, buf, n > 0 ? (size_t)n : 0, sizeof(buf));
	el_warn("embedded PostgreSQL: %s failed; end of %s: %s", what, path, out);
}

/* be_pg_mkdir - a directory owned by u with mode, made if missing */
static int be_pg_mkdir(const be_pg_user *u, const char *dir, mode_t mode)
{
	struct stat st;

	if (mkdir(dir, mode) != 0 && errno != EEXIST) {
		el_warn("embedded PostgreSQL: mkdir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != u->uid) {
		if (!u->switch_to || chown(dir, u->uid, u->gid) != 0) {
			el_warn("embedded PostgreSQL: %s belongs to uid %u, not to %s", dir,
				(unsigned)st.st_uid, u->name);
			return -EPERM;
		}
	}
	return chmod(dir, mode) == 0 ? 0 : -errno;
}

/* be_pg_quote - append value quoted for postgresql.conf or conninfo ('\'' and '\\') */
static void be_pg_quote(el_buf *b, const char *v)
{
	el_buf_addc(b, '\'');
	for (; *v; v++) {
		if (*v == '\'' || *v == '\\')
			el_buf_addc(b, '\\');
		el_buf_addc(b, *v);
	}
	el_buf_addc(b, '\'');
}

/* be_pg_write_conf - data/else.conf, and the include line in postgresql.conf */
static int be_pg_write_conf(const be_pg_paths *p, const be_pg_user *u)
{
	static const char include[] = "\n# ELSE: settings of the embedded cluster\n"
				      "include_if_exists = 'else.conf'\n";
	el_buf b, old;
	int fd, rc = 0;

	el_buf_init(&b);
	el_buf_addlit(&b,
		      "# Written by ELSE (backend/be_pg.c) at every start: edits here are lost.\n"
		      "# Override with ALTER SYSTEM (postgresql.auto.conf is read after this).\n"
		      "listen_addresses = ''\n"
		      "port = 5432\n"
		      "unix_socket_permissions = 0700\n"
		      "max_connections = 50\n"
		      "shared_buffers = 256MB\n"
		      "work_mem = 16MB\n"
		      "maintenance_work_mem = 256MB\n"
		      "max_locks_per_transaction = 256\n"
		      "fsync = on\n"
		      "synchronous_commit = on\n"
		      "full_page_writes = on\n"
		      "wal_compression = lz4\n"
		      "max_wal_size = 4GB\n"
		      "min_wal_size = 256MB\n"
		      "checkpoint_timeout = 15min\n"
		      "checkpoint_completion_target = 0.9\n"
		      "jit = off\n"
		      "timezone = 'UTC'\n"
		      "log_timezone = 'UTC'\n"
		      "log_line_prefix = '%m [%p] %q%u@%d '\n"
		      "log_checkpoints = on\n"
		      "log_lock_waits = on\n"
		      "log_min_duration_statement = 2000\n"
		      "unix_socket_directories = ");
	be_pg_quote(&b, p->run);
	el_buf_addc(&b, '\n');
	fd = open(p->else_conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b.p, b.len) != (ssize_t)b.len || fsync(fd) != 0 ||
	    (u->switch_to && fchown(fd, u->uid, u->gid) != 0))
		rc = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	el_buf_fini(&b);
	if (rc) {
		el_warn("embedded PostgreSQL: writing %s: %s", p->else_conf, strerror(-rc));
		return rc;
	}
	/* Append the include line once. */
	el_buf_init(&old);
	fd = open(p->conf, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		el_warn("embedded PostgreSQL: %s: %s", p->conf, strerror(errno));
		el_buf_fini(&old);
		return -errno;
	}
	for (;;) {
		char chunk[8192];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		el_buf_add(&old, chunk, (size_t)n);
	}
	if (old.len == 0 || memmem(old.p, old.len, include + 1, sizeof(include) - 2) == NULL) {
		if (lseek(fd, 0, SEEK_END) < 0 ||
		    write(fd, include, sizeof(include) - 1) != (ssize_t)(sizeof(include) - 1))
			rc = -EIO;
	}
	close(fd);
	el_buf_fini(&old);
	return rc;
}

/* be_pg_conninfo - host=RUN port=5432 dbname=DB user=NAME into out */
static int be_pg_conninfo(const be_pg_paths *p, const char *db, const char *user, char *out,
			  size_t cap)
{
	el_buf b;
	int rc = 0;

	el_buf_init(&b);
	el_buf_addlit(&b, "host=");
	be_pg_quote(&b, p->run);
	el_buf_addlit(&b, " port=5432 dbname=");
	el_buf_add(&b, db, strlen(db));
	el_buf_addlit(&b, " user=");
	be_pg_quote(&b, user);
	if (b.len + 1 > cap)
		rc = -ENOSPC;
	else {
		memcpy(out, b.p, b.len);
		out[b.len] = '\0';
	}
	el_buf_fini(&b);
	return rc;
}

/* be_pg_sleep_ms - nanosleep that restarts on signals */
static void be_pg_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L }, rem;

	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
}

/* be_pg_start - see be_pg.h */
int be_pg_start(const char *state_dir, const char *run_as_user, char *conninfo_out, size_t cap)
{
	return be_pg_start_ex(state_dir, run_as_user, conninfo_out, cap, NULL);
}

/* be_pg_start_ex - see be_pg.h */
int be_pg_start_ex(const char *state_dir, const char *run_as_user, char *conninfo_out, size_t cap,
		   bool *started)
{
	be_pg_paths p;
	be_pg_user u;
	char admin[PATH_MAX + 128], initdb[PATH_MAX], pg_ctl[PATH_MAX], userarg[80];
	int logfd = -1, rc, tries;

	if (state_dir == NULL || state_dir[0] == '\0' || conninfo_out == NULL || cap == 0)
		return -EINVAL;
	rc = be_pg_paths_make(&p, state_dir);
	if (rc == 0)
		rc = be_pg_user_resolve(run_as_user, &u);
	if (rc)
		return rc;
	snprintf(initdb, sizeof(initdb), "%s/initdb", be_pg_bindir());
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", be_pg_bindir());
	if (access(initdb, X_OK) != 0 || access(pg_ctl, X_OK) != 0) {
		el_warn("embedded PostgreSQL: no %s or %s (install postgresql-15, or set "
			"ELSE_PG_BINDIR)",
			initdb, pg_ctl);
		return -ENOENT;
	}
	if (mkdir(state_dir, 0711) != 0 && errno != EEXIST) {
		el_warn("embedded PostgreSQL: mkdir %s: %s", state_dir, strerror(errno));
		return -errno;
	}
	rc = be_pg_mkdir(&u, p.pg, 0700);
	if (rc)
		return rc;
	if (!be_pg_user_can_enter(&u, p.pg)) {
		el_warn("embedded PostgreSQL: user %s cannot reach %s: every directory above it "
			"needs o+x (chmod 711 or 755)",
			u.name, p.pg);
		return -EPERM;
	}
	rc = be_pg_mkdir(&u, p.run, 0700);
	if (rc)
		return rc;
	logfd = open(p.ctl_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		el_warn("embedded PostgreSQL: %s: %s", p.ctl_log, strerror(errno));
		return -errno;
	}

	if (access(p.version, F_OK) != 0) {
		snprintf(userarg, sizeof(userarg), "--username=%s", u.name);
		const char *argv[] = { initdb,
				       "-D",
				       p.data,
				       userarg,
				       "-E",
				       "UTF8",
				       "--locale=C",
				       "--auth-local=trust",
				       "--auth-host=reject",
				       NULL };
		el_info("embedded PostgreSQL: initialising %s as %s", p.data, u.name);
		rc = be_pg_run(&u, argv, logfd);
		if (rc != 0) {
			be_pg_tail("initdb", p.ctl_log);
			rc = rc < 0 ? rc : -EIO;
			goto out;
		}
	}
	rc = be_pg_write_conf(&p, &u);
	if (rc)
		goto out;
	rc = be_pg_conninfo(&p, "postgres", u.name, admin, sizeof(admin));
	if (rc)
		goto out;

	/*
	 * Already up (a backend that died left it running)?  Else start it.  A
	 * start right after a kill -9 can fail while the old server's children
	 * still hold its shared memory: they exit on their own within moments.
	 */
	if (started)
		*started = false;
	if (be_db_ping(admin) != 0) {
		const char *argv[] = { pg_ctl, "start", "-D", p.data, "-l", p.log,
				       "-w",   "-t",    "60", "-s",   NULL };
		for (tries = 0;; tries++) {
			rc = be_pg_run(&u, argv, logfd);
			if (rc == 0 || tries + 1 >= BE_PG_START_TRIES)
				break;
			be_pg_sleep_ms(500L * (tries + 1));
			if (be_db_ping(admin) == 0) {
				rc = 0;
				break;
			}
		}
		if (rc == 0 && started)
			*started = true;
		if (rc != 0) {
			be_pg_tail("pg_ctl start", p.ctl_log);
			be_pg_tail("server start", p.log);
			rc = rc < 0 ? rc : -EIO;
			goto out;
		}
	}
	rc = be_db_bootstrap(admin, BE_PG_DBNAME);
	if (rc == 0)
		rc = be_pg_conninfo(&p, BE_PG_DBNAME, u.name, conninfo_out, cap);
out:
	close(logfd);
	return rc;
}

/* be_pg_stop - see be_pg.h; stopping a cluster that is not running is fine */
int be_pg_stop(const char *state_dir)
{
	struct passwd pw, *res = NULL;
	char buf[4096], pg_ctl[PATH_MAX];
	be_pg_paths p;
	be_pg_user u;
	struct stat st;
	int logfd, rc;

	if (state_dir == NULL || state_dir[0] == '\0')
		return -EINVAL;
	rc = be_pg_paths_make(&p, state_dir);
	if (rc)
		return rc;
	if (stat(p.data, &st) != 0 || access(p.version, F_OK) != 0)
		return -ENOENT;
	/* Run pg_ctl as the cluster's owner. */
	memset(&u, 0, sizeof(u));
	u.uid = st.st_uid;
	u.gid = st.st_gid;
	if (geteuid() == 0) {
		if (st.st_uid == 0)
			return -EPERM;
		u.switch_to = true;
		if (getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &res) == 0 && res) {
			u.gid = pw.pw_gid;
			u.ngroups = (int)(sizeof(u.groups) / sizeof(u.groups[0]));
			if (getgrouplist(pw.pw_name, pw.pw_gid, u.groups, &u.ngroups) < 0)
				u.ngroups = 0;
		}
		if (u.ngroups == 0) {
			u.groups[0] = u.gid;
			u.ngroups = 1;
		}
	} else if (st.st_uid != geteuid()) {
		return -EPERM;
	}
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", be_pg_bindir());
	logfd = open(p.ctl_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	const char *status[] = { pg_ctl, "status", "-D", p.data, NULL };
	rc = be_pg_run(&u, status, logfd);
	if (rc == 3 || rc == 4) { /* not running / no data directory */
		rc = 0;
		goto out;
	}
	const char *argv[] = { pg_ctl, "stop", "-D", p.data, "-m", "fast",
			       "-w",   "-t",   "60", "-s",   NULL };
	rc = be_pg_run(&u, argv, logfd);
	if (rc != 0) {
		be_pg_tail("pg_ctl stop", p.ctl_log);
		rc = rc < 0 ? rc : -EIO;
	}
out:
	if (logfd >= 0)
		close(logfd);
	return rc;
}

/* be_pg_conninfo_role - see be_pg.h */
int be_pg_conninfo_role(const char *conninfo, const char *role, char *out, size_t cap)
{
	size_t n;

	if (conninfo == NULL || role == NULL || out == NULL || role[0] == '\0')
		return -EINVAL;
	for (const char *s = role; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return -EINVAL;
	n = (size_t)snprintf(out, cap, "%s user=%s", conninfo, role);
	return n < cap ? 0 : -ENOSPC;
}
