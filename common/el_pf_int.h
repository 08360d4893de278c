/*
 * el_pf_int - shared pieces of the Postfix message parser (el_pf.c for
 * queue-file lines and policy actions, el_pf_conn.c for connection-level
 * lines of smtpd, smtp, postscreen and the support daemons).
 */
#ifndef EL_PF_INT_H
#define EL_PF_INT_H

#include "el_parse_int.h"

typedef enum el_pf_daemon {
	EL_PF_UNKNOWN,
	EL_PF_SMTPD,
	EL_PF_POSTSCREEN,
	EL_PF_DNSBLOG,
	EL_PF_CLEANUP,
	EL_PF_QMGR,
	EL_PF_PICKUP,
	EL_PF_SENDMAIL,
	EL_PF_POSTDROP,
	EL_PF_SMTP,
	EL_PF_LMTP,
	EL_PF_LOCAL,
	EL_PF_VIRTUAL,
	EL_PF_PIPE,
	EL_PF_ERROR,
	EL_PF_DISCARD,
	EL_PF_RETRY,
	EL_PF_BOUNCE,
	EL_PF_DEFER,
	EL_PF_TRACE,
	EL_PF_POSTSUPER,
	EL_PF_ANVIL,
	EL_PF_SCACHE,
	EL_PF_TLSPROXY,
	EL_PF_TLSMGR,
	EL_PF_VERIFY,
	EL_PF_TRIVIAL_REWRITE,
	EL_PF_MASTER,
	EL_PF_POSTFIX_SCRIPT,
	EL_PF_POSTQUEUE,
	EL_PF_POSTMAP,
	EL_PF_POSTCONF,
	EL_PF_POSTLOGD,
	EL_PF_SHOWQ,
	EL_PF_FLUSH,
	EL_PF_PROXYMAP,
	EL_PF_SPAWN,
	EL_PF_OQMGR,
	EL_PF_POSTFIX,
	EL_PF_POSTLOG,
	EL_PF_POSTMULTI,
} el_pf_daemon;

/*
 * el_pf_kv_next - next "key=value" of a Postfix attribute list starting at
 * *i.  Separators (", " or " ") are skipped.  A value in <angle brackets> is
 * returned without them and may contain spaces and commas; *angled says so.
 * Returns false at the end or on a malformed pair.
 */
bool el_pf_kv_next(el_span s, size_t *i, el_span *key, el_span *val, bool *angled);

/* el_pf_add_hostaddr - add host, ip and port fields from "host[ip]:port" (kp may be EL_F__COUNT) */
bool el_pf_add_hostaddr(el_rec *r, el_span s, el_field_key kh, el_field_key ki, el_field_key kp);

/* el_pf_add_reply - split "550 5.1.1 text" into code, dsn and reason fields */
void el_pf_add_reply(el_rec *r, el_span s);

/*
 * el_pf_env - "from=<a> to=<b> proto=ESMTP helo=<h>" (space or comma
 * separated) as from/to/proto/helo fields; returns the bytes used.
 */
size_t el_pf_env(el_rec *r, el_span s);

/* el_pf_conn_line - lines without a queue ID; returns true if understood */
bool el_pf_conn_line(el_parse_ctx *c, el_rec *r, el_pf_daemon d, el_span msg);

/* el_pf_action_line - "reject: RCPT from h[ip]: 554 ...; from=<> to=<>" family */
bool el_pf_action_line(el_rec *r, el_span msg);

#endif
