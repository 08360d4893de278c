/*
 * el_log - diagnostics for ELSE programs.
 *
 * Three severities (STYLE.md): el_panic for a broken internal invariant
 * (aborts), el_fatal for bad configuration or environment at start (exits
 * non-zero), el_warn for bad input or a transient failure (logs; the caller
 * returns an error).  Nothing a peer or a log line controls may reach
 * el_panic.
 *
 * Messages go to stderr as one line each: "prog: level: text".  Untrusted
 * text must be passed through el_log_printable() first.
 *
 * THREADS: safe; each message is one write(2).
 */
#ifndef EL_LOG_H
#define EL_LOG_H

#include <stddef.h>

#include "el_buf.h"

void el_log_set_prog(const char *prog);

__attribute__((format(printf, 1, 2))) void el_warn(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void el_info(const char *fmt, ...);
__attribute__((format(printf, 1, 2), noreturn)) void el_fatal(const char *fmt, ...);
__attribute__((format(printf, 1, 2), noreturn)) void el_panic(const char *fmt, ...);

/*
 * el_log_printable - copy at most max bytes of p into out as printable ASCII
 * (others become \xNN), NUL-terminated.  out must hold 4 * max + 1 bytes.
 */
void el_log_printable(char *out, const char *p, size_t len, size_t max);

#endif
