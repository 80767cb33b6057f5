/*
 * test_c40.c - C40 encoding and decoding (SPEC §4.1, testdata README).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "seal/c40.h"

static void
check_encode(const char *text, const unsigned char *want, size_t wantlen)
{
	unsigned char out[64];
	size_t n = 0;

	assert_int_equal(c40_encode(text, strlen(text), out, sizeof(out), &n),
			 SA_OK);
	assert_int_equal(n, wantlen);
	assert_int_equal(c40_encoded_len(strlen(text)), wantlen);
	assert_memory_equal(out, want, wantlen);
}

static void
check_decode(const unsigned char *in, size_t n, const char *want)
{
	char out[64];
	size_t len = 0;

	assert_int_equal(c40_decode(in, n, out, sizeof(out), &len), SA_OK);
	assert_int_equal(len, strlen(want));
	assert_string_equal(out, want);
}

/* Vectors taken from the headers of the test seals. */
static void
test_header_vectors(void **state)
{
	(void)state;
	check_encode("UTO", (const unsigned char *)"\xd9\xc5", 2);
	check_decode((const unsigned char *)"\xd9\xc5", 2, "UTO");
	/* "D<<": '<' is space, value 3: 1600*17 + 40*3 + 3 + 1 = 0x6ABC. */
	check_encode("D<<", (const unsigned char *)"\x6a\xbc", 2);
	check_decode((const unsigned char *)"\x6a\xbc", 2, "D  ");
	/* A lone character: 0xFE, ASCII + 1. */
	check_encode("D", (const unsigned char *)"\xfe\x45", 2);
	check_decode((const unsigned char *)"\xfe\x45", 2, "D");
	/* Two characters are padded with value 0: 1600*9 + 40*15 + 1. */
	check_encode("5B", (const unsigned char *)"\x3a\x99", 2);
	check_decode((const unsigned char *)"\x3a\x99", 2, "5B");
	check_encode("UTTS02", (const unsigned char *)"\xd9\xca\xc8\xa7", 4);
	check_decode((const unsigned char *)"\xd9\xca\xc8\xa7", 4, "UTTS02");
	check_decode((const unsigned char *)"\x6d\x32\xc8\xa5\x19\xfc", 6,
		     "DETS00027");
	/* Seven characters: two triples and the single form. */
	check_encode("ABCDEFG",
		     (const unsigned char *)"\x59\xe9\x6d\x24\xfe\x48", 6);
}

static void
test_round_trip_every_char(void **state)
{
	const char *all = " 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	unsigned char enc[64];
	char dec[128];
	size_t n, m;

	(void)state;
	for (size_t len = 1; len <= strlen(all); len++) {
		assert_int_equal(c40_encode(all, len, enc, sizeof(enc), &n),
				 SA_OK);
		assert_int_equal(n, (len + 2) / 3 * 2);
		assert_int_equal(c40_decode(enc, n, dec, sizeof(dec), &m),
				 SA_OK);
		assert_int_equal(m, len);
		assert_memory_equal(dec, all, len);
	}
}

static void
test_encode_refused(void **state)
{
	unsigned char out[16];
	size_t n = 99;

	(void)state;
	assert_int_equal(c40_encode("abc", 3, out, sizeof(out), &n),
			 SA_ERR_BAD_REQUEST);
	assert_int_equal(c40_encode("A#B", 3, out, sizeof(out), &n),
			 SA_ERR_BAD_REQUEST);
	assert_int_equal(c40_encode("A\0B", 3, out, sizeof(out), &n),
			 SA_ERR_BAD_REQUEST);
	/* Output bounded: 4 characters need 4 bytes. */
	assert_int_equal(c40_encode("ABCD", 4, out, 3, &n), SA_ERR_INTERNAL);
	assert_int_equal(n, 99); /* untouched on failure */
}

static void
test_decode_refused(void **state)
{
	char out[32];
	size_t n = 99;
	const struct {
		const char *bytes;
		size_t len;
	} bad[] = {
	    {"\xd9", 1},	     /* odd length */
	    {"\x00\x00", 2},	     /* value -1 */
	    {"\x00\x01", 2},	     /* all padding */
	    {"\x06\x41", 2},	     /* c1 = 1, a shift value */
	    {"\x0c\x81", 2},	     /* c1 = 2 */
	    {"\xfa\x01", 2},	     /* c1 = 40, out of range */
	    {"\xfe\x45\xd9\xc5", 4}, /* single form not last */
	    {"\xfe\x00", 2},	     /* single form of nothing */
	    {"\xfe\x62", 2},	     /* single form of 'a' */
	    {"\xfe\x3d", 2},	     /* single form of '<' */
	    {"\x3a\x99\xd9\xc5", 4}, /* padding before the last pair */
	    {"\x57\x86", 2},	     /* (14, 0, 5): padding inside */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(c40_decode((const unsigned char *)bad[i].bytes,
					    bad[i].len, out, sizeof(out), &n),
				 SA_ERR_SEAL_DECODE);
		assert_int_equal(n, 99);
	}
	/* Output bounded: "UTO" needs 4 bytes with the NUL. */
	assert_int_equal(
	    c40_decode((const unsigned char *)"\xd9\xc5", 2, out, 3, &n),
	    SA_ERR_SEAL_DECODE);
	assert_int_equal(n, 99);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_vectors),
	    cmocka_unit_test(test_round_trip_every_char),
	    cmocka_unit_test(test_encode_refused),
	    cmocka_unit_test(test_decode_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
