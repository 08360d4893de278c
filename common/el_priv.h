/*
 * el_priv - a daemon started as root becomes its service user; the signals
 * its main thread waits for.
 *
 * Every ELSE program binds or opens what needs root first, then drops to a
 * user: its primary group plus at most one named supplementary group (the
 * collector's adm, which reads /var/log/mail.log), and no other group the
 * user may have in /etc/group.  After the switch, regaining root must fail.
 *
 * OWNERSHIP: plain values.
 * ERRORS: el_priv_lookup(): -ENOENT no such user, -ESRCH no such group,
 * -ENAMETOOLONG.  el_priv_drop(): -errno of setgroups/setgid/setuid, -EPERM
 * when root could be regained.
 * THREADS: call before starting threads (set*id changes the calling thread
 * in the kernel; glibc broadcasts, but nothing should race it).
 */
#ifndef EL_PRIV_H
#define EL_PRIV_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct el_priv {
	char name[64]; /* user name, for messages */
	uid_t uid;
	gid_t gid;   /* primary group */
	gid_t extra; /* the supplementary group, when has_extra */
	bool has_extra;
} el_priv;

/* el_priv_lookup - resolve user (and group, NULL or "" for none) */
int el_priv_lookup(el_priv *p, const char *user, const char *group);

/* el_priv_drop - become p's user with its groups; see ERRORS */
int el_priv_drop(const el_priv *p);

/*
 * el_priv_signals - SIGTERM, SIGINT and SIGHUP into *set, blocked in the
 * calling thread and so in every thread it starts afterwards: the main
 * thread takes them with sigwait/sigtimedwait(set), and no signal is lost
 * to another thread or to a race with pause().  SIGPIPE is ignored.  Call
 * before starting threads.
 */
void el_priv_signals(sigset_t *set);

#endif
