/*
 * oidc_answer.c - what the OpenID Provider's endpoints share: reading
 * parameters, the shapes of errors and redirects, signing, and client
 * authentication at the token, revocation and introspection endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "oidc/oidc_int.h"
#include "oidc/oidc_jwk.h"
#include "app/app.h"
#include "crypto/jwt.h"
#include "crypto/keys.h"
#include "core/util.h"

#define ASSERTION_LIFETIME_MAX 3600 /* seconds a client assertion may live */
#define ASSERTION_LEEWAY 60

/* ---- Parameters -----------------------------------------------------------
 */

struct query_add {
	struct form *p;
	char *why;
	size_t whylen;
	enum sa_err rc;
};

static int
query_add(void *arg, const char *name, const char *value)
{
	struct query_add *q = arg;

	q->rc = oidc_params_add(q->p, name, value, q->why, q->whylen);
	return q->rc != SA_OK;
}

enum sa_err
oidc_request_params(struct http_request *req, struct form *p, char *why,
		    size_t whylen)
{
	struct query_add q = {p, why, whylen, SA_OK};
	const char *body;
	size_t n = 0;

	if (strcmp(http_req_method(req), "POST") == 0) {
		body = http_req_body(req, &n);
		return oidc_params_parse_form(body, n, p, why, whylen);
	}
	http_req_query_each(req, query_add, &q);
	return q.rc;
}

/* ---- Answers --------------------------------------------------------------
 */

enum sa_err
oidc_json_error(struct http_response *res, unsigned int status,
		const char *code, const char *description, const char *scheme)
{
	char h[512];

	http_res_json(res, status,
		      json_pack("{s:s, s:s}", "error", code,
				"error_description",
				description ? description : ""));
	http_res_header(res, "Cache-Control", "no-store");
	http_res_header(res, "Pragma", "no-cache");
	if (status == 401 && scheme != NULL) {
		/* RFC 6750 §3 for bearer tokens, RFC 6749 §5.2 for clients. */
		if (strcmp(scheme, "Bearer") == 0)
			snprintf(h, sizeof(h),
				 "Bearer realm=\"sealauth\", error=\"%s\"",
				 code);
		else
			snprintf(h, sizeof(h), "%s realm=\"sealauth\"", scheme);
		http_res_header(res, "WWW-Authenticate", h);
	}
	return SA_ERR_VALIDATION;
}

void
oidc_json(struct http_response *res, json_t *body)
{
	http_res_json(res, 200, body);
	http_res_header(res, "Cache-Control", "no-store");
	http_res_header(res, "Pragma", "no-cache");
}

static void
pct_encode(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (uri_unreserved(c)) {
			buf_append(b, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			buf_append(b, e, 3);
		}
	}
}

enum sa_err
oidc_redirect(struct http_response *res, const char *base,
	      const char *const *names, const char *const *values, size_t n)
{
	struct buf b;
	char sep = strchr(base, '?') ? '&' : '?';
	enum sa_err rc = SA_OK;

	buf_init(&b, 16384);
	buf_append(&b, base, strlen(base));
	for (size_t i = 0; i < n; i++) {
		if (values[i] == NULL)
			continue;
		buf_append(&b, &sep, 1);
		sep = '&';
		buf_append(&b, names[i], strlen(names[i]));
		buf_append(&b, "=", 1);
		pct_encode(&b, values[i]);
	}
	if (buf_append(&b, "", 1) != SA_OK) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	http_res_bytes(res, 302, NULL, "", 0);
	http_res_header(res, "Location", (const char *)b.data);
	http_res_header(res, "Cache-Control", "no-store");
out:
	buf_free(&b);
	return rc;
}

enum sa_err
oidc_redirect_error(struct http_request *req, struct http_response *res,
		    const char *redirect_uri, const char *state,
		    const struct oidc_error *err)
{
	const char *names[] = {"error", "error_description", "state", "iss"};
	const char *values[] = {err->code, err->description, state,
				http_req_app(req)->cfg.public_url};

	return oidc_redirect(res, redirect_uri, names, values, 4);
}

enum sa_err
oidc_sign(struct app *app, const json_t *claims, char **out)
{
	EVP_PKEY *key = NULL;
	char kid[JWK_KID_LEN];
	enum sa_err rc;

	if ((rc = keys_signing_key(app->keys, now_unix(), &key, kid)) != SA_OK)
		return rc;
	rc = jwt_sign_es256(key, kid, claims, out);
	EVP_PKEY_free(key);
	return rc;
}

/* ---- Client authentication ------------------------------------------------
 */

/* form_decode_inplace undoes the form-encoding RFC 6749 §2.3.1 puts on
 * the client id and secret inside Basic credentials. */
static int
form_decode_inplace(char *s)
{
	struct form p = {0};
	char *text = NULL;
	int ok;

	if (asprintf(&text, "v=%s", s) < 0)
		return 0;
	ok = oidc_params_parse_form(text, strlen(text), &p, NULL, 0) == SA_OK &&
	     p.n == 1 && strlen(p.field[0].value) <= strlen(s);
	if (ok)
		memcpy(s, p.field[0].value, strlen(p.field[0].value) + 1);
	form_free(&p);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return ok;
}

/* basic_credentials splits "Basic base64(id:secret)"; 0 if malformed. */
static int
basic_credentials(const char *h, char **id, char **secret)
{
	unsigned char *raw = NULL;
	size_t n = 0;
	char *text, *colon;

	if (strncasecmp(h, "Basic ", 6) != 0 ||
	    b64_decode(h + 6, strlen(h + 6), 2048, &raw, &n) != SA_OK)
		return 0;
	text = n > 0 && memchr(raw, '\0', n) == NULL ? strndup((char *)raw, n)
						     : NULL;
	OPENSSL_cleanse(raw, n);
	free(raw);
	if (text == NULL || (colon = strchr(text, ':')) == NULL) {
		if (text != NULL)
			OPENSSL_cleanse(text, strlen(text));
		free(text);
		return 0;
	}
	*colon = '\0';
	*id = strdup(text);
	*secret = strdup(colon + 1);
	OPENSSL_cleanse(colon + 1, strlen(colon + 1));
	free(text);
	if (*id == NULL || *secret == NULL || !form_decode_inplace(*id) ||
	    !form_decode_inplace(*secret)) {
		free(*id);
		if (*secret)
			OPENSSL_cleanse(*secret, strlen(*secret));
		free(*secret);
		return 0;
	}
	return 1;
}

/* aud_ok tells whether an assertion's aud names the token endpoint or
 * the issuer (RFC 7523 §3). */
static int
aud_ok(const json_t *aud, const char *issuer)
{
	char token_url[600];
	const json_t *v;
	size_t i;

	snprintf(token_url, sizeof(token_url), "%s/oidc/token", issuer);
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), token_url) == 0 ||
		       strcmp(json_string_value(aud), issuer) == 0;
	json_array_foreach(
	    aud, i,
	    v) if (json_is_string(v) &&
		   (strcmp(json_string_value(v), token_url) == 0 ||
		    strcmp(json_string_value(v), issuer) == 0)) return 1;
	return 0;
}

/*
 * assertion_check checks a private_key_jwt assertion: signature by the
 * client's keys, iss = sub = client, aud, exp within an hour, and a jti
 * never seen before (kept until the assertion expires).
 */
static enum sa_err
assertion_check(struct app *app, const struct oidc_client *c,
		const char *assertion, char *why, size_t whylen)
{
	json_t *cl = NULL;
	const char *iss, *sub, *jti;
	json_int_t exp;
	int64_t now = now_unix();
	char key[ESTORE_KEY_MAX], hex[65];
	unsigned char d[32];
	char *h = NULL;
	enum sa_err rc;

	if ((rc = oidc_assertion_verify(assertion, c->jwks, &cl, why,
					whylen)) != SA_OK)
		return rc;
	rc = SA_ERR_UNAUTHORIZED;
	iss = json_string_value(json_object_get(cl, "iss"));
	sub = json_string_value(json_object_get(cl, "sub"));
	jti = json_string_value(json_object_get(cl, "jti"));
	exp = json_integer_value(json_object_get(cl, "exp"));
	if (iss == NULL || sub == NULL || strcmp(iss, c->id) != 0 ||
	    strcmp(sub, c->id) != 0) {
		why_set(why, whylen,
			"client_assertion: iss and sub must be "
			"the client id");
		goto out;
	}
	if (!aud_ok(json_object_get(cl, "aud"), app->cfg.public_url)) {
		why_set(why, whylen,
			"client_assertion: aud must be the token "
			"endpoint or the issuer");
		goto out;
	}
	if (!json_is_integer(json_object_get(cl, "exp")) ||
	    exp + ASSERTION_LEEWAY < now ||
	    exp > now + ASSERTION_LIFETIME_MAX) {
		why_set(why, whylen,
			"client_assertion: exp is missing, past, or more "
			"than an hour ahead");
		goto out;
	}
	if (jti == NULL || strlen(jti) == 0 || strlen(jti) > 256) {
		why_set(why, whylen, "client_assertion: jti is missing");
		goto out;
	}
	sha256(jti, strlen(jti), d);
	if ((h = hex_encode(d, sizeof(d))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	snprintf(hex, sizeof(hex), "%s", h);
	snprintf(key, sizeof(key), "oidc:jti:%s:%s", c->id, hex);
	/* Each assertion once (RFC 7523 §3 item 7): the first use wins. */
	if (estore_set(app->es, key, "1", 1,
		       (uint64_t)(exp + ASSERTION_LEEWAY - now + 1) * 1000u,
		       ESTORE_NX) != SA_OK) {
		why_set(why, whylen,
			"client_assertion: this jti was already "
			"used (replay)");
		goto out;
	}
	rc = SA_OK;
out:
	free(h);
	json_decref(cl);
	return rc;
}

enum sa_err
oidc_client_auth(struct http_request *req, struct http_response *res,
		 const struct form *p, const struct services *reg,
		 struct oidc_client *out)
{
	struct app *app = http_req_app(req);
	const char *authz = http_req_header(req, "Authorization");
	const char *form_id = oidc_params_get(p, "client_id");
	const char *form_secret = oidc_params_get(p, "client_secret");
	const char *assertion = oidc_params_get(p, "client_assertion");
	char *bid = NULL, *bsecret = NULL, why[256] = "";
	const char *id = form_id, *reason = NULL;
	const struct service *svc;
	struct oidc_client c;
	unsigned int method;
	int used;
	enum sa_err rc = SA_ERR_UNAUTHORIZED;

	used = (authz != NULL) + (form_secret != NULL) + (assertion != NULL);
	if (used > 1) {
		rc = oidc_json_error(res, 400, "invalid_request",
				     "use one client authentication method",
				     NULL);
		goto out;
	}
	if (authz != NULL) {
		method = OIDC_AUTH_BASIC;
		if (!basic_credentials(authz, &bid, &bsecret)) {
			reason = "malformed Basic credentials";
			goto refuse;
		}
		if (form_id != NULL && strcmp(form_id, bid) != 0) {
			reason = "client_id differs from the credentials";
			goto refuse;
		}
		id = bid;
	} else if (form_secret != NULL) {
		method = OIDC_AUTH_POST;
	} else if (assertion != NULL) {
		method = OIDC_AUTH_JWT;
		if (id == NULL) {
			/* The client is the assertion's subject; read it
			 * unverified only to find the keys to verify with. */
			json_t *cl = NULL;
			const char *d1 = strchr(assertion, '.'), *d2;
			unsigned char *pb = NULL;
			size_t pn = 0;
			if (d1 && (d2 = strchr(d1 + 1, '.')) &&
			    b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1),
					  JWT_MAX_LEN, &pb, &pn) == SA_OK)
				cl = json_loadb((const char *)pb, pn, 0, NULL);
			free(pb);
			if (json_is_string(json_object_get(cl, "sub")) &&
			    json_string_length(json_object_get(cl, "sub")) <=
				SERVICE_ID_MAX)
				bid = strdup(json_string_value(
				    json_object_get(cl, "sub")));
			json_decref(cl);
			id = bid;
		}
	} else {
		method = OIDC_AUTH_NONE;
	}
	if (id == NULL) {
		reason = "no client authentication";
		goto refuse;
	}
	svc = services_find(reg, id);
	if (svc == NULL || oidc_client_from(svc, &c) != SA_OK) {
		reason = "unknown client";
		goto refuse;
	}
	if (!(c.methods & method)) {
		reason = "this client does not use that authentication method";
		goto refuse;
	}
	if ((method == OIDC_AUTH_BASIC &&
	     !oidc_secret_check(app->oidc_secrets, bsecret, c.secret_hash)) ||
	    (method == OIDC_AUTH_POST &&
	     !oidc_secret_check(app->oidc_secrets, form_secret,
				c.secret_hash))) {
		reason = "wrong client secret";
		goto refuse;
	}
	if (method == OIDC_AUTH_JWT &&
	    assertion_check(app, &c, assertion, why, sizeof(why)) != SA_OK) {
		reason = why;
		goto refuse;
	}
	*out = c;
	rc = SA_OK;
	goto out;
refuse:
	app_audit(app, req, "oidc.client_auth_failed", "",
		  json_pack("{s:s, s:s, s:s}", "clientId", id ? id : "",
			    "reason", reason, "endpoint", http_req_path(req)));
	rc = oidc_json_error(res, 401, "invalid_client", reason, "Basic");
	rc = SA_ERR_UNAUTHORIZED;
out:
	free(bid);
	if (bsecret != NULL)
		OPENSSL_cleanse(bsecret, strlen(bsecret));
	free(bsecret);
	return rc;
}

enum sa_err
oidc_client_request(struct http_request *req, struct http_response *res,
		    struct form *p, const struct services *reg,
		    struct oidc_client *c)
{
	char why[256] = "";

	if (oidc_request_params(req, p, why, sizeof(why)) != SA_OK)
		return oidc_json_error(res, 400, "invalid_request", why, NULL);
	return oidc_client_auth(req, res, p, reg, c);
}
