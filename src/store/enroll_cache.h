/*
 * enroll_cache.h - a small, short-lived cache of enrollment records.
 *
 * A login reads its enrollment twice within seconds (initiate, then
 * verify). On SQLite each read is a read transaction whose locks and page
 * reads cost about a tenth of a login's CPU, because every audit commit
 * empties the readers' page caches. So the SQLite store keeps what logins
 * read for a short time (entries expire, so identity claims do not linger
 * in memory either).
 *
 * Entries are checked against versions kept in a small file mapped into
 * memory by every server process using the database (several may share one
 * SQLite file): a slot version per hash slot, bumped by enroll_cache_forget
 * after a write of that token id commits, and a generation bumped by
 * enroll_cache_clear after writes of unknown rows. An entry is served only
 * while both are what they were when its row was read, so a write in any
 * process is seen by the next read in every process.
 *
 * A read that misses takes a ticket (the versions) before it reads the
 * database and may store what it read only if they are unchanged: a
 * revocation racing with the read can never be hidden by the older row.
 */
#ifndef SEALAUTH_ENROLL_CACHE_H
#define SEALAUTH_ENROLL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct enroll_cache;

struct enroll_cache_ticket {
	uint64_t gen;	  /* the cache's generation (enroll_cache_clear) */
	uint64_t version; /* the slot's version (enroll_cache_forget) */
};

/*
 * enroll_cache_open makes a cache of slots entries (a power of two) kept
 * for ttl_ms each. shared names the version file, created (0600) if needed
 * and mapped shared; NULL keeps the versions in this process only (tests).
 */
enum sa_err enroll_cache_open(const char *shared, size_t slots, uint64_t ttl_ms,
			      struct enroll_cache **out);
/* enroll_cache_free wipes and frees every entry. NULL is ignored. */
void enroll_cache_free(struct enroll_cache *c);

/*
 * enroll_cache_get copies a fresh entry for token_id into *out (free it with
 * enrollment_free) and returns 1; on a miss it returns 0 and fills *t for
 * a later enroll_cache_put. 0 too when a copy runs out of memory.
 */
int enroll_cache_get(struct enroll_cache *c, const char *token_id,
		     struct enrollment *out, struct enroll_cache_ticket *t);

/* enroll_cache_put keeps a copy of e, read from the database after t was
 * taken, unless the entry was invalidated meanwhile. */
void enroll_cache_put(struct enroll_cache *c, const struct enrollment *e,
		      const struct enroll_cache_ticket *t);

/*
 * The cache also remembers that a token id had no pending takeover, so the
 * check every login start makes need not read the database. The fact rides
 * on the token id's entry and is checked against the same versions: the
 * store forgets the token id after it stores a takeover for it.
 *
 * enroll_cache_no_takeover returns 1 when the fresh entry for token_id says
 * no takeover is pending; otherwise 0 with *t filled before the caller
 * reads the database. enroll_cache_note_no_takeover records that the read
 * found none, unless the entry or the versions changed since t was taken.
 */
int enroll_cache_no_takeover(struct enroll_cache *c, const char *token_id,
			     struct enroll_cache_ticket *t);
void enroll_cache_note_no_takeover(struct enroll_cache *c, const char *token_id,
				   const struct enroll_cache_ticket *t);

/* enroll_cache_forget drops token_id in every process, after a write of
 * its row committed. */
void enroll_cache_forget(struct enroll_cache *c, const char *token_id);

/* enroll_cache_clear drops everything in every process, after a write of
 * rows not known by token id (a revoked seal) committed. */
void enroll_cache_clear(struct enroll_cache *c);

#endif
