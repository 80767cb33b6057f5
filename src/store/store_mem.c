/*
 * store_mem.c - the in-process ephemeral store: sessions with a TTL,
 * rate-limit counters and publish/subscribe inside one process.
 *
 * Keys live in MEM_STRIPES independent hash tables, each behind its own
 * mutex, so threads on the login hot path rarely wait for one another. A
 * key is known by its digest, two SipHash-2-4 values under two independent
 * keys drawn at random at open, not by its text: every login leaves an end
 * marker for a session lifetime, and its key was a third of its memory. A
 * key's stripe comes from the top bits of the first value, its bucket from
 * the low bits; an entry keeps the second value and the low 32 bits of the
 * first, so with the stripe 100 bits of the digest tell keys apart. Keys
 * carry client input such as IPs and token ids, but without the random
 * keys a client can neither pile keys into one chain nor make two keys
 * share a digest; by chance, two of a million keys share those 100 bits
 * with a probability under 2^-60. The store never hands a key back, so
 * nothing else needs its text. Each stripe is open hashing with
 * power-of-two buckets that double when the load passes MEM_LOAD entries
 * per bucket.
 *
 * Expiry is absolute, in monotonic milliseconds. An expired entry is
 * invisible at once: every lookup removes it when it meets it. A background
 * thread also wakes every second and sweeps up to MEM_SWEEP_BUCKETS buckets
 * of each stripe, resuming where it stopped, so keys nobody reads again are
 * freed too without holding a stripe lock for long; then it has the slabs
 * give back the memory of pages that stayed empty (mem_slab_trim).
 * estore_close stops it.
 *
 * Subscribers of a channel are called synchronously in the publisher's
 * thread, in subscription order, with no store lock held: callbacks must be
 * quick and thread-safe, and may use the store.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "store/store_int.h"
#include "core/util.h"

#define MEM_STRIPES 16	    /* a power of two */
#define MEM_STRIPE_SHIFT 60 /* 64 - log2(MEM_STRIPES) */
#define MEM_MIN_BUCKETS 64
#define MEM_LOAD 2 /* entries per bucket before the buckets double */
/* Buckets per stripe at most: a bucket is the low bits of an entry's id0. */
#define MEM_MAX_BUCKETS (1u << 24)
#define MEM_SWEEP_BUCKETS 4096 /* per stripe and sweep */
#define MEM_SWEEP_MS 1000
#define MEM_MAX_BYTES ((size_t)512 << 20) /* keys, values and entries */
#define MEM_SUBS_MAX 1024
#define MEM_COUNTER_CAP 24 /* room for any int64 in decimal and a NUL */

/* A key's digest: id[0] also places it (stripe and bucket). */
struct mem_id {
	uint64_t id[2];
};

/*
 * An entry is one allocation: the header, then the value (no NUL: readers
 * get copies with one). Every login keeps an entry for as long as its
 * session lives, so a second allocation per entry, the key's text and wide
 * fields would cost memory in proportion to the logins of the last session
 * lifetime. The header is 28 bytes: the expiry, the value's length and
 * whether the entry is a counter share one word, and an entry's room is
 * its value's length, or MEM_COUNTER_CAP bytes for a counter, which grows
 * in place. A new value otherwise takes a new entry. Entries come from
 * their stripe's slab (store_mem_slab.c), not from malloc: they outlive the
 * requests that make them, and malloc's arenas kept the memory around them.
 */
#define MEM_EXPIRES_BITS 46 /* 2^46 ms: over two thousand years */
#define MEM_VLEN_BITS 17
#define MEM_EXPIRES_MAX ((UINT64_C(1) << MEM_EXPIRES_BITS) - 1)
_Static_assert(ESTORE_VALUE_MAX < (1 << MEM_VLEN_BITS),
	       "a value's length fits its field");

struct mem_entry {
	struct mem_entry *next;
	uint64_t id1;			     /* the key's second value */
	uint64_t expires : MEM_EXPIRES_BITS; /* monotonic ms; 0: never */
	uint64_t counter : 1;		     /* room for MEM_COUNTER_CAP */
	uint64_t vlen : MEM_VLEN_BITS;	     /* at most ESTORE_VALUE_MAX */
	uint32_t id0;			     /* the low bits of its first */
	unsigned char val[];		     /* the value's room */
};
_Static_assert(offsetof(struct mem_entry, val) == 28, "an entry's header");

struct mem_stripe {
	pthread_mutex_t mu;
	struct mem_entry **buckets;
	size_t mask; /* buckets - 1 */
	size_t count;
	size_t bytes; /* of its entries, against MEM_MAX_BYTES */
	size_t big;   /* of those, in entries too big for a slot */
	size_t sweep_at;
	struct mem_slab slab; /* its entries, under a lock of its own */
} __attribute__((aligned(64)));

struct mem_sub {
	char *channel;
	estore_msg_cb cb;
	void *arg;
};

struct mem_store {
	struct estore base; /* first: the interface */
	struct mem_stripe stripes[MEM_STRIPES];
	uint64_t sip_k[4]; /* two SipHash keys: a key's digest */
	/* Subscriptions are only ever appended to a fixed array, so a
	 * publisher may read entries [0, nsubs) after dropping sub_mu. */
	pthread_mutex_t sub_mu;
	struct mem_sub subs[MEM_SUBS_MAX];
	size_t nsubs;
	/* The sweeper thread. */
	pthread_t sweeper;
	int sweeper_started;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
	int stopping;
	struct mem_indexes *indexes; /* store_mem_index.c */
};

/* mem_of finds the backend's state from the interface it embeds first. */
static inline struct mem_store *
mem_of(struct estore *store)
{
	return (struct mem_store *)store;
}

/* mem_key_len bounds a key or channel name: 1..ESTORE_KEY_MAX bytes, or 0
 * when it is missing, empty or too long. */
static size_t
mem_key_len(const char *key)
{
	size_t n = key ? strnlen(key, ESTORE_KEY_MAX + 1) : 0;

	return n <= ESTORE_KEY_MAX ? n : 0;
}

/* mem_expires turns a TTL into an absolute monotonic deadline (0: none). */
static uint64_t
mem_expires(uint64_t now, uint64_t ttl_ms)
{
	if (ttl_ms == 0)
		return 0;
	return ttl_ms > MEM_EXPIRES_MAX || now > MEM_EXPIRES_MAX - ttl_ms
		   ? MEM_EXPIRES_MAX
		   : now + ttl_ms;
}

static int
mem_expired(const struct mem_entry *e, uint64_t now)
{
	return e->expires != 0 && now >= e->expires;
}

/* mem_entry_size is the allocation of an entry with room for vcap value
 * bytes. */
static size_t
mem_entry_size(size_t vcap)
{
	return offsetof(struct mem_entry, val) + vcap;
}

/* mem_entry_cap is an entry's room for its value. */
static size_t
mem_entry_cap(const struct mem_entry *e)
{
	return e->counter ? MEM_COUNTER_CAP : e->vlen;
}

static size_t
mem_entry_bytes(const struct mem_entry *e)
{
	return mem_entry_size(mem_entry_cap(e));
}

/* mem_id_of is the digest of a key of klen bytes. */
static struct mem_id
mem_id_of(const struct mem_store *es, const char *key, size_t klen)
{
	return (struct mem_id){
	    {siphash24(es->sip_k[0], es->sip_k[1], key, klen),
	     siphash24(es->sip_k[2], es->sip_k[3], key, klen)}};
}

static struct mem_stripe *
mem_stripe_of(struct mem_store *es, const struct mem_id *id)
{
	return &es->stripes[id->id[0] >> MEM_STRIPE_SHIFT];
}

/* mem_lock_key puts the digest of a key of klen bytes in *id and locks and
 * returns its stripe. */
static struct mem_stripe *
mem_lock_key(struct mem_store *es, const char *key, size_t klen,
	     struct mem_id *id)
{
	struct mem_stripe *s;

	*id = mem_id_of(es, key, klen);
	s = mem_stripe_of(es, id);
	pthread_mutex_lock(&s->mu);
	return s;
}

/* mem_big is what entry e adds to its stripe's big: its bytes when they
 * come from malloc rather than a slot of the slab. */
static size_t
mem_big(const struct mem_entry *e)
{
	size_t b = mem_entry_bytes(e);

	return b > SLAB_SLOT_MAX ? b : 0;
}

/* mem_account keeps a stripe's bytes and big in step as entry out (may be
 * NULL) leaves its table and entry in (may be NULL) joins it; the caller
 * holds the stripe lock. */
static void
mem_account(struct mem_stripe *s, const struct mem_entry *out,
	    const struct mem_entry *in)
{
	if (out != NULL) {
		s->bytes -= mem_entry_bytes(out);
		s->big -= mem_big(out);
	}
	if (in != NULL) {
		s->bytes += mem_entry_bytes(in);
		s->big += mem_big(in);
	}
}

/* mem_entry_free gives back an unlinked entry (may be NULL), from any
 * thread, with or without its stripe's lock. */
static void
mem_entry_free(struct mem_entry *e)
{
	if (e != NULL)
		mem_slab_free(e, mem_entry_bytes(e));
}

/* mem_unlink removes the entry *link points at and frees it; the caller
 * holds the stripe lock. */
static void
mem_unlink(struct mem_stripe *s, struct mem_entry **link)
{
	struct mem_entry *e = *link;

	*link = e->next;
	s->count--;
	mem_account(s, e, NULL);
	mem_entry_free(e);
}

/*
 * mem_find returns the link that points at the live entry for the key of
 * digest id, or NULL. Expired entries met on the way are removed. The
 * caller holds the lock.
 */
static struct mem_entry **
mem_find(struct mem_stripe *s, const struct mem_id *id, uint64_t now)
{
	struct mem_entry **link = &s->buckets[id->id[0] & s->mask];

	while (*link != NULL) {
		struct mem_entry *e = *link;

		if (mem_expired(e, now)) {
			mem_unlink(s, link);
			continue;
		}
		if (e->id1 == id->id[1] && e->id0 == (uint32_t)id->id[0])
			return link;
		link = &e->next;
	}
	return NULL;
}

/* mem_grow doubles the buckets of a stripe; on failure the table stays as
 * it is (longer chains, still correct). The caller holds the lock. */
static void
mem_grow(struct mem_stripe *s)
{
	size_t n = s->mask + 1, nn = n * 2;
	struct mem_entry **nb;

	if (nn > MEM_MAX_BUCKETS || (nb = calloc(nn, sizeof(*nb))) == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		struct mem_entry *e = s->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->id0 & (nn - 1)];
			nb[e->id0 & (nn - 1)] = e;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->mask = nn - 1;
	s->sweep_at = 0;
}

/* mem_insert links a new entry into its bucket if the byte budget allows;
 * the caller holds the lock. */
static enum sa_err
mem_insert(struct mem_stripe *s, struct mem_entry *e)
{
	size_t b = mem_entry_bytes(e);

	if (s->bytes + b > MEM_MAX_BYTES / MEM_STRIPES)
		return SA_ERR_UNAVAILABLE;
	if (s->count >= MEM_LOAD * (s->mask + 1))
		mem_grow(s);
	e->next = s->buckets[e->id0 & s->mask];
	s->buckets[e->id0 & s->mask] = e;
	s->count++;
	mem_account(s, NULL, e);
	return SA_OK;
}

/* mem_entry_new allocates an unlinked entry for the key of digest id from
 * the slab of its stripe s (no stripe lock needed), holding the n bytes at
 * val, or an empty counter when counter is set. */
static struct mem_entry *
mem_entry_new(struct mem_stripe *s, const struct mem_id *id, const void *val,
	      size_t n, int counter)
{
	struct mem_entry *e = mem_slab_alloc(
	    &s->slab, mem_entry_size(counter ? MEM_COUNTER_CAP : n));

	if (e == NULL)
		return NULL;
	e->next = NULL;
	e->id1 = id->id[1];
	e->id0 = (uint32_t)id->id[0];
	e->expires = 0;
	e->counter = counter != 0;
	e->vlen = counter ? 0 : n;
	if (!counter && n > 0)
		memcpy(e->val, val, n);
	return e;
}

/*
 * mem_sweep removes expired entries from up to max buckets of a stripe,
 * starting where the last sweep stopped. The caller holds the lock.
 */
static void
mem_sweep(struct mem_stripe *s, size_t max, uint64_t now)
{
	size_t n = s->mask + 1;

	if (max > n)
		max = n;
	for (size_t i = 0; i < max; i++) {
		struct mem_entry **link = &s->buckets[s->sweep_at];

		while (*link != NULL) {
			if (mem_expired(*link, now))
				mem_unlink(s, link);
			else
				link = &(*link)->next;
		}
		s->sweep_at = (s->sweep_at + 1) & s->mask;
	}
}

/* mem_sweeper wakes every MEM_SWEEP_MS, sweeps a slice of each stripe and
 * trims the slabs, until the store is closed. */
static void *
mem_sweeper(void *arg)
{
	struct mem_store *es = arg;

	thread_name("sa-mem-sweep");
	for (;;) {
		struct timespec until = mono_deadline_ms(MEM_SWEEP_MS);
		int stop;

		pthread_mutex_lock(&es->stop_mu);
		while (!es->stopping &&
		       pthread_cond_timedwait(&es->stop_cv, &es->stop_mu,
					      &until) != ETIMEDOUT)
			;
		stop = es->stopping;
		pthread_mutex_unlock(&es->stop_mu);
		if (stop)
			break;
		uint64_t now = now_mono_ms();
		for (size_t i = 0; i < MEM_STRIPES; i++) {
			pthread_mutex_lock(&es->stripes[i].mu);
			mem_sweep(&es->stripes[i], MEM_SWEEP_BUCKETS, now);
			pthread_mutex_unlock(&es->stripes[i].mu);
			mem_slab_trim(&es->stripes[i].slab);
		}
		mem_indexes_trim(es->indexes);
	}
	return NULL;
}

static void mem_close(struct estore *es);

/* mem_open creates an empty store and starts its sweeper; the URL ("mem:"
 * or "") carries no options. *out owns the store. */
static enum sa_err
mem_open(const char *url, struct estore **out)
{
	struct mem_store *es;
	unsigned char key[32];
	enum sa_err rc;

	(void)url;
	if ((es = calloc(1, sizeof(*es))) == NULL)
		return SA_ERR_NOMEM;
	es->base.ops = &store_mem_ops;
	pthread_mutex_init(&es->sub_mu, NULL);
	pthread_mutex_init(&es->stop_mu, NULL);
	cond_init_mono(&es->stop_cv);
	for (size_t i = 0; i < MEM_STRIPES; i++) {
		struct mem_stripe *s = &es->stripes[i];

		pthread_mutex_init(&s->mu, NULL);
		mem_slab_init(&s->slab);
		s->mask = MEM_MIN_BUCKETS - 1;
		if ((s->buckets = calloc(MEM_MIN_BUCKETS,
					 sizeof(*s->buckets))) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
	}
	if ((rc = rand_bytes(key, sizeof(key))) != SA_OK)
		goto out;
	memcpy(es->sip_k, key, sizeof(es->sip_k));
	OPENSSL_cleanse(key, sizeof(key));
	if ((es->indexes = mem_indexes_new()) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (pthread_create(&es->sweeper, NULL, mem_sweeper, es) != 0) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	es->sweeper_started = 1;
	*out = &es->base;
	es = NULL;
	rc = SA_OK;
out:
	if (es != NULL)
		mem_close(&es->base);
	return rc;
}

/* mem_close stops the sweeper and frees every entry and subscription. */
static void
mem_close(struct estore *store)
{
	struct mem_store *es = mem_of(store);
	if (es == NULL)
		return;
	if (es->sweeper_started) {
		pthread_mutex_lock(&es->stop_mu);
		es->stopping = 1;
		pthread_cond_signal(&es->stop_cv);
		pthread_mutex_unlock(&es->stop_mu);
		pthread_join(es->sweeper, NULL);
	}
	for (size_t i = 0; i < MEM_STRIPES; i++) {
		struct mem_stripe *s = &es->stripes[i];

		for (size_t b = 0; s->buckets != NULL && b <= s->mask; b++)
			while (s->buckets[b] != NULL)
				mem_unlink(s, &s->buckets[b]);
		free(s->buckets);
		mem_slab_destroy(&s->slab);
		pthread_mutex_destroy(&s->mu);
	}
	for (size_t i = 0; i < es->nsubs; i++)
		free(es->subs[i].channel);
	mem_indexes_free(es->indexes);
	pthread_cond_destroy(&es->stop_cv);
	pthread_mutex_destroy(&es->stop_mu);
	pthread_mutex_destroy(&es->sub_mu);
	free(es);
}

static enum sa_err
mem_ping(struct estore *store)
{
	struct mem_store *es = mem_of(store);
	(void)es;
	return SA_OK;
}

/*
 * mem_set stores a copy of val in a fresh entry, allocated before the
 * stripe lock is taken so the lock is held only for the table update. The
 * fresh entry takes the place of an existing one in its chain; whichever
 * is unused is freed afterwards.
 */
static enum sa_err
mem_set(struct estore *store, const char *key, const void *val, size_t n,
	uint64_t ttl_ms, int flags)
{
	struct mem_store *es = mem_of(store);
	size_t klen = mem_key_len(key);
	struct mem_entry *fresh = NULL, *old = NULL, **link;
	struct mem_stripe *s;
	struct mem_id id;
	uint64_t now;
	enum sa_err rc;

	if (klen == 0 || n > ESTORE_VALUE_MAX || (val == NULL && n > 0) ||
	    (flags & ~(ESTORE_NX | ESTORE_XX)) != 0 ||
	    flags == (ESTORE_NX | ESTORE_XX))
		return SA_ERR_VALIDATION;
	id = mem_id_of(es, key, klen);
	s = mem_stripe_of(es, &id);
	if ((fresh = mem_entry_new(s, &id, val, n, 0)) == NULL)
		return SA_ERR_NOMEM;

	pthread_mutex_lock(&s->mu);
	now = now_mono_ms();
	link = mem_find(s, &id, now);
	if (link != NULL && (flags & ESTORE_NX)) {
		rc = SA_ERR_CONFLICT;
	} else if (link == NULL && (flags & ESTORE_XX)) {
		rc = SA_ERR_NOT_FOUND;
	} else if (link != NULL && s->bytes - mem_entry_cap(*link) + n >
				       MEM_MAX_BYTES / MEM_STRIPES) {
		rc = SA_ERR_UNAVAILABLE;
	} else if (link != NULL) {
		old = *link;
		fresh->next = old->next;
		fresh->expires = mem_expires(now, ttl_ms);
		*link = fresh;
		mem_account(s, old, fresh);
		fresh = NULL;
		rc = SA_OK;
	} else {
		fresh->expires = mem_expires(now, ttl_ms);
		if ((rc = mem_insert(s, fresh)) == SA_OK)
			fresh = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	mem_entry_free(old);
	mem_entry_free(fresh);
	return rc;
}

/* mem_get copies the value into a new NUL-terminated buffer (caller frees). */
static enum sa_err
mem_get(struct estore *store, const char *key, unsigned char **val, size_t *n,
	int64_t *ttl_ms)
{
	struct mem_store *es = mem_of(store);
	size_t klen = mem_key_len(key);
	struct mem_entry **link;
	struct mem_stripe *s;
	unsigned char *copy = NULL;
	struct mem_id id;
	uint64_t now;
	size_t len = 0;
	int64_t ttl = -1;
	enum sa_err rc;

	if (klen == 0)
		return SA_ERR_VALIDATION;
	s = mem_lock_key(es, key, klen, &id);
	now = now_mono_ms();
	if ((link = mem_find(s, &id, now)) == NULL) {
		rc = SA_ERR_NOT_FOUND;
	} else if ((copy = malloc((size_t)(*link)->vlen + 1)) == NULL) {
		rc = SA_ERR_NOMEM;
	} else {
		len = (*link)->vlen;
		memcpy(copy, (*link)->val, len);
		copy[len] = '\0';
		if ((*link)->expires != 0)
			ttl = (int64_t)((*link)->expires - now);
		rc = SA_OK;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc == SA_OK) {
		*val = copy;
		if (n != NULL)
			*n = len;
		if (ttl_ms != NULL)
			*ttl_ms = ttl;
	}
	return rc;
}

/* mem_get_many reads the keys one by one: in process there is no round
 * trip to save. */
static enum sa_err
mem_get_many(struct estore *store, const char *const *keys, size_t n,
	     struct estore_got *got)
{
	enum sa_err rc;

	for (size_t i = 0; i < n; i++) {
		rc = mem_get(store, keys[i], &got[i].val, &got[i].n,
			     &got[i].ttl_ms);
		if (rc != SA_OK && rc != SA_ERR_NOT_FOUND) {
			for (size_t j = 0; j < i; j++) {
				free(got[j].val);
				got[j].val = NULL;
			}
			return rc;
		}
		got[i].rc = rc;
	}
	return SA_OK;
}

/*
 * mem_del_match removes key, when val is not NULL only while it holds
 * exactly those n bytes; *done (may be NULL) tells whether it did.
 */
static enum sa_err
mem_del_match(struct estore *store, const char *key, const void *val, size_t n,
	      int *done)
{
	struct mem_store *es = mem_of(store);
	size_t klen = mem_key_len(key);
	struct mem_entry **link;
	struct mem_stripe *s;
	struct mem_id id;
	int found = 0;

	if (klen == 0)
		return SA_ERR_VALIDATION;
	s = mem_lock_key(es, key, klen, &id);
	if ((link = mem_find(s, &id, now_mono_ms())) != NULL &&
	    (val == NULL ||
	     ((*link)->vlen == n && memcmp((*link)->val, val, n) == 0))) {
		mem_unlink(s, link);
		found = 1;
	}
	pthread_mutex_unlock(&s->mu);
	if (done != NULL)
		*done = found;
	return SA_OK;
}

static enum sa_err
mem_del(struct estore *store, const char *key, int *existed)
{
	return mem_del_match(store, key, NULL, 0, existed);
}

static enum sa_err
mem_del_if(struct estore *store, const char *key, const void *val, size_t n,
	   int *deleted)
{
	return mem_del_match(store, key, val, n, deleted);
}

/* mem_counter_value parses a counter stored as decimal text; -1 if the value
 * is not a non-negative counter. */
static int64_t
mem_counter_value(const struct mem_entry *e)
{
	int64_t v = 0;

	if (e->vlen == 0 || e->vlen > 19)
		return -1;
	for (size_t i = 0; i < e->vlen; i++) {
		if (e->val[i] < '0' || e->val[i] > '9')
			return -1;
		v = v * 10 + (e->val[i] - '0');
	}
	return v;
}

/*
 * mem_incr adds one to the counter at key, creating it at 1 with a lifetime
 * of window_ms (0: none). The count is kept as decimal text, so estore_get
 * reads it as Redis would. A key holding something that is not a counter, or
 * a counter at INT64_MAX, gives SA_ERR_CONFLICT.
 */
static enum sa_err
mem_incr(struct estore *store, const char *key, uint64_t window_ms,
	 int64_t *count, int64_t *ttl_ms)
{
	struct mem_store *es = mem_of(store);
	size_t klen = mem_key_len(key);
	struct mem_entry *fresh = NULL, *e, **link;
	struct mem_stripe *s;
	struct mem_id id;
	uint64_t now;
	int64_t v = 0, ttl = -1;
	enum sa_err rc;

	if (klen == 0)
		return SA_ERR_VALIDATION;
	s = mem_lock_key(es, key, klen, &id);
	now = now_mono_ms();
	if ((link = mem_find(s, &id, now)) != NULL) {
		e = *link;
		if ((v = mem_counter_value(e)) < 0 || v == INT64_MAX) {
			rc = SA_ERR_CONFLICT;
			goto out;
		}
		if (!e->counter) {
			/* The entry moves; its link is the only pointer to it.
			 */
			struct mem_entry *ne = mem_slab_alloc(
			    &s->slab, mem_entry_size(MEM_COUNTER_CAP));
			if (ne == NULL) {
				rc = SA_ERR_NOMEM;
				goto out;
			}
			memcpy(ne, e, mem_entry_bytes(e));
			ne->counter = 1;
			mem_account(s, e, ne);
			*link = ne;
			mem_entry_free(e);
			e = ne;
		}
		v++;
	} else {
		/* The first hit opens the window; later hits do not move it. */
		if ((fresh = mem_entry_new(s, &id, NULL, 0, 1)) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		fresh->expires = mem_expires(now, window_ms);
		if ((rc = mem_insert(s, fresh)) != SA_OK)
			goto out;
		e = fresh;
		fresh = NULL;
		v = 1;
	}
	e->vlen = (unsigned)snprintf((char *)e->val, MEM_COUNTER_CAP, "%lld",
				     (long long)v);
	if (e->expires != 0)
		ttl = (int64_t)(e->expires - now);
	rc = SA_OK;
out:
	pthread_mutex_unlock(&s->mu);
	mem_entry_free(fresh);
	if (rc == SA_OK) {
		*count = v;
		if (ttl_ms != NULL)
			*ttl_ms = ttl;
	}
	return rc;
}

/*
 * mem_publish calls every subscriber of channel in this thread, with no
 * lock held, and returns once all have returned.
 */
static enum sa_err
mem_publish(struct estore *store, const char *channel, const void *msg,
	    size_t n)
{
	struct mem_store *es = mem_of(store);
	size_t clen = mem_key_len(channel), nsubs;

	if (clen == 0 || n > ESTORE_VALUE_MAX || (msg == NULL && n > 0))
		return SA_ERR_VALIDATION;
	pthread_mutex_lock(&es->sub_mu);
	nsubs = es->nsubs;
	pthread_mutex_unlock(&es->sub_mu);
	for (size_t i = 0; i < nsubs; i++) {
		const struct mem_sub *sub = &es->subs[i];

		if (strcmp(sub->channel, channel) == 0)
			sub->cb(channel, msg, n, sub->arg);
	}
	return SA_OK;
}

/* mem_subscribe adds cb for channel until the store is closed; at most
 * MEM_SUBS_MAX subscriptions per store (SA_ERR_UNAVAILABLE beyond). */
static enum sa_err
mem_subscribe(struct estore *store, const char *channel, estore_msg_cb cb,
	      void *arg)
{
	struct mem_store *es = mem_of(store);
	size_t clen = mem_key_len(channel);
	enum sa_err rc = SA_OK;
	char *copy;

	if (clen == 0 || cb == NULL)
		return SA_ERR_VALIDATION;
	if ((copy = strdup(channel)) == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_lock(&es->sub_mu);
	if (es->nsubs >= MEM_SUBS_MAX) {
		rc = SA_ERR_UNAVAILABLE;
	} else {
		es->subs[es->nsubs].channel = copy;
		es->subs[es->nsubs].cb = cb;
		es->subs[es->nsubs].arg = arg;
		es->nsubs++;
		copy = NULL;
	}
	pthread_mutex_unlock(&es->sub_mu);
	free(copy);
	return rc;
}

/* mem_count walks every stripe, dropping expired entries, and returns the
 * number of live keys. It is O(keys): for /health and tests. */
static size_t
mem_count(struct estore *store)
{
	struct mem_store *es = mem_of(store);
	size_t total = 0;

	for (size_t i = 0; i < MEM_STRIPES; i++) {
		struct mem_stripe *s = &es->stripes[i];

		pthread_mutex_lock(&s->mu);
		mem_sweep(s, s->mask + 1, now_mono_ms());
		total += s->count;
		pthread_mutex_unlock(&s->mu);
	}
	return total;
}

/* mem_footprint is estore_footprint: each stripe's count, its entries too
 * big for a slot, its buckets and its slab pages, and the indexes. */
static enum sa_err
mem_footprint(struct estore *store, size_t *entries, size_t *bytes)
{
	struct mem_store *es = mem_of(store);
	size_t n = 0, b = 0;

	for (size_t i = 0; i < MEM_STRIPES; i++) {
		struct mem_stripe *s = &es->stripes[i];

		pthread_mutex_lock(&s->mu);
		n += s->count;
		b += s->big + (s->mask + 1) * sizeof(*s->buckets);
		pthread_mutex_unlock(&s->mu);
		b += mem_slab_pages(&s->slab) * SLAB_PAGE;
	}
	*entries = n;
	*bytes = b + mem_indexes_bytes(es->indexes);
	return SA_OK;
}

static enum sa_err
mem_index_add(struct estore *store, const char *index, const char *member,
	      int64_t expires, int64_t now)
{
	return mem_indexes_add(mem_of(store)->indexes, index, member, expires,
			       now);
}

static enum sa_err
mem_index_del(struct estore *store, const char *index, const char *member,
	      int64_t expires)
{
	return mem_indexes_del(mem_of(store)->indexes, index, member, expires);
}

static enum sa_err
mem_index_page(struct estore *store, const char *index, int64_t now,
	       int64_t after_expires, const char *after, int limit,
	       estore_index_cb cb, void *arg)
{
	return mem_indexes_page(mem_of(store)->indexes, index, now,
				after_expires, after, limit, cb, arg);
}

/* mem_remove runs the batch's items one by one: in process there is no
 * round trip to save. */
static enum sa_err
mem_remove(struct estore *store, const struct estore_rm *items, size_t n)
{
	enum sa_err rc, first = SA_OK;

	for (size_t i = 0; i < n; i++) {
		const struct estore_rm *it = &items[i];

		if (it->kind == ESTORE_RM_INDEX)
			rc = mem_index_del(store, it->key, it->member,
					   it->expires);
		else
			rc = mem_del_match(
			    store, it->key,
			    it->kind == ESTORE_RM_KEY_IF ? it->val : NULL,
			    it->n, NULL);
		if (first == SA_OK)
			first = rc;
	}
	return first;
}

/* mem_set_publish stores, then publishes: in process there is no round
 * trip to save. */
static enum sa_err
mem_set_publish(struct estore *store, const char *key, const void *val,
		size_t n, uint64_t ttl_ms, const char *channel, const void *msg,
		size_t mn, enum sa_err *published)
{
	enum sa_err rc = mem_set(store, key, val, n, ttl_ms, 0);

	*published = mem_publish(store, channel, msg, mn);
	return rc;
}

/* mem_set_listed stores, then lists: in process there is no round trip to
 * save. */
static enum sa_err
mem_set_listed(struct estore *store, const char *key, const void *val, size_t n,
	       uint64_t ttl_ms, const char *index, const char *member,
	       int64_t expires, int64_t now)
{
	enum sa_err rc = mem_set(store, key, val, n, ttl_ms, ESTORE_NX);

	if (rc == SA_OK &&
	    (rc = mem_index_add(store, index, member, expires, now)) != SA_OK)
		mem_del_match(store, key, NULL, 0, NULL);
	return rc;
}

/* mem_set_remove stores, then removes: in process there is no round trip
 * to save. */
static enum sa_err
mem_set_remove(struct estore *store, const char *key, const void *val, size_t n,
	       uint64_t ttl_ms, int flags, const struct estore_rm *items,
	       size_t nitems)
{
	enum sa_err rc = mem_set(store, key, val, n, ttl_ms, flags);

	(void)mem_remove(store, items, nitems);
	return rc;
}

const struct estore_ops store_mem_ops = {
    .name = "mem",
    .open = mem_open,
    .close = mem_close,
    .ping = mem_ping,
    .set = mem_set,
    .get = mem_get,
    .get_many = mem_get_many,
    .del = mem_del,
    .del_if = mem_del_if,
    .remove = mem_remove,
    .incr = mem_incr,
    .publish = mem_publish,
    .subscribe = mem_subscribe,
    .set_publish = mem_set_publish,
    .count = mem_count,
    .footprint = mem_footprint,
    .index_add = mem_index_add,
    .index_del = mem_index_del,
    .set_listed = mem_set_listed,
    .set_remove = mem_set_remove,
    .index_page = mem_index_page,
};
