/*
 * test_seal_codec.c - detection and decoding of the seal text forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "seal/seal_codec.h"
#include "core/util.h"
#include "seal/vds.h"
#include "vds_test.h"

/* make_iso_seal signs a small ISO seal with a fresh P-256 key. */
static unsigned char *
make_iso_seal(size_t *len)
{
	struct vds_claims c;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	unsigned char *seal = NULL;

	assert_non_null(k);
	memset(&c, 0, sizeof(c));
	strcpy(c.token_id, "tok-1");
	strcpy(c.given_name, "Erika");
	strcpy(c.family_name, "Mustermann");
	strcpy(c.birth_date, "1964-08-12");
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A0001", 1700000000,
					&c, k, &seal, len),
			 SA_OK);
	EVP_PKEY_free(k);
	return seal;
}

static void
expect_decodes(const char *text, const unsigned char *want, size_t wantlen,
	       enum seal_encoding enc)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	enum seal_encoding which = SEAL_ENC_RAW;

	assert_int_equal(
	    seal_codec_decode(text, strlen(text), &out, &outlen, &which),
	    SA_OK);
	assert_int_equal(which, enc);
	assert_int_equal(outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	free(out);
	/* The encoding out-parameter is optional (the server does not ask). */
	out = NULL;
	assert_int_equal(
	    seal_codec_decode(text, strlen(text), &out, &outlen, NULL), SA_OK);
	assert_int_equal(outlen, wantlen);
	free(out);
}

/* strip_pad drops trailing '=' in place. */
static void
strip_pad(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
}

/*
 * every_encoding writes the seal in every text form (and variants) and
 * checks each is detected as what it is and decodes to the same bytes.
 */
static void
every_encoding(const unsigned char *seal, size_t n)
{
	static const enum seal_encoding encs[] = {
	    SEAL_ENC_HEX, SEAL_ENC_BASE32, SEAL_ENC_BASE45, SEAL_ENC_BASE64,
	    SEAL_ENC_BASE64URL};
	for (size_t i = 0; i < ARRAY_LEN(encs); i++) {
		char *s = NULL, *nl = NULL;
		enum seal_encoding want = encs[i];
		assert_int_equal(seal_codec_encode(seal, n, encs[i], &s),
				 SA_OK);
		/* base64url text without '-' or '_' is also base64 text of
		 * the same bytes, and base64 is tried first. */
		if (want == SEAL_ENC_BASE64URL && strpbrk(s, "-_") == NULL)
			want = SEAL_ENC_BASE64;
		expect_decodes(s, seal, n, want);
		/* A line ending around the text is ignored. */
		assert_true(asprintf(&nl, "\r\n%s\n", s) > 0);
		expect_decodes(nl, seal, n, want);
		free(nl);
		if (encs[i] == SEAL_ENC_HEX) {
			for (char *p = s; *p; p++)
				if (*p >= 'a' && *p <= 'f')
					*p = (char)(*p - 'a' + 'A');
			expect_decodes(s, seal, n, SEAL_ENC_HEX);
		} else if (encs[i] == SEAL_ENC_BASE32 ||
			   encs[i] == SEAL_ENC_BASE64) {
			strip_pad(s); /* padding is optional */
			expect_decodes(s, seal, n, encs[i]);
		} else if (encs[i] == SEAL_ENC_BASE64URL && n % 3 != 0) {
			char *padded = NULL;
			assert_true(asprintf(&padded, "%s%s", s,
					     n % 3 == 1 ? "==" : "=") > 0);
			expect_decodes(padded, seal, n, want);
			free(padded);
		}
		free(s);
	}
	/* Raw bytes are passed through. */
	{
		unsigned char *out = NULL;
		size_t outlen = 0;
		enum seal_encoding which = SEAL_ENC_HEX;
		assert_int_equal(seal_codec_decode((const char *)seal, n, &out,
						   &outlen, &which),
				 SA_OK);
		assert_int_equal(which, SEAL_ENC_RAW);
		assert_int_equal(outlen, n);
		assert_memory_equal(out, seal, n);
		free(out);
	}
}

static void
test_every_testdata_seal_in_every_encoding(void **state)
{
	static const char *names[] = {
	    "seals/resident_permit.hex",
	    "seals/address_sticker_id.hex",
	    "seals/social_insurance.hex",
	    "seals/arrival_attestation.hex",
	    "seals/visa_224bit_sig.hex",
	    "seals/meldebescheinigung.hex",
	    "seals/uto_visa.hex",
	    "seals/dezv_sha1_certref.hex",
	    "seals/ankunftsnw_papier.hex",
	    "seals/administrative_document_v9_basic.hex",
	    "seals/permanent_residence_permit.hex",
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		size_t n = 0;
		unsigned char *seal = vds_load_hex("vds", names[i], &n);
		every_encoding(seal, n);
		free(seal);
	}
}

static void
test_iso_seal_in_every_encoding(void **state)
{
	size_t n = 0;
	unsigned char *seal = make_iso_seal(&n);

	(void)state;
	every_encoding(seal, n);
	/* Every length from 2 bytes up, so each padding case occurs. */
	for (size_t len = 2; len <= 40; len++)
		every_encoding(seal, len);
	free(seal);
}

/* RFC 9285 §4 and RFC 4648 §10 vectors for the encoders. */
static void
test_rfc_vectors(void **state)
{
	const struct {
		enum seal_encoding enc;
		const char *in, *out;
	} v[] = {
	    {SEAL_ENC_BASE45, "AB", "BB8"},
	    {SEAL_ENC_BASE45, "Hello!!", "%69 VD92EX0"},
	    {SEAL_ENC_BASE45, "base-45", "UJCLQE7W581"},
	    {SEAL_ENC_BASE45, "ietf!", "QED8WEX0"},
	    {SEAL_ENC_BASE32, "f", "MY======"},
	    {SEAL_ENC_BASE32, "fo", "MZXQ===="},
	    {SEAL_ENC_BASE32, "foo", "MZXW6==="},
	    {SEAL_ENC_BASE32, "foob", "MZXW6YQ="},
	    {SEAL_ENC_BASE32, "foobar", "MZXW6YTBOI======"},
	    {SEAL_ENC_BASE64, "foobar", "Zm9vYmFy"},
	    {SEAL_ENC_BASE64URL, "\xfb\xff", "-_8"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		char *s = NULL;
		assert_int_equal(
		    seal_codec_encode((const unsigned char *)v[i].in,
				      strlen(v[i].in), v[i].enc, &s),
		    SA_OK);
		assert_string_equal(s, v[i].out);
		free(s);
	}
}

static void
test_refused(void **state)
{
	unsigned char *out = (unsigned char *)"untouched", *big;
	size_t outlen = 7;
	enum seal_encoding which = SEAL_ENC_BASE64;
	char *text, *s = NULL;
	const char *not_seals[] = {
	    "",		 "\n",	     "hello world", "00ff",
	    "dc",	 "Zm9vYmFy", "cc04aabb", /* hex, no magic byte */
	    "GGW",				 /* base45 group over 65535 */
	    "3Q======",	 /* base32 with spare bits set (0xDC + 1 bit) */
	    "dc03d9c5=", /* stray padding */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(not_seals); i++) {
		assert_int_equal(seal_codec_decode(not_seals[i],
						   strlen(not_seals[i]), &out,
						   &outlen, &which),
				 SA_ERR_SEAL_DECODE);
	}
	/* Out-parameters untouched on failure. */
	assert_string_equal((char *)out, "untouched");
	assert_int_equal(outlen, 7);
	assert_int_equal(which, SEAL_ENC_BASE64);

	/* Text that decodes to a magic byte with a version we do not read
	 * still gives its bytes, so that vds_decode can name the version
	 * instead of the encoding being blamed. */
	assert_int_equal(
	    seal_codec_decode("dc04aabb", 8, &out, &outlen, &which), SA_OK);
	assert_int_equal(which, SEAL_ENC_HEX);
	assert_int_equal(outlen, 4);
	assert_memory_equal(out, "\xdc\x04\xaa\xbb", 4);
	free(out);
	/* A version we read wins over an earlier encoding that only gives
	 * the magic byte: pass 0 looks at every encoding first. */
	assert_true(seal_looks_like((const unsigned char *)"\xdc\x00", 2));
	assert_true(seal_looks_like((const unsigned char *)"\xdc\x01", 2));
	assert_false(seal_looks_like((const unsigned char *)"\xdc\x04", 2));
	assert_false(seal_looks_like((const unsigned char *)"\xde\x01", 2));

	/* Text over 16 KiB is refused before decoding. */
	text = malloc(SEAL_MAX_TEXT + 2);
	assert_non_null(text);
	memset(text, 'A', SEAL_MAX_TEXT + 1);
	memcpy(text, "dc03", 4);
	text[SEAL_MAX_TEXT + 1] = '\0';
	assert_int_equal(
	    seal_codec_decode(text, SEAL_MAX_TEXT + 1, &out, &outlen, &which),
	    SA_ERR_BODY_TOO_LARGE);
	free(text);

	/* A seal of 8 KiB + 1 bytes is refused in any form. */
	big = calloc(1, SEAL_MAX_BYTES + 1);
	assert_non_null(big);
	big[0] = 0xdc;
	big[1] = 0x03;
	assert_int_equal(seal_codec_decode((const char *)big,
					   SEAL_MAX_BYTES + 1, &out, &outlen,
					   &which),
			 SA_ERR_BODY_TOO_LARGE);
	assert_int_equal(
	    seal_codec_encode(big, SEAL_MAX_BYTES + 1, SEAL_ENC_BASE64, &s),
	    SA_ERR_BAD_REQUEST);
	/* base64 of 8193 bytes is under the text limit but decodes too big. */
	s = b64_encode(big, SEAL_MAX_BYTES + 1);
	assert_non_null(s);
	assert_true(strlen(s) <= SEAL_MAX_TEXT);
	assert_int_equal(seal_codec_decode(s, strlen(s), &out, &outlen, &which),
			 SA_ERR_BODY_TOO_LARGE);
	free(s);
	/* Exactly 8 KiB is fine. */
	s = b64_encode(big, SEAL_MAX_BYTES);
	assert_int_equal(seal_codec_decode(s, strlen(s), &out, &outlen, &which),
			 SA_OK);
	assert_int_equal(outlen, SEAL_MAX_BYTES);
	assert_int_equal(which, SEAL_ENC_BASE64);
	free(out);
	free(s);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_testdata_seal_in_every_encoding),
	    cmocka_unit_test(test_iso_seal_in_every_encoding),
	    cmocka_unit_test(test_rfc_vectors),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
