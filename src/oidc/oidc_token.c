/*
 * oidc_token.c - the token endpoint (POST /oidc/token): authorization
 * codes for tokens (single use, bound to client, redirect URI and PKCE
 * verifier) and refresh tokens rotated on every use, with reuse detection.
 * A reused code or refresh token revokes everything its grant issued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "oidc/oidc_int.h"
#include "app/app.h"
#include "core/schema.h"
#include "core/util.h"

/* grant_error answers invalid_grant and audits why. */
static enum sa_err
grant_error(struct http_request *req, struct http_response *res,
	    const char *event, const char *client_id, const char *subject,
	    const char *why)
{
	app_audit(
	    http_req_app(req), req, event, subject ? subject : "",
	    json_pack("{s:s, s:s}", "clientId", client_id, "reason", why));
	return oidc_json_error(res, 400, "invalid_grant", why, NULL);
}

/* half_hash writes base64url of the left half of SHA-256(s) (at_hash). */
static char *
half_hash(const char *s)
{
	unsigned char d[32];

	sha256(s, strlen(s), d);
	return b64url_encode(d, 16);
}

/*
 * issue answers a grant with a new access token, a refresh token when the
 * client uses them, and an ID token (with nonce when given). The tokens'
 * records name the grant.
 */
static enum sa_err
issue(struct http_request *req, struct http_response *res,
      const struct oidc_client *c, struct oidc_grant *g, const char *nonce,
      const char *event)
{
	struct app *app = http_req_app(req);
	char at[OIDC_TOKEN_LEN + 1], rt[OIDC_TOKEN_LEN + 1] = "";
	char akey[ESTORE_KEY_MAX], rkey[ESTORE_KEY_MAX], sub[OIDC_SUB_MAX + 1];
	char *idt = NULL, *ath = NULL;
	json_t *arec = NULL, *rrec = NULL, *claims = NULL, *body = NULL;
	int64_t now = now_unix();
	enum sa_err rc;

	if ((rc = oidc_subject(app, c, g->token_id, g->authority, sub)) !=
		SA_OK ||
	    (rc = oidc_token_new("at", at, akey)) != SA_OK ||
	    (c->refresh && (rc = oidc_token_new("rt", rt, rkey)) != SA_OK))
		goto fail;
	rc = SA_ERR_NOMEM;
	if ((ath = half_hash(at)) == NULL)
		goto fail;
	claims = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:O, s:s, s:s, s:s}", "iss",
	    app->cfg.public_url, "sub", sub, "aud", c->id, "exp",
	    (json_int_t)(now + c->id_ttl), "iat", (json_int_t)now, "auth_time",
	    (json_int_t)g->auth_time, "acr", OIDC_ACR, "amr", g->amr, "sid",
	    g->sid, "at_hash", ath, "azp", c->id);
	if (claims == NULL)
		goto fail;
	if (nonce != NULL)
		json_object_set_new(claims, "nonce", json_string(nonce));
	rc = oidc_claims_add(app, g->token_id, g->granted, now, claims);
	if (rc == SA_ERR_TOKEN_REVOKED) {
		oidc_grant_revoke(app, g->id);
		rc = grant_error(req, res, "oidc.token_refused", c->id,
				 g->token_id,
				 "the person's enrollment is no longer valid");
		goto out;
	}
	if (rc != SA_OK || (rc = oidc_sign(app, claims, &idt)) != SA_OK)
		goto fail;
	arec = json_pack("{s:s, s:s, s:s, s:I, s:I}", "grant", g->id,
			 "clientId", c->id, "scope", g->scope, "exp",
			 (json_int_t)(now + c->access_ttl), "iat",
			 (json_int_t)now);
	if ((rc = oidc_put_json(app, akey, arec, c->access_ttl, ESTORE_NX)) !=
	    SA_OK)
		goto fail;
	if (c->refresh) {
		rrec =
		    json_pack("{s:s, s:s, s:I}", "grant", g->id, "clientId",
			      c->id, "exp", (json_int_t)(now + c->refresh_ttl));
		if ((rc = oidc_put_json(app, rkey, rrec, c->refresh_ttl,
					ESTORE_NX)) != SA_OK)
			goto fail;
	}
	/* No token leaves before its issue is on the record. */
	if ((rc = app_audit(app, req, event, g->token_id,
			    json_pack("{s:s, s:s, s:s, s:b}", "clientId", c->id,
				      "grant", g->id, "sid", g->sid, "refresh",
				      c->refresh))) != SA_OK)
		goto fail;
	body = json_pack("{s:s, s:s, s:I, s:s, s:s}", "access_token", at,
			 "token_type", "Bearer", "expires_in",
			 (json_int_t)c->access_ttl, "id_token", idt, "scope",
			 g->scope);
	if (body != NULL && c->refresh)
		json_object_set_new(body, "refresh_token", json_string(rt));
	oidc_json(res, body);
	rc = SA_OK;
	goto out;
fail:
	oidc_json_error(res, 500, "server_error", sa_err_str(rc), NULL);
out:
	OPENSSL_cleanse(at, sizeof(at));
	OPENSSL_cleanse(rt, sizeof(rt));
	free(idt);
	free(ath);
	json_decref(arec);
	json_decref(rrec);
	json_decref(claims);
	return rc;
}

/* pkce_ok checks a verifier against an S256 challenge (RFC 7636 §4.6). */
static int
pkce_ok(const char *challenge, const char *verifier)
{
	unsigned char d[32];
	char *e;
	int ok;

	if (challenge == NULL)
		return verifier == NULL; /* a verifier for no challenge: no */
	if (verifier == NULL)
		return 0;
	sha256(verifier, strlen(verifier), d);
	if ((e = b64url_encode(d, sizeof(d))) == NULL)
		return 0;
	ok =
	    strlen(e) == strlen(challenge) && ct_equal(e, challenge, strlen(e));
	free(e);
	return ok;
}

static enum sa_err
code_grant(struct http_request *req, struct http_response *res,
	   const struct oidc_client *c, const struct oidc_token_req *t)
{
	struct app *app = http_req_app(req);
	char key[ESTORE_KEY_MAX], used[ESTORE_KEY_MAX + 8],
	    gid[OIDC_TOKEN_LEN + 1], gkey[ESTORE_KEY_MAX];
	unsigned char *prior = NULL;
	size_t n = 0;
	json_t *rec = NULL;
	struct oidc_grant g;
	const char *tok;
	enum sa_err rc;

	memset(&g, 0, sizeof(g));
	oidc_token_key("code", t->code, key);
	if (oidc_get_json(app, key, &rec) != SA_OK) {
		rc = grant_error(req, res, "oidc.token_refused", c->id, NULL,
				 "unknown or expired code");
		goto out;
	}
	tok = json_string_value(json_object_get(rec, "tokenId"));
	if ((rc = oidc_token_new("grant", gid, gkey)) != SA_OK) {
		rc = oidc_json_error(res, 500, "server_error", NULL, NULL);
		goto out;
	}
	gid[OIDC_GRANT_ID_LEN] = '\0';
	snprintf(used, sizeof(used), "%s:used", key);
	/* Single use: the first redemption wins; a second one means the
	 * code leaked, so what the first got is revoked (RFC 6749 §4.1.2). */
	if (estore_set(app->es, used, gid, strlen(gid),
		       (uint64_t)app->cfg.oidc_code_ttl * 1000u,
		       ESTORE_NX) != SA_OK) {
		if (estore_get(app->es, used, &prior, &n, NULL) == SA_OK)
			oidc_grant_revoke(app, (const char *)prior);
		rc = grant_error(req, res, "oidc.code_reuse", c->id, tok,
				 "the code was already used; the tokens issued "
				 "for it are revoked");
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(rec, "clientId")),
		   c->id) != 0) {
		rc = grant_error(req, res, "oidc.token_refused", c->id, tok,
				 "the code was issued to another client");
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(rec, "redirectUri")),
		   t->redirect_uri) != 0) {
		rc = grant_error(req, res, "oidc.token_refused", c->id, tok,
				 "redirect_uri differs from the authorization "
				 "request's");
		goto out;
	}
	if (!pkce_ok(json_string_value(json_object_get(rec, "challenge")),
		     t->code_verifier)) {
		rc = grant_error(req, res, "oidc.token_refused", c->id, tok,
				 "code_verifier does not match the "
				 "code_challenge");
		goto out;
	}
	if (oidc_grant_from_json(rec, gid, &g) != SA_OK) {
		rc = oidc_json_error(res, 500, "server_error", NULL, NULL);
		goto out;
	}
	if ((rc = oidc_grant_save(
		 app, &g, 1, c->refresh ? c->refresh_ttl : c->access_ttl)) !=
	    SA_OK) {
		rc = oidc_json_error(res, 500, "server_error", NULL, NULL);
		goto out;
	}
	rc = issue(req, res, c, &g,
		   json_string_value(json_object_get(rec, "nonce")),
		   "oidc.token");
out:
	free(prior);
	json_decref(rec);
	oidc_grant_clear(&g);
	return rc;
}

/* scope_subset tells whether every word of want is in have. */
static int
scope_subset(const char *want, const char *have)
{
	char w[OIDC_SCOPE_TEXT_MAX + 1];

	for (const char *p = want; *p;) {
		size_t n = strcspn(p, " ");
		if (n > 0) {
			snprintf(w, sizeof(w), "%.*s", (int)n, p);
			if (!oidc_scope_has(have, w))
				return 0;
		}
		p += n;
		p += strspn(p, " ");
	}
	return 1;
}

static enum sa_err
refresh_grant(struct http_request *req, struct http_response *res,
	      const struct oidc_client *c, const struct oidc_token_req *t)
{
	struct app *app = http_req_app(req);
	char key[ESTORE_KEY_MAX], used[ESTORE_KEY_MAX + 8];
	json_t *rec = NULL;
	struct oidc_grant g;
	const char *gid;
	enum sa_err rc;

	memset(&g, 0, sizeof(g));
	if (!c->refresh) {
		rc = oidc_json_error(res, 400, "unauthorized_client",
				     "this client does not use refresh tokens",
				     NULL);
		goto out;
	}
	oidc_token_key("rt", t->refresh_token, key);
	if (oidc_get_json(app, key, &rec) != SA_OK) {
		rc = grant_error(req, res, "oidc.token_refused", c->id, NULL,
				 "unknown or expired refresh token");
		goto out;
	}
	gid = json_string_value(json_object_get(rec, "grant"));
	snprintf(used, sizeof(used), "%s:used", key);
	/* Rotation: each refresh token once. A second use means two
	 * parties hold it: the whole grant goes (RFC 9700 §4.14.2). */
	if (estore_set(app->es, used, "1", 1, (uint64_t)c->refresh_ttl * 1000u,
		       ESTORE_NX) != SA_OK) {
		if (gid != NULL)
			oidc_grant_revoke(app, gid);
		rc = grant_error(req, res, "oidc.refresh_reuse", c->id, NULL,
				 "the refresh token was already used; the "
				 "grant is revoked");
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(rec, "clientId")),
		   c->id) != 0) {
		rc = grant_error(req, res, "oidc.token_refused", c->id, NULL,
				 "the refresh token belongs to another client");
		goto out;
	}
	if (oidc_grant_load(app, gid, &g) != SA_OK) {
		rc = grant_error(req, res, "oidc.token_refused", c->id, NULL,
				 "the grant was revoked");
		goto out;
	}
	if (t->scope != NULL && !scope_subset(t->scope, g.scope)) {
		rc = oidc_json_error(res, 400, "invalid_scope",
				     "a refresh cannot widen the scope", NULL);
		goto out;
	}
	if ((rc = oidc_grant_save(app, &g, 0, c->refresh_ttl)) != SA_OK) {
		rc = grant_error(req, res, "oidc.token_refused", c->id,
				 g.token_id, "the grant was revoked");
		goto out;
	}
	rc = issue(req, res, c, &g, NULL, "oidc.refresh");
out:
	json_decref(rec);
	oidc_grant_clear(&g);
	return rc;
}

enum sa_err
oidc_token(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct form p = {0};
	struct oidc_token_req t;
	struct oidc_error err = {NULL, ""};
	struct services *reg = services_get(app->services);
	struct oidc_client c;
	enum sa_err rc;

	if ((rc = oidc_client_request(req, res, &p, reg, &c)) != SA_OK)
		goto out;
	if ((rc = http_req_limit(req, res, "token", "client", c.id)) != SA_OK)
		goto out;
	if (oidc_token_parse(&p, &t, &err) != SA_OK) {
		rc = oidc_json_error(res, 400, err.code, err.description, NULL);
		goto out;
	}
	rc = strcmp(t.grant_type, "authorization_code") == 0
		 ? code_grant(req, res, &c, &t)
		 : refresh_grant(req, res, &c, &t);
out:
	form_free(&p);
	services_put(reg);
	return rc;
}
