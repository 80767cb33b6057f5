/*
 * test_tsl.c - the TS 119 612 parser against every list of
 * testdata/tsl/cases.json, the builder round trip, and the parser's bounds.
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
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "trust/tsl.h"
#include "core/util.h"
#include "trust/xmldsig.h"

static char testdata[1024];
static json_t *cases;

static unsigned char *
load(const char *rel, size_t *len)
{
	char path[1200];
	unsigned char *data = NULL;

	snprintf(path, sizeof(path), "%s/%s", testdata, rel);
	assert_int_equal(read_file(path, 8u << 20, &data, len), SA_OK);
	return data;
}

static void
fp_of_der(const unsigned char *der, size_t len, char out[65])
{
	unsigned char md[32];

	sha256(der, len, md);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

static const char *
jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* signer_key loads a signer PEM and checks it against its pinned print. */
static EVP_PKEY *
signer_key(json_t *sig)
{
	size_t len;
	unsigned char *pem = load(jstr(sig, "signerPem"), &len);
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int dlen;
	char fp[65];
	EVP_PKEY *k;

	assert_non_null(x);
	dlen = i2d_X509(x, &der);
	fp_of_der(der, (size_t)dlen, fp);
	assert_string_equal(
	    fp, jstr(json_object_get(sig, "signer"), "sha256Fingerprint"));
	k = X509_get_pubkey(x);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(bio);
	free(pem);
	return k;
}

static json_t *
case_named(const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(cases, i, c)
	{
		if (strcmp(jstr(c, "name"), name) == 0)
			return c;
	}
	fail_msg("no case %s", name);
	return NULL;
}

static struct tsl *
parse_case(json_t *c, char *why, size_t whylen, enum sa_err *rc)
{
	size_t len;
	unsigned char *xml = load(jstr(c, "file"), &len);
	struct tsl *t = NULL;

	*rc = tsl_parse(xml, len, &t, why, whylen);
	free(xml);
	return t;
}

static int
acceptable(json_t *c, const char *outcome)
{
	size_t i;
	json_t *v;

	if (strcmp(jstr(c, "expect"), outcome) == 0)
		return 1;
	json_array_foreach(json_object_get(c, "alsoAcceptable"), i, v)
	{
		if (strcmp(json_string_value(v), outcome) == 0)
			return 1;
	}
	return 0;
}

static void
assert_time(int64_t t, json_t *c, const char *k)
{
	char buf[21];

	iso8601_utc(t, buf);
	assert_string_equal(buf, jstr(c, k));
}

/* check_fields compares a parsed list with the values cases.json records. */
static void
check_fields(struct tsl *t, json_t *c)
{
	char num[32];
	size_t certs = 0, hist = 0, hcerts = 0;
	json_t *types = json_object_get(c, "serviceTypes");
	json_t *counted = json_object();
	const char *k;
	json_t *v;

	snprintf(num, sizeof(num), "%u", t->version);
	assert_string_equal(num, jstr(c, "TSLVersionIdentifier"));
	snprintf(num, sizeof(num), "%llu", (unsigned long long)t->sequence);
	assert_string_equal(num, jstr(c, "SequenceNumber"));
	assert_string_equal(t->type, jstr(c, "TSLType"));
	if (json_is_null(json_object_get(c, "SchemeTerritory")))
		assert_null(t->territory);
	else
		assert_string_equal(t->territory, jstr(c, "SchemeTerritory"));
	assert_non_null(t->operator_name);
	assert_time(t->issued, c, "ListIssueDateTime");
	assert_true(t->has_next_update);
	assert_time(t->next_update, c, "NextUpdate");
	assert_int_equal(t->npointers, json_integer_value(json_object_get(
					   c, "OtherTSLPointerCount")));
	assert_int_equal(t->ntsps, json_integer_value(json_object_get(
				       c, "TrustServiceProviderCount")));
	assert_int_equal(t->nservices, json_integer_value(json_object_get(
					   c, "TSPServiceCount")));
	for (size_t i = 0; i < t->nservices; i++) {
		const char *ty = t->services[i].type != NULL
				     ? t->services[i].type
				     : "(missing)";
		json_t *cur = json_object_get(counted, ty);

		json_object_set_new(counted, ty,
				    json_integer(json_integer_value(cur) + 1));
		certs += t->services[i].ncerts;
		hist += t->services[i].nhistory;
		hcerts += t->services[i].nhistory_certs;
		assert_true(t->services[i].tsp < t->ntsps);
	}
	assert_int_equal(certs, json_integer_value(json_object_get(
				    c, "serviceX509CertificateCount")));
	assert_int_equal(hist, json_integer_value(json_object_get(
				   c, "serviceHistoryInstanceCount")));
	assert_int_equal(hcerts, json_integer_value(json_object_get(
				     c, "serviceHistoryX509CertificateCount")));
	assert_int_equal(json_object_size(counted), json_object_size(types));
	json_object_foreach(types, k, v)
	{
		assert_int_equal(
		    json_integer_value(json_object_get(counted, k)),
		    json_integer_value(v));
	}
	json_decref(counted);
	/* services of each TSP are a contiguous run covering all services */
	{
		size_t next = 0;

		for (size_t i = 0; i < t->ntsps; i++) {
			assert_int_equal(t->tsps[i].first_service, next);
			next += t->tsps[i].nservices;
		}
		assert_int_equal(next, t->nservices);
	}
}

/*
 * Every case: the parser's outcome, the recorded fields and counts, and the
 * signature outcome with the case's signer pinned (by fingerprint). A valid
 * list fails with another case's signer pinned.
 */
static void
test_cases(void **state)
{
	size_t i;
	json_t *c;
	EVP_PKEY *lotl_key = signer_key(json_array_get(
	    json_object_get(case_named("eu-lotl.xml"), "signatures"), 0));
	EVP_PKEY *ie_key = signer_key(json_array_get(
	    json_object_get(case_named("ie-tl.xml"), "signatures"), 0));

	(void)state;
	json_array_foreach(cases, i, c)
	{
		char why[200] = "";
		enum sa_err rc;
		struct tsl *t = parse_case(c, why, sizeof(why), &rc);
		json_t *sigs = json_object_get(c, "signatures");
		EVP_PKEY *key;
		struct xmldsig_result res;
		static const char *const names[] = {
		    "valid", "bad-signature", "no-signature", "malformed"};

		if (rc != SA_OK) {
			print_message("%s: refused: %s\n", jstr(c, "name"),
				      why);
			assert_int_equal(rc, SA_ERR_TRUST_LIST);
			assert_null(t);
			assert_true(acceptable(c, "malformed"));
			continue;
		}
		check_fields(t, c);
		key = json_array_size(sigs) > 0
			  ? signer_key(json_array_get(sigs, 0))
			  : NULL;
		rc = tsl_verify(t, key != NULL ? &key : &lotl_key, 1, &res);
		print_message("%s: %s: %s\n", jstr(c, "name"),
			      names[res.status], res.reason);
		assert_true(acceptable(c, names[res.status]));
		assert_true((rc == SA_OK) == (res.status == XMLDSIG_VALID));
		xmldsig_result_clear(&res);
		if (strcmp(jstr(c, "expect"), "valid") == 0) {
			EVP_PKEY *wrong =
			    strcmp(jstr(c, "name"), "ie-tl.xml") == 0 ? lotl_key
								      : ie_key;

			assert_int_equal(tsl_verify(t, &wrong, 1, &res),
					 SA_ERR_TRUST_LIST_SIG);
			assert_int_equal(res.status, XMLDSIG_BAD_SIGNATURE);
			xmldsig_result_clear(&res);
		}
		EVP_PKEY_free(key);
		tsl_free(t);
	}
	EVP_PKEY_free(lotl_key);
	EVP_PKEY_free(ie_key);
}

/*
 * The LOTL's pointers announce the signers of ie-tl, CZ (signature 1) and
 * sk: a chained pin must find each signer's certificate in the pointer of
 * its territory, and no pointer announces CZ's second (test) signer.
 */
static void
test_lotl_announces_signers(void **state)
{
	char why[200];
	enum sa_err rc;
	struct tsl *lotl =
	    parse_case(case_named("eu-lotl.xml"), why, sizeof(why), &rc);
	size_t i, found = 0;
	json_t *c;

	(void)state;
	assert_int_equal(rc, SA_OK);
	for (size_t p = 0; p < lotl->npointers; p++) {
		assert_non_null(lotl->pointers[p].territory);
		assert_non_null(lotl->pointers[p].tsl_type);
		assert_non_null(lotl->pointers[p].mime_type);
		assert_true(str_has_prefix(lotl->pointers[p].location, "http"));
		assert_true(lotl->pointers[p].ncerts > 0);
	}
	json_array_foreach(cases, i, c)
	{
		size_t j;
		json_t *sig;

		json_array_foreach(json_object_get(c, "signatures"), j, sig)
		{
			json_t *terr =
			    json_object_get(sig, "signerAnnouncedInEuLotl");
			const char *want = jstr(json_object_get(sig, "signer"),
						"sha256Fingerprint");
			int hit = 0;

			for (size_t p = 0; p < lotl->npointers; p++) {
				const struct tsl_pointer *ptr =
				    &lotl->pointers[p];

				for (size_t k = 0; k < ptr->ncerts; k++) {
					char fp[65];

					fp_of_der(ptr->certs[k].der,
						  ptr->certs[k].len, fp);
					if (strcmp(fp, want) != 0)
						continue;
					hit = 1;
					assert_true(json_is_array(terr));
					assert_string_equal(
					    ptr->territory,
					    json_string_value(
						json_array_get(terr, 0)));
				}
			}
			if (json_is_array(terr))
				assert_true(hit);
			else
				assert_false(hit);
			found += hit;
		}
	}
	/* eu-lotl, broken-sig (same signer), ie, CZ sig 1, sk */
	assert_int_equal(found, 5);
	tsl_free(lotl);
}

/* Concrete values from ie-tl.xml, read from the file by eye. */
static void
test_ie_details(void **state)
{
	char why[200];
	enum sa_err rc;
	struct tsl *t =
	    parse_case(case_named("ie-tl.xml"), why, sizeof(why), &rc);
	const struct tsl_pointer *p;
	const struct tsl_service *s;
	int saw_root_ca = 0;

	(void)state;
	assert_int_equal(rc, SA_OK);
	p = &t->pointers[0];
	assert_string_equal(p->location,
			    "https://ec.europa.eu/tools/lotl/eu-lotl.xml");
	assert_string_equal(p->territory, "EU");
	assert_string_equal(p->mime_type, "application/vnd.etsi.tsl+xml");
	assert_string_equal(
	    p->tsl_type,
	    "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists");
	for (size_t i = 0; i < p->ninfo; i++) {
		if (strcmp(p->info[i].name, "SchemeOperatorName/Name") == 0)
			assert_string_equal(p->info[i].value,
					    "European Commission");
		if (strcmp(p->info[i].name, "MimeType") == 0)
			assert_string_equal(
			    p->info[i].ns,
			    "http://uri.etsi.org/02231/v2/additionaltypes#");
	}
	assert_string_equal(
	    t->operator_name,
	    "An Roinn Cumarsáide, Fuinnimh agus Acmhainní Nádúrtha");
	s = &t->services[0];
	assert_string_equal(s->type,
			    "http://uri.etsi.org/TrstSvc/Svctype/CA/QC");
	assert_string_equal(
	    s->status,
	    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/withdrawn");
	assert_true(s->has_status_start);
	assert_int_equal(s->status_start, 1548374400); /* 2019-01-25 */
	assert_int_equal(s->ncerts, 1);
	/* the DER really is a certificate */
	{
		const unsigned char *q = s->certs[0].der;
		X509 *x = d2i_X509(NULL, &q, (long)s->certs[0].len);

		assert_non_null(x);
		X509_free(x);
	}
	for (size_t i = 0; i < s->next; i++)
		if (strcmp(s->ext[i].name,
			   "AdditionalServiceInformation/URI") == 0 &&
		    strcmp(s->ext[i].value,
			   "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/"
			   "RootCA-QC") == 0) {
			saw_root_ca = 1;
			assert_int_equal(s->ext[i].critical, 0);
		}
	assert_true(saw_root_ca);
	assert_string_equal(t->tsps[s->tsp].name, "Post.Trust Ltd");
	tsl_free(t);
}

static void
test_parse_time(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(tsl_parse_time("1970-01-01T00:00:00Z", &t), SA_OK);
	assert_int_equal(t, 0);
	assert_int_equal(tsl_parse_time("2019-09-04T08:00:00Z", &t), SA_OK);
	assert_int_equal(t, 1567584000);
	assert_int_equal(tsl_parse_time("2019-09-04T10:00:00.123+02:00", &t),
			 SA_OK);
	assert_int_equal(t, 1567584000);
	assert_int_equal(tsl_parse_time("2019-09-04T03:30:00-04:30", &t),
			 SA_OK);
	assert_int_equal(t, 1567584000);
	assert_int_equal(tsl_parse_time("2024-02-29T00:00:00Z", &t), SA_OK);
	assert_int_equal(tsl_parse_time("2023-02-29T00:00:00Z", &t),
			 SA_ERR_TRUST_LIST);
	assert_int_equal(tsl_parse_time("2019-09-04T08:00:00", &t),
			 SA_ERR_TRUST_LIST);
	assert_int_equal(tsl_parse_time("2019-13-04T08:00:00Z", &t),
			 SA_ERR_TRUST_LIST);
	assert_int_equal(tsl_parse_time("2019-09-04T24:00:00Z", &t),
			 SA_ERR_TRUST_LIST);
	assert_int_equal(tsl_parse_time("2019-09-04T08:00:00Zjunk", &t),
			 SA_ERR_TRUST_LIST);
	assert_int_equal(tsl_parse_time("2019-09-04T08:00:00.Z", &t),
			 SA_ERR_TRUST_LIST);
}

static void
make_key(EVP_PKEY **key, X509 **cert, const char *cn)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*key = k;
	*cert = x;
}

static struct tsl_cert
der_of(X509 *x)
{
	struct tsl_cert c = {NULL, 0};
	int n = i2d_X509(x, &c.der);

	assert_true(n > 0);
	c.len = (size_t)n;
	return c;
}

#define SA_NS "urn:sealauth:trust#"

/*
 * Build a scheme list (pointers) and a TSL (providers and services) from
 * structs, sign with P-256, serialise, parse back, verify, and compare.
 */
static void
test_build_round_trip(void **state)
{
	EVP_PKEY *key, *other;
	X509 *cert, *ocert, *ca1, *ca2;
	EVP_PKEY *k1, *k2;
	struct tsl_cert c1, c2, c3;
	struct tsl_kv info[] = {
	    {NULL, "TSLType",
	     "http://uri.etsi.org/TrstSvc/TrustedList/"
	     "TSLType/generic",
	     0},
	    {NULL, "SchemeTerritory", "UT", 0},
	    {"http://uri.etsi.org/02231/v2/additionaltypes#", "MimeType",
	     "application/vnd.etsi.tsl+xml", 0},
	    {NULL, "SchemeOperatorName/Name", "Utopia Scheme", 0},
	    {SA_NS, "IssuingAuthority", "UTO", 0},
	    {SA_NS, "ManifestIds", "0A0001 0A0002", 0},
	};
	struct tsl_kv ext[] = {
	    {SA_NS, "CaId", "UTCA", 1},
	    {NULL, "AdditionalServiceInformation/URI",
	     "http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/RootCA-QC", 0},
	};
	struct tsl_pointer ptrs[2];
	struct tsl_tsp tsps[2] = {{"First CA operator", 0, 2},
				  {"Second CA operator", 2, 1}};
	struct tsl_service svcs[3];
	struct tsl in;
	unsigned char *xml = NULL;
	size_t len = 0;
	struct tsl *t = NULL;
	char why[200] = "";
	struct xmldsig_result res;

	(void)state;
	make_key(&key, &cert, "scheme signer");
	make_key(&other, &ocert, "someone else");
	make_key(&k1, &ca1, "CA one");
	make_key(&k2, &ca2, "CA two");
	c1 = der_of(cert);
	c2 = der_of(ca1);
	c3 = der_of(ca2);

	memset(ptrs, 0, sizeof(ptrs));
	ptrs[0].location = "https://trust.example/tsl-ut.xml";
	ptrs[0].certs = &c1;
	ptrs[0].ncerts = 1;
	ptrs[0].info = info;
	ptrs[0].ninfo = ARRAY_LEN(info);
	ptrs[1].location = "file:///var/lib/sealauth/tsl-2.xml";
	ptrs[1].certs = &c2;
	ptrs[1].ncerts = 1;

	memset(svcs, 0, sizeof(svcs));
	for (int i = 0; i < 3; i++) {
		svcs[i].tsp = i < 2 ? 0 : 1;
		svcs[i].type = "http://uri.etsi.org/TrstSvc/Svctype/CA/PKC";
		svcs[i].status =
		    "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
		    "granted";
		svcs[i].has_status_start = 1;
		svcs[i].status_start = 1700000000 + i;
	}
	svcs[0].name = "CA one & <co>";
	svcs[0].certs = &c2;
	svcs[0].ncerts = 1;
	svcs[0].ext = ext;
	svcs[0].next = ARRAY_LEN(ext);
	svcs[1].name = "CA two";
	svcs[1].certs = &c2; /* two certificates in one identity */
	svcs[1].ncerts = 1;
	svcs[2].name = "no certificate";

	memset(&in, 0, sizeof(in));
	in.version = 5;
	in.sequence = 42;
	in.type = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/generic";
	in.territory = "UT";
	in.operator_name = "Utopia Trust";
	in.issued = 1700000000;
	in.next_update = 1700003600;
	in.has_next_update = 1;
	in.pointers = ptrs;
	in.npointers = 2;
	in.tsps = tsps;
	in.ntsps = 2;
	in.services = svcs;
	in.nservices = 3;
	{
		struct tsl_cert both[2] = {c2, c3};

		svcs[1].certs = both;
		svcs[1].ncerts = 2;
		assert_int_equal(tsl_build(&in, key, cert, &xml, &len), SA_OK);
	}
	assert_int_equal(tsl_parse(xml, len, &t, why, sizeof(why)), SA_OK);
	assert_int_equal(tsl_verify(t, &key, 1, &res), SA_OK);
	assert_int_equal(res.status, XMLDSIG_VALID);
	xmldsig_result_clear(&res);
	assert_int_equal(tsl_verify(t, &other, 1, &res), SA_ERR_TRUST_LIST_SIG);
	xmldsig_result_clear(&res);

	assert_int_equal(t->version, 5);
	assert_int_equal(t->sequence, 42);
	assert_string_equal(t->type, in.type);
	assert_string_equal(t->territory, "UT");
	assert_string_equal(t->operator_name, "Utopia Trust");
	assert_int_equal(t->issued, in.issued);
	assert_true(t->has_next_update);
	assert_int_equal(t->next_update, in.next_update);
	assert_int_equal(t->npointers, 2);
	assert_string_equal(t->pointers[0].location, ptrs[0].location);
	assert_int_equal(t->pointers[0].ncerts, 1);
	assert_memory_equal(t->pointers[0].certs[0].der, c1.der, c1.len);
	assert_int_equal(t->pointers[0].ninfo, ARRAY_LEN(info));
	for (size_t i = 0; i < ARRAY_LEN(info); i++) {
		assert_string_equal(t->pointers[0].info[i].name, info[i].name);
		assert_string_equal(t->pointers[0].info[i].value,
				    info[i].value);
		assert_string_equal(t->pointers[0].info[i].ns,
				    info[i].ns != NULL ? info[i].ns : TSL_NS);
	}
	assert_string_equal(t->pointers[0].territory, "UT");
	assert_string_equal(t->pointers[0].mime_type,
			    "application/vnd.etsi.tsl+xml");
	assert_int_equal(t->pointers[1].ninfo, 0);
	assert_null(t->pointers[1].territory);
	assert_int_equal(t->ntsps, 2);
	assert_string_equal(t->tsps[1].name, "Second CA operator");
	assert_int_equal(t->tsps[0].nservices, 2);
	assert_int_equal(t->tsps[1].first_service, 2);
	assert_int_equal(t->nservices, 3);
	assert_string_equal(t->services[0].name, "CA one & <co>");
	assert_int_equal(t->services[1].ncerts, 2);
	assert_memory_equal(t->services[1].certs[1].der, c3.der, c3.len);
	assert_int_equal(t->services[2].ncerts, 0);
	assert_int_equal(t->services[2].tsp, 1);
	assert_int_equal(t->services[2].status_start, 1700000002);
	assert_int_equal(t->services[0].next, 2);
	assert_string_equal(t->services[0].ext[0].ns, SA_NS);
	assert_string_equal(t->services[0].ext[0].name, "CaId");
	assert_string_equal(t->services[0].ext[0].value, "UTCA");
	assert_int_equal(t->services[0].ext[0].critical, 1);
	assert_int_equal(t->services[0].ext[1].critical, 0);
	tsl_free(t);

	/* one changed byte of signed content is caught */
	{
		char *hit = strstr((char *)xml, "<TSLSequenceNumber>42<");

		assert_non_null(hit);
		hit[strlen("<TSLSequenceNumber>4")] = '3';
		assert_int_equal(tsl_parse(xml, len, &t, why, sizeof(why)),
				 SA_OK);
		assert_int_equal(t->sequence, 43);
		assert_int_equal(tsl_verify(t, &key, 1, &res),
				 SA_ERR_TRUST_LIST_SIG);
		assert_int_equal(res.status, XMLDSIG_BAD_SIGNATURE);
		xmldsig_result_clear(&res);
		tsl_free(t);
	}
	free(xml);
	free(c1.der);
	free(c2.der);
	free(c3.der);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	X509_free(cert);
	X509_free(ocert);
	X509_free(ca1);
	X509_free(ca2);
}

static enum sa_err
parse_str(const char *s, char *why, size_t whylen)
{
	struct tsl *t = NULL;
	enum sa_err rc =
	    tsl_parse((const unsigned char *)s, strlen(s), &t, why, whylen);

	if (rc == SA_OK)
		assert_non_null(t);
	else
		assert_null(t);
	tsl_free(t);
	return rc;
}

/* wrap_si builds a list whose SchemeInformation holds head and body. */
#define WRAP_FMT                                                               \
	"<TrustServiceStatusList xmlns=\"" TSL_NS "\">"                        \
	"<SchemeInformation>%s"                                                \
	"<TSLType>t</TSLType>"                                                 \
	"<ListIssueDateTime>2020-01-01T00:00:00Z</ListIssueDateTime>"          \
	"%s</SchemeInformation></TrustServiceStatusList>"

static char *
wrap_si(const char *head, const char *body)
{
	size_t n = sizeof(WRAP_FMT) + strlen(head) + strlen(body);
	char *s = malloc(n);

	snprintf(s, n, WRAP_FMT, head, body);
	return s;
}

#define HEAD                                                                   \
	"<TSLVersionIdentifier>5</TSLVersionIdentifier>"                       \
	"<TSLSequenceNumber>1</TSLSequenceNumber>"

static enum sa_err
parse_si(const char *head, const char *body, char *why, size_t whylen)
{
	char *s = wrap_si(head, body);
	enum sa_err rc = parse_str(s, why, whylen);

	free(s);
	return rc;
}

/* Structural refusals and the bounds. */
static void
test_refusals(void **state)
{
	char why[200];
	struct buf b;
	const char *ptr = "<OtherTSLPointer><TSLLocation>x</TSLLocation>"
			  "</OtherTSLPointer>";

	(void)state;
	assert_int_equal(parse_si(HEAD, "", why, sizeof(why)), SA_OK);
	/* no namespace: not a TS 119 612 list */
	assert_int_equal(
	    parse_str("<TrustServiceStatusList><SchemeInformation/>"
		      "</TrustServiceStatusList>",
		      why, sizeof(why)),
	    SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "root"));
	assert_int_equal(parse_str("<TrustServiceStatusList xmlns=\"" TSL_NS
				   "\"/>",
				   why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "SchemeInformation"));
	/* a repeated single-valued element */
	assert_int_equal(parse_si(HEAD
				  "<TSLSequenceNumber>2</TSLSequenceNumber>",
				  "", why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "more than once"));
	assert_int_equal(
	    parse_si("<TSLVersionIdentifier>5</TSLVersionIdentifier>"
		     "<TSLSequenceNumber>-1</TSLSequenceNumber>",
		     "", why, sizeof(why)),
	    SA_ERR_TRUST_LIST);
	assert_int_equal(
	    parse_si("<TSLVersionIdentifier>5</TSLVersionIdentifier>"
		     "<TSLSequenceNumber>99999999999999999999"
		     "</TSLSequenceNumber>",
		     "", why, sizeof(why)),
	    SA_ERR_TRUST_LIST);
	assert_int_equal(parse_si(HEAD,
				  "<NextUpdate><dateTime>soon</dateTime>"
				  "</NextUpdate>",
				  why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "dateTime"));
	/* a pointer without location, a certificate that is not base64 */
	assert_int_equal(parse_si(HEAD,
				  "<PointersToOtherTSL><OtherTSLPointer/>"
				  "</PointersToOtherTSL>",
				  why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_int_equal(
	    parse_si(HEAD,
		     "<PointersToOtherTSL><OtherTSLPointer>"
		     "<ServiceDigitalIdentities><ServiceDigitalIdentity>"
		     "<DigitalId><X509Certificate>MII*</X509Certificate>"
		     "</DigitalId></ServiceDigitalIdentity>"
		     "</ServiceDigitalIdentities><TSLLocation>x</TSLLocation>"
		     "</OtherTSLPointer></PointersToOtherTSL>",
		     why, sizeof(why)),
	    SA_ERR_TRUST_LIST);
	/* information nested too deep */
	assert_int_equal(
	    parse_si(HEAD,
		     "<PointersToOtherTSL><OtherTSLPointer>"
		     "<TSLLocation>x</TSLLocation><AdditionalInformation>"
		     "<OtherInformation><a><a><a><a><a><a><a><a><a><a>v"
		     "</a></a></a></a></a></a></a></a></a></a>"
		     "</OtherInformation></AdditionalInformation>"
		     "</OtherTSLPointer></PointersToOtherTSL>",
		     why, sizeof(why)),
	    SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "deeper"));
	/* exactly TSL_MAX_POINTERS pointers parse, one more is refused */
	buf_init(&b, 1u << 20);
	assert_int_equal(buf_append(&b, "<PointersToOtherTSL>", 20), SA_OK);
	for (int i = 0; i < TSL_MAX_POINTERS; i++)
		assert_int_equal(buf_append(&b, ptr, strlen(ptr)), SA_OK);
	{
		struct buf c;

		buf_init(&c, 1u << 20);
		assert_int_equal(buf_append(&c, b.data, b.len), SA_OK);
		assert_int_equal(buf_append(&c, "</PointersToOtherTSL>", 21),
				 SA_OK);
		assert_int_equal(
		    parse_si(HEAD, (char *)c.data, why, sizeof(why)), SA_OK);
		buf_free(&c);
	}
	assert_int_equal(buf_append(&b, ptr, strlen(ptr)), SA_OK);
	assert_int_equal(buf_append(&b, "</PointersToOtherTSL>", 21), SA_OK);
	assert_int_equal(parse_si(HEAD, (char *)b.data, why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "more than 256"));
	buf_free(&b);
	/* comments and processing instructions are not part of a value */
	{
		char *x =
		    wrap_si("<TSLVersionIdentifier>5</TSLVersionIdentifier>"
			    "<TSLSequenceNumber> 1<!-- c -->2<?pi x?>"
			    "</TSLSequenceNumber>",
			    "");
		struct tsl *t = NULL;

		assert_int_equal(tsl_parse((unsigned char *)x, strlen(x), &t,
					   why, sizeof(why)),
				 SA_OK);
		assert_int_equal(t->sequence, 12);
		tsl_free(t);
		free(x);
	}
	/* a DOCTYPE never reaches the TSL reader */
	assert_int_equal(parse_str("<!DOCTYPE x [<!ENTITY e \"v\">]>"
				   "<TrustServiceStatusList xmlns=\"" TSL_NS
				   "\"/>",
				   why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	assert_non_null(strstr(why, "DOCTYPE"));
}

static int
setup(void **state)
{
	const char *env = getenv("SEALAUTH_TESTDATA");
	char path[1200];
	json_error_t err;

	(void)state;
	if (env != NULL && env[0] != '\0')
		snprintf(testdata, sizeof(testdata), "%s/tsl", env);
	else
		snprintf(testdata, sizeof(testdata),
			 "%s/../shared/testdata/tsl", SEALAUTH_SOURCE_DIR);
	snprintf(path, sizeof(path), "%s/cases.json", testdata);
	cases = json_load_file(path, 0, &err);
	if (cases == NULL) {
		fprintf(stderr, "cannot load %s: %s\n", path, err.text);
		return -1;
	}
	return 0;
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
	    cmocka_unit_test(test_lotl_announces_signers),
	    cmocka_unit_test(test_ie_details),
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_build_round_trip),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
