/*
 * oidc_jwk.h - a client's public keys (a JWKS registered with the client)
 * and the client assertions of private_key_jwt (RFC 7523) they verify:
 * ES256 with P-256 keys, RS256 with RSA keys of 2048 to 8192 bits.
 */
#ifndef SEALAUTH_OIDC_JWK_H
#define SEALAUTH_OIDC_JWK_H

#include <stdint.h>

#include <jansson.h>

#include "core/errors.h"

#define OIDC_JWKS_KEYS_MAX 8

/* oidc_jwks_check validates a registered JWKS ({"keys": [...]}, 1 to
 * OIDC_JWKS_KEYS_MAX keys of kty EC (P-256) or RSA); why names the key. */
enum sa_err oidc_jwks_check(const json_t *jwks, char *why, size_t whylen);

/*
 * oidc_assertion_verify checks a client assertion's signature with the
 * client's keys: the header must be {"alg": "ES256" or "RS256"} with an
 * optional kid (then the key of that kid) and typ; nothing else. On
 * success *claims is the payload (a new reference). SA_ERR_UNAUTHORIZED
 * otherwise, with why saying what failed.
 */
enum sa_err oidc_assertion_verify(const char *jwt, const json_t *jwks,
				  json_t **claims, char *why, size_t whylen);

#endif
