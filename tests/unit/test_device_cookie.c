/*
 * test_device_cookie.c - the owner's browser cookie: made for one token id,
 * found among other cookies, refused when expired, forged or for another
 * token id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/otp.h"
#include "login/device_cookie.h"

#define NOW 1800000000LL

static unsigned char key[OTP_KEY_LEN];

static int
setup(void **state)
{
	(void)state;
	return otp_derive_key(
		   (const unsigned char *)"sealauth-test-master-secret-0001",
		   32, "device", key) == SA_OK
		   ? 0
		   : -1;
}

static void
test_round_trip_among_other_cookies(void **state)
{
	char v[DEVICE_COOKIE_MAX], header[512];

	(void)state;
	assert_int_equal(device_cookie_value(key, "DE-1234567", NOW, v), SA_OK);
	assert_non_null(strstr(v, "v1."));
	assert_null(strstr(v, "DE-1234567")); /* the token id is not in it */
	snprintf(header, sizeof(header), "theme=dark; sa_device=%s ;lang=de",
		 v);
	assert_true(device_cookie_recognises(key, header, "DE-1234567", NOW));
	assert_true(device_cookie_recognises(key, header, "DE-1234567",
					     NOW + DEVICE_COOKIE_TTL - 1));
	/* Another token id, an expired cookie, no header. */
	assert_false(device_cookie_recognises(key, header, "DE-7654321", NOW));
	assert_false(device_cookie_recognises(key, header, "DE-1234567",
					      NOW + DEVICE_COOKIE_TTL));
	assert_false(device_cookie_recognises(key, NULL, "DE-1234567", NOW));
	/* A second cookie of the same name (another path) is tried too. */
	snprintf(header, sizeof(header), "sa_device=v1.1.x; sa_device=%s", v);
	assert_true(device_cookie_recognises(key, header, "DE-1234567", NOW));
}

static void
test_forgeries_are_refused(void **state)
{
	char v[DEVICE_COOKIE_MAX], header[512], other[OTP_KEY_LEN];
	const char *bad[] = {
	    "sa_device=",
	    "sa_device=v1.",
	    "sa_device=v1..",
	    "sa_device=v2.1900000000."
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sa_device=v1.1900000000."
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sa_device=v1.-5.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "sa_devicex=v1.1900000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(
		    device_cookie_recognises(key, bad[i], "DE-1234567", NOW));
	/* One bit flipped in the proof. */
	assert_int_equal(device_cookie_value(key, "DE-1234567", NOW, v), SA_OK);
	v[strlen(v) - 2] ^= 1;
	snprintf(header, sizeof(header), "sa_device=%s", v);
	assert_false(device_cookie_recognises(key, header, "DE-1234567", NOW));
	/* An expiry moved later than the server would ever set. */
	assert_int_equal(device_cookie_value((const unsigned char *)key,
					     "DE-1234567", NOW + 10, v),
			 SA_OK);
	snprintf(header, sizeof(header), "sa_device=%s", v);
	assert_false(device_cookie_recognises(key, header, "DE-1234567", NOW));
	/* Made with another server's key. */
	memset(other, 7, sizeof(other));
	assert_int_equal(device_cookie_value((const unsigned char *)other,
					     "DE-1234567", NOW, v),
			 SA_OK);
	snprintf(header, sizeof(header), "sa_device=%s", v);
	assert_false(device_cookie_recognises(key, header, "DE-1234567", NOW));
}

static void
test_set_cookie_attributes(void **state)
{
	char h[256];

	(void)state;
	assert_int_equal(
	    device_cookie_set_header(key, "DE-1", NOW, 1, h, sizeof(h)), SA_OK);
	assert_non_null(strstr(h, "sa_device=v1."));
	assert_non_null(strstr(h, "; HttpOnly"));
	assert_non_null(strstr(h, "; SameSite=Strict"));
	assert_non_null(strstr(h, "; Path=/auth"));
	assert_non_null(strstr(h, "; Secure"));
	assert_int_equal(
	    device_cookie_set_header(key, "DE-1", NOW, 0, h, sizeof(h)), SA_OK);
	assert_null(strstr(h, "Secure"));
	assert_int_equal(device_cookie_set_header(key, "DE-1", NOW, 0, h, 20),
			 SA_ERR_INTERNAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_among_other_cookies),
	    cmocka_unit_test(test_forgeries_are_refused),
	    cmocka_unit_test(test_set_cookie_attributes),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
