/*
 * el_conf - configuration files.
 */
#include "el_conf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "el_log.h"

#define EL_CONF_LINE_MAX 4096

/* el_conf_trim - strip blanks at both ends, in place */
static char *el_conf_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* el_conf_int - parse a number with the suffixes its type allows */
static int el_conf_int(el_conf_type t, const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (*end) {
		if (end[1])
			return -1;
		if (t == EL_CONF_SIZE && (*end == 'K' || *end == 'k'))
			mul = 1024;
		else if (t == EL_CONF_SIZE && *end == 'M')
			mul = 1024 * 1024;
		else if (t == EL_CONF_SIZE && *end == 'G')
			mul = 1024 * 1024 * 1024;
		else if (t == EL_CONF_DURATION && *end == 's')
			mul = 1;
		else if (t == EL_CONF_DURATION && *end == 'm')
			mul = 60;
		else if (t == EL_CONF_DURATION && *end == 'h')
			mul = 3600;
		else if (t == EL_CONF_DURATION && *end == 'd')
			mul = 86400;
		else
			return -1;
	}
	if (v > INT64_MAX / mul || v < INT64_MIN / mul)
		return -1;
	*out = (int64_t)v * mul;
	return 0;
}

/* el_conf_apply - set one item from text */
static int el_conf_apply(const el_conf_item *it, const char *val, char *err, size_t errcap,
			 const char *where)
{
	int64_t v;
	size_t len;

	switch (it->type) {
	case EL_CONF_INT:
	case EL_CONF_SIZE:
	case EL_CONF_DURATION:
		if (el_conf_int(it->type, val, &v) < 0) {
			snprintf(err, errcap, "%s%s: '%s' is not a valid %s", where, it->name, val,
				 it->type == EL_CONF_SIZE       ? "size (e.g. 64K, 16M)"
				 : it->type == EL_CONF_DURATION ? "duration (e.g. 30s, 5m, 90d)"
								: "number");
			return -EINVAL;
		}
		if (v < it->min || v > it->max) {
			snprintf(err, errcap, "%s%s: %lld is out of range [%lld, %lld]", where,
				 it->name, (long long)v, (long long)it->min, (long long)it->max);
			return -EINVAL;
		}
		*(int64_t *)it->var = v;
		return 0;
	case EL_CONF_BOOL:
		if (!strcmp(val, "yes") || !strcmp(val, "true") || !strcmp(val, "1") ||
		    !strcmp(val, "on"))
			*(bool *)it->var = true;
		else if (!strcmp(val, "no") || !strcmp(val, "false") || !strcmp(val, "0") ||
			 !strcmp(val, "off"))
			*(bool *)it->var = false;
		else {
			snprintf(err, errcap, "%s%s: '%s' is not yes or no", where, it->name, val);
			return -EINVAL;
		}
		return 0;
	case EL_CONF_LIST: {
		el_conf_list *l = it->var;
		char **nv;
		len = strlen(val);
		if (len >= 2 && val[0] == '"' && val[len - 1] == '"') {
			val++;
			len -= 2;
		}
		if (len == 0 || len > EL_CONF_LIST_ITEM_MAX || (int64_t)l->n >= it->max) {
			snprintf(err, errcap, "%s%s: %s", where, it->name,
				 len == 0                      ? "must not be empty"
				 : len > EL_CONF_LIST_ITEM_MAX ? "value too long"
							       : "given too many times");
			return -EINVAL;
		}
		if ((nv = realloc(l->v, (l->n + 1) * sizeof(*nv))) == NULL)
			return -ENOMEM;
		l->v = nv;
		if ((l->v[l->n] = strndup(val, len)) == NULL)
			return -ENOMEM;
		l->n++;
		return 0;
	}
	case EL_CONF_STR:
		len = strlen(val);
		if (len >= 2 && val[0] == '"' && val[len - 1] == '"') {
			val++;
			len -= 2;
		}
		if ((int64_t)len > it->max || (it->min > 0 && len == 0)) {
			snprintf(err, errcap, "%s%s: %s", where, it->name,
				 len == 0 ? "must not be empty" : "value too long");
			return -EINVAL;
		}
		char *copy = strndup(val, len);
		if (copy == NULL)
			return -ENOMEM;
		free(*(char **)it->var);
		*(char **)it->var = copy;
		return 0;
	}
	return -EINVAL;
}

/* el_conf_find - the item called name */
static const el_conf_item *el_conf_find(const el_conf_item *items, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i].name, name) == 0)
			return &items[i];
	return NULL;
}

/* el_conf_kv - "key = value" into the table */
static int el_conf_kv(const el_conf_item *items, size_t n, char *line, char *err, size_t errcap,
		      const char *where)
{
	char *eq = strchr(line, '=');
	const el_conf_item *it;

	if (eq == NULL) {
		snprintf(err, errcap, "%sexpected 'key = value'", where);
		return -EINVAL;
	}
	*eq = '\0';
	char *key = el_conf_trim(line), *val = el_conf_trim(eq + 1);
	it = el_conf_find(items, n, key);
	if (it == NULL) {
		snprintf(err, errcap, "%sunknown setting '%.64s'", where, key);
		return -EINVAL;
	}
	return el_conf_apply(it, val, err, errcap, where);
}

/* el_conf_load - see el_conf.h */
int el_conf_load(const el_conf_item *items, size_t n, const char *path, char *err, size_t errcap)
{
	char line[EL_CONF_LINE_MAX + 2], where[512];
	FILE *f;
	int lineno = 0, rc = 0;

	err[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (items[i].type == EL_CONF_LIST) {
			/* A list starts empty; its def is only shown by el_conf_print. */
			el_conf_free(&items[i], 1);
			continue;
		}
		rc = el_conf_apply(&items[i], items[i].def, err, errcap, "default for ");
		if (rc < 0)
			return rc;
	}
	if (path == NULL)
		return 0;
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? -ENOENT : -EINVAL;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%d: ", path, lineno);
		if (strlen(line) > EL_CONF_LINE_MAX) {
			snprintf(err, errcap, "%sline too long", where);
			rc = -EINVAL;
			break;
		}
		char *s = el_conf_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		rc = el_conf_kv(items, n, s, err, errcap, where);
		if (rc < 0)
			break;
	}
	fclose(f);
	return rc;
}

/* el_conf_set - see el_conf.h */
int el_conf_set(const el_conf_item *items, size_t n, const char *kv, char *err, size_t errcap)
{
	char buf[EL_CONF_LINE_MAX + 1];
	size_t len = strnlen(kv, EL_CONF_LINE_MAX + 1);

	if (len > EL_CONF_LINE_MAX) {
		snprintf(err, errcap, "setting too long");
		return -EINVAL;
	}
	memcpy(buf, kv, len + 1);
	return el_conf_kv(items, n, buf, err, errcap, "");
}

/* el_conf_free - free string values */
void el_conf_free(const el_conf_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (items[i].type == EL_CONF_STR) {
			free(*(char **)items[i].var);
			*(char **)items[i].var = NULL;
		} else if (items[i].type == EL_CONF_LIST) {
			el_conf_list *l = items[i].var;
			for (size_t k = 0; k < l->n; k++)
				free(l->v[k]);
			free(l->v);
			l->v = NULL;
			l->n = 0;
		}
}

/* A value of any type: the scratch copy of an item in el_conf_reload. */
typedef union el_conf_val {
	int64_t i;
	bool b;
	char *s;
	el_conf_list l;
} el_conf_val;

/* el_conf_same - does the running value of it equal v */
static bool el_conf_same(const el_conf_item *it, const el_conf_val *v)
{
	switch (it->type) {
	case EL_CONF_BOOL:
		return *(bool *)it->var == v->b;
	case EL_CONF_STR: {
		const char *a = *(char **)it->var;
		return strcmp(a ? a : "", v->s ? v->s : "") == 0;
	}
	case EL_CONF_LIST: {
		const el_conf_list *l = it->var;
		if (l->n != v->l.n)
			return false;
		for (size_t k = 0; k < l->n; k++)
			if (strcmp(l->v[k], v->l.v[k]) != 0)
				return false;
		return true;
	}
	default:
		return *(int64_t *)it->var == v->i;
	}
}

/* el_conf_take - move v into the running value of it (v is left empty) */
static void el_conf_take(const el_conf_item *it, el_conf_val *v)
{
	switch (it->type) {
	case EL_CONF_BOOL:
		*(bool *)it->var = v->b;
		return;
	case EL_CONF_STR:
		free(*(char **)it->var);
		*(char **)it->var = v->s;
		v->s = NULL;
		return;
	case EL_CONF_LIST:
		el_conf_free(it, 1);
		*(el_conf_list *)it->var = v->l;
		v->l.v = NULL;
		v->l.n = 0;
		return;
	default:
		*(int64_t *)it->var = v->i;
	}
}

/* el_conf_reload - see el_conf.h */
int el_conf_reload(const el_conf_item *items, size_t n, const el_conf_src *src,
		   const char *const *live, size_t nlive, char *err, size_t errcap, char *restart,
		   size_t restartcap)
{
	el_conf_item *tmp = calloc(n ? n : 1, sizeof(*tmp));
	el_conf_val *val = calloc(n ? n : 1, sizeof(*val));
	size_t used = 0;
	int rc = -ENOMEM;

	err[0] = '\0';
	if (restartcap)
		restart[0] = '\0';
	if (tmp == NULL || val == NULL) {
		snprintf(err, errcap, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nlive; k++)
		if (el_conf_find(items, n, live[k]) == NULL) {
			/* A caller's typo would silently make a setting need a restart. */
			snprintf(err, errcap, "live setting '%s' is not in the table", live[k]);
			rc = -EINVAL;
			goto out;
		}
	for (size_t i = 0; i < n; i++) {
		tmp[i] = items[i];
		tmp[i].var = &val[i];
	}
	rc = el_conf_load(tmp, n, src->path, err, errcap);
	if (rc == -ENOENT && src->missing_ok)
		rc = 0;
	for (size_t k = 0; rc == 0 && k < src->nsets; k++)
		if ((rc = el_conf_set(tmp, n, src->sets[k], err, errcap)) < 0) {
			char why[400];
			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errcap, "-o %s: %s", src->sets[k], why);
		}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool is_live = false;
		for (size_t k = 0; k < nlive && !is_live; k++)
			is_live = strcmp(items[i].name, live[k]) == 0;
		if (is_live) {
			el_conf_take(&items[i], &val[i]);
		} else if (!el_conf_same(&items[i], &val[i]) && used + 1 < restartcap) {
			/* ", name", cut at restartcap: a full buffer stays full. */
			int w = snprintf(restart + used, restartcap - used, "%s%s",
					 used ? ", " : "", items[i].name);
			used += w > 0 ? (size_t)w : 0;
			if (used >= restartcap)
				used = restartcap - 1;
		}
	}
out:
	if (tmp)
		el_conf_free(tmp, n);
	free(tmp);
	free(val);
	return rc;
}

/* el_conf_print - the table as an example file */
void el_conf_print(const el_conf_item *items, size_t n, int fd)
{
	for (size_t i = 0; i < n; i++) {
		const el_conf_item *it = &items[i];
		if (it->type == EL_CONF_STR || it->type == EL_CONF_BOOL || it->type == EL_CONF_LIST)
			dprintf(fd, "# %s\n#%s = %s\n\n", it->help, it->name, it->def);
		else
			dprintf(fd, "# %s [%lld..%lld]\n#%s = %s\n\n", it->help, (long long)it->min,
				(long long)it->max, it->name, it->def);
	}
}

#define EL_CONF_CLI_EXTRA 8

/* el_conf_cli_parse - see el_conf.h */
void el_conf_cli_parse(el_conf_cli *c, int argc, char **argv, const char *default_path,
		       const struct option *extra, void (*usage)(int code))
{
	static const struct option common[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 'o' },
		{ "print-config", no_argument, NULL, 'p' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "status", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
	};
	enum { NCOMMON = sizeof(common) / sizeof(common[0]) };
	struct option opts[NCOMMON + EL_CONF_CLI_EXTRA + 1];
	size_t n = 0;
	int ch;

	memset(c, 0, sizeof(*c));
	c->path = default_path;
	memset(opts, 0, sizeof(opts));
	memcpy(opts, common, sizeof(common));
	for (; extra && extra[n].name; n++) {
		if (n == EL_CONF_CLI_EXTRA)
			el_panic("el_conf_cli_parse: more than %d options of its own",
				 EL_CONF_CLI_EXTRA);
		opts[NCOMMON + n] = extra[n];
	}
	while ((ch = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			c->path = optarg;
			c->path_given = true;
			break;
		case 'o':
			if (c->nsets == EL_CONF_CLI_SETS)
				el_fatal("more than %d -o settings", EL_CONF_CLI_SETS);
			c->sets[c->nsets++] = optarg;
			break;
		case 'h':
			usage(0);
			break;
		case '?':
		case ':':
			usage(2);
			break;
		default: /* --print-config, --check-config, --status or the daemon's own */
			c->mode = ch;
			c->arg = optarg;
		}
	}
	if (optind < argc)
		usage(2);
}

/* el_conf_cli_load - see el_conf.h */
void el_conf_cli_load(const el_conf_cli *c, const el_conf_item *items, size_t n)
{
	char err[512];
	int rc;

	if (c->mode == 'p') {
		el_conf_print(items, n, STDOUT_FILENO);
		exit(0);
	}
	rc = el_conf_load(items, n, c->path, err, sizeof(err));
	if (rc < 0 && !(rc == -ENOENT && !c->path_given))
		el_fatal("%s", err);
	for (size_t i = 0; i < c->nsets; i++)
		if (el_conf_set(items, n, c->sets[i], err, sizeof(err)) < 0)
			el_fatal("-o %s: %s", c->sets[i], err);
}

/* el_conf_cli_src - see el_conf.h */
el_conf_src el_conf_cli_src(const el_conf_cli *c)
{
	return (el_conf_src){
		.path = c->path, .missing_ok = !c->path_given, .sets = c->sets, .nsets = c->nsets
	};
}
