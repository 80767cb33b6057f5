/*
 * usagelist.h - the UsageList X.509 extension of seal signing certificates.
 *
 * A signing certificate says which seal manifests it may sign with this
 * non-critical extension (docs/trust.md):
 *
 *   id-sealauth-usageList OBJECT IDENTIFIER ::=
 *       { joint-iso-itu-t(2) uuid(25) 149368700271549970023702054329857876804 }
 *   UsageList ::= SEQUENCE SIZE (1..64) OF OCTET STRING (SIZE (3))
 *
 * Each OCTET STRING is a manifest id as its 3 bytes (manifest "0A0001" is
 * 0x0A 0x00 0x01). The decoder accepts strict DER only.
 */
#ifndef SEALAUTH_USAGELIST_H
#define SEALAUTH_USAGELIST_H

#include <stddef.h>

#include <openssl/x509.h>

#include "core/errors.h"

#define USAGELIST_OID "2.25.149368700271549970023702054329857876804"
#define USAGELIST_MAX 64

/*
 * usagelist_decode parses n bytes of DER (the extension's extnValue
 * contents) into ids (USAGELIST_MAX entries of 3 bytes) and *count. Only
 * minimal-length DER of exactly the ASN.1 above with no trailing bytes is
 * accepted; anything else is SA_ERR_TRUST_USAGE. *count is set only on
 * success.
 */
enum sa_err usagelist_decode(const unsigned char *der, size_t n,
			     unsigned char ids[USAGELIST_MAX][3],
			     size_t *count);

/*
 * usagelist_encode writes the DER of n (1..USAGELIST_MAX) manifest ids into
 * a new buffer (*out, caller frees) of *outlen bytes. SA_ERR_VALIDATION for
 * a count out of range.
 */
enum sa_err usagelist_encode(const unsigned char (*ids)[3], size_t n,
			     unsigned char **out, size_t *outlen);

/*
 * usagelist_parse_manifest turns 6 hex digits ("0A0001") into 3 bytes.
 * SA_ERR_VALIDATION for anything else.
 */
enum sa_err usagelist_parse_manifest(const char *hex, unsigned char id[3]);

/*
 * usagelist_from_cert reads the UsageList extension of cert. SA_ERR_NOT_FOUND
 * when the certificate has none; SA_ERR_TRUST_USAGE when it is malformed or
 * present twice. *count is set only on success.
 */
enum sa_err usagelist_from_cert(X509 *cert, unsigned char ids[USAGELIST_MAX][3],
				size_t *count);

/*
 * usagelist_cert_allows tells whether cert carries a well-formed UsageList
 * naming the manifest (6 hex digits): SA_OK if so, SA_ERR_NOT_FOUND when the
 * extension is absent, SA_ERR_TRUST_USAGE when it is malformed or does not
 * list the manifest.
 */
enum sa_err usagelist_cert_allows(X509 *cert, const char *manifest_hex);

/*
 * usagelist_add_to_cert adds a non-critical UsageList of n ids to cert
 * (before it is signed). The caller keeps cert.
 */
enum sa_err usagelist_add_to_cert(X509 *cert, const unsigned char (*ids)[3],
				  size_t n);

#endif
