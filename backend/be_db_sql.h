/*
 * be_db_sql - the migrations of sql/NNN_*.sql, embedded at build time.
 *
 * The table is generated into the build tree by sql/embed.cmake (never
 * committed), sorted by version.  Each text is NUL-terminated.
 *
 * OWNERSHIP: static, read-only.
 */
#ifndef BE_DB_SQL_H
#define BE_DB_SQL_H

#include <stddef.h>

typedef struct be_db_migration {
	int version;      /* NNN of the file name */
	const char *name; /* file name, for schema_migrations and logs */
	const char *sql;
	size_t len;
} be_db_migration;

extern const be_db_migration be_db_migrations[];
extern const size_t be_db_nmigrations;

#endif
