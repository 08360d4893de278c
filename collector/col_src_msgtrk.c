/* placeholder, replaced below */
#include "col_src_int.h"
#include <errno.h>
int col_msgtrk_open(col_src *s, const col_src_resume *r, size_t n)
{
	(void)s, (void)r, (void)n;
	return -ENOSYS;
}
int col_msgtrk_read(col_src *s, col_src_chunk *out, int timeout_ms)
{
	(void)s, (void)out, (void)timeout_ms;
	return -ENOSYS;
}
void col_msgtrk_close(col_src *s)
{
	(void)s;
}
