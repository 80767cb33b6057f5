/*
 * test_trust.c - the trust chain end to end through demo environments:
 * a good seal verifies with its claims, and each broken link fails at the
 * step that names it.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "trust/trust.h"
#include "trust/trust_int.h"
#include "core/util.h"
#include "seal/vds.h"
#include "trust/vrl.h"
#include "trust_env.h"
#include "vds_test.h"

static void
test_round_trip_with_claims(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v;
	const struct vds_claims *c;
	json_t *st;

	(void)state;
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0 + 5, "TID-1");
	assert_int_equal(trust_verify_seal(t, v, T0 + 10, &res), SA_OK);
	assert_string_equal(res.step, "");
	assert_string_equal(res.ca_id, "DEMO");
	assert_string_equal(res.cert_id, "0001");
	assert_string_equal(res.iac, "DEMO");
	assert_string_equal(res.manifest, "0A0001");
	assert_string_equal(res.trust_level, "high");
	assert_int_equal(res.demo, 1);
	assert_int_equal(res.signing_time, T0 + 5);
	assert_non_null(
	    strstr(res.signer_subject, "CN=sealauth DEMO seal signer"));
	c = vds_claims(v);
	assert_non_null(c);
	assert_string_equal(c->given_name, "ANNA");
	assert_string_equal(c->token_id, "TID-1");

	/* a second verification is served from the signer cache */
	assert_int_equal(trust_verify_seal(t, v, T0 + 11, &res), SA_OK);
	st = trust_status_json(t, T0 + 11);
	assert_string_equal(json_string_value(json_object_get(st, "status")),
			    "fresh");
	assert_true(json_is_true(json_object_get(st, "demo")));
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(st, "counts"), "signers")),
			 1);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(st, "counts"), "cas")),
			 1);
	json_decref(st);
	vds_free(v);
	trust_close(t);
	free(dir);
}

static void
test_sample_seal_and_bytes_entry(void **state)
{
	char *dir = tenv_env(NULL), p[512];
	struct trust *t = NULL;
	struct trust_result res;
	unsigned char *text = NULL, *b = NULL;
	size_t tn = 0, n = 0;

	(void)state;
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	tenv_path_of(p, sizeof(p), dir, "samples/DEMO0001.b64");
	assert_int_equal(read_file(p, 65536, &text, &tn), SA_OK);
	assert_int_equal(b64_decode((char *)text, tn, 65536, &b, &n), SA_OK);
	assert_int_equal(trust_verify_seal_bytes(t, b, n, T0 + 1, &res), SA_OK);
	/* truncated: the signature is cut */
	tenv_expect_step(t, NULL, T0, SA_ERR_SEAL_DECODE, "decode");
	assert_int_equal(trust_verify_seal_bytes(t, b, n - 10, T0 + 1, &res),
			 SA_ERR_SEAL_DECODE);
	assert_string_equal(res.step, "decode");
	assert_int_equal(trust_verify_seal_bytes(t, b, 5, T0 + 1, &res),
			 SA_ERR_SEAL_DECODE);
	assert_string_equal(res.step, "decode");
	/* oversized: more than 8 KiB */
	{
		unsigned char *big = calloc(1, VDS_MAX_BYTES + 100);

		assert_non_null(big);
		memcpy(big, b, n);
		assert_int_equal(trust_verify_seal_bytes(
				     t, big, VDS_MAX_BYTES + 100, T0 + 1, &res),
				 SA_ERR_SEAL_DECODE);
		assert_string_equal(res.step, "decode");
		free(big);
	}
	free(text);
	free(b);
	trust_close(t);
	free(dir);
}

static void
test_tampered_lists(void **state)
{
	static const struct {
		const char *file, *from, *to;
	} cases[] = {
	    {"lists/governance.xml", "sealauth DEMO scheme operator",
	     "sealauth DEMO scheme 0perator"},
	    {"lists/scheme-DEMO.xml", "sealauth DEMO TSL operator<",
	     "sealauth DEMO TSL 0perator<"},
	    {"lists/tsl-DEMO.xml", "sealauth DEMO CA operator",
	     "sealauth DEMO CA 0perator"},
	    {"lists/vrl-DEMO.xml", "<SequenceNumber>1<", "<SequenceNumber>2<"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *dir = tenv_env(NULL);

		tenv_tamper(dir, cases[i].file, cases[i].from, cases[i].to);
		tenv_load_fails(dir, NULL, 0, T0, SA_ERR_TRUST_LIST_SIG,
				"list-signature");
		free(dir);
	}
}

static void
test_wrong_governance_key(void **state)
{
	char *dir = tenv_env(NULL), *other = tenv_env(NULL), pin[512];

	(void)state;
	/* the other environment's governance certificate is pinned */
	tenv_path_of(pin, sizeof(pin), other, "governance.pem");
	tenv_load_fails(dir, pin, 0, T0, SA_ERR_TRUST_GOVERNANCE, "governance");
	free(dir);
	free(other);
}

static void
test_list_over_size_cap(void **state)
{
	char *dir = tenv_env(NULL);

	(void)state;
	tenv_load_fails(dir, NULL, 2048, T0, SA_ERR_TRUST_LIST, "list");
	free(dir);
}

static void
test_expired_lists(void **state)
{
	struct trust_demo_opts o;
	char *dir;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.list_next_update = T0 + DAY;
	dir = tenv_env(&o);
	tenv_load_fails(dir, NULL, 0, T0 + 2 * DAY, SA_ERR_TRUST_EXPIRY,
			"expiry");
	free(dir);
}

static void
test_unknown_ca_and_missing_signer(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust *t = NULL;
	struct trust_result res;
	EVP_PKEY *k = tenv_signer_key(dir);
	struct vds *v;

	(void)state;
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_seal_with(k, "XXXX", "0001", "0A0001", T0);
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_CHAIN, "chain");
	vds_free(v);
	/* a cert id with no published certificate */
	v = tenv_seal_with(k, "DEMO", "0002", "0A0001", T0);
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_CHAIN, "chain");
	tenv_expect_step(t, v, T0 + 1, SA_ERR_TRUST_CHAIN,
			 "chain"); /* cached */
	vds_free(v);
	EVP_PKEY_free(k);
	trust_close(t);
	free(dir);
}

static void
test_wrong_signing_key(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust *t = NULL;
	struct trust_result res;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct vds *v;

	(void)state;
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_seal_with(k, "DEMO", "0001", "0A0001", T0);
	tenv_expect_step(t, v, T0, SA_ERR_SEAL_SIGNATURE, "signature");
	vds_free(v);
	EVP_PKEY_free(k);
	trust_close(t);
	free(dir);
}

static void
test_signer_validity(void **state)
{
	struct trust_demo_opts o;
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v;
	char *dir;

	(void)state;
	/* expired when it signed */
	memset(&o, 0, sizeof(o));
	o.ca_not_before =
	    T0 - 5 * YEAR; /* the CA must cover the signing time */
	o.signer_not_before = T0 - 2 * YEAR;
	o.signer_not_after = T0 - DAY;
	dir = tenv_env(&o);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-2");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_EXPIRY, "expiry");
	vds_free(v);
	/* valid when it signed, expired now: still good */
	v = tenv_issue(dir, T0 - YEAR, "TID-3");
	assert_int_equal(trust_verify_seal(t, v, T0, &res), SA_OK);
	vds_free(v);
	/* a checked chain is remembered only for its validity window: after
	 * that success, a seal signed outside it still fails */
	v = tenv_issue(dir, T0, "TID-2b");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_EXPIRY, "expiry");
	vds_free(v);
	v = tenv_issue(dir, T0 - YEAR + 60, "TID-3b");
	assert_int_equal(trust_verify_seal(t, v, T0, &res), SA_OK);
	vds_free(v);
	/* not yet valid when it signed */
	v = tenv_issue(dir, T0 - 3 * YEAR, "TID-4");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_EXPIRY, "expiry");
	vds_free(v);
	/* signed in the future (beyond the clock skew allowed) */
	v = tenv_issue(dir, T0 - YEAR, "TID-5");
	tenv_expect_step(t, v, T0 - YEAR - TRUST_CLOCK_SKEW - 1,
			 SA_ERR_TRUST_EXPIRY, "expiry");
	trust_verify_seal(t, v, T0 - YEAR - TRUST_CLOCK_SKEW - 1, &res);
	assert_non_null(strstr(res.reason, "future"));
	vds_free(v);
	trust_close(t);
	free(dir);
}

static void
test_ca_expired_now(void **state)
{
	struct trust_demo_opts o;
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v;
	char *dir;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.ca_not_before = T0 - 3 * YEAR;
	o.ca_not_after = T0 - DAY;
	o.signer_not_before = T0 - 2 * YEAR;
	o.signer_not_after = T0 + YEAR;
	dir = tenv_env(&o);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	/* signed while the CA was valid, but the CA is not trusted now */
	v = tenv_issue(dir, T0 - YEAR, "TID-6");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_EXPIRY, "expiry");
	vds_free(v);
	trust_close(t);
	free(dir);
}

static void
test_crl(void **state)
{
	struct trust_demo_opts o;
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v;
	char *dir;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.revoke_signer = 1;
	dir = tenv_env(&o);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-7");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_REVOKED, "revocation");
	vds_free(v);
	trust_close(t);
	free(dir);

	/* a CRL past its nextUpdate is an expiry failure */
	memset(&o, 0, sizeof(o));
	o.crl_next_update = T0 + DAY;
	dir = tenv_env(&o);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-8");
	assert_int_equal(trust_verify_seal(t, v, T0 + 10, &res), SA_OK);
	tenv_expect_step(t, v, T0 + 2 * DAY, SA_ERR_TRUST_EXPIRY, "expiry");
	vds_free(v);
	trust_close(t);
	free(dir);
}

static void
test_usage(void **state)
{
	struct trust_demo_opts o;
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v;
	char *dir;

	(void)state;
	/* UsageList without the manifest */
	memset(&o, 0, sizeof(o));
	o.usage_manifest = "0A0002";
	dir = tenv_env(&o);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-9");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_USAGE, "usage");
	vds_free(v);
	trust_close(t);
	free(dir);

	/* no UsageList at all */
	memset(&o, 0, sizeof(o));
	o.no_usage_list = 1;
	dir = tenv_env(&o);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-10");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_USAGE, "usage");
	vds_free(v);
	trust_close(t);
	free(dir);

	/* the scheme list does not scope the TSL to the manifest */
	memset(&o, 0, sizeof(o));
	o.scheme_manifests = "0A0002 0A0003";
	dir = tenv_env(&o);
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-11");
	tenv_expect_step(t, v, T0, SA_ERR_TRUST_USAGE, "usage");
	vds_free(v);
	trust_close(t);
	free(dir);
}

/*
 * A seal put on the VRL is refused after the next refresh, not before the
 * TTL has passed; a failed refresh keeps the last good set until it
 * expires, and the status says so.
 */
static void
test_vrl_ttl_and_last_good_set(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust *t = NULL;
	struct trust_result res;
	struct vds *v, *w;
	uint64_t seq = 0;
	json_t *st;

	(void)state;
	assert_int_equal(tenv_open_at(dir, NULL, 0, 600, T0, &t, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-12");
	w = tenv_issue(dir, T0, "TID-13");
	assert_int_equal(trust_verify_seal(t, v, T0, &res), SA_OK);
	assert_int_equal(trust_demo_revoke(dir, v, T0 + 50, &seq), SA_OK);
	assert_int_equal(seq, 2);

	/* within the TTL nothing is fetched */
	assert_int_equal(trust_refresh(t, T0 + 100, 0, &res), SA_OK);
	assert_int_equal(trust_verify_seal(t, v, T0 + 100, &res), SA_OK);
	/* past the TTL the new VRL is loaded */
	assert_int_equal(trust_refresh(t, T0 + 700, 0, &res), SA_OK);
	tenv_expect_step(t, v, T0 + 700, SA_ERR_TRUST_REVOKED, "revocation");
	assert_int_equal(trust_verify_seal(t, w, T0 + 700, &res), SA_OK);

	/* a refresh that fails keeps the last good set */
	tenv_tamper(dir, "lists/tsl-DEMO.xml", "sealauth DEMO CA operator",
		    "sealauth DEMO CA 0perator");
	assert_int_equal(trust_refresh(t, T0 + 1400, 0, &res),
			 SA_ERR_TRUST_LIST_SIG);
	assert_string_equal(res.step, "list-signature");
	assert_int_equal(trust_verify_seal(t, w, T0 + 1400, &res), SA_OK);
	tenv_expect_step(t, v, T0 + 1400, SA_ERR_TRUST_REVOKED, "revocation");
	st = trust_status_json(t, T0 + 1400);
	assert_string_equal(json_string_value(json_object_get(st, "status")),
			    "stale");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(st, "lastError"), "step")),
			    "list-signature");
	json_decref(st);
	/* once the last good lists pass their NextUpdate, nothing verifies */
	tenv_expect_step(t, w, T0 + YEAR + 1, SA_ERR_TRUST_EXPIRY, "expiry");
	st = trust_status_json(t, T0 + YEAR + 1);
	assert_string_equal(json_string_value(json_object_get(st, "status")),
			    "failed");
	json_decref(st);
	vds_free(v);
	vds_free(w);
	trust_close(t);
	free(dir);
}

struct race {
	struct trust *t;
	struct vds *seal;
	int failures;
};

static void *
verify_loop(void *arg)
{
	struct race *r = arg;
	struct trust_result res;

	for (int i = 0; i < 300; i++)
		if (trust_verify_seal(r->t, r->seal, T0 + 1, &res) != SA_OK)
			__atomic_add_fetch(&r->failures, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* Verifications running while the set is swapped all see a whole set. */
static void
test_concurrent_verify_and_refresh(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust_result res;
	struct race r;
	pthread_t th[4];

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(tenv_open_at(dir, NULL, 0, 3600, T0, &r.t, &res),
			 SA_OK);
	r.seal = tenv_issue(dir, T0, "TID-14");
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, verify_loop, &r),
				 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(trust_refresh(r.t, T0 + 1, 1, &res), SA_OK);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(r.failures, 0);
	vds_free(r.seal);
	trust_close(r.t);
	free(dir);
}

static void
test_url_rules(void **state)
{
	char *out = NULL;
	unsigned char *b = NULL;
	size_t n = 0;
	char why[200];

	(void)state;
	assert_int_equal(trust_url_check("https://trust.example/gov.xml", 0),
			 SA_OK);
	assert_int_equal(trust_url_check("file:///var/lib/x.xml", 0), SA_OK);
	assert_int_equal(trust_url_check("http://trust.example/gov.xml", 0),
			 SA_ERR_CONFIG);
	assert_int_equal(trust_url_check("http://127.0.0.1:8080/g.xml", 0),
			 SA_ERR_CONFIG);
	assert_int_equal(trust_url_check("http://127.0.0.1:8080/g.xml", 1),
			 SA_OK);
	assert_int_equal(trust_url_check("http://127.0.0.1.evil.example/", 1),
			 SA_ERR_CONFIG);
	assert_int_equal(trust_url_check("http://example.com/", 1),
			 SA_ERR_CONFIG);
	assert_int_equal(trust_url_check("ftp://example.com/x", 0),
			 SA_ERR_CONFIG);
	assert_int_equal(trust_url_check("file://relative/x", 0),
			 SA_ERR_CONFIG);
	assert_int_equal(trust_url_check("https:///nohost", 0), SA_ERR_CONFIG);
	assert_int_equal(trust_url_check("https://a.example/x y", 0),
			 SA_ERR_CONFIG);

	assert_int_equal(
	    trust_url_resolve("https://t.example/l/gov.xml", "s.xml", &out),
	    SA_OK);
	assert_string_equal(out, "https://t.example/l/s.xml");
	free(out);
	assert_int_equal(
	    trust_url_resolve("file:///d/lists/tsl.xml", "ca/signers", &out),
	    SA_OK);
	assert_string_equal(out, "file:///d/lists/ca/signers");
	free(out);
	assert_int_equal(trust_url_resolve("file:///d/g.xml",
					   "https://o.example/s.xml", &out),
			 SA_OK);
	assert_string_equal(out, "https://o.example/s.xml");
	free(out);
	out = NULL;
	assert_int_equal(trust_url_resolve("file:///d/g.xml", "../x", &out),
			 SA_ERR_CONFIG);
	assert_int_equal(
	    trust_url_resolve("file:///d/g.xml", "a/../../x", &out),
	    SA_ERR_CONFIG);
	assert_int_equal(trust_url_resolve("file:///d/g.xml", "/etc/x", &out),
			 SA_ERR_CONFIG);
	assert_null(out);

	/* https is refused for a URL the rules refuse, before any I/O */
	assert_int_equal(trust_fetch(NULL, "http://trust.example/", 1024, 1000,
				     0, &b, &n, why, sizeof(why)),
			 SA_ERR_CONFIG);
	assert_int_equal(trust_fetch(NULL, "file:///nonexistent/sealauth/x.xml",
				     1024, 1000, 0, &b, &n, why, sizeof(why)),
			 SA_ERR_UNAVAILABLE);
	assert_null(b);
}

/* fetch_len fetches url through f (at most max bytes, frees what came) and
 * returns the outcome, with *len the number of bytes and why the reason. */
static enum sa_err
fetch_len(struct trust_fetcher *f, const char *url, size_t max, size_t *len,
	  char *why, size_t whylen)
{
	unsigned char *b = NULL;
	enum sa_err rc;

	*len = 0;
	rc = trust_fetch(f, url, max, 1000, 0, &b, len, why, whylen);
	assert_true(rc == SA_OK || b == NULL);
	free(b);
	return rc;
}

static void
test_fetch_file_cap(void **state)
{
	char p[512], url[600];
	unsigned char data[3000];
	size_t n = 0;
	char why[200] = "";

	(void)state;
	memset(data, 'x', sizeof(data));
	tenv_path_of(p, sizeof(p), tenv_root, "blob");
	assert_int_equal(write_file_atomic(p, data, sizeof(data), 0644), SA_OK);
	snprintf(url, sizeof(url), "file://%s", p);
	assert_int_equal(fetch_len(NULL, url, 2999, &n, why, sizeof(why)),
			 SA_ERR_BODY_TOO_LARGE);
	assert_non_null(strstr(why, "larger than"));
	assert_int_equal(fetch_len(NULL, url, 3000, &n, why, sizeof(why)),
			 SA_OK);
	assert_int_equal(n, 3000);
}

static void
test_demo_ensure_and_layout(void **state)
{
	char dir[256], p[512];
	int created = -1;
	struct stat st;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/ensure", tenv_root);
	assert_int_equal(trust_demo_ensure(dir, &created), SA_OK);
	assert_int_equal(created, 1);
	assert_int_equal(trust_demo_ensure(dir, &created), SA_OK);
	assert_int_equal(created, 0);
	tenv_path_of(p, sizeof(p), dir, "private");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	{
		static const char *const keys[] = {"governance", "scheme",
						   "tsl", "ca", "signer"};

		for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
			char rel[64];

			snprintf(rel, sizeof(rel), "private/%s.key", keys[i]);
			tenv_path_of(p, sizeof(p), dir, rel);
			assert_int_equal(stat(p, &st), 0);
			assert_int_equal(st.st_mode & 0777, 0600);
		}
	}
	tenv_path_of(p, sizeof(p), dir, "lists/manifests/0A0001.json");
	{
		json_error_t err;
		json_t *m = json_load_file(p, 0, &err);

		assert_non_null(m);
		assert_string_equal(
		    json_string_value(json_object_get(m, "manifest")),
		    "0A0001");
		json_decref(m);
	}
}

/* trust_config_from picks the demo environment when no URL is set. */
static void
test_config_from(void **state)
{
	struct config cfg;
	struct trust_config tc;
	char *storage = NULL;
	int demo = -1;

	(void)state;
	assert_int_equal(config_defaults(&cfg), SA_OK);
	free(cfg.trust_dir);
	cfg.trust_dir = strdup("/srv/trust");
	assert_int_equal(trust_config_from(&cfg, &tc, &storage, &demo), SA_OK);
	assert_int_equal(demo, 1);
	assert_string_equal(tc.governance_url,
			    "file:///srv/trust/lists/governance.xml");
	assert_string_equal(tc.governance_cert_path,
			    "/srv/trust/governance.pem");
	assert_int_equal(tc.ttl, 3600);
	free(storage);
	assert_int_equal(config_set(&cfg, "SEALAUTH_TRUST_GOVERNANCE_URL",
				    "https://gov.example/g.xml", NULL),
			 SA_OK);
	assert_int_equal(trust_config_from(&cfg, &tc, &storage, &demo),
			 SA_ERR_CONFIG);
	assert_int_equal(config_set(&cfg, "SEALAUTH_TRUST_GOVERNANCE_CERT",
				    "/etc/gov.pem", NULL),
			 SA_OK);
	assert_int_equal(trust_config_from(&cfg, &tc, &storage, &demo), SA_OK);
	assert_int_equal(demo, 0);
	assert_string_equal(tc.governance_url, "https://gov.example/g.xml");
	assert_string_equal(tc.governance_cert_path, "/etc/gov.pem");
	free(storage);
	config_free(&cfg);
}

/* The durable memory the hook stands for, shared by two handles. */
static json_t *hook_seen;

static enum sa_err
hook_raise(void *arg, const char *doc, uint64_t seq, uint64_t *highest)
{
	json_t *v = json_object_get(hook_seen, doc);
	uint64_t h = v != NULL ? (uint64_t)json_integer_value(v) : 0;

	(void)arg;
	if (seq > h)
		h = seq;
	json_object_set_new(hook_seen, doc, json_integer((json_int_t)h));
	*highest = h;
	return SA_OK;
}

static enum sa_err
open_hooked(const char *dir, int64_t now, struct trust **t,
	    struct trust_result *res)
{
	struct trust_config tc;
	char url[512], cert[512];

	snprintf(url, sizeof(url), "file://%s/lists/governance.xml", dir);
	tenv_path_of(cert, sizeof(cert), dir, "governance.pem");
	memset(&tc, 0, sizeof(tc));
	tc.governance_url = url;
	tc.governance_cert_path = cert;
	tc.ttl = 3600;
	tc.seq_raise = hook_raise;
	assert_int_equal(trust_new(&tc, t), SA_OK);
	return trust_refresh(*t, now, 1, res);
}

/*
 * Each kind of document rolled back to an older, validly signed copy is
 * refused: by the handle that saw the newer one (its last good set stays,
 * status stale, step rollback) and, through the durable hook, by another
 * handle that never saw it.
 */
static void
test_rollback_refused(void **state)
{
	static const char *const kinds[][2] = {
	    {"governance", "lists/governance.xml"},
	    {"scheme", "lists/scheme-DEMO.xml"},
	    {"tsl", "lists/tsl-DEMO.xml"},
	    {"vrl", "lists/vrl-DEMO.xml"},
	    {"crl", "lists/ca/DEMO.crl"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		char *dir = tenv_env(NULL), old[64];
		struct trust *a = NULL, *b = NULL;
		struct trust_result res;
		struct vds *v;
		json_t *st;

		hook_seen = json_object();
		snprintf(old, sizeof(old), "%s.old", kinds[i][1]);
		tenv_copy_file(dir, kinds[i][1], old);
		assert_int_equal(open_hooked(dir, T0, &a, &res), SA_OK);
		assert_int_equal(
		    trust_demo_resign(dir, kinds[i][0], NULL, T0 + 10, NULL),
		    SA_OK);
		assert_int_equal(trust_refresh(a, T0 + 20, 1, &res), SA_OK);
		tenv_copy_file(dir, old, kinds[i][1]);
		assert_int_equal(trust_refresh(a, T0 + 30, 1, &res),
				 SA_ERR_TRUST_ROLLBACK);
		assert_string_equal(res.step, "rollback");
		assert_non_null(strstr(res.reason, kinds[i][0]));
		v = tenv_issue(dir, T0, "TID-RB");
		assert_int_equal(trust_verify_seal(a, v, T0 + 30, &res), SA_OK);
		st = trust_status_json(a, T0 + 30);
		assert_string_equal(
		    json_string_value(json_object_get(st, "status")), "stale");
		json_decref(st);
		/* a second instance sharing the memory refuses it at once */
		assert_int_equal(open_hooked(dir, T0 + 40, &b, &res),
				 SA_ERR_TRUST_ROLLBACK);
		tenv_expect_step(b, v, T0 + 40, SA_ERR_TRUST_GOVERNANCE,
				 "governance");
		vds_free(v);
		trust_close(a);
		trust_close(b);
		json_decref(hook_seen);
		free(dir);
	}
}

/*
 * A document older than the maximum age of its kind is refused even inside
 * its NextUpdate, and a loaded set stops counting at issue + maximum age.
 */
static void
test_maximum_age(void **state)
{
	char *dir = tenv_env(NULL);
	struct trust_config tc;
	struct trust *t = NULL;
	struct trust_result res;
	char url[512], cert[512];
	struct vds *v;

	(void)state;
	snprintf(url, sizeof(url), "file://%s/lists/governance.xml", dir);
	tenv_path_of(cert, sizeof(cert), dir, "governance.pem");
	memset(&tc, 0, sizeof(tc));
	tc.governance_url = url;
	tc.governance_cert_path = cert;
	tc.ttl = 3600;
	tc.max_age[TRUST_DOC_VRL] = 1000;
	assert_int_equal(trust_new(&tc, &t), SA_OK);
	assert_int_equal(trust_refresh(t, T0 + 500, 1, &res), SA_OK);
	v = tenv_issue(dir, T0, "TID-AGE");
	assert_int_equal(trust_verify_seal(t, v, T0 + 900, &res), SA_OK);
	tenv_expect_step(t, v, T0 + 1001, SA_ERR_TRUST_EXPIRY, "expiry");
	assert_int_equal(trust_refresh(t, T0 + 1100, 1, &res),
			 SA_ERR_TRUST_EXPIRY);
	assert_non_null(strstr(res.reason, "maximum age"));
	vds_free(v);
	trust_close(t);
	tc.max_age[TRUST_DOC_VRL] = 0;
	tc.max_age[TRUST_DOC_CRL] = 1000;
	assert_int_equal(trust_new(&tc, &t), SA_OK);
	assert_int_equal(trust_refresh(t, T0 + 1100, 1, &res),
			 SA_ERR_TRUST_EXPIRY);
	assert_non_null(strstr(res.reason, "CRL"));
	trust_close(t);
	free(dir);
}

/*
 * A VRL says whose it is: one signed with the right TSL operator key but
 * naming another authority is refused, so one authority's list cannot
 * stand in for another's.
 */
static void
test_vrl_bound_to_its_authority(void **state)
{
	char *dir = tenv_env(NULL), p[512];
	EVP_PKEY *k;
	X509 *x;
	FILE *f;
	struct vrl v;
	unsigned char *xml = NULL;
	size_t n = 0;

	(void)state;
	tenv_path_of(p, sizeof(p), dir, "private/tsl.key");
	assert_non_null(f = fopen(p, "r"));
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	tenv_path_of(p, sizeof(p), dir, "certs/tsl.pem");
	assert_non_null(f = fopen(p, "r"));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	memset(&v, 0, sizeof(v));
	snprintf(v.authority, sizeof(v.authority), "OTHER");
	v.sequence = 5;
	v.issued = T0;
	v.next_update = T0 + YEAR;
	assert_int_equal(vrl_build(&v, k, x, &xml, &n), SA_OK);
	tenv_path_of(p, sizeof(p), dir, "lists/vrl-DEMO.xml");
	assert_int_equal(write_file_atomic(p, xml, n, 0644), SA_OK);
	tenv_load_fails(dir, NULL, 0, T0, SA_ERR_TRUST_GOVERNANCE,
			"governance");
	free(xml);
	X509_free(x);
	EVP_PKEY_free(k);
	free(dir);
}

/* pem_of writes what write puts into a memory BIO as a new string. */
static char *
pem_of(int (*write)(BIO *, const void *), const void *obj)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *out;
	long n;

	assert_non_null(b);
	assert_true(write(b, obj));
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static int
write_cert(BIO *b, const void *x)
{
	return PEM_write_bio_X509(b, (X509 *)x);
}

static int
write_crl(BIO *b, const void *c)
{
	return PEM_write_bio_X509_CRL(b, (X509_CRL *)c);
}

/* Certificates and CRLs are read in DER that fills the input exactly, or
 * as the first PEM block of their own label. */
static void
test_der_or_pem(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new(), *got;
	X509_CRL *crl = X509_CRL_new(), *gotc;
	ASN1_TIME *now = ASN1_TIME_set(NULL, (time_t)T0);
	unsigned char *der = NULL, *cder = NULL, *longer;
	char *pem, *cpem, *text;
	int n, cn;

	(void)state;
	assert_non_null(k);
	assert_non_null(x);
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 10));
	assert_true(X509_NAME_add_entry_by_txt(
	    X509_get_subject_name(x), "CN", MBSTRING_UTF8,
	    (const unsigned char *)"CA01", -1, -1, 0));
	assert_true(X509_set_issuer_name(x, X509_get_subject_name(x)));
	assert_true(X509_set1_notBefore(x, now));
	assert_true(X509_set1_notAfter(x, now));
	assert_true(X509_set_pubkey(x, k));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_true(X509_CRL_set_issuer_name(crl, X509_get_subject_name(x)));
	assert_true(X509_CRL_set1_lastUpdate(crl, now));
	assert_true(X509_CRL_sign(crl, k, EVP_sha256()) > 0);
	assert_true((n = i2d_X509(x, &der)) > 0);
	assert_true((cn = i2d_X509_CRL(crl, &cder)) > 0);
	pem = pem_of(write_cert, x);
	cpem = pem_of(write_crl, crl);
	/* DER, and PEM after some text. */
	got = trust_der_or_pem(der, (size_t)n, ASN1_ITEM_rptr(X509),
			       PEM_STRING_X509);
	assert_non_null(got);
	assert_int_equal(X509_cmp(got, x), 0);
	X509_free(got);
	assert_true(asprintf(&text, "issued by the demo CA\n%s", pem) > 0);
	got = trust_der_or_pem((unsigned char *)text, strlen(text),
			       ASN1_ITEM_rptr(X509), PEM_STRING_X509);
	assert_non_null(got);
	assert_int_equal(X509_cmp(got, x), 0);
	X509_free(got);
	free(text);
	gotc = trust_der_or_pem(cder, (size_t)cn, ASN1_ITEM_rptr(X509_CRL),
				PEM_STRING_X509_CRL);
	assert_non_null(gotc);
	assert_int_equal(X509_CRL_cmp(gotc, crl), 0);
	X509_CRL_free(gotc);
	gotc = trust_der_or_pem((unsigned char *)cpem, strlen(cpem),
				ASN1_ITEM_rptr(X509_CRL), PEM_STRING_X509_CRL);
	assert_non_null(gotc);
	X509_CRL_free(gotc);
	/* DER with a byte after it is neither. */
	longer = malloc((size_t)n + 1);
	memcpy(longer, der, (size_t)n);
	longer[n] = 0;
	assert_null(trust_der_or_pem(longer, (size_t)n + 1,
				     ASN1_ITEM_rptr(X509), PEM_STRING_X509));
	/* Cut short, of the other type, or nothing at all. */
	assert_null(trust_der_or_pem(der, (size_t)n - 1, ASN1_ITEM_rptr(X509),
				     PEM_STRING_X509));
	assert_null(trust_der_or_pem((unsigned char *)pem, strlen(pem),
				     ASN1_ITEM_rptr(X509_CRL),
				     PEM_STRING_X509_CRL));
	assert_null(trust_der_or_pem(der, (size_t)n, ASN1_ITEM_rptr(X509_CRL),
				     PEM_STRING_X509_CRL));
	assert_null(trust_der_or_pem((const unsigned char *)"", 0,
				     ASN1_ITEM_rptr(X509), PEM_STRING_X509));
	free(longer);
	free(pem);
	free(cpem);
	OPENSSL_free(der);
	OPENSSL_free(cder);
	ASN1_TIME_free(now);
	X509_CRL_free(crl);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* Each fetcher carries its own cancellation and CA file, and a handle
 * fetches through the one its configuration names. */
static void
test_fetcher_is_per_handle(void **state)
{
	const char *url = "https://127.0.0.1:1/governance.xml";
	struct trust_fetcher *a = NULL, *b = NULL;
	struct trust_config tc;
	struct trust_result res;
	struct trust *t = NULL;
	size_t n = 0;
	char why[200] = "", cert[512], *dir = tenv_env(NULL), *longer;

	(void)state;
	assert_int_equal(trust_fetcher_new(NULL, &a), SA_OK);
	assert_int_equal(trust_fetcher_new("", &b), SA_OK);
	trust_fetcher_cancel(a);
	assert_int_equal(fetch_len(a, url, 1024, &n, why, sizeof(why)),
			 SA_ERR_SHUTTING_DOWN);
	assert_non_null(strstr(why, "stopping"));
	/* The other fetcher is not cancelled: nothing listens there. */
	assert_int_equal(fetch_len(b, url, 1024, &n, why, sizeof(why)),
			 SA_ERR_UNAVAILABLE);

	/* A refresh through the cancelled fetcher ends at its first fetch. */
	tenv_path_of(cert, sizeof(cert), dir, "governance.pem");
	memset(&tc, 0, sizeof(tc));
	tc.governance_url = url;
	tc.governance_cert_path = cert;
	tc.fetcher = a;
	assert_int_equal(trust_new(&tc, &t), SA_OK);
	assert_int_equal(trust_refresh(t, T0, 1, &res), SA_ERR_SHUTTING_DOWN);
	assert_non_null(strstr(res.reason, "stopping"));
	trust_close(t);
	trust_fetcher_free(a);
	trust_fetcher_free(b);
	trust_fetcher_free(NULL);

	/* A CA file name that does not fit is refused. */
	longer = malloc(TRUST_MAX_CA_FILE + 1);
	assert_non_null(longer);
	memset(longer, 'a', TRUST_MAX_CA_FILE);
	longer[TRUST_MAX_CA_FILE] = '\0';
	a = (struct trust_fetcher *)&a;
	assert_int_equal(trust_fetcher_new(longer, &a), SA_ERR_CONFIG);
	assert_null(a);
	free(longer);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_with_claims),
	    cmocka_unit_test(test_sample_seal_and_bytes_entry),
	    cmocka_unit_test(test_tampered_lists),
	    cmocka_unit_test(test_wrong_governance_key),
	    cmocka_unit_test(test_list_over_size_cap),
	    cmocka_unit_test(test_expired_lists),
	    cmocka_unit_test(test_unknown_ca_and_missing_signer),
	    cmocka_unit_test(test_wrong_signing_key),
	    cmocka_unit_test(test_signer_validity),
	    cmocka_unit_test(test_ca_expired_now),
	    cmocka_unit_test(test_crl),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_vrl_ttl_and_last_good_set),
	    cmocka_unit_test(test_concurrent_verify_and_refresh),
	    cmocka_unit_test(test_url_rules),
	    cmocka_unit_test(test_fetch_file_cap),
	    cmocka_unit_test(test_fetcher_is_per_handle),
	    cmocka_unit_test(test_demo_ensure_and_layout),
	    cmocka_unit_test(test_config_from),
	    cmocka_unit_test(test_rollback_refused),
	    cmocka_unit_test(test_maximum_age),
	    cmocka_unit_test(test_vrl_bound_to_its_authority),
	    cmocka_unit_test(test_der_or_pem),
	};

	return cmocka_run_group_tests(tests, tenv_setup, tenv_teardown);
}
