/*
 * test_keycache.c - the parsed-key cache.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "crypto/ecdsa.h"
#include "crypto/keycache.h"

static char *
public_pem(void)
{
	EVP_PKEY *k = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_int_equal(ecdsa_generate_p256(&k), SA_OK);
	assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
	n = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(k);
	return out;
}

static void
test_hit_miss_and_refusal(void **state)
{
	char *a = public_pem(), *b = public_pem();
	EVP_PKEY *k1 = NULL, *k2 = NULL, *k3 = NULL, *bad = NULL;
	struct keycache *kc = NULL;

	assert_int_equal(keycache_new(&kc), SA_OK);
	assert_int_equal(keycache_pubkey(kc, a, strlen(a), &k1), SA_OK);
	assert_int_equal(keycache_count(kc), 1);
	assert_int_equal(keycache_pubkey(kc, a, strlen(a), &k2), SA_OK);
	assert_ptr_equal(k1, k2); /* the same parsed key, not a new parse */
	assert_int_equal(keycache_pubkey(kc, b, strlen(b), &k3), SA_OK);
	assert_ptr_not_equal(k1, k3);
	assert_int_equal(keycache_count(kc), 2);
	/* A broken PEM is refused and never cached. */
	a[40] = a[40] == 'A' ? 'B' : 'A';
	assert_int_not_equal(keycache_pubkey(kc, a, strlen(a), &bad), SA_OK);
	assert_int_equal(keycache_count(kc), 2);
	/* References outlive the cache. */
	keycache_clear(kc);
	assert_int_equal(keycache_count(kc), 0);
	keycache_free(kc);
	assert_true(ecdsa_is_p256(k1));
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
	free(a);
	free(b);
}

static char *shared_pem;

static void *
hammer(void *arg)
{
	struct keycache *kc = arg;

	for (int i = 0; i < 200; i++) {
		EVP_PKEY *k = NULL;
		if (keycache_pubkey(kc, shared_pem, strlen(shared_pem), &k) !=
		    SA_OK)
			return (void *)1;
		EVP_PKEY_free(k);
	}
	return NULL;
}

static void
test_threads_share_one_entry(void **state)
{
	pthread_t t[8];
	struct keycache *kc = NULL;
	void *r;

	assert_int_equal(keycache_new(&kc), SA_OK);
	shared_pem = public_pem();
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, kc), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], &r);
		assert_null(r);
	}
	assert_int_equal(keycache_count(kc), 1);
	keycache_free(kc);
	free(shared_pem);
}

/* Two caches are independent: each server (or test) owns its own. */
static void
test_caches_are_separate(void **state)
{
	struct keycache *a = NULL, *b = NULL;
	char *pem = public_pem();
	EVP_PKEY *k = NULL;

	assert_int_equal(keycache_new(&a), SA_OK);
	assert_int_equal(keycache_new(&b), SA_OK);
	assert_int_equal(keycache_pubkey(a, pem, strlen(pem), &k), SA_OK);
	EVP_PKEY_free(k);
	assert_int_equal(keycache_count(a), 1);
	assert_int_equal(keycache_count(b), 0);
	keycache_free(a);
	keycache_free(b);
	keycache_free(NULL);
	free(pem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_miss_and_refusal),
	    cmocka_unit_test(test_threads_share_one_entry),
	    cmocka_unit_test(test_caches_are_separate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
