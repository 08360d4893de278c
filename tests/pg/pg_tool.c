/*
 * pg_tool - the embedded cluster (be_pg) from the command line, for test
 * scripts and benchmarks:
 *
 *   pg_tool start STATE_DIR [RUN_AS_USER]   prints the conninfo on stdout
 *   pg_tool stop STATE_DIR
 */
#include <stdio.h>
#include <string.h>

#include "be_pg.h"
#include "el_log.h"

int main(int argc, char **argv)
{
	char conninfo[4096];
	int rc;

	el_log_set_prog("pg_tool");
	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "start") == 0) {
		rc = be_pg_start(argv[2], argc == 4 ? argv[3] : NULL, conninfo, sizeof(conninfo));
		if (rc == 0)
			printf("%s\n", conninfo);
	} else if (argc == 3 && strcmp(argv[1], "stop") == 0) {
		rc = be_pg_stop(argv[2]);
	} else {
		fprintf(stderr, "usage: pg_tool start STATE_DIR [USER] | stop STATE_DIR\n");
		return 2;
	}
	if (rc)
		fprintf(stderr, "pg_tool: %s: %s\n", argv[1], strerror(-rc));
	return rc ? 1 : 0;
}
