/*
 * store_contract.c - the storage contracts (store_contract.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "core/util.h"
#include "login/services.h"
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

struct contract_rows {
	int n;
	char ids[8][65];
	char settings[8][128];
	int enabled[8];
	int64_t created[8];
};

static int
contract_row(const struct service_row *row, void *arg)
{
	struct contract_rows *c = arg;

	if (c->n < 8) {
		snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", row->id);
		snprintf(c->settings[c->n], sizeof(c->settings[0]), "%s",
			 row->settings);
		c->enabled[c->n] = row->enabled;
		c->created[c->n] = row->created_at;
	}
	c->n++;
	return 0;
}

/*
 * contract_services checks the store's side: create refuses an existing
 * id, update a missing one, every write moves the version, reads come in
 * id order with the settings column as written.
 */
static void
contract_services(struct dstore *ds)
{
	struct service_row row = {
	    .id = "b-rp",
	    .name = "B",
	    .scopes = "[\"identity:name\"]",
	    .origins = "[]",
	    .match_mode = "compare",
	    .enabled = 1,
	    .settings = "{\"oidc\":{\"x\":1}}",
	    .created_at = 100,
	    .updated_at = 100,
	};
	struct contract_rows c;
	int64_t v0 = -1, v1 = -1, v = -1;

	assert_int_equal(dstore_services_version(ds, &v0), SA_OK);
	assert_int_equal(dstore_service_write(ds, &row, DSTORE_CREATE), SA_OK);
	assert_int_equal(dstore_services_version(ds, &v1), SA_OK);
	assert_true(v1 > v0);
	assert_int_equal(dstore_service_write(ds, &row, DSTORE_CREATE),
			 SA_ERR_CONFLICT);
	assert_int_equal(dstore_services_version(ds, &v), SA_OK);
	assert_int_equal(v, v1); /* a refused write moves nothing */
	row.id = "a-rp";
	assert_int_equal(dstore_service_write(ds, &row, DSTORE_UPDATE),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(dstore_service_write(ds, &row, DSTORE_UPSERT), SA_OK);
	/* An update keeps created_at. */
	row.enabled = 0;
	row.created_at = 999;
	row.updated_at = 200;
	row.settings = "{}";
	assert_int_equal(dstore_service_write(ds, &row, DSTORE_UPDATE), SA_OK);
	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_services_read(ds, &v, contract_row, &c), SA_OK);
	assert_true(v >= v1 + 2);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.ids[0], "a-rp");
	assert_int_equal(c.enabled[0], 0);
	assert_int_equal(c.created[0], 100);
	assert_string_equal(c.settings[0], "{}");
	assert_string_equal(c.ids[1], "b-rp");
	assert_string_equal(c.settings[1], "{\"oidc\":{\"x\":1}}");
	assert_int_equal(dstore_service_delete(ds, "a-rp"), SA_OK);
	assert_int_equal(dstore_service_delete(ds, "a-rp"), SA_ERR_NOT_FOUND);
	row.id = "";
	assert_int_equal(dstore_service_write(ds, &row, DSTORE_UPSERT),
			 SA_ERR_VALIDATION);
	memset(&c, 0, sizeof(c));
	assert_int_equal(dstore_services_read(ds, &v, contract_row, &c), SA_OK);
	assert_int_equal(c.n, 1);
}

static enum sa_err
contract_oidc_check(const json_t *settings, const struct service *svc,
		    const struct services *current, char *why, size_t whylen)
{
	(void)svc;
	(void)current;
	if (json_object_get(settings, "redirectUris") == NULL) {
		snprintf(why, whylen, "redirectUris: is required");
		return SA_ERR_VALIDATION;
	}
	return SA_OK;
}

/*
 * contract_registry checks the registry over the store: two registries on
 * one database (two servers) see each other's writes after a refresh, a
 * checker refuses bad settings naming the field, snapshots held across a
 * change stay as they were, and a disabled service is not found for logins.
 */
static void
contract_registry(struct dstore *ds1, struct dstore *ds2)
{
	struct service_registry *a = NULL, *b = NULL;
	struct services *old, *now;
	char field[64], why[256];
	int changed = 0;
	json_t *doc;

	assert_int_equal(services_open(ds1, &a), SA_OK);
	assert_int_equal(services_open(ds2, &b), SA_OK);
	assert_int_equal(services_set_checker(a, "oidc", contract_oidc_check),
			 SA_OK);
	assert_int_equal(services_set_checker(a, "oidc", contract_oidc_check),
			 SA_ERR_CONFIG);
	assert_int_equal(services_set_checker(a, "nope", contract_oidc_check),
			 SA_ERR_CONFIG);
	assert_int_equal(
	    services_seed(a, NULL, "http://127.0.0.1:1", why, sizeof(why)),
	    SA_OK);
	assert_int_equal(services_refresh(b, &changed), SA_OK);
	assert_true(changed);
	old = services_get(b);
	doc = json_pack("{s:s, s:s, s:[s], s:[s], s:{s:i}}", "serviceId",
			"shop", "name", "Shop", "scopes", "identity:name",
			"origins", "https://shop.example", "oidc", "x", 1);
	assert_int_equal(
	    services_create(a, doc, 0, field, sizeof(field), why, sizeof(why)),
	    SA_ERR_VALIDATION);
	assert_string_equal(field, "oidc");
	assert_non_null(strstr(why, "redirectUris"));
	json_object_set_new(
	    doc, "oidc",
	    json_pack("{s:[s]}", "redirectUris", "https://shop.example/cb"));
	assert_int_equal(
	    services_create(a, doc, 0, field, sizeof(field), why, sizeof(why)),
	    SA_OK);
	assert_int_equal(
	    services_create(a, doc, 0, field, sizeof(field), why, sizeof(why)),
	    SA_ERR_CONFLICT);
	/* An unknown scope is refused naming the field. */
	json_object_set_new(doc, "scopes", json_pack("[s]", "identity:nope"));
	assert_int_equal(
	    services_replace(a, doc, 0, field, sizeof(field), why, sizeof(why)),
	    SA_ERR_VALIDATION);
	assert_string_equal(field, "scopes[0]");
	json_decref(doc);

	assert_int_equal(services_refresh(b, &changed), SA_OK);
	assert_true(changed);
	now = services_get(b);
	assert_non_null(services_find(now, "shop"));
	assert_non_null(services_find(now, "demo"));
	assert_non_null(services_find(old, "demo"));
	assert_null(services_find(old, "shop")); /* the old one is unchanged */
	services_put(old);
	services_put(now);

	/* Disabled: listed for the admin, not found for a login. */
	doc =
	    json_pack("{s:s, s:s, s:[s], s:b, s:{s:[s]}}", "serviceId", "shop",
		      "name", "Shop", "scopes", "identity:name", "enabled", 0,
		      "oidc", "redirectUris", "https://shop.example/cb");
	assert_int_equal(
	    services_replace(a, doc, 0, field, sizeof(field), why, sizeof(why)),
	    SA_OK);
	json_decref(doc);
	now = services_get(a);
	assert_null(services_find(now, "shop"));
	assert_non_null(services_find_any(now, "shop"));
	assert_non_null(services_find_any(now, "shop")->oidc);
	services_put(now);
	assert_int_equal(services_remove(a, "shop"), SA_OK);
	assert_int_equal(services_remove(a, "shop"), SA_ERR_NOT_FOUND);
	assert_int_equal(services_refresh(b, &changed), SA_OK);
	now = services_get(b);
	assert_null(services_find_any(now, "shop"));
	assert_int_equal(services_count(now), 1);
	services_put(now);
	services_close(a);
	services_close(b);
}

/* ---- Ephemeral store ---- */

void
inbox_init(struct inbox *in)
{
	memset(in, 0, sizeof(*in));
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cv, NULL);
}

void
inbox_destroy(struct inbox *in)
{
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cv);
}

void
on_msg(const char *channel, const void *msg, size_t n, void *arg)
{
	struct inbox *in = arg;

	pthread_mutex_lock(&in->mu);
	in->n++;
	snprintf(in->last, sizeof(in->last), "%.*s", (int)n, (const char *)msg);
	snprintf(in->channel, sizeof(in->channel), "%s", channel);
	in->thread = pthread_self();
	pthread_cond_broadcast(&in->cv);
	pthread_mutex_unlock(&in->mu);
}

/* inbox_wait waits up to ms for the inbox to hold at least n messages and
 * returns how many it holds. */
int
inbox_wait(struct inbox *in, int n, unsigned ms)
{
	uint64_t until = now_mono_ms() + ms;
	int got;

	pthread_mutex_lock(&in->mu);
	while (in->n < n && now_mono_ms() < until) {
		pthread_mutex_unlock(&in->mu);
		sleep_ms(5);
		pthread_mutex_lock(&in->mu);
	}
	got = in->n;
	pthread_mutex_unlock(&in->mu);
	return got;
}

void
estore_contract_ttl(struct estore *es)
{
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t ttl = 0;

	assert_int_equal(estore_ping(es), SA_OK);
	assert_int_equal(estore_set(es, "sess:1", "hello", 5, 80, 0), SA_OK);
	assert_int_equal(estore_set(es, "keep", "k", 1, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "sess:1", &v, &n, &ttl), SA_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(v, "hello", 6); /* NUL-terminated copy */
	assert_true(ttl > 0 && ttl <= 80);
	free(v);
	v = NULL;
	assert_int_equal(estore_get(es, "keep", &v, &n, &ttl), SA_OK);
	assert_int_equal(ttl, -1);
	free(v);
	v = NULL;
	assert_int_equal(estore_count(es), 2);

	/* Binary values come back byte for byte. */
	assert_int_equal(estore_set(es, "bin", "a\0b\r\n", 5, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "bin", &v, &n, NULL), SA_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(v, "a\0b\r\n", 6);
	free(v);
	v = NULL;
	assert_int_equal(estore_set(es, "empty", NULL, 0, 0, 0), SA_OK);
	assert_int_equal(estore_get(es, "empty", &v, &n, NULL), SA_OK);
	assert_int_equal(n, 0);
	assert_int_equal(v[0], '\0');
	free(v);
	v = NULL;

	sleep_ms(150);
	assert_int_equal(estore_get(es, "sess:1", &v, &n, NULL),
			 SA_ERR_NOT_FOUND);
	assert_null(v);
	assert_int_equal(estore_count(es), 3); /* keep, bin, empty */
}

void
estore_contract_nx_xx(struct estore *es)
{
	unsigned char *v = NULL;
	size_t n = 0;
	int64_t ttl = 0;

	assert_int_equal(estore_set(es, "k", "b", 1, 0, ESTORE_XX),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(estore_count(es), 0);
	assert_int_equal(estore_set(es, "k", "a", 1, 0, ESTORE_NX), SA_OK);
	assert_int_equal(estore_set(es, "k", "c", 1, 0, ESTORE_NX),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_get(es, "k", &v, &n, NULL), SA_OK);
	assert_string_equal((char *)v, "a");
	free(v);
	assert_int_equal(estore_set(es, "k", "dd", 2, 5000, ESTORE_XX), SA_OK);
	assert_int_equal(estore_get(es, "k", &v, &n, &ttl), SA_OK);
	assert_string_equal((char *)v, "dd");
	assert_true(ttl > 4000 && ttl <= 5000);
	free(v);
	assert_int_equal(estore_set(es, "k", "e", 1, 0, ESTORE_NX | ESTORE_XX),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_set(es, "k", "e", 1, 0, 8), SA_ERR_VALIDATION);

	/* NX succeeds again once the key expired. */
	assert_int_equal(estore_set(es, "t", "1", 1, 20, 0), SA_OK);
	sleep_ms(50);
	assert_int_equal(estore_set(es, "t", "2", 1, 0, ESTORE_NX), SA_OK);
}

void
estore_contract_incr(struct estore *es)
{
	int64_t count = 0, ttl = 0, first_ttl = 0;
	unsigned char *v = NULL;

	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &first_ttl),
			 SA_OK);
	assert_int_equal(count, 1);
	assert_true(first_ttl > 0 && first_ttl <= 200);
	sleep_ms(60);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &ttl), SA_OK);
	assert_int_equal(count, 2);
	/* A later hit does not extend the window. */
	assert_true(ttl <= first_ttl - 50);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, NULL), SA_OK);
	assert_int_equal(count, 3);
	assert_int_equal(estore_get(es, "rl:ip", &v, NULL, NULL), SA_OK);
	assert_string_equal((char *)v, "3");
	free(v);

	sleep_ms(200);
	assert_int_equal(estore_incr(es, "rl:ip", 200, &count, &ttl), SA_OK);
	assert_int_equal(count, 1);
	assert_true(ttl > 100);

	/* Without a window the counter does not expire. */
	assert_int_equal(estore_incr(es, "forever", 0, &count, &ttl), SA_OK);
	assert_int_equal(count, 1);
	assert_int_equal(ttl, -1);

	/* A non-counter is not incremented. */
	assert_int_equal(estore_set(es, "s", "abc", 3, 0, 0), SA_OK);
	assert_int_equal(estore_incr(es, "s", 1000, &count, &ttl),
			 SA_ERR_CONFLICT);
	assert_int_equal(estore_set(es, "max", "9223372036854775807", 19, 0, 0),
			 SA_OK);
	assert_int_equal(estore_incr(es, "max", 1000, &count, &ttl),
			 SA_ERR_CONFLICT);
}

struct del_race {
	struct estore *es;
	pthread_barrier_t *bar;
	int rounds;
	int wins;
};

static void *
del_racer(void *arg)
{
	struct del_race *r = arg;

	for (int i = 0; i < r->rounds; i++) {
		int existed = -1;

		pthread_barrier_wait(r->bar); /* the key is set */
		/* cmocka asserts only work on the test's own thread. */
		if (estore_del(r->es, "race", &existed) != SA_OK)
			existed = 100;
		r->wins += existed;
		pthread_barrier_wait(r->bar); /* both deleted */
	}
	return NULL;
}

void
estore_contract_del_race(struct estore *es, int rounds)
{
	pthread_barrier_t bar;
	struct del_race r[2];
	pthread_t t[2];

	pthread_barrier_init(&bar, NULL, 3);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct del_race){es, &bar, rounds, 0};
		pthread_create(&t[i], NULL, del_racer, &r[i]);
	}
	for (int i = 0; i < rounds; i++) {
		assert_int_equal(estore_set(es, "race", "v", 1, 0, 0), SA_OK);
		pthread_barrier_wait(&bar);
		pthread_barrier_wait(&bar);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	assert_int_equal(r[0].wins + r[1].wins, rounds);
	assert_int_equal(estore_count(es), 0);
}

static int
contract_stop_after_one(const char *member, int64_t expires, void *arg)
{
	struct index_seen_count {
		int n;
	} *c = arg;

	(void)member;
	(void)expires;
	assert_int_equal(++c->n, 1);
	return 1;
}

struct index_seen {
	int n;
	char member[8][ESTORE_MEMBER_MAX + 1];
	int64_t expires[8];
};

static int
index_seen_cb(const char *member, int64_t expires, void *arg)
{
	struct index_seen *s = arg;

	if (s->n < 8) {
		snprintf(s->member[s->n], sizeof(s->member[s->n]), "%s",
			 member);
		s->expires[s->n] = expires;
	}
	s->n++;
	return 0;
}

/* index_page reads a page into a "a,b,c" list of its members. */
static void
index_page(struct estore *es, const char *index, int64_t now,
	   int64_t after_expires, const char *after, int limit, char *out,
	   size_t cap)
{
	struct index_seen s = {0};

	assert_int_equal(estore_index_page(es, index, now, after_expires, after,
					   limit, index_seen_cb, &s),
			 SA_OK);
	out[0] = '\0';
	for (int i = 0; i < s.n && i < 8; i++)
		snprintf(out + strlen(out), cap - strlen(out), "%s%s",
			 i ? "," : "", s.member[i]);
}

void
estore_contract_index(struct estore *es)
{
	const int64_t now = 1700000000;
	char got[256], m[16];
	struct index_seen s = {0};

	assert_int_equal(estore_index_add(es, "ix", "b", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "a", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "c", now + 200, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "old", now + 10, now),
			 SA_OK);
	/* Expired when added: never listed. Added twice: listed once. */
	assert_int_equal(estore_index_add(es, "ix", "x", now, now), SA_OK);
	assert_int_equal(estore_index_add(es, "ix", "b", now + 100, now),
			 SA_OK);
	assert_int_equal(estore_index_add(es, "other", "z", now + 300, now),
			 SA_OK);
	/* Latest expiry first, one expiry in byte order; the expiry comes
	 * back as it went in. */
	assert_int_equal(
	    estore_index_page(es, "ix", now, 0, NULL, 10, index_seen_cb, &s),
	    SA_OK);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.member[0], "c");
	assert_int_equal(s.expires[0], now + 200);
	assert_int_equal(s.expires[3], now + 10);
	index_page(es, "ix", now, 0, "", 10, got, sizeof(got));
	assert_string_equal(got, "c,a,b,old");
	/* Pages continue after a cursor, even one whose entry went. */
	index_page(es, "ix", now, 0, NULL, 2, got, sizeof(got));
	assert_string_equal(got, "c,a");
	index_page(es, "ix", now, now + 100, "a", 2, got, sizeof(got));
	assert_string_equal(got, "b,old");
	index_page(es, "ix", now, now + 10, "old", 2, got, sizeof(got));
	assert_string_equal(got, "");
	assert_int_equal(estore_index_del(es, "ix", "a", now + 100), SA_OK);
	assert_int_equal(estore_index_del(es, "ix", "a", now + 100), SA_OK);
	/* Another expiry names another entry. */
	assert_int_equal(estore_index_del(es, "ix", "b", now + 99), SA_OK);
	index_page(es, "ix", now, now + 100, "a", 5, got, sizeof(got));
	assert_string_equal(got, "b,old");
	index_page(es, "other", now, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "z");
	index_page(es, "none", now, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "");
	/* Time passes: what expired is not listed, and is gone for good
	 * (removed, not hidden: the earlier clock no longer sees it). */
	index_page(es, "ix", now + 100, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "c");
	index_page(es, "ix", now, 0, NULL, 5, got, sizeof(got));
	assert_string_equal(got, "c");
	/* A callback's non-zero answer stops the page. */
	assert_int_equal(estore_index_add(es, "ix", "d", now + 200, now),
			 SA_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(estore_index_page(es, "ix", now, 0, NULL, 5,
					   contract_stop_after_one, &s),
			 SA_OK);
	/* Refused before the backend sees anything. */
	assert_int_equal(estore_index_add(es, "ix", "has space", now + 5, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_add(es, "ix", "", now + 5, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_add(es, "ix", "y", 0, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_add(es, "", "y", now + 5, now),
			 SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_index_add(es, "ix", "y", ESTORE_EXPIRY_MAX + 1, now),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    estore_index_page(es, "ix", now, 0, NULL, 0, index_seen_cb, &s),
	    SA_ERR_VALIDATION);
	assert_int_equal(estore_index_page(es, "ix", now, 0, NULL,
					   ESTORE_PAGE_MAX + 1, index_seen_cb,
					   &s),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_index_page(es, "ix", now, 0, "bad cursor", 5,
					   index_seen_cb, &s),
			 SA_ERR_VALIDATION);
	/* Bounded: beyond ESTORE_INDEX_MAX entries the soonest expiring
	 * goes (m000000), so nothing comes after m000001 any more. */
	for (int i = 0; i < ESTORE_INDEX_MAX; i++) {
		snprintf(m, sizeof(m), "m%06d", i);
		assert_int_equal(
		    estore_index_add(es, "big", m, now + 1000 + i, now), SA_OK);
	}
	index_page(es, "big", now, now + 1001, "m000001", 5, got, sizeof(got));
	assert_string_equal(got, "m000000");
	assert_int_equal(
	    estore_index_add(es, "big", "last", now + 5000000, now), SA_OK);
	index_page(es, "big", now, now + 1001, "m000001", 5, got, sizeof(got));
	assert_string_equal(got, "");
	index_page(es, "big", now, 0, NULL, 2, got, sizeof(got));
	assert_string_equal(got, "last,m099999");
}

void
estore_contract_bounds(struct estore *es)
{
	char key[ESTORE_KEY_MAX + 2];
	unsigned char *val = calloc(ESTORE_VALUE_MAX + 1, 1), *v = NULL;
	size_t n = 0;
	int existed = 1;
	int64_t count = 0;

	assert_non_null(val);
	memset(key, 'k', sizeof(key));
	key[ESTORE_KEY_MAX + 1] = '\0'; /* one over */
	assert_int_equal(estore_set(es, key, "v", 1, 0, 0), SA_ERR_VALIDATION);
	assert_int_equal(estore_get(es, key, &v, &n, NULL), SA_ERR_VALIDATION);
	assert_int_equal(estore_del(es, key, &existed), SA_ERR_VALIDATION);
	assert_int_equal(estore_incr(es, key, 0, &count, NULL),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_count(es), 0); /* nothing reached Redis */
	key[ESTORE_KEY_MAX] = '\0';	       /* exactly the maximum */
	assert_int_equal(estore_set(es, key, "v", 1, 0, 0), SA_OK);
	assert_int_equal(estore_set(es, "", "v", 1, 0, 0), SA_ERR_VALIDATION);
	assert_int_equal(estore_set(es, NULL, "v", 1, 0, 0), SA_ERR_VALIDATION);

	assert_int_equal(estore_set(es, "big", val, ESTORE_VALUE_MAX + 1, 0, 0),
			 SA_ERR_VALIDATION);
	assert_int_equal(estore_count(es), 1);
	val[ESTORE_VALUE_MAX - 1] = 'z';
	assert_int_equal(estore_set(es, "big", val, ESTORE_VALUE_MAX, 0, 0),
			 SA_OK);
	assert_int_equal(estore_get(es, "big", &v, &n, NULL), SA_OK);
	assert_int_equal(n, ESTORE_VALUE_MAX);
	assert_int_equal(v[ESTORE_VALUE_MAX - 1], 'z');
	assert_int_equal(v[ESTORE_VALUE_MAX], '\0');
	free(v);
	assert_int_equal(estore_count(es), 2);
	assert_int_equal(estore_publish(es, key, val, ESTORE_VALUE_MAX + 1),
			 SA_ERR_VALIDATION);
	free(val);
}

void
estore_contract_pubsub(struct estore *es)
{
	struct inbox a, b, other;

	inbox_init(&a);
	inbox_init(&b);
	inbox_init(&other);
	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &a),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:abc", on_msg, &b),
			 SA_OK);
	assert_int_equal(estore_subscribe(es, "session:xyz", on_msg, &other),
			 SA_OK);
	/* Subscribed when subscribe returned: the first publish arrives. */
	assert_int_equal(estore_publish(es, "session:abc", "approved", 8),
			 SA_OK);
	assert_int_equal(inbox_wait(&a, 1, 5000), 1);
	assert_int_equal(inbox_wait(&b, 1, 5000), 1);
	assert_string_equal(a.last, "approved");
	assert_string_equal(b.last, "approved");
	assert_string_equal(a.channel, "session:abc");
	/* Delivered in order: once the second message is in, the one to a
	 * channel nobody listens to would have been too. */
	assert_int_equal(estore_publish(es, "session:none", "x", 1), SA_OK);
	assert_int_equal(estore_publish(es, "session:abc", "again", 5), SA_OK);
	assert_int_equal(inbox_wait(&a, 2, 5000), 2);
	assert_int_equal(inbox_wait(&b, 2, 5000), 2);
	assert_string_equal(b.last, "again");
	assert_int_equal(other.n, 0);
	assert_int_equal(estore_subscribe(es, "c", NULL, &a),
			 SA_ERR_VALIDATION);
	inbox_destroy(&a);
	inbox_destroy(&b);
	inbox_destroy(&other);
}

#define SMOKE_THREADS 8

struct smoke {
	struct estore *es;
	int ops;
	int id;
	int failures;
};

static void *
smoke_worker(void *arg)
{
	struct smoke *s = arg;
	char key[48], val[48];

	for (int i = 0; i < s->ops; i++) {
		int64_t count;
		unsigned char *v = NULL;
		size_t n = 0;
		int existed;

		snprintf(key, sizeof(key), "t%d:%d", s->id, i % 64);
		snprintf(val, sizeof(val), "%d-%d", s->id, i);
		if (estore_set(s->es, key, val, strlen(val), 60000, 0) != SA_OK)
			s->failures++;
		if (estore_get(s->es, key, &v, &n, NULL) != SA_OK ||
		    strcmp((char *)v, val) != 0)
			s->failures++;
		free(v);
		if (estore_incr(s->es, "shared", 0, &count, NULL) != SA_OK ||
		    count < 1)
			s->failures++;
		if (i % 3 == 0 &&
		    (estore_del(s->es, key, &existed) != SA_OK || existed != 1))
			s->failures++;
	}
	return NULL;
}

void
estore_contract_concurrency(struct estore *es, int ops)
{
	struct smoke s[SMOKE_THREADS];
	pthread_t t[SMOKE_THREADS];
	unsigned char *v = NULL;

	for (int i = 0; i < SMOKE_THREADS; i++) {
		s[i] = (struct smoke){es, ops, i, 0};
		pthread_create(&t[i], NULL, smoke_worker, &s[i]);
	}
	for (int i = 0; i < SMOKE_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(s[i].failures, 0);
	}
	/* No increment was lost. */
	assert_int_equal(estore_get(es, "shared", &v, NULL, NULL), SA_OK);
	assert_int_equal(atoll((char *)v), SMOKE_THREADS * ops);
	free(v);
	/* Keys t<id>:<i%64>: the last write of each slot happened at
	 * the last 64 values of i, and those with i % 3 == 0 were deleted. */
	size_t live = 0;
	for (int i = ops - 64; i < ops; i++)
		live += i % 3 != 0;
	assert_int_equal(estore_count(es), SMOKE_THREADS * live + 1);
}

static int
contract_rec_count(const struct dstore_rec *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

struct contract_race {
	struct dstore *ds;
	const char *id;
	enum sa_err rc;
};

/* contract_revoke deletes one passkey of "adm" unless it is the last. */
static void *
contract_revoke(void *arg)
{
	struct contract_race *r = arg;
	const struct dstore_rec_op ops[] = {
	    {.op = REC_DELETE, .kind = "pk", .id = r->id, .owner = "adm"},
	    {.op = REC_REQUIRE_SOME,
	     .kind = "pk",
	     .owner = "adm",
	     .fail = SA_ERR_LAST_PASSKEY},
	};

	r->rc = dstore_rec_write(r->ds, ops, 2);
	return NULL;
}

/*
 * contract_records_match checks the guards that name a record by id and
 * REC_DELETE_MATCH: the sessions a passkey signed in go with it, in the
 * passkey's own transaction, and no others (another passkey's, another
 * owner's, a member that is not a string, a doc without the member).
 */
static void
contract_records_match(struct dstore *ds1, struct dstore *ds2, const char *kept)
{
	int64_t ended = -1, untouched = 42;
	struct dstore_rec r;
	int n = 0;
	const struct dstore_rec_op sessions[] = {
	    {.op = REC_CREATE,
	     .kind = "sess",
	     .id = "s1",
	     .owner = "adm",
	     .doc = "{\"pk\":\"k3\",\"n\":1}"},
	    {.op = REC_CREATE,
	     .kind = "sess",
	     .id = "s2",
	     .owner = "adm",
	     .doc = "{\"n\":2,\"pk\":\"k3\"}"},
	    {.op = REC_CREATE,
	     .kind = "sess",
	     .id = "s3",
	     .owner = "adm",
	     .doc = "{\"pk\":\"other\"}"},
	    {.op = REC_CREATE,
	     .kind = "sess",
	     .id = "s4",
	     .owner = "adm2",
	     .doc = "{\"pk\":\"k3\"}"},
	    {.op = REC_CREATE,
	     .kind = "sess",
	     .id = "s5",
	     .owner = "adm",
	     .doc = "{\"pk\":3}"},
	    {.op = REC_CREATE,
	     .kind = "sess",
	     .id = "s6",
	     .owner = "adm",
	     .doc = "{}"},
	    {.op = REC_CREATE,
	     .kind = "pk",
	     .id = "k3",
	     .owner = "adm",
	     .doc = "{}"},
	};
	/* A guard naming a record by id: only that record counts. */
	const struct dstore_rec_op need_k3[] = {
	    {.op = REC_REQUIRE_SOME, .kind = "pk", .id = "k3", .owner = "adm"},
	};
	const struct dstore_rec_op none_k3[] = {
	    {.op = REC_REQUIRE_NONE, .kind = "pk", .id = "k3"},
	};
	const struct dstore_rec_op need_kept[] = {
	    {.op = REC_REQUIRE_SOME, .kind = "pk", .id = kept, .owner = "adm"},
	    {.op = REC_REQUIRE_NONE, .kind = "pk", .id = "nope"},
	};
	const struct dstore_rec_op revoke[] = {
	    {.op = REC_DELETE, .kind = "pk", .id = "k3", .owner = "adm"},
	    {.op = REC_DELETE_MATCH,
	     .kind = "sess",
	     .owner = "adm",
	     .member = "pk",
	     .doc = "k3",
	     .affected = &ended},
	    {.op = REC_REQUIRE_SOME,
	     .kind = "pk",
	     .owner = "adm",
	     .affected = &untouched},
	};
	const struct dstore_rec_op bad_member[] = {
	    {.op = REC_DELETE_MATCH,
	     .kind = "sess",
	     .member = "pk') OR 1=1 --",
	     .doc = "k3"},
	};
	const struct dstore_rec_op no_value[] = {
	    {.op = REC_DELETE_MATCH, .kind = "sess", .member = "pk"},
	};

	assert_int_equal(dstore_rec_write(ds1, need_k3, 1), SA_ERR_CONFLICT);
	assert_int_equal(dstore_rec_write(ds1, need_kept, 2), SA_OK);
	assert_int_equal(dstore_rec_write(ds1, sessions, 7), SA_OK);
	assert_int_equal(dstore_rec_write(ds2, need_k3, 1), SA_OK);
	assert_int_equal(dstore_rec_write(ds2, none_k3, 1), SA_ERR_CONFLICT);
	assert_int_equal(dstore_rec_write(ds1, bad_member, 1),
			 SA_ERR_VALIDATION);
	assert_int_equal(dstore_rec_write(ds1, no_value, 1), SA_ERR_VALIDATION);
	assert_int_equal(dstore_rec_write(ds2, revoke, 3), SA_OK);
	assert_int_equal(ended, 2);
	assert_int_equal(untouched, 42);
	assert_int_equal(dstore_rec_get(ds1, "sess", "s1", &r),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(dstore_rec_get(ds1, "sess", "s2", &r),
			 SA_ERR_NOT_FOUND);
	assert_int_equal(
	    dstore_rec_list(ds1, "sess", NULL, contract_rec_count, &n), SA_OK);
	assert_int_equal(n, 4); /* s3, s4, s5, s6 */
	/* Nothing matches any more: a second run removes nothing. */
	assert_int_equal(dstore_rec_write(ds1, revoke + 1, 1), SA_OK);
	assert_int_equal(ended, 0);
}

/*
 * contract_remove_admin removes one admin of kind "ad" with the records it
 * owns, unless no admin would be left: a guard over every owner (NULL).
 */
static void *
contract_remove_admin(void *arg)
{
	struct contract_race *r = arg;
	const struct dstore_rec_op ops[] = {
	    {.op = REC_DELETE, .kind = "ad", .id = r->id},
	    {.op = REC_DELETE_OWNED, .kind = "adpk", .owner = r->id},
	    {.op = REC_REQUIRE_SOME, .kind = "ad", .fail = SA_ERR_LAST_ADMIN},
	};

	r->rc = dstore_rec_write(r->ds, ops, 3);
	return NULL;
}

/*
 * contract_last_admin checks a guard without an owner (any record of the
 * kind counts): two handles racing to remove the only two admins, each
 * with its passkey; exactly one wins, the other is refused and keeps its
 * passkey, and the last admin is refused on its own too.
 */
static void
contract_last_admin(struct dstore *ds1, struct dstore *ds2)
{
	const struct dstore_rec_op create[] = {
	    {.op = REC_CREATE, .kind = "ad", .id = "a1", .doc = "{}"},
	    {.op = REC_CREATE, .kind = "ad", .id = "a2", .doc = "{}"},
	    {.op = REC_CREATE,
	     .kind = "adpk",
	     .id = "p1",
	     .owner = "a1",
	     .doc = "{}"},
	    {.op = REC_CREATE,
	     .kind = "adpk",
	     .id = "p2",
	     .owner = "a2",
	     .doc = "{}"},
	};
	struct contract_race a = {.ds = ds1, .id = "a1"},
			     b = {.ds = ds2, .id = "a2"};
	struct contract_race *left;
	pthread_t ta, tb;
	int n = 0;

	assert_int_equal(dstore_rec_write(ds1, create, 4), SA_OK);
	assert_int_equal(pthread_create(&ta, NULL, contract_remove_admin, &a),
			 0);
	assert_int_equal(pthread_create(&tb, NULL, contract_remove_admin, &b),
			 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_true((a.rc == SA_OK && b.rc == SA_ERR_LAST_ADMIN) ||
		    (b.rc == SA_OK && a.rc == SA_ERR_LAST_ADMIN));
	left = a.rc == SA_OK ? &b : &a;
	assert_int_equal(
	    dstore_rec_list(ds1, "ad", NULL, contract_rec_count, &n), SA_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(
	    dstore_rec_list(ds2, "adpk", left->id, contract_rec_count, &n),
	    SA_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(
	    dstore_rec_list(ds2, "adpk", NULL, contract_rec_count, &n), SA_OK);
	assert_int_equal(n, 1);
	/* Alone, the last one is refused and nothing goes. */
	left->ds = ds1;
	contract_remove_admin(left);
	assert_int_equal(left->rc, SA_ERR_LAST_ADMIN);
	n = 0;
	assert_int_equal(
	    dstore_rec_list(ds1, "adpk", NULL, contract_rec_count, &n), SA_OK);
	assert_int_equal(n, 1);
}

/*
 * contract_records checks the administration records: create, versioned
 * update, guards, a failed operation rolling back the ones before it, and
 * two handles (two servers) racing to delete the last two passkeys of one
 * owner: exactly one wins, the other gets the guard's error.
 */
static void
contract_records(struct dstore *ds1, struct dstore *ds2)
{
	struct dstore_rec r;
	int n = 0;
	const struct dstore_rec_op create[] = {
	    {.op = REC_REQUIRE_NONE, .kind = "adm"},
	    {.op = REC_CREATE, .kind = "adm", .id = "adm", .doc = "{}"},
	    {.op = REC_CREATE,
	     .kind = "pk",
	     .id = "k1",
	     .owner = "adm",
	     .doc = "{\"n\":1}"},
	    {.op = REC_CREATE,
	     .kind = "pk",
	     .id = "k2",
	     .owner = "adm",
	     .doc = "{\"n\":2}"},
	};
	const struct dstore_rec_op update[] = {
	    {.op = REC_UPDATE,
	     .kind = "pk",
	     .id = "k1",
	     .owner = "adm",
	     .doc = "{\"n\":3}",
	     .version = 1},
	};
	const struct dstore_rec_op half[] = {
	    {.op = REC_DELETE, .kind = "pk", .id = "k1"},
	    {.op = REC_CREATE, .kind = "adm", .id = "adm", .doc = "{}"},
	};
	struct contract_race a = {.ds = ds1, .id = "k1"},
			     b = {.ds = ds2, .id = "k2"};
	pthread_t ta, tb;

	assert_int_equal(dstore_rec_write(ds1, create, 4), SA_OK);
	/* The install window closes: a second first admin is refused. */
	assert_int_equal(dstore_rec_write(ds2, create, 4), SA_ERR_CONFLICT);
	assert_int_equal(dstore_rec_write(ds1, update, 1), SA_OK);
	assert_int_equal(dstore_rec_write(ds2, update, 1), SA_ERR_CONFLICT);
	assert_int_equal(dstore_rec_get(ds2, "pk", "k1", &r), SA_OK);
	assert_string_equal(r.doc, "{\"n\":3}");
	assert_string_equal(r.owner, "adm");
	assert_int_equal(r.version, 2);
	dstore_rec_free(&r);
	assert_int_equal(dstore_rec_get(ds2, "pk", "nope", &r),
			 SA_ERR_NOT_FOUND);
	/* The second operation fails: the delete before it is undone. */
	assert_int_equal(dstore_rec_write(ds1, half, 2), SA_ERR_CONFLICT);
	assert_int_equal(
	    dstore_rec_list(ds2, "pk", "adm", contract_rec_count, &n), SA_OK);
	assert_int_equal(n, 2);

	assert_int_equal(pthread_create(&ta, NULL, contract_revoke, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, contract_revoke, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_true((a.rc == SA_OK && b.rc == SA_ERR_LAST_PASSKEY) ||
		    (b.rc == SA_OK && a.rc == SA_ERR_LAST_PASSKEY));
	n = 0;
	assert_int_equal(
	    dstore_rec_list(ds1, "pk", NULL, contract_rec_count, &n), SA_OK);
	assert_int_equal(n, 1);
	contract_records_match(ds1, ds2, a.rc == SA_OK ? "k2" : "k1");
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

/* ---- The durable contracts as cmocka tests ---- */

void
dstore_test_failed_append(void **state)
{
	dstore_contract_failed_append(*state);
}

void
dstore_test_admin(void **state)
{
	const char *url = *state;
	struct dstore *ds = NULL, *ds2 = NULL;

	assert_int_equal(dstore_open(url, &ds), SA_OK);
	contract_services(ds);
	assert_int_equal(dstore_service_delete(ds, "b-rp"), SA_OK);
	assert_int_equal(dstore_open(url, &ds2), SA_OK);
	contract_registry(ds, ds2);
	contract_records(ds, ds2);
	contract_last_admin(ds, ds2);
	dstore_close(ds2);
	dstore_close(ds);
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
