/*
 * test_saml.c - the SAML pieces that need no server: element signatures
 * and their wrapping refusals, SP settings validation, metadata import,
 * message decoding for both bindings, time and DEFLATE limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/schema.h"
#include "core/util.h"
#include "login/services.h"
#include "saml/saml_int.h"
#include "trust/xmldsig.h"

#include "support.h"

#define REQ_HEAD                                                               \
	"<samlp:AuthnRequest "                                                 \
	"xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "                \
	"xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" "                \
	"ID=\"_r1\" Version=\"2.0\" IssueInstant=\"2026-01-01T00:00:00Z\">"    \
	"<saml:Issuer>https://sp.example/md</saml:Issuer>"

static EVP_PKEY *key;

/* sign_text signs the root of xml by ID and returns the serialisation.
 * Not inlined, for GCC 12's -O3 dangling-pointer false positive on the
 * out-parameter it passes (see test_vrl.c). */
static __attribute__((noinline)) char *
sign_text(const char *xml)
{
	xmlDocPtr doc = NULL;
	char *out = NULL;
	size_t n;
	xmlNodePtr root, iss;

	assert_int_equal(saml_xml_parse((const unsigned char *)xml, strlen(xml),
					&doc, NULL, 0),
			 SA_OK);
	root = xmlDocGetRootElement(doc);
	iss = saml_first_elem(root);
	assert_int_equal(xmldsig_sign_element(doc, root, "ID", iss, key, NULL),
			 SA_OK);
	assert_int_equal(saml_doc_dump(doc, &out, &n), SA_OK);
	xmlFreeDoc(doc);
	return out;
}

/* verify_text verifies a serialised document as an SP's request. */
static enum sa_err
verify_text(const char *xml, char *why, size_t whylen)
{
	xmlDocPtr doc = NULL;
	struct xmldsig_result res;
	enum sa_err rc;

	if (saml_xml_parse((const unsigned char *)xml, strlen(xml), &doc, why,
			   whylen) != SA_OK)
		return SA_ERR_SAML_REQUEST;
	rc = xmldsig_verify_element(doc, "ID", &key, 1, &res);
	snprintf(why, whylen, "%s", res.reason);
	xmldsig_result_clear(&res);
	xmlFreeDoc(doc);
	return rc;
}

/* between returns the text of s from the first a to the end of the first
 * b after it (inclusive), as a new string. */
static char *
between(const char *s, const char *a, const char *b)
{
	const char *p = strstr(s, a), *q;

	assert_non_null(p);
	q = strstr(p, b);
	assert_non_null(q);
	return strndup(p, (size_t)(q - p) + strlen(b));
}

static void
test_element_signature_and_wrapping(void **state)
{
	char *good =
	    sign_text(REQ_HEAD "<samlp:NameIDPolicy AllowCreate=\"true\"/>"
			       "</samlp:AuthnRequest>");
	char *sig, *inner, *evil, why[300];

	(void)state;
	assert_int_equal(verify_text(good, why, sizeof(why)), SA_OK);
	sig = between(good, "<ds:Signature", "</ds:Signature>");
	inner = between(good, "<samlp:AuthnRequest", "</samlp:AuthnRequest>");
	/* Changed content: the digest no longer matches. */
	evil = strdup(good);
	memcpy(strstr(evil, "AllowCreate=\"true\""), "AllowCreate=\"fals\"",
	       18);
	assert_int_equal(verify_text(evil, why, sizeof(why)),
			 SA_ERR_TRUST_LIST_SIG);
	free(evil);
	/* The signed original wrapped in a new root with another ID. */
	assert_true(asprintf(&evil,
			     "<samlp:AuthnRequest "
			     "xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:"
			     "protocol\" ID=\"_evil\" Version=\"2.0\">"
			     "<samlp:Extensions>%s</samlp:Extensions>"
			     "</samlp:AuthnRequest>",
			     inner) > 0);
	assert_int_not_equal(verify_text(evil, why, sizeof(why)), SA_OK);
	assert_non_null(strstr(why, "not a child"));
	free(evil);
	/* The same ID twice: the evil root with the signature, the original
	 * in Extensions. */
	assert_true(asprintf(&evil,
			     "<samlp:AuthnRequest "
			     "xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:"
			     "protocol\" ID=\"_r1\" Version=\"2.0\">%s"
			     "<samlp:Extensions>%s</samlp:Extensions>"
			     "</samlp:AuthnRequest>",
			     sig, inner) > 0);
	assert_int_not_equal(verify_text(evil, why, sizeof(why)), SA_OK);
	assert_non_null(strstr(why, "not unique"));
	free(evil);
	/* The signature on another root, referencing the original's ID. */
	assert_true(asprintf(&evil,
			     "<samlp:AuthnRequest "
			     "xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:"
			     "protocol\" ID=\"_other\" Version=\"2.0\">%s"
			     "<samlp:Extensions><x ID=\"_r1\"/>"
			     "</samlp:Extensions></samlp:AuthnRequest>",
			     sig) > 0);
	assert_int_not_equal(verify_text(evil, why, sizeof(why)), SA_OK);
	free(evil);
	/* An id attribute of another spelling counts as a duplicate too. */
	evil = strdup(good);
	memcpy(strstr(evil, "AllowCreate=\"true\""), "id=\"_r1\" xy=\"true\"",
	       18);
	assert_int_not_equal(verify_text(evil, why, sizeof(why)), SA_OK);
	assert_non_null(strstr(why, "not unique"));
	free(evil);
	free(sig);
	free(inner);
	free(good);
}

static void
test_sign_twice_refused(void **state)
{
	xmlDocPtr doc = NULL;
	const char *xml = REQ_HEAD "</samlp:AuthnRequest>";
	xmlNodePtr root;

	(void)state;
	assert_int_equal(saml_xml_parse((const unsigned char *)xml, strlen(xml),
					&doc, NULL, 0),
			 SA_OK);
	root = xmlDocGetRootElement(doc);
	assert_int_equal(xmldsig_sign_element(doc, root, "ID", NULL, key, NULL),
			 SA_OK);
	assert_int_equal(xmldsig_sign_element(doc, root, "ID", NULL, key, NULL),
			 SA_ERR_CONFLICT);
	xmlFreeDoc(doc);
}

/* parse_settings validates a settings object as the registry would. */
static enum sa_err
parse_settings(const char *json, char *why, size_t whylen)
{
	struct service svc;
	struct saml_sp *sp = NULL;
	enum sa_err rc;

	memset(&svc, 0, sizeof(svc));
	snprintf(svc.id, sizeof(svc.id), "wiki");
	svc.saml = json_loads(json, 0, NULL);
	assert_non_null(svc.saml);
	why[0] = '\0';
	rc = saml_sp_parse(&svc, SCHEMA_LOOPBACK_HTTP, &sp, why, whylen);
	saml_sp_free(sp);
	json_decref(svc.saml);
	return rc;
}

static void
test_settings_validation(void **state)
{
	char why[300];

	(void)state;
	assert_int_equal(
	    parse_settings("{\"entityId\":\"https://sp/md\",\"acs\":[{\"url\":"
			   "\"https://sp/acs\",\"index\":0}]}",
			   why, sizeof(why)),
	    SA_OK);
	/* Plain http only on loopback. */
	assert_int_equal(
	    parse_settings("{\"entityId\":\"x\",\"acs\":[{\"url\":"
			   "\"http://sp.example/acs\",\"index\":0}]}",
			   why, sizeof(why)),
	    SA_ERR_CONFIG);
	assert_non_null(strstr(why, "acs[0].url"));
	assert_int_equal(parse_settings("{\"entityId\":\"x\",\"acs\":[{\"url\":"
					"\"https://a/1\",\"index\":1},{\"url\":"
					"\"https://a/2\",\"index\":1}]}",
					why, sizeof(why)),
			 SA_ERR_CONFIG);
	assert_non_null(strstr(why, "acs[1].index"));
	assert_int_equal(parse_settings("{\"entityId\":\"x\",\"acs\":[{\"url\":"
					"\"https://a/1\",\"index\":1}],"
					"\"wantSignedRequests\":true}",
					why, sizeof(why)),
			 SA_ERR_CONFIG);
	assert_non_null(strstr(why, "signingCertificates"));
	assert_int_equal(
	    parse_settings("{\"entityId\":\"x\",\"acs\":[{\"url\":"
			   "\"https://a/1\",\"index\":1}],\"attributes\":[{"
			   "\"claim\":\"salary\",\"name\":\"urn:x\"}]}",
			   why, sizeof(why)),
	    SA_ERR_CONFIG);
	assert_non_null(strstr(why, "attributes[0].claim"));
	assert_int_equal(
	    parse_settings("{\"entityId\":\"x\",\"acs\":[{\"url\":"
			   "\"https://a/1\",\"index\":1}],\"signAssertion\":"
			   "false}",
			   why, sizeof(why)),
	    SA_ERR_CONFIG);
	assert_int_equal(
	    parse_settings("{\"entityId\":\"x\",\"acs\":[{\"url\":"
			   "\"https://a/1\",\"index\":1}],\"surprise\":1}",
			   why, sizeof(why)),
	    SA_ERR_CONFIG);
	assert_int_equal(
	    parse_settings(
		"{\"entityId\":\"x\",\"acs\":[{\"url\":"
		"\"https://a/1\",\"index\":1}],\"encryptAssertions\":"
		"true}",
		why, sizeof(why)),
	    SA_ERR_CONFIG);
	assert_non_null(strstr(why, "encryptAssertions"));
}

/* cert_b64 makes a self-signed certificate's base64 DER for key. */
static char *
cert_b64(void)
{
	char *b64 = self_signed_cert_b64(key);

	assert_non_null(b64);
	return b64;
}

static void
test_import_metadata(void **state)
{
	char *cert = cert_b64(), *xml, why[300] = "";
	json_t *sp = NULL;
	struct service svc;
	struct saml_sp *parsed = NULL;

	(void)state;
	assert_true(
	    asprintf(
		&xml,
		"<md:EntityDescriptor "
		"xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
		"xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" "
		"entityID=\"https://sp.example/md\">"
		"<md:SPSSODescriptor AuthnRequestsSigned=\"true\" "
		"WantAssertionsSigned=\"true\" "
		"protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:"
		"protocol\">"
		"<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data>"
		"<ds:X509Certificate>\n%s\n</ds:X509Certificate></ds:X509Data>"
		"</ds:KeyInfo></md:KeyDescriptor>"
		"<md:SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:"
		"bindings:HTTP-Redirect\" Location=\"https://sp.example/slo\"/>"
		"<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:"
		"transient</md:NameIDFormat>"
		"<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:"
		"SAML:2.0:bindings:HTTP-Artifact\" "
		"Location=\"https://sp.example/art\" index=\"0\"/>"
		"<md:AssertionConsumerService Binding=\"urn:oasis:names:tc:"
		"SAML:2.0:bindings:HTTP-POST\" Location=\"https://sp.example/"
		"acs\" index=\"1\" isDefault=\"true\"/>"
		"</md:SPSSODescriptor></md:EntityDescriptor>",
		cert) > 0);
	assert_int_equal(saml_sp_import((const unsigned char *)xml, strlen(xml),
					&sp, why, sizeof(why)),
			 SA_OK);
	assert_string_equal(json_string_value(json_object_get(sp, "entityId")),
			    "https://sp.example/md");
	/* Only the HTTP-POST ACS. */
	assert_int_equal(json_array_size(json_object_get(sp, "acs")), 1);
	assert_true(json_is_true(json_object_get(sp, "wantSignedRequests")));
	assert_string_equal(
	    json_string_value(json_object_get(sp, "nameIdFormat")),
	    "transient");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(sp, "slo"), "binding")),
			    "HTTP-Redirect");
	/* What import writes, the parser takes. */
	memset(&svc, 0, sizeof(svc));
	svc.saml = sp;
	assert_int_equal(saml_sp_parse(&svc, 0, &parsed, why, sizeof(why)),
			 SA_OK);
	assert_int_equal(parsed->ncerts, 1);
	assert_int_equal(parsed->acs[0].index, 1);
	assert_ptr_equal(saml_sp_acs(parsed, NULL, -1), &parsed->acs[0]);
	assert_null(saml_sp_acs(parsed, "https://sp.example/art", -1));
	saml_sp_free(parsed);
	json_decref(sp);
	free(xml);
	/* Two SPs in one file: refused, one at a time. */
	xml = "<md:EntitiesDescriptor "
	      "xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>";
	assert_int_equal(saml_sp_import((const unsigned char *)xml, strlen(xml),
					&sp, why, sizeof(why)),
			 SA_ERR_SAML_REQUEST);
	free(cert);
}

/* import_signed runs saml_sp_import_signed on xml with signer. */
static enum sa_err
import_signed(const char *xml, X509 *signer, char *why, size_t whylen)
{
	json_t *sp = NULL;
	enum sa_err rc;

	why[0] = '\0';
	rc = saml_sp_import_signed((const unsigned char *)xml, strlen(xml),
				   signer, &sp, why, whylen);
	assert_true(rc != SA_OK || sp != NULL);
	json_decref(sp);
	return rc;
}

static void
test_import_signed_metadata(void **state)
{
	static const char md[] =
	    "<md:EntityDescriptor "
	    "xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" ID=\"_md1\" "
	    "entityID=\"https://sp.example/md\"><md:SPSSODescriptor "
	    "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:"
	    "protocol\"><md:AssertionConsumerService Binding=\"urn:oasis:"
	    "names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"https://"
	    "sp.example/acs\" index=\"0\"/></md:SPSSODescriptor>"
	    "</md:EntityDescriptor>";
	X509 *mine = self_signed_cert(key), *other;
	EVP_PKEY *k2 = EVP_EC_gen("P-256");
	char *signed_md = sign_text(md), *bad, *p, why[300];

	(void)state;
	other = self_signed_cert(k2);
	/* Signed by the given certificate's key: imported. */
	assert_int_equal(import_signed(signed_md, mine, why, sizeof(why)),
			 SA_OK);
	/* Unsigned, signed by another key, or changed after signing: not. */
	assert_int_equal(import_signed(md, mine, why, sizeof(why)),
			 SA_ERR_SAML_SIGNATURE);
	assert_non_null(strstr(why, "not signed"));
	assert_int_equal(import_signed(signed_md, other, why, sizeof(why)),
			 SA_ERR_SAML_SIGNATURE);
	bad = strdup(signed_md);
	p = strstr(bad, "sp.example/acs");
	assert_non_null(p);
	p[0] = 'x';
	assert_int_equal(import_signed(bad, mine, why, sizeof(why)),
			 SA_ERR_SAML_SIGNATURE);
	/* Without a certificate nothing is checked. */
	assert_int_equal(import_signed(md, NULL, why, sizeof(why)), SA_OK);
	/* What the registry would refuse, the import refuses too. */
	p = strstr(bad, "https://xp.example/acs");
	assert_non_null(p);
	memcpy(p, "ftp:/", 5);
	assert_int_equal(import_signed(bad, NULL, why, sizeof(why)),
			 SA_ERR_SAML_REQUEST);
	assert_non_null(strstr(why, "settings we refuse"));
	free(bad);
	free(signed_md);
	X509_free(mine);
	X509_free(other);
	EVP_PKEY_free(k2);
}

static void
test_decode_both_bindings(void **state)
{
	const char *xml = REQ_HEAD "</samlp:AuthnRequest>";
	unsigned char *z = NULL;
	size_t zlen = 0;
	char *b64, *esc, *q, why[300];
	struct saml_msg m;

	(void)state;
	assert_int_equal(
	    saml_deflate((const unsigned char *)xml, strlen(xml), &z, &zlen),
	    SA_OK);
	b64 = b64_encode(z, zlen);
	esc = saml_url_escape(b64);
	assert_true(asprintf(&q, "SAMLRequest=%s&RelayState=abc", esc) > 0);
	assert_int_equal(saml_msg_decode_text(q, strlen(q),
					      SAML_BINDING_REDIRECT, &m, why,
					      sizeof(why)),
			 SA_OK);
	assert_int_equal(m.kind, SAML_MSG_AUTHN_REQUEST);
	assert_string_equal(m.issuer, "https://sp.example/md");
	assert_string_equal(m.relay_state, "abc");
	saml_msg_clear(&m);
	free(q);
	/* A parameter given twice: which one would be signed? */
	assert_true(asprintf(&q, "SAMLRequest=%s&SAMLRequest=%s", esc, esc) >
		    0);
	assert_int_equal(saml_msg_decode_text(q, strlen(q),
					      SAML_BINDING_REDIRECT, &m, why,
					      sizeof(why)),
			 SA_ERR_SAML_REQUEST);
	saml_msg_clear(&m);
	free(q);
	free(esc);
	free(b64);
	free(z);
	/* HTTP-POST: base64 without DEFLATE. */
	b64 = b64_encode((const unsigned char *)xml, strlen(xml));
	esc = saml_url_escape(b64);
	assert_true(asprintf(&q, "SAMLRequest=%s", esc) > 0);
	assert_int_equal(saml_msg_decode_text(q, strlen(q), SAML_BINDING_POST,
					      &m, why, sizeof(why)),
			 SA_OK);
	/* Unsigned and not required: fine; required: refused. */
	{
		struct saml_sp sp;

		memset(&sp, 0, sizeof(sp));
		sp.keys[0] = key;
		sp.ncerts = 1;
		assert_int_equal(
		    saml_msg_verify_text("", &sp, 0, &m, why, sizeof(why)),
		    SA_OK);
		assert_int_equal(
		    saml_msg_verify_text("", &sp, 1, &m, why, sizeof(why)),
		    SA_ERR_SAML_SIGNATURE);
	}
	saml_msg_clear(&m);
	free(q);
	free(esc);
	free(b64);
}

static void
test_limits(void **state)
{
	unsigned char *big = calloc(1, 1 << 20), *z = NULL, *out = NULL;
	size_t zlen = 0, n = 0;
	int64_t t;

	(void)state;
	/* A deflate bomb: 1 MiB of zeros is refused past the limit. */
	assert_int_equal(saml_deflate(big, 1 << 20, &z, &zlen), SA_OK);
	assert_true(zlen < 4096);
	assert_int_equal(saml_inflate(z, zlen, SAML_MSG_MAX, &out, &n),
			 SA_ERR_SAML_REQUEST);
	free(z);
	free(big);
	assert_int_equal(saml_time_parse("2026-01-02T03:04:05Z", &t), 0);
	assert_int_equal(t, 1767323045);
	assert_int_equal(saml_time_parse("2026-01-02T03:04:05.123Z", &t), 0);
	assert_int_equal(t, 1767323045);
	assert_int_equal(saml_time_parse("2026-01-02T03:04:05+02:00", &t), -1);
	assert_int_equal(saml_time_parse("2026-01-02", &t), -1);
}

/*
 * test_entity_id_is_one_service: the registry's check refuses a second
 * service with an entity id another one has (SA_ERR_CONFLICT naming it),
 * takes the same record again, and an SP lookup that meets two enabled
 * records with one entity id (writes that raced on two servers) finds
 * neither, where one of them disabled leaves the other.
 */
static void
test_entity_id_is_one_service(void **state)
{
	static const char file[] =
	    "{\"services\":["
	    "{\"serviceId\":\"wiki\",\"name\":\"Wiki\",\"scopes\":[\"identity:"
	    "name\"],"
	    "\"saml\":{\"entityId\":\"https://sp/md\",\"acs\":[{\"url\":"
	    "\"https://sp/acs\",\"index\":0}]}},"
	    "{\"serviceId\":\"wiki2\",\"name\":\"Wiki\",\"scopes\":[\"identity:"
	    "name\"]"
	    ",%s"
	    "\"saml\":{\"entityId\":\"https://sp/md\",\"acs\":[{\"url\":"
	    "\"https://evil/acs\",\"index\":0}]}}]}";
	char path[] = "/tmp/sealauth-test-services-XXXXXX";
	struct services *svcs = NULL;
	struct saml_sp *sp = NULL;
	char why[300] = "";
	FILE *f;
	int fd;

	(void)state;
	for (int disabled = 0; disabled <= 1; disabled++) {
		fd = mkstemp(path);
		assert_true(fd >= 0);
		f = fdopen(fd, "w");
		assert_non_null(f);
		fprintf(f, file, disabled ? "\"enabled\":false," : "");
		fclose(f);
		if (services_load(path, NULL, &svcs, why, sizeof(why)) != SA_OK)
			fail_msg("services_load: %s", why);
		unlink(path);
		snprintf(path, sizeof(path),
			 "/tmp/sealauth-test-services-XXXXXX");

		/* The check, as a write of each record would run it. */
		for (size_t i = 0; i < 2; i++) {
			const struct service *svc = services_at(svcs, i);

			why[0] = '\0';
			assert_int_equal(saml_sp_checker(svc->saml, svc, svcs,
							 why, sizeof(why)),
					 SA_ERR_CONFLICT);
			assert_non_null(strstr(why, "entityId"));
			assert_non_null(
			    strstr(why, i == 0 ? "\"wiki2\"" : "\"wiki\""));
			/* Against a registry without the other record, the
			 * same settings pass: a record may keep its own id. */
			assert_int_equal(saml_sp_checker(svc->saml, svc, NULL,
							 why, sizeof(why)),
					 SA_OK);
		}
		if (!disabled) {
			assert_int_equal(
			    saml_sp_find(svcs, "https://sp/md", 0, &sp),
			    SA_ERR_SAML_UNKNOWN_SP);
			assert_null(sp);
		} else {
			assert_int_equal(
			    saml_sp_find(svcs, "https://sp/md", 0, &sp), SA_OK);
			assert_string_equal(sp->acs[0].url, "https://sp/acs");
			saml_sp_free(sp);
			sp = NULL;
		}
		services_free(svcs);
		svcs = NULL;
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_element_signature_and_wrapping),
	    cmocka_unit_test(test_sign_twice_refused),
	    cmocka_unit_test(test_settings_validation),
	    cmocka_unit_test(test_import_metadata),
	    cmocka_unit_test(test_import_signed_metadata),
	    cmocka_unit_test(test_decode_both_bindings),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_entity_id_is_one_service),
	};
	int rc;

	key = EVP_EC_gen("P-256");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	EVP_PKEY_free(key);
	return rc;
}
