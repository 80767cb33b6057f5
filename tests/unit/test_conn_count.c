/*
 * test_conn_count.c - the connection counts behind the connection limits:
 * the total, the cap per address, IPv4 and IPv6 addresses, giving back, many
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

#include <cmocka.h>

#include "net/conn_count.h"

/* addr is a textual IPv4 or IPv6 address as the table keys it. */
static struct netaddr
addr(const char *text)
{
	struct netaddr a;

	assert_int_equal(netaddr_parse(text, &a), SA_OK);
	return a;
}

/* nth is the i-th address of 10.0.0.0/8. */
static struct netaddr
nth(uint32_t i)
{
	struct netaddr a = {.family = AF_INET};
	uint32_t be = htonl(0x0a000000u + i);

	memcpy(a.addr, &be, 4);
	return a;
}

static void
test_per_address_cap(void **state)
{
	struct conn_count *cc;
	struct netaddr a = addr("192.0.2.1"), b = addr("192.0.2.2");
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
	struct netaddr a = addr("192.0.2.1"), b = addr("2001:db8::1");
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
	struct netaddr a = addr("192.0.2.1");
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
	struct netaddr a = addr("192.0.2.1");
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
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
	struct netaddr a, b, c = addr("1.2.3.4"), d = addr("102:304::");
	struct conn_count *cc;
	int per;

	(void)state;
	assert_int_equal(conn_count_new(10, 1, &cc), SA_OK);
	/* An IPv4 peer and the same address IPv4-mapped, as the server reads
	 * them from their sockets, are one address. */
	assert_int_equal(inet_pton(AF_INET, "198.51.100.7", &v4.sin_addr), 1);
	assert_int_equal(
	    inet_pton(AF_INET6, "::ffff:198.51.100.7", &mapped.sin6_addr), 1);
	assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&v4, &a),
			 SA_OK);
	assert_int_equal(netaddr_from_sockaddr((struct sockaddr *)&mapped, &b),
			 SA_OK);
	assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
	assert_int_equal(conn_count_take(cc, &b, &per), SA_ERR_UNAVAILABLE);
	assert_int_equal(per, 1);
	/* The same bytes in another family are another address. */
	assert_int_equal(conn_count_take(cc, &c, &per), SA_OK);
	assert_int_equal(conn_count_take(cc, &d, &per), SA_OK);
	assert_int_equal(conn_count_open(cc, &c), 1);
	assert_int_equal(conn_count_open(cc, &d), 1);
	conn_count_give(cc, &a);
	conn_count_give(cc, &c);
	conn_count_give(cc, &d);
	assert_int_equal(conn_count_open(cc, NULL), 0);
	conn_count_free(cc);
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
		struct netaddr a = nth(i);

		assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
		assert_int_equal(conn_count_take(cc, &a, &per), SA_OK);
		assert_int_equal(conn_count_take(cc, &a, &per),
				 SA_ERR_UNAVAILABLE);
	}
	assert_int_equal(conn_count_open(cc, NULL), 40000);
	for (uint32_t i = 0; i < 20000; i++) {
		struct netaddr a = nth(i);

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
	struct netaddr a = addr("203.0.113.9");
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
