/*
 * api_auth.c - the X.1280 login (SPEC §3): POST /auth/initiate starts a
 * session and pushes its code to the phone; POST /auth/verify takes the
 * phone's signed answer and, on approval, issues the token (SPEC §5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "login/login.h"
#include "app/app.h"
#include "login/claims.h"
#include "login/device_cookie.h"
#include "login/subject.h"
#include "login/takeover.h"
#include "crypto/ecdsa.h"
#include "crypto/jwt.h"
#include "crypto/keycache.h"
#include "crypto/keys.h"
#include "core/json_in.h"
#include "core/json_out.h"
#include "core/log.h"
#include "crypto/otp.h"
#include "push/push.h"
#include "core/schema.h"
#include "login/services.h"
#include "login/verify_msg.h"
#include "login/session.h"
#include "login/session_ws.h"
#include "login/weblogin.h"
#include "store/ratelimit.h"
#include "store/store.h"
#include "core/util.h"

#define VERIFY_WINDOW                                                          \
	30 /* seconds of clock difference accepted (SPEC §3.5)                \
	    */
/* How long "this wasn't me" keeps logins from that address away from the
 * token id's phone (the owner's recognised browsers are exempt). */
#define NOT_ME_BLOCK_S 3600
/* Nesting allowed in the identity an enrollment stored (it is flat). */
#define CLAIMS_JSON_DEPTH 8

static const struct schema_field scope_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 64, SCHEMA_FMT_SCOPE);

static const struct schema_field initiate_fields[] = {
    SCHEMA_STRING("tokenId", SCHEMA_REQUIRED, 1, ENROLL_TOKEN_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_STRING("serviceId", SCHEMA_REQUIRED, 1, SERVICE_ID_MAX,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_ARRAY("scopes", SCHEMA_REQUIRED | SCHEMA_UNIQUE, 0,
		 SERVICE_SCOPES_MAX, &scope_item),
    SCHEMA_STRING("login", SCHEMA_OPTIONAL, WEBLOGIN_ID_LEN, WEBLOGIN_ID_LEN,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_END,
};
const struct schema api_initiate_schema = {initiate_fields, NULL};

static const struct schema_field verify_fields[] = {
    SCHEMA_STRING("sessionId", SCHEMA_REQUIRED, SESSION_ID_LEN, SESSION_ID_LEN,
		  SCHEMA_FMT_TOKEN),
    SCHEMA_STRING("tokenId", SCHEMA_REQUIRED, 1, ENROLL_TOKEN_MAX,
		  SCHEMA_FMT_PRINTABLE),
    SCHEMA_STRING("otp", SCHEMA_REQUIRED, OTP_DIGITS, OTP_DIGITS,
		  SCHEMA_FMT_DIGITS),
    SCHEMA_INTEGER("timestamp", SCHEMA_REQUIRED, 0, 4102444800LL),
    SCHEMA_ENUM("decision", SCHEMA_REQUIRED, "approve", "reject"),
    SCHEMA_ARRAY("grantedScopes", SCHEMA_REQUIRED | SCHEMA_UNIQUE, 0,
		 SERVICE_SCOPES_MAX, &scope_item),
    SCHEMA_STRING("signature", SCHEMA_REQUIRED, 16, 200, SCHEMA_FMT_BASE64),
    /* Why the user said no; "not_me" blocks the login's source. */
    SCHEMA_ENUM("reason", 0, "declined", "not_me"),
    SCHEMA_END,
};
const struct schema api_verify_schema = {verify_fields, NULL};

/* ---- Initiate ------------------------------------------------------------ */

struct push_ctx {
	struct app *app;
	char session_id[SESSION_ID_LEN + 1];
	char token_id[ENROLL_TOKEN_MAX + 1];
	int64_t expires_at;
};

/*
 * push_wanted runs on a push worker before a retry: a login push is sent
 * again only while its login is open. One that was answered or has ended
 * (the phone may have acted on an attempt whose answer was lost) would
 * only show the person a request that can no longer be approved.
 */
static int
push_wanted(void *arg)
{
	const struct push_ctx *c = arg;

	return c->expires_at > now_unix() &&
	       session_state(c->app->es, c->session_id) == SESSION_OPEN;
}

/*
 * push_done runs on a push worker once delivery succeeded or finally
 * failed. A failure is audited, kept with the session and sent to the
 * browser, so it is never silent. A retry left out because the login was
 * over is audited as push.dropped and tells the browser nothing.
 */
static void
push_done(enum sa_err rc, const char *provider, const char *reason,
	  int attempts, void *arg)
{
	struct push_ctx *c = arg;
	struct app *app = c->app;
	char key[ESTORE_KEY_MAX];
	int64_t left = c->expires_at - now_unix();

	/* Queued, not awaited: push workers must keep sending. */
	app_audit_async(app,
			rc == SA_OK	      ? "push.sent"
			: rc == SA_ERR_REPLAY ? "push.dropped"
					      : "push.failed",
			c->token_id,
			json_pack("{s:s, s:s, s:s, s:i}", "sessionId",
				  c->session_id, "provider", provider, "reason",
				  reason ? reason : "", "attempts", attempts));
	if (rc != SA_OK && rc != SA_ERR_REPLAY) {
		session_kept_key(key, sizeof(key), c->session_id, "push");
		if (reason == NULL)
			reason = sa_err_str(rc);
		estore_set(app->es, key, reason, strlen(reason),
			   (uint64_t)(left > 0 ? left : 1) * 1000u, 0);
		session_publish(app, c->session_id,
				json_pack("{s:s, s:s}", "type", "push_failed",
					  "reason", reason));
	}
	free(c);
}

/*
 * initiate_detail writes the auth.initiate audit detail (keys sorted, as
 * the audit log stores them): {login?, origin, recognised, scopes,
 * serviceId, sessionId}; NULL when out of memory. A login starts this way
 * every time, so it is written straight to text.
 */
static char *
initiate_detail(const struct session *s, int owner, const char *login,
		size_t *n)
{
	const char *scopes[SERVICE_SCOPES_MAX];
	struct json_obj o;

	for (size_t i = 0; i < s->nscopes && i < SERVICE_SCOPES_MAX; i++)
		scopes[i] = s->scopes[i];
	json_obj_begin_sorted(&o);
	if (login != NULL)
		json_obj_str(&o, "login", login);
	json_obj_str(&o, "origin", s->origin);
	json_obj_bool(&o, "recognised", owner);
	json_obj_strs(&o, "scopes", scopes,
		      s->nscopes < SERVICE_SCOPES_MAX ? s->nscopes
						      : SERVICE_SCOPES_MAX);
	json_obj_str(&o, "serviceId", s->service_id);
	json_obj_str(&o, "sessionId", s->id);
	return json_obj_end(&o, n);
}

/* approved_detail writes the auth.approved audit detail, keys sorted:
 * {grantedScopes, serviceId, sessionId, tokenHash}. granted holds strings
 * (checked by the request's schema). */
static char *
approved_detail(const struct session *s, const json_t *granted,
		const char *hash, size_t *n)
{
	const char *g[SERVICE_SCOPES_MAX];
	size_t ng = json_array_size(granted);
	struct json_obj o;

	if (ng > SERVICE_SCOPES_MAX)
		return NULL;
	for (size_t i = 0; i < ng; i++)
		g[i] = json_string_value(json_array_get(granted, i));
	json_obj_begin_sorted(&o);
	json_obj_strs(&o, "grantedScopes", g, ng);
	json_obj_str(&o, "serviceId", s->service_id);
	json_obj_str(&o, "sessionId", s->id);
	json_obj_str(&o, "tokenHash", hash);
	return json_obj_end(&o, n);
}

static json_t *
scopes_json(char scopes[][65], size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(scopes[i]));
	return a;
}

/*
 * What the answer to an initiation needs once its audit row is durable:
 * the push goes out only then (no audit, no login).
 */
struct initiate_cont {
	enum sa_err audit_rc;
	struct app *app;
	int decoy; /* no live enrollment: answered alike, nothing pushed */
	int slot;  /* the session's pending slot */
	char session_id[SESSION_ID_LEN + 1];
	char token_id[ENROLL_TOKEN_MAX + 1];
	int64_t expires_at;
	char otp[OTP_DIGITS + 1];
	char wstok[44];
	char random[SESSION_RANDOM_LEN + 1];
	char when[21];
	char *fcm_token, *endpoint;
	json_t *msg;	     /* the push message */
	struct push_ctx *pc; /* what the push's outcome needs (not a decoy) */
};

static void
initiate_cont_free(struct initiate_cont *c)
{
	if (c == NULL)
		return;
	free(c->fcm_token);
	free(c->endpoint);
	free(c->pc);
	json_decref(c->msg); /* holds the code in compare mode */
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* initiate_drop ends a session that cannot go on, freeing its slot. */
static void
initiate_drop(struct initiate_cont *c)
{
	struct session s;

	memset(&s, 0, sizeof(s));
	memcpy(s.id, c->session_id, sizeof(s.id));
	str_copy(s.token_id, sizeof(s.token_id), c->token_id);
	s.slot = c->slot;
	session_release_slot(c->app->es, &s);
	session_drop(c->app->es, c->session_id);
}

/* initiate_reply answers the browser: {"sessionId","autoPassword",
 * "wsToken","random","expiresAt"}, written straight to text. */
static void
initiate_reply(struct http_response *res, const struct initiate_cont *c)
{
	struct json_obj o;
	size_t n = 0;
	char *text;

	json_obj_begin(&o);
	json_obj_str(&o, "sessionId", c->session_id);
	json_obj_str(&o, "autoPassword", c->otp);
	json_obj_str(&o, "wsToken", c->wstok);
	json_obj_str(&o, "random", c->random);
	json_obj_str(&o, "expiresAt", c->when);
	text = json_obj_end(&o, &n);
	http_res_json_text(res, 200, text, n);
}

/*
 * initiate_push hands a login (not a decoy) to the phone's push service,
 * once its audit row is durable; c->pc and c->msg are stolen. A push that
 * cannot even be queued is reported as a failed delivery is, over the
 * WebSocket: the initiate's answer must not tell a stranger that the token
 * id is enrolled.
 */
static void
initiate_push(struct initiate_cont *c)
{
	struct app *app = c->app;
	struct push_target t = {c->fcm_token, c->endpoint};
	struct push_ctx *pc = c->pc;
	enum sa_err rc;

	c->pc = NULL;
	rc = app->push ? push_send_while(app->push, &t, c->msg, push_wanted,
					 push_done, pc)
		       : SA_ERR_PUSH;
	c->msg = NULL; /* stolen by push_send */
	if (rc != SA_OK)
		/* Refused before any provider took it. */
		push_done(rc, "",
			  t.fcm_token || t.endpoint
			      ? sa_err_str(rc)
			      : "the device has no push target",
			  0, pc); /* frees pc */
}

/*
 * initiate_answer sends the push and answers the browser (http_cont), for a
 * login whose answer waited for its audit row (while durable writes fail).
 * A session without a live enrollment (a decoy) is answered exactly alike
 * and pushes nothing.
 */
static enum sa_err
initiate_answer(struct http_request *req, struct http_response *res, void *arg)
{
	struct initiate_cont *c = arg;
	enum sa_err rc = SA_OK;

	(void)req;
	if (res == NULL)
		goto out;
	if (c->audit_rc != SA_OK) {
		initiate_drop(c);
		rc = http_res_error(res, c->audit_rc, NULL, NULL);
		goto out;
	}
	if (!c->decoy)
		initiate_push(c);
	initiate_reply(res, c);
out:
	initiate_cont_free(c);
	return rc;
}

/*
 * initiate_unrecorded ends a login answered already whose audit row could
 * not be written. The browser gets the final frame {"type":"failed",
 * "reason":"unrecorded"}; a decoy ends the same way. The audit log is what
 * failed, so the server's log is where this is told.
 */
static void
initiate_unrecorded(struct initiate_cont *c, enum sa_err why)
{
	struct session s;
	struct session_end_rec end;
	enum session_end prior;

	log_error("auth.initiate",
		  "login %s stopped before its push: its audit row was not "
		  "written: %s",
		  c->session_id, sa_err_str(why));
	if (session_load(c->app->es, c->session_id, &s) != SA_OK ||
	    session_finish(c->app->es, &s, SESSION_REJECTED, now_unix(),
			   &prior) != SA_OK) {
		initiate_drop(c);
		return;
	}
	session_end_rec_of(&s, &end);
	session_publish_end(
	    c->app, &end,
	    json_pack("{s:s, s:s}", "type", "failed", "reason", "unrecorded"),
	    SESSION_REJECTED);
}

/*
 * initiate_recorded runs on the audit writer once the row of a login that
 * was answered at once is durable or its write failed (app_audit_then).
 * Only then does the phone get the push: no audit row, no login.
 */
static void
initiate_recorded(enum sa_err rc, void *arg)
{
	struct initiate_cont *c = arg;

	if (rc != SA_OK)
		initiate_unrecorded(c, rc);
	else if (!c->decoy)
		initiate_push(c);
	initiate_cont_free(c);
}

/*
 * initiate_record answers the browser and has the phone pushed, once the
 * login's audit row (auth.initiate, or auth.initiate_unknown for a decoy:
 * detail or text, stolen) is durable: no audit row, no login. The answer
 * itself reports nothing done yet, so it goes at once and the push follows
 * the commit (initiate_recorded); the worker never waits and the request
 * is not parked. While durable writes are failing the answer waits for
 * the row instead (initiate_answer), so the browser is told in it. c is
 * taken over in every case.
 */
static enum sa_err
initiate_record(struct http_request *req, struct http_response *res,
		struct initiate_cont *c, int real, const char *token,
		json_t *jdetail, char *text, size_t n)
{
	const char *event = real ? "auth.initiate" : "auth.initiate_unknown";
	struct app *app = c->app;
	enum sa_err rc;

	if (dstore_writes_failing(app->ds) != SA_OK) {
		if (real)
			app_audit_park_text(app, req, event, token, text, n,
					    &c->audit_rc, initiate_answer, c);
		else
			app_audit_park(app, req, event, token, jdetail,
				       &c->audit_rc, initiate_answer, c);
		return SA_OK;
	}
	/* Written before the row is queued: from then on c is the writer's. */
	initiate_reply(res, c);
	rc = real && text == NULL
		 ? SA_ERR_NOMEM
		 : app_audit_then(app, req, event, token, jdetail, text, n,
				  initiate_recorded, c);
	if (rc != SA_OK) {
		initiate_drop(c);
		initiate_cont_free(c);
		rc = http_res_error(res, rc, NULL, NULL);
	}
	return rc;
}

/*
 * origin_is_ours tells whether a browser's Origin is the one of our public
 * URL (the login page's), or absent.
 */
static int
origin_is_ours(const struct app *app, const char *origin)
{
	size_t n;

	if (origin == NULL)
		return 1;
	n = strlen(origin);
	return strncmp(app->cfg.public_url, origin, n) == 0 &&
	       (app->cfg.public_url[n] == '\0' ||
		app->cfg.public_url[n] == '/');
}

/*
 * initiate_check_login checks a login started for a pending federation
 * request: the request must be live, name this service and exactly these
 * scopes, and the login must come from our own login page. On refusal it
 * fills res and returns the error.
 */
static enum sa_err
initiate_check_login(struct http_request *req, struct http_response *res,
		     const char *login, const struct service *svc,
		     const json_t *scopes)
{
	struct app *app = http_req_app(req);
	struct weblogin_pending p;
	size_t i, j;
	enum sa_err rc;

	if ((rc = weblogin_load(app, login, &p)) != SA_OK)
		return http_res_error(res, rc, "login", NULL);
	rc = SA_ERR_UNPROCESSABLE;
	if (strcmp(p.service_id, svc->id) != 0 ||
	    json_array_size(scopes) != p.nscopes)
		goto refuse;
	for (i = 0; i < p.nscopes; i++) {
		const char *sc = json_string_value(json_array_get(scopes, i));
		for (j = 0; j < p.nscopes; j++)
			if (strcmp(sc, p.scopes[j]) == 0)
				break;
		if (j == p.nscopes)
			goto refuse;
	}
	weblogin_pending_clear(&p);
	if (!origin_is_ours(app, http_req_origin(req)))
		return http_res_error(res, SA_ERR_ORIGIN, "Origin",
				      "a federation login starts only from "
				      "this server's login page");
	return SA_OK;
refuse:
	weblogin_pending_clear(&p);
	return http_res_error(res, rc, "login",
			      "the login request names another service or "
			      "other scopes");
}

/*
 * initiate_gate applies the limits of issue 13 item 7 before a session is
 * made. A browser that holds the owner's cookie for this token id passes
 * (only the per-IP limit of its route applies); any other caller is
 * refused while the phone has blocked its address for this token id, and
 * counts towards the small quota of pushes strangers share (class "push").
 * These apply to every token id alike, enrolled or not.
 */
static enum sa_err
initiate_gate(struct http_request *req, struct http_response *res,
	      const char *token, int owner)
{
	struct app *app = http_req_app(req);
	unsigned char *val = NULL;
	size_t n = 0;
	int64_t ttl = -1;
	char key[ESTORE_KEY_MAX], ra[24];
	enum sa_err rc;

	if (owner)
		return SA_OK;
	snprintf(key, sizeof(key), "block:%s:%s", token, http_req_ip(req));
	rc = estore_get(app->es, key, &val, &n, &ttl);
	free(val);
	if (rc == SA_OK) {
		app_audit(
		    app, req, "auth.initiate_blocked", token,
		    json_pack("{s:I}", "retryAfter",
			      (json_int_t)(ttl > 0 ? (ttl + 999) / 1000 : 1)));
		snprintf(ra, sizeof(ra), "%lld",
			 (long long)(ttl > 0 ? (ttl + 999) / 1000 : 1));
		http_res_header(res, "Retry-After", ra);
		return http_res_error(res, SA_ERR_RATE_LIMITED, "tokenId",
				      "the phone refused a login from this "
				      "address: none are sent from it for a "
				      "while");
	}
	return http_req_limit(req, res, "push", "token", token);
}

enum sa_err
api_initiate(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	json_t *body = http_req_json(req),
	       *scopes = json_object_get(body, "scopes");
	const char *token = json_string_value(json_object_get(body, "tokenId"));
	const char *sid = json_string_value(json_object_get(body, "serviceId"));
	const char *origin = http_req_origin(req);
	struct services *reg = NULL;
	const char *login = json_string_value(json_object_get(body, "login"));
	const char *why = NULL;
	const struct service *svc;
	struct enrollment e;
	struct session s;
	struct initiate_cont *c = NULL;
	char otp[OTP_DIGITS + 1] = "", wstok[44], when[21], ra[24];
	json_t *msg = NULL, *jdetail = NULL;
	char *detail = NULL;
	size_t i, dn = 0;
	int owner;
	enum sa_err rc;
	int64_t now = now_unix(), retry = 1, slots = 0, window = 0;

	memset(&e, 0, sizeof(e));
	memset(&s, 0, sizeof(s));
	s.slot = -1;
	/* What the caller asked for is checked before anything about the
	 * token id, so every answer from here on is the same for all. */
	reg = services_get(app->services);
	svc = services_find(reg, sid);
	if (svc == NULL) {
		rc = http_res_error(res, SA_ERR_UNPROCESSABLE, "serviceId",
				    "unknown service");
		goto out;
	}
	if (login != NULL) {
		/* A federation login: what the relying party asked for, from
		 * our own login page, not what the form might say. */
		if ((rc = initiate_check_login(req, res, login, svc, scopes)) !=
		    SA_OK)
			goto out;
	} else if (!service_allows_origin(svc, origin)) {
		app_audit(app, req, "auth.origin_refused", token,
			  json_pack("{s:s, s:s}", "serviceId", svc->id,
				    "origin", origin));
		rc = http_res_error(
		    res, SA_ERR_ORIGIN, "Origin",
		    "this service does not start logins from %s: list it in "
		    "the service's \"origins\" (for the demo service, set "
		    "SEALAUTH_PUBLIC_URL to the address you open)",
		    origin);
		goto out;
	}
	for (i = 0; i < json_array_size(scopes); i++) {
		const char *sc = json_string_value(json_array_get(scopes, i));
		char field[32];
		if (!service_allows_scope(svc, sc)) {
			snprintf(field, sizeof(field), "scopes[%zu]", i);
			rc = http_res_error(res, SA_ERR_SCOPE, field,
					    "service %s may not ask for %s",
					    svc->id, sc);
			goto out;
		}
		str_copy(s.scopes[s.nscopes++], sizeof(s.scopes[0]), sc);
	}
	owner = device_cookie_recognises(
	    app->device_key, http_req_header(req, "Cookie"), token, now);
	if ((rc = initiate_gate(req, res, token, owner)) != SA_OK)
		goto out;
	if ((rc = session_new_ids(s.id, s.random)) != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	str_copy(s.token_id, sizeof(s.token_id), token);
	str_copy(s.service_id, sizeof(s.service_id), svc->id);
	str_copy(s.service_name, sizeof(s.service_name), svc->name);
	str_copy(s.origin, sizeof(s.origin), origin ? origin : "");
	str_copy(s.ip, sizeof(s.ip), http_req_ip(req));
	str_copy(s.ua, sizeof(s.ua), http_req_ua(req));
	s.mode = svc->mode;
	s.issued_at = now;
	s.expires_at = now + app->cfg.session_ttl;
	ratelimit_limit(app->rl, owner ? "pending_owner" : "pending", &slots,
			&window);
	rc = session_claim_slot(app->es, &s, owner, slots, now, &retry);
	if (rc == SA_ERR_RATE_LIMITED) {
		snprintf(ra, sizeof(ra), "%lld", (long long)retry);
		http_res_header(res, "Retry-After", ra);
		http_res_error(res, rc, "tokenId",
			       "too many logins are waiting for this token id; "
			       "retry in %lld s",
			       (long long)retry);
		goto out;
	}
	if (rc != SA_OK) {
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	/* An unknown, revoked or expired token id gets a session like any
	 * other (a decoy that is never pushed nor approved and expires as
	 * usual): same status, body and work, audited as what it is. A
	 * takeover whose waiting period is over binds its new device first. */
	takeover_settle(app, token, now);
	rc = dstore_enroll_get(app->ds, token, &e);
	if (rc == SA_ERR_NOT_FOUND)
		why = "not_enrolled";
	else if (rc != SA_OK) {
		session_release_slot(app->es, &s);
		http_res_error(res, rc, NULL, NULL);
		goto out;
	} else if (e.revoked_at != 0)
		why = "revoked";
	else if (e.expires_at < now)
		why = "expired";
	s.decoy = why != NULL;
	if ((rc = otp_derive(app->otp_secret, app->otp_secret_len, s.id, token,
			     now, otp)) != SA_OK ||
	    (rc = otp_ws_token(app->otp_secret, app->otp_secret_len, s.id,
			       s.random, wstok)) != SA_OK ||
	    (rc = otp_code_mac(app->code_key, s.id, otp, s.otp_mac)) != SA_OK) {
		session_release_slot(app->es, &s);
		http_res_error(res, rc, NULL, NULL);
		goto out;
	}
	if ((rc = session_save(app->es, &s, now)) != SA_OK) {
		session_release_slot(app->es, &s);
		http_res_error(res, rc, NULL,
			       "the session could not be stored");
		goto out;
	}
	if (login != NULL && (rc = weblogin_bind_session(
				  app, s.id, login, s.expires_at)) != SA_OK) {
		session_release_slot(app->es, &s);
		session_drop(app->es, s.id);
		http_res_error(res, rc, NULL,
			       "the session could not be stored");
		goto out;
	}
	iso8601_utc(s.expires_at, when);
	if (why == NULL) {
		/* What the phone shows, so the user can spot a relayed
		 * login. */
		msg = json_pack(
		    "{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s}",
		    "sessionId", s.id, "serviceName", s.service_name, "scopes",
		    scopes_json(s.scopes, s.nscopes), "random", s.random,
		    "expiresAt", when, "origin", s.origin, "requestIp", s.ip,
		    "userAgent", s.ua, "matchMode", service_mode_name(s.mode));
		if (msg != NULL && s.mode == SERVICE_MODE_COMPARE)
			json_object_set_new(msg, "otp", json_string(otp));
	}
	if ((why == NULL && msg == NULL) ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		session_release_slot(app->es, &s);
		session_drop(app->es, s.id);
		json_decref(msg);
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	c->app = app;
	c->decoy = why != NULL;
	c->slot = s.slot;
	memcpy(c->session_id, s.id, sizeof(c->session_id));
	memcpy(c->token_id, s.token_id, sizeof(c->token_id));
	c->expires_at = s.expires_at;
	memcpy(c->otp, otp, sizeof(c->otp));
	memcpy(c->wstok, wstok, sizeof(c->wstok));
	memcpy(c->random, s.random, sizeof(c->random));
	memcpy(c->when, when, sizeof(c->when));
	c->msg = msg;
	if ((e.fcm_token && !(c->fcm_token = strdup(e.fcm_token))) ||
	    (e.push_endpoint && !(c->endpoint = strdup(e.push_endpoint))) ||
	    (!c->decoy && (c->pc = calloc(1, sizeof(*c->pc))) == NULL)) {
		initiate_drop(c);
		initiate_cont_free(c);
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	if (c->pc != NULL) {
		c->pc->app = app;
		memcpy(c->pc->session_id, s.id, sizeof(c->pc->session_id));
		memcpy(c->pc->token_id, c->token_id, sizeof(c->pc->token_id));
		c->pc->expires_at = s.expires_at;
	}
	/* Nothing derived from the code goes to the audit log. */
	if (why == NULL)
		detail = initiate_detail(&s, owner, login, &dn);
	else
		jdetail = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "sessionId",
				    s.id, "serviceId", s.service_id, "reason",
				    why, "origin", s.origin, "login", login);
	rc = initiate_record(req, res, c, why == NULL, token, jdetail, detail,
			     dn);
out:
	services_put(reg);
	OPENSSL_cleanse(otp, sizeof(otp));
	enrollment_free(&e);
	return rc;
}

/* ---- Verify -------------------------------------------------------------- */

/*
 * verify_message builds the signed text of an answer (login/verify_msg.h)
 * from the request's grantedScopes array, already checked to hold strings,
 * and the rejection's reason when the phone gave one.
 */
static enum sa_err
verify_message(const char *sid, const char *otp, long long ts,
	       const char *decision, const json_t *granted, const char *reason,
	       char **out)
{
	const char *scopes[SERVICE_SCOPES_MAX];
	size_t n = json_array_size(granted);

	if (n > SERVICE_SCOPES_MAX)
		return SA_ERR_VALIDATION;
	for (size_t i = 0; i < n; i++)
		scopes[i] = json_string_value(json_array_get(granted, i));
	return verify_msg_build_reason(sid, otp, (int64_t)ts, decision, scopes,
				       n, reason, out);
}

/*
 * fail_attempt counts a failed verification. The third failure ends the
 * session: the browser hears "Too many attempts". Earlier ones tell the
 * browser what went wrong and how many tries are left.
 */
static enum sa_err
fail_attempt(struct http_request *req, struct http_response *res,
	     const struct session *s, enum sa_err why, const char *field,
	     const char *reason)
{
	struct app *app = http_req_app(req);
	int64_t count = SESSION_MAX_ATTEMPTS, now = now_unix();
	struct session_end_rec end;
	json_t *ev;

	session_fail(app->es, s, now, &count);
	app_audit(app, req, "auth.verify_failed", s->token_id,
		  json_pack("{s:s, s:s, s:I}", "sessionId", s->id, "reason",
			    reason, "attempt", (json_int_t)count));
	if (count >= SESSION_MAX_ATTEMPTS &&
	    session_finish(app->es, s, SESSION_TOO_MANY, now, NULL) == SA_OK) {
		app_audit(app, req, "auth.rejected", s->token_id,
			  json_pack("{s:s, s:s}", "sessionId", s->id, "reason",
				    "Too many attempts"));
		session_end_rec_of(s, &end);
		session_publish_end(app, &end,
				    json_pack("{s:s, s:s}", "type", "rejected",
					      "reason", "Too many attempts"),
				    SESSION_TOO_MANY);
	} else if (count < SESSION_MAX_ATTEMPTS) {
		ev = json_pack("{s:s, s:s, s:b, s:I}", "type", "rejected",
			       "reason", reason, "final", 0, "attemptsLeft",
			       (json_int_t)(SESSION_MAX_ATTEMPTS - count));
		session_publish(app, s->id, ev);
	}
	return http_res_error(res, why, field, "%s", reason);
}

/*
 * block_source keeps logins started from the session's address away from
 * its token id's phone for NOT_ME_BLOCK_S seconds: its owner said the
 * login was not theirs. Strangers' quota still applies to other addresses.
 */
static void
block_source(struct http_request *req, const struct session *s)
{
	struct app *app = http_req_app(req);
	char key[ESTORE_KEY_MAX];
	enum sa_err rc;

	snprintf(key, sizeof(key), "block:%s:%s", s->token_id, s->ip);
	rc = estore_set(app->es, key, "1", 1, (uint64_t)NOT_ME_BLOCK_S * 1000u,
			0);
	app_audit(app, req, "auth.source_blocked", s->token_id,
		  json_pack("{s:s, s:s, s:i, s:s}", "sessionId", s->id,
			    "blockedIp", s->ip, "seconds", NOT_ME_BLOCK_S,
			    "result", rc == SA_OK ? "ok" : sa_err_str(rc)));
}

/*
 * refuse_unsigned answers an answer whose signature does not verify: 401,
 * audited, and neither counted against the session nor told to its
 * browser, since anyone who saw the session id could have sent it. Such
 * answers are limited per IP (class "verify_unsigned"), answered 429 over
 * the limit; a signed answer is never held back by them.
 */
static enum sa_err
refuse_unsigned(struct http_request *req, struct http_response *res,
		const struct session *s)
{
	struct app *app = http_req_app(req);
	enum sa_err rc;

	rc =
	    http_req_limit(req, res, "verify_unsigned", "ip", http_req_ip(req));
	if (rc != SA_OK)
		return rc;
	app_audit(app, req, "auth.verify_unsigned", s->token_id,
		  json_pack("{s:s}", "sessionId", s->id));
	return http_res_error(res, SA_ERR_BAD_SIGNATURE, "signature",
			      "Invalid signature");
}

/* issue_token signs the JWT of SPEC §5 for an approved session. */
static enum sa_err
issue_token(struct app *app, const struct session *s,
	    const struct enrollment *e, const json_t *granted, int64_t now,
	    char **jwt_out)
{
	struct identity id;
	const char *scopes[SERVICE_SCOPES_MAX];
	size_t n = json_array_size(granted);
	struct services *reg = services_get(app->services);
	const struct service *svc = services_find_any(reg, s->service_id);
	int public_sub = svc != NULL && svc->subject_public;
	static const char *const amr[] = {"hwk", "user", "mfa"};
	struct json_obj claims;
	json_t *idj = NULL;
	char *text = NULL;
	size_t len = 0;
	EVP_PKEY *key = NULL;
	char sub[SUBJECT_MAX + 1];
	char kid[44], jti[23], *jtie = NULL,
			       scope_text[SERVICE_SCOPES_MAX * 65];
	unsigned char rnd[16];
	enum sa_err rc;

	memset(&id, 0, sizeof(id));
	scope_text[0] = '\0';
	for (size_t i = 0; i < n && i < SERVICE_SCOPES_MAX; i++) {
		scopes[i] = json_string_value(json_array_get(granted, i));
		if (i > 0)
			strcat(scope_text, " ");
		strncat(scope_text, scopes[i], 64);
	}
	/* The identity stored at enrollment, read back at every login. */
	if (e->claims == NULL ||
	    (idj = json_in_parse(e->claims, strlen(e->claims),
				 CLAIMS_JSON_DEPTH, NULL)) == NULL) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	if ((rc = claims_identity_from_json(idj, &id)) != SA_OK)
		goto out;
	if ((rc = rand_bytes(rnd, sizeof(rnd))) != SA_OK ||
	    (jtie = b64url_encode(rnd, sizeof(rnd))) == NULL) {
		rc = rc ? rc : SA_ERR_NOMEM;
		goto out;
	}
	str_copy(jti, sizeof(jti), jtie);
	services_put(reg);
	if ((rc = login_subject(app, s->service_id, public_sub, e->authority,
				s->token_id, sub)) != SA_OK)
		goto out;
	/* Written straight to text: a login signs one every time. */
	json_obj_begin(&claims);
	json_obj_str(&claims, "iss", app->cfg.public_url);
	json_obj_str(&claims, "sub", sub);
	json_obj_str(&claims, "iss_authority", e->authority);
	json_obj_str(&claims, "aud", s->service_id);
	json_obj_int(&claims, "exp", now + app->cfg.jwt_ttl);
	json_obj_int(&claims, "iat", now);
	json_obj_int(&claims, "nbf", now);
	json_obj_str(&claims, "jti", jti);
	json_obj_int(&claims, "auth_time", now);
	/* RFC 8176: a hardware-held key, user presence, two factors. */
	json_obj_strs(&claims, "amr", amr, ARRAY_LEN(amr));
	json_obj_str(&claims, "scope", scope_text);
	rc = claims_write(&id, scopes, n, now, &claims);
	text = json_obj_end(&claims, &len);
	if (rc != SA_OK)
		goto out;
	if (text == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = keys_signing_key(app->keys, now, &key, kid)) != SA_OK)
		goto out;
	rc = jwt_sign_es256_text(key, kid, text, len, jwt_out);
out:
	EVP_PKEY_free(key);
	free(jtie);
	free(text);
	json_decref(idj);
	claims_identity_clear(&id);
	return rc;
}

/* What the answer to an approval needs once its audit row is durable. */
struct approve_cont {
	enum sa_err audit_rc;
	struct app *app;
	struct session_end_rec end; /* the session, as it ended */
	char when[21];
	char *jwt, *hash;
};

/* approved_members adds what both the approved event and the phone's
 * answer carry: the token, its hash, the session's random and its end. */
static void
approved_members(struct json_obj *o, const struct approve_cont *c)
{
	json_obj_str(o, "jwt", c->jwt);
	json_obj_str(o, "hash", c->hash);
	json_obj_str(o, "random", c->end.random);
	json_obj_str(o, "expiresAt", c->when);
}

/*
 * approve_reply sends the approved event to the browser's socket and the
 * token to the phone: {"type":"approved","jwt","hash","random","expiresAt"}
 * and the same without "type". Both are written straight to text (a login
 * sends them every time; json_pack and json_out would build and walk two
 * objects for them).
 */
static void
approve_reply(struct http_response *res, const struct approve_cont *c)
{
	struct json_obj o;
	size_t n = 0;
	char *text;

	json_obj_begin(&o);
	json_obj_str(&o, "type", "approved");
	approved_members(&o, c);
	text = json_obj_end(&o, &n);
	session_publish_end_text(c->app, &c->end, text, n, SESSION_APPROVED);
	json_obj_begin(&o);
	approved_members(&o, c);
	text = json_obj_end(&o, &n);
	http_res_json_text(res, 200, text, n);
}

/* approve_answer hands the token to the browser and the phone (http_cont). */
static enum sa_err
approve_answer(struct http_request *req, struct http_response *res, void *arg)
{
	struct approve_cont *c = arg;
	enum sa_err rc = SA_OK;

	(void)req;
	if (res == NULL)
		goto out;
	if (c->audit_rc != SA_OK) {
		rc = http_res_error(res, c->audit_rc, NULL, NULL);
		goto out;
	}
	approve_reply(res, c);
out:
	free(c->jwt);
	free(c->hash);
	free(c);
	return rc;
}

enum sa_err
api_verify(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	json_t *body = http_req_json(req);
	const char *sid = json_string_value(json_object_get(body, "sessionId"));
	const char *token = json_string_value(json_object_get(body, "tokenId"));
	const char *otp = json_string_value(json_object_get(body, "otp"));
	const char *decision =
	    json_string_value(json_object_get(body, "decision"));
	const char *sig64 =
	    json_string_value(json_object_get(body, "signature"));
	const char *reason = json_string_value(json_object_get(body, "reason"));
	json_t *granted = json_object_get(body, "grantedScopes");
	long long ts = json_integer_value(json_object_get(body, "timestamp"));
	struct session s;
	struct enrollment e;
	enum session_end prior = SESSION_OPEN;
	char *msg = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *sig = NULL, digest[32];
	char hash_hex[65], when[21], *jwt = NULL, *hash = NULL, *login = NULL;
	struct approve_cont *c = NULL;
	struct session_end_rec end;
	size_t siglen = 0, i;
	int64_t now = now_unix();
	enum sa_err rc;

	memset(&e, 0, sizeof(e));
	if (reason != NULL && strcmp(decision, "reject") != 0) {
		rc = http_res_error(res, SA_ERR_VALIDATION, "reason",
				    "a reason goes only with decision reject");
		goto out;
	}
	rc = session_load_state(app->es, sid, &s, &prior, WEBLOGIN_SESSION_KEY,
				&login);
	if (rc != SA_OK) {
		http_res_error(res, rc, "sessionId",
			       rc == SA_ERR_SESSION_UNKNOWN
				   ? "no such session, or it has expired"
				   : NULL);
		goto out;
	}
	if (prior != SESSION_OPEN || s.ended) {
		rc =
		    prior == SESSION_TOO_MANY
			? http_res_error(
			      res, SA_ERR_TOO_MANY_ATTEMPTS, NULL,
			      "this session was rejected after too many "
			      "failed attempts")
			: http_res_error(res, SA_ERR_REPLAY, "sessionId", NULL);
		goto out;
	}
	rc = dstore_enroll_get(app->ds, s.token_id, &e);
	if (rc != SA_OK && rc != SA_ERR_NOT_FOUND) {
		/* An outage is not a revocation: the phone may retry. */
		rc = http_res_error(
		    res, sa_err_http(rc) == 503 ? rc : SA_ERR_UNAVAILABLE, NULL,
		    "the enrollment could not be read: %s", sa_err_str(rc));
		goto out;
	}
	/* Checked again here: the document may have expired, or the seal
	 * been revoked, since the login started. */
	if (rc == SA_ERR_NOT_FOUND || e.revoked_at != 0 || e.expires_at < now) {
		rc = http_res_error(res, SA_ERR_TOKEN_REVOKED, "tokenId",
				    "the enrollment is no longer valid");
		goto out;
	}
	/*
	 * The signature binds session, code, time, decision and scopes. It is
	 * checked first: an answer the device did not sign is refused without
	 * touching the session, so knowing a session id is not enough to end
	 * it with three bogus answers.
	 */
	if (keycache_pubkey(app->keycache, e.public_key_pem,
			    strlen(e.public_key_pem), &key) != SA_OK ||
	    b64_decode(sig64, strlen(sig64), 200, &sig, &siglen) != SA_OK ||
	    verify_message(s.id, otp, ts, decision, granted, reason, &msg) !=
		SA_OK ||
	    ecdsa_verify_sha256(key, msg, strlen(msg), sig, siglen) != SA_OK) {
		rc = refuse_unsigned(req, res, &s);
		goto out;
	}
	/* From here on the enrolled device spoke: its mistakes count. */
	if (strcmp(token, s.token_id) != 0) {
		rc = fail_attempt(req, res, &s, SA_ERR_BAD_SIGNATURE, "tokenId",
				  "Invalid signature");
		goto out;
	}
	if (ts < now - VERIFY_WINDOW || ts > now + VERIFY_WINDOW) {
		rc = fail_attempt(req, res, &s, SA_ERR_CLOCK_SKEW, "timestamp",
				  "timestamp is outside the allowed window");
		goto out;
	}
	for (i = 0; i < json_array_size(granted); i++) {
		const char *g = json_string_value(json_array_get(granted, i));
		size_t j;
		for (j = 0; j < s.nscopes; j++)
			if (strcmp(g, s.scopes[j]) == 0)
				break;
		if (j == s.nscopes) {
			char field[48];
			snprintf(field, sizeof(field), "grantedScopes[%zu]", i);
			rc = fail_attempt(req, res, &s, SA_ERR_SCOPE, field,
					  "a granted scope was not requested");
			goto out;
		}
	}
	if (otp_code_mac(app->code_key, s.id, otp, hash_hex) != SA_OK ||
	    !ct_equal(hash_hex, s.otp_mac, 64)) {
		rc = fail_attempt(req, res, &s, SA_ERR_BAD_OTP, "otp",
				  "Invalid OTP");
		goto out;
	}
	if (strcmp(decision, "reject") == 0) {
		if ((rc = session_finish(app->es, &s, SESSION_REJECTED, now,
					 &prior)) != SA_OK) {
			http_res_error(res, rc, "sessionId", NULL);
			goto out;
		}
		app_audit(app, req, "auth.rejected", s.token_id,
			  json_pack("{s:s, s:s, s:s}", "sessionId", s.id,
				    "reason", "User rejected", "phoneReason",
				    reason ? reason : "declined"));
		if (reason != NULL && strcmp(reason, "not_me") == 0)
			block_source(req, &s);
		session_end_rec_of(&s, &end);
		session_publish_end(app, &end,
				    json_pack("{s:s, s:s}", "type", "rejected",
					      "reason", "User rejected"),
				    SESSION_REJECTED);
		http_res_json(res, 200, json_pack("{s:b}", "rejected", 1));
		rc = SA_OK;
		goto out;
	}
	/* Only one approval per session, even against a racing replay. */
	if ((rc = session_finish(app->es, &s, SESSION_APPROVED, now, &prior)) !=
	    SA_OK) {
		http_res_error(res, rc, "sessionId", NULL);
		goto out;
	}
	/* A federation login may now continue, before anyone hears of the
	 * approval. */
	if ((rc = weblogin_session_approved(app, &s, login, e.authority,
					    granted, now)) != SA_OK) {
		http_res_error(res, rc, NULL,
			       "the approval could not be recorded");
		goto out;
	}
	if ((rc = issue_token(app, &s, &e, granted, now, &jwt)) != SA_OK) {
		http_res_error(res, rc, NULL, "the token could not be issued");
		goto out;
	}
	sha256(jwt, strlen(jwt), digest);
	hash = b64url_encode(digest, sizeof(digest));
	iso8601_utc(now + app->cfg.jwt_ttl, when);
	if (hash == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		rc = http_res_error(res, SA_ERR_NOMEM, NULL, NULL);
		goto out;
	}
	c->app = app;
	session_end_rec_of(&s, &c->end);
	memcpy(c->when, when, sizeof(c->when));
	c->jwt = jwt;
	c->hash = hash;
	jwt = hash = NULL;
	/* The token leaves only once its issuance is durable. */
	{
		size_t dn = 0;
		char *detail = approved_detail(&s, granted, c->hash, &dn);

		app_audit_park_text(app, req, "auth.approved", s.token_id,
				    detail, dn, &c->audit_rc, approve_answer,
				    c);
	}
	rc = SA_OK;
out:
	free(login);
	free(jwt);
	free(hash);
	free(sig);
	free(msg);
	EVP_PKEY_free(key);
	enrollment_free(&e);
	return rc;
}
