/*
 * test_store_mem.c - the in-process ephemeral store: TTLs, NX/XX, fixed
 * window counters, delete races, bounds, publish/subscribe, keys kept as
 * digests and a multi-threaded smoke test.
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
#include "store_contract.h"

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
test_set_get_ttl_expiry(void **state)
{
	estore_contract_ttl(*state);
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

/* estore_footprint counts entries and the memory they take: slab pages for
 * small ones, their own bytes for larger ones, which leave with them. */
static void
test_footprint(void **state)
{
	struct estore *es = *state;
	size_t n0, b0, n1, b1, n2, b2, n3, b3;
	char key[32], big[2000];

	memset(big, 'b', sizeof(big));
	assert_int_equal(estore_footprint(es, &n0, &b0), SA_OK);
	assert_int_equal(n0, 0);
	assert_true(b0 > 0); /* the hash tables */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "small:%d", i);
		assert_int_equal(
		    estore_set(es, key, "0123456789", 10, 60000, 0), SA_OK);
	}
	assert_int_equal(estore_footprint(es, &n1, &b1), SA_OK);
	assert_int_equal(n1, 1000);
	/* At least a slot of 48 bytes each, in pages of 64 KiB. */
	assert_true(b1 >= b0 + 1000 * 48);
	assert_true(b1 % 1024 == b0 % 1024);
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "big:%d", i);
		assert_int_equal(
		    estore_set(es, key, big, sizeof(big), 60000, 0), SA_OK);
	}
	assert_int_equal(estore_footprint(es, &n2, &b2), SA_OK);
	assert_int_equal(n2, 1010);
	assert_true(b2 >= b1 + 10 * sizeof(big));
	assert_true(b2 < b1 + 10 * (sizeof(big) + 64));
	/* Replaced by a small value (of a slot size in use, so no new page),
	 * then deleted: their bytes go. */
	assert_int_equal(estore_set(es, "big:0", "0123456789", 10, 60000, 0),
			 SA_OK);
	for (int i = 1; i < 10; i++) {
		snprintf(key, sizeof(key), "big:%d", i);
		assert_int_equal(estore_del(es, key, NULL), SA_OK);
	}
	assert_int_equal(estore_footprint(es, &n3, &b3), SA_OK);
	assert_int_equal(n3, 1001);
	assert_int_equal(b3, b1);
	assert_int_equal(estore_count(es), 1001);
}

static void
test_nx_xx(void **state)
{
	estore_contract_nx_xx(*state);
}

static void
test_incr_fixed_window(void **state)
{
	estore_contract_incr(*state);
}

static void
test_del_race_exactly_once(void **state)
{
	estore_contract_del_race(*state, 2000);
}

static void
test_bounds(void **state)
{
	estore_contract_bounds(*state);
}

static void
test_index(void **state)
{
	estore_contract_index(*state);
}

static void
test_del_if(void **state)
{
	estore_contract_del_if(*state);
}

static void
test_get_many(void **state)
{
	estore_contract_get_many(*state);
}

static void
test_set_listed(void **state)
{
	estore_contract_set_listed(*state);
}

static void
test_set_publish(void **state)
{
	estore_contract_set_publish(*state);
}

static void
test_set_remove(void **state)
{
	estore_contract_set_remove(*state);
}

static void
test_remove(void **state)
{
	estore_contract_remove(*state);
}

static void
test_pubsub_two_subscribers(void **state)
{
	struct estore *es = *state;
	struct inbox a;

	estore_contract_pubsub(es);
	/* In process, delivery is synchronous: done when publish returns, on
	 * the publisher's thread. */
	inbox_init(&a);
	assert_int_equal(estore_subscribe(es, "sync", on_msg, &a), SA_OK);
	assert_int_equal(estore_publish(es, "sync", "now", 3), SA_OK);
	assert_int_equal(a.n, 1);
	assert_true(pthread_equal(a.thread, pthread_self()));
	inbox_destroy(&a);
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
	for (int i = 0; i < 20000; i++) {
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

/*
 * The store keeps keys as digests, not text: keys that are prefixes of one
 * another, keys of the longest length differing in one byte and a value
 * under one key never show under another; values come back whole, binary
 * included, with a NUL after them; a counter grows out of a short value.
 */
static void
test_keys_by_digest(void **state)
{
	struct estore *es = *state;
	char key[ESTORE_KEY_MAX + 1], other[ESTORE_KEY_MAX + 1];
	const unsigned char bin[5] = {'a', 0, 'b', 0, 0xff};
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t count = 0;

	/* "p", "pp", ... up to the longest key, each its own value. */
	for (size_t len = 1; len <= ESTORE_KEY_MAX; len++) {
		memset(key, 'p', len);
		key[len] = '\0';
		assert_int_equal(estore_set(es, key, &len, sizeof(len), 0, 0),
				 SA_OK);
	}
	for (size_t len = 1; len <= ESTORE_KEY_MAX; len++) {
		memset(key, 'p', len);
		key[len] = '\0';
		assert_int_equal(estore_get(es, key, &v, &n, NULL), SA_OK);
		assert_int_equal(n, sizeof(len));
		assert_memory_equal(v, &len, sizeof(len));
		free(v);
	}
	/* Longest keys differing in their last byte only. */
	memset(key, 'x', ESTORE_KEY_MAX);
	key[ESTORE_KEY_MAX] = '\0';
	memcpy(other, key, sizeof(other));
	other[ESTORE_KEY_MAX - 1] = 'y';
	assert_int_equal(estore_set(es, key, bin, sizeof(bin), 0, 0), SA_OK);
	assert_int_equal(estore_get(es, other, &v, &n, NULL), SA_ERR_NOT_FOUND);
	assert_int_equal(estore_get(es, key, &v, &n, NULL), SA_OK);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(v, bin, sizeof(bin));
	assert_int_equal(v[n], 0);
	free(v);
	/* An empty value is an empty string. */
	assert_int_equal(estore_set(es, other, "", 0, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, other, &v, &n, NULL), SA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(v[0], 0);
	free(v);
	/* A one-byte counter value grows to hold a longer count. */
	assert_int_equal(estore_set(es, "ctr", "9", 1, 0, 0), SA_OK);
	assert_int_equal(estore_incr(es, "ctr", 0, &count, NULL), SA_OK);
	assert_int_equal(count, 10);
	assert_int_equal(estore_get(es, "ctr", &v, &n, NULL), SA_OK);
	assert_string_equal((char *)v, "10");
	free(v);
	assert_int_equal(estore_count(es), ESTORE_KEY_MAX + 3);
}

/*
 * An entry's header packs its expiry, its value's length and whether it is
 * a counter into one word: the longest value comes back whole, a lifetime
 * past what the expiry can hold is kept as the longest it can, and an
 * entry turns from counter to value and back with its room right.
 */
static void
test_entry_fields(void **state)
{
	struct estore *es = *state;
	unsigned char *big = malloc(ESTORE_VALUE_MAX + 1), *v = NULL;
	size_t n = 0;
	int64_t count = 0, ttl = 0;

	assert_non_null(big);
	for (size_t i = 0; i <= ESTORE_VALUE_MAX; i++)
		big[i] = (unsigned char)(i * 7);
	assert_int_equal(estore_set(es, "big", big, ESTORE_VALUE_MAX, 0, 0),
			 SA_OK);
	assert_int_equal(estore_get(es, "big", &v, &n, &ttl), SA_OK);
	assert_int_equal(n, ESTORE_VALUE_MAX);
	assert_memory_equal(v, big, ESTORE_VALUE_MAX);
	assert_int_equal(ttl, -1);
	free(v);
	assert_int_equal(estore_set(es, "big", big, ESTORE_VALUE_MAX + 1, 0, 0),
			 SA_ERR_VALIDATION);
	free(big);
	/* A lifetime far past the clock's range: kept, never expired. */
	assert_int_equal(estore_set(es, "long", "x", 1, UINT64_MAX / 2, 0),
			 SA_OK);
	assert_int_equal(estore_get(es, "long", &v, &n, &ttl), SA_OK);
	assert_true(ttl > (int64_t)1 << 40);
	free(v);
	assert_int_equal(estore_incr(es, "lctr", UINT64_MAX, &count, &ttl),
			 SA_OK);
	assert_int_equal(count, 1);
	assert_true(ttl > (int64_t)1 << 40);
	/* Counter, then a longer plain value, then a counter again. */
	for (int i = 0; i < 12; i++)
		assert_int_equal(estore_incr(es, "c2", 60000, &count, NULL),
				 SA_OK);
	assert_int_equal(count, 12);
	assert_int_equal(estore_set(es, "c2",
				    "a value longer than a counter's "
				    "room of twenty-four bytes",
				    57, 60000, 0),
			 SA_OK);
	assert_int_equal(estore_incr(es, "c2", 60000, &count, NULL),
			 SA_ERR_CONFLICT);
	assert_int_equal(
	    estore_set(es, "c2", "99999999999999999", 17, 60000, 0), SA_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(estore_incr(es, "c2", 60000, &count, NULL),
				 SA_OK);
	assert_int_equal(count, 100000000000000002LL);
	assert_int_equal(estore_get(es, "c2", &v, &n, NULL), SA_OK);
	assert_string_equal((char *)v, "100000000000000002");
	free(v);
}

static void
test_concurrency_smoke(void **state)
{
	estore_contract_concurrency(*state, 5000);
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
	    cmocka_unit_test_setup_teardown(test_index, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_del_if, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_publish, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_listed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pubsub_two_subscribers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_many_keys_grow, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_keys_by_digest, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_entry_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_footprint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency_smoke, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
