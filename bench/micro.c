/*
 * micro.c - micro-benchmarks of the pieces every login or enrollment runs:
 * the OTP derivation, ES256 JWT signing, ECDSA signing and verification,
 * seal decoding and verification (plain and through the warm trust chain),
 * the durable audit append (one writer and eight), the in-process session
 * store and the schema check of a /auth/verify body; and two costs of the
 * machine itself: a system call and a thread hand-off.
 *
 *   bench_micro [--time-ms N] [--tmp-dir DIR] [--json FILE] [--only NAME]
 *
 * Each benchmark runs for about --time-ms milliseconds (default 1000) in
 * batches that grow until one batch takes ~10 ms, and reports operations per
 * second and nanoseconds per operation. The audit benchmarks write to a
 * temporary SQLite store under --tmp-dir (default: the current directory, so
 * the fsyncs hit the same disk the server's data directory would) and also
 * report how many commits (group-commit batches) the rows took.
 *
 * Exit status: 0 when every benchmark ran, 1 when one failed (a failing
 * operation is a bug, not a slow result), 2 on bad usage.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api/api.h"
#include "audit/audit.h"
#include "crypto/ecdsa.h"
#include "core/errors.h"
#include "core/json_in.h"
#include "core/json_out.h"
#include "crypto/jwt.h"
#include "core/log.h"
#include "crypto/otp.h"
#include "core/schema.h"
#include "store/store.h"
#include "trust/trust.h"
#include "core/util.h"
#include "seal/vds.h"

#define MICRO_MAX_RESULTS 32
#define MICRO_AUDIT_THREADS 8
#define MICRO_ESTORE_KEYS 10000

/* One benchmark's figures. */
struct micro_result {
	const char *name;
	uint64_t ops;
	double seconds;
	uint64_t commits; /* audit only: group-commit batches */
};

/* Everything the benchmarks share, set up once in micro_setup. */
struct micro_env {
	unsigned char otp_secret[32];
	EVP_PKEY *key;	      /* a P-256 key: JWT, phone signatures */
	EVP_PKEY *signer_pub; /* the demo seal signer's public key */
	json_t *claims;	      /* JWT claims like the server's */
	json_t *approved;     /* a login's approved event, with its token */
	char verify_msg[256];
	unsigned char verify_sig[ECDSA_P256_RAW_LEN];
	unsigned char *seal;
	size_t seal_len;
	struct vds *seal_decoded;
	struct trust *trust;
	struct estore *es;
	json_t *verify_body;
	char verify_body_text[1024];
	char pub_pem[512];
	struct dstore *ds; /* SQLite, one enrollment stored */
	char tmp_dir[1024];
	char trust_dir[1024 + 32];
};

/* A benchmark body: run iters operations, 0 on success, -1 on failure. */
typedef int (*micro_fn)(struct micro_env *env, uint64_t iters);

static uint64_t
micro_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * micro_run calls fn in batches until budget_ns has passed; each batch is
 * doubled while it takes under 10 ms so the clock is read rarely. Fills res
 * (name borrowed) and returns 0, or -1 when fn failed.
 */
static int
micro_run(struct micro_env *env, const char *name, micro_fn fn,
	  uint64_t budget_ns, struct micro_result *res)
{
	uint64_t batch = 1, ops = 0, t0 = micro_now_ns(), t1 = t0, b0;

	while (t1 - t0 < budget_ns) {
		b0 = micro_now_ns();
		if (fn(env, batch) != 0) {
			fprintf(stderr, "micro: %s failed\n", name);
			return -1;
		}
		t1 = micro_now_ns();
		ops += batch;
		if (t1 - b0 < 10000000u && batch < (1u << 24))
			batch *= 2;
	}
	memset(res, 0, sizeof(*res));
	res->name = name;
	res->ops = ops;
	res->seconds = (double)(t1 - t0) / 1e9;
	return 0;
}

static int
bench_otp(struct micro_env *env, uint64_t iters)
{
	char code[OTP_DIGITS + 1];
	uint64_t i;

	for (i = 0; i < iters; i++)
		if (otp_derive(env->otp_secret, sizeof(env->otp_secret),
			       "sess_AbCdEfGhIjKlMnOpQrStUv", "BENCH-000001",
			       1800000000 + (int64_t)(i & 1023), code) != SA_OK)
			return -1;
	return 0;
}

/* bench_dumps and bench_json_out: the text of a login's approved event by
 * jansson and by core/json_out.c (the same bytes). */
static int
bench_dumps(struct micro_env *env, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++) {
		char *t = json_dumps(env->approved, JSON_COMPACT);

		if (t == NULL)
			return -1;
		free(t);
	}
	return 0;
}

static int
bench_json_out(struct micro_env *env, uint64_t iters)
{
	for (uint64_t i = 0; i < iters; i++) {
		char *t = json_out(env->approved, 0, NULL);

		if (t == NULL)
			return -1;
		free(t);
	}
	return 0;
}

static int
bench_jwt(struct micro_env *env, uint64_t iters)
{
	uint64_t i;
	char *tok;

	for (i = 0; i < iters; i++) {
		if (jwt_sign_es256(env->key, "bench-kid", env->claims, &tok) !=
		    SA_OK)
			return -1;
		free(tok);
	}
	return 0;
}

static int
bench_sign(struct micro_env *env, uint64_t iters)
{
	unsigned char sig[ECDSA_P256_RAW_LEN];
	uint64_t i;

	for (i = 0; i < iters; i++)
		if (ecdsa_sign_sha256_raw(env->key, env->verify_msg,
					  strlen(env->verify_msg),
					  sig) != SA_OK)
			return -1;
	return 0;
}

static int
bench_verify(struct micro_env *env, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i < iters; i++)
		if (ecdsa_verify_sha256(
			env->key, env->verify_msg, strlen(env->verify_msg),
			env->verify_sig, sizeof(env->verify_sig)) != SA_OK)
			return -1;
	return 0;
}

static int
bench_pubkey_pem(struct micro_env *env, uint64_t iters)
{
	EVP_PKEY *k;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		if (ecdsa_pubkey_from_pem(env->pub_pem, strlen(env->pub_pem),
					  &k) != SA_OK)
			return -1;
		EVP_PKEY_free(k);
	}
	return 0;
}

static int
bench_enroll_get(struct micro_env *env, uint64_t iters)
{
	struct enrollment e;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		if (dstore_enroll_get(env->ds, "BENCH-000001", &e) != SA_OK)
			return -1;
		enrollment_free(&e);
	}
	return 0;
}

static int
bench_vds_decode(struct micro_env *env, uint64_t iters)
{
	struct vds *v;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		if (vds_decode(env->seal, env->seal_len, &v, NULL, 0) != SA_OK)
			return -1;
		vds_free(v);
	}
	return 0;
}

static int
bench_vds_decode_verify(struct micro_env *env, uint64_t iters)
{
	struct vds *v;
	uint64_t i;
	enum sa_err rc;

	for (i = 0; i < iters; i++) {
		if (vds_decode(env->seal, env->seal_len, &v, NULL, 0) != SA_OK)
			return -1;
		rc = vds_verify_signature(v, env->signer_pub);
		vds_free(v);
		if (rc != SA_OK)
			return -1;
	}
	return 0;
}

static int
bench_trust_verify(struct micro_env *env, uint64_t iters)
{
	struct trust_result res;
	uint64_t i;

	for (i = 0; i < iters; i++)
		if (trust_verify_seal(env->trust, env->seal_decoded, now_unix(),
				      &res) != SA_OK)
			return -1;
	return 0;
}

static int
bench_trust_verify_bytes(struct micro_env *env, uint64_t iters)
{
	struct trust_result res;
	uint64_t i;

	for (i = 0; i < iters; i++)
		if (trust_verify_seal_bytes(env->trust, env->seal,
					    env->seal_len, now_unix(),
					    &res) != SA_OK)
			return -1;
	return 0;
}

static int
bench_estore_set(struct micro_env *env, uint64_t iters)
{
	static const char val[200] = "session-state";
	char key[32];
	uint64_t i;

	for (i = 0; i < iters; i++) {
		snprintf(key, sizeof(key), "bench:%u",
			 (unsigned)(i % MICRO_ESTORE_KEYS));
		if (estore_set(env->es, key, val, sizeof(val), 60000, 0) !=
		    SA_OK)
			return -1;
	}
	return 0;
}

static int
bench_estore_get(struct micro_env *env, uint64_t iters)
{
	unsigned char *v;
	char key[32];
	size_t n;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		snprintf(key, sizeof(key), "bench:%u",
			 (unsigned)(i % MICRO_ESTORE_KEYS));
		if (estore_get(env->es, key, &v, &n, NULL) != SA_OK)
			return -1;
		free(v);
	}
	return 0;
}

static int
bench_schema(struct micro_env *env, uint64_t iters)
{
	struct schema_error err;
	uint64_t i;

	for (i = 0; i < iters; i++)
		if (schema_validate(&api_verify_schema, env->verify_body, 0,
				    &err) != SA_OK)
			return -1;
	return 0;
}

static int
bench_schema_parse(struct micro_env *env, uint64_t iters)
{
	struct schema_error err;
	json_t *root;
	uint64_t i;
	enum sa_err rc;

	for (i = 0; i < iters; i++) {
		if (schema_parse_json(env->verify_body_text,
				      strlen(env->verify_body_text), 65536,
				      &root, &err) != SA_OK)
			return -1;
		rc = schema_validate(&api_verify_schema, root, 0, &err);
		json_decref(root);
		if (rc != SA_OK)
			return -1;
	}
	return 0;
}

/* bench_loadb and bench_json_in: a verify body parsed by jansson and by
 * core/json_in.c (the same value). */
static int
bench_loadb(struct micro_env *env, uint64_t iters)
{
	size_t n = strlen(env->verify_body_text);

	for (uint64_t i = 0; i < iters; i++) {
		json_t *v = json_loadb(env->verify_body_text, n,
				       JSON_REJECT_DUPLICATES, NULL);

		if (v == NULL)
			return -1;
		json_decref(v);
	}
	return 0;
}

static int
bench_json_in(struct micro_env *env, uint64_t iters)
{
	size_t n = strlen(env->verify_body_text);

	for (uint64_t i = 0; i < iters; i++) {
		json_t *v = json_in_parse(env->verify_body_text, n,
					  SCHEMA_MAX_DEPTH, NULL);

		if (v == NULL)
			return -1;
		json_decref(v);
	}
	return 0;
}

/*
 * The machine's own costs, which every login pays many times over and which
 * differ between machines far more than the code's: one system call that
 * does nothing (getppid; about 45 system calls go into a login), and one
 * thread hand-off round trip (two threads waking each other through two
 * eventfds, as a worker wakes the audit writer and is woken back).
 */
static int
bench_syscall(struct micro_env *env, uint64_t iters)
{
	(void)env;
	for (uint64_t i = 0; i < iters; i++)
		if (syscall(SYS_getppid) < 0)
			return -1;
	return 0;
}

struct micro_pingpong {
	int to_peer, to_main;
	uint64_t iters;
	atomic_int stop; /* set before the last write when main gives up */
};

static void *
pingpong_peer(void *arg)
{
	struct micro_pingpong *pp = arg;
	uint64_t v;

	for (uint64_t i = 0; i < pp->iters; i++) {
		if (read(pp->to_peer, &v, sizeof(v)) != sizeof(v) ||
		    atomic_load(&pp->stop))
			return NULL;
		v = 1;
		if (write(pp->to_main, &v, sizeof(v)) != sizeof(v))
			return NULL;
	}
	return NULL;
}

static int
bench_handoff(struct micro_env *env, uint64_t iters)
{
	struct micro_pingpong pp = {-1, -1, iters, 0};
	pthread_t tid;
	uint64_t v = 1, i = 0;
	int rc = -1;

	(void)env;
	if ((pp.to_peer = eventfd(0, EFD_CLOEXEC)) < 0 ||
	    (pp.to_main = eventfd(0, EFD_CLOEXEC)) < 0)
		goto out;
	if (pthread_create(&tid, NULL, pingpong_peer, &pp) != 0)
		goto out;
	for (i = 0; i < iters; i++) {
		v = 1;
		if (write(pp.to_peer, &v, sizeof(v)) != sizeof(v) ||
		    read(pp.to_main, &v, sizeof(v)) != sizeof(v))
			break;
	}
	if (i < iters) {
		/* Wake the peer once more to tell it to stop. */
		atomic_store(&pp.stop, 1);
		v = 1;
		if (write(pp.to_peer, &v, sizeof(v)) != sizeof(v))
			abort();
	}
	pthread_join(tid, NULL);
	rc = i == iters ? 0 : -1;
out:
	if (pp.to_peer >= 0)
		close(pp.to_peer);
	if (pp.to_main >= 0)
		close(pp.to_main);
	return rc;
}

/* State of one audit-append thread. */
struct micro_audit_worker {
	pthread_t tid;
	struct audit *audit;
	uint64_t deadline_ns;
	uint64_t rows;
	int failed;
};

static void *
micro_audit_thread(void *arg)
{
	struct micro_audit_worker *w = arg;

	while (micro_now_ns() < w->deadline_ns) {
		json_t *detail = json_pack("{s:s, s:s}", "sessionId",
					   "sess_AbCdEfGhIjKlMnOpQrStUv",
					   "serviceId", "demo");

		if (audit_log(w->audit, "bench.audit", "127.0.0.1",
			      "bench_micro", "BENCH-000001", detail) != SA_OK) {
			w->failed = 1;
			break;
		}
		w->rows++;
	}
	return NULL;
}

/*
 * micro_audit opens a fresh SQLite store in env->tmp_dir (removed again
 * afterwards), runs nthreads writers for budget_ns, and fills res with rows
 * and commits. Returns 0, or -1 on any failure.
 */
static int
micro_audit(struct micro_env *env, int nthreads, uint64_t budget_ns,
	    const char *name, struct micro_result *res)
{
	struct micro_audit_worker w[MICRO_AUDIT_THREADS];
	struct dstore *ds = NULL;
	struct audit *a = NULL;
	char path[1024 + 64], url[1024 + 80], side[1024 + 80];
	uint64_t t0, t1, batches = 0, rows = 0, total = 0;
	int i, started = 0, rc = -1;

	snprintf(path, sizeof(path), "%s/bench-audit-%d-%d.db", env->tmp_dir,
		 (int)getpid(), nthreads);
	snprintf(url, sizeof(url), "sqlite://%s", path);
	if (dstore_open(url, &ds) != SA_OK ||
	    audit_open(ds, 512, &a) != SA_OK) {
		fprintf(stderr, "micro: cannot open the audit store %s\n",
			path);
		goto out;
	}
	memset(w, 0, sizeof(w));
	t0 = micro_now_ns();
	for (i = 0; i < nthreads; i++) {
		w[i].audit = a;
		w[i].deadline_ns = t0 + budget_ns;
		if (pthread_create(&w[i].tid, NULL, micro_audit_thread,
				   &w[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	t1 = micro_now_ns();
	if (started != nthreads)
		goto out;
	for (i = 0; i < nthreads; i++) {
		if (w[i].failed)
			goto out;
		total += w[i].rows;
	}
	audit_stats(a, &batches, &rows);
	memset(res, 0, sizeof(*res));
	res->name = name;
	res->ops = total;
	res->seconds = (double)(t1 - t0) / 1e9;
	res->commits = batches;
	rc = 0;
out:
	if (a != NULL)
		audit_close(a);
	if (ds != NULL)
		dstore_close(ds);
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	/* The enrollment cache's shared version file (store_sqlite.c). */
	snprintf(side, sizeof(side), "%s-cache", path);
	unlink(side);
	return rc;
}

/* micro_rm_tree removes the demo trust directory made for the run. */
static void
micro_rm_tree(const char *dir)
{
	char cmd[1024 + 64];

	/* the directory is ours (mkdtemp); a shell rm is the simplest walk */
	if (dir[0] == '\0' || strstr(dir, "bench-micro-") == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "micro: could not remove %s\n", dir);
}

/*
 * micro_setup builds what the benchmarks read: keys, a signed verify
 * message, JWT claims, a demo trust environment with one seal, a warm trust
 * handle, a filled session store and a parsed verify body. Returns 0 or -1.
 */
static int
micro_setup(struct micro_env *env)
{
	struct vds_claims vc;
	struct trust_config tc;
	struct trust_result tr;
	struct schema_error serr;
	char path[1024 + 64], gov[1024 + 160], govcert[1024 + 160];
	char *sig_b64 = NULL, *tok = NULL;
	unsigned char *pem = NULL;
	size_t pem_len;
	X509 *cert = NULL;
	BIO *bio = NULL, *pb = NULL;
	struct enrollment en;
	char url[1024 + 80];
	char *pp;
	long pn;
	int had_prev = 0, rc = -1;

	if (rand_bytes(env->otp_secret, sizeof(env->otp_secret)) != SA_OK ||
	    ecdsa_generate_p256(&env->key) != SA_OK)
		goto out;
	snprintf(env->verify_msg, sizeof(env->verify_msg),
		 "sealauth-verify-v1|sess_AbCdEfGhIjKlMnOpQrStUv|123456|"
		 "1800000000|approve|identity:name");
	if (ecdsa_sign_sha256_raw(env->key, env->verify_msg,
				  strlen(env->verify_msg),
				  env->verify_sig) != SA_OK)
		goto out;
	env->claims = json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:[s], s:s, s:s}", "iss",
	    "http://127.0.0.1:8080", "sub", "BENCH-000001", "aud", "demo",
	    "exp", (json_int_t)1800000300, "iat", (json_int_t)1800000000, "nbf",
	    (json_int_t)1800000000, "jti", "3q2-7wEjRWeJq83vEjRWeA",
	    "auth_time", (json_int_t)1800000000, "amr", "x1280", "givenName",
	    "Erika", "familyName", "Mustermann");
	if (env->claims == NULL)
		goto out;
	if (jwt_sign_es256(env->key, "bench-kid", env->claims, &tok) != SA_OK)
		goto out;
	env->approved = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s}", "type", "approved", "jwt", tok, "hash",
	    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	    "random", "3q2-7wEjRWeJq83vEjRWeA", "expiresAt",
	    "2027-01-15T08:00:00Z");
	free(tok);
	if (env->approved == NULL)
		goto out;

	snprintf(env->trust_dir, sizeof(env->trust_dir),
		 "%s/bench-micro-XXXXXX", env->tmp_dir);
	if (mkdtemp(env->trust_dir) == NULL) {
		env->trust_dir[0] = '\0';
		goto out;
	}
	snprintf(path, sizeof(path), "%s/trust", env->trust_dir);
	if (trust_demo_build(path, NULL) != SA_OK)
		goto out;
	memset(&vc, 0, sizeof(vc));
	snprintf(vc.given_name, sizeof(vc.given_name), "ERIKA");
	snprintf(vc.family_name, sizeof(vc.family_name), "MUSTERMANN");
	snprintf(vc.birth_date, sizeof(vc.birth_date), "1990-04-01");
	snprintf(vc.nationality, sizeof(vc.nationality), "DEU");
	snprintf(vc.document, sizeof(vc.document), "C01X00T47");
	snprintf(vc.token_id, sizeof(vc.token_id), "BENCH-000001");
	snprintf(vc.expiry, sizeof(vc.expiry), "2035-01-01");
	if (trust_demo_issue(path, &vc, now_unix(), &env->seal,
			     &env->seal_len) != SA_OK ||
	    vds_decode(env->seal, env->seal_len, &env->seal_decoded, NULL, 0) !=
		SA_OK)
		goto out;

	snprintf(gov, sizeof(gov), "%s/lists/ca/signers/%s%s.pem", path,
		 TRUST_DEMO_CA_ID, TRUST_DEMO_CERT_ID);
	if (read_file(gov, 65536, &pem, &pem_len) != SA_OK ||
	    (bio = BIO_new_mem_buf(pem, (int)pem_len)) == NULL ||
	    (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    (env->signer_pub = X509_get_pubkey(cert)) == NULL)
		goto out;

	if (env->trust_dir[0] != '/')
		goto out;
	snprintf(gov, sizeof(gov), "file://%s/lists/governance.xml", path);
	snprintf(govcert, sizeof(govcert), "%s/governance.pem", path);
	memset(&tc, 0, sizeof(tc));
	tc.governance_url = gov;
	tc.governance_cert_path = govcert;
	tc.ttl = 3600;
	tc.max_list_bytes = 4u << 20;
	tc.fetch_timeout_ms = 10000;
	if (trust_open(&tc, &env->trust, &tr) != SA_OK) {
		fprintf(stderr, "micro: demo trust did not load: %s %s\n",
			tr.step, tr.reason);
		goto out;
	}
	/* warm: the first verification caches the signer certificate */
	if (trust_verify_seal(env->trust, env->seal_decoded, now_unix(), &tr) !=
	    SA_OK) {
		fprintf(stderr, "micro: demo seal refused: %s %s\n", tr.step,
			tr.reason);
		goto out;
	}

	if ((pb = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PUBKEY(pb, env->key) != 1 ||
	    (pn = BIO_get_mem_data(pb, &pp)) <= 0 ||
	    (size_t)pn >= sizeof(env->pub_pem))
		goto out;
	memcpy(env->pub_pem, pp, (size_t)pn);
	env->pub_pem[pn] = '\0';
	snprintf(url, sizeof(url), "sqlite://%s/enroll.db", env->trust_dir);
	memset(&en, 0, sizeof(en));
	snprintf(en.token_id, sizeof(en.token_id), "BENCH-000001");
	snprintf(en.device_id, sizeof(en.device_id), "bench-device");
	en.public_key_pem = env->pub_pem;
	en.fcm_token = (char *)"bench-fcm-token";
	snprintf(en.trust_level, sizeof(en.trust_level), "high");
	en.claims = (char *)"{\"givenName\":\"ERIKA\",\"familyName\":"
			    "\"MUSTERMANN\"}";
	memset(en.seal_fingerprint, 'a', 64);
	en.created_at = now_unix();
	en.expires_at = en.created_at + 86400 * 365;
	if (dstore_open(url, &env->ds) != SA_OK ||
	    dstore_enroll_put(env->ds, &en, NULL, &had_prev) != SA_OK)
		goto out;

	if (estore_open("mem:", &env->es) != SA_OK ||
	    bench_estore_set(env, MICRO_ESTORE_KEYS) != 0)
		goto out;

	if ((sig_b64 = b64_encode(env->verify_sig, sizeof(env->verify_sig))) ==
	    NULL)
		goto out;
	snprintf(env->verify_body_text, sizeof(env->verify_body_text),
		 "{\"sessionId\":\"sess_AbCdEfGhIjKlMnOpQrStUv\","
		 "\"tokenId\":\"BENCH-000001\",\"otp\":\"123456\","
		 "\"timestamp\":1800000000,\"decision\":\"approve\","
		 "\"grantedScopes\":[\"identity:name\"],\"signature\":\"%s\"}",
		 sig_b64);
	if (schema_parse_json(env->verify_body_text,
			      strlen(env->verify_body_text), 65536,
			      &env->verify_body, &serr) != SA_OK ||
	    schema_validate(&api_verify_schema, env->verify_body, 0, &serr) !=
		SA_OK) {
		fprintf(stderr, "micro: verify body refused: %s %s\n",
			serr.field, serr.message);
		goto out;
	}
	rc = 0;
out:
	free(sig_b64);
	free(pem);
	BIO_free(bio);
	BIO_free(pb);
	X509_free(cert);
	return rc;
}

static void
micro_teardown(struct micro_env *env)
{
	EVP_PKEY_free(env->key);
	EVP_PKEY_free(env->signer_pub);
	json_decref(env->claims);
	json_decref(env->approved);
	json_decref(env->verify_body);
	free(env->seal);
	if (env->seal_decoded != NULL)
		vds_free(env->seal_decoded);
	if (env->trust != NULL)
		trust_close(env->trust);
	if (env->es != NULL)
		estore_close(env->es);
	if (env->ds != NULL)
		dstore_close(env->ds);
	micro_rm_tree(env->trust_dir);
	OPENSSL_cleanse(env->otp_secret, sizeof(env->otp_secret));
}

/* micro_print writes the table and, when path is set, the JSON file. */
static int
micro_print(const struct micro_result *r, size_t n, const char *path)
{
	json_t *arr = json_array(), *o;
	size_t i;
	int rc = 0;

	printf("%-34s %14s %12s %12s\n", "benchmark", "ops/s", "ns/op",
	       "commits");
	for (i = 0; i < n; i++) {
		double ops_s = (double)r[i].ops / r[i].seconds;
		double ns = r[i].seconds * 1e9 / (double)r[i].ops;

		printf("%-34s %14.0f %12.0f", r[i].name, ops_s, ns);
		if (r[i].commits > 0)
			printf(" %12llu (%.1f rows each)",
			       (unsigned long long)r[i].commits,
			       (double)r[i].ops / (double)r[i].commits);
		printf("\n");
		o = json_pack("{s:s, s:I, s:f, s:f, s:f}", "name", r[i].name,
			      "ops", (json_int_t)r[i].ops, "seconds",
			      r[i].seconds, "opsPerSec", ops_s, "nsPerOp", ns);
		if (o != NULL && r[i].commits > 0)
			json_object_set_new(
			    o, "commits",
			    json_integer((json_int_t)r[i].commits));
		if (o == NULL || json_array_append_new(arr, o) != 0)
			rc = -1;
	}
	if (path != NULL && rc == 0 &&
	    json_dump_file(arr, path, JSON_INDENT(2)) != 0) {
		fprintf(stderr, "micro: cannot write %s\n", path);
		rc = -1;
	}
	json_decref(arr);
	return rc;
}

static void
micro_usage(void)
{
	fprintf(stderr, "usage: bench_micro [--time-ms N] [--tmp-dir DIR] "
			"[--json FILE] [--only NAME]\n");
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		micro_fn fn;
	} benches[] = {
	    {"otp_derive", bench_otp},
	    {"jwt_sign_es256", bench_jwt},
	    {"json_dumps approved event", bench_dumps},
	    {"json_out approved event", bench_json_out},
	    {"ecdsa_sign_sha256_raw", bench_sign},
	    {"ecdsa_verify_sha256", bench_verify},
	    {"ecdsa_pubkey_from_pem", bench_pubkey_pem},
	    {"dstore_enroll_get (sqlite)", bench_enroll_get},
	    {"vds_decode", bench_vds_decode},
	    {"vds_decode+verify_signature", bench_vds_decode_verify},
	    {"trust_verify_seal (warm)", bench_trust_verify},
	    {"trust_verify_seal_bytes (warm)", bench_trust_verify_bytes},
	    {"estore_set (mem)", bench_estore_set},
	    {"estore_get (mem)", bench_estore_get},
	    {"schema_validate verify body", bench_schema},
	    {"schema_parse+validate verify", bench_schema_parse},
	    {"json_loadb verify body", bench_loadb},
	    {"json_in_parse verify body", bench_json_in},
	    {"system call (getppid)", bench_syscall},
	    {"thread hand-off round trip (eventfd)", bench_handoff},
	};
	struct micro_env env;
	struct micro_result res[MICRO_MAX_RESULTS];
	const char *json_path = NULL, *only = NULL;
	long time_ms = 1000;
	uint64_t budget;
	size_t i, n = 0;
	int a, rc = 1;

	memset(&env, 0, sizeof(env));
	log_set_level(SA_LOG_WARN);
	if (getcwd(env.tmp_dir, sizeof(env.tmp_dir)) == NULL)
		return 2;
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--time-ms") == 0 && a + 1 < argc) {
			time_ms = strtol(argv[++a], NULL, 10);
		} else if (strcmp(argv[a], "--tmp-dir") == 0 && a + 1 < argc) {
			char real[PATH_MAX];

			if (realpath(argv[++a], real) == NULL ||
			    strlen(real) >= sizeof(env.tmp_dir)) {
				fprintf(stderr, "micro: no directory %s\n",
					argv[a]);
				return 2;
			}
			memcpy(env.tmp_dir, real, strlen(real) + 1);
		} else if (strcmp(argv[a], "--json") == 0 && a + 1 < argc) {
			json_path = argv[++a];
		} else if (strcmp(argv[a], "--only") == 0 && a + 1 < argc) {
			only = argv[++a];
		} else {
			micro_usage();
			return 2;
		}
	}
	if (time_ms < 10 || time_ms > 60000) {
		fprintf(stderr, "micro: --time-ms must be 10..60000\n");
		return 2;
	}
	budget = (uint64_t)time_ms * 1000000u;
	if (micro_setup(&env) != 0) {
		fprintf(stderr, "micro: set-up failed\n");
		goto out;
	}
	for (i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		if (only != NULL && strstr(benches[i].name, only) == NULL)
			continue;
		if (micro_run(&env, benches[i].name, benches[i].fn, budget,
			      &res[n]) != 0)
			goto out;
		n++;
	}
	if (only == NULL || strstr("audit_log", only) != NULL ||
	    strstr(only, "audit") != NULL) {
		if (micro_audit(&env, 1, budget, "audit_log (1 thread)",
				&res[n]) != 0)
			goto out;
		n++;
		if (micro_audit(&env, MICRO_AUDIT_THREADS, budget,
				"audit_log (8 threads)", &res[n]) != 0)
			goto out;
		n++;
	}
	if (micro_print(res, n, json_path) != 0)
		goto out;
	rc = 0;
out:
	micro_teardown(&env);
	return rc;
}
