/*
 * el_conf - table-driven configuration files.
 *
 * A program describes its settings as a table {name, type, default, &var,
 * min, max}; el_conf_load() applies the defaults, then reads "key = value"
 * lines (# comments, blank lines) from the file.  A value that sizes a buffer
 * or a count is range-checked here, at load: an unknown key, a malformed or
 * out-of-range value is an error naming the key and the line, so the program
 * can refuse to start (el_fatal) instead of misbehaving later.
 *
 * Integers accept K, M, G (x1024) suffixes for sizes and s, m, h, d for
 * durations in seconds; the table says which with the unit field.  Strings
 * may be double-quoted; their max is a length.
 *
 * OWNERSHIP: string values are heap copies owned by the caller's variables;
 * el_conf_free() frees them.  ERRORS: el_conf_load() returns 0, -ENOENT if
 * the file does not exist (defaults stay applied), -EINVAL with a message in
 * err.  THREADS: call at start, before threads (el_conf_reload: later).
 * SECURITY: the file is trusted to the extent of being written by an admin,
 * but is still parsed with bounds: lines longer than 4 KiB are errors.
 */
#ifndef EL_CONF_H
#define EL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum el_conf_type {
	EL_CONF_INT,
	EL_CONF_SIZE,     /* bytes: K, M, G suffixes */
	EL_CONF_DURATION, /* seconds: s, m, h, d suffixes */
	EL_CONF_STR,
	EL_CONF_BOOL,
	EL_CONF_LIST, /* repeatable key: each line adds one string (max = most items) */
} el_conf_type;

/* The variable of an EL_CONF_LIST item: the values in file order. */
typedef struct el_conf_list {
	char **v;
	size_t n;
} el_conf_list;

#define EL_CONF_LIST_ITEM_MAX 1000 /* bytes of one list value */

typedef struct el_conf_item {
	const char *name;
	el_conf_type type;
	const char *def;  /* default, as it would be written in the file */
	void *var;        /* int64_t *, char **, bool * or el_conf_list * */
	int64_t min, max; /* numbers: range; strings: max length (min: 1 = required non-empty) */
	const char *help; /* one line, for --help-config and the example file */
} el_conf_item;

int el_conf_load(const el_conf_item *items, size_t n, const char *path, char *err, size_t errcap);
/* el_conf_set - apply one "key=value" (command-line overrides) */
int el_conf_set(const el_conf_item *items, size_t n, const char *kv, char *err, size_t errcap);
void el_conf_free(const el_conf_item *items, size_t n);

/* Where a reload reads the settings from: the file, then the overrides. */
typedef struct el_conf_src {
	const char *path;        /* NULL: no file */
	bool missing_ok;         /* an absent file reads as an empty one */
	const char *const *sets; /* "key=value" overrides (-o), applied after the file */
	size_t nsets;
} el_conf_src;

/*
 * el_conf_reload - re-read the settings while running (SIGHUP).  The file and
 * the overrides are read into a scratch copy of the table; only if all of it
 * is valid do the items named in live[] take their new values, so a typo in
 * the file never puts a running program back on defaults.  The other items
 * keep their running values (their readers may hold pointers into them); the
 * names of those whose new value differs go, comma-separated, into restart
 * (they take effect at the next start; truncated to restartcap).  Returns 0,
 * or < 0 with the message in err and nothing changed (-EINVAL also when a
 * name in live[] is not in the table).  THREADS: the live
 * items are written here, so their readers must run on the calling thread or
 * take copies under the caller's own lock.
 */
int el_conf_reload(const el_conf_item *items, size_t n, const el_conf_src *src,
		   const char *const *live, size_t nlive, char *err, size_t errcap, char *restart,
		   size_t restartcap);
/* el_conf_print - write the table as a commented example config */
void el_conf_print(const el_conf_item *items, size_t n, int fd);

struct option;

#define EL_CONF_CLI_SETS 64 /* -o settings on one command line at most */

/*
 * el_conf_cli - the command line every ELSE daemon takes:
 *     -c, --config FILE     the settings file; at the daemon's default place
 *                           it may be absent (defaults and -o only), given
 *                           with -c it must exist
 *     -o, --set KEY=VALUE   a setting over the file's (repeatable)
 *     --print-config        mode 'p': every setting, its default and range
 *     --check-config        mode 'k'
 *     --status              mode 's'
 *     -h, --help
 * and the daemon's own long options: an option's val becomes the mode and
 * its argument arg.  OWNERSHIP: the strings point into argv.
 */
typedef struct el_conf_cli {
	const char *path;
	bool path_given;
	const char *sets[EL_CONF_CLI_SETS];
	size_t nsets;
	int mode; /* 0: run */
	const char *arg;
} el_conf_cli;

/*
 * el_conf_cli_parse - argv into c.  extra: the daemon's own options (NULL or
 * ended by a zeroed entry, at most 8, vals other than c, o, p, k, s, h).
 * usage(0) for -h, usage(2) for a command line it cannot take; usage must
 * not return.
 */
void el_conf_cli_parse(el_conf_cli *c, int argc, char **argv, const char *default_path,
		       const struct option *extra, void (*usage)(int code));
/*
 * el_conf_cli_load - c's settings into the table: mode 'p' prints the table
 * and exits 0; otherwise the file, then the -o settings.  Any error is fatal
 * (el_fatal), naming the file or the setting.
 */
void el_conf_cli_load(const el_conf_cli *c, const el_conf_item *items, size_t n);
/* el_conf_cli_src - where el_conf_reload reads c's settings again */
el_conf_src el_conf_cli_src(const el_conf_cli *c);

#endif
