/*
 * keycache.h - parsed device public keys, cached by the SHA-256 of their PEM.
 *
 * Every login verifies with the key its device enrolled, so the parsed key
 * is kept rather than parsed again (about 20 µs with ecdsa.c's direct
 * import, 350 µs through OpenSSL 3's decoder for the keys that path does
 * not handle). The cache is bounded (KEYCACHE_MAX keys) and safe from any
 * thread; the server makes one at start (struct app) and frees it at stop.
 */
#ifndef SEALAUTH_KEYCACHE_H
#define SEALAUTH_KEYCACHE_H

#include <stddef.h>

#include <openssl/evp.h>

#include "core/errors.h"

#define KEYCACHE_MAX 65536

struct keycache;

/* keycache_new makes an empty cache; keycache_free drops its keys and frees
 * it (NULL is ignored). References handed out outlive the cache. */
enum sa_err keycache_new(struct keycache **out);
void keycache_free(struct keycache *kc);

/*
 * keycache_pubkey returns in *out a new reference (free it with
 * EVP_PKEY_free) to the P-256 key of the SPKI PEM, parsing and checking it
 * with ecdsa_pubkey_from_pem on a miss. A PEM that does not parse is never
 * cached.
 */
enum sa_err keycache_pubkey(struct keycache *kc, const char *pem, size_t n,
			    EVP_PKEY **out);

/* keycache_clear drops every cached key (tests, shutdown). */
void keycache_clear(struct keycache *kc);

/* keycache_count is the number of cached keys. */
size_t keycache_count(struct keycache *kc);

#endif
