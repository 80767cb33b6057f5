/*
 * test_xmldsig.c - safe parsing and enveloped signature checks, driven by
 * testdata/tsl/cases.json (real EU trusted lists) plus our own attacks.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libxml/tree.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "trust/xmldsig.h"

static char testdata[1024];
static json_t *cases;

static void
find_testdata(void)
{
	const char *env = getenv("SEALAUTH_TESTDATA");

	if (env != NULL && env[0] != '\0')
		snprintf(testdata, sizeof(testdata), "%s/tsl", env);
	else
		snprintf(testdata, sizeof(testdata),
			 "%s/../shared/testdata/tsl", SEALAUTH_SOURCE_DIR);
}

/* load reads a test file. Not inlined, for the reason given in test_vrl.c
 * (GCC 12's -O3 dangling-pointer false positive on the out-parameter). */
static __attribute__((noinline)) unsigned char *
load(const char *rel, size_t *len)
{
	char path[1200];
	unsigned char *data = NULL;

	snprintf(path, sizeof(path), "%s/%s", testdata, rel);
	assert_int_equal(read_file(path, 8u << 20, &data, len), SA_OK);
	return data;
}

static X509 *
load_cert(const char *rel)
{
	size_t len;
	unsigned char *pem = load(rel, &len);
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	BIO_free(bio);
	free(pem);
	assert_non_null(x);
	return x;
}

/* fingerprint writes the uppercase hex SHA-256 of a certificate's DER. */
static void
fingerprint(X509 *x, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	assert_int_equal(X509_digest(x, EVP_sha256(), md, &mdlen), 1);
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

/*
 * pin_key loads a case's signer PEM and returns its public key only if the
 * certificate has the expected SHA-256 fingerprint: the pin is the
 * fingerprint, the PEM is just where the key comes from.
 */
static EVP_PKEY *
pin_key(const char *pem, const char *want_fp)
{
	X509 *x = load_cert(pem);
	char fp[65];
	EVP_PKEY *k;

	fingerprint(x, fp);
	assert_string_equal(fp, want_fp);
	k = X509_get_pubkey(x);
	X509_free(x);
	assert_non_null(k);
	return k;
}

static xmlDocPtr
parse_ok(const unsigned char *xml, size_t n)
{
	xmlDocPtr doc = NULL;
	char why[200] = "";
	enum sa_err rc = xmldsig_parse(xml, n, &doc, why, sizeof(why));

	if (rc != SA_OK)
		fail_msg("parse failed: %s", why);
	return doc;
}

static int
status_ok(json_t *c, enum xmldsig_status got)
{
	static const char *const names[] = {"valid", "bad-signature",
					    "no-signature", "malformed"};
	const char *name = names[got];
	json_t *alt = json_object_get(c, "alsoAcceptable");
	size_t i;
	json_t *v;

	if (strcmp(json_string_value(json_object_get(c, "expect")), name) == 0)
		return 1;
	json_array_foreach(alt, i, v) if (strcmp(json_string_value(v), name) ==
					  0) return 1;
	return 0;
}

/* first_signer returns the first signature object of a case, or NULL. */
static json_t *
first_signer(json_t *c)
{
	json_t *sigs = json_object_get(c, "signatures");

	return json_array_size(sigs) > 0 ? json_array_get(sigs, 0) : NULL;
}

/* a signer of another case whose fingerprint differs from fp */
static json_t *
other_signer(const char *fp)
{
	size_t i;
	json_t *c;

	json_array_foreach(cases, i, c)
	{
		json_t *s = first_signer(c);
		const char *ofp;

		if (s == NULL)
			continue;
		ofp = json_string_value(json_object_get(
		    json_object_get(s, "signer"), "sha256Fingerprint"));
		if (strcmp(ofp, fp) != 0)
			return s;
	}
	return NULL;
}

static EVP_PKEY *
signer_key(json_t *s)
{
	return pin_key(json_string_value(json_object_get(s, "signerPem")),
		       json_string_value(json_object_get(
			   json_object_get(s, "signer"), "sha256Fingerprint")));
}

/*
 * Every case of cases.json: parse, then verify with its own signer pinned,
 * and expect exactly the recorded outcome. Valid lists must also fail with
 * another case's signer, and pass when the right key is second in the list.
 */
static void
test_cases(void **state)
{
	size_t i;
	json_t *c;
	int nvalid = 0, nrefused = 0;

	(void)state;
	assert_true(json_array_size(cases) >= 10);
	json_array_foreach(cases, i, c)
	{
		const char *name =
		    json_string_value(json_object_get(c, "name"));
		const char *file =
		    json_string_value(json_object_get(c, "file"));
		int well = json_is_true(json_object_get(c, "wellFormed"));
		json_t *s = first_signer(c);
		size_t len;
		unsigned char *xml = load(file, &len);
		unsigned char fp[32];
		char *hex;
		xmlDocPtr doc = NULL;
		char why[200] = "";
		struct xmldsig_result res;
		EVP_PKEY *key, *wrong, *both[2];
		enum sa_err rc;

		/* the file really is the one cases.json describes */
		sha256(xml, len, fp);
		hex = hex_encode(fp, 32);
		assert_string_equal(
		    hex, json_string_value(json_object_get(c, "sha256")));
		free(hex);

		rc = xmldsig_parse(xml, len, &doc, why, sizeof(why));
		if (!well) {
			print_message("%s: refused: %s\n", name, why);
			assert_int_equal(rc, SA_ERR_TRUST_LIST);
			assert_null(doc);
			assert_true(status_ok(c, XMLDSIG_MALFORMED));
			assert_non_null(strstr(why, "line 55"));
			nrefused++;
			free(xml);
			continue;
		}
		assert_int_equal(rc, SA_OK);
		/* no signature: pin the LOTL signer, the list's would-be key */
		key = s != NULL
			  ? signer_key(s)
			  : signer_key(first_signer(json_array_get(cases, 0)));
		rc = xmldsig_verify(doc, &key, 1, &res);
		print_message("%s: %s\n", name, res.reason);
		if (!status_ok(c, res.status))
			fail_msg("%s: status %d (%s)", name, res.status,
				 res.reason);
		if (res.status == XMLDSIG_VALID) {
			char sfp[65];

			assert_int_equal(rc, SA_OK);
			assert_int_equal(res.key_index, 0);
			/* KeyInfo's certificate is reported, for information */
			assert_non_null(res.signer);
			fingerprint(res.signer, sfp);
			assert_string_equal(sfp,
					    json_string_value(json_object_get(
						json_object_get(s, "signer"),
						"sha256Fingerprint")));
			xmldsig_result_clear(&res);

			wrong = signer_key(other_signer(sfp));
			rc = xmldsig_verify(doc, &wrong, 1, &res);
			assert_int_equal(rc, SA_ERR_TRUST_LIST_SIG);
			assert_int_equal(res.status, XMLDSIG_BAD_SIGNATURE);
			assert_int_equal(res.key_index, -1);
			xmldsig_result_clear(&res);

			both[0] = wrong;
			both[1] = key;
			rc = xmldsig_verify(doc, both, 2, &res);
			assert_int_equal(rc, SA_OK);
			assert_int_equal(res.key_index, 1);
			EVP_PKEY_free(wrong);
			nvalid++;
		} else {
			assert_int_not_equal(rc, SA_OK);
			assert_int_equal(res.key_index, -1);
			nrefused++;
		}
		xmldsig_result_clear(&res);
		EVP_PKEY_free(key);
		xmlFreeDoc(doc);
		free(xml);
	}
	assert_int_equal(nvalid, 4);
	assert_int_equal(nrefused, 6);
}

/* verify_file parses a list and verifies it with one signer pem. */
static enum xmldsig_status
verify_file(const char *file, json_t *signer, char *why, size_t whylen)
{
	size_t len;
	unsigned char *xml = load(file, &len);
	xmlDocPtr doc = parse_ok(xml, len);
	EVP_PKEY *key = signer_key(signer);
	struct xmldsig_result res;
	enum xmldsig_status st;

	xmldsig_verify(doc, &key, 1, &res);
	st = res.status;
	snprintf(why, whylen, "%s", res.reason);
	xmldsig_result_clear(&res);
	EVP_PKEY_free(key);
	xmlFreeDoc(doc);
	free(xml);
	return st;
}

static json_t *
case_named(const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(
	    cases, i,
	    c) if (strcmp(json_string_value(json_object_get(c, "name")),
			  name) == 0) return c;
	fail_msg("no case %s", name);
	return NULL;
}

/*
 * The named special cases, each for the reason the README gives: two
 * signatures are refused whichever signer is pinned (signature 2 alone is
 * cryptographically good), the broken LOTL fails on the document digest.
 */
static void
test_named_cases(void **state)
{
	json_t *cz = case_named("CZ_two-sigs.xml");
	json_t *sigs = json_object_get(cz, "signatures");
	char why[200];

	(void)state;
	assert_int_equal(verify_file("lists/CZ_two-sigs.xml",
				     json_array_get(sigs, 0), why, sizeof(why)),
			 XMLDSIG_MALFORMED);
	assert_non_null(strstr(why, "2 ds:Signature"));
	assert_int_equal(verify_file("lists/CZ_two-sigs.xml",
				     json_array_get(sigs, 1), why, sizeof(why)),
			 XMLDSIG_MALFORMED);

	assert_int_equal(
	    verify_file("lists/eu-lotl-broken-sig.xml",
			first_signer(case_named("eu-lotl-broken-sig.xml")), why,
			sizeof(why)),
	    XMLDSIG_BAD_SIGNATURE);
	assert_non_null(strstr(why, "Reference \"\""));
	assert_int_equal(verify_file("lists/sk-tl-altered-trust-service.xml",
				     first_signer(case_named(
					 "sk-tl-altered-trust-service.xml")),
				     why, sizeof(why)),
			 XMLDSIG_BAD_SIGNATURE);
	assert_int_equal(verify_file("lists/tl-empty.xml",
				     first_signer(case_named("eu-lotl.xml")),
				     why, sizeof(why)),
			 XMLDSIG_NO_SIGNATURE);
}

/*
 * mutate_lotl replaces the first occurrence of from with to in eu-lotl.xml,
 * parses and verifies it with the LOTL signer and returns the status.
 */
static enum xmldsig_status
mutate_lotl(const char *from, const char *to, char *why, size_t whylen)
{
	size_t len, fl = strlen(from), tl = strlen(to);
	unsigned char *xml = load("lists/eu-lotl.xml", &len);
	unsigned char *m = malloc(len + tl + 1);
	char *hit;
	size_t off, mlen;
	xmlDocPtr doc;
	EVP_PKEY *key = signer_key(first_signer(case_named("eu-lotl.xml")));
	struct xmldsig_result res;
	enum xmldsig_status st;

	assert_non_null(m);
	hit = strstr((char *)xml, from);
	assert_non_null(hit);
	off = (size_t)(hit - (char *)xml);
	memcpy(m, xml, off);
	memcpy(m + off, to, tl);
	memcpy(m + off + tl, xml + off + fl, len - off - fl);
	mlen = len - fl + tl;
	doc = parse_ok(m, mlen);
	xmldsig_verify(doc, &key, 1, &res);
	st = res.status;
	snprintf(why, whylen, "%s", res.reason);
	xmldsig_result_clear(&res);
	EVP_PKEY_free(key);
	xmlFreeDoc(doc);
	free(m);
	free(xml);
	return st;
}

/* Profile rules applied to a real XAdES signature, before any crypto. */
static void
test_profile_refusals(void **state)
{
	char why[200];

	(void)state;
	/* sanity: the unmodified list verifies through the same path */
	assert_int_equal(mutate_lotl("<TSLSequenceNumber>248",
				     "<TSLSequenceNumber>248", why,
				     sizeof(why)),
			 XMLDSIG_VALID);
	/* a changed signed value is caught by the document digest */
	assert_int_equal(mutate_lotl("<TSLSequenceNumber>248",
				     "<TSLSequenceNumber>249", why,
				     sizeof(why)),
			 XMLDSIG_BAD_SIGNATURE);
	/* SHA-1 signature method */
	assert_int_equal(
	    mutate_lotl("xmldsig-more#rsa-sha256",
			"http://www.w3.org/2000/09/xmldsig#rsa-sha1\" x=\"",
			why, sizeof(why)),
	    XMLDSIG_MALFORMED);
	assert_non_null(strstr(why, "signature method"));
	/* HMAC */
	assert_int_equal(
	    mutate_lotl("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
			"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
			why, sizeof(why)),
	    XMLDSIG_MALFORMED);
	/* an XPath transform instead of enveloped-signature */
	assert_int_equal(
	    mutate_lotl("http://www.w3.org/2000/09/xmldsig#enveloped-signature",
			"http://www.w3.org/TR/1999/REC-xpath-19991116", why,
			sizeof(why)),
	    XMLDSIG_MALFORMED);
	assert_non_null(strstr(why, "transform"));
	/* the SignedProperties reference pointing elsewhere */
	assert_int_equal(mutate_lotl("URI=\"#xades-id-", "URI=\"#other-id-",
				     why, sizeof(why)),
			 XMLDSIG_MALFORMED);
	/* a second element carrying the SignedProperties Id (wrapping) */
	assert_int_equal(mutate_lotl("<SchemeInformation>",
				     "<SchemeInformation Id=\"xades-id-"
				     "401734edba3145fad5a1c07f2d827e31\">",
				     why, sizeof(why)),
			 XMLDSIG_MALFORMED);
	assert_non_null(strstr(why, "not unique"));
	/* xml:id is registered by libxml2 itself: still refused */
	assert_int_equal(mutate_lotl("<SchemeInformation>",
				     "<SchemeInformation xml:id=\"xades-id-"
				     "401734edba3145fad5a1c07f2d827e31\">",
				     why, sizeof(why)),
			 XMLDSIG_MALFORMED);
}

/* A fresh P-256 key and a self-signed certificate for it. */
static void
make_key(int nid, EVP_PKEY **key, X509 **cert)
{
	EVP_PKEY *k = NULL;
	X509 *x = X509_new();
	X509_NAME *name;

	if (nid == EVP_PKEY_RSA)
		k = EVP_RSA_gen(2048);
	else
		k = EVP_EC_gen(OBJ_nid2sn(nid));
	assert_non_null(k);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"list signer", -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*key = k;
	*cert = x;
}

static const char small_list[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<TrustServiceStatusList xmlns=\"http://uri.etsi.org/02231/v2#\">\n"
    "  <SchemeInformation>\n"
    "    <TSLVersionIdentifier>5</TSLVersionIdentifier>\n"
    "    <TSLSequenceNumber>7</TSLSequenceNumber>\n"
    "  </SchemeInformation>\n"
    "</TrustServiceStatusList>\n";

/* sign_small signs small_list and returns the serialised bytes. */
static unsigned char *
sign_small(EVP_PKEY *key, X509 *cert, int *len)
{
	xmlDocPtr doc =
	    parse_ok((const unsigned char *)small_list, sizeof(small_list) - 1);
	xmlChar *out = NULL;
	unsigned char *copy;

	assert_int_equal(xmldsig_sign(doc, key, cert), SA_OK);
	/* a document is signed once */
	assert_int_equal(xmldsig_sign(doc, key, cert), SA_ERR_CONFLICT);
	xmlDocDumpMemory(doc, &out, len);
	assert_non_null(out);
	copy = malloc((size_t)*len + 1);
	memcpy(copy, out, (size_t)*len + 1);
	xmlFree(out);
	xmlFreeDoc(doc);
	return copy;
}

static enum xmldsig_status
verify_bytes(const unsigned char *xml, size_t n, EVP_PKEY *key, char *why,
	     size_t whylen)
{
	xmlDocPtr doc = parse_ok(xml, n);
	struct xmldsig_result res;
	enum xmldsig_status st;

	xmldsig_verify(doc, &key, 1, &res);
	st = res.status;
	if (why != NULL)
		snprintf(why, whylen, "%s", res.reason);
	xmldsig_result_clear(&res);
	xmlFreeDoc(doc);
	return st;
}

/* replace_once returns a copy of s with the first from replaced by to. */
static char *
replace_once(const char *s, const char *from, const char *to)
{
	const char *hit = strstr(s, from);
	size_t off, n;
	char *r;

	assert_non_null(hit);
	off = (size_t)(hit - s);
	n = strlen(s) - strlen(from) + strlen(to);
	r = malloc(n + 1);
	memcpy(r, s, off);
	strcpy(r + off, to);
	strcat(r, hit + strlen(from));
	return r;
}

/* Round trip with our own keys: P-256, brainpool P-256 and RSA. */
static void
test_sign_round_trip(void **state)
{
	const int nids[] = {NID_X9_62_prime256v1, NID_brainpoolP256r1,
			    EVP_PKEY_RSA};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(nids); i++) {
		EVP_PKEY *key, *other;
		X509 *cert, *ocert;
		int len;
		unsigned char *xml;
		char *tampered;
		char why[200];

		make_key(nids[i], &key, &cert);
		make_key(nids[i], &other, &ocert);
		xml = sign_small(key, cert, &len);
		assert_non_null(strstr((char *)xml, "ds:X509Certificate"));
		assert_non_null(strstr((char *)xml, nids[i] == EVP_PKEY_RSA
							? "#rsa-sha256"
							: "#ecdsa-sha256"));
		assert_int_equal(
		    verify_bytes(xml, (size_t)len, key, why, sizeof(why)),
		    XMLDSIG_VALID);
		/* the KeyInfo certificate is the signer's, but not trusted */
		assert_int_equal(verify_bytes(xml, (size_t)len, other, NULL, 0),
				 XMLDSIG_BAD_SIGNATURE);
		/* tampering with signed text */
		tampered = replace_once((char *)xml, "<TSLSequenceNumber>7<",
					"<TSLSequenceNumber>8<");
		assert_int_equal(verify_bytes((unsigned char *)tampered,
					      strlen(tampered), key, why,
					      sizeof(why)),
				 XMLDSIG_BAD_SIGNATURE);
		free(tampered);
		free(xml);
		EVP_PKEY_free(key);
		EVP_PKEY_free(other);
		X509_free(cert);
		X509_free(ocert);
	}
}

/*
 * Signature wrapping: the signed list moved under a new root, the signature
 * moved into a child, and a forged list beside the signed one with the
 * signature re-parented to the new root. None verifies.
 */
static void
test_wrapping(void **state)
{
	EVP_PKEY *key;
	X509 *cert;
	int len;
	unsigned char *xml;
	char *body, *w, *sigtxt, *nosig;
	const char *sig_start, *sig_end;
	char why[200];
	size_t n;

	(void)state;
	make_key(NID_X9_62_prime256v1, &key, &cert);
	xml = sign_small(key, cert, &len);
	body = strstr((char *)xml, "<TrustServiceStatusList");
	assert_non_null(body);

	/* 1. the whole signed list under a new root */
	n = strlen(body) + 64;
	w = malloc(n);
	snprintf(w, n, "<Wrapper>%s</Wrapper>", body);
	assert_int_equal(
	    verify_bytes((unsigned char *)w, strlen(w), key, why, sizeof(why)),
	    XMLDSIG_MALFORMED);
	assert_non_null(strstr(why, "not a child of the root"));
	free(w);

	/* cut the signature out of the text */
	sig_start = strstr(body, "<ds:Signature");
	sig_end = strstr(body, "</ds:Signature>");
	assert_non_null(sig_start);
	assert_non_null(sig_end);
	sig_end += strlen("</ds:Signature>");
	sigtxt = strndup(sig_start, (size_t)(sig_end - sig_start));
	nosig = malloc(strlen(body) + 1);
	memcpy(nosig, body, (size_t)(sig_start - body));
	strcpy(nosig + (sig_start - body), sig_end);

	/* 2. the signature moved into SchemeInformation */
	{
		char *to = malloc(strlen(sigtxt) + 32);
		char *m;

		sprintf(to, "%s</SchemeInformation>", sigtxt);
		m = replace_once(nosig, "</SchemeInformation>", to);
		assert_int_equal(verify_bytes((unsigned char *)m, strlen(m),
					      key, why, sizeof(why)),
				 XMLDSIG_MALFORMED);
		free(m);
		free(to);
	}

	/* 3. forged list + signed list (without signature) + signature */
	{
		const char *forged = "<TrustServiceStatusList "
				     "xmlns=\"http://uri.etsi.org/02231/v2#\">"
				     "<SchemeInformation><TSLSequenceNumber>99"
				     "</TSLSequenceNumber></SchemeInformation>"
				     "</TrustServiceStatusList>";
		size_t m = strlen(forged) + strlen(nosig) + strlen(sigtxt) + 64;
		char *doc2 = malloc(m);

		snprintf(doc2, m, "<Lists>%s%s%s</Lists>", forged, nosig,
			 sigtxt);
		assert_int_equal(verify_bytes((unsigned char *)doc2,
					      strlen(doc2), key, why,
					      sizeof(why)),
				 XMLDSIG_BAD_SIGNATURE);
		free(doc2);
	}

	/* 4. a second signature appended after ours */
	{
		char *to = malloc(2 * strlen(sigtxt) + 1);
		char *m;

		sprintf(to, "%s%s", sigtxt, sigtxt);
		m = replace_once(body, sigtxt, to);
		assert_int_equal(verify_bytes((unsigned char *)m, strlen(m),
					      key, why, sizeof(why)),
				 XMLDSIG_MALFORMED);
		free(m);
		free(to);
	}
	free(sigtxt);
	free(nosig);
	free(xml);
	EVP_PKEY_free(key);
	X509_free(cert);
}

static enum sa_err
parse_str(const char *s, char *why, size_t whylen)
{
	xmlDocPtr doc = NULL;
	enum sa_err rc = xmldsig_parse((const unsigned char *)s, strlen(s),
				       &doc, why, whylen);

	if (doc != NULL)
		xmlFreeDoc(doc);
	return rc;
}

/* DOCTYPEs of every kind, oversize and garbage are refused by the parser. */
static void
test_parse_refusals(void **state)
{
	char why[200];
	unsigned char *big;
	xmlDocPtr doc = NULL;
	const size_t bign = XMLDSIG_MAX_DOC + 1;

	(void)state;
	assert_int_equal(
	    parse_str("<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\">"
		      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
		      "<r>&b;</r>",
		      why, sizeof(why)),
	    SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "DOCTYPE"));
	assert_int_equal(parse_str("<!DOCTYPE r SYSTEM \"file:///etc/passwd\">"
				   "<r/>",
				   why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "DOCTYPE"));
	assert_int_equal(parse_str("<!DOCTYPE r [<!ENTITY x SYSTEM "
				   "\"file:///etc/hostname\">]><r>&x;</r>",
				   why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_int_equal(parse_str("<r><a></r>", why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "line 1"));
	assert_int_equal(parse_str("", why, sizeof(why)), SA_ERR_TRUST_LIST);
	/* a BOM is fine */
	assert_int_equal(parse_str("\xEF\xBB\xBF<r/>", why, sizeof(why)),
			 SA_OK);

	big = malloc(bign);
	assert_non_null(big);
	memset(big, ' ', bign);
	memcpy(big, "<r>", 3);
	memcpy(big + bign - 4, "</r>", 4);
	assert_int_equal(xmldsig_parse(big, bign, &doc, why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_null(doc);
	assert_non_null(strstr(why, "exceeds"));
	/* one byte less is parsed */
	memcpy(big + bign - 5, "</r>", 4);
	assert_int_equal(xmldsig_parse(big, bign - 1, &doc, why, sizeof(why)),
			 SA_OK);
	xmlFreeDoc(doc);
	free(big);
}

static void
test_b64(void **state)
{
	unsigned char *out = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(xmldsig_b64_decode("aGVs\r\nbG8 =\t", 100, &out, &n),
			 SA_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_not_equal(xmldsig_b64_decode("aGV*", 100, &out, &n), SA_OK);
	assert_int_not_equal(xmldsig_b64_decode("aGVsbG8=", 4, &out, &n),
			     SA_OK);
}

struct worker {
	const unsigned char *xml;
	size_t len;
	EVP_PKEY *key;
	int valid;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 3; i++) {
		xmlDocPtr doc = NULL;
		struct xmldsig_result res;

		if (xmldsig_parse(w->xml, w->len, &doc, NULL, 0) != SA_OK)
			continue;
		if (xmldsig_verify(doc, &w->key, 1, &res) == SA_OK)
			w->valid++;
		xmldsig_result_clear(&res);
		xmlFreeDoc(doc);
	}
	return NULL;
}

/* Parsing and verification run concurrently in several threads. */
static void
test_threads(void **state)
{
	const char *files[] = {"lists/ie-tl.xml", "lists/fi-v5.xml",
			       "lists/tl-ecdsa-brainpool.xml",
			       "lists/eu-lotl.xml"};
	const char *names[] = {"ie-tl.xml", "fi-v5.xml",
			       "tl-ecdsa-brainpool.xml", "eu-lotl.xml"};
	struct worker w[4];
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		w[i].xml = load(files[i], &w[i].len);
		w[i].key = signer_key(first_signer(case_named(names[i])));
		w[i].valid = 0;
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].valid, 3);
		free((void *)w[i].xml);
		EVP_PKEY_free(w[i].key);
	}
}

static int
setup(void **state)
{
	char path[1200];
	json_error_t err;

	(void)state;
	find_testdata();
	snprintf(path, sizeof(path), "%s/cases.json", testdata);
	cases = json_load_file(path, 0, &err);
	if (cases == NULL) {
		fprintf(stderr, "cannot load %s: %s\n", path, err.text);
		return -1;
	}
	return xmldsig_global_init() == SA_OK ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	json_decref(cases);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_named_cases),
	    cmocka_unit_test(test_profile_refusals),
	    cmocka_unit_test(test_sign_round_trip),
	    cmocka_unit_test(test_wrapping),
	    cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_b64),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
