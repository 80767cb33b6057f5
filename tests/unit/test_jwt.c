/*
 * test_jwt.c - ES256 JWT signing and the narrow verifier.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/ecdsa.h"
#include "crypto/jwk.h"
#include "core/json_out.h"
#include "crypto/jwt.h"
#include "core/util.h"

#define NOW 1700000100

struct ring1 {
	EVP_PKEY *key;
	char kid[JWK_KID_LEN];
	int calls;
};

static EVP_PKEY *
lookup1(void *arg, const char *kid, int64_t now)
{
	struct ring1 *r = arg;

	(void)now;
	r->calls++;
	if (strcmp(kid, r->kid) != 0 || EVP_PKEY_up_ref(r->key) != 1)
		return NULL;
	return r->key;
}

static int
setup(void **state)
{
	struct ring1 *r = calloc(1, sizeof(*r));

	if (r == NULL || ecdsa_generate_p256(&r->key) != SA_OK ||
	    jwk_thumbprint(r->key, r->kid) != SA_OK)
		return -1;
	*state = r;
	return 0;
}

static int
teardown(void **state)
{
	struct ring1 *r = *state;

	EVP_PKEY_free(r->key);
	free(r);
	return 0;
}

static char *
enc(const char *s)
{
	char *e = b64url_encode((const unsigned char *)s, strlen(s));

	assert_non_null(e);
	return e;
}

/* craft builds b64url(header).b64url(payload) signed with key (ES256), or
 * with sig_b64 if it is not NULL. */
static char *
craft(EVP_PKEY *key, const char *header, const char *payload,
      const char *sig_b64)
{
	char *h = enc(header), *p = enc(payload), *s = NULL, *tok;
	size_t n = strlen(h) + strlen(p) + 200;
	unsigned char sig[64];

	tok = malloc(n);
	assert_non_null(tok);
	snprintf(tok, n, "%s.%s", h, p);
	if (sig_b64 == NULL) {
		assert_int_equal(
		    ecdsa_sign_sha256_raw(key, tok, strlen(tok), sig), SA_OK);
		s = b64url_encode(sig, sizeof(sig));
		sig_b64 = s;
	}
	snprintf(tok + strlen(tok), n - strlen(tok), ".%s", sig_b64);
	free(h);
	free(p);
	free(s);
	return tok;
}

static json_t *
claims_at(int64_t iat, int64_t exp)
{
	json_t *c =
	    json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:[s]}", "iss",
		      "https://id.example", "sub", "DE-1234567", "aud", "svc-1",
		      "iat", (json_int_t)iat, "nbf", (json_int_t)iat, "exp",
		      (json_int_t)exp, "amr", "x1280");

	assert_non_null(c);
	return c;
}

static void
test_sign_then_verify(void **state)
{
	struct ring1 *r = *state;
	json_t *claims = claims_at(NOW, NOW + 300), *got = NULL;
	char *tok = NULL, *dot, *hdr;
	unsigned char *raw = NULL;
	size_t rawlen = 0;

	assert_int_equal(jwt_sign_es256(r->key, r->kid, claims, &tok), SA_OK);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, &got),
			 SA_OK);
	assert_true(json_equal(got, claims));
	/* Claims given as text sign the same payload; text that is not an
	 * object's is refused. */
	{
		char *text = json_out(claims, 0, NULL), *tok2 = NULL;
		const char *dot1 = strrchr(tok, '.');

		assert_non_null(text);
		assert_int_equal(jwt_sign_es256_text(r->key, r->kid, text,
						     strlen(text), &tok2),
				 SA_OK);
		assert_int_equal(strrchr(tok2, '.') - tok2, dot1 - tok);
		assert_memory_equal(tok2, tok, (size_t)(dot1 - tok));
		free(tok2);
		tok2 = NULL;
		assert_int_equal(
		    jwt_sign_es256_text(r->key, r->kid, "[1]", 3, &tok2),
		    SA_ERR_INTERNAL);
		assert_int_equal(
		    jwt_sign_es256_text(r->key, r->kid, "{", 1, &tok2),
		    SA_ERR_INTERNAL);
		assert_null(tok2);
		free(text);
	}
	/* The header is exactly the documented compact form. */
	dot = strchr(tok, '.');
	assert_non_null(dot);
	assert_int_equal(
	    b64url_decode(tok, (size_t)(dot - tok), 1024, &raw, &rawlen),
	    SA_OK);
	hdr = calloc(1, rawlen + 1);
	memcpy(hdr, raw, rawlen);
	char want[128];
	snprintf(want, sizeof(want),
		 "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", r->kid);
	assert_string_equal(hdr, want);
	/* The signature part is raw r||s: 86 base64url characters. */
	assert_int_equal(strlen(strrchr(tok, '.') + 1), 86);
	free(hdr);
	free(raw);
	free(tok);
	/* A kid with characters JSON escapes is escaped in the header. */
	tok = NULL;
	assert_int_equal(
	    jwt_sign_es256(r->key, "a\"b\\c/\xc3\xa9", claims, &tok), SA_OK);
	dot = strchr(tok, '.');
	assert_int_equal(
	    b64url_decode(tok, (size_t)(dot - tok), 1024, &raw, &rawlen),
	    SA_OK);
	hdr = calloc(1, rawlen + 1);
	memcpy(hdr, raw, rawlen);
	assert_string_equal(hdr, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":"
				 "\"a\\\"b\\\\c/\xc3\xa9\"}");
	free(hdr);
	free(raw);
	free(tok);
	json_decref(got);
	json_decref(claims);
}

/*
 * A token made by an independent implementation: PyJWT 2.6 signed
 * {"sub":"tok-1","aud":"svc","iat":1700000000,"exp":1700000300} with the
 * RFC 7515 Appendix A.3 private key and kid = that key's RFC 7638
 * thumbprint (jwt.encode(claims, key, algorithm="ES256",
 * headers={"kid": ...})).
 */
static void
test_verify_pyjwt_token(void **state)
{
	static const char a3_pub_pem[] =
	    "-----BEGIN PUBLIC KEY-----\n"
	    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
	    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
	    "-----END PUBLIC KEY-----\n";
	static const char token[] =
	    "eyJhbGciOiJFUzI1NiIsImtpZCI6Im9LSXl3dkdVcFRWVHl4TVEzYndJSWVRVX"
	    "VkZnJfQ2tMTWpDRTE5RUNELVUiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ0b2stM"
	    "SIsImF1ZCI6InN2YyIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwMzA"
	    "wfQ.k2nab_aVt5-huLIwm40GFtq_Rek42SigZkGIDzkGH0ftIU1Al6mkWrtQ7S"
	    "gMNdCKhAE1pSyzDFuk838OCuV9ig";
	struct ring1 a3 = {0};
	json_t *got = NULL;

	(void)state;
	assert_int_equal(
	    ecdsa_pubkey_from_pem(a3_pub_pem, strlen(a3_pub_pem), &a3.key),
	    SA_OK);
	assert_int_equal(jwk_thumbprint(a3.key, a3.kid), SA_OK);
	assert_int_equal(
	    jwt_verify_es256(token, lookup1, &a3, 1700000100, 0, &got), SA_OK);
	assert_string_equal(json_string_value(json_object_get(got, "sub")),
			    "tok-1");
	assert_int_equal(json_integer_value(json_object_get(got, "exp")),
			 1700000300);
	json_decref(got);
	got = NULL;
	/* The same token once expired. */
	assert_int_equal(
	    jwt_verify_es256(token, lookup1, &a3, 1700000300, 0, &got),
	    SA_ERR_UNAUTHORIZED);
	assert_null(got);
	EVP_PKEY_free(a3.key);
}

static void
test_tampering_refused(void **state)
{
	struct ring1 *r = *state;
	json_t *claims = claims_at(NOW, NOW + 300), *got = NULL;
	char *tok = NULL, *bad, *p1, *p2;
	size_t n;

	assert_int_equal(jwt_sign_es256(r->key, r->kid, claims, &tok), SA_OK);
	n = strlen(tok);
	p1 = strchr(tok, '.');
	p2 = strrchr(tok, '.');
	bad = strdup(tok);
	/* Payload: one character changed. */
	bad[(p1 - tok) + 5] = bad[(p1 - tok) + 5] == 'A' ? 'B' : 'A';
	assert_int_equal(jwt_verify_es256(bad, lookup1, r, NOW, 0, &got),
			 SA_ERR_BAD_SIGNATURE);
	/* Signature: one character changed. */
	strcpy(bad, tok);
	bad[(p2 - tok) + 10] = bad[(p2 - tok) + 10] == 'A' ? 'B' : 'A';
	assert_int_equal(jwt_verify_es256(bad, lookup1, r, NOW, 0, &got),
			 SA_ERR_BAD_SIGNATURE);
	/* Header: a different, well-formed header over the same rest. */
	{
		char hdr[128], *h;
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}",
			 r->kid);
		h = enc(hdr);
		free(bad);
		bad = malloc(strlen(h) + n + 1);
		sprintf(bad, "%s%s", h, p1);
		assert_int_equal(
		    jwt_verify_es256(bad, lookup1, r, NOW, 0, &got),
		    SA_ERR_BAD_SIGNATURE);
		free(h);
	}
	/* Truncated, extended, an extra part. */
	strcpy(bad, tok);
	bad[n - 1] = '\0';
	assert_int_not_equal(jwt_verify_es256(bad, lookup1, r, NOW, 0, &got),
			     SA_OK);
	free(bad);
	bad = malloc(n + 8);
	sprintf(bad, "%sA", tok);
	assert_int_not_equal(jwt_verify_es256(bad, lookup1, r, NOW, 0, &got),
			     SA_OK);
	sprintf(bad, "%s.", tok);
	assert_int_not_equal(jwt_verify_es256(bad, lookup1, r, NOW, 0, &got),
			     SA_OK);
	assert_null(got);
	/* The untouched token still verifies. */
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_OK);
	free(bad);
	free(tok);
	json_decref(claims);
}

static void
test_other_algorithms_refused(void **state)
{
	struct ring1 *r = *state;
	char hdr[256], *tok, *pem = NULL;
	const char *payload = "{\"sub\":\"x\",\"exp\":1800000000}";
	unsigned char mac[32];
	size_t maclen = 0;
	BIO *bio;
	long pemlen;

	/* "none" with an empty signature, and with a valid-looking one. */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"kid\":\"%s\"}", r->kid);
	tok = craft(r->key, hdr, payload, "");
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	tok = craft(r->key, hdr, payload, NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	/* Case variants of the right name are other names. */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"es256\",\"kid\":\"%s\"}",
		 r->kid);
	tok = craft(r->key, hdr, payload, NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	/* HS256 keyed with our public key PEM: the classic confusion. */
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(bio, r->key), 1);
	pemlen = BIO_get_mem_data(bio, &pem);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"kid\":\"%s\"}",
		 r->kid);
	{
		char *h = enc(hdr), *p = enc(payload), input[512], *s;
		snprintf(input, sizeof(input), "%s.%s", h, p);
		assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL,
					  pem, (size_t)pemlen,
					  (unsigned char *)input, strlen(input),
					  mac, sizeof(mac), &maclen));
		s = b64url_encode(mac, maclen);
		free(h);
		free(p);
		tok = craft(r->key, hdr, payload, s);
		free(s);
	}
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	BIO_free(bio);
	/* RS256 and a missing alg, each otherwise validly signed. */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}",
		 r->kid);
	tok = craft(r->key, hdr, payload, NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"kid\":\"%s\"}", r->kid);
	tok = craft(r->key, hdr, payload, NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	/* The control: the same construction with ES256 passes. */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}",
		 r->kid);
	tok = craft(r->key, hdr, payload, NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_OK);
	free(tok);
}

static void
test_header_extensions_refused(void **state)
{
	struct ring1 *r = *state;
	const char *payload = "{\"sub\":\"x\"}";
	/* Each header is pre + kid + post. */
	static const char *const parts[][2] = {
	    {"{\"alg\":\"ES256\",\"kid\":\"", "\",\"crit\":[\"exp\"]}"},
	    {"{\"alg\":\"ES256\",\"kid\":\"", "\",\"jwk\":{\"kty\":\"EC\"}}"},
	    {"{\"alg\":\"ES256\",\"kid\":\"", "\",\"jku\":\"https://x\"}"},
	    {"{\"alg\":\"ES256\",\"kid\":\"", "\",\"b64\":false}"},
	    {"{\"alg\":\"ES256\",\"kid\":\"", "\",\"alg\":\"none\"}"},
	    {"{\"alg\":\"ES256\",\"kid\":\"", "\",\"typ\":\"at+jwt\"}"},
	    {"{\"alg\":\"ES256\",\"kid\":\"", "\",\"typ\":1}"},
	    {"{\"alg\":[\"ES256\"],\"kid\":\"", "\"}"},
	    {"[\"ES256\",\"", "\"]"},
	};
	char hdr[256], *tok;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(hdr, sizeof(hdr), "%s%s%s", parts[i][0], r->kid,
			 parts[i][1]);
		tok = craft(r->key, hdr, payload, NULL);
		assert_int_equal(
		    jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
		    SA_ERR_UNAUTHORIZED);
		free(tok);
	}
	/* No kid, or a kid we do not know: no key, no verification. */
	tok = craft(r->key, "{\"alg\":\"ES256\"}", payload, NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	r->calls = 0;
	tok = craft(r->key, "{\"alg\":\"ES256\",\"kid\":\"other\"}", payload,
		    NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	assert_int_equal(r->calls, 1);
	free(tok);
}

static void
test_time_claims(void **state)
{
	struct ring1 *r = *state;
	json_t *c;
	char *tok = NULL;

	/* Expired: refused at exp, accepted just before; leeway helps. */
	c = claims_at(NOW - 400, NOW - 10);
	assert_int_equal(jwt_sign_es256(r->key, r->kid, c, &tok), SA_OK);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW - 11, 0, NULL),
			 SA_OK);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW - 10, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 30, NULL),
			 SA_OK);
	free(tok);
	json_decref(c);
	/* Not yet valid (nbf and iat in the future). */
	c = claims_at(NOW + 100, NOW + 400);
	assert_int_equal(jwt_sign_es256(r->key, r->kid, c, &tok), SA_OK);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 100, NULL),
			 SA_OK);
	free(tok);
	/* Only iat in the future. */
	json_object_set_new(c, "nbf", json_integer(NOW - 1));
	assert_int_equal(jwt_sign_es256(r->key, r->kid, c, &tok), SA_OK);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	free(tok);
	json_decref(c);
	/* Times that are not integers. */
	const char *payloads[] = {
	    "{\"exp\":\"1800000000\"}",
	    "{\"exp\":1800000000.5}",
	    "{\"nbf\":null}",
	    "{\"iat\":true}",
	    "{\"exp\":1800000000,\"exp\":1}",
	    "[]",
	    "\"claims\"",
	};
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}",
		 r->kid);
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		tok = craft(r->key, hdr, payloads[i], NULL);
		assert_int_equal(
		    jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
		    SA_ERR_UNAUTHORIZED);
		free(tok);
	}
	/* No time claims at all is allowed (checked when present). */
	tok = craft(r->key, hdr, "{\"sub\":\"x\"}", NULL);
	assert_int_equal(jwt_verify_es256(tok, lookup1, r, NOW, 0, NULL),
			 SA_OK);
	free(tok);
	/* A leeway out of range is a caller bug. */
	assert_int_equal(jwt_verify_es256("a.b.c", lookup1, r, NOW, -1, NULL),
			 SA_ERR_INTERNAL);
	assert_int_equal(jwt_verify_es256("a.b.c", lookup1, r, NOW,
					  JWT_LEEWAY_MAX + 1, NULL),
			 SA_ERR_INTERNAL);
}

static void
test_encoding_and_bounds(void **state)
{
	struct ring1 *r = *state;
	json_t *c = claims_at(NOW, NOW + 300);
	char *tok = NULL, *bad, *big;
	size_t n;

	assert_int_equal(jwt_sign_es256(r->key, r->kid, c, &tok), SA_OK);
	n = strlen(tok);
	bad = malloc(n + 8);
	/* Padding, whitespace, standard-alphabet characters. */
	{
		char *p1 = strchr(tok, '.');
		size_t hl = (size_t)(p1 - tok);
		memcpy(bad, tok, hl);
		bad[hl] = '=';
		strcpy(bad + hl + 1, p1);
		assert_int_equal(
		    jwt_verify_es256(bad, lookup1, r, NOW, 0, NULL),
		    SA_ERR_UNAUTHORIZED);
		bad[hl] = ' ';
		assert_int_equal(
		    jwt_verify_es256(bad, lookup1, r, NOW, 0, NULL),
		    SA_ERR_UNAUTHORIZED);
	}
	strcpy(bad, tok);
	{
		/* The last signature character carries 4 unused bits: a
		 * non-zero value there is a second spelling, refused. */
		char *last = bad + n - 1;
		const char *alpha =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
		    "rstuvwxyz0123456789-_";
		int v = (int)(strchr(alpha, *last) - alpha);
		*last = alpha[(v & ~15) | ((v & 15) ^ 1)];
		assert_int_equal(
		    jwt_verify_es256(bad, lookup1, r, NOW, 0, NULL),
		    SA_ERR_UNAUTHORIZED);
	}
	strcpy(bad, tok);
	{
		char *s = strrchr(bad, '.') + 1;
		for (; *s; s++)
			if (*s == '-' || *s == '_')
				*s = *s == '-' ? '+' : '/';
		if (strcmp(bad, tok) != 0)
			assert_int_equal(
			    jwt_verify_es256(bad, lookup1, r, NOW, 0, NULL),
			    SA_ERR_UNAUTHORIZED);
	}
	/* A DER signature in place of raw r||s. */
	{
		unsigned char *raw = NULL, der[ECDSA_P256_DER_MAX];
		size_t rl = 0, dl = 0;
		char *s = strrchr(tok, '.') + 1, *ds;
		assert_int_equal(b64url_decode(s, strlen(s), 100, &raw, &rl),
				 SA_OK);
		assert_int_equal(
		    ecdsa_sig_raw_to_der(raw, der, sizeof(der), &dl), SA_OK);
		ds = b64url_encode(der, dl);
		free(bad);
		bad = malloc(n + 32);
		memcpy(bad, tok, (size_t)(s - tok));
		strcpy(bad + (s - tok), ds);
		assert_int_equal(
		    jwt_verify_es256(bad, lookup1, r, NOW, 0, NULL),
		    SA_ERR_UNAUTHORIZED);
		free(ds);
		free(raw);
	}
	/* Empty parts and missing dots. */
	assert_int_not_equal(jwt_verify_es256("", lookup1, r, NOW, 0, NULL),
			     SA_OK);
	assert_int_not_equal(jwt_verify_es256("..", lookup1, r, NOW, 0, NULL),
			     SA_OK);
	assert_int_not_equal(jwt_verify_es256(NULL, lookup1, r, NOW, 0, NULL),
			     SA_OK);
	/* Over 16 KiB is refused before anything is decoded, even though a
	 * signer would sign it (up to the same bound). */
	big = malloc(JWT_MAX_LEN + 2);
	memset(big, 'A', JWT_MAX_LEN + 1);
	big[JWT_MAX_LEN + 1] = '\0';
	big[10] = '.';
	big[JWT_MAX_LEN - 86] = '.';
	r->calls = 0;
	assert_int_equal(jwt_verify_es256(big, lookup1, r, NOW, 0, NULL),
			 SA_ERR_UNAUTHORIZED);
	assert_int_equal(r->calls, 0);
	free(big);
	{
		/* Claims too large for a token are refused by the signer. */
		json_t *huge = json_object();
		char *filler = malloc(JWT_MAX_LEN);
		memset(filler, 'x', JWT_MAX_LEN - 1);
		filler[JWT_MAX_LEN - 1] = '\0';
		json_object_set_new(huge, "pad", json_string(filler));
		char *out = NULL;
		assert_int_equal(jwt_sign_es256(r->key, r->kid, huge, &out),
				 SA_ERR_BODY_TOO_LARGE);
		assert_null(out);
		json_decref(huge);
		free(filler);
	}
	free(bad);
	free(tok);
	json_decref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sign_then_verify, setup,
					    teardown),
	    cmocka_unit_test(test_verify_pyjwt_token),
	    cmocka_unit_test_setup_teardown(test_tampering_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_other_algorithms_refused,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_header_extensions_refused,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_time_claims, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_encoding_and_bounds, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
