/*
 * test_usagelist.c - the UsageList extension: strict DER both ways, and
 * reading it from certificates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "trust/usagelist.h"
#include "core/util.h"

static void
test_one_entry_exact_der(void **state)
{
	const unsigned char ids[1][3] = {{0x0A, 0x00, 0x01}};
	const unsigned char want[] = {0x30, 0x05, 0x04, 0x03, 0x0A, 0x00, 0x01};
	unsigned char *der = NULL, got[USAGELIST_MAX][3];
	size_t len = 0, n = 0;

	(void)state;
	assert_int_equal(usagelist_encode(ids, 1, &der, &len), SA_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(der, want, sizeof(want));
	assert_int_equal(usagelist_decode(der, len, got, &n), SA_OK);
	assert_int_equal(n, 1);
	assert_memory_equal(got[0], ids[0], 3);
	free(der);
}

/* 26 entries need the 0x81 length form, 64 the 0x82 form. */
static void
test_long_forms_round_trip(void **state)
{
	unsigned char ids[USAGELIST_MAX][3], got[USAGELIST_MAX][3];
	size_t sizes[] = {2, 25, 26, 51, 52, 64};

	(void)state;
	for (size_t i = 0; i < USAGELIST_MAX; i++) {
		ids[i][0] = 0x0A;
		ids[i][1] = (unsigned char)(i >> 8);
		ids[i][2] = (unsigned char)i;
	}
	for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
		unsigned char *der = NULL;
		size_t len = 0, n = 0, body = 5 * sizes[k];

		assert_int_equal(
		    usagelist_encode((const unsigned char(*)[3])ids, sizes[k],
				     &der, &len),
		    SA_OK);
		if (body < 128) {
			assert_int_equal(der[1], body);
		} else if (body < 256) {
			assert_int_equal(der[1], 0x81);
			assert_int_equal(der[2], body);
		} else {
			assert_int_equal(der[1], 0x82);
			assert_int_equal((der[2] << 8) | der[3], body);
		}
		assert_int_equal(usagelist_decode(der, len, got, &n), SA_OK);
		assert_int_equal(n, sizes[k]);
		assert_memory_equal(got, ids, 3 * n);
		free(der);
	}
	{
		unsigned char *der = NULL;
		size_t len = 0;

		assert_int_equal(
		    usagelist_encode((const unsigned char(*)[3])ids, 0, &der,
				     &len),
		    SA_ERR_VALIDATION);
		assert_int_equal(
		    usagelist_encode((const unsigned char(*)[3])ids, 65, &der,
				     &len),
		    SA_ERR_VALIDATION);
	}
}

static void
test_decode_refuses_non_der(void **state)
{
	static const struct {
		const char *what;
		unsigned char der[16];
		size_t len;
	} bad[] = {
	    {"empty sequence", {0x30, 0x00}, 2},
	    {"wrong outer tag", {0x31, 0x05, 0x04, 0x03, 1, 2, 3}, 7},
	    {"non-minimal length", {0x30, 0x81, 0x05, 0x04, 0x03, 1, 2, 3}, 8},
	    {"indefinite length",
	     {0x30, 0x80, 0x04, 0x03, 1, 2, 3, 0x00, 0x00},
	     9},
	    {"two-byte id", {0x30, 0x04, 0x04, 0x02, 1, 2}, 6},
	    {"four-byte id", {0x30, 0x06, 0x04, 0x04, 1, 2, 3, 4}, 8},
	    {"entry not an OCTET STRING", {0x30, 0x05, 0x0C, 0x03, 1, 2, 3}, 7},
	    {"trailing byte", {0x30, 0x05, 0x04, 0x03, 1, 2, 3, 0x00}, 8},
	    {"length past the end", {0x30, 0x07, 0x04, 0x03, 1, 2, 3}, 7},
	    {"truncated entry", {0x30, 0x04, 0x04, 0x03, 1, 2}, 6},
	    {"nothing", {0}, 0},
	};
	unsigned char got[USAGELIST_MAX][3];
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (usagelist_decode(bad[i].der, bad[i].len, got, &n) !=
		    SA_ERR_TRUST_USAGE)
			fail_msg("accepted: %s", bad[i].what);
		assert_int_equal(n, 99);
	}
}

static void
test_decode_refuses_65_entries(void **state)
{
	unsigned char der[4 + 65 * 5], got[USAGELIST_MAX][3];
	size_t n = 0, body = 65 * 5;

	(void)state;
	der[0] = 0x30;
	der[1] = 0x82;
	der[2] = (unsigned char)(body >> 8);
	der[3] = (unsigned char)body;
	for (size_t i = 0; i < 65; i++) {
		unsigned char *e = der + 4 + 5 * i;

		e[0] = 0x04;
		e[1] = 3;
		e[2] = 0x0A;
		e[3] = 0;
		e[4] = (unsigned char)i;
	}
	assert_int_equal(usagelist_decode(der, sizeof(der), got, &n),
			 SA_ERR_TRUST_USAGE);
}

static void
test_manifest_parse(void **state)
{
	unsigned char id[3] = {0, 0, 0};

	(void)state;
	assert_int_equal(usagelist_parse_manifest("0A0001", id), SA_OK);
	assert_int_equal(id[0], 0x0A);
	assert_int_equal(id[2], 0x01);
	assert_int_equal(usagelist_parse_manifest("0a00ff", id), SA_OK);
	assert_int_equal(id[2], 0xff);
	assert_int_equal(usagelist_parse_manifest("0A001", id),
			 SA_ERR_VALIDATION);
	assert_int_equal(usagelist_parse_manifest("0A00010", id),
			 SA_ERR_VALIDATION);
	assert_int_equal(usagelist_parse_manifest("0A00G1", id),
			 SA_ERR_VALIDATION);
}

static X509 *
bare_cert(EVP_PKEY *k)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_true(X509_set_pubkey(x, k));
	return x;
}

static void
test_certificate_extension(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x, *y, *z;
	const unsigned char ids[2][3] = {{0x0A, 0x00, 0x01},
					 {0x0A, 0x00, 0x02}};
	unsigned char got[USAGELIST_MAX][3];
	size_t n = 0;
	ASN1_OBJECT *oid;
	int idx;
	char txt[128];

	(void)state;
	assert_non_null(k);
	x = bare_cert(k);
	assert_int_equal(usagelist_add_to_cert(x, ids, 2), SA_OK);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);

	/* the OID in the certificate is the documented decimal one */
	oid = OBJ_txt2obj(USAGELIST_OID, 1);
	assert_non_null(oid);
	idx = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(idx >= 0);
	assert_true(OBJ_obj2txt(txt, sizeof(txt),
				X509_EXTENSION_get_object(X509_get_ext(x, idx)),
				1) > 0);
	assert_string_equal(txt, USAGELIST_OID);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 0);

	assert_int_equal(usagelist_from_cert(x, got, &n), SA_OK);
	assert_int_equal(n, 2);
	assert_memory_equal(got[1], ids[1], 3);
	assert_int_equal(usagelist_cert_allows(x, "0A0001"), SA_OK);
	assert_int_equal(usagelist_cert_allows(x, "0A0002"), SA_OK);
	assert_int_equal(usagelist_cert_allows(x, "0A0003"),
			 SA_ERR_TRUST_USAGE);

	/* no extension at all */
	y = bare_cert(k);
	assert_int_equal(usagelist_cert_allows(y, "0A0001"), SA_ERR_NOT_FOUND);

	/* the extension twice is refused even when both allow it */
	z = bare_cert(k);
	assert_int_equal(usagelist_add_to_cert(z, ids, 1), SA_OK);
	assert_int_equal(usagelist_add_to_cert(z, ids, 2), SA_OK);
	assert_int_equal(usagelist_cert_allows(z, "0A0001"),
			 SA_ERR_TRUST_USAGE);

	ASN1_OBJECT_free(oid);
	X509_free(x);
	X509_free(y);
	X509_free(z);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_entry_exact_der),
	    cmocka_unit_test(test_long_forms_round_trip),
	    cmocka_unit_test(test_decode_refuses_non_der),
	    cmocka_unit_test(test_decode_refuses_65_entries),
	    cmocka_unit_test(test_manifest_parse),
	    cmocka_unit_test(test_certificate_extension),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
