/*
 * vds_int.h - what vds.c (the format dispatch and the ISO 22376 part) and
 * vds_icao.c (the ICAO Doc 9303 part) share; private to src/seal. Other
 * modules use the accessors of vds.h. vds.c calls down into the ICAO part
 * (parse, json, free, identity); the ICAO part reads struct vds and calls
 * nothing in vds.c. Both report what they read through the reader of
 * vds_trace.c.
 */
#ifndef SEALAUTH_VDS_INT_H
#define SEALAUTH_VDS_INT_H

#include <msgpack.h>

#include "seal/vds.h"

#define ISO_MAX_IGNORED 16  /* ignored key names kept for display */
#define ISO_IGNORED_NAME 32 /* ... each cut to this many bytes */

/* What both formats find in a seal's header and signature. */
struct vds_core {
	size_t header_len;
	size_t signed_len;
	size_t sig_off; /* offset of r || s; 0 when unsigned */
	size_t sig_len;
	int64_t signing_time;
	unsigned int quirks; /* VDS_QUIRK_* */
	char ca_id[VDS_ID_MAX + 1];
	char cert_id[VDS_ID_MAX + 1];
};

struct vds_icao;
struct vds_manifest_def;

/* One value of a manifest-driven (sequence) payload, as read. */
#define VDS_MAX_FIELDS 64
struct vds_field {
	char name[33];
	const char *type;     /* "str", "date", "uint", "image", ... (static) */
	const char *claim;    /* the profile claim it maps to, or NULL */
	char *text;	      /* owned: the value of a text or number type */
	unsigned char *bytes; /* owned: opaque bytes (image, template, ...) */
	size_t len;
	int ext_type; /* the MessagePack ext type, or -1 */
};

/* A decoded seal of either format. */
struct vds {
	enum vds_format format;
	unsigned int version;
	unsigned char *seal; /* owned copy of the seal bytes */
	size_t len;
	struct vds_core core;

	/* ISO only. */
	char manifest[7];
	size_t payload_off, payload_len;
	size_t aux_off, aux_len;
	int has_claims;
	struct vds_claims claims;
	unsigned char *photo, *face; /* owned; claims points here */
	size_t nignored;
	char ignored[ISO_MAX_IGNORED][ISO_IGNORED_NAME + 1];
	int bioseal_ids; /* the 9-character CA id + cert id of BioSeal */
	const struct vds_manifest_def *mdef; /* NULL: unknown manifest */
	struct vds_field *fields;	     /* sequence payloads */
	size_t nfields;

	/* ICAO only. */
	struct vds_icao *icao;
};

/*
 * A parser's view of the seal bytes: the reason buffer for a refusal and
 * the optional trace that --explain prints (vds_trace.c). vds_rd_note
 * records one field as read (value printf-style, cut to fit); vds_rd_fail
 * writes the reason, records the failing offset, and returns
 * SA_ERR_SEAL_DECODE.
 */
struct vds_rd {
	const unsigned char *b;
	size_t n;
	char *why;
	size_t whylen;
	struct vds_trace *tr;
};
void vds_rd_note(struct vds_rd *rd, size_t off, size_t len, const char *field,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
enum sa_err vds_rd_fail(struct vds_rd *rd, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* vds_key_is_p256 tells whether an EC key is on prime256v1. */
int vds_key_is_p256(EVP_PKEY *k);
/* vds_sign_p256 signs msg with the P-256 key and the digest md and writes
 * the raw r || s (2 x 32 bytes) of the signature. */
enum sa_err vds_sign_p256(EVP_PKEY *key, const EVP_MD *md,
			  const unsigned char *msg, size_t msglen,
			  unsigned char rs[VDS_ISO_SIG_LEN]);

/* vds_icao_parse parses an ICAO seal whose bytes (rd->b) stay alive and
 * unchanged as long as *out; fills core and a new *out. */
enum sa_err vds_icao_parse(struct vds_rd *rd, struct vds_core *core,
			   struct vds_icao **out);
void vds_icao_free(struct vds_icao *ic);
/* The values of a two-line MRZ, '<' fillers trimmed; a date that names
 * no day is empty. */
struct vds_mrz {
	char code[3], state[4], number[16], nationality[4], sex[2];
	char surname[48], given[48]; /* given: '<' between names is a space */
	char birth[11], expiry[11];  /* YYYY-MM-DD */
};
/* vds_icao_mrz reads the first MRZ feature of an ICAO seal into m; 0 when
 * the seal has none that reads as an MRZ. */
int vds_icao_mrz(const struct vds *v, struct vds_mrz *m);
/* vds_icao_json adds the ICAO header and features to obj. */
enum sa_err vds_icao_json(const struct vds *v, json_t *obj);
/* vds_icao_identity tells whether the document type is an identity
 * document (its catalogue row says so); 0 for unknown types. */
int vds_icao_identity(const struct vds_icao *ic);

/*
 * The manifest table and the sequence payload (vds_manifest.c).
 * vds_manifest_find returns the row of a manifest id ("0B0001"), or NULL.
 * vds_manifest_read reads v's payload as a sequence of MessagePack values
 * through m (NULL: positionally) into v->fields; every value is walked
 * by vds_mp_check first. vds_fields_free wipes and frees them;
 * vds_fields_json describes them (NULL on no memory).
 */
const struct vds_manifest_def *vds_manifest_find(const char *id);
const char *vds_manifest_def_name(const struct vds_manifest_def *m);
/* vds_manifest_def_source names who defined m ("sealauth-local", an
 * issuer); NULL for an unknown manifest. */
const char *vds_manifest_def_source(const struct vds_manifest_def *m);
int vds_manifest_def_identity(const struct vds_manifest_def *m);
int vds_manifest_def_map(const struct vds_manifest_def *m);
enum sa_err vds_manifest_read(struct vds *v, const struct vds_manifest_def *m,
			      struct vds_rd *rd);
void vds_fields_free(struct vds *v);
/*
 * vds_manifest_pack writes the claims c as the sequence of identity
 * manifest m (our encoder of the BioSeal layout): one value per field in
 * order, up to the first absent claim; a claim given after an absent one
 * is SA_ERR_VALIDATION.
 */
enum sa_err vds_manifest_pack(const struct vds_manifest_def *m,
			      const struct vds_claims *c, msgpack_sbuffer *sb);
json_t *vds_fields_json(const struct vds *v);
/*
 * vds_mp_check walks one MessagePack object at *pos without trusting any
 * count or length: every length must fit in what is left and every
 * container count must be coverable by the remaining bytes (each element
 * takes at least one), so msgpack-c never sizes an allocation from a
 * hostile count. Returns 0 and advances *pos, or -1.
 */
int vds_mp_check(const unsigned char *p, size_t n, size_t *pos, int depth);

#endif
