/*
 * push_fcm.c - Firebase Cloud Messaging, HTTP v1 API.
 *
 * A Google service account authenticates with an OAuth2 JWT bearer grant
 * (RFC 7523): we sign an RS256 assertion with the account's private key,
 * trade it at the token endpoint for an access token, cache that token until
 * shortly before it expires, and send each message with it:
 *   POST {send_url}/v1/projects/{project_id}/messages:send
 * FCM data payloads are string-to-string maps, so every value of our
 * message becomes a string (numbers and booleans in JSON notation, arrays
 * and objects as compact JSON text).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/log.h"
#include "push/push_int.h"
#include "core/util.h"

#define FCM_ACCOUNT_MAX 65536 /* bytes of the service-account file */
#define FCM_FIELD_MAX 2048    /* bytes of project_id, client_email, URIs */
#define FCM_ACCESS_TOKEN_MAX 4096
#define FCM_TOKEN_MARGIN_S 60 /* refresh this long before expiry */
#define FCM_TOKEN_LIFETIME_MAX 86400
#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_DEFAULT_SEND_URL "https://fcm.googleapis.com"

struct push_fcm {
	EVP_PKEY *key;
	char *project_id;
	char *client_email;
	char *token_url;
	char *send_url; /* the full messages:send URL */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refreshing;			  /* one refresh at a time */
	char token[FCM_ACCESS_TOKEN_MAX]; /* "" when none */
	uint64_t token_until_ms;	  /* monotonic; reuse before this */
};

/*
 * fcm_field fetches a required string member of the account, bounded, and
 * logs which one is wrong when it is not there.
 */
static enum sa_err
fcm_field(json_t *acct, const char *name, const char **out)
{
	json_t *v = json_object_get(acct, name);

	if (!json_is_string(v) || json_string_length(v) == 0) {
		log_error("push.fcm.account",
			  "service account: field \"%s\" is missing or not "
			  "a string",
			  name);
		return SA_ERR_CONFIG;
	}
	if (json_string_length(v) > FCM_FIELD_MAX &&
	    strcmp(name, "private_key") != 0) {
		log_error("push.fcm.account",
			  "service account: field \"%s\" is too long", name);
		return SA_ERR_CONFIG;
	}
	*out = json_string_value(v);
	return SA_OK;
}

/* fcm_project_ok accepts the characters of Google project ids (including
 * domain-scoped ones, "example.com:proj"); the id goes into a URL path. */
static int
fcm_project_ok(const char *s)
{
	if (strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '.' || *s == ':'))
			return 0;
	return 1;
}

/* fcm_url_ok accepts an https URL, or an http one when allowed (tests and
 * development only: the bearer token would cross the wire in clear). */
static int
fcm_url_ok(const char *s, int allow_http)
{
	return str_has_prefix(s, "https://") ||
	       (allow_http && str_has_prefix(s, "http://"));
}

/*
 * fcm_load_key parses the PEM private key and checks that it is RSA, as
 * RS256 needs. The caller wipes the PEM text.
 */
static enum sa_err
fcm_load_key(const char *pem, size_t len, EVP_PKEY **out)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *key = NULL;
	enum sa_err rc = SA_ERR_CONFIG;

	if (bio == NULL)
		return SA_ERR_NOMEM;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (key == NULL) {
		log_error("push.fcm.account", "service account: field "
					      "\"private_key\" is not a PEM "
					      "private key");
		goto out;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(key) < 2048) {
		log_error("push.fcm.account", "service account: field "
					      "\"private_key\" is not an RSA "
					      "key of 2048 bits or more");
		goto out;
	}
	*out = key;
	key = NULL;
	rc = SA_OK;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	return rc;
}

/*
 * push_fcm_open: see push.h. The file buffer and the private_key string
 * inside the parsed JSON are wiped before they are freed, so only the
 * EVP_PKEY holds the key afterwards.
 */
enum sa_err
push_fcm_open(const char *path, const char *token_url, const char *send_url,
	      int allow_http, struct push_fcm **out)
{
	unsigned char *text = NULL;
	size_t len = 0;
	json_t *acct = NULL, *pk;
	json_error_t jerr;
	const char *type, *project, *email, *pem, *uri;
	struct push_fcm *f = NULL;
	enum sa_err rc;
	int n;

	rc = read_file(path, FCM_ACCOUNT_MAX, &text, &len);
	if (rc != SA_OK) {
		log_error("push.fcm.account",
			  "service account file %s: cannot read it (missing, "
			  "not a regular file, or over %d bytes)",
			  path, FCM_ACCOUNT_MAX);
		rc = SA_ERR_CONFIG;
		goto out;
	}
	acct =
	    json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(acct)) {
		log_error("push.fcm.account",
			  "service account file %s: not a JSON object", path);
		rc = SA_ERR_CONFIG;
		goto out;
	}
	if ((rc = fcm_field(acct, "type", &type)) != SA_OK ||
	    (rc = fcm_field(acct, "project_id", &project)) != SA_OK ||
	    (rc = fcm_field(acct, "client_email", &email)) != SA_OK ||
	    (rc = fcm_field(acct, "private_key", &pem)) != SA_OK ||
	    (rc = fcm_field(acct, "token_uri", &uri)) != SA_OK)
		goto out;
	rc = SA_ERR_CONFIG;
	if (strcmp(type, "service_account") != 0) {
		log_error("push.fcm.account", "service account: field \"type\" "
					      "is not \"service_account\"");
		goto out;
	}
	if (!fcm_project_ok(project)) {
		log_error("push.fcm.account",
			  "service account: field \"project_id\" has "
			  "characters a project id cannot have");
		goto out;
	}
	if (token_url == NULL || token_url[0] == '\0')
		token_url = uri;
	if (!fcm_url_ok(token_url, allow_http)) {
		log_error("push.fcm.account",
			  "service account: field \"token_uri\" is not an "
			  "https URL");
		goto out;
	}
	if (send_url == NULL || send_url[0] == '\0')
		send_url = FCM_DEFAULT_SEND_URL;
	if (!fcm_url_ok(send_url, allow_http) ||
	    strlen(send_url) > FCM_FIELD_MAX) {
		log_error("push.fcm.account", "FCM send URL is not an https "
					      "URL");
		goto out;
	}

	rc = SA_ERR_NOMEM;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		goto out;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->project_id = strdup(project);
	f->client_email = strdup(email);
	f->token_url = strdup(token_url);
	n = snprintf(NULL, 0, "%s/v1/projects/%s/messages:send", send_url,
		     project);
	f->send_url = malloc((size_t)n + 1);
	if (f->project_id == NULL || f->client_email == NULL ||
	    f->token_url == NULL || f->send_url == NULL)
		goto out;
	/* A trailing slash on the base would double up in the path. */
	snprintf(
	    f->send_url, (size_t)n + 1, "%.*s/v1/projects/%s/messages:send",
	    (int)(strlen(send_url) - (send_url[strlen(send_url) - 1] == '/')),
	    send_url, project);
	rc = fcm_load_key(pem, strlen(pem), &f->key);
	if (rc != SA_OK)
		goto out;
	*out = f;
	f = NULL;
	rc = SA_OK;
out:
	/* Drop every copy of the key text; only the EVP_PKEY keeps it. */
	pk = acct != NULL ? json_object_get(acct, "private_key") : NULL;
	if (json_is_string(pk))
		OPENSSL_cleanse((char *)json_string_value(pk),
				json_string_length(pk));
	if (text != NULL)
		OPENSSL_cleanse(text, len);
	free(text);
	json_decref(acct);
	push_fcm_close(f);
	return rc;
}

void
push_fcm_close(struct push_fcm *f)
{
	if (f == NULL)
		return;
	EVP_PKEY_free(f->key);
	free(f->project_id);
	free(f->client_email);
	free(f->token_url);
	free(f->send_url);
	OPENSSL_cleanse(f->token, sizeof(f->token));
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}

/*
 * fcm_b64url_json encodes a JSON value as compact base64url text. The
 * caller frees the result; NULL when out of memory.
 */
static char *
fcm_b64url_json(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	char *enc = NULL;

	if (text != NULL)
		enc = b64url_encode((unsigned char *)text, strlen(text));
	free(text);
	return enc;
}

/*
 * fcm_assertion builds the signed JWT the token endpoint expects: header
 * {"alg":"RS256","typ":"JWT"}, claims iss, scope, aud, iat and exp (one
 * hour later). The caller frees the returned string.
 */
static enum sa_err
fcm_assertion(struct push_fcm *f, char **out)
{
	json_t *hdr = NULL, *claims = NULL;
	char *h64 = NULL, *c64 = NULL, *s64 = NULL, *input = NULL, *jwt = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *md = NULL;
	int64_t now = now_unix();
	enum sa_err rc = SA_ERR_NOMEM;
	int n;

	hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", f->client_email,
			   "scope", FCM_SCOPE, "aud", f->token_url, "iat",
			   (json_int_t)now, "exp", (json_int_t)(now + 3600));
	if (hdr == NULL || claims == NULL)
		goto out;
	h64 = fcm_b64url_json(hdr);
	c64 = fcm_b64url_json(claims);
	if (h64 == NULL || c64 == NULL)
		goto out;
	n = snprintf(NULL, 0, "%s.%s", h64, c64);
	input = malloc((size_t)n + 1);
	if (input == NULL)
		goto out;
	snprintf(input, (size_t)n + 1, "%s.%s", h64, c64);

	rc = SA_ERR_INTERNAL;
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, f->key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input,
			   (size_t)n) != 1)
		goto out;
	sig = malloc(siglen);
	if (sig == NULL ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
			   (size_t)n) != 1)
		goto out;
	rc = SA_ERR_NOMEM;
	s64 = b64url_encode(sig, siglen);
	if (s64 == NULL)
		goto out;
	n = snprintf(NULL, 0, "%s.%s", input, s64);
	jwt = malloc((size_t)n + 1);
	if (jwt == NULL)
		goto out;
	snprintf(jwt, (size_t)n + 1, "%s.%s", input, s64);
	*out = jwt;
	rc = SA_OK;
out:
	EVP_MD_CTX_free(md);
	json_decref(hdr);
	json_decref(claims);
	free(h64);
	free(c64);
	free(s64);
	free(input);
	free(sig);
	return rc;
}

/*
 * fcm_error_text summarises a Google API error body as
 * "STATUS (errorCode): message", or the HTTP status alone.
 */
static void
fcm_error_text(const struct push_http_resp *resp, char *out, size_t n)
{
	json_t *root = json_loadb(resp->body, resp->body_len, 0, NULL);
	json_t *err = json_object_get(root, "error"), *d;
	const char *status = NULL, *msg = NULL, *code = NULL;
	size_t i;

	if (json_is_string(err)) { /* the token endpoint's OAuth2 form */
		status = json_string_value(err);
		msg = json_string_value(
		    json_object_get(root, "error_description"));
	} else if (json_is_object(err)) {
		status = json_string_value(json_object_get(err, "status"));
		msg = json_string_value(json_object_get(err, "message"));
		json_array_foreach(json_object_get(err, "details"), i, d)
		{
			const char *c =
			    json_string_value(json_object_get(d, "errorCode"));
			if (c != NULL)
				code = c;
		}
	}
	if (status == NULL)
		snprintf(out, n, "HTTP %ld", resp->status);
	else
		snprintf(out, n, "HTTP %ld %.40s%s%.40s%s: %.120s",
			 resp->status, status, code ? " (" : "",
			 code ? code : "", code ? ")" : "", msg ? msg : "");
	json_decref(root);
}

/*
 * fcm_fetch_token trades a fresh assertion for an access token. On success
 * it copies the token to out and sets *lifetime_s from expires_in.
 */
static void
fcm_fetch_token(struct push_fcm *f, const struct push_call *call, char *out,
		size_t outsz, long *lifetime_s, struct push_result *res)
{
	struct push_http_resp *resp = NULL;
	struct push_http_req rq = {0};
	struct curl_slist *hdr = NULL;
	char *jwt = NULL, *form = NULL, *grant = NULL;
	json_t *root = NULL, *tok, *exp;
	char why[PUSH_REASON_MAX];
	enum sa_err rc;
	int n;

	if (fcm_assertion(f, &jwt) != SA_OK) {
		push_result_set(res, SA_ERR_INTERNAL, 1,
				"cannot sign the FCM token assertion");
		goto out;
	}
	grant = curl_easy_escape(
	    call->service, "urn:ietf:params:oauth:grant-type:jwt-bearer", 0);
	resp = malloc(sizeof(*resp));
	hdr = curl_slist_append(NULL, "Content-Type: "
				      "application/x-www-form-urlencoded");
	if (grant == NULL || resp == NULL || hdr == NULL)
		goto nomem;
	/* The JWT is base64url and dots: nothing to escape. */
	n = snprintf(NULL, 0, "grant_type=%s&assertion=%s", grant, jwt);
	form = malloc((size_t)n + 1);
	if (form == NULL)
		goto nomem;
	snprintf(form, (size_t)n + 1, "grant_type=%s&assertion=%s", grant, jwt);
	rq.url = f->token_url;
	rq.headers = hdr;
	rq.body = form;
	rq.body_len = (size_t)n;
	rq.timeout_ms = call->cfg->timeout_ms;
	rq.allow_private = call->cfg->allow_private_targets;
	rq.abort_at_ms = call->abort_at_ms;
	rc = push_http_post(call->service, &rq, resp);
	if (rc != SA_OK) {
		push_result_transport(rc, resp, res);
		snprintf(why, sizeof(why), "%s", res->reason);
		snprintf(res->reason, sizeof(res->reason), "FCM token: %.200s",
			 why);
		goto out;
	}
	if (resp->status != 200) {
		fcm_error_text(resp, why, sizeof(why));
		/* A refused grant (bad key, disabled account) will not
		 * heal by itself; overload and server errors may. */
		push_result_set(res, SA_ERR_PUSH,
				resp->status == 429 || resp->status >= 500,
				"FCM token endpoint refused: %s", why);
		goto out;
	}
	root = json_loadb(resp->body, resp->body_len, 0, NULL);
	tok = json_object_get(root, "access_token");
	exp = json_object_get(root, "expires_in");
	if (!json_is_string(tok) || json_string_length(tok) == 0 ||
	    json_string_length(tok) >= outsz ||
	    strpbrk(json_string_value(tok), "\r\n") != NULL) {
		push_result_set(res, SA_ERR_PUSH, 1,
				"FCM token endpoint answered no usable "
				"access_token");
		goto out;
	}
	memcpy(out, json_string_value(tok), json_string_length(tok) + 1);
	*lifetime_s = json_is_integer(exp) ? (long)json_integer_value(exp) : 0;
	if (*lifetime_s > FCM_TOKEN_LIFETIME_MAX)
		*lifetime_s = FCM_TOKEN_LIFETIME_MAX;
	push_result_set(res, SA_OK, 0, "token");
	goto out;
nomem:
	push_result_set(res, SA_ERR_NOMEM, 1, "out of memory");
out:
	if (json_is_string(json_object_get(root, "access_token")))
		OPENSSL_cleanse(
		    (char *)json_string_value(
			json_object_get(root, "access_token")),
		    json_string_length(json_object_get(root, "access_token")));
	if (resp != NULL)
		OPENSSL_cleanse(resp->body, resp->body_len);
	json_decref(root);
	curl_free(grant);
	curl_slist_free_all(hdr);
	free(jwt);
	free(form);
	free(resp);
}

/*
 * fcm_get_token copies a valid access token to out, refreshing it when the
 * cache is empty or stale, or when stale_token names the token a request
 * was just refused with (unless another thread already replaced it). Only
 * one thread refreshes at a time; the others wait for its result.
 */
static void
fcm_get_token(struct push_fcm *f, const struct push_call *call,
	      const char *stale_token, char *out, size_t outsz,
	      struct push_result *res)
{
	long lifetime = 0;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		if (f->token[0] != '\0' && now_mono_ms() < f->token_until_ms &&
		    (stale_token == NULL ||
		     strcmp(f->token, stale_token) != 0)) {
			snprintf(out, outsz, "%s", f->token);
			pthread_mutex_unlock(&f->mu);
			push_result_set(res, SA_OK, 0, "token");
			return;
		}
		if (!f->refreshing)
			break;
		pthread_cond_wait(&f->cv, &f->mu);
	}
	f->refreshing = 1;
	pthread_mutex_unlock(&f->mu);

	fcm_fetch_token(f, call, out, outsz, &lifetime, res);

	pthread_mutex_lock(&f->mu);
	if (res->rc == SA_OK) {
		OPENSSL_cleanse(f->token, sizeof(f->token));
		snprintf(f->token, sizeof(f->token), "%s", out);
		/* A token that lives no longer than the margin serves this
		 * request only. */
		f->token_until_ms =
		    now_mono_ms() +
		    (lifetime > FCM_TOKEN_MARGIN_S
			 ? (uint64_t)(lifetime - FCM_TOKEN_MARGIN_S) * 1000
			 : 0);
	}
	f->refreshing = 0;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/*
 * fcm_data converts the message object to FCM's string-to-string data map.
 * Null members are left out. The caller owns the returned object.
 */
static json_t *
fcm_data(json_t *msg)
{
	json_t *data = json_object(), *v;
	const char *k;
	char num[64];

	if (data == NULL)
		return NULL;
	json_object_foreach(msg, k, v)
	{
		json_t *s = NULL;
		char *text;

		switch (json_typeof(v)) {
		case JSON_STRING:
			s = json_incref(v);
			break;
		case JSON_INTEGER:
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(v));
			s = json_string(num);
			break;
		case JSON_TRUE:
			s = json_string("true");
			break;
		case JSON_FALSE:
			s = json_string("false");
			break;
		case JSON_NULL:
			continue;
		default: /* reals, arrays and objects as JSON text */
			text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			s = text ? json_string(text) : NULL;
			free(text);
			break;
		}
		if (s == NULL || json_object_set_new(data, k, s) != 0) {
			json_decref(data);
			return NULL;
		}
	}
	return data;
}

/*
 * fcm_post_message sends the body with the given access token. SA_OK from
 * push_http_post means a status is in resp.
 */
static enum sa_err
fcm_post_message(struct push_fcm *f, const struct push_call *call,
		 const char *token, const char *body,
		 struct push_http_resp *resp)
{
	struct push_http_req rq = {0};
	struct curl_slist *hdr = NULL, *t;
	char auth[FCM_ACCESS_TOKEN_MAX + 32];
	enum sa_err rc = SA_ERR_NOMEM;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	if (hdr == NULL)
		goto out;
	t = curl_slist_append(hdr, auth);
	if (t == NULL)
		goto out;
	hdr = t;
	t = curl_slist_append(hdr, "Expect:");
	if (t == NULL)
		goto out;
	hdr = t;
	rq.url = f->send_url;
	rq.headers = hdr;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.timeout_ms = call->cfg->timeout_ms;
	rq.allow_private = call->cfg->allow_private_targets;
	rq.abort_at_ms = call->abort_at_ms;
	rc = push_http_post(call->service, &rq, resp);
out:
	/* The list holds a copy of the bearer header. */
	for (t = hdr; t != NULL; t = t->next)
		OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(hdr);
	OPENSSL_cleanse(auth, sizeof(auth));
	return rc;
}

/*
 * fcm_send makes one attempt: get a token, send, and on 401 refresh the
 * token once and send again. 429 and 5xx are retried by the queue; 400,
 * 403, 404 and other statuses are final and carry FCM's error status.
 */
static void
fcm_send(const struct push_call *call, struct push_result *res)
{
	struct push_fcm *f = call->fcm;
	struct push_http_resp *resp = NULL;
	json_t *data = NULL, *root = NULL;
	char *body = NULL;
	char token[FCM_ACCESS_TOKEN_MAX];
	char why[PUSH_REASON_MAX];
	enum sa_err rc;
	long st;

	token[0] = '\0';
	if (f == NULL) {
		push_result_set(res, SA_ERR_PUSH, 0, "FCM is not configured");
		goto out;
	}
	data = fcm_data(call->msg);
	if (data != NULL)
		root = json_pack("{s:{s:s, s:O, s:{s:s}, s:{s:{s:s}}}}",
				 "message", "token", call->target, "data", data,
				 "android", "priority", "high", "apns",
				 "headers", "apns-priority", "10");
	if (root != NULL)
		body = json_dumps(root, JSON_COMPACT);
	resp = malloc(sizeof(*resp));
	if (body == NULL || resp == NULL) {
		push_result_set(res, SA_ERR_NOMEM, 1, "out of memory");
		goto out;
	}

	for (int pass = 0; pass < 2; pass++) {
		fcm_get_token(f, call, pass == 0 ? NULL : token, token,
			      sizeof(token), res);
		if (res->rc != SA_OK)
			goto out;
		rc = fcm_post_message(f, call, token, body, resp);
		if (rc != SA_OK) {
			push_result_transport(rc, resp, res);
			goto out;
		}
		if (resp->status != 401)
			break;
	}
	st = resp->status;
	res->retry_after_ms = resp->retry_after_ms;
	if (st == 200) {
		push_result_set(res, SA_OK, 0, "delivered (HTTP 200)");
		goto out;
	}
	fcm_error_text(resp, why, sizeof(why));
	push_result_set(res, SA_ERR_PUSH, st == 429 || st >= 500, "FCM %s",
			why);
out:
	OPENSSL_cleanse(token, sizeof(token));
	json_decref(data);
	json_decref(root);
	free(body);
	free(resp);
}

const struct push_provider push_fcm_provider = {
    .name = "fcm",
    .send = fcm_send,
};
