/*
 * saml_walk.c - the front-channel part of single logout: the IdP's own
 * page that signs the person out of the other SPs of the session, one
 * after the other, and does not depend on any of them sending the browser
 * back.
 *
 * The page (GET /saml/slo/walk?w={id}) stays in the browser's window. Each
 * SP gets its LogoutRequest in a frame of that page (HTTP-Redirect: the
 * frame loads the signed URL; HTTP-POST: a form of the page posts into the
 * frame) and has SEALAUTH_SAML_SLO_TIMEOUT seconds to answer; its answer,
 * wherever it lands, is recorded on the walk (saml_walk_answer). A small
 * static script asks the walk for its state every second
 * (?w={id}&poll=1) and reloads the page when it moved on; without script,
 * the page reloads itself after the time limit. An SP that answered
 * Success is confirmed; one that failed, or did not answer in time, is not,
 * and the walk goes on to the next. At the end the initiating SP gets its
 * signed LogoutResponse (Success, or Success + PartialLogout) through the
 * top-level window, or the person a page listing who did not confirm.
 *
 * The walk lives in the ephemeral store under "saml:slo:{id}"; the step an
 * SP's answer belongs to under "saml:slor:{request ID}" (saml_slo.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/schema.h"
#include "core/util.h"
#include "login/services.h"
#include "login/weblogin.h"
#include "saml/saml_int.h"
#include "store/store.h"

#define WALK_PAGE_MAX (SAML_MSG_MAX * 3)

/* put appends a NUL-terminated string. */
static enum sa_err
put(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

enum sa_err
saml_store_json(struct app *app, const char *key, json_t *rec, int64_t ttl)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	enum sa_err rc;

	if (text == NULL)
		return SA_ERR_NOMEM;
	rc = estore_set(app->es, key, text, strlen(text), (uint64_t)ttl * 1000,
			0);
	free(text);
	return rc;
}

enum sa_err
saml_load_json(struct app *app, const char *key, int take, json_t **out)
{
	unsigned char *v = NULL;
	size_t n = 0;
	int existed = 1;
	enum sa_err rc;

	if ((rc = estore_get(app->es, key, &v, &n, NULL)) != SA_OK)
		return rc;
	if (take && (estore_del(app->es, key, &existed) != SA_OK || !existed)) {
		free(v);
		return SA_ERR_NOT_FOUND;
	}
	*out = json_loadb((const char *)v, n, 0, NULL);
	free(v);
	return *out != NULL ? SA_OK : SA_ERR_INTERNAL;
}

enum sa_err
saml_sp_of_service(struct app *app, const char *service_id,
		   struct saml_sp **out)
{
	struct services *snap = services_get(app->services);
	const struct service *svc =
	    service_id != NULL ? services_find(snap, service_id) : NULL;
	enum sa_err rc = SA_ERR_SAML_UNKNOWN_SP;

	if (svc != NULL && svc->saml != NULL)
		rc = saml_sp_parse(svc, SCHEMA_LOOPBACK_HTTP, out, NULL, 0);
	services_put(snap);
	return rc;
}

/* walk_key writes the store key of walk slo_id. */
static void
walk_key(char key[ESTORE_KEY_MAX], const char *slo_id)
{
	snprintf(key, ESTORE_KEY_MAX, "saml:slo:%s", slo_id);
}

/* walk_save rewrites walk w, kept long enough for what is left of it. */
static enum sa_err
walk_save(struct app *app, const char *slo_id, json_t *w)
{
	char key[ESTORE_KEY_MAX];
	size_t left = json_array_size(json_object_get(w, "queue")) + 1;

	walk_key(key, slo_id);
	return saml_store_json(app, key, w,
			       300 + app->saml->slo_timeout * (int64_t)left);
}

enum sa_err
saml_walk_begin(struct http_request *req, struct http_response *res, json_t *w)
{
	struct app *app = http_req_app(req);
	char slo_id[SAML_ID_LEN + 1], url[SAML_URL_MAX + 64];
	enum sa_err rc;

	if ((rc = saml_new_id(slo_id)) != SA_OK)
		return rc;
	json_object_set_new(w, "step", json_integer(0));
	json_object_set_new(w, "results", json_array());
	if ((rc = walk_save(app, slo_id, w)) != SA_OK)
		return rc;
	snprintf(url, sizeof(url), "%s/saml/slo/walk?w=%s", app->saml->base_url,
		 slo_id);
	http_res_bytes(res, 303, "text/plain; charset=utf-8", "", 0);
	http_res_header(res, "Location", url);
	return SA_OK;
}

enum sa_err
saml_walk_answer(struct app *app, const char *slo_id, const char *service_id,
		 int64_t n, int ok)
{
	char key[ESTORE_KEY_MAX];
	json_t *w = NULL, *cur;
	const char *svc;
	enum sa_err rc;

	walk_key(key, slo_id);
	if ((rc = saml_load_json(app, key, 0, &w)) != SA_OK)
		return rc;
	cur = json_object_get(w, "cur");
	svc = json_string_value(json_object_get(cur, "serviceId"));
	if (svc == NULL || strcmp(svc, service_id) != 0 ||
	    json_integer_value(json_object_get(cur, "n")) != n ||
	    json_object_get(cur, "answered") != NULL) {
		json_decref(w);
		return SA_ERR_NOT_FOUND;
	}
	json_object_set_new(cur, "answered", json_boolean(ok));
	rc = walk_save(app, slo_id, w);
	json_decref(w);
	return rc;
}

/*
 * advance moves walk w on at now: the current SP's step ends when it
 * answered or its time ran out (not confirmed, audited); then the next SP
 * of the queue with an SLO endpoint becomes current. It returns 1 when the
 * walk is waiting for an SP, 0 when nothing is left.
 */
static int
advance(struct http_request *req, const char *slo_id, json_t *w, int64_t now)
{
	struct app *app = http_req_app(req);
	json_t *cur = json_object_get(w, "cur"), *next;

	if (cur != NULL) {
		const json_t *ans = json_object_get(cur, "answered");
		int ok = json_is_true(ans);

		if (ans == NULL &&
		    now < json_integer_value(json_object_get(cur, "deadline")))
			return 1;
		if (ans == NULL)
			app_audit(app, req, "saml.logout_timeout", "",
				  json_pack("{s:s, s:O}", "slo", slo_id,
					    "serviceId",
					    json_object_get(cur, "serviceId")));
		json_array_append_new(json_object_get(w, "results"),
				      json_pack("{s:O, s:b}", "name",
						json_object_get(cur, "name"),
						"confirmed", ok));
		if (!ok)
			json_object_set_new(w, "partial", json_true());
		json_object_del(w, "cur");
	}
	while ((next = json_array_get(json_object_get(w, "queue"), 0)) !=
	       NULL) {
		struct saml_sp *sp = NULL;
		json_int_t n = json_integer_value(json_object_get(w, "step"));

		json_incref(next);
		json_array_remove(json_object_get(w, "queue"), 0);
		if (saml_sp_of_service(
			app,
			json_string_value(json_object_get(next, "serviceId")),
			&sp) != SA_OK ||
		    sp->slo_url[0] == '\0') {
			saml_sp_free(sp);
			json_decref(next);
			continue;
		}
		json_object_set_new(next, "name",
				    json_string(sp->service_name));
		json_object_set_new(next, "n", json_integer(n + 1));
		json_object_set_new(next, "deadline",
				    json_integer(now + app->saml->slo_timeout));
		json_object_set_new(w, "step", json_integer(n + 1));
		json_object_set_new(w, "cur", next);
		saml_sp_free(sp);
		return 1;
	}
	return 0;
}

/*
 * send_request builds the LogoutRequest of the current step for sp and
 * remembers which step its answer belongs to. *redirect_url receives the
 * HTTP-Redirect URL, or *xml the message for an HTTP-POST form.
 */
static enum sa_err
send_request(struct app *app, const char *slo_id, json_t *w,
	     const struct saml_sp *sp, char **redirect_url, char **xml)
{
	json_t *cur = json_object_get(w, "cur"), *map;
	char rid[SAML_ID_LEN + 1], key[ESTORE_KEY_MAX];
	enum sa_err rc;

	rc = saml_build_logout_request(
	    app->saml, sp, json_string_value(json_object_get(cur, "nameId")),
	    (enum saml_nameid)json_integer_value(
		json_object_get(cur, "format")),
	    json_string_value(json_object_get(w, "sid")), now_unix(), rid, xml);
	if (rc != SA_OK)
		return rc;
	map = json_pack("{s:s, s:s, s:O}", "slo", slo_id, "serviceId",
			sp->service_id, "n", json_object_get(cur, "n"));
	snprintf(key, sizeof(key), "saml:slor:%s", rid);
	rc = map != NULL
		 ? saml_store_json(app, key, map, app->saml->slo_timeout + 60)
		 : SA_ERR_NOMEM;
	json_decref(map);
	if (rc == SA_OK && sp->slo_binding == SAML_BINDING_REDIRECT) {
		rc =
		    saml_redirect_url(app->saml, sp, sp->slo_url, "SAMLRequest",
				      *xml, slo_id, redirect_url);
		free(*xml);
		*xml = NULL;
	}
	json_object_set_new(cur, "sent", json_true());
	return rc;
}

/* add_results lists each SP the walk finished with, confirmed or not. */
static void
add_results(struct buf *b, const json_t *w)
{
	size_t i;
	const json_t *r;

	buf_append(b, "<ul class=\"slo-results\">", 24);
	json_array_foreach(json_object_get(w, "results"), i, r)
	{
		const char *name =
		    json_string_value(json_object_get(r, "name"));

		buf_append(b, "<li>", 4);
		saml_html_attr(b, name != NULL ? name : "");
		if (json_is_true(json_object_get(r, "confirmed")))
			buf_append(b, ": signed out</li>", 17);
		else
			buf_append(b, ": did not confirm</li>", 22);
	}
	buf_append(b, "</ul>", 5);
}

/*
 * walk_page answers with the page of a walk waiting for sp (its request in
 * a frame when just built: redirect_url or xml) under a policy that lets
 * the frame and the form reach the SP's origin only.
 */
static enum sa_err
walk_page(struct http_response *res, const char *slo_id, const json_t *w,
	  const struct saml_sp *sp, const char *redirect_url, const char *xml)
{
	char origin[SAML_URL_MAX + 1], csp[2 * SAML_URL_MAX + 320], num[24],
	    refresh[96];
	char *b64 = NULL;
	struct buf b;
	enum sa_err rc;

	if (saml_url_origin(sp->slo_url, origin, sizeof(origin)) != 0)
		snprintf(origin, sizeof(origin), "'none'");
	snprintf(num, sizeof(num), "%lld",
		 (long long)json_integer_value(json_object_get(w, "step")));
	buf_init(&b, WALK_PAGE_MAX);
	put(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		"<meta charset=\"utf-8\"><title>Signing out</title>"
		"<link rel=\"stylesheet\" href=\"/static/style.css\">"
		"<script src=\"/static/saml-slo.js\" defer></script>");
	if (xml != NULL)
		put(&b, "<script src=\"/static/saml-post.js\" "
			"defer></script>");
	/* Without script the page comes back by itself once the SP's time
	 * is up. */
	snprintf(refresh, sizeof(refresh),
		 "<noscript><meta http-equiv=\"refresh\" content=\"%lld\">"
		 "</noscript>",
		 (long long)json_integer_value(
		     json_object_get(json_object_get(w, "cur"), "deadline")) -
		     now_unix() + 1);
	put(&b, refresh);
	put(&b, "</head><body><main class=\"saml-slo\" id=\"slo\" "
		"data-walk=\"");
	saml_html_attr(&b, slo_id);
	put(&b, "\" data-step=\"");
	put(&b, num);
	put(&b, "\"><h1>Signing out</h1>");
	add_results(&b, w);
	put(&b, "<p>Signing you out of ");
	saml_html_attr(&b, sp->service_name);
	put(&b, "&hellip;</p><iframe name=\"slo-frame\" "
		"class=\"slo-frame\" title=\"Sign-out\" src=\"");
	saml_html_attr(&b, redirect_url != NULL ? redirect_url : "about:blank");
	put(&b, "\"></iframe>");
	if (xml != NULL) {
		b64 = b64_encode((const unsigned char *)xml, strlen(xml));
		if (b64 == NULL) {
			buf_free(&b);
			return SA_ERR_NOMEM;
		}
		put(&b, "<form id=\"saml-post\" method=\"post\" "
			"target=\"slo-frame\" action=\"");
		saml_html_attr(&b, sp->slo_url);
		put(&b,
		    "\"><input type=\"hidden\" name=\"SAMLRequest\" value=\"");
		saml_html_attr(&b, b64);
		put(&b,
		    "\"><input type=\"hidden\" name=\"RelayState\" value=\"");
		saml_html_attr(&b, slo_id);
		put(&b, "\"><noscript><button type=\"submit\">Sign "
			"out there</button></noscript></form>");
		free(b64);
	}
	rc = put(&b, "</main></body></html>\n");
	if (rc != SA_OK) {
		buf_free(&b);
		return SA_ERR_NOMEM;
	}
	snprintf(csp, sizeof(csp),
		 "default-src 'none'; script-src 'self'; style-src 'self'; "
		 "img-src 'self'; connect-src 'self'; frame-src %s; "
		 "form-action %s; frame-ancestors 'none'; base-uri 'none'",
		 origin, origin);
	saml_page_send(res, &b, csp);
	return SA_OK;
}

/* done_page tells the person the outcome of a logout they started. */
static enum sa_err
done_page(struct http_response *res, const json_t *w)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	put(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		"<meta charset=\"utf-8\"><title>Signed out</title>"
		"<link rel=\"stylesheet\" href=\"/static/style.css\">"
		"</head><body><main><h1>Signed out</h1><p>");
	put(&b, json_is_true(json_object_get(w, "partial"))
		    ? "You are signed out here, but some websites did not "
		      "confirm that they signed you out. Close the browser "
		      "to be sure."
		    : "You are signed out of every website you signed in to "
		      "with this service.");
	put(&b, "</p>");
	add_results(&b, w);
	if (put(&b, "</main></body></html>\n") != SA_OK) {
		buf_free(&b);
		return SA_ERR_NOMEM;
	}
	http_res_bytes(res, 200, "text/html; charset=utf-8", b.data, b.len);
	buf_free(&b);
	return SA_OK;
}

/* finish answers whoever started walk w, which has nothing left. */
static enum sa_err
finish(struct http_request *req, struct http_response *res, const char *slo_id,
       const json_t *w)
{
	struct app *app = http_req_app(req);
	const char *init = json_string_value(json_object_get(w, "initiator"));
	int partial = json_is_true(json_object_get(w, "partial"));
	struct saml_sp *sp = NULL;
	char key[ESTORE_KEY_MAX], *xml = NULL;
	enum sa_err rc;

	walk_key(key, slo_id);
	estore_del(app->es, key, NULL);
	app_audit(app, req, "saml.logout_done", "",
		  json_pack("{s:s, s:b, s:O}", "slo", slo_id, "partial",
			    partial, "results", json_object_get(w, "results")));
	if (init == NULL || saml_sp_of_service(app, init, &sp) != SA_OK)
		return done_page(res, w);
	rc = saml_build_logout_response(
	    app->saml, sp, json_string_value(json_object_get(w, "irt")),
	    partial ? SAML_STATUS_PARTIAL_LOGOUT : SAML_STATUS_SUCCESS, NULL,
	    now_unix(), &xml);
	if (rc == SA_OK)
		rc = saml_send(app->saml, res, sp, sp->slo_binding,
			       sp->slo_response_url, "SAMLResponse", xml,
			       json_string_value(json_object_get(w, "relay")));
	free(xml);
	saml_sp_free(sp);
	return rc;
}

enum sa_err
api_saml_slo_walk(struct http_request *req, struct http_response *res)
{
	char key[ESTORE_KEY_MAX], *url = NULL, *xml = NULL;
	json_t *w = NULL;
	struct saml_sp *sp = NULL;
	struct app *app = http_req_app(req);
	const char *slo_id = http_req_query(req, "w");
	int waiting, poll = http_req_query(req, "poll") != NULL;
	enum sa_err rc;

	if (slo_id == NULL || strlen(slo_id) != SAML_ID_LEN) {
		weblogin_page(res, 400, "Not a logout",
			      "This address does not belong to a logout.");
		return SA_ERR_BAD_REQUEST;
	}
	walk_key(key, slo_id);
	if ((rc = saml_load_json(app, key, 0, &w)) != SA_OK) {
		weblogin_page(res, 404, "Logout expired",
			      "This logout is over or took too long. You are "
			      "signed out of this service.");
		return rc;
	}
	waiting = advance(req, slo_id, w, now_unix());
	if (poll) {
		rc = waiting ? walk_save(app, slo_id, w) : SA_OK;
		http_res_json(res, 200,
			      json_pack("{s:O, s:b}", "step",
					json_object_get(w, "step"), "waiting",
					waiting));
		goto out;
	}
	if (!waiting) {
		rc = finish(req, res, slo_id, w);
		goto out;
	}
	rc = saml_sp_of_service(app,
				json_string_value(json_object_get(
				    json_object_get(w, "cur"), "serviceId")),
				&sp);
	/* The request goes out once per step: a reload of the page waits for
	 * the answer (or the time limit) instead of asking again. */
	if (rc == SA_OK &&
	    !json_is_true(json_object_get(json_object_get(w, "cur"), "sent")))
		rc = send_request(app, slo_id, w, sp, &url, &xml);
	if (rc == SA_OK)
		rc = walk_save(app, slo_id, w);
	if (rc == SA_OK)
		rc = walk_page(res, slo_id, w, sp, url, xml);
out:
	saml_sp_free(sp);
	free(url);
	free(xml);
	json_decref(w);
	return rc;
}
