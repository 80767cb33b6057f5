/*
 * test_saml_import.c - SP metadata import beyond the basics of test_saml.c:
 * a KeyDescriptor without "use" signs and encrypts, md:EncryptionMethod
 * picks the cipher we send (or leaves the encryption certificate out when
 * the SP accepts nothing we produce), refusals name what is wrong, the
 * report lists what was left out, and certificates are described with the
 * fingerprint an SP operator compares.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "login/services.h"
#include "saml/saml_sp.h"

#include "support.h"

#define XMLENC10 "http://www.w3.org/2001/04/xmlenc#"
#define XMLENC11 "http://www.w3.org/2009/xmlenc11#"

static EVP_PKEY *rsa_key;
static EVP_PKEY *ec_key;
static char *rsa_b64;
static char *ec_b64;

/* b64_of returns the base64 DER of a new self-signed certificate. */
static char *
b64_of(EVP_PKEY *k)
{
	char *b64 = self_signed_cert_b64(k);

	assert_non_null(b64);
	return b64;
}

/* kd is one KeyDescriptor: use (NULL: none), a certificate, and inner
 * EncryptionMethod elements. The caller frees it. */
static char *
kd(const char *use, const char *cert, const char *methods)
{
	char *out;

	assert_true(asprintf(&out,
			     "<md:KeyDescriptor%s%s%s><ds:KeyInfo><ds:X509Data>"
			     "<ds:X509Certificate>%s</ds:X509Certificate>"
			     "</ds:X509Data></ds:KeyInfo>%s</md:KeyDescriptor>",
			     use ? " use=\"" : "", use ? use : "",
			     use ? "\"" : "", cert, methods) > 0);
	return out;
}

/* method is one md:EncryptionMethod element's text. */
#define METHOD(uri) "<md:EncryptionMethod Algorithm=\"" uri "\"/>"

/* metadata wraps key descriptors (and extra elements) into an SP's
 * metadata with one HTTP-POST ACS. */
static char *
metadata(const char *inner)
{
	char *out;

	assert_true(
	    asprintf(
		&out,
		"<md:EntityDescriptor "
		"xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
		"xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" "
		"entityID=\"https://sp.example/md\"><md:SPSSODescriptor "
		"protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:"
		"protocol\">%s<md:AssertionConsumerService "
		"Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" "
		"Location=\"https://sp.example/acs\" index=\"0\"/>"
		"</md:SPSSODescriptor></md:EntityDescriptor>",
		inner) > 0);
	return out;
}

/* run imports xml; on SA_OK *sp and *warnings are set (caller frees). */
static enum sa_err
run(const char *xml, json_t **sp, json_t **warnings, char *why, size_t whylen)
{
	why[0] = '\0';
	*sp = NULL;
	*warnings = NULL;
	return saml_sp_import_report((const unsigned char *)xml, strlen(xml),
				     NULL, sp, warnings, NULL, why, whylen);
}

/* has_warning tells whether one warning contains text. */
static int
has_warning(const json_t *warnings, const char *text)
{
	size_t i;
	json_t *w;

	json_array_foreach(warnings, i, w)
	{
		if (strstr(json_string_value(w), text) != NULL)
			return 1;
	}
	return 0;
}

/* str_member is a string member of the settings, or NULL. */
static const char *
str_member(const json_t *sp, const char *name)
{
	return json_string_value(json_object_get(sp, name));
}

static void
test_key_descriptor_without_use_is_both(void **state)
{
	char *k = kd(NULL, rsa_b64, ""), *xml = metadata(k), why[300];
	json_t *sp, *w;
	struct service svc;
	struct saml_sp *parsed = NULL;

	(void)state;
	assert_int_equal(run(xml, &sp, &w, why, sizeof(why)), SA_OK);
	/* Signing and encryption, the same certificate. */
	assert_int_equal(
	    json_array_size(json_object_get(sp, "signingCertificates")), 1);
	assert_string_equal(json_string_value(json_array_get(
				json_object_get(sp, "signingCertificates"), 0)),
			    rsa_b64);
	assert_string_equal(str_member(sp, "encryptionCertificate"), rsa_b64);
	/* With it the SP can be told to receive encrypted assertions. */
	json_object_set_new(sp, "encryptAssertions", json_true());
	memset(&svc, 0, sizeof(svc));
	svc.saml = sp;
	assert_int_equal(saml_sp_parse(&svc, 0, &parsed, why, sizeof(why)),
			 SA_OK);
	assert_non_null(parsed->enc_cert);
	assert_int_equal(parsed->enc_cipher, XMLENC_AES256_GCM);
	saml_sp_free(parsed);
	json_decref(sp);
	json_decref(w);
	free(xml);
	free(k);

	/* An EC key cannot receive from us: it only signs. */
	k = kd(NULL, ec_b64, "");
	xml = metadata(k);
	assert_int_equal(run(xml, &sp, &w, why, sizeof(why)), SA_OK);
	assert_int_equal(
	    json_array_size(json_object_get(sp, "signingCertificates")), 1);
	assert_null(json_object_get(sp, "encryptionCertificate"));
	json_decref(sp);
	json_decref(w);
	free(xml);
	free(k);
}

static void
test_explicit_encryption_key_wins(void **state)
{
	EVP_PKEY *k2 = EVP_RSA_gen(2048);
	char *other = b64_of(k2), *both = kd(NULL, rsa_b64, "");
	char *enc = kd("encryption", other, ""), *inner, *xml, why[300];
	json_t *sp, *w;

	(void)state;
	/* In either order, use="encryption" is the key we encrypt to; the
	 * key without use still signs. */
	for (int order = 0; order < 2; order++) {
		assert_true(asprintf(&inner, "%s%s", order ? enc : both,
				     order ? both : enc) > 0);
		xml = metadata(inner);
		assert_int_equal(run(xml, &sp, &w, why, sizeof(why)), SA_OK);
		assert_string_equal(str_member(sp, "encryptionCertificate"),
				    other);
		assert_int_equal(
		    json_array_size(json_object_get(sp, "signingCertificates")),
		    1);
		assert_string_equal(
		    json_string_value(json_array_get(
			json_object_get(sp, "signingCertificates"), 0)),
		    rsa_b64);
		json_decref(sp);
		json_decref(w);
		free(xml);
		free(inner);
	}
	free(both);
	free(enc);
	free(other);
	EVP_PKEY_free(k2);
}

static void
test_encryption_methods_pick_what_we_support(void **state)
{
	char *k, *xml, why[300];
	json_t *sp, *w;

	(void)state;
	/* Our best of what the SP lists; the rest are reported. */
	k = kd("encryption", rsa_b64,
	       METHOD(XMLENC10 "aes128-cbc") METHOD(XMLENC11 "aes128-gcm")
		   METHOD(XMLENC10 "tripledes-cbc")
		       METHOD(XMLENC10 "rsa-oaep-mgf1p")
			   METHOD("urn:example:new-cipher"));
	xml = metadata(k);
	assert_int_equal(run(xml, &sp, &w, why, sizeof(why)), SA_OK);
	assert_string_equal(str_member(sp, "encryptionAlgorithm"),
			    "aes128-gcm");
	assert_string_equal(str_member(sp, "encryptionCertificate"), rsa_b64);
	assert_true(has_warning(w, "tripledes-cbc: not supported"));
	assert_true(has_warning(w, "new-cipher: an algorithm we do not know"));
	json_decref(sp);
	json_decref(w);
	free(xml);
	free(k);

	/* An SP that only does CBC gets CBC. */
	k = kd(NULL, rsa_b64, METHOD(XMLENC10 "aes256-cbc"));
	xml = metadata(k);
	assert_int_equal(run(xml, &sp, &w, why, sizeof(why)), SA_OK);
	assert_string_equal(str_member(sp, "encryptionAlgorithm"),
			    "aes256-cbc");
	assert_int_equal(json_array_size(w), 0);
	json_decref(sp);
	json_decref(w);
	free(xml);
	free(k);

	/* On a signing-only key, EncryptionMethod means nothing. */
	k = kd("signing", rsa_b64, METHOD(XMLENC10 "tripledes-cbc"));
	xml = metadata(k);
	assert_int_equal(run(xml, &sp, &w, why, sizeof(why)), SA_OK);
	assert_null(json_object_get(sp, "encryptionAlgorithm"));
	assert_null(json_object_get(sp, "encryptionCertificate"));
	assert_int_equal(json_array_size(w), 0);
	json_decref(sp);
	json_decref(w);
	free(xml);
	free(k);
}

static void
test_encryption_we_cannot_send_leaves_the_key_out(void **state)
{
	static const char *const lists[] = {
	    /* Only ciphers we do not produce. */
	    METHOD(XMLENC10 "tripledes-cbc") METHOD(XMLENC11 "aes192-gcm"),
	    /* Our cipher, but only key transports we do not produce. */
	    METHOD(XMLENC11 "aes256-gcm") METHOD(XMLENC10 "rsa-1_5"),
	};
	char *k, *xml, why[300];
	json_t *sp, *w;
	struct service svc;
	struct saml_sp *parsed = NULL;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
		k = kd("encryption", rsa_b64, lists[i]);
		xml = metadata(k);
		assert_int_equal(run(xml, &sp, &w, why, sizeof(why)), SA_OK);
		assert_null(json_object_get(sp, "encryptionCertificate"));
		assert_null(json_object_get(sp, "encryptionAlgorithm"));
		assert_true(has_warning(w, "encryptionCertificate: left out"));
		/* So encryption cannot be turned on for this SP. */
		json_object_set_new(sp, "encryptAssertions", json_true());
		memset(&svc, 0, sizeof(svc));
		svc.saml = sp;
		assert_int_equal(
		    saml_sp_parse(&svc, 0, &parsed, why, sizeof(why)),
		    SA_ERR_CONFIG);
		assert_non_null(strstr(why, "encryptionCertificate"));
		json_decref(sp);
		json_decref(w);
		free(xml);
		free(k);
	}
}

static void
test_refusals_name_the_problem(void **state)
{
	static const struct {
		const char *use, *cert, *methods, *why;
	} cases[] = {
	    {"encryption", NULL, "<md:EncryptionMethod/>",
	     "EncryptionMethod[0]: Algorithm"},
	    {"both", NULL, "", "KeyDescriptor[0]: use must be"},
	    {"signing", "bm90IGEgY2VydA==", "",
	     "KeyDescriptor[0]: a ds:X509Certificate"},
	};
	char *k, *xml, why[300];
	json_t *sp, *w;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		k = kd(cases[i].use, cases[i].cert ? cases[i].cert : rsa_b64,
		       cases[i].methods);
		xml = metadata(k);
		assert_int_equal(run(xml, &sp, &w, why, sizeof(why)),
				 SA_ERR_SAML_REQUEST);
		assert_non_null(strstr(why, cases[i].why));
		assert_null(sp);
		free(xml);
		free(k);
	}
	xml = metadata("<md:AssertionConsumerService Binding=\"urn:oasis:names:"
		       "tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://"
		       "sp.example/x\" index=\"one\"/>");
	assert_int_equal(run(xml, &sp, &w, why, sizeof(why)),
			 SA_ERR_SAML_REQUEST);
	assert_non_null(strstr(why, "index \"one\""));
	free(xml);

	xml = "<md:EntityDescriptor";
	assert_int_equal(run(xml, &sp, &w, why, sizeof(why)),
			 SA_ERR_SAML_REQUEST);
	assert_true(why[0] != '\0');
}

static void
test_report_and_cert_info(void **state)
{
	char *xml, why[300], fp[96];
	json_t *sp, *w, *info;
	X509 *x;
	unsigned char md[32];
	unsigned int n = 0;
	int is_signed = -1;

	(void)state;
	xml =
	    metadata("<md:AssertionConsumerService Binding=\"urn:oasis:names:"
		     "tc:SAML:2.0:bindings:HTTP-Artifact\" Location=\"https://"
		     "sp.example/art\" index=\"1\"/>");
	assert_int_equal(saml_sp_import_report((const unsigned char *)xml,
					       strlen(xml), NULL, &sp, &w,
					       &is_signed, why, sizeof(why)),
			 SA_OK);
	assert_int_equal(is_signed, 0);
	assert_true(has_warning(w, "HTTP-Artifact: left out"));
	assert_int_equal(json_array_size(json_object_get(sp, "acs")), 1);
	json_decref(sp);
	json_decref(w);
	free(xml);

	info = saml_sp_cert_info(rsa_b64);
	assert_non_null(info);
	x = saml_cert_from_text(rsa_b64);
	assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
	for (unsigned int i = 0; i < n; i++)
		snprintf(fp + 3 * i, sizeof(fp) - 3 * i,
			 i + 1 < n ? "%02X:" : "%02X", md[i]);
	assert_string_equal(str_member(info, "sha256"), fp);
	assert_string_equal(str_member(info, "key"), "RSA 2048");
	assert_string_equal(str_member(info, "subject"), "CN=sp");
	assert_true(json_integer_value(json_object_get(info, "notAfter")) >
		    now_unix());
	json_decref(info);
	X509_free(x);
	info = saml_sp_cert_info(ec_b64);
	assert_string_equal(str_member(info, "key"), "EC P-256");
	json_decref(info);
	assert_null(saml_sp_cert_info("not a certificate"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_descriptor_without_use_is_both),
	    cmocka_unit_test(test_explicit_encryption_key_wins),
	    cmocka_unit_test(test_encryption_methods_pick_what_we_support),
	    cmocka_unit_test(test_encryption_we_cannot_send_leaves_the_key_out),
	    cmocka_unit_test(test_refusals_name_the_problem),
	    cmocka_unit_test(test_report_and_cert_info),
	};
	int rc;

	rsa_key = EVP_RSA_gen(2048);
	ec_key = EVP_EC_gen("P-256");
	rsa_b64 = b64_of(rsa_key);
	ec_b64 = b64_of(ec_key);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(rsa_b64);
	free(ec_b64);
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	return rc;
}
