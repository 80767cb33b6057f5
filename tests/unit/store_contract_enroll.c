/*
 * store_contract_enroll.c - the durable contracts on enrollments
 * (store_contract.h): bindings, replacement and revocation, issuing
 * authorities, trust document sequence numbers, takeovers and the admin API's
 * pages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_contract.h"

void
dstore_contract_enrollments(const char *url)
{
	struct dstore *ds = NULL;
	struct enrollment e, got, prev;
	int had = -1, count = -1;
	int64_t n = -1;

	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got),
			 SA_ERR_NOT_FOUND);
	fill_enrollment(&e, "tok-1", "dev-a", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, &prev, &had), SA_OK);
	assert_int_equal(had, 0);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.token_id, "tok-1");
	assert_string_equal(got.device_id, "dev-a");
	assert_string_equal(got.public_key_pem,
			    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END "
			    "PUBLIC KEY-----\n");
	assert_string_equal(got.push_endpoint, "https://push.example/abc");
	assert_null(got.fcm_token);
	assert_string_equal(got.trust_level, "high");
	assert_string_equal(got.claims, "{\"givenName\":\"Erika\"}");
	assert_string_equal(got.seal_fingerprint, FP_A);
	assert_int_equal(got.created_at, 1700000000);
	assert_int_equal(got.expires_at, 1900000000);
	assert_int_equal(got.revoked_at, 0);
	enrollment_free(&got);

	/* A new device replaces the binding and the old one is handed back. */
	fill_enrollment(&e, "tok-1", "dev-b", FP_A);
	free(e.push_endpoint);
	e.push_endpoint = NULL;
	e.fcm_token = strdup("fcm:token-b");
	assert_int_equal(dstore_enroll_put(ds, &e, &prev, &had), SA_OK);
	assert_int_equal(had, 1);
	assert_string_equal(prev.device_id, "dev-a");
	assert_string_equal(prev.push_endpoint, "https://push.example/abc");
	enrollment_free(&prev);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-b");
	assert_string_equal(got.fcm_token, "fcm:token-b");
	assert_null(got.push_endpoint);
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_count(ds, &n), SA_OK);
	assert_int_equal(n, 1);

	/* Revocation sticks: the token id can never be enrolled again. */
	assert_int_equal(dstore_enroll_revoke(ds, "tok-1", 1700000100, "test"),
			 SA_OK);
	assert_int_equal(dstore_enroll_revoke(ds, "tok-1", 1700000200, "again"),
			 SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_int_equal(got.revoked_at, 1700000100);
	enrollment_free(&got);
	fill_enrollment(&e, "tok-1", "dev-c", FP_A);
	had = -1;
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, &had),
			 SA_ERR_TOKEN_REVOKED);
	assert_int_equal(had, 0);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "tok-1", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-b"); /* nothing was written */
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_count(ds, &n), SA_OK);
	assert_int_equal(n, 0);

	/* Revoking by seal fingerprint (the VRL) hits every token of that
	 * seal. */
	fill_enrollment(&e, "tok-2", "dev-d", FP_B);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	fill_enrollment(&e, "tok-3", "dev-e", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	assert_int_equal(
	    dstore_enroll_revoke_fingerprint(ds, FP_B, 1700000300, &count),
	    SA_OK);
	assert_int_equal(count, 1);
	assert_int_equal(
	    dstore_enroll_revoke_fingerprint(ds, FP_B, 1700000400, &count),
	    SA_OK);
	assert_int_equal(count, 0);
	assert_int_equal(dstore_enroll_get(ds, "tok-2", &got), SA_OK);
	assert_int_equal(got.revoked_at, 1700000300);
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_get(ds, "tok-3", &got), SA_OK);
	assert_int_equal(got.revoked_at, 0);
	enrollment_free(&got);
	fill_enrollment(&e, "tok-2", "dev-f", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL),
			 SA_ERR_TOKEN_REVOKED);
	enrollment_free(&e);

	/* Bounds: the longest token id fits; bad keys never reach the
	 * backend; quotes are data. */
	fill_enrollment(&e, "x", "dev", FP_A);
	memset(e.token_id, 'x', sizeof(e.token_id) - 1);
	e.token_id[sizeof(e.token_id) - 1] = '\0';
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	fill_enrollment(&e, "it's; DROP TABLE audit;--", "dev", FP_A);
	assert_int_equal(dstore_enroll_put(ds, &e, NULL, NULL), SA_OK);
	enrollment_free(&e);
	assert_int_equal(
	    dstore_enroll_get(ds, "it's; DROP TABLE audit;--", &got), SA_OK);
	assert_string_equal(got.device_id, "dev");
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_get(ds, "", &got), SA_ERR_NOT_FOUND);
	assert_int_equal(
	    dstore_enroll_revoke_fingerprint(ds, "short", 1, &count),
	    SA_ERR_VALIDATION);
	dstore_close(ds);
	ds = NULL;

	/* Everything survives a reopen. */
	assert_int_equal(dstore_open(url, &ds), SA_OK);
	assert_int_equal(dstore_enroll_get(ds, "tok-3", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-e");
	enrollment_free(&got);
	assert_int_equal(dstore_enroll_count(ds, &n), SA_OK);
	assert_int_equal(n, 3);
	dstore_close(ds);
}

/* ---- Issuing authorities, trust sequence numbers, takeovers ---------- */

#define CONTRACT_KEY_1                                                         \
	"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
#define CONTRACT_KEY_2                                                         \
	"-----BEGIN PUBLIC KEY-----\nBBBB\n-----END PUBLIC KEY-----\n"

static void
contract_binding(struct enrollment *e, const char *authority, const char *tok,
		 const char *dev, const char *key)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->authority, sizeof(e->authority), "%s", authority);
	snprintf(e->token_id, sizeof(e->token_id), "%s", tok);
	snprintf(e->device_id, sizeof(e->device_id), "%s", dev);
	e->public_key_pem = strdup(key);
	snprintf(e->trust_level, sizeof(e->trust_level), "high");
	e->claims = strdup("{\"givenName\":\"Erika\"}");
	snprintf(e->seal_fingerprint, sizeof(e->seal_fingerprint), "%064d", 0);
	e->created_at = 1700000000;
	e->expires_at = 1900000000;
}

/*
 * A token id bound by one authority is never rebound by another (nothing
 * written, the binding handed back), and ENROLL_PUT_KEEP refuses a new
 * device key while accepting the same one.
 */
static void
contract_authorities(struct dstore *ds)
{
	struct enrollment e, prev, got;
	int had = -1;

	contract_binding(&e, "DEMO", "DEMO-1", "dev-a", CONTRACT_KEY_1);
	assert_int_equal(
	    dstore_enroll_put_mode(ds, &e, ENROLL_PUT_KEEP, &prev, &had),
	    SA_OK);
	assert_int_equal(had, 0);
	enrollment_free(&e);

	contract_binding(&e, "XA", "DEMO-1", "dev-x", CONTRACT_KEY_2);
	assert_int_equal(
	    dstore_enroll_put_mode(ds, &e, ENROLL_PUT_REPLACE, &prev, &had),
	    SA_ERR_AUTHORITY_CONFLICT);
	assert_int_equal(had, 1);
	assert_string_equal(prev.authority, "DEMO");
	enrollment_free(&prev);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "DEMO-1", &got), SA_OK);
	assert_string_equal(got.authority, "DEMO");
	assert_string_equal(got.device_id, "dev-a");
	enrollment_free(&got);

	/* Same authority, new key: KEEP refuses and hands the binding back. */
	contract_binding(&e, "DEMO", "DEMO-1", "dev-b", CONTRACT_KEY_2);
	assert_int_equal(
	    dstore_enroll_put_mode(ds, &e, ENROLL_PUT_KEEP, &prev, &had),
	    SA_ERR_CONFLICT);
	assert_int_equal(had, 1);
	assert_string_equal(prev.device_id, "dev-a");
	enrollment_free(&prev);
	enrollment_free(&e);
	/* Same key: a refresh of the binding, accepted. */
	contract_binding(&e, "DEMO", "DEMO-1", "dev-a2", CONTRACT_KEY_1);
	assert_int_equal(
	    dstore_enroll_put_mode(ds, &e, ENROLL_PUT_KEEP, NULL, &had), SA_OK);
	enrollment_free(&e);
	/* REPLACE (a completed takeover) moves it within the authority. */
	contract_binding(&e, "DEMO", "DEMO-1", "dev-b", CONTRACT_KEY_2);
	assert_int_equal(
	    dstore_enroll_put_mode(ds, &e, ENROLL_PUT_REPLACE, &prev, &had),
	    SA_OK);
	assert_string_equal(prev.device_id, "dev-a2");
	enrollment_free(&prev);
	enrollment_free(&e);
	assert_int_equal(dstore_enroll_get(ds, "DEMO-1", &got), SA_OK);
	assert_string_equal(got.device_id, "dev-b");
	enrollment_free(&got);
}

/* The highest sequence number of a document only ever goes up. */
static void
contract_sequences(struct dstore *ds)
{
	int64_t h = -1;

	assert_int_equal(dstore_seq_raise(ds, "vrl:DEMO:ab", 5, 100, &h),
			 SA_OK);
	assert_int_equal(h, 5);
	assert_int_equal(dstore_seq_raise(ds, "vrl:DEMO:ab", 3, 200, &h),
			 SA_OK);
	assert_int_equal(h, 5);
	assert_int_equal(dstore_seq_raise(ds, "vrl:DEMO:ab", 7, 300, &h),
			 SA_OK);
	assert_int_equal(h, 7);
	assert_int_equal(dstore_seq_raise(ds, "crl:DEMO", 1, 300, &h), SA_OK);
	assert_int_equal(h, 1);
	assert_int_equal(dstore_seq_raise(ds, "", 1, 300, &h),
			 SA_ERR_VALIDATION);
}

/* One pending takeover per token id; exactly one taker gets it. */
static void
contract_takeovers(struct dstore *ds)
{
	struct takeover t, got;

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%032d", 1);
	snprintf(t.authority, sizeof(t.authority), "DEMO");
	snprintf(t.token_id, sizeof(t.token_id), "DEMO-7");
	t.enrollment = strdup("{\"tokenId\":\"DEMO-7\"}");
	t.created_at = 100;
	t.effective_at = 400;
	assert_int_equal(dstore_takeover_get(ds, "DEMO-7", &got),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(dstore_takeover_put(ds, &t), SA_OK);
	/* a second takeover replaces the first */
	snprintf(t.id, sizeof(t.id), "%032d", 2);
	t.effective_at = 500;
	assert_int_equal(dstore_takeover_put(ds, &t), SA_OK);
	assert_int_equal(dstore_takeover_get(ds, "DEMO-7", &got), SA_OK);
	assert_string_equal(got.id, t.id);
	assert_string_equal(got.authority, "DEMO");
	assert_string_equal(got.enrollment, "{\"tokenId\":\"DEMO-7\"}");
	assert_int_equal(got.effective_at, 500);
	takeover_free(&got);
	assert_int_equal(
	    dstore_takeover_take(ds, "DEMO-7",
				 "00000000000000000000000000000001", &got),
	    SA_ERR_NOT_FOUND);
	assert_int_equal(dstore_takeover_take(ds, "DEMO-7", t.id, &got), SA_OK);
	assert_int_equal(got.created_at, 100);
	takeover_free(&got);
	assert_int_equal(dstore_takeover_take(ds, "DEMO-7", t.id, &got),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(dstore_takeover_get(ds, "DEMO-7", &got),
			 SA_ERR_NOT_FOUND);
	takeover_free(&t);
}

struct contract_page {
	char tok[8][ENROLL_TOKEN_MAX + 1];
	int64_t created[8];
	int n;
};

static int
contract_page_row(const struct enrollment *e, void *arg)
{
	struct contract_page *p = arg;

	assert_null(e->claims);
	assert_null(e->public_key_pem);
	if (p->n < 8) {
		snprintf(p->tok[p->n], sizeof(p->tok[0]), "%s", e->token_id);
		p->created[p->n] = e->created_at;
	}
	p->n++;
	return 0;
}

/* contract_list_page lists with f into a fresh page. */
static void
contract_list_page(struct dstore *ds, const struct enroll_filter *f,
		   struct contract_page *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(dstore_enroll_list(ds, f, contract_page_row, p),
			 SA_OK);
}

/*
 * The admin API's enrollment pages: newest first, filters by token id
 * prefix, authority, status and time, and a cursor that continues where
 * the previous page ended.
 */
static void
contract_enroll_list(struct dstore *ds)
{
	static const char *const toks[] = {"LIST-a", "LIST-b", "LIST-c",
					   "LIST-d", "LIST-e"};
	struct enroll_filter f = {
	    .token_prefix = "LIST-", .limit = 2, .now = 1800000000};
	struct contract_page p;
	struct enrollment e;
	int had;

	for (int i = 0; i < 5; i++) {
		contract_binding(&e, i == 4 ? "XA" : "DEMO", toks[i], "dev",
				 CONTRACT_KEY_1);
		/* b and c share a time: the token id breaks the tie. */
		e.created_at = 1700000100 + (i >= 2 ? i - 1 : i) * 10;
		e.expires_at = i == 3 ? 1750000000 : 1900000000;
		assert_int_equal(dstore_enroll_put(ds, &e, NULL, &had), SA_OK);
		enrollment_free(&e);
	}
	assert_int_equal(dstore_enroll_revoke(ds, "LIST-a", 1700000500, "t"),
			 SA_OK);

	/* Pages of two: e, d | b, c | a. */
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.tok[0], "LIST-e");
	assert_string_equal(p.tok[1], "LIST-d");
	f.after_created = p.created[1];
	f.after_token = "LIST-d";
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.tok[0], "LIST-b");
	assert_string_equal(p.tok[1], "LIST-c");
	f.after_created = p.created[1];
	f.after_token = "LIST-c";
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.tok[0], "LIST-a");

	/* Filters. */
	memset(&f, 0, sizeof(f));
	f.token_prefix = "LIST-";
	f.limit = 10;
	f.now = 1800000000;
	f.authority = "XA";
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.tok[0], "LIST-e");
	f.authority = NULL;
	f.status = ENROLL_REVOKED;
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.tok[0], "LIST-a");
	f.status = ENROLL_EXPIRED;
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.tok[0], "LIST-d");
	f.status = ENROLL_ACTIVE;
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 3);
	f.status = ENROLL_ANY;
	f.since = 1700000110;
	f.until = 1700000120;
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.tok[0], "LIST-b");
	assert_string_equal(p.tok[1], "LIST-c");
	f.token_prefix = "LIST-c";
	f.since = f.until = 0;
	contract_list_page(ds, &f, &p);
	assert_int_equal(p.n, 1);
	/* Out of bounds: refused before the backend. */
	f.limit = 0;
	assert_int_equal(dstore_enroll_list(ds, &f, contract_page_row, &p),
			 SA_ERR_VALIDATION);
}

void
dstore_test_trust(void **state)
{
	struct dstore *ds = NULL;

	assert_int_equal(dstore_open(*state, &ds), SA_OK);
	contract_authorities(ds);
	contract_sequences(ds);
	contract_takeovers(ds);
	contract_enroll_list(ds);
	dstore_close(ds);
}
