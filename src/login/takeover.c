/*
 * takeover.c - a new device replaces the one a token id is bound to only
 * after the old device approves or a waiting period passes (takeover.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "app/app.h"
#include "core/log.h"
#include "core/schema.h"
#include "core/util.h"
#include "crypto/ecdsa.h"
#include "login/takeover.h"
#include "push/push.h"

#define TAKEOVER_WINDOW 30 /* seconds of clock skew for the old device */

static const struct schema_field takeover_fields[] = {
    SCHEMA_STRING("tokenId", SCHEMA_REQUIRED, 1, ENROLL_TOKEN_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_STRING("takeoverId", SCHEMA_REQUIRED, TAKEOVER_ID_MAX,
		  TAKEOVER_ID_MAX, SCHEMA_FMT_TOKEN),
    SCHEMA_ENUM("decision", SCHEMA_REQUIRED, "approve", "cancel"),
    SCHEMA_INTEGER("timestamp", SCHEMA_REQUIRED, 0, 4102444800LL),
    SCHEMA_STRING("signature", SCHEMA_REQUIRED, 16, 200, SCHEMA_FMT_BASE64),
    SCHEMA_END,
};
const struct schema api_takeover_schema = {takeover_fields, NULL};

/* enroll_json writes a binding as a new JSON string (caller frees). */
static char *
enroll_json(const struct enrollment *e)
{
	json_t *o = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "authority",
	    e->authority, "tokenId", e->token_id, "deviceId", e->device_id,
	    "publicKeyPem", e->public_key_pem, "trustLevel", e->trust_level,
	    "claims", e->claims, "sealFingerprint", e->seal_fingerprint,
	    "createdAt", (json_int_t)e->created_at, "expiresAt",
	    (json_int_t)e->expires_at);
	char *text = NULL;

	if (o == NULL)
		return NULL;
	if (e->fcm_token != NULL)
		json_object_set_new(o, "fcmToken", json_string(e->fcm_token));
	if (e->push_endpoint != NULL)
		json_object_set_new(o, "pushEndpoint",
				    json_string(e->push_endpoint));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* dup_member copies a string member into a new string, NULL if absent. */
static int
dup_member(const json_t *o, const char *name, char **out)
{
	const char *v = json_string_value(json_object_get(o, name));

	*out = NULL;
	if (v == NULL)
		return 0;
	*out = strdup(v);
	return *out == NULL ? -1 : 0;
}

/* enroll_from_json reads what enroll_json wrote into *out (caller frees
 * with enrollment_free). */
static enum sa_err
enroll_from_json(const char *text, struct enrollment *out)
{
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	struct enrollment e;
	enum sa_err rc = SA_ERR_INTERNAL;

	memset(&e, 0, sizeof(e));
	if (o == NULL)
		goto out;
	snprintf(e.authority, sizeof(e.authority), "%s",
		 json_string_value(json_object_get(o, "authority")) ?: "");
	snprintf(e.token_id, sizeof(e.token_id), "%s",
		 json_string_value(json_object_get(o, "tokenId")) ?: "");
	snprintf(e.device_id, sizeof(e.device_id), "%s",
		 json_string_value(json_object_get(o, "deviceId")) ?: "");
	snprintf(e.trust_level, sizeof(e.trust_level), "%s",
		 json_string_value(json_object_get(o, "trustLevel")) ?: "");
	snprintf(e.seal_fingerprint, sizeof(e.seal_fingerprint), "%s",
		 json_string_value(json_object_get(o, "sealFingerprint"))
		     ?: "");
	e.created_at = json_integer_value(json_object_get(o, "createdAt"));
	e.expires_at = json_integer_value(json_object_get(o, "expiresAt"));
	if (dup_member(o, "publicKeyPem", &e.public_key_pem) != 0 ||
	    dup_member(o, "claims", &e.claims) != 0 ||
	    dup_member(o, "fcmToken", &e.fcm_token) != 0 ||
	    dup_member(o, "pushEndpoint", &e.push_endpoint) != 0) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (e.public_key_pem == NULL || e.claims == NULL ||
	    e.token_id[0] == '\0')
		goto out;
	*out = e;
	memset(&e, 0, sizeof(e));
	rc = SA_OK;
out:
	enrollment_free(&e);
	json_decref(o);
	return rc;
}

struct notice {
	struct app *app;
	char token_id[ENROLL_TOKEN_MAX + 1];
	char kind[32];
};

static void
notice_done(enum sa_err rc, const char *provider, const char *reason,
	    int attempts, void *arg)
{
	struct notice *n = arg;

	app_audit_async(n->app, rc == SA_OK ? "push.sent" : "push.failed",
			n->token_id,
			json_pack("{s:s, s:s, s:s, s:i}", "kind", n->kind,
				  "provider", provider, "reason",
				  reason ? reason : "", "attempts", attempts));
	free(n);
}

void
enroll_notify(struct app *app, const struct enrollment *dev, const char *kind,
	      json_t *msg)
{
	struct push_target t = {dev->fcm_token, dev->push_endpoint};
	struct notice *n;

	if (msg == NULL || app->push == NULL ||
	    (t.fcm_token == NULL && t.endpoint == NULL) ||
	    (n = calloc(1, sizeof(*n))) == NULL) {
		json_decref(msg);
		return;
	}
	n->app = app;
	snprintf(n->token_id, sizeof(n->token_id), "%s", dev->token_id);
	snprintf(n->kind, sizeof(n->kind), "%s", kind);
	if (push_send(app->push, &t, msg, notice_done, n) != SA_OK) {
		app_audit(
		    app, NULL, "push.failed", dev->token_id,
		    json_pack("{s:s, s:s}", "kind", kind, "provider", ""));
		free(n);
	}
}

enum sa_err
takeover_start(struct http_request *req, struct http_response *res,
	       const struct enrollment *e, const struct enrollment *old)
{
	struct app *app = http_req_app(req);
	struct app_rows rows;
	const struct dstore_audit au = {app_rows_ready, &rows};
	struct takeover t;
	unsigned char rnd[TAKEOVER_ID_MAX / 2];
	char *hex = NULL, when[21];
	int64_t now = now_unix();
	enum sa_err rc;

	memset(&t, 0, sizeof(t));
	if ((rc = rand_bytes(rnd, sizeof(rnd))) != SA_OK ||
	    (hex = hex_encode(rnd, sizeof(rnd))) == NULL ||
	    (t.enrollment = enroll_json(e)) == NULL) {
		rc = http_res_error(res, rc ? rc : SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	snprintf(t.id, sizeof(t.id), "%s", hex);
	snprintf(t.authority, sizeof(t.authority), "%s", e->authority);
	snprintf(t.token_id, sizeof(t.token_id), "%s", e->token_id);
	t.created_at = now;
	t.effective_at = now + app->cfg.takeover_delay;
	/* Pending only with its audit row: one transaction. */
	app_rows_init(&rows, app, req);
	app_rows_add(&rows, "enroll.takeover_pending", e->token_id,
		     json_pack("{s:s, s:s, s:s, s:I}", "takeoverId", t.id,
			       "oldDeviceId", old->device_id, "newDeviceId",
			       e->device_id, "effectiveAt",
			       (json_int_t)t.effective_at));
	rc = dstore_takeover_put_audited(app->ds, &t, &au);
	app_rows_done(&rows, rc);
	if (rc != SA_OK) {
		http_res_error(res, rc, NULL,
			       "the enrollment could not be stored");
		goto out;
	}
	iso8601_utc(t.effective_at, when);
	/* The old device learns at once and can stop it. */
	enroll_notify(app, old, "takeover_pending",
		      json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
				"takeover_pending", "tokenId", e->token_id,
				"takeoverId", t.id, "newDeviceId", e->device_id,
				"effectiveAt", when));
	http_res_json(res, 202,
		      json_pack("{s:b, s:b, s:s, s:s, s:s}", "enrolled", 0,
				"pending", 1, "tokenId", e->token_id,
				"takeoverId", t.id, "effectiveAt", when));
	rc = SA_OK;
out:
	free(hex);
	takeover_free(&t);
	return rc;
}

/* What the audit row of a completed takeover is made of. */
struct complete_audit {
	struct app_rows rows;
	const struct takeover *t;
	const struct enrollment *e;
	const char *event; /* how it came to complete */
	const char *actor; /* "old-device", "waiting-period" or "admin" */
	const char *admin_id, *reason; /* an administrator's approval */
	const json_t *by;	       /* and the administrator's members */
};

/*
 * with_by adds an administrator's own members (session, passkeys) to the
 * detail of their decision's row, never replacing the decision's; NULL
 * (detail freed) when out of memory, which fails the decision.
 */
static json_t *
with_by(json_t *detail, const json_t *by)
{
	if (detail != NULL && by != NULL &&
	    json_object_update_missing(detail, (json_t *)by) != 0) {
		json_decref(detail);
		detail = NULL;
	}
	return detail;
}

/* complete_rows makes the row that commits with the new binding (a
 * struct dstore_audit fill), naming the device it replaces. */
static size_t
complete_rows(const struct dstore_found *found, struct audit_row *rows,
	      void *arg)
{
	struct complete_audit *ca = arg;
	const struct takeover *t = ca->t;
	const char *old = found->prev != NULL ? found->prev->device_id : "";
	json_t *d;

	if (ca->admin_id != NULL)
		d = with_by(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
				      "takeoverId", t->id, "adminId",
				      ca->admin_id, "authority", t->authority,
				      "oldDeviceId", old, "newDeviceId",
				      ca->e->device_id, "reason",
				      ca->reason != NULL ? ca->reason : ""),
			    ca->by);
	else
		d = json_pack("{s:s, s:s, s:s, s:s}", "takeoverId", t->id,
			      "oldDeviceId", old, "newDeviceId",
			      ca->e->device_id, "by", ca->actor);
	if (d == NULL)
		return 0;
	app_rows_add(&ca->rows, ca->event, t->token_id, d);
	return app_rows_out(&ca->rows, rows);
}

/*
 * complete binds the device of the pending takeover t (as read), removing
 * t and writing ca's audit row in the same transaction, and tells the
 * device it replaces. SA_ERR_NOT_FOUND when t is no longer pending (it
 * was decided, completed or replaced meanwhile); on another failure
 * nothing changed, t stays pending and the failure is audited.
 */
static enum sa_err
complete(struct app *app, struct http_request *req, const struct takeover *t,
	 struct complete_audit *ca)
{
	const struct dstore_audit au = {complete_rows, ca};
	struct enrollment e, prev;
	int had = 0;
	enum sa_err rc;

	memset(&e, 0, sizeof(e));
	memset(&prev, 0, sizeof(prev));
	if ((rc = enroll_from_json(t->enrollment, &e)) != SA_OK)
		goto out;
	app_rows_init(&ca->rows, app, req);
	ca->t = t;
	ca->e = &e;
	rc = dstore_enroll_write(app->ds, &e, ENROLL_PUT_REPLACE, t->id, &au,
				 &prev, &had);
	app_rows_done(&ca->rows, rc);
	if (rc == SA_ERR_NOT_FOUND)
		goto out;
	if (rc != SA_OK) {
		app_audit(app, req, "enroll.takeover_failed", t->token_id,
			  json_pack("{s:s, s:s, s:s}", "takeoverId", t->id,
				    "error", sa_err_code(rc), "by", ca->actor));
		goto out;
	}
	if (had)
		enroll_notify(app, &prev, "enrollment_replaced",
			      json_pack("{s:s, s:s, s:s}", "type",
					"enrollment_replaced", "tokenId",
					e.token_id, "newDeviceId",
					e.device_id));
out:
	enrollment_free(&e);
	enrollment_free(&prev);
	return rc;
}

/* pending_of reads the pending takeover of token_id whose id is id;
 * SA_ERR_NOT_FOUND when that one is not pending. */
static enum sa_err
pending_of(struct app *app, const char *token_id, const char *id,
	   struct takeover *out)
{
	enum sa_err rc = dstore_takeover_get(app->ds, token_id, out);

	if (rc == SA_OK && strcmp(out->id, id) != 0) {
		takeover_free(out);
		rc = SA_ERR_NOT_FOUND;
	}
	return rc;
}

void
takeover_settle(struct app *app, const char *token_id, int64_t now)
{
	struct complete_audit ca = {.event = "enroll.takeover_completed",
				    .actor = "waiting-period"};
	struct takeover t;

	memset(&t, 0, sizeof(t));
	if (token_id == NULL || strlen(token_id) > ENROLL_TOKEN_MAX ||
	    dstore_takeover_get(app->ds, token_id, &t) != SA_OK)
		return;
	/* Only one instance completes it; the others find it gone. */
	if (t.effective_at <= now)
		complete(app, NULL, &t, &ca);
	takeover_free(&t);
}

/*
 * cancel drops the pending takeover id of token_id together with its
 * audit row (event, detail stolen); SA_ERR_NOT_FOUND when it is not
 * pending.
 */
static enum sa_err
cancel(struct app *app, struct http_request *req, const char *token_id,
       const char *id, const char *event, json_t *detail)
{
	struct app_rows rows;
	const struct dstore_audit au = {app_rows_ready, &rows};
	struct takeover t;
	enum sa_err rc;

	if (detail == NULL)
		return SA_ERR_NOMEM;
	memset(&t, 0, sizeof(t));
	app_rows_init(&rows, app, req);
	app_rows_add(&rows, event, token_id, detail);
	rc = dstore_takeover_take_audited(app->ds, token_id, id, &au, &t);
	app_rows_done(&rows, rc);
	takeover_free(&t);
	return rc;
}

enum sa_err
takeover_decide(struct app *app, struct http_request *req, const char *token_id,
		const char *id, enum takeover_decision d, const char *actor)
{
	struct complete_audit ca = {.event = "enroll.takeover_approved",
				    .actor = actor};
	struct takeover t;
	enum sa_err rc;

	if (d != TAKEOVER_APPROVE)
		return cancel(
		    app, req, token_id, id, "enroll.takeover_cancelled",
		    json_pack("{s:s, s:s}", "takeoverId", id, "by", actor));
	memset(&t, 0, sizeof(t));
	if ((rc = pending_of(app, token_id, id, &t)) == SA_OK)
		rc = complete(app, req, &t, &ca);
	takeover_free(&t);
	return rc;
}

enum sa_err
takeover_pending(struct app *app, const char *token_id,
		 struct takeover_view *out)
{
	struct takeover t;
	struct enrollment e;
	enum sa_err rc;

	memset(&t, 0, sizeof(t));
	memset(&e, 0, sizeof(e));
	if (token_id == NULL || strlen(token_id) > ENROLL_TOKEN_MAX)
		return SA_ERR_VALIDATION;
	if ((rc = dstore_takeover_get(app->ds, token_id, &t)) != SA_OK)
		goto out;
	if ((rc = enroll_from_json(t.enrollment, &e)) != SA_OK)
		goto out;
	memset(out, 0, sizeof(*out));
	memcpy(out->id, t.id, sizeof(out->id));
	memcpy(out->authority, t.authority, sizeof(out->authority));
	memcpy(out->token_id, t.token_id, sizeof(out->token_id));
	memcpy(out->new_device_id, e.device_id, sizeof(out->new_device_id));
	out->created_at = t.created_at;
	out->effective_at = t.effective_at;
out:
	enrollment_free(&e);
	takeover_free(&t);
	return rc;
}

enum sa_err
takeover_admin_decide(struct app *app, struct http_request *req,
		      const char *token_id, const char *takeover_id,
		      enum takeover_decision d, const char *admin_id,
		      const char *reason, const json_t *by)
{
	struct complete_audit ca = {.event = "admin.takeover_approved",
				    .actor = "admin",
				    .admin_id = admin_id,
				    .reason = reason,
				    .by = by};
	struct takeover t;
	struct enrollment e, cur;
	enum sa_err rc;

	memset(&t, 0, sizeof(t));
	memset(&e, 0, sizeof(e));
	memset(&cur, 0, sizeof(cur));
	if (token_id == NULL || strlen(token_id) > ENROLL_TOKEN_MAX ||
	    takeover_id == NULL || strlen(takeover_id) != TAKEOVER_ID_MAX ||
	    admin_id == NULL || admin_id[0] == '\0' ||
	    (d != TAKEOVER_APPROVE && d != TAKEOVER_CANCEL))
		return SA_ERR_VALIDATION;
	/*
	 * The decision and its audit row commit together, with the removal
	 * of the takeover, which decides races: a second decision, the old
	 * device's or the waiting period's, finds nothing. When the write
	 * fails nothing changed and the takeover stays pending.
	 */
	if ((rc = pending_of(app, token_id, takeover_id, &t)) != SA_OK)
		goto out;
	if (d == TAKEOVER_APPROVE) {
		rc = complete(app, req, &t, &ca);
		goto out;
	}
	if ((rc = enroll_from_json(t.enrollment, &e)) != SA_OK)
		goto out;
	rc = dstore_enroll_get(app->ds, token_id, &cur);
	if (rc != SA_OK && rc != SA_ERR_NOT_FOUND)
		goto out;
	rc = cancel(app, req, token_id, takeover_id, "admin.takeover_cancelled",
		    with_by(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
				      "takeoverId", t.id, "adminId", admin_id,
				      "authority", t.authority, "oldDeviceId",
				      cur.device_id, "newDeviceId", e.device_id,
				      "reason", reason != NULL ? reason : ""),
			    by));
out:
	enrollment_free(&e);
	enrollment_free(&cur);
	takeover_free(&t);
	return rc;
}

enum sa_err
api_enroll_takeover(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	json_t *body = http_req_json(req);
	const char *token = json_string_value(json_object_get(body, "tokenId"));
	const char *id = json_string_value(json_object_get(body, "takeoverId"));
	const char *decision =
	    json_string_value(json_object_get(body, "decision"));
	const char *sig64 =
	    json_string_value(json_object_get(body, "signature"));
	long long ts = json_integer_value(json_object_get(body, "timestamp"));
	struct enrollment cur;
	EVP_PKEY *key = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *msg = NULL;
	int64_t now = now_unix();
	enum sa_err rc;

	memset(&cur, 0, sizeof(cur));
	if (ts < now - TAKEOVER_WINDOW || ts > now + TAKEOVER_WINDOW) {
		rc = http_res_error(res, SA_ERR_CLOCK_SKEW, "timestamp", NULL);
		goto out;
	}
	/* Only the device the token id is bound to now may decide. */
	rc = dstore_enroll_get(app->ds, token, &cur);
	if (rc != SA_OK && rc != SA_ERR_NOT_FOUND) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	if (rc == SA_OK &&
	    (asprintf(&msg, "sealauth-takeover-v1|%s|%s|%lld", id, decision,
		      ts) < 0 ||
	     ecdsa_pubkey_from_pem(cur.public_key_pem,
				   strlen(cur.public_key_pem), &key) != SA_OK ||
	     b64_decode(sig64, strlen(sig64), 200, &sig, &siglen) != SA_OK ||
	     ecdsa_verify_sha256(key, msg, strlen(msg), sig, siglen) != SA_OK))
		rc = SA_ERR_BAD_SIGNATURE;
	if (rc != SA_OK) {
		app_audit(app, req, "enroll.takeover_refused", token,
			  json_pack("{s:s, s:s}", "takeoverId", id, "reason",
				    "signature of the bound device required"));
		rc = http_res_error(res, SA_ERR_BAD_SIGNATURE, "signature",
				    NULL);
		goto out;
	}
	rc = takeover_decide(app, req, token, id,
			     strcmp(decision, "approve") == 0 ? TAKEOVER_APPROVE
							      : TAKEOVER_CANCEL,
			     "old-device");
	if (rc == SA_ERR_NOT_FOUND) {
		rc = http_res_error(res, SA_ERR_NOT_FOUND, "takeoverId",
				    "no such takeover is pending");
		goto out;
	}
	if (rc != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	http_res_json(res, 200,
		      json_pack("{s:s, s:s, s:s}", "tokenId", token,
				"takeoverId", id, "decision",
				strcmp(decision, "approve") == 0
				    ? "approved"
				    : "cancelled"));
out:
	free(msg);
	free(sig);
	EVP_PKEY_free(key);
	enrollment_free(&cur);
	return rc;
}
