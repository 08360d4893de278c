/* placeholder, replaced below */
#include "col_src_int.h"
#include <errno.h>
int col_syslog_open(col_src *s)
{
	(void)s;
	return -ENOSYS;
}
int col_syslog_read(col_src *s, col_src_chunk *out, int timeout_ms)
{
	(void)s, (void)out, (void)timeout_ms;
	return -ENOSYS;
}
void col_syslog_close(col_src *s)
{
	(void)s;
}
