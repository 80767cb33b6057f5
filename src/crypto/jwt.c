/*
 * jwt.c - ES256 JWT signing and verification.
 */
#include <stdlib.h>
#include <string.h>

#include "core/json_out.h"
#include "crypto/ecdsa.h"
#include "crypto/jwt.h"
#include "core/util.h"

/* The signature's raw r||s in base64url: 86 characters. */
#define SIG_B64_LEN B64URL_LEN(ECDSA_P256_RAW_LEN)

/* kid_ok accepts 1..JWT_KID_MAX bytes without control characters. */
static int
kid_ok(const char *kid, size_t len)
{
	if (len == 0 || len > JWT_KID_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)kid[i] < 0x20 || kid[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * The token is written once, into one allocation of its final length: the
 * header (the same bytes json_out of the object would give) and the claims
 * in base64url, the signature over them, then its base64url.
 */
enum sa_err
jwt_sign_es256_text(EVP_PKEY *key, const char *kid, const char *claims,
		    size_t pn, char **out)
{
	struct json_obj h;
	char *hjson = NULL, *tok = NULL;
	unsigned char sig[ECDSA_P256_RAW_LEN];
	size_t hn = 0, signed_len, total, at;
	enum sa_err rc = SA_ERR_INTERNAL;

	if (kid == NULL || !kid_ok(kid, strlen(kid)) || claims == NULL ||
	    pn < 2 || claims[0] != '{' || claims[pn - 1] != '}')
		goto out;
	json_obj_begin(&h);
	json_obj_str(&h, "alg", "ES256");
	json_obj_str(&h, "typ", "JWT");
	json_obj_str(&h, "kid", kid);
	if ((hjson = json_obj_end(&h, &hn)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (hn > JWT_MAX_LEN || pn > JWT_MAX_LEN) {
		rc = SA_ERR_BODY_TOO_LARGE;
		goto out;
	}
	signed_len = B64URL_LEN(hn) + 1 + B64URL_LEN(pn);
	total = signed_len + 1 + SIG_B64_LEN;
	if (total > JWT_MAX_LEN) {
		rc = SA_ERR_BODY_TOO_LARGE;
		goto out;
	}
	if ((tok = malloc(total + 1)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	at = b64url_encode_to(tok, total + 1, (const unsigned char *)hjson, hn);
	tok[at++] = '.';
	at += b64url_encode_to(tok + at, total + 1 - at,
			       (const unsigned char *)claims, pn);
	if (at != signed_len)
		goto out;
	if ((rc = ecdsa_sign_sha256_raw(key, (const unsigned char *)tok,
					signed_len, sig)) != SA_OK)
		goto out;
	tok[at++] = '.';
	if (b64url_encode_to(tok + at, total + 1 - at, sig, sizeof(sig)) !=
	    SIG_B64_LEN) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	*out = tok;
	tok = NULL;
	rc = SA_OK;
out:
	free(tok);
	free(hjson);
	return rc;
}

enum sa_err
jwt_sign_es256(EVP_PKEY *key, const char *kid, const json_t *claims, char **out)
{
	char *text;
	size_t n = 0;
	enum sa_err rc;

	if (!json_is_object(claims))
		return SA_ERR_INTERNAL;
	if ((text = json_out(claims, 0, &n)) == NULL)
		return SA_ERR_NOMEM;
	rc = jwt_sign_es256_text(key, kid, text, n, out);
	free(text);
	return rc;
}

/*
 * decode_json_object decodes one base64url part (at most maxin characters)
 * and parses it as a JSON object without duplicate keys. The caller owns
 * *out.
 */
static enum sa_err
decode_json_object(const char *part, size_t n, size_t maxin, json_t **out)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	json_t *obj = NULL;
	json_error_t jerr;

	if (b64url_decode(part, n, maxin, &raw, &rawlen) != SA_OK)
		return SA_ERR_UNAUTHORIZED;
	/* Duplicate names would let two readers see different values. */
	obj = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES,
			 &jerr);
	free(raw);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return SA_ERR_UNAUTHORIZED;
	}
	*out = obj;
	return SA_OK;
}

/*
 * check_header accepts exactly {"alg":"ES256","kid":...} with an optional
 * "typ":"JWT", and points *kid into the header object.
 */
static enum sa_err
check_header(json_t *hdr, const char **kid)
{
	const char *name;
	json_t *v;
	json_t *alg = json_object_get(hdr, "alg");
	json_t *jkid = json_object_get(hdr, "kid");

	/* Any other member is refused: "crit" names extensions we do not
	 * implement, and "jwk", "jku", "x5c", "x5u" would offer a key the
	 * token chose itself. */
	json_object_foreach(hdr, name, v)
	{
		if (strcmp(name, "alg") != 0 && strcmp(name, "typ") != 0 &&
		    strcmp(name, "kid") != 0)
			return SA_ERR_UNAUTHORIZED;
	}
	/* Only ES256: "none" and HS256 (keyed with our public key) are the
	 * classic algorithm-confusion attacks. */
	if (!json_is_string(alg) ||
	    strcmp(json_string_value(alg), "ES256") != 0 ||
	    json_string_length(alg) != 5)
		return SA_ERR_UNAUTHORIZED;
	v = json_object_get(hdr, "typ");
	if (v != NULL &&
	    (!json_is_string(v) || strcmp(json_string_value(v), "JWT") != 0 ||
	     json_string_length(v) != 3))
		return SA_ERR_UNAUTHORIZED;
	if (!json_is_string(jkid) ||
	    !kid_ok(json_string_value(jkid), json_string_length(jkid)) ||
	    strlen(json_string_value(jkid)) != json_string_length(jkid))
		return SA_ERR_UNAUTHORIZED;
	*kid = json_string_value(jkid);
	return SA_OK;
}

/*
 * time_claim reads an optional integer claim: 0 if absent, 1 if present
 * (*t set), -1 if present but not an integer.
 */
static int
time_claim(json_t *claims, const char *name, int64_t *t)
{
	json_t *v = json_object_get(claims, name);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return -1;
	*t = (int64_t)json_integer_value(v);
	return 1;
}

/* check_times applies exp, nbf and iat against now with leeway. */
static enum sa_err
check_times(json_t *claims, int64_t now, int64_t leeway)
{
	int64_t t = 0;
	int r;

	/* now and leeway are bounded, so now +/- leeway cannot overflow,
	 * whatever the token says. */
	if ((r = time_claim(claims, "exp", &t)) < 0 ||
	    (r > 0 && now - leeway >= t))
		return SA_ERR_UNAUTHORIZED;
	if ((r = time_claim(claims, "nbf", &t)) < 0 ||
	    (r > 0 && t > now + leeway))
		return SA_ERR_UNAUTHORIZED;
	if ((r = time_claim(claims, "iat", &t)) < 0 ||
	    (r > 0 && t > now + leeway))
		return SA_ERR_UNAUTHORIZED;
	return SA_OK;
}

enum sa_err
jwt_verify_es256(const char *token, jwt_key_lookup_fn lookup, void *arg,
		 int64_t now, int64_t leeway, json_t **claims_out)
{
	json_t *hdr = NULL, *claims = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *sig = NULL;
	size_t len, hlen, plen, slen, siglen = 0;
	const char *d1, *d2, *kid = NULL;
	enum sa_err rc = SA_ERR_UNAUTHORIZED;

	if (lookup == NULL || leeway < 0 || leeway > JWT_LEEWAY_MAX ||
	    now < 0 || now > INT64_MAX / 2)
		return SA_ERR_INTERNAL;
	if (token == NULL)
		return SA_ERR_UNAUTHORIZED;
	len = strnlen(token, JWT_MAX_LEN + 1);
	if (len > JWT_MAX_LEN)
		return SA_ERR_UNAUTHORIZED;
	/* Exactly three non-empty parts: header.payload.signature. */
	if ((d1 = memchr(token, '.', len)) == NULL)
		return SA_ERR_UNAUTHORIZED;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
	if (d2 == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		return SA_ERR_UNAUTHORIZED;
	hlen = (size_t)(d1 - token);
	plen = (size_t)(d2 - d1 - 1);
	slen = len - (size_t)(d2 + 1 - token);
	if (hlen == 0 || hlen > JWT_HEADER_MAX || plen == 0 ||
	    slen != SIG_B64_LEN)
		return SA_ERR_UNAUTHORIZED;

	if ((rc = decode_json_object(token, hlen, JWT_HEADER_MAX, &hdr)) !=
	    SA_OK)
		goto out;
	if ((rc = check_header(hdr, &kid)) != SA_OK)
		goto out;
	if (b64url_decode(d2 + 1, slen, SIG_B64_LEN, &sig, &siglen) != SA_OK ||
	    siglen != ECDSA_P256_RAW_LEN) {
		rc = SA_ERR_UNAUTHORIZED;
		goto out;
	}
	if ((key = lookup(arg, kid, now)) == NULL) {
		rc = SA_ERR_UNAUTHORIZED;
		goto out;
	}
	/* The signature covers the encoded header and payload as sent. */
	if ((rc = ecdsa_verify_sha256_raw(key, token, (size_t)(d2 - token),
					  sig)) != SA_OK) {
		rc = SA_ERR_BAD_SIGNATURE;
		goto out;
	}
	/* Only now, with the signature good, is the payload parsed. */
	if ((rc = decode_json_object(d1 + 1, plen, JWT_MAX_LEN, &claims)) !=
	    SA_OK)
		goto out;
	if ((rc = check_times(claims, now, leeway)) != SA_OK)
		goto out;
	if (claims_out != NULL) {
		*claims_out = claims;
		claims = NULL;
	}
	rc = SA_OK;
out:
	json_decref(hdr);
	json_decref(claims);
	EVP_PKEY_free(key);
	free(sig);
	return rc;
}
