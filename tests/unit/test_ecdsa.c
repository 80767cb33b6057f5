/*
 * test_ecdsa.c - signature encodings, sign/verify and key loading.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/ecdsa.h"
#include "core/util.h"

/*
 * RFC 7515 Appendix A.3 (ES256): the key, the JWS signing input and the
 * signature as printed in the RFC. The PEM forms of the same key were
 * written by Python's cryptography package from the RFC's x, y and d, and
 * the DER signature by its encode_dss_signature from the RFC's r and s.
 */
static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char a3_input[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char a3_sig[] = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCg"
			     "fTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char a3_der_hex[] =
    "304502200ed1215379636c483c2f7f155807d402a3b228033af97c7e17819ac3169e"
    "a665022100c50a07d38c3c70e5d8f12daf084a5480a66590c5f293509a8f3f7f8a83"
    "a354d5";
static const char a3_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END PUBLIC KEY-----\n";
static const char a3_pkcs8_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n"
    "H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n"
    "7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"
    "-----END PRIVATE KEY-----\n";
static const char a3_sec1_pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEII6bEJ5xkJi/mASH3x9dd+nLKWBuvtImO19XwhPfhPSyoAoGCCqGSM49\n"
    "AwEHoUQDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEXH8UTNG72b\n"
    "focs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END EC PRIVATE KEY-----\n";
/* A P-256 public key with the curve spelled out as explicit parameters
 * (`openssl ecparam -name prime256v1 -param_enc explicit -genkey -noout |
 * openssl ec -pubout`, OpenSSL 3.0). */
static const char explicit_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBSzCCAQMGByqGSM49AgEwgfcCAQEwLAYHKoZIzj0BAQIhAP////8AAAABAAAA\n"
    "AAAAAAAAAAAA////////////////MFsEIP////8AAAABAAAAAAAAAAAAAAAA////\n"
    "///////////8BCBaxjXYqjqT57PrvVV2mIa8ZR0GsMxTsPY7zjw+J9JgSwMVAMSd\n"
    "NgiG5wSTamZ44ROdJreBn36QBEEEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5\n"
    "RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9QIhAP////8AAAAA\n"
    "//////////+85vqtpxeehPO5ysL8YyVRAgEBA0IABJgkLNcxH2TrEWy0qBTfzldf\n"
    "ZvSafDwj1HMPz4doUBorw6WsONx8+OHllbjSy0MAF2EvDcUn1s7YfuSx9VIuj28=\n"
    "-----END PUBLIC KEY-----\n";

static unsigned char *
unb64url(const char *s, size_t *n)
{
	unsigned char *out = NULL;

	assert_int_equal(b64url_decode(s, strlen(s), 4096, &out, n), SA_OK);
	return out;
}

static unsigned char *
unhex(const char *s, size_t *n)
{
	unsigned char *out = NULL;

	assert_int_equal(hex_decode(s, strlen(s), 4096, &out, n), SA_OK);
	return out;
}

static char *
pem_of(EVP_PKEY *key, int private_key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *copy;
	long len;

	assert_non_null(bio);
	if (private_key)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL,
							  0, NULL, NULL),
				 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
	len = BIO_get_mem_data(bio, &data);
	copy = calloc(1, (size_t)len + 1);
	assert_non_null(copy);
	memcpy(copy, data, (size_t)len);
	BIO_free(bio);
	return copy;
}

static void
test_rfc7515_a3_der_matches_raw(void **state)
{
	size_t rawlen, derlen, outlen;
	unsigned char *raw = unb64url(a3_sig, &rawlen);
	unsigned char *der = unhex(a3_der_hex, &derlen);
	unsigned char back[ECDSA_P256_RAW_LEN], out[ECDSA_P256_DER_MAX];

	(void)state;
	assert_int_equal(rawlen, 64);
	assert_int_equal(ecdsa_sig_der_to_raw(der, derlen, back), SA_OK);
	assert_memory_equal(back, raw, 64);
	assert_int_equal(ecdsa_sig_raw_to_der(raw, out, sizeof(out), &outlen),
			 SA_OK);
	assert_int_equal(outlen, derlen);
	assert_memory_equal(out, der, derlen);
	free(raw);
	free(der);
}

static void
test_rfc7515_a3_verifies_both_encodings(void **state)
{
	EVP_PKEY *pub = NULL;
	size_t rawlen, derlen;
	unsigned char *raw = unb64url(a3_sig, &rawlen);
	unsigned char *der = unhex(a3_der_hex, &derlen);

	(void)state;
	assert_int_equal(
	    ecdsa_pubkey_from_pem(a3_pub_pem, strlen(a3_pub_pem), &pub), SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256(pub, a3_input, strlen(a3_input), raw, rawlen),
	    SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256(pub, a3_input, strlen(a3_input), der, derlen),
	    SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256_raw(pub, a3_input, strlen(a3_input), raw),
	    SA_OK);
	/* One byte less of input: refused. */
	assert_int_equal(ecdsa_verify_sha256(pub, a3_input,
					     strlen(a3_input) - 1, raw, rawlen),
			 SA_ERR_BAD_SIGNATURE);
	EVP_PKEY_free(pub);
	free(raw);
	free(der);
}

static void
test_a3_coordinates_and_private_forms(void **state)
{
	EVP_PKEY *k8 = NULL, *k1 = NULL, *pub = NULL;
	unsigned char x[32], y[32], sig[64];
	size_t xl, yl;
	unsigned char *wx = unb64url(a3_x, &xl), *wy = unb64url(a3_y, &yl);

	(void)state;
	assert_int_equal(
	    ecdsa_privkey_from_pem(a3_pkcs8_pem, strlen(a3_pkcs8_pem), &k8),
	    SA_OK);
	assert_int_equal(
	    ecdsa_privkey_from_pem(a3_sec1_pem, strlen(a3_sec1_pem), &k1),
	    SA_OK);
	assert_int_equal(
	    ecdsa_pubkey_from_pem(a3_pub_pem, strlen(a3_pub_pem), &pub), SA_OK);
	assert_int_equal(ecdsa_pubkey_xy(k8, x, y), SA_OK);
	assert_memory_equal(x, wx, 32);
	assert_memory_equal(y, wy, 32);
	assert_int_equal(ecdsa_pubkey_xy(k1, x, y), SA_OK);
	assert_memory_equal(x, wx, 32);
	assert_memory_equal(y, wy, 32);
	/* The RFC's private key signs what the RFC's public key accepts. */
	assert_int_equal(ecdsa_sign_sha256_raw(k1, "abc", 3, sig), SA_OK);
	assert_int_equal(ecdsa_verify_sha256(pub, "abc", 3, sig, 64), SA_OK);
	/* A public key PEM is not a private key and vice versa. */
	EVP_PKEY *bad = NULL;
	assert_int_equal(
	    ecdsa_privkey_from_pem(a3_pub_pem, strlen(a3_pub_pem), &bad),
	    SA_ERR_VALIDATION);
	assert_int_equal(
	    ecdsa_pubkey_from_pem(a3_pkcs8_pem, strlen(a3_pkcs8_pem), &bad),
	    SA_ERR_VALIDATION);
	assert_null(bad);
	EVP_PKEY_free(k8);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(pub);
	free(wx);
	free(wy);
}

static void
test_raw_der_round_trip_edges(void **state)
{
	/* Halves with leading zeros, a set top bit, and the smallest value. */
	static const unsigned char firsts[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	unsigned char raw[64], back[64], der[ECDSA_P256_DER_MAX];
	size_t derlen;

	(void)state;
	for (size_t a = 0; a < sizeof(firsts); a++) {
		for (size_t b = 0; b < sizeof(firsts); b++) {
			assert_int_equal(rand_bytes(raw, sizeof(raw)), SA_OK);
			raw[0] = firsts[a];
			raw[32] = firsts[b];
			if (firsts[a] == 0)
				raw[1] = 0x00, raw[2] = 0x85;
			if (firsts[b] == 0)
				raw[33] = 0x01;
			assert_int_equal(ecdsa_sig_raw_to_der(
					     raw, der, sizeof(der), &derlen),
					 SA_OK);
			assert_true(derlen <= ECDSA_P256_DER_MAX);
			assert_int_equal(
			    ecdsa_sig_der_to_raw(der, derlen, back), SA_OK);
			assert_memory_equal(raw, back, 64);
		}
	}
	/* r = 1, s = 1: the shortest encoding. */
	memset(raw, 0, sizeof(raw));
	raw[31] = 1;
	raw[63] = 1;
	assert_int_equal(ecdsa_sig_raw_to_der(raw, der, sizeof(der), &derlen),
			 SA_OK);
	assert_int_equal(derlen, 8);
	static const unsigned char small[] = {0x30, 0x06, 0x02, 0x01,
					      0x01, 0x02, 0x01, 0x01};
	assert_memory_equal(der, small, 8);
	/* A zero half is no signature. */
	raw[63] = 0;
	assert_int_equal(ecdsa_sig_raw_to_der(raw, der, sizeof(der), &derlen),
			 SA_ERR_BAD_SIGNATURE);
	/* Too little room is an error, not an overflow. */
	memset(raw, 0xff, sizeof(raw));
	assert_int_equal(ecdsa_sig_raw_to_der(raw, der, 71, &derlen),
			 SA_ERR_INTERNAL);
}

/* refused asserts that a DER byte string does not decode. */
static void
refused(const unsigned char *der, size_t n)
{
	unsigned char raw[64];

	memset(raw, 0xa5, sizeof(raw));
	assert_int_equal(ecdsa_sig_der_to_raw(der, n, raw),
			 SA_ERR_BAD_SIGNATURE);
	/* Nothing was written on failure. */
	for (size_t i = 0; i < sizeof(raw); i++)
		assert_int_equal(raw[i], 0xa5);
}

static void
test_hostile_der(void **state)
{
	size_t derlen;
	unsigned char *der = unhex(a3_der_hex, &derlen);
	unsigned char buf[200];

	(void)state;
	/* Every truncation. */
	for (size_t n = 0; n < derlen; n++)
		refused(der, n);
	/* Trailing garbage after a valid signature. */
	memcpy(buf, der, derlen);
	buf[derlen] = 0x00;
	refused(buf, derlen + 1);
	/* Outer length says more, or less, than there is. */
	memcpy(buf, der, derlen);
	buf[1]++;
	refused(buf, derlen);
	buf[1] -= 2;
	refused(buf, derlen);
	/* Not a SEQUENCE. */
	memcpy(buf, der, derlen);
	buf[0] = 0x31;
	refused(buf, derlen);
	/* Long-form outer length (30 81 45): valid BER, not DER. */
	buf[0] = 0x30;
	buf[1] = 0x81;
	buf[2] = (unsigned char)(derlen - 2);
	memcpy(buf + 3, der + 2, derlen - 2);
	refused(buf, derlen + 1);
	/* Long-form INTEGER length (02 81 20). */
	{
		unsigned char l[80];
		size_t n = 0;
		l[n++] = 0x30;
		l[n++] = (unsigned char)(derlen - 2 + 1);
		l[n++] = 0x02;
		l[n++] = 0x81;
		l[n++] = 0x20;
		memcpy(l + n, der + 4, derlen - 4);
		n += derlen - 4;
		refused(l, n);
	}
	/* r with a superfluous leading zero (0e... needs none). */
	{
		unsigned char l[80];
		size_t n = 0;
		l[n++] = 0x30;
		l[n++] = (unsigned char)(derlen - 2 + 1);
		l[n++] = 0x02;
		l[n++] = 0x21;
		l[n++] = 0x00;
		memcpy(l + n, der + 4, derlen - 4);
		n += derlen - 4;
		refused(l, n);
	}
	/* s without its needed zero: negative. */
	{
		unsigned char l[80];
		size_t rl = 2 + 0x20, n = 0;
		l[n++] = 0x30;
		l[n++] = (unsigned char)(derlen - 2 - 1);
		memcpy(l + n, der + 2, rl);
		n += rl;
		l[n++] = 0x02;
		l[n++] = 0x20;
		memcpy(l + n, der + 2 + rl + 3, 32);
		n += 32;
		refused(l, n);
	}
	/* Zero, empty and over-wide integers; a third INTEGER. */
	static const unsigned char zero_r[] = {0x30, 0x06, 0x02, 0x01,
					       0x00, 0x02, 0x01, 0x01};
	static const unsigned char empty_r[] = {0x30, 0x05, 0x02, 0x00,
						0x02, 0x01, 0x01};
	static const unsigned char three[] = {
	    0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
	static const unsigned char neg_zero_pad[] = {
	    0x30, 0x07, 0x02, 0x02, 0x00, 0x00, 0x02, 0x01, 0x01};
	refused(zero_r, sizeof(zero_r));
	refused(empty_r, sizeof(empty_r));
	refused(three, sizeof(three));
	refused(neg_zero_pad, sizeof(neg_zero_pad));
	{
		/* A 33-byte r with a zero prefix but a clear top bit after
		 * it is non-minimal; a 34-byte one is too wide either way. */
		unsigned char l[80];
		size_t n = 0;
		l[n++] = 0x30;
		l[n++] = 2 + 34 + 3;
		l[n++] = 0x02;
		l[n++] = 34;
		l[n++] = 0x00;
		l[n++] = 0x00;
		memset(l + n, 0x80, 32);
		n += 32;
		l[n++] = 0x02;
		l[n++] = 0x01;
		l[n++] = 0x01;
		refused(l, n);
	}
	/* Oversized input is refused before it is read. */
	memset(buf, 0, sizeof(buf));
	refused(buf, sizeof(buf));
	refused(NULL, 8);
	free(der);
}

static void
test_sign_verify_and_refusals(void **state)
{
	EVP_PKEY *key = NULL, *other = NULL;
	unsigned char sig[64], der[ECDSA_P256_DER_MAX];
	size_t derlen;
	const char msg[] =
	    "sealauth-verify-v1|sess_x|123456|1700000000|approve|";

	(void)state;
	assert_int_equal(ecdsa_generate_p256(&key), SA_OK);
	assert_int_equal(ecdsa_generate_p256(&other), SA_OK);
	assert_true(ecdsa_is_p256(key));
	assert_int_equal(ecdsa_sign_sha256_raw(key, msg, strlen(msg), sig),
			 SA_OK);
	assert_int_equal(ecdsa_verify_sha256(key, msg, strlen(msg), sig, 64),
			 SA_OK);
	assert_int_equal(ecdsa_sig_raw_to_der(sig, der, sizeof(der), &derlen),
			 SA_OK);
	assert_int_equal(
	    ecdsa_verify_sha256(key, msg, strlen(msg), der, derlen), SA_OK);
	/* JOSE verification takes raw only (a DER signature is 64 bytes
	 * long only when r and s are 29 bytes each, which is rare). */
	if (derlen > 64)
		assert_int_equal(
		    ecdsa_verify_sha256_raw(key, msg, strlen(msg), der),
		    SA_ERR_BAD_SIGNATURE);
	/* Wrong key, wrong message, flipped bits in either encoding. */
	assert_int_equal(ecdsa_verify_sha256(other, msg, strlen(msg), sig, 64),
			 SA_ERR_BAD_SIGNATURE);
	assert_int_equal(ecdsa_verify_sha256(key, "x", 1, sig, 64),
			 SA_ERR_BAD_SIGNATURE);
	sig[10] ^= 0x01;
	assert_int_equal(ecdsa_verify_sha256(key, msg, strlen(msg), sig, 64),
			 SA_ERR_BAD_SIGNATURE);
	sig[10] ^= 0x01;
	sig[60] ^= 0x80;
	assert_int_equal(ecdsa_verify_sha256(key, msg, strlen(msg), sig, 64),
			 SA_ERR_BAD_SIGNATURE);
	/* Lengths that are neither raw nor DER. */
	assert_int_equal(ecdsa_verify_sha256(key, msg, strlen(msg), sig, 63),
			 SA_ERR_BAD_SIGNATURE);
	assert_int_equal(ecdsa_verify_sha256(key, msg, strlen(msg), sig, 0),
			 SA_ERR_BAD_SIGNATURE);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
test_other_curves_and_types_refused(void **state)
{
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	/* Its signatures have P-256's raw length: only the curve check
	 * refuses them. */
	EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	EVP_PKEY *out = NULL;
	unsigned char sig[64];
	char *pem;

	(void)state;
	assert_non_null(p384);
	assert_non_null(rsa);
	assert_non_null(ed);
	assert_non_null(k1);
	EVP_PKEY *all[] = {p384, rsa, ed, k1};
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		/* A P-256 key first: the thread's contexts then hold it, and
		 * the next key must still be checked. */
		EVP_PKEY *good = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		assert_non_null(good);
		assert_int_equal(ecdsa_sign_sha256_raw(good, "a", 1, sig),
				 SA_OK);
		assert_int_equal(ecdsa_verify_sha256(good, "a", 1, sig, 64),
				 SA_OK);
		EVP_PKEY_free(good);
		assert_false(ecdsa_is_p256(all[i]));
		pem = pem_of(all[i], 0);
		assert_int_equal(ecdsa_pubkey_from_pem(pem, strlen(pem), &out),
				 SA_ERR_VALIDATION);
		free(pem);
		pem = pem_of(all[i], 1);
		assert_int_equal(ecdsa_privkey_from_pem(pem, strlen(pem), &out),
				 SA_ERR_VALIDATION);
		free(pem);
		assert_int_equal(ecdsa_sign_sha256_raw(all[i], "a", 1, sig),
				 SA_ERR_INTERNAL);
		memset(sig, 1, sizeof(sig));
		assert_int_equal(ecdsa_verify_sha256(all[i], "a", 1, sig, 64),
				 SA_ERR_BAD_SIGNATURE);
	}
	assert_null(out);
	/* The right curve spelled out explicitly is refused too. */
	assert_int_equal(ecdsa_pubkey_from_pem(explicit_pub_pem,
					       strlen(explicit_pub_pem), &out),
			 SA_ERR_VALIDATION);
	assert_null(out);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(k1);
}

static void
test_pubkey_pem_shape(void **state)
{
	EVP_PKEY *out = NULL;
	char buf[ECDSA_PEM_MAX + 64];
	size_t n = strlen(a3_pub_pem);

	(void)state;
	/* Blank lines around the block are fine; no NUL is needed. */
	snprintf(buf, sizeof(buf), "\n\n%s\n \n", a3_pub_pem);
	assert_int_equal(ecdsa_pubkey_from_pem(buf, strlen(buf), &out), SA_OK);
	EVP_PKEY_free(out);
	out = NULL;
	memcpy(buf, a3_pub_pem, n);
	buf[n] = 'X';
	assert_int_equal(ecdsa_pubkey_from_pem(buf, n, &out), SA_OK);
	EVP_PKEY_free(out);
	out = NULL;
	/* Text before or after the block, a second block, a NUL inside. */
	snprintf(buf, sizeof(buf), "hello\n%s", a3_pub_pem);
	assert_int_equal(ecdsa_pubkey_from_pem(buf, strlen(buf), &out),
			 SA_ERR_VALIDATION);
	snprintf(buf, sizeof(buf), "%sgarbage\n", a3_pub_pem);
	assert_int_equal(ecdsa_pubkey_from_pem(buf, strlen(buf), &out),
			 SA_ERR_VALIDATION);
	snprintf(buf, sizeof(buf), "%s%s", a3_pub_pem, a3_pub_pem);
	assert_int_equal(ecdsa_pubkey_from_pem(buf, strlen(buf), &out),
			 SA_ERR_VALIDATION);
	memcpy(buf, a3_pub_pem, n);
	buf[40] = '\0';
	assert_int_equal(ecdsa_pubkey_from_pem(buf, n, &out),
			 SA_ERR_VALIDATION);
	/* A corrupted point (last base64 group changed) is refused. */
	memcpy(buf, a3_pub_pem, n + 1);
	char *end = strstr(buf, "==\n-----END");
	assert_non_null(end);
	end[-2] = end[-2] == 'A' ? 'B' : 'A';
	assert_int_equal(ecdsa_pubkey_from_pem(buf, n, &out),
			 SA_ERR_VALIDATION);
	/* Bounds: empty, and one byte over the maximum. */
	assert_int_equal(ecdsa_pubkey_from_pem(a3_pub_pem, 0, &out),
			 SA_ERR_VALIDATION);
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, a3_pub_pem, n);
	assert_int_equal(ecdsa_pubkey_from_pem(buf, ECDSA_PEM_MAX, &out),
			 SA_OK);
	EVP_PKEY_free(out);
	out = NULL;
	assert_int_equal(ecdsa_pubkey_from_pem(buf, ECDSA_PEM_MAX + 1, &out),
			 SA_ERR_VALIDATION);
	assert_null(out);
}

static void
test_encrypted_private_key_refused(void **state)
{
	EVP_PKEY *key = NULL, *out = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;

	(void)state;
	assert_int_equal(ecdsa_generate_p256(&key), SA_OK);
	assert_int_equal(
	    PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), NULL, 0,
					  NULL, (void *)"secret-pass"),
	    1);
	len = BIO_get_mem_data(bio, &data);
	assert_true(len > 0);
	assert_int_equal(ecdsa_privkey_from_pem(data, (size_t)len, &out),
			 SA_ERR_VALIDATION);
	assert_null(out);
	BIO_free(bio);
	EVP_PKEY_free(key);
}

static void
test_private_pem_round_trip(void **state)
{
	EVP_PKEY *key = NULL, *back = NULL;
	char *pem = NULL;
	size_t n = 0;
	unsigned char sig[64];

	(void)state;
	assert_int_equal(ecdsa_generate_p256(&key), SA_OK);
	assert_int_equal(ecdsa_privkey_to_pem(key, &pem, &n), SA_OK);
	assert_true(str_has_prefix(pem, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(ecdsa_privkey_from_pem(pem, n, &back), SA_OK);
	assert_int_equal(EVP_PKEY_eq(key, back), 1);
	assert_int_equal(ecdsa_sign_sha256_raw(back, "m", 1, sig), SA_OK);
	assert_int_equal(ecdsa_verify_sha256(key, "m", 1, sig, 64), SA_OK);
	OPENSSL_cleanse(pem, n);
	free(pem);
	EVP_PKEY_free(key);
	EVP_PKEY_free(back);
}

/* pem_of_spki wraps DER in a PUBLIC KEY PEM block. */
static char *
pem_of_spki(const unsigned char *der, size_t n)
{
	char *b64 = b64_encode(der, n), *pem = NULL;

	assert_non_null(b64);
	assert_true(asprintf(&pem,
			     "-----BEGIN PUBLIC KEY-----\n%s\n"
			     "-----END PUBLIC KEY-----\n",
			     b64) > 0);
	free(b64);
	return pem;
}

static void
test_fast_pubkey_path_checks_the_point(void **state)
{
	static const unsigned char prefix[26] = {
	    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
	    0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
	    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
	unsigned char der[91], x[32], y[32];
	EVP_PKEY *key = NULL, *back = NULL;
	char *pem;

	/* A real key parses and keeps its point. */
	assert_int_equal(ecdsa_generate_p256(&key), SA_OK);
	assert_int_equal(ecdsa_pubkey_xy(key, x, y), SA_OK);
	memcpy(der, prefix, 26);
	der[26] = 0x04;
	memcpy(der + 27, x, 32);
	memcpy(der + 59, y, 32);
	pem = pem_of_spki(der, sizeof(der));
	assert_int_equal(ecdsa_pubkey_from_pem(pem, strlen(pem), &back), SA_OK);
	assert_int_equal(EVP_PKEY_eq(key, back), 1);
	EVP_PKEY_free(back);
	back = NULL;
	free(pem);
	/* A point off the curve is refused. */
	der[90] ^= 1;
	pem = pem_of_spki(der, sizeof(der));
	assert_int_equal(ecdsa_pubkey_from_pem(pem, strlen(pem), &back),
			 SA_ERR_VALIDATION);
	assert_null(back);
	free(pem);
	/* (0, 0) is no point either. */
	memset(der + 27, 0, 64);
	pem = pem_of_spki(der, sizeof(der));
	assert_int_equal(ecdsa_pubkey_from_pem(pem, strlen(pem), &back),
			 SA_ERR_VALIDATION);
	free(pem);
	/* Trailing text after the block is refused on both paths. */
	memcpy(der + 27, x, 32);
	memcpy(der + 59, y, 32);
	pem = pem_of_spki(der, sizeof(der));
	{
		char *junk = NULL;
		assert_true(asprintf(&junk, "%sjunk\n", pem) > 0);
		assert_int_equal(
		    ecdsa_pubkey_from_pem(junk, strlen(junk), &back),
		    SA_ERR_VALIDATION);
		free(junk);
	}
	free(pem);
	EVP_PKEY_free(key);
}

/* point_of writes key's uncompressed point into pt. */
static void
point_of(const EVP_PKEY *key, unsigned char pt[65])
{
	pt[0] = 0x04;
	assert_int_equal(ecdsa_pubkey_xy(key, pt + 1, pt + 33), SA_OK);
}

#define IMPORTERS 4
#define IMPORTS 200

/* import_many imports its key's point IMPORTS times and checks each copy
 * is that key and no other: the threads share the template key. */
static void *
import_many(void *arg)
{
	EVP_PKEY *key = arg;
	unsigned char pt[65];
	intptr_t bad = 0;

	point_of(key, pt);
	for (int i = 0; i < IMPORTS; i++) {
		EVP_PKEY *back = NULL;
		if (ecdsa_pubkey_from_point(pt, &back) != SA_OK ||
		    EVP_PKEY_eq(key, back) != 1)
			bad++;
		EVP_PKEY_free(back);
	}
	return (void *)bad;
}

static void
test_pubkey_from_point(void **state)
{
	/* P-256's field prime, big-endian. */
	static const unsigned char prime[32] = {
	    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	EVP_PKEY *a = NULL, *b = NULL, *ka = NULL, *kb = NULL, *k = NULL;
	EVP_PKEY *keys[IMPORTERS] = {NULL};
	pthread_t th[IMPORTERS];
	unsigned char pa[65], pb[65], pt[65], sig[ECDSA_P256_RAW_LEN];

	(void)state;
	assert_int_equal(ecdsa_generate_p256(&a), SA_OK);
	assert_int_equal(ecdsa_generate_p256(&b), SA_OK);
	point_of(a, pa);
	point_of(b, pb);
	/* Two keys in turn: each import is its own key, not the template's
	 * point or the last one's, and checks that key's signatures only. */
	assert_int_equal(ecdsa_pubkey_from_point(pa, &ka), SA_OK);
	assert_int_equal(ecdsa_pubkey_from_point(pb, &kb), SA_OK);
	assert_int_equal(EVP_PKEY_eq(a, ka), 1);
	assert_int_equal(EVP_PKEY_eq(b, kb), 1);
	assert_int_not_equal(EVP_PKEY_eq(ka, kb), 1);
	assert_true(ecdsa_is_p256(ka));
	assert_int_equal(ecdsa_sign_sha256_raw(a, "m", 1, sig), SA_OK);
	assert_int_equal(ecdsa_verify_sha256_raw(ka, "m", 1, sig), SA_OK);
	assert_int_equal(ecdsa_verify_sha256_raw(kb, "m", 1, sig),
			 SA_ERR_BAD_SIGNATURE);
	/* Off the curve: the last bit of y flipped. */
	memcpy(pt, pa, 65);
	pt[64] ^= 1;
	assert_int_equal(ecdsa_pubkey_from_point(pt, &k), SA_ERR_VALIDATION);
	assert_null(k);
	/* A coordinate equal to the field prime, and all zeros. */
	memcpy(pt + 1, prime, 32);
	assert_int_equal(ecdsa_pubkey_from_point(pt, &k), SA_ERR_VALIDATION);
	memset(pt + 1, 0, 64);
	assert_int_equal(ecdsa_pubkey_from_point(pt, &k), SA_ERR_VALIDATION);
	/* A compressed prefix on 65 bytes, and the point at infinity. */
	memcpy(pt, pa, 65);
	pt[0] = 0x02;
	assert_int_equal(ecdsa_pubkey_from_point(pt, &k), SA_ERR_VALIDATION);
	memset(pt, 0, 65);
	assert_int_equal(ecdsa_pubkey_from_point(pt, &k), SA_ERR_VALIDATION);
	assert_null(k);
	/* A refused point leaves the next import unharmed. */
	assert_int_equal(ecdsa_pubkey_from_point(pa, &k), SA_OK);
	assert_int_equal(EVP_PKEY_eq(a, k), 1);
	/* Threads importing different keys at once. */
	for (int i = 0; i < IMPORTERS; i++) {
		assert_int_equal(ecdsa_generate_p256(&keys[i]), SA_OK);
		assert_int_equal(
		    pthread_create(&th[i], NULL, import_many, keys[i]), 0);
	}
	for (int i = 0; i < IMPORTERS; i++) {
		void *bad = NULL;
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_int_equal((intptr_t)bad, 0);
		EVP_PKEY_free(keys[i]);
	}
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fast_pubkey_path_checks_the_point),
	    cmocka_unit_test(test_pubkey_from_point),
	    cmocka_unit_test(test_rfc7515_a3_der_matches_raw),
	    cmocka_unit_test(test_rfc7515_a3_verifies_both_encodings),
	    cmocka_unit_test(test_a3_coordinates_and_private_forms),
	    cmocka_unit_test(test_raw_der_round_trip_edges),
	    cmocka_unit_test(test_hostile_der),
	    cmocka_unit_test(test_sign_verify_and_refusals),
	    cmocka_unit_test(test_other_curves_and_types_refused),
	    cmocka_unit_test(test_pubkey_pem_shape),
	    cmocka_unit_test(test_encrypted_private_key_refused),
	    cmocka_unit_test(test_private_pem_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
