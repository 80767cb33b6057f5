/*
 * vrl.c - parse, verify and build seal revocation lists (vrl.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "trust/tsl.h"
#include "core/util.h"
#include "trust/vrl.h"
#include "trust/xmldsig.h"

#define NS_DSIG "http://www.w3.org/2000/09/xmldsig#"

static int
fp_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int
is_vrl_el(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       strcmp((const char *)n->ns->href, VRL_NS) == 0 &&
	       strcmp((const char *)n->name, name) == 0;
}

/*
 * node_text copies the text of an element without element children,
 * trimmed of XML whitespace, into out (outsz bytes). -1 when it has element
 * children or is longer.
 */
static int
node_text(xmlNodePtr n, char *out, size_t outsz)
{
	xmlChar *c;
	const char *s, *e;
	size_t len;

	for (xmlNodePtr k = n->children; k != NULL; k = k->next)
		if (k->type == XML_ELEMENT_NODE)
			return -1;
	c = xmlNodeGetContent(n);
	if (c == NULL)
		return -1;
	s = (const char *)c;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		e--;
	len = (size_t)(e - s);
	if (len >= outsz) {
		xmlFree(c);
		return -1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	xmlFree(c);
	return 0;
}

static int
parse_fp(const char *s, unsigned char fp[32])
{
	if (strlen(s) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned int v = 0;

		for (int j = 0; j < 2; j++) {
			char c = s[2 * i + j];

			/* lowercase only: one spelling per fingerprint */
			if (c >= '0' && c <= '9')
				v = v << 4 | (unsigned int)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v << 4 | (unsigned int)(c - 'a' + 10);
			else
				return -1;
		}
		fp[i] = (unsigned char)v;
	}
	return 0;
}

/* parse_doc reads the VRL structure from doc into v. */
static enum sa_err
parse_doc(xmlDocPtr doc, struct vrl *v, char *why, size_t whylen)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);
	int have_seq = 0, have_issued = 0, have_next = 0, have_auth = 0;
	size_t cap = 0;
	char text[80];

	if (root == NULL || !is_vrl_el(root, "SealRevocationList")) {
		why_set(why, whylen, "root is not SealRevocationList in %s",
			VRL_NS);
		return SA_ERR_TRUST_LIST;
	}
	for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (c->ns != NULL &&
		    strcmp((const char *)c->ns->href, NS_DSIG) == 0 &&
		    strcmp((const char *)c->name, "Signature") == 0)
			continue;
		if (node_text(c, text, sizeof(text)) != 0) {
			why_set(why, whylen, "element %.40s is not short text",
				(const char *)c->name);
			return SA_ERR_TRUST_LIST;
		}
		if (is_vrl_el(c, "IssuingAuthority") && !have_auth) {
			size_t n = strlen(text);

			if (n == 0 || n >= sizeof(v->authority) ||
			    strspn(text,
				   "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
				n) {
				why_set(why, whylen, "bad IssuingAuthority");
				return SA_ERR_TRUST_LIST;
			}
			memcpy(v->authority, text, n + 1);
			have_auth = 1;
		} else if (is_vrl_el(c, "SequenceNumber") && !have_seq) {
			char *end = NULL;

			if (text[0] < '0' || text[0] > '9' ||
			    strlen(text) > 19) {
				why_set(why, whylen, "bad SequenceNumber");
				return SA_ERR_TRUST_LIST;
			}
			v->sequence = strtoull(text, &end, 10);
			if (*end != '\0') {
				why_set(why, whylen, "bad SequenceNumber");
				return SA_ERR_TRUST_LIST;
			}
			have_seq = 1;
		} else if (is_vrl_el(c, "IssueTime") && !have_issued) {
			if (tsl_parse_time(text, &v->issued) != SA_OK) {
				why_set(why, whylen, "bad IssueTime");
				return SA_ERR_TRUST_LIST;
			}
			have_issued = 1;
		} else if (is_vrl_el(c, "NextUpdate") && !have_next) {
			if (tsl_parse_time(text, &v->next_update) != SA_OK) {
				why_set(why, whylen, "bad NextUpdate");
				return SA_ERR_TRUST_LIST;
			}
			have_next = 1;
		} else if (is_vrl_el(c, "Revoked")) {
			if (v->n >= VRL_MAX_ENTRIES) {
				why_set(why, whylen, "more than %d entries",
					VRL_MAX_ENTRIES);
				return SA_ERR_TRUST_LIST;
			}
			if (v->n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				void *p = realloc(v->fps, ncap * 32);

				if (p == NULL)
					return SA_ERR_NOMEM;
				v->fps = p;
				cap = ncap;
			}
			if (parse_fp(text, v->fps[v->n]) != 0) {
				why_set(why, whylen,
					"Revoked is not 64 lowercase hex "
					"digits");
				return SA_ERR_TRUST_LIST;
			}
			v->n++;
		} else {
			/* unknown or repeated elements: two values invite
			 * two readings */
			why_set(why, whylen, "unexpected or repeated %.40s",
				(const char *)c->name);
			return SA_ERR_TRUST_LIST;
		}
	}
	if (!have_seq || !have_issued || !have_next) {
		why_set(why, whylen,
			"SequenceNumber, IssueTime and NextUpdate are "
			"required");
		return SA_ERR_TRUST_LIST;
	}
	if (v->n > 1) {
		qsort(v->fps, v->n, 32, fp_cmp);
		for (size_t i = 1; i < v->n; i++)
			if (memcmp(v->fps[i - 1], v->fps[i], 32) == 0) {
				why_set(why, whylen, "duplicate entry");
				return SA_ERR_TRUST_LIST;
			}
	}
	return SA_OK;
}

enum sa_err
vrl_load(const unsigned char *xml, size_t n, EVP_PKEY *const *pinned,
	 size_t npinned, struct vrl **out, char *why, size_t whylen)
{
	xmlDocPtr doc = NULL;
	struct vrl *v = NULL;
	struct xmldsig_result res;
	enum sa_err rc;

	memset(&res, 0, sizeof(res));
	rc = xmldsig_parse(xml, n, &doc, why, whylen);
	if (rc != SA_OK)
		return rc;
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	rc = parse_doc(doc, v, why, whylen);
	if (rc != SA_OK)
		goto out;
	rc = xmldsig_verify(doc, pinned, npinned, &res);
	if (rc != SA_OK) {
		why_set(why, whylen, "signature: %s", res.reason);
		goto out;
	}
	*out = v;
	v = NULL;
out:
	xmldsig_result_clear(&res);
	vrl_free(v);
	xmlFreeDoc(doc);
	return rc;
}

int
vrl_contains(const struct vrl *v, const unsigned char fp[32])
{
	if (v == NULL || v->n == 0)
		return 0;
	return bsearch(fp, v->fps, v->n, 32, fp_cmp) != NULL;
}

enum sa_err
vrl_add(struct vrl *v, const unsigned char fp[32])
{
	size_t lo = 0, hi = v->n;
	void *p;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(v->fps[mid], fp, 32);

		if (c == 0)
			return SA_OK;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (v->n >= VRL_MAX_ENTRIES)
		return SA_ERR_VALIDATION;
	p = realloc(v->fps, (v->n + 1) * 32);
	if (p == NULL)
		return SA_ERR_NOMEM;
	v->fps = p;
	memmove(v->fps[lo + 1], v->fps[lo], (v->n - lo) * 32);
	memcpy(v->fps[lo], fp, 32);
	v->n++;
	return SA_OK;
}

static xmlNodePtr
add_text(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *value)
{
	return xmlNewTextChild(parent, ns, (const xmlChar *)name,
			       (const xmlChar *)value);
}

enum sa_err
vrl_build(const struct vrl *v, EVP_PKEY *key, X509 *cert, unsigned char **out,
	  size_t *outlen)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	xmlNsPtr ns;
	unsigned char(*sorted)[32] = NULL;
	char num[32], t[21];
	enum sa_err rc;

	if ((rc = xmldsig_global_init()) != SA_OK)
		return rc;
	if (v->n > VRL_MAX_ENTRIES)
		return SA_ERR_VALIDATION;
	rc = SA_ERR_NOMEM;
	if (v->n > 0) {
		sorted = malloc(v->n * 32);
		if (sorted == NULL)
			goto out;
		memcpy(sorted, v->fps, v->n * 32);
		qsort(sorted, v->n, 32, fp_cmp);
	}
	doc = xmlNewDoc((const xmlChar *)"1.0");
	if (doc == NULL)
		goto out;
	root = xmlNewDocNode(doc, NULL, (const xmlChar *)"SealRevocationList",
			     NULL);
	if (root == NULL)
		goto out;
	xmlDocSetRootElement(doc, root);
	ns = xmlNewNs(root, (const xmlChar *)VRL_NS, NULL);
	if (ns == NULL)
		goto out;
	xmlSetNs(root, ns);
	if (v->authority[0] != '\0' &&
	    add_text(root, ns, "IssuingAuthority", v->authority) == NULL)
		goto out;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v->sequence);
	if (add_text(root, ns, "SequenceNumber", num) == NULL)
		goto out;
	iso8601_utc(v->issued, t);
	if (add_text(root, ns, "IssueTime", t) == NULL)
		goto out;
	iso8601_utc(v->next_update, t);
	if (add_text(root, ns, "NextUpdate", t) == NULL)
		goto out;
	for (size_t i = 0; i < v->n; i++) {
		char *hex;

		if (i > 0 && memcmp(sorted[i - 1], sorted[i], 32) == 0)
			continue;
		hex = hex_encode(sorted[i], 32);
		if (hex == NULL || add_text(root, ns, "Revoked", hex) == NULL) {
			free(hex);
			goto out;
		}
		free(hex);
	}
	rc = xmldsig_sign_dump(doc, key, cert, out, outlen);
out:
	free(sorted);
	if (doc != NULL)
		xmlFreeDoc(doc);
	return rc;
}

void
vrl_free(struct vrl *v)
{
	if (v == NULL)
		return;
	free(v->fps);
	free(v);
}
