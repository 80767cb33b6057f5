/*
 * test_mem_slab.c - the in-process store's slabs: slots of every class,
 * pages given back once empty, and frees from other threads.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store_int.h"

/* fill writes a pattern of its own into each of the n bytes at p. */
static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i);
}

static int
intact(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 31 + i))
			return 0;
	return 1;
}

static void
test_every_size_gets_its_own_bytes(void **state)
{
	enum { N = SLAB_SLOT_MAX + 64 };
	struct mem_slab sl;
	unsigned char *p[N + 1];

	(void)state;
	mem_slab_init(&sl);
	/* Sizes 1..N: slots up to SLAB_SLOT_MAX, malloc above. */
	for (size_t n = 1; n <= N; n++) {
		p[n] = mem_slab_alloc(&sl, n);
		assert_non_null(p[n]);
		assert_int_equal((uintptr_t)p[n] % 8, 0);
		fill(p[n], n, (unsigned)n);
	}
	/* No two overlap: every pattern survived every other write. */
	for (size_t n = 1; n <= N; n++)
		assert_true(intact(p[n], n, (unsigned)n));
	/* One page for each class was mapped, and nothing for the rest. */
	assert_int_equal(mem_slab_pages(&sl), SLAB_SLOT_MAX / SLAB_STEP);
	for (size_t n = 1; n <= N; n++)
		mem_slab_free(p[n], n);
	/* Each class keeps its one page with room. */
	assert_int_equal(mem_slab_pages(&sl), SLAB_SLOT_MAX / SLAB_STEP);
	mem_slab_free(NULL, 10); /* nothing */
	mem_slab_destroy(&sl);
}

static void
test_empty_pages_are_given_back(void **state)
{
	enum { N = 20000 };
	struct mem_slab sl;
	unsigned char **p = calloc(N, sizeof(*p));
	size_t full;

	(void)state;
	assert_non_null(p);
	mem_slab_init(&sl);
	for (size_t i = 0; i < N; i++) {
		assert_non_null(p[i] = mem_slab_alloc(&sl, 64));
		fill(p[i], 64, (unsigned)i);
	}
	/* 20,000 slots of 64 bytes take about twenty 64 KiB pages. */
	full = mem_slab_pages(&sl);
	assert_in_range(full, 19, 22);
	/* Every other slot freed: the pages stay, half full. */
	for (size_t i = 0; i < N; i += 2)
		mem_slab_free(p[i], 64);
	assert_int_equal(mem_slab_pages(&sl), full);
	/* Their room is used before any new page. */
	for (size_t i = 0; i < N; i += 2)
		assert_non_null(p[i] = mem_slab_alloc(&sl, 64));
	assert_int_equal(mem_slab_pages(&sl), full);
	for (size_t i = 0; i < N; i += 2)
		fill(p[i], 64, (unsigned)i);
	for (size_t i = 0; i < N; i++)
		assert_true(intact(p[i], 64, (unsigned)i));
	/* All freed: one page stays for the class. */
	for (size_t i = 0; i < N; i++)
		mem_slab_free(p[i], 64);
	assert_int_equal(mem_slab_pages(&sl), 1);
	/* Destroying unmaps what is left, slots in use or not. */
	assert_non_null(mem_slab_alloc(&sl, 100));
	assert_int_equal(mem_slab_pages(&sl), 2);
	mem_slab_destroy(&sl);
	free(p);
}

/* resident counts the system pages of [p, p + n) in memory. */
static size_t
resident(void *p, size_t n)
{
	long sys = sysconf(_SC_PAGESIZE);
	unsigned char vec[SLAB_PAGE / 4096];
	size_t count = 0, pages = n / (size_t)sys;

	assert_true(sys >= 4096 && pages <= sizeof(vec));
	assert_int_equal(mincore(p, n, vec), 0);
	for (size_t i = 0; i < pages; i++)
		count += vec[i] & 1;
	return count;
}

static void
test_trim_gives_back_what_stayed_empty(void **state)
{
	struct mem_slab sl;
	unsigned char *p[1000], *page;
	long sys = sysconf(_SC_PAGESIZE);
	size_t all;

	(void)state;
	mem_slab_init(&sl);
	for (size_t i = 0; i < 1000; i++) {
		assert_non_null(p[i] = mem_slab_alloc(&sl, 64));
		fill(p[i], 64, (unsigned)i);
	}
	assert_int_equal(mem_slab_pages(&sl), 1);
	page = (unsigned char *)((uintptr_t)p[0] & ~(uintptr_t)(SLAB_PAGE - 1));
	all = SLAB_PAGE / (size_t)sys;
	assert_int_equal(resident(page, SLAB_PAGE), all);
	/* In use: a trim leaves the page alone. */
	mem_slab_trim(&sl);
	mem_slab_trim(&sl);
	assert_int_equal(resident(page, SLAB_PAGE), all);
	for (size_t i = 0; i < 1000; i++)
		assert_true(intact(p[i], 64, (unsigned)i));
	/* Empty: the page stays mapped (its class's only one); the first trim
	 * only notes it, the second gives back all but the header's page. */
	for (size_t i = 0; i < 1000; i++)
		mem_slab_free(p[i], 64);
	assert_int_equal(mem_slab_pages(&sl), 1);
	mem_slab_trim(&sl);
	assert_int_equal(resident(page, SLAB_PAGE), all);
	mem_slab_trim(&sl);
	assert_int_equal(resident(page, SLAB_PAGE), 1);
	/* Used again, it hands out its slots afresh. */
	for (size_t i = 0; i < 1000; i++) {
		assert_non_null(p[i] = mem_slab_alloc(&sl, 64));
		fill(p[i], 64, (unsigned)i + 7);
	}
	assert_int_equal(mem_slab_pages(&sl), 1);
	for (size_t i = 0; i < 1000; i++) {
		assert_true(intact(p[i], 64, (unsigned)i + 7));
		mem_slab_free(p[i], 64);
	}
	mem_slab_destroy(&sl);
}

/* Threads hand slots to one another through a ring: each slot is freed by
 * a thread that did not allocate it, and checked first. */
#define RING 4096
#define ROUNDS 40000

struct ring {
	pthread_mutex_t mu;
	unsigned char *slot[RING];
	size_t size[RING];
	unsigned seed[RING];
	size_t bad;
	struct mem_slab *sl;
	unsigned next_seed;
};

static void *
churn(void *arg)
{
	struct ring *r = arg;
	unsigned x = 0;

	pthread_mutex_lock(&r->mu);
	x = r->next_seed++ * 2654435761u;
	pthread_mutex_unlock(&r->mu);
	for (int k = 0; k < ROUNDS; k++) {
		size_t n = 1 + (x >> 8) % (SLAB_SLOT_MAX + 40);
		unsigned char *p = mem_slab_alloc(r->sl, n), *old;
		size_t at = (x >> 4) % RING, oldn;
		unsigned oldseed;

		x = x * 1103515245u + 12345u;
		if (p == NULL)
			continue;
		fill(p, n, x);
		pthread_mutex_lock(&r->mu);
		old = r->slot[at];
		oldn = r->size[at];
		oldseed = r->seed[at];
		r->slot[at] = p;
		r->size[at] = n;
		r->seed[at] = x;
		pthread_mutex_unlock(&r->mu);
		if (old != NULL) {
			if (!intact(old, oldn, oldseed)) {
				pthread_mutex_lock(&r->mu);
				r->bad++;
				pthread_mutex_unlock(&r->mu);
			}
			mem_slab_free(old, oldn);
		}
	}
	return NULL;
}

static void
test_frees_from_other_threads(void **state)
{
	struct mem_slab sl;
	struct ring *r = calloc(1, sizeof(*r));
	pthread_t t[4];

	(void)state;
	assert_non_null(r);
	mem_slab_init(&sl);
	pthread_mutex_init(&r->mu, NULL);
	r->sl = &sl;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, r), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(r->bad, 0);
	for (size_t i = 0; i < RING; i++) {
		if (r->slot[i] == NULL)
			continue;
		assert_true(intact(r->slot[i], r->size[i], r->seed[i]));
		mem_slab_free(r->slot[i], r->size[i]);
	}
	/* Everything came back: at most one page per class stays. */
	assert_in_range(mem_slab_pages(&sl), 1, SLAB_SLOT_MAX / SLAB_STEP);
	mem_slab_destroy(&sl);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_size_gets_its_own_bytes),
	    cmocka_unit_test(test_empty_pages_are_given_back),
	    cmocka_unit_test(test_trim_gives_back_what_stayed_empty),
	    cmocka_unit_test(test_frees_from_other_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
