/*
 * oidc_authorize.c - the authorization endpoint (GET and POST
 * /oidc/authorize): the code flow only, PKCE S256, exact redirect URIs,
 * single sign-on from the provider session, and the hand-off to the login
 * page; and the issue of the code once the person is known.
 *
 * Errors about the client or its redirect URI are shown as a page and
 * never redirected (RFC 6749 §4.1.2.1): an attacker's redirect URI must
 * never receive anything. Every other error goes to the redirect URI with
 * state and iss (RFC 9207).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oidc/oidc_int.h"
#include "app/app.h"
#include "core/util.h"
#include "login/weblogin.h"

/* page_error answers an error that must not go to the client. */
static enum sa_err
page_error(struct http_request *req, struct http_response *res,
	   const char *client_id, const char *what)
{
	app_audit(http_req_app(req), req, "oidc.authorize_refused", "",
		  json_pack("{s:s, s:s}", "clientId",
			    client_id ? client_id : "", "reason", what));
	weblogin_page(res, 400, "Sign-in request refused", what);
	return SA_ERR_VALIDATION;
}

/* granted_array builds a JSON array of n strings. */
static json_t *
strings(const char *const *s, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

enum sa_err
oidc_issue_code(struct http_request *req, struct http_response *res,
		const json_t *data, const char *client_id, const char *token_id,
		const char *authority, const char *sid, const json_t *amr,
		int64_t auth_time, const json_t *granted,
		const struct weblogin_done *done)
{
	struct app *app = http_req_app(req);
	char code[OIDC_TOKEN_LEN + 1], key[ESTORE_KEY_MAX];
	const char *redirect_uri =
	    json_string_value(json_object_get(data, "redirectUri"));
	const char *state = json_string_value(json_object_get(data, "state"));
	const char *names[] = {"code", "state", "iss"};
	const char *values[3];
	json_t *rec = NULL;
	enum sa_err rc;

	if ((rc = oidc_token_new("code", code, key)) != SA_OK)
		goto fail;
	rec = json_pack("{s:s, s:s, s:O?, s:O?, s:s, s:s, s:s, s:O, s:O, s:I}",
			"clientId", client_id, "redirectUri", redirect_uri,
			"nonce", json_object_get(data, "nonce"), "challenge",
			json_object_get(data, "challenge"), "scope",
			json_string_value(json_object_get(data, "scope")),
			"tokenId", token_id, "authority", authority, "amr", amr,
			"granted", granted, "authTime", (json_int_t)auth_time);
	json_object_set_new(rec, "sid", json_string(sid));
	if ((rc = oidc_put_json(app, key, rec, app->cfg.oidc_code_ttl,
				ESTORE_NX)) != SA_OK)
		goto fail;
	/* The code leaves only once its issue is recorded. */
	if ((rc = weblogin_audit(req, done, "oidc.code", token_id,
				 json_pack("{s:s, s:s, s:O}", "clientId",
					   client_id, "sid", sid, "granted",
					   granted))) != SA_OK) {
		estore_del(app->es, key, NULL);
		goto fail;
	}
	values[0] = code;
	values[1] = state;
	values[2] = app->cfg.public_url;
	rc = oidc_redirect(res, redirect_uri, names, values, 3);
	json_decref(rec);
	return rc;
fail:
	json_decref(rec);
	{
		struct oidc_error err = {"server_error", ""};
		snprintf(err.description, sizeof(err.description),
			 "the code could not be issued: %s", sa_err_str(rc));
		return oidc_redirect_error(req, res, redirect_uri, state, &err);
	}
}

enum sa_err
oidc_login_done(struct http_request *req, struct http_response *res,
		const struct weblogin_done *done)
{
	json_t *granted = strings(done->granted, done->ngranted);
	enum sa_err rc;

	rc = oidc_issue_code(
	    req, res, done->pending->data, done->pending->service_id,
	    done->sso->token_id, done->sso->authority, done->sso->sid,
	    done->sso->amr, done->sso->auth_time, granted, done);
	json_decref(granted);
	return rc;
}

/*
 * sso_answer tries single sign-on from the provider session: 1 when it
 * answered (a code, or the error prompt=none calls for), 0 when the login
 * page must run.
 */
static int
sso_answer(struct http_request *req, struct http_response *res,
	   const struct oidc_authorize_req *r, const struct oidc_client *c,
	   const char *const *scopes, size_t n, const json_t *data,
	   enum sa_err *rc)
{
	struct weblogin_sso sso;
	struct oidc_error err = {NULL, ""};
	int have, fresh, granted;
	int64_t now = now_unix();

	memset(&sso, 0, sizeof(sso));
	have = weblogin_session_get(req, &sso) == SA_OK;
	fresh = have && !(r->prompt & OIDC_PROMPT_LOGIN) &&
		(r->max_age < 0 || now - sso.auth_time <= r->max_age);
	granted = fresh && !(r->prompt & OIDC_PROMPT_CONSENT) &&
		  weblogin_sso_granted(&sso, "oidc", c->id, scopes, n);
	if (granted && r->login_hint != NULL &&
	    strcmp(r->login_hint, sso.token_id) != 0)
		granted = fresh = 0; /* someone else is asked for */
	if (granted) {
		json_t *g = strings(scopes, n);
		weblogin_session_add_rp(req, &sso, "oidc", c->id, scopes, n);
		*rc = oidc_issue_code(req, res, data, c->id, sso.token_id,
				      sso.authority, sso.sid, sso.amr,
				      sso.auth_time, g, NULL);
		json_decref(g);
		weblogin_sso_clear(&sso);
		return 1;
	}
	weblogin_sso_clear(&sso);
	if (!(r->prompt & OIDC_PROMPT_NONE))
		return 0;
	err.code = fresh ? "consent_required" : "login_required";
	snprintf(err.description, sizeof(err.description), "%s",
		 fresh ? "the person has not granted these scopes to this "
			 "client in this session"
		       : "no provider session (or too old for max_age)");
	*rc = oidc_redirect_error(req, res, r->redirect_uri, r->state, &err);
	return 1;
}

enum sa_err
oidc_authorize(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct form p = {0};
	struct oidc_authorize_req r = {0};
	struct oidc_error err = {NULL, ""};
	struct services *reg = services_get(app->services);
	const struct service *svc;
	struct oidc_client c;
	const char *scopes[SERVICE_SCOPES_MAX];
	char why[256] = "", id[WEBLOGIN_ID_LEN + 1], loc[64];
	size_t n = 0;
	int redirectable = 0;
	json_t *data = NULL;
	enum sa_err rc;

	if ((rc = oidc_request_params(req, &p, why, sizeof(why))) != SA_OK) {
		rc = page_error(req, res, NULL, why);
		goto out;
	}
	if (oidc_authorize_parse(&p, &r, &err, &redirectable) != SA_OK &&
	    !redirectable) {
		rc = page_error(req, res, oidc_params_get(&p, "client_id"),
				err.description);
		goto out;
	}
	svc = services_find(reg, oidc_params_get(&p, "client_id"));
	if (svc == NULL || oidc_client_from(svc, &c) != SA_OK) {
		rc = page_error(req, res, oidc_params_get(&p, "client_id"),
				"unknown client_id");
		goto out;
	}
	if (!oidc_redirect_ok(&c, oidc_params_get(&p, "redirect_uri"))) {
		rc = page_error(req, res, c.id,
				"redirect_uri is not registered for this "
				"client");
		goto out;
	}
	if (err.code != NULL) {
		/* r is unset: the parameters say where to. A state that broke
		 * the rules is not echoed. */
		const char *st = oidc_params_get(&p, "state");
		rc = oidc_redirect_error(
		    req, res, oidc_params_get(&p, "redirect_uri"),
		    st != NULL && strlen(st) <= OIDC_STATE_MAX ? st : NULL,
		    &err);
		goto out;
	}
	/* Limited per client too: one client's users cannot starve
	 * another's. */
	if ((rc = http_req_limit(req, res, "authorize", "client", c.id)) !=
	    SA_OK)
		goto out;
	if (c.is_public && r.code_challenge == NULL) {
		err.code = "invalid_request";
		snprintf(
		    err.description, sizeof(err.description),
		    "a public client must use PKCE (code_challenge, S256)");
		rc = oidc_redirect_error(req, res, r.redirect_uri, r.state,
					 &err);
		goto out;
	}
	if (oidc_scopes_map(r.scope, svc, scopes, &n, &err) != SA_OK) {
		rc = oidc_redirect_error(req, res, r.redirect_uri, r.state,
					 &err);
		goto out;
	}
	data = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "redirectUri",
			 r.redirect_uri, "scope", r.scope, "state", r.state,
			 "nonce", r.nonce, "challenge", r.code_challenge);
	if (data == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (sso_answer(req, res, &r, &c, scopes, n, data, &rc))
		goto out;
	rc = weblogin_begin(app, "oidc", c.id, scopes, n, r.login_hint,
			    json_incref(data), id);
	if (rc != SA_OK) {
		err.code = "server_error";
		snprintf(err.description, sizeof(err.description),
			 "the login could not be started");
		rc = oidc_redirect_error(req, res, r.redirect_uri, r.state,
					 &err);
		goto out;
	}
	snprintf(loc, sizeof(loc), "/?login=%s", id);
	http_res_bytes(res, 302, NULL, "", 0);
	http_res_header(res, "Location", loc);
	rc = SA_OK;
out:
	json_decref(data);
	form_free(&p);
	services_put(reg);
	return rc;
}
