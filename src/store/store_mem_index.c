/*
 * store_mem_index.c - the expiring indexes of the in-process store
 * (store.h, "Expiring indexes").
 *
 * An index is an array of entries kept in the reverse of page order:
 * expiry ascending and, for one expiry, member descending. New entries
 * (the latest expiry, since login sessions all live as long) go near the
 * end, expired ones gather at the front where one move drops them all, and
 * a page walks from the end. The few indexes (one for the login sessions)
 * are found by name in a list; one mutex guards them all, held only for
 * the array work: a page's callback runs on a copy, without it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/* An entry is allocated to the length of its member, from the indexes'
 * slab (store_mem_slab.c): an index lists every login session of the last
 * session lifetime. */
struct mem_ientry {
	int64_t expires;
	char member[]; /* at most ESTORE_MEMBER_MAX bytes and a NUL */
};

/* A page is copied out under the lock into entries of the largest size. */
struct mem_icopy {
	int64_t expires;
	char member[ESTORE_MEMBER_MAX + 1];
};

struct mem_index {
	struct mem_index *next;
	struct mem_ientry **v;
	size_t n, cap;
	char name[ESTORE_KEY_MAX + 1];
};

struct mem_indexes {
	pthread_mutex_t mu;
	struct mem_index *head;
	struct mem_slab slab; /* the entries */
};

static size_t
ientry_size(size_t len)
{
	return sizeof(struct mem_ientry) + len + 1;
}

static void
ientry_free(struct mem_ientry *e)
{
	mem_slab_free(e, ientry_size(strlen(e->member)));
}

size_t
mem_indexes_bytes(struct mem_indexes *x)
{
	size_t b = 0;

	if (x == NULL)
		return 0;
	pthread_mutex_lock(&x->mu);
	for (struct mem_index *i = x->head; i != NULL; i = i->next)
		b += sizeof(*i) + i->cap * sizeof(*i->v);
	pthread_mutex_unlock(&x->mu);
	/* Every entry is in a slot: a member and its expiry take at most 137
	 * bytes. */
	return b + mem_slab_pages(&x->slab) * SLAB_PAGE;
}

struct mem_indexes *
mem_indexes_new(void)
{
	struct mem_indexes *x = calloc(1, sizeof(*x));

	if (x != NULL) {
		pthread_mutex_init(&x->mu, NULL);
		mem_slab_init(&x->slab);
	}
	return x;
}

void
mem_indexes_free(struct mem_indexes *x)
{
	struct mem_index *i, *next;

	if (x == NULL)
		return;
	for (i = x->head; i != NULL; i = next) {
		next = i->next;
		for (size_t k = 0; k < i->n; k++)
			ientry_free(i->v[k]);
		free(i->v);
		free(i);
	}
	mem_slab_destroy(&x->slab);
	pthread_mutex_destroy(&x->mu);
	free(x);
}

void
mem_indexes_trim(struct mem_indexes *x)
{
	if (x != NULL)
		mem_slab_trim(&x->slab);
}

/* index_find finds the index called name; with create, makes it. */
static struct mem_index *
index_find(struct mem_indexes *x, const char *name, int create)
{
	struct mem_index *i;

	for (i = x->head; i != NULL; i = i->next)
		if (strcmp(i->name, name) == 0)
			return i;
	if (!create || (i = calloc(1, sizeof(*i))) == NULL)
		return NULL;
	memcpy(i->name, name, strlen(name) + 1);
	i->next = x->head;
	x->head = i;
	return i;
}

/* entry_cmp orders (expires, member) as the array does. */
static int
entry_cmp(int64_t ea, const char *ma, int64_t eb, const char *mb)
{
	if (ea != eb)
		return ea < eb ? -1 : 1;
	return -strcmp(ma, mb);
}

/* lower_bound is the first position whose entry is not before the one
 * given. */
static size_t
lower_bound(const struct mem_index *i, int64_t expires, const char *member)
{
	size_t lo = 0, hi = i->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (entry_cmp(i->v[mid]->expires, i->v[mid]->member, expires,
			      member) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* drop_front removes the first n entries. */
static void
drop_front(struct mem_index *i, size_t n)
{
	for (size_t k = 0; k < n; k++)
		ientry_free(i->v[k]);
	memmove(i->v, i->v + n, (i->n - n) * sizeof(*i->v));
	i->n -= n;
}

/* purge drops the entries that expired at or before now. */
static void
purge(struct mem_index *i, int64_t now)
{
	size_t n = 0;

	while (n < i->n && i->v[n]->expires <= now)
		n++;
	if (n > 0)
		drop_front(i, n);
}

enum sa_err
mem_indexes_add(struct mem_indexes *x, const char *name, const char *member,
		int64_t expires, int64_t now)
{
	struct mem_index *i;
	struct mem_ientry *e = NULL;
	enum sa_err rc = SA_OK;
	size_t at, len = strnlen(member, ESTORE_MEMBER_MAX);

	pthread_mutex_lock(&x->mu);
	if ((i = index_find(x, name, 1)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	purge(i, now);
	if (expires <= now)
		goto out; /* gone already: nothing to list */
	at = lower_bound(i, expires, member);
	if (at < i->n && i->v[at]->expires == expires &&
	    strcmp(i->v[at]->member, member) == 0)
		goto out;
	if (i->n == i->cap) {
		size_t cap = i->cap ? i->cap * 2 : 64;
		struct mem_ientry **v = realloc(i->v, cap * sizeof(*v));

		if (v == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		i->v = v;
		i->cap = cap;
	}
	if ((e = mem_slab_alloc(&x->slab, ientry_size(len))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	e->expires = expires;
	memcpy(e->member, member, len);
	e->member[len] = '\0';
	memmove(i->v + at + 1, i->v + at, (i->n - at) * sizeof(*i->v));
	i->v[at] = e;
	i->n++;
	/* Over the bound: the entries expiring soonest go. */
	if (i->n > ESTORE_INDEX_MAX)
		drop_front(i, i->n - ESTORE_INDEX_MAX);
out:
	pthread_mutex_unlock(&x->mu);
	return rc;
}

enum sa_err
mem_indexes_del(struct mem_indexes *x, const char *name, const char *member,
		int64_t expires)
{
	struct mem_index *i;
	size_t at;

	pthread_mutex_lock(&x->mu);
	if ((i = index_find(x, name, 0)) != NULL) {
		at = lower_bound(i, expires, member);
		if (at < i->n && i->v[at]->expires == expires &&
		    strcmp(i->v[at]->member, member) == 0) {
			ientry_free(i->v[at]);
			memmove(i->v + at, i->v + at + 1,
				(i->n - at - 1) * sizeof(*i->v));
			i->n--;
		}
	}
	pthread_mutex_unlock(&x->mu);
	return SA_OK;
}

enum sa_err
mem_indexes_page(struct mem_indexes *x, const char *name, int64_t now,
		 int64_t after_expires, const char *after, int limit,
		 estore_index_cb cb, void *arg)
{
	struct mem_icopy *copy = calloc((size_t)limit, sizeof(*copy));
	struct mem_index *i;
	size_t end, got = 0;

	if (copy == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_lock(&x->mu);
	if ((i = index_find(x, name, 0)) != NULL) {
		purge(i, now);
		/* Page order is the array's reversed: what comes after the
		 * cursor sits before its place in the array. */
		end =
		    after != NULL ? lower_bound(i, after_expires, after) : i->n;
		while (end > 0 && got < (size_t)limit) {
			const struct mem_ientry *e = i->v[--end];

			copy[got].expires = e->expires;
			memcpy(copy[got].member, e->member,
			       strlen(e->member) + 1);
			got++;
		}
	}
	pthread_mutex_unlock(&x->mu);
	for (size_t k = 0; k < got; k++)
		if (cb(copy[k].member, copy[k].expires, arg) != 0)
			break;
	free(copy);
	return SA_OK;
}
