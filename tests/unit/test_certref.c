/*
 * test_certref.c - the certificate reference forms a CA declares
 * (src/trust/certref.c): which cert ids each admits and which
 * certificate an id names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "trust/certref.h"

/* cert_with makes a self-signed certificate with serial and CN. */
static X509 *
cert_with(const char *serial_hex, const char *cn)
{
	X509 *x = X509_new();
	EVP_PKEY *k = EVP_EC_gen("P-256");
	BIGNUM *bn = NULL;
	X509_NAME *name;

	assert_non_null(x);
	assert_non_null(k);
	assert_true(BN_hex2bn(&bn, serial_hex) > 0);
	assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	name = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_set_pubkey(x, k));
	BN_free(bn);
	EVP_PKEY_free(k);
	return x;
}

/* The reference forms themselves: what each admits and matches. */
static void
test_certref_forms(void **state)
{
	unsigned int all = CERTREF_SERIAL16 | CERTREF_SERIAL20 | CERTREF_CN;
	X509 *x = cert_with("1A2B3C0B0001", "AB7XZ");
	X509 *y = cert_with("1", "0001");
	char out[40];

	(void)state;
	assert_int_equal(certref_parse("serial16 serial20 cn"), all);
	assert_int_equal(certref_parse(" serial20 "), CERTREF_SERIAL20);
	assert_int_equal(certref_parse(""), 0);
	assert_int_equal(certref_parse("serial16 serial16"), 0);
	assert_int_equal(certref_parse("serial"), 0);
	assert_int_equal(certref_parse("CN"), 0);
	certref_describe(all, out, sizeof(out));
	assert_string_equal(out, "serial16 serial20 cn");

	assert_int_equal(certref_form_of(all, "0001"), CERTREF_SERIAL16);
	assert_int_equal(certref_form_of(all, "B0001"), CERTREF_SERIAL20);
	assert_int_equal(certref_form_of(all, "AB7XZ"), CERTREF_CN);
	assert_int_equal(certref_form_of(CERTREF_SERIAL16, "B0001"), 0);
	assert_int_equal(certref_form_of(CERTREF_SERIAL20, "b0001"), 0);
	assert_int_equal(certref_form_of(all, "AB7XZ1"), 0);
	assert_int_equal(certref_form_of(all, "AB-X"), 0);
	assert_int_equal(certref_form_of(all, ""), 0);

	assert_true(certref_matches(CERTREF_SERIAL16, x, "0001"));
	assert_true(certref_matches(CERTREF_SERIAL20, x, "B0001"));
	assert_false(certref_matches(CERTREF_SERIAL20, x, "C0001"));
	assert_true(certref_matches(CERTREF_CN, x, "AB7XZ"));
	assert_false(certref_matches(CERTREF_CN, x, "AB7X"));
	/* A serial shorter than the id is padded with zeros. */
	assert_true(certref_matches(CERTREF_SERIAL20, y, "00001"));
	assert_true(certref_matches(CERTREF_CN, y, "0001"));
	assert_false(certref_matches(0, y, "0001"));
	X509_free(x);
	X509_free(y);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_certref_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
