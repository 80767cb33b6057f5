/*
 * xmlenc.h - XML Encryption of one element to a recipient's certificate
 * (W3C XML Encryption 1.1 with xmlsec1 1.2 and its OpenSSL back end), as a
 * SAML EncryptedAssertion carries it.
 *
 * The content is encrypted with a fresh AES key (GCM by default, CBC only
 * when asked for); that key travels in an xenc:EncryptedKey, encrypted to
 * the recipient's RSA key with RSA-OAEP (MGF1 with SHA-1, the algorithm
 * every SAML SP decrypts). xmlsec1 1.2 has no key agreement, so an EC
 * certificate cannot receive: xmlenc_cert_problem says so.
 */
#ifndef SEALAUTH_XMLENC_H
#define SEALAUTH_XMLENC_H

#include <libxml/tree.h>
#include <openssl/x509.h>

#include "core/errors.h"

#define XMLENC_NS "http://www.w3.org/2001/04/xmlenc#"

enum xmlenc_cipher {
	XMLENC_AES256_GCM = 1, /* xmlenc11#aes256-gcm (the default) */
	XMLENC_AES128_GCM = 2, /* xmlenc11#aes128-gcm */
	XMLENC_AES256_CBC = 3, /* xmlenc#aes256-cbc, for SPs without GCM */
	XMLENC_AES128_CBC = 4, /* xmlenc#aes128-cbc */
};

/*
 * xmlenc_cert_problem tells why cert cannot receive an encrypted key, or
 * returns NULL when it can (an RSA key of at least 2048 bits). The text
 * names the key type and what to use instead.
 */
const char *xmlenc_cert_problem(X509 *cert);

/*
 * xmlenc_encrypt_element replaces elem (with everything inside it) by an
 * xenc:EncryptedData of Type Element: the canonical bytes of elem encrypted
 * with cipher under a fresh key, whose ds:KeyInfo holds the xenc:EncryptedKey
 * (RSA-OAEP to cert's key, cert in its ds:X509Data). elem must have a parent
 * in doc; it is freed. *out receives the EncryptedData node. The content key
 * is wiped. SA_ERR_CONFIG when cert cannot receive (xmlenc_cert_problem),
 * SA_ERR_INTERNAL when xmlsec fails (elem is then left in place).
 */
enum sa_err xmlenc_encrypt_element(xmlDocPtr doc, xmlNodePtr elem, X509 *cert,
				   enum xmlenc_cipher cipher, xmlNodePtr *out);

#endif
