/*
 * test_netaddr.c - addresses, CIDR lists and X-Forwarded-For.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/netaddr.h"

static void
client_of(const char *peer, const char *xff, const char *trusted, char *out)
{
	struct netaddr p, c;
	struct cidr_list l;

	assert_int_equal(netaddr_parse(peer, &p), SA_OK);
	assert_int_equal(cidr_list_parse(trusted, &l, NULL), SA_OK);
	netaddr_client(&p, xff, &l, &c);
	netaddr_format(&c, out);
}

static void
test_parse_and_format(void **state)
{
	struct netaddr a;
	char t[NETADDR_TEXT_MAX];

	assert_int_equal(netaddr_parse("127.0.0.1", &a), SA_OK);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(netaddr_parse("[::1]", &a), SA_OK);
	netaddr_format(&a, t);
	assert_string_equal(t, "::1");
	/* IPv4-mapped IPv6 folds to IPv4 so limits and lists see one client. */
	assert_int_equal(netaddr_parse("::ffff:10.1.2.3", &a), SA_OK);
	netaddr_format(&a, t);
	assert_string_equal(t, "10.1.2.3");
	assert_int_not_equal(netaddr_parse("300.1.1.1", &a), SA_OK);
	assert_int_not_equal(netaddr_parse("", &a), SA_OK);
	assert_int_not_equal(netaddr_parse("1.2.3.4 ", &a), SA_OK);
}

static void
test_cidr_lists(void **state)
{
	struct cidr_list l;
	struct netaddr a;
	size_t bad = 99;

	assert_int_equal(
	    cidr_list_parse("10.0.0.0/8, 192.168.1.7,fd00::/8", &l, NULL),
	    SA_OK);
	assert_int_equal(l.n, 3);
	netaddr_parse("10.200.3.4", &a);
	assert_true(cidr_list_contains(&l, &a));
	netaddr_parse("11.0.0.1", &a);
	assert_false(cidr_list_contains(&l, &a));
	netaddr_parse("192.168.1.7", &a);
	assert_true(cidr_list_contains(&l, &a));
	netaddr_parse("192.168.1.8", &a);
	assert_false(cidr_list_contains(&l, &a));
	netaddr_parse("fd12::1", &a);
	assert_true(cidr_list_contains(&l, &a));
	assert_int_equal(cidr_list_parse("", &l, NULL), SA_OK);
	assert_int_equal(l.n, 0);
	assert_int_equal(cidr_list_parse("10.0.0.0/8,10.0.0.0/33", &l, &bad),
			 SA_ERR_CONFIG);
	assert_int_equal(bad, 1);
	assert_int_equal(cidr_list_parse("nonsense", &l, &bad), SA_ERR_CONFIG);
	assert_int_equal(bad, 0);
	/* A /0 matches everything of its family only. */
	assert_int_equal(cidr_list_parse("0.0.0.0/0", &l, NULL), SA_OK);
	netaddr_parse("8.8.8.8", &a);
	assert_true(cidr_list_contains(&l, &a));
	netaddr_parse("::2", &a);
	assert_false(cidr_list_contains(&l, &a));
}

static void
test_forwarded_for(void **state)
{
	char out[NETADDR_TEXT_MAX];

	/* Untrusted peer: the header is ignored. */
	client_of("198.51.100.9", "1.2.3.4", "10.0.0.0/8", out);
	assert_string_equal(out, "198.51.100.9");
	/* No trusted proxies configured: ignored. */
	client_of("10.0.0.1", "1.2.3.4", "", out);
	assert_string_equal(out, "10.0.0.1");
	/* Trusted peer: the rightmost untrusted entry. */
	client_of("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "10.0.0.0/8", out);
	assert_string_equal(out, "1.2.3.4");
	/* Garbage stops the walk at the last trusted hop. */
	client_of("10.0.0.1", "1.2.3.4, nonsense", "10.0.0.0/8", out);
	assert_string_equal(out, "10.0.0.1");
	/* Every hop trusted: the leftmost. */
	client_of("10.0.0.1", "10.0.0.3,10.0.0.2", "10.0.0.0/8", out);
	assert_string_equal(out, "10.0.0.3");
	client_of("10.0.0.1", "", "10.0.0.0/8", out);
	assert_string_equal(out, "10.0.0.1");
	client_of("10.0.0.1", "[2001:db8::5]", "10.0.0.0/8", out);
	assert_string_equal(out, "2001:db8::5");
}

static void
test_loopback_origins(void **state)
{
	char out[256], tiny[8];

	assert_int_equal(
	    netaddr_loopback_origins("http://127.0.0.1:8080", out, sizeof(out)),
	    SA_OK);
	assert_string_equal(out, "http://127.0.0.1:8080,http://localhost:8080,"
				 "http://[::1]:8080");
	assert_int_equal(
	    netaddr_loopback_origins("http://localhost", out, sizeof(out)),
	    SA_OK);
	assert_string_equal(out,
			    "http://127.0.0.1,http://localhost,http://[::1]");
	/* Not loopback, or not plain http: unchanged. */
	assert_int_equal(
	    netaddr_loopback_origins("https://id.example", out, sizeof(out)),
	    SA_OK);
	assert_string_equal(out, "https://id.example");
	assert_int_equal(netaddr_loopback_origins("http://localhost.evil:80",
						  out, sizeof(out)),
			 SA_OK);
	assert_string_equal(out, "http://localhost.evil:80");
	assert_int_equal(
	    netaddr_loopback_origins("http://127.0.0.1:1", tiny, sizeof(tiny)),
	    SA_ERR_BAD_REQUEST);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_format),
	    cmocka_unit_test(test_cidr_lists),
	    cmocka_unit_test(test_forwarded_for),
	    cmocka_unit_test(test_loopback_origins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
