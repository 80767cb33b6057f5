/*
 * api_enrollments.c - enrollments under /v1/admin/enrollments: pages with
 * filters and a cursor, one enrollment, and revocation with step-up.
 *
 * A revocation puts the token id on the revoked list for good (it can
 * neither log in nor enroll again) and fails the token id's pending login
 * sessions, telling their browsers over the WebSocket.
 *
 * A pending takeover (a new device waiting to replace the bound one,
 * login/takeover.h) can be approved or cancelled here, with step-up: the
 * override for a person who lost the old phone, or for a takeover the
 * person did not start.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"
#include "login/session.h"
#include "login/session_ws.h"
#include "login/takeover.h"

#define ACTION "enrollment_revoke"
#define REFUSED "admin.enrollment_revoke_refused"
#define PAGE_DEFAULT 50
#define PAGE_MAX 200

static const struct schema_field revoke_start_fields[] = {
    SCHEMA_STRING("tokenId", SCHEMA_REQUIRED, 1, ENROLL_TOKEN_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_STRING("reason", SCHEMA_OPTIONAL, 0, 200, SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
const struct schema admin_enroll_revoke_schema = {revoke_start_fields, NULL};

#define TAKEOVER_ACTION "takeover_decide"
#define TAKEOVER_REFUSED "admin.takeover_refused"

static const struct schema_field takeover_start_fields[] = {
    SCHEMA_STRING("tokenId", SCHEMA_REQUIRED, 1, ENROLL_TOKEN_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_STRING("takeoverId", SCHEMA_REQUIRED, 1, TAKEOVER_ID_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_ENUM("decision", SCHEMA_REQUIRED, "approve", "cancel"),
    SCHEMA_STRING("reason", SCHEMA_OPTIONAL, 0, 200, SCHEMA_FMT_PRINTABLE),
    SCHEMA_END,
};
const struct schema admin_takeover_schema = {takeover_start_fields, NULL};

/* ---- Shapes -------------------------------------------------------------- */

static const char *
status_name(const struct enrollment *e, int64_t now)
{
	if (e->revoked_at != 0)
		return "revoked";
	return e->expires_at > now ? "active" : "expired";
}

/* enrollment_json is the list's shape of an enrollment (new reference). */
static json_t *
enrollment_json(const struct enrollment *e, int64_t now)
{
	const char *push = e->fcm_token	      ? "fcm"
			   : e->push_endpoint ? "unifiedpush"
					      : NULL;
	json_t *revoked =
	    e->revoked_at ? json_integer(e->revoked_at) : json_null();

	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:s?}", "tokenId",
	    e->token_id, "authority", e->authority, "deviceId", e->device_id,
	    "trustLevel", e->trust_level, "status", status_name(e, now),
	    "createdAt", (json_int_t)e->created_at, "expiresAt",
	    (json_int_t)e->expires_at, "revokedAt", revoked, "push", push);
}

/* ---- List ---------------------------------------------------------------- */

/* query_time reads a time parameter: unix seconds or ISO 8601; -1 when it
 * is neither, 0 when absent. */
static int64_t
query_time(const char *s)
{
	char *end = NULL;
	long long v;

	if (s == NULL || s[0] == '\0')
		return 0;
	if (strchr(s, 'T') != NULL)
		return iso8601_parse(s);
	v = strtoll(s, &end, 10);
	return (end == s || *end != '\0' || v < 0) ? -1 : (int64_t)v;
}

/* filter_key is the digest of the filters that the list's cursors carry. */
static void
filter_key(const struct enroll_filter *f, char out[17])
{
	char text[256];

	snprintf(text, sizeof(text), "%s|%s|%d|%" PRId64 "|%" PRId64,
		 f->token_prefix, f->authority, (int)f->status, f->since,
		 f->until);
	admin_cursor_key(text, out);
}

struct page {
	json_t *list;
	int64_t now;
	int n;
	int64_t last_created;
	char last_token[ENROLL_TOKEN_MAX + 1];
};

static int
page_row(const struct enrollment *e, void *arg)
{
	struct page *p = arg;

	json_array_append_new(p->list, enrollment_json(e, p->now));
	p->n++;
	p->last_created = e->created_at;
	snprintf(p->last_token, sizeof(p->last_token), "%s", e->token_id);
	return 0;
}

/* bad_query answers a refused query parameter. */
static enum sa_err
bad_query(struct http_response *res, const char *field, const char *why)
{
	return http_res_error(res, SA_ERR_VALIDATION, field, "%s", why);
}

/* read_cursor reads "filterKey.created.tokenId" (base64url of it). */
static enum sa_err
read_cursor(const char *cursor, struct enroll_filter *f, char *token,
	    size_t tokcap)
{
	char want[17];
	enum sa_err rc;

	filter_key(f, want);
	rc = admin_cursor_read(cursor, want, 201, &f->after_created, token,
			       tokcap);
	if (rc == SA_OK)
		f->after_token = token;
	return rc;
}

enum sa_err
admin_enrollments_list(struct http_request *req, struct http_response *res)
{
	const char *status = http_req_query(req, "status");
	const char *limit = http_req_query(req, "limit");
	const char *cursor = http_req_query(req, "cursor");
	char token[ENROLL_TOKEN_MAX + 1], key[17], *next = NULL;
	struct enroll_filter f;
	struct admin_caller who;
	struct admin *adm;
	struct page p;
	char *end = NULL;
	long lim = PAGE_DEFAULT;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	memset(&f, 0, sizeof(f));
	f.token_prefix = http_req_query(req, "tokenId") ?: "";
	f.authority = http_req_query(req, "authority") ?: "";
	f.now = now_unix();
	if (strlen(f.token_prefix) > ENROLL_TOKEN_MAX)
		return bad_query(res, "tokenId", "tokenId is too long");
	if (strlen(f.authority) > ENROLL_AUTHORITY_MAX)
		return bad_query(res, "authority", "authority is too long");
	if (status == NULL || status[0] == '\0')
		f.status = ENROLL_ANY;
	else if (strcmp(status, "active") == 0)
		f.status = ENROLL_ACTIVE;
	else if (strcmp(status, "revoked") == 0)
		f.status = ENROLL_REVOKED;
	else if (strcmp(status, "expired") == 0)
		f.status = ENROLL_EXPIRED;
	else
		return bad_query(res, "status",
				 "status must be active, revoked or expired");
	if ((f.since = query_time(http_req_query(req, "since"))) < 0)
		return bad_query(res, "since",
				 "since must be unix seconds or ISO 8601");
	if ((f.until = query_time(http_req_query(req, "until"))) < 0)
		return bad_query(res, "until",
				 "until must be unix seconds or ISO 8601");
	if (limit != NULL) {
		lim = strtol(limit, &end, 10);
		if (end == limit || *end != '\0' || lim < 1 || lim > PAGE_MAX)
			return bad_query(res, "limit",
					 "limit must be 1 to 200");
	}
	f.limit = (int)lim;
	if (cursor != NULL &&
	    read_cursor(cursor, &f, token, sizeof(token)) != SA_OK)
		return bad_query(res, "cursor",
				 "the cursor is not one this list gave with "
				 "these filters");
	memset(&p, 0, sizeof(p));
	p.now = f.now;
	if ((p.list = json_array()) == NULL)
		return http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
	if ((rc = dstore_enroll_list(adm->app->ds, &f, page_row, &p)) !=
	    SA_OK) {
		json_decref(p.list);
		return admin_store_err(res, rc);
	}
	/* A full page may have a next one. */
	if (p.n == f.limit) {
		filter_key(&f, key);
		next = admin_cursor_make(key, p.last_created, p.last_token);
	}
	http_res_json(res, 200,
		      json_pack("{s:o, s:s?}", "enrollments", p.list,
				"nextCursor", next));
	free(next);
	return SA_OK;
}

/* ---- Pending sessions ---------------------------------------------------- */

/*
 * end_sessions fails the pending login sessions of a token id: those that
 * hold one of its pending slots (every session while the pools are
 * bounded). Each browser is told, wherever its socket is. Returns how many
 * were ended.
 */
static int
end_sessions(struct app *app, const char *token_id)
{
	char key[ESTORE_KEY_MAX];
	unsigned char *val = NULL;
	struct session s;
	struct session_end_rec end;
	enum session_end prior;
	int64_t now = now_unix();
	size_t n = 0;
	int ended = 0;

	for (int slot = 0; slot < 2 * SESSION_POOL_MAX; slot++) {
		snprintf(key, sizeof(key), "pend:%s:%d", token_id, slot);
		if (estore_get(app->es, key, &val, &n, NULL) != SA_OK)
			continue;
		if (session_load(app->es, (const char *)val, &s) == SA_OK &&
		    session_finish(app->es, &s, SESSION_REJECTED, now,
				   &prior) == SA_OK) {
			session_end_rec_of(&s, &end);
			session_publish_end(app, &end,
					    json_pack("{s:s, s:s}", "type",
						      "failed", "reason",
						      "revoked"),
					    SESSION_REJECTED);
			ended++;
		}
		free(val);
		val = NULL;
	}
	return ended;
}

/*
 * enrollment_load reads the enrollment of tok into *e (the caller frees it
 * with enrollment_free), or answers: 404 naming "tokenId" when the token id
 * was never enrolled, the store's error otherwise.
 */
static enum sa_err
enrollment_load(struct http_response *res, struct admin *adm, const char *tok,
		struct enrollment *e)
{
	enum sa_err rc = dstore_enroll_get(adm->app->ds, tok, e);

	if (rc == SA_ERR_NOT_FOUND)
		return http_res_error(res, rc, "tokenId",
				      "this token id was never enrolled");
	if (rc != SA_OK)
		return admin_store_err(res, rc);
	return SA_OK;
}

/* ---- Show ---------------------------------------------------------------- */

enum sa_err
admin_enrollments_get(struct http_request *req, struct http_response *res)
{
	const char *tok = http_req_param(req, 0);
	struct admin_caller who;
	struct enrollment e;
	struct takeover t;
	struct admin *adm;
	json_t *out, *claims, *names, *pending = json_null();
	const char *k;
	json_t *v;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK ||
	    (rc = enrollment_load(res, adm, tok, &e)) != SA_OK)
		return rc;
	out = enrollment_json(&e, now_unix());
	names = json_array();
	/* The names of the claims only: their values stay on the phone's
	 * seal and in the tokens the person approves. */
	claims = json_loads(e.claims ? e.claims : "{}", 0, NULL);
	json_object_foreach(claims, k, v)
	    json_array_append_new(names, json_string(k));
	json_decref(claims);
	memset(&t, 0, sizeof(t));
	if (dstore_takeover_get(adm->app->ds, tok, &t) == SA_OK) {
		json_decref(pending);
		pending = json_pack("{s:s, s:I, s:I}", "takeoverId", t.id,
				    "createdAt", (json_int_t)t.created_at,
				    "effectiveAt", (json_int_t)t.effective_at);
		takeover_free(&t);
	}
	json_object_set_new(out, "claimNames", names);
	json_object_set_new(out, "sealFingerprint",
			    json_string(e.seal_fingerprint));
	json_object_set_new(out, "pendingTakeover", pending);
	enrollment_free(&e);
	http_res_json(res, 200, out);
	return SA_OK;
}

/* ---- Revoke -------------------------------------------------------------- */

enum sa_err
admin_enrollments_revoke_start(struct http_request *req,
			       struct http_response *res)
{
	const json_t *body = http_req_json(req);
	const char *tok = json_string_value(json_object_get(body, "tokenId"));
	const char *reason = json_string_value(json_object_get(body, "reason"));
	struct admin_caller who;
	struct enrollment e;
	struct admin *adm;
	int revoked;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK ||
	    (rc = enrollment_load(res, adm, tok, &e)) != SA_OK)
		return rc;
	revoked = e.revoked_at != 0;
	enrollment_free(&e);
	if (revoked)
		return http_res_error(res, SA_ERR_CONFLICT, "tokenId",
				      "this token id is already revoked");
	return admin_stepup_start(res, adm, &who, ACTION,
				  json_pack("{s:s, s:s}", "tokenId", tok,
					    "reason", reason ? reason : ""));
}

enum sa_err
admin_enrollments_revoke_finish(struct http_request *req,
				struct http_response *res)
{
	static const char *const names[] = {"tokenId", "reason", NULL};
	struct admin_caller who;
	struct admin *adm;
	struct app_rows rows;
	const struct dstore_audit au = {app_rows_ready, &rows};
	json_t *c = NULL;
	const char *v[2], *tok, *reason;
	int64_t now = now_unix();
	int ended;
	enum sa_err rc;

	if ((rc = admin_stepup_pinned(req, res, ACTION, REFUSED, &adm, &who, &c,
				      names, v)) != SA_OK)
		return rc;
	tok = v[0];
	reason = v[1];
	/* The revocation and its audit row commit together. */
	app_rows_init(&rows, adm->app, req);
	app_rows_add(
	    &rows, "admin.enrollment_revoked", who.admin_id,
	    admin_who_detail(
		&who, json_pack("{s:s, s:s, s:O?}", "tokenId", tok, "reason",
				reason ? reason : "", "uvPasskeyId",
				json_object_get(c, "uvPasskeyId"))));
	rc = dstore_enroll_revoke_audited(
	    adm->app->ds, tok, now,
	    reason && reason[0] ? reason : "revoked by an admin", &au);
	app_rows_done(&rows, rc);
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	/* Then its pending logins end, each told; the count is a row of
	 * its own, since the revocation stands whatever it says. */
	ended = end_sessions(adm->app, tok);
	if (ended > 0 &&
	    admin_audit(req, &who, "admin.enrollment_sessions_ended",
			json_pack("{s:s, s:i}", "tokenId", tok, "sessionsEnded",
				  ended)) != SA_OK)
		log_error("admin.audit",
			  "%d login sessions of revoked %s ended, not audited",
			  ended, tok);
	http_res_json(res, 200,
		      json_pack("{s:s, s:I, s:i}", "tokenId", tok, "revokedAt",
				(json_int_t)now, "sessionsEnded", ended));
	rc = SA_OK;
out:
	json_decref(c);
	return rc;
}

/* ---- Takeover override --------------------------------------------------- */

enum sa_err
admin_enrollments_takeover_start(struct http_request *req,
				 struct http_response *res)
{
	const json_t *body = http_req_json(req);
	const char *tok = json_string_value(json_object_get(body, "tokenId"));
	const char *id = json_string_value(json_object_get(body, "takeoverId"));
	const char *d = json_string_value(json_object_get(body, "decision"));
	const char *reason = json_string_value(json_object_get(body, "reason"));
	struct admin_caller who;
	struct takeover_view v;
	struct admin *adm;
	enum sa_err rc;

	if ((rc = admin_auth(req, res, &adm, &who)) != SA_OK)
		return rc;
	rc = takeover_pending(adm->app, tok, &v);
	if (rc == SA_ERR_NOT_FOUND || (rc == SA_OK && strcmp(v.id, id) != 0))
		return http_res_error(res, SA_ERR_NOT_FOUND, "takeoverId",
				      "no such takeover is pending for this "
				      "token id");
	if (rc == SA_ERR_VALIDATION)
		return http_res_error(res, rc, "tokenId",
				      "not a token id this server accepts");
	if (rc != SA_OK)
		return admin_store_err(res, rc);
	return admin_stepup_start(res, adm, &who, TAKEOVER_ACTION,
				  json_pack("{s:s, s:s, s:s, s:s}", "tokenId",
					    tok, "takeoverId", id, "decision",
					    d, "reason", reason ? reason : ""));
}

enum sa_err
admin_enrollments_takeover_finish(struct http_request *req,
				  struct http_response *res)
{
	static const char *const names[] = {"tokenId", "takeoverId", "decision",
					    "reason", NULL};
	struct admin_caller who;
	struct admin *adm;
	json_t *c = NULL, *by;
	const char *v[4], *tok, *id, *reason;
	enum takeover_decision dec;
	enum sa_err rc;

	if ((rc = admin_stepup_pinned(req, res, TAKEOVER_ACTION,
				      TAKEOVER_REFUSED, &adm, &who, &c, names,
				      v)) != SA_OK)
		return rc;
	tok = v[0];
	id = v[1];
	dec = strcmp(v[2], "approve") == 0 ? TAKEOVER_APPROVE : TAKEOVER_CANCEL;
	reason = v[3];
	/* takeover_admin_decide writes the audit row (the admin's session and
	 * passkeys, the client) in one transaction with the change; without
	 * it nothing changes. */
	by = admin_who_detail(&who,
			      json_pack("{s:O?}", "uvPasskeyId",
					json_object_get(c, "uvPasskeyId")));
	if (by == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	rc = takeover_admin_decide(adm->app, req, tok, id, dec, who.admin_id,
				   reason[0] ? reason : NULL, by);
	json_decref(by);
	if (rc == SA_ERR_NOT_FOUND) {
		http_res_error(res, rc, "takeoverId",
			       "this takeover is no longer pending (decided "
			       "or replaced meanwhile)");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	http_res_json(
	    res, 200,
	    json_pack("{s:s, s:s, s:s}", "tokenId", tok, "takeoverId", id,
		      "decision",
		      dec == TAKEOVER_APPROVE ? "approved" : "cancelled"));
	rc = SA_OK;
out:
	json_decref(c);
	return rc;
}
