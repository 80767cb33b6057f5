/*
 * vds.h - Visible Digital Seals: decode, verify, fingerprint, encode.
 *
 * Two formats share one entry point, chosen by the first byte:
 *  - 0xDE: the ISO 22376 seal of our profile (SPEC §4.1), decoded in vds.c;
 *  - 0xDC: ICAO Doc 9303-13 / BSI TR-03137 seals (versions 3 and 4),
 *    decoded in vds_icao.c.
 * A decoded seal is an opaque struct vds; every pointer an accessor returns
 * points into it and lives until vds_free. docs/seals.md describes both
 * layouts and every decision taken on malformed or odd input.
 */
#ifndef SEALAUTH_VDS_H
#define SEALAUTH_VDS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/errors.h"
#include "seal/seal_codec.h"

#define VDS_MAX_BYTES SEAL_MAX_BYTES
#define VDS_ISO_HEADER_LEN 17
#define VDS_ISO_SIG_LEN 64
#define VDS_ID_MAX 48	 /* CA id / signer, cert id / cert reference */
#define VDS_NAME_MAX 128 /* gn, fn: UTF-8 bytes */
#define VDS_DOC_MAX 64	 /* doc */
#define VDS_TID_MAX 64	 /* tid */
#define VDS_WHY_MAX 128	 /* a reason string fits in this many bytes */
#define VDS_PROFILE_MANIFEST "0A0001"
/* Our local identity manifest of the BioSeal layout (docs/seals.md): an id
 * of this deployment's table, not one any issuer publishes. */
#define VDS_BIOSEAL_MANIFEST "0B0001"

enum vds_format {
	VDS_FORMAT_ISO22376 = 1, /* magic 0xDE */
	VDS_FORMAT_ICAO = 2,	 /* magic 0xDC */
};

struct vds;

/*
 * The claims of our profile (manifest 0A0001). Strings are NUL-terminated
 * and empty when absent (only nat, doc and exp may be absent). photo and
 * face point to bytes owned by the struct vds (or, for vds_encode_iso, by
 * the caller) and are NULL when absent.
 */
struct vds_claims {
	char given_name[VDS_NAME_MAX + 1];  /* gn */
	char family_name[VDS_NAME_MAX + 1]; /* fn */
	char birth_date[11];		    /* dob, YYYY-MM-DD */
	char nationality[4];		    /* nat, 3 uppercase letters */
	char document[VDS_DOC_MAX + 1];	    /* doc */
	char token_id[VDS_TID_MAX + 1];	    /* tid, printable ASCII */
	char expiry[11];		    /* exp, YYYY-MM-DD */
	const unsigned char *photo;	    /* photo, WEBP bytes */
	size_t photo_len;
	const unsigned char *face; /* face, template bytes */
	size_t face_len;
};

/*
 * vds_decode parses n bytes of seal (not its text form: see seal_codec.h)
 * and sets *out to a new struct vds that the caller frees with vds_free.
 * It checks structure only, never the signature. Seals over VDS_MAX_BYTES,
 * unknown magic or version, lengths that run past the end, bad C40 or
 * dates, and (ISO) a payload that is not a valid profile map give
 * SA_ERR_SEAL_DECODE (SA_ERR_BODY_TOO_LARGE for the size) and, when why is
 * not NULL, a NUL-terminated reason in why (whylen bytes, VDS_WHY_MAX
 * suffice) that names the offending field. *out is set only on success;
 * why is written only on failure.
 */
enum sa_err vds_decode(const unsigned char *seal, size_t n, struct vds **out,
		       char *why, size_t whylen);

/*
 * What --explain prints: each field as the parser read it, in seal order,
 * and on failure the offset of the byte that failed. Fields past
 * VDS_TRACE_MAX are dropped (ntotal still counts them).
 */
#define VDS_TRACE_MAX 64
struct vds_trace_field {
	size_t offset, len;
	char name[32];
	char value[96];
};
struct vds_trace {
	size_t n, ntotal;
	struct vds_trace_field f[VDS_TRACE_MAX];
	int failed;
	size_t fail_offset;
};

/* vds_decode_traced is vds_decode that also fills *trace (may be NULL),
 * on success and on failure alike. */
enum sa_err vds_decode_traced(const unsigned char *seal, size_t n,
			      struct vds **out, char *why, size_t whylen,
			      struct vds_trace *trace);

/*
 * Oddities of real issuers that the decoder accepts on purpose
 * (docs/seals.md), as bit flags. Each is named in vds_to_json, counted at
 * enrollment and refused there when SEALAUTH_SEAL_QUIRKS=refuse.
 */
#define VDS_QUIRK_ZERO_REF_LEN 0x01 /* v4 byte, length "00", v3 layout */
#define VDS_QUIRK_LEN_0X80 0x02	    /* a feature length byte 0x80 = 128 */
#define VDS_QUIRK_DECIMAL_LEN 0x04  /* DEZV reference length in decimal */
#define VDS_QUIRK_LEGACY 0x08	    /* ICAO version byte 0x00 or 0x01 */
#define VDS_QUIRK_FIXED_REF_V4 0x10 /* v4 byte over the fixed v3 layout */
#define VDS_QUIRK_COUNT 5
/* vds_quirks returns the quirk bits of either format. */
unsigned int vds_quirks(const struct vds *v);
/* vds_quirk_name names the i-th quirk bit (0 .. VDS_QUIRK_COUNT-1):
 * "zero-ref-length", "length-0x80", ... */
const char *vds_quirk_name(unsigned int i);

/*
 * vds_can_enroll tells whether the seal's document is an identity
 * document whose claims may enroll: our profile and the identity
 * manifests (ISO), the identity document types (ICAO). *what (may be
 * NULL) gets the document type or manifest name for a refusal.
 */
int vds_can_enroll(const struct vds *v, const char **what);

/* vds_free releases a decoded seal (NULL is fine). */
void vds_free(struct vds *v);

/*
 * vds_verify_signature checks the seal's signature with the public key
 * pub (the caller keeps ownership). ISO: ECDSA P-256 with SHA-256 over
 * header(17) || SHA-256(payload). ICAO: ECDSA with the hash chosen by the
 * size of r (28: SHA-224, 32: SHA-256, 48: SHA-384, 64: SHA-512) over
 * header || message zone, on whatever curve pub has (its order must be as
 * long as r). SA_OK when valid; SA_ERR_SEAL_SIGNATURE when invalid, when
 * the seal carries no signature, or when the key does not fit.
 */
enum sa_err vds_verify_signature(const struct vds *v, EVP_PKEY *pub);

/* vds_fingerprint writes SHA-256 of the signed bytes (the VRL entry). */
void vds_fingerprint(const struct vds *v, unsigned char out[32]);

/* Accessors valid for both formats. */
enum vds_format vds_format(const struct vds *v);
unsigned int vds_version(const struct vds *v); /* the raw version byte */
/* ISO: the CA id; ICAO: the signer identifier ("UTTS"). */
const char *vds_ca_id(const struct vds *v);
/* ISO: the cert id; ICAO: the certificate reference ("5B"); may be "". */
const char *vds_cert_id(const struct vds *v);
/* ISO: the signing time; ICAO: the signature date at 00:00 UTC. */
int64_t vds_signing_time(const struct vds *v);
/* The header bytes (17 for ISO; 18 to 44+ for ICAO). */
const unsigned char *vds_header(const struct vds *v, size_t *len);
/* The bytes the signature covers (ISO: header || payload; ICAO: header ||
 * message zone; for an unsigned ICAO seal, the whole seal). */
const unsigned char *vds_signed_bytes(const struct vds *v, size_t *len);
/* The raw r || s, or NULL (and *len 0) when the seal has no signature. */
const unsigned char *vds_signature(const struct vds *v, size_t *len);

/* ISO accessors; NULL (or empty) for ICAO seals. */
const char *vds_manifest_id(const struct vds *v); /* "0A0001" */
/* The profile claims when the manifest is 0A0001, else NULL. */
const struct vds_claims *vds_claims(const struct vds *v);
const unsigned char *vds_payload(const struct vds *v, size_t *len);
/* Unsigned aux data after the signature, or NULL and *len 0. */
const unsigned char *vds_aux(const struct vds *v, size_t *len);

/* ICAO accessors; NULL / 0 for ISO seals. */
const char *vds_icao_country(const struct vds *v); /* raw C40: "D  " */
/* The country with C40 padding spaces removed: "UTO", "D". */
const char *vds_icao_country_code(const struct vds *v);
const char *vds_icao_issue_date(const struct vds *v); /* YYYY-MM-DD */
const char *vds_icao_sig_date(const struct vds *v);   /* YYYY-MM-DD */
unsigned int vds_icao_feature_ref(const struct vds *v);
unsigned int vds_icao_type_category(const struct vds *v);
/* The document type name for (featureRef, typeCategory), or "UNKNOWN". */
const char *vds_icao_document_type(const struct vds *v);
size_t vds_icao_feature_count(const struct vds *v);
/* The i-th feature of the message zone, in seal order; SA_ERR_NOT_FOUND
 * past the end. */
enum sa_err vds_icao_feature(const struct vds *v, size_t i, unsigned int *tag,
			     const unsigned char **value, size_t *len);
/* The value of the feature with that tag, or NULL. */
const unsigned char *vds_icao_feature_by_tag(const struct vds *v,
					     unsigned int tag, size_t *len);

/* The ICAO quirks (bits of vds_quirks), kept for existing callers. */
unsigned int vds_icao_quirks(const struct vds *v);

/*
 * vds_icao_cert_matches tells whether the header's signer and certificate
 * reference name cert: a DEZV reference is the upper-case SHA-1 of the
 * certificate DER; any other is subject C || CN as the signer and the
 * serial number in hex (leading zeros ignored) as the reference. 0 for ISO
 * seals.
 */
int vds_icao_cert_matches(const struct vds *v, X509 *cert);

/*
 * vds_feature_text renders the feature with that tag as text in out
 * (outsz bytes) according to the coding known for the document type:
 * "c40", "mrz" (C40 with '<' for space, two lines of equal length),
 * "mrz-mrva" (44 + rest), "mrz-mrvb" (36 + rest), "utf8", or "bytes"
 * (lowercase hex, also for tags of unknown documents). *name and *coding
 * (may be NULL) get static strings ("MRZ", "mrz"; "UNKNOWN" for unknown
 * tags). SA_ERR_NOT_FOUND when the tag is absent, SA_ERR_SEAL_DECODE when
 * the value is not valid in its coding, SA_ERR_INTERNAL when out is small.
 */
enum sa_err vds_feature_text(const struct vds *v, unsigned int tag, char *out,
			     size_t outsz, const char **name,
			     const char **coding);

/*
 * vds_icao_catalogue_row gives row i of the ICAO / BSI document type
 * catalogue (docs/seals.md prints it): the name, the document reference,
 * whether it is an identity document, and where it is defined. NULL past
 * the last row.
 */
const char *vds_icao_catalogue_row(size_t i, unsigned int *ref,
				   unsigned int *cat, int *identity,
				   const char **source);

/*
 * vds_manifest_row gives row i of the ISO 22376 manifest table
 * (docs/seals.md prints it): the name, the manifest id, who defined it
 * ("sealauth-local": ours, not an issuer's), whether its claims may
 * enroll, whether its payload is one map (else a sequence of values) and
 * how many fields it names. NULL past the last row.
 */
const char *vds_manifest_row(size_t i, const char **id, const char **source,
			     int *identity, int *map, size_t *nfields);

/*
 * vds_manifest_field_row gives field j of row i of the manifest table
 * (docs/seals.md prints the field lists): its name, its type ("str",
 * "date", "uint", "image", "biometric-template") and the claim it feeds
 * (NULL for none). NULL past the row's last field or the last row.
 */
const char *vds_manifest_field_row(size_t i, size_t j, const char **type,
				   const char **claim);

/*
 * vds_to_json describes the seal as a new JSON object (caller decrefs):
 * format, version, header fields, claims (ISO) or features (ICAO), the
 * signature in hex, signedLength and the fingerprint. NULL on no memory.
 */
json_t *vds_to_json(const struct vds *v);

/*
 * vds_encode_bioseal builds and signs an ISO 22376 seal in the BioSeal
 * layout: ca_id (4) and cert_id (5) of [0-9A-Z] fill the 9 identifier
 * characters, manifest_hex names an identity manifest of the table, and
 * the payload is its sequence of values, written from claims up to the
 * first absent one (doc, fn, gn and dob required; token_id must be empty:
 * the decoder derives it from the CA id and the document number). Same
 * key and ownership rules as vds_encode_iso.
 */
enum sa_err vds_encode_bioseal(const char *ca_id, const char *cert_id,
			       const char *manifest_hex, uint32_t signing_time,
			       const struct vds_claims *claims,
			       EVP_PKEY *signer, unsigned char **out,
			       size_t *outlen);

/*
 * What vds_encode_icao writes: an ICAO Doc 9303-13 seal with a version-4
 * header naming the issuing country (1 to 3 letters), the signer
 * identifier (4 characters of [0-9A-Z]) and the certificate reference (1
 * to VDS_ID_MAX upper-case hex digits: the signer's serial number), the
 * issue and signature dates (YYYY-MM-DD), the document reference
 * (featureRef, typeCategory), and one feature: the text mrz (C40, '<' as
 * the filler) under tag mrz_tag.
 */
struct vds_icao_spec {
	const char *country, *signer, *cert_ref;
	const char *issue_date, *sig_date;
	unsigned int feature_ref, type_category;
	unsigned int mrz_tag;
	const char *mrz;
};

/*
 * vds_encode_icao builds the seal of spec p and signs header || message
 * zone with the P-256 key signer (ECDSA with SHA-256, r || s in the 0xFF
 * zone). The seal is written to a new buffer (*out, caller frees) of
 * *outlen bytes. SA_ERR_VALIDATION for bad input or another key.
 */
enum sa_err vds_encode_icao(const struct vds_icao_spec *p, EVP_PKEY *signer,
			    unsigned char **out, size_t *outlen);

/*
 * vds_mrz_td2 writes the two lines of an ICAO 9303 TD2 machine readable
 * zone (2 x 36 characters, no line break, then a NUL) for the document
 * code (1 or 2 characters), the issuing state and the claims of c:
 * SURNAME<<GIVEN<NAMES, the document number (at most 9 characters),
 * nationality (may be empty), birth and expiry dates, each with its check
 * digit, the sex unspecified, and the composite check digit. Letters are
 * written in upper case, spaces and hyphens as '<'. SA_ERR_VALIDATION when
 * a value is missing, does not fit or is not of A-Z, 0-9.
 */
#define VDS_MRZ_TD2_LEN 72
enum sa_err vds_mrz_td2(const char *code, const char *state,
			const struct vds_claims *c,
			char out[VDS_MRZ_TD2_LEN + 1]);

/*
 * vds_encode_iso builds and signs an ISO 22376 seal of our profile: ca_id
 * and cert_id are 4 characters of [0-9A-Z], manifest_hex 6 hex digits,
 * claims must pass the checks vds_decode applies (tid, gn, fn, dob
 * required). signer is a P-256 private key (caller keeps it). The seal is
 * written to a new buffer (*out, caller frees) of *outlen bytes.
 * SA_ERR_VALIDATION for bad input (including a seal over VDS_MAX_BYTES),
 * SA_ERR_INTERNAL when signing fails.
 */
enum sa_err vds_encode_iso(const char *ca_id, const char *cert_id,
			   const char *manifest_hex, uint32_t signing_time,
			   const struct vds_claims *claims, EVP_PKEY *signer,
			   unsigned char **out, size_t *outlen);

#endif
