/*
 * enroll_cache.c - a small, short-lived cache of enrollment records.
 *
 * Direct-mapped: a token id hashes to one slot, and a newer token id that
 * hashes to the same slot replaces the entry (so crafted collisions cost
 * only database reads). A slot is a pointer until it holds an entry, so
 * the memory follows the tokens in use, not the table's size (a table of
 * entries was 6 MB, paged in a slot at a time). Slots are guarded by striped
 * locks held only to compare and copy. The versions the entries are checked
 * against live in shared memory (enroll_cache.h) and change only by atomic
 * increments, which are lock-free on every platform this builds for.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/enroll_cache.h"
#include "core/util.h"

#define STRIPES 64
#define SHARED_MAGIC 0x5345414c43414331ULL /* "SEALCAC1" */

/* The shared file: a header, then one version per slot. */
struct shared {
	uint64_t magic;
	uint64_t slots;
	_Atomic uint64_t gen;
	_Atomic uint64_t version[];
};

/* An entry, allocated when a slot takes one and freed when it goes. */
struct slot {
	struct enrollment e;
	int no_takeover;       /* no takeover was pending under gen, version */
	uint64_t gen, version; /* the shared values the entry was read under */
	uint64_t at_ms;	       /* when the entry was stored */
};

struct enroll_cache {
	size_t mask;
	uint64_t ttl_ms;
	struct shared *sh;
	size_t sh_len;
	int mapped; /* sh is a shared file mapping, else heap memory */
	int coarse; /* another layout shares the file: no entries kept */
	pthread_mutex_t mu[STRIPES];
	struct slot **slots; /* mask + 1, each NULL or its entry */
};

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "shared versions need lock-free 64-bit atomics");

/* enrollment_copy deep-copies src into *dst; SA_ERR_NOMEM leaves *dst
 * empty. */
static enum sa_err
enrollment_copy(const struct enrollment *src, struct enrollment *dst)
{
	struct enrollment e = *src;

	e.public_key_pem = e.fcm_token = e.push_endpoint = e.claims = NULL;
	if ((src->public_key_pem &&
	     !(e.public_key_pem = strdup(src->public_key_pem))) ||
	    (src->fcm_token && !(e.fcm_token = strdup(src->fcm_token))) ||
	    (src->push_endpoint &&
	     !(e.push_endpoint = strdup(src->push_endpoint))) ||
	    (src->claims && !(e.claims = strdup(src->claims)))) {
		enrollment_free(&e);
		memset(dst, 0, sizeof(*dst));
		return SA_ERR_NOMEM;
	}
	*dst = e;
	return SA_OK;
}

/*
 * shared_map maps the version file, creating and sizing it if needed (it
 * only ever grows: another process may have it mapped). Its blocks are
 * allocated before it is mapped: a write to a page of a sparse file that
 * the file system cannot back (a full disk) raises SIGBUS, so a file that
 * cannot be allocated is refused with an error instead. A file laid out
 * for another number of slots, by another build, leaves this cache
 * coarse: it keeps no entries and every write bumps the generation, which
 * all layouts share.
 */
static enum sa_err
shared_map(struct enroll_cache *c, const char *path, size_t slots)
{
	size_t len = sizeof(struct shared) + slots * sizeof(uint64_t);
	struct stat st;
	int fd, err;
	void *m;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error("store.cache", "cannot open %s: %s", path,
			  strerror(errno));
		return SA_ERR_IO;
	}
	if (fstat(fd, &st) != 0) {
		log_error("store.cache", "cannot stat %s: %s", path,
			  strerror(errno));
		close(fd);
		return SA_ERR_IO;
	}
	/* Allocates the holes of a file made sparse by an older version too;
	 * allocated blocks need no new space. */
	if ((err = posix_fallocate(fd, 0, (off_t)len)) != 0) {
		log_error("store.cache", "cannot allocate %zu bytes for %s: %s",
			  len, path, strerror(err));
		close(fd);
		return err == ENOSPC ? SA_ERR_DISK_FULL : SA_ERR_IO;
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		log_error("store.cache", "cannot map %s: %s", path,
			  strerror(errno));
		return SA_ERR_IO;
	}
	c->sh = m;
	c->sh_len = len;
	c->mapped = 1;
	if (c->sh->magic != SHARED_MAGIC) {
		/* New (zeroed by posix_fallocate): lay it out. Two processes
		 * doing this at once write the same values. */
		c->sh->slots = slots;
		c->sh->magic = SHARED_MAGIC;
	} else if (c->sh->slots != slots) {
		log_warn("store.cache",
			 "%s is laid out for %llu slots, not "
			 "%zu: enrollments are not cached",
			 path, (unsigned long long)c->sh->slots, slots);
		c->coarse = 1;
	}
	return SA_OK;
}

enum sa_err
enroll_cache_open(const char *shared, size_t slots, uint64_t ttl_ms,
		  struct enroll_cache **out)
{
	struct enroll_cache *c;
	enum sa_err rc = SA_ERR_NOMEM;

	if (slots == 0 || (slots & (slots - 1)) != 0)
		return SA_ERR_CONFIG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return SA_ERR_NOMEM;
	c->mask = slots - 1;
	c->ttl_ms = ttl_ms;
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	if ((c->slots = calloc(slots, sizeof(*c->slots))) == NULL)
		goto fail;
	if (shared != NULL) {
		if ((rc = shared_map(c, shared, slots)) != SA_OK)
			goto fail;
	} else {
		c->sh_len = sizeof(struct shared) + slots * sizeof(uint64_t);
		if ((c->sh = calloc(1, c->sh_len)) == NULL)
			goto fail;
	}
	*out = c;
	return SA_OK;
fail:
	enroll_cache_free(c);
	return rc;
}

/* slot_drop frees the entry *sp holds, if any (wiping its claims), and
 * empties the slot; for a slot of the table, under its stripe's lock. */
static void
slot_drop(struct slot **sp)
{
	if (*sp == NULL)
		return;
	enrollment_free(&(*sp)->e);
	free(*sp);
	*sp = NULL;
}

void
enroll_cache_free(struct enroll_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; c->slots != NULL && i <= c->mask; i++)
		slot_drop(&c->slots[i]);
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	if (c->mapped)
		munmap(c->sh, c->sh_len);
	else
		free(c->sh);
	free(c->slots);
	free(c);
}

/* ticket_take reads the versions slot i is checked against into *t. */
static void
ticket_take(struct enroll_cache *c, size_t i, struct enroll_cache_ticket *t)
{
	t->gen = atomic_load(&c->sh->gen);
	t->version = atomic_load(&c->sh->version[i]);
}

/* ticket_current says whether slot i's versions are still those of t. */
static int
ticket_current(struct enroll_cache *c, size_t i,
	       const struct enroll_cache_ticket *t)
{
	return atomic_load(&c->sh->gen) == t->gen &&
	       atomic_load(&c->sh->version[i]) == t->version;
}

/* slot_holds says whether s (NULL: an empty slot) is token_id's entry,
 * read under t's versions. */
static int
slot_holds(const struct slot *s, const char *token_id,
	   const struct enroll_cache_ticket *t)
{
	return s != NULL && s->gen == t->gen && s->version == t->version &&
	       strcmp(s->e.token_id, token_id) == 0;
}

int
enroll_cache_get(struct enroll_cache *c, const char *token_id,
		 struct enrollment *out, struct enroll_cache_ticket *t)
{
	size_t i = (size_t)fnv1a(token_id) & c->mask;
	pthread_mutex_t *mu = &c->mu[i % STRIPES];
	struct slot *s;
	uint64_t now;
	int hit = 0;

	if (c->coarse)
		return 0;
	pthread_mutex_lock(mu);
	/* Read under the lock: a slot filled since is never from the future,
	 * whose age would wrap and look stale. */
	now = now_mono_ms();
	ticket_take(c, i, t);
	s = c->slots[i];
	if (s != NULL && (s->gen != t->gen || s->version != t->version ||
			  now - s->at_ms >= c->ttl_ms)) {
		slot_drop(&c->slots[i]); /* stale: wipe it now */
		s = NULL;
	}
	if (slot_holds(s, token_id, t))
		hit = enrollment_copy(&s->e, out) == SA_OK;
	pthread_mutex_unlock(mu);
	return hit;
}

void
enroll_cache_put(struct enroll_cache *c, const struct enrollment *e,
		 const struct enroll_cache_ticket *t)
{
	size_t i = (size_t)fnv1a(e->token_id) & c->mask;
	pthread_mutex_t *mu = &c->mu[i % STRIPES];
	struct slot *s;

	if (c->coarse)
		return;
	/* Copied before the lock is taken, so it is held only to swap. */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return;
	if (enrollment_copy(e, &s->e) != SA_OK) {
		free(s);
		return;
	}
	s->gen = t->gen;
	s->version = t->version;
	pthread_mutex_lock(mu);
	if (ticket_current(c, i, t)) {
		slot_drop(&c->slots[i]);
		s->at_ms = now_mono_ms();
		c->slots[i] = s;
		s = NULL;
	}
	pthread_mutex_unlock(mu);
	if (s != NULL)
		slot_drop(&s);
}

int
enroll_cache_no_takeover(struct enroll_cache *c, const char *token_id,
			 struct enroll_cache_ticket *t)
{
	size_t i = (size_t)fnv1a(token_id) & c->mask;
	struct slot *s;
	int known;

	if (c->coarse) {
		t->gen = t->version = 0;
		return 0;
	}
	pthread_mutex_lock(&c->mu[i % STRIPES]);
	ticket_take(c, i, t);
	s = c->slots[i];
	known = slot_holds(s, token_id, t) && s->no_takeover &&
		now_mono_ms() - s->at_ms < c->ttl_ms;
	pthread_mutex_unlock(&c->mu[i % STRIPES]);
	return known;
}

void
enroll_cache_note_no_takeover(struct enroll_cache *c, const char *token_id,
			      const struct enroll_cache_ticket *t)
{
	size_t i = (size_t)fnv1a(token_id) & c->mask;

	if (c->coarse)
		return;
	pthread_mutex_lock(&c->mu[i % STRIPES]);
	/* Only onto the entry read under the same versions as the lookup:
	 * a takeover stored since then has moved them. */
	if (ticket_current(c, i, t) && slot_holds(c->slots[i], token_id, t))
		c->slots[i]->no_takeover = 1;
	pthread_mutex_unlock(&c->mu[i % STRIPES]);
}

void
enroll_cache_forget(struct enroll_cache *c, const char *token_id)
{
	size_t i = (size_t)fnv1a(token_id) & c->mask;
	pthread_mutex_t *mu = &c->mu[i % STRIPES];

	if (c->coarse) {
		atomic_fetch_add(&c->sh->gen, 1);
		return;
	}
	atomic_fetch_add(&c->sh->version[i], 1);
	pthread_mutex_lock(mu);
	slot_drop(&c->slots[i]);
	pthread_mutex_unlock(mu);
}

void
enroll_cache_clear(struct enroll_cache *c)
{
	/* Entries of older generations are dropped when next touched. */
	atomic_fetch_add(&c->sh->gen, 1);
}
