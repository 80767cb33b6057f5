/*
 * device.c - the phone simulator: device key store, enrollment and
 * verification requests (libcurl) and request signing. The UnifiedPush
 * endpoint and the loop that answers pushes are in device_listen.c.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "cmd/device.h"
#include "core/curl_lib.h"
#include "login/verify_msg.h"
#include "crypto/ecdsa.h"
#include "core/util.h"

struct device {
	char *dir;
	EVP_PKEY *key;
	json_t *info;
};

/* ---- the signed answer ------------------------------------------------- */

enum sa_err
device_sign_verify(EVP_PKEY *key, const char *session, const char *otp,
		   int64_t ts, const char *decision, const char *const scopes[],
		   size_t n, const char *reason, char **b64sig)
{
	unsigned char raw[ECDSA_P256_RAW_LEN];
	char *msg = NULL, *sig;
	enum sa_err rc;

	rc = verify_msg_build_reason(session, otp, ts, decision, scopes, n,
				     reason, &msg);
	if (rc != SA_OK)
		goto out;
	if ((rc = ecdsa_sign_sha256_raw(key, msg, strlen(msg), raw)) != SA_OK)
		goto out;
	if ((sig = b64_encode(raw, sizeof(raw))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	*b64sig = sig;
out:
	free(msg);
	return rc;
}

/* ---- the key store ----------------------------------------------------- */

/* device_id_ok tells whether id is 1..DEVICE_ID_MAX of [A-Za-z0-9._:-]. */
static int
device_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > DEVICE_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
			return 0;
	}
	return 1;
}

/*
 * pubkey_pem writes the SubjectPublicKeyInfo PEM of key into a new string
 * the caller frees.
 */
static enum sa_err
pubkey_pem(EVP_PKEY *key, char **out)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;
	enum sa_err rc = SA_ERR_INTERNAL;

	if (bio == NULL)
		return SA_ERR_NOMEM;
	if (PEM_write_bio_PUBKEY(bio, key) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || n > ECDSA_PEM_MAX)
		goto out;
	if ((s = malloc((size_t)n + 1)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	*out = s;
	rc = SA_OK;
out:
	BIO_free(bio);
	return rc;
}

static enum sa_err
path_in(const char *dir, const char *file, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, file);

	return n > 0 && n < PATH_MAX ? SA_OK : SA_ERR_IO;
}

/* save_info writes device.json atomically (mode 0600, newline-ended). */
static enum sa_err
save_info(const char *dir, const json_t *info)
{
	char path[PATH_MAX];
	char *text = NULL, *full = NULL;
	size_t n;
	enum sa_err rc;

	if ((rc = path_in(dir, DEVICE_INFO_FILE, path)) != SA_OK)
		return rc;
	text = json_dumps(info, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return SA_ERR_NOMEM;
	n = strlen(text);
	if ((full = malloc(n + 2)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	memcpy(full, text, n);
	full[n] = '\n';
	full[n + 1] = '\0';
	rc = write_file_atomic(path, full, n + 1, 0600);
out:
	free(text);
	free(full);
	return rc;
}

enum sa_err
device_init(const char *dir, const char *device_id, int force, FILE *err)
{
	char keypath[PATH_MAX], idbuf[4 + 2 * 12 + 1], created[21];
	unsigned char rnd[12];
	EVP_PKEY *key = NULL;
	char *priv = NULL, *pub = NULL, *hex = NULL;
	size_t privlen = 0;
	json_t *info = NULL;
	struct stat st;
	enum sa_err rc;

	if (device_id != NULL && !device_id_ok(device_id)) {
		if (err)
			fprintf(err,
				"sealauth: device id must be 1..%d "
				"characters of A-Z a-z 0-9 . _ : -\n",
				DEVICE_ID_MAX);
		return SA_ERR_VALIDATION;
	}
	if ((rc = path_in(dir, DEVICE_KEY_FILE, keypath)) != SA_OK)
		return rc;
	if ((rc = mkdir_p(dir, 0700)) != SA_OK) {
		if (err)
			fprintf(err, "sealauth: cannot create %s: %s\n", dir,
				strerror(errno));
		return rc;
	}
	if (stat(dir, &st) == 0 && (st.st_mode & 077) != 0 && err)
		fprintf(err,
			"sealauth: warning: %s is accessible to other users "
			"(mode %03o); the device key should be private\n",
			dir, (unsigned int)(st.st_mode & 0777));
	if (lstat(keypath, &st) == 0 && !force) {
		if (err)
			fprintf(err,
				"sealauth: %s already exists; use --force to "
				"replace the device key\n",
				keypath);
		return SA_ERR_CONFLICT;
	}
	if (device_id == NULL) {
		if ((rc = rand_bytes(rnd, sizeof(rnd))) != SA_OK)
			goto out;
		if ((hex = hex_encode(rnd, sizeof(rnd))) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		snprintf(idbuf, sizeof(idbuf), "dev-%s", hex);
		device_id = idbuf;
	}
	if ((rc = ecdsa_generate_p256(&key)) != SA_OK ||
	    (rc = ecdsa_privkey_to_pem(key, &priv, &privlen)) != SA_OK ||
	    (rc = pubkey_pem(key, &pub)) != SA_OK)
		goto out;
	iso8601_utc(now_unix(), created);
	info = json_pack("{s:s, s:s, s:s}", "deviceId", device_id,
			 "publicKeyPem", pub, "createdAt", created);
	if (info == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	/* The key first: a device.json without its key is useless, a key
	 * without device.json is caught by device_open. */
	if ((rc = write_file_atomic(keypath, priv, privlen, 0600)) != SA_OK ||
	    (rc = save_info(dir, info)) != SA_OK) {
		if (err)
			fprintf(err, "sealauth: cannot write into %s\n", dir);
		goto out;
	}
out:
	if (priv != NULL) {
		OPENSSL_cleanse(priv, privlen);
		free(priv);
	}
	free(pub);
	free(hex);
	json_decref(info);
	EVP_PKEY_free(key);
	return rc;
}

enum sa_err
device_open(const char *dir, FILE *err, struct device **out)
{
	char path[PATH_MAX];
	unsigned char *text = NULL;
	size_t len = 0;
	struct device *d;
	char *pub = NULL;
	const char *stored;
	struct stat st;
	json_error_t je;
	enum sa_err rc;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return SA_ERR_NOMEM;
	if ((d->dir = strdup(dir)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = path_in(dir, DEVICE_KEY_FILE, path)) != SA_OK)
		goto out;
	/* As for the server's own keys: a private key others may read is
	 * refused, not used. */
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
		if (err)
			fprintf(err,
				"sealauth: %s has mode %03o; others may "
				"access it (chmod 600 %s)\n",
				path, (unsigned int)(st.st_mode & 0777), path);
		rc = SA_ERR_FORBIDDEN;
		goto out;
	}
	if ((rc = read_file(path, ECDSA_PEM_MAX, &text, &len)) != SA_OK) {
		if (err)
			fprintf(err,
				"sealauth: cannot read %s (run `sealauth "
				"device init --dir %s` first)\n",
				path, dir);
		goto out;
	}
	rc = ecdsa_privkey_from_pem((const char *)text, len, &d->key);
	OPENSSL_cleanse(text, len);
	free(text);
	text = NULL;
	if (rc != SA_OK) {
		if (err)
			fprintf(err,
				"sealauth: %s is not a P-256 private "
				"key\n",
				path);
		goto out;
	}
	if ((rc = path_in(dir, DEVICE_INFO_FILE, path)) != SA_OK)
		goto out;
	if ((rc = read_file(path, DEVICE_INFO_MAX, &text, &len)) != SA_OK) {
		if (err)
			fprintf(err, "sealauth: cannot read %s\n", path);
		goto out;
	}
	d->info =
	    json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &je);
	rc = SA_ERR_VALIDATION;
	if (!json_is_object(d->info) ||
	    !json_is_string(json_object_get(d->info, "deviceId")) ||
	    (stored = json_string_value(
		 json_object_get(d->info, "publicKeyPem"))) == NULL) {
		if (err)
			fprintf(err, "sealauth: %s is not a device file\n",
				path);
		goto out;
	}
	if ((rc = pubkey_pem(d->key, &pub)) != SA_OK)
		goto out;
	/* A key swapped under device.json would sign for another enrollment
	 * than the one the file describes. */
	if (strcmp(pub, stored) != 0) {
		if (err)
			fprintf(err,
				"sealauth: %s does not match the key in "
				"%s\n",
				path, DEVICE_KEY_FILE);
		rc = SA_ERR_VALIDATION;
		goto out;
	}
	*out = d;
	d = NULL;
	rc = SA_OK;
out:
	free(text);
	free(pub);
	device_close(d);
	return rc;
}

void
device_close(struct device *d)
{
	if (d == NULL)
		return;
	EVP_PKEY_free(d->key);
	json_decref(d->info);
	free(d->dir);
	free(d);
}

const json_t *
device_info(const struct device *d)
{
	return d->info;
}

EVP_PKEY *
device_key(const struct device *d)
{
	return d->key;
}

/* ---- HTTP client ------------------------------------------------------- */

void
device_reply_free(struct device_reply *r)
{
	json_decref(r->json);
	free(r->text);
	r->json = NULL;
	r->text = NULL;
	r->status = 0;
}

static size_t
collect(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct buf *b = userdata;

	/* Returning less than given makes curl fail the transfer. */
	if (buf_append(b, p, size * nmemb) != SA_OK)
		return 0;
	return size * nmemb;
}

static int
url_ok(const char *url)
{
	return url != NULL && strlen(url) <= DEVICE_URL_MAX &&
	       (str_has_prefix(url, "http://") ||
		str_has_prefix(url, "https://"));
}

/*
 * post_json sends body to base+path and fills *out with the answer. Only
 * http and https are spoken, redirects are not followed (a signed approval
 * goes to the server it was meant for or nowhere), the whole exchange is
 * bounded in time and the answer in size.
 */
static enum sa_err
post_json(const char *base, const char *path, const json_t *body,
	  struct device_reply *out)
{
	char url[DEVICE_URL_MAX + 64];
	size_t blen;
	char *text = NULL;
	struct curl_slist *hdrs = NULL;
	CURL *c = NULL;
	struct buf b;
	CURLcode cc;
	long status = 0;
	enum sa_err rc = SA_ERR_VALIDATION;

	buf_init(&b, DEVICE_REPLY_MAX);
	/* Loads libcurl, with its global initialisation, the first time; the
	 * loader logs why when it cannot. */
	if (!curl_lib_usable()) {
		rc = SA_ERR_UNAVAILABLE;
		goto out;
	}
	if (!url_ok(base))
		goto out;
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	snprintf(url, sizeof(url), "%.*s%s", (int)blen, base, path);
	rc = SA_ERR_NOMEM;
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL ||
	    (c = curl_easy_init()) == NULL)
		goto out;
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (hdrs == NULL)
		goto out;
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (hdrs == NULL)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT,
			 "sealauth-device/" SEALAUTH_VERSION);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		rc = cc == CURLE_OPERATION_TIMEDOUT ? SA_ERR_TIMEOUT
		     : cc == CURLE_WRITE_ERROR	    ? SA_ERR_BODY_TOO_LARGE
						    : SA_ERR_UNAVAILABLE;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (b.data == NULL && (rc = buf_append(&b, "", 0)) != SA_OK)
		goto out;
	out->status = status;
	out->json = json_loadb((const char *)b.data, b.len,
			       JSON_REJECT_DUPLICATES, NULL);
	out->text = (char *)b.data;
	b.data = NULL;
	rc = SA_OK;
out:
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	free(text);
	buf_free(&b);
	return rc;
}

enum sa_err
device_enroll(struct device *d, const char *server, const char *seal,
	      const char *push_endpoint, const char *fcm_token,
	      struct device_reply *out)
{
	struct device_reply r = {0};
	json_t *body = NULL;
	const char *tok, *exp;
	enum sa_err rc = SA_ERR_VALIDATION;

	if (!url_ok(server) || seal == NULL || seal[0] == '\0' ||
	    (push_endpoint != NULL && fcm_token != NULL) ||
	    (push_endpoint != NULL && !url_ok(push_endpoint)) ||
	    (fcm_token != NULL && (fcm_token[0] == '\0' ||
				   strlen(fcm_token) > DEVICE_FCM_TOKEN_MAX)))
		goto out;
	body = json_pack("{s:s, s:O, s:O}", "vdsData", seal, "publicKeyPem",
			 json_object_get(d->info, "publicKeyPem"), "deviceId",
			 json_object_get(d->info, "deviceId"));
	if (body == NULL ||
	    (push_endpoint != NULL &&
	     json_object_set_new(body, "pushEndpoint",
				 json_string(push_endpoint)) != 0) ||
	    (fcm_token != NULL &&
	     json_object_set_new(body, "fcmToken", json_string(fcm_token)) !=
		 0)) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((rc = post_json(server, "/enroll", body, &r)) != SA_OK)
		goto out;
	tok = json_string_value(json_object_get(r.json, "tokenId"));
	exp = json_string_value(json_object_get(r.json, "expiresAt"));
	if (r.status == 200 && tok != NULL) {
		json_t *info = json_deep_copy(d->info);
		rc = SA_ERR_NOMEM;
		if (info == NULL)
			goto out;
		json_object_del(info, "pushEndpoint");
		json_object_del(info, "fcmToken");
		json_object_del(info, "expiresAt");
		if (json_object_set_new(info, "server", json_string(server)) ||
		    json_object_set_new(info, "tokenId", json_string(tok)) ||
		    (exp != NULL && json_object_set_new(info, "expiresAt",
							json_string(exp))) ||
		    (push_endpoint != NULL &&
		     json_object_set_new(info, "pushEndpoint",
					 json_string(push_endpoint))) ||
		    (fcm_token != NULL &&
		     json_object_set_new(info, "fcmToken",
					 json_string(fcm_token)))) {
			json_decref(info);
			goto out;
		}
		if ((rc = save_info(d->dir, info)) != SA_OK) {
			json_decref(info);
			goto out;
		}
		json_decref(d->info);
		d->info = info;
	}
	*out = r;
	memset(&r, 0, sizeof(r));
	rc = SA_OK;
out:
	device_reply_free(&r);
	json_decref(body);
	return rc;
}

enum sa_err
device_answer(struct device *d, const char *server, const char *session,
	      const char *otp, const char *decision, const char *const scopes[],
	      size_t n, const char *reason, int64_t now,
	      struct device_reply *out)
{
	const char *v[DEVICE_SCOPES_MAX];
	const char *token =
	    json_string_value(json_object_get(d->info, "tokenId"));
	json_t *body = NULL, *arr = NULL;
	char *sig = NULL;
	struct device_reply r = {0};
	enum sa_err rc = SA_ERR_NOT_ENROLLED;

	if (token == NULL)
		goto out;
	if (server == NULL)
		server = json_string_value(json_object_get(d->info, "server"));
	rc = SA_ERR_VALIDATION;
	if (server == NULL || n > DEVICE_SCOPES_MAX)
		goto out;
	for (size_t i = 0; i < n; i++)
		v[i] = scopes[i];
	n = verify_msg_scopes_sort(v, n);
	if ((rc = device_sign_verify(d->key, session, otp, now, decision, v, n,
				     reason, &sig)) != SA_OK)
		goto out;
	rc = SA_ERR_NOMEM;
	if ((arr = json_array()) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, json_string(v[i])) != 0)
			goto out;
	body = json_pack("{s:s, s:s, s:s, s:I, s:s, s:O, s:s}", "sessionId",
			 session, "tokenId", token, "otp", otp, "timestamp",
			 (json_int_t)now, "decision", decision, "grantedScopes",
			 arr, "signature", sig);
	if (body == NULL ||
	    (reason != NULL &&
	     json_object_set_new(body, "reason", json_string(reason)) != 0))
		goto out;
	if ((rc = post_json(server, "/auth/verify", body, &r)) != SA_OK)
		goto out;
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	device_reply_free(&r);
	json_decref(body);
	json_decref(arr);
	free(sig);
	return rc;
}
