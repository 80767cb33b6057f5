/*
 * thread_ctx.c - prepared OpenSSL contexts, one set per thread (see
 * thread_ctx.h).
 *
 * The HMAC and SHA-256 implementations are fetched once for the process:
 * a fetch by name is the costly part of setting up a context, and fetched
 * objects are shared safely between threads. Each thread's set hangs off a
 * thread-local pointer; a pthread key frees it when the thread ends.
 *
 * An HMAC context initialised with a key is started again for the next
 * message with EVP_MAC_init and no key, which reuses the key's prepared
 * inner and outer states; an EVP_PKEY_CTX set up for signing or verifying
 * serves any number of EVP_PKEY_sign or EVP_PKEY_verify calls.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "crypto/thread_ctx.h"

struct mac_slot {
	unsigned char key[THREAD_CTX_MAC_KEY_MAX];
	size_t len; /* 0: empty */
	EVP_MAC_CTX *ctx;
};

struct pkey_slot {
	EVP_PKEY *key; /* a reference of our own; NULL: empty */
	EVP_PKEY_CTX *ctx;
};

/* The thread's own P-256 public key whose point is replaced for each new
 * key (thread_ctx_verify_p256), and its verifying context. */
struct p256_slot {
	EVP_PKEY *key;
	EVP_PKEY_CTX *ctx;
	unsigned char pt[65]; /* the point in key; all zero: none usable */
};

struct thread_ctx {
	struct mac_slot mac[THREAD_CTX_MACS];
	unsigned int mac_next; /* the slot a new key takes */
	EVP_MAC_CTX *mac_once; /* the last key too long to keep */
	struct pkey_slot sign;
	struct pkey_slot verify[THREAD_CTX_VERIFY];
	unsigned int verify_next;
	struct p256_slot p256;
};

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac_impl;
static EVP_MD *sha256_impl;
static pthread_key_t set_key;
static int set_key_ok;
static __thread struct thread_ctx *cur;

static void
set_free(void *p)
{
	struct thread_ctx *t = p;

	if (t == NULL)
		return;
	for (size_t i = 0; i < THREAD_CTX_MACS; i++)
		EVP_MAC_CTX_free(t->mac[i].ctx);
	EVP_MAC_CTX_free(t->mac_once);
	EVP_PKEY_CTX_free(t->sign.ctx);
	EVP_PKEY_free(t->sign.key);
	for (size_t i = 0; i < THREAD_CTX_VERIFY; i++) {
		EVP_PKEY_CTX_free(t->verify[i].ctx);
		EVP_PKEY_free(t->verify[i].key);
	}
	EVP_PKEY_CTX_free(t->p256.ctx);
	EVP_PKEY_free(t->p256.key);
	OPENSSL_clear_free(t, sizeof(*t));
}

static void
fetch(void)
{
	hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
	sha256_impl = EVP_MD_fetch(NULL, "SHA256", NULL);
	set_key_ok = pthread_key_create(&set_key, set_free) == 0;
}

/* set_of returns the calling thread's set, making it on first use. */
static struct thread_ctx *
set_of(void)
{
	struct thread_ctx *t;

	if (cur != NULL)
		return cur;
	pthread_once(&fetch_once, fetch);
	if (hmac_impl == NULL || sha256_impl == NULL || !set_key_ok)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (pthread_setspecific(set_key, t) != 0) {
		free(t);
		return NULL;
	}
	cur = t;
	return t;
}

void
thread_ctx_release(void)
{
	struct thread_ctx *t = cur;

	if (t == NULL)
		return;
	cur = NULL;
	pthread_setspecific(set_key, NULL);
	set_free(t);
}

/* mac_new makes an HMAC-SHA256 context keyed with key. */
static EVP_MAC_CTX *
mac_new(const unsigned char *key, size_t len)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_impl);

	if (ctx == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, len, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
}

/* mac_slot_clear empties s, wiping its key copy. */
static void
mac_slot_clear(struct mac_slot *s)
{
	EVP_MAC_CTX_free(s->ctx);
	s->ctx = NULL;
	s->len = 0;
	OPENSSL_cleanse(s->key, sizeof(s->key));
}

EVP_MAC_CTX *
thread_ctx_hmac_sha256(const unsigned char *key, size_t len)
{
	struct thread_ctx *t = set_of();
	struct mac_slot *s;

	if (t == NULL || key == NULL || len == 0)
		return NULL;
	if (len > THREAD_CTX_MAC_KEY_MAX) {
		EVP_MAC_CTX_free(t->mac_once);
		return t->mac_once = mac_new(key, len);
	}
	for (size_t i = 0; i < THREAD_CTX_MACS; i++) {
		s = &t->mac[i];
		if (s->len == len && CRYPTO_memcmp(s->key, key, len) == 0) {
			if (EVP_MAC_init(s->ctx, NULL, 0, NULL) == 1)
				return s->ctx;
			/* Not reusable after all: key it again below. */
			ERR_clear_error();
			goto fill;
		}
	}
	s = &t->mac[t->mac_next];
	t->mac_next = (t->mac_next + 1) % THREAD_CTX_MACS;
fill:
	mac_slot_clear(s);
	if ((s->ctx = mac_new(key, len)) == NULL)
		return NULL;
	memcpy(s->key, key, len);
	s->len = len;
	return s->ctx;
}

/*
 * pkey_slot_set makes s hold a context for key set up by init (sign or
 * verify), dropping what it held; 0 when OpenSSL refuses, or when accept
 * (may be NULL) refuses the key, which leaves s as it was. A signing
 * context is told its digest, SHA-256, so it refuses anything but a
 * 32-byte input. A verifying one is not: naming the digest makes OpenSSL
 * 3.0 walk every algorithm name it knows to find the digest's, and a
 * verifying context is set up for nearly every login (each for another
 * device key); its callers hash with SHA-256 themselves and pass the 32
 * bytes, and a signature over another digest fails either way.
 */
static int
pkey_slot_set(struct pkey_slot *s, EVP_PKEY *key, int (*init)(EVP_PKEY_CTX *),
	      int (*accept)(const EVP_PKEY *))
{
	EVP_PKEY_CTX *ctx;

	if (accept != NULL && !accept(key))
		return 0; /* refused: the slot keeps what it held */
	EVP_PKEY_CTX_free(s->ctx);
	EVP_PKEY_free(s->key);
	s->ctx = NULL;
	s->key = NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL)
		goto fail;
	if (init(ctx) != 1 || (init == EVP_PKEY_sign_init &&
			       EVP_PKEY_CTX_set_signature_md(
				   ctx, (const EVP_MD *)sha256_impl) != 1)) {
		EVP_PKEY_CTX_free(ctx);
		goto fail;
	}
	if (EVP_PKEY_up_ref(key) != 1) {
		EVP_PKEY_CTX_free(ctx);
		goto fail;
	}
	s->ctx = ctx;
	s->key = key;
	return 1;
fail:
	ERR_clear_error();
	return 0;
}

EVP_PKEY_CTX *
thread_ctx_sign(EVP_PKEY *key, int (*accept)(const EVP_PKEY *))
{
	struct thread_ctx *t = set_of();

	if (t == NULL || key == NULL)
		return NULL;
	if (t->sign.key == key)
		return t->sign.ctx;
	return pkey_slot_set(&t->sign, key, EVP_PKEY_sign_init, accept)
		   ? t->sign.ctx
		   : NULL;
}

EVP_PKEY_CTX *
thread_ctx_verify(EVP_PKEY *key, int (*accept)(const EVP_PKEY *))
{
	struct thread_ctx *t = set_of();
	struct pkey_slot *s;

	if (t == NULL || key == NULL)
		return NULL;
	for (size_t i = 0; i < THREAD_CTX_VERIFY; i++)
		if (t->verify[i].key == key)
			return t->verify[i].ctx;
	s = &t->verify[t->verify_next];
	t->verify_next = (t->verify_next + 1) % THREAD_CTX_VERIFY;
	return pkey_slot_set(s, key, EVP_PKEY_verify_init, accept) ? s->ctx
								   : NULL;
}

/*
 * p256_set puts the point pt into the slot's key, unless it is there
 * already; 0 when OpenSSL refuses it. A refused point may leave the key
 * half changed, so the slot then holds no point it could match.
 */
static int
p256_set(struct p256_slot *s, const unsigned char pt[65])
{
	if (memcmp(s->pt, pt, 65) == 0)
		return 1;
	if (EVP_PKEY_set1_encoded_public_key(s->key, pt, 65) != 1) {
		memset(s->pt, 0, sizeof(s->pt));
		ERR_clear_error();
		return 0;
	}
	memcpy(s->pt, pt, 65);
	return 1;
}

/*
 * p256_slot_make sets s up from a copy of key (whose point is pt): the
 * thread's own key and a verifying context over it; 0 on failure, with s
 * left empty.
 */
static int
p256_slot_make(struct p256_slot *s, EVP_PKEY *key, const unsigned char pt[65])
{
	memset(s->pt, 0, sizeof(s->pt));
	if ((s->key = EVP_PKEY_dup(key)) == NULL ||
	    (s->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, s->key, NULL)) == NULL ||
	    EVP_PKEY_verify_init(s->ctx) != 1) {
		EVP_PKEY_CTX_free(s->ctx);
		EVP_PKEY_free(s->key);
		s->ctx = NULL;
		s->key = NULL;
		ERR_clear_error();
		return 0;
	}
	memcpy(s->pt, pt, 65);
	return 1;
}

EVP_PKEY_CTX *
thread_ctx_verify_p256(EVP_PKEY *key, const unsigned char pt[65])
{
	struct thread_ctx *t;

	if (key == NULL || pt == NULL || pt[0] != 0x04 ||
	    (t = set_of()) == NULL)
		return NULL;
	if (t->p256.ctx == NULL)
		return p256_slot_make(&t->p256, key, pt) ? t->p256.ctx : NULL;
	return p256_set(&t->p256, pt) ? t->p256.ctx : NULL;
}
