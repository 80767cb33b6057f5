/*
 * test_jwk.c - JWK export and RFC 7638 thumbprints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "crypto/ecdsa.h"
#include "crypto/jwk.h"
#include "core/util.h"

/*
 * The example EC public key of RFC 7517 Appendix A.1 (x and y as printed
 * there), as SubjectPublicKeyInfo PEM written by Python's cryptography
 * package from those coordinates. Its RFC 7638 thumbprint was computed
 * independently with Python: base64url(hashlib.sha256(
 * '{"crv":"P-256","kty":"EC","x":"<x>","y":"<y>"}'.encode()).digest()).
 */
static const char rfc7517_x[] = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4";
static const char rfc7517_y[] = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM";
static const char rfc7517_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEMKBCTNIcKUSDii11ySs3526iDZ8A\n"
    "iTo7Tu6KPAqv7D7gS2XpJFbZiItSs3m9+9Ue6GnvHw/GW2ZZaVtszggXIw==\n"
    "-----END PUBLIC KEY-----\n";
static const char rfc7517_thumbprint[] =
    "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s";

/* RFC 7515 Appendix A.3's private key (SEC1 PEM from its x, y, d; same
 * provenance), whose thumbprint was computed the same way. */
static const char a3_sec1_pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEII6bEJ5xkJi/mASH3x9dd+nLKWBuvtImO19XwhPfhPSyoAoGCCqGSM49\n"
    "AwEHoUQDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEXH8UTNG72b\n"
    "focs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char a3_thumbprint[] =
    "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U";

static void
test_rfc7517_thumbprint(void **state)
{
	EVP_PKEY *key = NULL;
	char kid[JWK_KID_LEN];

	(void)state;
	assert_int_equal(
	    ecdsa_pubkey_from_pem(rfc7517_pem, strlen(rfc7517_pem), &key),
	    SA_OK);
	assert_int_equal(jwk_thumbprint(key, kid), SA_OK);
	assert_string_equal(kid, rfc7517_thumbprint);
	EVP_PKEY_free(key);
}

static void
test_rfc7517_public_jwk(void **state)
{
	EVP_PKEY *key = NULL;
	json_t *jwk;

	(void)state;
	assert_int_equal(
	    ecdsa_pubkey_from_pem(rfc7517_pem, strlen(rfc7517_pem), &key),
	    SA_OK);
	jwk = jwk_public_json(key);
	assert_non_null(jwk);
	assert_int_equal(json_object_size(jwk), 7);
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")),
			    "EC");
	assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
			    "P-256");
	assert_string_equal(json_string_value(json_object_get(jwk, "x")),
			    rfc7517_x);
	assert_string_equal(json_string_value(json_object_get(jwk, "y")),
			    rfc7517_y);
	assert_string_equal(json_string_value(json_object_get(jwk, "use")),
			    "sig");
	assert_string_equal(json_string_value(json_object_get(jwk, "alg")),
			    "ES256");
	assert_string_equal(json_string_value(json_object_get(jwk, "kid")),
			    rfc7517_thumbprint);
	json_decref(jwk);
	EVP_PKEY_free(key);
}

static void
test_private_key_exports_public_only(void **state)
{
	EVP_PKEY *key = NULL;
	json_t *jwk;
	char kid[JWK_KID_LEN];

	(void)state;
	assert_int_equal(
	    ecdsa_privkey_from_pem(a3_sec1_pem, strlen(a3_sec1_pem), &key),
	    SA_OK);
	assert_int_equal(jwk_thumbprint(key, kid), SA_OK);
	assert_string_equal(kid, a3_thumbprint);
	jwk = jwk_public_json(key);
	assert_non_null(jwk);
	assert_null(json_object_get(jwk, "d"));
	assert_string_equal(json_string_value(json_object_get(jwk, "x")),
			    "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU");
	assert_string_equal(json_string_value(json_object_get(jwk, "y")),
			    "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");
	json_decref(jwk);
	EVP_PKEY_free(key);
}

/*
 * A coordinate below 2^248 must still be 32 bytes (43 base64url characters)
 * with its leading zero, or the thumbprint would differ from every other
 * implementation. About one key in 128 has such an x or y.
 */
static void
test_coordinates_zero_padded(void **state)
{
	int found = 0;

	(void)state;
	for (int i = 0; i < 4096 && !found; i++) {
		EVP_PKEY *key = NULL;
		unsigned char x[32], y[32], *dx = NULL;
		size_t dl = 0;
		json_t *jwk;
		const char *sx;

		assert_int_equal(ecdsa_generate_p256(&key), SA_OK);
		assert_int_equal(ecdsa_pubkey_xy(key, x, y), SA_OK);
		if (x[0] != 0) {
			EVP_PKEY_free(key);
			continue;
		}
		found = 1;
		jwk = jwk_public_json(key);
		assert_non_null(jwk);
		sx = json_string_value(json_object_get(jwk, "x"));
		assert_int_equal(strlen(sx), 43);
		assert_int_equal(b64url_decode(sx, strlen(sx), 64, &dx, &dl),
				 SA_OK);
		assert_int_equal(dl, 32);
		assert_int_equal(dx[0], 0);
		assert_memory_equal(dx, x, 32);
		free(dx);
		json_decref(jwk);
		EVP_PKEY_free(key);
	}
	assert_true(found);
}

static void
test_thumbprint_distinguishes_keys(void **state)
{
	EVP_PKEY *a = NULL, *b = NULL;
	char ka[JWK_KID_LEN], kb[JWK_KID_LEN], ka2[JWK_KID_LEN];

	(void)state;
	assert_int_equal(ecdsa_generate_p256(&a), SA_OK);
	assert_int_equal(ecdsa_generate_p256(&b), SA_OK);
	assert_int_equal(jwk_thumbprint(a, ka), SA_OK);
	assert_int_equal(jwk_thumbprint(b, kb), SA_OK);
	assert_int_equal(jwk_thumbprint(a, ka2), SA_OK);
	assert_int_equal(strlen(ka), JWK_KID_LEN - 1);
	assert_string_not_equal(ka, kb);
	assert_string_equal(ka, ka2);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void
test_non_p256_refused(void **state)
{
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char kid[JWK_KID_LEN] = "unchanged";

	(void)state;
	assert_non_null(p384);
	assert_non_null(ed);
	assert_null(jwk_public_json(p384));
	assert_null(jwk_public_json(ed));
	assert_int_not_equal(jwk_thumbprint(p384, kid), SA_OK);
	assert_int_not_equal(jwk_thumbprint(ed, kid), SA_OK);
	assert_string_equal(kid, "unchanged");
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7517_thumbprint),
	    cmocka_unit_test(test_rfc7517_public_jwk),
	    cmocka_unit_test(test_private_key_exports_public_only),
	    cmocka_unit_test(test_coordinates_zero_padded),
	    cmocka_unit_test(test_thumbprint_distinguishes_keys),
	    cmocka_unit_test(test_non_p256_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
