/*
 * jwk.h - JSON Web Keys (RFC 7517) for our P-256 signing keys and their
 * RFC 7638 thumbprints, which serve as key ids.
 */
#ifndef SEALAUTH_JWK_H
#define SEALAUTH_JWK_H

#include <jansson.h>
#include <openssl/evp.h>

#include "core/errors.h"

/* A kid is base64url(SHA-256): 43 characters and a NUL. */
#define JWK_KID_LEN 44

/*
 * jwk_public_json returns the public JWK of a P-256 key:
 * {"kty":"EC","crv":"P-256","x","y","use":"sig","alg":"ES256","kid"} with
 * x and y the base64url of the 32-byte coordinates and kid the thumbprint.
 * The caller owns the returned reference; NULL if the key is not P-256 or
 * memory ran out. Only public parts are ever written.
 */
json_t *jwk_public_json(const EVP_PKEY *key);

/*
 * jwk_thumbprint writes the RFC 7638 thumbprint of a P-256 key, the
 * base64url (no padding) of SHA-256 over the canonical
 * {"crv":"P-256","kty":"EC","x":"...","y":"..."}, NUL-terminated into kid.
 */
enum sa_err jwk_thumbprint(const EVP_PKEY *key, char kid[JWK_KID_LEN]);

#endif
