/*
 * be_qsess - the sessions the query service checked in the last ttl,
 * shared by its workers.  A search or a flow view made with a session seen
 * less than ttl ago is answered without reading the session again: that
 * statement was a round trip and a tenth of the database time of a quick
 * search (bench/search.sh).
 *
 * What a cached entry can serve stale, for at most ttl: a logout, a
 * password change or an administrative change (role, groups, user
 * deleted) made through another backend or in the database directly.
 * Through this backend, every state-changing call empties the cache when
 * it is done, and those calls themselves always read the session
 * (be_query.c), so this backend's own changes apply at once.  An entry
 * never outlives its session's expiry.  ttl 0 turns the cache off.
 *
 * OWNERSHIP: entries are copies (scope strings included); be_qsess_get
 * copies an entry into the caller's arena.
 * ERRORS: be_qsess_new: -ENOMEM.  Allocation failure later panics (el_map).
 * THREADS: every function but _new/_free may be called from any thread.
 */
#ifndef BE_QSESS_H
#define BE_QSESS_H

#include <stdbool.h>
#include <stdint.h>

#include "be_db_query.h"
#include "el_arena.h"

#define BE_QSESS_MAX 10000 /* entries; past it the cache starts over */

typedef struct be_qsess be_qsess;

int be_qsess_new(be_qsess **out, int64_t ttl_us);
void be_qsess_free(be_qsess *c);

/* be_qsess_get - the entry of hash, if still fresh at now_us: true, *s filled from a */
bool be_qsess_get(be_qsess *c, const uint8_t hash[32], int64_t now_us, el_arena *a,
		  be_db_session *s);
/*
 * be_qsess_gen - the cache's generation, to take before reading a session
 * from the database: a clear meanwhile (a state change that committed
 * after that read began) makes be_qsess_put of that read a no-op.
 */
uint64_t be_qsess_gen(be_qsess *c);
/* be_qsess_put - remember s (read after be_qsess_gen gave gen) until now_us + ttl at most */
void be_qsess_put(be_qsess *c, const uint8_t hash[32], int64_t now_us, const be_db_session *s,
		  uint64_t gen);
/* be_qsess_clear - forget every entry (after a state-changing call) */
void be_qsess_clear(be_qsess *c);

#endif
