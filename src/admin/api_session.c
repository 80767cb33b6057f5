/*
 * api_session.c - admin sign-in with a passkey and admin sessions.
 *
 * Sign-in uses a discoverable credential: no name is typed, the
 * authenticator offers the RP's passkeys. It gives a bearer token (stored
 * only as its hash) and sets the same token as an HttpOnly, Secure,
 * SameSite=Strict cookie for the console, with a CSRF token the console
 * sends back in X-CSRF-Token on every change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"

static const struct schema_field login_finish_fields[] = {
    SCHEMA_STRING("loginId", SCHEMA_REQUIRED, 43, 43, SCHEMA_FMT_BASE64URL),
    SCHEMA_OBJECT("credential", SCHEMA_REQUIRED, &admin_assertion_schema),
    SCHEMA_END,
};
const struct schema admin_login_finish_schema = {login_finish_fields, NULL};

enum sa_err
admin_login_start(struct http_request *req, struct http_response *res)
{
	char id[44] = "", chal[44];
	struct admin *adm;
	json_t *state;
	enum sa_err rc;

	if ((rc = admin_ready(req, res, &adm)) != SA_OK)
		return rc;
	if ((state = json_object()) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	rc = admin_challenge_put(adm, "login", state, id, chal);
	json_decref(state);
	if (rc != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	http_res_json(res, 200,
		      json_pack("{s:s, s:o}", "loginId", id, "options",
				admin_request_options(adm, chal, NULL)));
	return SA_OK;
}

void
admin_session_cookie(struct http_response *res, const char *token, int64_t ttl)
{
	char v[256];

	snprintf(v, sizeof(v),
		 "%s=%s; Path=/; Max-Age=%lld; HttpOnly; Secure; "
		 "SameSite=Strict",
		 ADMIN_COOKIE, token ? token : "", (long long)ttl);
	http_res_header(res, "Set-Cookie", v);
}

enum sa_err
admin_login_finish(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	json_t *body = http_req_json(req), *state = NULL, *doc = NULL;
	struct admin_assertion as;
	const char *admin_id, *passkey_id;
	char tok[44], csrf[44], sid[44], key[65], csrf_hash[65], why[256] = "";
	struct admin_caller who;
	struct dstore_rec arec;
	char *text = NULL;
	int64_t now = now_unix(), ttl;
	struct admin *adm;
	enum sa_err rc;

	memset(&arec, 0, sizeof(arec));
	memset(&as, 0, sizeof(as));
	if ((rc = admin_ready(req, res, &adm)) != SA_OK)
		return rc;
	ttl = app->cfg.admin_session_ttl;
	rc = admin_challenge_take(
	    adm, "login", json_string_value(json_object_get(body, "loginId")),
	    &state);
	if (rc != SA_OK)
		return admin_fail(req, res, NULL, "admin.login_refused", rc,
				  "the sign-in is unknown, used or expired");
	if ((rc = admin_assert_verify(
		 req, adm, json_object_get(body, "credential"),
		 json_string_value(json_object_get(state, "challenge")), NULL,
		 &as, why, sizeof(why))) != SA_OK) {
		rc = admin_fail(req, res, NULL, "admin.login_refused", rc, why);
		goto out;
	}
	admin_id = as.admin_id;
	passkey_id = as.passkey_id;
	if ((rc = dstore_rec_get(app->ds, REC_ADMIN, admin_id, &arec)) !=
	    SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	if ((rc = admin_random(tok)) != SA_OK ||
	    (rc = admin_random(csrf)) != SA_OK ||
	    (rc = admin_random(sid)) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	sid[22] = '\0'; /* a public id needs fewer bits than a secret */
	admin_hash_hex(tok, key);
	admin_hash_hex(csrf, csrf_hash);
	doc = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "sid", sid,
			"passkeyId", passkey_id, "createdAt", (json_int_t)now,
			"expiresAt", (json_int_t)(now + ttl), "ip",
			http_req_ip(req), "ua", http_req_ua(req), "csrf",
			csrf_hash);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	{
		/* The passkey's new counter and the session in one commit.
		 * The counter's compare-and-set finds the passkey still
		 * there: a revoke that landed since the assertion was
		 * checked wins, and its sessions-end cannot miss this one. */
		const struct dstore_rec_op ops[] = {
		    {.op = REC_DELETE_EXPIRED,
		     .kind = REC_SESSION,
		     .expires_at = now},
		    {.op = REC_CREATE,
		     .kind = REC_SESSION,
		     .id = key,
		     .owner = admin_id,
		     .doc = text,
		     .expires_at = now + ttl},
		};
		rc = admin_assert_store(adm, &as, ops, ARRAY_LEN(ops), why,
					sizeof(why));
		if (rc == SA_ERR_WEBAUTHN) {
			rc = admin_fail(req, res, NULL, "admin.login_refused",
					rc, why);
			goto out;
		}
		if (rc != SA_OK) {
			admin_store_err(res, rc);
			goto out;
		}
	}
	json_decref(doc);
	doc = json_loads(arec.doc, 0, NULL);
	memset(&who, 0, sizeof(who));
	snprintf(who.admin_id, sizeof(who.admin_id), "%s", admin_id);
	snprintf(who.name, sizeof(who.name), "%s",
		 json_string_value(json_object_get(doc, "name")) ?: "");
	snprintf(who.passkey_id, sizeof(who.passkey_id), "%s", passkey_id);
	snprintf(who.sid, sizeof(who.sid), "%s", sid);
	if ((rc = admin_audit(req, &who, "admin.login", NULL)) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	http_res_json(res, 200,
		      json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:s}}", "token",
				tok, "csrfToken", csrf, "sessionId", sid,
				"expiresAt", (json_int_t)(now + ttl), "admin",
				"id", admin_id, "name", who.name));
	admin_session_cookie(res, tok, ttl);
	rc = SA_OK;
out:
	OPENSSL_cleanse(tok, sizeof(tok));
	OPENSSL_cleanse(csrf, sizeof(csrf));
	free(text);
	json_decref(doc);
	json_decref(state);
	dstore_rec_free(&arec);
	admin_assertion_clear(&as);
	return rc;
}

enum sa_err
admin_logout(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	{
		const struct dstore_rec_op op = {.op = REC_DELETE,
						 .kind = REC_SESSION,
						 .id = who.session_key};
		rc = dstore_rec_write(adm->app->ds, &op, 1);
	}
	if (rc != SA_OK && rc != SA_ERR_NOT_FOUND)
		return admin_store_err(res, rc);
	if ((rc = admin_audit(req, &who, "admin.logout", NULL)) != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	http_res_json(res, 200, json_pack("{s:b}", "signedOut", 1));
	admin_session_cookie(res, NULL, 0);
	return SA_OK;
}

enum sa_err
admin_me(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	http_res_json(res, 200,
		      json_pack("{s:s, s:s, s:s, s:s}", "id", who.admin_id,
				"name", who.name, "sessionId", who.sid,
				"passkeyId", who.passkey_id));
	return SA_OK;
}

struct sess_walk {
	const struct admin_caller *who;
	json_t *list;
	const char *find; /* a public id to look for, or NULL */
	char key[65];	  /* the record id found */
	char owner[ADMIN_ID_MAX + 1];
	int64_t now;
};

static int
sess_one(const struct dstore_rec *r, void *arg)
{
	struct sess_walk *w = arg;
	json_t *doc = json_loads(r->doc, 0, NULL);
	const char *sid = json_string_value(json_object_get(doc, "sid"));

	if (doc == NULL || sid == NULL || r->expires_at < w->now)
		goto out;
	if (w->find != NULL) {
		if (strcmp(sid, w->find) == 0) {
			snprintf(w->key, sizeof(w->key), "%s", r->id);
			snprintf(w->owner, sizeof(w->owner), "%s", r->owner);
			json_decref(doc);
			return 1;
		}
		goto out;
	}
	json_object_del(doc, "csrf");
	json_object_set_new(doc, "adminId", json_string(r->owner));
	json_object_set_new(
	    doc, "current",
	    json_boolean(strcmp(r->id, w->who->session_key) == 0));
	json_object_set_new(doc, "sessionId", json_string(sid));
	json_object_del(doc, "sid");
	json_array_append(w->list, doc);
out:
	json_decref(doc);
	return 0;
}

/*
 * walk_sessions runs sess_one over every live admin session for who: with
 * find set it looks for that public id (w->key, w->owner), otherwise it
 * collects them in w->list (new, the caller's). Otherwise the answer is
 * written.
 */
static enum sa_err
walk_sessions(struct http_response *res, struct admin *adm,
	      const struct admin_caller *who, const char *find,
	      struct sess_walk *w)
{
	enum sa_err rc;

	memset(w, 0, sizeof(*w));
	w->who = who;
	w->now = now_unix();
	w->find = find;
	if (find == NULL && (w->list = json_array()) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	rc = dstore_rec_list(adm->app->ds, REC_SESSION, NULL, sess_one, w);
	if (rc != SA_OK) {
		json_decref(w->list);
		w->list = NULL;
		return admin_store_err(res, rc);
	}
	return SA_OK;
}

enum sa_err
admin_sessions_list(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct sess_walk w;
	struct admin *adm;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK ||
	    (rc = walk_sessions(res, adm, &who, NULL, &w)) != SA_OK)
		return rc;
	http_res_json(res, 200, json_pack("{s:o}", "sessions", w.list));
	return SA_OK;
}

enum sa_err
admin_sessions_end(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct sess_walk w;
	struct admin *adm;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK ||
	    (rc = walk_sessions(res, adm, &who, http_req_param(req, 0), &w)) !=
		SA_OK)
		return rc;
	if (w.key[0] == '\0')
		return http_res_error(res, SA_ERR_NOT_FOUND, "sessionId",
				      "no such admin session");
	{
		const struct dstore_rec_op op = {
		    .op = REC_DELETE, .kind = REC_SESSION, .id = w.key};
		rc = dstore_rec_write(adm->app->ds, &op, 1);
	}
	if (rc != SA_OK)
		return admin_store_err(res, rc);
	if ((rc = admin_audit(req, &who, "admin.session_ended",
			      json_pack("{s:s, s:s}", "sessionId", w.find, "of",
					w.owner))) != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	http_res_json(res, 200, json_pack("{s:s}", "ended", w.find));
	return SA_OK;
}
