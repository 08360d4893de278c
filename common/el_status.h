/*
 * el_status - the file in which a running ELSE daemon shows its counters
 * (JSON, rewritten every few seconds) and its --status option, which prints
 * it: else-backend's metrics.json, else-collector's and else-frontend's
 * status.json.
 *
 * OWNERSHIP: the caller's strings and buffers, read during the call.
 * ERRORS: el_status_write: 0 or a negative errno (-ENOENT: the directory is
 * missing, -EACCES: not writable by this user).
 * THREADS: reentrant; one writer per path (its temporary file is path.tmp).
 */
#ifndef EL_STATUS_H
#define EL_STATUS_H

#include <stddef.h>
#include <stdint.h>

/* el_status_write - replace path with p[0..n) atomically (path.tmp, then rename) */
int el_status_write(const char *path, const void *p, size_t n);

/*
 * el_status_print - --status: print path to stdout; the exit code: 0, or 1
 * with a message on stderr naming prog when the file is missing or older
 * than max_age_s (the daemon is not running: it rewrites the file more often)
 */
int el_status_print(const char *prog, const char *path, int64_t max_age_s);

#endif
