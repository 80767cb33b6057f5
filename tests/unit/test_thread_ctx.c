/*
 * test_thread_ctx.c - the per-thread prepared OpenSSL contexts give what a
 * fresh context gives: HMACs equal OpenSSL's one-shot HMAC whatever the
 * order of keys (more keys than slots, keys too long to keep, a key used
 * again after it was evicted), signatures made with a kept context verify
 * with a fresh one and the other way round, a kept key outlives its
 * owner's reference, and several threads at once each get their own.
 * The thread's own P-256 key, whose point is replaced for each device key,
 * checks each signature against the key it is given and no other: a
 * signature by the key checked just before is refused.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/util.h"
#include "crypto/ecdsa.h"
#include "crypto/otp.h"
#include "crypto/thread_ctx.h"

#define NKEYS (THREAD_CTX_MACS + 3)

/* hmac_kept computes an HMAC with the thread's kept context. */
static void
hmac_kept(const unsigned char *key, size_t klen, const unsigned char *msg,
	  size_t n, unsigned char out[32])
{
	EVP_MAC_CTX *ctx = thread_ctx_hmac_sha256(key, klen);
	size_t len = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_MAC_update(ctx, msg, n), 1);
	assert_int_equal(EVP_MAC_final(ctx, out, &len, 32), 1);
	assert_int_equal(len, 32);
}

/* hmac_ref computes the same HMAC with OpenSSL's one-shot function. */
static void
hmac_ref(const unsigned char *key, size_t klen, const unsigned char *msg,
	 size_t n, unsigned char out[32])
{
	unsigned int len = 0;

	assert_non_null(HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &len));
	assert_int_equal(len, 32);
}

/* mix runs rounds of HMACs over keys of every kind in a pseudo-random
 * order (seeded per caller) and compares each with the reference. */
static void
mix(unsigned int seed, int rounds)
{
	unsigned char keys[NKEYS][THREAD_CTX_MAC_KEY_MAX + 40];
	size_t klens[NKEYS];
	unsigned char msg[300], a[32], b[32];

	assert_int_equal(RAND_bytes((unsigned char *)keys, sizeof(keys)), 1);
	for (size_t i = 0; i < NKEYS; i++)
		/* 1 byte, 32, the longest kept, one past it, and longer. */
		klens[i] = (size_t[]){1,
				      32,
				      THREAD_CTX_MAC_KEY_MAX,
				      THREAD_CTX_MAC_KEY_MAX + 1,
				      17,
				      64,
				      THREAD_CTX_MAC_KEY_MAX + 40}[i % 7];
	/* Two keys that differ only in their last byte. */
	memcpy(keys[1], keys[5], 32);
	keys[1][31] ^= 1;
	for (int r = 0; r < rounds; r++) {
		size_t k, n;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 8) % NKEYS;
		n = (seed >> 4) % sizeof(msg);
		assert_int_equal(RAND_bytes(msg, sizeof(msg)), 1);
		hmac_kept(keys[k], klens[k], msg, n, a);
		hmac_ref(keys[k], klens[k], msg, n, b);
		assert_memory_equal(a, b, 32);
	}
}

static void
test_hmac_matches_one_shot_in_any_key_order(void **state)
{
	(void)state;
	mix(1, 2000);
	/* Made again after a release. */
	thread_ctx_release();
	mix(2, 200);
	thread_ctx_release();
	thread_ctx_release(); /* twice is harmless */
}

static void
test_hmac_abandoned_message_does_not_leak_into_the_next(void **state)
{
	const unsigned char key[32] = {7};
	unsigned char a[32], b[32];
	EVP_MAC_CTX *ctx;

	(void)state;
	/* A caller that stops halfway (an update, no final). */
	ctx = thread_ctx_hmac_sha256(key, sizeof(key));
	assert_non_null(ctx);
	assert_int_equal(EVP_MAC_update(ctx, (const unsigned char *)"junk", 4),
			 1);
	hmac_kept(key, sizeof(key), (const unsigned char *)"msg", 3, a);
	hmac_ref(key, sizeof(key), (const unsigned char *)"msg", 3, b);
	assert_memory_equal(a, b, 32);
	assert_null(thread_ctx_hmac_sha256(key, 0));
	assert_null(thread_ctx_hmac_sha256(NULL, 3));
}

static void
test_otp_functions_agree_with_fresh_contexts(void **state)
{
	const unsigned char s1[] = "sealauth-test-master-secret-0001";
	const unsigned char s2[] = "sealauth-test-master-secret-0002";
	char otp[OTP_DIGITS + 1], tok1[44], tok2[44];

	(void)state;
	/* The specification's vector, with other keys used in between. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    otp_ws_token(s2, sizeof(s2) - 1, "sess_x", "r", tok2),
		    SA_OK);
		assert_int_equal(otp_derive(s1, sizeof(s1) - 1, "sess_test",
					    "tok-1", 1700000000, otp),
				 SA_OK);
		assert_string_equal(otp, "961377");
		assert_int_equal(
		    otp_ws_token(s1, sizeof(s1) - 1, "sess_x", "r", tok1),
		    SA_OK);
		assert_string_not_equal(tok1, tok2);
		assert_true(otp_ws_token_check(s1, sizeof(s1) - 1, "sess_x",
					       "r", tok1));
		assert_false(otp_ws_token_check(s2, sizeof(s2) - 1, "sess_x",
						"r", tok1));
	}
}

/* verify_fresh checks sig over msg with a context of its own. */
static int
verify_fresh(EVP_PKEY *key, const char *msg, const unsigned char raw[64])
{
	unsigned char der[ECDSA_P256_DER_MAX];
	size_t derlen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	assert_non_null(ctx);
	assert_int_equal(ecdsa_sig_raw_to_der(raw, der, sizeof(der), &derlen),
			 SA_OK);
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, der, derlen, (const unsigned char *)msg,
			      strlen(msg)) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static void
test_sign_and_verify_with_kept_contexts(void **state)
{
	EVP_PKEY *k[THREAD_CTX_VERIFY + 2];
	unsigned char sig[64];
	const char *msg = "header.payload";

	(void)state;
	for (size_t i = 0; i < THREAD_CTX_VERIFY + 2; i++)
		assert_int_equal(ecdsa_generate_p256(&k[i]), SA_OK);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < THREAD_CTX_VERIFY + 2; i++) {
			size_t j = (i + 1) % (THREAD_CTX_VERIFY + 2);

			assert_int_equal(
			    ecdsa_sign_sha256_raw(k[i], msg, strlen(msg), sig),
			    SA_OK);
			assert_true(verify_fresh(k[i], msg, sig));
			assert_false(verify_fresh(k[j], msg, sig));
			assert_int_equal(ecdsa_verify_sha256_raw(
					     k[i], msg, strlen(msg), sig),
					 SA_OK);
			/* A failed check leaves the kept context usable. */
			assert_int_equal(ecdsa_verify_sha256_raw(
					     k[j], msg, strlen(msg), sig),
					 SA_ERR_BAD_SIGNATURE);
			assert_int_equal(
			    ecdsa_verify_sha256_raw(k[i], "header.payloae",
						    strlen(msg), sig),
			    SA_ERR_BAD_SIGNATURE);
			assert_int_equal(ecdsa_verify_sha256_raw(
					     k[i], msg, strlen(msg), sig),
					 SA_OK);
		}
	/* The kept contexts hold references of their own: the owners'
	 * references go, the contexts still work until replaced. */
	assert_int_equal(ecdsa_sign_sha256_raw(k[0], msg, strlen(msg), sig),
			 SA_OK);
	for (size_t i = 0; i < THREAD_CTX_VERIFY + 2; i++)
		EVP_PKEY_free(k[i]);
	assert_non_null(sha256_begin());
	thread_ctx_release();
}

/* import_point makes key's public half through ecdsa_pubkey_from_point,
 * the path whose keys carry their point; pt gets the point. */
static EVP_PKEY *
import_point(EVP_PKEY *key, unsigned char pt[65])
{
	EVP_PKEY *pub = NULL;

	pt[0] = 0x04;
	assert_int_equal(ecdsa_pubkey_xy(key, pt + 1, pt + 33), SA_OK);
	assert_int_equal(ecdsa_pubkey_from_point(pt, &pub), SA_OK);
	return pub;
}

#define P256_KEYS 5

static void
test_point_replaced_checks_the_right_key(void **state)
{
	EVP_PKEY *k[P256_KEYS], *pub[P256_KEYS], *copy;
	unsigned char pt[P256_KEYS][65], sig[P256_KEYS][64], bad[65];
	const char *msg = "session|123456|approve";

	(void)state;
	/* This OpenSSL lets a context follow its key's point: the fast path
	 * is what the tests below exercise, not the fallback. */
	assert_int_equal(ecdsa_point_swap_ok(), 1);
	for (size_t i = 0; i < P256_KEYS; i++) {
		assert_int_equal(ecdsa_generate_p256(&k[i]), SA_OK);
		pub[i] = import_point(k[i], pt[i]);
		assert_int_equal(
		    ecdsa_sign_sha256_raw(k[i], msg, strlen(msg), sig[i]),
		    SA_OK);
	}
	/* Every signature against every key, in an order where each check
	 * follows one with another key: only the signer's key accepts. */
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < P256_KEYS; i++)
			for (size_t j = 0; j < P256_KEYS; j++) {
				size_t s = (i + j + (size_t)round) % P256_KEYS;

				assert_int_equal(
				    ecdsa_verify_sha256_raw(
					pub[i], msg, strlen(msg), sig[s]),
				    s == i ? SA_OK : SA_ERR_BAD_SIGNATURE);
				assert_int_equal(
				    verify_fresh(pub[i], msg, sig[s]), s == i);
			}
	/* The same key twice in a row keeps its point; a changed message is
	 * still refused. */
	assert_int_equal(
	    ecdsa_verify_sha256_raw(pub[1], msg, strlen(msg), sig[1]), SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256_raw(pub[1], "session|123456|deny", 19, sig[1]),
	    SA_ERR_BAD_SIGNATURE);
	/* A copy of an imported key carries its own copy of the point. */
	assert_non_null(copy = EVP_PKEY_dup(pub[2]));
	EVP_PKEY_free(pub[2]);
	pub[2] = NULL;
	assert_int_equal(
	    ecdsa_verify_sha256_raw(copy, msg, strlen(msg), sig[2]), SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256_raw(copy, msg, strlen(msg), sig[3]),
	    SA_ERR_BAD_SIGNATURE);
	/* A point OpenSSL refuses gives no context, and the next key is
	 * checked as itself, not with what the refused point left. */
	memcpy(bad, pt[0], 65);
	bad[64] ^= 1;
	assert_null(thread_ctx_verify_p256(pub[0], bad));
	assert_int_equal(
	    ecdsa_verify_sha256_raw(pub[0], msg, strlen(msg), sig[0]), SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256_raw(pub[0], msg, strlen(msg), sig[4]),
	    SA_ERR_BAD_SIGNATURE);
	/* Keys without a point of their own (generated ones) still verify,
	 * with contexts made for them, between keys that have one. */
	assert_int_equal(
	    ecdsa_verify_sha256_raw(k[3], msg, strlen(msg), sig[3]), SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256_raw(pub[4], msg, strlen(msg), sig[3]),
	    SA_ERR_BAD_SIGNATURE);
	assert_int_equal(
	    ecdsa_verify_sha256_raw(k[4], msg, strlen(msg), sig[3]),
	    SA_ERR_BAD_SIGNATURE);
	for (size_t i = 0; i < P256_KEYS; i++) {
		EVP_PKEY_free(k[i]);
		EVP_PKEY_free(pub[i]);
	}
	EVP_PKEY_free(copy);
	thread_ctx_release();
}

struct worker {
	unsigned int seed;
	EVP_PKEY *other; /* another thread's imported key, shared */
	int ok;
};

/* A signature by the key shared as other, over shared_msg. */
static unsigned char shared_sig[64];
static const char shared_msg[] = "signed by the shared key";

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	EVP_PKEY *key = NULL, *pub = NULL;
	unsigned char sig[64], pt[65];
	char msg[32];
	int ok = 0;

	mix(w->seed, 300);
	pt[0] = 0x04;
	if (ecdsa_generate_p256(&key) != SA_OK ||
	    ecdsa_pubkey_xy(key, pt + 1, pt + 33) != SA_OK ||
	    ecdsa_pubkey_from_point(pt, &pub) != SA_OK)
		goto out;
	for (int i = 0; i < 20; i++) {
		snprintf(msg, sizeof(msg), "m%u-%d", w->seed, i);
		/* The thread's own key (imported, so checked through the
		 * thread's replaced point) between checks with the shared
		 * one: each accepts its own signature only. */
		if (ecdsa_sign_sha256_raw(key, msg, strlen(msg), sig) !=
			SA_OK ||
		    ecdsa_verify_sha256_raw(key, msg, strlen(msg), sig) !=
			SA_OK ||
		    ecdsa_verify_sha256_raw(pub, msg, strlen(msg), sig) !=
			SA_OK ||
		    ecdsa_verify_sha256_raw(w->other, msg, strlen(msg), sig) !=
			SA_ERR_BAD_SIGNATURE ||
		    ecdsa_verify_sha256_raw(w->other, shared_msg,
					    strlen(shared_msg),
					    shared_sig) != SA_OK ||
		    ecdsa_verify_sha256_raw(pub, shared_msg, strlen(shared_msg),
					    shared_sig) !=
			SA_ERR_BAD_SIGNATURE ||
		    !verify_fresh(key, msg, sig))
			goto out;
	}
	ok = 1;
out:
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	w->ok = ok;
	return NULL; /* the thread's set is freed as it ends */
}

static void
test_threads_each_have_their_own(void **state)
{
	pthread_t t[4];
	struct worker w[4];
	EVP_PKEY *shared = NULL, *shared_pub;
	unsigned char pt[65];

	(void)state;
	assert_int_equal(ecdsa_generate_p256(&shared), SA_OK);
	shared_pub = import_point(shared, pt);
	assert_int_equal(ecdsa_sign_sha256_raw(shared, shared_msg,
					       strlen(shared_msg), shared_sig),
			 SA_OK);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.seed = 100u + (unsigned int)i,
				       .other = shared_pub};
		assert_int_equal(
		    pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(w[i].ok);
	}
	EVP_PKEY_free(shared);
	EVP_PKEY_free(shared_pub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hmac_matches_one_shot_in_any_key_order),
	    cmocka_unit_test(
		test_hmac_abandoned_message_does_not_leak_into_the_next),
	    cmocka_unit_test(test_otp_functions_agree_with_fresh_contexts),
	    cmocka_unit_test(test_sign_and_verify_with_kept_contexts),
	    cmocka_unit_test(test_point_replaced_checks_the_right_key),
	    cmocka_unit_test(test_threads_each_have_their_own),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	thread_ctx_release();
	return rc;
}
