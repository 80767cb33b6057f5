/*
 * jwt.h - compact JWS/JWT with ES256 only (RFC 7515, 7518 §3.4, 7519).
 *
 * Tokens we issue carry the header {"alg":"ES256","typ":"JWT","kid"}. The
 * verifier is deliberately narrow: it accepts exactly that header shape, so
 * alg "none", HMAC or RSA algorithms, "crit" extensions and keys carried in
 * the header ("jwk", "jku", "x5c", ...) are refused before any key is used.
 */
#ifndef SEALAUTH_JWT_H
#define SEALAUTH_JWT_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/errors.h"

#define JWT_MAX_LEN 16384   /* a whole token, characters */
#define JWT_HEADER_MAX 512  /* the encoded header, characters */
#define JWT_KID_MAX 128	    /* a kid, bytes */
#define JWT_LEEWAY_MAX 3600 /* the largest clock leeway accepted, seconds */

/*
 * jwt_sign_es256 signs a claims object with a P-256 key (borrowed) under
 * the key id kid (1..JWT_KID_MAX bytes). Claims are serialised compactly in
 * their insertion order. *out is a new NUL-terminated token the caller
 * frees; tokens longer than JWT_MAX_LEN are refused (SA_ERR_BODY_TOO_LARGE).
 */
enum sa_err jwt_sign_es256(EVP_PKEY *key, const char *kid, const json_t *claims,
			   char **out);
/*
 * jwt_sign_es256_text is jwt_sign_es256 for claims already written as the
 * n bytes of compact JSON text of an object (json_obj_*, core/json_out.h):
 * a login's token is written straight to text, without building the object.
 */
enum sa_err jwt_sign_es256_text(EVP_PKEY *key, const char *kid,
				const char *claims, size_t n, char **out);

/*
 * A key lookup returns a new reference (EVP_PKEY_up_ref or a fresh key,
 * freed by the verifier) to the public key named kid that may verify at
 * now, or NULL when there is none.
 */
typedef EVP_PKEY *(*jwt_key_lookup_fn)(void *arg, const char *kid, int64_t now);

/*
 * jwt_verify_es256 checks a compact token: length bounds, strict base64url
 * parts, the header shape above, the signature (raw r||s, 64 bytes) with the
 * key lookup(arg, kid, now) returns, then the payload, which must be a JSON
 * object whose exp, nbf and iat, when present, are integers with
 * now < exp + leeway, nbf <= now + leeway and iat <= now + leeway.
 * leeway is 0..JWT_LEEWAY_MAX seconds.
 * On success *claims_out (if not NULL) receives the claims object, owned by
 * the caller. Errors: SA_ERR_BAD_SIGNATURE when the signature does not
 * verify, SA_ERR_UNAUTHORIZED for every other refusal (malformed, header,
 * unknown kid, time), SA_ERR_INTERNAL for a bad leeway or lookup.
 */
enum sa_err jwt_verify_es256(const char *token, jwt_key_lookup_fn lookup,
			     void *arg, int64_t now, int64_t leeway,
			     json_t **claims_out);

#endif
