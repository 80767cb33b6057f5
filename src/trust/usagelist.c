/*
 * usagelist.c - strict DER for the UsageList extension (usagelist.h).
 *
 * The structure is small and fixed, so it is hand-rolled rather than
 * described with ASN1 templates: a template decoder would accept BER
 * leniencies (indefinite lengths, non-minimal lengths) that strict DER
 * forbids, and we want every byte accounted for.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "trust/usagelist.h"
#include "core/util.h"

#define TAG_SEQUENCE 0x30
#define TAG_OCTET_STRING 0x04

static pthread_once_t oid_once = PTHREAD_ONCE_INIT;
static ASN1_OBJECT *oid_obj;

static void
oid_init(void)
{
	oid_obj = OBJ_txt2obj(USAGELIST_OID, 1);
}

/* usagelist_oid returns the extension's OID object (shared, never freed). */
static const ASN1_OBJECT *
usagelist_oid(void)
{
	pthread_once(&oid_once, oid_init);
	return oid_obj;
}

/*
 * read_len reads a DER length at der[*pos] (n bytes in all). Only the
 * minimal encoding is accepted: short form below 128, long form with one or
 * two bytes and no leading zero otherwise. The content must fit in n.
 */
static int
read_len(const unsigned char *der, size_t n, size_t *pos, size_t *len)
{
	size_t p = *pos, l;

	if (p >= n)
		return -1;
	if (der[p] < 0x80) {
		l = der[p++];
	} else if (der[p] == 0x81) {
		if (p + 1 >= n || der[p + 1] < 0x80)
			return -1;
		l = der[p + 1];
		p += 2;
	} else if (der[p] == 0x82) {
		if (p + 2 >= n || der[p + 1] == 0)
			return -1;
		l = ((size_t)der[p + 1] << 8) | der[p + 2];
		p += 3;
	} else {
		/* longer than 65535 bytes cannot be a list of 64 entries */
		return -1;
	}
	if (l > n - p)
		return -1;
	*pos = p;
	*len = l;
	return 0;
}

enum sa_err
usagelist_decode(const unsigned char *der, size_t n,
		 unsigned char ids[USAGELIST_MAX][3], size_t *count)
{
	size_t pos = 0, len, end, k = 0;

	if (der == NULL || n < 2 || der[0] != TAG_SEQUENCE)
		return SA_ERR_TRUST_USAGE;
	pos = 1;
	if (read_len(der, n, &pos, &len) != 0 || pos + len != n)
		return SA_ERR_TRUST_USAGE;
	end = n;
	while (pos < end) {
		/* each entry is exactly 04 03 xx xx xx */
		if (k >= USAGELIST_MAX || end - pos < 5 ||
		    der[pos] != TAG_OCTET_STRING || der[pos + 1] != 3)
			return SA_ERR_TRUST_USAGE;
		memcpy(ids[k++], der + pos + 2, 3);
		pos += 5;
	}
	if (k == 0) /* SIZE (1..64) */
		return SA_ERR_TRUST_USAGE;
	*count = k;
	return SA_OK;
}

enum sa_err
usagelist_encode(const unsigned char (*ids)[3], size_t n, unsigned char **out,
		 size_t *outlen)
{
	size_t body, hdr, total;
	unsigned char *der, *p;

	if (n == 0 || n > USAGELIST_MAX)
		return SA_ERR_VALIDATION;
	body = 5 * n;
	hdr = body < 0x80 ? 2 : 3; /* at most 320 bytes: 0x81 or short */
	if (body > 0xff)
		hdr = 4;
	total = hdr + body;
	der = malloc(total);
	if (der == NULL)
		return SA_ERR_NOMEM;
	p = der;
	*p++ = TAG_SEQUENCE;
	if (body < 0x80) {
		*p++ = (unsigned char)body;
	} else if (body <= 0xff) {
		*p++ = 0x81;
		*p++ = (unsigned char)body;
	} else {
		*p++ = 0x82;
		*p++ = (unsigned char)(body >> 8);
		*p++ = (unsigned char)body;
	}
	for (size_t i = 0; i < n; i++) {
		*p++ = TAG_OCTET_STRING;
		*p++ = 3;
		memcpy(p, ids[i], 3);
		p += 3;
	}
	*out = der;
	*outlen = total;
	return SA_OK;
}

enum sa_err
usagelist_parse_manifest(const char *hex, unsigned char id[3])
{
	unsigned char tmp[3];

	if (hex == NULL || strlen(hex) != 6)
		return SA_ERR_VALIDATION;
	for (int i = 0; i < 3; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return SA_ERR_VALIDATION;
		tmp[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(id, tmp, 3);
	return SA_OK;
}

enum sa_err
usagelist_from_cert(X509 *cert, unsigned char ids[USAGELIST_MAX][3],
		    size_t *count)
{
	const ASN1_OBJECT *oid = usagelist_oid();
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *val;
	int idx;

	if (oid == NULL)
		return SA_ERR_INTERNAL;
	idx = X509_get_ext_by_OBJ(cert, oid, -1);
	if (idx < 0)
		return SA_ERR_NOT_FOUND;
	/* RFC 5280 4.2: an extension appears at most once */
	if (X509_get_ext_by_OBJ(cert, oid, idx) >= 0)
		return SA_ERR_TRUST_USAGE;
	ext = X509_get_ext(cert, idx);
	val = ext != NULL ? X509_EXTENSION_get_data(ext) : NULL;
	if (val == NULL)
		return SA_ERR_TRUST_USAGE;
	return usagelist_decode(ASN1_STRING_get0_data(val),
				(size_t)ASN1_STRING_length(val), ids, count);
}

enum sa_err
usagelist_cert_allows(X509 *cert, const char *manifest_hex)
{
	unsigned char ids[USAGELIST_MAX][3], want[3];
	size_t n = 0;
	enum sa_err rc;

	if (usagelist_parse_manifest(manifest_hex, want) != SA_OK)
		return SA_ERR_TRUST_USAGE;
	rc = usagelist_from_cert(cert, ids, &n);
	if (rc != SA_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (memcmp(ids[i], want, 3) == 0)
			return SA_OK;
	return SA_ERR_TRUST_USAGE;
}

enum sa_err
usagelist_add_to_cert(X509 *cert, const unsigned char (*ids)[3], size_t n)
{
	const ASN1_OBJECT *oid = usagelist_oid();
	unsigned char *der = NULL;
	size_t len = 0;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;
	enum sa_err rc;

	if (oid == NULL)
		return SA_ERR_INTERNAL;
	rc = usagelist_encode(ids, n, &der, &len);
	if (rc != SA_OK)
		return rc;
	rc = SA_ERR_NOMEM;
	os = ASN1_OCTET_STRING_new();
	if (os == NULL || !ASN1_OCTET_STRING_set(os, der, (int)len))
		goto out;
	/* non-critical: OpenSSL path validation refuses unknown critical
	 * extensions, and relying parties other than ours may ignore it */
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		goto out;
	rc = SA_OK;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	free(der);
	return rc;
}
