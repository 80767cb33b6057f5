/*
 * oidc_logout.c - RP-initiated logout (GET and POST /oidc/logout, OpenID
 * Connect RP-Initiated Logout 1.0) and back-channel logout (OpenID Connect
 * Back-Channel Logout 1.0): the provider session ends, the grants made in
 * it are revoked, every OpenID client signed into it that registered a
 * back-channel URI receives a signed logout token, and the browser goes
 * back to a registered post-logout URI or sees a page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "oidc/oidc_int.h"
#include "core/curl_lib.h"
#include "app/app.h"
#include "crypto/ecdsa.h"
#include "crypto/jwt.h"
#include "crypto/keys.h"
#include "core/util.h"
#include "login/weblogin.h"

#define BACKCHANNEL_TIMEOUT_MS 3000
#define LOGOUT_TOKEN_TTL 120
#define BACKCHANNEL_EVENT "http://schemas.openid.net/event/backchannel-logout"

/*
 * hint_claims verifies an id_token_hint: one of our ID tokens, by a key we
 * still publish, issued by us. Its expiry is not checked: a person logs
 * out long after the ID token expired (RP-Initiated Logout §2). On success
 * *out is the payload (a new reference).
 */
static enum sa_err
hint_claims(struct app *app, const char *tok, json_t **out)
{
	const char *d1, *d2, *kid;
	unsigned char *hb = NULL, *pb = NULL, *sig = NULL;
	size_t hn = 0, pn = 0, sn = 0;
	json_t *h = NULL, *p = NULL;
	EVP_PKEY *key = NULL;
	enum sa_err rc = SA_ERR_UNAUTHORIZED;

	if (strlen(tok) > JWT_MAX_LEN || (d1 = strchr(tok, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL ||
	    b64url_decode(tok, (size_t)(d1 - tok), JWT_HEADER_MAX, &hb, &hn) !=
		SA_OK ||
	    b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), JWT_MAX_LEN, &pb,
			  &pn) != SA_OK ||
	    b64url_decode(d2 + 1, strlen(d2 + 1), 128, &sig, &sn) != SA_OK ||
	    sn != ECDSA_P256_RAW_LEN)
		goto out;
	h = json_loadb((const char *)hb, hn, JSON_REJECT_DUPLICATES, NULL);
	p = json_loadb((const char *)pb, pn, JSON_REJECT_DUPLICATES, NULL);
	kid = json_string_value(json_object_get(h, "kid"));
	if (!json_is_object(p) || kid == NULL ||
	    json_string_value(json_object_get(h, "alg")) == NULL ||
	    strcmp(json_string_value(json_object_get(h, "alg")), "ES256") !=
		0 ||
	    keys_find(app->keys, kid, now_unix(), &key) != SA_OK ||
	    ecdsa_verify_sha256_raw(key, tok, (size_t)(d2 - tok), sig) !=
		SA_OK ||
	    !json_is_string(json_object_get(p, "iss")) ||
	    strcmp(json_string_value(json_object_get(p, "iss")),
		   app->cfg.public_url) != 0 ||
	    !json_is_string(json_object_get(p, "aud")))
		goto out;
	*out = json_incref(p);
	rc = SA_OK;
out:
	EVP_PKEY_free(key);
	json_decref(h);
	json_decref(p);
	free(hb);
	free(pb);
	free(sig);
	return rc;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n; /* the answer's body means nothing to us */
}

/*
 * post_form POSTs a form to url and returns the HTTP status, or 0 with why
 * set. Redirects are not followed, no proxy is used, and the whole
 * exchange is bounded by BACKCHANNEL_TIMEOUT_MS. The first call loads
 * libcurl, with its global initialisation (core/curl_lib.c).
 */
static long
post_form(const char *url, const char *body, char *why, size_t whylen)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	long status = 0;
	CURLcode cc = CURLE_FAILED_INIT;

	hdrs = curl_slist_append(
	    NULL, "Content-Type: application/x-www-form-urlencoded");
	if (h != NULL && hdrs != NULL) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		/* http only reaches loopback: oidc_client_check saw to it. */
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
				 (long)BACKCHANNEL_TIMEOUT_MS);
		curl_easy_setopt(h, CURLOPT_USERAGENT,
				 "sealauth/" SEALAUTH_VERSION);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		cc = curl_easy_perform(h);
		if (cc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	}
	if (h == NULL && !curl_lib_usable())
		snprintf(why, whylen, "libcurl (%s) could not be loaded",
			 CURL_LIB_SONAME);
	else if (cc != CURLE_OK)
		snprintf(why, whylen, "%s", curl_easy_strerror(cc));
	curl_slist_free_all(hdrs);
	if (h != NULL)
		curl_easy_cleanup(h);
	return status;
}

/*
 * backchannel posts a logout token for the session sid to a client's
 * registered URI and says how it went ("ok", "HTTP 500", a transport
 * error) in why.
 */
static const char *
backchannel(struct app *app, const struct oidc_client *c, const char *sid,
	    const char *token_id, const char *authority, char *why,
	    size_t whylen)
{
	char sub[OIDC_SUB_MAX + 1], jti[OIDC_TOKEN_LEN + 1],
	    key[ESTORE_KEY_MAX];
	char *jwt = NULL, *body = NULL;
	json_t *claims = NULL;
	int64_t now = now_unix();
	long status;

	snprintf(why, whylen, "failed");
	if (oidc_subject(app, c, token_id, authority, sub) != SA_OK ||
	    oidc_token_new("jti", jti, key) != SA_OK)
		goto out;
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:{s:{}}}",
			   "iss", app->cfg.public_url, "sub", sub, "aud", c->id,
			   "iat", (json_int_t)now, "exp",
			   (json_int_t)(now + LOGOUT_TOKEN_TTL), "jti", jti,
			   "sid", sid, "events", BACKCHANNEL_EVENT);
	if (claims == NULL || oidc_sign(app, claims, &jwt) != SA_OK ||
	    asprintf(&body, "logout_token=%s", jwt) < 0)
		goto out;
	status = post_form(c->backchannel_uri, body, why, whylen);
	if (status >= 200 && status < 300)
		snprintf(why, whylen, "ok");
	else if (status != 0)
		snprintf(why, whylen, "HTTP %ld", status);
out:
	free(body);
	free(jwt);
	json_decref(claims);
	return why;
}

/* fan_out sends the back-channel logouts of an ended provider session and
 * returns what each client answered, for the audit row. */
static json_t *
fan_out(struct app *app, const struct services *reg,
	const struct weblogin_sso *sso)
{
	json_t *out = json_object(), *rp;
	size_t i;
	char why[CURL_ERROR_SIZE + 16];

	json_array_foreach(sso->rps, i, rp)
	{
		const char *proto =
		    json_string_value(json_object_get(rp, "protocol"));
		const char *id =
		    json_string_value(json_object_get(rp, "serviceId"));
		const struct service *svc;
		struct oidc_client c;
		if (proto == NULL || id == NULL || strcmp(proto, "oidc") != 0 ||
		    (svc = services_find(reg, id)) == NULL ||
		    oidc_client_from(svc, &c) != SA_OK ||
		    c.backchannel_uri == NULL)
			continue;
		json_object_set_new(
		    out, id,
		    json_string(backchannel(app, &c, sso->sid, sso->token_id,
					    sso->authority, why, sizeof(why))));
	}
	return out;
}

static enum sa_err
refuse(struct http_request *req, struct http_response *res, const char *why)
{
	app_audit(http_req_app(req), req, "oidc.logout_refused", "",
		  json_pack("{s:s}", "reason", why));
	weblogin_page(res, 400, "Sign-out refused", why);
	return SA_ERR_VALIDATION;
}

enum sa_err
oidc_logout(struct http_request *req, struct http_response *res)
{
	struct app *app = http_req_app(req);
	struct form p = {0};
	struct services *reg = services_get(app->services);
	const struct service *svc = NULL;
	struct oidc_client c;
	struct weblogin_sso sso;
	const char *hint, *client_id, *uri, *state, *aud = NULL, *sid = NULL;
	json_t *claims = NULL, *sent = NULL;
	char why[256] = "";
	int ended;
	enum sa_err rc;

	memset(&sso, 0, sizeof(sso));
	if (oidc_request_params(req, &p, why, sizeof(why)) != SA_OK) {
		rc = refuse(req, res, why);
		goto out;
	}
	hint = oidc_params_get(&p, "id_token_hint");
	client_id = oidc_params_get(&p, "client_id");
	uri = oidc_params_get(&p, "post_logout_redirect_uri");
	state = oidc_params_get(&p, "state");
	if (hint != NULL) {
		if (hint_claims(app, hint, &claims) != SA_OK) {
			rc = refuse(req, res,
				    "id_token_hint is not an ID token of this "
				    "provider");
			goto out;
		}
		aud = json_string_value(json_object_get(claims, "aud"));
		sid = json_string_value(json_object_get(claims, "sid"));
		if (client_id != NULL && strcmp(client_id, aud) != 0) {
			rc = refuse(req, res,
				    "client_id differs from the "
				    "id_token_hint's audience");
			goto out;
		}
		client_id = aud;
	}
	if (client_id != NULL &&
	    ((svc = services_find(reg, client_id)) == NULL ||
	     oidc_client_from(svc, &c) != SA_OK)) {
		rc = refuse(req, res, "unknown client_id");
		goto out;
	}
	/* Back only to a registered URI of a known client (§3). */
	if (uri != NULL && (svc == NULL || !oidc_logout_uri_ok(&c, uri))) {
		rc = refuse(req, res,
			    "post_logout_redirect_uri is not registered for "
			    "this client");
		goto out;
	}
	if (uri != NULL) {
		const char *names[] = {"state"};
		const char *values[] = {state};
		rc = oidc_redirect(res, uri, names, values, 1);
	} else {
		weblogin_page(res, 200, "Signed out",
			      "You are signed out of sealauth. You can close "
			      "this window.");
		rc = SA_OK;
	}
	ended = weblogin_session_end(req, res, &sso) == SA_OK;
	if (ended) {
		sent = fan_out(app, reg, &sso);
		oidc_sid_revoke(app, sso.sid);
	}
	if (sid != NULL && (!ended || strcmp(sid, sso.sid) != 0))
		oidc_sid_revoke(app, sid);
	app_audit(app, req, "oidc.logout", ended ? sso.token_id : "",
		  json_pack("{s:s?, s:s?, s:b, s:o?}", "clientId", client_id,
			    "sid", ended ? sso.sid : sid, "sessionEnded", ended,
			    "backchannel", sent));
out:
	json_decref(claims);
	weblogin_sso_clear(&sso);
	form_free(&p);
	services_put(reg);
	return rc;
}
