/*
 * jwk.c - JWK export and RFC 7638 thumbprints of P-256 keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/ecdsa.h"
#include "crypto/jwk.h"
#include "core/util.h"

/* coords_b64url writes base64url x and y (43 characters each) into bx, by. */
static enum sa_err
coords_b64url(const EVP_PKEY *key, char bx[44], char by[44])
{
	unsigned char x[32], y[32];
	char *ex = NULL, *ey = NULL;
	enum sa_err rc;

	if ((rc = ecdsa_pubkey_xy(key, x, y)) != SA_OK)
		return rc;
	ex = b64url_encode(x, sizeof(x));
	ey = b64url_encode(y, sizeof(y));
	if (ex == NULL || ey == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (strlen(ex) != 43 || strlen(ey) != 43) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	memcpy(bx, ex, 44);
	memcpy(by, ey, 44);
	rc = SA_OK;
out:
	free(ex);
	free(ey);
	return rc;
}

enum sa_err
jwk_thumbprint(const EVP_PKEY *key, char kid[JWK_KID_LEN])
{
	char bx[44], by[44], canon[160];
	unsigned char digest[32];
	char *enc = NULL;
	enum sa_err rc;
	int n;

	if ((rc = coords_b64url(key, bx, by)) != SA_OK)
		return rc;
	/* RFC 7638 §3.2: required members only, sorted, no whitespace. The
	 * values are base64url, so nothing needs escaping. */
	n = snprintf(
	    canon, sizeof(canon),
	    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", bx,
	    by);
	if (n < 0 || (size_t)n >= sizeof(canon))
		return SA_ERR_INTERNAL;
	sha256(canon, (size_t)n, digest);
	if ((enc = b64url_encode(digest, sizeof(digest))) == NULL)
		return SA_ERR_NOMEM;
	if (strlen(enc) != JWK_KID_LEN - 1) {
		free(enc);
		return SA_ERR_INTERNAL;
	}
	memcpy(kid, enc, JWK_KID_LEN);
	free(enc);
	return SA_OK;
}

json_t *
jwk_public_json(const EVP_PKEY *key)
{
	char bx[44], by[44], kid[JWK_KID_LEN];

	if (coords_b64url(key, bx, by) != SA_OK ||
	    jwk_thumbprint(key, kid) != SA_OK)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC",
			 "crv", "P-256", "x", bx, "y", by, "use", "sig", "alg",
			 "ES256", "kid", kid);
}
