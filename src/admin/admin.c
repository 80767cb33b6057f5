/*
 * admin.c - what every admin endpoint shares: the relying party, admitting
 * a request (token or cookie with CSRF token, session, rate limit), auditing
 * an admin action, ceremony challenges in the ephemeral store, and the
 * checks of WebAuthn credentials in request bodies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "admin/admin_int.h"
#include "app/app.h"
#include "core/log.h"
#include "core/util.h"

/* ---- Schemas of WebAuthn credentials ------------------------------------ */

static const struct schema_field transport_item =
    SCHEMA_STRING(NULL, SCHEMA_REQUIRED, 1, 32, SCHEMA_FMT_TOKEN);

static const struct schema_field reg_response_fields[] = {
    SCHEMA_STRING("clientDataJSON", SCHEMA_REQUIRED, 1, 5462,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_STRING("attestationObject", SCHEMA_REQUIRED, 1, 21846,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_ARRAY("transports", SCHEMA_OPTIONAL, 0, 8, &transport_item),
    SCHEMA_END,
};
static const struct schema reg_response_schema = {reg_response_fields, NULL};

static const struct schema_field get_response_fields[] = {
    SCHEMA_STRING("clientDataJSON", SCHEMA_REQUIRED, 1, 5462,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_STRING("authenticatorData", SCHEMA_REQUIRED, 1, 10923,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_STRING("signature", SCHEMA_REQUIRED, 1, 342, SCHEMA_FMT_BASE64URL),
    SCHEMA_STRING("userHandle", SCHEMA_OPTIONAL | SCHEMA_NULLABLE, 0, 88,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_END,
};
static const struct schema get_response_schema = {get_response_fields, NULL};

static const struct schema_field reg_cred_fields[] = {
    SCHEMA_STRING("id", SCHEMA_REQUIRED, 1, ADMIN_CRED_B64_MAX,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_STRING("rawId", SCHEMA_OPTIONAL, 1, ADMIN_CRED_B64_MAX,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_ENUM("type", SCHEMA_REQUIRED, "public-key"),
    SCHEMA_OBJECT("response", SCHEMA_REQUIRED, &reg_response_schema),
    SCHEMA_STRING("authenticatorAttachment", SCHEMA_OPTIONAL | SCHEMA_NULLABLE,
		  0, 32, SCHEMA_FMT_TOKEN),
    SCHEMA_OPAQUE_OBJECT("clientExtensionResults", SCHEMA_OPTIONAL),
    SCHEMA_END,
};
const struct schema admin_registration_schema = {reg_cred_fields, NULL};

static const struct schema_field get_cred_fields[] = {
    SCHEMA_STRING("id", SCHEMA_REQUIRED, 1, ADMIN_CRED_B64_MAX,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_STRING("rawId", SCHEMA_OPTIONAL, 1, ADMIN_CRED_B64_MAX,
		  SCHEMA_FMT_BASE64URL),
    SCHEMA_ENUM("type", SCHEMA_REQUIRED, "public-key"),
    SCHEMA_OBJECT("response", SCHEMA_REQUIRED, &get_response_schema),
    SCHEMA_STRING("authenticatorAttachment", SCHEMA_OPTIONAL | SCHEMA_NULLABLE,
		  0, 32, SCHEMA_FMT_TOKEN),
    SCHEMA_OPAQUE_OBJECT("clientExtensionResults", SCHEMA_OPTIONAL),
    SCHEMA_END,
};
const struct schema admin_assertion_schema = {get_cred_fields, NULL};

static const struct schema_field empty_fields[] = {SCHEMA_END};
const struct schema admin_empty_schema = {empty_fields, NULL};

/* ---- Set-up -------------------------------------------------------------- */

enum sa_err
admin_open(struct app *app, struct admin **out)
{
	struct admin *adm = calloc(1, sizeof(*adm));
	enum sa_err rc;

	if (adm == NULL)
		return SA_ERR_NOMEM;
	adm->app = app;
	if (!app->cfg.public_url_given) {
		snprintf(adm->why, sizeof(adm->why),
			 "administration is off: set SEALAUTH_PUBLIC_URL to "
			 "the URL people open the console at (its host is the "
			 "passkeys' relying party id)");
	} else if (webauthn_rp_init(&adm->rp, app->cfg.public_url, adm->why,
				    sizeof(adm->why)) == SA_OK) {
		adm->ready = 1;
	}
	if (!adm->ready) {
		log_warn("admin.unavailable", "%s", adm->why);
		*out = adm;
		return SA_OK;
	}
	if ((rc = admin_install_ensure(adm)) != SA_OK) {
		free(adm);
		return rc;
	}
	*out = adm;
	return SA_OK;
}

void
admin_close(struct admin *adm)
{
	free(adm);
}

enum sa_err
admin_ready(struct http_request *req, struct http_response *res,
	    struct admin **out)
{
	struct admin *adm = http_req_app(req)->admin;

	if (adm == NULL || !adm->ready)
		return http_res_error(res, SA_ERR_ADMIN_UNAVAILABLE, NULL, "%s",
				      adm ? adm->why
					  : "administration is not set up");
	*out = adm;
	return SA_OK;
}

enum sa_err
admin_store_err(struct http_response *res, enum sa_err rc)
{
	return http_res_error(res, rc, NULL, NULL);
}

enum sa_err
admin_new_id(char out[ADMIN_ID_MAX + 1])
{
	unsigned char b[16];
	char *s;

	if (rand_bytes(b, sizeof(b)) != SA_OK ||
	    (s = b64url_encode(b, 16)) == NULL)
		return SA_ERR_INTERNAL;
	snprintf(out, ADMIN_ID_MAX + 1, "%s", s);
	free(s);
	return SA_OK;
}

/* ---- Admitting a request ------------------------------------------------- */

/* cookie_value finds name=value in a Cookie header (bounded copy). */
static int
cookie_value(const char *header, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = header;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t vlen = strcspn(p + nlen + 1, ";");
			if (vlen == 0 || vlen >= cap)
				return 0;
			memcpy(out, p + nlen + 1, vlen);
			out[vlen] = '\0';
			return 1;
		}
		p = strchr(p, ';');
	}
	return 0;
}

void
admin_hash_hex(const char *s, char out[65])
{
	unsigned char h[32];

	sha256(s, strlen(s), h);
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

void
admin_cursor_key(const char *filters, char out[17])
{
	char hex[65];

	admin_hash_hex(filters, hex);
	memcpy(out, hex, 16);
	out[16] = '\0';
}

char *
admin_cursor_make(const char *key, int64_t n, const char *last)
{
	char *text = NULL, *out;

	if (asprintf(&text, "%s.%" PRId64 ".%s", key, n, last) < 0)
		return NULL;
	out = b64url_encode((const unsigned char *)text, strlen(text));
	free(text);
	return out;
}

enum sa_err
admin_cursor_read(const char *cursor, const char *key, size_t max_raw,
		  int64_t *n, char *last, size_t cap)
{
	unsigned char *dec = NULL;
	char raw[512], *dot1, *dot2, *end = NULL;
	size_t len = 0;
	enum sa_err rc = SA_ERR_VALIDATION;

	if (b64url_decode(cursor, strlen(cursor), 300, &dec, &len) != SA_OK)
		return rc;
	if (len >= max_raw || len >= sizeof(raw))
		goto out;
	memcpy(raw, dec, len);
	raw[len] = '\0';
	dot1 = strchr(raw, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || dot1 - raw != 16 ||
	    memcmp(raw, key, 16) != 0)
		goto out;
	*n = strtoll(dot1 + 1, &end, 10);
	if (end != dot2 || strlen(dot2 + 1) == 0 || strlen(dot2 + 1) >= cap)
		goto out;
	snprintf(last, cap, "%s", dot2 + 1);
	rc = SA_OK;
out:
	free(dec);
	return rc;
}

enum sa_err
admin_auth(struct http_request *req, struct http_response *res,
	   struct admin **adm, struct admin_caller *out)
{
	struct app *app = http_req_app(req);
	const char *authz = http_req_header(req, "Authorization");
	const char *cookie = http_req_header(req, "Cookie");
	char token[96] = "", key[65], csrf_hash[65];
	struct dstore_rec sess, who;
	json_t *doc = NULL, *adoc = NULL;
	const char *csrf, *want;
	int from_cookie = 0;
	enum sa_err rc;

	memset(&sess, 0, sizeof(sess));
	memset(&who, 0, sizeof(who));
	if ((rc = admin_ready(req, res, adm)) != SA_OK)
		return rc;
	if (authz != NULL && strncmp(authz, "Bearer ", 7) == 0 &&
	    strlen(authz + 7) < sizeof(token)) {
		snprintf(token, sizeof(token), "%s", authz + 7);
	} else if (cookie != NULL &&
		   cookie_value(cookie, ADMIN_COOKIE, token, sizeof(token))) {
		from_cookie = 1;
	}
	if (token[0] == '\0')
		return http_res_error(res, SA_ERR_UNAUTHORIZED, "Authorization",
				      "sign in with a passkey first");
	admin_hash_hex(token, key);
	OPENSSL_cleanse(token, sizeof(token));
	rc = dstore_rec_get(app->ds, REC_SESSION, key, &sess);
	if (rc == SA_ERR_NOT_FOUND ||
	    (rc == SA_OK && sess.expires_at < now_unix())) {
		rc = http_res_error(res, SA_ERR_UNAUTHORIZED, "Authorization",
				    "the admin session is unknown or expired");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	doc = json_loads(sess.doc, 0, NULL);
	/* A cookie rides along with any request the browser makes: a change
	 * also needs the token only the console's own script can read. */
	if (from_cookie && strcmp(http_req_method(req), "GET") != 0) {
		csrf = http_req_header(req, "X-CSRF-Token");
		want = json_string_value(json_object_get(doc, "csrf"));
		if (csrf == NULL || want == NULL || strlen(csrf) > 128) {
			rc = http_res_error(res, SA_ERR_CSRF, "X-CSRF-Token",
					    NULL);
			goto out;
		}
		admin_hash_hex(csrf, csrf_hash);
		if (CRYPTO_memcmp(csrf_hash, want, 64) != 0) {
			rc = http_res_error(res, SA_ERR_CSRF, "X-CSRF-Token",
					    NULL);
			goto out;
		}
	}
	rc = dstore_rec_get(app->ds, REC_ADMIN, sess.owner, &who);
	if (rc == SA_ERR_NOT_FOUND) {
		rc = http_res_error(res, SA_ERR_UNAUTHORIZED, "Authorization",
				    "this admin was removed");
		goto out;
	}
	if (rc != SA_OK) {
		admin_store_err(res, rc);
		goto out;
	}
	/* 60 a minute per admin, whichever IP they come from. */
	if ((rc = http_req_limit(req, res, "admin", "admin", sess.owner)) !=
	    SA_OK)
		goto out;
	adoc = json_loads(who.doc, 0, NULL);
	memset(out, 0, sizeof(*out));
	snprintf(out->admin_id, sizeof(out->admin_id), "%s", sess.owner);
	snprintf(out->name, sizeof(out->name), "%s",
		 json_string_value(json_object_get(adoc, "name")) ?: "");
	snprintf(out->session_key, sizeof(out->session_key), "%s", key);
	snprintf(out->sid, sizeof(out->sid), "%s",
		 json_string_value(json_object_get(doc, "sid")) ?: "");
	snprintf(out->passkey_id, sizeof(out->passkey_id), "%s",
		 json_string_value(json_object_get(doc, "passkeyId")) ?: "");
	rc = SA_OK;
out:
	json_decref(doc);
	json_decref(adoc);
	dstore_rec_free(&sess);
	dstore_rec_free(&who);
	return rc;
}

json_t *
admin_who_detail(const struct admin_caller *who, json_t *detail)
{
	if (detail == NULL)
		detail = json_object();
	if (detail != NULL && who != NULL) {
		json_object_set_new(detail, "admin",
				    json_string(who->admin_id));
		json_object_set_new(detail, "adminName",
				    json_string(who->name));
		json_object_set_new(detail, "passkeyId",
				    json_string(who->passkey_id));
		json_object_set_new(detail, "adminSession",
				    json_string(who->sid));
	}
	return detail;
}

enum sa_err
admin_audit(struct http_request *req, const struct admin_caller *who,
	    const char *event, json_t *detail)
{
	return app_audit(http_req_app(req), req, event,
			 who ? who->admin_id : "",
			 admin_who_detail(who, detail));
}

enum sa_err
admin_fail(struct http_request *req, struct http_response *res,
	   const struct admin_caller *who, const char *event, enum sa_err err,
	   const char *why)
{
	admin_audit(req, who, event,
		    json_pack("{s:s, s:s}", "error", sa_err_code(err), "reason",
			      why ? why : ""));
	return http_res_error(res, err, NULL, "%s",
			      why && why[0] ? why : sa_err_str(err));
}

/* ---- Challenges ---------------------------------------------------------- */

/* challenge_key builds the ephemeral-store key of a ceremony. */
static void
challenge_key(const char *purpose, const char *id, char *out, size_t cap)
{
	snprintf(out, cap, "admin:ceremony:%s:%s", purpose, id);
}

enum sa_err
admin_random(char out[44])
{
	unsigned char b[WEBAUTHN_CHALLENGE_LEN];
	char *s;

	if (rand_bytes(b, sizeof(b)) != SA_OK ||
	    (s = b64url_encode(b, sizeof(b))) == NULL)
		return SA_ERR_INTERNAL;
	snprintf(out, 44, "%s", s);
	free(s);
	return SA_OK;
}

enum sa_err
admin_challenge_put(struct admin *adm, const char *purpose, json_t *state,
		    char id[44], char challenge[44])
{
	char key[ESTORE_KEY_MAX];
	char *text = NULL;
	enum sa_err rc;

	if ((id[0] == '\0' && (rc = admin_random(id)) != SA_OK) ||
	    (rc = admin_random(challenge)) != SA_OK)
		return rc;
	if (json_object_set_new(state, "challenge", json_string(challenge)) !=
		0 ||
	    (text = json_dumps(state, JSON_COMPACT)) == NULL)
		return SA_ERR_NOMEM;
	challenge_key(purpose, id, key, sizeof(key));
	rc = estore_set(adm->app->es, key, text, strlen(text),
			(uint64_t)adm->app->cfg.admin_challenge_ttl * 1000,
			ESTORE_NX);
	free(text);
	return rc;
}

enum sa_err
admin_challenge_take(struct admin *adm, const char *purpose, const char *id,
		     json_t **state)
{
	char key[ESTORE_KEY_MAX];
	unsigned char *val = NULL;
	size_t n = 0;
	int existed = 0;
	json_t *o;
	enum sa_err rc;

	if (id == NULL || strlen(id) != 43)
		return SA_ERR_CHALLENGE;
	challenge_key(purpose, id, key, sizeof(key));
	rc = estore_get(adm->app->es, key, &val, &n, NULL);
	if (rc == SA_ERR_NOT_FOUND)
		return SA_ERR_CHALLENGE;
	if (rc != SA_OK)
		return rc;
	/* Whoever deletes it owns it: a replay racing the first use loses. */
	if ((rc = estore_del(adm->app->es, key, &existed)) != SA_OK)
		goto out;
	if (!existed) {
		rc = SA_ERR_CHALLENGE;
		goto out;
	}
	if ((o = json_loadb((const char *)val, n, 0, NULL)) == NULL) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	*state = o;
	rc = SA_OK;
out:
	free(val);
	return rc;
}

/* ---- Options ------------------------------------------------------------- */

json_t *
admin_creation_options(struct admin *adm, const char *challenge,
		       const char *admin_id, const char *name, json_t *exclude)
{
	return json_pack(
	    "{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:i}, {s:s, s:i}],"
	    " s:i, s:s, s:{s:s, s:b, s:s}, s:o}",
	    "challenge", challenge, "rp", "id", adm->rp.rp_id, "name",
	    "sealauth", "user", "id", admin_id, "name", name, "displayName",
	    name, "pubKeyCredParams", "type", "public-key", "alg",
	    WEBAUTHN_ES256, "type", "public-key", "alg", WEBAUTHN_EDDSA,
	    "timeout", (int)adm->app->cfg.admin_challenge_ttl * 1000,
	    "attestation", "none", "authenticatorSelection", "residentKey",
	    "required", "requireResidentKey", 1, "userVerification", "required",
	    "excludeCredentials", exclude ? exclude : json_array());
}

json_t *
admin_request_options(struct admin *adm, const char *challenge, json_t *allow)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:o}", "challenge", challenge,
			 "rpId", adm->rp.rp_id, "timeout",
			 (int)adm->app->cfg.admin_challenge_ttl * 1000,
			 "userVerification", "required", "allowCredentials",
			 allow ? allow : json_array());
}

static int
allow_one(const struct dstore_rec *r, void *arg)
{
	json_array_append_new(
	    arg, json_pack("{s:s, s:s}", "type", "public-key", "id", r->id));
	return 0;
}

json_t *
admin_allow_list(struct admin *adm, const char *admin_id)
{
	json_t *a = json_array();

	if (a != NULL && dstore_rec_list(adm->app->ds, REC_PASSKEY, admin_id,
					 allow_one, a) != SA_OK) {
		json_decref(a);
		return NULL;
	}
	return a;
}

/* ---- Credentials --------------------------------------------------------- */

/* b64_member decodes a base64url member of an object (caller frees). */
static enum sa_err
b64_member(const json_t *o, const char *name, size_t max, unsigned char **out,
	   size_t *n)
{
	const char *s = json_string_value(json_object_get(o, name));

	if (s == NULL)
		return SA_ERR_WEBAUTHN;
	return b64url_decode(s, strlen(s), max, out, n) == SA_OK
		   ? SA_OK
		   : SA_ERR_WEBAUTHN;
}

enum sa_err
admin_register_check(struct admin *adm, const json_t *credential,
		     const char *challenge, struct webauthn_credential *cred,
		     char *why, size_t whylen)
{
	const json_t *resp = json_object_get(credential, "response");
	unsigned char *cdj = NULL, *att = NULL;
	size_t cdj_len = 0, att_len = 0;
	char *id = NULL;
	enum sa_err rc;

	if (b64_member(resp, "clientDataJSON", 5462, &cdj, &cdj_len) != SA_OK ||
	    b64_member(resp, "attestationObject", 21846, &att, &att_len) !=
		SA_OK) {
		snprintf(why, whylen, "the response is not base64url");
		rc = SA_ERR_WEBAUTHN;
		goto out;
	}
	if ((rc = webauthn_register(&adm->rp, challenge, cdj, cdj_len, att,
				    att_len, cred, why, whylen)) != SA_OK)
		goto out;
	/* The id the browser names must be the one the authenticator made. */
	if ((id = admin_cred_id(cred)) == NULL ||
	    strcmp(id, json_string_value(json_object_get(credential, "id"))) !=
		0) {
		snprintf(why, whylen, "id is not the attested credential's id");
		rc = SA_ERR_WEBAUTHN;
	}
out:
	free(id);
	free(cdj);
	free(att);
	return rc;
}

char *
admin_cred_id(const struct webauthn_credential *cred)
{
	return b64url_encode(cred->id, cred->id_len);
}

json_t *
admin_passkey_doc(const struct webauthn_credential *cred, const char *label,
		  const json_t *transports)
{
	char *pk = b64url_encode(cred->pubkey, cred->pubkey_len);
	char *aaguid = hex_encode(cred->aaguid, 16);
	int64_t now = now_unix();
	/* A reference of our own, which json_pack's "o" takes over. */
	json_t *tr =
	    transports ? json_incref((json_t *)transports) : json_array();
	json_t *doc = NULL;

	if (pk != NULL && aaguid != NULL && tr != NULL)
		doc = json_pack("{s:i, s:s, s:I, s:s, s:o, s:I, s:I, s:s, s:s}",
				"alg", cred->alg, "publicKey", pk, "signCount",
				(json_int_t)cred->sign_count, "label", label,
				"transports", tr, "createdAt", (json_int_t)now,
				"lastUsedAt", (json_int_t)0, "aaguid", aaguid,
				"attestation", cred->fmt);
	else
		json_decref(tr);
	free(pk);
	free(aaguid);
	return doc;
}

const json_t *
admin_transports(const json_t *body)
{
	const json_t *t = json_object_get(body, "transports");

	if (json_is_array(t))
		return t;
	t = json_object_get(
	    json_object_get(json_object_get(body, "registerResponse"),
			    "response"),
	    "transports");
	return json_is_array(t) ? t : NULL;
}

enum sa_err
admin_first_create(struct admin *adm, const json_t *body, const json_t *state,
		   struct admin_first *f, char *why, size_t whylen)
{
	const char *label = json_string_value(json_object_get(body, "label"));
	struct dstore_rec_op ops[ADMIN_FIRST_GUARDS_MAX + 2];
	char *adoc = NULL, *pdoc = NULL;
	json_t *pk = NULL;
	enum sa_err rc;

	why[0] = '\0';
	if (f->nguards > ADMIN_FIRST_GUARDS_MAX || f->admin_id == NULL ||
	    f->doc == NULL)
		return SA_ERR_INTERNAL;
	if ((rc = admin_register_check(
		 adm, json_object_get(body, "registerResponse"),
		 json_string_value(json_object_get(state, "challenge")),
		 &f->cred, why, whylen)) != SA_OK)
		return rc;
	f->cred_id = admin_cred_id(&f->cred);
	pk = admin_passkey_doc(&f->cred, label ? label : "first passkey",
			       admin_transports(body));
	adoc = json_dumps(f->doc, JSON_COMPACT);
	pdoc = pk ? json_dumps(pk, JSON_COMPACT) : NULL;
	if (f->cred_id == NULL || adoc == NULL || pdoc == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	/* The guards (closing the install window, using up the invitation)
	 * and the new records are one transaction. */
	memcpy(ops, f->guards, f->nguards * sizeof(ops[0]));
	ops[f->nguards] = (struct dstore_rec_op){.op = REC_CREATE,
						 .kind = REC_ADMIN,
						 .id = f->admin_id,
						 .doc = adoc};
	ops[f->nguards + 1] = (struct dstore_rec_op){.op = REC_CREATE,
						     .kind = REC_PASSKEY,
						     .id = f->cred_id,
						     .owner = f->admin_id,
						     .doc = pdoc};
	rc = dstore_rec_write(adm->app->ds, ops, f->nguards + 2);
out:
	json_decref(pk);
	free(adoc);
	free(pdoc);
	return rc;
}

enum sa_err
admin_first_done(struct http_request *req, struct http_response *res,
		 const struct admin_first *f, const char *event, json_t *detail)
{
	struct admin_caller who;
	enum sa_err rc;

	memset(&who, 0, sizeof(who));
	snprintf(who.admin_id, sizeof(who.admin_id), "%s", f->admin_id);
	snprintf(who.name, sizeof(who.name), "%s", f->name);
	snprintf(who.passkey_id, sizeof(who.passkey_id), "%s", f->cred_id);
	if (detail != NULL) {
		json_object_set_new(detail, "attestation",
				    json_string(f->cred.fmt));
		json_object_set_new(detail, "alg", json_integer(f->cred.alg));
	}
	if ((rc = admin_audit(req, &who, event, detail)) != SA_OK)
		return http_res_error(res, rc, NULL, NULL);
	http_res_json(res, 201,
		      json_pack("{s:s, s:s, s:s}", "adminId", f->admin_id,
				"name", f->name, "credentialId", f->cred_id));
	return SA_OK;
}

/* passkey_cred reads a stored passkey document back into a credential. */
static enum sa_err
passkey_cred(const json_t *doc, struct webauthn_credential *cred)
{
	const char *pk = json_string_value(json_object_get(doc, "publicKey"));
	unsigned char *raw = NULL;
	size_t n = 0;

	memset(cred, 0, sizeof(*cred));
	if (pk == NULL ||
	    b64url_decode(pk, strlen(pk), 128, &raw, &n) != SA_OK ||
	    n > WEBAUTHN_PUBKEY_MAX) {
		free(raw);
		return SA_ERR_INTERNAL;
	}
	memcpy(cred->pubkey, raw, n);
	cred->pubkey_len = n;
	free(raw);
	cred->alg = (int)json_integer_value(json_object_get(doc, "alg"));
	cred->sign_count =
	    (uint32_t)json_integer_value(json_object_get(doc, "signCount"));
	return SA_OK;
}

enum sa_err
admin_assert_verify(struct http_request *req, struct admin *adm,
		    const json_t *credential, const char *challenge,
		    const char *owner, struct admin_assertion *out, char *why,
		    size_t whylen)
{
	struct app *app = adm->app;
	const json_t *resp = json_object_get(credential, "response");
	const char *id = json_string_value(json_object_get(credential, "id"));
	const char *uh = json_string_value(json_object_get(resp, "userHandle"));
	unsigned char *cdj = NULL, *ad = NULL, *sig = NULL;
	size_t cdj_len = 0, ad_len = 0, sig_len = 0;
	struct webauthn_credential cred;
	struct dstore_rec pk;
	json_t *doc = NULL;
	uint32_t count = 0;
	char *text = NULL;
	enum sa_err rc;

	memset(out, 0, sizeof(*out));
	memset(&pk, 0, sizeof(pk));
	if (b64_member(resp, "clientDataJSON", 5462, &cdj, &cdj_len) != SA_OK ||
	    b64_member(resp, "authenticatorData", 10923, &ad, &ad_len) !=
		SA_OK ||
	    b64_member(resp, "signature", 342, &sig, &sig_len) != SA_OK) {
		snprintf(why, whylen, "the response is not base64url");
		rc = SA_ERR_WEBAUTHN;
		goto out;
	}
	rc = dstore_rec_get(app->ds, REC_PASSKEY, id, &pk);
	if (rc == SA_ERR_NOT_FOUND) {
		snprintf(why, whylen, "this passkey is not registered");
		rc = SA_ERR_WEBAUTHN;
		goto out;
	}
	if (rc != SA_OK)
		goto out;
	/* A step-up must come from the caller's own passkeys. */
	if (owner != NULL && strcmp(pk.owner, owner) != 0) {
		snprintf(why, whylen, "this passkey belongs to another admin");
		rc = SA_ERR_WEBAUTHN;
		goto out;
	}
	if (uh != NULL && uh[0] != '\0' && strcmp(uh, pk.owner) != 0) {
		snprintf(why, whylen, "userHandle is not the passkey's admin");
		rc = SA_ERR_WEBAUTHN;
		goto out;
	}
	if ((doc = json_loads(pk.doc, 0, NULL)) == NULL ||
	    (rc = passkey_cred(doc, &cred)) != SA_OK) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	if ((rc = webauthn_assert(&adm->rp, challenge, cdj, cdj_len, ad, ad_len,
				  sig, sig_len, &cred, &count, why, whylen)) !=
	    SA_OK)
		goto out;
	if (!webauthn_counter_ok(cred.sign_count, count)) {
		snprintf(why, whylen,
			 "the signature counter went from %" PRIu32
			 " to %" PRIu32 ": the authenticator may be cloned",
			 cred.sign_count, count);
		app_audit(app, req, "admin.passkey_cloned", pk.owner,
			  json_pack("{s:s, s:I, s:I}", "passkeyId", id,
				    "stored", (json_int_t)cred.sign_count,
				    "seen", (json_int_t)count));
		rc = SA_ERR_PASSKEY_CLONED;
		goto out;
	}
	json_object_set_new(doc, "signCount", json_integer(count));
	json_object_set_new(doc, "lastUsedAt", json_integer(now_unix()));
	if ((text = json_dumps(doc, JSON_COMPACT)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	snprintf(out->admin_id, sizeof(out->admin_id), "%s", pk.owner);
	snprintf(out->passkey_id, sizeof(out->passkey_id), "%s", id);
	out->doc = text;
	out->version = pk.version;
	text = NULL;
out:
	free(text);
	json_decref(doc);
	dstore_rec_free(&pk);
	free(cdj);
	free(ad);
	free(sig);
	return rc;
}

enum sa_err
admin_assert_store(struct admin *adm, const struct admin_assertion *as,
		   const struct dstore_rec_op *more, size_t nmore, char *why,
		   size_t whylen)
{
	struct dstore_rec_op ops[1 + ADMIN_ASSERT_MORE_MAX];
	enum sa_err rc;

	if (nmore > ADMIN_ASSERT_MORE_MAX || as->doc == NULL)
		return SA_ERR_INTERNAL;
	/* Compare-and-set on the version: two uses racing with one counter
	 * value cannot both pass. Its own error names it apart from the
	 * caller's writes. */
	ops[0] = (struct dstore_rec_op){.op = REC_UPDATE,
					.kind = REC_PASSKEY,
					.id = as->passkey_id,
					.owner = as->admin_id,
					.doc = as->doc,
					.version = as->version,
					.fail = SA_ERR_WEBAUTHN};
	for (size_t i = 0; i < nmore; i++)
		ops[1 + i] = more[i];
	rc = dstore_rec_write(adm->app->ds, ops, 1 + nmore);
	if (rc == SA_ERR_WEBAUTHN)
		snprintf(why, whylen,
			 "the passkey was used or removed meanwhile");
	return rc;
}

void
admin_assertion_clear(struct admin_assertion *as)
{
	free(as->doc);
	memset(as, 0, sizeof(*as));
}

enum sa_err
admin_assert_check(struct http_request *req, struct admin *adm,
		   const json_t *credential, const char *challenge,
		   const char *owner, char admin_id[ADMIN_ID_MAX + 1],
		   char passkey_id[ADMIN_CRED_B64_MAX + 1], char *why,
		   size_t whylen)
{
	struct admin_assertion as;
	enum sa_err rc;

	if ((rc = admin_assert_verify(req, adm, credential, challenge, owner,
				      &as, why, whylen)) == SA_OK &&
	    (rc = admin_assert_store(adm, &as, NULL, 0, why, whylen)) ==
		SA_OK) {
		snprintf(admin_id, ADMIN_ID_MAX + 1, "%s", as.admin_id);
		snprintf(passkey_id, ADMIN_CRED_B64_MAX + 1, "%s",
			 as.passkey_id);
	}
	admin_assertion_clear(&as);
	return rc;
}
