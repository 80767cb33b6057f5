/*
 * device.c - the phone simulator: device key store, enrollment and
 * verification requests (libcurl), request signing, and the UnifiedPush
 * endpoint (libmicrohttpd) with the loop that answers pushes.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
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
#include "crypto/ecdsa.h"
#include "core/util.h"

struct device {
	char *dir;
	EVP_PKEY *key;
	json_t *info;
};

/* ---- the signed message ------------------------------------------------ */

static int
scope_cmp(const void *a, const void *b)
{
	/* strcmp compares as unsigned char: a bytewise order. */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum sa_err
device_verify_message(const char *session, const char *otp, int64_t ts,
		      const char *decision, const char *const scopes[],
		      size_t n, char **out)
{
	const char **sorted = NULL;
	struct buf b;
	char num[32];
	enum sa_err rc = SA_ERR_VALIDATION;

	buf_init(&b, 64 + DEVICE_SESSION_MAX +
			 DEVICE_SCOPES_MAX * (DEVICE_SCOPE_MAX + 1));
	if (session == NULL || otp == NULL || decision == NULL ||
	    (n > 0 && scopes == NULL) || n > DEVICE_SCOPES_MAX)
		goto out;
	/* A separator inside a field would let two different requests sign
	 * the same bytes. */
	if (strchr(session, '|') != NULL || strchr(otp, '|') != NULL ||
	    strlen(session) > DEVICE_SESSION_MAX || strlen(otp) > 64)
		goto out;
	if (strcmp(decision, "approve") != 0 && strcmp(decision, "reject") != 0)
		goto out;
	if (n > 0) {
		if ((sorted = calloc(n, sizeof(*sorted))) == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (scopes[i] == NULL || scopes[i][0] == '\0' ||
			    strchr(scopes[i], ',') != NULL ||
			    strlen(scopes[i]) > DEVICE_SCOPE_MAX)
				goto out;
			sorted[i] = scopes[i];
		}
		qsort(sorted, n, sizeof(*sorted), scope_cmp);
	}
	snprintf(num, sizeof(num), "%" PRId64, ts);
	if ((rc = buf_append(&b, DEVICE_MESSAGE_PREFIX "|",
			     strlen(DEVICE_MESSAGE_PREFIX) + 1)) != SA_OK ||
	    (rc = buf_append(&b, session, strlen(session))) != SA_OK ||
	    (rc = buf_append(&b, "|", 1)) != SA_OK ||
	    (rc = buf_append(&b, otp, strlen(otp))) != SA_OK ||
	    (rc = buf_append(&b, "|", 1)) != SA_OK ||
	    (rc = buf_append(&b, num, strlen(num))) != SA_OK ||
	    (rc = buf_append(&b, "|", 1)) != SA_OK ||
	    (rc = buf_append(&b, decision, strlen(decision))) != SA_OK ||
	    (rc = buf_append(&b, "|", 1)) != SA_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((i > 0 && (rc = buf_append(&b, ",", 1)) != SA_OK) ||
		    (rc = buf_append(&b, sorted[i], strlen(sorted[i]))) !=
			SA_OK)
			goto out;
	}
	*out = (char *)b.data;
	b.data = NULL;
	rc = SA_OK;
out:
	free(sorted);
	buf_free(&b);
	return rc;
}

enum sa_err
device_sign_verify(EVP_PKEY *key, const char *session, const char *otp,
		   int64_t ts, const char *decision, const char *const scopes[],
		   size_t n, char **b64sig)
{
	unsigned char raw[ECDSA_P256_RAW_LEN];
	char *msg = NULL, *sig;
	enum sa_err rc;

	rc = device_verify_message(session, otp, ts, decision, scopes, n, &msg);
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

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
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		rc = SA_ERR_INTERNAL;
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

/* sorted_unique sorts a scope array in place and drops repeats. */
static size_t
sorted_unique(const char **v, size_t n)
{
	size_t k = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), scope_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i], v[k]) != 0)
			v[++k] = v[i];
	return k + 1;
}

enum sa_err
device_answer(struct device *d, const char *server, const char *session,
	      const char *otp, const char *decision, const char *const scopes[],
	      size_t n, int64_t now, struct device_reply *out)
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
	n = sorted_unique(v, n);
	if ((rc = device_sign_verify(d->key, session, otp, now, decision, v, n,
				     &sig)) != SA_OK)
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
	if (body == NULL)
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

/* ---- the push endpoint -------------------------------------------------- */

struct push_item {
	json_t *msg;
	struct push_item *next;
};

struct device_listener {
	struct MHD_Daemon *mhd;
	unsigned int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct push_item *head, *tail;
	size_t queued;
};

/* One request being received. */
struct push_req {
	struct buf body;
	int too_large;
};

/* reply queues a JSON answer (copied) on a push connection. */
static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *json)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(json), (void *)json,
					    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* text_ok: a string of 1..max bytes without control characters. */
static int
text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * push_valid checks a login push before it is acknowledged: anything the
 * loop later prints or signs is bounded and free of separators and control
 * characters. A message with a "type" (a notice) only needs that to be a
 * short string. Returns a reason or NULL.
 */
static const char *
push_valid(const json_t *m)
{
	static const char *const opt[] = {"serviceName", "random",
					  "expiresAt",	 "origin",
					  "requestIp",	 "userAgent"};
	const json_t *type = json_object_get(m, "type"), *v, *scopes;
	const char *sid, *otp;
	size_t i;

	if (type != NULL)
		return json_is_string(type) &&
			       text_ok(json_string_value(type), 64)
			   ? NULL
			   : "type";
	sid = json_string_value(json_object_get(m, "sessionId"));
	if (sid == NULL || !text_ok(sid, DEVICE_SESSION_MAX) ||
	    strchr(sid, '|') != NULL)
		return "sessionId";
	if ((v = json_object_get(m, "otp")) != NULL) {
		otp = json_string_value(v);
		if (otp == NULL || strlen(otp) != DEVICE_OTP_LEN)
			return "otp";
		for (i = 0; i < DEVICE_OTP_LEN; i++)
			if (!isdigit((unsigned char)otp[i]))
				return "otp";
	}
	scopes = json_object_get(m, "scopes");
	if (scopes != NULL) {
		if (!json_is_array(scopes) ||
		    json_array_size(scopes) > DEVICE_SCOPES_MAX)
			return "scopes";
		json_array_foreach(scopes, i, v)
		{
			const char *s = json_string_value(v);
			if (s == NULL || !text_ok(s, DEVICE_SCOPE_MAX) ||
			    strchr(s, ',') != NULL)
				return "scopes";
		}
	}
	for (i = 0; i < ARRAY_LEN(opt); i++) {
		v = json_object_get(m, opt[i]);
		if (v != NULL &&
		    (!json_is_string(v) ||
		     strlen(json_string_value(v)) > DEVICE_FIELD_MAX))
			return opt[i];
	}
	return NULL;
}

/* enqueue hands a message to the loop; it takes the reference. */
static enum sa_err
enqueue(struct device_listener *l, json_t *msg)
{
	struct push_item *it;
	enum sa_err rc = SA_OK;

	pthread_mutex_lock(&l->mu);
	if (l->queued >= DEVICE_QUEUE_MAX) {
		rc = SA_ERR_UNAVAILABLE;
		goto out;
	}
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	it->msg = msg;
	msg = NULL;
	if (l->tail != NULL)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	l->queued++;
	pthread_cond_signal(&l->cv);
out:
	pthread_mutex_unlock(&l->mu);
	json_decref(msg);
	return rc;
}

/*
 * push_handler receives POST /push. It only parses, checks and queues:
 * the verify call happens in device_listen_run, so a slow server never holds
 * the push connection open.
 */
static enum MHD_Result
push_handler(void *cls, struct MHD_Connection *c, const char *url,
	     const char *method, const char *version, const char *upload,
	     size_t *upload_size, void **con_cls)
{
	struct device_listener *l = cls;
	struct push_req *pr = *con_cls;
	json_t *msg;
	const char *why;
	enum sa_err rc;

	(void)version;
	if (pr == NULL) {
		const char *cl;
		if (strcmp(url, "/push") != 0)
			return reply(c, MHD_HTTP_NOT_FOUND,
				     "{\"error\":\"not_found\"}");
		if (strcmp(method, "POST") != 0)
			return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				     "{\"error\":\"method\"}");
		/* Refuse a declared oversize body before reading it. */
		cl = MHD_lookup_connection_value(
		    c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > DEVICE_PUSH_MAX)
			return reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
				     "{\"error\":\"body_too_large\"}");
		if ((pr = calloc(1, sizeof(*pr))) == NULL)
			return MHD_NO;
		buf_init(&pr->body, DEVICE_PUSH_MAX);
		*con_cls = pr;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!pr->too_large &&
		    buf_append(&pr->body, upload, *upload_size) != SA_OK)
			pr->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (pr->too_large)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE,
			     "{\"error\":\"body_too_large\"}");
	msg = json_loadb(pr->body.data ? (const char *)pr->body.data : "",
			 pr->body.len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(msg)) {
		json_decref(msg);
		return reply(c, MHD_HTTP_BAD_REQUEST,
			     "{\"error\":\"bad_json\"}");
	}
	if ((why = push_valid(msg)) != NULL) {
		char body[128];
		json_decref(msg);
		snprintf(body, sizeof(body),
			 "{\"error\":\"validation\",\"field\":\"%s\"}", why);
		return reply(c, MHD_HTTP_BAD_REQUEST, body);
	}
	if ((rc = enqueue(l, msg)) != SA_OK)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			     "{\"error\":\"unavailable\"}");
	return reply(c, MHD_HTTP_OK, "{\"received\":true}");
}

static void
push_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	struct push_req *pr = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (pr == NULL)
		return;
	buf_free(&pr->body);
	free(pr);
	*con_cls = NULL;
}

enum sa_err
device_listener_start(unsigned int port, struct device_listener **out)
{
	struct device_listener *l;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;

	if (port > 65535)
		return SA_ERR_VALIDATION;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return SA_ERR_NOMEM;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	/* Loopback only: the endpoint accepts unauthenticated pushes. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, (uint16_t)port,
	    NULL, NULL, push_handler, l, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_NOTIFY_COMPLETED, push_completed, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16, MHD_OPTION_END);
	if (l->mhd == NULL) {
		device_listener_stop(l);
		return SA_ERR_IO;
	}
	di = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT);
	l->port = di != NULL ? di->port : port;
	*out = l;
	return SA_OK;
}

unsigned int
device_listener_port(const struct device_listener *l)
{
	return l->port;
}

void
device_listener_stop(struct device_listener *l)
{
	struct push_item *it;

	if (l == NULL)
		return;
	if (l->mhd != NULL)
		MHD_stop_daemon(l->mhd);
	while ((it = l->head) != NULL) {
		l->head = it->next;
		json_decref(it->msg);
		free(it);
	}
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/*
 * next_push waits until a message is queued, the stop flag is set or the
 * monotonic deadline (0: none) passes. *out is the message (caller owns).
 */
static enum sa_err
next_push(struct device_listener *l, uint64_t deadline_ms,
	  volatile sig_atomic_t *stop, json_t **out)
{
	struct push_item *it;
	enum sa_err rc = SA_OK;

	pthread_mutex_lock(&l->mu);
	while (l->head == NULL) {
		struct timespec ts;
		uint64_t now = now_mono_ms();
		if (stop != NULL && *stop) {
			rc = SA_ERR_SHUTTING_DOWN;
			goto out;
		}
		if (deadline_ms != 0 && now >= deadline_ms) {
			rc = SA_ERR_TIMEOUT;
			goto out;
		}
		/* Wake at least every 200 ms to notice the stop flag, which a
		 * signal handler cannot signal through the condition. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	it = l->head;
	l->head = it->next;
	if (l->head == NULL)
		l->tail = NULL;
	l->queued--;
	*out = it->msg;
	free(it);
out:
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* ---- answering pushes -------------------------------------------------- */

/*
 * put_safe prints text from the network with control characters (C0, DEL
 * and the C1 range in UTF-8) replaced, so a push cannot drive the terminal.
 */
static void
put_safe(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "-");

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			fputc('?', f);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fputc('?', f);
			p++;
		} else
			fputc(*p, f);
	}
}

static const char *
field(const json_t *m, const char *name)
{
	return json_string_value(json_object_get(m, name));
}

/* parse_iso reads "YYYY-MM-DDTHH:MM:SS[.fff]Z"; returns -1 if it cannot. */
static int64_t
parse_iso(const char *s)
{
	struct tm tm;
	const char *rest;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL || (*rest != 'Z' && *rest != '.'))
		return -1;
	return (int64_t)timegm(&tm);
}

/*
 * print_block shows a login push the way a phone would: service, code,
 * scopes, where the login was started and when it expires.
 */
static void
print_block(FILE *f, const json_t *m, int64_t now)
{
	const char *otp = field(m, "otp"), *exp = field(m, "expiresAt");
	const json_t *scopes = json_object_get(m, "scopes"), *v;
	int64_t t = parse_iso(exp);
	size_t i;

	fprintf(f, "\n--- login request ----------------------------------\n");
	fprintf(f, "service:  ");
	put_safe(f, field(m, "serviceName"));
	fprintf(f, "\ncode:     ");
	if (otp != NULL)
		fprintf(f,
			"%.3s %.3s   (it must match the code in your "
			"browser)",
			otp, otp + 3);
	else
		fprintf(f, "(not sent: type the code shown in your browser)");
	fprintf(f, "\nscopes:   ");
	if (json_array_size(scopes) == 0)
		fprintf(f, "(none)");
	json_array_foreach(scopes, i, v)
	{
		if (i > 0)
			fprintf(f, ", ");
		put_safe(f, json_string_value(v));
	}
	fprintf(f, "\nfrom:     ");
	put_safe(f, field(m, "origin"));
	fprintf(f, " (IP ");
	put_safe(f, field(m, "requestIp"));
	fprintf(f, ")\nbrowser:  ");
	put_safe(f, field(m, "userAgent"));
	fprintf(f, "\nsession:  ");
	put_safe(f, field(m, "sessionId"));
	fprintf(f, "\nexpires:  ");
	put_safe(f, exp);
	if (t >= 0)
		fprintf(f, t > now ? " (in %" PRId64 " s)" : " (expired)",
			t - now);
	fprintf(f, "\n----------------------------------------------------\n");
	fflush(f);
}

/* emit writes one JSON event line to f (may be NULL); it steals ev. */
static void
emit(FILE *f, json_t *ev)
{
	if (f != NULL && ev != NULL) {
		json_dumpf(ev, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', f);
		fflush(f);
	}
	json_decref(ev);
}

/* ask_line prints a question and reads one answer line into out. */
static int
ask_line(const struct device_listen_opts *o, const char *q, char *out,
	 size_t cap)
{
	size_t n;

	if (o->tty_in == NULL)
		return 0;
	fprintf(o->tty_out ? o->tty_out : stderr, "%s", q);
	fflush(o->tty_out ? o->tty_out : stderr);
	if (fgets(out, (int)cap, o->tty_in) == NULL)
		return 0;
	n = strlen(out);
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		out[--n] = '\0';
	return 1;
}

/* typed_code gets the code in type mode: --type-otp or asked. */
static int
typed_code(const struct device_listen_opts *o, char out[DEVICE_OTP_LEN + 1])
{
	char line[64];
	size_t k = 0;
	const char *src = o->type_otp;

	if (src == NULL) {
		if (!ask_line(o, "Type the code shown in your browser: ", line,
			      sizeof(line)))
			return 0;
		src = line;
	}
	/* "123 456" as the browser shows it is fine too. */
	for (; *src != '\0'; src++) {
		if (*src == ' ')
			continue;
		if (!isdigit((unsigned char)*src) || k >= DEVICE_OTP_LEN)
			return 0;
		out[k++] = *src;
	}
	out[k] = '\0';
	return k == DEVICE_OTP_LEN;
}

/*
 * grants builds the scopes to grant: those requested, or when a grant list
 * is given those requested that are also on it (a grant beyond the request
 * would only get the answer refused). The strings are borrowed from msg and
 * from the list copy in spare.
 */
static size_t
grants(const json_t *msg, char *spare, const char *v[DEVICE_SCOPES_MAX])
{
	const json_t *scopes = json_object_get(msg, "scopes"), *e;
	size_t i, n = 0;

	json_array_foreach(scopes, i, e)
	{
		const char *s = json_string_value(e);
		int ok = spare == NULL;
		if (spare != NULL) {
			const char *p = spare;
			size_t len = strlen(s);
			while (*p != '\0') {
				const char *q = strchr(p, ',');
				size_t plen = q ? (size_t)(q - p) : strlen(p);
				if (plen == len && memcmp(p, s, len) == 0)
					ok = 1;
				p += plen + (q != NULL);
			}
		}
		if (ok && n < DEVICE_SCOPES_MAX)
			v[n++] = s;
	}
	return n;
}

/*
 * handle_login decides on one login push and sends the answer. Returns
 * SA_OK when no answer was needed or the server said 200.
 */
static enum sa_err
handle_login(struct device *d, const json_t *msg,
	     const struct device_listen_opts *o)
{
	const char *sid = field(msg, "sessionId"), *otp = field(msg, "otp");
	const char *v[DEVICE_SCOPES_MAX], *decision;
	char typed[DEVICE_OTP_LEN + 1], line[16];
	struct device_reply r = {0};
	int64_t now = now_unix(), exp = parse_iso(field(msg, "expiresAt"));
	size_t n = 0;
	json_t *arr;
	enum sa_err rc;

	print_block(o->out, msg, now);
	if (exp >= 0 && exp <= now) {
		/* The server would refuse it; a phone shows it as expired. */
		fprintf(o->out, "this request has expired; not answering\n");
		emit(o->json, json_pack("{s:s, s:s}", "event", "expired",
					"sessionId", sid));
		return SA_OK;
	}
	if (o->mode == DEVICE_MODE_ASK) {
		if (!ask_line(o, "Approve? [y/N] ", line, sizeof(line))) {
			fprintf(o->out, "no answer from the terminal\n");
			return SA_ERR_PUSH;
		}
		decision = (strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 ||
			    strcmp(line, "yes") == 0)
			       ? "approve"
			       : "reject";
	} else {
		decision =
		    o->mode == DEVICE_MODE_APPROVE ? "approve" : "reject";
	}
	if (otp == NULL) {
		if (!typed_code(o, typed)) {
			fprintf(o->out, "no six-digit code to answer with "
					"(use --type-otp or a terminal)\n");
			emit(o->json,
			     json_pack("{s:s, s:s, s:s}", "event", "error",
				       "sessionId", sid, "error", "no_code"));
			return SA_ERR_PUSH;
		}
		otp = typed;
	}
	if (strcmp(decision, "approve") == 0) {
		char *spare = o->scopes ? strdup(o->scopes) : NULL;
		if (o->scopes != NULL && spare == NULL)
			return SA_ERR_NOMEM;
		n = grants(msg, spare, v);
		n = sorted_unique(v, n);
		rc = device_answer(d, o->server, sid, otp, decision, v, n, now,
				   &r);
		free(spare);
	} else {
		rc = device_answer(d, o->server, sid, otp, decision, NULL, 0,
				   now, &r);
	}
	if (rc != SA_OK) {
		fprintf(o->out, "%s: could not reach the server: %s\n",
			decision, sa_err_str(rc));
		emit(o->json, json_pack("{s:s, s:s, s:s, s:s}", "event",
					"error", "sessionId", sid, "decision",
					decision, "error", sa_err_code(rc)));
		return SA_ERR_PUSH;
	}
	fprintf(o->out, "%s sent; server answered %ld: ", decision, r.status);
	put_safe(o->out, r.text);
	fprintf(o->out, "\n");
	fflush(o->out);
	if (o->json != NULL && (arr = json_array()) != NULL) {
		for (size_t i = 0; i < n && strcmp(decision, "approve") == 0;
		     i++)
			json_array_append_new(arr, json_string(v[i]));
		emit(o->json,
		     json_pack("{s:s, s:s, s:s, s:o, s:I, s:O?}", "event",
			       "answer", "sessionId", sid, "decision", decision,
			       "grantedScopes", arr, "status",
			       (json_int_t)r.status, "response", r.json));
	}
	rc = r.status == 200 ? SA_OK : SA_ERR_PUSH;
	device_reply_free(&r);
	return rc;
}

enum sa_err
device_listen_run(struct device *d, struct device_listener *l,
		  const struct device_listen_opts *o)
{
	unsigned int handled = 0;
	int failed = 0;
	enum sa_err rc;

	for (;;) {
		json_t *msg = NULL;
		uint64_t deadline =
		    o->timeout ? now_mono_ms() + (uint64_t)o->timeout * 1000
			       : 0;
		if (o->count != 0 && handled >= o->count)
			break;
		rc = next_push(l, deadline, o->stop, &msg);
		if (rc == SA_ERR_SHUTTING_DOWN)
			break;
		if (rc == SA_ERR_TIMEOUT) {
			fprintf(o->out, "no push arrived within %u s\n",
				o->timeout);
			emit(o->json, json_pack("{s:s}", "event", "timeout"));
			return SA_ERR_TIMEOUT;
		}
		emit(o->json,
		     json_pack("{s:s, s:O}", "event", "push", "message", msg));
		if (json_object_get(msg, "type") != NULL) {
			const char *t = field(msg, "type");
			fprintf(o->out, "\n--- notice: ");
			put_safe(o->out, t);
			fprintf(o->out, " ---\n");
			if (strcmp(t, "enrollment_replaced") == 0)
				fprintf(o->out, "this device's enrollment was "
						"replaced by another device\n");
			{
				char *s = json_dumps(
				    msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
				put_safe(o->out, s);
				fputc('\n', o->out);
				free(s);
			}
			fflush(o->out);
		} else if (handle_login(d, msg, o) != SA_OK) {
			failed = 1;
		}
		json_decref(msg);
		handled++;
	}
	return failed ? SA_ERR_PUSH : SA_OK;
}
