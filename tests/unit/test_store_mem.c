/*
 * test_store_mem.c - the in-process ephemeral store: TTLs, NX/XX, fixed
 * window counters, delete races, bounds, publish/subscribe and a
 * multi-threaded smoke test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/store.h"
#include "core/util.h"

static int
setup(void **state)
{
	struct estore *es = NULL;

	log_set_level(SA_LOG_ERROR);
	assert_int_equal(estore_open("mem:", &es), SA_OK);
	*state = es;
	return 0;
}

static int
teardown(void **state)
{
	estore_close(*state);
	return 0;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void
test_set_get_ttl_expiry(void **state)
{
	struct estore *es = *state;
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t ttl = 0;

	assert_int_equal(estore_set(es, "sess:1", "hello", 5, 80, 0), SA_OK);
	assert_int_equal(estore_set(es, "keep", "k", 1, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "sess:1", &v, &n, &ttl), SA_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(v, "hello", 6); /* NUL-terminated copy */
	assert_true(ttl > 0 && ttl <= 80);
	free(v);
	v = NULL;
	assert_int_equal(estore_get(es, "keep", &v, &n, &ttl), SA_OK);
	assert_int_equal(ttl, -1);
	free(v);
	v = NULL;
	assert_int_equal(estore_count(es), 2);

	sleep_ms(150);
	assert_int_equal(estore_get(es, "sess:1", &v, &n, NULL),
			 SA_ERR_NOT_FOUND);
	assert_null(v);
	assert_int_equal(estore_count(es), 1);
}

static void
test_expired_keys_not_counted(void **state)
{
	struct estore *es = *state;
	char key[32];

	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "short:%d", i);
		assert_int_equal(estore_set(es, key, "x", 1, 20, 0), SA_OK);
	}
	assert_int_equal(estore_set(es, "long", "y", 1, 60000, 0), SA_OK);
	assert_int_equal(estore_count(es), 101);
	sleep_ms(60);
	/* Expired keys are invisible at once, whether swept or not. */
	assert_int_equal(estore_count(es), 1);
}

static void
test_nx_xx(void **state)
{
	struct estore *es = *state;
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t ttl = 0;

	assert_int_equal(estore_set(es, "k", "b", 1, 0, ESTORE_XX),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(estore_count(es), 0);
	assert_int_equal(estore_set(es, "k", "a", 1, 0, ESTORE_NX), SA_OK);
	assert_int_equal(estore_set(es, "k", "c", 1, 0, ESTORE_NX),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_get(es, "k", &v, &n, NULL), SA_OK);
	assert_string_equal((char *)v, "a");
	free(v);
	assert_int_equal(estore_set(es, "k", "dd", 2, 5000, ESTORE_XX), SA_OK);
	assert_int_equal(estore_get(es, "k", &v, &n, &ttl), SA_OK);
	assert_string_equal((char *)v, "dd");
	assert_true(ttl > 4000 && ttl <= 5000);
	free(v);
	assert_int_equal(estore_set(es, "k", "e", 1, 0, ESTORE_NX | ESTORE_XX),
			 SA_ERR_VALIDATION);

	/* NX succeeds again once the key expired. */
	assert_int_equal(estore_set(es, "t", "1", 1, 20, 0), SA_OK);
	sleep_ms(50);
	assert_int_equal(estore_set(es, "t", "2", 1, 0, ESTORE_NX), SA_OK);
}

static void
test_incr_fixed_window(void **state)
{
	struct estore *es = *state;
	int64_t count = 0, ttl = 0, first_ttl = 0;
	unsigned char *v = NULL;

	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &first_ttl),
			 SA_OK);
	assert_int_equal(count, 1);
	assert_true(first_ttl > 0 && first_ttl <= 200);
	sleep_ms(60);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &ttl), SA_OK);
	assert_int_equal(count, 2);
	/* A later hit does not extend the window. */
	assert_true(ttl <= first_ttl - 50);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, NULL), SA_OK);
	assert_int_equal(count, 3);
	assert_int_equal(estore_get(es, "rl:ip", &v, NULL, NULL), SA_OK);
	assert_string_equal((char *)v, "3");
	free(v);

	sleep_ms(200);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &ttl), SA_OK);
	assert_int_equal(count, 1);
	assert_true(ttl > 100);

	/* A non-counter is not incremented. */
	assert_int_equal(estore_set(es, "s", "abc", 3, 0, 0), SA_OK);
	assert_int_equal(estore_incr(es, "s", 1000, &count, &ttl),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_set(es, "max", "9223372036854775807", 19, 0, 0),
			 SA_OK);
	assert_int_equal(estore_incr(es, "max", 1000, &count, &ttl),
			 SA_ERR_CONFLICT);
}

struct del_race {
	struct estore *es;
	pthread_barrier_t *bar;
	int rounds;
	int wins;
};

static void *
del_racer(void *arg)
{
	struct del_race *r = arg;

	for (int i = 0; i < r->rounds; i++) {
		int existed = -1;

		pthread_barrier_wait(r->bar); /* the key is set */
		/* cmocka asserts only work on the test's own thread. */
		if (estore_del(r->es, "race", &existed) != SA_OK)
			existed = 100;
		r->wins += existed;
		pthread_barrier_wait(r->bar); /* both deleted */
	}
	return NULL;
}

static void
test_del_race_exactly_once(void **state)
{
	struct estore *es = *state;
	pthread_barrier_t bar;
	struct del_race r[2];
	pthread_t t[2];
	const int rounds = 2000;

	pthread_barrier_init(&bar, NULL, 3);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct del_race){es, &bar, rounds, 0};
		pthread_create(&t[i], NULL, del_racer, &r[i]);
	}
	for (int i = 0; i < rounds; i++) {
		assert_int_equal(estore_set(es, "race", "v", 1, 0, 0), SA_OK);
		pthread_barrier_wait(&bar);
		pthread_barrier_wait(&bar);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	assert_int_equal(r[0].wins + r[1].wins, rounds);
	assert_int_equal(estore_count(es), 0);
}

static void
test_bounds(void **state)
{
	struct estore *es = *state;
	char key[ESTORE_KEY_MAX + 2];
	unsigned char *val = calloc(ESTORE_VALUE_MAX + 1, 1), *v = NULL;
	size_t n = 0;
	int existed = 1;

	assert_non_null(val);
	memset(key, 'k', sizeof(key));
	key[ESTORE_KEY_MAX + 1] = '\0'; /* one over */
	assert_int_equal(estore_set(es, key, "v", 1, 0, 0), SA_ERR_VALIDATION);
	assert_int_equal(estore_get(es, key, &v, &n, NULL), SA_ERR_VALIDATION);
	assert_int_equal(estore_del(es, key, &existed), SA_ERR_VALIDATION);
	key[ESTORE_KEY_MAX] = '\0'; /* exactly the maximum */
	assert_int_equal(estore_set(es, key, "v", 1, 0, 0), SA_OK);
	assert_int_equal(estore_set(es, "", "v", 1, 0, 0), SA_ERR_VALIDATION);

	assert_int_equal(estore_set(es, "big", val, ESTORE_VALUE_MAX + 1, 0, 0),
			 SA_ERR_VALIDATION);
	val[ESTORE_VALUE_MAX - 1] = 'z';
	assert_int_equal(estore_set(es, "big", val, ESTORE_VALUE_MAX, 0, 0),
			 SA_OK);
	assert_int_equal(estore_get(es, "big", &v, &n, NULL), SA_OK);
	assert_int_equal(n, ESTORE_VALUE_MAX);
	assert_int_equal(v[ESTORE_VALUE_MAX - 1], 'z');
	assert_int_equal(v[ESTORE_VALUE_MAX], '\0');
	free(v);
	assert_int_equal(estore_count(es), 2);
	assert_int_equal(estore_publish(es, key, val, ESTORE_VALUE_MAX + 1),
			 SA_ERR_VALIDATION);
	free(val);
}

struct inbox {
	pthread_mutex_t mu;
	int n;
	char last[64];
	char channel[32];
};

static void
on_msg(const char *channel, const void *msg, size_t n, void *arg)
{
	struct inbox *in = arg;

	pthread_mutex_lock(&in->mu);
	in->n++;
	snprintf(in->last, sizeof(in->last), "%.*s", (int)n, (const char *)msg);
	snprintf(in->channel, sizeof(in->channel), "%s", channel);
	pthread_mutex_unlock(&in->mu);
}

static void
test_pubsub_two_subscribers(void **state)
{
	struct estore *es = *state;
	struct inbox a = {PTHREAD_MUTEX_INITIALIZER, 0, "", ""};
	struct inbox b = {PTHREAD_MUTEX_INITIALIZER, 0, "", ""};
	struct inbox other = {PTHREAD_MUTEX_INITIALIZER, 0, "", ""};

	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &a),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &b),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:xyz", on_msg, &other),
			 SA_OK);
	assert_int_equal(estore_publish(es, "session:abc", "approved", 8),
			 SA_OK);
	/* Delivery is synchronous: done when publish returns. */
	assert_int_equal(a.n, 1);
	assert_int_equal(b.n, 1);
	assert_string_equal(a.last, "approved");
	assert_string_equal(b.last, "approved");
	assert_string_equal(a.channel, "session:abc");
	assert_int_equal(other.n, 0);
	assert_int_equal(estore_publish(es, "session:none", "x", 1), SA_OK);
	assert_int_equal(a.n + b.n + other.n, 2);
	assert_int_equal(estore_subscribe(es, "c", NULL, &a),
			 SA_ERR_VALIDATION);
}

static void
test_many_keys_grow(void **state)
{
	struct estore *es = *state;
	char key[32];
	unsigned char *v = NULL;
	size_t n;
	int existed = 0;

	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(estore_set(es, key, key, strlen(key), 0, 0),
				 SA_OK);
	}
	assert_int_equal(estore_count(es), 20000);
	for (int i = 0; i < 20000; i += 97) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(estore_get(es, key, &v, &n, NULL), SA_OK);
		assert_string_equal((char *)v, key);
		free(v);
	}
	assert_int_equal(estore_del(es, "k19999", &existed), SA_OK);
	assert_int_equal(existed, 1);
	assert_int_equal(estore_del(es, "k19999", &existed), SA_OK);
	assert_int_equal(existed, 0);
	assert_int_equal(estore_count(es), 19999);
}

#define SMOKE_THREADS 8
#define SMOKE_OPS 5000

struct smoke {
	struct estore *es;
	int id;
	int failures;
};

static void *
smoke_worker(void *arg)
{
	struct smoke *s = arg;
	char key[48], val[48];

	for (int i = 0; i < SMOKE_OPS; i++) {
		int64_t count;
		unsigned char *v = NULL;
		size_t n = 0;
		int existed;

		snprintf(key, sizeof(key), "t%d:%d", s->id, i % 64);
		snprintf(val, sizeof(val), "%d-%d", s->id, i);
		if (estore_set(s->es, key, val, strlen(val), 60000, 0) != SA_OK)
			s->failures++;
		if (estore_get(s->es, key, &v, &n, NULL) != SA_OK ||
		    strcmp((char *)v, val) != 0)
			s->failures++;
		free(v);
		if (estore_incr(s->es, "shared", 0, &count, NULL) != SA_OK ||
		    count < 1)
			s->failures++;
		if (i % 3 == 0 &&
		    (estore_del(s->es, key, &existed) != SA_OK || existed != 1))
			s->failures++;
	}
	return NULL;
}

static void
test_concurrency_smoke(void **state)
{
	struct estore *es = *state;
	struct smoke s[SMOKE_THREADS];
	pthread_t t[SMOKE_THREADS];
	unsigned char *v = NULL;

	for (int i = 0; i < SMOKE_THREADS; i++) {
		s[i] = (struct smoke){es, i, 0};
		pthread_create(&t[i], NULL, smoke_worker, &s[i]);
	}
	for (int i = 0; i < SMOKE_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(s[i].failures, 0);
	}
	/* No increment was lost. */
	assert_int_equal(estore_get(es, "shared", &v, NULL, NULL), SA_OK);
	assert_int_equal(atoll((char *)v), SMOKE_THREADS * SMOKE_OPS);
	free(v);
	/* Keys t<id>:<i%64>: the last write of each slot happened at
	 * i = 4936..4999, and those with i % 3 == 0 were deleted. */
	size_t live = 0;
	for (int i = SMOKE_OPS - 64; i < SMOKE_OPS; i++)
		live += i % 3 != 0;
	assert_int_equal(estore_count(es), SMOKE_THREADS * live + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_set_get_ttl_expiry, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_expired_keys_not_counted,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nx_xx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incr_fixed_window, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_del_race_exactly_once, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pubsub_two_subscribers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_many_keys_grow, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency_smoke, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
