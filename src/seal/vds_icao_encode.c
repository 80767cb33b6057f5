/*
 * vds_icao_encode.c - writing ICAO Doc 9303-13 seals (magic 0xDC) with a
 * version-4 header, and the two-line TD2 machine readable zone such seals
 * carry, for the demo issuer and the tests. docs/seals.md describes the
 * layout the decoder reads; whatever is written here decodes there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/util.h"
#include "seal/c40.h"
#include "seal/vds_int.h"

#define TD2_LINE 36

/* mrz_value is what a character counts in a check digit: digits their
 * value, A-Z 10 to 35, the filler '<' (and anything else) 0. */
static int
mrz_value(char ch)
{
	static const char order[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	const char *at = ch != '\0' ? strchr(order, ch) : NULL;

	return at != NULL ? (int)(at - order) : 0;
}

/* mrz_check is the ICAO 9303 check digit of n characters (weights 7, 3,
 * 1 repeated, sum modulo 10). */
static char
mrz_check(const char *s, size_t n)
{
	static const int w[] = {7, 3, 1};
	int sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += mrz_value(s[i]) * w[i % 3];
	return (char)('0' + sum % 10);
}

/*
 * mrz_field writes s into out[0, n) in MRZ characters, filled with '<':
 * letters in upper case, a space or hyphen as the filler. 0 when s holds
 * any other character or does not fit.
 */
static int
mrz_field(char *out, size_t n, const char *s)
{
	size_t len = strlen(s);

	if (len > n)
		return 0;
	memset(out, '<', n);
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if (ch == ' ' || ch == '-')
			ch = '<';
		if (!(ch == '<' || (ch >= '0' && ch <= '9') ||
		      (ch >= 'A' && ch <= 'Z')))
			return 0;
		out[i] = ch;
	}
	return 1;
}

/* mrz_yymmdd writes the YYMMDD of an ISO date; 0 when it is not one. */
static int
mrz_yymmdd(char *out, const char *iso)
{
	if (strlen(iso) != 10 || iso[4] != '-' || iso[7] != '-')
		return 0;
	memcpy(out, iso + 2, 2);
	memcpy(out + 2, iso + 5, 2);
	memcpy(out + 4, iso + 8, 2);
	for (int i = 0; i < 6; i++)
		if (out[i] < '0' || out[i] > '9')
			return 0;
	return 1;
}

enum sa_err
vds_mrz_td2(const char *code, const char *state, const struct vds_claims *c,
	    char out[VDS_MRZ_TD2_LEN + 1])
{
	char names[2 * VDS_NAME_MAX + 3];
	char *l2 = out + TD2_LINE;

	if (code == NULL || state == NULL || c == NULL ||
	    strlen(c->given_name) + strlen(c->family_name) + 2 > TD2_LINE - 5 ||
	    c->document[0] == '\0')
		return SA_ERR_VALIDATION;
	snprintf(names, sizeof(names), "%s<<%s", c->family_name, c->given_name);
	/* Line 1: code, issuing state, SURNAME<<GIVEN<NAMES. */
	if (!mrz_field(out, 2, code) || !mrz_field(out + 2, 3, state) ||
	    !mrz_field(out + 5, TD2_LINE - 5, names))
		return SA_ERR_VALIDATION;
	/* Line 2: number, nationality, birth date, sex (unspecified),
	 * expiry, optional data, each number with its check digit, then
	 * the composite check digit. */
	if (!mrz_field(l2, 9, c->document) ||
	    !mrz_field(l2 + 10, 3, c->nationality) ||
	    !mrz_yymmdd(l2 + 13, c->birth_date) ||
	    !mrz_yymmdd(l2 + 21, c->expiry))
		return SA_ERR_VALIDATION;
	l2[9] = mrz_check(l2, 9);
	l2[19] = mrz_check(l2 + 13, 6);
	l2[20] = '<';
	l2[27] = mrz_check(l2 + 21, 6);
	memset(l2 + 28, '<', 7);
	{
		char comp[31];

		memcpy(comp, l2, 10);
		memcpy(comp + 10, l2 + 13, 7);
		memcpy(comp + 17, l2 + 21, 14);
		l2[35] = mrz_check(comp, 31);
	}
	out[2 * TD2_LINE] = '\0';
	return SA_OK;
}

/* put_date writes YYYY-MM-DD as the 3-byte MMDDYYYY number of the
 * header; 0 when the text is not such a date. */
static int
put_date(unsigned char *b, const char *iso)
{
	unsigned long y, m, d, v;

	if (iso == NULL || strlen(iso) != 10 || iso[4] != '-' ||
	    iso[7] != '-' || sscanf(iso, "%4lu-%2lu-%2lu", &y, &m, &d) != 3 ||
	    y < 1900 || m < 1 || m > 12 || d < 1 || d > 31)
		return 0;
	v = m * 1000000 + d * 10000 + y;
	b[0] = (unsigned char)(v >> 16);
	b[1] = (unsigned char)(v >> 8);
	b[2] = (unsigned char)v;
	return 1;
}

/* all_in tells whether s is 1 to max characters, each in set. */
static int
all_in(const char *s, size_t max, const char *set)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n >= 1 && n <= max && strspn(s, set) == n;
}

enum sa_err
vds_encode_icao(const struct vds_icao_spec *p, EVP_PKEY *signer,
		unsigned char **out, size_t *outlen)
{
	static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	unsigned char *b = NULL;
	char country[4], signer_len[24];
	size_t mlen, reflen, pos = 0, cap, w = 0;
	enum sa_err rc = SA_ERR_VALIDATION;

	if (p == NULL || !all_in(p->country, 3, upper) ||
	    !all_in(p->signer, 4, alnum) || strlen(p->signer) != 4 ||
	    !all_in(p->cert_ref, VDS_ID_MAX, "0123456789ABCDEF") ||
	    p->mrz == NULL || p->feature_ref > 0xff ||
	    p->type_category > 0xff || p->mrz_tag >= 0xff ||
	    !vds_key_is_p256(signer))
		return rc;
	mlen = c40_encoded_len(strlen(p->mrz));
	reflen = strlen(p->cert_ref);
	/* The largest header and a two-byte-length feature. */
	cap = 2 + 2 + 4 + c40_encoded_len(reflen) + 8 + 4 + mlen + 2 +
	      VDS_ISO_SIG_LEN;
	if (mlen > 0xffff || cap > VDS_MAX_BYTES)
		return rc;
	if ((b = malloc(cap)) == NULL)
		return SA_ERR_NOMEM;
	b[pos++] = 0xdc;
	b[pos++] = 0x03; /* ICAO version 4 */
	snprintf(country, sizeof(country), "%-3s", p->country);
	snprintf(signer_len, sizeof(signer_len), "%s%02zX", p->signer, reflen);
	if (c40_encode(country, 3, b + pos, 2, &w) != SA_OK)
		goto out;
	pos += w;
	if (c40_encode(signer_len, 6, b + pos, 4, &w) != SA_OK)
		goto out;
	pos += w;
	if (c40_encode(p->cert_ref, reflen, b + pos, cap - pos, &w) != SA_OK)
		goto out;
	pos += w;
	if (!put_date(b + pos, p->issue_date) ||
	    !put_date(b + pos + 3, p->sig_date))
		goto out;
	pos += 6;
	b[pos++] = (unsigned char)p->feature_ref;
	b[pos++] = (unsigned char)p->type_category;
	b[pos++] = (unsigned char)p->mrz_tag;
	if (mlen >= 0x100) {
		b[pos++] = 0x82;
		b[pos++] = (unsigned char)(mlen >> 8);
	} else if (mlen >= 0x80) {
		b[pos++] = 0x81;
	}
	b[pos++] = (unsigned char)mlen;
	if (c40_encode(p->mrz, strlen(p->mrz), b + pos, cap - pos, &w) != SA_OK)
		goto out;
	pos += w;
	b[pos] = 0xff;
	b[pos + 1] = VDS_ISO_SIG_LEN;
	/* Signed: header || message zone, everything before the 0xFF. */
	if ((rc = vds_sign_p256(signer, EVP_sha256(), b, pos, b + pos + 2)) !=
	    SA_OK)
		goto out;
	*out = b;
	*outlen = pos + 2 + VDS_ISO_SIG_LEN;
	b = NULL;
	rc = SA_OK;
out:
	if (b != NULL)
		OPENSSL_cleanse(b, cap);
	free(b);
	return rc;
}
