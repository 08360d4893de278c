/*
 * be_flow_json - flows as JSON, one object per line (else-parse --flows).
 * The format is documented in docs/flows.md.
 *
 * OWNERSHIP: appends to the caller's buffer.  THREADS: reentrant.
 */
#ifndef BE_FLOW_JSON_H
#define BE_FLOW_JSON_H

#include "be_corr.h"
#include "el_buf.h"

void be_tx_json(const be_corr *c, const be_tx *t, el_buf *b);
void be_reject_json(const be_corr *c, const be_reject *j, el_buf *b);

#endif
