/*
 * vds_icao.c - ICAO Doc 9303-13 / BSI TR-03137 seals (magic 0xDC): the
 * C40 header of versions 1 to 4, the TLV message zone and the 0xFF
 * signature zone, and the catalogue of document types with the names and
 * codings of their features. Reached through vds_decode; docs/seals.md
 * describes the layout and every quirk we accept or refuse.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "seal/c40.h"
#include "seal/vds_int.h"

#define ICAO_MAGIC 0xdc
#define ICAO_V3 0x02	      /* raw version byte of ICAO "version 3" */
#define ICAO_V4 0x03	      /* raw version byte of ICAO "version 4" */
#define ICAO_MAX_FEATURES 255 /* one per tag 0x00..0xFE */

struct icao_feature {
	unsigned int tag;
	const unsigned char *value; /* points into the seal */
	size_t len;
};

/* How a feature's bytes are read (docs/seals.md, "Feature codings"). */
enum icao_coding {
	COD_BYTES, /* lower-case hex; also every tag a type does not name */
	COD_C40,
	COD_MRZ,  /* C40, '<' for space, two lines of equal length */
	COD_MRVA, /* C40 MRZ of a type A visa: 44 + 44 */
	COD_MRVB, /* C40 MRZ of a type B visa: 36 + 36 */
	COD_UTF8,
	COD_UINT, /* big-endian unsigned number, 1 to 4 bytes */
};
static const char *const coding_names[] = {
    [COD_BYTES] = "bytes",   [COD_C40] = "c40",	      [COD_MRZ] = "mrz",
    [COD_MRVA] = "mrz-mrva", [COD_MRVB] = "mrz-mrvb", [COD_UTF8] = "utf8",
    [COD_UINT] = "uint",
};

/* A feature known for a document type. */
struct icao_tag_info {
	unsigned int tag;
	const char *name;
	enum icao_coding coding;
};

/*
 * One row of the catalogue: the document reference (featureRef,
 * typeCategory), the name vdstools and the specifications use, whether it
 * is an identity document (only those may enroll), where it is defined,
 * and its features.
 */
struct icao_doc_type {
	unsigned int feature_ref, type_category;
	const char *name;
	int identity;
	const char *source;
	const struct icao_tag_info *tags;
	size_t ntags;
};

struct vds_icao {
	char country[4];      /* raw C40 text, e.g. "D  " */
	char country_code[4]; /* without padding spaces, e.g. "D" */
	char issue_date[11], sig_date[11];
	unsigned int feature_ref, type_category;
	const struct icao_doc_type *doc; /* NULL when unknown */
	size_t nfeatures;
	struct icao_feature features[ICAO_MAX_FEATURES];
};

#define TAGS(a) a, ARRAY_LEN(a)
static const struct icao_tag_info tags_arrival[] = {{2, "MRZ", COD_MRZ},
						    {3, "AZR", COD_C40}};
static const struct icao_tag_info tags_sticker_id[] = {
    {1, "DOCUMENT_NUMBER", COD_C40},
    {2, "AGS", COD_C40},
    {3, "ADDRESS", COD_C40}};
static const struct icao_tag_info tags_sticker_pp[] = {
    {1, "DOCUMENT_NUMBER", COD_C40},
    {2, "AGS", COD_C40},
    {3, "POSTAL_CODE", COD_C40}};
static const struct icao_tag_info tags_etd[] = {{2, "MRZ", COD_MRZ}};
static const struct icao_tag_info tags_visa[] = {
    {1, "MRZ_MRVA", COD_MRVA},
    {2, "MRZ_MRVB", COD_MRVB},
    {3, "NUMBER_OF_ENTRIES", COD_UINT},
    {4, "DURATION_OF_STAY", COD_BYTES},
    {5, "PASSPORT_NUMBER", COD_C40},
    {6, "VISA_TYPE", COD_BYTES},
    {7, "ADDITIONAL_FEATURES", COD_BYTES}};
static const struct icao_tag_info tags_rp[] = {{2, "MRZ", COD_MRZ},
					       {3, "PASSPORT_NUMBER", COD_C40}};
static const struct icao_tag_info tags_sic[] = {
    {1, "SOCIAL_INSURANCE_NUMBER", COD_C40},
    {2, "SURNAME", COD_UTF8},
    {3, "FIRST_NAME", COD_UTF8},
    {4, "BIRTH_NAME", COD_UTF8}};
static const struct icao_tag_info tags_supp[] = {{4, "MRZ", COD_MRZ},
						 {5, "SHEET_NUMBER", COD_C40}};
static const struct icao_tag_info tags_admin_v8[] = {
    {0, "DOC_PROFILE_NUMBER", COD_BYTES},
    {4, "SURNAME", COD_UTF8},
    {5, "ACADEMIC_DEGREE", COD_UTF8},
    {6, "FIRST_NAME", COD_UTF8},
    {7, "COMMON_FIRST_NAME", COD_UTF8},
    {8, "DATE_OF_BIRTH", COD_UTF8},
    {9, "STREET", COD_UTF8},
    {10, "HOUSE_NUMBER", COD_UTF8},
    {11, "POSTAL_CODE", COD_UTF8},
    {12, "CITY", COD_UTF8},
    {13, "MOVING_DATE", COD_UTF8},
    {14, "HOUSING_STATUS", COD_UINT},
    {15, "DATE_OF_NOTIFICATION", COD_UTF8}};
static const struct icao_tag_info tags_admin_v9[] = {
    {0, "DOC_PROFILE_NUMBER", COD_BYTES},
    {1, "VALID_FROM", COD_UTF8},
    {2, "VALID_TO", COD_UTF8},
    {3, "PROFILE_URI", COD_UTF8},
    {4, "CERTIFICATE_URI", COD_UTF8},
    {5, "STATUS_URI", COD_UTF8},
    {6, "STATUS_LIST_INDEX", COD_BYTES},
    {10, "SURNAME", COD_UTF8}};

/* The catalogue. docs/seals.md prints the same rows; a test keeps them
 * equal (test_catalogue_documented). */
static const struct icao_doc_type doc_types[] = {
    {0x5d, 0x01, "VISA", 1, "ICAO 9303-13, BSI TR-03137 5", TAGS(tags_visa)},
    {0x5e, 0x03, "EMERGENCY_TRAVEL_DOCUMENT", 1, "ICAO 9303-13",
     TAGS(tags_etd)},
    {0x5f, 0x03, "EMERGENCY_TRAVEL_DOCUMENT_BIOMETRIC", 1,
     "ICAO 9303-13 (biometric variant)", TAGS(tags_etd)},
    {0xfd, 0x02, "ARRIVAL_ATTESTATION", 1, "BSI TR-03137 6",
     TAGS(tags_arrival)},
    {0xfb, 0x06, "RESIDENCE_PERMIT", 1, "BSI TR-03137 8", TAGS(tags_rp)},
    {0xfa, 0x06, "SUPPLEMENTARY_SHEET", 0, "BSI TR-03137 8.3", TAGS(tags_supp)},
    {0xfc, 0x04, "SOCIAL_INSURANCE_CARD", 0, "BSI TR-03137 7", TAGS(tags_sic)},
    {0xf9, 0x08, "ADDRESS_STICKER_ID", 0, "BSI TR-03137 9",
     TAGS(tags_sticker_id)},
    {0xf9, 0x0c, "ADDRESS_STICKER_RP", 0, "BSI TR-03137",
     TAGS(tags_sticker_id)},
    {0xf8, 0x0a, "ADDRESS_STICKER_PASSPORT", 0, "BSI TR-03137 10",
     TAGS(tags_sticker_pp)},
    {0x01, 0xc8, "ADMINISTRATIVE_DOCUMENTS_V8", 0, "BSI TR-03171",
     TAGS(tags_admin_v8)},
    {0x01, 0xc9, "ADMINISTRATIVE_DOCUMENTS_V9", 0, "BSI TR-03171",
     TAGS(tags_admin_v9)},
};

static int
is_alnum_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'A' && s[i] <= 'Z')))
			return 0;
	return 1;
}

/*
 * icao_date decodes the 3-byte date: a big-endian number whose decimal
 * digits, left-padded to 8, are MMDDYYYY. It must name a real day of a
 * year from 1900 on. Writes YYYY-MM-DD and the day's unix time.
 */
static int
icao_date(const unsigned char *b, char out[11], int64_t *unix_day)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	uint32_t v = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];
	int m = (int)(v / 1000000), d = (int)(v / 10000 % 100),
	    y = (int)(v % 10000);
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	int64_t yy, era, yoe, doy, doe;
	int mm;

	if (y < 1900 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] + (m == 2 && leap))
		return 0;
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
	/* Days from civil (H. Hinnant's algorithm). */
	yy = m <= 2 ? y - 1 : y;
	era = yy / 400;
	yoe = yy - era * 400;
	mm = m > 2 ? m - 3 : m + 9;
	doy = (153 * mm + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*unix_day = (era * 146097 + doe - 719468) * 86400;
	return 1;
}

/* dates_at tells whether two valid dates start at b[pos]. */
static int
dates_at(const unsigned char *b, size_t n, size_t pos)
{
	char d[11];
	int64_t t;

	return n >= pos + 8 && icao_date(b + pos, d, &t) &&
	       icao_date(b + pos + 3, d, &t);
}

/*
 * fixed_ref reads the fixed 9-character signer (4) + reference (5) of
 * the version-3 layout at b[4..10) into core; 1 on success.
 */
static int
fixed_ref(const unsigned char *b, size_t n, struct vds_core *core)
{
	char txt[16];
	size_t tl;

	if (n < 10 || c40_decode(b + 4, 6, txt, sizeof(txt), &tl) != SA_OK ||
	    tl != 9 || !is_alnum_upper(txt, 9))
		return 0;
	memcpy(core->ca_id, txt, 4);
	core->ca_id[4] = '\0';
	memcpy(core->cert_id, txt + 4, 6);
	return 1;
}

/*
 * v4_ref reads the version-4 signer, reference length and reference at
 * b[4..). On success it fills core and *end (the offset after the
 * reference) and returns SA_OK; otherwise a reason in why and the offset
 * that failed in *bad. *reflen gets the length read (when it was read).
 */
static enum sa_err
v4_ref(const unsigned char *b, size_t n, struct vds_core *core, size_t *end,
       size_t *reflen, size_t *bad, char *why, size_t whylen)
{
	char txt[C40_MAX_CHARS + 1];
	size_t tl, len, bytes, pos = 4;

	*bad = pos;
	if (n < pos + 4 ||
	    c40_decode(b + pos, 4, txt, sizeof(txt), &tl) != SA_OK || tl != 6 ||
	    !is_alnum_upper(txt, 6)) {
		why_set(why, whylen,
			"header: signer and reference length are not 6 C40 "
			"characters");
		return SA_ERR_SEAL_DECODE;
	}
	memcpy(core->ca_id, txt, 4);
	core->ca_id[4] = '\0';
	*bad = pos + 2;
	if (strcmp(core->ca_id, "DEZV") == 0) {
		/* TR-03171 writes the length in decimal. */
		if (!isdigit((unsigned char)txt[4]) ||
		    !isdigit((unsigned char)txt[5])) {
			why_set(why, whylen,
				"header: DEZV reference length \"%c%c\" is "
				"not decimal",
				txt[4], txt[5]);
			return SA_ERR_SEAL_DECODE;
		}
		len = (size_t)(txt[4] - '0') * 10 + (size_t)(txt[5] - '0');
		core->quirks |= VDS_QUIRK_DECIMAL_LEN;
	} else {
		char hex[3] = {txt[4], txt[5], '\0'};
		if (!isxdigit((unsigned char)txt[4]) ||
		    !isxdigit((unsigned char)txt[5])) {
			why_set(why, whylen,
				"header: reference length \"%c%c\" is not hex",
				txt[4], txt[5]);
			return SA_ERR_SEAL_DECODE;
		}
		len = strtoul(hex, NULL, 16);
	}
	*reflen = len;
	pos += 4;
	*bad = pos;
	if (len == 0 || len > VDS_ID_MAX) {
		why_set(why, whylen,
			"header: certificate reference length %zu out of range "
			"(1 to %d)",
			len, VDS_ID_MAX);
		return SA_ERR_SEAL_DECODE;
	}
	bytes = c40_encoded_len(len);
	if (n - pos < bytes ||
	    c40_decode(b + pos, bytes, txt, sizeof(txt), &tl) != SA_OK ||
	    tl != len || !is_alnum_upper(txt, tl)) {
		why_set(why, whylen,
			"header: certificate reference of %zu characters does "
			"not decode",
			len);
		return SA_ERR_SEAL_DECODE;
	}
	memcpy(core->cert_id, txt, tl + 1);
	*end = pos + bytes;
	return SA_OK;
}

/*
 * icao_header parses the header at the start of rd->b into core and ic
 * and sets *hlen to its length. The version byte picks the layout:
 * 0x00-0x02 the fixed 9-character signer + reference, 0x03 the signer +
 * length + reference of version 4, or, for the issuers that write a 0x03
 * over the fixed layout, that layout (flagged) when the version-4 reading
 * does not give a header whose dates are valid.
 */
static enum sa_err
icao_header(struct vds_rd *rd, struct vds_core *core, struct vds_icao *ic,
	    size_t *hlen)
{
	const unsigned char *b = rd->b;
	size_t n = rd->n, pos, tl, reflen = 0, bad = 0, v4end = 0;
	unsigned int ver = b[1];
	char txt[16], v4why[VDS_WHY_MAX] = "";
	int64_t issue_unix;
	enum sa_err v4rc = SA_ERR_SEAL_DECODE;
	struct vds_core v4;
	int fixed = 0;

	vds_rd_note(rd, 0, 1, "magic", "0xDC (ICAO 9303-13 / BSI TR-03137)");
	if (ver > ICAO_V4)
		return vds_rd_fail(rd, 1, "unsupported seal version 0x%02x",
				   ver);
	vds_rd_note(rd, 1, 1, "version", "0x%02x (ICAO version %u%s)", ver,
		    ver + 1, ver < ICAO_V3 ? ", legacy" : "");
	if (ver < ICAO_V3)
		core->quirks |= VDS_QUIRK_LEGACY;
	if (n < 4)
		return vds_rd_fail(rd, 2, "header: truncated in the country");
	/* Three country forms occur: "UTO", "D<<" (C40 spaces) and "D"
	 * (the 0xFE single-character pair). All mean a 1-3 letter code. */
	if (c40_decode(b + 2, 2, txt, sizeof(txt), &tl) != SA_OK || tl == 0 ||
	    txt[0] == ' ')
		return vds_rd_fail(rd, 2, "header: country is not C40 text");
	for (size_t i = 0; i < tl; i++)
		if (!(txt[i] == ' ' || (txt[i] >= 'A' && txt[i] <= 'Z')))
			return vds_rd_fail(rd, 2,
					   "header: country is not letters");
	memcpy(ic->country, txt, tl + 1);
	memcpy(ic->country_code, txt, tl + 1);
	while (tl > 0 && ic->country_code[tl - 1] == ' ')
		ic->country_code[--tl] = '\0';
	vds_rd_note(rd, 2, 2, "country", "\"%s\"", ic->country);

	if (ver == ICAO_V4) {
		memset(&v4, 0, sizeof(v4));
		v4rc = v4_ref(b, n, &v4, &v4end, &reflen, &bad, v4why,
			      sizeof(v4why));
		/* German arrival attestations write 0x03 over the fixed
		 * layout (vdstools reads signers DEME and DES1 so): when the
		 * version-4 reading gives no valid dates and the fixed one
		 * does, the fixed one is meant. DEZV is TR-03171, always
		 * version 4: never reread. */
		fixed = (v4rc != SA_OK || !dates_at(b, n, v4end)) &&
			strcmp(v4.ca_id, "DEZV") != 0 &&
			fixed_ref(b, n, core) && dates_at(b, n, 10);
		if (v4rc == SA_OK && !fixed) {
			memcpy(core->ca_id, v4.ca_id, sizeof(v4.ca_id));
			memcpy(core->cert_id, v4.cert_id, sizeof(v4.cert_id));
			core->quirks |= v4.quirks;
			vds_rd_note(rd, 4, 4, "signer+length",
				    "\"%s\", %zu characters%s", core->ca_id,
				    reflen,
				    v4.quirks & VDS_QUIRK_DECIMAL_LEN
					? " (decimal, TR-03171)"
					: "");
			vds_rd_note(rd, 8, v4end - 8, "certificateReference",
				    "\"%s\"", core->cert_id);
			pos = v4end;
			goto dates;
		}
		if (!fixed) {
			if (v4.ca_id[0] != '\0')
				vds_rd_note(rd, 4, 4, "signer+length", "\"%s\"",
					    v4.ca_id);
			return vds_rd_fail(rd, bad, "%s", v4why);
		}
		core->quirks |= reflen == 0 && bad == 8
				    ? VDS_QUIRK_ZERO_REF_LEN
				    : VDS_QUIRK_FIXED_REF_V4;
	} else if (!fixed_ref(b, n, core)) {
		return vds_rd_fail(rd, 4,
				   n < 10 ? "header: truncated in the signer "
					    "and reference"
					  : "header: signer and reference are "
					    "not 9 C40 characters");
	}
	vds_rd_note(rd, 4, 6, "signer+reference", "\"%s\" + \"%s\"%s",
		    core->ca_id, core->cert_id,
		    ver == ICAO_V4 ? " (fixed layout under version 4)" : "");
	pos = 10;
dates:
	if (n < pos + 8)
		return vds_rd_fail(rd, pos,
				   "header: truncated in the dates or "
				   "document reference");
	if (!icao_date(b + pos, ic->issue_date, &issue_unix))
		return vds_rd_fail(rd, pos, "header: invalid issue date");
	vds_rd_note(rd, pos, 3, "issueDate", "%s", ic->issue_date);
	if (!icao_date(b + pos + 3, ic->sig_date, &core->signing_time))
		return vds_rd_fail(rd, pos + 3,
				   "header: invalid signature date");
	vds_rd_note(rd, pos + 3, 3, "sigDate", "%s", ic->sig_date);
	ic->feature_ref = b[pos + 6];
	ic->type_category = b[pos + 7];
	for (size_t i = 0; i < ARRAY_LEN(doc_types); i++)
		if (doc_types[i].feature_ref == ic->feature_ref &&
		    doc_types[i].type_category == ic->type_category)
			ic->doc = &doc_types[i];
	vds_rd_note(rd, pos + 6, 2, "documentRef", "%02X %02X (%s)",
		    ic->feature_ref, ic->type_category,
		    ic->doc ? ic->doc->name : "UNKNOWN");
	*hlen = pos + 8;
	return SA_OK;
}

/*
 * icao_tlv_len reads the length at b[*pos] (DER short form, or long form
 * 0x81 / 0x82 in minimal encoding; 0x80 alone is the quirk length 128) and
 * checks that the value fits before n. Returns 0 and advances *pos past
 * the length, or -1.
 */
static int
icao_tlv_len(const unsigned char *b, size_t n, size_t *pos, size_t *len,
	     unsigned int *quirks)
{
	size_t i = *pos, l;

	if (i >= n)
		return -1;
	if (b[i] < 0x80) {
		l = b[i];
		i += 1;
	} else if (b[i] == 0x80) {
		/* Not DER (indefinite form); issuers write it for 128. */
		l = 128;
		i += 1;
		*quirks |= VDS_QUIRK_LEN_0X80;
	} else if (b[i] == 0x81) {
		if (n - i < 2 || b[i + 1] < 0x80)
			return -1;
		l = b[i + 1];
		i += 2;
	} else if (b[i] == 0x82) {
		if (n - i < 3 || b[i + 1] == 0)
			return -1;
		l = (size_t)b[i + 1] << 8 | b[i + 2];
		i += 3;
	} else {
		return -1;
	}
	if (l > n - i)
		return -1;
	*pos = i;
	*len = l;
	return 0;
}

/* tag_info finds the name and coding of a tag for the document type. */
static const struct icao_tag_info *
tag_info(const struct vds_icao *ic, unsigned int tag)
{
	if (ic->doc == NULL)
		return NULL;
	for (size_t i = 0; i < ic->doc->ntags; i++)
		if (ic->doc->tags[i].tag == tag)
			return &ic->doc->tags[i];
	return NULL;
}

enum sa_err
vds_icao_parse(struct vds_rd *rd, struct vds_core *core, struct vds_icao **out)
{
	const unsigned char *seal = rd->b;
	size_t n = rd->n;
	struct vds_icao *ic = NULL;
	struct vds_core c;
	enum sa_err rc = SA_ERR_SEAL_DECODE;
	unsigned char seen[256] = {0};
	size_t pos = 0;

	memset(&c, 0, sizeof(c));
	if (n < 2 || seal[0] != ICAO_MAGIC)
		return vds_rd_fail(rd, 0, "header: not an ICAO seal");
	ic = calloc(1, sizeof(*ic));
	if (ic == NULL)
		return SA_ERR_NOMEM;
	if ((rc = icao_header(rd, &c, ic, &pos)) != SA_OK)
		goto out;
	rc = SA_ERR_SEAL_DECODE;
	c.header_len = pos;
	c.signed_len = n; /* unless a signature zone follows */
	while (pos < n) {
		const struct icao_tag_info *ti;
		unsigned int tag = seal[pos];
		size_t start = pos, len;

		pos++;
		if (icao_tlv_len(seal, n, &pos, &len, &c.quirks) != 0) {
			vds_rd_fail(rd, start + 1,
				    "message zone: tag 0x%02x at offset %zu "
				    "has a bad or overlong length",
				    tag, start);
			goto out;
		}
		if (tag == 0xff) {
			size_t half = len / 2;
			if (len % 2 != 0 || (half != 28 && half != 32 &&
					     half != 48 && half != 64)) {
				vds_rd_fail(rd, start,
					    "signature: %zu bytes is not r || "
					    "s of a supported size",
					    len);
				goto out;
			}
			/* Nothing may follow the signature: it would be
			 * unsigned data presented as part of the seal. */
			if (pos + len != n) {
				vds_rd_fail(rd, pos + len,
					    "signature: %zu bytes follow it",
					    n - pos - len);
				goto out;
			}
			vds_rd_note(rd, start, pos + len - start, "signature",
				    "r || s, 2 x %zu bytes", half);
			c.signed_len = start;
			c.sig_off = pos;
			c.sig_len = len;
			break;
		}
		/* Two values for one tag would leave the reader to pick
		 * one: refuse. */
		if (seen[tag]) {
			vds_rd_fail(rd, start,
				    "message zone: tag 0x%02x appears twice",
				    tag);
			goto out;
		}
		seen[tag] = 1;
		ti = tag_info(ic, tag);
		vds_rd_note(rd, start, pos + len - start, "feature",
			    "tag 0x%02x %s, %zu bytes", tag,
			    ti ? ti->name : "UNKNOWN", len);
		ic->features[ic->nfeatures].tag = tag;
		ic->features[ic->nfeatures].value = seal + pos;
		ic->features[ic->nfeatures].len = len;
		ic->nfeatures++;
		pos += len;
	}
	if (ic->nfeatures == 0) {
		vds_rd_fail(rd, c.header_len, "message zone: no features");
		goto out;
	}
	*core = c;
	*out = ic;
	ic = NULL;
	rc = SA_OK;
out:
	free(ic);
	return rc;
}

int
vds_icao_identity(const struct vds_icao *ic)
{
	return ic != NULL && ic->doc != NULL && ic->doc->identity;
}

/* vds_icao_catalogue_row gives row i of the catalogue for docs and tests;
 * NULL past the end. */
const char *
vds_icao_catalogue_row(size_t i, unsigned int *ref, unsigned int *cat,
		       int *identity, const char **source)
{
	if (i >= ARRAY_LEN(doc_types))
		return NULL;
	*ref = doc_types[i].feature_ref;
	*cat = doc_types[i].type_category;
	*identity = doc_types[i].identity;
	*source = doc_types[i].source;
	return doc_types[i].name;
}

void
vds_icao_free(struct vds_icao *ic)
{
	free(ic);
}

const char *
vds_icao_country(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->country : NULL;
}

const char *
vds_icao_country_code(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->country_code : NULL;
}

const char *
vds_icao_issue_date(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->issue_date : NULL;
}

const char *
vds_icao_sig_date(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->sig_date : NULL;
}

unsigned int
vds_icao_feature_ref(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->feature_ref : 0;
}

unsigned int
vds_icao_type_category(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->type_category : 0;
}

const char *
vds_icao_document_type(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	if (ic == NULL)
		return NULL;
	return ic->doc ? ic->doc->name : "UNKNOWN";
}

size_t
vds_icao_feature_count(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->nfeatures : 0;
}

enum sa_err
vds_icao_feature(const struct vds *v, size_t i, unsigned int *tag,
		 const unsigned char **value, size_t *len)
{
	const struct vds_icao *ic = v->icao;

	if (ic == NULL || i >= ic->nfeatures)
		return SA_ERR_NOT_FOUND;
	*tag = ic->features[i].tag;
	*value = ic->features[i].value;
	*len = ic->features[i].len;
	return SA_OK;
}

const unsigned char *
vds_icao_feature_by_tag(const struct vds *v, unsigned int tag, size_t *len)
{
	const struct vds_icao *ic = v->icao;

	*len = 0;
	if (ic == NULL)
		return NULL;
	for (size_t i = 0; i < ic->nfeatures; i++) {
		if (ic->features[i].tag == tag) {
			*len = ic->features[i].len;
			return ic->features[i].value;
		}
	}
	return NULL;
}

enum sa_err
vds_feature_text(const struct vds *v, unsigned int tag, char *out, size_t outsz,
		 const char **name, const char **coding)
{
	const struct vds_icao *ic = v->icao;
	const struct icao_tag_info *ti;
	const unsigned char *val;
	enum icao_coding cod;
	char txt[C40_MAX_CHARS + 2];
	size_t len, tl, split = 0;

	if (ic == NULL || (val = vds_icao_feature_by_tag(v, tag, &len)) == NULL)
		return SA_ERR_NOT_FOUND;
	ti = tag_info(ic, tag);
	cod = ti ? ti->coding : COD_BYTES;
	switch (cod) {
	case COD_BYTES:
		if (outsz < 2 * len + 1)
			return SA_ERR_INTERNAL;
		for (size_t i = 0; i < len; i++)
			snprintf(out + 2 * i, 3, "%02x", val[i]);
		out[2 * len] = '\0';
		break;
	case COD_UINT: {
		unsigned long u = 0;
		if (len < 1 || len > 4)
			return SA_ERR_SEAL_DECODE;
		for (size_t i = 0; i < len; i++)
			u = u << 8 | val[i];
		if ((size_t)snprintf(out, outsz, "%lu", u) >= outsz)
			return SA_ERR_INTERNAL;
		break;
	}
	case COD_UTF8:
		if (!utf8_valid(val, len, UTF8_NO_C0))
			return SA_ERR_SEAL_DECODE;
		if (outsz < len + 1)
			return SA_ERR_INTERNAL;
		memcpy(out, val, len);
		out[len] = '\0';
		break;
	case COD_C40:
	case COD_MRZ:
	case COD_MRVA:
	case COD_MRVB:
		if (len > C40_MAX_CHARS / 3 * 2 ||
		    c40_decode(val, len, txt, sizeof(txt) - 1, &tl) != SA_OK)
			return SA_ERR_SEAL_DECODE;
		if (cod != COD_C40) {
			/* MRZ filler is '<'; lines are split where ICAO
			 * 9303-13 puts the line break. */
			for (size_t i = 0; i < tl; i++)
				if (txt[i] == ' ')
					txt[i] = '<';
			split = cod == COD_MRVA	  ? 44
				: cod == COD_MRVB ? 36
						  : tl / 2;
			if (split == 0 || split >= tl)
				return SA_ERR_SEAL_DECODE;
			memmove(txt + split + 1, txt + split, tl - split + 1);
			txt[split] = '\n';
			tl++;
		}
		if (outsz < tl + 1)
			return SA_ERR_INTERNAL;
		memcpy(out, txt, tl + 1);
		break;
	}
	if (name != NULL)
		*name = ti ? ti->name : "UNKNOWN";
	if (coding != NULL)
		*coding = coding_names[cod];
	return SA_OK;
}

/* upper_hex writes n bytes as upper-case hex. */
static void
upper_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", b[i]);
}

/* skip_zeros drops leading '0's (keeping one digit). */
static const char *
skip_zeros(const char *s)
{
	while (s[0] == '0' && s[1] != '\0')
		s++;
	return s;
}

int
vds_icao_cert_matches(const struct vds *v, X509 *cert)
{
	const struct vds_icao *ic = v->icao;
	const char *signer = vds_ca_id(v), *ref = vds_cert_id(v);
	int match = 0;

	if (ic == NULL || cert == NULL)
		return 0;
	if (strcmp(signer, "DEZV") == 0) {
		/* TR-03171: the reference is SHA-1 of the certificate. */
		unsigned char *der = NULL, md[SHA_DIGEST_LENGTH];
		char hex[2 * SHA_DIGEST_LENGTH + 1];
		int dl = i2d_X509(cert, &der);
		if (dl <= 0)
			return 0;
		SHA1(der, (size_t)dl, md);
		OPENSSL_free(der);
		upper_hex(md, sizeof(md), hex);
		return strcmp(hex, ref) == 0;
	} else {
		X509_NAME *subj = X509_get_subject_name(cert);
		char c[8], cn[8], name[16], *serial = NULL;
		BIGNUM *bn =
		    ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
		if (subj == NULL || bn == NULL ||
		    X509_NAME_get_text_by_NID(subj, NID_countryName, c,
					      sizeof(c)) != 2 ||
		    X509_NAME_get_text_by_NID(subj, NID_commonName, cn,
					      sizeof(cn)) != 2 ||
		    (serial = BN_bn2hex(bn)) == NULL)
			goto out;
		snprintf(name, sizeof(name), "%s%s", c, cn);
		match = strcmp(name, signer) == 0 &&
			strcasecmp(skip_zeros(serial), skip_zeros(ref)) == 0;
	out:
		OPENSSL_free(serial);
		BN_free(bn);
	}
	return match;
}

static int
jput(json_t *o, const char *k, json_t *val)
{
	return val == NULL || json_object_set_new(o, k, val) != 0 ? -1 : 0;
}

/*
 * mrz_date turns YYMMDD into YYYY-MM-DD: a birth date takes the century
 * that puts it at or before the seal's signature year, any other date the
 * 2000s. 0 when the digits do not name a day.
 */
static int
mrz_date(const char *s, int birth, int sig_year, char out[11])
{
	int y, m, d;

	for (int i = 0; i < 6; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	y = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[2] - '0') * 10 + (s[3] - '0');
	d = (s[4] - '0') * 10 + (s[5] - '0');
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return 0;
	y += 2000;
	if (birth && y > sig_year)
		y -= 100;
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
	return 1;
}

/* mrz_copy writes s[0, len) with the '<' fillers trimmed into out. */
static void
mrz_copy(char *out, size_t outsz, const char *s, size_t len)
{
	while (len > 0 && s[len - 1] == '<')
		len--;
	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, s, len);
	out[len] = '\0';
}

/*
 * mrz_read reads the typed values of a two-line MRZ (ICAO 9303 TD2 / MRV
 * layout, as the seals carry it): document code, issuing state, names,
 * document number, nationality, birth date, sex, expiry. 0 when the text
 * is not such an MRZ. A date that names no day is left empty.
 */
static int
mrz_read(const char *text, int sig_year, struct vds_mrz *m)
{
	const char *nl = strchr(text, '\n'), *l2, *sep;
	size_t gl = 0;

	memset(m, 0, sizeof(*m));
	if (nl == NULL)
		return 0;
	l2 = nl + 1;
	if ((size_t)(nl - text) < 30 || strlen(l2) < 28)
		return 0;
	mrz_copy(m->code, sizeof(m->code), text, 2);
	mrz_copy(m->state, sizeof(m->state), text + 2, 3);
	mrz_copy(m->number, sizeof(m->number), l2, 9);
	/* A document number longer than 9 characters (ICAO 9303-5 and -6,
	 * TD1 and TD2): a filler where its check digit would be, and the
	 * rest of the number, then its check digit, opens the optional data
	 * (line 2 from position 29). MRV visas (code V) have no such rule. */
	if (text[0] != 'V' && l2[9] == '<' && strlen(m->number) == 9) {
		size_t ext = strcspn(l2 + 28, "<\n");

		if (ext >= 2 && ext - 1 <= sizeof(m->number) - 10)
			mrz_copy(m->number + 9, sizeof(m->number) - 9, l2 + 28,
				 ext - 1);
	}
	mrz_copy(m->nationality, sizeof(m->nationality), l2 + 10, 3);
	mrz_copy(m->sex, sizeof(m->sex), l2 + 20, 1);
	/* Names: SURNAME<<GIVEN<NAMES, '<' between given names. */
	sep = strstr(text + 5, "<<");
	if (sep == NULL || sep > nl)
		sep = nl;
	mrz_copy(m->surname, sizeof(m->surname), text + 5,
		 (size_t)(sep - text - 5));
	for (const char *p = sep + 2;
	     sep != nl && p < nl && gl < sizeof(m->given) - 1; p++)
		m->given[gl++] = *p == '<' ? ' ' : *p;
	while (gl > 0 && m->given[gl - 1] == ' ')
		gl--;
	m->given[gl] = '\0';
	if (!mrz_date(l2 + 13, 1, sig_year, m->birth))
		m->birth[0] = '\0';
	if (!mrz_date(l2 + 21, 0, sig_year, m->expiry))
		m->expiry[0] = '\0';
	return 1;
}

/* mrz_json describes what mrz_read found; NULL when the text is not an
 * MRZ (it still shows as text). */
static json_t *
mrz_json(const char *text, int sig_year)
{
	struct vds_mrz m;
	json_t *o;

	if (!mrz_read(text, sig_year, &m) || (o = json_object()) == NULL)
		return NULL;
	if (jput(o, "documentCode", json_string(m.code)) ||
	    jput(o, "issuingState", json_string(m.state)) ||
	    jput(o, "documentNumber", json_string(m.number)) ||
	    jput(o, "nationality", json_string(m.nationality)) ||
	    jput(o, "sex", json_string(m.sex)) ||
	    jput(o, "surname", json_string(m.surname)) ||
	    jput(o, "givenNames", json_string(m.given)) ||
	    (m.birth[0] && jput(o, "birthDate", json_string(m.birth))) ||
	    (m.expiry[0] && jput(o, "expiryDate", json_string(m.expiry)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int
vds_icao_mrz(const struct vds *v, struct vds_mrz *m)
{
	const struct vds_icao *ic = v->icao;
	char text[256];

	if (ic == NULL)
		return 0;
	for (size_t i = 0; i < ic->nfeatures; i++) {
		const struct icao_tag_info *ti =
		    tag_info(ic, ic->features[i].tag);

		if (ti == NULL ||
		    (ti->coding != COD_MRZ && ti->coding != COD_MRVA &&
		     ti->coding != COD_MRVB))
			continue;
		if (vds_feature_text(v, ic->features[i].tag, text, sizeof(text),
				     NULL, NULL) == SA_OK &&
		    mrz_read(text, atoi(ic->sig_date), m))
			return 1;
	}
	return 0;
}

enum sa_err
vds_icao_json(const struct vds *v, json_t *obj)
{
	const struct vds_icao *ic = v->icao;
	json_t *h = NULL, *fa = NULL;
	char *text = NULL, *hex = NULL;
	enum sa_err rc = SA_ERR_NOMEM;
	size_t hl;

	if (ic == NULL)
		return SA_ERR_INTERNAL;
	h = json_object();
	if (h == NULL || jput(obj, "header", h) != 0)
		goto out;
	vds_header(v, &hl);
	if (jput(h, "legacy", json_boolean(vds_version(v) < ICAO_V3)) ||
	    jput(h, "country", json_string(ic->country)) ||
	    jput(h, "countryCode", json_string(ic->country_code)) ||
	    jput(h, "signer", json_string(vds_ca_id(v))) ||
	    jput(h, "certRef", json_string(vds_cert_id(v))) ||
	    jput(h, "issueDate", json_string(ic->issue_date)) ||
	    jput(h, "sigDate", json_string(ic->sig_date)) ||
	    jput(h, "featureRef", json_integer(ic->feature_ref)) ||
	    jput(h, "typeCategory", json_integer(ic->type_category)) ||
	    jput(h, "headerLength", json_integer((json_int_t)hl)) ||
	    jput(h, "documentType", json_string(vds_icao_document_type(v))) ||
	    jput(h, "identityDocument", json_boolean(vds_icao_identity(ic))))
		goto out;
	fa = json_array();
	if (fa == NULL || jput(obj, "features", fa) != 0)
		goto out;
	for (size_t i = 0; i < ic->nfeatures; i++) {
		const struct icao_feature *f = &ic->features[i];
		const struct icao_tag_info *ti = tag_info(ic, f->tag);
		enum icao_coding cod = ti ? ti->coding : COD_BYTES;
		size_t cap = 3 * f->len + 16;
		json_t *fo = json_object();
		int ok;
		if (fo == NULL || json_array_append_new(fa, fo) != 0)
			goto out;
		text = malloc(cap);
		hex = hex_encode(f->value, f->len);
		if (text == NULL || hex == NULL)
			goto out;
		if (jput(fo, "tag", json_integer(f->tag)) ||
		    jput(fo, "name", json_string(ti ? ti->name : "UNKNOWN")) ||
		    jput(fo, "coding", json_string(coding_names[cod])))
			goto out;
		/* A value that is not valid in its coding shows as null;
		 * the hex is always there. */
		ok =
		    vds_feature_text(v, f->tag, text, cap, NULL, NULL) == SA_OK;
		if (jput(fo, "value", ok ? json_string(text) : json_null()) ||
		    jput(fo, "hex", json_string(hex)))
			goto out;
		if (ok &&
		    (cod == COD_MRZ || cod == COD_MRVA || cod == COD_MRVB)) {
			json_t *m = mrz_json(text, atoi(ic->sig_date));
			if (m != NULL && jput(fo, "mrz", m) != 0)
				goto out;
		}
		free(text);
		free(hex);
		text = hex = NULL;
	}
	rc = SA_OK;
out:
	free(text);
	free(hex);
	return rc;
}
