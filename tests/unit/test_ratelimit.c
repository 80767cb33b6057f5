/*
 * test_ratelimit.c - fixed-window limits over the in-process store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/ratelimit.h"
#include "store/store.h"

static void
test_defaults_and_overrides(void **state)
{
	struct estore *es;
	struct ratelimit *rl;
	char why[256];
	int64_t count, window;

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	assert_int_equal(ratelimit_new(es, "enroll=7/60, custom=3/10", &rl, why,
				       sizeof(why)),
			 SA_OK);
	ratelimit_limit(rl, "initiate", &count, &window);
	assert_int_equal(count, 10);
	assert_int_equal(window, 60);
	ratelimit_limit(rl, "enroll", &count, &window);
	assert_int_equal(count, 7);
	ratelimit_limit(rl, "custom", &count, &window);
	assert_int_equal(count, 3);
	assert_int_equal(window, 10);
	ratelimit_free(rl);
	estore_close(es);
}

static void
test_bad_specs(void **state)
{
	struct estore *es;
	struct ratelimit *rl = NULL;
	char why[256] = "";
	const char *bad[] = {"enroll",	     "enroll=5",    "enroll=5/0",
			     "enroll=-1/60", "Enroll=5/60", "enroll=5/60x",
			     "a=1/1,,b=2/2"};

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(
		    ratelimit_new(es, bad[i], &rl, why, sizeof(why)),
		    SA_ERR_CONFIG);
		assert_non_null(strstr(why, "SEALAUTH_RATE_LIMITS"));
	}
	estore_close(es);
}

static void
test_limit_and_first_refusal(void **state)
{
	struct estore *es;
	struct ratelimit *rl;
	char why[256];
	int64_t retry = 0;
	int first = 0;

	assert_int_equal(estore_open("mem:", &es), SA_OK);
	assert_int_equal(
	    ratelimit_new(es, "t=3/60,off=0/60", &rl, why, sizeof(why)), SA_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    ratelimit_hit(rl, "t", "ip", "1.2.3.4", &retry, &first),
		    SA_OK);
	assert_int_equal(
	    ratelimit_hit(rl, "t", "ip", "1.2.3.4", &retry, &first),
	    SA_ERR_RATE_LIMITED);
	assert_true(first);
	assert_true(retry >= 1 && retry <= 60);
	assert_int_equal(
	    ratelimit_hit(rl, "t", "ip", "1.2.3.4", &retry, &first),
	    SA_ERR_RATE_LIMITED);
	assert_false(first);
	/* Other keys and kinds have their own counters. */
	assert_int_equal(ratelimit_hit(rl, "t", "ip", "5.6.7.8", NULL, NULL),
			 SA_OK);
	assert_int_equal(ratelimit_hit(rl, "t", "token", "1.2.3.4", NULL, NULL),
			 SA_OK);
	/* Unknown classes and a zero count are unlimited. */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(
		    ratelimit_hit(rl, "nothing", "ip", "x", NULL, NULL), SA_OK);
		assert_int_equal(
		    ratelimit_hit(rl, "off", "ip", "x", NULL, NULL), SA_OK);
	}
	ratelimit_free(rl);
	estore_close(es);
}

static void
test_long_keys_are_hashed(void **state)
{
	struct estore *es;
	struct ratelimit *rl;
	char why[256], key[1000];

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(estore_open("mem:", &es), SA_OK);
	assert_int_equal(ratelimit_new(es, "t=1/60", &rl, why, sizeof(why)),
			 SA_OK);
	assert_int_equal(ratelimit_hit(rl, "t", "token", key, NULL, NULL),
			 SA_OK);
	assert_int_equal(ratelimit_hit(rl, "t", "token", key, NULL, NULL),
			 SA_ERR_RATE_LIMITED);
	key[500] = 'j';
	assert_int_equal(ratelimit_hit(rl, "t", "token", key, NULL, NULL),
			 SA_OK);
	ratelimit_free(rl);
	estore_close(es);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_overrides),
	    cmocka_unit_test(test_bad_specs),
	    cmocka_unit_test(test_limit_and_first_refusal),
	    cmocka_unit_test(test_long_keys_are_hashed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
