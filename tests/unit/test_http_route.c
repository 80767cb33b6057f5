/*
 * test_http_route.c - route pattern matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/http.h"
#include "net/http_int.h"

/*
 * The header deadline: overdue only once the limit has passed since the
 * connection's stamp, and never for a stamp later than the sweeper's clock
 * (a request that ended during the sweep), which wrapped to "overdue"
 * before and cut busy keep-alive connections.
 */
static void
test_header_overdue(void **state)
{
	(void)state;
	assert_false(http_header_overdue(1000, 1000, 10000));
	assert_false(http_header_overdue(10999, 1000, 10000));
	assert_true(http_header_overdue(11000, 1000, 10000));
	assert_true(http_header_overdue(UINT64_MAX, 0, 10000));
	assert_false(http_header_overdue(1000, 1001, 10000));
	assert_false(http_header_overdue(0, UINT64_MAX, 1));
}

static void
test_match(void **state)
{
	char scratch[64];
	const char *p[HTTP_PARAMS_MAX];
	size_t n = 99;

	assert_true(http_route_match("/health", "/health", scratch,
				     sizeof(scratch), p, &n));
	assert_int_equal(n, 0);
	assert_false(http_route_match("/health", "/health/", scratch,
				      sizeof(scratch), p, &n));
	assert_false(http_route_match("/health", "/healt", scratch,
				      sizeof(scratch), p, &n));
	assert_true(http_route_match("/ws/session/{id}", "/ws/session/sess_ab",
				     scratch, sizeof(scratch), p, &n));
	assert_int_equal(n, 1);
	assert_string_equal(p[0], "sess_ab");
	/* A parameter is one non-empty segment. */
	assert_false(http_route_match("/ws/session/{id}", "/ws/session/",
				      scratch, sizeof(scratch), p, &n));
	assert_false(http_route_match("/ws/session/{id}", "/ws/session/a/b",
				      scratch, sizeof(scratch), p, &n));
	assert_true(http_route_match("/a/{x}/b/{y}", "/a/1/b/22", scratch,
				     sizeof(scratch), p, &n));
	assert_int_equal(n, 2);
	assert_string_equal(p[0], "1");
	assert_string_equal(p[1], "22");
}

static void
test_scratch_is_bounded(void **state)
{
	char scratch[8];
	const char *p[HTTP_PARAMS_MAX];
	size_t n;

	assert_false(http_route_match("/a/{x}", "/a/0123456789", scratch,
				      sizeof(scratch), p, &n));
	assert_false(http_route_match("/{a}/{b}/{c}/{d}/{e}", "/1/2/3/4/5",
				      scratch, sizeof(scratch), p, &n));
}

static void
test_origin_allowed(void **state)
{
	char a[] = "https://a.example", b[] = "https://b.example";
	char *list[] = {a, b, NULL};

	assert_true(http_origin_allowed(list, "https://b.example"));
	assert_false(http_origin_allowed(list, "https://b.example.evil"));
	assert_false(http_origin_allowed(list, "https://B.example"));
	assert_false(http_origin_allowed(list, NULL));
	assert_false(http_origin_allowed(NULL, "https://a.example"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_overdue),
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_scratch_is_bounded),
	    cmocka_unit_test(test_origin_allowed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
