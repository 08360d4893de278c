/*
 * el_parse - turn one raw mail log line into structured fields.
 *
 * Understands the syslog framings mail hosts write (traditional BSD,
 * RFC 3339 high-precision as rsyslog writes on Debian 12, RFC 5424 with or
 * without <PRI>, Postfix's maillog_file), the messages of every Postfix
 * daemon, amavis result lines, and Exchange message tracking CSV lines.
 *
 * A record holds an event, a timestamp and a list of fields in the order the
 * line carries them.  Field values are spans into the caller's line (or into
 * the context's scratch space for values that must be decoded, such as
 * quoted CSV cells), so parsing allocates nothing.
 *
 * OWNERSHIP: el_rec spans point into the line passed to el_parse_line() and
 * into the el_parse_ctx; both must outlive the record.  The next call to
 * el_parse_line() with the same context invalidates scratch-backed values.
 * ERRORS: el_parse_line() never fails: a line it cannot understand becomes
 * EL_EV_UNPARSED with whatever framing fields it found, and raw is always set.
 * THREADS: a context belongs to one thread; different contexts are independent.
 * SECURITY: the line is untrusted bytes of any length and content (NULs,
 * invalid UTF-8, forged program names).  Every scan is bounded by the length;
 * lines longer than EL_PARSE_LINE_MAX are not parsed beyond framing.
 */
#ifndef EL_PARSE_H
#define EL_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "el_buf.h"
#include "el_span.h"

/* Lines longer than this are kept raw and marked, never parsed in depth. */
#define EL_PARSE_LINE_MAX 65536
/* At most this many fields per record; Exchange rows carry ~30. */
#define EL_PARSE_MAXF 64
/* At most this many columns are honoured in an Exchange #Fields: header. */
#define EL_MSGTRK_MAXCOL 48

/* Events: what a line says happened.  Names (el_event_name) are the JSON values. */
#define EL_EVENTS(X)                                                                               \
	X(UNPARSED, "unparsed")                                                                    \
	X(CONNECT, "connect")                                                                      \
	X(DISCONNECT, "disconnect")                                                                \
	X(LOST_CONNECTION, "lost_connection")                                                      \
	X(TIMEOUT, "timeout")                                                                      \
	X(TOO_MANY_ERRORS, "too_many_errors")                                                      \
	X(PIPELINING, "improper_pipelining")                                                       \
	X(TLS, "tls")                                                                              \
	X(TLS_ERROR, "tls_error")                                                                  \
	X(CLIENT, "client")                                                                        \
	X(PROXY_ACCEPT, "proxy_accept")                                                            \
	X(PROXY_REJECT, "proxy_reject")                                                            \
	X(REJECT, "reject")                                                                        \
	X(HOLD, "hold")                                                                            \
	X(DISCARD, "discard")                                                                      \
	X(FILTER, "filter")                                                                        \
	X(REDIRECT, "redirect")                                                                    \
	X(WARN_ACTION, "warn")                                                                     \
	X(INFO_ACTION, "info")                                                                     \
	X(PREPEND, "prepend")                                                                      \
	X(REPLACE, "replace")                                                                      \
	X(BCC, "bcc")                                                                              \
	X(MILTER_REJECT, "milter_reject")                                                          \
	X(MILTER_DISCARD, "milter_discard")                                                        \
	X(MILTER_HOLD, "milter_hold")                                                              \
	X(MESSAGE_ID, "message_id")                                                                \
	X(RESENT_MESSAGE_ID, "resent_message_id")                                                  \
	X(PICKUP, "pickup")                                                                        \
	X(QUEUE_ACTIVE, "queue_active")                                                            \
	X(EXPIRED, "expired")                                                                      \
	X(DELIVERY, "delivery")                                                                    \
	X(REMOVED, "removed")                                                                      \
	X(SKIPPED, "skipped")                                                                      \
	X(DSN, "dsn")                                                                              \
	X(CONN_ERROR, "conn_error")                                                                \
	X(HOST_SAID, "host_said")                                                                  \
	X(LOST_CONN_WITH, "lost_connection_with")                                                  \
	X(CONV_TIMEOUT, "conversation_timeout")                                                    \
	X(HOLD_PLACED, "placed_on_hold")                                                           \
	X(HOLD_RELEASED, "released_from_hold")                                                     \
	X(REQUEUED, "requeued")                                                                    \
	X(FORCE_EXPIRED, "force_expired")                                                          \
	X(POSTSUPER_SUMMARY, "postsuper_summary")                                                  \
	X(PS_CONNECT, "ps_connect")                                                                \
	X(PS_PASS, "ps_pass")                                                                      \
	X(PS_LISTED, "ps_listed")                                                                  \
	X(PS_VIOLATION, "ps_violation")                                                            \
	X(PS_DNSBL, "ps_dnsbl")                                                                    \
	X(PS_DISCONNECT, "ps_disconnect")                                                          \
	X(PS_CACHE, "ps_cache")                                                                    \
	X(DNSBL_LISTED, "dnsbl_listed")                                                            \
	X(STATISTICS, "statistics")                                                                \
	X(DAEMON_STARTED, "daemon_started")                                                        \
	X(DAEMON_RELOAD, "daemon_reload")                                                          \
	X(DAEMON_TERMINATING, "daemon_terminating")                                                \
	X(POSTFIX_SCRIPT, "postfix_script")                                                        \
	X(WARNING, "warning")                                                                      \
	X(ERROR, "error")                                                                          \
	X(FATAL, "fatal")                                                                          \
	X(PANIC, "panic")                                                                          \
	X(AMAVIS_RESULT, "amavis_result")                                                          \
	X(AMAVIS, "amavis")                                                                        \
	X(MSGTRK, "msgtrk")                                                                        \
	X(MSGTRK_HEADER, "msgtrk_header")

typedef enum el_event {
#define EL_X_ENUM(id, name) EL_EV_##id,
	EL_EVENTS(EL_X_ENUM)
#undef EL_X_ENUM
		EL_EV__COUNT
} el_event;

/*
 * Field keys.  The second column is the JSON key; the third says how
 * else-parse prints the value (S string, N number when it is all digits,
 * D decimal number, L list of ';'-separated strings).
 */
#define EL_FIELDS(X)                                                                               \
	X(TIME, "time", S)                                                                         \
	X(HOST, "host", S)                                                                         \
	X(PROGRAM, "program", S)                                                                   \
	X(SYSLOG_NAME, "syslog_name", S)                                                           \
	X(SERVICE, "service", S)                                                                   \
	X(PID, "pid", N)                                                                           \
	X(FACILITY, "facility", N)                                                                 \
	X(SEVERITY, "severity", N)                                                                 \
	X(SYSLOG_MSGID, "syslog_msgid", S)                                                         \
	X(STRUCTURED_DATA, "structured_data", S)                                                   \
	X(QUEUE_ID, "queue_id", S)                                                                 \
	X(CLIENT_HOST, "client_host", S)                                                           \
	X(CLIENT_IP, "client_ip", S)                                                               \
	X(CLIENT_PORT, "client_port", N)                                                           \
	X(SERVER_IP, "server_ip", S)                                                               \
	X(SERVER_PORT, "server_port", N)                                                           \
	X(HELO, "helo", S)                                                                         \
	X(PROTO, "proto", S)                                                                       \
	X(SASL_METHOD, "sasl_method", S)                                                           \
	X(SASL_USERNAME, "sasl_username", S)                                                       \
	X(SASL_SENDER, "sasl_sender", S)                                                           \
	X(ORIG_QUEUE_ID, "orig_queue_id", S)                                                       \
	X(ORIG_CLIENT_HOST, "orig_client_host", S)                                                 \
	X(ORIG_CLIENT_IP, "orig_client_ip", S)                                                     \
	X(UID, "uid", N)                                                                           \
	X(FROM, "from", S)                                                                         \
	X(TO, "to", S)                                                                             \
	X(ORIG_TO, "orig_to", S)                                                                   \
	X(SIZE, "size", N)                                                                         \
	X(NRCPT, "nrcpt", N)                                                                       \
	X(MESSAGE_ID, "message_id", S)                                                             \
	X(RELAY_HOST, "relay_host", S)                                                             \
	X(RELAY_IP, "relay_ip", S)                                                                 \
	X(RELAY_PORT, "relay_port", N)                                                             \
	X(RELAY_PATH, "relay_path", S)                                                             \
	X(CONN_USE, "conn_use", N)                                                                 \
	X(DELAY, "delay", D)                                                                       \
	X(DELAYS, "delays", S)                                                                     \
	X(DSN, "dsn", S)                                                                           \
	X(STATUS, "status", S)                                                                     \
	X(RESPONSE, "response", S)                                                                 \
	X(QUEUED_AS, "queued_as", S)                                                               \
	X(ACTION, "action", S)                                                                     \
	X(STAGE, "stage", S)                                                                       \
	X(CHECK_TEXT, "check_text", S)                                                             \
	X(REJECT_CODE, "reject_code", N)                                                           \
	X(REJECT_DSN, "reject_dsn", S)                                                             \
	X(REJECT_REASON, "reject_reason", S)                                                       \
	X(COMMANDS, "commands", S)                                                                 \
	X(TLS_LEVEL, "tls_level", S)                                                               \
	X(TLS_VERSION, "tls_version", S)                                                           \
	X(TLS_CIPHER, "tls_cipher", S)                                                             \
	X(TLS_BITS, "tls_bits", S)                                                                 \
	X(TLS_DETAIL, "tls_detail", S)                                                             \
	X(DSN_KIND, "dsn_kind", S)                                                                 \
	X(DSN_QUEUE_ID, "dsn_queue_id", S)                                                         \
	X(PS_TEST, "ps_test", S)                                                                   \
	X(PS_DETAIL, "ps_detail", S)                                                               \
	X(DNSBL_DOMAIN, "dnsbl_domain", S)                                                         \
	X(DNSBL_REPLY, "dnsbl_reply", S)                                                           \
	X(DNSBL_RANK, "dnsbl_rank", N)                                                             \
	X(COUNT, "count", N)                                                                       \
	X(VERSION, "version", S)                                                                   \
	X(AMAVIS_ID, "amavis_id", S)                                                               \
	X(AMAVIS_ACTION, "amavis_action", S)                                                       \
	X(AMAVIS_CATEGORY, "amavis_category", S)                                                   \
	X(AMAVIS_DETAIL, "amavis_detail", S)                                                       \
	X(AMAVIS_DISPOSITION, "amavis_disposition", S)                                             \
	X(MAIL_ID, "mail_id", S)                                                                   \
	X(HITS, "hits", S)                                                                         \
	X(ELAPSED_MS, "elapsed_ms", N)                                                             \
	X(RECIPIENTS, "recipients", L)                                                             \
	X(SUBJECT, "subject", S)                                                                   \
	X(MSGTRK_EVENT, "msgtrk_event", S)                                                         \
	X(INTERNAL_MESSAGE_ID, "internal_message_id", S)                                           \
	X(NETWORK_MESSAGE_ID, "network_message_id", S)                                             \
	X(SERVER_HOST, "server_host", S)                                                           \
	X(SOURCE, "source", S)                                                                     \
	X(DIRECTION, "direction", S)                                                               \
	X(TEXT, "text", S)                                                                         \
	X(COLUMN, "", S)

typedef enum el_field_key {
#define EL_X_ENUM(id, name, kind) EL_F_##id,
	EL_FIELDS(EL_X_ENUM)
#undef EL_X_ENUM
		EL_F__COUNT
} el_field_key;

/* el_field - one key/value; aux is the Exchange column index for EL_F_COLUMN */
typedef struct el_field {
	uint16_t key;
	uint16_t aux;
	el_span val;
} el_field;

enum {
	EL_REC_HAS_TIME = 1u << 0,  /* the line carried a timestamp we understood */
	EL_REC_TZ_KNOWN = 1u << 1,  /* the offset came from the line, not guessed */
	EL_REC_TRUNCATED = 1u << 2, /* the reader cut an overlong line */
	EL_REC_TOO_LONG = 1u << 3,  /* longer than EL_PARSE_LINE_MAX: framing only */
	EL_REC_FRAMED = 1u << 4,    /* a syslog/maillog frame was recognised */
};

typedef struct el_rec {
	el_event event;
	unsigned flags;
	int64_t time_s;      /* UTC seconds since the epoch */
	int32_t time_us;     /* microseconds, 0..999999 */
	int16_t tz_off_min;  /* offset of the written local time from UTC */
	uint8_t time_digits; /* fraction digits the line carried (0..6) */
	uint8_t nf;
	el_span raw;
	el_field f[EL_PARSE_MAXF];
	uint8_t idx[EL_F__COUNT]; /* key -> position + 1, 0 when absent */
} el_rec;

typedef struct el_parse_ctx {
	int force_year;          /* 0: infer; else the year the input starts in */
	time_t ref_time;         /* "now" for year inference */
	int last_year, last_mon; /* rollover tracking when force_year is set */
	/* Cache of the local UTC offset for traditional timestamps, per hour. */
	int64_t tz_cache_key;
	int32_t tz_cache_off;
	/* Exchange message tracking column map from the last #Fields: line. */
	uint8_t msgtrk_ncol;
	uint16_t msgtrk_map[EL_MSGTRK_MAXCOL]; /* el_field_key per column */
	el_buf msgtrk_names;                   /* NUL-separated column names */
	uint32_t msgtrk_name_off[EL_MSGTRK_MAXCOL];
	el_buf scratch; /* decoded CSV values */
	/* Counters, for operators and tests. */
	uint64_t n_lines, n_unparsed, n_too_long;
} el_parse_ctx;

void el_parse_ctx_init(el_parse_ctx *c);
void el_parse_ctx_fini(el_parse_ctx *c);

/* el_parse_line - parse one line (without its newline) into r */
void el_parse_line(el_parse_ctx *c, const char *line, size_t len, el_rec *r);

const char *el_event_name(el_event ev);
const char *el_field_name(el_field_key k);
char el_field_kind(el_field_key k);

/* el_rec_get - value of key, or a span with p == NULL */
static inline el_span el_rec_get(const el_rec *r, el_field_key k)
{
	unsigned i = r->idx[k];
	return i ? r->f[i - 1].val : (el_span){ NULL, 0 };
}

static inline bool el_rec_has(const el_rec *r, el_field_key k)
{
	return r->idx[k] != 0;
}

/* el_msgtrk_column_name - name of Exchange column i in the current header */
el_span el_msgtrk_column_name(const el_parse_ctx *c, unsigned i);

/* el_rec_time_iso - append the record's time as ISO 8601 with its offset */
void el_rec_time_iso(const el_rec *r, el_buf *b);

/*
 * el_rec_json - append the record as one JSON object (no newline): event,
 * time, every field in line order, truncated/too_long flags, raw.  The
 * context supplies Exchange column names.  Output is valid JSON for any input.
 */
void el_rec_json(const el_parse_ctx *c, const el_rec *r, el_buf *b);

#endif
