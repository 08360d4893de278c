/*
 * el_status - a daemon's status file.  See el_status.h.
 */
#include "el_status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* el_status_write - see el_status.h */
int el_status_write(const char *path, const void *p, size_t n)
{
	char tmp[4096];
	ssize_t w;
	int fd, rv = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -errno;
	if ((w = write(fd, p, n)) != (ssize_t)n)
		rv = w < 0 ? -errno : -ENOSPC; /* a short write: the disk is full */
	if (close(fd) != 0 && rv == 0)
		rv = -errno;
	if (rv == 0 && rename(tmp, path) != 0)
		rv = -errno;
	if (rv != 0)
		unlink(tmp);
	return rv;
}

/* el_status_print - see el_status.h */
int el_status_print(const char *prog, const char *path, int64_t max_age_s)
{
	char buf[65536];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "%s: no status at %s: is it running?\n", prog, path);
		return 1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (fstat(fd, &st) != 0)
		st.st_mtime = 0;
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	fputs(buf, stdout);
	if (time(NULL) - st.st_mtime > max_age_s) {
		fprintf(stderr, "%s: %s is %lld s old: not running\n", prog, path,
			(long long)(time(NULL) - st.st_mtime));
		return 1;
	}
	return 0;
}
