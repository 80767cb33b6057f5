/*
 * test_ipaddr.c - the address rules that keep third-party URLs (push
 * endpoints, SAML metadata) off the server's own host and internal networks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/ipaddr.h"
#include "core/util.h"

static const char *
classify(const char *text)
{
	struct sockaddr_in s4 = {0};
	struct sockaddr_in6 s6 = {0};

	if (inet_pton(AF_INET, text, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		return ipaddr_refused((struct sockaddr *)&s4, sizeof(s4));
	}
	assert_int_equal(inet_pton(AF_INET6, text, &s6.sin6_addr), 1);
	s6.sin6_family = AF_INET6;
	return ipaddr_refused((struct sockaddr *)&s6, sizeof(s6));
}

static void
test_address_rules(void **state)
{
	static const struct {
		const char *addr;
		const char *why; /* NULL: public */
	} cases[] = {
	    {"8.8.8.8", NULL},
	    {"1.1.1.1", NULL},
	    {"172.32.0.1", NULL},
	    {"100.128.0.1", NULL},
	    {"127.0.0.1", "loopback"},
	    {"127.255.0.9", "loopback"},
	    {"10.1.2.3", "private"},
	    {"172.16.0.1", "private"},
	    {"172.31.255.255", "private"},
	    {"192.168.1.1", "private"},
	    {"100.64.0.1", "shared address space (CGNAT)"},
	    {"100.127.255.254", "shared address space (CGNAT)"},
	    {"169.254.169.254", "link-local"},
	    {"224.0.0.1", "multicast"},
	    {"0.0.0.0", "unspecified"},
	    {"255.255.255.255", "reserved"},
	    {"2001:4860:4860::8888", NULL},
	    {"::1", "loopback"},
	    {"::", "unspecified"},
	    {"fc00::1", "private"},
	    {"fd12:3456::1", "private"},
	    {"fe80::1", "link-local"},
	    {"ff02::1", "multicast"},
	    {"::ffff:127.0.0.1", "loopback"},
	    {"::ffff:10.0.0.1", "private"},
	    {"::ffff:8.8.8.8", NULL},
	    {"64:ff9b::a9fe:a9fe", "link-local"},
	    {"2002:c0a8:0101::1", "private"},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const char *got = classify(cases[i].addr);
		if (cases[i].why == NULL) {
			if (got != NULL)
				fail_msg("%s: refused as %s", cases[i].addr,
					 got);
		} else {
			if (got == NULL || strcmp(got, cases[i].why) != 0)
				fail_msg("%s: expected %s, got %s",
					 cases[i].addr, cases[i].why,
					 got ? got : "public");
		}
	}
}

static void
test_loopback(void **state)
{
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr un = {.sa_family = AF_UNIX};

	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	assert_true(ipaddr_is_loopback((struct sockaddr *)&s4, sizeof(s4)));
	inet_pton(AF_INET, "10.0.0.1", &s4.sin_addr);
	assert_false(ipaddr_is_loopback((struct sockaddr *)&s4, sizeof(s4)));
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	assert_true(ipaddr_is_loopback((struct sockaddr *)&s6, sizeof(s6)));
	/* A short length is not read past, and a non-internet family is
	 * refused as reserved. */
	assert_string_equal(ipaddr_refused((struct sockaddr *)&s4, 4),
			    "reserved");
	assert_string_equal(ipaddr_refused(&un, sizeof(un)), "reserved");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address_rules),
	    cmocka_unit_test(test_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
