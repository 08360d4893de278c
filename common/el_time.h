/*
 * el_time - clock readings shared by the programs: microseconds now, and a
 * deadline some milliseconds from now for pthread_cond_timedwait (on the
 * clock the condition variable waits on: CLOCK_REALTIME by default).
 *
 * OWNERSHIP: values only.  ERRORS: none (clock_gettime cannot fail for
 * these clocks).  THREADS: reentrant.
 */
#ifndef EL_TIME_H
#define EL_TIME_H

#include <stdint.h>
#include <time.h>

/* el_now_us - clk now, in microseconds */
static inline int64_t el_now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* el_now_ms - clk now, in milliseconds */
static inline int64_t el_now_ms(clockid_t clk)
{
	return el_now_us(clk) / 1000;
}

/* el_deadline - clk now + ms (ms >= 0) */
static inline struct timespec el_deadline(clockid_t clk, int64_t ms)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif
