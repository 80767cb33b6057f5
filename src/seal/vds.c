/*
 * vds.c - the common seal API and the ISO 22376 (0xDE) seal of our
 * profile: header, MessagePack payload, ECDSA P-256 signature.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "seal/c40.h"
#include "seal/vds_int.h"

#define ISO_MAGIC 0xde
#define ISO_VERSION 0x02
#define ISO_MAX_KEYS 64 /* a profile map needs 9; more is refused */

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
date_valid(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return 0;
	return d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

/* iso_date_ok accepts exactly YYYY-MM-DD naming a real day. */
static int
iso_date_ok(const char *s, size_t n)
{
	int y, m, d;

	if (n != 10 || s[4] != '-' || s[7] != '-')
		return 0;
	for (size_t i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return 0;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	return date_valid(y, m, d);
}

static int
ascii_range_ok(const char *s, size_t n, unsigned char lo, unsigned char hi)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > hi)
			return 0;
	return 1;
}

static int
id_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

/* The string claims of the profile, their bounds and checks. */
enum claim_kind { CK_NAME, CK_DATE, CK_NAT, CK_DOC, CK_TID, CK_BIN };
struct claim_spec {
	const char *key;
	enum claim_kind kind;
	int required;
};
static const struct claim_spec claim_specs[] = {
    {"tid", CK_TID, 1},	 {"gn", CK_NAME, 1},   {"fn", CK_NAME, 1},
    {"dob", CK_DATE, 1}, {"nat", CK_NAT, 0},   {"doc", CK_DOC, 0},
    {"exp", CK_DATE, 0}, {"photo", CK_BIN, 0}, {"face", CK_BIN, 0},
};

/*
 * claim_value_ok checks one claim value against its kind; it is shared by
 * the decoder and the encoder so that whatever we encode we also accept.
 */
static int
claim_value_ok(enum claim_kind kind, const char *s, size_t n)
{
	switch (kind) {
	case CK_NAME:
		return n >= 1 && n <= VDS_NAME_MAX &&
		       utf8_valid(s, n, UTF8_NO_C0 | UTF8_NO_C1);
	case CK_DATE:
		return iso_date_ok(s, n);
	case CK_NAT:
		return n == 3 && ascii_range_ok(s, n, 'A', 'Z');
	case CK_DOC:
		return n >= 1 && n <= VDS_DOC_MAX &&
		       ascii_range_ok(s, n, 0x20, 0x7e);
	case CK_TID:
		/* No spaces: token ids travel in URLs, logs and JWT subs. */
		return n >= 1 && n <= VDS_TID_MAX &&
		       ascii_range_ok(s, n, 0x21, 0x7e);
	case CK_BIN:
		return n >= 1 && n <= VDS_MAX_BYTES;
	}
	return 0;
}

/* claim_slot returns where a string claim is stored in c. */
static char *
claim_slot(struct vds_claims *c, const char *key, size_t *cap)
{
	struct {
		const char *key;
		char *p;
		size_t cap;
	} slots[] = {
	    {"tid", c->token_id, sizeof(c->token_id)},
	    {"gn", c->given_name, sizeof(c->given_name)},
	    {"fn", c->family_name, sizeof(c->family_name)},
	    {"dob", c->birth_date, sizeof(c->birth_date)},
	    {"nat", c->nationality, sizeof(c->nationality)},
	    {"doc", c->document, sizeof(c->document)},
	    {"exp", c->expiry, sizeof(c->expiry)},
	};
	for (size_t i = 0; i < ARRAY_LEN(slots); i++) {
		if (strcmp(slots[i].key, key) == 0) {
			*cap = slots[i].cap;
			return slots[i].p;
		}
	}
	return NULL;
}

/* mrz_name copies an MRZ name into out, '<' (between the parts of a
 * compound name) as a space. */
static void
mrz_name(char *out, size_t outsz, const char *name)
{
	size_t n = strlen(name);

	if (n >= outsz)
		n = outsz - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = name[i] == '<' ? ' ' : name[i];
	out[n] = '\0';
}

/*
 * icao_claims fills the claims of an identity ICAO seal from its MRZ:
 * names, birth date, nationality, document number and expiry as the MRZ
 * gives them. The token id is the issuing country and the document number
 * ("UTO-L898902C3"): a document number is unique only per issuer. With a
 * required value missing or invalid the seal keeps no claims (it still
 * decodes, and enrollment refuses it for that).
 */
static void
icao_claims(struct vds *v)
{
	struct vds_claims *c = &v->claims;
	struct vds_mrz m;
	const char *nat;

	if (!vds_can_enroll(v, NULL) || !vds_icao_mrz(v, &m))
		return;
	/* The document number as the MRZ spells it, without its trailing
	 * fillers (a long number joined, as vds_icao_mrz reads it). Some
	 * issuers print a filler inside it (German arrival attestations:
	 * "M<9137461"): the token id writes that one as '-', which no MRZ
	 * character is, so one document gives one id that travels in URLs
	 * unescaped. A number that starts with a filler is none. */
	if (m.number[0] == '\0' || m.number[0] == '<')
		return;
	mrz_name(c->given_name, sizeof(c->given_name), m.given);
	mrz_name(c->family_name, sizeof(c->family_name), m.surname);
	snprintf(c->birth_date, sizeof(c->birth_date), "%s", m.birth);
	snprintf(c->document, sizeof(c->document), "%s", m.number);
	snprintf(c->token_id, sizeof(c->token_id), "%s-%s",
		 vds_icao_country_code(v), m.number);
	for (char *p = strchr(c->token_id, '-') + 1; *p != '\0'; p++)
		if (*p == '<')
			*p = '-';
	/* ICAO 9303 writes Germany as "D"; the claim is 3 letters. */
	nat = strcmp(m.nationality, "D") == 0 ? "DEU" : m.nationality;
	if (claim_value_ok(CK_NAT, nat, strlen(nat)))
		snprintf(c->nationality, sizeof(c->nationality), "%s", nat);
	if (claim_value_ok(CK_DATE, m.expiry, strlen(m.expiry)))
		snprintf(c->expiry, sizeof(c->expiry), "%s", m.expiry);
	if (claim_value_ok(CK_NAME, c->given_name, strlen(c->given_name)) &&
	    claim_value_ok(CK_NAME, c->family_name, strlen(c->family_name)) &&
	    claim_value_ok(CK_DATE, c->birth_date, strlen(c->birth_date)) &&
	    claim_value_ok(CK_DOC, c->document, strlen(c->document)) &&
	    claim_value_ok(CK_TID, c->token_id, strlen(c->token_id)))
		v->has_claims = 1;
	else
		OPENSSL_cleanse(c, sizeof(*c));
}

/*
 * iso_parse_payload reads the payload map into v's claims. The map must be
 * the whole payload, keys must be distinct strings; unknown keys are
 * ignored (their names kept for display), known ones checked by kind.
 */
static enum sa_err
iso_parse_payload(struct vds *v, char *why, size_t whylen)
{
	const unsigned char *p = v->seal + v->payload_off;
	size_t n = v->payload_len, pos = 0, off = 0;
	msgpack_unpacked up;
	msgpack_object_map *map;
	unsigned int seen = 0;
	enum sa_err rc = SA_ERR_SEAL_DECODE;
	int want_claims = strcmp(v->manifest, VDS_PROFILE_MANIFEST) == 0;

	msgpack_unpacked_init(&up);
	if (n == 0 || vds_mp_check(p, n, &pos, 0) != 0 || pos != n) {
		why_set(why, whylen,
			"payload: not one valid MessagePack "
			"object");
		goto out;
	}
	if (msgpack_unpack_next(&up, (const char *)p, n, &off) !=
		MSGPACK_UNPACK_SUCCESS ||
	    off != n) {
		why_set(why, whylen, "payload: MessagePack does not parse");
		goto out;
	}
	if (up.data.type != MSGPACK_OBJECT_MAP) {
		why_set(why, whylen, "payload: not a map");
		goto out;
	}
	map = &up.data.via.map;
	if (map->size > ISO_MAX_KEYS) {
		why_set(why, whylen, "payload: more than %d keys",
			ISO_MAX_KEYS);
		goto out;
	}
	for (uint32_t i = 0; i < map->size; i++) {
		msgpack_object *k = &map->ptr[i].key, *val = &map->ptr[i].val;
		char key[ISO_IGNORED_NAME + 1];
		const struct claim_spec *spec = NULL;

		if (k->type != MSGPACK_OBJECT_STR) {
			why_set(why, whylen,
				"payload: key %u is not a "
				"string",
				(unsigned)i);
			goto out;
		}
		for (uint32_t j = 0; j < i; j++) {
			msgpack_object *o = &map->ptr[j].key;
			/* msgpack-c gives an empty string a NULL pointer:
			 * memcmp must not see it, even with length 0 */
			if (o->via.str.size == k->via.str.size &&
			    (k->via.str.size == 0 ||
			     memcmp(o->via.str.ptr, k->via.str.ptr,
				    k->via.str.size) == 0)) {
				why_set(why, whylen,
					"payload: duplicate key "
					"\"%.*s\"",
					(int)(k->via.str.size > 32
						  ? 32
						  : k->via.str.size),
					k->via.str.size > 0 ? k->via.str.ptr
							    : "");
				goto out;
			}
		}
		if (!want_claims)
			continue;
		for (size_t s = 0; s < ARRAY_LEN(claim_specs); s++)
			if (k->via.str.size > 0 &&
			    strlen(claim_specs[s].key) == k->via.str.size &&
			    memcmp(claim_specs[s].key, k->via.str.ptr,
				   k->via.str.size) == 0)
				spec = &claim_specs[s];
		if (spec == NULL) {
			size_t kl = k->via.str.size > ISO_IGNORED_NAME
					? ISO_IGNORED_NAME
					: k->via.str.size;
			if (v->nignored < ISO_MAX_IGNORED) {
				if (kl > 0)
					memcpy(v->ignored[v->nignored],
					       k->via.str.ptr, kl);
				v->ignored[v->nignored][kl] = '\0';
				v->nignored++;
			}
			continue;
		}
		snprintf(key, sizeof(key), "%s", spec->key);
		if (spec->kind == CK_BIN) {
			unsigned char **dst =
			    strcmp(key, "photo") == 0 ? &v->photo : &v->face;
			if (val->type != MSGPACK_OBJECT_BIN ||
			    !claim_value_ok(CK_BIN, val->via.bin.ptr,
					    val->via.bin.size)) {
				why_set(why, whylen,
					"claim %s: expected "
					"non-empty binary",
					key);
				goto out;
			}
			*dst = malloc(val->via.bin.size);
			if (*dst == NULL) {
				rc = SA_ERR_NOMEM;
				goto out;
			}
			memcpy(*dst, val->via.bin.ptr, val->via.bin.size);
			if (*dst == v->photo) {
				v->claims.photo = v->photo;
				v->claims.photo_len = val->via.bin.size;
			} else {
				v->claims.face = v->face;
				v->claims.face_len = val->via.bin.size;
			}
		} else {
			size_t cap = 0;
			char *slot = claim_slot(&v->claims, key, &cap);
			if (slot == NULL || val->type != MSGPACK_OBJECT_STR ||
			    !claim_value_ok(spec->kind, val->via.str.ptr,
					    val->via.str.size) ||
			    val->via.str.size >= cap) {
				why_set(why, whylen,
					"claim %s: missing "
					"or invalid value",
					key);
				goto out;
			}
			if (val->via.str.size > 0)
				memcpy(slot, val->via.str.ptr,
				       val->via.str.size);
			slot[val->via.str.size] = '\0';
		}
		seen |= 1u << (spec - claim_specs);
	}
	if (want_claims) {
		for (size_t s = 0; s < ARRAY_LEN(claim_specs); s++) {
			if (claim_specs[s].required && !(seen & (1u << s))) {
				why_set(why, whylen, "claim %s: missing",
					claim_specs[s].key);
				goto out;
			}
		}
		v->has_claims = 1;
	}
	rc = SA_OK;
out:
	msgpack_unpacked_destroy(&up);
	return rc;
}

/*
 * iso_claims_from_fields fills the profile claims from the fields of an
 * identity manifest, with the checks of our profile. The token id is the
 * CA id and the document number ("FR01-X4RTBPFW4"): a document number is
 * unique only per issuer.
 */
static enum sa_err
iso_claims_from_fields(struct vds *v, struct vds_rd *rd)
{
	struct vds_claims *c = &v->claims;
	const char *doc = NULL;
	unsigned int seen = 0;
	size_t cap = 0;

	for (size_t i = 0; i < v->nfields; i++) {
		const struct vds_field *f = &v->fields[i];
		const struct claim_spec *spec = NULL;
		char *slot;
		for (size_t k = 0;
		     f->claim != NULL && k < ARRAY_LEN(claim_specs); k++)
			if (strcmp(claim_specs[k].key, f->claim) == 0)
				spec = &claim_specs[k];
		if (spec == NULL)
			continue;
		seen |= 1u << (spec - claim_specs);
		if (spec->kind == CK_BIN) {
			/* Points into the field; freed with the fields. */
			if (strcmp(spec->key, "photo") == 0) {
				c->photo = f->bytes;
				c->photo_len = f->len;
			} else {
				c->face = f->bytes;
				c->face_len = f->len;
			}
			continue;
		}
		slot = claim_slot(c, spec->key, &cap);
		if (f->text == NULL || slot == NULL ||
		    !claim_value_ok(spec->kind, f->text, strlen(f->text)) ||
		    strlen(f->text) >= cap)
			return vds_rd_fail(rd, v->payload_off,
					   "claim %s (field %s): invalid value",
					   spec->key, f->name);
		memcpy(slot, f->text, strlen(f->text) + 1);
		if (strcmp(spec->key, "doc") == 0)
			doc = f->text;
	}
	if (doc == NULL)
		return vds_rd_fail(rd, v->payload_off,
				   "claim tid: no document number to derive "
				   "it from");
	snprintf(c->token_id, sizeof(c->token_id), "%s-%s", v->core.ca_id, doc);
	if (!claim_value_ok(CK_TID, c->token_id, strlen(c->token_id)))
		return vds_rd_fail(rd, v->payload_off,
				   "claim tid: \"%s\" is not a token id",
				   c->token_id);
	seen |= 1u; /* tid */
	for (size_t s = 0; s < ARRAY_LEN(claim_specs); s++)
		if (claim_specs[s].required && !(seen & (1u << s)))
			return vds_rd_fail(rd, v->payload_off,
					   "claim %s: missing",
					   claim_specs[s].key);
	v->has_claims = 1;
	return SA_OK;
}

/* is_one_map tells whether the payload is exactly one MessagePack map. */
static int
is_one_map(const unsigned char *p, size_t n)
{
	size_t pos = 0;

	return n > 0 &&
	       ((p[0] & 0xf0) == 0x80 || p[0] == 0xde || p[0] == 0xdf) &&
	       vds_mp_check(p, n, &pos, 0) == 0 && pos == n;
}

/*
 * iso_payload reads the payload by its manifest: our profile's map, a
 * known manifest's sequence of typed values, or, for an unknown
 * manifest, one map (checked, no claims) or a sequence read
 * positionally.
 */
static enum sa_err
iso_payload(struct vds *v, struct vds_rd *rd)
{
	const unsigned char *p = v->seal + v->payload_off;
	enum sa_err rc;

	if (vds_manifest_def_map(v->mdef) ||
	    (v->mdef == NULL && is_one_map(p, v->payload_len))) {
		rc = iso_parse_payload(v, rd->why, rd->whylen);
		if (rc == SA_ERR_SEAL_DECODE && rd->tr != NULL) {
			rd->tr->failed = 1;
			rd->tr->fail_offset = v->payload_off;
		}
		return rc;
	}
	rc = vds_manifest_read(v, v->mdef, rd);
	if (rc == SA_OK && vds_manifest_def_identity(v->mdef))
		rc = iso_claims_from_fields(v, rd);
	return rc;
}

/*
 * iso_parse parses the ISO 22376 layout of v->seal (see docs/seals.md):
 * 17-byte header, payload, 64-byte r || s, then unsigned aux data.
 */
static enum sa_err
iso_parse(struct vds *v, struct vds_rd *rd)
{
	const unsigned char *b = v->seal;
	char ids[16];
	size_t idlen, plen;
	enum sa_err rc;

	vds_rd_note(rd, 0, 1, "magic", "0xDE (ISO 22376)");
	if (b[1] != ISO_VERSION)
		return vds_rd_fail(rd, 1, "unsupported seal version 0x%02x",
				   b[1]);
	vds_rd_note(rd, 1, 1, "version", "0x%02x", b[1]);
	v->version = b[1];
	if (v->len < VDS_ISO_HEADER_LEN + VDS_ISO_SIG_LEN)
		return vds_rd_fail(rd, v->len,
				   "seal: %zu bytes, shorter than header "
				   "and signature",
				   v->len);
	/* 9 C40 values: our profile writes CA id (4), cert id (4) and the
	 * padding value 0; the BioSeal layout fills all 9 with CA id (4) and
	 * cert id (5). */
	if (c40_decode(b + 2, 6, ids, sizeof(ids), &idlen) != SA_OK ||
	    (idlen != 8 && idlen != 9) || !id_ok(ids, idlen))
		return vds_rd_fail(rd, 2,
				   "header: CA id / cert id is not 8 or 9 "
				   "C40 characters of [0-9A-Z]");
	v->bioseal_ids = idlen == 9;
	memcpy(v->core.ca_id, ids, 4);
	v->core.ca_id[4] = '\0';
	memcpy(v->core.cert_id, ids + 4, idlen - 4);
	v->core.cert_id[idlen - 4] = '\0';
	vds_rd_note(rd, 2, 6, "caId+certId", "\"%s\" + \"%s\" (%s)",
		    v->core.ca_id, v->core.cert_id,
		    v->bioseal_ids ? "9 characters, BioSeal"
				   : "8 characters, our profile");
	snprintf(v->manifest, sizeof(v->manifest), "%02X%02X%02X", b[8], b[9],
		 b[10]);
	v->mdef = vds_manifest_find(v->manifest);
	vds_rd_note(rd, 8, 3, "manifestId", "%s (%s)", v->manifest,
		    vds_manifest_def_name(v->mdef));
	v->core.signing_time =
	    (int64_t)((uint32_t)b[11] << 24 | (uint32_t)b[12] << 16 |
		      (uint32_t)b[13] << 8 | b[14]);
	{
		char when[21];
		iso8601_utc(v->core.signing_time, when);
		vds_rd_note(rd, 11, 4, "signingTime", "%s", when);
	}
	plen = (size_t)b[15] << 8 | b[16];
	if (plen > v->len - VDS_ISO_HEADER_LEN - VDS_ISO_SIG_LEN)
		return vds_rd_fail(rd, 15,
				   "header: payload length %zu runs past "
				   "the end of the seal",
				   plen);
	vds_rd_note(rd, 15, 2, "payloadLength", "%zu", plen);
	v->core.header_len = VDS_ISO_HEADER_LEN;
	v->payload_off = VDS_ISO_HEADER_LEN;
	v->payload_len = plen;
	v->core.signed_len = VDS_ISO_HEADER_LEN + plen;
	v->core.sig_off = v->core.signed_len;
	v->core.sig_len = VDS_ISO_SIG_LEN;
	v->aux_off = v->core.sig_off + VDS_ISO_SIG_LEN;
	v->aux_len = v->len - v->aux_off;
	if ((rc = iso_payload(v, rd)) != SA_OK)
		return rc;
	vds_rd_note(rd, v->core.sig_off, VDS_ISO_SIG_LEN, "signature",
		    "r || s, 2 x 32 bytes");
	if (v->aux_len > 0)
		vds_rd_note(rd, v->aux_off, v->aux_len, "aux",
			    "%zu unsigned bytes", v->aux_len);
	return SA_OK;
}

enum sa_err
vds_decode(const unsigned char *seal, size_t n, struct vds **out, char *why,
	   size_t whylen)
{
	return vds_decode_traced(seal, n, out, why, whylen, NULL);
}

enum sa_err
vds_decode_traced(const unsigned char *seal, size_t n, struct vds **out,
		  char *why, size_t whylen, struct vds_trace *trace)
{
	struct vds *v = NULL;
	struct vds_rd rd = {seal, n, why, whylen, trace};
	enum sa_err rc;

	if (trace != NULL)
		memset(trace, 0, sizeof(*trace));
	if (n > VDS_MAX_BYTES) {
		why_set(why, whylen, "seal: %zu bytes, over the %d limit", n,
			VDS_MAX_BYTES);
		return SA_ERR_BODY_TOO_LARGE;
	}
	if (n < 2)
		return vds_rd_fail(&rd, n, "seal: %zu bytes, too short", n);
	if (seal[0] != ISO_MAGIC && seal[0] != 0xdc)
		return vds_rd_fail(&rd, 0, "seal: unknown magic byte 0x%02x",
				   seal[0]);
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return SA_ERR_NOMEM;
	v->seal = malloc(n);
	if (v->seal == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	memcpy(v->seal, seal, n);
	v->len = n;
	rd.b = v->seal;
	if (seal[0] == ISO_MAGIC) {
		v->format = VDS_FORMAT_ISO22376;
		rc = iso_parse(v, &rd);
	} else {
		v->format = VDS_FORMAT_ICAO;
		v->version = seal[1];
		rc = vds_icao_parse(&rd, &v->core, &v->icao);
		if (rc == SA_OK)
			icao_claims(v);
	}
	if (rc != SA_OK)
		goto out;
	*out = v;
	v = NULL;
out:
	vds_free(v);
	return rc;
}

void
vds_free(struct vds *v)
{
	if (v == NULL)
		return;
	vds_icao_free(v->icao);
	vds_fields_free(v);
	/* Claims are personal data: wipe them with the seal. */
	if (v->seal != NULL)
		OPENSSL_cleanse(v->seal, v->len);
	if (v->photo != NULL)
		OPENSSL_cleanse(v->photo, v->claims.photo_len);
	if (v->face != NULL)
		OPENSSL_cleanse(v->face, v->claims.face_len);
	free(v->seal);
	free(v->photo);
	free(v->face);
	OPENSSL_cleanse(v, sizeof(*v));
	free(v);
}

/* vds_ecdsa_verify checks raw r || s over msg with md and pub. */
static enum sa_err
vds_ecdsa_verify(EVP_PKEY *pub, const EVP_MD *md, const unsigned char *msg,
		 size_t msglen, const unsigned char *rs, size_t rslen)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx = NULL;
	enum sa_err rc = SA_ERR_SEAL_SIGNATURE;
	size_t half = rslen / 2;
	int derlen;

	if (pub == NULL || EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC ||
	    rslen == 0 || rslen % 2 != 0)
		return SA_ERR_SEAL_SIGNATURE;
	/* r and s are as wide as the group order; anything else is a
	 * signature for another curve. */
	if ((size_t)(EVP_PKEY_get_bits(pub) + 7) / 8 != half)
		return SA_ERR_SEAL_SIGNATURE;
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(rs, (int)half, NULL);
	s = BN_bin2bn(rs + half, (int)half, NULL);
	if (sig == NULL || r == NULL || s == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (ECDSA_SIG_set0(sig, r, s) != 1) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	r = s = NULL; /* owned by sig now */
	derlen = i2d_ECDSA_SIG(sig, &der);
	if (derlen <= 0) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) != 1) {
		rc = SA_ERR_SEAL_SIGNATURE;
		goto out;
	}
	if (EVP_DigestVerify(ctx, der, (size_t)derlen, msg, msglen) == 1)
		rc = SA_OK;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

int
vds_key_is_p256(EVP_PKEY *k)
{
	char name[64];
	size_t len = 0;

	if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_EC)
		return 0;
	if (EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, name,
					   sizeof(name), &len) != 1)
		return 0;
	return strcmp(name, "prime256v1") == 0;
}

/* iso_tbs writes header(17) || SHA-256(payload), the message signed. */
static void
iso_tbs(const unsigned char *header, const unsigned char *payload, size_t plen,
	unsigned char tbs[VDS_ISO_HEADER_LEN + 32])
{
	memcpy(tbs, header, VDS_ISO_HEADER_LEN);
	sha256(payload, plen, tbs + VDS_ISO_HEADER_LEN);
}

enum sa_err
vds_verify_signature(const struct vds *v, EVP_PKEY *pub)
{
	unsigned char tbs[VDS_ISO_HEADER_LEN + 32];

	if (v == NULL || pub == NULL)
		return SA_ERR_SEAL_SIGNATURE;
	if (v->format == VDS_FORMAT_ICAO) {
		const EVP_MD *md;
		if (v->core.sig_len == 0)
			return SA_ERR_SEAL_SIGNATURE; /* unsigned seal */
		switch (v->core.sig_len / 2) {
		case 28:
			md = EVP_sha224();
			break;
		case 32:
			md = EVP_sha256();
			break;
		case 48:
			md = EVP_sha384();
			break;
		case 64:
			md = EVP_sha512();
			break;
		default:
			return SA_ERR_SEAL_SIGNATURE;
		}
		return vds_ecdsa_verify(pub, md, v->seal, v->core.signed_len,
					v->seal + v->core.sig_off,
					v->core.sig_len);
	}
	/* Our profile is P-256 only (SPEC §4.1). */
	if (!vds_key_is_p256(pub))
		return SA_ERR_SEAL_SIGNATURE;
	iso_tbs(v->seal, v->seal + v->payload_off, v->payload_len, tbs);
	return vds_ecdsa_verify(pub, EVP_sha256(), tbs, sizeof(tbs),
				v->seal + v->core.sig_off, VDS_ISO_SIG_LEN);
}

void
vds_fingerprint(const struct vds *v, unsigned char out[32])
{
	sha256(v->seal, v->core.signed_len, out);
}

enum vds_format
vds_format(const struct vds *v)
{
	return v->format;
}

unsigned int
vds_version(const struct vds *v)
{
	return v->version;
}

const char *
vds_ca_id(const struct vds *v)
{
	return v->core.ca_id;
}

const char *
vds_cert_id(const struct vds *v)
{
	return v->core.cert_id;
}

int64_t
vds_signing_time(const struct vds *v)
{
	return v->core.signing_time;
}

const unsigned char *
vds_header(const struct vds *v, size_t *len)
{
	*len = v->core.header_len;
	return v->seal;
}

const unsigned char *
vds_signed_bytes(const struct vds *v, size_t *len)
{
	*len = v->core.signed_len;
	return v->seal;
}

const unsigned char *
vds_signature(const struct vds *v, size_t *len)
{
	*len = v->core.sig_len;
	return v->core.sig_len ? v->seal + v->core.sig_off : NULL;
}

const char *
vds_manifest_id(const struct vds *v)
{
	return v->format == VDS_FORMAT_ISO22376 ? v->manifest : NULL;
}

const struct vds_claims *
vds_claims(const struct vds *v)
{
	return v->has_claims ? &v->claims : NULL;
}

const unsigned char *
vds_payload(const struct vds *v, size_t *len)
{
	if (v->format != VDS_FORMAT_ISO22376) {
		*len = 0;
		return NULL;
	}
	*len = v->payload_len;
	return v->seal + v->payload_off;
}

const unsigned char *
vds_aux(const struct vds *v, size_t *len)
{
	*len = v->format == VDS_FORMAT_ISO22376 ? v->aux_len : 0;
	return *len ? v->seal + v->aux_off : NULL;
}

unsigned int
vds_quirks(const struct vds *v)
{
	return v->core.quirks;
}

unsigned int
vds_icao_quirks(const struct vds *v)
{
	return v->format == VDS_FORMAT_ICAO ? v->core.quirks : 0;
}

const char *
vds_quirk_name(unsigned int i)
{
	static const char *const names[VDS_QUIRK_COUNT] = {
	    "zero-ref-length", "length-0x80", "decimal-ref-length",
	    "legacy-version", "fixed-ref-v4"};
	return i < VDS_QUIRK_COUNT ? names[i] : "unknown";
}

int
vds_can_enroll(const struct vds *v, const char **what)
{
	if (v->format == VDS_FORMAT_ICAO) {
		if (what != NULL)
			*what = vds_icao_document_type(v);
		return vds_icao_identity(v->icao);
	}
	if (what != NULL)
		*what = v->manifest;
	return vds_manifest_def_identity(v->mdef) && v->has_claims;
}

static int
vds_json_put(json_t *o, const char *k, json_t *val)
{
	return val == NULL || json_object_set_new(o, k, val) != 0 ? -1 : 0;
}

/* json_bytes adds a byte string as base64 (or hex) to obj. */
static int
json_put_bytes(json_t *o, const char *k, const unsigned char *b, size_t n,
	       int hex)
{
	char *s = hex ? hex_encode(b, n) : b64_encode(b, n);
	int r;

	if (s == NULL)
		return -1;
	r = vds_json_put(o, k, json_string(s));
	free(s);
	return r;
}

/* claims_json puts the seal's claims into o ("claims": null without). */
static int
claims_json(const struct vds *v, json_t *o)
{
	json_t *c;

	if (!v->has_claims)
		return vds_json_put(o, "claims", json_null());
	c = json_object();
	if (c == NULL || vds_json_put(o, "claims", c) != 0)
		return -1;
	struct {
		const char *k, *val;
	} str[] = {
	    {"tid", v->claims.token_id},    {"gn", v->claims.given_name},
	    {"fn", v->claims.family_name},  {"dob", v->claims.birth_date},
	    {"nat", v->claims.nationality}, {"doc", v->claims.document},
	    {"exp", v->claims.expiry},
	};
	for (size_t i = 0; i < ARRAY_LEN(str); i++)
		if (str[i].val[0] != '\0' &&
		    vds_json_put(c, str[i].k, json_string(str[i].val)) != 0)
			return -1;
	if (v->claims.photo != NULL &&
	    json_put_bytes(c, "photo", v->claims.photo, v->claims.photo_len, 0))
		return -1;
	if (v->claims.face != NULL &&
	    json_put_bytes(c, "face", v->claims.face, v->claims.face_len, 0))
		return -1;
	return 0;
}

static int
iso_json(const struct vds *v, json_t *o)
{
	json_t *h = json_object(), *ign = NULL;
	char when[21];

	if (h == NULL || vds_json_put(o, "header", h) != 0)
		return -1;
	iso8601_utc(v->core.signing_time, when);
	if (vds_json_put(h, "layout",
			 json_string(v->bioseal_ids ? "bioseal" : "profile")) ||
	    vds_json_put(h, "caId", json_string(v->core.ca_id)) ||
	    vds_json_put(h, "certId", json_string(v->core.cert_id)) ||
	    vds_json_put(h, "manifestId", json_string(v->manifest)) ||
	    vds_json_put(h, "manifestName",
			 json_string(vds_manifest_def_name(v->mdef))) ||
	    vds_json_put(h, "manifestSource",
			 v->mdef != NULL
			     ? json_string(vds_manifest_def_source(v->mdef))
			     : json_null()) ||
	    vds_json_put(h, "signingTime", json_string(when)) ||
	    vds_json_put(h, "signingTimeUnix",
			 json_integer((json_int_t)v->core.signing_time)) ||
	    vds_json_put(h, "payloadLength",
			 json_integer((json_int_t)v->payload_len)) ||
	    vds_json_put(o, "auxLength", json_integer((json_int_t)v->aux_len)))
		return -1;
	if (v->fields != NULL) {
		json_t *fa = vds_fields_json(v);
		if (fa == NULL || vds_json_put(o, "fields", fa) != 0)
			return -1;
	}
	if (claims_json(v, o) != 0)
		return -1;
	if (!v->has_claims)
		return 0;
	ign = json_array();
	if (ign == NULL || vds_json_put(o, "ignoredKeys", ign) != 0)
		return -1;
	for (size_t i = 0; i < v->nignored; i++)
		if (json_array_append_new(ign, json_string(v->ignored[i])) != 0)
			return -1;
	return 0;
}

json_t *
vds_to_json(const struct vds *v)
{
	json_t *o = json_object();
	unsigned char fp[32];
	int bad;

	if (o == NULL)
		return NULL;
	vds_fingerprint(v, fp);
	bad = vds_json_put(o, "format",
			   json_string(v->format == VDS_FORMAT_ICAO
					   ? "icao-9303-13"
					   : "iso-22376")) ||
	      vds_json_put(o, "version", json_integer(v->version));
	if (!bad) {
		json_t *q = json_array();
		bad = q == NULL || vds_json_put(o, "quirks", q) != 0;
		for (unsigned int i = 0; !bad && i < VDS_QUIRK_COUNT; i++)
			if (v->core.quirks & (1u << i))
				bad =
				    json_array_append_new(
					q, json_string(vds_quirk_name(i))) != 0;
	}
	if (!bad)
		bad = vds_json_put(o, "canEnroll",
				   json_boolean(vds_can_enroll(v, NULL)));
	if (!bad && v->format == VDS_FORMAT_ICAO)
		bad = vds_icao_json(v, o) != SA_OK || claims_json(v, o) != 0;
	else if (!bad)
		bad = iso_json(v, o);
	if (!bad) {
		if (v->core.sig_len > 0)
			bad = json_put_bytes(o, "signature",
					     v->seal + v->core.sig_off,
					     v->core.sig_len, 1);
		else
			bad = vds_json_put(o, "signature", json_null());
	}
	bad = bad ||
	      vds_json_put(o, "signedLength",
			   json_integer((json_int_t)v->core.signed_len)) ||
	      json_put_bytes(o, "fingerprint", fp, sizeof(fp), 1);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* iso_pack_claims writes the profile map in a fixed key order. */
static int
iso_pack_claims(msgpack_packer *pk, const struct vds_claims *c)
{
	struct {
		const char *k;
		const char *s;
		const unsigned char *b;
		size_t blen;
	} items[] = {
	    {"tid", c->token_id, NULL, 0},
	    {"gn", c->given_name, NULL, 0},
	    {"fn", c->family_name, NULL, 0},
	    {"dob", c->birth_date, NULL, 0},
	    {"nat", c->nationality, NULL, 0},
	    {"doc", c->document, NULL, 0},
	    {"exp", c->expiry, NULL, 0},
	    {"photo", NULL, c->photo, c->photo_len},
	    {"face", NULL, c->face, c->face_len},
	};
	size_t count = 0;

	for (size_t i = 0; i < ARRAY_LEN(items); i++)
		if (items[i].s ? items[i].s[0] != '\0' : items[i].b != NULL)
			count++;
	if (msgpack_pack_map(pk, count) != 0)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(items); i++) {
		size_t kl = strlen(items[i].k);
		if (items[i].s ? items[i].s[0] == '\0' : items[i].b == NULL)
			continue;
		if (msgpack_pack_str(pk, kl) ||
		    msgpack_pack_str_body(pk, items[i].k, kl))
			return -1;
		if (items[i].s != NULL) {
			size_t sl = strlen(items[i].s);
			if (msgpack_pack_str(pk, sl) ||
			    msgpack_pack_str_body(pk, items[i].s, sl))
				return -1;
		} else if (msgpack_pack_bin(pk, items[i].blen) ||
			   msgpack_pack_bin_body(pk, items[i].b,
						 items[i].blen)) {
			return -1;
		}
	}
	return 0;
}

/* iso_claims_ok applies the decoder's checks to claims about to be
 * encoded. */
static int
iso_claims_ok(const struct vds_claims *c)
{
	struct {
		enum claim_kind kind;
		const char *s;
		size_t cap;
		int required;
	} str[] = {
	    {CK_TID, c->token_id, sizeof(c->token_id), 1},
	    {CK_NAME, c->given_name, sizeof(c->given_name), 1},
	    {CK_NAME, c->family_name, sizeof(c->family_name), 1},
	    {CK_DATE, c->birth_date, sizeof(c->birth_date), 1},
	    {CK_NAT, c->nationality, sizeof(c->nationality), 0},
	    {CK_DOC, c->document, sizeof(c->document), 0},
	    {CK_DATE, c->expiry, sizeof(c->expiry), 0},
	};
	for (size_t i = 0; i < ARRAY_LEN(str); i++) {
		size_t n = strnlen(str[i].s, str[i].cap);
		if (n == str[i].cap)
			return 0;
		if (n == 0 && !str[i].required)
			continue;
		if (!claim_value_ok(str[i].kind, str[i].s, n))
			return 0;
	}
	if (c->photo != NULL && !claim_value_ok(CK_BIN, "", c->photo_len))
		return 0;
	if (c->face != NULL && !claim_value_ok(CK_BIN, "", c->face_len))
		return 0;
	return 1;
}

enum sa_err
vds_sign_p256(EVP_PKEY *key, const EVP_MD *md, const unsigned char *msg,
	      size_t msglen, unsigned char rs[VDS_ISO_SIG_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char der[80];
	const unsigned char *p = der;
	size_t derlen = sizeof(der);
	ECDSA_SIG *sig = NULL;
	enum sa_err rc = SA_ERR_INTERNAL;

	if (ctx == NULL)
		return SA_ERR_NOMEM;
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, der, &derlen, msg, msglen) != 1)
		goto out;
	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (sig == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32)
		goto out;
	rc = SA_OK;
out:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * iso_write lays out and signs an ISO 22376 seal: the identifier text ids
 * (8 characters, padded with the C40 value 0, or 9), the manifest, the
 * signing time and the packed payload.
 */
static enum sa_err
iso_write(const char *ids, const unsigned char man[3], uint32_t signing_time,
	  const msgpack_sbuffer *sb, EVP_PKEY *signer, unsigned char **out,
	  size_t *outlen)
{
	unsigned char *seal = NULL;
	unsigned char tbs[VDS_ISO_HEADER_LEN + 32];
	size_t c40len = 0, total;
	enum sa_err rc = SA_ERR_VALIDATION;

	if (!vds_key_is_p256(signer) || sb->size > 0xffff ||
	    sb->size > VDS_MAX_BYTES - VDS_ISO_HEADER_LEN - VDS_ISO_SIG_LEN)
		return rc;
	total = VDS_ISO_HEADER_LEN + sb->size + VDS_ISO_SIG_LEN;
	seal = malloc(total);
	if (seal == NULL)
		return SA_ERR_NOMEM;
	seal[0] = ISO_MAGIC;
	seal[1] = ISO_VERSION;
	/* 8 characters: two full triples and (last char, pad 0); 9: three
	 * full triples. Either way 6 bytes. */
	if (c40_encode(ids, strlen(ids), seal + 2, 6, &c40len) != SA_OK ||
	    c40len != 6) {
		rc = SA_ERR_INTERNAL;
		goto out;
	}
	memcpy(seal + 8, man, 3);
	seal[11] = (unsigned char)(signing_time >> 24);
	seal[12] = (unsigned char)(signing_time >> 16);
	seal[13] = (unsigned char)(signing_time >> 8);
	seal[14] = (unsigned char)signing_time;
	seal[15] = (unsigned char)(sb->size >> 8);
	seal[16] = (unsigned char)sb->size;
	memcpy(seal + VDS_ISO_HEADER_LEN, sb->data, sb->size);
	iso_tbs(seal, seal + VDS_ISO_HEADER_LEN, sb->size, tbs);
	rc = vds_sign_p256(signer, EVP_sha256(), tbs, sizeof(tbs),
			   seal + VDS_ISO_HEADER_LEN + sb->size);
	if (rc != SA_OK)
		goto out;
	*out = seal;
	*outlen = total;
	seal = NULL;
out:
	free(seal);
	return rc;
}

/*
 * iso_finish ends both encoders: unless rc (the packing's result) is
 * already a failure, it checks the CA id (4 characters) and the cert id
 * (cert_len characters, all of [0-9A-Z]) and the manifest id (6 hex
 * digits), then lays out and signs the seal over the payload sb. The
 * payload holds personal data: it is wiped and freed whatever happens.
 */
static enum sa_err
iso_finish(enum sa_err rc, const char *ca_id, const char *cert_id,
	   size_t cert_len, const char *manifest_hex, uint32_t signing_time,
	   msgpack_sbuffer *sb, EVP_PKEY *signer, unsigned char **out,
	   size_t *outlen)
{
	unsigned char *man = NULL;
	char ids[10];
	size_t manlen = 0;

	if (rc != SA_OK)
		goto out;
	rc = SA_ERR_VALIDATION;
	if (ca_id == NULL || cert_id == NULL || manifest_hex == NULL ||
	    strlen(ca_id) != 4 || strlen(cert_id) != cert_len ||
	    !id_ok(ca_id, 4) || !id_ok(cert_id, cert_len) ||
	    strlen(manifest_hex) != 6 ||
	    hex_decode(manifest_hex, 6, 6, &man, &manlen) != SA_OK)
		goto out;
	snprintf(ids, sizeof(ids), "%s%s", ca_id, cert_id);
	rc = iso_write(ids, man, signing_time, sb, signer, out, outlen);
out:
	free(man);
	if (sb->data != NULL)
		OPENSSL_cleanse(sb->data, sb->size);
	msgpack_sbuffer_destroy(sb);
	return rc;
}

enum sa_err
vds_encode_iso(const char *ca_id, const char *cert_id, const char *manifest_hex,
	       uint32_t signing_time, const struct vds_claims *claims,
	       EVP_PKEY *signer, unsigned char **out, size_t *outlen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	enum sa_err rc = SA_ERR_VALIDATION;

	msgpack_sbuffer_init(&sb);
	if (claims != NULL && iso_claims_ok(claims)) {
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		rc = iso_pack_claims(&pk, claims) != 0 ? SA_ERR_NOMEM : SA_OK;
	}
	return iso_finish(rc, ca_id, cert_id, 4, manifest_hex, signing_time,
			  &sb, signer, out, outlen);
}

enum sa_err
vds_encode_bioseal(const char *ca_id, const char *cert_id,
		   const char *manifest_hex, uint32_t signing_time,
		   const struct vds_claims *claims, EVP_PKEY *signer,
		   unsigned char **out, size_t *outlen)
{
	const struct vds_manifest_def *m =
	    manifest_hex != NULL ? vds_manifest_find(manifest_hex) : NULL;
	msgpack_sbuffer sb;
	struct vds_claims c;
	enum sa_err rc = SA_ERR_VALIDATION;

	msgpack_sbuffer_init(&sb);
	/* Like the decoder: the token id is derived, never carried. */
	if (ca_id == NULL || claims == NULL || !vds_manifest_def_identity(m) ||
	    vds_manifest_def_map(m) || claims->token_id[0] != '\0' ||
	    claims->document[0] == '\0' ||
	    strnlen(claims->document, sizeof(c.token_id)) >
		sizeof(c.token_id) - 6)
		goto out;
	/* iso_claims_ok wants a token id: check the one the decoder will
	 * derive. */
	c = *claims;
	snprintf(c.token_id, sizeof(c.token_id), "%.4s-%.59s", ca_id,
		 claims->document);
	rc = iso_claims_ok(&c) ? vds_manifest_pack(m, claims, &sb)
			       : SA_ERR_VALIDATION;
	OPENSSL_cleanse(&c, sizeof(c));
out:
	return iso_finish(rc, ca_id, cert_id, 5, manifest_hex, signing_time,
			  &sb, signer, out, outlen);
}
