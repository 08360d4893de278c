/*
 * col_src_fid - which file a position is about, and the position bytes:
 * device + inode + a hash of the first COL_FP_MAX bytes, so that a new file
 * that got a freed inode is not taken for the old one.  Shared by the file
 * and msgtrk sources; also their O_NOFOLLOW open.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "col_src_int.h"

#define COL_FPOS_LEN 36

/* col_fnv - FNV-1a 64 (the fingerprint hash) */
uint64_t col_fnv(const unsigned char *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* col_put64 - little-endian */
static void col_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* col_get64 - little-endian */
static uint64_t col_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* col_fpos_encode - 'F' 1 flags fplen dev ino off fphash */
size_t col_fpos_encode(const col_fpos *p, unsigned char out[COL_SRC_POS_MAX])
{
	out[0] = 'F';
	out[1] = 1;
	out[2] = (unsigned char)((p->skipping ? 1 : 0) | (p->gz ? 2 : 0));
	out[3] = p->id.fplen;
	col_put64(out + 4, p->id.dev);
	col_put64(out + 12, p->id.ino);
	col_put64(out + 20, p->off);
	col_put64(out + 28, p->id.fphash);
	return COL_FPOS_LEN;
}

/* col_fpos_decode - see col_src_int.h */
int col_fpos_decode(const void *buf, size_t len, col_fpos *p)
{
	const unsigned char *b = buf;

	memset(p, 0, sizeof(*p));
	if (len != COL_FPOS_LEN || b[0] != 'F' || b[1] != 1 || (b[2] & ~3u) || b[3] > COL_FP_MAX)
		return -EINVAL;
	p->skipping = b[2] & 1;
	p->gz = (b[2] & 2) != 0;
	p->id.fplen = b[3];
	p->id.dev = col_get64(b + 4);
	p->id.ino = col_get64(b + 12);
	p->off = col_get64(b + 20);
	p->id.fphash = col_get64(b + 28);
	return 0;
}

/* col_fp_read - hash of the first n (<= COL_FP_MAX) bytes; returns bytes hashed */
static size_t col_fp_read(int fd, size_t n, uint64_t *hash)
{
	unsigned char b[COL_FP_MAX];
	ssize_t r;

	do {
		r = pread(fd, b, n, 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		r = 0;
	*hash = col_fnv(b, (size_t)r);
	return (size_t)r;
}

/* col_fid_get - see col_src_int.h */
int col_fid_get(int fd, col_fid *id)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	id->dev = (uint64_t)st.st_dev;
	id->ino = (uint64_t)st.st_ino;
	id->fplen = (uint8_t)col_fp_read(fd, COL_FP_MAX, &id->fphash);
	return 0;
}

/* col_fid_refresh - see col_src_int.h */
void col_fid_refresh(int fd, col_fid *id, uint64_t size_seen)
{
	if (id->fplen < COL_FP_MAX && size_seen > id->fplen)
		id->fplen = (uint8_t)col_fp_read(fd, COL_FP_MAX, &id->fphash);
}

/* col_fid_match - see col_src_int.h */
bool col_fid_match(int fd, const col_fid *id)
{
	struct stat st;
	uint64_t h;

	if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev != id->dev || (uint64_t)st.st_ino != id->ino)
		return false;
	return col_fp_read(fd, id->fplen, &h) == id->fplen && h == id->fphash;
}

/* col_file_openat - see col_src_int.h */
int col_file_openat(col_src *s, int dirfd, const char *name)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int err = -errno;
		if (err == -ELOOP)
			COL_STAT_ADD(s, symlinks_refused, 1);
		return err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	COL_STAT_ADD(s, files_opened, 1);
	return fd;
}

/* col_resume_find - see col_src_int.h */
const col_src_resume *col_resume_find(const col_src_resume *r, size_t n, const char *stream)
{
	size_t i;

	for (i = 0; r && i < n; i++)
		if (r[i].stream && strcmp(r[i].stream, stream) == 0)
			return &r[i];
	return NULL;
}
