/*
 * test_saml_enc.c - assertion encryption: an element encrypted to an RSA
 * certificate decrypts with the xmlsec1 command (another reader than the
 * writer) to the same element, a changed ciphertext does not, an EC
 * certificate is refused, and the SP settings that ask for encryption are
 * checked when the SP is registered.
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
#include "trust/xmlenc.h"

#include "support.h"

#define XMLSEC1 "/usr/bin/xmlsec1"

#define DOC                                                                    \
	"<r xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">"             \
	"<saml:Assertion "                                                     \
	"xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" "                \
	"ID=\"_a1\"><saml:Issuer>https://idp.example</saml:Issuer>"            \
	"<saml:AttributeValue>Erika</saml:AttributeValue></saml:Assertion></"  \
	"r>"

static EVP_PKEY *rsa_key;
static EVP_PKEY *ec_key;

/* cert_pem_json returns the PEM of cert as a JSON string literal's text. */
static char *
cert_pem_json(X509 *cert)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;
	json_t *s;

	PEM_write_bio_X509(b, cert);
	n = BIO_get_mem_data(b, &data);
	s = json_stringn(data, (size_t)n);
	out = json_dumps(s, JSON_ENCODE_ANY);
	json_decref(s);
	BIO_free(b);
	return out;
}

/* encrypt_doc encrypts the Assertion of DOC to cert, serialised. */
static enum sa_err
encrypt_doc(X509 *cert, enum xmlenc_cipher cipher, char **out)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr as, ed = NULL;
	size_t n;
	enum sa_err rc;

	assert_int_equal(saml_xml_parse((const unsigned char *)DOC, strlen(DOC),
					&doc, NULL, 0),
			 SA_OK);
	as = saml_first_elem(xmlDocGetRootElement(doc));
	rc = xmlenc_encrypt_element(doc, as, cert, cipher, &ed);
	if (rc == SA_OK) {
		assert_non_null(ed);
		assert_int_equal(saml_doc_dump(doc, out, &n), SA_OK);
	}
	xmlFreeDoc(doc);
	return rc;
}

/* xmlsec1_decrypt runs the xmlsec1 command on xml with the RSA private
 * key; it returns the exit status and the decrypted document in out. */
static int
xmlsec1_decrypt(const char *xml, char *out, size_t outlen)
{
	char dir[] = "/tmp/saml_enc_XXXXXX", doc[64], keyf[64], cmd[512];
	FILE *f;
	size_t n;
	int status;

	assert_non_null(mkdtemp(dir));
	snprintf(doc, sizeof(doc), "%s/m.xml", dir);
	snprintf(keyf, sizeof(keyf), "%s/k.pem", dir);
	f = fopen(doc, "w");
	fputs(xml, f);
	fclose(f);
	f = fopen(keyf, "w");
	PEM_write_PrivateKey(f, rsa_key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 XMLSEC1 " --decrypt --privkey-pem %s %s 2>/dev/null", keyf,
		 doc);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	status = pclose(f);
	unlink(doc);
	unlink(keyf);
	rmdir(dir);
	return status;
}

static void
test_encrypt_decrypts_with_xmlsec1(void **state)
{
	X509 *cert = self_signed_cert(rsa_key);
	char *xml = NULL, plain[4096];
	char *cv;

	(void)state;
	if (access(XMLSEC1, X_OK) != 0)
		skip();
	assert_int_equal(encrypt_doc(cert, XMLENC_AES256_GCM, &xml), SA_OK);
	/* Nothing of the assertion is left in the clear. */
	assert_null(strstr(xml, "Erika"));
	assert_null(strstr(xml, "idp.example"));
	assert_non_null(
	    strstr(xml, "http://www.w3.org/2009/xmlenc11#aes256-gcm"));
	assert_non_null(
	    strstr(xml, "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"));
	assert_non_null(strstr(xml, "X509Certificate>"));
	assert_int_equal(xmlsec1_decrypt(xml, plain, sizeof(plain)), 0);
	assert_non_null(strstr(plain, "<saml:AttributeValue>Erika<"));
	assert_non_null(strstr(plain, "ID=\"_a1\""));

	/* One changed character of the content's ciphertext (the last
	 * CipherValue; the first is the encrypted key): GCM refuses. */
	cv = strstr(xml, "CipherValue>");
	cv = strstr(cv + 1, "CipherValue>");
	cv = strstr(cv + 1, "CipherValue>");
	assert_non_null(cv);
	cv += strlen("CipherValue>") + 4;
	*cv = *cv == 'A' ? 'B' : 'A';
	assert_int_not_equal(xmlsec1_decrypt(xml, plain, sizeof(plain)), 0);
	free(xml);

	/* CBC only when asked for, and it decrypts too. */
	assert_int_equal(encrypt_doc(cert, XMLENC_AES128_CBC, &xml), SA_OK);
	assert_non_null(
	    strstr(xml, "http://www.w3.org/2001/04/xmlenc#aes128-cbc"));
	assert_int_equal(xmlsec1_decrypt(xml, plain, sizeof(plain)), 0);
	assert_non_null(strstr(plain, "Erika"));
	free(xml);
	X509_free(cert);
}

static void
test_ec_certificate_refused(void **state)
{
	X509 *cert = self_signed_cert(ec_key);
	char *xml = NULL;

	(void)state;
	assert_non_null(strstr(xmlenc_cert_problem(cert), "ECDH-ES"));
	assert_int_equal(encrypt_doc(cert, XMLENC_AES256_GCM, &xml),
			 SA_ERR_CONFIG);
	assert_null(xml);
	X509_free(cert);
}

/*
 * parse_with validates the settings of an SP that asks for encrypted
 * assertions, with cert (NULL: none) as its encryption certificate and alg
 * (NULL: the default) as the algorithm.
 */
static enum sa_err
parse_with(X509 *cert, const char *alg, char *why, size_t whylen)
{
	struct service svc;
	struct saml_sp *sp = NULL;
	char *pem = cert != NULL ? cert_pem_json(cert) : NULL;
	enum sa_err rc;

	memset(&svc, 0, sizeof(svc));
	snprintf(svc.id, sizeof(svc.id), "wiki");
	svc.saml = json_pack("{s:s, s:[{s:s, s:i}], s:b}", "entityId",
			     "https://sp/md", "acs", "url", "https://sp/acs",
			     "index", 0, "encryptAssertions", 1);
	assert_non_null(svc.saml);
	if (pem != NULL)
		json_object_set_new(svc.saml, "encryptionCertificate",
				    json_loads(pem, JSON_DECODE_ANY, NULL));
	if (alg != NULL)
		json_object_set_new(svc.saml, "encryptionAlgorithm",
				    json_string(alg));
	why[0] = '\0';
	rc = saml_sp_parse(&svc, SCHEMA_LOOPBACK_HTTP, &sp, why, whylen);
	if (rc == SA_OK) {
		assert_true(sp->encrypt);
		assert_non_null(sp->enc_cert);
	}
	saml_sp_free(sp);
	json_decref(svc.saml);
	free(pem);
	return rc;
}

static void
test_settings(void **state)
{
	X509 *rsa = self_signed_cert(rsa_key), *ec = self_signed_cert(ec_key);
	char why[400];

	(void)state;
	/* No certificate to encrypt to. */
	assert_int_equal(parse_with(NULL, NULL, why, sizeof(why)),
			 SA_ERR_CONFIG);
	assert_non_null(strstr(why, "encryptionCertificate"));
	/* An EC certificate only: refused with the reason. */
	assert_int_equal(parse_with(ec, NULL, why, sizeof(why)), SA_ERR_CONFIG);
	assert_non_null(strstr(why, "encryptionCertificate: an EC key"));
	/* RSA: accepted, with an algorithm the settings may name. */
	assert_int_equal(parse_with(rsa, NULL, why, sizeof(why)), SA_OK);
	assert_int_equal(parse_with(rsa, "aes128-gcm", why, sizeof(why)),
			 SA_OK);
	assert_int_equal(parse_with(rsa, "aes-cbc", why, sizeof(why)),
			 SA_ERR_CONFIG);
	assert_non_null(strstr(why, "encryptionAlgorithm"));
	X509_free(rsa);
	X509_free(ec);
}

int
main(void)
{
	int rc;

	/* One RSA and one EC key for every test: RSA generation is slow. */
	rsa_key = EVP_RSA_gen(2048);
	ec_key = EVP_EC_gen("P-256");
	{
		const struct CMUnitTest tests[] = {
		    cmocka_unit_test(test_encrypt_decrypts_with_xmlsec1),
		    cmocka_unit_test(test_ec_certificate_refused),
		    cmocka_unit_test(test_settings),
		};

		rc = cmocka_run_group_tests(tests, NULL, NULL);
	}
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	return rc;
}
