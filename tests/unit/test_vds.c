/*
 * test_vds.c - ISO 22376 seals of our profile: encode, decode, verify,
 * and every way a hostile seal can be malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "seal/vds.h"

static EVP_PKEY *signer_key, *other_key, *brainpool_key;

static int
setup(void **state)
{
	(void)state;
	signer_key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	brainpool_key = EVP_EC_gen("brainpoolP256r1");
	return signer_key && other_key && brainpool_key ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(brainpool_key);
	return 0;
}

static const unsigned char photo[] = "RIFF\x10\0\0\0WEBPVP8 fake";
static const unsigned char face[] = {1, 2, 3, 4, 5, 6, 7, 8};

static void
full_claims(struct vds_claims *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->token_id, "DE-1234567");
	strcpy(c->given_name, "Jâcob");
	strcpy(c->family_name, "Perschweiß");
	strcpy(c->birth_date, "1964-02-29");
	strcpy(c->nationality, "DEU");
	strcpy(c->document, "T22000129");
	strcpy(c->expiry, "2031-12-31");
	c->photo = photo;
	c->photo_len = sizeof(photo) - 1;
	c->face = face;
	c->face_len = sizeof(face);
}

static unsigned char *
encode_full(size_t *len)
{
	struct vds_claims c;
	unsigned char *seal = NULL;

	full_claims(&c);
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A0001", 1700000000,
					&c, signer_key, &seal, len),
			 SA_OK);
	return seal;
}

/* decode_ok decodes a seal that must parse. */
static struct vds *
decode_ok(const unsigned char *seal, size_t n)
{
	struct vds *v = NULL;
	char why[VDS_WHY_MAX] = "";

	assert_int_equal(vds_decode(seal, n, &v, why, sizeof(why)), SA_OK);
	assert_string_equal(why, "");
	assert_non_null(v);
	return v;
}

/* decode_bad decodes a seal that must be refused with a reason that
 * contains want. */
static void
decode_bad(const unsigned char *seal, size_t n, enum sa_err rc,
	   const char *want)
{
	struct vds *v = (struct vds *)0x1;
	char why[VDS_WHY_MAX] = "";

	assert_int_equal(vds_decode(seal, n, &v, why, sizeof(why)), rc);
	assert_ptr_equal(v, (struct vds *)0x1); /* untouched */
	assert_true(why[0] != '\0');
	if (want != NULL && strstr(why, want) == NULL)
		fail_msg("reason \"%s\" does not mention \"%s\"", why, want);
}

/*
 * build_seal lays out an ISO seal around an arbitrary payload with a
 * dummy signature, to exercise the decoder on payloads the encoder would
 * never write. The payload length field is plen_field.
 */
static unsigned char *
build_seal(const unsigned char *payload, size_t plen, size_t plen_field,
	   size_t *len)
{
	/* C40 "DEMO0001" + pad: as vds_encode_iso writes it. */
	static const unsigned char head[] = {0xde, 0x02, 0x6d, 0x2b, 0xaf,
					     0xa5, 0x19, 0xc9, 0x0a, 0x00,
					     0x01, 0x65, 0x53, 0xf1, 0x00};
	unsigned char *s = calloc(1, 17 + plen + 64);

	assert_non_null(s);
	memcpy(s, head, sizeof(head));
	s[15] = (unsigned char)(plen_field >> 8);
	s[16] = (unsigned char)plen_field;
	memcpy(s + 17, payload, plen);
	*len = 17 + plen + 64;
	return s;
}

static void
test_header_constant_matches_encoder(void **state)
{
	size_t n = 0, m = 0;
	unsigned char *seal = encode_full(&n);
	unsigned char *built =
	    build_seal((const unsigned char *)"\x80", 1, 1, &m);

	(void)state;
	/* 0x6553F100 = 1700000000: the helper's header equals ours. */
	assert_memory_equal(seal, built, 15);
	free(seal);
	free(built);
}

static void
test_round_trip(void **state)
{
	size_t n = 0, len = 0;
	unsigned char *seal = encode_full(&n);
	struct vds *v = decode_ok(seal, n);
	const struct vds_claims *c = vds_claims(v);
	unsigned char fp[32], want[32];
	const unsigned char *p;

	(void)state;
	assert_int_equal(vds_format(v), VDS_FORMAT_ISO22376);
	assert_int_equal(vds_version(v), 2);
	assert_string_equal(vds_ca_id(v), "DEMO");
	assert_string_equal(vds_cert_id(v), "0001");
	assert_string_equal(vds_manifest_id(v), "0A0001");
	assert_int_equal(vds_signing_time(v), 1700000000);
	assert_non_null(c);
	assert_string_equal(c->token_id, "DE-1234567");
	assert_string_equal(c->given_name, "Jâcob");
	assert_string_equal(c->family_name, "Perschweiß");
	assert_string_equal(c->birth_date, "1964-02-29");
	assert_string_equal(c->nationality, "DEU");
	assert_string_equal(c->document, "T22000129");
	assert_string_equal(c->expiry, "2031-12-31");
	assert_int_equal(c->photo_len, sizeof(photo) - 1);
	assert_memory_equal(c->photo, photo, sizeof(photo) - 1);
	assert_int_equal(c->face_len, sizeof(face));
	assert_memory_equal(c->face, face, sizeof(face));
	/* Layout: 17-byte header, payload, 64-byte r || s, no aux data. */
	p = vds_header(v, &len);
	assert_ptr_equal(p, vds_signed_bytes(v, &len));
	assert_int_equal(len, n - 64);
	vds_payload(v, &len);
	assert_int_equal(len, n - 17 - 64);
	p = vds_signature(v, &len);
	assert_int_equal(len, 64);
	assert_memory_equal(p, seal + n - 64, 64);
	assert_null(vds_aux(v, &len));
	assert_int_equal(len, 0);
	/* The fingerprint is SHA-256 of header || payload. */
	vds_fingerprint(v, fp);
	sha256(seal, n - 64, want);
	assert_memory_equal(fp, want, 32);
	/* Only the signer's P-256 key verifies it. */
	assert_int_equal(vds_verify_signature(v, signer_key), SA_OK);
	assert_int_equal(vds_verify_signature(v, other_key),
			 SA_ERR_SEAL_SIGNATURE);
	assert_int_equal(vds_verify_signature(v, brainpool_key),
			 SA_ERR_SEAL_SIGNATURE);
	assert_int_equal(vds_verify_signature(v, NULL), SA_ERR_SEAL_SIGNATURE);
	/* No ICAO fields on an ISO seal. */
	assert_null(vds_icao_country(v));
	assert_int_equal(vds_icao_feature_count(v), 0);
	vds_free(v);
	free(seal);
}

/* The signature is over header || SHA-256(payload), checked here with
 * OpenSSL directly rather than through vds_verify_signature. */
static void
test_signature_input_is_header_and_payload_hash(void **state)
{
	size_t n = 0;
	unsigned char *seal = encode_full(&n), tbs[17 + 32];
	const unsigned char *rs = seal + n - 64;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL;
	int derlen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	(void)state;
	memcpy(tbs, seal, 17);
	sha256(seal + 17, n - 17 - 64, tbs + 17);
	assert_int_equal(ECDSA_SIG_set0(sig, BN_bin2bn(rs, 32, NULL),
					BN_bin2bn(rs + 32, 32, NULL)),
			 1);
	derlen = i2d_ECDSA_SIG(sig, &der);
	assert_true(derlen > 0);
	assert_int_equal(
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, signer_key), 1);
	assert_int_equal(
	    EVP_DigestVerify(ctx, der, (size_t)derlen, tbs, sizeof(tbs)), 1);
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	free(seal);
}

/* Flipping any bit of header, payload or signature breaks the seal: it
 * either no longer decodes or no longer verifies. */
static void
test_tamper_every_byte(void **state)
{
	size_t n = 0;
	unsigned char *seal = encode_full(&n);
	size_t decoded = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			struct vds *v = NULL;
			seal[i] ^= (unsigned char)(1u << bit);
			if (vds_decode(seal, n, &v, NULL, 0) == SA_OK) {
				decoded++;
				assert_int_equal(
				    vds_verify_signature(v, signer_key),
				    SA_ERR_SEAL_SIGNATURE);
				vds_free(v);
			}
			seal[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* Most flips still parse (ids, time, signature bytes, string
	 * bytes), so the signature check did the work above. */
	assert_true(decoded > n / 2);
	free(seal);
}

static void
test_aux_data_is_kept_and_unsigned(void **state)
{
	size_t n = 0, len = 0;
	unsigned char *seal = encode_full(&n), *ext;
	struct vds *v;
	const unsigned char *aux;

	(void)state;
	ext = malloc(n + 5);
	assert_non_null(ext);
	memcpy(ext, seal, n);
	memcpy(ext + n, "AUX!!", 5);
	v = decode_ok(ext, n + 5);
	aux = vds_aux(v, &len);
	assert_int_equal(len, 5);
	assert_memory_equal(aux, "AUX!!", 5);
	/* Aux data is outside the signature and the fingerprint. */
	assert_int_equal(vds_verify_signature(v, signer_key), SA_OK);
	vds_signed_bytes(v, &len);
	assert_int_equal(len, n - 64);
	vds_free(v);
	free(ext);
	free(seal);
}

static void
test_truncation_at_every_length(void **state)
{
	size_t n = 0;
	unsigned char *seal = encode_full(&n);

	(void)state;
	for (size_t len = 0; len < n; len++) {
		/* A fresh copy of exactly len bytes, so ASan sees any read
		 * past the end. */
		unsigned char *t = malloc(len ? len : 1);
		assert_non_null(t);
		memcpy(t, seal, len);
		decode_bad(t, len, SA_ERR_SEAL_DECODE, NULL);
		free(t);
	}
	free(seal);
}

static void
test_oversized_refused(void **state)
{
	size_t n = 0;
	unsigned char *seal = encode_full(&n), *big;
	struct vds *v = NULL;

	(void)state;
	big = calloc(1, VDS_MAX_BYTES + 1);
	assert_non_null(big);
	memcpy(big, seal, n);
	decode_bad(big, VDS_MAX_BYTES + 1, SA_ERR_BODY_TOO_LARGE, "limit");
	/* The same seal padded with aux data to exactly 8 KiB decodes. */
	assert_int_equal(vds_decode(big, VDS_MAX_BYTES, &v, NULL, 0), SA_OK);
	vds_free(v);
	free(big);
	free(seal);
}

/* pack_map packs a map of string pairs; a NULL value packs nil, a value
 * starting with '#' packs the integer that follows. */
static unsigned char *
pack_map(const char *const *kv, size_t npairs, size_t *len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	unsigned char *out;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, npairs);
	for (size_t i = 0; i < npairs; i++) {
		const char *k = kv[2 * i], *val = kv[2 * i + 1];
		msgpack_pack_str_with_body(&pk, k, strlen(k));
		if (val == NULL)
			msgpack_pack_nil(&pk);
		else if (val[0] == '#')
			msgpack_pack_int(&pk, atoi(val + 1));
		else
			msgpack_pack_str_with_body(&pk, val, strlen(val));
	}
	out = malloc(sb.size);
	assert_non_null(out);
	memcpy(out, sb.data, sb.size);
	*len = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return out;
}

static void
payload_bad(const unsigned char *payload, size_t plen, const char *want)
{
	size_t n = 0;
	unsigned char *s = build_seal(payload, plen, plen, &n);
	decode_bad(s, n, SA_ERR_SEAL_DECODE, want);
	free(s);
}

static void
map_bad(const char *const *kv, size_t npairs, const char *want)
{
	size_t plen = 0;
	unsigned char *p = pack_map(kv, npairs, &plen);
	payload_bad(p, plen, want);
	free(p);
}

static void
test_payload_must_be_a_map(void **state)
{
	(void)state;
	payload_bad((const unsigned char *)"\x92\xa1x\xa1y", 5, "not a map");
	payload_bad((const unsigned char *)"\xa3tid", 4, "not a map");
	payload_bad((const unsigned char *)"\x2a", 1, "not a map");
	payload_bad((const unsigned char *)"", 0, "payload");
	/* Trailing bytes after the map. */
	payload_bad((const unsigned char *)"\x80\x80", 2, "payload");
	/* 0xC1 is never used in MessagePack. */
	payload_bad((const unsigned char *)"\xc1", 1, "payload");
}

static void
test_missing_required_fields(void **state)
{
	static const char *fields[] = {"tid", "gn", "fn", "dob"};
	const char *kv[] = {"tid", "tok-1",	 "gn",	"Erika",
			    "fn",  "Mustermann", "dob", "1964-08-12"};

	(void)state;
	for (size_t skip = 0; skip < 4; skip++) {
		const char *sub[6];
		size_t j = 0;
		char want[32];
		for (size_t i = 0; i < 4; i++) {
			if (i == skip)
				continue;
			sub[j++] = kv[2 * i];
			sub[j++] = kv[2 * i + 1];
		}
		snprintf(want, sizeof(want), "claim %s: missing", fields[skip]);
		map_bad(sub, 3, want);
	}
	/* All four present is enough. */
	{
		size_t plen = 0, n = 0;
		unsigned char *p = pack_map(kv, 4, &plen);
		unsigned char *s = build_seal(p, plen, plen, &n);
		struct vds *v = decode_ok(s, n);
		assert_string_equal(vds_claims(v)->token_id, "tok-1");
		assert_string_equal(vds_claims(v)->nationality, "");
		assert_null(vds_claims(v)->photo);
		/* The dummy signature never verifies. */
		assert_int_equal(vds_verify_signature(v, signer_key),
				 SA_ERR_SEAL_SIGNATURE);
		vds_free(v);
		free(s);
		free(p);
	}
}

static void
test_invalid_values(void **state)
{
	const struct {
		const char *key, *val, *why;
	} bad[] = {
	    {"dob", "1963-02-29", "claim dob"}, /* not a leap year */
	    {"dob", "1964-13-01", "claim dob"},
	    {"dob", "12.08.1964", "claim dob"},
	    {"dob", "1964-08-1", "claim dob"},
	    {"dob", "#19640812", "claim dob"},
	    {"tid", "", "claim tid"},
	    {"tid", "tok 1", "claim tid"},
	    {"tid", "tok\n1", "claim tid"},
	    {"tid", "#7", "claim tid"},
	    {"tid", NULL, "claim tid"},
	    {"gn", "", "claim gn"},
	    {"gn", "Er\xc3", "claim gn"},    /* cut UTF-8 */
	    {"gn", "E\xc0\xaf", "claim gn"}, /* overlong */
	    {"gn", "Eri\x01ka", "claim gn"},
	    {"fn", "\xed\xa0\x80", "claim fn"}, /* surrogate */
	};
	const char *base[] = {"tid", "tok-1",	   "gn",  "Erika",
			      "fn",  "Mustermann", "dob", "1964-08-12"};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		const char *kv[8];
		memcpy(kv, base, sizeof(kv));
		for (size_t k = 0; k < 4; k++)
			if (strcmp(kv[2 * k], bad[i].key) == 0)
				kv[2 * k + 1] = bad[i].val;
		map_bad(kv, 4, bad[i].why);
	}
	/* Optional claims are checked too when present. */
	{
		const char *kv[] = {"tid", "t",	  "gn",		"E",   "fn",
				    "M",   "dob", "1964-08-12", "nat", "deu"};
		map_bad(kv, 5, "claim nat");
	}
	{
		const char *kv[] = {"tid", "t",		"gn",  "E",
				    "fn",  "M",		"dob", "1964-08-12",
				    "exp", "2031-02-30"};
		map_bad(kv, 5, "claim exp");
	}
	{
		/* photo must be binary, not a string. */
		const char *kv[] = {"tid",   "t",   "gn",  "E",
				    "fn",    "M",   "dob", "1964-08-12",
				    "photo", "RIFF"};
		map_bad(kv, 5, "claim photo");
	}
	{
		char tid[VDS_TID_MAX + 2];
		const char *kv[] = {"tid", tid, "gn",  "E",
				    "fn",  "M", "dob", "1964-08-12"};
		memset(tid, 'x', VDS_TID_MAX + 1);
		tid[VDS_TID_MAX + 1] = '\0';
		map_bad(kv, 4, "claim tid");
		tid[VDS_TID_MAX] = '\0'; /* 64 is the maximum */
		size_t plen = 0, n = 0;
		unsigned char *p = pack_map(kv, 4, &plen);
		unsigned char *s = build_seal(p, plen, plen, &n);
		struct vds *v = decode_ok(s, n);
		assert_int_equal(strlen(vds_claims(v)->token_id), VDS_TID_MAX);
		vds_free(v);
		free(s);
		free(p);
	}
}

static void
test_duplicate_and_odd_keys(void **state)
{
	(void)state;
	{
		const char *kv[] = {"tid", "t",	  "gn",		"E",   "fn",
				    "M",   "dob", "1964-08-12", "tid", "u"};
		map_bad(kv, 5, "duplicate key \"tid\"");
	}
	{
		/* Duplicates are refused for unknown keys too. */
		const char *kv[] = {"tid", "t",		 "gn", "E", "fn", "M",
				    "dob", "1964-08-12", "zz", "1", "zz", "2"};
		map_bad(kv, 6, "duplicate key");
	}
	/* A non-string key: {1: "x"}. */
	payload_bad((const unsigned char *)"\x81\x01\xa1x", 4, "not a string");
	/* Unknown keys are ignored, and shown. */
	{
		const char *kv[] = {"tid", "t",	 "gn",	  "E",
				    "fn",  "M",	 "dob",	  "1964-08-12",
				    "zz",  "#5", "extra", NULL};
		size_t plen = 0, n = 0;
		unsigned char *p = pack_map(kv, 6, &plen);
		unsigned char *s = build_seal(p, plen, plen, &n);
		struct vds *v = decode_ok(s, n);
		json_t *j = vds_to_json(v), *ign;
		assert_non_null(j);
		ign = json_object_get(j, "ignoredKeys");
		assert_int_equal(json_array_size(ign), 2);
		assert_string_equal(json_string_value(json_array_get(ign, 0)),
				    "zz");
		assert_string_equal(json_string_value(json_array_get(ign, 1)),
				    "extra");
		json_decref(j);
		vds_free(v);
		free(s);
		free(p);
	}
}

/*
 * An empty key is a zero-length string whose pointer msgpack-c leaves
 * NULL: comparing or copying it must not hand NULL to memcmp/memcpy (the
 * sanitizer build reports it). One is ignored and shown; two are
 * duplicates.
 */
static void
test_empty_keys(void **state)
{
	(void)state;
	{
		const char *kv[] = {"",	 "x",  "tid", "t",   "gn",
				    "E", "fn", "M",   "dob", "1964-08-12"};
		size_t plen = 0, n = 0;
		unsigned char *p = pack_map(kv, 5, &plen);
		unsigned char *s = build_seal(p, plen, plen, &n);
		struct vds *v = decode_ok(s, n);
		json_t *j = vds_to_json(v);

		assert_string_equal(json_string_value(json_array_get(
					json_object_get(j, "ignoredKeys"), 0)),
				    "");
		json_decref(j);
		vds_free(v);
		free(s);
		free(p);
	}
	{
		const char *kv[] = {"",	  "x", "tid", "t",	    "gn", "E",
				    "fn", "M", "dob", "1964-08-12", "",	  "y"};
		map_bad(kv, 6, "duplicate key \"\"");
	}
}

static void
test_hostile_lengths(void **state)
{
	size_t n = 0;
	unsigned char *s;
	/* map32 claiming 4 billion pairs in 5 bytes. */
	static const unsigned char map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
	/* array32 of 4 billion items as a value. */
	static const unsigned char arr32[] = {0x81, 0xa1, 'x',	0xdd,
					      0xff, 0xff, 0xff, 0xff};
	/* str32 of 4 GiB. */
	static const unsigned char str32[] = {0x81, 0xa1, 'x',	0xdb, 0xff,
					      0xff, 0xff, 0xff, 'a'};
	/* bin16 longer than what is left. */
	static const unsigned char bin16[] = {0x81, 0xa1, 'x', 0xc5,
					      0x01, 0x00, 'a'};
	/* ext32 with a huge length. */
	static const unsigned char ext32[] = {0x81, 0xa1, 'x',	0xc9, 0x7f,
					      0xff, 0xff, 0xff, 0x01};
	unsigned char deep[64];

	(void)state;
	payload_bad(map32, sizeof(map32), "payload");
	payload_bad(arr32, sizeof(arr32), "payload");
	payload_bad(str32, sizeof(str32), "payload");
	payload_bad(bin16, sizeof(bin16), "payload");
	payload_bad(ext32, sizeof(ext32), "payload");
	/* Nesting deeper than we accept: {"x": [[[[...]]]]}. */
	deep[0] = 0x81;
	deep[1] = 0xa1;
	deep[2] = 'x';
	memset(deep + 3, 0x91, sizeof(deep) - 4);
	deep[sizeof(deep) - 1] = 0xc0;
	payload_bad(deep, sizeof(deep), "payload");
	/* A payload length field past the end of the seal. */
	s = build_seal((const unsigned char *)"\x80", 1, 0xffff, &n);
	decode_bad(s, n, SA_ERR_SEAL_DECODE, "payload length");
	free(s);
	/* ... or one byte past where the signature must start. */
	s = build_seal((const unsigned char *)"\x80", 1, 2, &n);
	decode_bad(s, n, SA_ERR_SEAL_DECODE, "payload length");
	free(s);
	/* More keys than a profile map can need. */
	{
		unsigned char big[1024];
		size_t j = 0;
		big[j++] = 0xde;
		big[j++] = 0x00;
		big[j++] = 65;
		for (int i = 0; i < 65; i++) {
			big[j++] = 0xa2;
			big[j++] = (unsigned char)('a' + i / 26);
			big[j++] = (unsigned char)('a' + i % 26);
			big[j++] = 0xc0;
		}
		payload_bad(big, j, "keys");
	}
}

static void
test_header_refused(void **state)
{
	size_t n = 0;
	unsigned char *seal = encode_full(&n);
	unsigned char save;

	(void)state;
	save = seal[1];
	seal[1] = 0x03; /* unknown version */
	decode_bad(seal, n, SA_ERR_SEAL_DECODE, "version");
	seal[1] = save;
	save = seal[0];
	seal[0] = 0xdd; /* unknown magic */
	decode_bad(seal, n, SA_ERR_SEAL_DECODE, "magic");
	seal[0] = save;
	/* 8 characters (our profile) or 9 (BioSeal, test_vds_manifest.c);
	 * seven are neither: replace the last pair with "0" + 2 pads. */
	save = seal[6];
	seal[6] = 0x19;
	seal[7] = 0x01;
	decode_bad(seal, n, SA_ERR_SEAL_DECODE, "CA id");
	seal[6] = save;
	free(seal);
}

static void
test_other_manifest_has_no_claims(void **state)
{
	struct vds_claims c;
	unsigned char *seal = NULL;
	size_t n = 0;
	struct vds *v;

	(void)state;
	full_claims(&c);
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0B0002", 1, &c,
					signer_key, &seal, &n),
			 SA_OK);
	v = decode_ok(seal, n);
	assert_string_equal(vds_manifest_id(v), "0B0002");
	assert_null(vds_claims(v));
	assert_int_equal(vds_verify_signature(v, signer_key), SA_OK);
	vds_free(v);
	free(seal);
}

static void
test_encode_refuses_bad_input(void **state)
{
	struct vds_claims c;
	unsigned char *seal = (unsigned char *)"untouched";
	size_t n = 7;
	static unsigned char huge[VDS_MAX_BYTES];

	(void)state;
	full_claims(&c);
	assert_int_equal(vds_encode_iso("demo", "0001", "0A0001", 1, &c,
					signer_key, &seal, &n),
			 SA_ERR_VALIDATION);
	assert_int_equal(vds_encode_iso("DEM", "0001", "0A0001", 1, &c,
					signer_key, &seal, &n),
			 SA_ERR_VALIDATION);
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A00", 1, &c,
					signer_key, &seal, &n),
			 SA_ERR_VALIDATION);
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A00XY", 1, &c,
					signer_key, &seal, &n),
			 SA_ERR_VALIDATION);
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A0001", 1, &c,
					brainpool_key, &seal, &n),
			 SA_ERR_VALIDATION);
	c.token_id[0] = '\0';
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A0001", 1, &c,
					signer_key, &seal, &n),
			 SA_ERR_VALIDATION);
	full_claims(&c);
	strcpy(c.birth_date, "1964-02-30");
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A0001", 1, &c,
					signer_key, &seal, &n),
			 SA_ERR_VALIDATION);
	/* A photo that makes the seal larger than 8 KiB. */
	full_claims(&c);
	c.photo = huge;
	c.photo_len = sizeof(huge) - 100;
	assert_int_equal(vds_encode_iso("DEMO", "0001", "0A0001", 1, &c,
					signer_key, &seal, &n),
			 SA_ERR_VALIDATION);
	assert_string_equal((char *)seal, "untouched");
	assert_int_equal(n, 7);
}

static void
test_json(void **state)
{
	size_t n = 0;
	unsigned char *seal = encode_full(&n), fp[32];
	struct vds *v = decode_ok(seal, n);
	json_t *j = vds_to_json(v), *h, *c;
	char *fphex;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "format")),
			    "iso-22376");
	h = json_object_get(j, "header");
	assert_string_equal(json_string_value(json_object_get(h, "caId")),
			    "DEMO");
	assert_string_equal(json_string_value(json_object_get(h, "certId")),
			    "0001");
	assert_string_equal(json_string_value(json_object_get(h, "manifestId")),
			    "0A0001");
	assert_string_equal(
	    json_string_value(json_object_get(h, "signingTime")),
	    "2023-11-14T22:13:20Z");
	c = json_object_get(j, "claims");
	assert_string_equal(json_string_value(json_object_get(c, "tid")),
			    "DE-1234567");
	assert_string_equal(json_string_value(json_object_get(c, "fn")),
			    "Perschweiß");
	assert_string_equal(json_string_value(json_object_get(c, "face")),
			    "AQIDBAUGBwg=");
	assert_int_equal(
	    strlen(json_string_value(json_object_get(j, "signature"))), 128);
	assert_int_equal(json_integer_value(json_object_get(j, "signedLength")),
			 (json_int_t)(n - 64));
	vds_fingerprint(v, fp);
	fphex = hex_encode(fp, 32);
	assert_string_equal(
	    json_string_value(json_object_get(j, "fingerprint")), fphex);
	free(fphex);
	json_decref(j);
	vds_free(v);
	free(seal);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_constant_matches_encoder),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_signature_input_is_header_and_payload_hash),
	    cmocka_unit_test(test_tamper_every_byte),
	    cmocka_unit_test(test_aux_data_is_kept_and_unsigned),
	    cmocka_unit_test(test_truncation_at_every_length),
	    cmocka_unit_test(test_oversized_refused),
	    cmocka_unit_test(test_payload_must_be_a_map),
	    cmocka_unit_test(test_missing_required_fields),
	    cmocka_unit_test(test_invalid_values),
	    cmocka_unit_test(test_duplicate_and_odd_keys),
	    cmocka_unit_test(test_empty_keys),
	    cmocka_unit_test(test_hostile_lengths),
	    cmocka_unit_test(test_header_refused),
	    cmocka_unit_test(test_other_manifest_has_no_claims),
	    cmocka_unit_test(test_encode_refuses_bad_input),
	    cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
