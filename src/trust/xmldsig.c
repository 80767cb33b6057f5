/*
 * xmldsig.c - safe XML parsing and enveloped XML-DSig / XAdES signatures
 * with libxml2 and xmlsec1 (OpenSSL back end, linked at build time).
 *
 * Verification never takes a key from the document: the signing key of the
 * xmlsec context is set to a pinned key before verification, and xmlsec only
 * consults ds:KeyInfo when no key is set. Before xmlsec runs, the shape of
 * the signature is checked against our profile (one signature, child of the
 * root, whole-document reference, optional XAdES SignedProperties reference,
 * allowed algorithms only); after it runs, every reference must have
 * verified. docs/trust-lists.md explains each rule.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <libxml/xmlerror.h>

#include <xmlsec/xmlsec.h>
#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/keys.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/openssl/app.h>
#include <xmlsec/openssl/crypto.h>
#include <xmlsec/openssl/evp.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "core/util.h"
#include "trust/xmldsig.h"
#include "trust/xmlsec_int.h"

/* The OpenSSL back end is linked in; its pkg-config cflags must be used. */
#if !defined(XMLSEC_CRYPTO_OPENSSL) ||                                         \
    !defined(XMLSEC_NO_CRYPTO_DYNAMIC_LOADING)
#error "compile with the cflags of pkg-config xmlsec1-openssl"
#endif

#define NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define NS_XADES "http://uri.etsi.org/01903/v1.3.2#"

#define ALG_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define ALG_XADES_SP_TYPE "http://uri.etsi.org/01903#SignedProperties"

/* Longest base64 text of one certificate we decode (about 48 KiB DER). */
#define XMLDSIG_MAX_CERT_B64 65536

/* Canonicalisations allowed for SignedInfo and as reference transforms. */
static const char *const c14n_algs[] = {
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
};

/* Signature methods: RSA PKCS#1 v1.5 and ECDSA with SHA-2; no SHA-1, no HMAC.
 */
static const char *const sig_algs[] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
};

/* Reference digests: SHA-2 only. */
static const char *const digest_algs[] = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum sa_err init_rc = SA_ERR_INTERNAL;

/* The last xmlsec error of this thread, for reason strings. */
static __thread char xmlsec_last_error[160];

/*
 * xmlsec_error_cb keeps the last xmlsec error of the calling thread instead
 * of printing it: a refused list is reported through the result, not stderr.
 */
static void
xmlsec_error_cb(const char *file, int line, const char *func,
		const char *errorObject, const char *errorSubject, int reason,
		const char *msg)
{
	const char *rmsg = xmlSecErrorsGetMsg((xmlSecSize)reason);

	snprintf(xmlsec_last_error, sizeof(xmlsec_last_error), "%s: %s%s%s",
		 func != NULL ? func : "xmlsec", rmsg != NULL ? rmsg : "error",
		 msg != NULL ? ": " : "", msg != NULL ? msg : "");
}

static void
init_libraries(void)
{
	xmlInitParser();
	if (xmlSecInit() < 0)
		return;
	if (xmlSecCheckVersion() != 1)
		return;
	/* The crypto engine is linked in: no xmlsec dynamic loading. */
	if (xmlSecOpenSSLAppInit(NULL) < 0)
		return;
	if (xmlSecOpenSSLInit() < 0)
		return;
	xmlSecErrorsSetCallback(xmlsec_error_cb);
	init_rc = SA_OK;
}

enum sa_err
xmldsig_global_init(void)
{
	if (pthread_once(&init_once, init_libraries) != 0)
		return SA_ERR_INTERNAL;
	return init_rc;
}

static void
xml_silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void
xml_silent_structured(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err;
}

/*
 * quiet_thread routes libxml2's error output of the calling thread to
 * nothing. The handlers are per-thread in a threaded libxml2, so this is
 * set by every entry point rather than once.
 */
static void
quiet_thread(void)
{
	xmlSetGenericErrorFunc(NULL, xml_silent);
	xmlSetStructuredErrorFunc(NULL, xml_silent_structured);
	xmlsec_last_error[0] = '\0';
}

/* What the parser hooks record while a document is parsed. */
struct parse_state {
	int saw_doctype;
	int err_line;
	char err[120];
};

/* The SAX hook that stops the parser at a DOCTYPE, before its subset. */
static void
refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *ext_id,
	       const xmlChar *sys_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *ps = ctxt->_private;

	(void)name;
	(void)ext_id;
	(void)sys_id;
	ps->saw_doctype = 1;
	xmlStopParser(ctxt);
}

/* The parser error hook keeps the first error: later ones are fallout. */
static void
first_error(void *ctx, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *ps = ctxt->_private;

	if (ps->err[0] != '\0' || e == NULL || e->level < XML_ERR_ERROR)
		return;
	ps->err_line = e->line;
	snprintf(ps->err, sizeof(ps->err), "%s",
		 e->message != NULL ? e->message : "not well-formed");
	ps->err[strcspn(ps->err, "\r\n")] = '\0';
}

enum sa_err
xmldsig_parse(const unsigned char *xml, size_t n, xmlDocPtr *out, char *why,
	      size_t whylen)
{
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	struct parse_state ps;
	enum sa_err rc;

	memset(&ps, 0, sizeof(ps));
	rc = xmldsig_global_init();
	if (rc != SA_OK) {
		why_set(why, whylen, "XML libraries failed to initialise");
		return rc;
	}
	quiet_thread();
	rc = SA_ERR_TRUST_LIST;
	if (xml == NULL || n == 0) {
		why_set(why, whylen, "empty document");
		goto out;
	}
	if (n > XMLDSIG_MAX_DOC) {
		why_set(why, whylen, "document of %zu bytes exceeds %u", n,
			XMLDSIG_MAX_DOC);
		goto out;
	}
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	/* A DOCTYPE is refused outright: no entities, no DTD, no XXE. */
	ctxt->sax->internalSubset = refuse_doctype;
	ctxt->sax->serror = first_error;
	ctxt->_private = &ps;
	/*
	 * No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD/DTDATTR,
	 * no NOBLANKS (it would change what c14n hashes), NONET for safety.
	 */
	doc = xmlCtxtReadMemory(ctxt, (const char *)xml, (int)n, NULL, NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR |
				    XML_PARSE_NOWARNING);
	if (ps.saw_doctype || (doc != NULL && doc->intSubset != NULL)) {
		why_set(why, whylen, "document has a DOCTYPE");
		goto out;
	}
	if (doc == NULL || !ctxt->wellFormed) {
		why_set(why, whylen, "XML parse error at line %d: %s",
			ps.err_line,
			ps.err[0] != '\0' ? ps.err : "not well-formed");
		goto out;
	}
	if (xmlDocGetRootElement(doc) == NULL) {
		why_set(why, whylen, "document has no root element");
		goto out;
	}
	*out = doc;
	doc = NULL;
	rc = SA_OK;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	if (ctxt != NULL)
		xmlFreeParserCtxt(ctxt);
	return rc;
}

/* is_elem tells whether node is an element with this namespace and name. */
int
xmldsig_is_elem(const xmlNode *node, const char *ns, const char *name)
{
	return node != NULL && node->type == XML_ELEMENT_NODE &&
	       node->ns != NULL &&
	       xmlStrEqual(node->ns->href, (const xmlChar *)ns) &&
	       xmlStrEqual(node->name, (const xmlChar *)name);
}

/* first_elem returns the first element child of node, or NULL. */
xmlNodePtr
xmldsig_first_elem(xmlNodePtr node)
{
	for (xmlNodePtr c = node != NULL ? node->children : NULL; c != NULL;
	     c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

/* next_elem returns the next element sibling of node, or NULL. */
xmlNodePtr
xmldsig_next_elem(xmlNodePtr node)
{
	for (xmlNodePtr c = node != NULL ? node->next : NULL; c != NULL;
	     c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

/*
 * walk_next returns the element after node in document order within the
 * subtree of top, without recursion (depth is attacker-controlled).
 */
static xmlNodePtr
walk_next(xmlNodePtr node, xmlNodePtr top)
{
	xmlNodePtr c = xmldsig_first_elem(node);

	if (c != NULL)
		return c;
	while (node != NULL && node != top) {
		c = xmldsig_next_elem(node);
		if (c != NULL)
			return c;
		node = node->parent;
	}
	return NULL;
}

static int
in_list(const xmlChar *alg, const char *const *list, size_t n)
{
	if (alg == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (xmlStrEqual(alg, (const xmlChar *)list[i]))
			return 1;
	return 0;
}

/* alg_of returns the Algorithm attribute of an element (caller frees). */
static xmlChar *
alg_of(xmlNodePtr node)
{
	return xmlGetNoNsProp(node, (const xmlChar *)"Algorithm");
}

/*
 * method_allowed checks that node is the ds: element name whose Algorithm is
 * one of the n in list. It returns 1, or 0 with the reason in res: missing
 * when node is another element or none, else "what ALG is not allowed".
 */
static int
method_allowed(xmlNodePtr node, const char *name, const char *missing,
	       const char *what, const char *const *list, size_t n,
	       struct xmldsig_result *res)
{
	xmlChar *alg;
	int ok;

	if (!xmldsig_is_elem(node, NS_DSIG, name)) {
		why_set(res->reason, sizeof(res->reason), "%s", missing);
		return 0;
	}
	alg = alg_of(node);
	ok = in_list(alg, list, n);
	if (!ok)
		why_set(res->reason, sizeof(res->reason),
			"%s %.80s is not allowed", what,
			alg != NULL ? (const char *)alg : "(none)");
	xmlFree(alg);
	return ok;
}

/*
 * find_signed_properties returns the xades:SignedProperties element with the
 * given Id inside a ds:Object child of sig, or NULL.
 */
static xmlNodePtr
find_signed_properties(xmlNodePtr sig, const xmlChar *id)
{
	for (xmlNodePtr o = xmldsig_first_elem(sig); o != NULL;
	     o = xmldsig_next_elem(o)) {
		if (!xmldsig_is_elem(o, NS_DSIG, "Object"))
			continue;
		for (xmlNodePtr q = xmldsig_first_elem(o); q != NULL;
		     q = xmldsig_next_elem(q)) {
			if (!xmldsig_is_elem(q, NS_XADES,
					     "QualifyingProperties"))
				continue;
			for (xmlNodePtr p = xmldsig_first_elem(q); p != NULL;
			     p = xmldsig_next_elem(p)) {
				xmlChar *pid;
				int match;

				if (!xmldsig_is_elem(p, NS_XADES,
						     "SignedProperties"))
					continue;
				pid = xmlGetNoNsProp(p, (const xmlChar *)"Id");
				match = pid != NULL && xmlStrEqual(pid, id);
				xmlFree(pid);
				if (match)
					return p;
			}
		}
	}
	return NULL;
}

/*
 * id_is_unique tells whether no element of doc other than owner carries an
 * attribute named Id, ID, id or xml:id with this value. A second element with
 * the same Id is the usual signature-wrapping lever, so it is refused even
 * though libxml2 only registers xml:id by itself.
 */
static int
id_is_unique(xmlDocPtr doc, xmlNodePtr owner, const xmlChar *id)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	for (xmlNodePtr n = root; n != NULL; n = walk_next(n, root)) {
		if (n == owner)
			continue;
		for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
			xmlChar *v;
			int same;

			if (xmlStrcasecmp(a->name, (const xmlChar *)"id") != 0)
				continue;
			v = xmlNodeGetContent((xmlNodePtr)a);
			same = v != NULL && xmlStrEqual(v, id);
			xmlFree(v);
			if (same)
				return 0;
		}
	}
	return 1;
}

/*
 * register_id makes the Id attribute of node an ID of doc so xmlsec resolves
 * "#id" to it. It fails when the value is already an ID of another node.
 */
static int
register_id(xmlDocPtr doc, xmlNodePtr node, const char *attr_name,
	    const xmlChar *id)
{
	xmlAttrPtr attr = xmlHasProp(node, (const xmlChar *)attr_name);
	xmlAttrPtr have;

	if (attr == NULL)
		return 0;
	have = xmlGetID(doc, id);
	if (have != NULL)
		return have == attr;
	return xmlAddID(NULL, doc, id, attr) != NULL;
}

/*
 * check_reference checks one ds:Reference of our signature against the
 * profile. It counts the whole-document and SignedProperties references in
 * *ndoc and *nprops and registers the SignedProperties Id. It returns 0 or
 * -1 with a reason in res.
 */
static int
check_reference(xmlDocPtr doc, xmlNodePtr sig, xmlNodePtr ref,
		const xmlChar *want_uri, int *ndoc, int *nprops,
		struct xmldsig_result *res)
{
	xmlChar *uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
	xmlChar *type = xmlGetNoNsProp(ref, (const xmlChar *)"Type");
	xmlChar *alg = NULL;
	xmlNodePtr c = xmldsig_first_elem(ref), sp;
	int ntrans = 0, ret = -1;
	int is_doc;

	if (uri == NULL) {
		why_set(res->reason, sizeof(res->reason),
			"a Reference has no URI");
		goto out;
	}
	/* The enveloping reference: the document or the signed element. */
	is_doc = xmlStrEqual(uri, want_uri);
	/* A signed element's signature references that element and nothing
	 * else: another Id is the usual wrapping lever. */
	if (!is_doc && want_uri[0] != '\0') {
		why_set(res->reason, sizeof(res->reason),
			"Reference URI \"%.80s\" is not the signed element "
			"\"%.80s\"",
			(const char *)uri, (const char *)want_uri);
		goto out;
	}
	if (xmldsig_is_elem(c, NS_DSIG, "Transforms")) {
		for (xmlNodePtr t = xmldsig_first_elem(c); t != NULL;
		     t = xmldsig_next_elem(t)) {
			if (!xmldsig_is_elem(t, NS_DSIG, "Transform"))
				goto bad_transform;
			xmlFree(alg);
			alg = alg_of(t);
			if (is_doc && ntrans == 0) {
				/* enveloped-signature must come first */
				if (!xmlStrEqual(
					alg, (const xmlChar *)ALG_ENVELOPED))
					goto bad_transform;
			} else if (ntrans > (is_doc ? 1 : 0) ||
				   !in_list(alg, c14n_algs,
					    ARRAY_LEN(c14n_algs))) {
				goto bad_transform;
			}
			ntrans++;
		}
		c = xmldsig_next_elem(c);
	}
	if (is_doc && ntrans == 0) {
		why_set(res->reason, sizeof(res->reason),
			"the URI=\"%.80s\" Reference lacks the "
			"enveloped-signature transform",
			(const char *)uri);
		goto out;
	}
	if (!method_allowed(c, "DigestMethod",
			    "a Reference has no DigestMethod", "digest method",
			    digest_algs, ARRAY_LEN(digest_algs), res))
		goto out;
	if (is_doc) {
		(*ndoc)++;
		ret = 0;
		goto out;
	}
	/* Any other reference must name our own SignedProperties. */
	if (uri[0] != '#' || uri[1] == '\0' ||
	    xmlValidateNCName(uri + 1, 0) != 0) {
		why_set(res->reason, sizeof(res->reason),
			"Reference URI \"%.80s\" is not a same-document Id",
			(const char *)uri);
		goto out;
	}
	if (type != NULL &&
	    !xmlStrEqual(type, (const xmlChar *)ALG_XADES_SP_TYPE)) {
		why_set(res->reason, sizeof(res->reason),
			"Reference type %.80s is not SignedProperties",
			(const char *)type);
		goto out;
	}
	sp = find_signed_properties(sig, uri + 1);
	if (sp == NULL) {
		why_set(res->reason, sizeof(res->reason),
			"Reference %.80s does not point at this signature's "
			"SignedProperties",
			(const char *)uri);
		goto out;
	}
	if (!id_is_unique(doc, sp, uri + 1) ||
	    !register_id(doc, sp, "Id", uri + 1)) {
		why_set(res->reason, sizeof(res->reason),
			"Id %.80s is not unique in the document",
			(const char *)uri + 1);
		goto out;
	}
	(*nprops)++;
	ret = 0;
	goto out;
bad_transform:
	why_set(res->reason, sizeof(res->reason),
		"Reference \"%.80s\" has a transform outside the profile "
		"(%.80s)",
		(const char *)uri, alg != NULL ? (const char *)alg : "?");
out:
	xmlFree(alg);
	xmlFree(uri);
	xmlFree(type);
	return ret;
}

/*
 * check_profile checks the shape of ds:Signature before any cryptography:
 * SignedInfo with an allowed canonicalisation and signature method,
 * exactly one whole-document reference and at most one SignedProperties
 * reference, then SignatureValue. It stores the reference count in *nrefs.
 */
static int
check_profile(xmlDocPtr doc, xmlNodePtr sig, const xmlChar *want_uri,
	      size_t *nrefs, struct xmldsig_result *res)
{
	xmlNodePtr si = xmldsig_first_elem(sig), c;
	int ndoc = 0, nprops = 0, ret = -1;
	size_t n = 0;

	if (!xmldsig_is_elem(si, NS_DSIG, "SignedInfo")) {
		why_set(res->reason, sizeof(res->reason),
			"ds:Signature does not start with SignedInfo");
		goto out;
	}
	if (!xmldsig_is_elem(xmldsig_next_elem(si), NS_DSIG,
			     "SignatureValue")) {
		why_set(res->reason, sizeof(res->reason),
			"SignedInfo is not followed by SignatureValue");
		goto out;
	}
	c = xmldsig_first_elem(si);
	if (!method_allowed(c, "CanonicalizationMethod",
			    "SignedInfo has no CanonicalizationMethod",
			    "canonicalisation", c14n_algs, ARRAY_LEN(c14n_algs),
			    res))
		goto out;
	c = xmldsig_next_elem(c);
	if (!method_allowed(
		c, "SignatureMethod", "SignedInfo has no SignatureMethod",
		"signature method", sig_algs, ARRAY_LEN(sig_algs), res))
		goto out;
	if (xmldsig_first_elem(c) != NULL) {
		/* HMACOutputLength and friends have no place here */
		why_set(res->reason, sizeof(res->reason),
			"SignatureMethod has parameters");
		goto out;
	}
	for (c = xmldsig_next_elem(c); c != NULL; c = xmldsig_next_elem(c)) {
		if (!xmldsig_is_elem(c, NS_DSIG, "Reference")) {
			why_set(res->reason, sizeof(res->reason),
				"SignedInfo holds %.40s, not a Reference",
				(const char *)c->name);
			goto out;
		}
		if (check_reference(doc, sig, c, want_uri, &ndoc, &nprops,
				    res) != 0)
			goto out;
		n++;
	}
	if (ndoc != 1) {
		why_set(res->reason, sizeof(res->reason),
			"SignedInfo has %d references to URI=\"%.80s\"; "
			"exactly one is required",
			ndoc, (const char *)want_uri);
		goto out;
	}
	if (nprops > 1) {
		why_set(res->reason, sizeof(res->reason),
			"SignedInfo references SignedProperties %d times",
			nprops);
		goto out;
	}
	*nrefs = n;
	ret = 0;
out:
	return ret;
}

enum sa_err
xmldsig_b64_decode(const char *text, size_t maxin, unsigned char **out,
		   size_t *outlen)
{
	size_t n = strlen(text), j = 0;
	char *clean;
	enum sa_err rc;

	if (n > maxin)
		return SA_ERR_BODY_TOO_LARGE;
	clean = malloc(n + 1);
	if (clean == NULL)
		return SA_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		char ch = text[i];

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		clean[j++] = ch;
	}
	rc = b64_decode(clean, j, maxin, out, outlen);
	free(clean);
	return rc;
}

/* keyinfo_cert returns the first KeyInfo certificate of sig, or NULL. */
static X509 *
keyinfo_cert(xmlNodePtr sig)
{
	X509 *x = NULL;

	for (xmlNodePtr k = xmldsig_first_elem(sig); k != NULL;
	     k = xmldsig_next_elem(k)) {
		if (!xmldsig_is_elem(k, NS_DSIG, "KeyInfo"))
			continue;
		for (xmlNodePtr d = xmldsig_first_elem(k); d != NULL;
		     d = xmldsig_next_elem(d)) {
			if (!xmldsig_is_elem(d, NS_DSIG, "X509Data"))
				continue;
			for (xmlNodePtr c = xmldsig_first_elem(d); c != NULL;
			     c = xmldsig_next_elem(c)) {
				xmlChar *txt;
				unsigned char *der = NULL;
				const unsigned char *p;
				size_t len = 0;

				if (!xmldsig_is_elem(c, NS_DSIG,
						     "X509Certificate"))
					continue;
				txt = xmlNodeGetContent(c);
				if (txt != NULL &&
				    xmldsig_b64_decode((const char *)txt,
						       XMLDSIG_MAX_CERT_B64,
						       &der, &len) == SA_OK) {
					p = der;
					x = d2i_X509(NULL, &p, (long)len);
					free(der);
				}
				xmlFree(txt);
				return x;
			}
		}
	}
	return NULL;
}

/* xmldsig_key_from_evp is shared with xmlenc.c (xmlsec_int.h). */
xmlSecKeyPtr
xmldsig_key_from_evp(EVP_PKEY *pkey)
{
	xmlSecKeyPtr key = NULL;
	xmlSecKeyDataPtr data = NULL;

	if (EVP_PKEY_up_ref(pkey) != 1)
		return NULL;
	data = xmlSecOpenSSLEvpKeyAdopt(pkey);
	if (data == NULL) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	key = xmlSecKeyCreate();
	if (key == NULL || xmlSecKeySetValue(key, data) < 0) {
		xmlSecKeyDataDestroy(data);
		if (key != NULL)
			xmlSecKeyDestroy(key);
		return NULL;
	}
	return key;
}

/*
 * restrict_ctx limits an xmlsec context to our algorithms and to empty and
 * same-document reference URIs. It returns 0 or -1.
 */
static int
restrict_ctx(xmlSecDSigCtxPtr ctx)
{
	/* References and SignedInfo may both be canonicalized any of the
	 * six ways. */
	const xmlSecTransformId c14n_ids[] = {
	    xmlSecTransformExclC14NId,
	    xmlSecTransformExclC14NWithCommentsId,
	    xmlSecTransformInclC14NId,
	    xmlSecTransformInclC14NWithCommentsId,
	    xmlSecTransformInclC14N11Id,
	    xmlSecTransformInclC14N11WithCommentsId,
	};
	const xmlSecTransformId ref_ids[] = {
	    xmlSecTransformEnvelopedId,
	    xmlSecTransformSha256Id,
	    xmlSecTransformSha384Id,
	    xmlSecTransformSha512Id,
	};
	const xmlSecTransformId sig_ids[] = {
	    xmlSecTransformRsaSha256Id,	  xmlSecTransformRsaSha384Id,
	    xmlSecTransformRsaSha512Id,	  xmlSecTransformEcdsaSha256Id,
	    xmlSecTransformEcdsaSha384Id, xmlSecTransformEcdsaSha512Id,
	};

	ctx->enabledReferenceUris =
	    xmlSecTransformUriTypeEmpty | xmlSecTransformUriTypeSameDocument;
	ctx->flags = XMLSEC_DSIG_FLAGS_STORE_SIGNEDINFO_REFERENCES |
		     XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
	for (size_t i = 0; i < ARRAY_LEN(c14n_ids); i++)
		if (xmlSecDSigCtxEnableReferenceTransform(ctx, c14n_ids[i]) <
			0 ||
		    xmlSecDSigCtxEnableSignatureTransform(ctx, c14n_ids[i]) < 0)
			return -1;
	for (size_t i = 0; i < ARRAY_LEN(ref_ids); i++)
		if (xmlSecDSigCtxEnableReferenceTransform(ctx, ref_ids[i]) < 0)
			return -1;
	for (size_t i = 0; i < ARRAY_LEN(sig_ids); i++)
		if (xmlSecDSigCtxEnableSignatureTransform(ctx, sig_ids[i]) < 0)
			return -1;
	/* KeyInfo is never read for a key; if it were, only bare keys. */
	if (xmlSecPtrListAdd(&ctx->keyInfoReadCtx.enabledKeyData,
			     (void *)xmlSecKeyDataRsaId) < 0 ||
	    xmlSecPtrListAdd(&ctx->keyInfoReadCtx.enabledKeyData,
			     (void *)xmlSecKeyDataEcdsaId) < 0)
		return -1;
	return 0;
}

/*
 * try_key verifies sig with one pinned key. It returns 1 when the signature
 * and all nrefs references verified, 0 when they did not (reason in res),
 * and -1 on a local failure.
 */
static int
try_key(xmlNodePtr sig, EVP_PKEY *pkey, const xmlChar *want_uri, size_t nrefs,
	struct xmldsig_result *res)
{
	xmlSecDSigCtxPtr ctx = NULL;
	xmlSecKeyPtr key = NULL;
	int ret = -1, have_doc = 0;
	xmlSecSize n;

	ctx = xmlSecDSigCtxCreate(NULL); /* no keys manager: no key lookup */
	if (ctx == NULL || restrict_ctx(ctx) != 0)
		goto out;
	key = xmldsig_key_from_evp(pkey);
	if (key == NULL)
		goto out;
	ctx->signKey = key; /* the context owns it from here */
	key = NULL;
	xmlsec_last_error[0] = '\0';
	ret = 0;
	if (xmlSecDSigCtxVerify(ctx, sig) < 0) {
		why_set(res->reason, sizeof(res->reason),
			"signature not verified: %s",
			xmlsec_last_error[0] != '\0' ? xmlsec_last_error
						     : "xmlsec error");
		goto out;
	}
	n = xmlSecPtrListGetSize(&ctx->signedInfoReferences);
	for (xmlSecSize i = 0; i < n; i++) {
		xmlSecDSigReferenceCtxPtr r =
		    xmlSecPtrListGetItem(&ctx->signedInfoReferences, i);

		if (r == NULL || r->status != xmlSecDSigStatusSucceeded) {
			why_set(res->reason, sizeof(res->reason),
				"digest of Reference \"%.80s\" does not match",
				r != NULL && r->uri != NULL
				    ? (const char *)r->uri
				    : "");
			goto out;
		}
		if (r->origin == xmlSecDSigReferenceOriginSignedInfo &&
		    r->uri != NULL && xmlStrEqual(r->uri, want_uri))
			have_doc = 1;
	}
	if (ctx->status != xmlSecDSigStatusSucceeded) {
		why_set(res->reason, sizeof(res->reason),
			"SignatureValue does not verify with the pinned key");
		goto out;
	}
	/* Every reference we checked must have been processed and verified. */
	if ((size_t)n != nrefs || !have_doc) {
		why_set(res->reason, sizeof(res->reason),
			"only %u of %zu references were verified",
			(unsigned int)n, nrefs);
		goto out;
	}
	ret = 1;
out:
	if (key != NULL)
		xmlSecKeyDestroy(key);
	if (ctx != NULL)
		xmlSecDSigCtxDestroy(ctx);
	return ret;
}

void
xmldsig_result_clear(struct xmldsig_result *res)
{
	if (res == NULL)
		return;
	X509_free(res->signer);
	memset(res, 0, sizeof(*res));
	res->key_index = -1;
}

/*
 * count_signatures counts ds:Signature elements in the whole document and
 * returns the first one in *first.
 */
static size_t
count_signatures(xmlNodePtr root, xmlNodePtr *first)
{
	size_t n = 0;

	*first = NULL;
	for (xmlNodePtr c = root; c != NULL; c = walk_next(c, root)) {
		if (!xmldsig_is_elem(c, NS_DSIG, "Signature"))
			continue;
		if (n++ == 0)
			*first = c;
	}
	return n;
}

/*
 * verify_under checks the one signature of doc, which must be a direct child
 * of signed (the root for a whole-document signature), against the pinned
 * keys; want_uri is the URI its enveloping reference must carry ("" or
 * "#id"). It fills res as xmldsig_verify documents.
 */
static enum sa_err
verify_under(xmlDocPtr doc, xmlNodePtr signed_elem, const xmlChar *want_uri,
	     EVP_PKEY *const *pinned, size_t npinned,
	     struct xmldsig_result *res)
{
	xmlNodePtr root = xmlDocGetRootElement(doc), sig;
	size_t nsig, nrefs = 0;

	nsig = count_signatures(root, &sig);
	if (nsig == 0) {
		res->status = XMLDSIG_NO_SIGNATURE;
		why_set(res->reason, sizeof(res->reason),
			"the document has no ds:Signature");
		return SA_ERR_TRUST_LIST_SIG;
	}
	/* One signature only, as DSS requires: which one would we believe? */
	if (nsig > 1) {
		why_set(res->reason, sizeof(res->reason),
			"the document has %zu ds:Signature elements; exactly "
			"one is required",
			nsig);
		return SA_ERR_TRUST_LIST;
	}
	/* Enveloped means child of the signed element: anywhere else signs a
	 * part, the usual wrapping move. */
	if (sig->parent != signed_elem) {
		why_set(res->reason, sizeof(res->reason),
			"ds:Signature is not a child of the %s element",
			signed_elem == root ? "root" : "signed");
		return SA_ERR_TRUST_LIST;
	}
	if (check_profile(doc, sig, want_uri, &nrefs, res) != 0)
		return SA_ERR_TRUST_LIST;
	res->signer = keyinfo_cert(sig);
	res->status = XMLDSIG_BAD_SIGNATURE;
	if (npinned == 0) {
		why_set(res->reason, sizeof(res->reason), "no pinned key");
		return SA_ERR_TRUST_LIST_SIG;
	}
	for (size_t i = 0; i < npinned; i++) {
		int ok;

		if (pinned[i] == NULL)
			continue;
		ok = try_key(sig, pinned[i], want_uri, nrefs, res);
		if (ok < 0) {
			why_set(res->reason, sizeof(res->reason),
				"could not set up signature verification");
			return SA_ERR_INTERNAL;
		}
		if (ok == 1) {
			res->status = XMLDSIG_VALID;
			res->key_index = (int)i;
			why_set(res->reason, sizeof(res->reason),
				"verified with pinned key %zu", i);
			return SA_OK;
		}
	}
	return SA_ERR_TRUST_LIST_SIG;
}

/* verify_begin resets res and returns doc's root, or NULL with a reason. */
static xmlNodePtr
verify_begin(xmlDocPtr doc, struct xmldsig_result *res, enum sa_err *rc)
{
	xmlNodePtr root;

	memset(res, 0, sizeof(*res));
	res->key_index = -1;
	res->status = XMLDSIG_MALFORMED;
	*rc = xmldsig_global_init();
	if (*rc != SA_OK) {
		why_set(res->reason, sizeof(res->reason),
			"XML libraries failed to initialise");
		return NULL;
	}
	quiet_thread();
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	if (root == NULL) {
		why_set(res->reason, sizeof(res->reason), "no root element");
		*rc = SA_ERR_TRUST_LIST;
	}
	return root;
}

enum sa_err
xmldsig_verify(xmlDocPtr doc, EVP_PKEY *const *pinned, size_t npinned,
	       struct xmldsig_result *res)
{
	xmlNodePtr root;
	enum sa_err rc;

	root = verify_begin(doc, res, &rc);
	if (root == NULL)
		return rc;
	return verify_under(doc, root, (const xmlChar *)"", pinned, npinned,
			    res);
}

/*
 * element_uri checks that elem's id_attr attribute is an NCName no other
 * element carries as an Id (when unique is set), registers it as an ID of
 * doc and returns "#id" (caller frees with xmlFree), or NULL with a reason.
 */
static xmlChar *
element_uri(xmlDocPtr doc, xmlNodePtr elem, const char *id_attr, int unique,
	    char *why, size_t whylen)
{
	xmlChar *id = xmlGetNoNsProp(elem, (const xmlChar *)id_attr);
	xmlChar *uri = NULL;

	if (id == NULL || id[0] == '\0' || xmlValidateNCName(id, 0) != 0)
		why_set(why, whylen, "the element has no valid %s attribute",
			id_attr);
	else if ((unique && !id_is_unique(doc, elem, id)) ||
		 !register_id(doc, elem, id_attr, id))
		/* Resolved uniquely, or another element could answer to #id. */
		why_set(why, whylen, "%s %.80s is not unique in the document",
			id_attr, (const char *)id);
	else
		uri = xmlStrncatNew((const xmlChar *)"#", id, -1);
	xmlFree(id);
	return uri;
}

enum sa_err
xmldsig_verify_element(xmlDocPtr doc, const char *id_attr,
		       EVP_PKEY *const *pinned, size_t npinned,
		       struct xmldsig_result *res)
{
	xmlNodePtr root;
	xmlChar *uri;
	enum sa_err rc;

	root = verify_begin(doc, res, &rc);
	if (root == NULL)
		return rc;
	uri = element_uri(doc, root, id_attr, 1, res->reason,
			  sizeof(res->reason));
	if (uri == NULL)
		return SA_ERR_TRUST_LIST;
	rc = verify_under(doc, root, uri, pinned, npinned, res);
	xmlFree(uri);
	return rc;
}

/*
 * sign_into adds an enveloped signature to parent (after the element after,
 * or as its first child when after is NULL) with one reference to uri, and
 * signs it with key; cert, when given, goes into ds:KeyInfo. On failure the
 * partial signature is removed.
 */
static enum sa_err
sign_into(xmlDocPtr doc, xmlNodePtr parent, xmlNodePtr after,
	  const xmlChar *uri, EVP_PKEY *key, X509 *cert)
{
	xmlNodePtr sig = NULL, ref, ki, xd, xc, placed;
	xmlSecTransformId method;
	xmlSecDSigCtxPtr ctx = NULL;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int derlen;
	enum sa_err rc;

	switch (EVP_PKEY_base_id(key)) {
	case EVP_PKEY_EC:
		method = xmlSecTransformEcdsaSha256Id;
		break;
	case EVP_PKEY_RSA:
		method = xmlSecTransformRsaSha256Id;
		break;
	default:
		return SA_ERR_CONFIG;
	}
	rc = SA_ERR_INTERNAL;
	sig = xmlSecTmplSignatureCreateNsPref(doc, xmlSecTransformExclC14NId,
					      method, NULL,
					      (const xmlChar *)"ds");
	if (sig == NULL)
		goto out;
	if (after != NULL)
		placed = xmlAddNextSibling(after, sig);
	else if (parent->children != NULL)
		placed = xmlAddPrevSibling(parent->children, sig);
	else
		placed = xmlAddChild(parent, sig);
	if (placed == NULL) {
		xmlFreeNode(sig);
		sig = NULL;
		goto out;
	}
	ref = xmlSecTmplSignatureAddReference(sig, xmlSecTransformSha256Id,
					      NULL, uri, NULL);
	if (ref == NULL ||
	    xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) ==
		NULL ||
	    xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) ==
		NULL)
		goto out;
	ctx = xmlSecDSigCtxCreate(NULL);
	if (ctx == NULL || restrict_ctx(ctx) != 0)
		goto out;
	ctx->signKey = xmldsig_key_from_evp(key);
	if (ctx->signKey == NULL)
		goto out;
	if (xmlSecDSigCtxSign(ctx, sig) < 0)
		goto out;
	/* KeyInfo is not signed; it is added after signing, for the reader. */
	if (cert != NULL) {
		derlen = i2d_X509(cert, &der);
		if (derlen <= 0)
			goto out;
		b64 = b64_encode(der, (size_t)derlen);
		if (b64 == NULL) {
			rc = SA_ERR_NOMEM;
			goto out;
		}
		ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
		xd = ki != NULL ? xmlSecTmplKeyInfoAddX509Data(ki) : NULL;
		xc = xd != NULL ? xmlSecTmplX509DataAddCertificate(xd) : NULL;
		if (xc == NULL)
			goto out;
		xmlNodeSetContent(xc, (const xmlChar *)b64);
	}
	rc = SA_OK;
out:
	if (rc != SA_OK && sig != NULL) {
		xmlUnlinkNode(sig);
		xmlFreeNode(sig);
	}
	if (ctx != NULL)
		xmlSecDSigCtxDestroy(ctx);
	OPENSSL_free(der);
	free(b64);
	return rc;
}

enum sa_err
xmldsig_sign(xmlDocPtr doc, EVP_PKEY *key, X509 *cert)
{
	xmlNodePtr root, existing;
	enum sa_err rc;

	rc = xmldsig_global_init();
	if (rc != SA_OK)
		return rc;
	quiet_thread();
	root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
	if (root == NULL || key == NULL)
		return SA_ERR_INTERNAL;
	if (count_signatures(root, &existing) != 0)
		return SA_ERR_CONFLICT;
	/* Last child of the root, after everything it signs. */
	return sign_into(doc, root, root->last, (const xmlChar *)"", key, cert);
}

enum sa_err
xmldsig_sign_element(xmlDocPtr doc, xmlNodePtr elem, const char *id_attr,
		     xmlNodePtr after, EVP_PKEY *key, X509 *cert)
{
	xmlChar *uri;
	enum sa_err rc;

	rc = xmldsig_global_init();
	if (rc != SA_OK)
		return rc;
	quiet_thread();
	if (doc == NULL || elem == NULL || key == NULL ||
	    (after != NULL && after->parent != elem))
		return SA_ERR_INTERNAL;
	for (xmlNodePtr c = xmldsig_first_elem(elem); c != NULL;
	     c = xmldsig_next_elem(c))
		if (xmldsig_is_elem(c, NS_DSIG, "Signature"))
			return SA_ERR_CONFLICT;
	/* Our own documents: uniqueness is ours to keep, not to check. */
	uri = element_uri(doc, elem, id_attr, 0, NULL, 0);
	if (uri == NULL)
		return SA_ERR_INTERNAL;
	rc = sign_into(doc, elem, after, uri, key, cert);
	xmlFree(uri);
	return rc;
}

enum sa_err
xmldsig_sign_dump(xmlDocPtr doc, EVP_PKEY *key, X509 *cert, unsigned char **out,
		  size_t *outlen)
{
	xmlChar *mem = NULL;
	int size = 0;
	unsigned char *copy;
	enum sa_err rc;

	if ((rc = xmldsig_sign(doc, key, cert)) != SA_OK)
		return rc;
	xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
	if (mem == NULL || size <= 0) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	if ((size_t)size > XMLDSIG_MAX_DOC) {
		/* what we could not parse back we do not publish */
		rc = SA_ERR_TRUST_LIST;
		goto out;
	}
	if ((copy = malloc((size_t)size + 1)) == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	memcpy(copy, mem, (size_t)size);
	copy[size] = '\0';
	*out = copy;
	*outlen = (size_t)size;
	rc = SA_OK;
out:
	xmlFree(mem);
	return rc;
}
