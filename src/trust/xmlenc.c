/*
 * xmlenc.c - XML Encryption of one element (xmlenc.h) with xmlsec1 1.2.
 *
 * Two xmlsec encryption contexts, each with the key set by us so xmlsec
 * never looks one up: the first encrypts the element with a fresh AES key
 * into an EncryptedData template (which takes the element's place), the
 * second encrypts that AES key with RSA-OAEP into an EncryptedKey placed in
 * the EncryptedData's KeyInfo. The certificate goes in last, for the
 * recipient to see which of its keys to use.
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/keys.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmlenc.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/openssl/app.h>
#include <xmlsec/openssl/crypto.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "trust/xmldsig.h"
#include "trust/xmlenc.h"
#include "trust/xmlsec_int.h"

#define AES_KEY_MAX 32

const char *
xmlenc_cert_problem(X509 *cert)
{
	EVP_PKEY *k = cert != NULL ? X509_get0_pubkey(cert) : NULL;

	if (k == NULL)
		return "the certificate carries no usable public key";
	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(k) < 2048)
			return "the RSA key is shorter than 2048 bits";
		return NULL;
	case EVP_PKEY_EC:
		return "an EC key needs ECDH-ES key agreement, which the "
		       "XML security library of this build (xmlsec1 1.2) "
		       "does not offer; give an RSA (2048 bits or more) "
		       "encryption certificate";
	default:
		return "only RSA keys (2048 bits or more) can receive an "
		       "encrypted assertion";
	}
}

/* cipher_of gives the xmlsec transform and key length of a cipher. */
static xmlSecTransformId
cipher_of(enum xmlenc_cipher cipher, size_t *keylen)
{
	switch (cipher) {
	case XMLENC_AES128_GCM:
		*keylen = 16;
		return xmlSecOpenSSLTransformAes128GcmId;
	case XMLENC_AES256_CBC:
		*keylen = 32;
		return xmlSecOpenSSLTransformAes256CbcId;
	case XMLENC_AES128_CBC:
		*keylen = 16;
		return xmlSecOpenSSLTransformAes128CbcId;
	case XMLENC_AES256_GCM:
	default:
		*keylen = 32;
		return xmlSecOpenSSLTransformAes256GcmId;
	}
}

/* aes_key wraps raw key bytes in a new xmlsec session key (caller
 * destroys); xmlsec copies the bytes. */
static xmlSecKeyPtr
aes_key(const unsigned char *raw, size_t n)
{
	xmlSecKeyDataPtr data = xmlSecKeyDataCreate(xmlSecOpenSSLKeyDataAesId);
	xmlSecKeyPtr key = data != NULL ? xmlSecKeyCreate() : NULL;

	if (key != NULL &&
	    xmlSecOpenSSLKeyDataAesSet(data, raw, (xmlSecSize)n) == 0 &&
	    xmlSecKeySetValue(key, data) == 0)
		return key; /* the key owns data now */
	if (key != NULL)
		xmlSecKeyDestroy(key);
	if (data != NULL)
		xmlSecKeyDataDestroy(data);
	return NULL;
}

/* add_cert puts cert into a new ds:X509Data of the KeyInfo ki. */
static enum sa_err
add_cert(xmlNodePtr ki, X509 *cert)
{
	unsigned char *der = NULL;
	char *b64;
	int derlen = i2d_X509(cert, &der);
	xmlNodePtr xd, xc;

	if (derlen <= 0)
		return SA_ERR_INTERNAL;
	b64 = b64_encode(der, (size_t)derlen);
	OPENSSL_free(der);
	if (b64 == NULL)
		return SA_ERR_NOMEM;
	xd = xmlSecTmplKeyInfoAddX509Data(ki);
	xc = xd != NULL ? xmlSecTmplX509DataAddCertificate(xd) : NULL;
	if (xc != NULL)
		xmlNodeSetContent(xc, (const xmlChar *)b64);
	free(b64);
	return xc != NULL ? SA_OK : SA_ERR_NOMEM;
}

/*
 * wrap_key adds to the EncryptedData enc a KeyInfo holding an EncryptedKey:
 * the n bytes of raw encrypted with RSA-OAEP to cert's key.
 */
static enum sa_err
wrap_key(xmlNodePtr enc, X509 *cert, const unsigned char *raw, size_t n)
{
	xmlSecEncCtxPtr ctx = NULL;
	xmlNodePtr ki, ek, eki;
	EVP_PKEY *pub = X509_get0_pubkey(cert);
	enum sa_err rc = SA_ERR_INTERNAL;

	ki = xmlSecTmplEncDataEnsureKeyInfo(enc, NULL);
	ek = ki != NULL
		 ? xmlSecTmplKeyInfoAddEncryptedKey(
		       ki, xmlSecOpenSSLTransformRsaOaepId, NULL, NULL, NULL)
		 : NULL;
	if (ek == NULL || xmlSecTmplEncDataEnsureCipherValue(ek) == NULL)
		goto out;
	ctx = xmlSecEncCtxCreate(NULL);
	if (ctx == NULL || pub == NULL)
		goto out;
	ctx->mode = xmlEncCtxModeEncryptedKey;
	ctx->encKey = xmldsig_key_from_evp(pub);
	if (ctx->encKey == NULL ||
	    xmlSecEncCtxBinaryEncrypt(ctx, ek, raw, (xmlSecSize)n) < 0)
		goto out;
	/* After encrypting, so xmlsec does not try to write it itself. */
	eki = xmlSecTmplEncDataEnsureKeyInfo(ek, NULL);
	rc = eki != NULL ? add_cert(eki, cert) : SA_ERR_NOMEM;
out:
	if (ctx != NULL)
		xmlSecEncCtxDestroy(ctx);
	return rc;
}

enum sa_err
xmlenc_encrypt_element(xmlDocPtr doc, xmlNodePtr elem, X509 *cert,
		       enum xmlenc_cipher cipher, xmlNodePtr *out)
{
	unsigned char raw[AES_KEY_MAX];
	size_t keylen = 0;
	xmlSecTransformId method = cipher_of(cipher, &keylen);
	xmlSecEncCtxPtr ctx = NULL;
	xmlNodePtr tmpl = NULL;
	enum sa_err rc;

	if (xmlenc_cert_problem(cert) != NULL)
		return SA_ERR_CONFIG;
	if ((rc = xmldsig_global_init()) != SA_OK)
		return rc;
	if (elem == NULL || elem->parent == NULL || elem->doc != doc)
		return SA_ERR_INTERNAL;
	if (RAND_bytes(raw, (int)keylen) != 1)
		return SA_ERR_INTERNAL;
	rc = SA_ERR_INTERNAL;
	tmpl = xmlSecTmplEncDataCreate(doc, method, NULL, xmlSecTypeEncElement,
				       NULL, NULL);
	if (tmpl == NULL || xmlSecTmplEncDataEnsureCipherValue(tmpl) == NULL)
		goto out;
	ctx = xmlSecEncCtxCreate(NULL);
	if (ctx == NULL)
		goto out;
	ctx->encKey = aes_key(raw, keylen);
	if (ctx->encKey == NULL)
		goto out;
	/* On success xmlsec puts tmpl where elem was and frees elem. */
	if (xmlSecEncCtxXmlEncrypt(ctx, tmpl, elem) < 0)
		goto out;
	*out = tmpl;
	tmpl = NULL;
	rc = wrap_key(*out, cert, raw, keylen);
	if (rc != SA_OK) {
		/* Never leave content nobody can decrypt in the document. */
		xmlUnlinkNode(*out);
		xmlFreeNode(*out);
		*out = NULL;
	}
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (ctx != NULL)
		xmlSecEncCtxDestroy(ctx);
	if (tmpl != NULL)
		xmlFreeNode(tmpl);
	return rc;
}
