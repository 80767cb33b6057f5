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

/* One value of a local stand-in manifest: its field name and type, what
 * the seal holds (a str when text is set, else the number u) and the
 * value the JSON view shows. */
struct local_value {
	const char *name;
	const char *type;
	const char *text;
	uint64_t u;
	const char *want;
};

/* A local stand-in manifest for a document that no ICAO or BSI type
 * code names, with one seal's values in field order. */
struct local_doc {
	unsigned char man[3];
	const char *id;
	const char *name;
	const char *corpus;
	const struct local_value *values;
	size_t nvalues;
};

static const struct local_value tax_stamp_values[] = {
    {"stampNumber", "str", "TS-2026-000417", 0, "TS-2026-000417"},
    {"productCode", "str", "2402.20", 0, "2402.20"},
    {"taxAmount", "uint", NULL, 1250, "1250"},
    {"currency", "str", "EUR", 0, "EUR"},
    {"issueDate", "date", NULL, 20260115, "2026-01-15"},
    {"taxPayer", "str", "Tabac Lumière SARL", 0, "Tabac Lumière SARL"},
};
static const struct local_value vignette_values[] = {
    {"vignetteNumber", "str", "VG-88120", 0, "VG-88120"},
    {"plate", "str", "AB-123-CD", 0, "AB-123-CD"},
    {"registrationCountry", "str", "FRA", 0, "FRA"},
    {"vehicleClass", "str", "M1", 0, "M1"},
    {"validFrom", "date", "2026-01-01", 0, "2026-01-01"},
    {"validTo", "date", NULL, 20261231, "2026-12-31"},
};
static const struct local_value health_values[] = {
    {"certificateNumber", "str", "HC-0042-77", 0, "HC-0042-77"},
    {"holderName", "str", "Ana Martin", 0, "Ana Martin"},
    {"birthDate", "date", "1984-02-29", 0, "1984-02-29"},
    {"kind", "str", "vaccination", 0, "vaccination"},
    {"issuedOn", "date", NULL, 20260301, "2026-03-01"},
    {"validTo", "date", "2027-02-28", 0, "2027-02-28"},
};
static const struct local_value prescription_values[] = {
    {"prescriptionNumber", "str", "RX-551902", 0, "RX-551902"},
    {"patientName", "str", "Ana Martin", 0, "Ana Martin"},
    {"birthDate", "date", NULL, 19850211, "1985-02-11"},
    {"product", "str", "Amoxicillin 500 mg", 0, "Amoxicillin 500 mg"},
    {"quantity", "uint", NULL, 3, "3"},
    {"issuedOn", "date", "2026-04-02", 0, "2026-04-02"},
    {"prescriber", "str", "Dr. L. Petit", 0, "Dr. L. Petit"},
};
static const struct local_doc local_docs[] = {
    {{0x0b, 0x00, 0x11},
     "0B0011",
     "LOCAL_BIOSEAL_TAX_STAMP",
     "bioseal_tax_stamp.bin",
     tax_stamp_values,
     ARRAY_LEN(tax_stamp_values)},
    {{0x0b, 0x00, 0x12},
     "0B0012",
     "LOCAL_BIOSEAL_VEHICLE_VIGNETTE",
     "bioseal_vehicle_vignette.bin",
     vignette_values,
     ARRAY_LEN(vignette_values)},
    {{0x0b, 0x00, 0x13},
     "0B0013",
     "LOCAL_BIOSEAL_HEALTH",
     "bioseal_health.bin",
     health_values,
     ARRAY_LEN(health_values)},
    {{0x0b, 0x00, 0x14},
     "0B0014",
     "LOCAL_BIOSEAL_PRESCRIPTION",
     "bioseal_prescription.bin",
     prescription_values,
     ARRAY_LEN(prescription_values)},
};

/* check_local_doc builds d's seal, decodes it and checks every field's
 * name, type and value, the local source, no claims and no enrollment. */
static void
check_local_doc(const struct local_doc *d)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0;
	unsigned char *b;
	struct vds *v;
	const char *what = NULL;
	json_t *j, *fields, *f;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < d->nvalues; i++)
		if (d->values[i].text != NULL)
			pack_str(&pk, d->values[i].text);
		else
			assert_int_equal(
			    msgpack_pack_uint64(&pk, d->values[i].u), 0);
	b = build("FR0100042", d->man, sb.data, sb.size, &n);
	save_corpus(d->corpus, b, n);
	v = decode_ok(b, n);
	assert_string_equal(vds_manifest_id(v), d->id);
	assert_null(vds_claims(v));
	assert_false(vds_can_enroll(v, &what));
	assert_string_equal(what, d->id);
	assert_int_equal(vds_verify_signature(v, key), SA_OK);
	j = vds_to_json(v);
	assert_non_null(j);
	assert_string_equal(jstr(json_object_get(j, "header"), "manifestName"),
			    d->name);
	assert_string_equal(
	    jstr(json_object_get(j, "header"), "manifestSource"),
	    "sealauth-local");
	assert_true(json_is_false(json_object_get(j, "canEnroll")));
	fields = json_object_get(j, "fields");
	assert_int_equal(json_array_size(fields), d->nvalues);
	for (size_t i = 0; i < d->nvalues; i++) {
		f = json_array_get(fields, i);
		assert_string_equal(jstr(f, "name"), d->values[i].name);
		assert_string_equal(jstr(f, "type"), d->values[i].type);
		assert_string_equal(jstr(f, "value"), d->values[i].want);
		/* No field feeds a claim. */
		assert_null(json_object_get(f, "claim"));
	}
	json_decref(j);
	vds_free(v);
	free(b);
	msgpack_sbuffer_destroy(&sb);
}

/* The documents the ICAO and BSI catalogues give no type code (tax
 * stamp, vehicle vignette, health, prescription) decode through their
 * local stand-in manifests with typed fields, and never enroll. */
static void
test_local_documents(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(local_docs); i++)
		check_local_doc(&local_docs[i]);
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

/* A tax amount written as decimal text instead of minor units. */
static void
pack_tax_amount_as_text(msgpack_packer *pk)
{
	pack_str(pk, "TS-1");
	pack_str(pk, "2402.20");
	pack_str(pk, "12.50");
}

/* A vignette whose start is the number of a day no month has. */
static void
pack_vignette_no_day(msgpack_packer *pk)
{
	pack_str(pk, "VG-1");
	pack_str(pk, "AB-123-CD");
	pack_str(pk, "FRA");
	pack_str(pk, "M1");
	msgpack_pack_uint32(pk, 20260230);
}

/* A health certificate born on 29 February of a common year. */
static void
pack_health_no_day(msgpack_packer *pk)
{
	pack_str(pk, "HC-1");
	pack_str(pk, "Ana Martin");
	pack_str(pk, "1985-02-29");
}

/* pack_prescription_head writes a prescription's values up to its
 * product. */
static void
pack_prescription_head(msgpack_packer *pk)
{
	pack_str(pk, "RX-1");
	pack_str(pk, "Ana Martin");
	pack_str(pk, "1985-02-11");
	pack_str(pk, "Amoxicillin 500 mg");
}

/* A prescription whose quantity is negative. */
static void
pack_negative_quantity(msgpack_packer *pk)
{
	pack_prescription_head(pk);
	msgpack_pack_int8(pk, -2);
}

/* A prescription whose prescriber is a number. */
static void
pack_prescriber_as_number(msgpack_packer *pk)
{
	pack_prescription_head(pk);
	msgpack_pack_uint8(pk, 3);
	pack_str(pk, "2026-04-02");
	msgpack_pack_uint32(pk, 4711);
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
	refuse_payload(local_docs[0].man, pack_tax_amount_as_text,
		       "field taxAmount is not a valid uint");
	refuse_payload(local_docs[1].man, pack_vignette_no_day,
		       "field validFrom is not a valid date");
	refuse_payload(local_docs[2].man, pack_health_no_day,
		       "field birthDate is not a valid date");
	refuse_payload(local_docs[3].man, pack_negative_quantity,
		       "field quantity is not a valid uint");
	refuse_payload(local_docs[3].man, pack_prescriber_as_number,
		       "field prescriber is not a valid str");
	refuse_payload(man_unknown, pack_65_values, "more than 64 values");
	/* An array32 claiming 4 billion elements in 6 bytes. */
	b = build("FR0100042", man_unknown, hostile, sizeof(hostile), &n);
	expect_refused(b, n, "value 0 is not valid MessagePack");
	free(b);
}

/* field_list_row writes the docs row of manifest i's fields:
 * "| `0B0011` | stampNumber: str, ... |", a claim as " → doc". */
static void
field_list_row(size_t i, const char *id, char *line, size_t size)
{
	size_t used = (size_t)snprintf(line, size, "| `%s` |", id);
	const char *fname, *type, *claim;

	for (size_t j = 0;
	     (fname = vds_manifest_field_row(i, j, &type, &claim)) != NULL;
	     j++) {
		used += (size_t)snprintf(line + used, size - used, "%s %s: %s",
					 j > 0 ? "," : "", fname, type);
		if (claim != NULL)
			used += (size_t)snprintf(line + used, size - used,
						 " → %s", claim);
		assert_true(used < size);
	}
	assert_true(used + 2 < size);
	snprintf(line + used, size - used, " |");
}

/* docs/seals.md lists every manifest of the table, with the fields of
 * each sequence manifest, and no manifest the table lacks. */
static void
test_manifests_documented(void **state)
{
	char line[512], *doc;
	const char *p;
	size_t nf, rows = 0, documented = 0, lists = 0, listed = 0;
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
		rows++;
		if (nf == 0)
			continue;
		lists++;
		field_list_row(i, id, line, sizeof(line));
		if (strstr(doc, line) == NULL)
			fail_msg("docs/seals.md lacks the fields: %s", line);
	}
	/* Rows of the manifest table start "| `XXXXXX` | NAME |", the name in
	 * upper case; a field list's second cell starts in lower case. */
	for (p = doc; p != NULL && *p != '\0';
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char hex[7], upper[64], bar, first;
		while (*p == ' ')
			p++;
		if (sscanf(p, "| `%6[0-9A-F]` | %63[A-Z0-9_] %c", hex, upper,
			   &bar) == 3 &&
		    bar == '|')
			documented++;
		else if (sscanf(p, "| `%6[0-9A-F]` | %c", hex, &first) == 2 &&
			 first >= 'a' && first <= 'z')
			listed++;
	}
	assert_int_equal(documented, rows);
	assert_int_equal(listed, lists);
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
	    cmocka_unit_test(test_local_documents),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_manifests_documented),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
