/*
 * oidc_jwk.c - client keys and private_key_jwt client assertions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "oidc/oidc_jwk.h"
#include "crypto/ecdsa.h"
#include "crypto/jwt.h"
#include "core/util.h"

#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 8192

/* member_b64 decodes a base64url member of at most max bytes. */
static int
member_b64(const json_t *k, const char *name, size_t max, unsigned char **out,
	   size_t *n)
{
	const char *s = json_string_value(json_object_get(k, name));

	return s != NULL &&
	       b64url_decode(s, strlen(s), max * 2, out, n) == SA_OK &&
	       *n > 0 && *n <= max;
}

/* ec_key builds a P-256 public key from a JWK's x and y; the point must be
 * on the curve (ecdsa_pubkey_from_point). */
static EVP_PKEY *
ec_key(const json_t *k)
{
	unsigned char *x = NULL, *y = NULL, pt[65];
	size_t nx = 0, ny = 0;
	EVP_PKEY *key = NULL;
	const char *crv = json_string_value(json_object_get(k, "crv"));

	if (crv == NULL || strcmp(crv, "P-256") != 0 ||
	    !member_b64(k, "x", 32, &x, &nx) ||
	    !member_b64(k, "y", 32, &y, &ny))
		goto out;
	/* RFC 7518 §6.2.1.2 wants 32 bytes, but some libraries drop leading
	 * zero bytes (about one key in 128): pad them back. */
	memset(pt, 0, sizeof(pt));
	pt[0] = 0x04;
	memcpy(pt + 1 + 32 - nx, x, nx);
	memcpy(pt + 33 + 32 - ny, y, ny);
	if (ecdsa_pubkey_from_point(pt, &key) != SA_OK)
		key = NULL;
out:
	free(x);
	free(y);
	return key;
}

/* rsa_key builds an RSA public key from a JWK's n and e. */
static EVP_PKEY *
rsa_key(const json_t *k)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nn = 0, ne = 0;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;

	if (!member_b64(k, "n", RSA_BITS_MAX / 8, &n, &nn) ||
	    !member_b64(k, "e", 8, &e, &ne) || nn * 8 < RSA_BITS_MIN)
		goto out;
	bn = BN_bin2bn(n, (int)nn, NULL);
	be = BN_bin2bn(e, (int)ne, NULL);
	if (bn == NULL || be == NULL || BN_num_bits(bn) < RSA_BITS_MIN ||
	    !BN_is_odd(be) || BN_is_one(be) ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return key;
}

/* jwk_key builds the public key of a JWK, or NULL for a refused one. */
static EVP_PKEY *
jwk_key(const json_t *k, const char **kty_out)
{
	const char *kty = json_string_value(json_object_get(k, "kty"));

	*kty_out = kty;
	if (!json_is_object(k) || kty == NULL ||
	    json_object_get(k, "d") != NULL) /* never a private key */
		return NULL;
	if (strcmp(kty, "EC") == 0)
		return ec_key(k);
	if (strcmp(kty, "RSA") == 0)
		return rsa_key(k);
	return NULL;
}

enum sa_err
oidc_jwks_check(const json_t *jwks, char *why, size_t whylen)
{
	const json_t *keys = json_object_get(jwks, "keys"), *k;
	const char *kty;
	size_t i;

	if (!json_is_array(keys) || json_array_size(keys) == 0 ||
	    json_array_size(keys) > OIDC_JWKS_KEYS_MAX) {
		why_set(why, whylen, "jwks.keys: 1 to %d public keys",
			OIDC_JWKS_KEYS_MAX);
		return SA_ERR_VALIDATION;
	}
	json_array_foreach(keys, i, k)
	{
		EVP_PKEY *key = jwk_key(k, &kty);
		const json_t *kid = json_object_get(k, "kid");
		if (key == NULL) {
			why_set(why, whylen,
				"jwks.keys[%zu]: not a public P-256 (EC) or "
				"2048 to 8192-bit RSA key",
				i);
			return SA_ERR_VALIDATION;
		}
		EVP_PKEY_free(key);
		if (kid != NULL &&
		    (!json_is_string(kid) || json_string_length(kid) == 0 ||
		     json_string_length(kid) > JWT_KID_MAX)) {
			why_set(why, whylen,
				"jwks.keys[%zu].kid: 1 to %d bytes", i,
				JWT_KID_MAX);
			return SA_ERR_VALIDATION;
		}
	}
	return SA_OK;
}

/* rs256_verify checks a PKCS#1 v1.5 SHA-256 signature. */
static int
rs256_verify(EVP_PKEY *key, const void *data, size_t n,
	     const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL &&
		 EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestVerify(md, sig, siglen, data, n) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* header_ok checks the assertion header's shape and names alg and kid. */
static int
header_ok(const json_t *h, const char **alg, const char **kid)
{
	const char *key;
	const json_t *v;

	if (!json_is_object(h))
		return 0;
	json_object_foreach((json_t *)h, key, v)
	{
		if (strcmp(key, "alg") != 0 && strcmp(key, "kid") != 0 &&
		    strcmp(key, "typ") != 0)
			return 0; /* no jwk, jku, x5c, crit, ... */
		if (!json_is_string(v))
			return 0;
	}
	*alg = json_string_value(json_object_get(h, "alg"));
	*kid = json_string_value(json_object_get(h, "kid"));
	return *alg != NULL &&
	       (strcmp(*alg, "ES256") == 0 || strcmp(*alg, "RS256") == 0);
}

enum sa_err
oidc_assertion_verify(const char *jwt, const json_t *jwks, json_t **claims,
		      char *why, size_t whylen)
{
	const char *dot1, *dot2, *alg = NULL, *kid = NULL, *kty;
	unsigned char *hb = NULL, *pb = NULL, *sig = NULL;
	size_t hn = 0, pn = 0, sn = 0, i;
	json_t *h = NULL, *p = NULL, *k;
	int ok = 0;

	if (jwt == NULL || strlen(jwt) > JWT_MAX_LEN ||
	    (dot1 = strchr(jwt, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL ||
	    strchr(dot2 + 1, '.') != NULL ||
	    b64url_decode(jwt, (size_t)(dot1 - jwt), JWT_HEADER_MAX, &hb,
			  &hn) != SA_OK ||
	    b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), JWT_MAX_LEN, &pb,
			  &pn) != SA_OK ||
	    b64url_decode(dot2 + 1, strlen(dot2 + 1), 2048, &sig, &sn) !=
		SA_OK) {
		why_set(why, whylen, "client_assertion is not a compact JWS");
		goto out;
	}
	h = json_loadb((const char *)hb, hn, JSON_REJECT_DUPLICATES, NULL);
	p = json_loadb((const char *)pb, pn, JSON_REJECT_DUPLICATES, NULL);
	if (!header_ok(h, &alg, &kid) || !json_is_object(p)) {
		why_set(why, whylen,
			"client_assertion: header must be alg ES256 or RS256 "
			"with an optional kid, payload an object");
		goto out;
	}
	json_array_foreach(json_object_get(jwks, "keys"), i, k)
	{
		const char *kk = json_string_value(json_object_get(k, "kid"));
		EVP_PKEY *key;
		if (kid != NULL && (kk == NULL || strcmp(kk, kid) != 0))
			continue;
		if ((key = jwk_key(k, &kty)) == NULL)
			continue;
		if (strcmp(alg, "ES256") == 0 && strcmp(kty, "EC") == 0)
			ok = sn == 64 &&
			     ecdsa_verify_sha256_raw(
				 key, jwt, (size_t)(dot2 - jwt), sig) == SA_OK;
		else if (strcmp(alg, "RS256") == 0 && strcmp(kty, "RSA") == 0)
			ok = rs256_verify(key, jwt, (size_t)(dot2 - jwt), sig,
					  sn);
		EVP_PKEY_free(key);
		if (ok)
			break;
	}
	if (!ok)
		why_set(why, whylen,
			"client_assertion: the signature does not verify with "
			"the client's registered keys");
out:
	free(hb);
	free(pb);
	free(sig);
	json_decref(h);
	if (ok)
		*claims = p;
	else
		json_decref(p);
	return ok ? SA_OK : SA_ERR_UNAUTHORIZED;
}
