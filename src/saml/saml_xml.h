/*
 * saml_xml.h - what every SAML file shares: namespaces and URIs, the safe
 * parse of a message (trust/xmldsig.c's parser plus SAML's own size and
 * depth limits), element walking, xs:dateTime, message ids and the raw
 * DEFLATE of the HTTP-Redirect binding.
 */
#ifndef SEALAUTH_SAML_XML_H
#define SEALAUTH_SAML_XML_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "core/errors.h"

#define SAML_NS_ASSERTION "urn:oasis:names:tc:SAML:2.0:assertion"
#define SAML_NS_PROTOCOL "urn:oasis:names:tc:SAML:2.0:protocol"
#define SAML_NS_METADATA "urn:oasis:names:tc:SAML:2.0:metadata"
#define SAML_NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define SAML_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define SAML_NS_XS "http://www.w3.org/2001/XMLSchema"

#define SAML_BINDING_URI_REDIRECT                                              \
	"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
#define SAML_BINDING_URI_POST "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

#define SAML_NAMEID_URI_PERSISTENT                                             \
	"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
#define SAML_NAMEID_URI_TRANSIENT                                              \
	"urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
#define SAML_NAMEID_URI_UNSPECIFIED                                            \
	"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
#define SAML_NAMEID_URI_ENTITY                                                 \
	"urn:oasis:names:tc:SAML:2.0:nameid-format:entity"

#define SAML_NF_URI_URI "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#define SAML_NF_URI_BASIC "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
#define SAML_NF_URI_UNSPECIFIED                                                \
	"urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"

#define SAML_SIGALG_ECDSA_SHA256                                               \
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
#define SAML_SIGALG_RSA_SHA256                                                 \
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

/* Status codes (SAML core §3.2.2.2). */
#define SAML_STATUS_PREFIX "urn:oasis:names:tc:SAML:2.0:status:"
#define SAML_STATUS_SUCCESS SAML_STATUS_PREFIX "Success"
#define SAML_STATUS_REQUESTER SAML_STATUS_PREFIX "Requester"
#define SAML_STATUS_RESPONDER SAML_STATUS_PREFIX "Responder"
#define SAML_STATUS_VERSION SAML_STATUS_PREFIX "VersionMismatch"
#define SAML_STATUS_AUTHN_FAILED SAML_STATUS_PREFIX "AuthnFailed"
#define SAML_STATUS_NAMEID_POLICY SAML_STATUS_PREFIX "InvalidNameIDPolicy"
#define SAML_STATUS_NO_AUTHN_CONTEXT SAML_STATUS_PREFIX "NoAuthnContext"
#define SAML_STATUS_NO_PASSIVE SAML_STATUS_PREFIX "NoPassive"
#define SAML_STATUS_DENIED SAML_STATUS_PREFIX "RequestDenied"
#define SAML_STATUS_UNSUPPORTED SAML_STATUS_PREFIX "RequestUnsupported"
#define SAML_STATUS_PARTIAL_LOGOUT SAML_STATUS_PREFIX "PartialLogout"
#define SAML_STATUS_UNKNOWN_PRINCIPAL SAML_STATUS_PREFIX "UnknownPrincipal"

/* The authentication context we assert: a phone-held key approved with a
 * biometric check, against a code compared with the browser. */
#define SAML_AC_MOBILE_TWO_FACTOR                                              \
	"urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"

#define SAML_MSG_MAX (256u * 1024) /* bytes of one decoded message */
#define SAML_DEPTH_MAX 32	   /* element nesting of one message */
#define SAML_ID_LEN 33		   /* "_" + 32 hex digits */
#define SAML_ID_MAX 256		   /* bytes of an ID we accept */
#define SAML_TIME_LEN 20	   /* "YYYY-MM-DDTHH:MM:SSZ" */

/*
 * saml_xml_parse parses n bytes of an untrusted message into a new document
 * (caller frees): at most SAML_MSG_MAX bytes, no DOCTYPE, no entities, no
 * network (xmldsig_parse), and no element deeper than SAML_DEPTH_MAX.
 * SA_ERR_SAML_REQUEST with why otherwise.
 */
enum sa_err saml_xml_parse(const unsigned char *xml, size_t n, xmlDocPtr *out,
			   char *why, size_t whylen);

/* saml_is tells whether node is the element {ns}name. */
int saml_is(const xmlNode *node, const char *ns, const char *name);
/* saml_first_elem / saml_next_elem walk element children. */
xmlNodePtr saml_first_elem(xmlNodePtr node);
xmlNodePtr saml_next_elem(xmlNodePtr node);
/* saml_child returns the first child element {ns}name, or NULL. */
xmlNodePtr saml_child(xmlNodePtr node, const char *ns, const char *name);
/* saml_count_children counts child elements {ns}name. */
size_t saml_count_children(xmlNodePtr node, const char *ns, const char *name);

/*
 * saml_attr copies attribute name (no namespace) of node into out (at most
 * outlen - 1 bytes). It returns 1 when present and it fit, 0 when absent,
 * -1 when longer.
 */
int saml_attr(xmlNodePtr node, const char *name, char *out, size_t outlen);

/* saml_text copies the text of node with surrounding XML whitespace
 * trimmed, like saml_attr. */
int saml_text(xmlNodePtr node, char *out, size_t outlen);

/* saml_new_id writes a fresh message or assertion ID ("_" + 32 hex). */
enum sa_err saml_new_id(char out[SAML_ID_LEN + 1]);

/* saml_time_format writes t as "YYYY-MM-DDTHH:MM:SSZ". */
void saml_time_format(int64_t t, char out[SAML_TIME_LEN + 1]);

/*
 * saml_time_parse reads an xs:dateTime in UTC ("...Z", optional fraction of
 * a second, which is dropped) into unix seconds; -1 when it is not one.
 */
int saml_time_parse(const char *s, int64_t *out);

/* saml_inflate undoes the raw DEFLATE of HTTP-Redirect, refusing output
 * over max bytes (a deflate bomb). The caller frees *out. */
enum sa_err saml_inflate(const unsigned char *in, size_t n, size_t max,
			 unsigned char **out, size_t *outlen);
/* saml_deflate compresses with raw DEFLATE; the caller frees *out. */
enum sa_err saml_deflate(const unsigned char *in, size_t n, unsigned char **out,
			 size_t *outlen);

/* saml_url_escape percent-encodes s for a query string (caller frees). */
char *saml_url_escape(const char *s);

/*
 * saml_doc_dump serialises doc without the XML declaration's reformatting
 * (no indentation, so signed bytes stay as they were signed) into a new
 * NUL-terminated string (caller frees with free()).
 */
enum sa_err saml_doc_dump(xmlDocPtr doc, char **out, size_t *outlen);

#endif
