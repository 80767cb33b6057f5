/*
 * vds_manifest.c - the manifest table of ISO 22376 seals and the
 * manifest-driven payload: a sequence of MessagePack values (the layout a
 * commercial BioSeal SDK writes) read through the manifest's field names
 * and types. Unknown manifests decode positionally. docs/seals.md lists
 * the table.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <openssl/crypto.h>

#include "core/util.h"
#include "seal/vds_int.h"

#define MP_MAX_DEPTH 8 /* nesting accepted in any value */

/* The types a manifest gives a field. */
enum mf_type {
	MF_STR,	     /* UTF-8 text, no control characters */
	MF_DATE,     /* "YYYY-MM-DD", or the number YYYYMMDD */
	MF_UINT,     /* unsigned integer */
	MF_IMAGE,    /* opaque bytes (bin or ext): a photo */
	MF_TEMPLATE, /* opaque bytes (bin or ext): a biometric template */
};
static const char *const mf_type_names[] = {
    [MF_STR] = "str",
    [MF_DATE] = "date",
    [MF_UINT] = "uint",
    [MF_IMAGE] = "image",
    [MF_TEMPLATE] = "biometric-template",
};

struct mf_field {
	const char *name;
	enum mf_type type;
	const char *claim; /* the profile claim it maps to, or NULL */
};

struct vds_manifest_def {
	const char *id; /* 6 upper-case hex digits */
	const char *name;
	const char *source; /* who defined it: "sealauth-local", an issuer */
	int identity;	    /* its claims may enroll */
	int map; /* the payload is one map (our profile), not a sequence */
	const struct mf_field *fields;
	size_t nfields;
};

#define FIELDS(a) a, ARRAY_LEN(a)
static const struct mf_field bioseal_identity[] = {
    {"documentNumber", MF_STR, "doc"}, {"familyName", MF_STR, "fn"},
    {"givenNames", MF_STR, "gn"},      {"birthDate", MF_DATE, "dob"},
    {"nationality", MF_STR, "nat"},    {"expiryDate", MF_DATE, "exp"},
    {"photo", MF_IMAGE, "photo"},      {"faceTemplate", MF_TEMPLATE, "face"},
};
static const struct mf_field bioseal_ticket[] = {
    {"ticketNumber", MF_STR, NULL}, {"holderName", MF_STR, NULL},
    {"validFrom", MF_DATE, NULL},   {"validTo", MF_DATE, NULL},
    {"zones", MF_UINT, NULL},
};
/* Amounts are whole minor units (cents): a uint, never a fraction. */
static const struct mf_field bioseal_tax_stamp[] = {
    {"stampNumber", MF_STR, NULL}, {"productCode", MF_STR, NULL},
    {"taxAmount", MF_UINT, NULL},  {"currency", MF_STR, NULL},
    {"issueDate", MF_DATE, NULL},  {"taxPayer", MF_STR, NULL},
};
static const struct mf_field bioseal_vehicle_vignette[] = {
    {"vignetteNumber", MF_STR, NULL},	   {"plate", MF_STR, NULL},
    {"registrationCountry", MF_STR, NULL}, {"vehicleClass", MF_STR, NULL},
    {"validFrom", MF_DATE, NULL},	   {"validTo", MF_DATE, NULL},
};
static const struct mf_field bioseal_health[] = {
    {"certificateNumber", MF_STR, NULL}, {"holderName", MF_STR, NULL},
    {"birthDate", MF_DATE, NULL},	 {"kind", MF_STR, NULL},
    {"issuedOn", MF_DATE, NULL},	 {"validTo", MF_DATE, NULL},
};
static const struct mf_field bioseal_prescription[] = {
    {"prescriptionNumber", MF_STR, NULL}, {"patientName", MF_STR, NULL},
    {"birthDate", MF_DATE, NULL},	  {"product", MF_STR, NULL},
    {"quantity", MF_UINT, NULL},	  {"issuedOn", MF_DATE, NULL},
    {"prescriber", MF_STR, NULL},
};

/*
 * The manifests we read. Every row here is sealauth's own: 0A0001 is our
 * profile, and the 0B rows are local stand-ins in the BioSeal layout,
 * invented for our demo issuer and tests, not manifests any issuer
 * publishes. 0B0010 to 0B0014 stand in for the documents that the ICAO
 * and BSI catalogues give no type code (ticket, tax stamp, vehicle
 * vignette, health, prescription): they are read with typed fields and
 * can never enroll. A deployment adds the rows of the manifests its issuers
 * publish, with the issuer as source (docs/seals.md, "Adding an issuer's
 * manifest"); docs/seals.md prints the same rows and a test keeps them
 * equal.
 */
static const struct vds_manifest_def manifests[] = {
    {"0A0001", "SEALAUTH_PROFILE", "sealauth-profile", 1, 1, NULL, 0},
    {"0B0001", "LOCAL_BIOSEAL_IDENTITY", "sealauth-local", 1, 0,
     FIELDS(bioseal_identity)},
    {"0B0010", "LOCAL_BIOSEAL_TICKET", "sealauth-local", 0, 0,
     FIELDS(bioseal_ticket)},
    {"0B0011", "LOCAL_BIOSEAL_TAX_STAMP", "sealauth-local", 0, 0,
     FIELDS(bioseal_tax_stamp)},
    {"0B0012", "LOCAL_BIOSEAL_VEHICLE_VIGNETTE", "sealauth-local", 0, 0,
     FIELDS(bioseal_vehicle_vignette)},
    {"0B0013", "LOCAL_BIOSEAL_HEALTH", "sealauth-local", 0, 0,
     FIELDS(bioseal_health)},
    {"0B0014", "LOCAL_BIOSEAL_PRESCRIPTION", "sealauth-local", 0, 0,
     FIELDS(bioseal_prescription)},
};

const struct vds_manifest_def *
vds_manifest_find(const char *id)
{
	for (size_t i = 0; i < ARRAY_LEN(manifests); i++)
		if (strcmp(manifests[i].id, id) == 0)
			return &manifests[i];
	return NULL;
}

const char *
vds_manifest_def_name(const struct vds_manifest_def *m)
{
	return m ? m->name : "UNKNOWN";
}

const char *
vds_manifest_def_source(const struct vds_manifest_def *m)
{
	return m ? m->source : NULL;
}

int
vds_manifest_def_identity(const struct vds_manifest_def *m)
{
	return m != NULL && m->identity;
}

int
vds_manifest_def_map(const struct vds_manifest_def *m)
{
	return m != NULL && m->map;
}

const char *
vds_manifest_row(size_t i, const char **id, const char **source, int *identity,
		 int *map, size_t *nfields)
{
	if (i >= ARRAY_LEN(manifests))
		return NULL;
	*id = manifests[i].id;
	*source = manifests[i].source;
	*identity = manifests[i].identity;
	*map = manifests[i].map;
	*nfields = manifests[i].nfields;
	return manifests[i].name;
}

const char *
vds_manifest_field_row(size_t i, size_t j, const char **type,
		       const char **claim)
{
	if (i >= ARRAY_LEN(manifests) || j >= manifests[i].nfields)
		return NULL;
	*type = mf_type_names[manifests[i].fields[j].type];
	*claim = manifests[i].fields[j].claim;
	return manifests[i].fields[j].name;
}

/*
 * claim_value returns the text (or, for photo and face, the bytes) of the
 * claim key in c; NULL when it is absent.
 */
static const void *
claim_value(const struct vds_claims *c, const char *key, size_t *len)
{
	static const struct {
		const char *key;
		size_t off;
	} text[] = {
	    {"doc", offsetof(struct vds_claims, document)},
	    {"fn", offsetof(struct vds_claims, family_name)},
	    {"gn", offsetof(struct vds_claims, given_name)},
	    {"dob", offsetof(struct vds_claims, birth_date)},
	    {"nat", offsetof(struct vds_claims, nationality)},
	    {"exp", offsetof(struct vds_claims, expiry)},
	};

	*len = 0;
	if (key == NULL)
		return NULL;
	if (strcmp(key, "photo") == 0 || strcmp(key, "face") == 0) {
		int photo = key[0] == 'p';

		*len = photo ? c->photo_len : c->face_len;
		return photo ? c->photo : c->face;
	}
	for (size_t i = 0; i < ARRAY_LEN(text); i++)
		if (strcmp(text[i].key, key) == 0) {
			const char *s = (const char *)c + text[i].off;

			*len = strlen(s);
			return *len > 0 ? s : NULL;
		}
	return NULL;
}

enum sa_err
vds_manifest_pack(const struct vds_manifest_def *m, const struct vds_claims *c,
		  msgpack_sbuffer *sb)
{
	msgpack_packer pk;
	size_t n = 0, len;

	if (m == NULL || m->map || c == NULL)
		return SA_ERR_VALIDATION;
	/* A sequence has no gaps: it ends before the first absent value,
	 * and nothing may be given after it. */
	while (n < m->nfields && claim_value(c, m->fields[n].claim, &len))
		n++;
	for (size_t i = n; i < m->nfields; i++)
		if (claim_value(c, m->fields[i].claim, &len) != NULL)
			return SA_ERR_VALIDATION;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	for (size_t i = 0; i < n; i++) {
		const void *val = claim_value(c, m->fields[i].claim, &len);
		int bad;

		if (m->fields[i].type == MF_IMAGE ||
		    m->fields[i].type == MF_TEMPLATE)
			bad = msgpack_pack_bin(&pk, len) ||
			      msgpack_pack_bin_body(&pk, val, len);
		else
			bad = msgpack_pack_str(&pk, len) ||
			      msgpack_pack_str_body(&pk, val, len);
		if (bad)
			return SA_ERR_NOMEM;
	}
	return SA_OK;
}

int
vds_mp_check(const unsigned char *p, size_t n, size_t *pos, int depth)
{
	size_t i = *pos, len = 0, count = 0, lenbytes = 0;
	unsigned int b;

	if (depth > MP_MAX_DEPTH || i >= n)
		return -1;
	b = p[i++];
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
		*pos = i;
		return 0;
	}
	if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90 || b == 0xdc ||
	    b == 0xdd || b == 0xde || b == 0xdf) {
		int map = (b & 0xf0) == 0x80 || b == 0xde || b == 0xdf;
		if (b < 0xa0) {
			count = b & 0x0f;
		} else {
			lenbytes = (b == 0xdc || b == 0xde) ? 2 : 4;
			if (n - i < lenbytes)
				return -1;
			for (size_t k = 0; k < lenbytes; k++)
				count = count << 8 | p[i + k];
			i += lenbytes;
		}
		if (map) {
			if (count > (n - i) / 2)
				return -1;
			count *= 2;
		} else if (count > n - i) {
			return -1;
		}
		for (size_t k = 0; k < count; k++)
			if (vds_mp_check(p, n, &i, depth + 1) != 0)
				return -1;
		*pos = i;
		return 0;
	}
	if ((b & 0xe0) == 0xa0) {
		len = b & 0x1f;
	} else {
		switch (b) {
		case 0xc4:
		case 0xd9:
			lenbytes = 1;
			break;
		case 0xc5:
		case 0xda:
			lenbytes = 2;
			break;
		case 0xc6:
		case 0xdb:
			lenbytes = 4;
			break;
		case 0xc7:
			lenbytes = 1;
			len = 1;
			break; /* + type byte */
		case 0xc8:
			lenbytes = 2;
			len = 1;
			break;
		case 0xc9:
			lenbytes = 4;
			len = 1;
			break;
		case 0xca:
			len = 4;
			break;
		case 0xcb:
			len = 8;
			break;
		case 0xcc:
		case 0xd0:
			len = 1;
			break;
		case 0xcd:
		case 0xd1:
			len = 2;
			break;
		case 0xce:
		case 0xd2:
			len = 4;
			break;
		case 0xcf:
		case 0xd3:
			len = 8;
			break;
		case 0xd4:
			len = 2;
			break;
		case 0xd5:
			len = 3;
			break;
		case 0xd6:
			len = 5;
			break;
		case 0xd7:
			len = 9;
			break;
		case 0xd8:
			len = 17;
			break;
		default:
			return -1; /* 0xc1 is never used */
		}
		if (lenbytes > 0) {
			size_t l = 0;
			if (n - i < lenbytes)
				return -1;
			for (size_t k = 0; k < lenbytes; k++)
				l = l << 8 | p[i + k];
			i += lenbytes;
			if (l > n - i)
				return -1;
			len += l;
		}
	}
	if (len > n - i)
		return -1;
	*pos = i + len;
	return 0;
}

/* date_text writes a date value (str "YYYY-MM-DD" or uint YYYYMMDD) as
 * YYYY-MM-DD; 0 when it is neither or names no day. */
static int
date_text(const msgpack_object *o, char out[16])
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int y, m, d;

	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		uint64_t u = o->via.u64;
		if (u < 10000101 || u > 99991231)
			return 0;
		y = (int)(u / 10000);
		m = (int)(u / 100 % 100);
		d = (int)(u % 100);
	} else if (o->type == MSGPACK_OBJECT_STR && o->via.str.size == 10) {
		const char *s = o->via.str.ptr;
		for (int i = 0; i < 10; i++)
			if (i == 4 || i == 7 ? s[i] != '-'
					     : s[i] < '0' || s[i] > '9')
				return 0;
		y = atoi(s);
		m = (s[5] - '0') * 10 + (s[6] - '0');
		d = (s[8] - '0') * 10 + (s[9] - '0');
	} else {
		return 0;
	}
	if (m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] +
		    (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
		return 0;
	snprintf(out, 16, "%04d-%02d-%02d", y, m, d);
	return 1;
}

/* scalar_text renders a scalar MessagePack value of an unknown manifest
 * as text and names its type; 0 for bytes and containers. */
static int
scalar_text(const msgpack_object *o, char *out, size_t outsz, const char **type)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		*type = "nil";
		snprintf(out, outsz, "null");
		return 1;
	case MSGPACK_OBJECT_BOOLEAN:
		*type = "bool";
		snprintf(out, outsz, "%s", o->via.boolean ? "true" : "false");
		return 1;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*type = "uint";
		snprintf(out, outsz, "%llu", (unsigned long long)o->via.u64);
		return 1;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*type = "int";
		snprintf(out, outsz, "%lld", (long long)o->via.i64);
		return 1;
	default:
		return 0;
	}
}

/* field_text copies a text value into f (bounded by the seal).
 * msgpack-c gives an empty str or bin a NULL pointer: nothing is copied
 * then. */
static enum sa_err
field_text(struct vds_field *f, const char *text, size_t len)
{
	f->text = malloc(len + 1);
	if (f->text == NULL)
		return SA_ERR_NOMEM;
	if (len > 0)
		memcpy(f->text, text, len);
	f->text[len] = '\0';
	return SA_OK;
}

/* field_bytes copies opaque bytes into f, as field_text does text. */
static enum sa_err
field_bytes(struct vds_field *f, const void *bytes, size_t len)
{
	f->bytes = malloc(len ? len : 1);
	if (f->bytes == NULL)
		return SA_ERR_NOMEM;
	if (len > 0)
		memcpy(f->bytes, bytes, len);
	f->len = len;
	return SA_OK;
}

/*
 * read_typed checks value o against the manifest type of field fd and
 * stores it in f. A value of the wrong type is refused, naming the field.
 */
static enum sa_err
read_typed(struct vds_rd *rd, size_t off, const struct mf_field *fd,
	   const msgpack_object *o, struct vds_field *f)
{
	char buf[32];

	f->type = mf_type_names[fd->type];
	f->claim = fd->claim;
	switch (fd->type) {
	case MF_STR:
		if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
		    o->via.str.size > VDS_NAME_MAX ||
		    !utf8_valid(o->via.str.ptr, o->via.str.size,
				UTF8_NO_C0 | UTF8_NO_C1))
			break;
		return field_text(f, o->via.str.ptr, o->via.str.size);
	case MF_DATE:
		if (!date_text(o, buf))
			break;
		return field_text(f, buf, strlen(buf));
	case MF_UINT:
		if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			break;
		snprintf(buf, sizeof(buf), "%llu",
			 (unsigned long long)o->via.u64);
		return field_text(f, buf, strlen(buf));
	case MF_IMAGE:
	case MF_TEMPLATE:
		/* Opaque: kept as bytes with their type, never parsed. */
		if (o->type == MSGPACK_OBJECT_BIN && o->via.bin.size > 0)
			return field_bytes(f, o->via.bin.ptr, o->via.bin.size);
		if (o->type == MSGPACK_OBJECT_EXT && o->via.ext.size > 0) {
			f->ext_type = o->via.ext.type;
			return field_bytes(f, o->via.ext.ptr, o->via.ext.size);
		}
		break;
	}
	return vds_rd_fail(rd, off, "payload: field %s is not a valid %s",
			   fd->name, mf_type_names[fd->type]);
}

/*
 * read_positional stores a value of an unknown manifest (or past the
 * manifest's fields) as "fieldN": scalars as text, strings as text when
 * they are clean UTF-8, bytes and ext values as bytes, containers as
 * their MessagePack bytes.
 */
static enum sa_err
read_positional(size_t i, const msgpack_object *o, const unsigned char *raw,
		size_t rawlen, struct vds_field *f)
{
	char buf[32];
	const char *type = NULL;

	snprintf(f->name, sizeof(f->name), "field%zu", i);
	if (scalar_text(o, buf, sizeof(buf), &type)) {
		f->type = type;
		return field_text(f, buf, strlen(buf));
	}
	if (o->type == MSGPACK_OBJECT_STR &&
	    utf8_valid(o->via.str.ptr, o->via.str.size, UTF8_NO_C0)) {
		f->type = "str";
		return field_text(f, o->via.str.ptr, o->via.str.size);
	}
	if (o->type == MSGPACK_OBJECT_BIN) {
		f->type = "bin";
		return field_bytes(f, o->via.bin.ptr, o->via.bin.size);
	}
	if (o->type == MSGPACK_OBJECT_EXT) {
		f->type = "ext";
		f->ext_type = o->via.ext.type;
		return field_bytes(f, o->via.ext.ptr, o->via.ext.size);
	}
	f->type = "msgpack";
	return field_bytes(f, raw, rawlen);
}

enum sa_err
vds_manifest_read(struct vds *v, const struct vds_manifest_def *m,
		  struct vds_rd *rd)
{
	const unsigned char *p = v->seal + v->payload_off;
	size_t n = v->payload_len, pos = 0, count = 0;
	msgpack_unpacked up;
	enum sa_err rc = SA_ERR_SEAL_DECODE;

	/* First the bounded walk: how many values, each within the bytes. */
	while (pos < n) {
		if (vds_mp_check(p, n, &pos, 0) != 0)
			return vds_rd_fail(rd, v->payload_off + pos,
					   "payload: value %zu is not valid "
					   "MessagePack",
					   count);
		if (++count > VDS_MAX_FIELDS)
			return vds_rd_fail(rd, v->payload_off + pos,
					   "payload: more than %d values",
					   VDS_MAX_FIELDS);
	}
	if (count == 0)
		return vds_rd_fail(rd, v->payload_off, "payload: empty");
	v->fields = calloc(count, sizeof(*v->fields));
	if (v->fields == NULL)
		return SA_ERR_NOMEM;
	msgpack_unpacked_init(&up);
	pos = 0;
	for (size_t i = 0; i < count; i++) {
		size_t start = pos, off = pos;
		struct vds_field *f = &v->fields[i];

		if (msgpack_unpack_next(&up, (const char *)p, n, &off) !=
		    MSGPACK_UNPACK_SUCCESS) {
			rc =
			    vds_rd_fail(rd, v->payload_off + start,
					"payload: value %zu does not parse", i);
			goto out;
		}
		pos = off;
		f->ext_type = -1;
		v->nfields = i + 1;
		if (m != NULL && i < m->nfields) {
			snprintf(f->name, sizeof(f->name), "%s",
				 m->fields[i].name);
			rc = read_typed(rd, v->payload_off + start,
					&m->fields[i], &up.data, f);
		} else {
			rc = read_positional(i, &up.data, p + start,
					     pos - start, f);
		}
		if (rc != SA_OK)
			goto out;
		vds_rd_note(rd, v->payload_off + start, pos - start, f->name,
			    "%s", f->type);
	}
	rc = SA_OK;
out:
	msgpack_unpacked_destroy(&up);
	return rc;
}

void
vds_fields_free(struct vds *v)
{
	for (size_t i = 0; i < v->nfields; i++) {
		struct vds_field *f = &v->fields[i];
		/* Personal data: wiped before it is freed. */
		if (f->text != NULL)
			OPENSSL_cleanse(f->text, strlen(f->text));
		if (f->bytes != NULL)
			OPENSSL_cleanse(f->bytes, f->len);
		free(f->text);
		free(f->bytes);
	}
	free(v->fields);
	v->fields = NULL;
	v->nfields = 0;
}

json_t *
vds_fields_json(const struct vds *v)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < v->nfields; i++) {
		const struct vds_field *f = &v->fields[i];
		json_t *o =
		    json_pack("{s:s, s:s}", "name", f->name, "type", f->type);
		char *b64 = NULL;
		int bad = o == NULL || json_array_append_new(a, o) != 0;

		if (!bad && f->claim != NULL)
			bad = json_object_set_new(o, "claim",
						  json_string(f->claim)) != 0;
		if (!bad && f->text != NULL)
			bad = json_object_set_new(o, "value",
						  json_string(f->text)) != 0;
		if (!bad && f->bytes != NULL) {
			b64 = b64_encode(f->bytes, f->len);
			bad =
			    b64 == NULL ||
			    json_object_set_new(
				o, "bytes", json_integer((json_int_t)f->len)) ||
			    json_object_set_new(o, "base64",
						json_string(b64)) != 0;
			free(b64);
		}
		if (!bad && f->ext_type >= 0)
			bad = json_object_set_new(
				  o, "extType", json_integer(f->ext_type)) != 0;
		if (bad) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
