/*
 * test_push_fcm.c - the FCM HTTP v1 provider against a fake Google served by
 * libmicrohttpd on 127.0.0.1: the token endpoint verifies the RS256
 * assertion with the public half of a key pair made here, the send endpoint
 * checks the project path, the bearer token and the message shape. Also:
 * token caching and refresh, 401, retries, final errors and service-account
 * files that must be refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/log.h"
#include "push/push_int.h"
#include "fake_http.h"
#include "support.h"
#include "core/util.h"

#define DEADLINE_MS 10000
#define PROJECT "sealauth-test-1"
#define EMAIL "push@sealauth-test-1.iam.gserviceaccount.com"
#define SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define DEVICE_TOKEN "dEvIcE-ToKeN:APA91b_example"

static EVP_PKEY *test_key; /* RSA 2048, made once */
static char *test_key_pem; /* its private half, PKCS#8 PEM */

/* ---- the fake FCM ------------------------------------------------------- */

struct fake {
	struct fake_http *h;
	unsigned short port;
	char token_url[96];
	pthread_mutex_t mu;
	int token_hits;
	int send_hits;
	int bad_assertions; /* token requests that failed verification */
	int bad_sends;	    /* send requests that failed a check */
	char bad_why[256];
	long expires_in;
	int token_status;     /* answer of the token endpoint, 200 */
	int issued;	      /* tokens issued so far */
	char valid_token[64]; /* the one bearer token accepted */
	int script[8];	      /* statuses of the first sends */
	int nscript;
	int unregistered;  /* answer 404 UNREGISTERED */
	json_t *last_data; /* the data map of the last good send */
};

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *body)
{
	return fake_http_reply(c, status, "application/json", body, NULL);
}

/* Records why a request was refused; the caller holds f->mu. */
static void
note_bad(struct fake *f, int *counter, const char *why)
{
	(*counter)++;
	snprintf(f->bad_why, sizeof(f->bad_why), "%s", why);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* form_value finds name in an x-www-form-urlencoded body and decodes it
 * into out; 0 when absent or malformed. */
static int
form_value(const char *body, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name), j = 0;
	const char *p = body;

	while (p != NULL && *p) {
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			for (p += nl + 1; *p && *p != '&'; p++) {
				int c = (unsigned char)*p;
				if (c == '%') {
					int h = hexval(p[1]), l = -1;
					if (h >= 0)
						l = hexval(p[2]);
					if (l < 0)
						return 0;
					c = h * 16 + l;
					p += 2;
				} else if (c == '+') {
					c = ' ';
				}
				if (j + 1 >= n)
					return 0;
				out[j++] = (char)c;
			}
			out[j] = '\0';
			return 1;
		}
		p = strchr(p, '&');
		if (p != NULL)
			p++;
	}
	return 0;
}

static json_t *
b64url_json(const char *s, size_t n)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	json_t *v;

	if (b64url_decode(s, n, 8192, &raw, &len) != SA_OK)
		return NULL;
	v = json_loadb((char *)raw, len, 0, NULL);
	free(raw);
	return v;
}

/*
 * verify_assertion checks the JWT as Google would: three parts, header
 * RS256/JWT, signature by the account key, and the claims. NULL when good.
 */
static const char *
verify_assertion(struct fake *f, const char *jwt)
{
	const char *d1 = strchr(jwt, '.'),
		   *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	json_t *hdr = NULL, *cl = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *md = NULL;
	const char *why = NULL;
	json_int_t iat, exp;

	if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL)
		return "not three parts";
	hdr = b64url_json(jwt, (size_t)(d1 - jwt));
	cl = b64url_json(d1 + 1, (size_t)(d2 - d1 - 1));
	if (hdr == NULL || cl == NULL) {
		why = "header or claims not base64url JSON";
		goto out;
	}
	if (json_object_size(hdr) != 2 ||
	    strcmp(json_string_value(json_object_get(hdr, "alg")), "RS256") ||
	    strcmp(json_string_value(json_object_get(hdr, "typ")), "JWT")) {
		why = "header";
		goto out;
	}
	if (b64url_decode(d2 + 1, strlen(d2 + 1), 4096, &sig, &siglen) !=
	    SA_OK) {
		why = "signature encoding";
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, test_key) != 1 ||
	    EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt,
			     (size_t)(d2 - jwt)) != 1) {
		why = "signature";
		goto out;
	}
	iat = json_integer_value(json_object_get(cl, "iat"));
	exp = json_integer_value(json_object_get(cl, "exp"));
	if (!json_is_string(json_object_get(cl, "iss")) ||
	    strcmp(json_string_value(json_object_get(cl, "iss")), EMAIL) ||
	    !json_is_string(json_object_get(cl, "scope")) ||
	    strcmp(json_string_value(json_object_get(cl, "scope")), SCOPE) ||
	    !json_is_string(json_object_get(cl, "aud")) ||
	    strcmp(json_string_value(json_object_get(cl, "aud")),
		   f->token_url)) {
		why = "iss, scope or aud";
		goto out;
	}
	if (exp != iat + 3600 || iat < now_unix() - 60 ||
	    iat > now_unix() + 60) {
		why = "iat or exp";
		goto out;
	}
out:
	EVP_MD_CTX_free(md);
	free(sig);
	json_decref(hdr);
	json_decref(cl);
	return why;
}

static enum MHD_Result
token_endpoint(struct fake *f, struct MHD_Connection *c, const char *body)
{
	char grant[128], jwt[8192], out[256];
	const char *ct, *why;

	pthread_mutex_lock(&f->mu);
	f->token_hits++;
	ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	if (ct == NULL ||
	    strcmp(ct, "application/x-www-form-urlencoded") != 0 ||
	    !form_value(body, "grant_type", grant, sizeof(grant)) ||
	    strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0 ||
	    !form_value(body, "assertion", jwt, sizeof(jwt))) {
		note_bad(f, &f->bad_assertions, "form");
		pthread_mutex_unlock(&f->mu);
		return reply(c, 400, "{\"error\":\"invalid_request\"}");
	}
	why = verify_assertion(f, jwt);
	if (why != NULL) {
		note_bad(f, &f->bad_assertions, why);
		pthread_mutex_unlock(&f->mu);
		return reply(c, 400, "{\"error\":\"invalid_grant\"}");
	}
	if (f->token_status != 200) {
		int st = f->token_status;
		pthread_mutex_unlock(&f->mu);
		return reply(
		    c, (unsigned)st,
		    "{\"error\":\"invalid_grant\",\"error_description\":"
		    "\"Invalid JWT Signature.\"}");
	}
	snprintf(f->valid_token, sizeof(f->valid_token), "ya29.test-%d",
		 ++f->issued);
	snprintf(out, sizeof(out),
		 "{\"access_token\":\"%s\",\"expires_in\":%ld,"
		 "\"token_type\":\"Bearer\"}",
		 f->valid_token, f->expires_in);
	pthread_mutex_unlock(&f->mu);
	return reply(c, 200, out);
}

/* check_message returns NULL when the send body has the FCM v1 shape. */
static const char *
check_message(json_t *root, json_t **data_out)
{
	json_t *m = json_object_get(root, "message"), *data, *v;
	const char *k;

	if (!json_is_object(m) ||
	    !json_is_string(json_object_get(m, "token")) ||
	    strcmp(json_string_value(json_object_get(m, "token")),
		   DEVICE_TOKEN) != 0)
		return "message.token";
	data = json_object_get(m, "data");
	if (!json_is_object(data) || json_object_size(data) == 0)
		return "message.data";
	json_object_foreach(data, k, v)
	{
		if (!json_is_string(v))
			return "a data value is not a string";
	}
	if (!json_is_string(
		json_object_get(json_object_get(m, "android"), "priority")) ||
	    strcmp(json_string_value(json_object_get(
		       json_object_get(m, "android"), "priority")),
		   "high") != 0)
		return "android.priority";
	v = json_object_get(
	    json_object_get(json_object_get(m, "apns"), "headers"),
	    "apns-priority");
	if (!json_is_string(v) || strcmp(json_string_value(v), "10") != 0)
		return "apns.headers";
	*data_out = json_incref(data);
	return NULL;
}

static enum MHD_Result
send_endpoint(struct fake *f, struct MHD_Connection *c, const char *body,
	      size_t len)
{
	const char *auth, *why;
	char want[128];
	json_t *root, *data = NULL;
	int st;

	pthread_mutex_lock(&f->mu);
	f->send_hits++;
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	snprintf(want, sizeof(want), "Bearer %s", f->valid_token);
	if (auth == NULL || f->valid_token[0] == '\0' ||
	    strcmp(auth, want) != 0) {
		pthread_mutex_unlock(&f->mu);
		return reply(c, 401,
			     "{\"error\":{\"code\":401,\"message\":\"Request "
			     "had invalid authentication credentials.\","
			     "\"status\":\"UNAUTHENTICATED\"}}");
	}
	root = json_loadb(body, len, 0, NULL);
	why = check_message(root, &data);
	json_decref(root);
	if (why != NULL) {
		note_bad(f, &f->bad_sends, why);
		pthread_mutex_unlock(&f->mu);
		return reply(c, 400,
			     "{\"error\":{\"code\":400,\"status\":"
			     "\"INVALID_ARGUMENT\",\"message\":\"bad\"}}");
	}
	json_decref(f->last_data);
	f->last_data = data;
	if (f->unregistered) {
		pthread_mutex_unlock(&f->mu);
		return reply(
		    c, 404,
		    "{\"error\":{\"code\":404,\"message\":\"Requested entity "
		    "was not found.\",\"status\":\"NOT_FOUND\",\"details\":[{"
		    "\"@type\":\"type.googleapis.com/"
		    "google.firebase.fcm.v1.FcmError\",\"errorCode\":"
		    "\"UNREGISTERED\"}]}}");
	}
	st = 200;
	if (f->nscript > 0) {
		st = f->script[0];
		memmove(f->script, f->script + 1,
			(size_t)(--f->nscript) * sizeof(int));
	}
	pthread_mutex_unlock(&f->mu);
	if (st != 200)
		return reply(c, (unsigned)st,
			     "{\"error\":{\"code\":500,\"status\":"
			     "\"INTERNAL\",\"message\":\"try later\"}}");
	return reply(c, 200,
		     "{\"name\":\"projects/" PROJECT "/messages/0:1\"}");
}

/* fake_answer routes a complete request to the token or the send endpoint.
 */
static enum MHD_Result
fake_answer(void *arg, const struct fake_http_req *rq)
{
	struct fake *f = arg;

	if (rq->overflow)
		return MHD_NO;
	if (strcmp(rq->method, "POST") == 0 && strcmp(rq->url, "/token") == 0)
		return token_endpoint(f, rq->c, rq->body);
	if (strcmp(rq->method, "POST") == 0 &&
	    strcmp(rq->url, "/v1/projects/" PROJECT "/messages:send") == 0)
		return send_endpoint(f, rq->c, rq->body, rq->len);
	return reply(rq->c, 404, "{\"error\":{\"status\":\"NOT_FOUND\"}}");
}

static struct fake *
fake_start(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct fake_http_hooks hooks = {fake_answer, NULL, NULL, f};

	assert_non_null(f);
	pthread_mutex_init(&f->mu, NULL);
	f->expires_in = 3600;
	f->token_status = 200;
	f->h = fake_http_start(&hooks);
	f->port = fake_http_port(f->h);
	snprintf(f->token_url, sizeof(f->token_url),
		 "http://127.0.0.1:%u/token", f->port);
	return f;
}

static int
fake_get(struct fake *f, const int *field)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = *field;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void
fake_stop(struct fake *f)
{
	fake_http_stop(f->h);
	if (f->bad_assertions || f->bad_sends)
		print_message("fake FCM refused: %s\n", f->bad_why);
	json_decref(f->last_data);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/* ---- service-account files ---------------------------------------------- */

/* write_account writes a service-account JSON (reference stolen) to a new
 * temporary file whose path is returned in path. */
static void
write_account(json_t *acct, char path[64])
{
	char *text = json_dumps(acct, JSON_INDENT(2));
	int fd;

	assert_non_null(text);
	snprintf(path, 64, "/tmp/test_push_fcm_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600),
			 SA_OK);
	free(text);
	json_decref(acct);
}

static json_t *
good_account(const char *token_uri)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type",
			      "service_account", "project_id", PROJECT,
			      "private_key_id", "0123abcd", "private_key",
			      test_key_pem, "client_email", EMAIL, "client_id",
			      "1234567890", "token_uri", token_uri);

	assert_non_null(a);
	return a;
}

/* ---- callbacks ---------------------------------------------------------- */

struct outcome {
	int calls;
	enum sa_err rc;
	int attempts;
	char reason[PUSH_REASON_MAX];
	char provider[16];
	uint64_t at_ms;
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t out_cv = PTHREAD_COND_INITIALIZER;
static int out_total;

static void
on_done(enum sa_err rc, const char *provider, const char *reason, int attempts,
	void *arg)
{
	struct outcome *o = arg;

	pthread_mutex_lock(&out_mu);
	o->calls++;
	o->rc = rc;
	o->attempts = attempts;
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
	snprintf(o->provider, sizeof(o->provider), "%s", provider);
	o->at_ms = now_mono_ms();
	out_total++;
	pthread_cond_broadcast(&out_cv);
	pthread_mutex_unlock(&out_mu);
}

static int
wait_total(int n)
{
	struct timespec ts;
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += DEADLINE_MS / 1000;
	pthread_mutex_lock(&out_mu);
	while (out_total < n &&
	       pthread_cond_timedwait(&out_cv, &out_mu, &ts) == 0)
		;
	ok = out_total >= n;
	pthread_mutex_unlock(&out_mu);
	return ok;
}

static json_t *
login_msg(void)
{
	json_t *m = json_pack(
	    "{s:s, s:s, s:s, s:[s,s], s:s, s:s, s:s, s:s, s:s, s:i, s:b, "
	    "s:n}",
	    "sessionId", "sess_F1rst", "otp", "961377", "serviceName",
	    "Example Shop", "scopes", "identity:name", "identity:age_over_18",
	    "random", "q8Zr", "expiresAt", "2030-01-01T00:00:00Z", "origin",
	    "https://shop.example", "requestIp", "203.0.113.7", "userAgent",
	    "Mozilla/5.0", "attempt", 2, "typeMode", 0, "nothing");

	assert_non_null(m);
	return m;
}

/* A test's world: the fake, an account file pointing at it, a pusher. */
struct world {
	struct fake *f;
	struct pusher *p;
	char path[64];
};

static void
world_open(struct world *w, int attempts, long backoff_ms, int workers,
	   long expires_in)
{
	struct push_config cfg = {0};
	char send_url[64];

	w->f = fake_start();
	w->f->expires_in = expires_in;
	write_account(good_account(w->f->token_url), w->path);
	snprintf(send_url, sizeof(send_url), "http://127.0.0.1:%u/",
		 w->f->port);
	cfg.fcm_service_account_path = w->path;
	cfg.fcm_send_url = send_url;
	cfg.allow_private_targets = 1;
	cfg.timeout_ms = 2000;
	cfg.max_attempts = attempts;
	cfg.backoff_ms = backoff_ms;
	cfg.workers = workers;
	assert_int_equal(push_open(&cfg, &w->p), SA_OK);
	assert_string_equal(push_mode(w->p), "fcm+unifiedpush");
}

static void
world_close(struct world *w)
{
	push_close(w->p);
	assert_int_equal(fake_get(w->f, &w->f->bad_assertions), 0);
	assert_int_equal(fake_get(w->f, &w->f->bad_sends), 0);
	fake_stop(w->f);
	unlink(w->path);
}

static void
send_fcm(struct world *w, struct outcome *o)
{
	struct push_target t = {DEVICE_TOKEN, NULL};

	assert_int_equal(push_send(w->p, &t, login_msg(), on_done, o), SA_OK);
}

static int
setup(void **state)
{
	log_set_level(SA_LOG_OFF);
	pthread_mutex_lock(&out_mu);
	out_total = 0;
	pthread_mutex_unlock(&out_mu);
	return 0;
}

static int
group_setup(void **state)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	test_key = EVP_RSA_gen(2048);
	if (test_key == NULL || bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, test_key, NULL, NULL, 0, NULL,
				     NULL) != 1)
		return -1;
	n = BIO_get_mem_data(bio, &p);
	test_key_pem = strndup(p, (size_t)n);
	BIO_free(bio);
	return test_key_pem == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	EVP_PKEY_free(test_key);
	free(test_key_pem);
	return 0;
}

/* ---- cases -------------------------------------------------------------- */

static void
test_fcm_delivers(void **state)
{
	struct world w;
	struct outcome o = {0};
	json_t *d;

	world_open(&w, 3, 10, 2, 3600);
	send_fcm(&w, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_OK);
	assert_int_equal(o.attempts, 1);
	assert_string_equal(o.provider, "fcm");
	assert_int_equal(fake_get(w.f, &w.f->token_hits), 1);
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 1);

	pthread_mutex_lock(&w.f->mu);
	d = w.f->last_data;
	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "sessionId")),
			    "sess_F1rst");
	assert_string_equal(json_string_value(json_object_get(d, "otp")),
			    "961377");
	assert_string_equal(json_string_value(json_object_get(d, "scopes")),
			    "[\"identity:name\",\"identity:age_over_18\"]");
	assert_string_equal(json_string_value(json_object_get(d, "attempt")),
			    "2");
	assert_string_equal(json_string_value(json_object_get(d, "typeMode")),
			    "false");
	assert_null(json_object_get(d, "nothing")); /* nulls are left out */
	assert_string_equal(json_string_value(json_object_get(d, "userAgent")),
			    "Mozilla/5.0");
	pthread_mutex_unlock(&w.f->mu);
	world_close(&w);
}

/* One access token serves many sends, also when they run concurrently:
 * only one refresh happens at a time. */
static void
test_fcm_token_reused(void **state)
{
	struct world w;
	struct outcome o[12];

	memset(o, 0, sizeof(o));
	world_open(&w, 3, 10, 4, 3600);
	for (int i = 0; i < 12; i++)
		send_fcm(&w, &o[i]);
	assert_true(wait_total(12));
	for (int i = 0; i < 12; i++) {
		assert_int_equal(o[i].calls, 1);
		assert_int_equal(o[i].rc, SA_OK);
	}
	assert_int_equal(fake_get(w.f, &w.f->token_hits), 1);
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 12);
	world_close(&w);
}

/* A token is used until 60 s before it expires: with expires_in 61 it is
 * good for one second. */
static void
test_fcm_expired_token_refreshed(void **state)
{
	struct world w;
	struct outcome o[3];

	memset(o, 0, sizeof(o));
	world_open(&w, 3, 10, 1, 61);
	send_fcm(&w, &o[0]);
	assert_true(wait_total(1));
	send_fcm(&w, &o[1]);
	assert_true(wait_total(2));
	assert_int_equal(fake_get(w.f, &w.f->token_hits), 1);
	sleep_ms(1100);
	send_fcm(&w, &o[2]);
	assert_true(wait_total(3));
	for (int i = 0; i < 3; i++)
		assert_int_equal(o[i].rc, SA_OK);
	assert_int_equal(fake_get(w.f, &w.f->token_hits), 2);
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 3);
	world_close(&w);
}

/* The service forgets our token: one 401, one refresh, then success within
 * the same attempt. */
static void
test_fcm_401_refreshes_once(void **state)
{
	struct world w;
	struct outcome o[2];

	memset(o, 0, sizeof(o));
	world_open(&w, 3, 10, 1, 3600);
	send_fcm(&w, &o[0]);
	assert_true(wait_total(1));
	pthread_mutex_lock(&w.f->mu);
	snprintf(w.f->valid_token, sizeof(w.f->valid_token), "revoked");
	pthread_mutex_unlock(&w.f->mu);
	send_fcm(&w, &o[1]);
	assert_true(wait_total(2));
	assert_int_equal(o[1].rc, SA_OK);
	assert_int_equal(o[1].attempts, 1);
	assert_int_equal(fake_get(w.f, &w.f->token_hits), 2);
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 3);
	world_close(&w);
}

static void
test_fcm_5xx_retried_with_backoff(void **state)
{
	struct world w;
	struct outcome o = {0};
	uint64_t t0;

	world_open(&w, 3, 60, 1, 3600);
	w.f->script[0] = 500;
	w.f->script[1] = 503;
	w.f->nscript = 2;
	t0 = now_mono_ms();
	send_fcm(&w, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_OK);
	assert_int_equal(o.attempts, 3);
	assert_true(o.at_ms - t0 >= 60 + 120); /* 60 ms, then doubled */
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 3);
	assert_int_equal(fake_get(w.f, &w.f->token_hits), 1);
	world_close(&w);
}

static void
test_fcm_5xx_exhausts_attempts(void **state)
{
	struct world w;
	struct outcome o = {0};

	world_open(&w, 2, 10, 1, 3600);
	w.f->script[0] = 500;
	w.f->script[1] = 500;
	w.f->script[2] = 500;
	w.f->nscript = 3;
	send_fcm(&w, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_ERR_PUSH);
	assert_int_equal(o.attempts, 2);
	assert_non_null(strstr(o.reason, "INTERNAL"));
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 2);
	world_close(&w);
}

static void
test_fcm_unregistered_is_final(void **state)
{
	struct world w;
	struct outcome o = {0};

	world_open(&w, 3, 10, 1, 3600);
	w.f->unregistered = 1;
	send_fcm(&w, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_ERR_PUSH);
	assert_int_equal(o.attempts, 1);
	assert_non_null(strstr(o.reason, "NOT_FOUND"));
	assert_non_null(strstr(o.reason, "UNREGISTERED"));
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 1);
	world_close(&w);
}

/* A refused grant (revoked key) is final and says what the endpoint said. */
static void
test_fcm_token_refused_is_final(void **state)
{
	struct world w;
	struct outcome o = {0};

	world_open(&w, 3, 10, 1, 3600);
	w.f->token_status = 400;
	send_fcm(&w, &o);
	assert_true(wait_total(1));
	assert_int_equal(o.rc, SA_ERR_PUSH);
	assert_int_equal(o.attempts, 1);
	assert_non_null(strstr(o.reason, "invalid_grant"));
	assert_int_equal(fake_get(w.f, &w.f->send_hits), 0);
	world_close(&w);
}

/* ---- service-account files that must be refused ------------------------- */

struct capture {
	int saved;
	char path[64];
};

static void
capture_start(struct capture *c)
{
	int fd;

	snprintf(c->path, sizeof(c->path), "/tmp/test_push_fcm_log_XXXXXX");
	fd = mkstemp(c->path);
	assert_true(fd >= 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	close(fd);
}

static char *
capture_stop(struct capture *c)
{
	unsigned char *text = NULL;
	size_t n = 0;

	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	assert_int_equal(read_file(c->path, 1 << 20, &text, &n), SA_OK);
	unlink(c->path);
	return (char *)text;
}

/* open_expect_refused opens a pusher on the account file and expects
 * SA_ERR_CONFIG with a log line that mentions want. */
static void
open_expect_refused(const char *path, const char *want)
{
	struct push_config cfg = {0};
	struct pusher *p = NULL;
	struct capture cap;
	char *logged;
	enum sa_err rc;

	cfg.fcm_service_account_path = path;
	log_set_level(SA_LOG_ERROR);
	capture_start(&cap);
	rc = push_open(&cfg, &p);
	logged = capture_stop(&cap);
	log_set_level(SA_LOG_OFF);
	assert_int_equal(rc, SA_ERR_CONFIG);
	assert_null(p);
	if (strstr(logged, want) == NULL)
		fail_msg("log does not name %s: %s", want, logged);
	free(logged);
}

static void
test_fcm_bad_accounts(void **state)
{
	static const char *const fields[] = {
	    "type", "project_id", "client_email", "private_key", "token_uri"};
	char path[64];
	json_t *a;
	EVP_PKEY *ec;
	BIO *bio;
	char *pem = NULL;
	long n;

	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		a = good_account("https://oauth2.googleapis.com/token");
		json_object_del(a, fields[i]);
		write_account(a, path);
		open_expect_refused(path, fields[i]);
		unlink(path);

		a = good_account("https://oauth2.googleapis.com/token");
		json_object_set_new(a, fields[i], json_integer(7));
		write_account(a, path);
		open_expect_refused(path, fields[i]);
		unlink(path);
	}

	a = good_account("https://oauth2.googleapis.com/token");
	json_object_set_new(a, "type", json_string("authorized_user"));
	write_account(a, path);
	open_expect_refused(path, "\\\"type\\\"");
	unlink(path);

	a = good_account("https://oauth2.googleapis.com/token");
	json_object_set_new(a, "project_id", json_string("../../evil"));
	write_account(a, path);
	open_expect_refused(path, "project_id");
	unlink(path);

	a = good_account("https://oauth2.googleapis.com/token");
	json_object_set_new(a, "private_key",
			    json_string("-----BEGIN PRIVATE KEY-----\nAAAA\n"
					"-----END PRIVATE KEY-----\n"));
	write_account(a, path);
	open_expect_refused(path, "private_key");
	unlink(path);

	/* RS256 needs RSA: a P-256 key is refused. */
	ec = EVP_EC_gen("P-256");
	bio = BIO_new(BIO_s_mem());
	assert_non_null(ec);
	assert_int_equal(
	    PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &pem);
	a = good_account("https://oauth2.googleapis.com/token");
	json_object_set_new(a, "private_key", json_stringn(pem, (size_t)n));
	BIO_free(bio);
	EVP_PKEY_free(ec);
	write_account(a, path);
	open_expect_refused(path, "RSA");
	unlink(path);

	a = good_account("ftp://oauth2.googleapis.com/token");
	write_account(a, path);
	open_expect_refused(path, "token_uri");
	unlink(path);

	/* Plain http would carry the assertion in clear: only with private
	 * targets allowed (tests). */
	a = good_account("http://127.0.0.1:9/token");
	write_account(a, path);
	open_expect_refused(path, "token_uri");
	unlink(path);

	write_account(json_pack("[s]", "not an object"), path);
	open_expect_refused(path, "not a JSON object");
	unlink(path);

	open_expect_refused("/nonexistent/sa.json", "cannot read");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_fcm_delivers, setup),
	    cmocka_unit_test_setup(test_fcm_token_reused, setup),
	    cmocka_unit_test_setup(test_fcm_expired_token_refreshed, setup),
	    cmocka_unit_test_setup(test_fcm_401_refreshes_once, setup),
	    cmocka_unit_test_setup(test_fcm_5xx_retried_with_backoff, setup),
	    cmocka_unit_test_setup(test_fcm_5xx_exhausts_attempts, setup),
	    cmocka_unit_test_setup(test_fcm_unregistered_is_final, setup),
	    cmocka_unit_test_setup(test_fcm_token_refused_is_final, setup),
	    cmocka_unit_test_setup(test_fcm_bad_accounts, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
