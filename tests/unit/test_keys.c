/*
 * test_keys.c - the signing key ring: first start, reopening, rotation with
 * and without a publish delay, retirement, reload across processes, the
 * external SERVER_PRIVATE_KEY_PATH key and what is refused.
 *
 * Every call takes an explicit time, so the tests move the clock instead of
 * sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <openssl/core_dispatch.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/ecdsa.h"
#include "crypto/jwk.h"
#include "crypto/jwt.h"
#include "crypto/keys.h"
#include "core/util.h"

#define TTL 300
#define GONE_AFTER (TTL + KEYS_RETIRE_SLACK)

struct fixture {
	char dir[64];
	char path[512];
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
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/sealauth-keys-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* in_dir returns DIR/rel in a buffer reused by the next call. */
static const char *
in_dir(struct fixture *fx, const char *rel)
{
	snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, rel);
	return fx->path;
}

/* key_file returns DIR/keys/<kid>.pem, like in_dir. */
static const char *
key_file(struct fixture *fx, const char *kid)
{
	snprintf(fx->path, sizeof(fx->path), "%s/keys/%s.pem", fx->dir, kid);
	return fx->path;
}

static struct keys *
open_ring(struct fixture *fx, int64_t delay)
{
	struct keys_config cfg = {
	    .data_dir = fx->dir, .jwt_ttl = TTL, .publish_delay = delay};
	struct keys *k = NULL;

	assert_int_equal(keys_open(&cfg, &k), SA_OK);
	assert_non_null(k);
	return k;
}

static unsigned int
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned int)(st.st_mode & 07777);
}

static int
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* signer returns the kid that signs at now. */
static void
signer(struct keys *k, int64_t now, char kid[JWK_KID_LEN])
{
	EVP_PKEY *key = NULL;

	assert_int_equal(keys_signing_key(k, now, &key, kid), SA_OK);
	assert_non_null(key);
	EVP_PKEY_free(key);
}

/* published tells whether kid is in the JWKS at now; *count gets its size. */
static int
published(struct keys *k, int64_t now, const char *kid, size_t *count)
{
	json_t *jwks = keys_jwks_json(k, now), *arr, *jwk;
	size_t i;
	int found = 0;

	assert_non_null(jwks);
	arr = json_object_get(jwks, "keys");
	assert_true(json_is_array(arr));
	json_array_foreach(arr, i, jwk)
	{
		assert_null(json_object_get(jwk, "d"));
		if (strcmp(json_string_value(json_object_get(jwk, "kid")),
			   kid) == 0)
			found = 1;
	}
	if (count != NULL)
		*count = json_array_size(arr);
	json_decref(jwks);
	return found;
}

/* entry returns a copy of the keys_list_json entry for kid, or NULL. */
static json_t *
entry(struct keys *k, int64_t now, const char *kid)
{
	json_t *arr = keys_list_json(k, now), *e, *found = NULL;
	size_t i;

	assert_non_null(arr);
	json_array_foreach(arr, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "kid")), kid) ==
		    0)
			found = json_deep_copy(e);
	}
	json_decref(arr);
	return found;
}

/* ring_has tells whether ring.json on disk names kid. */
static int
ring_has(struct fixture *fx, const char *kid)
{
	json_error_t err;
	json_t *root = json_load_file(in_dir(fx, "keys/ring.json"), 0, &err),
	       *e;
	size_t i;
	int found = 0;

	assert_non_null(root);
	json_array_foreach(json_object_get(root, "keys"), i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "kid")), kid) ==
		    0)
			found = 1;
	}
	json_decref(root);
	return found;
}

static char *
sign_token(struct keys *k, int64_t now)
{
	EVP_PKEY *key = NULL;
	char kid[JWK_KID_LEN], *tok = NULL;
	json_t *claims =
	    json_pack("{s:s, s:I, s:I}", "sub", "tok-1", "iat", (json_int_t)now,
		      "exp", (json_int_t)(now + TTL));

	assert_int_equal(keys_signing_key(k, now, &key, kid), SA_OK);
	assert_int_equal(jwt_sign_es256(key, kid, claims, &tok), SA_OK);
	EVP_PKEY_free(key);
	json_decref(claims);
	return tok;
}

static void
test_first_start_generates_then_reopens(void **state)
{
	struct fixture *fx = *state;
	struct keys *k = open_ring(fx, 0);
	EVP_PKEY *a = NULL, *b = NULL;
	char kid[JWK_KID_LEN], kid2[JWK_KID_LEN];
	int64_t now = now_unix();
	size_t count = 0;

	assert_false(keys_external(k));
	assert_int_equal(keys_signing_key(k, now, &a, kid), SA_OK);
	assert_true(published(k, now, kid, &count));
	assert_int_equal(count, 1);
	/* Only the owner can reach the keys. */
	assert_int_equal(mode_of(in_dir(fx, "keys")), 0700);
	assert_int_equal(mode_of(in_dir(fx, "keys/ring.json")), 0600);
	assert_int_equal(mode_of(key_file(fx, kid)), 0600);
	assert_true(ring_has(fx, kid));
	keys_close(k);

	k = open_ring(fx, 0);
	assert_int_equal(keys_signing_key(k, now, &b, kid2), SA_OK);
	assert_string_equal(kid, kid2);
	assert_int_equal(EVP_PKEY_eq(a, b), 1);
	/* Still one key: reopening does not generate. */
	assert_true(published(k, now, kid, &count));
	assert_int_equal(count, 1);
	keys_close(k);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void
test_rotate_with_publish_delay(void **state)
{
	struct fixture *fx = *state;
	struct keys *k = open_ring(fx, 100), *again;
	char old[JWK_KID_LEN], new[JWK_KID_LEN], s[JWK_KID_LEN];
	int64_t t = now_unix();
	json_t *e, *claims = NULL;
	char *before, *after;
	size_t count = 0;

	signer(k, t, old);
	assert_int_equal(keys_rotate(k, t, new), SA_OK);
	assert_string_not_equal(old, new);
	assert_int_equal(mode_of(key_file(fx, new)), 0600);

	/* Published at once, but the old key still signs. */
	assert_true(published(k, t, new, &count));
	assert_true(published(k, t, old, NULL));
	assert_int_equal(count, 2);
	signer(k, t, s);
	assert_string_equal(s, old);
	e = entry(k, t, new);
	assert_string_equal(json_string_value(json_object_get(e, "state")),
			    "next");
	assert_int_equal(json_integer_value(json_object_get(e, "activate_at")),
			 t + 100);
	json_decref(e);
	/* The active key already shows when it will retire. */
	e = entry(k, t, old);
	assert_string_equal(json_string_value(json_object_get(e, "state")),
			    "active");
	assert_int_equal(json_integer_value(json_object_get(e, "retired_at")),
			 t + 100);
	json_decref(e);
	before = sign_token(k, t + 50);
	signer(k, t + 99, s);
	assert_string_equal(s, old);

	/* From activate_at the new key signs and the old one retires. */
	signer(k, t + 100, s);
	assert_string_equal(s, new);
	after = sign_token(k, t + 100);
	e = entry(k, t + 100, old);
	assert_string_equal(json_string_value(json_object_get(e, "state")),
			    "retired");
	assert_int_equal(json_integer_value(json_object_get(e, "retired_at")),
			 t + 100);
	assert_int_equal(json_integer_value(json_object_get(e, "unpublish_at")),
			 t + 100 + GONE_AFTER);
	json_decref(e);
	/* The transition is on disk: another process sees it. */
	again = open_ring(fx, 0);
	e = entry(again, t + 100, old);
	assert_string_equal(json_string_value(json_object_get(e, "state")),
			    "retired");
	json_decref(e);
	keys_close(again);

	/* A token signed before the rotation still verifies after it. */
	assert_int_equal(
	    jwt_verify_es256(before, keys_jwt_lookup, k, t + 150, 0, &claims),
	    SA_OK);
	assert_string_equal(json_string_value(json_object_get(claims, "sub")),
			    "tok-1");
	json_decref(claims);
	assert_int_equal(
	    jwt_verify_es256(after, keys_jwt_lookup, k, t + 150, 0, NULL),
	    SA_OK);

	/* Published until its last token has expired (plus slack)... */
	assert_true(published(k, t + 100 + GONE_AFTER - 1, old, NULL));
	EVP_PKEY *found = NULL;
	assert_int_equal(keys_find(k, old, t + 100 + GONE_AFTER - 1, &found),
			 SA_OK);
	EVP_PKEY_free(found);
	found = NULL;
	assert_true(exists(key_file(fx, old)));
	/* ...then gone from the JWKS, the ring and the disk. */
	assert_false(published(k, t + 100 + GONE_AFTER, old, &count));
	assert_int_equal(count, 1);
	assert_int_equal(keys_find(k, old, t + 100 + GONE_AFTER, &found),
			 SA_ERR_NOT_FOUND);
	assert_null(found);
	assert_false(ring_has(fx, old));
	assert_true(ring_has(fx, new));
	assert_false(exists(key_file(fx, old)));
	/* A token of the dropped key no longer verifies. */
	assert_int_equal(jwt_verify_es256(before, keys_jwt_lookup, k,
					  t + 100 + GONE_AFTER, JWT_LEEWAY_MAX,
					  NULL),
			 SA_ERR_UNAUTHORIZED);
	free(before);
	free(after);
	keys_close(k);

	/* Reopened, the ring holds the new key only, and it signs. */
	k = open_ring(fx, 0);
	signer(k, t + 100 + GONE_AFTER, s);
	assert_string_equal(s, new);
	keys_close(k);
}

static void
test_rotate_without_delay(void **state)
{
	struct fixture *fx = *state;
	struct keys *k = open_ring(fx, 0);
	char old[JWK_KID_LEN], new[JWK_KID_LEN], s[JWK_KID_LEN];
	int64_t t = now_unix();
	json_t *e;
	size_t count;

	signer(k, t, old);
	assert_int_equal(keys_rotate(k, t, new), SA_OK);
	signer(k, t, s);
	assert_string_equal(s, new);
	assert_true(published(k, t, old, &count));
	assert_int_equal(count, 2);
	e = entry(k, t, old);
	assert_string_equal(json_string_value(json_object_get(e, "state")),
			    "retired");
	assert_int_equal(json_integer_value(json_object_get(e, "retired_at")),
			 t);
	json_decref(e);
	assert_true(published(k, t + GONE_AFTER - 1, old, NULL));
	assert_false(published(k, t + GONE_AFTER, old, NULL));
	keys_close(k);
}

static void
test_reload_sees_rotation_by_another_process(void **state)
{
	struct fixture *fx = *state;
	struct keys *server = open_ring(fx, 0), *cli, *fresh;
	char first[JWK_KID_LEN], k2[JWK_KID_LEN], k3[JWK_KID_LEN],
	    s[JWK_KID_LEN];
	struct keys_config cfg = {
	    .data_dir = fx->dir, .jwt_ttl = TTL, .publish_delay = 10};
	int64_t t = now_unix();

	signer(server, t, first);
	assert_int_equal(keys_reload(server), SA_OK); /* nothing changed */
	assert_int_equal(keys_open(&cfg, &cli), SA_OK);
	assert_int_equal(keys_rotate(cli, t, k2), SA_OK);
	/* Unseen until the server reloads. */
	assert_false(published(server, t, k2, NULL));
	assert_int_equal(keys_reload(server), SA_OK);
	assert_true(published(server, t, k2, NULL));
	signer(server, t, s);
	assert_string_equal(s, first);

	/* A second rotation the server has not reloaded yet must survive
	 * the server persisting its own transition at t + 10. */
	keys_close(cli);
	cfg.publish_delay = 100;
	assert_int_equal(keys_open(&cfg, &cli), SA_OK);
	assert_int_equal(keys_rotate(cli, t + 1, k3), SA_OK);
	signer(server, t + 10, s);
	assert_string_equal(s, k2);
	fresh = open_ring(fx, 0);
	assert_true(published(fresh, t + 10, k3, NULL));
	assert_true(published(fresh, t + 10, first, NULL));
	signer(fresh, t + 10, s);
	assert_string_equal(s, k2);
	assert_true(ring_has(fx, k3));
	/* And the server, having re-read under the lock, publishes k3. */
	assert_true(published(server, t + 10, k3, NULL));
	keys_close(fresh);
	keys_close(cli);
	keys_close(server);
}

/* write_key writes key as PEM (PKCS#8, or SEC1 when sec1) with mode. */
static void
write_key(const char *path, EVP_PKEY *key, int sec1, mode_t mode)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;

	assert_non_null(bio);
	if (sec1) {
		OSSL_ENCODER_CTX *ctx = OSSL_ENCODER_CTX_new_for_pkey(
		    key, OSSL_KEYMGMT_SELECT_ALL, "PEM", "type-specific", NULL);
		assert_non_null(ctx);
		assert_int_equal(OSSL_ENCODER_to_bio(ctx, bio), 1);
		OSSL_ENCODER_CTX_free(ctx);
	} else {
		assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL,
							  0, NULL, NULL),
				 1);
	}
	len = BIO_get_mem_data(bio, &data);
	unlink(path);
	assert_int_equal(write_file_atomic(path, data, (size_t)len, mode),
			 SA_OK);
	assert_int_equal(chmod(path, mode), 0);
	BIO_free(bio);
}

/* open_external opens with SERVER_PRIVATE_KEY_PATH, capturing messages. */
static enum sa_err
open_external(struct fixture *fx, const char *path, struct keys **k, char **msg)
{
	struct keys_config cfg = {
	    .data_dir = fx->dir, .private_key_path = path, .jwt_ttl = TTL};
	size_t msglen = 0;
	enum sa_err rc;

	*msg = NULL;
	cfg.err = open_memstream(msg, &msglen);
	assert_non_null(cfg.err);
	rc = keys_open(&cfg, k);
	fclose(cfg.err);
	if (rc == SA_OK)
		keys_close(*k); /* cfg.err is gone; reopen without it */
	if (rc == SA_OK) {
		cfg.err = NULL;
		assert_int_equal(keys_open(&cfg, k), SA_OK);
	}
	return rc;
}

static void
test_external_key(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *key = NULL, *got = NULL;
	struct keys *k = NULL;
	char path[300], want[JWK_KID_LEN], kid[JWK_KID_LEN], *msg = NULL;
	int64_t now = now_unix();
	size_t count;

	snprintf(path, sizeof(path), "%s/server.pem", fx->dir);
	assert_int_equal(ecdsa_generate_p256(&key), SA_OK);
	assert_int_equal(jwk_thumbprint(key, want), SA_OK);

	for (int sec1 = 0; sec1 <= 1; sec1++) {
		write_key(path, key, sec1, 0600);
		assert_int_equal(open_external(fx, path, &k, &msg), SA_OK);
		free(msg);
		assert_true(keys_external(k));
		assert_int_equal(keys_signing_key(k, now, &got, kid), SA_OK);
		assert_string_equal(kid, want);
		assert_int_equal(EVP_PKEY_eq(got, key), 1);
		EVP_PKEY_free(got);
		got = NULL;
		assert_true(published(k, now, want, &count));
		assert_int_equal(count, 1);
		/* Managed outside: no rotation, and no ring was made. */
		assert_int_equal(keys_rotate(k, now, NULL), SA_ERR_FORBIDDEN);
		assert_false(exists(in_dir(fx, "keys")));
		keys_close(k);
		k = NULL;
	}

	/* Group- or world-accessible key files are refused, saying why. */
	static const mode_t loose[] = {0640, 0604, 0660, 0610};
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		write_key(path, key, 0, loose[i]);
		assert_int_equal(open_external(fx, path, &k, &msg),
				 SA_ERR_CONFIG);
		assert_non_null(strstr(msg, "group or others"));
		assert_non_null(strstr(msg, path));
		free(msg);
	}
	EVP_PKEY_free(key);
	assert_int_equal(open_external(fx, "/nonexistent/key.pem", &k, &msg),
			 SA_ERR_IO);
	free(msg);
}

static void
test_external_key_wrong_type_refused(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *all[] = {p384, rsa, ed};
	struct keys *k = NULL;
	char path[300], *msg = NULL;

	snprintf(path, sizeof(path), "%s/server.pem", fx->dir);
	for (size_t i = 0; i < 3; i++) {
		assert_non_null(all[i]);
		write_key(path, all[i], 0, 0600);
		assert_int_equal(open_external(fx, path, &k, &msg),
				 SA_ERR_CONFIG);
		assert_non_null(strstr(msg, "P-256"));
		free(msg);
		EVP_PKEY_free(all[i]);
	}
	/* Not a key at all. */
	assert_int_equal(write_file_atomic(path, "hello\n", 6, 0600), SA_OK);
	assert_int_equal(open_external(fx, path, &k, &msg), SA_ERR_CONFIG);
	free(msg);
}

static void
test_tampered_ring_refused(void **state)
{
	struct fixture *fx = *state;
	struct keys *k = open_ring(fx, 0), *bad = NULL;
	struct keys_config cfg = {.data_dir = fx->dir, .jwt_ttl = TTL};
	char kid[JWK_KID_LEN], kpath[300];
	unsigned char *ring = NULL;
	size_t ringlen = 0;
	EVP_PKEY *other = NULL;

	signer(k, now_unix(), kid);
	keys_close(k);
	snprintf(kpath, sizeof(kpath), "%s/keys/%s.pem", fx->dir, kid);

	/* A key file that is not the key its name says. */
	assert_int_equal(ecdsa_generate_p256(&other), SA_OK);
	write_key(kpath, other, 0, 0600);
	assert_int_not_equal(keys_open(&cfg, &bad), SA_OK);
	assert_null(bad);
	EVP_PKEY_free(other);

	/* A file name that points elsewhere. */
	assert_int_equal(
	    read_file(in_dir(fx, "keys/ring.json"), 65536, &ring, &ringlen),
	    SA_OK);
	{
		char *s = (char *)ring, *f = strstr(s, ".pem\"");
		char *text = malloc(ringlen + 16);
		assert_non_null(f);
		/* "file": "<kid>.pem" becomes "file": "../<kid>.pem". */
		char *q = f - (JWK_KID_LEN - 1);
		memcpy(text, s, (size_t)(q - s));
		strcpy(text + (q - s), "../");
		strcat(text, q);
		assert_int_equal(write_file_atomic(in_dir(fx, "keys/ring.json"),
						   text, strlen(text), 0600),
				 SA_OK);
		assert_int_not_equal(keys_open(&cfg, &bad), SA_OK);
		/* Not JSON at all. */
		assert_int_equal(write_file_atomic(in_dir(fx, "keys/ring.json"),
						   "{", 1, 0600),
				 SA_OK);
		assert_int_not_equal(keys_open(&cfg, &bad), SA_OK);
		assert_null(bad);
		free(text);
	}
	free(ring);
}

static void
test_loose_ring_key_file_refused(void **state)
{
	struct fixture *fx = *state;
	struct keys *k = open_ring(fx, 0), *bad = NULL;
	struct keys_config cfg = {.data_dir = fx->dir, .jwt_ttl = TTL};
	char kid[JWK_KID_LEN];

	signer(k, now_unix(), kid);
	keys_close(k);
	assert_int_equal(chmod(key_file(fx, kid), 0644), 0);
	assert_int_equal(keys_open(&cfg, &bad), SA_ERR_CONFIG);
	assert_null(bad);
	/* A widened directory is narrowed again on open. */
	assert_int_equal(chmod(key_file(fx, kid), 0600), 0);
	assert_int_equal(chmod(in_dir(fx, "keys"), 0755), 0);
	k = open_ring(fx, 0);
	assert_int_equal(mode_of(in_dir(fx, "keys")), 0700);
	keys_close(k);
}

struct worker {
	struct keys *k;
	int64_t t;
	int ok;
};

static void *
work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 100; i++) {
		EVP_PKEY *key = NULL;
		char kid[JWK_KID_LEN], *tok = NULL;
		json_t *c = json_pack("{s:i}", "n", i);
		if (keys_signing_key(w->k, w->t + i % 8, &key, kid) == SA_OK &&
		    jwt_sign_es256(key, kid, c, &tok) == SA_OK &&
		    jwt_verify_es256(tok, keys_jwt_lookup, w->k, w->t + i % 8,
				     0, NULL) == SA_OK)
			w->ok++;
		EVP_PKEY_free(key);
		free(tok);
		json_decref(c);
	}
	return NULL;
}

static void
test_concurrent_signing_during_rotation(void **state)
{
	struct fixture *fx = *state;
	struct keys *k = open_ring(fx, 0);
	struct worker w[4];
	pthread_t th[4];
	int64_t t = now_unix();
	size_t count = 0;
	char kid[JWK_KID_LEN];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.k = k, .t = t, .ok = 0};
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(keys_rotate(k, t + i, NULL), SA_OK);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].ok, 100);
	}
	/* Six keys were made; all are still published within the TTL. */
	signer(k, t + 8, kid);
	assert_true(published(k, t + 8, kid, &count));
	assert_int_equal(count, 6);
	keys_close(k);
}

static void
test_bad_config_refused(void **state)
{
	struct fixture *fx = *state;
	struct keys *k = NULL;
	struct keys_config cfg = {.data_dir = fx->dir, .jwt_ttl = 0};

	assert_int_equal(keys_open(&cfg, &k), SA_ERR_CONFIG);
	cfg.jwt_ttl = TTL;
	cfg.publish_delay = -1;
	assert_int_equal(keys_open(&cfg, &k), SA_ERR_CONFIG);
	cfg.publish_delay = KEYS_PUBLISH_DELAY_MAX + 1;
	assert_int_equal(keys_open(&cfg, &k), SA_ERR_CONFIG);
	assert_null(k);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_first_start_generates_then_reopens),
	    T(test_rotate_with_publish_delay),
	    T(test_rotate_without_delay),
	    T(test_reload_sees_rotation_by_another_process),
	    T(test_external_key),
	    T(test_external_key_wrong_type_refused),
	    T(test_tampered_ring_refused),
	    T(test_loose_ring_key_file_refused),
	    T(test_concurrent_signing_during_rotation),
	    T(test_bad_config_refused),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
