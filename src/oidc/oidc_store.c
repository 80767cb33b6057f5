/*
 * oidc_store.c - the records of the OpenID Provider in the ephemeral
 * store. Codes and tokens are 32 random bytes; the store keeps each under
 * the SHA-256 of its text ("oidc:code:HEX", "oidc:at:HEX", "oidc:rt:HEX"),
 * so a reader of the store cannot present one. Every token names a grant
 * ("oidc:grant:ID"); deleting the grant revokes them all. The grants made
 * under a provider session are listed under "oidc:sidg:SID" for logout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "oidc/oidc_int.h"
#include "app/app.h"
#include "core/schema.h"
#include "core/util.h"

#define RECORD_MAX 16384
#define SID_GRANTS_MAX 64

void
oidc_grant_clear(struct oidc_grant *g)
{
	if (g == NULL)
		return;
	json_decref(g->granted);
	json_decref(g->amr);
	memset(g, 0, sizeof(*g));
}

void
oidc_token_key(const char *prefix, const char *tok, char key[ESTORE_KEY_MAX])
{
	unsigned char d[32];
	char *hex;

	sha256(tok, strlen(tok), d);
	hex = hex_encode(d, sizeof(d));
	snprintf(key, ESTORE_KEY_MAX, "oidc:%s:%s", prefix, hex ? hex : "");
	free(hex);
}

enum sa_err
oidc_token_new(const char *prefix, char tok[OIDC_TOKEN_LEN + 1],
	       char key[ESTORE_KEY_MAX])
{
	unsigned char r[32];
	char *e;

	if (rand_bytes(r, sizeof(r)) != SA_OK)
		return SA_ERR_INTERNAL;
	e = b64url_encode(r, sizeof(r));
	OPENSSL_cleanse(r, sizeof(r));
	if (e == NULL)
		return SA_ERR_NOMEM;
	snprintf(tok, OIDC_TOKEN_LEN + 1, "%s", e);
	OPENSSL_cleanse(e, strlen(e));
	free(e);
	oidc_token_key(prefix, tok, key);
	return SA_OK;
}

enum sa_err
oidc_put_json(struct app *app, const char *key, const json_t *rec,
	      int64_t ttl_s, int flags)
{
	return estore_set_json(app->es, key, rec, RECORD_MAX,
			       (uint64_t)(ttl_s > 0 ? ttl_s : 1) * 1000u,
			       flags);
}

enum sa_err
oidc_get_json(struct app *app, const char *key, json_t **out)
{
	return estore_get_json(app->es, key, out);
}

/* sid_list adds a grant to its provider session's list. The list is
 * rewritten whole; two logins of one session racing may lose an entry,
 * whose tokens then outlive a logout only until they expire. */
static void
sid_list(struct app *app, const char *sid, const char *gid)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL, *list;

	if (sid[0] == '\0')
		return;
	snprintf(key, sizeof(key), "oidc:sidg:%s", sid);
	if (oidc_get_json(app, key, &rec) != SA_OK)
		rec = json_pack("{s:[]}", "grants");
	list = json_object_get(rec, "grants");
	if (!json_is_array(list))
		goto out;
	while (json_array_size(list) >= SID_GRANTS_MAX)
		json_array_remove(list, 0);
	json_array_append_new(list, json_string(gid));
	oidc_put_json(app, key, rec, app->cfg.sso_ttl, 0);
out:
	json_decref(rec);
}

enum sa_err
oidc_grant_save(struct app *app, struct oidc_grant *g, int fresh, int64_t ttl_s)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec;
	enum sa_err rc;

	snprintf(key, sizeof(key), "oidc:grant:%s", g->id);
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:I}", "clientId",
			g->client_id, "tokenId", g->token_id, "authority",
			g->authority, "sid", g->sid, "scope", g->scope,
			"granted", g->granted, "amr", g->amr, "authTime",
			(json_int_t)g->auth_time);
	/* A grant revoked meanwhile stays revoked (XX). */
	rc = oidc_put_json(app, key, rec, ttl_s, fresh ? ESTORE_NX : ESTORE_XX);
	json_decref(rec);
	if (rc == SA_OK && fresh)
		sid_list(app, g->sid, g->id);
	return rc;
}

enum sa_err
oidc_grant_from_json(const json_t *rec, const char *id, struct oidc_grant *out)
{
	struct oidc_grant g;

	memset(&g, 0, sizeof(g));
	if (strlen(id) > OIDC_GRANT_ID_LEN ||
	    !schema_copy_string(json_object_get(rec, "clientId"), g.client_id,
				sizeof(g.client_id)) ||
	    !schema_copy_string(json_object_get(rec, "tokenId"), g.token_id,
				sizeof(g.token_id)) ||
	    !schema_copy_string(json_object_get(rec, "authority"), g.authority,
				sizeof(g.authority)) ||
	    !schema_copy_string(json_object_get(rec, "sid"), g.sid,
				sizeof(g.sid)) ||
	    !schema_copy_string(json_object_get(rec, "scope"), g.scope,
				sizeof(g.scope)) ||
	    !json_is_array(json_object_get(rec, "granted")) ||
	    !json_is_array(json_object_get(rec, "amr")))
		return SA_ERR_INTERNAL;
	memcpy(g.id, id, strlen(id) + 1);
	g.granted = json_incref(json_object_get(rec, "granted"));
	g.amr = json_incref(json_object_get(rec, "amr"));
	g.auth_time = json_integer_value(json_object_get(rec, "authTime"));
	*out = g;
	return SA_OK;
}

enum sa_err
oidc_grant_load(struct app *app, const char *id, struct oidc_grant *out)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;
	struct oidc_grant g;
	enum sa_err rc;

	memset(&g, 0, sizeof(g));
	if (id == NULL || strlen(id) != OIDC_GRANT_ID_LEN)
		return SA_ERR_NOT_FOUND;
	snprintf(key, sizeof(key), "oidc:grant:%s", id);
	if ((rc = oidc_get_json(app, key, &rec)) != SA_OK)
		return rc;
	rc = oidc_grant_from_json(rec, id, &g);
	json_decref(rec);
	if (rc != SA_OK)
		return rc;
	*out = g;
	return SA_OK;
}

void
oidc_grant_revoke(struct app *app, const char *id)
{
	char key[ESTORE_KEY_MAX];

	snprintf(key, sizeof(key), "oidc:grant:%s", id);
	estore_del(app->es, key, NULL);
}

void
oidc_sid_revoke(struct app *app, const char *sid)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL, *v;
	size_t i;

	snprintf(key, sizeof(key), "oidc:sidg:%s", sid);
	if (oidc_get_json(app, key, &rec) != SA_OK)
		return;
	json_array_foreach(json_object_get(rec, "grants"), i,
			   v) if (json_is_string(v))
	    oidc_grant_revoke(app, json_string_value(v));
	estore_del(app->es, key, NULL);
	json_decref(rec);
}

enum sa_err
oidc_access_check(struct app *app, const char *token, json_t **rec_out,
		  struct oidc_grant *g)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;

	if (token == NULL || strlen(token) != OIDC_TOKEN_LEN)
		return SA_ERR_UNAUTHORIZED;
	oidc_token_key("at", token, key);
	if (oidc_get_json(app, key, &rec) != SA_OK)
		return SA_ERR_UNAUTHORIZED;
	if (json_integer_value(json_object_get(rec, "exp")) <= now_unix() ||
	    oidc_grant_load(app,
			    json_string_value(json_object_get(rec, "grant")),
			    g) != SA_OK) {
		json_decref(rec);
		return SA_ERR_UNAUTHORIZED;
	}
	*rec_out = rec;
	return SA_OK;
}
