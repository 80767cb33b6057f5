/*
 * weblogin.c - the browser login hand-off of the federation protocols and
 * the provider session (see weblogin.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "login/weblogin.h"
#include "app/app.h"
#include "audit/audit.h"
#include "core/log.h"
#include "core/util.h"
#include "core/schema.h"
#include "login/session.h"

#define PENDING_TEXT_MAX (WEBLOGIN_DATA_MAX + 4096)
#define SSO_TEXT_MAX 32768
#define COOKIE_LEN 43 /* 32 random bytes, base64url */

/* ---- Ids and keys -------------------------------------------------------- */

/* new_id writes prefix and n random bytes as base64url into out. */
static enum sa_err
new_id(const char *prefix, size_t n, char *out, size_t cap)
{
	unsigned char r[32];
	char *e;

	if (n > sizeof(r) || rand_bytes(r, n) != SA_OK)
		return SA_ERR_INTERNAL;
	e = b64url_encode(r, n);
	OPENSSL_cleanse(r, sizeof(r));
	if (e == NULL)
		return SA_ERR_NOMEM;
	snprintf(out, cap, "%s%s", prefix, e);
	free(e);
	return SA_OK;
}

static int
b64url_only(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
		      p[i] == '_'))
			return 0;
	return 1;
}

int
weblogin_id_valid(const char *text)
{
	return text != NULL && strlen(text) == WEBLOGIN_ID_LEN &&
	       strncmp(text, "wl_", 3) == 0 &&
	       b64url_only(text + 3, WEBLOGIN_ID_LEN - 3);
}

static uint64_t
ttl_left_ms(int64_t expires_at, int64_t now)
{
	return expires_at > now ? (uint64_t)(expires_at - now) * 1000u : 1u;
}

/* sso_key names the store record of a cookie value: its hash, so the store
 * never holds what the browser presents. */
static void
sso_key(const char *cookie, char out[ESTORE_KEY_MAX])
{
	unsigned char d[32];
	char *hex;

	sha256(cookie, strlen(cookie), d);
	hex = hex_encode(d, sizeof(d));
	snprintf(out, ESTORE_KEY_MAX, "sso:%s", hex ? hex : "");
	free(hex);
}

static int
cookie_valid(const char *c)
{
	return c != NULL && strlen(c) == COOKIE_LEN &&
	       b64url_only(c, COOKIE_LEN);
}

/* ---- Pending requests ---------------------------------------------------- */

static const struct weblogin_protocol *
protocol_find(const struct app *app, const char *name)
{
	const struct weblogin_protocol *p = app->weblogin_protocols;

	for (; p != NULL && p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static json_t *
scopes_array(const char *const *scopes, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(scopes[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

enum sa_err
weblogin_begin(struct app *app, const char *protocol, const char *service_id,
	       const char *const *scopes, size_t n, const char *login_hint,
	       json_t *data, char id[WEBLOGIN_ID_LEN + 1])
{
	char key[ESTORE_KEY_MAX], nid[WEBLOGIN_ID_LEN + 1];
	json_t *rec = NULL;
	int64_t now = now_unix();
	enum sa_err rc = SA_ERR_INTERNAL;

	if (protocol_find(app, protocol) == NULL || n > SERVICE_SCOPES_MAX ||
	    strlen(service_id) > SERVICE_ID_MAX ||
	    (login_hint != NULL && strlen(login_hint) > ENROLL_TOKEN_MAX))
		goto out;
	for (size_t i = 0; i < n; i++)
		if (strlen(scopes[i]) > WEBLOGIN_SCOPE_MAX)
			goto out;
	if ((rc = new_id("wl_", 16, nid, sizeof(nid))) != SA_OK)
		goto out;
	rec = json_pack(
	    "{s:s, s:s, s:o, s:s, s:O, s:I}", "protocol", protocol, "serviceId",
	    service_id, "scopes", scopes_array(scopes, n), "loginHint",
	    login_hint ? login_hint : "", "data", data ? data : json_null(),
	    "expiresAt", (json_int_t)(now + WEBLOGIN_TTL));
	snprintf(key, sizeof(key), "wl:%s", nid);
	if ((rc = estore_set_json(app->es, key, rec, PENDING_TEXT_MAX,
				  WEBLOGIN_TTL * 1000u, ESTORE_NX)) != SA_OK)
		goto out;
	memcpy(id, nid, sizeof(nid));
out:
	json_decref(rec);
	json_decref(data);
	return rc;
}

void
weblogin_pending_clear(struct weblogin_pending *p)
{
	if (p == NULL)
		return;
	json_decref(p->data);
	memset(p, 0, sizeof(*p));
}

enum sa_err
weblogin_load(struct app *app, const char *id, struct weblogin_pending *out)
{
	char key[ESTORE_KEY_MAX];
	size_t i;
	json_t *rec = NULL, *scopes, *v;
	struct weblogin_pending p;
	enum sa_err rc;

	memset(&p, 0, sizeof(p));
	if (!weblogin_id_valid(id))
		return SA_ERR_LOGIN_UNKNOWN;
	snprintf(key, sizeof(key), "wl:%s", id);
	rc = estore_get_json(app->es, key, &rec);
	if (rc == SA_ERR_NOT_FOUND)
		return SA_ERR_LOGIN_UNKNOWN;
	if (rc != SA_OK)
		return rc;
	rc = SA_ERR_INTERNAL;
	scopes = json_object_get(rec, "scopes");
	memcpy(p.id, id, sizeof(p.id));
	if (!schema_copy_string(json_object_get(rec, "protocol"), p.protocol,
				sizeof(p.protocol)) ||
	    !schema_copy_string(json_object_get(rec, "serviceId"), p.service_id,
				sizeof(p.service_id)) ||
	    !schema_copy_string(json_object_get(rec, "loginHint"), p.login_hint,
				sizeof(p.login_hint)) ||
	    !json_is_array(scopes) ||
	    json_array_size(scopes) > SERVICE_SCOPES_MAX)
		goto out;
	json_array_foreach(scopes, i, v) if (!schema_copy_string(
						 v, p.scopes[i],
						 sizeof(p.scopes[0]))) goto out;
	p.nscopes = json_array_size(scopes);
	p.expires_at = json_integer_value(json_object_get(rec, "expiresAt"));
	p.data = json_incref(json_object_get(rec, "data"));
	*out = p;
	rc = SA_OK;
out:
	json_decref(rec);
	return rc;
}

enum sa_err
weblogin_bind_session(struct app *app, const char *session_id,
		      const char *login_id, int64_t expires_at)
{
	char key[ESTORE_KEY_MAX];

	session_kept_key(key, sizeof(key), session_id, WEBLOGIN_SESSION_KEY);
	return estore_set(app->es, key, login_id, strlen(login_id),
			  ttl_left_ms(expires_at, now_unix()), ESTORE_NX);
}

enum sa_err
weblogin_session_approved(struct app *app, const struct session *s,
			  const char *login, const char *authority,
			  const json_t *granted, int64_t now)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;
	enum sa_err rc;

	if (login == NULL)
		return SA_OK;
	if (!weblogin_id_valid(login))
		return SA_ERR_INTERNAL;
	rec = json_pack("{s:s, s:s, s:s, s:O, s:I}", "sessionId", s->id,
			"tokenId", s->token_id, "authority", authority,
			"granted", granted, "authTime", (json_int_t)now);
	snprintf(key, sizeof(key), "wl:%s:ok", login);
	/* A session is approved once, so NX only refuses a second session
	 * of the same request: the first approval stands. */
	rc = estore_set_json(app->es, key, rec, PENDING_TEXT_MAX,
			     WEBLOGIN_TTL * 1000u, ESTORE_NX);
	json_decref(rec);
	return rc;
}

/* ---- The provider session ------------------------------------------------ */

void
weblogin_sso_clear(struct weblogin_sso *s)
{
	if (s == NULL)
		return;
	json_decref(s->amr);
	json_decref(s->rps);
	OPENSSL_cleanse(s, sizeof(*s));
}

/* sso_from_json reads a stored record; 0 when it is damaged. */
static int
sso_from_json(const json_t *rec, struct weblogin_sso *out)
{
	struct weblogin_sso s;
	json_t *amr = json_object_get(rec, "amr"),
	       *rps = json_object_get(rec, "rps");

	memset(&s, 0, sizeof(s));
	if (!json_is_object(rec) ||
	    !schema_copy_string(json_object_get(rec, "sid"), s.sid,
				sizeof(s.sid)) ||
	    !schema_copy_string(json_object_get(rec, "tokenId"), s.token_id,
				sizeof(s.token_id)) ||
	    !schema_copy_string(json_object_get(rec, "authority"), s.authority,
				sizeof(s.authority)) ||
	    !json_is_array(amr) || !json_is_array(rps))
		return 0;
	s.auth_time = json_integer_value(json_object_get(rec, "authTime"));
	s.expires_at = json_integer_value(json_object_get(rec, "expiresAt"));
	s.amr = json_incref(amr);
	s.rps = json_incref(rps);
	*out = s;
	return 1;
}

static json_t *
sso_to_json(const struct weblogin_sso *s)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:O, s:O}", "sid", s->sid,
			 "tokenId", s->token_id, "authority", s->authority,
			 "authTime", (json_int_t)s->auth_time, "expiresAt",
			 (json_int_t)s->expires_at, "amr", s->amr, "rps",
			 s->rps);
}

/* sso_save writes s under the record key of cookie; flags as estore_set. */
static enum sa_err
sso_save(struct app *app, const char *cookie, const struct weblogin_sso *s,
	 int flags)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = sso_to_json(s);
	enum sa_err rc;

	sso_key(cookie, key);
	rc = estore_set_json(app->es, key, rec, SSO_TEXT_MAX,
			     ttl_left_ms(s->expires_at, now_unix()), flags);
	json_decref(rec);
	return rc;
}

/* sso_read loads the record of a cookie value. */
static enum sa_err
sso_read(struct app *app, const char *cookie, struct weblogin_sso *out)
{
	char key[ESTORE_KEY_MAX];
	json_t *rec = NULL;
	enum sa_err rc;

	if (!cookie_valid(cookie))
		return SA_ERR_NOT_FOUND;
	sso_key(cookie, key);
	if ((rc = estore_get_json(app->es, key, &rec)) != SA_OK)
		return rc;
	rc = sso_from_json(rec, out) ? SA_OK : SA_ERR_INTERNAL;
	json_decref(rec);
	if (rc == SA_OK && out->expires_at <= now_unix()) {
		weblogin_sso_clear(out);
		rc = SA_ERR_NOT_FOUND;
	}
	return rc;
}

enum sa_err
weblogin_session_get(struct http_request *req, struct weblogin_sso *out)
{
	return sso_read(http_req_app(req),
			http_req_cookie(req, WEBLOGIN_COOKIE), out);
}

/* rp_has tells whether the rps entry for (protocol, service) holds scope. */
static int
rp_has(const json_t *rp, const char *scope)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(rp, "scopes"), i,
			   v) if (json_string_value(v) &&
				  strcmp(json_string_value(v), scope) ==
				      0) return 1;
	return 0;
}

static json_t *
rp_find(const json_t *rps, const char *protocol, const char *service_id)
{
	json_t *rp;
	size_t i;

	json_array_foreach(rps, i, rp)
	{
		const char *p =
		    json_string_value(json_object_get(rp, "protocol"));
		const char *s =
		    json_string_value(json_object_get(rp, "serviceId"));
		if (p && s && strcmp(p, protocol) == 0 &&
		    strcmp(s, service_id) == 0)
			return rp;
	}
	return NULL;
}

int
weblogin_sso_granted(const struct weblogin_sso *s, const char *protocol,
		     const char *service_id, const char *const *scopes,
		     size_t n)
{
	const json_t *rp = rp_find(s->rps, protocol, service_id);

	if (rp == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!rp_has(rp, scopes[i]))
			return 0;
	return 1;
}

/* rp_merge records protocol/service with the n scopes in s->rps (the
 * scopes join those granted before in the same session). */
static enum sa_err
rp_merge(struct weblogin_sso *s, const char *protocol, const char *service_id,
	 const char *const *scopes, size_t n, int64_t now)
{
	json_t *rp = rp_find(s->rps, protocol, service_id), *list;

	if (rp == NULL) {
		if (json_array_size(s->rps) >= WEBLOGIN_RPS_MAX)
			json_array_remove(s->rps, 0); /* the oldest goes */
		rp = json_pack("{s:s, s:s, s:[], s:I}", "protocol", protocol,
			       "serviceId", service_id, "scopes", "at",
			       (json_int_t)now);
		if (rp == NULL || json_array_append_new(s->rps, rp) != 0)
			return SA_ERR_NOMEM;
	}
	json_object_set_new(rp, "at", json_integer(now));
	list = json_object_get(rp, "scopes");
	for (size_t i = 0; i < n; i++)
		if (!rp_has(rp, scopes[i]) &&
		    json_array_append_new(list, json_string(scopes[i])) != 0)
			return SA_ERR_NOMEM;
	return SA_OK;
}

enum sa_err
weblogin_session_add_rp(struct http_request *req, struct weblogin_sso *sso,
			const char *protocol, const char *service_id,
			const char *const *scopes, size_t n)
{
	const char *cookie = http_req_cookie(req, WEBLOGIN_COOKIE);
	enum sa_err rc;

	if (!cookie_valid(cookie))
		return SA_ERR_NOT_FOUND;
	if ((rc = rp_merge(sso, protocol, service_id, scopes, n, now_unix())) !=
	    SA_OK)
		return rc;
	/* XX: a session ended meanwhile is not brought back. */
	return sso_save(http_req_app(req), cookie, sso, ESTORE_XX);
}

/* set_cookie adds the provider session cookie (value NULL: clear it). */
static void
set_cookie(struct http_request *req, struct http_response *res,
	   const char *value, long max_age)
{
	struct app *app = http_req_app(req);
	char c[256];

	/* HttpOnly: no script reads it; Lax: sent on the top-level
	 * navigations a relying party starts, not on cross-site posts. */
	snprintf(c, sizeof(c),
		 "%s=%s; Path=/; Max-Age=%ld; HttpOnly; %sSameSite=Lax",
		 WEBLOGIN_COOKIE, value ? value : "", value ? max_age : 0L,
		 str_has_prefix(app->cfg.public_url, "https://") ? "Secure; "
								 : "");
	http_res_header(res, "Set-Cookie", c);
}

enum sa_err
weblogin_session_end(struct http_request *req, struct http_response *res,
		     struct weblogin_sso *out)
{
	struct app *app = http_req_app(req);
	const char *cookie = http_req_cookie(req, WEBLOGIN_COOKIE);
	struct weblogin_sso s;
	char key[ESTORE_KEY_MAX];
	enum sa_err rc;

	memset(&s, 0, sizeof(s));
	set_cookie(req, res, NULL, 0);
	if ((rc = sso_read(app, cookie, &s)) != SA_OK)
		return rc == SA_ERR_INTERNAL ? rc : SA_ERR_NOT_FOUND;
	sso_key(cookie, key);
	estore_del(app->es, key, NULL);
	app_audit(app, req, "sso.logout", s.token_id,
		  json_pack("{s:s, s:O}", "sid", s.sid, "rps", s.rps));
	if (out != NULL)
		*out = s;
	else
		weblogin_sso_clear(&s);
	return SA_OK;
}

/*
 * sso_refresh starts a provider session for the login just approved, or
 * refreshes the request's one when it is the same person's: the cookie
 * value changes either way (no fixation), the public sid stays for the
 * same person. *out receives the new session; *cookie_out its cookie.
 */
static enum sa_err
sso_refresh(struct http_request *req, const char *token_id,
	    const char *authority, int64_t auth_time,
	    const struct weblogin_pending *p, const char *const *granted,
	    size_t ngranted, struct weblogin_sso *out,
	    char cookie_out[COOKIE_LEN + 1])
{
	struct app *app = http_req_app(req);
	const char *old_cookie = http_req_cookie(req, WEBLOGIN_COOKIE);
	struct weblogin_sso old, s;
	char key[ESTORE_KEY_MAX], cookie[COOKIE_LEN + 1];
	int have_old;
	int64_t now = now_unix();
	enum sa_err rc;

	memset(&old, 0, sizeof(old));
	memset(&s, 0, sizeof(s));
	have_old = sso_read(app, old_cookie, &old) == SA_OK;
	/* The same person is the same token id of the same authority. */
	if (have_old && strcmp(old.token_id, token_id) == 0 &&
	    strcmp(old.authority, authority) == 0) {
		memcpy(s.sid, old.sid, sizeof(s.sid));
		s.rps = json_incref(old.rps);
	} else {
		if ((rc = new_id("", 16, s.sid, sizeof(s.sid))) != SA_OK)
			goto out;
		s.rps = json_array();
	}
	snprintf(s.token_id, sizeof(s.token_id), "%s", token_id);
	/* Every subject of this session is derived with the authority
	 * (login_subject): a token id means nothing without it. */
	snprintf(s.authority, sizeof(s.authority), "%s", authority);
	s.auth_time = auth_time;
	s.expires_at = now + app->cfg.sso_ttl;
	/* RFC 8176: a hardware-held key, user presence, two factors. */
	s.amr = json_pack("[s, s, s]", "hwk", "user", "mfa");
	if (s.rps == NULL || s.amr == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = rp_merge(&s, p->protocol, p->service_id, granted, ngranted,
			   now)) != SA_OK ||
	    (rc = new_id("", 32, cookie, sizeof(cookie))) != SA_OK ||
	    (rc = sso_save(app, cookie, &s, ESTORE_NX)) != SA_OK)
		goto out;
	if (have_old) {
		sso_key(old_cookie, key);
		estore_del(app->es, key, NULL);
	}
	memcpy(cookie_out, cookie, sizeof(cookie));
	*out = s;
	memset(&s, 0, sizeof(s));
	rc = SA_OK;
out:
	OPENSSL_cleanse(cookie, sizeof(cookie));
	weblogin_sso_clear(&old);
	weblogin_sso_clear(&s);
	return rc;
}

/* ---- Pages and handlers -------------------------------------------------- */

static void
html_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		const char *e = NULL;
		switch (*s) {
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '&':
			e = "&amp;";
			break;
		case '"':
			e = "&quot;";
			break;
		case '\'':
			e = "&#39;";
			break;
		default:
			break;
		}
		if (e != NULL)
			buf_append(b, e, strlen(e));
		else
			buf_append(b, s, 1);
	}
}

void
weblogin_page(struct http_response *res, unsigned int status, const char *title,
	      const char *message)
{
	struct buf b;
	static const char head[] =
	    "<!doctype html>\n<html lang=\"en\"><head><meta "
	    "charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\"><title>";
	static const char mid[] = " – sealauth</title><link rel=\"stylesheet\" "
				  "href=\"/static/style.css\"></head>\n<body>"
				  "<main class=\"shell\"><section "
				  "class=\"card\"><h1>";
	static const char para[] = "</h1><p class=\"lead\" id=\"message\">";
	static const char tail[] = "</p></section></main></body></html>\n";

	buf_init(&b, 16384);
	buf_append(&b, head, sizeof(head) - 1);
	html_escape(&b, title);
	buf_append(&b, mid, sizeof(mid) - 1);
	html_escape(&b, title);
	buf_append(&b, para, sizeof(para) - 1);
	html_escape(&b, message);
	buf_append(&b, tail, sizeof(tail) - 1);
	http_res_bytes(res, status, "text/html; charset=utf-8", b.data, b.len);
	buf_free(&b);
}

enum sa_err
api_login_pending(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct weblogin_pending p;
	struct services *reg;
	const struct service *svc;
	const char *scopes[SERVICE_SCOPES_MAX];
	char when[21];
	enum sa_err rc;

	if ((rc = weblogin_load(app, http_req_param(req, 0), &p)) != SA_OK)
		return http_res_error(res, rc, "login", NULL);
	reg = services_get(app->services);
	svc = services_find(reg, p.service_id);
	for (size_t i = 0; i < p.nscopes; i++)
		scopes[i] = p.scopes[i];
	iso8601_utc(p.expires_at, when);
	http_res_json(res, 200,
		      json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "login",
				p.id, "protocol", p.protocol, "serviceId",
				p.service_id, "serviceName",
				svc ? svc->name : p.service_id, "scopes",
				scopes_array(scopes, p.nscopes), "loginHint",
				p.login_hint, "expiresAt", when));
	services_put(reg);
	weblogin_pending_clear(&p);
	return SA_OK;
}

/* The sso.login row of a finished login until it is written (struct
 * weblogin_done). */
struct weblogin_held {
	const char *subject;
	json_t *detail; /* owned until written */
	int written;	/* 1 once written or tried */
	enum sa_err rc; /* the outcome then */
};

enum sa_err
weblogin_audit(struct http_request *req, const struct weblogin_done *done,
	       const char *event, const char *subject, json_t *detail)
{
	struct app *app = http_req_app(req);
	struct weblogin_held *h = done != NULL ? done->held : NULL;

	if (h == NULL || h->written)
		return app_audit(app, req, event, subject, detail);
	const struct audit_event ev[] = {
	    {"sso.login", h->subject, h->detail},
	    {event, subject, detail},
	};
	h->written = 1;
	h->detail = NULL;
	h->rc = app_audit_many(app, req, ev, ARRAY_LEN(ev));
	return h->rc;
}

/* The approval record of a pending request, as weblogin_session_approved
 * wrote it. */
struct approval {
	char session_id[SESSION_ID_LEN + 1];
	char token_id[ENROLL_TOKEN_MAX + 1];
	char authority[WEBLOGIN_AUTHORITY_MAX + 1];
	int64_t auth_time;
	size_t ngranted;
	char granted[SERVICE_SCOPES_MAX][WEBLOGIN_SCOPE_MAX + 1];
};

static enum sa_err
approval_read(struct app *app, const char *login_id, struct approval *out)
{
	char key[ESTORE_KEY_MAX];
	size_t i;
	json_t *rec = NULL, *g, *v;
	enum sa_err rc;

	snprintf(key, sizeof(key), "wl:%s:ok", login_id);
	if ((rc = estore_get_json(app->es, key, &rec)) != SA_OK)
		return rc;
	g = json_object_get(rec, "granted");
	rc = SA_ERR_INTERNAL;
	memset(out, 0, sizeof(*out));
	if (!schema_copy_string(json_object_get(rec, "sessionId"),
				out->session_id, sizeof(out->session_id)) ||
	    !schema_copy_string(json_object_get(rec, "tokenId"), out->token_id,
				sizeof(out->token_id)) ||
	    !schema_copy_string(json_object_get(rec, "authority"),
				out->authority, sizeof(out->authority)) ||
	    !json_is_array(g) || json_array_size(g) > SERVICE_SCOPES_MAX)
		goto out;
	json_array_foreach(
	    g, i, v) if (!schema_copy_string(v, out->granted[i],
					     sizeof(out->granted[0]))) goto out;
	out->ngranted = json_array_size(g);
	out->auth_time = json_integer_value(json_object_get(rec, "authTime"));
	rc = SA_OK;
out:
	json_decref(rec);
	return rc;
}

enum sa_err
api_login_continue(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	const char *login = http_req_query(req, "login");
	const char *sid = http_req_query(req, "session");
	const struct weblogin_protocol *proto;
	struct weblogin_pending p;
	struct weblogin_sso sso;
	struct approval a;
	struct weblogin_done done;
	struct weblogin_held held = {0};
	const char *granted[SERVICE_SCOPES_MAX];
	char key[ESTORE_KEY_MAX], cookie[COOKIE_LEN + 1] = "";
	int existed = 0;
	enum sa_err rc;

	memset(&p, 0, sizeof(p));
	memset(&sso, 0, sizeof(sso));
	if (!weblogin_id_valid(login) || !session_id_valid(sid)) {
		weblogin_page(res, 400, "Not a login",
			      "This address does not continue a login.");
		return SA_ERR_BAD_REQUEST;
	}
	if ((rc = weblogin_load(app, login, &p)) != SA_OK) {
		weblogin_page(res, sa_err_http(rc), "Login expired",
			      "This login request has expired or was already "
			      "used. Go back to the website and sign in "
			      "again.");
		goto out;
	}
	rc = approval_read(app, login, &a);
	if (rc != SA_OK || strcmp(a.session_id, sid) != 0) {
		/* Only the session started for this request may finish it:
		 * any other approved session is someone else's login. */
		app_audit(app, req, "sso.login_refused", "",
			  json_pack("{s:s, s:s, s:s}", "login", login,
				    "sessionId", sid, "reason",
				    rc == SA_OK ? "another session"
						: "not approved"));
		rc = SA_ERR_LOGIN_MISMATCH;
		weblogin_page(res, 403, "Login not approved",
			      "This login has not been approved on your phone "
			      "for this request.");
		goto out;
	}
	snprintf(key, sizeof(key), "wl:%s:ok", login);
	/* Exactly one hand-off per approval, even against a racing reload. */
	if ((rc = estore_del(app->es, key, &existed)) != SA_OK || !existed) {
		rc = SA_ERR_LOGIN_UNKNOWN;
		weblogin_page(res, 404, "Login expired",
			      "This login was already used. Go back to the "
			      "website and sign in again.");
		goto out;
	}
	snprintf(key, sizeof(key), "wl:%s", login);
	estore_del(app->es, key, NULL);
	if ((proto = protocol_find(app, p.protocol)) == NULL) {
		rc = SA_ERR_INTERNAL;
		weblogin_page(res, 500, "Login failed",
			      "The server cannot finish this kind of login.");
		goto out;
	}
	for (size_t i = 0; i < a.ngranted; i++)
		granted[i] = a.granted[i];
	if ((rc = sso_refresh(req, a.token_id, a.authority, a.auth_time, &p,
			      granted, a.ngranted, &sso, cookie)) != SA_OK) {
		weblogin_page(res, 500, "Login failed",
			      "The sign-in session could not be stored.");
		goto out;
	}
	/* Written with the protocol's own event (weblogin_audit): one
	 * commit for both. */
	held.subject = a.token_id;
	held.detail =
	    json_pack("{s:s, s:s, s:s, s:s, s:o}", "sid", sso.sid, "login",
		      login, "protocol", p.protocol, "serviceId", p.service_id,
		      "granted", scopes_array(granted, a.ngranted));
	done.pending = &p;
	done.sso = &sso;
	done.session_id = sid;
	done.ngranted = a.ngranted;
	done.granted = granted;
	done.held = &held;
	rc = proto->cont(req, res, &done);
	if (!held.written) {
		/* The continuation answered without an event of its own. */
		held.written = 1;
		held.rc =
		    app_audit(app, req, "sso.login", held.subject, held.detail);
		held.detail = NULL;
	}
	/* No cookie names a provider session whose login is not recorded. */
	if (held.rc == SA_OK)
		set_cookie(req, res, cookie, app->cfg.sso_ttl);
	else if (rc == SA_OK)
		rc = held.rc;
out:
	json_decref(held.detail);
	OPENSSL_cleanse(cookie, sizeof(cookie));
	weblogin_sso_clear(&sso);
	weblogin_pending_clear(&p);
	return rc;
}
