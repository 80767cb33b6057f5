/*
 * saml_build.c - the messages we send: Response with its Assertion,
 * LogoutRequest and LogoutResponse, signed as the SP's settings say, and
 * their delivery to the browser (an auto-submitted form or a signed
 * redirect).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/util.h"
#include "crypto/ecdsa.h"
#include "net/http.h"
#include "saml/saml_int.h"
#include "trust/xmldsig.h"

/* A message under construction: the document and its namespaces. */
struct msg {
	xmlDocPtr doc;
	xmlNodePtr root;
	xmlNodePtr issuer;
	xmlNsPtr samlp;
	xmlNsPtr saml;
};

static void
set(xmlNodePtr n, const char *name, const char *value)
{
	xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

/*
 * msg_begin starts a protocol message: root element samlp:<name> with ID,
 * Version, IssueInstant, Destination (dest may be NULL), InResponseTo
 * (irt may be NULL or "") and our Issuer.
 */
static enum sa_err
msg_begin(struct msg *m, struct saml_idp *idp, const char *name,
	  const char *dest, const char *irt, int64_t now)
{
	char id[SAML_ID_LEN + 1], when[SAML_TIME_LEN + 1];
	enum sa_err rc;

	memset(m, 0, sizeof(*m));
	if ((rc = saml_new_id(id)) != SA_OK)
		return rc;
	m->doc = xmlNewDoc((const xmlChar *)"1.0");
	if (m->doc == NULL)
		return SA_ERR_NOMEM;
	m->root = xmlNewNode(NULL, (const xmlChar *)name);
	m->samlp = xmlNewNs(m->root, (const xmlChar *)SAML_NS_PROTOCOL,
			    (const xmlChar *)"samlp");
	m->saml = xmlNewNs(m->root, (const xmlChar *)SAML_NS_ASSERTION,
			   (const xmlChar *)"saml");
	xmlSetNs(m->root, m->samlp);
	xmlDocSetRootElement(m->doc, m->root);
	saml_time_format(now, when);
	set(m->root, "ID", id);
	set(m->root, "Version", "2.0");
	set(m->root, "IssueInstant", when);
	if (dest != NULL)
		set(m->root, "Destination", dest);
	if (irt != NULL && irt[0] != '\0')
		set(m->root, "InResponseTo", irt);
	m->issuer = xmlNewTextChild(m->root, m->saml, (const xmlChar *)"Issuer",
				    (const xmlChar *)idp->entity_id);
	return m->issuer != NULL ? SA_OK : SA_ERR_NOMEM;
}

/* add_status adds samlp:Status with a code, an optional second-level code
 * and an optional message. */
static void
add_status(struct msg *m, const char *status, const char *sub,
	   const char *message)
{
	xmlNodePtr st =
	    xmlNewChild(m->root, m->samlp, (const xmlChar *)"Status", NULL);
	xmlNodePtr code =
	    xmlNewChild(st, m->samlp, (const xmlChar *)"StatusCode", NULL);

	set(code, "Value", status);
	if (sub != NULL) {
		xmlNodePtr c2 = xmlNewChild(
		    code, m->samlp, (const xmlChar *)"StatusCode", NULL);
		set(c2, "Value", sub);
	}
	if (message != NULL)
		xmlNewTextChild(st, m->samlp, (const xmlChar *)"StatusMessage",
				(const xmlChar *)message);
}

/* sign_root signs the message itself with the SP's algorithm. */
static enum sa_err
sign_node(struct saml_idp *idp, const struct saml_sp *sp, xmlDocPtr doc,
	  xmlNodePtr node, xmlNodePtr issuer, int64_t now)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum sa_err rc;

	rc = saml_idp_signer(idp, sp->sigalg, now, &key, &cert);
	if (rc == SA_OK)
		rc = xmldsig_sign_element(doc, node, "ID", issuer, key, cert);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* claim_text renders a claim's JSON value as an attribute value. */
static char *
claim_text(const json_t *v, const char **xstype)
{
	char buf[32];

	*xstype = "xs:string";
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_boolean(v)) {
		*xstype = "xs:boolean";
		return strdup(json_is_true(v) ? "true" : "false");
	}
	if (json_is_integer(v)) {
		*xstype = "xs:integer";
		snprintf(buf, sizeof(buf), "%lld",
			 (long long)json_integer_value(v));
		return strdup(buf);
	}
	return NULL;
}

/* add_attributes adds the AttributeStatement: each mapped claim the person
 * granted, nothing else (no claim, no element). */
static void
add_attributes(xmlNodePtr as, xmlNsPtr saml, xmlNsPtr xsi,
	       const struct saml_sp *sp, const json_t *claims)
{
	xmlNodePtr st = NULL;

	for (size_t i = 0; i < sp->nattrs; i++) {
		const struct saml_attr *a = &sp->attrs[i];
		const json_t *v = json_object_get(claims, a->claim);
		const char *xstype;
		char *text;
		xmlNodePtr at, av;

		if (v == NULL || (text = claim_text(v, &xstype)) == NULL)
			continue;
		if (st == NULL)
			st = xmlNewChild(as, saml,
					 (const xmlChar *)"AttributeStatement",
					 NULL);
		at = xmlNewChild(st, saml, (const xmlChar *)"Attribute", NULL);
		set(at, "Name", a->name);
		set(at, "NameFormat",
		    a->format == SAML_NF_BASIC	       ? SAML_NF_URI_BASIC
		    : a->format == SAML_NF_UNSPECIFIED ? SAML_NF_URI_UNSPECIFIED
						       : SAML_NF_URI_URI);
		if (a->friendly[0] != '\0')
			set(at, "FriendlyName", a->friendly);
		av =
		    xmlNewTextChild(at, saml, (const xmlChar *)"AttributeValue",
				    (const xmlChar *)text);
		xmlNewNsProp(av, xsi, (const xmlChar *)"type",
			     (const xmlChar *)xstype);
		free(text);
	}
}

/*
 * encrypt_assertion puts the assertion as into a saml:EncryptedAssertion in
 * its place and encrypts it there to the SP's encryption certificate.
 */
static enum sa_err
encrypt_assertion(struct msg *m, const struct saml_sp *sp, xmlNodePtr as)
{
	xmlNodePtr ea, ed = NULL;

	ea = xmlNewNode(m->saml, (const xmlChar *)"EncryptedAssertion");
	if (ea == NULL)
		return SA_ERR_NOMEM;
	if (xmlAddPrevSibling(as, ea) == NULL) {
		xmlFreeNode(ea);
		return SA_ERR_NOMEM;
	}
	xmlUnlinkNode(as);
	if (xmlAddChild(ea, as) == NULL) {
		xmlFreeNode(as);
		return SA_ERR_NOMEM;
	}
	return xmlenc_encrypt_element(m->doc, as, sp->enc_cert, sp->enc_cipher,
				      &ed);
}

/* add_assertion builds and (per SP) signs the assertion about subj. */
static enum sa_err
add_assertion(struct saml_idp *idp, struct msg *m, const struct saml_sp *sp,
	      const char *acs, const char *irt, const struct saml_subject *subj,
	      int64_t now)
{
	char id[SAML_ID_LEN + 1], when[SAML_TIME_LEN + 1],
	    until[SAML_TIME_LEN + 1], before[SAML_TIME_LEN + 1],
	    authn[SAML_TIME_LEN + 1];
	xmlNodePtr as, iss, s, nid, sc, scd, cond, ar, ast, ac;
	xmlNsPtr xsi, saml = m->saml;
	enum sa_err rc;

	if ((rc = saml_new_id(id)) != SA_OK)
		return rc;
	saml_time_format(now, when);
	saml_time_format(now + idp->assertion_ttl, until);
	/* A little slack for SP clocks that run behind. */
	saml_time_format(now - 30, before);
	saml_time_format(subj->auth_time, authn);
	as = xmlNewChild(m->root, saml, (const xmlChar *)"Assertion", NULL);
	if (sp->encrypt) {
		/* Decrypted, the assertion may be read on its own: it declares
		 * its namespace itself rather than inheriting the response's.
		 */
		saml = xmlNewNs(as, (const xmlChar *)SAML_NS_ASSERTION,
				(const xmlChar *)"saml");
		xmlSetNs(as, saml);
	}
	xsi =
	    xmlNewNs(as, (const xmlChar *)SAML_NS_XSI, (const xmlChar *)"xsi");
	xmlNewNs(as, (const xmlChar *)SAML_NS_XS, (const xmlChar *)"xs");
	set(as, "ID", id);
	set(as, "Version", "2.0");
	set(as, "IssueInstant", when);
	iss = xmlNewTextChild(as, saml, (const xmlChar *)"Issuer",
			      (const xmlChar *)idp->entity_id);
	s = xmlNewChild(as, saml, (const xmlChar *)"Subject", NULL);
	nid = xmlNewTextChild(s, saml, (const xmlChar *)"NameID",
			      (const xmlChar *)subj->nameid);
	set(nid, "Format",
	    subj->format == SAML_NAMEID_TRANSIENT ? SAML_NAMEID_URI_TRANSIENT
						  : SAML_NAMEID_URI_PERSISTENT);
	set(nid, "NameQualifier", idp->entity_id);
	set(nid, "SPNameQualifier", sp->entity_id);
	sc = xmlNewChild(s, saml, (const xmlChar *)"SubjectConfirmation", NULL);
	set(sc, "Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer");
	scd = xmlNewChild(sc, saml, (const xmlChar *)"SubjectConfirmationData",
			  NULL);
	set(scd, "NotOnOrAfter", until);
	set(scd, "Recipient", acs);
	if (irt != NULL && irt[0] != '\0')
		set(scd, "InResponseTo", irt);
	cond = xmlNewChild(as, saml, (const xmlChar *)"Conditions", NULL);
	set(cond, "NotBefore", before);
	set(cond, "NotOnOrAfter", until);
	ar = xmlNewChild(cond, saml, (const xmlChar *)"AudienceRestriction",
			 NULL);
	xmlNewTextChild(ar, saml, (const xmlChar *)"Audience",
			(const xmlChar *)sp->entity_id);
	ast = xmlNewChild(as, saml, (const xmlChar *)"AuthnStatement", NULL);
	set(ast, "AuthnInstant", authn);
	set(ast, "SessionIndex", subj->session_index);
	ac = xmlNewChild(ast, saml, (const xmlChar *)"AuthnContext", NULL);
	xmlNewTextChild(ac, saml, (const xmlChar *)"AuthnContextClassRef",
			(const xmlChar *)SAML_AC_MOBILE_TWO_FACTOR);
	add_attributes(as, saml, xsi, sp, subj->claims);
	/* Signed first, then encrypted: the SP verifies what it decrypts. */
	if (sp->sign_assertion &&
	    (rc = sign_node(idp, sp, m->doc, as, iss, now)) != SA_OK)
		return rc;
	return sp->encrypt ? encrypt_assertion(m, sp, as) : SA_OK;
}

/* finish signs the message when asked and serialises it. */
static enum sa_err
finish(struct saml_idp *idp, const struct saml_sp *sp, struct msg *m, int sign,
       int64_t now, char **out)
{
	size_t n;
	enum sa_err rc = SA_OK;

	if (sign)
		rc = sign_node(idp, sp, m->doc, m->root, m->issuer, now);
	if (rc == SA_OK)
		rc = saml_doc_dump(m->doc, out, &n);
	xmlFreeDoc(m->doc);
	m->doc = NULL;
	return rc;
}

enum sa_err
saml_build_response(struct saml_idp *idp, const struct saml_sp *sp,
		    const char *acs, const char *in_response_to,
		    const struct saml_subject *subj, const char *status,
		    const char *substatus, const char *message, int64_t now,
		    char **out)
{
	struct msg m;
	enum sa_err rc;

	rc = msg_begin(&m, idp, "Response", acs, in_response_to, now);
	if (rc != SA_OK)
		goto fail;
	if (subj != NULL) {
		add_status(&m, SAML_STATUS_SUCCESS, NULL, NULL);
		if ((rc = add_assertion(idp, &m, sp, acs, in_response_to, subj,
					now)) != SA_OK)
			goto fail;
		return finish(idp, sp, &m, sp->sign_response, now, out);
	}
	add_status(&m, status, substatus, message);
	/* An error carries no assertion: the response itself is signed so
	 * the SP can trust the status. */
	return finish(idp, sp, &m, 1, now, out);
fail:
	xmlFreeDoc(m.doc);
	return rc;
}

enum sa_err
saml_build_logout_request(struct saml_idp *idp, const struct saml_sp *sp,
			  const char *nameid, enum saml_nameid format,
			  const char *session_index, int64_t now,
			  char id[SAML_ID_LEN + 1], char **out)
{
	struct msg m;
	char until[SAML_TIME_LEN + 1], *rid;
	xmlNodePtr nid;
	enum sa_err rc;

	rc = msg_begin(&m, idp, "LogoutRequest", sp->slo_url, NULL, now);
	if (rc != SA_OK) {
		xmlFreeDoc(m.doc);
		return rc;
	}
	saml_time_format(now + idp->slo_timeout + 60, until);
	set(m.root, "NotOnOrAfter", until);
	nid = xmlNewTextChild(m.root, m.saml, (const xmlChar *)"NameID",
			      (const xmlChar *)nameid);
	set(nid, "Format",
	    format == SAML_NAMEID_TRANSIENT ? SAML_NAMEID_URI_TRANSIENT
					    : SAML_NAMEID_URI_PERSISTENT);
	set(nid, "NameQualifier", idp->entity_id);
	set(nid, "SPNameQualifier", sp->entity_id);
	if (session_index != NULL)
		xmlNewTextChild(m.root, m.samlp,
				(const xmlChar *)"SessionIndex",
				(const xmlChar *)session_index);
	rid = (char *)xmlGetNoNsProp(m.root, (const xmlChar *)"ID");
	snprintf(id, SAML_ID_LEN + 1, "%s", rid != NULL ? rid : "");
	xmlFree(rid);
	/* Redirect-bound messages are signed in the query instead. */
	return finish(idp, sp, &m, sp->slo_binding == SAML_BINDING_POST, now,
		      out);
}

enum sa_err
saml_build_logout_response(struct saml_idp *idp, const struct saml_sp *sp,
			   const char *in_response_to, const char *status,
			   const char *substatus, int64_t now, char **out)
{
	struct msg m;
	enum sa_err rc;
	const char *top = status;
	const char *sub = substatus;

	rc = msg_begin(&m, idp, "LogoutResponse", sp->slo_response_url,
		       in_response_to, now);
	if (rc != SA_OK) {
		xmlFreeDoc(m.doc);
		return rc;
	}
	/* PartialLogout is a second-level code under Success (core §3.7.3.2
	 * allows it under any top-level one); SPs read the top one. */
	if (strcmp(status, SAML_STATUS_PARTIAL_LOGOUT) == 0) {
		top = SAML_STATUS_SUCCESS;
		sub = SAML_STATUS_PARTIAL_LOGOUT;
	}
	add_status(&m, top, sub, NULL);
	return finish(idp, sp, &m, sp->slo_binding == SAML_BINDING_POST, now,
		      out);
}

/* ---- Delivery ------------------------------------------------------------ */

void
saml_html_attr(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			buf_append(b, "&amp;", 5);
			break;
		case '"':
			buf_append(b, "&quot;", 6);
			break;
		case '<':
			buf_append(b, "&lt;", 4);
			break;
		case '>':
			buf_append(b, "&gt;", 4);
			break;
		case '\'':
			buf_append(b, "&#39;", 5);
			break;
		default:
			buf_append(b, s, 1);
		}
	}
}

int
saml_url_origin(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://");
	size_t n;

	if (p == NULL)
		return -1;
	p += 3;
	n = (size_t)(p - url) + strcspn(p, "/?#");
	if (n >= outlen)
		return -1;
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

/*
 * saml_auto_form answers with a page whose form sends the n fields to url
 * with method ("post" or "get") by itself. The page runs no inline script:
 * /static/saml-post.js submits the form, and a button does for browsers
 * without script. Its policy lets the form go to url's origin only.
 */
enum sa_err
saml_auto_form(struct http_response *res, const char *url, const char *method,
	       const char *const *names, const char *const *values, size_t n)
{
	static const char head[] =
	    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<title>Continuing</title>"
	    "<link rel=\"stylesheet\" href=\"/static/style.css\">"
	    "<script src=\"/static/saml-post.js\" defer></script></head>"
	    "<body><main class=\"saml-post\"><form id=\"saml-post\" "
	    "method=\"";
	static const char tail[] =
	    "<noscript><p>Your browser does not run scripts. Press the "
	    "button to continue.</p></noscript>"
	    "<button type=\"submit\">Continue</button></form></main>"
	    "</body></html>\n";
	char origin[SAML_URL_MAX + 1], csp[SAML_URL_MAX + 300];
	struct buf b;

	if (saml_url_origin(url, origin, sizeof(origin)) != 0)
		snprintf(origin, sizeof(origin), "'self'");
	buf_init(&b, SAML_MSG_MAX * 2);
	buf_append(&b, head, sizeof(head) - 1);
	buf_append(&b, method, strlen(method));
	buf_append(&b, "\" action=\"", 10);
	saml_html_attr(&b, url);
	buf_append(&b, "\">", 2);
	for (size_t i = 0; i < n; i++) {
		buf_append(&b, "<input type=\"hidden\" name=\"", 27);
		saml_html_attr(&b, names[i]);
		buf_append(&b, "\" value=\"", 9);
		saml_html_attr(&b, values[i]);
		buf_append(&b, "\">", 2);
	}
	if (buf_append(&b, tail, sizeof(tail) - 1) != SA_OK) {
		buf_free(&b);
		return SA_ERR_NOMEM;
	}
	snprintf(csp, sizeof(csp),
		 "default-src 'none'; script-src 'self'; style-src 'self'; "
		 "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
		 "form-action %s",
		 origin);
	saml_page_send(res, &b, csp);
	return SA_OK;
}

void
saml_page_send(struct http_response *res, struct buf *b, const char *csp)
{
	http_res_bytes(res, 200, "text/html; charset=utf-8", b->data, b->len);
	http_res_header(res, "Content-Security-Policy", csp);
	http_res_header(res, "Cache-Control", "no-store");
	buf_free(b);
}

/* post_form answers with the auto-submitted HTTP-POST binding form. */
static enum sa_err
post_form(struct http_response *res, const char *url, const char *param,
	  const char *xml, const char *relay)
{
	char *b64 = b64_encode((const unsigned char *)xml, strlen(xml));
	const char *names[2] = {param, "RelayState"};
	const char *values[2] = {b64, relay};
	enum sa_err rc;

	if (b64 == NULL)
		return SA_ERR_NOMEM;
	rc = saml_auto_form(res, url, "post", names, values,
			    relay != NULL ? 2 : 1);
	free(b64);
	return rc;
}

enum sa_err
saml_redirect_url(struct saml_idp *idp, const struct saml_sp *sp,
		  const char *url, const char *param, const char *xml,
		  const char *relay, char **out)
{
	unsigned char *z = NULL, *sig = NULL, raw[ECDSA_P256_RAW_LEN];
	size_t zlen = 0, siglen = 0;
	char *b64 = NULL, *esc = NULL, *sigb64 = NULL, *sigesc = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	EVP_MD_CTX *md = NULL;
	struct buf q;
	const char *alg = sp->sigalg == SAML_SIG_RSA_SHA256
			      ? SAML_SIGALG_RSA_SHA256
			      : SAML_SIGALG_ECDSA_SHA256;
	enum sa_err rc;

	buf_init(&q, SAML_MSG_MAX * 2);
	if ((rc = saml_deflate((const unsigned char *)xml, strlen(xml), &z,
			       &zlen)) != SA_OK)
		goto out;
	rc = SA_ERR_NOMEM;
	if ((b64 = b64_encode(z, zlen)) == NULL ||
	    (esc = saml_url_escape(b64)) == NULL)
		goto out;
	buf_append(&q, param, strlen(param));
	buf_append(&q, "=", 1);
	buf_append(&q, esc, strlen(esc));
	if (relay != NULL) {
		char *r = saml_url_escape(relay);

		if (r == NULL)
			goto out;
		buf_append(&q, "&RelayState=", 12);
		buf_append(&q, r, strlen(r));
		free(r);
	}
	free(esc);
	esc = saml_url_escape(alg);
	if (esc == NULL)
		goto out;
	buf_append(&q, "&SigAlg=", 8);
	buf_append(&q, esc, strlen(esc));
	if ((rc = saml_idp_signer(idp, sp->sigalg, now_unix(), &key, &cert)) !=
	    SA_OK)
		goto out;
	rc = SA_ERR_INTERNAL;
	md = EVP_MD_CTX_new();
	if (md == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, q.data, q.len) != 1 ||
	    (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(md, sig, &siglen, q.data, q.len) != 1)
		goto out;
	/* ECDSA values are r||s, as in XML-DSig (RFC 4051). */
	if (EVP_PKEY_base_id(key) == EVP_PKEY_EC) {
		if (ecdsa_sig_der_to_raw(sig, siglen, raw) != SA_OK)
			goto out;
		memcpy(sig, raw, sizeof(raw));
		siglen = sizeof(raw);
	}
	rc = SA_ERR_NOMEM;
	if ((sigb64 = b64_encode(sig, siglen)) == NULL ||
	    (sigesc = saml_url_escape(sigb64)) == NULL)
		goto out;
	buf_append(&q, "&Signature=", 11);
	buf_append(&q, sigesc, strlen(sigesc));
	{
		struct buf loc;

		buf_init(&loc, SAML_MSG_MAX * 3);
		buf_append(&loc, url, strlen(url));
		buf_append(&loc, strchr(url, '?') != NULL ? "&" : "?", 1);
		buf_append(&loc, q.data, q.len);
		if (buf_append(&loc, "", 1) != SA_OK) {
			buf_free(&loc);
			goto out;
		}
		*out = strdup((const char *)loc.data);
		buf_free(&loc);
		if (*out == NULL)
			goto out;
	}
	rc = SA_OK;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	X509_free(cert);
	buf_free(&q);
	free(z);
	free(sig);
	free(b64);
	free(esc);
	free(sigb64);
	free(sigesc);
	return rc;
}

enum sa_err
saml_send(struct saml_idp *idp, struct http_response *res,
	  const struct saml_sp *sp, enum saml_binding binding, const char *url,
	  const char *param, const char *xml, const char *relay)
{
	char *loc = NULL;
	enum sa_err rc;

	if (binding != SAML_BINDING_REDIRECT)
		return post_form(res, url, param, xml, relay);
	/* HTTP-Redirect: a 303 to the signed query (bindings §3.4.4.1). */
	rc = saml_redirect_url(idp, sp, url, param, xml, relay, &loc);
	if (rc == SA_OK) {
		http_res_bytes(res, 303, "text/plain; charset=utf-8", "", 0);
		http_res_header(res, "Location", loc);
	}
	free(loc);
	return rc;
}
