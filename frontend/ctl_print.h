/*
 * ctl_print - elsectl's tables: an API answer, decoded into its reply
 * message, printed for a person at a terminal (docs/elsectl.md).
 *
 * OWNERSHIP: nothing is kept; the message stays the caller's.
 * ERRORS: ctl_print_reply returns -ENOTSUP for a reply it has no table for
 * (the caller prints the JSON instead).
 * THREADS: no shared state.
 * SECURITY: every string of an answer comes from mail logs or from users,
 * so a forged log line may carry terminal escape sequences: control
 * characters, and those that reorder text, are printed as \xNN in tables
 * and as \uXXXX in JSON, never as they are.  The terminal is taken to be a
 * UTF-8 one (on an 8-bit terminal, bytes of other characters act as C1).
 */
#ifndef CTL_PRINT_H
#define CTL_PRINT_H

#include <stdio.h>

#include "query.pb-c.h"

/* ctl_print_reply - print m (a reply message of proto/query.proto) to f */
int ctl_print_reply(FILE *f, const ProtobufCMessage *m);
/* ctl_print_text - s (NUL-terminated UTF-8) as a table cell prints it, unpadded */
void ctl_print_text(FILE *f, const char *s);
/*
 * ctl_print_json - json[0..len) as it is, but for the characters a table
 * escapes, written as JSON's \uXXXX: the same JSON for a parser, nothing
 * for a terminal to act on.  A NUL byte becomes \u0000.
 */
void ctl_print_json(FILE *f, const char *json, size_t len);

#endif
