/*
 * api_saml.c - the IdP's HTTP endpoints: metadata, single sign-on (an
 * AuthnRequest by HTTP-Redirect or HTTP-POST, checked, then answered at once
 * from the provider session or after the X.1280 login), and the
 * continuation that posts the Response to the SP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/schema.h"
#include "core/util.h"
#include "login/claims.h"
#include "login/services.h"
#include "login/subject.h"
#include "login/weblogin.h"
#include "saml/saml_int.h"
#include "store/store.h"

#define PROTOCOL "saml"

/* ---- Metadata ------------------------------------------------------------ */

enum sa_err
api_saml_metadata(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	const char *s = http_req_query(req, "signed");
	char *xml = NULL;
	size_t n = 0;
	enum sa_err rc;

	rc = saml_metadata_build(app->saml, s != NULL && strcmp(s, "1") == 0,
				 now_unix(), &xml, &n);
	if (rc != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	http_res_bytes(res, 200, "application/samlmetadata+xml", xml, n);
	http_res_header(res, "Cache-Control", "max-age=300");
	free(xml);
	return SA_OK;
}

/* ---- Helpers --------------------------------------------------------------
 */

/* refuse_page shows an error the SP must not receive (SP or ACS unknown),
 * audited. Never a redirect: the URL in the request is not trusted. */
static enum sa_err
refuse_page(struct http_request *req, struct http_response *res,
	    enum sa_err err, const char *issuer, const char *why)
{
	app_audit(http_req_app(req), req, "saml.refused", "",
		  json_pack("{s:s, s:s, s:s}", "error", sa_err_code(err),
			    "issuer", issuer != NULL ? issuer : "", "reason",
			    why));
	weblogin_page(res, sa_err_http(err), "Sign-in request refused", why);
	return err;
}

/* answer_error sends a SAML error Response to a known SP's ACS. */
static enum sa_err
answer_error(struct http_request *req, struct http_response *res,
	     const struct saml_sp *sp, const char *acs, const char *irt,
	     const char *relay, enum sa_err err, const char *status,
	     const char *sub, const char *why)
{
	struct app *app = http_req_app(req);
	char *xml = NULL;
	enum sa_err rc;

	app_audit(app, req, "saml.refused", "",
		  json_pack("{s:s, s:s, s:s, s:s}", "error", sa_err_code(err),
			    "serviceId", sp->service_id, "issuer",
			    sp->entity_id, "reason", why));
	rc = saml_build_response(app->saml, sp, acs, irt, NULL, status, sub,
				 why, now_unix(), &xml);
	if (rc == SA_OK)
		rc = saml_send(app->saml, res, sp, SAML_BINDING_POST, acs,
			       "SAMLResponse", xml, relay);
	free(xml);
	return rc;
}

/* rac_ok tells whether our authentication context answers a
 * RequestedAuthnContext (none asked: yes). We assert one class; weaker
 * ones a "minimum" or "better" comparison accepts are listed here. */
static int
rac_ok(const struct saml_msg *m)
{
	static const char *const weaker[] = {
	    "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified",
	    "urn:oasis:names:tc:SAML:2.0:ac:classes:Password",
	    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
	};
	const char *cmp = m->rac_comparison;

	if (m->nrac == 0)
		return 1;
	for (size_t i = 0; i < m->nrac; i++) {
		int ours = strcmp(m->rac[i], SAML_AC_MOBILE_TWO_FACTOR) == 0;
		int weak = 0;

		for (size_t j = 0; j < ARRAY_LEN(weaker); j++)
			weak |= strcmp(m->rac[i], weaker[j]) == 0;
		if ((strcmp(cmp, "exact") == 0 ||
		     strcmp(cmp, "maximum") == 0) &&
		    ours)
			return 1;
		if (strcmp(cmp, "minimum") == 0 && (ours || weak))
			return 1;
		if (strcmp(cmp, "better") == 0 && weak)
			return 1;
	}
	return 0;
}

/* session_has_scopes tells whether the provider session granted every
 * scope to some relying party already: then no new approval is needed. */
static int
session_has_scopes(const struct weblogin_sso *sso, const struct saml_sp *sp)
{
	for (size_t i = 0; i < sp->nscopes; i++) {
		const json_t *rp;
		size_t k;
		int found = 0;

		json_array_foreach(sso->rps, k, rp)
		{
			const json_t *sc;
			size_t j;

			json_array_foreach(json_object_get(rp, "scopes"), j, sc)
			    found |=
			    json_is_string(sc) &&
			    strcmp(json_string_value(sc), sp->scopes[i]) == 0;
		}
		if (!found)
			return 0;
	}
	return 1;
}

/*
 * issue builds and posts the Response for a person (token id, when they
 * authenticated, the scopes they granted) to sp's acs, and records the SP
 * in the provider session (when record is set: a finished login did it
 * already). The NameID is pairwise (persistent) or fresh
 * (transient); the SessionIndex is the provider session's public id.
 * done (NULL for single sign-on) is the login that finished: its row and
 * the assertion's are written in one commit (weblogin_audit).
 */
static enum sa_err
issue(struct http_request *req, struct http_response *res,
      const struct saml_sp *sp, const char *acs, const char *irt,
      const char *relay, const char *nameid_format, struct weblogin_sso *sso,
      int record, const char *const *granted, size_t ngranted,
      const struct weblogin_done *done)
{
	struct app *app = http_req_app(req);
	struct enrollment e;
	struct identity id;
	json_t *claims = json_object(), *ij = NULL;
	char nameid[SUBJECT_MAX + 1], *xml = NULL;
	struct saml_subject subj;
	enum saml_nameid fmt = sp->nameid;
	int64_t now = now_unix();
	enum sa_err rc;

	memset(&e, 0, sizeof(e));
	memset(&id, 0, sizeof(id));
	if (claims == NULL)
		return SA_ERR_NOMEM;
	if (strcmp(nameid_format, SAML_NAMEID_URI_PERSISTENT) == 0)
		fmt = SAML_NAMEID_PERSISTENT;
	else if (strcmp(nameid_format, SAML_NAMEID_URI_TRANSIENT) == 0)
		fmt = SAML_NAMEID_TRANSIENT;
	rc = dstore_enroll_get(app->ds, sso->token_id, &e);
	if (rc == SA_OK && e.revoked_at != 0)
		rc = SA_ERR_TOKEN_REVOKED;
	if (rc != SA_OK)
		goto out;
	ij = json_loads(e.claims != NULL ? e.claims : "{}", 0, NULL);
	if (ij == NULL || (rc = claims_identity_from_json(ij, &id)) != SA_OK ||
	    (rc = claims_add(&id, granted, ngranted, now, claims)) != SA_OK)
		goto out;
	/* Who vouched for the released claims, with any of them. */
	if (ngranted > 0 && e.authority[0] != '\0')
		json_object_set_new(claims, SAML_CLAIM_AUTHORITY,
				    json_string(e.authority));
	if (fmt == SAML_NAMEID_TRANSIENT) {
		if ((rc = saml_new_id(nameid)) != SA_OK)
			goto out;
	} else {
		/* Pairwise per SP entity id: stable there, unlinkable
		 * between SPs, never the raw token id. */
		if ((rc = login_subject(app, sp->entity_id, 0, sso->authority,
					sso->token_id, nameid)) != SA_OK)
			goto out;
	}
	subj.nameid = nameid;
	subj.format = fmt;
	subj.auth_time = sso->auth_time;
	subj.session_index = sso->sid;
	subj.claims = claims;
	if ((rc = saml_build_response(app->saml, sp, acs, irt, &subj, NULL,
				      NULL, NULL, now, &xml)) != SA_OK)
		goto out;
	/* A finished login recorded the SP in the session it made already. */
	if (record &&
	    (rc = weblogin_session_add_rp(req, sso, PROTOCOL, sp->service_id,
					  granted, ngranted)) != SA_OK)
		goto out;
	/* What single logout needs to name the person at this SP. */
	{
		char key[ESTORE_KEY_MAX];
		json_t *rec = json_pack("{s:s, s:i}", "nameId", nameid,
					"format", (int)fmt);
		char *text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;

		snprintf(key, sizeof(key), "saml:nid:%s:%s", sso->sid,
			 sp->service_id);
		if (text != NULL)
			estore_set(
			    app->es, key, text, strlen(text),
			    (uint64_t)(sso->expires_at - now + 60) * 1000, 0);
		free(text);
		json_decref(rec);
	}
	/* The audit names the claims released, never their values. */
	{
		json_t *names = json_array();
		const char *k;
		json_t *v;

		json_object_foreach(claims, k, v)
		    json_array_append_new(names, json_string(k));
		rc = weblogin_audit(req, done, "saml.assertion", sso->token_id,
				    json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}",
					      "serviceId", sp->service_id, "sp",
					      sp->entity_id, "acs", acs, "sid",
					      sso->sid, "claims", names,
					      "encrypted", sp->encrypt));
	}
	if (rc != SA_OK)
		goto out;
	rc = saml_send(app->saml, res, sp, SAML_BINDING_POST, acs,
		       "SAMLResponse", xml, relay);
out:
	if (rc == SA_ERR_NOT_FOUND || rc == SA_ERR_NOT_ENROLLED ||
	    rc == SA_ERR_TOKEN_REVOKED)
		rc = answer_error(req, res, sp, acs, irt, relay, rc,
				  SAML_STATUS_RESPONDER,
				  SAML_STATUS_AUTHN_FAILED,
				  "the enrollment is no longer valid");
	enrollment_free(&e);
	claims_identity_clear(&id);
	json_decref(ij);
	json_decref(claims);
	free(xml);
	return rc;
}

/* ---- Single sign-on -------------------------------------------------------
 */

enum sa_err
saml_sp_lookup(struct app *app, const char *entity_id, struct saml_sp **out)
{
	struct services *snap = services_get(app->services);
	enum sa_err rc;

	rc = saml_sp_find(snap, entity_id, SCHEMA_LOOPBACK_HTTP, out);
	services_put(snap);
	return rc;
}

/* replay_check records the request's ID; a second use is refused. The
 * record lives in the ephemeral store, so it holds across instances. */
static enum sa_err
replay_check(struct app *app, const struct saml_msg *m)
{
	unsigned char d[32];
	char key[ESTORE_KEY_MAX], *hex;
	struct buf b;
	enum sa_err rc;

	buf_init(&b, 2 * SAML_URL_MAX + 4);
	buf_append(&b, m->issuer, strlen(m->issuer) + 1);
	buf_append(&b, m->id, strlen(m->id));
	sha256(b.data, b.len, d);
	buf_free(&b);
	hex = hex_encode(d, sizeof(d));
	if (hex == NULL)
		return SA_ERR_NOMEM;
	snprintf(key, sizeof(key), "saml:rid:%s", hex);
	free(hex);
	rc = estore_set(
	    app->es, key, "1", 1,
	    (uint64_t)(app->saml->request_max_age + 2 * SAML_SKEW_FUTURE) *
		1000,
	    ESTORE_NX);
	return rc == SA_ERR_CONFLICT ? SA_ERR_SAML_REPLAY : rc;
}

enum sa_err
api_saml_sso(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct saml_idp *idp = app->saml;
	struct saml_msg m;
	struct saml_sp *sp = NULL;
	const struct saml_acs *acs;
	struct weblogin_sso sso;
	char why[300] = "", sso_url[SAML_URL_MAX + 32];
	const char *relay, *fmt;
	const char *scopes[32];
	int64_t now = now_unix();
	int have_sso = 0;
	enum sa_err rc;

	memset(&sso, 0, sizeof(sso));
	rc = saml_msg_decode(req, &m, why, sizeof(why));
	if (rc == SA_OK && m.kind != SAML_MSG_AUTHN_REQUEST) {
		rc = SA_ERR_SAML_REQUEST;
		why_set(why, sizeof(why),
			"the SSO endpoint takes AuthnRequests");
	}
	if (rc != SA_OK) {
		rc = refuse_page(req, res, rc, NULL, why);
		goto out;
	}
	if ((rc = saml_sp_lookup(app, m.issuer, &sp)) != SA_OK) {
		rc = refuse_page(req, res, SA_ERR_SAML_UNKNOWN_SP, m.issuer,
				 "The website that sent you here is not "
				 "registered with this sign-in service.");
		goto out;
	}
	acs =
	    saml_sp_acs(sp, m.has_acs_url == 1 ? m.acs_url : NULL, m.acs_index);
	if (acs == NULL) {
		rc = refuse_page(req, res, SA_ERR_SAML_ACS, m.issuer,
				 "The website asked for the answer to go to an "
				 "address it has not registered.");
		goto out;
	}
	/* From here on the SP and its ACS are known: errors go back there. */
	relay = m.has_relay_state ? m.relay_state : NULL;
	if ((rc = saml_msg_verify(req, sp, sp->want_signed_requests, &m, why,
				  sizeof(why))) != SA_OK) {
		rc = answer_error(req, res, sp, acs->url, m.id, relay, rc,
				  SAML_STATUS_REQUESTER, SAML_STATUS_DENIED,
				  why);
		goto out;
	}
	snprintf(sso_url, sizeof(sso_url), "%s/saml/sso", idp->base_url);
	if (m.destination[0] != '\0' && strcmp(m.destination, sso_url) != 0) {
		rc = answer_error(req, res, sp, acs->url, m.id, relay,
				  SA_ERR_SAML_REQUEST, SAML_STATUS_REQUESTER,
				  SAML_STATUS_DENIED,
				  "Destination is not this endpoint");
		goto out;
	}
	if (m.issue_instant < now - idp->request_max_age ||
	    m.issue_instant > now + SAML_SKEW_FUTURE) {
		rc = answer_error(req, res, sp, acs->url, m.id, relay,
				  SA_ERR_SAML_EXPIRED, SAML_STATUS_REQUESTER,
				  SAML_STATUS_DENIED,
				  "IssueInstant is outside the allowed window");
		goto out;
	}
	if ((rc = replay_check(app, &m)) != SA_OK) {
		rc = answer_error(req, res, sp, acs->url, m.id, relay, rc,
				  SAML_STATUS_REQUESTER, SAML_STATUS_DENIED,
				  "this request ID was already used");
		goto out;
	}
	if (m.protocol_binding[0] != '\0' &&
	    strcmp(m.protocol_binding, SAML_BINDING_URI_POST) != 0) {
		rc =
		    answer_error(req, res, sp, acs->url, m.id, relay,
				 SA_ERR_SAML_UNSUPPORTED, SAML_STATUS_REQUESTER,
				 SAML_STATUS_UNSUPPORTED,
				 "responses are sent by HTTP-POST only");
		goto out;
	}
	fmt = m.nameid_policy;
	if (fmt[0] != '\0' && strcmp(fmt, SAML_NAMEID_URI_PERSISTENT) != 0 &&
	    strcmp(fmt, SAML_NAMEID_URI_TRANSIENT) != 0 &&
	    strcmp(fmt, SAML_NAMEID_URI_UNSPECIFIED) != 0) {
		rc = answer_error(
		    req, res, sp, acs->url, m.id, relay,
		    SA_ERR_SAML_UNSUPPORTED, SAML_STATUS_REQUESTER,
		    SAML_STATUS_NAMEID_POLICY, "NameID format not offered");
		goto out;
	}
	if (!rac_ok(&m)) {
		rc =
		    answer_error(req, res, sp, acs->url, m.id, relay,
				 SA_ERR_SAML_UNSUPPORTED, SAML_STATUS_REQUESTER,
				 SAML_STATUS_NO_AUTHN_CONTEXT,
				 "the requested authentication context is not "
				 "offered");
		goto out;
	}
	for (size_t i = 0; i < sp->nscopes; i++)
		scopes[i] = sp->scopes[i];
	have_sso = weblogin_session_get(req, &sso) == SA_OK;
	/* The provider session answers unless the SP forces a new login or
	 * asks for more than the person granted in it. */
	if (have_sso && !m.force_authn && session_has_scopes(&sso, sp)) {
		rc = issue(req, res, sp, acs->url, m.id, relay, fmt, &sso, 1,
			   scopes, sp->nscopes, NULL);
		goto out;
	}
	if (m.is_passive) {
		rc = answer_error(req, res, sp, acs->url, m.id, relay,
				  SA_ERR_SAML_UNSUPPORTED,
				  SAML_STATUS_RESPONDER, SAML_STATUS_NO_PASSIVE,
				  "a login is needed and IsPassive was set");
		goto out;
	}
	{
		json_t *data = json_pack("{s:s, s:s, s:s, s:s}", "sp",
					 sp->entity_id, "acs", acs->url, "rid",
					 m.id, "nameIdFormat", fmt);
		char id[WEBLOGIN_ID_LEN + 1], loc[WEBLOGIN_ID_LEN + 16];

		if (data != NULL && relay != NULL)
			json_object_set_new(data, "relay", json_string(relay));
		rc = weblogin_begin(app, PROTOCOL, sp->service_id, scopes,
				    sp->nscopes, NULL, data, id);
		if (rc != SA_OK) {
			http_res_error(res, rc, NULL, NULL);
			goto out;
		}
		snprintf(loc, sizeof(loc), "/?login=%s", id);
		http_res_bytes(res, 303, "text/plain; charset=utf-8", "", 0);
		http_res_header(res, "Location", loc);
	}
out:
	weblogin_sso_clear(&sso);
	saml_sp_free(sp);
	saml_msg_clear(&m);
	return rc;
}

enum sa_err
saml_login_continue(struct http_request *req, struct http_response *res,
		    const struct weblogin_done *done)
{
	struct app *app = http_req_app(req);
	const json_t *d = done->pending->data;
	const char *eid = json_string_value(json_object_get(d, "sp"));
	const char *acs = json_string_value(json_object_get(d, "acs"));
	const char *rid = json_string_value(json_object_get(d, "rid"));
	const char *fmt = json_string_value(json_object_get(d, "nameIdFormat"));
	const char *relay = json_string_value(json_object_get(d, "relay"));
	struct weblogin_sso sso = *done->sso;
	struct saml_sp *sp = NULL;
	enum sa_err rc;

	if (eid == NULL || acs == NULL || rid == NULL || fmt == NULL) {
		weblogin_page(res, 500, "Sign-in failed",
			      "The sign-in request was damaged.");
		return SA_ERR_INTERNAL;
	}
	rc = saml_sp_lookup(app, eid, &sp);
	/* The ACS must still be registered: the settings may have changed. */
	if (rc != SA_OK || saml_sp_acs(sp, acs, -1) == NULL) {
		saml_sp_free(sp);
		weblogin_page(res, 403, "Sign-in refused",
			      "The website is no longer registered.");
		return rc != SA_OK ? rc : SA_ERR_SAML_ACS;
	}
	rc = issue(req, res, sp, acs, rid, relay, fmt, &sso, 0, done->granted,
		   done->ngranted, done);
	saml_sp_free(sp);
	return rc;
}
