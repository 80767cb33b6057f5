/*
 * api_trust.c - the trust chain for admins: its state document by
 * document, and a refresh on demand.
 *
 * A refresh is not a change of configuration: it fetches the lists the
 * configuration already names and installs them only when every signature
 * up to the pinned governance certificate verifies, exactly as the timer
 * does. So it needs the admin's session but no step-up ceremony; it is
 * rate limited for the whole server (class "trust_refresh": a refresh
 * fetches from the lists' publishers) and audited, with its outcome.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"
#include "trust/trust.h"

/* kind_index maps a list's kind to its trust_doc_kind; -1 if unknown. */
static int
kind_index(const char *kind)
{
	static const char *const names[TRUST_DOC_KINDS] = {
	    [TRUST_DOC_GOVERNANCE] = "governance",
	    [TRUST_DOC_SCHEME] = "scheme",
	    [TRUST_DOC_TSL] = "tsl",
	    [TRUST_DOC_VRL] = "vrl",
	    [TRUST_DOC_CRL] = "crl",
	};

	for (int i = 0; kind != NULL && i < TRUST_DOC_KINDS; i++)
		if (strcasecmp(kind, names[i]) == 0)
			return i;
	return -1;
}

/*
 * document_json describes one document of the set: what the trust layer
 * reports (kind, url, iac, sequence, issued, nextUpdate, signer, status),
 * its age, and why it is stale (null when it is not): past its next
 * update, or older than the maximum age of its kind.
 */
static json_t *
document_json(const struct config *cfg, const json_t *l, int64_t now)
{
	const char *kind = json_string_value(json_object_get(l, "kind"));
	const char *is = json_string_value(json_object_get(l, "issued"));
	const char *nx = json_string_value(json_object_get(l, "next_update"));
	int64_t issued = is ? iso8601_parse(is) : -1;
	int64_t next = nx ? iso8601_parse(nx) : -1;
	int k = kind_index(kind);
	long max_age = k >= 0 ? cfg->trust_max_age[k] : 0;
	char why[160] = "";

	if (next >= 0 && now >= next)
		snprintf(why, sizeof(why), "past its next update (%s)", nx);
	else if (issued >= 0 && max_age > 0 && now - issued > max_age)
		snprintf(why, sizeof(why),
			 "issued more than %ld seconds ago, the maximum age "
			 "of a %s",
			 max_age, kind);
	return json_pack(
	    "{s:O?, s:O?, s:O?, s:O?, s:o, s:o, s:O?, s:O?, "
	    "s:o, s:s?}",
	    "kind", json_object_get(l, "kind"), "url",
	    json_object_get(l, "url"), "iac", json_object_get(l, "iac"),
	    "sequence", json_object_get(l, "sequence"), "issued",
	    issued >= 0 ? json_integer(issued) : json_null(), "nextUpdate",
	    next >= 0 ? json_integer(next) : json_null(), "signer",
	    json_object_get(l, "signer"), "status",
	    json_object_get(l, "status"), "ageSeconds",
	    issued >= 0 ? json_integer(now - issued) : json_null(),
	    "staleReason", why[0] ? why : NULL);
}

/* unix_times turns the ISO 8601 times of a status object into unix
 * seconds, the admin API's form. */
static json_t *
unix_times(json_t *st)
{
	static const char *const names[] = {"loadedAt", "expiresAt",
					    "nextRefresh"};

	for (size_t i = 0; st != NULL && i < sizeof(names) / sizeof(names[0]);
	     i++) {
		const char *v =
		    json_string_value(json_object_get(st, names[i]));
		int64_t t = v ? iso8601_parse(v) : -1;
		json_object_set_new(st, names[i],
				    t >= 0 ? json_integer(t) : json_null());
	}
	return st;
}

/* trust_json is the whole answer: the set's state and its documents. */
static json_t *
trust_json(struct app *app, int64_t now)
{
	json_t *lists = trust_lists_json(app->trust), *docs = json_array();
	json_t *l;
	size_t i;

	if (lists == NULL || docs == NULL) {
		json_decref(lists);
		json_decref(docs);
		return NULL;
	}
	json_array_foreach(lists, i, l)
	    json_array_append_new(docs, document_json(&app->cfg, l, now));
	json_decref(lists);
	return json_pack("{s:o, s:o}", "status",
			 unix_times(trust_status_json(app->trust, now)),
			 "documents", docs);
}

/* trust_ready answers 404 when the server has no trust chain at all. */
static enum sa_err
trust_ready(struct app *app, struct http_response *res)
{
	if (app->trust == NULL)
		return http_res_error(res, SA_ERR_NOT_FOUND, NULL,
				      "this server has no trust chain");
	return SA_OK;
}

enum sa_err
admin_trust_status(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	json_t *body;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK ||
	    (rc = trust_ready(adm->app, res)) != SA_OK)
		return rc;
	if ((body = trust_json(adm->app, now_unix())) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	http_res_json(res, 200, body);
	return SA_OK;
}

enum sa_err
admin_trust_refresh(struct http_request *req, struct http_response *res)
{
	struct admin_caller who;
	struct trust_result tr;
	struct admin *adm;
	json_t *body;
	enum sa_err rc, arc;
	int announced;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK ||
	    (rc = trust_ready(adm->app, res)) != SA_OK)
		return rc;
	/* For the whole server, whoever asks: each refresh fetches every
	 * list from its publisher. */
	if ((rc = http_req_limit(req, res, "trust_refresh", "server",
				 "trust")) != SA_OK) {
		admin_audit(req, &who, "admin.trust_refresh_refused",
			    json_pack("{s:s}", "error", sa_err_code(rc)));
		return rc;
	}
	/* The other instances refresh their own sets at the same time; a
	 * store that cannot publish leaves them to their timers. */
	announced = app_refresh_announce(adm->app);
	memset(&tr, 0, sizeof(tr));
	rc = trust_refresh(adm->app->trust, now_unix(), 1, &tr);
	/* The refresher thread revokes the enrollments that new revocation
	 * lists name, within a second: it notices the new set itself. */
	arc = admin_audit(req, &who,
			  rc == SA_OK ? "admin.trust_refreshed"
				      : "admin.trust_refresh_failed",
			  rc == SA_OK ? NULL : trust_result_json(&tr));
	if (arc != SA_OK)
		return http_res_error(res, arc, NULL, NULL);
	if ((body = trust_json(adm->app, now_unix())) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	json_object_set_new(body, "othersAsked", json_boolean(announced));
	if (rc != SA_OK) {
		/* The last good set stays in use; say what failed. */
		json_object_set_new(body, "error",
				    json_string(sa_err_code(rc)));
		json_object_set_new(
		    body, "message",
		    json_string(tr.reason[0] ? tr.reason : sa_err_str(rc)));
		json_object_set_new(body, "step", json_string(tr.step));
		http_res_json(res, 502, body);
		return rc;
	}
	json_object_set_new(body, "refreshed", json_true());
	http_res_json(res, 200, body);
	return SA_OK;
}
