/*
 * test_vrl.c - the seal revocation list: build, sign, load, refuse.
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

#include "core/util.h"
#include "trust/vrl.h"
#include "trust/xmldsig.h"

static EVP_PKEY *key, *other;

static int
setup(void **state)
{
	(void)state;
	key = EVP_EC_gen("P-256");
	other = EVP_EC_gen("P-256");
	return key != NULL && other != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	return 0;
}

static void
fp_of(int i, unsigned char fp[32])
{
	char s[16];

	snprintf(s, sizeof(s), "seal-%d", i);
	sha256(s, strlen(s), fp);
}

/*
 * build makes a signed list of nentries. Not inlined: GCC 12 at -O3 takes
 * the address of the local it passes to vrl_build for where the returned
 * document lives and warns of a dangling pointer at every use.
 */
static __attribute__((noinline)) unsigned char *
build(size_t nentries, size_t *len)
{
	struct vrl v;
	unsigned char *xml = NULL;

	memset(&v, 0, sizeof(v));
	v.sequence = 7;
	v.issued = 1700000000;
	v.next_update = 1700086400;
	for (size_t i = 0; i < nentries; i++) {
		unsigned char fp[32];

		fp_of((int)i, fp);
		assert_int_equal(vrl_add(&v, fp), SA_OK);
	}
	assert_int_equal(vrl_build(&v, key, NULL, &xml, len), SA_OK);
	free(v.fps);
	return xml;
}

/* load_text loads a NUL-terminated document with the good key pinned. */
static enum sa_err
load_text(const char *xml, struct vrl **out)
{
	char why[200] = "";
	enum sa_err rc = vrl_load((const unsigned char *)xml, strlen(xml), &key,
				  1, out, why, sizeof(why));

	if (rc != SA_OK)
		assert_true(why[0] != '\0');
	return rc;
}

static void
test_round_trip(void **state)
{
	size_t len = 0;
	unsigned char *xml = build(50, &len);
	struct vrl *v = NULL;
	unsigned char fp[32];

	(void)state;
	assert_int_equal(load_text((char *)xml, &v), SA_OK);
	assert_int_equal(v->sequence, 7);
	assert_int_equal(v->issued, 1700000000);
	assert_int_equal(v->next_update, 1700086400);
	assert_int_equal(v->n, 50);
	for (int i = 0; i < 50; i++) {
		fp_of(i, fp);
		assert_true(vrl_contains(v, fp));
	}
	fp_of(50, fp);
	assert_false(vrl_contains(v, fp));
	for (size_t i = 1; i < v->n; i++)
		assert_true(memcmp(v->fps[i - 1], v->fps[i], 32) < 0);
	vrl_free(v);
	free(xml);
}

static void
test_empty_list(void **state)
{
	size_t len = 0;
	unsigned char *xml = build(0, &len);
	struct vrl *v = NULL;
	unsigned char fp[32];

	(void)state;
	assert_int_equal(load_text((char *)xml, &v), SA_OK);
	assert_int_equal(v->n, 0);
	fp_of(0, fp);
	assert_false(vrl_contains(v, fp));
	vrl_free(v);
	free(xml);
}

static void
test_wrong_key_and_tampering(void **state)
{
	size_t len = 0;
	unsigned char *xml = build(3, &len);
	struct vrl *v = NULL;
	char why[200];
	char *hit;

	(void)state;
	assert_int_equal(vrl_load(xml, len, &other, 1, &v, why, sizeof(why)),
			 SA_ERR_TRUST_LIST_SIG);
	assert_null(v);
	/* an element outside the format is refused before any crypto */
	hit = strstr((char *)xml, "<Revoked>");
	assert_non_null(hit);
	memcpy(hit, "<Revokex>", 9);
	memcpy(strstr(hit, "</Revoked>"), "</Revokex>", 10);
	assert_int_equal(vrl_load(xml, len, &key, 1, &v, why, sizeof(why)),
			 SA_ERR_TRUST_LIST);
	memcpy(strstr((char *)xml, "<Revokex>"), "<Revoked>", 9);
	memcpy(strstr((char *)xml, "</Revokex>"), "</Revoked>", 10);
	assert_int_equal(vrl_load(xml, len, &key, 1, &v, why, sizeof(why)),
			 SA_OK);
	vrl_free(v);
	v = NULL;
	/* a changed entry is caught by the document digest */
	hit = strstr((char *)xml, "<Revoked>") + strlen("<Revoked>");
	hit[0] = hit[0] == 'a' ? 'b' : 'a';
	assert_int_equal(vrl_load(xml, len, &key, 1, &v, why, sizeof(why)),
			 SA_ERR_TRUST_LIST_SIG);
	assert_null(v);
	hit[0] = hit[0] == 'a' ? 'b' : 'a';
	/* a changed sequence number is caught */
	hit = strstr((char *)xml, "<SequenceNumber>7<");
	assert_non_null(hit);
	hit[strlen("<SequenceNumber>")] = '8';
	assert_int_equal(vrl_load(xml, len, &key, 1, &v, why, sizeof(why)),
			 SA_ERR_TRUST_LIST_SIG);
	assert_null(v);
	free(xml);
}

#define HEAD                                                                   \
	"<SealRevocationList xmlns=\"urn:sealauth:vrl:1\">"                    \
	"<SequenceNumber>1</SequenceNumber>"                                   \
	"<IssueTime>2025-01-01T00:00:00Z</IssueTime>"                          \
	"<NextUpdate>2025-01-02T00:00:00Z</NextUpdate>"
#define FP64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void
test_structure_refusals(void **state)
{
	static const char *const bad[] = {
	    /* wrong namespace */
	    "<SealRevocationList xmlns=\"urn:x\"><SequenceNumber>1"
	    "</SequenceNumber></SealRevocationList>",
	    /* missing NextUpdate */
	    "<SealRevocationList xmlns=\"urn:sealauth:vrl:1\">"
	    "<SequenceNumber>1</SequenceNumber>"
	    "<IssueTime>2025-01-01T00:00:00Z</IssueTime>"
	    "</SealRevocationList>",
	    /* repeated SequenceNumber */
	    HEAD "<SequenceNumber>2</SequenceNumber></SealRevocationList>",
	    /* uppercase fingerprint */
	    HEAD "<Revoked>9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D"
		 "6C15B0F00A08</Revoked></SealRevocationList>",
	    /* short fingerprint */
	    HEAD "<Revoked>9f86d0</Revoked></SealRevocationList>",
	    /* duplicate entry */
	    HEAD "<Revoked>" FP64 "</Revoked><Revoked>" FP64
		 "</Revoked></SealRevocationList>",
	    /* unknown element */
	    HEAD "<Extra>1</Extra></SealRevocationList>",
	    /* time without a zone */
	    "<SealRevocationList xmlns=\"urn:sealauth:vrl:1\">"
	    "<SequenceNumber>1</SequenceNumber>"
	    "<IssueTime>2025-01-01T00:00:00</IssueTime>"
	    "<NextUpdate>2025-01-02T00:00:00Z</NextUpdate>"
	    "</SealRevocationList>",
	    /* DOCTYPE */
	    "<!DOCTYPE x [<!ENTITY a \"b\">]>" HEAD "</SealRevocationList>",
	};
	struct vrl *v = NULL;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		if (load_text(bad[i], &v) != SA_ERR_TRUST_LIST)
			fail_msg("accepted case %zu", i);
		assert_null(v);
	}
	/* well-formed but unsigned */
	assert_int_equal(load_text(HEAD "<Revoked>" FP64
					"</Revoked></SealRevocationList>",
				   &v),
			 SA_ERR_TRUST_LIST_SIG);
	assert_null(v);
}

static void
test_add_keeps_order_and_is_idempotent(void **state)
{
	struct vrl v;
	unsigned char fp[32];

	(void)state;
	memset(&v, 0, sizeof(v));
	for (int round = 0; round < 2; round++)
		for (int i = 9; i >= 0; i--) {
			fp_of(i, fp);
			assert_int_equal(vrl_add(&v, fp), SA_OK);
		}
	assert_int_equal(v.n, 10);
	for (size_t i = 1; i < v.n; i++)
		assert_true(memcmp(v.fps[i - 1], v.fps[i], 32) < 0);
	for (int i = 0; i < 10; i++) {
		fp_of(i, fp);
		assert_true(vrl_contains(&v, fp));
	}
	free(v.fps);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_empty_list),
	    cmocka_unit_test(test_wrong_key_and_tampering),
	    cmocka_unit_test(test_structure_refusals),
	    cmocka_unit_test(test_add_keeps_order_and_is_idempotent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
