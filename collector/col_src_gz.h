/*
 * col_src_gz - read a gzip-compressed rotated log (path.2.gz) as plain bytes.
 * The only module that includes zlib.
 *
 * OWNERSHIP: col_gz_open() takes the fd; col_gz_close() closes it.
 * ERRORS: col_gz_read() returns bytes, 0 at the end of the data, -EIO for a
 * corrupt or truncated stream (the caller counts it and moves on).
 * THREADS: one reader per object.
 * SECURITY: the compressed bytes are untrusted: output is bounded by the
 * caller's buffer, and concatenated gzip members are read one after another.
 */
#ifndef COL_SRC_GZ_H
#define COL_SRC_GZ_H

#include <stddef.h>
#include <sys/types.h>

typedef struct col_gz col_gz;

/* col_gz_open - decompress what fd holds from its current offset */
int col_gz_open(col_gz **out, int fd);
/* col_gz_read - up to len decompressed bytes */
ssize_t col_gz_read(col_gz *g, void *buf, size_t len);
/* col_gz_close - free and close the fd; NULL is a no-op */
void col_gz_close(col_gz *g);

#endif
