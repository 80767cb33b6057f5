/*
 * test_conn_count.c - the connection counts behind the connection limits:
 * the total, the cap per address, IPv4 and IPv6 keys, giving back, many
 * addresses, and threads taking and giving at once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "net/conn_count.h"

static struct conn_addr
v4(const char *text)
{
	struct sockaddr_in sa;
	struct conn_addr a;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, text, &sa.sin_addr), 1);
	assert_int_equal(conn_addr_of((struct sockaddr *)&sa, sizeof(sa), &a),
			 1);
	return a;
}

static struct conn_addr
v6(const char *text)
{
	struct sockaddr_in6 sa;
	struct conn_addr a;

	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6_addr), 1);
	assert_int_equal(conn_addr_of((struct sockaddr *)&sa, sizeof(sa), &a),
			 1);
	return a;
}

static void
test_per_address_cap(void **state)
{
	struct conn_count *cc;
	struct conn_addr a = v4("192.0.2.1"), b = v4("192.0.2.2");
	int per = -1;

	(void)state;
	assert_int_equal(conn_count_new(100, 3, &cc), SA_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
	assert_int_equal(conn_count_take(cc, &a, &per), SA_ERR_UNAVAILABLE);
	assert_int_equal(per, 1);
	/* The refusal counted nothing; another address is not held back. */
	assert_int_equal(conn_count_open(cc, &a), 3);
	assert_int_equal(conn_count_open(cc, NULL), 3);
	assert_int_equal(conn_count_take(cc, &b, &per), SA_OK);
	assert_int_equal(per, 0);
	/* Giving one back lets the address open one more. */
	conn_count_give(cc, &a);
	assert_int_equal(conn_count_open(cc, &a), 2);
	assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
	for (int i = 0; i < 3; i++)
		conn_count_give(cc, &a);
	conn_count_give(cc, &b);
	assert_int_equal(conn_count_open(cc, &a), 0);
	assert_int_equal(conn_count_open(cc, NULL), 0);
	conn_count_free(cc);
}

static void
test_total_cap(void **state)
{
	struct conn_count *cc;
	struct conn_addr a = v4("192.0.2.1"), b = v6("2001:db8::1");
	int per = -1;

	(void)state;
	assert_int_equal(conn_count_new(4, 3, &cc), SA_OK);
	assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
	assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
	assert_int_equal(conn_count_take(cc, &b, &per), SA_OK);
	/* A peer of no known family counts in the total only. */
	assert_int_equal(conn_count_take(cc, NULL, &per), SA_OK);
	assert_int_equal(conn_count_take(cc, &b, &per), SA_ERR_UNAVAILABLE);
	assert_int_equal(per, 0); /* the total, not b's cap */
	assert_int_equal(conn_count_open(cc, &b), 1);
	conn_count_give(cc, NULL);
	assert_int_equal(conn_count_take(cc, &b, &per), SA_OK);
	conn_count_free(cc); /* with entries left: freed too */
}

static void
test_hold(void **state)
{
	struct conn_count *cc;
	struct conn_addr a = v4("192.0.2.1");
	int per;

	(void)state;
	/* A holder outlives the creator's free: a WebSocket that ends after
	 * the HTTP server stopped still gives its count back. */
	assert_int_equal(conn_count_new(10, 2, &cc), SA_OK);
	assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
	assert_ptr_equal(conn_count_hold(cc), cc);
	conn_count_free(cc);
	assert_int_equal(conn_count_open(cc, &a), 1);
	conn_count_give(cc, &a);
	assert_int_equal(conn_count_open(cc, NULL), 0);
	conn_count_free(cc); /* the last: freed (the sanitizer build checks) */
}

static void
test_no_cap_per_address(void **state)
{
	struct conn_count *cc;
	struct conn_addr a = v4("192.0.2.1");
	int per = -1;

	(void)state;
	/* 0 per address (behind a proxy): only the total holds. */
	assert_int_equal(conn_count_new(5, 0, &cc), SA_OK);
	for (int i = 0; i < 5; i++)
		assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
	assert_int_equal(conn_count_take(cc, &a, &per), SA_ERR_UNAVAILABLE);
	assert_int_equal(per, 0);
	for (int i = 0; i < 5; i++)
		conn_count_give(cc, &a);
	assert_int_equal(conn_count_open(cc, NULL), 0);
	conn_count_free(cc);
}

static void
test_keys(void **state)
{
	struct sockaddr_in6 m;
	struct sockaddr_un un;
	struct conn_addr a = v4("198.51.100.7"), b, c;

	(void)state;
	/* An IPv4 peer and the same address IPv4-mapped are one key. */
	memset(&m, 0, sizeof(m));
	m.sin6_family = AF_INET6;
	assert_int_equal(
	    inet_pton(AF_INET6, "::ffff:198.51.100.7", &m.sin6_addr), 1);
	assert_int_equal(conn_addr_of((struct sockaddr *)&m, sizeof(m), &b), 1);
	assert_memory_equal(a.b, b.b, sizeof(a.b));
	c = v6("2001:db8::7");
	assert_memory_not_equal(a.b, c.b, sizeof(a.b));
	/* Other families, short lengths and NULL are not keys. */
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_int_equal(conn_addr_of((struct sockaddr *)&un, sizeof(un), &c),
			 0);
	assert_int_equal(conn_addr_of((struct sockaddr *)&m, 8, &c), 0);
	assert_int_equal(conn_addr_of(NULL, 0, &c), 0);
}

static void
test_many_addresses(void **state)
{
	struct conn_count *cc;
	int per;

	(void)state;
	/* More addresses than buckets: chains, and entries leave the table
	 * when their last connection ends. */
	assert_int_equal(conn_count_new(100000, 2, &cc), SA_OK);
	for (uint32_t i = 0; i < 20000; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		struct conn_addr a;

		sa.sin_addr.s_addr = htonl(0x0a000000u + i);
		conn_addr_of((struct sockaddr *)&sa, sizeof(sa), &a);
		assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
		assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
		assert_int_equal(conn_count_take(cc, &a, &per),
				 SA_ERR_UNAVAILABLE);
	}
	assert_int_equal(conn_count_open(cc, NULL), 40000);
	for (uint32_t i = 0; i < 20000; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		struct conn_addr a;

		sa.sin_addr.s_addr = htonl(0x0a000000u + i);
		conn_addr_of((struct sockaddr *)&sa, sizeof(sa), &a);
		conn_count_give(cc, &a);
		conn_count_give(cc, &a);
		assert_int_equal(conn_count_open(cc, &a), 0);
	}
	assert_int_equal(conn_count_open(cc, NULL), 0);
	conn_count_free(cc);
}

struct worker {
	struct conn_count *cc;
	int n;
	int over; /* times the address was seen above its cap */
};

static void *
churn(void *arg)
{
	struct worker *w = arg;
	struct conn_addr a = v4("203.0.113.9");
	int per;

	for (int i = 0; i < w->n; i++) {
		if (conn_count_take(w->cc, &a, &per) == SA_OK) {
			if (conn_count_open(w->cc, &a) > 2)
				w->over++;
			conn_count_give(w->cc, &a);
		}
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct conn_count *cc;
	struct worker w[4];
	pthread_t t[4];

	(void)state;
	/* Four threads on one address with a cap of 2: never more than two
	 * counted at once, and when all are done nothing is left counted. */
	assert_int_equal(conn_count_new(1000, 2, &cc), SA_OK);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){cc, 20000, 0};
		assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].over, 0);
	}
	assert_int_equal(conn_count_open(cc, NULL), 0);
	conn_count_free(cc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_per_address_cap),
	    cmocka_unit_test(test_total_cap),
	    cmocka_unit_test(test_hold),
	    cmocka_unit_test(test_no_cap_per_address),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_many_addresses),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
