/*
 * store_contract_admin.c - the durable contracts on administration
 * (store_contract.h): the relying-party rows and registry, and the admin
 * records with their guards, over two stores on one database.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "login/services.h"

#include "store_contract.h"

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
