/*
 * vds_icao.c - ICAO Doc 9303-13 / BSI TR-03137 seals (magic 0xDC): the
 * C40 header of versions 3 and 4, the TLV message zone and the 0xFF
 * signature zone. Reached through vds_decode; see docs/seals.md for the
 * layout and for every quirk we accept or refuse.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "seal/c40.h"
#include "core/util.h"
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

/* A feature coding known for a document type. */
struct icao_tag_info {
	unsigned int tag;
	const char *name;
	const char *coding; /* c40, mrz, mrz-mrva, mrz-mrvb, utf8, bytes */
};

struct icao_doc_type {
	unsigned int feature_ref, type_category;
	const char *name;
	const struct icao_tag_info *tags;
	size_t ntags;
};

struct vds_icao {
	char country[4];      /* raw C40 text, e.g. "D  " */
	char country_code[4]; /* without padding spaces, e.g. "D" */
	char issue_date[11], sig_date[11];
	unsigned int feature_ref, type_category;
	unsigned int quirks;
	const struct icao_doc_type *doc; /* NULL when unknown */
	size_t nfeatures;
	struct icao_feature features[ICAO_MAX_FEATURES];
};

#define TAGS(a) a, ARRAY_LEN(a)
static const struct icao_tag_info tags_arrival[] = {{2, "MRZ", "mrz"},
						    {3, "AZR", "c40"}};
static const struct icao_tag_info tags_sticker_id[] = {
    {1, "DOCUMENT_NUMBER", "c40"}, {2, "AGS", "c40"}, {3, "ADDRESS", "c40"}};
static const struct icao_tag_info tags_sticker_pp[] = {
    {1, "DOCUMENT_NUMBER", "c40"},
    {2, "AGS", "c40"},
    {3, "POSTAL_CODE", "c40"}};
static const struct icao_tag_info tags_etd[] = {{2, "MRZ", "mrz"}};
static const struct icao_tag_info tags_visa[] = {
    {1, "MRZ_MRVA", "mrz-mrva"},	{2, "MRZ_MRVB", "mrz-mrvb"},
    {3, "NUMBER_OF_ENTRIES", "bytes"},	{4, "DURATION_OF_STAY", "bytes"},
    {5, "PASSPORT_NUMBER", "c40"},	{6, "VISA_TYPE", "bytes"},
    {7, "ADDITIONAL_FEATURES", "bytes"}};
static const struct icao_tag_info tags_rp[] = {{2, "MRZ", "mrz"},
					       {3, "PASSPORT_NUMBER", "c40"}};
static const struct icao_tag_info tags_sic[] = {
    {1, "SOCIAL_INSURANCE_NUMBER", "c40"},
    {2, "SURNAME", "utf8"},
    {3, "FIRST_NAME", "utf8"},
    {4, "BIRTH_NAME", "utf8"}};
static const struct icao_tag_info tags_supp[] = {{4, "MRZ", "mrz"},
						 {5, "SHEET_NUMBER", "c40"}};
static const struct icao_tag_info tags_admin_v8[] = {
    {0, "DOC_PROFILE_NUMBER", "bytes"}, {4, "SURNAME", "utf8"},
    {5, "ACADEMIC_DEGREE", "utf8"},	{6, "FIRST_NAME", "utf8"},
    {13, "MOVING_DATE", "utf8"},	{15, "DATE_OF_NOTIFICATION", "utf8"}};
static const struct icao_tag_info tags_admin_v9[] = {
    {0, "DOC_PROFILE_NUMBER", "bytes"},
    {1, "VALID_FROM", "utf8"},
    {2, "VALID_TO", "utf8"},
    {3, "PROFILE_URI", "utf8"},
    {4, "CERTIFICATE_URI", "utf8"},
    {5, "STATUS_URI", "utf8"},
    {6, "STATUS_LIST_INDEX", "bytes"},
    {10, "SURNAME", "utf8"}};

/* Document references as in vdstools' VdsDocumentTypes.json. */
static const struct icao_doc_type doc_types[] = {
    {0xfd, 0x02, "ARRIVAL_ATTESTATION", TAGS(tags_arrival)},
    {0xf9, 0x08, "ADDRESS_STICKER_ID", TAGS(tags_sticker_id)},
    {0xf8, 0x0a, "ADDRESS_STICKER_PASSPORT", TAGS(tags_sticker_pp)},
    {0x5e, 0x03, "EMERGENCY_TRAVEL_DOCUMENT", TAGS(tags_etd)},
    {0x5d, 0x01, "VISA", TAGS(tags_visa)},
    {0xfb, 0x06, "RESIDENCE_PERMIT", TAGS(tags_rp)},
    {0xfc, 0x04, "SOCIAL_INSURANCE_CARD", TAGS(tags_sic)},
    {0xfa, 0x06, "SUPPLEMENTARY_SHEET", TAGS(tags_supp)},
    {0x01, 0xc8, "ADMINISTRATIVE_DOCUMENTS_V8", TAGS(tags_admin_v8)},
    {0x01, 0xc9, "ADMINISTRATIVE_DOCUMENTS_V9", TAGS(tags_admin_v9)},
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

/*
 * icao_header parses the header at the start of seal into core and ic and
 * returns its length, or 0 with a reason in why.
 */
static size_t
icao_header(const unsigned char *b, size_t n, struct vds_core *core,
	    struct vds_icao *ic, char *why, size_t whylen)
{
	char txt[C40_MAX_CHARS + 1];
	size_t pos = 4, tl, reflen, refbytes;
	int64_t issue_unix;

	if (n < 4) {
		why_set(why, whylen, "header: truncated in the country");
		return 0;
	}
	/* Three country forms occur: "UTO", "D<<" (C40 spaces) and "D"
	 * (the 0xFE single-character pair). All mean a 1-3 letter code. */
	if (c40_decode(b + 2, 2, txt, sizeof(txt), &tl) != SA_OK || tl == 0 ||
	    txt[0] == ' ') {
		why_set(why, whylen, "header: country is not C40 text");
		return 0;
	}
	for (size_t i = 0; i < tl; i++) {
		if (!(txt[i] == ' ' || (txt[i] >= 'A' && txt[i] <= 'Z'))) {
			why_set(why, whylen,
				"header: country is not "
				"letters");
			return 0;
		}
	}
	memcpy(ic->country, txt, tl + 1);
	memcpy(ic->country_code, txt, tl + 1);
	while (tl > 0 && ic->country_code[tl - 1] == ' ')
		ic->country_code[--tl] = '\0';

	if (b[1] == ICAO_V3) {
		/* Version 3: a fixed 9-character signer (4) + reference (5). */
		if (n < pos + 6 ||
		    c40_decode(b + pos, 6, txt, sizeof(txt), &tl) != SA_OK ||
		    tl != 9 || !is_alnum_upper(txt, 9)) {
			why_set(why, whylen,
				"header: signer and "
				"reference are not 9 C40 "
				"characters");
			return 0;
		}
		memcpy(core->ca_id, txt, 4);
		core->ca_id[4] = '\0';
		memcpy(core->cert_id, txt + 4, 6);
		pos += 6;
	} else {
		/* Version 4: signer (4) + reference length (2), then the
		 * reference in its own C40 run. */
		if (n < pos + 4 ||
		    c40_decode(b + pos, 4, txt, sizeof(txt), &tl) != SA_OK ||
		    tl != 6 || !is_alnum_upper(txt, 6)) {
			why_set(why, whylen,
				"header: signer and length are "
				"not 6 C40 characters");
			return 0;
		}
		memcpy(core->ca_id, txt, 4);
		core->ca_id[4] = '\0';
		pos += 4;
		if (strcmp(core->ca_id, "DEZV") == 0) {
			/* TR-03171 writes the length in decimal. */
			if (!isdigit((unsigned char)txt[4]) ||
			    !isdigit((unsigned char)txt[5])) {
				why_set(why, whylen,
					"header: DEZV reference "
					"length is not decimal");
				return 0;
			}
			reflen = (size_t)(txt[4] - '0') * 10 +
				 (size_t)(txt[5] - '0');
			ic->quirks |= VDS_QUIRK_DECIMAL_LEN;
		} else {
			char *end;
			char hex[3] = {txt[4], txt[5], '\0'};
			if (!isxdigit((unsigned char)txt[4]) ||
			    !isxdigit((unsigned char)txt[5])) {
				why_set(why, whylen,
					"header: reference "
					"length is not hex");
				return 0;
			}
			reflen = strtoul(hex, &end, 16);
		}
		if (reflen == 0) {
			/* A version-4 byte over the fixed version-3 layout
			 * (seen in German arrival attestations): a zero-length
			 * reference names no certificate, and the next pair
			 * completes the 9-character form "DEME00008". */
			char rest[8];
			size_t rl;
			if (n < pos + 2 ||
			    c40_decode(b + pos, 2, rest, sizeof(rest), &rl) !=
				SA_OK ||
			    rl != 3 || !is_alnum_upper(rest, 3)) {
				why_set(why, whylen,
					"header: zero "
					"reference length without a "
					"version-3 reference");
				return 0;
			}
			snprintf(core->cert_id, sizeof(core->cert_id), "%c%c%s",
				 txt[4], txt[5], rest);
			ic->quirks |= VDS_QUIRK_ZERO_REF_LEN;
			pos += 2;
		} else {
			refbytes = c40_encoded_len(reflen);
			if (reflen > VDS_ID_MAX || n - pos < refbytes ||
			    c40_decode(b + pos, refbytes, txt, sizeof(txt),
				       &tl) != SA_OK ||
			    tl != reflen || !is_alnum_upper(txt, tl)) {
				why_set(why, whylen,
					"header: certificate "
					"reference of %zu characters does "
					"not decode",
					reflen);
				return 0;
			}
			memcpy(core->cert_id, txt, tl + 1);
			pos += refbytes;
		}
	}
	if (n < pos + 8) {
		why_set(why, whylen,
			"header: truncated in the dates or "
			"document reference");
		return 0;
	}
	if (!icao_date(b + pos, ic->issue_date, &issue_unix)) {
		why_set(why, whylen, "header: invalid issue date");
		return 0;
	}
	if (!icao_date(b + pos + 3, ic->sig_date, &core->signing_time)) {
		why_set(why, whylen, "header: invalid signature date");
		return 0;
	}
	ic->feature_ref = b[pos + 6];
	ic->type_category = b[pos + 7];
	for (size_t i = 0; i < ARRAY_LEN(doc_types); i++)
		if (doc_types[i].feature_ref == ic->feature_ref &&
		    doc_types[i].type_category == ic->type_category)
			ic->doc = &doc_types[i];
	return pos + 8;
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

enum sa_err
vds_icao_parse(const unsigned char *seal, size_t n, struct vds_core *core,
	       struct vds_icao **out, char *why, size_t whylen)
{
	struct vds_icao *ic = NULL;
	struct vds_core c;
	enum sa_err rc = SA_ERR_SEAL_DECODE;
	unsigned char seen[256] = {0};
	size_t pos;

	memset(&c, 0, sizeof(c));
	if (n < 2 || seal[0] != ICAO_MAGIC ||
	    (seal[1] != ICAO_V3 && seal[1] != ICAO_V4)) {
		why_set(why, whylen,
			"header: not an ICAO seal of version "
			"3 or 4");
		return SA_ERR_SEAL_DECODE;
	}
	ic = calloc(1, sizeof(*ic));
	if (ic == NULL)
		return SA_ERR_NOMEM;
	pos = icao_header(seal, n, &c, ic, why, whylen);
	if (pos == 0)
		goto out;
	c.header_len = pos;
	c.signed_len = n; /* unless a signature zone follows */
	while (pos < n) {
		unsigned int tag = seal[pos];
		size_t start = pos, len;

		pos++;
		if (icao_tlv_len(seal, n, &pos, &len, &ic->quirks) != 0) {
			why_set(why, whylen,
				"message zone: tag 0x%02x at "
				"offset %zu has a bad or overlong length",
				tag, start);
			goto out;
		}
		if (tag == 0xff) {
			size_t half = len / 2;
			if (len % 2 != 0 || (half != 28 && half != 32 &&
					     half != 48 && half != 64)) {
				why_set(why, whylen,
					"signature: %zu bytes "
					"is not r || s of a supported "
					"size",
					len);
				goto out;
			}
			/* Nothing may follow the signature: it would be
			 * unsigned data presented as part of the seal. */
			if (pos + len != n) {
				why_set(why, whylen,
					"signature: %zu bytes "
					"follow it",
					n - pos - len);
				goto out;
			}
			c.signed_len = start;
			c.sig_off = pos;
			c.sig_len = len;
			break;
		}
		/* Two values for one tag would leave the reader to pick
		 * one: refuse. */
		if (seen[tag]) {
			why_set(why, whylen,
				"message zone: tag 0x%02x "
				"appears twice",
				tag);
			goto out;
		}
		seen[tag] = 1;
		ic->features[ic->nfeatures].tag = tag;
		ic->features[ic->nfeatures].value = seal + pos;
		ic->features[ic->nfeatures].len = len;
		ic->nfeatures++;
		pos += len;
	}
	if (ic->nfeatures == 0) {
		why_set(why, whylen, "message zone: no features");
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

unsigned int
vds_icao_quirks(const struct vds *v)
{
	const struct vds_icao *ic = v->icao;
	return ic ? ic->quirks : 0;
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
vds_feature_text(const struct vds *v, unsigned int tag, char *out, size_t outsz,
		 const char **name, const char **coding)
{
	const struct vds_icao *ic = v->icao;
	const struct icao_tag_info *ti;
	const unsigned char *val;
	const char *cod;
	char txt[C40_MAX_CHARS + 2];
	size_t len, tl, split = 0;

	if (ic == NULL || (val = vds_icao_feature_by_tag(v, tag, &len)) == NULL)
		return SA_ERR_NOT_FOUND;
	ti = tag_info(ic, tag);
	cod = ti ? ti->coding : "bytes";
	if (strcmp(cod, "bytes") == 0) {
		if (outsz < 2 * len + 1)
			return SA_ERR_INTERNAL;
		for (size_t i = 0; i < len; i++)
			snprintf(out + 2 * i, 3, "%02x", val[i]);
		out[2 * len] = '\0';
	} else if (strcmp(cod, "utf8") == 0) {
		if (!utf8_valid(val, len, UTF8_NO_C0))
			return SA_ERR_SEAL_DECODE;
		if (outsz < len + 1)
			return SA_ERR_INTERNAL;
		memcpy(out, val, len);
		out[len] = '\0';
	} else {
		if (c40_decode(val, len, txt, sizeof(txt) - 1, &tl) != SA_OK)
			return SA_ERR_SEAL_DECODE;
		if (strncmp(cod, "mrz", 3) == 0) {
			/* MRZ filler is '<'; lines are split where ICAO
			 * 9303-13 puts the line break. */
			for (size_t i = 0; i < tl; i++)
				if (txt[i] == ' ')
					txt[i] = '<';
			split = strcmp(cod, "mrz-mrva") == 0   ? 44
				: strcmp(cod, "mrz-mrvb") == 0 ? 36
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
	}
	if (name != NULL)
		*name = ti ? ti->name : "UNKNOWN";
	if (coding != NULL)
		*coding = cod;
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

enum sa_err
vds_icao_json(const struct vds *v, json_t *obj)
{
	const struct vds_icao *ic = v->icao;
	json_t *h = json_object(), *q = json_array(), *fa = json_array();
	char *text = NULL, *hex = NULL;
	enum sa_err rc = SA_ERR_NOMEM;
	size_t hl;

	if (h == NULL || q == NULL || fa == NULL || ic == NULL)
		goto out;
	vds_header(v, &hl);
	if (jput(h, "country", json_string(ic->country)) ||
	    jput(h, "countryCode", json_string(ic->country_code)) ||
	    jput(h, "signer", json_string(vds_ca_id(v))) ||
	    jput(h, "certRef", json_string(vds_cert_id(v))) ||
	    jput(h, "issueDate", json_string(ic->issue_date)) ||
	    jput(h, "sigDate", json_string(ic->sig_date)) ||
	    jput(h, "featureRef", json_integer(ic->feature_ref)) ||
	    jput(h, "typeCategory", json_integer(ic->type_category)) ||
	    jput(h, "headerLength", json_integer((json_int_t)hl)) ||
	    jput(h, "documentType", json_string(vds_icao_document_type(v))))
		goto out;
	if ((ic->quirks & VDS_QUIRK_ZERO_REF_LEN &&
	     json_array_append_new(q, json_string("zero-ref-length")) != 0) ||
	    (ic->quirks & VDS_QUIRK_LEN_0X80 &&
	     json_array_append_new(q, json_string("length-0x80")) != 0) ||
	    (ic->quirks & VDS_QUIRK_DECIMAL_LEN &&
	     json_array_append_new(q, json_string("decimal-ref-length")) != 0))
		goto out;
	if (jput(h, "quirks", q) != 0) {
		q = NULL;
		goto out;
	}
	q = NULL;
	if (jput(obj, "header", h) != 0) {
		h = NULL;
		goto out;
	}
	h = NULL;
	for (size_t i = 0; i < ic->nfeatures; i++) {
		const struct icao_feature *f = &ic->features[i];
		const struct icao_tag_info *ti;
		const char *name, *coding;
		size_t cap = 3 * f->len + 4;
		json_t *fo = json_object();
		if (fo == NULL || json_array_append_new(fa, fo) != 0)
			goto out;
		text = malloc(cap);
		hex = hex_encode(f->value, f->len);
		if (text == NULL || hex == NULL)
			goto out;
		ti = tag_info(ic, f->tag);
		name = ti ? ti->name : "UNKNOWN";
		coding = ti ? ti->coding : "bytes";
		if (jput(fo, "tag", json_integer(f->tag)) ||
		    jput(fo, "name", json_string(name)) ||
		    jput(fo, "coding", json_string(coding)))
			goto out;
		/* A value that is not valid in its coding shows as null;
		 * the hex is always there. */
		if (jput(fo, "value",
			 vds_feature_text(v, f->tag, text, cap, NULL, NULL) ==
				 SA_OK
			     ? json_string(text)
			     : json_null()) ||
		    jput(fo, "hex", json_string(hex)))
			goto out;
		free(text);
		free(hex);
		text = hex = NULL;
	}
	if (jput(obj, "features", fa) != 0) {
		fa = NULL;
		goto out;
	}
	fa = NULL;
	rc = SA_OK;
out:
	free(text);
	free(hex);
	json_decref(h);
	json_decref(q);
	json_decref(fa);
	return rc;
}
