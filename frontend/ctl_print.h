/*
 * ctl_print - elsectl's tables: an API answer, decoded into its reply
 * message, printed for a person at a terminal (docs/elsectl.md).
 *
 * OWNERSHIP: nothing is kept; the message stays the caller's.
 * ERRORS: ctl_print_reply returns -ENOTSUP for a reply it has no table for
 * (the caller prints the JSON instead).
 * THREADS: no shared state.
 * SECURITY: every string of an answer comes from mail logs or from users,
 * so a forged log line may carry terminal escape sequences: control bytes
 * are printed as \xNN, never as they are.
 */
#ifndef CTL_PRINT_H
#define CTL_PRINT_H

#include <stdio.h>

#include "query.pb-c.h"

/* ctl_print_reply - print m (a reply message of proto/query.proto) to f */
int ctl_print_reply(FILE *f, const ProtobufCMessage *m);

#endif
