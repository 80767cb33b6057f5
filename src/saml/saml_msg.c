/*
 * saml_msg.c - incoming protocol messages: AuthnRequest, LogoutRequest and
 * LogoutResponse over HTTP-Redirect and HTTP-POST, decoded, parsed into a
 * struct saml_msg, and their signatures checked against the SP's pinned
 * keys only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/form.h"
#include "core/util.h"
#include "crypto/ecdsa.h"
#include "saml/saml_int.h"
#include "trust/xmldsig.h"

#define B64_MSG_MAX (SAML_MSG_MAX / 3 * 4 + 8)

/*
 * The bounds of a binding's query string or form body: the message in
 * base64 with every byte escaped at worst, and room for RelayState, SigAlg
 * and Signature beside it.
 */
#define SAML_FORM_TEXT_MAX (3 * B64_MSG_MAX + 16384)
static const struct form_limits saml_form_limits = {
    .text_max = SAML_FORM_TEXT_MAX,
    .fields_max = FORM_FIELDS_MAX,
    .name_max = 64,
    .value_max = B64_MSG_MAX,
};

/* ---- Parsing ------------------------------------------------------------- */

void
saml_msg_clear(struct saml_msg *m)
{
	if (m->doc != NULL)
		xmlFreeDoc(m->doc);
	memset(m, 0, sizeof(*m));
}

/* parse_common reads what every request and response carries. */
static int
parse_common(xmlNodePtr root, struct saml_msg *m, char *why, size_t whylen)
{
	char version[8], instant[64];
	xmlNodePtr iss = saml_child(root, SAML_NS_ASSERTION, "Issuer");

	if (saml_attr(root, "Version", version, sizeof(version)) != 1 ||
	    strcmp(version, "2.0") != 0) {
		why_set(why, whylen, "Version is not 2.0");
		return -1;
	}
	if (saml_attr(root, "ID", m->id, sizeof(m->id)) != 1 ||
	    m->id[0] == '\0' ||
	    xmlValidateNCName((const xmlChar *)m->id, 0) != 0) {
		why_set(why, whylen, "ID is missing or not an xs:ID");
		return -1;
	}
	if (saml_attr(root, "IssueInstant", instant, sizeof(instant)) != 1 ||
	    saml_time_parse(instant, &m->issue_instant) != 0) {
		why_set(why, whylen,
			"IssueInstant is missing or not a UTC "
			"xs:dateTime");
		return -1;
	}
	if (saml_attr(root, "Destination", m->destination,
		      sizeof(m->destination)) < 0) {
		why_set(why, whylen, "Destination is too long");
		return -1;
	}
	/* The SP is named by its Issuer: exactly one, of entity format. */
	if (iss == NULL ||
	    saml_count_children(root, SAML_NS_ASSERTION, "Issuer") != 1 ||
	    saml_text(iss, m->issuer, sizeof(m->issuer)) != 1 ||
	    m->issuer[0] == '\0') {
		why_set(why, whylen, "Issuer is missing, repeated or too long");
		return -1;
	}
	{
		char fmt[128];

		if (saml_attr(iss, "Format", fmt, sizeof(fmt)) == 1 &&
		    strcmp(fmt, SAML_NAMEID_URI_ENTITY) != 0) {
			why_set(why, whylen, "Issuer Format is not entity");
			return -1;
		}
	}
	return 0;
}

/* parse_authn reads the AuthnRequest attributes and children we honour. */
static int
parse_authn(xmlNodePtr root, struct saml_msg *m, char *why, size_t whylen)
{
	char v[16];
	xmlNodePtr pol, rac;

	m->has_acs_url = saml_attr(root, "AssertionConsumerServiceURL",
				   m->acs_url, sizeof(m->acs_url));
	if (m->has_acs_url < 0) {
		why_set(why, whylen, "AssertionConsumerServiceURL too long");
		return -1;
	}
	m->acs_index = -1;
	if (saml_attr(root, "AssertionConsumerServiceIndex", v, sizeof(v)) ==
	    1) {
		char *end;
		long idx = strtol(v, &end, 10);

		if (*end != '\0' || end == v || idx < 0 || idx > 65535) {
			why_set(why, whylen,
				"AssertionConsumerServiceIndex is not an "
				"unsigned short");
			return -1;
		}
		m->acs_index = (int)idx;
	}
	/* SAML core §3.4.1: the URL and the index are mutually exclusive. */
	if (m->has_acs_url == 1 && m->acs_index >= 0) {
		why_set(why, whylen,
			"AssertionConsumerServiceURL and Index are both given");
		return -1;
	}
	saml_attr(root, "ProtocolBinding", m->protocol_binding,
		  sizeof(m->protocol_binding));
	m->force_authn = saml_attr(root, "ForceAuthn", v, sizeof(v)) == 1 &&
			 (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
	m->is_passive = saml_attr(root, "IsPassive", v, sizeof(v)) == 1 &&
			(strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
	m->allow_create = -1;
	pol = saml_child(root, SAML_NS_PROTOCOL, "NameIDPolicy");
	if (pol != NULL) {
		saml_attr(pol, "Format", m->nameid_policy,
			  sizeof(m->nameid_policy));
		if (saml_attr(pol, "AllowCreate", v, sizeof(v)) == 1)
			m->allow_create =
			    strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
	}
	rac = saml_child(root, SAML_NS_PROTOCOL, "RequestedAuthnContext");
	if (rac != NULL) {
		if (saml_attr(rac, "Comparison", m->rac_comparison,
			      sizeof(m->rac_comparison)) != 1)
			snprintf(m->rac_comparison, sizeof(m->rac_comparison),
				 "exact");
		for (xmlNodePtr c = saml_first_elem(rac); c != NULL;
		     c = saml_next_elem(c)) {
			if (!saml_is(c, SAML_NS_ASSERTION,
				     "AuthnContextClassRef"))
				continue;
			if (m->nrac >= ARRAY_LEN(m->rac) ||
			    saml_text(c, m->rac[m->nrac], sizeof(m->rac[0])) !=
				1) {
				why_set(why, whylen,
					"RequestedAuthnContext lists too many "
					"or too long classes");
				return -1;
			}
			m->nrac++;
		}
	}
	return 0;
}

/* parse_logout_request reads the NameID and SessionIndex elements. */
static int
parse_logout_request(xmlNodePtr root, struct saml_msg *m, char *why,
		     size_t whylen)
{
	xmlNodePtr nid = saml_child(root, SAML_NS_ASSERTION, "NameID");

	if (nid == NULL || saml_text(nid, m->nameid, sizeof(m->nameid)) != 1) {
		why_set(why, whylen, "LogoutRequest has no usable NameID");
		return -1;
	}
	for (xmlNodePtr c = saml_first_elem(root); c != NULL;
	     c = saml_next_elem(c)) {
		if (!saml_is(c, SAML_NS_PROTOCOL, "SessionIndex"))
			continue;
		if (m->nsession_index >= ARRAY_LEN(m->session_index) ||
		    saml_text(c, m->session_index[m->nsession_index],
			      sizeof(m->session_index[0])) != 1) {
			why_set(why, whylen,
				"too many or too long "
				"SessionIndex elements");
			return -1;
		}
		m->nsession_index++;
	}
	return 0;
}

/* parse_logout_response reads InResponseTo and the top status code. */
static int
parse_logout_response(xmlNodePtr root, struct saml_msg *m, char *why,
		      size_t whylen)
{
	xmlNodePtr st = saml_child(root, SAML_NS_PROTOCOL, "Status");
	xmlNodePtr code = saml_child(st, SAML_NS_PROTOCOL, "StatusCode");

	saml_attr(root, "InResponseTo", m->in_response_to,
		  sizeof(m->in_response_to));
	if (code == NULL ||
	    saml_attr(code, "Value", m->status, sizeof(m->status)) != 1) {
		why_set(why, whylen, "LogoutResponse has no StatusCode");
		return -1;
	}
	return 0;
}

/* parse_doc identifies the message and reads it. */
static enum sa_err
parse_doc(struct saml_msg *m, const char *param, char *why, size_t whylen)
{
	xmlNodePtr root = xmlDocGetRootElement(m->doc);
	int r;

	if (strcmp(param, "SAMLRequest") == 0 &&
	    saml_is(root, SAML_NS_PROTOCOL, "AuthnRequest")) {
		m->kind = SAML_MSG_AUTHN_REQUEST;
	} else if (strcmp(param, "SAMLRequest") == 0 &&
		   saml_is(root, SAML_NS_PROTOCOL, "LogoutRequest")) {
		m->kind = SAML_MSG_LOGOUT_REQUEST;
	} else if (strcmp(param, "SAMLResponse") == 0 &&
		   saml_is(root, SAML_NS_PROTOCOL, "LogoutResponse")) {
		m->kind = SAML_MSG_LOGOUT_RESPONSE;
	} else {
		why_set(why, whylen,
			"%s holds a %.40s, not a message this "
			"endpoint takes",
			param, root != NULL ? (const char *)root->name : "?");
		return SA_ERR_SAML_REQUEST;
	}
	if (parse_common(root, m, why, whylen) != 0)
		return SA_ERR_SAML_REQUEST;
	switch (m->kind) {
	case SAML_MSG_AUTHN_REQUEST:
		r = parse_authn(root, m, why, whylen);
		break;
	case SAML_MSG_LOGOUT_REQUEST:
		r = parse_logout_request(root, m, why, whylen);
		break;
	default:
		r = parse_logout_response(root, m, why, whylen);
		break;
	}
	return r == 0 ? SA_OK : SA_ERR_SAML_REQUEST;
}

enum sa_err
saml_msg_decode(struct http_request *req, struct saml_msg *m, char *why,
		size_t whylen)
{
	const char *text;
	size_t n = 0;

	if (strcmp(http_req_method(req), "POST") == 0) {
		text = http_req_body(req, &n);
		return saml_msg_decode_text(text != NULL ? text : "", n,
					    SAML_BINDING_POST, m, why, whylen);
	}
	text = http_req_raw_query(req);
	return saml_msg_decode_text(text, strlen(text), SAML_BINDING_REDIRECT,
				    m, why, whylen);
}

enum sa_err
saml_msg_decode_text(const char *text, size_t n, enum saml_binding binding,
		     struct saml_msg *m, char *why, size_t whylen)
{
	const char *param = "SAMLRequest", *b64, *relay;
	size_t rawlen = 0, xmllen = 0;
	struct form form = {0};
	unsigned char *raw = NULL, *xml = NULL;
	int post = binding == SAML_BINDING_POST;
	enum sa_err rc = SA_ERR_SAML_REQUEST;

	memset(m, 0, sizeof(*m));
	m->acs_index = -1;
	m->binding = binding;
	/* Every parameter once: with two, which one would be signed? */
	if ((rc = form_parse(&form, text, n, &saml_form_limits, why, whylen)) !=
	    SA_OK) {
		if (rc != SA_ERR_NOMEM)
			rc = SA_ERR_SAML_REQUEST;
		goto out;
	}
	rc = SA_ERR_SAML_REQUEST;
	b64 = form_get(&form, "SAMLRequest");
	if (b64 == NULL) {
		param = "SAMLResponse";
		b64 = form_get(&form, param);
	} else if (form_get(&form, "SAMLResponse") != NULL) {
		why_set(why, whylen, "both SAMLRequest and SAMLResponse");
		goto out;
	}
	if (b64 == NULL) {
		why_set(why, whylen, "no SAMLRequest or SAMLResponse");
		goto out;
	}
	if ((relay = form_get(&form, "RelayState")) != NULL) {
		if (strlen(relay) > SAML_RELAY_MAX) {
			why_set(why, whylen,
				"RelayState is longer than %d "
				"bytes or not UTF-8",
				SAML_RELAY_MAX);
			goto out;
		}
		snprintf(m->relay_state, sizeof(m->relay_state), "%s", relay);
		m->has_relay_state = 1;
	}
	if (xmldsig_b64_decode(b64, B64_MSG_MAX, &raw, &rawlen) != SA_OK) {
		why_set(why, whylen, "%s is not base64", param);
		goto out;
	}
	if (!post) {
		if (saml_inflate(raw, rawlen, SAML_MSG_MAX, &xml, &xmllen) !=
		    SA_OK) {
			why_set(why, whylen,
				"%s is not raw DEFLATE of at most "
				"%u bytes",
				param, SAML_MSG_MAX);
			goto out;
		}
	} else {
		xml = raw;
		xmllen = rawlen;
		raw = NULL;
	}
	if ((rc = saml_xml_parse(xml, xmllen, &m->doc, why, whylen)) != SA_OK)
		goto out;
	rc = parse_doc(m, param, why, whylen);
out:
	form_free(&form);
	free(raw);
	free(xml);
	return rc;
}

/* ---- Signatures ---------------------------------------------------------- */

/*
 * verify_query checks the HTTP-Redirect signature: SigAlg and Signature
 * from the query, over "SAMLRequest=…&RelayState=…&SigAlg=…" built from
 * the encoded values exactly as the client sent them (SAML bindings
 * §3.4.4.1). ECDSA values may be raw r||s (XML-DSig's form) or DER.
 */
static enum sa_err
verify_query(const struct form *q, const struct saml_sp *sp, struct saml_msg *m,
	     char *why, size_t whylen)
{
	const char *param = m->kind == SAML_MSG_LOGOUT_RESPONSE ? "SAMLResponse"
								: "SAMLRequest";
	const struct form_field *msg = form_find(q, param),
				*relay = form_find(q, "RelayState"),
				*alg = form_find(q, "SigAlg"),
				*sigtext = form_find(q, "Signature");
	struct buf signed_part;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int ok = 0;
	enum sa_err rc = SA_ERR_SAML_SIGNATURE;

	buf_init(&signed_part, SAML_FORM_TEXT_MAX);
	if (alg == NULL || sigtext == NULL) {
		why_set(why, whylen, "SigAlg and Signature must come together");
		goto out;
	}
	m->has_signature = 1;
	if (strcmp(alg->value, SAML_SIGALG_RSA_SHA256) != 0 &&
	    strcmp(alg->value, SAML_SIGALG_ECDSA_SHA256) != 0) {
		why_set(why, whylen,
			"SigAlg %.80s is not allowed (rsa-sha256 "
			"or ecdsa-sha256)",
			alg->value);
		goto out;
	}
	if (b64_decode(sigtext->value, strlen(sigtext->value), 2048, &sig,
		       &siglen) != SA_OK) {
		why_set(why, whylen, "Signature is not base64");
		goto out;
	}
	if (msg == NULL) {
		why_set(why, whylen, "the signed query has no %s", param);
		goto out;
	}
	buf_append(&signed_part, param, strlen(param));
	buf_append(&signed_part, "=", 1);
	buf_append(&signed_part, msg->raw, msg->raw_len);
	if (relay != NULL) {
		buf_append(&signed_part, "&RelayState=", 12);
		buf_append(&signed_part, relay->raw, relay->raw_len);
	}
	buf_append(&signed_part, "&SigAlg=", 8);
	if (buf_append(&signed_part, alg->raw, alg->raw_len) != SA_OK) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < sp->ncerts && !ok; i++) {
		EVP_PKEY *k = sp->keys[i];
		int is_ec = EVP_PKEY_base_id(k) == EVP_PKEY_EC;
		unsigned char der[ECDSA_P256_DER_MAX];
		size_t derlen = sizeof(der);
		const unsigned char *s = sig;
		size_t slen = siglen;
		EVP_MD_CTX *md;

		if (is_ec !=
		    (strcmp(alg->value, SAML_SIGALG_ECDSA_SHA256) == 0))
			continue;
		if (is_ec && siglen == ECDSA_P256_RAW_LEN &&
		    ecdsa_sig_raw_to_der(sig, der, sizeof(der), &derlen) ==
			SA_OK) {
			s = der;
			slen = derlen;
		}
		md = EVP_MD_CTX_new();
		ok = md != NULL &&
		     EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) ==
			 1 &&
		     EVP_DigestVerify(md, s, slen, signed_part.data,
				      signed_part.len) == 1;
		EVP_MD_CTX_free(md);
	}
	if (!ok) {
		why_set(why, whylen,
			"the query signature does not verify with "
			"the SP's certificate");
		goto out;
	}
	m->signed_ok = 1;
	rc = SA_OK;
out:
	buf_free(&signed_part);
	free(sig);
	return rc;
}

enum sa_err
saml_msg_verify(struct http_request *req, const struct saml_sp *sp,
		int required, struct saml_msg *m, char *why, size_t whylen)
{
	return saml_msg_verify_text(http_req_raw_query(req), sp, required, m,
				    why, whylen);
}

enum sa_err
saml_msg_verify_text(const char *query, const struct saml_sp *sp, int required,
		     struct saml_msg *m, char *why, size_t whylen)
{
	struct xmldsig_result res;
	enum sa_err rc;

	m->signed_ok = 0;
	if (m->binding == SAML_BINDING_REDIRECT) {
		struct form q = {0};

		if ((rc = form_parse(&q, query, strlen(query),
				     &saml_form_limits, why, whylen)) !=
		    SA_OK) {
			form_free(&q);
			return rc == SA_ERR_NOMEM ? rc : SA_ERR_SAML_SIGNATURE;
		}
		/* An XML signature inside a redirected message is not the
		 * binding's: it is ignored, never taken as verified. */
		if (form_find(&q, "Signature") == NULL &&
		    form_find(&q, "SigAlg") == NULL) {
			form_free(&q);
			if (!required)
				return SA_OK;
			why_set(why, whylen,
				"the request is not signed and "
				"the SP's settings require it");
			return SA_ERR_SAML_SIGNATURE;
		}
		rc = verify_query(&q, sp, m, why, whylen);
		form_free(&q);
		return rc;
	}
	if (saml_child(xmlDocGetRootElement(m->doc), SAML_NS_DSIG,
		       "Signature") == NULL) {
		/* A signature elsewhere (in Extensions, say) signs something
		 * else: the message counts as unsigned. */
		if (!required)
			return SA_OK;
		why_set(why, whylen,
			"the request is not signed and the SP's "
			"settings require it");
		return SA_ERR_SAML_SIGNATURE;
	}
	m->has_signature = 1;
	rc = xmldsig_verify_element(m->doc, "ID", sp->keys, sp->ncerts, &res);
	if (rc != SA_OK)
		why_set(why, whylen, "XML signature refused: %s", res.reason);
	xmldsig_result_clear(&res);
	if (rc == SA_ERR_NOMEM || rc == SA_ERR_INTERNAL)
		return rc;
	if (rc != SA_OK)
		return SA_ERR_SAML_SIGNATURE;
	m->signed_ok = 1;
	return SA_OK;
}
