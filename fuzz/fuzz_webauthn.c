/*
 * fuzz_webauthn.c - libFuzzer driver for the WebAuthn relying party: the
 * parsers of clientDataJSON, authenticator data and attestation objects,
 * and the two ceremonies that combine them.
 *
 * Every input is first tried whole in each role: as clientDataJSON of
 * both types, as authenticator data, as a CBOR item and as an attestation
 * object (whose authenticator data is then parsed in turn). Then it is
 * read as a framed ceremony:
 *
 *   0x00 (even) | len16 | clientDataJSON | attestationObject
 *       a registration (webauthn_register);
 *   0x01 (odd)  | len16 | clientDataJSON | len16 | authData | signature
 *       an assertion (webauthn_assert) with a fixed ES256 credential.
 *
 * The relying party is https://admin.example.org and the challenge the
 * base64url of the bytes 0..31, so the seeds (written by
 * fuzz/webauthn_seeds.py, with the private key of that credential) reach
 * the signature checks and pass them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "admin/webauthn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RP_URL "https://admin.example.org"
#define CHALLENGE "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

/* The public key (x || y) of the seeds' ES256 credential. */
static const unsigned char es256_xy[64] = {
    0xbb, 0x33, 0x2d, 0x1d, 0xab, 0xb0, 0x12, 0x92, 0xc2, 0x48, 0x08,
    0xd6, 0x1d, 0xb1, 0x57, 0x07, 0x3d, 0xab, 0x26, 0x5e, 0xf5, 0x84,
    0x8d, 0x79, 0xe8, 0x74, 0x27, 0x8f, 0x0d, 0x94, 0x52, 0x8e, 0x66,
    0x68, 0x49, 0x06, 0xe7, 0x98, 0x94, 0x4b, 0xa8, 0xd0, 0x6e, 0x6a,
    0x56, 0x12, 0x49, 0x4e, 0x63, 0x29, 0x14, 0xd0, 0x36, 0x1e, 0x0c,
    0xac, 0x43, 0xab, 0x0d, 0x57, 0xfe, 0x9e, 0xf7, 0xbf,
};

static struct webauthn_rp rp;
static int ready;

/* take reads a big-endian 16-bit length and that many bytes. */
static int
take(const uint8_t **p, size_t *n, const uint8_t **part, size_t *len)
{
	size_t l;

	if (*n < 2)
		return -1;
	l = ((size_t)(*p)[0] << 8) | (*p)[1];
	if (l > *n - 2)
		return -1;
	*part = *p + 2;
	*len = l;
	*p += 2 + l;
	*n -= 2 + l;
	return 0;
}

/* roles tries the whole input as each kind of message. */
static void
roles(const uint8_t *data, size_t size)
{
	struct webauthn_authdata ad;
	struct webauthn_attobj att;
	char why[256];
	size_t used;

	(void)webauthn_check_clientdata(&rp, "webauthn.create", CHALLENGE, data,
					size, why, sizeof(why));
	(void)webauthn_check_clientdata(&rp, "webauthn.get", CHALLENGE, data,
					size, why, sizeof(why));
	(void)webauthn_parse_authdata(data, size, &ad, why, sizeof(why));
	(void)webauthn_cbor_check(data, size, &used);
	memset(&att, 0, sizeof(att));
	if (webauthn_parse_attobj(data, size, &att, why, sizeof(why)) == SA_OK)
		(void)webauthn_parse_authdata(att.authdata, att.authdata_len,
					      &ad, why, sizeof(why));
	webauthn_attobj_free(&att);
}

/* ceremony reads the input as a framed registration or assertion. */
static void
ceremony(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1, *cdj, *ad;
	size_t n = size - 1, cdj_len, ad_len;
	struct webauthn_credential cred;
	char why[256];
	uint32_t count;

	if (take(&p, &n, &cdj, &cdj_len) != 0)
		return;
	if ((data[0] & 1) == 0) {
		(void)webauthn_register(&rp, CHALLENGE, cdj, cdj_len, p, n,
					&cred, why, sizeof(why));
		return;
	}
	if (take(&p, &n, &ad, &ad_len) != 0)
		return;
	memset(&cred, 0, sizeof(cred));
	cred.alg = WEBAUTHN_ES256;
	memcpy(cred.pubkey, es256_xy, sizeof(es256_xy));
	cred.pubkey_len = sizeof(es256_xy);
	if (webauthn_assert(&rp, CHALLENGE, cdj, cdj_len, ad, ad_len, p, n,
			    &cred, &count, why, sizeof(why)) == SA_OK)
		(void)webauthn_counter_ok(cred.sign_count, count);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];

	if (!ready) {
		if (webauthn_rp_init(&rp, RP_URL, why, sizeof(why)) != SA_OK)
			__builtin_trap();
		ready = 1;
	}
	roles(data, size);
	if (size >= 3)
		ceremony(data, size);
	return 0;
}
