/*
 * certref.c - the certificate reference forms of docs/trust.md: a seal's
 * cert id names its signer by the low bits of the serial number (our
 * profile's 4 hex digits, the BioSeal header's 5) or by the subject
 * common name, as the CA's TSL entry declares.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "trust/certref.h"

static const struct {
	unsigned int bit;
	const char *name;
} forms[] = {
    {CERTREF_SERIAL16, "serial16"},
    {CERTREF_SERIAL20, "serial20"},
    {CERTREF_CN, "cn"},
};

unsigned int
certref_parse(const char *s)
{
	unsigned int set = 0;

	if (s == NULL)
		return 0;
	while (*s != '\0') {
		size_t n = strcspn(s, " "), k;

		if (n == 0) {
			s++;
			continue;
		}
		for (k = 0; k < ARRAY_LEN(forms); k++)
			if (strlen(forms[k].name) == n &&
			    memcmp(forms[k].name, s, n) == 0)
				break;
		if (k == ARRAY_LEN(forms) || (set & forms[k].bit))
			return 0;
		set |= forms[k].bit;
		s += n;
	}
	return set;
}

void
certref_describe(unsigned int set, char *out, size_t outsz)
{
	size_t used = 0;

	if (outsz == 0)
		return;
	out[0] = '\0';
	for (size_t k = 0; k < ARRAY_LEN(forms); k++) {
		int w;

		if (!(set & forms[k].bit))
			continue;
		w = snprintf(out + used, outsz - used, "%s%s",
			     used > 0 ? " " : "", forms[k].name);
		if (w < 0 || (size_t)w >= outsz - used)
			return;
		used += (size_t)w;
	}
}

/* all_of tells whether id is exactly n characters of the set chars. */
static int
all_of(const char *id, size_t n, const char *chars)
{
	return strlen(id) == n && strspn(id, chars) == n;
}

unsigned int
certref_form_of(unsigned int set, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char c40[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

	if (id == NULL)
		return 0;
	if ((set & CERTREF_SERIAL16) && all_of(id, 4, hex))
		return CERTREF_SERIAL16;
	if ((set & CERTREF_SERIAL20) && all_of(id, 5, hex))
		return CERTREF_SERIAL20;
	if ((set & CERTREF_CN) && (all_of(id, 4, c40) || all_of(id, 5, c40)))
		return CERTREF_CN;
	return 0;
}

/* serial_low writes the low ndigits hex digits of x's serial number, in
 * upper case; 0 for a missing or negative serial. */
static int
serial_low(X509 *x, size_t ndigits, char *out, size_t outsz)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	BIGNUM *bn = serial != NULL ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	char *hex = NULL;
	int ok = 0;

	if (bn != NULL && !BN_is_negative(bn) &&
	    (hex = BN_bn2hex(bn)) != NULL && ndigits < outsz) {
		size_t len = strlen(hex);

		/* BN_bn2hex writes "0" for zero and whole bytes otherwise;
		 * pad on the left to ndigits. */
		memset(out, '0', ndigits);
		out[ndigits] = '\0';
		if (len >= ndigits)
			memcpy(out, hex + len - ndigits, ndigits);
		else
			memcpy(out + ndigits - len, hex, len);
		ok = 1;
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return ok;
}

/* cn_equals tells whether x's subject has exactly one common name and it
 * is id. */
static int
cn_equals(X509 *x, const char *id)
{
	const X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	const ASN1_STRING *cn;

	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return 0;
	cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	return cn != NULL && (size_t)ASN1_STRING_length(cn) == strlen(id) &&
	       memcmp(ASN1_STRING_get0_data(cn), id, strlen(id)) == 0;
}

int
certref_matches(unsigned int form, X509 *x, const char *id)
{
	char low[8];

	switch (form) {
	case CERTREF_SERIAL16:
		return serial_low(x, 4, low, sizeof(low)) &&
		       strcmp(low, id) == 0;
	case CERTREF_SERIAL20:
		return serial_low(x, 5, low, sizeof(low)) &&
		       strcmp(low, id) == 0;
	case CERTREF_CN:
		return cn_equals(x, id);
	default:
		return 0;
	}
}
