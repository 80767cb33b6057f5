/*
 * api_login_sessions.c - the live login sessions under
 * /v1/admin/login-sessions: a page of them (newest first, with filters and
 * a cursor), and ending one with step-up.
 *
 * The list reads the ephemeral store's index of sessions (SESSION_INDEX,
 * login/session.h), newest expiry first, and each session it names. A
 * session leaves the index when it ends; an entry whose session is gone
 * (dropped after a failed push) or ended is skipped and removed. Ending a
 * session rejects it as a phone's "no" would: its browser is told over the
 * WebSocket, wherever its socket is, and the phone's answer is refused from
 * then on.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/util.h"
#include "login/session.h"
#include "login/session_ws.h"

#define ACTION "login_session_end"
#define REFUSED "admin.login_session_end_refused"
#define PAGE_DEFAULT 50
#define PAGE_MAX 200
/* Index entries one list call examines at most: a filter that matches
 * rarely answers fewer sessions and a cursor to go on. */
#define SCAN_MAX 5000
#define SCAN_STEP 200
#define ENDED_REASON "Ended by an administrator"

static const struct schema_field end_start_fields[] = {
    SCHEMA_STRING("sessionId", SCHEMA_REQUIRED, SESSION_ID_LEN, SESSION_ID_LEN,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
const struct schema admin_login_session_end_schema = {end_start_fields, NULL};

static const char *
state_name(enum session_end how)
{
	switch (how) {
	case SESSION_APPROVED:
		return "approved";
	case SESSION_REJECTED:
		return "rejected";
	case SESSION_TOO_MANY:
		return "failed";
	default:
		return "waiting";
	}
}

/* session_json is the list's shape of a session (new reference). The
 * token id shows once the session is bound to an enrollment: a decoy's
 * (a token id nobody enrolled, docs/api.md) is whatever was typed. */
static json_t *
session_json(const struct session *s, enum session_end how)
{
	json_t *scopes = json_array();

	for (size_t i = 0; scopes != NULL && i < s->nscopes; i++)
		json_array_append_new(scopes, json_string(s->scopes[i]));
	return json_pack(
	    "{s:s, s:s?, s:b, s:s, s:s, s:o, s:s, s:s, s:I, s:I, s:s, s:s, "
	    "s:s}",
	    "sessionId", s->id, "tokenId", s->decoy ? NULL : s->token_id,
	    "bound", !s->decoy, "serviceId", s->service_id, "serviceName",
	    s->service_name, "scopes", scopes ? scopes : json_array(),
	    "matchMode", service_mode_name(s->mode), "state", state_name(how),
	    "issuedAt", (json_int_t)s->issued_at, "expiresAt",
	    (json_int_t)s->expires_at, "origin", s->origin, "ip", s->ip,
	    "userAgent", s->ua);
}

/* ---- List ---------------------------------------------------------------- */

struct walk {
	struct app *app;
	const char *token_id, *service_id; /* filters, "" for none */
	json_t *list;
	int limit, n, scanned;
	int64_t last_expires; /* the last entry examined */
	char last[ESTORE_MEMBER_MAX + 1];
	int64_t now;
};

static int
walk_one(const char *member, int64_t expires, void *arg)
{
	struct walk *w = arg;
	struct session s;
	enum sa_err rc;

	w->scanned++;
	w->last_expires = expires;
	snprintf(w->last, sizeof(w->last), "%s", member);
	rc = session_load(w->app->es, member, &s);
	/* Gone, or ended (its entry left the index when it ended, unless
	 * that failed): the list shows the logins still waiting. */
	if (rc == SA_ERR_SESSION_UNKNOWN || (rc == SA_OK && s.ended))
		estore_index_del(w->app->es, SESSION_INDEX, member, expires);
	if (rc != SA_OK || s.ended)
		return 0;
	if ((w->token_id[0] != '\0' &&
	     (s.decoy || strcmp(s.token_id, w->token_id) != 0)) ||
	    (w->service_id[0] != '\0' &&
	     strcmp(s.service_id, w->service_id) != 0))
		return 0;
	json_array_append_new(
	    w->list, session_json(&s, session_state(w->app->es, s.id)));
	return ++w->n >= w->limit;
}

/* filter_key is the digest of the filters that the list's cursors carry. */
static void
filter_key(const struct walk *w, char out[17])
{
	char text[256];

	snprintf(text, sizeof(text), "%s|%s", w->token_id, w->service_id);
	admin_cursor_key(text, out);
}

/* read_cursor reads "filterKey.expires.member" (base64url of it). */
static enum sa_err
read_cursor(const char *cursor, const struct walk *w, int64_t *expires,
	    char *member, size_t cap)
{
	char want[17];

	filter_key(w, want);
	if (admin_cursor_read(cursor, want, 256, expires, member, cap) !=
		SA_OK ||
	    *expires < 1)
		return SA_ERR_VALIDATION;
	return SA_OK;
}

enum sa_err
admin_login_sessions_list(struct http_request *req, struct http_response *res)
{
	const char *limit = http_req_query(req, "limit");
	const char *cursor = http_req_query(req, "cursor");
	char after[ESTORE_MEMBER_MAX + 1] = "", key[17], *next = NULL,
				       *end = NULL;
	int64_t after_expires = 0;
	struct admin_caller who;
	struct admin *adm;
	struct walk w;
	long lim = PAGE_DEFAULT;
	int done = 0;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	memset(&w, 0, sizeof(w));
	w.app = adm->app;
	w.now = now_unix();
	w.token_id = http_req_query(req, "tokenId") ?: "";
	w.service_id = http_req_query(req, "serviceId") ?: "";
	if (strlen(w.token_id) > ENROLL_TOKEN_MAX)
		return http_res_error(res, SA_ERR_VALIDATION, "tokenId",
				      "tokenId is too long");
	if (strlen(w.service_id) > SERVICE_ID_MAX)
		return http_res_error(res, SA_ERR_VALIDATION, "serviceId",
				      "serviceId is too long");
	if (limit != NULL) {
		lim = strtol(limit, &end, 10);
		if (end == limit || *end != '\0' || lim < 1 || lim > PAGE_MAX)
			return http_res_error(res, SA_ERR_VALIDATION, "limit",
					      "limit must be 1 to 200");
	}
	w.limit = (int)lim;
	if (cursor != NULL && read_cursor(cursor, &w, &after_expires, after,
					  sizeof(after)) != SA_OK)
		return http_res_error(res, SA_ERR_VALIDATION, "cursor",
				      "the cursor is not one this list gave "
				      "with these filters");
	if ((w.list = json_array()) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	/* Step through the index until the page is full, the index ends, or
	 * the scan's bound is reached. */
	while (!done && w.n < w.limit && w.scanned < SCAN_MAX) {
		int before = w.scanned;

		if ((rc = estore_index_page(adm->app->es, SESSION_INDEX, w.now,
					    after_expires, after, SCAN_STEP,
					    walk_one, &w)) != SA_OK) {
			json_decref(w.list);
			return admin_store_err(res, rc);
		}
		done = w.scanned - before < SCAN_STEP && w.n < w.limit;
		after_expires = w.last_expires;
		snprintf(after, sizeof(after), "%s", w.last);
	}
	/* Another page may follow unless the index ended. */
	if (!done && w.scanned > 0) {
		filter_key(&w, key);
		next = admin_cursor_make(key, w.last_expires, w.last);
	}
	http_res_json(res, 200,
		      json_pack("{s:o, s:s?, s:i}", "sessions", w.list,
				"nextCursor", next, "scanned", w.scanned));
	free(next);
	return SA_OK;
}

/* ---- End ----------------------------------------------------------------- */

enum sa_err
admin_login_sessions_end_start(struct http_request *req,
			       struct http_response *res)
{
	const char *id =
	    json_string_value(json_object_get(http_req_json(req), "sessionId"));
	struct admin_caller who;
	struct admin *adm;
	struct session s;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	rc = session_load(adm->app->es, id, &s);
	if (rc == SA_ERR_SESSION_UNKNOWN)
		return http_res_error(res, SA_ERR_NOT_FOUND, "sessionId",
				      "no such login session, or it expired");
	if (rc != SA_OK)
		return admin_store_err(res, rc);
	if (s.ended || session_state(adm->app->es, s.id) != SESSION_OPEN)
		return http_res_error(res, SA_ERR_CONFLICT, "sessionId",
				      "this login session has already ended");
	return admin_stepup_start(res, adm, &who, ACTION,
				  json_pack("{s:s}", "sessionId", s.id));
}

enum sa_err
admin_login_sessions_end_finish(struct http_request *req,
				struct http_response *res)
{
	struct admin_caller who;
	struct admin *adm;
	struct session s;
	struct session_end_rec end;
	enum session_end prior;
	json_t *c = NULL;
	const char *id;
	enum sa_err rc;

	if ((rc = admin_stepup_pinned(req, res, ACTION, REFUSED, &adm, &who, &c,
				      NULL, NULL)) != SA_OK)
		return rc;
	id = json_string_value(json_object_get(c, "sessionId"));
	rc = session_load(adm->app->es, id, &s);
	if (rc == SA_ERR_SESSION_UNKNOWN) {
		rc = admin_fail(req, res, &who, REFUSED, SA_ERR_NOT_FOUND,
				"the login session expired meanwhile");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	/* Exactly one ending wins: the phone's answer, another admin's. */
	rc = session_finish(adm->app->es, &s, SESSION_REJECTED, now_unix(),
			    &prior);
	if (rc == SA_ERR_REPLAY) {
		rc = admin_fail(req, res, &who, REFUSED, SA_ERR_CONFLICT,
				"the login session ended meanwhile");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	if ((rc = admin_audit(
		 req, &who, "admin.login_session_ended",
		 json_pack("{s:s, s:s?, s:s, s:s, s:O?}", "sessionId", s.id,
			   "tokenId", s.decoy ? NULL : s.token_id, "serviceId",
			   s.service_id, "sessionIp", s.ip, "uvPasskeyId",
			   json_object_get(c, "uvPasskeyId")))) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	session_end_rec_of(&s, &end);
	session_publish_end(
	    adm->app, &end,
	    json_pack("{s:s, s:s}", "type", "rejected", "reason", ENDED_REASON),
	    SESSION_REJECTED);
	http_res_json(
	    res, 200,
	    json_pack("{s:s, s:s}", "sessionId", s.id, "state", "rejected"));
	rc = SA_OK;
out:
	json_decref(c);
	return rc;
}
