/*
 * conn_count.c - open connections in all and per client address (see
 * conn_count.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "net/conn_count.h"

#define CC_BUCKETS_MIN 256
#define CC_BUCKETS_MAX 65536

struct cc_entry {
	struct cc_entry *next;
	struct netaddr a;
	size_t open;
};

struct conn_count {
	size_t total_max, per_addr_max;
	atomic_size_t total;
	atomic_size_t refs;
	/* The table, only when per_addr_max > 0. */
	pthread_mutex_t mu;
	struct cc_entry **buckets;
	size_t mask;
	uint64_t k0, k1;
};

enum sa_err
conn_count_new(size_t total_max, size_t per_addr_max, struct conn_count **out)
{
	struct conn_count *cc = calloc(1, sizeof(*cc));
	unsigned char key[16];
	size_t n = CC_BUCKETS_MIN;

	if (cc == NULL)
		return SA_ERR_NOMEM;
	cc->total_max = total_max;
	cc->per_addr_max = per_addr_max;
	atomic_init(&cc->total, 0);
	atomic_init(&cc->refs, 1);
	pthread_mutex_init(&cc->mu, NULL);
	if (per_addr_max > 0) {
		/* About one bucket per two addresses the limit allows. */
		while (n < CC_BUCKETS_MAX && n < total_max / 2)
			n *= 2;
		if (rand_bytes(key, sizeof(key)) != SA_OK ||
		    (cc->buckets = calloc(n, sizeof(*cc->buckets))) == NULL) {
			conn_count_free(cc);
			return SA_ERR_NOMEM;
		}
		memcpy(&cc->k0, key, 8);
		memcpy(&cc->k1, key + 8, 8);
		cc->mask = n - 1;
	}
	*out = cc;
	return SA_OK;
}

struct conn_count *
conn_count_hold(struct conn_count *cc)
{
	atomic_fetch_add(&cc->refs, 1);
	return cc;
}

void
conn_count_free(struct conn_count *cc)
{
	if (cc == NULL || atomic_fetch_sub(&cc->refs, 1) != 1)
		return;
	if (cc->buckets != NULL)
		for (size_t i = 0; i <= cc->mask; i++) {
			struct cc_entry *e = cc->buckets[i], *next;

			for (; e != NULL; e = next) {
				next = e->next;
				free(e);
			}
		}
	free(cc->buckets);
	pthread_mutex_destroy(&cc->mu);
	free(cc);
}

/* find returns the link to a's entry, or to the end of its chain; the
 * caller holds mu. */
static struct cc_entry **
find(struct conn_count *cc, const struct netaddr *a)
{
	uint64_t h = siphash24(cc->k0, cc->k1, a->addr, sizeof(a->addr)) ^
		     (uint64_t)a->family;
	struct cc_entry **link = &cc->buckets[h & cc->mask];

	while (*link != NULL &&
	       ((*link)->a.family != a->family ||
		memcmp((*link)->a.addr, a->addr, sizeof(a->addr)) != 0))
		link = &(*link)->next;
	return link;
}

enum sa_err
conn_count_take(struct conn_count *cc, const struct netaddr *a, int *per_addr)
{
	struct cc_entry **link, *e;
	enum sa_err rc = SA_OK;

	*per_addr = 0;
	/* The total first: a refusal there touches no table. */
	if (atomic_fetch_add(&cc->total, 1) >= cc->total_max) {
		atomic_fetch_sub(&cc->total, 1);
		return SA_ERR_UNAVAILABLE;
	}
	if (cc->buckets == NULL || a == NULL)
		return SA_OK;
	pthread_mutex_lock(&cc->mu);
	link = find(cc, a);
	if ((e = *link) == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		e->a = *a;
		*link = e;
	}
	if (e->open >= cc->per_addr_max) {
		*per_addr = 1;
		rc = SA_ERR_UNAVAILABLE;
		goto out;
	}
	e->open++;
out:
	pthread_mutex_unlock(&cc->mu);
	if (rc != SA_OK)
		atomic_fetch_sub(&cc->total, 1);
	return rc;
}

void
conn_count_give(struct conn_count *cc, const struct netaddr *a)
{
	struct cc_entry **link, *e;

	atomic_fetch_sub(&cc->total, 1);
	if (cc->buckets == NULL || a == NULL)
		return;
	pthread_mutex_lock(&cc->mu);
	link = find(cc, a);
	if ((e = *link) != NULL && --e->open == 0) {
		*link = e->next;
		free(e);
	}
	pthread_mutex_unlock(&cc->mu);
}

size_t
conn_count_open(struct conn_count *cc, const struct netaddr *a)
{
	struct cc_entry *e;
	size_t n = 0;

	if (a == NULL)
		return atomic_load(&cc->total);
	if (cc->buckets == NULL)
		return 0;
	pthread_mutex_lock(&cc->mu);
	if ((e = *find(cc, a)) != NULL)
		n = e->open;
	pthread_mutex_unlock(&cc->mu);
	return n;
}
