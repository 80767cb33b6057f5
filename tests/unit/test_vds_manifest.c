/*
 * test_vds_manifest.c - ISO 22376 seals in the BioSeal layout: the
 * 9-character CA id + cert id, payloads that are a sequence of
 * MessagePack values read through the manifest table, opaque biometric
 * bytes, and the same signature as our profile. Every seal here is built
 * and signed in the test with a fresh P-256 key.
 *
 * With SEALAUTH_WRITE_CORPUS=DIR set, the seals built here are also
 * written to DIR (the fuzz corpus of fuzz_vds is made so).
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
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "seal/c40.h"
#include "seal/vds.h"
#include "vds_test.h"

static EVP_PKEY *key;

static int
setup(void **state)
{
	(void)state;
	key = EVP_EC_gen("P-256");
	return key ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return 0;
}

/* save_corpus writes a built seal to $SEALAUTH_WRITE_CORPUS/name. */
static void
save_corpus(const char *name, const unsigned char *b, size_t n)
{
	const char *dir = getenv("SEALAUTH_WRITE_CORPUS");
	char path[512];
	FILE *f;

	if (dir == NULL || dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

/*
 * build signs an ISO 22376 seal: magic, version 2, the C40 ids (8 or 9
 * characters), manifest, signing time, payload length, payload, then
 * r || s over header || SHA-256(payload), as the BioSeal SDK and our
 * encoder both do.
 */
static unsigned char *
build(const char *ids, const unsigned char man[3], const void *payload,
      size_t plen, size_t *len)
{
	unsigned char *s = calloc(1, 17 + plen + 64), tbs[17 + 32], der[80];
	const unsigned char *p = der;
	size_t c40len = 0, derlen = sizeof(der);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *sig;

	assert_non_null(s);
	assert_non_null(ctx);
	s[0] = 0xde;
	s[1] = 0x02;
	assert_int_equal(c40_encode(ids, strlen(ids), s + 2, 6, &c40len),
			 SA_OK);
	assert_int_equal(c40len, 6);
	memcpy(s + 8, man, 3);
	s[11] = 0x65; /* 2023-11-14 */
	s[12] = 0x53;
	s[13] = 0xf1;
	s[14] = 0x00;
	s[15] = (unsigned char)(plen >> 8);
	s[16] = (unsigned char)plen;
	memcpy(s + 17, payload, plen);
	memcpy(tbs, s, 17);
	sha256(payload, plen, tbs + 17);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key),
			 1);
	assert_int_equal(EVP_DigestSign(ctx, der, &derlen, tbs, sizeof(tbs)),
			 1);
	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	assert_non_null(sig);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), s + 17 + plen, 32),
			 32);
	assert_int_equal(
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), s + 17 + plen + 32, 32), 32);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	*len = 17 + plen + 64;
	return s;
}

static void
pack_str(msgpack_packer *pk, const char *s)
{
	assert_int_equal(msgpack_pack_str(pk, strlen(s)), 0);
	assert_int_equal(msgpack_pack_str_body(pk, s, strlen(s)), 0);
}

static const unsigned char photo[] = "\xff\xd8\xff\xe0 JPEG photo bytes";
static const unsigned char tmpl[] = {0x46, 0x4d, 0x52, 0, 0x20, 1, 2, 3};

/* pack_identity writes the values of manifest 0B0001: document number,
 * names, birth date (text), nationality, expiry (number), photo (bin),
 * face template (ext type 5). */
static void
pack_identity(msgpack_sbuffer *sb, const char *doc)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	pack_str(&pk, doc);
	pack_str(&pk, "MARTIN");
	pack_str(&pk, "Ana Maria");
	pack_str(&pk, "1985-02-11");
	pack_str(&pk, "FRA");
	assert_int_equal(msgpack_pack_uint32(&pk, 20310630), 0);
	assert_int_equal(msgpack_pack_bin(&pk, sizeof(photo) - 1), 0);
	assert_int_equal(msgpack_pack_bin_body(&pk, photo, sizeof(photo) - 1),
			 0);
	assert_int_equal(msgpack_pack_ext(&pk, sizeof(tmpl), 5), 0);
	assert_int_equal(msgpack_pack_ext_body(&pk, tmpl, sizeof(tmpl)), 0);
}

static const unsigned char man_identity[3] = {0x0b, 0x00, 0x01};
static const unsigned char man_ticket[3] = {0x0b, 0x00, 0x10};
static const unsigned char man_unknown[3] = {0x0c, 0x0c, 0x0c};

/* A BioSeal identity seal: 9-character ids, typed values, claims for
 * enrollment, opaque biometrics, and the signature over the same input
 * as our profile's. */
static void
test_bioseal_identity(void **state)
{
	msgpack_sbuffer sb;
	size_t n = 0, len = 0;
	unsigned char *b;
	struct vds *v;
	const struct vds_claims *c;
	const char *what = NULL;
	json_t *j, *f;

	(void)state;
	msgpack_sbuffer_init(&sb);
	pack_identity(&sb, "X4RTBPFW4");
	b = build("FR0100042", man_identity, sb.data, sb.size, &n);
	save_corpus("bioseal_identity.bin", b, n);
	v = decode_ok(b, n);
	assert_int_equal(vds_format(v), VDS_FORMAT_ISO22376);
	assert_string_equal(vds_ca_id(v), "FR01");
	assert_string_equal(vds_cert_id(v), "00042");
	assert_string_equal(vds_manifest_id(v), "0B0001");
	assert_int_equal(vds_quirks(v), 0);
	c = vds_claims(v);
	assert_non_null(c);
	assert_string_equal(c->token_id, "FR01-X4RTBPFW4");
	assert_string_equal(c->document, "X4RTBPFW4");
	assert_string_equal(c->family_name, "MARTIN");
	assert_string_equal(c->given_name, "Ana Maria");
	assert_string_equal(c->birth_date, "1985-02-11");
	assert_string_equal(c->nationality, "FRA");
	assert_string_equal(c->expiry, "2031-06-30");
	assert_int_equal(c->photo_len, sizeof(photo) - 1);
	assert_memory_equal(c->photo, photo, sizeof(photo) - 1);
	assert_int_equal(c->face_len, sizeof(tmpl));
	assert_memory_equal(c->face, tmpl, sizeof(tmpl));
	assert_true(vds_can_enroll(v, &what));
	assert_int_equal(vds_verify_signature(v, key), SA_OK);
	vds_payload(v, &len);
	assert_int_equal(len, sb.size);
	j = vds_to_json(v);
	assert_non_null(j);
	assert_string_equal(jstr(json_object_get(j, "header"), "layout"),
			    "bioseal");
	assert_string_equal(jstr(json_object_get(j, "header"), "manifestName"),
			    "LOCAL_BIOSEAL_IDENTITY");
	/* Ours, and the JSON says so: no issuer publishes 0B0001. */
	assert_string_equal(
	    jstr(json_object_get(j, "header"), "manifestSource"),
	    "sealauth-local");
	assert_int_equal(json_array_size(json_object_get(j, "fields")), 8);
	f = json_array_get(json_object_get(j, "fields"), 6);
	assert_string_equal(jstr(f, "name"), "photo");
	assert_string_equal(jstr(f, "type"), "image");
	assert_int_equal(json_integer_value(json_object_get(f, "bytes")),
			 sizeof(photo) - 1);
	f = json_array_get(json_object_get(j, "fields"), 7);
	assert_string_equal(jstr(f, "type"), "biometric-template");
	assert_int_equal(json_integer_value(json_object_get(f, "extType")), 5);
	f = json_array_get(json_object_get(j, "fields"), 5);
	assert_string_equal(jstr(f, "value"), "2031-06-30");
	assert_string_equal(jstr(f, "claim"), "exp");
	json_decref(j);
	vds_free(v);
	/* One payload byte changed: the signature no longer verifies. */
	b[17 + 2] ^= 0x01;
	v = decode_ok(b, n);
	assert_int_equal(vds_verify_signature(v, key), SA_ERR_SEAL_SIGNATURE);
	vds_free(v);
	free(b);
	msgpack_sbuffer_destroy(&sb);
}

/* Our 8-character profile ids with a BioSeal manifest decode too: the
 * header form and the payload form are independent. */
static void
test_profile_ids_with_sequence(void **state)
{
	msgpack_sbuffer sb;
	size_t n = 0;
	unsigned char *b;
	struct vds *v;
	json_t *j;

	(void)state;
	msgpack_sbuffer_init(&sb);
	pack_identity(&sb, "D7781234");
	b = build("DEMO0001", man_identity, sb.data, sb.size, &n);
	v = decode_ok(b, n);
	assert_string_equal(vds_cert_id(v), "0001");
	assert_string_equal(vds_claims(v)->token_id, "DEMO-D7781234");
	j = vds_to_json(v);
	assert_string_equal(jstr(json_object_get(j, "header"), "layout"),
			    "profile");
	json_decref(j);
	vds_free(v);
	free(b);
	msgpack_sbuffer_destroy(&sb);
}

/* An unknown manifest's sequence decodes positionally, typed by the
 * MessagePack type; no claims, no enrollment. */
static void
test_unknown_manifest_positional(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0, i;
	unsigned char *b;
	struct vds *v;
	json_t *j, *f;
	static const char *types[] = {"str", "uint", "int",	"bool",
				      "nil", "bin",  "msgpack", "ext"};
	const char *what = NULL;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_str(&pk, "abc");
	msgpack_pack_uint8(&pk, 42);
	msgpack_pack_int8(&pk, -7);
	msgpack_pack_true(&pk);
	msgpack_pack_nil(&pk);
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "\x01\x02\x03", 3);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint8(&pk, 1);
	msgpack_pack_uint8(&pk, 2);
	msgpack_pack_ext(&pk, 2, 9);
	msgpack_pack_ext_body(&pk, "\xaa\xbb", 2);
	b = build("XY0112345", man_unknown, sb.data, sb.size, &n);
	save_corpus("bioseal_unknown_manifest.bin", b, n);
	v = decode_ok(b, n);
	assert_null(vds_claims(v));
	assert_false(vds_can_enroll(v, &what));
	assert_string_equal(what, "0C0C0C");
	assert_int_equal(vds_verify_signature(v, key), SA_OK);
	j = vds_to_json(v);
	assert_string_equal(jstr(json_object_get(j, "header"), "manifestName"),
			    "UNKNOWN");
	assert_true(json_is_null(
	    json_object_get(json_object_get(j, "header"), "manifestSource")));
	assert_int_equal(json_array_size(json_object_get(j, "fields")),
			 ARRAY_LEN(types));
	json_array_foreach(json_object_get(j, "fields"), i, f)
	{
		char name[32];
		snprintf(name, sizeof(name), "field%zu", i);
		assert_string_equal(jstr(f, "name"), name);
		assert_string_equal(jstr(f, "type"), types[i]);
	}
	f = json_array_get(json_object_get(j, "fields"), 2);
	assert_string_equal(jstr(f, "value"), "-7");
	f = json_array_get(json_object_get(j, "fields"), 6);
	assert_string_equal(jstr(f, "base64"), "kgEC"); /* 92 01 02 */
	json_decref(j);
	vds_free(v);
	free(b);
	msgpack_sbuffer_destroy(&sb);
}

/* Empty strings and byte strings (msgpack-c gives them no pointer)
 * decode as empty values; found by fuzz_vds under UBSan. */
static void
test_empty_values(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0;
	unsigned char *b;
	struct vds *v;
	json_t *j, *f;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_str(&pk, 0);
	msgpack_pack_bin(&pk, 0);
	b = build("XY0112345", man_unknown, sb.data, sb.size, &n);
	save_corpus("bioseal_empty_values.bin", b, n);
	v = decode_ok(b, n);
	j = vds_to_json(v);
	f = json_array_get(json_object_get(j, "fields"), 0);
	assert_string_equal(jstr(f, "type"), "str");
	assert_string_equal(jstr(f, "value"), "");
	f = json_array_get(json_object_get(j, "fields"), 1);
	assert_string_equal(jstr(f, "type"), "bin");
	assert_int_equal(json_integer_value(json_object_get(f, "bytes")), 0);
	json_decref(j);
	vds_free(v);
	free(b);
	msgpack_sbuffer_destroy(&sb);
}

/* A manifest that is not an identity document decodes, never enrolls. */
static void
test_ticket_is_not_identity(void **state)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0;
	unsigned char *b;
	struct vds *v;
	const char *what = NULL;

	(void)state;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_str(&pk, "TK-0001");
	pack_str(&pk, "Ana Martin");
	pack_str(&pk, "2026-01-01");
	msgpack_pack_uint32(&pk, 20261231);
	msgpack_pack_uint8(&pk, 3);
	b = build("FR0100042", man_ticket, sb.data, sb.size, &n);
	save_corpus("bioseal_ticket.bin", b, n);
	v = decode_ok(b, n);
	assert_null(vds_claims(v));
	assert_false(vds_can_enroll(v, &what));
	assert_string_equal(what, "0B0010");
	vds_free(v);
	free(b);
	msgpack_sbuffer_destroy(&sb);
}

/* Typed fields refuse values of another type, naming the field; counts
 * and lengths are bounded before anything is allocated. */
/* pack_fn writes the values of one refused payload. */
typedef void (*pack_fn)(msgpack_packer *pk);

static void
pack_number_as_doc(msgpack_packer *pk)
{
	msgpack_pack_uint8(pk, 7);
}

static void
pack_bad_birth_date(msgpack_packer *pk)
{
	pack_str(pk, "X1");
	pack_str(pk, "A");
	pack_str(pk, "B");
	pack_str(pk, "1985-02-30");
}

static void
pack_no_given_name(msgpack_packer *pk)
{
	pack_str(pk, "X1");
	pack_str(pk, "A");
}

static void
pack_65_values(msgpack_packer *pk)
{
	for (int i = 0; i < 65; i++)
		msgpack_pack_uint8(pk, 1);
}

/* refuse_payload signs a seal of manifest man around what pack writes
 * and expects it refused with want. */
static void
refuse_payload(const unsigned char man[3], pack_fn pack, const char *want)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0;
	unsigned char *b;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack(&pk);
	b = build("FR0100042", man, sb.data, sb.size, &n);
	expect_refused(b, n, want);
	free(b);
	msgpack_sbuffer_destroy(&sb);
}

/* Typed fields refuse values of another type, naming the field; counts
 * and lengths are bounded before anything is allocated. */
static void
test_refusals(void **state)
{
	size_t n = 0;
	unsigned char *b, hostile[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};

	(void)state;
	refuse_payload(man_identity, pack_number_as_doc,
		       "field documentNumber is not a valid str");
	refuse_payload(man_identity, pack_bad_birth_date,
		       "field birthDate is not a valid date");
	/* The identity fields without a given name: no claims to enroll. */
	refuse_payload(man_identity, pack_no_given_name, "claim gn: missing");
	refuse_payload(man_unknown, pack_65_values, "more than 64 values");
	/* An array32 claiming 4 billion elements in 6 bytes. */
	b = build("FR0100042", man_unknown, hostile, sizeof(hostile), &n);
	expect_refused(b, n, "value 0 is not valid MessagePack");
	free(b);
}

/* docs/seals.md lists every manifest of the table. */
static void
test_manifests_documented(void **state)
{
	char line[160], *doc;
	size_t nf;
	const char *id, *name, *source;
	int identity, map;

	(void)state;
	doc = read_seals_doc();
	for (size_t i = 0; (name = vds_manifest_row(i, &id, &source, &identity,
						    &map, &nf)) != NULL;
	     i++) {
		snprintf(line, sizeof(line), "| `%s` | %s | %s | %s | %s |", id,
			 name, source, map ? "one map" : "sequence",
			 identity ? "yes" : "no");
		if (strstr(doc, line) == NULL)
			fail_msg("docs/seals.md lacks the row: %s", line);
	}
	free(doc);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bioseal_identity),
	    cmocka_unit_test(test_profile_ids_with_sequence),
	    cmocka_unit_test(test_unknown_manifest_positional),
	    cmocka_unit_test(test_empty_values),
	    cmocka_unit_test(test_ticket_is_not_identity),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_manifests_documented),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
