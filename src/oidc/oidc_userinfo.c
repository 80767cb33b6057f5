/*
 * oidc_userinfo.c - what a client does with its tokens: UserInfo (GET and
 * POST /oidc/userinfo, a bearer access token), revocation (RFC 7009,
 * POST /oidc/revoke) and introspection (RFC 7662, POST /oidc/introspect,
 * confidential clients, their own tokens only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/oidc_int.h"
#include "app/app.h"
#include "core/util.h"

/* bearer finds the access token: the Authorization header (RFC 6750
 * §2.1) or the form body's access_token (§2.2); NULL when none. */
static const char *
bearer(struct http_request *req, const struct form *p)
{
	const char *h = http_req_header(req, "Authorization");

	if (h != NULL)
		return strncasecmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
	return oidc_params_get(p, "access_token");
}

enum sa_err
oidc_userinfo(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct form p = {0};
	struct services *reg = services_get(app->services);
	const struct service *svc;
	struct oidc_client c;
	struct oidc_grant g;
	const char *tok;
	json_t *rec = NULL, *body = NULL;
	char sub[OIDC_SUB_MAX + 1], why[256] = "";
	enum sa_err rc;

	memset(&g, 0, sizeof(g));
	if (oidc_request_params(req, &p, why, sizeof(why)) != SA_OK) {
		rc = oidc_json_error(res, 400, "invalid_request", why, NULL);
		goto out;
	}
	if ((tok = bearer(req, &p)) == NULL) {
		/* RFC 6750 §3.1: no credentials, no error code. */
		http_res_json(res, 401,
			      json_pack("{s:s}", "error", "invalid_request"));
		http_res_header(res, "WWW-Authenticate",
				"Bearer realm=\"sealauth\"");
		rc = SA_ERR_UNAUTHORIZED;
		goto out;
	}
	if (oidc_access_check(app, tok, &rec, &g) != SA_OK ||
	    (svc = services_find(reg, g.client_id)) == NULL ||
	    oidc_client_from(svc, &c) != SA_OK) {
		rc = oidc_json_error(res, 401, "invalid_token",
				     "the access token is unknown, expired or "
				     "revoked",
				     "Bearer");
		goto out;
	}
	if ((rc = oidc_subject(app, &c, g.token_id, g.authority, sub)) !=
		SA_OK ||
	    (body = json_pack("{s:s}", "sub", sub)) == NULL) {
		rc = oidc_json_error(res, 500, "server_error", NULL, NULL);
		goto out;
	}
	rc = oidc_claims_add(app, g.token_id, g.granted, now_unix(), body);
	if (rc != SA_OK) {
		rc = oidc_json_error(res, 401, "invalid_token",
				     "the person's enrollment is no longer "
				     "valid",
				     "Bearer");
		goto out;
	}
	oidc_json(res, body);
	body = NULL;
	rc = SA_OK;
out:
	json_decref(body);
	json_decref(rec);
	oidc_grant_clear(&g);
	form_free(&p);
	services_put(reg);
	return rc;
}

/*
 * find_token looks a presented token up as an access token, then as a
 * refresh token (the hint only changes the order, RFC 7009 §2.1). *rec
 * and *kind ("at" or "rt") describe what was found; SA_ERR_NOT_FOUND
 * otherwise.
 */
static enum sa_err
find_token(struct app *app, const char *tok, const char *hint, json_t **rec,
	   const char **kind, char key[ESTORE_KEY_MAX])
{
	const char *order[2] = {"at", "rt"};

	if (hint != NULL && strcmp(hint, "refresh_token") == 0) {
		order[0] = "rt";
		order[1] = "at";
	}
	if (strlen(tok) != OIDC_TOKEN_LEN)
		return SA_ERR_NOT_FOUND;
	for (size_t i = 0; i < 2; i++) {
		oidc_token_key(order[i], tok, key);
		if (oidc_get_json(app, key, rec) == SA_OK) {
			*kind = order[i];
			return SA_OK;
		}
	}
	return SA_ERR_NOT_FOUND;
}

/* owned tells whether a token record belongs to client c. */
static int
owned(const json_t *rec, const struct oidc_client *c)
{
	const char *id = json_string_value(json_object_get(rec, "clientId"));

	return id != NULL && strcmp(id, c->id) == 0;
}

enum sa_err
oidc_revoke(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct form p = {0};
	struct services *reg = services_get(app->services);
	struct oidc_client c;
	const char *tok, *kind = NULL;
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;
	enum sa_err rc;

	if ((rc = oidc_client_request(req, res, &p, reg, &c)) != SA_OK)
		goto out;
	if ((tok = oidc_params_get(&p, "token")) == NULL) {
		rc = oidc_json_error(res, 400, "invalid_request",
				     "token is missing", NULL);
		goto out;
	}
	/* RFC 7009 §2.2: unknown tokens and other clients' tokens are
	 * answered alike, so the answer tells nothing. */
	if (find_token(app, tok, oidc_params_get(&p, "token_type_hint"), &rec,
		       &kind, key) == SA_OK &&
	    owned(rec, &c)) {
		const char *gid =
		    json_string_value(json_object_get(rec, "grant"));
		if (strcmp(kind, "rt") == 0 && gid != NULL)
			oidc_grant_revoke(app, gid); /* with its tokens */
		else
			estore_del(app->es, key, NULL);
		if ((rc = app_audit(app, req, "oidc.revoke", "",
				    json_pack("{s:s, s:s, s:s?}", "clientId",
					      c.id, "kind", kind, "grant",
					      gid))) != SA_OK) {
			rc = oidc_json_error(res, 500, "server_error", NULL,
					     NULL);
			goto out;
		}
	}
	oidc_json(res, json_object());
	rc = SA_OK;
out:
	json_decref(rec);
	form_free(&p);
	services_put(reg);
	return rc;
}

/* rt_used tells whether a refresh token was already rotated away. */
static int
rt_used(struct app *app, const char *key)
{
	char used[ESTORE_KEY_MAX + 8];
	unsigned char *v = NULL;
	size_t n = 0;
	int yes;

	snprintf(used, sizeof(used), "%s:used", key);
	yes = estore_get(app->es, used, &v, &n, NULL) == SA_OK;
	free(v);
	return yes;
}

enum sa_err
oidc_introspect(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct form p = {0};
	struct services *reg = services_get(app->services);
	struct oidc_client c;
	struct oidc_grant g;
	const char *tok, *kind = NULL;
	char key[ESTORE_KEY_MAX], sub[OIDC_SUB_MAX + 1];
	json_t *rec = NULL, *body = NULL;
	int64_t exp;
	enum sa_err rc;

	memset(&g, 0, sizeof(g));
	if ((rc = oidc_client_request(req, res, &p, reg, &c)) != SA_OK)
		goto out;
	if (c.is_public) {
		rc = oidc_json_error(res, 401, "invalid_client",
				     "only confidential clients may introspect",
				     "Basic");
		goto out;
	}
	if ((tok = oidc_params_get(&p, "token")) == NULL) {
		rc = oidc_json_error(res, 400, "invalid_request",
				     "token is missing", NULL);
		goto out;
	}
	exp = 0;
	if (find_token(app, tok, oidc_params_get(&p, "token_type_hint"), &rec,
		       &kind, key) != SA_OK ||
	    !owned(rec, &c) ||
	    (exp = json_integer_value(json_object_get(rec, "exp"))) <=
		now_unix() ||
	    oidc_grant_load(app,
			    json_string_value(json_object_get(rec, "grant")),
			    &g) != SA_OK ||
	    (strcmp(kind, "rt") == 0 && rt_used(app, key)) ||
	    oidc_subject(app, &c, g.token_id, g.authority, sub) != SA_OK) {
		oidc_json(res, json_pack("{s:b}", "active", 0));
		rc = SA_OK;
		goto out;
	}
	body =
	    json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "active",
		      1, "scope", g.scope, "client_id", c.id, "token_type",
		      strcmp(kind, "at") == 0 ? "Bearer" : "refresh_token",
		      "sub", sub, "aud", c.id, "exp", (json_int_t)exp, "iss",
		      app->cfg.public_url, "sid", g.sid);
	if (json_object_get(rec, "iat") != NULL)
		json_object_set(body, "iat", json_object_get(rec, "iat"));
	oidc_json(res, body);
	rc = SA_OK;
out:
	json_decref(rec);
	oidc_grant_clear(&g);
	form_free(&p);
	services_put(reg);
	return rc;
}
