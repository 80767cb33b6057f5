/*
 * oidc_secrets.c - the verified client secrets: a small in-memory record of
 * client secrets that passed the PBKDF2 check, so a client that presents
 * the same secret again is not made to pay (and make the server pay) the
 * 20,000 iterations on every token request.
 *
 * An entry is HMAC-SHA-256(process key, stored hash || 0 || secret) with a
 * key drawn at start, never the secret itself. It is found by the stored
 * hash (which carries a random salt, so it names one secret of one client)
 * and matches only when the same secret is presented against the same
 * stored hash: a rotated secret has a new hash and so misses. A wrong
 * secret is never recorded and always pays the full PBKDF2 check.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "oidc/oidc_int.h"
#include "core/util.h"

#define SLOTS 256 /* a power of two; one entry per slot */
#define TAG_LEN 32
#define INPUT_MAX 1024 /* a stored hash, a 0 byte and a secret */

struct slot {
	unsigned char tag[TAG_LEN];
	int used;
};

struct oidc_secrets {
	pthread_mutex_t mu;
	unsigned char key[32];
	struct slot slot[SLOTS];
	uint64_t hits, misses;
};

struct oidc_secrets *
oidc_secrets_new(void)
{
	struct oidc_secrets *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (RAND_bytes(c->key, sizeof(c->key)) != 1 ||
	    pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void
oidc_secrets_free(struct oidc_secrets *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mu);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* tag_of computes the entry of (hash, secret); 0 when they are too long
 * or the MAC fails. */
static int
tag_of(const struct oidc_secrets *c, const char *hash, const char *secret,
       unsigned char tag[TAG_LEN])
{
	unsigned char buf[INPUT_MAX];
	size_t hl = strlen(hash), sl = strlen(secret);
	unsigned int n = TAG_LEN;
	int ok;

	if (hl + 1 + sl > sizeof(buf))
		return 0;
	memcpy(buf, hash, hl);
	buf[hl] = 0;
	memcpy(buf + hl + 1, secret, sl);
	ok = HMAC(EVP_sha256(), c->key, sizeof(c->key), buf, hl + 1 + sl, tag,
		  &n) != NULL &&
	     n == TAG_LEN;
	OPENSSL_cleanse(buf, hl + 1 + sl);
	return ok;
}

/* slot_of picks the slot of a stored hash (FNV-1a of its text). */
static size_t
slot_of(const char *hash)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)hash; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h & (SLOTS - 1);
}

int
oidc_secret_check(struct oidc_secrets *c, const char *secret, const char *hash)
{
	unsigned char tag[TAG_LEN];
	size_t i;
	int ok;

	if (c == NULL)
		return oidc_secret_verify(secret, hash);
	if (secret == NULL || hash == NULL || !tag_of(c, hash, secret, tag))
		return oidc_secret_verify(secret, hash);
	i = slot_of(hash);
	pthread_mutex_lock(&c->mu);
	ok = c->slot[i].used && ct_equal(c->slot[i].tag, tag, TAG_LEN);
	if (ok)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->mu);
	if (!ok && (ok = oidc_secret_verify(secret, hash))) {
		pthread_mutex_lock(&c->mu);
		memcpy(c->slot[i].tag, tag, TAG_LEN);
		c->slot[i].used = 1;
		pthread_mutex_unlock(&c->mu);
	}
	OPENSSL_cleanse(tag, sizeof(tag));
	return ok;
}

void
oidc_secrets_stats(struct oidc_secrets *c, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&c->mu);
	*hits = c->hits;
	*misses = c->misses;
	pthread_mutex_unlock(&c->mu);
}
