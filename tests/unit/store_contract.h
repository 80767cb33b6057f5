/*
 * store_contract.h - the durable store's contract for the relying-party
 * registry, one suite included by the test of each backend and run against
 * it (a new backend includes it too).
 */
#ifndef SEALAUTH_STORE_CONTRACT_H
#define SEALAUTH_STORE_CONTRACT_H

#include <string.h>

#include "login/services.h"
#include "store/store.h"

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
		    char *why, size_t whylen)
{
	(void)svc;
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

#endif
