/*
 * xmldsig.h - safe XML parsing and enveloped XML-DSig / XAdES signatures.
 *
 * This module owns libxml2 and xmlsec (with its OpenSSL back end, linked at
 * build time). It parses untrusted XML without network access, DTDs or
 * entity expansion, verifies an enveloped signature against pinned public
 * keys only (never a key carried in ds:KeyInfo), and signs documents we
 * publish ourselves. See docs/trust-lists.md for every decision.
 */
#ifndef SEALAUTH_XMLDSIG_H
#define SEALAUTH_XMLDSIG_H

#include <stddef.h>

#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/errors.h"

/* Largest XML document we parse, checked before libxml2 sees a byte. */
#define XMLDSIG_MAX_DOC (4u * 1024 * 1024)

/* The outcome of a signature check. */
enum xmldsig_status {
	XMLDSIG_VALID = 0, /* one pinned key verified every reference */
	XMLDSIG_BAD_SIGNATURE =
	    1, /* acceptable shape, but no pinned key verifies */
	XMLDSIG_NO_SIGNATURE = 2, /* the document carries no ds:Signature */
	XMLDSIG_MALFORMED = 3, /* document or signature outside our profile */
};

/*
 * The result of xmldsig_verify. key_index is the index of the pinned key
 * that verified (-1 otherwise). signer is the first certificate of the
 * signature's ds:KeyInfo/ds:X509Data when it parses, for information only: it
 * played no part in the decision. The result owns signer; release it with
 * xmldsig_result_clear.
 */
struct xmldsig_result {
	enum xmldsig_status status;
	int key_index;
	X509 *signer;
	char reason[200];
};

/*
 * xmldsig_global_init initialises libxml2, xmlsec and the xmlsec OpenSSL
 * back end exactly once per process (pthread_once), so it is safe to call
 * from any thread, any number of times; every other function here calls it.
 * It returns SA_ERR_INTERNAL if a library failed to initialise (then every
 * later call fails the same way). Call it from the main thread before other
 * threads start when possible, as libxml2 recommends; nothing is torn down
 * at exit.
 */
enum sa_err xmldsig_global_init(void);

/*
 * xmldsig_parse parses n bytes of untrusted XML into a new document (caller
 * frees with xmlFreeDoc). It refuses documents over XMLDSIG_MAX_DOC, any
 * DOCTYPE, and anything that is not well-formed; it never touches the
 * network, loads no DTD and substitutes no entities. A leading UTF-8 byte
 * order mark is accepted. On failure it returns SA_ERR_TRUST_LIST (or
 * SA_ERR_NOMEM) and writes a reason into why (if whylen > 0).
 */
enum sa_err xmldsig_parse(const unsigned char *xml, size_t n, xmlDocPtr *out,
			  char *why, size_t whylen);

/*
 * xmldsig_verify checks the enveloped signature of doc against the npinned
 * public keys in pinned, trying each in turn. The document must carry
 * exactly one ds:Signature, a direct child of the root element; its
 * SignedInfo must use an allowed canonicalisation (c14n, c14n 1.1,
 * exclusive c14n) and signature method (RSA or ECDSA with SHA-256/384/512);
 * it must hold exactly one reference with URI="" whose transforms are
 * enveloped-signature optionally followed by one canonicalisation, and any
 * other reference must point by Id at the xades:SignedProperties inside this
 * signature's ds:Object. Digests must be SHA-256/384/512. Every reference
 * must verify.
 *
 * res is always filled (status, reason, key index, informational signer
 * certificate); the caller clears it with xmldsig_result_clear. The return
 * value is SA_OK only for XMLDSIG_VALID, SA_ERR_TRUST_LIST_SIG for a bad or
 * missing signature, SA_ERR_TRUST_LIST for a malformed one, and
 * SA_ERR_NOMEM / SA_ERR_INTERNAL for local failures. doc is not changed
 * except that the SignedProperties Id is registered as an ID attribute.
 */
enum sa_err xmldsig_verify(xmlDocPtr doc, EVP_PKEY *const *pinned,
			   size_t npinned, struct xmldsig_result *res);

/*
 * xmldsig_verify_element checks the enveloped signature of doc's root
 * element by reference, as SAML protocol messages carry it: the root's
 * id_attr attribute (SAML: "ID") must be a valid NCName that no other
 * element of the document carries as an Id, ID, id or xml:id (so "#id"
 * resolves to the root and nothing else); the document must hold exactly
 * one ds:Signature, a direct child of the root, whose only reference is
 * URI="#id" with the enveloped-signature transform optionally followed by
 * one canonicalisation. Algorithms, pinned keys and the result are as for
 * xmldsig_verify, and so are the return values. The id attribute is
 * registered as an ID of doc.
 */
enum sa_err xmldsig_verify_element(xmlDocPtr doc, const char *id_attr,
				   EVP_PKEY *const *pinned, size_t npinned,
				   struct xmldsig_result *res);

/* xmldsig_result_clear frees what a result owns and resets it. */
void xmldsig_result_clear(struct xmldsig_result *res);

/*
 * xmldsig_sign appends an enveloped signature as the last child of doc's
 * root element: exclusive c14n, ECDSA-SHA256 for EC keys or RSA-SHA256 for
 * RSA keys, one Reference URI="" with the enveloped-signature and exclusive
 * c14n transforms and a SHA-256 digest, and a ds:KeyInfo carrying cert (may
 * be NULL to omit KeyInfo). The document must not be signed already. The
 * caller keeps ownership of key and cert. On failure the document is left
 * without the partial signature.
 */
enum sa_err xmldsig_sign(xmlDocPtr doc, EVP_PKEY *key, X509 *cert);

/*
 * xmldsig_sign_dump signs doc as xmldsig_sign does and serialises it as
 * UTF-8 into *out (NUL-terminated, *outlen bytes without the NUL; the
 * caller frees). A result over XMLDSIG_MAX_DOC, which no reader would
 * accept, is refused with SA_ERR_TRUST_LIST. The caller keeps doc.
 */
enum sa_err xmldsig_sign_dump(xmlDocPtr doc, EVP_PKEY *key, X509 *cert,
			      unsigned char **out, size_t *outlen);

/*
 * xmldsig_sign_element signs the element elem of doc by reference, as SAML
 * assertions and messages are signed: its id_attr attribute (SAML: "ID",
 * an NCName unique in doc) is registered as an ID, and a ds:Signature with
 * one Reference URI="#id" (enveloped-signature then exclusive c14n, SHA-256)
 * is inserted right after the child after (SAML: the Issuer), or as elem's
 * first child when after is NULL. Algorithms and KeyInfo as for
 * xmldsig_sign. elem must not carry a signature already (SA_ERR_CONFLICT);
 * a signature deeper inside it (a signed assertion in a response) is
 * covered by this one.
 */
enum sa_err xmldsig_sign_element(xmlDocPtr doc, xmlNodePtr elem,
				 const char *id_attr, xmlNodePtr after,
				 EVP_PKEY *key, X509 *cert);

/* xmldsig_is_elem tells whether node is the element {ns}name;
 * xmldsig_first_elem and xmldsig_next_elem walk element children (NULL at
 * the end). For every reader of parsed documents. */
int xmldsig_is_elem(const xmlNode *node, const char *ns, const char *name);
xmlNodePtr xmldsig_first_elem(xmlNodePtr node);
xmlNodePtr xmldsig_next_elem(xmlNodePtr node);

/*
 * xmldsig_b64_decode decodes the base64 text of an XML element (already
 * unescaped by the parser): every XML whitespace character, CR included, is
 * skipped. Input over maxin characters is refused. The caller frees *out.
 */
enum sa_err xmldsig_b64_decode(const char *text, size_t maxin,
			       unsigned char **out, size_t *outlen);

#endif
