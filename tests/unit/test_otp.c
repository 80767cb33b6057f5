/*
 * test_otp.c - the code derivation of SPEC §3.2 bit for bit, and the
 * WebSocket token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/otp.h"

#define SECRET "sealauth-test-master-secret-0001"

/* The specification's vectors, and codes below 100000 that keep their
 * leading zeros (worked out apart from this code, with Python's hmac). */
static const struct {
	const char *session, *token;
	int64_t when;
	const char *want;
} vectors[] = {
    {"sess_test", "tok-1", 1700000000, "961377"},
    {"sess_A1b2C3", "DE-1234567", 1800000123, "610739"},
    {"sess_test", "tok-1", 1700000023, "070826"},
    {"sess_test", "tok-1", 1700000567, "000993"},
};

static void
test_spec_vectors(void **state)
{
	char otp[OTP_DIGITS + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		assert_int_equal(otp_derive((const unsigned char *)SECRET,
					    strlen(SECRET), vectors[i].session,
					    vectors[i].token, vectors[i].when,
					    otp),
				 SA_OK);
		assert_string_equal(otp, vectors[i].want);
	}
}

static void
test_every_input_changes_the_code(void **state)
{
	char a[7], b[7], c[7], d[7], e[7];
	const unsigned char *s = (const unsigned char *)SECRET;

	otp_derive(s, strlen(SECRET), "sess_test", "tok-1", 1700000000, a);
	otp_derive(s, strlen(SECRET), "sess_tesu", "tok-1", 1700000000, b);
	otp_derive(s, strlen(SECRET), "sess_test", "tok-2", 1700000000, c);
	otp_derive(s, strlen(SECRET), "sess_test", "tok-1", 1700000001, d);
	otp_derive((const unsigned char *)"sealauth-test-master-secret-0002",
		   strlen(SECRET), "sess_test", "tok-1", 1700000000, e);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_string_not_equal(a, e);
	/* The separators keep "ab"+"c" and "a"+"bc" apart. */
	otp_derive(s, strlen(SECRET), "ab", "c", 1, a);
	otp_derive(s, strlen(SECRET), "a", "bc", 1, b);
	assert_string_not_equal(a, b);
}

static void
test_short_secret_refused(void **state)
{
	char otp[7];
	assert_int_equal(
	    otp_derive((const unsigned char *)"short", 5, "s", "t", 1, otp),
	    SA_ERR_CONFIG);
	assert_int_equal(otp_derive((const unsigned char *)"0123456789abcdef",
				    16, "s", "t", 1, otp),
			 SA_OK);
	assert_int_equal(strlen(otp), 6);
}

/*
 * The stored trace of a code is a MAC under a key derived from the master
 * secret: a fixed vector, never the plain SHA-256 a table reverses, and
 * different for another key, session or code.
 */
static void
test_code_mac(void **state)
{
	const unsigned char *s = (const unsigned char *)SECRET;
	unsigned char key[OTP_KEY_LEN], other[OTP_KEY_LEN];
	char h[65], h2[65];

	(void)state;
	assert_int_equal(otp_derive_key(s, strlen(SECRET), "code", key), SA_OK);
	assert_int_equal(otp_code_mac(key, "sess_test", "961377", h), SA_OK);
	assert_string_equal(
	    h,
	    "1543fc0832da9a69674c5d8136dcaada4be5f4f0a8272b2332696813b61ab953");
	/* SHA-256("961377"), what sessions and audit rows held before. */
	assert_string_not_equal(
	    h,
	    "2fc296ce9c94bd3aec4f39f7f83a8855568d3ee5b408b447182e78e9b40d285d");
	assert_int_equal(otp_code_mac(key, "sess_other", "961377", h2), SA_OK);
	assert_string_not_equal(h, h2);
	assert_int_equal(otp_code_mac(key, "sess_test", "961378", h2), SA_OK);
	assert_string_not_equal(h, h2);
	assert_int_equal(otp_derive_key(s, strlen(SECRET), "device", other),
			 SA_OK);
	assert_memory_not_equal(key, other, OTP_KEY_LEN);
	assert_int_equal(otp_code_mac(other, "sess_test", "961377", h2), SA_OK);
	assert_string_not_equal(h, h2);
	assert_int_equal(
	    otp_derive_key((const unsigned char *)"short", 5, "code", other),
	    SA_ERR_CONFIG);
}

static void
test_hash_and_ws_token(void **state)
{
	char tok[44];
	const unsigned char *s = (const unsigned char *)SECRET;

	assert_int_equal(otp_ws_token(s, strlen(SECRET), "sess_x", "r1", tok),
			 SA_OK);
	assert_int_equal(strlen(tok), 43);
	assert_true(otp_ws_token_check(s, strlen(SECRET), "sess_x", "r1", tok));
	assert_false(
	    otp_ws_token_check(s, strlen(SECRET), "sess_y", "r1", tok));
	assert_false(
	    otp_ws_token_check(s, strlen(SECRET), "sess_x", "r2", tok));
	tok[5] ^= 1;
	assert_false(
	    otp_ws_token_check(s, strlen(SECRET), "sess_x", "r1", tok));
	assert_false(
	    otp_ws_token_check(s, strlen(SECRET), "sess_x", "r1", "short"));
	assert_false(
	    otp_ws_token_check(s, strlen(SECRET), "sess_x", "r1", NULL));
}

static void
test_pairwise_subject(void **state)
{
	char a[44], b[44];
	const unsigned char *s = (const unsigned char *)SECRET;

	/* The vector was computed independently (Python hmac). */
	assert_int_equal(
	    otp_pairwise_sub(s, strlen(SECRET), "shop", "DEU", "DE-1234567", a),
	    SA_OK);
	assert_string_equal(a, "HtDHQTVvJa6NTOp0sie9-0DOGuWx6Rs97VYTzONWZYo");
	/* Another relying party, or another authority, sees another
	 * subject; the same inputs always give the same one. */
	assert_int_equal(
	    otp_pairwise_sub(s, strlen(SECRET), "bank", "DEU", "DE-1234567", b),
	    SA_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(
	    otp_pairwise_sub(s, strlen(SECRET), "shop", "FRA", "DE-1234567", b),
	    SA_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(
	    otp_pairwise_sub(s, strlen(SECRET), "shop", "DEU", "DE-1234567", b),
	    SA_OK);
	assert_string_equal(a, b);
	assert_int_equal(
	    otp_pairwise_sub(s, strlen(SECRET), "", "DEU", "DE-1234567", b),
	    SA_ERR_INTERNAL);
	assert_int_equal(otp_pairwise_sub(s, 4, "shop", "DEU", "DE-1", b),
			 SA_ERR_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_vectors),
	    cmocka_unit_test(test_every_input_changes_the_code),
	    cmocka_unit_test(test_short_secret_refused),
	    cmocka_unit_test(test_code_mac),
	    cmocka_unit_test(test_hash_and_ws_token),
	    cmocka_unit_test(test_pairwise_subject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
