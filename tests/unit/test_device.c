/*
 * test_device.c - the phone simulator against a fake server on loopback.
 *
 * The fake server (libmicrohttpd on 127.0.0.1, any free port) implements
 * POST /enroll and POST /auth/verify just far enough to check what the
 * client sends: the enrollment fields and that the public key is a P-256
 * SPKI; for a verification, the timestamp within ±30 s, grantedScopes
 * sorted, and the signature checked with OpenSSL directly over a message the
 * test rebuilds itself. Pushes are POSTed to the device's listener the way
 * the server would. Every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/device.h"
#include "login/verify_msg.h"
#include "core/util.h"

#define SEAL_TEXT "DE02TESTSEALTEXT0123456789"
#define TOKEN_ID "tok-test-1"
#define JOIN_WAIT_S 15

/* ---- the fake server ---------------------------------------------------- */

struct fake {
	struct MHD_Daemon *mhd;
	unsigned int port;
	char url[64];
	pthread_mutex_t mu;
	unsigned int enroll_status; /* what /enroll answers */
	unsigned int verify_status; /* 0: decide by the checks */
	int enrolls;
	json_t *enroll_body;
	int enroll_key_ok; /* publicKeyPem is a P-256 SPKI */
	EVP_PKEY *device_pub;
	int verifies;
	json_t *verify_body;
	int verify_sig_ok;
	int verify_ts_ok;
	int verify_sorted;
};

struct fake_req {
	char *data;
	size_t len;
};

/* is_p256 checks a key with OpenSSL alone. */
static int
is_p256(EVP_PKEY *k)
{
	char name[64];
	size_t n = 0;

	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		return 0;
	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name,
					   sizeof(name), &n) != 1)
		return 0;
	return strcmp(name, "prime256v1") == 0;
}

/*
 * check_sig verifies a base64 raw r||s P-256 signature over msg with
 * OpenSSL: its own base64 decoder, its own DER encoding, EVP_DigestVerify.
 */
static int
check_sig(EVP_PKEY *pub, const char *msg, const char *b64)
{
	unsigned char raw[128], *der = NULL;
	size_t blen = strlen(b64);
	int n, derlen, ok = 0;
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *ctx = NULL;

	if (pub == NULL || blen != 88)
		return 0;
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)blen);
	if (n != 66 || b64[86] != '=' || b64[87] != '=')
		return 0;
	if ((sig = ECDSA_SIG_new()) == NULL)
		return 0;
	if (ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL),
			   BN_bin2bn(raw + 32, 32, NULL)) != 1)
		goto out;
	if ((derlen = i2d_ECDSA_SIG(sig, &der)) <= 0)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) != 1)
		goto out;
	ok = EVP_DigestVerify(ctx, der, (size_t)derlen,
			      (const unsigned char *)msg, strlen(msg)) == 1;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	return ok;
}

static enum MHD_Result
fake_reply(struct MHD_Connection *c, unsigned int status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
fake_enroll(struct fake *f, struct MHD_Connection *c, json_t *body)
{
	const char *pem =
	    json_string_value(json_object_get(body, "publicKeyPem"));
	unsigned int status;
	BIO *bio;
	EVP_PKEY *k = NULL;

	if (pem != NULL && (bio = BIO_new_mem_buf(pem, -1)) != NULL) {
		k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	pthread_mutex_lock(&f->mu);
	f->enrolls++;
	json_decref(f->enroll_body);
	f->enroll_body = json_incref(body);
	f->enroll_key_ok = k != NULL && is_p256(k);
	EVP_PKEY_free(f->device_pub);
	f->device_pub = k;
	status = f->enroll_status;
	pthread_mutex_unlock(&f->mu);
	if (status != 200)
		return fake_reply(c, status,
				  "{\"error\":\"seal_signature\",\"message\":"
				  "\"the seal signature does not verify\","
				  "\"field\":\"vdsData\"}");
	return fake_reply(c, 200,
			  "{\"enrolled\":true,\"tokenId\":\"" TOKEN_ID
			  "\",\"expiresAt\":\"2030-01-01T00:00:00Z\"}");
}

static enum MHD_Result
fake_verify(struct fake *f, struct MHD_Connection *c, json_t *body)
{
	const char *sid = json_string_value(json_object_get(body, "sessionId"));
	const char *otp = json_string_value(json_object_get(body, "otp"));
	const char *dec = json_string_value(json_object_get(body, "decision"));
	const char *sig = json_string_value(json_object_get(body, "signature"));
	json_t *ts = json_object_get(body, "timestamp");
	json_t *gs = json_object_get(body, "grantedScopes"), *v;
	const char *scopes[VERIFY_MSG_SCOPES_MAX];
	char *msg = NULL;
	size_t i, n = 0;
	int sorted = json_is_array(gs), ts_ok, sig_ok = 0;
	unsigned int status;
	const char *prev = NULL;

	ts_ok = json_is_integer(ts) && llabs((long long)json_integer_value(ts) -
					     (long long)time(NULL)) <= 30;
	json_array_foreach(gs, i, v)
	{
		const char *s = json_string_value(v);
		if (s == NULL || n >= VERIFY_MSG_SCOPES_MAX ||
		    (prev != NULL && strcmp(prev, s) >= 0))
			sorted = 0;
		else
			scopes[n++] = s;
		prev = s;
	}
	if (sig != NULL && ts_ok && sorted &&
	    verify_msg_build(sid, otp, json_integer_value(ts), dec, scopes, n,
			     &msg) == SA_OK) {
		pthread_mutex_lock(&f->mu);
		sig_ok = check_sig(f->device_pub, msg, sig);
		pthread_mutex_unlock(&f->mu);
	}
	free(msg);
	pthread_mutex_lock(&f->mu);
	f->verifies++;
	json_decref(f->verify_body);
	f->verify_body = json_incref(body);
	f->verify_sig_ok = sig_ok;
	f->verify_ts_ok = ts_ok;
	f->verify_sorted = sorted;
	status = f->verify_status;
	pthread_mutex_unlock(&f->mu);
	if (status != 0)
		return fake_reply(c, status, "{\"error\":\"replay\"}");
	if (!sig_ok || !ts_ok || !sorted)
		return fake_reply(c, 401, "{\"error\":\"bad_signature\"}");
	if (strcmp(dec, "approve") == 0)
		return fake_reply(c, 200,
				  "{\"jwt\":\"eyJhbGciOiJFUzI1NiJ9.e30.c2ln\","
				  "\"hash\":\"h\",\"random\":\"r\","
				  "\"expiresAt\":\"2030-01-01T00:00:00Z\"}");
	return fake_reply(c, 200, "{\"rejected\":true}");
}

static enum MHD_Result
fake_handler(void *cls, struct MHD_Connection *c, const char *url,
	     const char *method, const char *version, const char *upload,
	     size_t *upload_size, void **con_cls)
{
	struct fake *f = cls;
	struct fake_req *r = *con_cls;
	json_t *body;
	enum MHD_Result ret;

	(void)version;
	(void)method;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		char *p = realloc(r->data, r->len + *upload_size + 1);
		if (p == NULL || r->len + *upload_size > 65536)
			return MHD_NO;
		memcpy(p + r->len, upload, *upload_size);
		r->data = p;
		r->len += *upload_size;
		r->data[r->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	body = json_loadb(r->data ? r->data : "", r->len, 0, NULL);
	if (!json_is_object(body))
		ret = fake_reply(c, 400, "{\"error\":\"bad_json\"}");
	else if (strcmp(url, "/enroll") == 0)
		ret = fake_enroll(f, c, body);
	else if (strcmp(url, "/auth/verify") == 0)
		ret = fake_verify(f, c, body);
	else
		ret = fake_reply(c, 404, "{\"error\":\"not_found\"}");
	json_decref(body);
	return ret;
}

static void
fake_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	struct fake_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r != NULL) {
		free(r->data);
		free(r);
		*con_cls = NULL;
	}
}

static struct fake *
fake_start(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;

	assert_non_null(f);
	pthread_mutex_init(&f->mu, NULL);
	f->enroll_status = 200;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
	    fake_handler, f, MHD_OPTION_SOCK_ADDR, &sa,
	    MHD_OPTION_NOTIFY_COMPLETED, fake_completed, NULL, MHD_OPTION_END);
	assert_non_null(f->mhd);
	di = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(di);
	f->port = di->port;
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", f->port);
	return f;
}

static void
fake_stop(struct fake *f)
{
	MHD_stop_daemon(f->mhd);
	json_decref(f->enroll_body);
	json_decref(f->verify_body);
	EVP_PKEY_free(f->device_pub);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static int
fake_verifies(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->verifies;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* ---- fixture ------------------------------------------------------------ */

struct fixture {
	char root[64];
	char dir[128];
	struct fake *fake;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/sealauth-device-XXXXXX");
	if (mkdtemp(fx->root) == NULL)
		return -1;
	/* Two levels that do not exist yet: init creates parents. */
	snprintf(fx->dir, sizeof(fx->dir), "%s/phone/a", fx->root);
	fx->fake = fake_start();
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	fake_stop(fx->fake);
	nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static int
run_cmd(int argc, const char **argv)
{
	return cmd_device(argc, (char **)argv);
}

static json_t *
load_info(struct fixture *fx)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/device.json", fx->dir);
	return json_load_file(path, 0, NULL);
}

/* enrolled opens a device that init and enroll (against the fake) made. */
static struct device *
enrolled(struct fixture *fx)
{
	struct device *d = NULL;
	struct device_reply r = {0};

	assert_int_equal(device_init(fx->dir, "dev-test", 0, NULL), SA_OK);
	assert_int_equal(device_open(fx->dir, NULL, &d), SA_OK);
	assert_int_equal(device_enroll(d, fx->fake->url, SEAL_TEXT,
				       "http://127.0.0.1:9/push", NULL, &r),
			 SA_OK);
	assert_int_equal(r.status, 200);
	device_reply_free(&r);
	return d;
}

static size_t
discard(char *p, size_t size, size_t nmemb, void *userdata)
{
	(void)p;
	(void)userdata;
	return size * nmemb;
}

struct chunks {
	size_t left;
};

static size_t
read_spaces(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct chunks *c = userdata;
	size_t n = size * nmemb < c->left ? size * nmemb : c->left;

	memset(p, ' ', n);
	c->left -= n;
	return n;
}

/*
 * post_chunked POSTs n spaces with chunked transfer encoding, so the
 * listener learns the size only while reading; returns the HTTP status.
 */
static long
post_chunked(unsigned int port, size_t n)
{
	char url[128];
	long status = 0;
	struct chunks ch = {n};
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	h = curl_slist_append(h, "Transfer-Encoding: chunked");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/push", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_spaces);
	curl_easy_setopt(c, CURLOPT_READDATA, &ch);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return status;
}

/* post_push POSTs a body to the listener and returns the HTTP status. */
static long
post_push(unsigned int port, const char *path, const char *body, size_t n)
{
	char url[128];
	long status = 0;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

static long
push(unsigned int port, const char *json)
{
	return post_push(port, "/push", json, strlen(json));
}

/* A login push as the server sends it; scopes deliberately unsorted. */
#define LOGIN_PUSH(sid, otp_field)                                             \
	"{\"sessionId\":\"" sid "\"," otp_field                                \
	"\"serviceName\":\"Example Shop\","                                    \
	"\"scopes\":[\"identity:name\",\"identity:document\","                 \
	"\"identity:age_over_18\"],\"random\":\"rnd\","                        \
	"\"expiresAt\":\"2099-01-01T00:00:00Z\","                              \
	"\"origin\":\"https://shop.example\",\"requestIp\":\"203.0.113.7\","   \
	"\"userAgent\":\"Mozilla/5.0 test\"}"

struct run {
	pthread_t th;
	struct device *d;
	struct device_listener *l;
	struct device_listen_opts o;
	enum sa_err rc;
};

static void *
run_thread(void *arg)
{
	struct run *r = arg;

	r->rc = device_listen_run(r->d, r->l, &r->o);
	return NULL;
}

/*
 * run_start_stop starts device_listen_run on a thread with a stop flag (may
 * be NULL), set before the thread starts so the loop cannot miss it.
 */
static void
run_start_stop(struct run *r, struct device *d, enum device_mode mode,
	       unsigned int count, unsigned int timeout,
	       volatile sig_atomic_t *stop)
{
	memset(r, 0, sizeof(*r));
	r->o.stop = stop;
	r->d = d;
	assert_int_equal(device_listener_start(0, &r->l), SA_OK);
	assert_true(device_listener_port(r->l) > 0);
	r->o.mode = mode;
	r->o.count = count;
	r->o.timeout = timeout;
	r->o.out = tmpfile();
	r->o.json = tmpfile();
	assert_non_null(r->o.out);
	assert_non_null(r->o.json);
	r->rc = SA_ERR_INTERNAL;
	assert_int_equal(pthread_create(&r->th, NULL, run_thread, r), 0);
}

static void
run_start(struct run *r, struct device *d, enum device_mode mode,
	  unsigned int count, unsigned int timeout)
{
	run_start_stop(r, d, mode, count, timeout, NULL);
}

/* run_join waits (bounded) for the loop to end and returns its result. */
static enum sa_err
run_join(struct run *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += JOIN_WAIT_S;
	if (pthread_timedjoin_np(r->th, NULL, &ts) != 0)
		fail_msg("the listener did not end within %d s", JOIN_WAIT_S);
	device_listener_stop(r->l);
	return r->rc;
}

/* file_text reads a whole FILE (rewound) into a static buffer. */
static const char *
file_text(FILE *f)
{
	static char text[16384];
	size_t n;

	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void
assert_scopes(const json_t *body, const char *const *want, size_t n)
{
	const json_t *gs = json_object_get(body, "grantedScopes");

	assert_true(json_is_array(gs));
	assert_int_equal(json_array_size(gs), n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(gs, i)),
				    want[i]);
}

static const char *
body_str(const json_t *body, const char *name)
{
	const char *s = json_string_value(json_object_get(body, name));

	assert_non_null(s);
	return s;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_sign_verify_checks_with_openssl(void **state)
{
	struct fixture *fx = *state;
	const char *scopes[] = {"b", "a"};
	struct device *d = NULL;
	char *sig = NULL;

	assert_int_equal(device_init(fx->dir, NULL, 0, NULL), SA_OK);
	assert_int_equal(device_open(fx->dir, NULL, &d), SA_OK);
	assert_int_equal(device_sign_verify(device_key(d), "sess_1", "123456",
					    1700000000, "approve", scopes, 2,
					    NULL, &sig),
			 SA_OK);
	assert_true(check_sig(device_key(d),
			      "sealauth-verify-v1|sess_1|123456|1700000000|"
			      "approve|a,b",
			      sig));
	/* Unsorted scopes are another message. */
	assert_false(check_sig(device_key(d),
			       "sealauth-verify-v1|sess_1|123456|1700000000|"
			       "approve|b,a",
			       sig));
	free(sig);
	/* A random id has the dev- prefix. */
	assert_true(str_has_prefix(
	    json_string_value(json_object_get(device_info(d), "deviceId")),
	    "dev-"));
	device_close(d);
}

static void
test_init_modes_and_overwrite(void **state)
{
	struct fixture *fx = *state;
	const char *argv[] = {"device", "init",	       "--dir",
			      fx->dir,	"--device-id", "dev-phone-1"};
	const char *force[] = {"device", "init", "--dir", fx->dir, "--force"};
	char keypath[256];
	unsigned char *k1 = NULL, *k2 = NULL, *k3 = NULL;
	size_t n1, n2, n3;
	struct stat st;
	json_t *info;

	assert_int_equal(run_cmd(6, argv), 0);
	assert_int_equal(stat(fx->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(keypath, sizeof(keypath), "%s/device-key.pem", fx->dir);
	assert_int_equal(stat(keypath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	info = load_info(fx);
	assert_non_null(info);
	assert_string_equal(
	    json_string_value(json_object_get(info, "deviceId")),
	    "dev-phone-1");
	assert_true(str_has_prefix(
	    json_string_value(json_object_get(info, "publicKeyPem")),
	    "-----BEGIN PUBLIC KEY-----"));
	assert_non_null(json_string_value(json_object_get(info, "createdAt")));
	json_decref(info);
	{
		char ip[256];
		snprintf(ip, sizeof(ip), "%s/device.json", fx->dir);
		assert_int_equal(stat(ip, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}

	/* A second init keeps the key. */
	assert_int_equal(read_file(keypath, 8192, &k1, &n1), SA_OK);
	assert_int_equal(run_cmd(6, argv), 1);
	assert_int_equal(read_file(keypath, 8192, &k2, &n2), SA_OK);
	assert_int_equal(n1, n2);
	assert_memory_equal(k1, k2, n1);

	/* --force replaces it, and device.json follows. */
	assert_int_equal(run_cmd(5, force), 0);
	assert_int_equal(read_file(keypath, 8192, &k3, &n3), SA_OK);
	assert_false(n1 == n3 && memcmp(k1, k3, n1) == 0);
	{
		struct device *d = NULL;
		assert_int_equal(device_open(fx->dir, NULL, &d), SA_OK);
		device_close(d);
	}
	free(k1);
	free(k2);
	free(k3);

	/* A bad device id is refused before anything is written. */
	{
		const char *bad[] = {"device",	"init",	       "--dir", fx->dir,
				     "--force", "--device-id", "a b"};
		assert_int_equal(run_cmd(7, bad), 1);
	}
}

static void
test_open_refuses_swapped_key(void **state)
{
	struct fixture *fx = *state;
	char other[160], from[256], to[256];
	struct device *d = NULL;

	snprintf(other, sizeof(other), "%s/other", fx->root);
	assert_int_equal(device_init(fx->dir, "dev-a", 0, NULL), SA_OK);
	assert_int_equal(device_init(other, "dev-b", 0, NULL), SA_OK);
	snprintf(from, sizeof(from), "%s/device-key.pem", other);
	snprintf(to, sizeof(to), "%s/device-key.pem", fx->dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(device_open(fx->dir, NULL, &d), SA_ERR_VALIDATION);
	assert_null(d);
}

static void
test_open_refuses_readable_key(void **state)
{
	struct fixture *fx = *state;
	char key[256];
	struct device *d = NULL;

	assert_int_equal(device_init(fx->dir, "dev-m", 0, NULL), SA_OK);
	snprintf(key, sizeof(key), "%s/device-key.pem", fx->dir);
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(device_open(fx->dir, NULL, &d), SA_ERR_FORBIDDEN);
	assert_null(d);
	assert_int_equal(chmod(key, 0600), 0);
	assert_int_equal(device_open(fx->dir, NULL, &d), SA_OK);
	device_close(d);
}

static void
test_enroll_stores_token(void **state)
{
	struct fixture *fx = *state;
	const char *init[] = {"device", "init",	       "--dir",
			      fx->dir,	"--device-id", "dev-e1"};
	const char *enroll[] = {"device",	 "enroll",   "--dir",
				fx->dir,	 "--server", fx->fake->url,
				"--listen-port", "9911",     SEAL_TEXT};
	json_t *info, *b;

	assert_int_equal(run_cmd(6, init), 0);
	assert_int_equal(run_cmd(9, enroll), 0);

	pthread_mutex_lock(&fx->fake->mu);
	b = fx->fake->enroll_body;
	assert_int_equal(fx->fake->enrolls, 1);
	assert_true(fx->fake->enroll_key_ok);
	assert_string_equal(body_str(b, "vdsData"), SEAL_TEXT);
	assert_string_equal(body_str(b, "deviceId"), "dev-e1");
	/* No endpoint given: the one `listen --listen-port 9911` serves. */
	assert_string_equal(body_str(b, "pushEndpoint"),
			    "http://127.0.0.1:9911/push");
	assert_null(json_object_get(b, "fcmToken"));
	assert_int_equal(json_object_size(b), 4);
	pthread_mutex_unlock(&fx->fake->mu);

	info = load_info(fx);
	assert_string_equal(body_str(info, "tokenId"), TOKEN_ID);
	assert_string_equal(body_str(info, "expiresAt"),
			    "2030-01-01T00:00:00Z");
	assert_string_equal(body_str(info, "server"), fx->fake->url);
	assert_string_equal(body_str(info, "pushEndpoint"),
			    "http://127.0.0.1:9911/push");
	json_decref(info);
}

static void
test_enroll_fcm_and_seal_file(void **state)
{
	struct fixture *fx = *state;
	char sealfile[256], at[260];
	const char *enroll[] = {"device",      "enroll",   "--dir",
				fx->dir,       "--server", fx->fake->url,
				"--fcm-token", "fcm-abc",  at};
	FILE *f;
	json_t *info;

	snprintf(sealfile, sizeof(sealfile), "%s/seal.txt", fx->root);
	snprintf(at, sizeof(at), "@%s", sealfile);
	f = fopen(sealfile, "w");
	assert_non_null(f);
	fprintf(f, "  %s\n", SEAL_TEXT);
	fclose(f);
	assert_int_equal(device_init(fx->dir, "dev-f", 0, NULL), SA_OK);
	assert_int_equal(run_cmd(9, enroll), 0);
	pthread_mutex_lock(&fx->fake->mu);
	assert_string_equal(body_str(fx->fake->enroll_body, "vdsData"),
			    SEAL_TEXT);
	assert_string_equal(body_str(fx->fake->enroll_body, "fcmToken"),
			    "fcm-abc");
	assert_null(json_object_get(fx->fake->enroll_body, "pushEndpoint"));
	pthread_mutex_unlock(&fx->fake->mu);
	info = load_info(fx);
	assert_string_equal(body_str(info, "fcmToken"), "fcm-abc");
	assert_null(json_object_get(info, "pushEndpoint"));
	json_decref(info);
}

static void
test_enroll_refused_keeps_device(void **state)
{
	struct fixture *fx = *state;
	const char *enroll[] = {"device",   "enroll",	   "--dir",  fx->dir,
				"--server", fx->fake->url, SEAL_TEXT};
	const char *both[] = {"device",		 "enroll",
			      "--dir",		 fx->dir,
			      "--server",	 fx->fake->url,
			      "--push-endpoint", "https://p.example/x",
			      "--fcm-token",	 "t",
			      SEAL_TEXT};
	json_t *info;

	fx->fake->enroll_status = 422;
	assert_int_equal(device_init(fx->dir, "dev-r", 0, NULL), SA_OK);
	assert_int_equal(run_cmd(7, enroll), 1);
	assert_int_equal(fx->fake->enrolls, 1);
	info = load_info(fx);
	assert_null(json_object_get(info, "tokenId"));
	assert_null(json_object_get(info, "server"));
	json_decref(info);
	/* Both push targets at once is a usage error; nothing is sent. */
	assert_int_equal(run_cmd(11, both), 2);
	assert_int_equal(fx->fake->enrolls, 1);
}

static void
test_listen_approves(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	const char *want[] = {"identity:age_over_18", "identity:document",
			      "identity:name"};
	struct run r;
	const char *text;
	json_t *b;

	run_start(&r, d, DEVICE_MODE_APPROVE, 1, 10);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_abc", "\"otp\":\"123456\",")),
			 200);
	assert_int_equal(run_join(&r), SA_OK);

	assert_int_equal(fake_verifies(fx->fake), 1);
	b = fx->fake->verify_body;
	assert_true(fx->fake->verify_sig_ok);
	assert_true(fx->fake->verify_ts_ok);
	assert_true(fx->fake->verify_sorted);
	assert_string_equal(body_str(b, "decision"), "approve");
	assert_string_equal(body_str(b, "sessionId"), "sess_abc");
	assert_string_equal(body_str(b, "otp"), "123456");
	assert_string_equal(body_str(b, "tokenId"), TOKEN_ID);
	assert_scopes(b, want, 3);

	text = file_text(r.o.out);
	assert_non_null(strstr(text, "Example Shop"));
	assert_non_null(strstr(text, "123 456"));
	assert_non_null(strstr(text, "https://shop.example"));
	assert_non_null(strstr(text, "203.0.113.7"));
	assert_non_null(strstr(text, "Mozilla/5.0 test"));
	assert_non_null(strstr(text, "identity:document"));
	text = file_text(r.o.json);
	assert_non_null(strstr(text, "\"event\":\"push\""));
	assert_non_null(strstr(text, "\"event\":\"answer\""));
	assert_non_null(
	    strstr(text, "\"jwt\":\"eyJhbGciOiJFUzI1NiJ9.e30.c2ln\""));
	device_close(d);
}

static void
test_listen_grants_only_listed_scopes(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	const char *want[] = {"identity:age_over_18", "identity:name"};
	struct run r;

	run_start(&r, d, DEVICE_MODE_APPROVE, 1, 10);
	/* identity:photo was not requested: it is not granted. */
	r.o.scopes = "identity:name,identity:photo,identity:age_over_18";
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_s", "\"otp\":\"111222\",")),
			 200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_int_equal(fake_verifies(fx->fake), 1);
	assert_true(fx->fake->verify_sig_ok);
	assert_scopes(fx->fake->verify_body, want, 2);
	fclose(r.o.out);
	fclose(r.o.json);
	device_close(d);
}

/* A login started by a server has no origin: the phone says so rather
 * than showing an empty line. */
static void
test_listen_shows_no_browser_origin(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	struct run r;

	run_start(&r, d, DEVICE_MODE_REJECT, 1, 10);
	assert_int_equal(
	    push(device_listener_port(r.l),
		 "{\"sessionId\":\"sess_noorg\",\"otp\":\"111222\","
		 "\"serviceName\":\"Example Shop\",\"scopes\":[],"
		 "\"random\":\"rnd\",\"expiresAt\":\"2099-01-01T00:00:00Z\","
		 "\"origin\":\"\",\"requestIp\":\"203.0.113.7\","
		 "\"userAgent\":\"curl/8\"}"),
	    200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_non_null(
	    strstr(file_text(r.o.out), "from:     (no browser origin)"));
	fclose(r.o.json); /* file_text closed r.o.out */
	device_close(d);
}

static void
test_listen_rejects(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	struct run r;

	run_start(&r, d, DEVICE_MODE_REJECT, 1, 10);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_rej", "\"otp\":\"654321\",")),
			 200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_int_equal(fake_verifies(fx->fake), 1);
	assert_true(fx->fake->verify_sig_ok);
	assert_string_equal(body_str(fx->fake->verify_body, "decision"),
			    "reject");
	assert_scopes(fx->fake->verify_body, NULL, 0);
	fclose(r.o.out);
	fclose(r.o.json);
	device_close(d);
}

static void
test_listen_type_mode(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	struct run r;

	run_start(&r, d, DEVICE_MODE_APPROVE, 1, 10);
	r.o.type_otp = "246 810";
	assert_int_equal(
	    push(device_listener_port(r.l), LOGIN_PUSH("sess_t", "")), 200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_int_equal(fake_verifies(fx->fake), 1);
	assert_true(fx->fake->verify_sig_ok);
	assert_string_equal(body_str(fx->fake->verify_body, "otp"), "246810");
	assert_non_null(strstr(file_text(r.o.out), "type the code"));
	fclose(r.o.json);

	/* No code and no terminal: nothing is sent, the run fails. */
	run_start(&r, d, DEVICE_MODE_APPROVE, 1, 10);
	assert_int_equal(
	    push(device_listener_port(r.l), LOGIN_PUSH("sess_u", "")), 200);
	assert_int_equal(run_join(&r), SA_ERR_PUSH);
	assert_int_equal(fake_verifies(fx->fake), 1);
	fclose(r.o.out);
	fclose(r.o.json);
	device_close(d);
}

static void
test_listen_asks(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	char yes[] = "y\n", no[] = "n\n";
	FILE *prompts = tmpfile();
	struct run r;

	assert_non_null(prompts);
	run_start(&r, d, DEVICE_MODE_ASK, 1, 10);
	r.o.tty_in = fmemopen(yes, strlen(yes), "r");
	r.o.tty_out = prompts;
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_y", "\"otp\":\"000001\",")),
			 200);
	assert_int_equal(run_join(&r), SA_OK);
	fclose(r.o.tty_in);
	assert_string_equal(body_str(fx->fake->verify_body, "decision"),
			    "approve");
	fclose(r.o.out);
	fclose(r.o.json);

	run_start(&r, d, DEVICE_MODE_ASK, 1, 10);
	r.o.tty_in = fmemopen(no, strlen(no), "r");
	r.o.tty_out = prompts;
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_n", "\"otp\":\"000002\",")),
			 200);
	assert_int_equal(run_join(&r), SA_OK);
	fclose(r.o.tty_in);
	assert_int_equal(fake_verifies(fx->fake), 2);
	assert_true(fx->fake->verify_sig_ok);
	assert_string_equal(body_str(fx->fake->verify_body, "decision"),
			    "reject");
	assert_non_null(strstr(file_text(prompts), "Approve? [y/N]"));
	fclose(r.o.out);
	fclose(r.o.json);
	device_close(d);
}

static void
test_listen_count_and_timeout(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	struct run r;
	uint64_t t0;

	run_start(&r, d, DEVICE_MODE_APPROVE, 2, 10);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_c1", "\"otp\":\"100001\",")),
			 200);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_c2", "\"otp\":\"100002\",")),
			 200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_int_equal(fake_verifies(fx->fake), 2);
	assert_string_equal(body_str(fx->fake->verify_body, "sessionId"),
			    "sess_c2");
	fclose(r.o.out);
	fclose(r.o.json);

	/* Nothing arrives: the loop gives up after the timeout. */
	t0 = now_mono_ms();
	run_start(&r, d, DEVICE_MODE_APPROVE, 0, 1);
	assert_int_equal(run_join(&r), SA_ERR_TIMEOUT);
	assert_true(now_mono_ms() - t0 >= 900);
	assert_true(now_mono_ms() - t0 < 5000);
	assert_non_null(strstr(file_text(r.o.json), "\"event\":\"timeout\""));
	fclose(r.o.out);

	/* The stop flag ends it too. */
	{
		volatile sig_atomic_t stop = 1;
		run_start_stop(&r, d, DEVICE_MODE_APPROVE, 0, 0, &stop);
		assert_int_equal(run_join(&r), SA_OK);
		fclose(r.o.out);
		fclose(r.o.json);
	}
	device_close(d);
}

/*
 * A push that comes again for a login shown already (the server retries
 * when it did not hear the answer) is noted, not answered twice and not
 * counted: with a count of two the loop still waits for a second login.
 */
static void
test_listen_repeated_push_shown_once(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	struct run r;
	const char *text;

	run_start(&r, d, DEVICE_MODE_APPROVE, 2, 10);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_r1", "\"otp\":\"100001\",")),
			 200);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_r1", "\"otp\":\"100001\",")),
			 200);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_r2", "\"otp\":\"100002\",")),
			 200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_int_equal(fake_verifies(fx->fake), 2);
	assert_string_equal(body_str(fx->fake->verify_body, "sessionId"),
			    "sess_r2");
	text = file_text(r.o.json);
	assert_non_null(
	    strstr(text, "{\"event\":\"repeated\",\"sessionId\":\"sess_r1\"}"));
	assert_non_null(strstr(file_text(r.o.out), "came again"));
	device_close(d);
}

static void
test_listen_refuses_bad_pushes(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	struct run r;
	unsigned int port;
	char *big;

	run_start(&r, d, DEVICE_MODE_APPROVE, 1, 10);
	port = device_listener_port(r.l);
	assert_int_equal(push(port, "this is not json"), 400);
	assert_int_equal(push(port, "[1,2,3]"), 400);
	assert_int_equal(
	    push(port, "{\"sessionId\":\"a|b\",\"otp\":\"123456\"}"), 400);
	assert_int_equal(push(port, "{\"sessionId\":\"s\",\"otp\":\"12345\"}"),
			 400);
	assert_int_equal(
	    push(port, "{\"sessionId\":\"s\",\"scopes\":[\"a,b\"]}"), 400);
	big = malloc(DEVICE_PUSH_MAX + 4096);
	assert_non_null(big);
	memset(big, ' ', DEVICE_PUSH_MAX + 4096);
	big[0] = '{';
	big[DEVICE_PUSH_MAX + 4095] = '}';
	assert_int_equal(post_push(port, "/push", big, DEVICE_PUSH_MAX + 4096),
			 413);
	free(big);
	assert_int_equal(post_chunked(port, DEVICE_PUSH_MAX + 1), 413);
	assert_int_equal(post_chunked(port, 100), 400);
	assert_int_equal(post_push(port, "/push", NULL, 0), 405);
	assert_int_equal(post_push(port, "/elsewhere", "{}", 2), 404);
	/* Still listening: a good push is answered. */
	assert_int_equal(fake_verifies(fx->fake), 0);
	assert_int_equal(
	    push(port, LOGIN_PUSH("sess_ok", "\"otp\":\"121212\",")), 200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_int_equal(fake_verifies(fx->fake), 1);
	assert_true(fx->fake->verify_sig_ok);
	fclose(r.o.out);
	fclose(r.o.json);
	device_close(d);
}

static void
test_listen_notice_and_refused_answer(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	struct run r;

	run_start(&r, d, DEVICE_MODE_APPROVE, 1, 10);
	assert_int_equal(push(device_listener_port(r.l),
			      "{\"type\":\"enrollment_replaced\","
			      "\"tokenId\":\"" TOKEN_ID "\"}"),
			 200);
	assert_int_equal(run_join(&r), SA_OK);
	assert_int_equal(fake_verifies(fx->fake), 0);
	assert_non_null(strstr(file_text(r.o.out), "enrollment_replaced"));
	fclose(r.o.json);

	/* The server refuses the answer (a replay): the run fails. */
	fx->fake->verify_status = 409;
	run_start(&r, d, DEVICE_MODE_APPROVE, 1, 10);
	assert_int_equal(push(device_listener_port(r.l),
			      LOGIN_PUSH("sess_rp", "\"otp\":\"999999\",")),
			 200);
	assert_int_equal(run_join(&r), SA_ERR_PUSH);
	assert_int_equal(fake_verifies(fx->fake), 1);
	fclose(r.o.out);
	fclose(r.o.json);
	device_close(d);
}

static void
test_one_shot_approve_and_reject(void **state)
{
	struct fixture *fx = *state;
	struct device *d = enrolled(fx);
	const char *approve[] = {
	    "device",	 "approve",
	    "--dir",	 fx->dir,
	    "--session", "sess_cli",
	    "--otp",	 "321321",
	    "--scopes",	 "identity:name,identity:age_over_18"};
	const char *reject[] = {"device",    "reject",	  "--dir", fx->dir,
				"--session", "sess_cli2", "--otp", "321322"};
	const char *want[] = {"identity:age_over_18", "identity:name"};

	device_close(d);
	assert_int_equal(run_cmd(10, approve), 0);
	assert_int_equal(fake_verifies(fx->fake), 1);
	assert_true(fx->fake->verify_sig_ok);
	assert_true(fx->fake->verify_ts_ok);
	assert_string_equal(body_str(fx->fake->verify_body, "otp"), "321321");
	assert_scopes(fx->fake->verify_body, want, 2);

	assert_int_equal(run_cmd(8, reject), 0);
	assert_int_equal(fake_verifies(fx->fake), 2);
	assert_true(fx->fake->verify_sig_ok);
	assert_string_equal(body_str(fx->fake->verify_body, "decision"),
			    "reject");

	/* A refusal from the server is exit status 1. */
	fx->fake->verify_status = 409;
	assert_int_equal(run_cmd(8, reject), 1);
}

static void
test_answer_needs_enrollment(void **state)
{
	struct fixture *fx = *state;
	struct device *d = NULL;
	struct device_reply r = {0};

	assert_int_equal(device_init(fx->dir, "dev-n", 0, NULL), SA_OK);
	assert_int_equal(device_open(fx->dir, NULL, &d), SA_OK);
	assert_int_equal(device_answer(d, fx->fake->url, "sess", "123456",
				       "approve", NULL, 0, NULL, now_unix(),
				       &r),
			 SA_ERR_NOT_ENROLLED);
	assert_int_equal(fake_verifies(fx->fake), 0);
	device_close(d);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_sign_verify_checks_with_openssl),
	    T(test_init_modes_and_overwrite),
	    T(test_open_refuses_swapped_key),
	    T(test_open_refuses_readable_key),
	    T(test_enroll_stores_token),
	    T(test_enroll_fcm_and_seal_file),
	    T(test_enroll_refused_keeps_device),
	    T(test_listen_approves),
	    T(test_listen_grants_only_listed_scopes),
	    T(test_listen_rejects),
	    T(test_listen_shows_no_browser_origin),
	    T(test_listen_type_mode),
	    T(test_listen_asks),
	    T(test_listen_count_and_timeout),
	    T(test_listen_repeated_push_shown_once),
	    T(test_listen_refuses_bad_pushes),
	    T(test_listen_notice_and_refused_answer),
	    T(test_one_shot_approve_and_reject),
	    T(test_answer_needs_enrollment),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
