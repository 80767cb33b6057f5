/*
 * thread_ctx.h - prepared OpenSSL contexts, one set per thread.
 *
 * Setting up an OpenSSL 3 context looks its algorithm up by name, parses
 * parameters and makes a dozen small allocations; a login used to do that
 * for each of its seven HMACs, its token's signature and the phone's
 * signature check, more than the SHA-256 work of the HMACs themselves. The
 * server's keys are few and long-lived, so each thread keeps its contexts
 * ready: an HMAC context per recent key, a signing context for its recent
 * signing key and verifying contexts for its recent public keys (its
 * SHA-256 context is core's, sha256_begin in core/util.h). A context is
 * only ever used by the thread that owns it, so nothing here takes a
 * lock.
 *
 * What is kept: copies of up to THREAD_CTX_MACS HMAC keys (wiped when
 * replaced or freed), and a reference to each cached EVP_PKEY (so a cached
 * key cannot be freed and its address reused by another key while a context
 * refers to it). A thread's set is freed when the thread ends, or by
 * thread_ctx_release.
 *
 * Every function returns a context borrowed until the thread's next call
 * here, or NULL (no memory, or OpenSSL refused: the caller falls back to
 * its error). The caller never frees it.
 */
#ifndef SEALAUTH_THREAD_CTX_H
#define SEALAUTH_THREAD_CTX_H

#include <stddef.h>

#include <openssl/evp.h>

#define THREAD_CTX_MACS 4	  /* HMAC keys kept per thread */
#define THREAD_CTX_MAC_KEY_MAX 64 /* longer keys get a fresh context */
#define THREAD_CTX_VERIFY 2	  /* public keys kept per thread */

/*
 * thread_ctx_hmac_sha256 returns an HMAC-SHA256 context initialised with
 * key (len bytes), ready for EVP_MAC_update. A key longer than
 * THREAD_CTX_MAC_KEY_MAX is not kept: it gets a context of its own that
 * the next call frees.
 */
EVP_MAC_CTX *thread_ctx_hmac_sha256(const unsigned char *key, size_t len);

/*
 * thread_ctx_sign returns a context that signs digests with key
 * (EVP_PKEY_sign). accept (may be NULL) is asked only when key is not the
 * one the thread's context holds: a key it refuses gets NULL and is not
 * kept, so a key in the context has passed it once and is not asked again.
 */
EVP_PKEY_CTX *thread_ctx_sign(EVP_PKEY *key, int (*accept)(const EVP_PKEY *));

/* thread_ctx_verify returns a context that checks signatures over digests
 * with key (EVP_PKEY_verify); accept as for thread_ctx_sign. */
EVP_PKEY_CTX *thread_ctx_verify(EVP_PKEY *key, int (*accept)(const EVP_PKEY *));

/*
 * thread_ctx_verify_p256 returns a context that checks signatures over
 * digests with the P-256 public key whose uncompressed point (65 bytes,
 * 0x04 first) is pt, and which key holds: the thread keeps one P-256 key
 * of its own and one verifying context over it, and puts pt into that key
 * when it differs from the last. Setting up a context for each new key
 * walks every algorithm name OpenSSL knows and makes an 8 KiB array for
 * it; replacing the point does neither. key is copied once per thread to
 * make the thread's own key; the caller vouches that pt is key's point.
 *
 * That the context sees a point replaced in its key is how OpenSSL 3.0
 * behaves, not a documented promise: the caller uses this only once it has
 * seen it hold (ecdsa_point_swap_ok in crypto/ecdsa.h). When OpenSSL
 * refuses pt, NULL comes back and the caller uses thread_ctx_verify.
 */
EVP_PKEY_CTX *thread_ctx_verify_p256(EVP_PKEY *key, const unsigned char pt[65]);

/* thread_ctx_release frees the calling thread's contexts now (they are
 * made again when needed). */
void thread_ctx_release(void);

#endif
