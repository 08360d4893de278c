/* el_priv - a daemon started as root becomes its service user (el_priv.h). */
#include "el_priv.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

/* el_priv_lookup - see el_priv.h */
int el_priv_lookup(el_priv *p, const char *user, const char *group)
{
	struct passwd *pw;
	struct group *gr;

	memset(p, 0, sizeof(*p));
	if (user == NULL || strlen(user) >= sizeof(p->name))
		return -ENAMETOOLONG;
	if ((pw = getpwnam(user)) == NULL)
		return -ENOENT;
	memcpy(p->name, user, strlen(user) + 1);
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	if (group && group[0]) {
		if ((gr = getgrnam(group)) == NULL)
			return -ESRCH;
		p->extra = gr->gr_gid;
		p->has_extra = true;
	}
	return 0;
}

/* el_priv_drop - see el_priv.h */
int el_priv_drop(const el_priv *p)
{
	gid_t groups[2] = { p->gid, p->extra };

	if (setgroups(p->has_extra ? 2 : 1, groups) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0)
		return -errno;
	if (setuid(0) == 0)
		return -EPERM;
	return 0;
}

/* el_priv_signals - see el_priv.h */
void el_priv_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}
