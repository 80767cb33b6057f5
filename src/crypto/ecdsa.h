/*
 * ecdsa.h - ECDSA P-256 with SHA-256 over OpenSSL EVP: signature encodings
 * (raw r||s as JOSE and seals use, DER as X.509 and OpenSSL use), signing,
 * verification, and loading or generating P-256 keys.
 *
 * Every function refuses keys that are not P-256 so that a caller can never
 * be talked into another curve or algorithm by a key it was handed.
 */
#ifndef SEALAUTH_ECDSA_H
#define SEALAUTH_ECDSA_H

#include <stddef.h>

#include <openssl/evp.h>

#include "core/errors.h"

/* A raw P-256 signature is r||s, each a 32-byte big-endian integer. */
#define ECDSA_P256_RAW_LEN 64
/* The longest DER ECDSA-Sig-Value for P-256: 2 + 2 * (2 + 33). */
#define ECDSA_P256_DER_MAX 72
/* The largest PEM text accepted for one key (public or private). */
#define ECDSA_PEM_MAX 8192

/*
 * ecdsa_sig_raw_to_der encodes a raw r||s signature as a minimal DER
 * SEQUENCE of two INTEGERs into der (room for cap bytes) and sets *derlen.
 * A zero r or s is refused (SA_ERR_BAD_SIGNATURE): no valid signature has one.
 */
enum sa_err ecdsa_sig_raw_to_der(const unsigned char raw[ECDSA_P256_RAW_LEN],
				 unsigned char *der, size_t cap,
				 size_t *derlen);

/*
 * ecdsa_sig_der_to_raw decodes a strict DER ECDSA-Sig-Value into raw r||s
 * with 32-byte halves. Refused with SA_ERR_BAD_SIGNATURE: anything but
 * exactly SEQUENCE { INTEGER, INTEGER } filling all n bytes, long-form or
 * non-minimal lengths, non-minimal integers (superfluous leading zero bytes),
 * negative or zero integers and integers wider than 32 bytes.
 */
enum sa_err ecdsa_sig_der_to_raw(const unsigned char *der, size_t n,
				 unsigned char raw[ECDSA_P256_RAW_LEN]);

/*
 * ecdsa_sign_sha256_raw signs SHA-256(data) with a P-256 private key and
 * writes the raw r||s signature to out. The key is only borrowed.
 */
enum sa_err ecdsa_sign_sha256_raw(EVP_PKEY *key, const void *data, size_t n,
				  unsigned char out[ECDSA_P256_RAW_LEN]);

/*
 * ecdsa_verify_sha256 checks a signature over SHA-256(data) with a P-256 key
 * (public or private). The signature may be raw r||s (64 bytes) or strict
 * DER; either is re-encoded canonically before OpenSSL sees it, so only one
 * encoding of each (r, s) is accepted per form. Returns SA_OK or
 * SA_ERR_BAD_SIGNATURE (also for a key that is not P-256).
 */
enum sa_err ecdsa_verify_sha256(EVP_PKEY *key, const void *data, size_t n,
				const unsigned char *sig, size_t siglen);

/*
 * ecdsa_verify_sha256_raw is ecdsa_verify_sha256 for raw r||s only, as JWS
 * (RFC 7518 §3.4) requires: exactly one accepted form per signature.
 */
enum sa_err
ecdsa_verify_sha256_raw(EVP_PKEY *key, const void *data, size_t n,
			const unsigned char sig[ECDSA_P256_RAW_LEN]);

/*
 * ecdsa_pubkey_from_pem parses one PEM "PUBLIC KEY" (SubjectPublicKeyInfo)
 * of at most ECDSA_PEM_MAX bytes (the text need not be NUL-terminated) and
 * accepts it only if it is an EC key on the named curve P-256 whose point
 * checks out. Nothing but whitespace may surround the PEM block. *out is a
 * new key the caller frees with EVP_PKEY_free. Returns SA_ERR_VALIDATION
 * for anything refused.
 */
enum sa_err ecdsa_pubkey_from_pem(const char *pem, size_t n, EVP_PKEY **out);

/*
 * ecdsa_pubkey_from_point makes a P-256 public key of the uncompressed
 * point pt (0x04, then x and y, 32 bytes each, big-endian). A point off
 * the curve, or with a coordinate not below the field prime, is refused
 * (SA_ERR_VALIDATION). P-256 has cofactor 1, so any other point is a valid
 * public key. The caller owns *out.
 */
enum sa_err ecdsa_pubkey_from_point(const unsigned char pt[65], EVP_PKEY **out);

/*
 * ecdsa_privkey_from_pem parses a P-256 private key in PEM, either PKCS#8
 * ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"), of at most ECDSA_PEM_MAX bytes.
 * Encrypted keys and any other key type or curve are refused
 * (SA_ERR_VALIDATION). The caller owns *out and still owns (and should wipe)
 * the PEM text.
 */
enum sa_err ecdsa_privkey_from_pem(const char *pem, size_t n, EVP_PKEY **out);

/*
 * ecdsa_privkey_to_pem writes a private key as unencrypted PKCS#8 PEM into a
 * new NUL-terminated buffer *out of *outlen bytes. The caller wipes it
 * (OPENSSL_cleanse) before freeing it.
 */
enum sa_err ecdsa_privkey_to_pem(EVP_PKEY *key, char **out, size_t *outlen);

/* ecdsa_generate_p256 makes a new P-256 key pair; the caller owns *out. */
enum sa_err ecdsa_generate_p256(EVP_PKEY **out);

/*
 * ecdsa_point_swap_ok tells, checking once for the process, whether a
 * thread's verifying context follows a point replaced in its key
 * (thread_ctx_verify_p256): with two fresh keys A and B, imported from their
 * points as device keys are, the context accepts A's signature and refuses
 * B's, then once B's point is in refuses A's and accepts B's, and back
 * again. 1 if it does, when signature checks use that context; 0 if it
 * does not or the check could not run, when every key gets a context of
 * its own.
 */
int ecdsa_point_swap_ok(void);

/* ecdsa_is_p256 tells whether key is an EC key on the named curve P-256. */
int ecdsa_is_p256(const EVP_PKEY *key);

/*
 * ecdsa_pubkey_xy writes the affine coordinates of a P-256 public key as
 * 32-byte big-endian integers, left-padded with zeros.
 */
enum sa_err ecdsa_pubkey_xy(const EVP_PKEY *key, unsigned char x[32],
			    unsigned char y[32]);

#endif
