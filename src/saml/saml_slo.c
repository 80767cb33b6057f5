/*
 * saml_slo.c - single logout. A LogoutRequest from an SP (HTTP-Redirect or
 * HTTP-POST, signature required) or the person's own logout ends the
 * provider session; then every other SAML SP of that session with an SLO
 * endpoint gets a LogoutRequest through the browser, one after the other,
 * each with SEALAUTH_SAML_SLO_TIMEOUT seconds to answer; finally the
 * initiating SP gets a signed LogoutResponse with the aggregate status
 * (Success, or PartialLogout when an SP failed or answered late), or the
 * person a page.
 *
 * The walk lives in the ephemeral store under "saml:slo:{id}" (what is
 * left to do) and "saml:slor:{request ID}" (which walk an SP's answer
 * continues, expiring with the SP's time to answer).
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

#define SLO_RECORD_MAX 16384

/* store_json writes a JSON record under key for ttl seconds. */
static enum sa_err
store_json(struct app *app, const char *key, json_t *rec, int64_t ttl)
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

/* load_json reads a JSON record (caller decrefs); take deletes it too, so
 * one of two racing readers gets it. */
static enum sa_err
load_json(struct app *app, const char *key, int take, json_t **out)
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

/* sp_of_service parses the SP of a service id from the registry's
 * snapshot. */
static enum sa_err
sp_of_service(struct app *app, const char *service_id, struct saml_sp **out)
{
	struct services *snap = services_get(app->services);
	const struct service *svc = services_find(snap, service_id);
	enum sa_err rc = SA_ERR_SAML_UNKNOWN_SP;

	if (svc != NULL && svc->saml != NULL)
		rc = saml_sp_parse(svc, SCHEMA_LOOPBACK_HTTP, out, NULL, 0);
	services_put(snap);
	return rc;
}

/* done_page tells the person the outcome of a logout they started. */
static enum sa_err
done_page(struct http_response *res, int partial)
{
	weblogin_page(res, 200, "Signed out",
		      partial ? "You are signed out here, but some websites "
				"did not confirm that they signed you out. "
				"Close the browser to be sure."
			      : "You are signed out of every website you "
				"signed in to with this service.");
	return SA_OK;
}

/*
 * step sends the browser to the next SP of walk slo_id, or, when none is
 * left, answers the initiator. The record is rewritten without the SP it
 * sends to.
 */
static enum sa_err
step(struct http_request *req, struct http_response *res, const char *slo_id)
{
	struct app *app = http_req_app(req);
	struct saml_idp *idp = app->saml;
	char key[ESTORE_KEY_MAX], rid[SAML_ID_LEN + 1];
	json_t *w = NULL, *queue, *next;
	struct saml_sp *sp = NULL;
	char *xml = NULL;
	int64_t now = now_unix();
	enum sa_err rc;

	snprintf(key, sizeof(key), "saml:slo:%s", slo_id);
	if ((rc = load_json(app, key, 0, &w)) != SA_OK) {
		weblogin_page(res, 404, "Logout expired",
			      "This logout took too long and was abandoned. "
			      "You are signed out of this service.");
		return rc;
	}
	queue = json_object_get(w, "queue");
	while ((next = json_array_get(queue, 0)) != NULL) {
		const char *svc =
		    json_string_value(json_object_get(next, "serviceId"));
		const char *nid =
		    json_string_value(json_object_get(next, "nameId"));
		int fmt =
		    (int)json_integer_value(json_object_get(next, "format"));
		json_t *map;

		json_incref(next);
		json_array_remove(queue, 0);
		saml_sp_free(sp);
		sp = NULL;
		if (svc == NULL || nid == NULL ||
		    sp_of_service(app, svc, &sp) != SA_OK ||
		    sp->slo_url[0] == '\0') {
			json_decref(next);
			continue;
		}
		rc = saml_build_logout_request(
		    idp, sp, nid, (enum saml_nameid)fmt,
		    json_string_value(json_object_get(w, "sid")), now, rid,
		    &xml);
		json_decref(next);
		if (rc != SA_OK)
			goto out;
		/* The SP's answer continues this walk if it comes in time. */
		map = json_pack("{s:s, s:s}", "slo", slo_id, "serviceId",
				sp->service_id);
		snprintf(key, sizeof(key), "saml:slor:%s", rid);
		rc = map != NULL ? store_json(app, key, map, idp->slo_timeout)
				 : SA_ERR_NOMEM;
		json_decref(map);
		if (rc != SA_OK)
			goto out;
		snprintf(key, sizeof(key), "saml:slo:%s", slo_id);
		if ((rc = store_json(
			 app, key, w,
			 300 + idp->slo_timeout *
				   (int64_t)(json_array_size(queue) + 1))) !=
		    SA_OK)
			goto out;
		rc = saml_send(idp, res, sp, sp->slo_binding, sp->slo_url,
			       "SAMLRequest", xml, slo_id);
		goto out;
	}
	/* Nothing left: answer whoever started it. */
	snprintf(key, sizeof(key), "saml:slo:%s", slo_id);
	estore_del(app->es, key, NULL);
	{
		const char *init =
		    json_string_value(json_object_get(w, "initiator"));
		const char *irt = json_string_value(json_object_get(w, "irt"));
		const char *relay =
		    json_string_value(json_object_get(w, "relay"));
		int partial = json_is_true(json_object_get(w, "partial"));

		app_audit(
		    app, req, "saml.logout_done", "",
		    json_pack("{s:s, s:b}", "slo", slo_id, "partial", partial));
		if (init == NULL) {
			rc = done_page(res, partial);
			goto out;
		}
		if ((rc = sp_of_service(app, init, &sp)) != SA_OK) {
			rc = done_page(res, partial);
			goto out;
		}
		rc = saml_build_logout_response(
		    idp, sp, irt,
		    partial ? SAML_STATUS_PARTIAL_LOGOUT : SAML_STATUS_SUCCESS,
		    now, &xml);
		if (rc == SA_OK)
			rc = saml_send(idp, res, sp, sp->slo_binding,
				       sp->slo_response_url, "SAMLResponse",
				       xml, relay);
	}
out:
	saml_sp_free(sp);
	free(xml);
	json_decref(w);
	return rc;
}

/* nid_record reads what an SP was told about the person of session sid. */
static json_t *
nid_record(struct app *app, const char *sid, const char *service_id)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;

	snprintf(key, sizeof(key), "saml:nid:%s:%s", sid, service_id);
	if (load_json(app, key, 0, &rec) != SA_OK)
		return NULL;
	return rec;
}

/*
 * start_logout ends the request's provider session and walks its other
 * SAML SPs. initiator is the SP that asked (NULL: the person did), irt its
 * request's ID, nameid the NameID it named (it must be the one we gave it,
 * or the session is left alone).
 */
static enum sa_err
start_logout(struct http_request *req, struct http_response *res,
	     const struct saml_sp *initiator, const char *irt,
	     const char *nameid, const char *relay)
{
	struct app *app = http_req_app(req);
	struct weblogin_sso sso;
	json_t *w = NULL, *queue, *rp;
	char slo_id[SAML_ID_LEN + 1], key[ESTORE_KEY_MAX];
	size_t i;
	enum sa_err rc;

	memset(&sso, 0, sizeof(sso));
	if (initiator != NULL && weblogin_session_get(req, &sso) == SA_OK) {
		json_t *mine = nid_record(app, sso.sid, initiator->service_id);
		const char *v =
		    json_string_value(json_object_get(mine, "nameId"));
		int same = v != NULL && strcmp(v, nameid) == 0;

		json_decref(mine);
		weblogin_sso_clear(&sso);
		/* Another person's NameID must not end this browser's
		 * session: answer as if there was none. */
		if (!same) {
			app_audit(app, req, "saml.logout_refused", "",
				  json_pack("{s:s, s:s}", "serviceId",
					    initiator->service_id, "reason",
					    "NameID is not the session's"));
			memset(&sso, 0, sizeof(sso));
			goto answer;
		}
	}
	rc = weblogin_session_end(req, res, &sso);
	if (rc != SA_OK && rc != SA_ERR_NOT_FOUND)
		return rc;
answer:
	if ((rc = saml_new_id(slo_id)) != SA_OK)
		goto out;
	w = json_pack("{s:[], s:b, s:s}", "queue", "partial", 0, "sid",
		      sso.sid);
	if (w == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (initiator != NULL) {
		json_object_set_new(w, "initiator",
				    json_string(initiator->service_id));
		json_object_set_new(w, "irt", json_string(irt));
		if (relay != NULL)
			json_object_set_new(w, "relay", json_string(relay));
	}
	queue = json_object_get(w, "queue");
	json_array_foreach(sso.rps, i, rp)
	{
		const char *proto =
		    json_string_value(json_object_get(rp, "protocol"));
		const char *svc =
		    json_string_value(json_object_get(rp, "serviceId"));
		json_t *rec;

		if (proto == NULL || svc == NULL ||
		    strcmp(proto, "saml") != 0 ||
		    (initiator != NULL &&
		     strcmp(svc, initiator->service_id) == 0))
			continue;
		rec = nid_record(app, sso.sid, svc);
		if (rec == NULL)
			continue;
		json_object_set_new(rec, "serviceId", json_string(svc));
		json_array_append_new(queue, rec);
	}
	rc = app_audit(
	    app, req, "saml.logout", sso.token_id,
	    json_pack("{s:s, s:s, s:s, s:I}", "slo", slo_id, "initiator",
		      initiator != NULL ? initiator->service_id : "(user)",
		      "sid", sso.sid, "others",
		      (json_int_t)json_array_size(queue)));
	if (rc != SA_OK)
		goto out;
	snprintf(key, sizeof(key), "saml:slo:%s", slo_id);
	if ((rc = store_json(app, key, w, 300)) != SA_OK)
		goto out;
	rc = step(req, res, slo_id);
out:
	json_decref(w);
	weblogin_sso_clear(&sso);
	return rc;
}

/* answer_response continues a walk with an SP's LogoutResponse. */
static enum sa_err
answer_response(struct http_request *req, struct http_response *res,
		const struct saml_sp *sp, const struct saml_msg *m)
{
	struct app *app = http_req_app(req);
	char key[ESTORE_KEY_MAX], slo_id[SAML_ID_LEN + 1] = "";
	json_t *map = NULL, *w = NULL;
	const char *svc, *slo;
	int ok;
	enum sa_err rc;

	/* Our request IDs have one length; anything else is not ours. */
	if (strlen(m->in_response_to) == SAML_ID_LEN) {
		snprintf(key, sizeof(key), "saml:slor:%.*s", SAML_ID_LEN,
			 m->in_response_to);
		rc = load_json(app, key, 1, &map);
	} else {
		rc = SA_ERR_NOT_FOUND;
	}
	svc = json_string_value(json_object_get(map, "serviceId"));
	slo = json_string_value(json_object_get(map, "slo"));
	if (rc != SA_OK || svc == NULL || slo == NULL ||
	    strcmp(svc, sp->service_id) != 0) {
		/* Late (past its time to answer), unknown, or from another SP
		 * than the one asked: the walk, if any, goes on as partial. */
		json_decref(map);
		map = NULL;
		if (m->has_relay_state &&
		    strlen(m->relay_state) == SAML_ID_LEN) {
			/* Exactly an id's length, so it fits. */
			memcpy(slo_id, m->relay_state, SAML_ID_LEN);
			slo_id[SAML_ID_LEN] = '\0';
		}
		ok = 0;
	} else {
		snprintf(slo_id, sizeof(slo_id), "%s", slo);
		ok = strcmp(m->status, SAML_STATUS_SUCCESS) == 0;
	}
	app_audit(app, req, "saml.logout_answer", "",
		  json_pack("{s:s, s:s, s:b}", "serviceId", sp->service_id,
			    "status", m->status, "inTime", map != NULL));
	json_decref(map);
	if (slo_id[0] == '\0') {
		weblogin_page(res, 400, "Logout not found",
			      "This answer belongs to no logout in progress.");
		return SA_ERR_NOT_FOUND;
	}
	if (!ok) {
		snprintf(key, sizeof(key), "saml:slo:%s", slo_id);
		if (load_json(app, key, 0, &w) == SA_OK) {
			json_object_set_new(w, "partial", json_true());
			store_json(app, key, w, 300);
			json_decref(w);
		}
	}
	return step(req, res, slo_id);
}

enum sa_err
api_saml_slo(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct saml_msg m;
	struct saml_sp *sp = NULL;
	char why[300] = "";
	int64_t now = now_unix();
	enum sa_err rc;

	rc = saml_msg_decode(req, &m, why, sizeof(why));
	if (rc == SA_OK && m.kind == SAML_MSG_AUTHN_REQUEST) {
		rc = SA_ERR_SAML_REQUEST;
		why_set(why, sizeof(why),
			"the SLO endpoint takes logout "
			"messages");
	}
	if (rc == SA_OK && (rc = saml_sp_lookup(app, m.issuer, &sp)) != SA_OK)
		why_set(why, sizeof(why), "the SP is not registered");
	/* Logout messages are always signed: an unsigned one could end
	 * anybody's session from any page. */
	if (rc == SA_OK)
		rc = saml_msg_verify(req, sp, 1, &m, why, sizeof(why));
	if (rc == SA_OK &&
	    (m.issue_instant < now - app->saml->request_max_age ||
	     m.issue_instant > now + SAML_SKEW_FUTURE)) {
		rc = SA_ERR_SAML_EXPIRED;
		why_set(why, sizeof(why), "IssueInstant is outside the window");
	}
	if (rc != SA_OK) {
		app_audit(app, req, "saml.refused", "",
			  json_pack("{s:s, s:s, s:s}", "error", sa_err_code(rc),
				    "issuer", m.issuer, "reason", why));
		weblogin_page(res, sa_err_http(rc), "Logout refused", why);
		goto out;
	}
	if (m.kind == SAML_MSG_LOGOUT_RESPONSE) {
		rc = answer_response(req, res, sp, &m);
		goto out;
	}
	if (sp->slo_url[0] == '\0') {
		rc = SA_ERR_SAML_UNSUPPORTED;
		weblogin_page(
		    res, 400, "Logout refused",
		    "This website has no logout endpoint registered.");
		goto out;
	}
	if (m.binding == SAML_BINDING_POST &&
	    http_req_cookie(req, WEBLOGIN_COOKIE) == NULL) {
		/* A cross-site POST carries no SameSite=Lax cookie: keep the
		 * verified request and come back by a same-site GET, which
		 * does. */
		char k[SAML_ID_LEN + 1], key[ESTORE_KEY_MAX],
		    url[SAML_URL_MAX + 64];
		json_t *rec;
		const char *names[1] = {"k"}, *values[1] = {k};

		if ((rc = saml_new_id(k)) != SA_OK)
			goto out;
		rec = json_pack("{s:s, s:s, s:s}", "serviceId", sp->service_id,
				"irt", m.id, "nameId", m.nameid);
		if (rec != NULL && m.has_relay_state)
			json_object_set_new(rec, "relay",
					    json_string(m.relay_state));
		snprintf(key, sizeof(key), "saml:slob:%s", k);
		rc =
		    rec != NULL ? store_json(app, key, rec, 120) : SA_ERR_NOMEM;
		json_decref(rec);
		if (rc != SA_OK)
			goto out;
		snprintf(url, sizeof(url), "%s/saml/slo/resume",
			 app->saml->base_url);
		rc = saml_auto_form(res, url, "get", names, values, 1);
		goto out;
	}
	rc = start_logout(req, res, sp, m.id, m.nameid,
			  m.has_relay_state ? m.relay_state : NULL);
out:
	saml_sp_free(sp);
	saml_msg_clear(&m);
	return rc;
}

enum sa_err
api_saml_slo_resume(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	const char *k = http_req_query(req, "k");
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;
	struct saml_sp *sp = NULL;
	enum sa_err rc;

	if (k == NULL || strlen(k) != SAML_ID_LEN) {
		weblogin_page(res, 400, "Not a logout",
			      "This address does not continue a logout.");
		return SA_ERR_BAD_REQUEST;
	}
	snprintf(key, sizeof(key), "saml:slob:%s", k);
	if ((rc = load_json(app, key, 1, &rec)) != SA_OK) {
		weblogin_page(res, 404, "Logout expired",
			      "This logout request has expired.");
		return rc;
	}
	rc = sp_of_service(
	    app, json_string_value(json_object_get(rec, "serviceId")), &sp);
	if (rc == SA_OK)
		rc = start_logout(
		    req, res, sp,
		    json_string_value(json_object_get(rec, "irt")),
		    json_string_value(json_object_get(rec, "nameId")),
		    json_string_value(json_object_get(rec, "relay")));
	else
		weblogin_page(res, 403, "Logout refused",
			      "The website is no longer registered.");
	saml_sp_free(sp);
	json_decref(rec);
	return rc;
}

enum sa_err
api_saml_logout_page(struct http_request *req, struct http_response *res)
{
	static const char page[] =
	    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>Sign out</title>"
	    "<link rel=\"stylesheet\" href=\"/static/style.css\"></head>"
	    "<body><main><h1>Sign out</h1><p>Sign out of this service and of "
	    "every website you signed in to with it.</p>"
	    "<form method=\"post\" action=\"/saml/logout\">"
	    "<button type=\"submit\" id=\"logout\">Sign out everywhere</button>"
	    "</form></main></body></html>\n";

	(void)req;
	http_res_bytes(res, 200, "text/html; charset=utf-8", page,
		       sizeof(page) - 1);
	return SA_OK;
}

enum sa_err
api_saml_logout(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	const char *origin = http_req_origin(req);
	char mine[SAML_URL_MAX + 1];
	size_t n;

	/* Only our own page may log the person out (no logout CSRF). */
	snprintf(mine, sizeof(mine), "%s", app->saml->base_url);
	n = strcspn(
	    mine + (strstr(mine, "://") ? strstr(mine, "://") - mine + 3 : 0),
	    "/");
	mine[(strstr(mine, "://") ? strstr(mine, "://") - mine + 3 : 0) + n] =
	    '\0';
	if (origin == NULL || strcmp(origin, mine) != 0) {
		weblogin_page(res, 403, "Sign-out refused",
			      "Sign out from this service's own page.");
		return SA_ERR_ORIGIN;
	}
	return start_logout(req, res, NULL, NULL, NULL, NULL);
}
