/*
 * store_contract.c - the storage contracts (store_contract.h) that every
 * durable backend's test begins with: metadata and the audit chain, with
 * the helpers the backends' own tests share. The other interface areas
 * have files of their own: store_contract_enroll.c, store_contract_admin.c,
 * store_contract_estore.c, and store_audited.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "store_contract.h"

int
store_backend_missing(const char *test, const char *why)
{
	const char *req = getenv("SEALAUTH_BACKENDS_REQUIRED");

	if (req != NULL && req[0] != '\0' && strcmp(req, "0") != 0) {
		fprintf(stderr, "%s: %s, and every backend is required here\n",
			test, why);
		return 1;
	}
	fprintf(stderr, "%s: SKIPPED: %s\n", test, why);
	return 77;
}

/* ---- Durable store ---- */

struct audit_row
mkrow(const char *event, const char *detail)
{
	struct audit_row r;

	memset(&r, 0, sizeof(r));
	r.ts_ms = 1700000000000;
	r.event = event;
	r.ip = "192.0.2.7";
	r.ua = "test-agent/1";
	r.subject = "tok-1";
	r.detail = detail;
	return r;
}

int
collect_cb(const struct audit_row *row, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < 16);
	c->seq[c->n] = row->seq;
	snprintf(c->event[c->n], sizeof(c->event[0]), "%s", row->event);
	snprintf(c->detail[c->n], sizeof(c->detail[0]), "%s", row->detail);
	memcpy(c->prev[c->n], row->prev_hash, 32);
	memcpy(c->hash[c->n], row->hash, 32);
	c->n++;
	return 0;
}

void
assert_intact(struct dstore *ds, int64_t rows)
{
	struct audit_verify_result res;

	assert_int_equal(audit_verify(ds, &res), SA_OK);
	if (res.first_bad_seq != 0)
		fail_msg("chain broken at %lld: %s",
			 (long long)res.first_bad_seq, res.reason);
	assert_int_equal(res.rows, rows);
}

void
fill_enrollment(struct enrollment *e, const char *tok, const char *dev,
		const char *fp)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->token_id, sizeof(e->token_id), "%s", tok);
	snprintf(e->device_id, sizeof(e->device_id), "%s", dev);
	e->public_key_pem = strdup(
	    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	e->push_endpoint = strdup("https://push.example/abc");
	snprintf(e->trust_level, sizeof(e->trust_level), "high");
	e->claims = strdup("{\"givenName\":\"Erika\"}");
	snprintf(e->seal_fingerprint, sizeof(e->seal_fingerprint), "%s", fp);
	e->created_at = 1700000000;
	e->expires_at = 1900000000;
}

void
dstore_contract_meta(const char *url)
{
	struct dstore *ds = NULL;
	static char big[65538]; /* one byte over the value bound */
	char *v = NULL;

	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "missing", &v), SA_ERR_NOT_FOUND);
	assert_null(v);
	assert_int_equal(dstore_meta_set(ds, "kid", "abc"), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "kid", &v), SA_OK);
	assert_string_equal(v, "abc");
	free(v);
	assert_int_equal(dstore_meta_set(ds, "kid", "d'e\"f\\g"), SA_OK);
	dstore_close(ds);
	ds = NULL;

	/* Survives a reopen, overwritten in place, quotes taken literally. */
	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_meta_get(ds, "kid", &v), SA_OK);
	assert_string_equal(v, "d'e\"f\\g");
	free(v);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dstore_meta_set(ds, "big", big), SA_ERR_VALIDATION);
	big[sizeof(big) - 2] = '\0'; /* exactly at the bound */
	assert_int_equal(dstore_meta_set(ds, "big", big), SA_OK);
	assert_int_equal(dstore_meta_set(ds, "", "x"), SA_ERR_VALIDATION);
	dstore_close(ds);
}

void
dstore_contract_audit(const char *url)
{
	struct dstore *ds = NULL;
	struct audit_row rows[3] = {mkrow("a.one", "{}"),
				    mkrow("a.two", "{\"k\":1}"),
				    mkrow("a.three", "{}")};
	struct audit_row more[2] = {mkrow("b.one", "{}"), mkrow("b.two", "{}")};
	unsigned char zero[32] = {0}, h[32];
	struct collect c;
	int64_t n = 0;

	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, rows, 3), SA_OK);
	assert_int_equal(rows[0].seq, 1);
	assert_int_equal(rows[2].seq, 3);
	assert_memory_equal(rows[0].prev_hash, zero, 32);
	assert_memory_equal(rows[1].prev_hash, rows[0].hash, 32);
	audit_row_hash(&rows[1], rows[0].hash, h);
	assert_memory_equal(h, rows[1].hash, 32);
	dstore_close(ds);
	ds = NULL;

	/* The chain continues across a reopen (a new handle reads the tail). */
	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, more, 2), SA_OK);
	assert_int_equal(more[0].seq, 4);
	assert_memory_equal(more[0].prev_hash, rows[2].hash, 32);
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, 5);

	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_audit_iter(ds, 1, 0, collect_cb, &c), SA_OK);
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(c.seq[i], i + 1);
	assert_string_equal(c.event[1], "a.two");
	assert_string_equal(c.detail[1], "{\"k\":1}");
	assert_string_equal(c.event[4], "b.two");
	assert_memory_equal(c.hash[3], more[0].hash, 32);
	assert_memory_equal(c.prev[4], more[0].hash, 32);

	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_audit_iter(ds, 2, 2, collect_cb, &c), SA_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seq[0], 2);
	assert_int_equal(c.seq[1], 3);
	assert_intact(ds, 5);
	dstore_close(ds);
}

void
dstore_contract_failed_append(const char *url)
{
	struct dstore *ds = NULL;
	struct audit_row ok = mkrow("x.ok", "{}");
	struct audit_row rows[2] = {mkrow("x.first", "{}"),
				    mkrow(NULL, "{}")}; /* NOT NULL fails */
	int64_t n = -1;

	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_audit_append(ds, &ok, 1), SA_OK);
	assert_int_not_equal(dstore_audit_append(ds, rows, 2), SA_OK);
	/* Neither row was written, and neither was given a place in the
	 * chain. */
	assert_int_equal(rows[0].seq, 0);
	assert_int_equal(rows[1].seq, 0);
	assert_int_equal(dstore_audit_count(ds, &n), SA_OK);
	assert_int_equal(n, 1);
	/* The store is usable afterwards and the chain continues at 2. */
	ok = mkrow("x.after", "{}");
	assert_int_equal(dstore_audit_append(ds, &ok, 1), SA_OK);
	assert_int_equal(ok.seq, 2);
	assert_intact(ds, 2);
	dstore_close(ds);
}

/* ---- The durable contracts as cmocka tests ---- */

void
dstore_test_failed_append(void **state)
{
	dstore_contract_failed_append(*state);
}
