/*
 * test_trust_seal.c - how the trust chain finds and binds a seal's signer:
 * the certificate-id forms and the miss cache, federations of authorities
 * with token-id prefixes, ISO 22376 BioSeal references and ICAO 9303-13
 * seals anchored through the signer identifiers their CA declares.
 */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "seal/vds.h"
#include "trust/trust.h"
#include "trust/trust_int.h"
#include "trust_env.h"
#include "vds_test.h"

/* reason_has verifies seal at now and asserts step and a reason part. */
static void
reason_has(struct trust *t, const struct vds *seal, int64_t now,
	   const char *step, const char *part)
{
	struct trust_result res;

	trust_verify_seal(t, seal, now, &res);
	if (strcmp(res.step, step) != 0 || strstr(res.reason, part) == NULL)
		fail_msg("want %s with \"%s\", got %s: %s", step, part,
			 res.step, res.reason);
}

/*
 * A cert id no signer can carry (in no form of the CA) is refused before any
 * fetch; misses are remembered in a bounded LRU, so past TRUST_MAX_MISSES
 * distinct unknown ids the latest ones are still remembered (and the
 * oldest fetched again).
 */
static void
test_cert_id_format_and_miss_lru(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust *t = NULL;
	struct trust_result res;
	EVP_PKEY *k = tenv_signer_key(dir);
	struct vds *v;
	char id[5];

	(void)state;
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_seal_with(k, "DEMO", "ZZZZ", "0A0001", T0);
	reason_has(t, v, T0, "chain", "none of the reference forms");
	vds_free(v);
	for (int i = 0; i < TRUST_MAX_MISSES + 100; i++) {
		snprintf(id, sizeof(id), "%04X", 0x1000 + i);
		v = tenv_seal_with(k, "DEMO", id, "0A0001", T0);
		reason_has(t, v, T0, "chain", "not found or unreadable");
		vds_free(v);
	}
	/* the latest miss is remembered, not fetched again */
	v = tenv_seal_with(k, "DEMO", id, "0A0001", T0);
	reason_has(t, v, T0 + 1, "chain", "a recent fetch failed");
	vds_free(v);
	/* the least recently used one made room: fetched again */
	v = tenv_seal_with(k, "DEMO", "1000", "0A0001", T0);
	reason_has(t, v, T0 + 1, "chain", "not found or unreadable");
	vds_free(v);
	/* and past TRUST_NEGATIVE_RETRY a miss is fetched again */
	v = tenv_seal_with(k, "DEMO", id, "0A0001", T0);
	reason_has(t, v, T0 + TRUST_NEGATIVE_RETRY + 1, "chain",
		   "not found or unreadable");
	vds_free(v);
	EVP_PKEY_free(k);
	trust_close(t);
	free(dir);
}

/*
 * The demo federation: an authority added to the environment issues its
 * own seals; a prefix it declares is its alone, in both directions.
 */
static void
test_federation_and_prefixes(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v = NULL;
	char prefix[TRUST_MAX_PREFIX + 1];

	(void)state;
	assert_int_equal(trust_demo_add_authority(dir, "XA", "XA-", T0), SA_OK);
	assert_int_equal(trust_demo_add_authority(dir, "XA", NULL, T0),
			 SA_ERR_CONFLICT);
	assert_int_equal(trust_demo_add_authority(dir, "DEMO", NULL, T0),
			 SA_ERR_VALIDATION);
	assert_int_equal(trust_demo_add_authority(dir, "xa", NULL, T0),
			 SA_ERR_VALIDATION);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	assert_int_equal(trust_authority_prefix(t, "XA", prefix), SA_OK);
	assert_string_equal(prefix, "XA-");
	assert_int_equal(trust_authority_prefix(t, "DEMO", prefix), SA_OK);
	assert_string_equal(prefix, "");
	/* XA's seal with its prefix */
	v = tenv_issue_as(dir, "XA", T0, "XA-0001");
	assert_int_equal(trust_verify_seal(t, v, T0, &res), SA_OK);
	assert_string_equal(res.iac, "XA");
	assert_string_equal(res.ca_id, "XAXX");
	vds_free(v);
	/* XA without its prefix */
	v = tenv_issue_as(dir, "XA", T0, "DE-0001");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_GOVERNANCE, "governance");
	vds_free(v);
	/* DEMO claiming XA's prefix */
	v = tenv_issue(dir, T0, "XA-0002");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_GOVERNANCE, "governance");
	vds_free(v);
	/* DEMO's own ids still verify */
	v = tenv_issue(dir, T0, "DE-0002");
	assert_int_equal(trust_verify_seal(t, v, T0, &res), SA_OK);
	assert_string_equal(res.iac, "DEMO");
	vds_free(v);
	trust_close(t);
	free(dir);
}

/* bioseal_with signs a BioSeal-layout seal with any key and ids. */
static struct vds *
bioseal_with(EVP_PKEY *k, const char *ca, const char *cert, int64_t st)
{
	struct vds_claims c;
	unsigned char *b = NULL;
	size_t n = 0;
	struct vds *v = NULL;

	tenv_claims(&c, "");
	assert_int_equal(vds_encode_bioseal(ca, cert, VDS_BIOSEAL_MANIFEST,
					    (uint32_t)st, &c, k, &b, &n),
			 SA_OK);
	assert_int_equal(vds_decode(b, n, &v, NULL, 0), SA_OK);
	free(b);
	return v;
}

static EVP_PKEY *
key_at(const char *dir, const char *rel)
{
	char p[512];
	FILE *f;
	EVP_PKEY *k;

	tenv_path_of(p, sizeof(p), dir, rel);
	f = fopen(p, "r");
	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

/*
 * A BioSeal-layout seal (9-character ids: CA id and a 5-character cert
 * id) is anchored like one of our profile: its CA declares the serial20
 * form, and cert id B0001 is the low 20 bits of its signer's serial. An
 * id outside the CA's forms is refused before any fetch, even when a
 * certificate is published under it; a well-formed id must still name
 * the certificate fetched for it.
 */
static void
test_bioseal_reference_forms(void **state)
{
	struct trust_demo_opts o;
	char *dir = tenv_env(NULL), *only16;
	struct trust *t = NULL;
	struct trust_result res;
	struct vds_claims c;
	unsigned char *b = NULL;
	size_t n = 0;
	struct vds *v = NULL;
	EVP_PKEY *k;

	(void)state;
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	tenv_claims(&c, "");
	assert_int_equal(trust_demo_issue_bioseal(dir, &c, T0, &b, &n), SA_OK);
	assert_int_equal(vds_decode(b, n, &v, NULL, 0), SA_OK);
	free(b);
	assert_string_equal(vds_cert_id(v), "B0001");
	assert_string_equal(vds_claims(v)->token_id, "DEMO-X1234567");
	assert_int_equal(trust_verify_seal(t, v, T0 + 1, &res), SA_OK);
	assert_string_equal(res.cert_id, "B0001");
	assert_string_equal(res.manifest, "0B0001");
	assert_non_null(strstr(res.signer_subject, "BioSeal signer B0001"));
	vds_free(v);

	k = key_at(dir, "private/signer-bioseal.key");
	/* Not hex: no form of DEMO admits it, and the certificate placed
	 * under its name is never fetched. */
	tenv_copy_file(dir, "lists/ca/signers/DEMOB0001.pem",
		       "lists/ca/signers/DEMOZZZZZ.pem");
	v = bioseal_with(k, "DEMO", "ZZZZZ", T0);
	reason_has(t, v, T0 + 1, "chain", "none of the reference forms");
	vds_free(v);
	/* Well formed, but the certificate under it has other low bits. */
	tenv_copy_file(dir, "lists/ca/signers/DEMOB0001.pem",
		       "lists/ca/signers/DEMOB0002.pem");
	v = bioseal_with(k, "DEMO", "B0002", T0);
	reason_has(t, v, T0 + 1, "chain", "low digits of its serial");
	vds_free(v);
	/* The profile signer's key does not make a BioSeal seal of B0001. */
	EVP_PKEY_free(k);
	k = tenv_signer_key(dir);
	v = bioseal_with(k, "DEMO", "B0001", T0);
	tenv_expect_step(t, v, T0 + 1, SA_ERR_SEAL_SIGNATURE, "signature");
	vds_free(v);
	trust_close(t);

	/* A CA that declares only our profile's form refuses the 5-character
	 * id before anything is fetched. */
	memset(&o, 0, sizeof(o));
	o.cert_id_forms = "serial16";
	only16 = tenv_env(&o);
	assert_int_equal(tenv_open_at(only16, NULL, 0, 3600, T0, &t, &res),
			 SA_OK);
	EVP_PKEY_free(k);
	k = key_at(only16, "private/signer-bioseal.key");
	v = bioseal_with(k, "DEMO", "B0001", T0);
	reason_has(t, v, T0 + 1, "chain", "(serial16)");
	vds_free(v);
	trust_close(t);
	EVP_PKEY_free(k);
	free(only16);

	/* An unknown form in the TSL fails the refresh. */
	memset(&o, 0, sizeof(o));
	o.cert_id_forms = "serial16 serial99";
	only16 = tenv_env(&o);
	tenv_load_fails(only16, NULL, 0, T0, SA_ERR_TRUST_LIST, "list");
	free(only16);
	free(dir);
}

/* icao_with signs an emergency travel document seal (or the document
 * type fref/cat) with any key, signer and reference, on the day of st. */
static struct vds *
icao_with(EVP_PKEY *k, const char *signer, const char *ref, unsigned int fref,
	  unsigned int cat, int64_t st)
{
	struct vds_claims c;
	char mrz[VDS_MRZ_TD2_LEN + 1], day[21];
	struct vds_icao_spec p = {"UTO", signer, ref, day, day,
				  fref,	 cat,	 2,   mrz};
	unsigned char *b = NULL;
	size_t n = 0;
	struct vds *v = NULL;

	tenv_claims(&c, "");
	strcpy(c.expiry, "2031-12-31");
	iso8601_utc(st, day);
	day[10] = '\0';
	assert_int_equal(vds_mrz_td2("I", "UTO", &c, mrz), SA_OK);
	assert_int_equal(vds_encode_icao(&p, k, &b, &n), SA_OK);
	assert_int_equal(vds_decode(b, n, &v, NULL, 0), SA_OK);
	free(b);
	return v;
}

/*
 * An ICAO seal is anchored through the CA that declares its signer
 * identifier (IcaoSignerIds): the certificate published as signer
 * identifier + reference must be the one they name (subject C || CN, the
 * serial number in hex), its key must verify the seal, and "DC" with the
 * document reference is the usage id the scheme and the UsageList must
 * allow. The demo signs an emergency travel document with signer UTDM.
 */
static void
test_icao_seal_anchored(void **state)
{
	static const char *const want[][2] = {
	    {"caId", "DEMO"}, {"icaoSigner", "UTDM"},
	    {"certId", "A1"}, {"manifest", "DC5E03"},
	    {"iac", "DEMO"},  {"signer", "CN=DM,O=sealauth DEMO,C=UT"},
	};
	EVP_PKEY *k, *other = EVP_EC_gen("P-256");
	char *dir = tenv_env(NULL);
	json_t *j;
	struct vds_claims c;
	struct trust_result res;
	struct trust *t = NULL;
	struct vds *v = NULL;
	unsigned char *b = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(other);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	tenv_claims(&c, "");
	strcpy(c.expiry, "2031-12-31");
	assert_int_equal(trust_demo_issue_icao(dir, &c, T0, &b, &n), SA_OK);
	assert_int_equal(vds_decode(b, n, &v, NULL, 0), SA_OK);
	free(b);
	assert_int_equal(vds_format(v), VDS_FORMAT_ICAO);
	assert_string_equal(vds_claims(v)->token_id, "UTO-X1234567");
	assert_int_equal(trust_verify_seal(t, v, T0 + 1, &res), SA_OK);
	/* What verify-seal prints: the declaring CA, the reference, the
	 * signer identifier and the usage id. */
	j = trust_result_json(&res);
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_string_equal(jstr(j, want[i][0]), want[i][1]);
	json_decref(j);
	/* Signed on the day of T0, at 00:00 UTC. */
	assert_int_equal(res.signing_time, T0 - T0 % DAY);
	vds_free(v);

	k = key_at(dir, "private/signer-icao.key");
	/* A signer identifier no CA declares. */
	v = icao_with(k, "UTXX", "A1", 0x5e, 0x03, T0);
	reason_has(t, v, T0 + 1, "chain", "ICAO signer UTXX is declared by no");
	vds_free(v);
	/* A reference nothing is published under. */
	v = icao_with(k, "UTDM", "A2", 0x5e, 0x03, T0);
	reason_has(t, v, T0 + 1, "chain", "UTDMA2 not found");
	vds_free(v);
	/* Published under the name, but another certificate: the profile
	 * signer (CN and serial differ). */
	tenv_copy_file(dir, "lists/ca/signers/DEMO0001.pem",
		       "lists/ca/signers/UTDMB1.pem");
	v = icao_with(k, "UTDM", "B1", 0x5e, 0x03, T0);
	reason_has(t, v, T0 + 1, "chain", "subject C and CN");
	vds_free(v);
	/* Another key does not make a seal of UTDM A1. */
	v = icao_with(other, "UTDM", "A1", 0x5e, 0x03, T0);
	tenv_expect_step(t, v, T0 + 1, SA_ERR_SEAL_SIGNATURE, "signature");
	vds_free(v);
	/* A document type the scheme does not scope (a residence permit,
	 * FB 06) is refused at the usage step, whatever the signer. */
	v = icao_with(k, "UTDM", "A1", 0xfb, 0x06, T0);
	reason_has(t, v, T0 + 1, "usage", "may not serve manifest DCFB06");
	vds_free(v);
	/* A seal from outside the trust set (vdstools' signer UTTS). */
	{
		size_t len = 0;
		unsigned char *tb =
		    vds_load_hex("vds", "seals/resident_permit.hex", &len);

		assert_int_equal(vds_decode(tb, len, &v, NULL, 0), SA_OK);
		reason_has(t, v, T0 + 1, "chain", "ICAO signer UTTS");
		vds_free(v);
		free(tb);
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	trust_close(t);
	free(dir);
}

/* A CA's ICAO signer identifiers are checked when the TSL loads: a
 * malformed one fails the refresh at the list step. */
static void
test_icao_signer_ids_load(void **state)
{
	char *dir = tenv_env(NULL), path[512];
	unsigned char *d = NULL;
	size_t n = 0;
	char *x, *at;
	struct trust *t = NULL;
	struct trust_result res;

	(void)state;
	tenv_path_of(path, sizeof(path), dir, "lists/tsl-DEMO.xml");
	assert_int_equal(read_file(path, 1 << 22, &d, &n), SA_OK);
	x = strndup((const char *)d, n);
	assert_non_null(x);
	at = strstr(x, ">UTDM<");
	assert_non_null(at);
	memcpy(at + 1, "U1DM", 4);
	assert_int_equal(write_file_atomic(path, x, n, 0644), SA_OK);
	assert_int_equal(trust_demo_resign(dir, "tsl", NULL, T0, NULL), SA_OK);
	assert_int_not_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res),
			     SA_OK);
	assert_string_equal(res.step, "list");
	assert_non_null(strstr(res.reason, "IcaoSignerIds"));
	trust_close(t);
	free(x);
	free(d);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cert_id_format_and_miss_lru),
	    cmocka_unit_test(test_federation_and_prefixes),
	    cmocka_unit_test(test_bioseal_reference_forms),
	    cmocka_unit_test(test_icao_seal_anchored),
	    cmocka_unit_test(test_icao_signer_ids_load),
	};

	return cmocka_run_group_tests(tests, tenv_setup, tenv_teardown);
}
