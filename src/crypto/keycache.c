/*
 * keycache.c - a bounded hash map from SHA-256(PEM) to parsed keys.
 *
 * Sixteen independently locked shards; each holds at most KEYCACHE_MAX/16
 * entries and, when full, drops its oldest entry (a FIFO per shard is
 * enough: enrolled keys are few and stable, and a miss only costs a parse).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ecdsa.h"
#include "crypto/keycache.h"
#include "core/util.h"

#define SHARDS 16
#define SHARD_MAX (KEYCACHE_MAX / SHARDS)

struct entry {
	unsigned char digest[32];
	EVP_PKEY *key;
	struct entry *next;  /* hash chain */
	struct entry *older; /* FIFO towards the oldest */
	struct entry *newer;
};

struct shard {
	pthread_mutex_t mu;
	struct entry *buckets[SHARD_MAX];
	struct entry *oldest, *newest;
	size_t n;
};

struct keycache {
	struct shard shards[SHARDS];
};

enum sa_err
keycache_new(struct keycache **out)
{
	struct keycache *kc;

	*out = NULL;
	if ((kc = calloc(1, sizeof(*kc))) == NULL)
		return SA_ERR_NOMEM;
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_init(&kc->shards[i].mu, NULL);
	*out = kc;
	return SA_OK;
}

void
keycache_free(struct keycache *kc)
{
	if (kc == NULL)
		return;
	keycache_clear(kc);
	for (size_t i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&kc->shards[i].mu);
	free(kc);
}

static size_t
bucket_of(const unsigned char d[32])
{
	size_t b;

	memcpy(&b, d + 1, sizeof(b)); /* the digest is uniform already */
	return b % SHARD_MAX;
}

/* unlink_entry removes e from its chain and the FIFO; caller holds mu. */
static void
unlink_entry(struct shard *s, struct entry *e)
{
	struct entry **pp = &s->buckets[bucket_of(e->digest)];

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		s->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		s->newest = e->older;
	s->n--;
}

static EVP_PKEY *
lookup(struct shard *s, const unsigned char d[32])
{
	for (struct entry *e = s->buckets[bucket_of(d)]; e != NULL; e = e->next)
		if (memcmp(e->digest, d, 32) == 0)
			return EVP_PKEY_up_ref(e->key) == 1 ? e->key : NULL;
	return NULL;
}

enum sa_err
keycache_pubkey(struct keycache *kc, const char *pem, size_t n, EVP_PKEY **out)
{
	unsigned char d[32];
	struct shard *s;
	struct entry *e;
	EVP_PKEY *key, *cached;
	enum sa_err rc;

	sha256(pem, n, d);
	s = &kc->shards[d[0] % SHARDS];
	pthread_mutex_lock(&s->mu);
	key = lookup(s, d);
	pthread_mutex_unlock(&s->mu);
	if (key != NULL) {
		*out = key;
		return SA_OK;
	}
	/* Parse outside the lock: it is the slow part. */
	if ((rc = ecdsa_pubkey_from_pem(pem, n, &key)) != SA_OK)
		return rc;
	e = calloc(1, sizeof(*e));
	if (e == NULL || EVP_PKEY_up_ref(key) != 1) {
		free(e);
		*out = key; /* still usable, just not cached */
		return SA_OK;
	}
	memcpy(e->digest, d, 32);
	e->key = key;
	pthread_mutex_lock(&s->mu);
	if ((cached = lookup(s, d)) != NULL) {
		/* Another thread cached it meanwhile: keep theirs. */
		pthread_mutex_unlock(&s->mu);
		EVP_PKEY_free(cached); /* the reference lookup took */
		EVP_PKEY_free(e->key); /* the reference meant for the cache */
		free(e);
		*out = key;
		return SA_OK;
	}
	if (s->n >= SHARD_MAX) {
		struct entry *old = s->oldest;
		unlink_entry(s, old);
		EVP_PKEY_free(old->key);
		free(old);
	}
	e->next = s->buckets[bucket_of(d)];
	s->buckets[bucket_of(d)] = e;
	e->older = s->newest;
	if (s->newest != NULL)
		s->newest->newer = e;
	else
		s->oldest = e;
	s->newest = e;
	s->n++;
	pthread_mutex_unlock(&s->mu);
	*out = key;
	return SA_OK;
}

void
keycache_clear(struct keycache *kc)
{
	for (size_t i = 0; i < SHARDS; i++) {
		struct shard *s = &kc->shards[i];
		pthread_mutex_lock(&s->mu);
		while (s->oldest != NULL) {
			struct entry *e = s->oldest;
			unlink_entry(s, e);
			EVP_PKEY_free(e->key);
			free(e);
		}
		pthread_mutex_unlock(&s->mu);
	}
}

size_t
keycache_count(struct keycache *kc)
{
	size_t n = 0;

	for (size_t i = 0; i < SHARDS; i++) {
		pthread_mutex_lock(&kc->shards[i].mu);
		n += kc->shards[i].n;
		pthread_mutex_unlock(&kc->shards[i].mu);
	}
	return n;
}
