/*
 * saml_slo.c - single logout messages. A LogoutRequest from an SP
 * (HTTP-Redirect or HTTP-POST, signature required) or the person's own
 * logout ends the provider session and starts a walk over the session's
 * other SAML SPs (saml_walk.c), which ends with the initiating SP's signed
 * LogoutResponse. A LogoutRequest whose NameID is not the one this
 * browser's session gave that SP is answered Responder + UnknownPrincipal
 * and ends nothing. An SP's LogoutResponse is recorded on the walk step it
 * answers.
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

/* nid_record reads what an SP was told about the person of session sid. */
static json_t *
nid_record(struct app *app, const char *sid, const char *service_id)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;

	snprintf(key, sizeof(key), "saml:nid:%s:%s", sid, service_id);
	if (saml_load_json(app, key, 0, &rec) != SA_OK)
		return NULL;
	return rec;
}

/*
 * unknown_principal answers the SP initiator, whose LogoutRequest irt named
 * a NameID that is not the one this browser's session gave it, with a
 * signed Responder + UnknownPrincipal, and ends nothing.
 */
static enum sa_err
unknown_principal(struct http_request *req, struct http_response *res,
		  const struct saml_sp *initiator, const char *irt,
		  const char *relay)
{
	struct app *app = http_req_app(req);
	char *xml = NULL;
	enum sa_err rc;

	rc = app_audit(app, req, "saml.logout_refused", "",
		       json_pack("{s:s, s:s, s:s}", "serviceId",
				 initiator->service_id, "status",
				 "UnknownPrincipal", "reason",
				 "NameID is not the session's"));
	if (rc != SA_OK)
		return rc;
	rc = saml_build_logout_response(
	    app->saml, initiator, irt, SAML_STATUS_RESPONDER,
	    SAML_STATUS_UNKNOWN_PRINCIPAL, now_unix(), &xml);
	if (rc == SA_OK)
		rc = saml_send(
		    app->saml, res, initiator, initiator->slo_binding,
		    initiator->slo_response_url, "SAMLResponse", xml, relay);
	free(xml);
	return rc;
}

/*
 * start_logout ends the request's provider session and walks its other
 * SAML SPs. initiator is the SP that asked (NULL: the person did), irt its
 * request's ID, nameid the NameID it named: it must be the one we gave it
 * in this browser's session, or the SP hears UnknownPrincipal.
 */
static enum sa_err
start_logout(struct http_request *req, struct http_response *res,
	     const struct saml_sp *initiator, const char *irt,
	     const char *nameid, const char *relay)
{
	struct app *app = http_req_app(req);
	struct weblogin_sso sso;
	json_t *w = NULL, *queue, *rp;
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
		 * session. */
		if (!same)
			return unknown_principal(req, res, initiator, irt,
						 relay);
	}
	rc = weblogin_session_end(req, res, &sso);
	if (rc != SA_OK && rc != SA_ERR_NOT_FOUND)
		return rc;
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
	    json_pack("{s:s, s:s, s:I}", "initiator",
		      initiator != NULL ? initiator->service_id : "(user)",
		      "sid", sso.sid, "others",
		      (json_int_t)json_array_size(queue)));
	if (rc == SA_OK)
		rc = saml_walk_begin(req, res, w);
out:
	json_decref(w);
	weblogin_sso_clear(&sso);
	return rc;
}

/*
 * answer_response records an SP's LogoutResponse on the walk step it
 * answers. The walk's own page moves on; this answer lands in its frame
 * (or, for an SP that breaks out of frames, in the window, with a link
 * back to the walk).
 */
static enum sa_err
answer_response(struct http_request *req, struct http_response *res,
		const struct saml_sp *sp, const struct saml_msg *m)
{
	struct app *app = http_req_app(req);
	char key[ESTORE_KEY_MAX];
	json_t *map = NULL;
	const char *svc, *slo = NULL;
	int in_time = 0, ok = strcmp(m->status, SAML_STATUS_SUCCESS) == 0;
	struct buf b;
	enum sa_err rc = SA_ERR_NOT_FOUND;

	/* Our request IDs have one length; anything else is not ours. */
	if (strlen(m->in_response_to) == SAML_ID_LEN) {
		snprintf(key, sizeof(key), "saml:slor:%.*s", SAML_ID_LEN,
			 m->in_response_to);
		rc = saml_load_json(app, key, 1, &map);
	}
	svc = json_string_value(json_object_get(map, "serviceId"));
	if (rc == SA_OK && svc != NULL && strcmp(svc, sp->service_id) == 0) {
		slo = json_string_value(json_object_get(map, "slo"));
		/* Past its step's time limit, the walk has moved on. */
		in_time = slo != NULL &&
			  saml_walk_answer(
			      app, slo, sp->service_id,
			      json_integer_value(json_object_get(map, "n")),
			      ok) == SA_OK;
	}
	app_audit(app, req, "saml.logout_answer", "",
		  json_pack("{s:s, s:s, s:b}", "serviceId", sp->service_id,
			    "status", m->status, "inTime", in_time));
	buf_init(&b, 4096);
	if (slo == NULL) {
		json_decref(map);
		buf_free(&b);
		weblogin_page(res, 400, "Logout not found",
			      "This answer belongs to no logout in progress.");
		return SA_ERR_NOT_FOUND;
	}
	{
		static const char head[] =
		    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
		    "charset=\"utf-8\"><title>Signed out</title>"
		    "<link rel=\"stylesheet\" href=\"/static/style.css\">"
		    "</head><body><main><p>";
		static const char mid[] = "</p><p><a target=\"_top\" href=\"";
		static const char tail[] = "\">Continue</a></p></main></body>"
					   "</html>\n";
		const char *said =
		    in_time ? (ok ? "Signed out of " : "Not signed out of ")
			    : "Too late an answer from ";

		buf_append(&b, head, sizeof(head) - 1);
		buf_append(&b, said, strlen(said));
		saml_html_attr(&b, sp->service_name);
		buf_append(&b, mid, sizeof(mid) - 1);
		saml_html_attr(&b, "/saml/slo/walk?w=");
		saml_html_attr(&b, slo);
		rc = buf_append(&b, tail, sizeof(tail) - 1);
	}
	if (rc == SA_OK)
		http_res_bytes(res, 200, "text/html; charset=utf-8", b.data,
			       b.len);
	buf_free(&b);
	json_decref(map);
	return rc;
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
		rc = rec != NULL ? saml_store_json(app, key, rec, 120)
				 : SA_ERR_NOMEM;
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
	if ((rc = saml_load_json(app, key, 1, &rec)) != SA_OK) {
		weblogin_page(res, 404, "Logout expired",
			      "This logout request has expired.");
		return rc;
	}
	rc = saml_sp_of_service(
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
