/*
 * test_oidc.c - the OpenID Provider's pure parts: the form decoder, the
 * checks of authorization and token requests, client settings, secret
 * hashes, and redirect URI matching.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oidc/oidc.h"
#include "oidc/oidc_int.h"
#include "oidc/oidc_jwk.h"
#include "crypto/ecdsa.h"
#include "core/util.h"

static void
parse(const char *text, struct form *p, enum sa_err want)
{
	char why[256] = "";

	assert_int_equal(
	    oidc_params_parse_form(text, strlen(text), p, why, sizeof(why)),
	    want);
}

static void
test_form_decoding(void **state)
{
	struct form p = {0};

	parse("a=1+2&b=%41%2fc&&c=&d", &p, SA_OK);
	assert_int_equal(p.n, 4);
	assert_string_equal(oidc_params_get(&p, "a"), "1 2");
	assert_string_equal(oidc_params_get(&p, "b"), "A/c");
	/* RFC 6749 §3.1: an empty value counts as absent. */
	assert_null(oidc_params_get(&p, "c"));
	assert_null(oidc_params_get(&p, "d"));
	assert_null(oidc_params_get(&p, "missing"));
	form_free(&p);
	/* Twice the same name, a broken escape, an escaped NUL, a bare '='. */
	parse("code=a&code=b", &p, SA_ERR_VALIDATION);
	form_free(&p);
	parse("a=%4", &p, SA_ERR_VALIDATION);
	form_free(&p);
	parse("a=%zz", &p, SA_ERR_VALIDATION);
	form_free(&p);
	parse("a=%00", &p, SA_ERR_VALIDATION);
	form_free(&p);
	parse("=x", &p, SA_ERR_VALIDATION);
	form_free(&p);
	parse("a=%ff%fe", &p, SA_ERR_VALIDATION); /* not UTF-8 */
	form_free(&p);
}

static void
test_form_bounds(void **state)
{
	struct form p = {0};
	char *big = malloc(OIDC_FORM_MAX + 16);
	size_t n = 0;

	/* 33 parameters: one too many. */
	for (int i = 0; i < 33; i++)
		n += (size_t)sprintf(big + n, "%sp%d=v", i ? "&" : "", i);
	parse(big, &p, SA_ERR_VALIDATION);
	assert_int_equal(p.n, OIDC_PARAMS_MAX);
	form_free(&p);
	/* A value over OIDC_PARAM_VALUE_MAX bytes. */
	memcpy(big, "v=", 2);
	memset(big + 2, 'x', OIDC_PARAM_VALUE_MAX + 1);
	big[OIDC_PARAM_VALUE_MAX + 3] = '\0';
	parse(big, &p, SA_ERR_VALIDATION);
	form_free(&p);
	memset(big, 'x', OIDC_FORM_MAX + 1);
	big[OIDC_FORM_MAX + 1] = '\0';
	parse(big, &p, SA_ERR_BODY_TOO_LARGE);
	form_free(&p);
	free(big);
}

/* authorize parses an authorization request and returns its error code
 * (NULL when it passed) and whether it may be redirected. */
static const char *
authorize(const char *text, int *redirectable)
{
	static struct oidc_error err;
	struct form p = {0};
	struct oidc_authorize_req r;
	enum sa_err rc;

	parse(text, &p, SA_OK);
	memset(&err, 0, sizeof(err));
	rc = oidc_authorize_parse(&p, &r, &err, redirectable);
	form_free(&p);
	return rc == SA_OK ? NULL : err.code;
}

#define GOOD                                                                   \
	"client_id=c&redirect_uri=https%3A%2F%2Frp.example%2Fcb&"              \
	"response_type=code&scope=openid+profile&state=s"

static void
test_authorize_checks(void **state)
{
	int red = -1;

	assert_null(authorize(GOOD, &red));
	assert_null(authorize(GOOD "&code_challenge="
				   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
				   "&code_challenge_method=S256&prompt=none"
				   "&max_age=0",
			      &red));
	/* No client or no redirect URI: a page, never a redirect. */
	assert_string_equal(authorize("redirect_uri=https%3A%2F%2Fa%2F", &red),
			    "invalid_request");
	assert_int_equal(red, 0);
	assert_string_equal(authorize("client_id=c", &red), "invalid_request");
	assert_int_equal(red, 0);
	assert_string_equal(authorize("client_id=c%20d&redirect_uri=x", &red),
			    "invalid_request");
	assert_int_equal(red, 0);
	/* Everything else goes to the client. */
	assert_string_equal(
	    authorize("client_id=c&redirect_uri=x&response_type=token"
		      "&scope=openid",
		      &red),
	    "unsupported_response_type");
	assert_int_equal(red, 1);
	assert_string_equal(authorize("client_id=c&redirect_uri=x&response_"
				      "type=code&scope=profile",
				      &red),
			    "invalid_scope");
	assert_string_equal(authorize(GOOD "&code_challenge=abc", &red),
			    "invalid_request");
	assert_string_equal(
	    authorize(GOOD "&code_challenge="
			   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
			   "&code_challenge_method=plain",
		      &red),
	    "invalid_request");
	assert_string_equal(authorize(GOOD "&code_challenge_method=S256", &red),
			    "invalid_request");
	assert_string_equal(authorize(GOOD "&prompt=none+login", &red),
			    "invalid_request");
	assert_string_equal(authorize(GOOD "&prompt=bogus", &red),
			    "invalid_request");
	assert_string_equal(authorize(GOOD "&max_age=-1", &red),
			    "invalid_request");
	assert_string_equal(authorize(GOOD "&nonce=%01", &red),
			    "invalid_request");
	assert_string_equal(authorize(GOOD "&request=x", &red),
			    "request_not_supported");
	assert_string_equal(authorize(GOOD "&request_uri=x", &red),
			    "request_uri_not_supported");
	assert_string_equal(authorize(GOOD "&response_mode=fragment", &red),
			    "invalid_request");
}

static const char *
token(const char *text)
{
	static struct oidc_error err;
	struct form p = {0};
	struct oidc_token_req t;
	enum sa_err rc;

	parse(text, &p, SA_OK);
	memset(&err, 0, sizeof(err));
	rc = oidc_token_parse(&p, &t, &err);
	form_free(&p);
	return rc == SA_OK ? NULL : err.code;
}

static void
test_token_checks(void **state)
{
	assert_null(token("grant_type=authorization_code&code=a&redirect_uri="
			  "https%3A%2F%2Frp%2Fcb"));
	assert_null(token("grant_type=refresh_token&refresh_token=r"));
	assert_string_equal(token("grant_type=password"),
			    "unsupported_grant_type");
	assert_string_equal(token("code=a"), "invalid_request");
	assert_string_equal(token("grant_type=authorization_code&code=a"),
			    "invalid_request"); /* redirect_uri missing */
	assert_string_equal(token("grant_type=authorization_code&code=a&"
				  "redirect_uri=x&code_verifier=short"),
			    "invalid_request");
	assert_string_equal(token("grant_type=refresh_token&refresh_token=r&"
				  "client_assertion=x"),
			    "invalid_request");
	assert_string_equal(
	    token("grant_type=refresh_token&refresh_token=r&client_assertion=x"
		  "&client_assertion_type=urn%3Aother"),
	    "invalid_request");
}

static void
test_secret_hash(void **state)
{
	char *h = NULL;

	assert_int_equal(oidc_secret_hash("short", &h), SA_ERR_VALIDATION);
	assert_int_equal(oidc_secret_hash("a-long-enough-secret", &h), SA_OK);
	assert_true(strncmp(h, "pbkdf2-sha256$20000$", 20) == 0);
	assert_true(oidc_secret_verify("a-long-enough-secret", h));
	assert_false(oidc_secret_verify("a-long-enough-secreT", h));
	assert_false(oidc_secret_verify("a-long-enough-secret", "plain"));
	assert_false(oidc_secret_verify(NULL, h));
	free(h);
}

/* The record of verified secrets answers a secret it has seen against the
 * same stored hash, sends everything else to PBKDF2, and never accepts a
 * wrong secret, a rotated hash or a secret of another client. */
static void
test_secret_record(void **state)
{
	struct oidc_secrets *c = oidc_secrets_new();
	char *h = NULL, *h2 = NULL;
	uint64_t hits, misses;

	(void)state;
	assert_non_null(c);
	assert_int_equal(oidc_secret_hash("a-long-enough-secret", &h), SA_OK);
	assert_int_equal(oidc_secret_hash("a-long-enough-secret", &h2), SA_OK);
	assert_false(oidc_secret_check(c, "a-long-enough-secreT", h));
	assert_true(oidc_secret_check(c, "a-long-enough-secret", h));
	oidc_secrets_stats(c, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 2);
	assert_true(oidc_secret_check(c, "a-long-enough-secret", h));
	oidc_secrets_stats(c, &hits, &misses);
	assert_int_equal(hits, 1);
	/* A wrong secret after a right one still fails, and pays PBKDF2. */
	assert_false(oidc_secret_check(c, "a-long-enough-secreT", h));
	oidc_secrets_stats(c, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 3);
	/* The same secret under a new salt (a rotated hash) is checked again.
	 */
	assert_true(oidc_secret_check(c, "a-long-enough-secret", h2));
	oidc_secrets_stats(c, &hits, &misses);
	assert_int_equal(misses, 4);
	assert_false(oidc_secret_check(c, NULL, h));
	assert_false(oidc_secret_check(c, "a-long-enough-secret", "plain"));
	/* Without a record the check is the plain one. */
	assert_true(oidc_secret_check(NULL, "a-long-enough-secret", h));
	assert_false(oidc_secret_check(NULL, "another-long-secret", h));
	free(h);
	free(h2);
	oidc_secrets_free(c);
}

/* check validates settings given as JSON text; returns the reason. */
static const char *
check(const char *json)
{
	static char why[256];
	json_t *o = json_loads(json, 0, NULL);
	enum sa_err rc;

	assert_non_null(o);
	why[0] = '\0';
	rc = oidc_client_check(o, why, sizeof(why));
	json_decref(o);
	return rc == SA_OK ? NULL : why;
}

static void
test_client_settings(void **state)
{
	assert_null(
	    check("{\"clientType\":\"public\",\"redirectUris\":"
		  "[\"http://127.0.0.1/cb\",\"com.example.app:/cb\"]}"));
	assert_non_null(strstr(check("{\"clientType\":\"public\","
				     "\"redirectUris\":[\"http://rp/cb\"]}"),
			       "redirectUris[0]"));
	assert_non_null(strstr(check("{\"clientType\":\"public\","
				     "\"redirectUris\":[\"https://rp/cb#f\"]}"),
			       "fragment"));
	assert_non_null(strstr(check("{\"clientType\":\"confidential\","
				     "\"redirectUris\":[\"https://rp/cb\"]}"),
			       "secretHash"));
	assert_non_null(strstr(check("{\"clientType\":\"confidential\","
				     "\"secretHash\":\"x\","
				     "\"redirectUris\":[\"https://rp/cb\"]}"),
			       "hash-secret"));
	assert_non_null(strstr(check("{\"clientType\":\"public\","
				     "\"redirectUris\":[\"https://rp/cb\"],"
				     "\"jwks\":{\"keys\":[]}}"),
			       "jwks"));
	assert_non_null(strstr(check("{\"clientType\":\"public\","
				     "\"redirectUris\":[\"https://rp/cb\"],"
				     "\"colour\":\"red\"}"),
			       "colour"));
}

static void
test_redirect_matching(void **state)
{
	json_t *uris = json_pack("[s, s]", "https://rp.example/cb",
				 "http://127.0.0.1/native");
	struct oidc_client c;

	memset(&c, 0, sizeof(c));
	c.redirect_uris = uris;
	assert_true(oidc_redirect_ok(&c, "https://rp.example/cb"));
	assert_false(oidc_redirect_ok(&c, "https://rp.example/cb/"));
	assert_false(oidc_redirect_ok(&c, "https://rp.example/CB"));
	assert_false(oidc_redirect_ok(&c, "https://rp.example:8443/cb"));
	/* RFC 8252 §7.3: loopback redirects on any port, same path. */
	assert_true(oidc_redirect_ok(&c, "http://127.0.0.1:51234/native"));
	assert_true(oidc_redirect_ok(&c, "http://127.0.0.1/native"));
	assert_false(oidc_redirect_ok(&c, "http://127.0.0.1:51234/other"));
	assert_false(oidc_redirect_ok(&c, "http://localhost:51234/native"));
	assert_false(oidc_redirect_ok(&c, "http://127.0.0.1:x/native"));
	json_decref(uris);
}

/*
 * A P-256 key whose x or y has a leading zero byte, written the way some
 * libraries do (shortened): it is accepted and verifies assertions.
 */
static void
test_short_ec_coordinates(void **state)
{
	unsigned char x[32], y[32], sig[64];
	EVP_PKEY *key = NULL;
	json_t *jwks, *claims = NULL;
	char *ex, *ey, *h64, *p64, *s64, *jwt = NULL, why[256];
	int i;

	for (i = 0; i < 20000; i++) {
		assert_int_equal(ecdsa_generate_p256(&key), SA_OK);
		assert_int_equal(ecdsa_pubkey_xy(key, x, y), SA_OK);
		if (x[0] == 0 || y[0] == 0)
			break;
		EVP_PKEY_free(key);
		key = NULL;
	}
	assert_non_null(key);
	ex = b64url_encode(x + (x[0] == 0), 32 - (x[0] == 0));
	ey = b64url_encode(y + (y[0] == 0), 32 - (y[0] == 0));
	jwks = json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "keys", "kty", "EC",
			 "crv", "P-256", "x", ex, "y", ey);
	assert_int_equal(oidc_jwks_check(jwks, why, sizeof(why)), SA_OK);
	h64 = b64url_encode((const unsigned char *)"{\"alg\":\"ES256\"}", 15);
	p64 = b64url_encode((const unsigned char *)"{\"iss\":\"c\"}", 11);
	assert_true(asprintf(&jwt, "%s.%s", h64, p64) > 0);
	assert_int_equal(ecdsa_sign_sha256_raw(key, jwt, strlen(jwt), sig),
			 SA_OK);
	s64 = b64url_encode(sig, sizeof(sig));
	free(jwt);
	assert_true(asprintf(&jwt, "%s.%s.%s", h64, p64, s64) > 0);
	assert_int_equal(
	    oidc_assertion_verify(jwt, jwks, &claims, why, sizeof(why)), SA_OK);
	assert_string_equal(json_string_value(json_object_get(claims, "iss")),
			    "c");
	/* One bit off and it does not. */
	jwt[strlen(jwt) - 2] = jwt[strlen(jwt) - 2] == 'A' ? 'B' : 'A';
	json_decref(claims);
	claims = NULL;
	assert_int_equal(
	    oidc_assertion_verify(jwt, jwks, &claims, why, sizeof(why)),
	    SA_ERR_UNAUTHORIZED);
	free(jwt);
	free(ex);
	free(ey);
	free(h64);
	free(p64);
	free(s64);
	json_decref(jwks);
	EVP_PKEY_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_decoding),
	    cmocka_unit_test(test_form_bounds),
	    cmocka_unit_test(test_authorize_checks),
	    cmocka_unit_test(test_token_checks),
	    cmocka_unit_test(test_secret_hash),
	    cmocka_unit_test(test_secret_record),
	    cmocka_unit_test(test_client_settings),
	    cmocka_unit_test(test_redirect_matching),
	    cmocka_unit_test(test_short_ec_coordinates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
