/*
 * fe_assets - the web UI's files, embedded into the binary at build time
 * by frontend/embed.cmake from frontend/www/ (and the chart library from
 * npm); generated into the build tree, never committed.
 *
 * OWNERSHIP: static, read-only.  THREADS: read-only data.
 */
#ifndef FE_ASSETS_H
#define FE_ASSETS_H

#include <stddef.h>

typedef struct fe_asset {
	const char *path; /* URL path, "/index.html" */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
} fe_asset;

extern const fe_asset fe_assets[];
extern const size_t fe_nassets;

#endif
