/*
 * tsl.c - ETSI TS 119 612 trust lists: parse into structs, verify the
 * enveloped signature with pinned keys, build and sign our own lists.
 *
 * The parser is namespace-aware (only elements in TSL_NS count), reads
 * children by name rather than by position, bounds every count and length,
 * and refuses repeated single-valued elements. It keeps the xmlDoc so the
 * signature is verified over exactly the document the fields came from.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "trust/tsl.h"
#include "core/util.h"
#include "trust/xmldsig.h"

#define NS_ADDTYPES "http://uri.etsi.org/02231/v2/additionaltypes#"
#define TSL_TAG "http://uri.etsi.org/19612/TSLTag"

/* The parse state: where the reason for a refusal goes. */
struct pctx {
	char *why;
	size_t whylen;
};

static enum sa_err refuse(struct pctx *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* refuse records why the list is refused and returns SA_ERR_TRUST_LIST. */
static enum sa_err
refuse(struct pctx *p, const char *fmt, ...)
{
	va_list ap;

	if (p->why != NULL && p->whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(p->why, p->whylen, fmt, ap);
		va_end(ap);
	}
	return SA_ERR_TRUST_LIST;
}

static int
is_el(const xmlNode *n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	       xmlStrEqual(n->ns->href, (const xmlChar *)TSL_NS) &&
	       xmlStrEqual(n->name, (const xmlChar *)name);
}

static xmlNodePtr
elem_next(xmlNodePtr n)
{
	while (n != NULL && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

/* child returns the first TSL-namespace child of parent with this name. */
static xmlNodePtr
child(xmlNodePtr parent, const char *name)
{
	if (parent == NULL)
		return NULL;
	for (xmlNodePtr c = elem_next(parent->children); c != NULL;
	     c = elem_next(c->next))
		if (is_el(c, name))
			return c;
	return NULL;
}

/*
 * single finds a child that may appear at most once: *out is the child or
 * NULL when absent; a repeat is refused (two values invite two readings).
 */
static enum sa_err
single(struct pctx *p, xmlNodePtr parent, const char *name, xmlNodePtr *out)
{
	xmlNodePtr first = NULL;

	*out = NULL;
	if (parent == NULL)
		return SA_OK;
	for (xmlNodePtr c = elem_next(parent->children); c != NULL;
	     c = elem_next(c->next)) {
		if (!is_el(c, name))
			continue;
		if (first != NULL)
			return refuse(p, "%s appears more than once", name);
		first = c;
	}
	*out = first;
	return SA_OK;
}

/*
 * text reads the text content of node, trimmed of XML whitespace, into a
 * new string (caller frees). Text over TSL_MAX_TEXT bytes is refused.
 */
static enum sa_err
text(struct pctx *p, xmlNodePtr node, size_t max, char **out)
{
	xmlChar *raw = xmlNodeGetContent(node);
	const char *s, *e;
	char *r;

	if (raw == NULL)
		return SA_ERR_NOMEM;
	s = (const char *)raw;
	e = s + strlen(s);
	while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
			 e[-1] == '\n'))
		e--;
	if ((size_t)(e - s) > max) {
		xmlFree(raw);
		return refuse(p, "%s text is longer than %zu bytes",
			      (const char *)node->name, max);
	}
	r = strndup(s, (size_t)(e - s));
	xmlFree(raw);
	if (r == NULL)
		return SA_ERR_NOMEM;
	*out = r;
	return SA_OK;
}

/* opt_text reads the text of an optional single child (NULL if absent). */
static enum sa_err
opt_text(struct pctx *p, xmlNodePtr parent, const char *name, char **out)
{
	xmlNodePtr n;
	enum sa_err rc = single(p, parent, name, &n);

	*out = NULL;
	if (rc != SA_OK || n == NULL)
		return rc;
	return text(p, n, TSL_MAX_TEXT, out);
}

/* first_name reads the first Name child of a multilingual element. */
static enum sa_err
first_name(struct pctx *p, xmlNodePtr parent, char **out)
{
	xmlNodePtr n = child(parent, "Name");

	*out = NULL;
	if (n == NULL)
		return SA_OK;
	return text(p, n, TSL_MAX_TEXT, out);
}

/*
 * grow makes room for one more element in a growable array, refusing to
 * pass max elements.
 */
static enum sa_err
grow(struct pctx *p, void **arr, size_t n, size_t elem, size_t max,
     const char *what)
{
	void *na;

	if (n >= max)
		return refuse(p, "more than %zu %s", max, what);
	/* double at powers of two so the cost stays linear */
	if (n != 0 && (n & (n - 1)) != 0)
		return SA_OK;
	na = realloc(*arr, (n == 0 ? 1 : 2 * n) * elem);
	if (na == NULL)
		return SA_ERR_NOMEM;
	*arr = na;
	return SA_OK;
}

/*
 * append makes room for one more element of elem bytes at the end of the
 * growable array *arr of *n (as grow does), zeroes it, counts it and points
 * *out at it.
 */
static enum sa_err
append(struct pctx *p, void **arr, size_t *n, size_t elem, size_t max,
       const char *what, void **out)
{
	enum sa_err rc = grow(p, arr, *n, elem, max, what);

	if (rc != SA_OK)
		return rc;
	*out = (unsigned char *)*arr + (*n)++ * elem;
	memset(*out, 0, elem);
	return SA_OK;
}

static int
is_time_digit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* days_from_civil counts days from 1970-01-01 (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned int)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

enum sa_err
tsl_parse_time(const char *s, int64_t *out)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, se, off = 0;
	size_t n = strlen(s), i = 19;
	int64_t t;

	if (n < 20 || !is_time_digit(s, 4) || s[4] != '-' ||
	    !is_time_digit(s + 5, 2) || s[7] != '-' ||
	    !is_time_digit(s + 8, 2) || s[10] != 'T' ||
	    !is_time_digit(s + 11, 2) || s[13] != ':' ||
	    !is_time_digit(s + 14, 2) || s[16] != ':' ||
	    !is_time_digit(s + 17, 2))
		return SA_ERR_TRUST_LIST;
	y = dec_value(s, 4);
	mo = dec_value(s + 5, 2);
	d = dec_value(s + 8, 2);
	h = dec_value(s + 11, 2);
	mi = dec_value(s + 14, 2);
	se = dec_value(s + 17, 2);
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || se > 59)
		return SA_ERR_TRUST_LIST;
	if (mo == 2 && d == 29 &&
	    !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return SA_ERR_TRUST_LIST;
	if (s[i] == '.') {
		size_t k = ++i;

		while (i < n && i - k < 12 && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == k)
			return SA_ERR_TRUST_LIST;
	}
	if (i + 1 == n && s[i] == 'Z') {
		off = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') &&
		   is_time_digit(s + i + 1, 2) && s[i + 3] == ':' &&
		   is_time_digit(s + i + 4, 2)) {
		int oh = dec_value(s + i + 1, 2), om = dec_value(s + i + 4, 2);

		if (oh > 14 || om > 59)
			return SA_ERR_TRUST_LIST;
		off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
	} else {
		return SA_ERR_TRUST_LIST;
	}
	t = days_from_civil(y, (unsigned int)mo, (unsigned int)d) * 86400 +
	    h * 3600 + mi * 60 + se - off;
	*out = t;
	return SA_OK;
}

/* time_of reads an element's text as an xsd:dateTime. */
static enum sa_err
time_of(struct pctx *p, xmlNodePtr node, int64_t *out)
{
	char *s = NULL;
	enum sa_err rc = text(p, node, 64, &s);

	if (rc != SA_OK)
		return rc;
	rc = tsl_parse_time(s, out);
	if (rc != SA_OK)
		rc = refuse(p, "%s \"%.40s\" is not an xsd:dateTime with zone",
			    (const char *)node->name, s);
	free(s);
	return rc;
}

/* uint_of reads an element's text as an unsigned decimal integer. */
static enum sa_err
uint_of(struct pctx *p, xmlNodePtr node, uint64_t max, uint64_t *out)
{
	char *s = NULL;
	uint64_t v = 0;
	enum sa_err rc = text(p, node, 24, &s);

	if (rc != SA_OK)
		return rc;
	rc = SA_OK;
	if (s[0] == '\0')
		rc = refuse(p, "%s is empty", (const char *)node->name);
	for (size_t i = 0; rc == SA_OK && s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    v > (max - (uint64_t)(s[i] - '0')) / 10)
			rc =
			    refuse(p, "%s \"%.24s\" is not a number up to %llu",
				   (const char *)node->name, s,
				   (unsigned long long)max);
		else
			v = v * 10 + (uint64_t)(s[i] - '0');
	}
	free(s);
	if (rc == SA_OK)
		*out = v;
	return rc;
}

/*
 * add_cert decodes one X509Certificate element (base64 after XML
 * unescaping, all whitespace skipped) onto a certificate array.
 */
static enum sa_err
add_cert(struct pctx *p, xmlNodePtr node, struct tsl_cert **certs,
	 size_t *ncerts)
{
	xmlChar *raw;
	struct tsl_cert c = {0};
	enum sa_err rc;

	rc = grow(p, (void **)certs, *ncerts, sizeof(**certs), TSL_MAX_CERTS,
		  "certificates in one identity list");
	if (rc != SA_OK)
		return rc;
	raw = xmlNodeGetContent(node);
	if (raw == NULL)
		return SA_ERR_NOMEM;
	rc = xmldsig_b64_decode((const char *)raw, TSL_MAX_CERT_B64, &c.der,
				&c.len);
	xmlFree(raw);
	if (rc == SA_ERR_NOMEM)
		return rc;
	if (rc != SA_OK || c.len == 0) {
		free(c.der);
		return refuse(p, "X509Certificate is not base64 (or too long)");
	}
	(*certs)[(*ncerts)++] = c;
	return SA_OK;
}

/*
 * identity_certs adds the X509Certificate elements of one
 * ServiceDigitalIdentity (DigitalId/X509Certificate) to an array; with
 * certs NULL it only counts them in *ncerts, decoding nothing.
 */
static enum sa_err
identity_certs(struct pctx *p, xmlNodePtr sdi, struct tsl_cert **certs,
	       size_t *ncerts)
{
	for (xmlNodePtr d = elem_next(sdi->children); d != NULL;
	     d = elem_next(d->next)) {
		if (!is_el(d, "DigitalId"))
			continue;
		for (xmlNodePtr x = elem_next(d->children); x != NULL;
		     x = elem_next(x->next)) {
			enum sa_err rc;

			if (!is_el(x, "X509Certificate"))
				continue;
			if (certs == NULL) {
				(*ncerts)++;
				continue;
			}
			rc = add_cert(p, x, certs, ncerts);
			if (rc != SA_OK)
				return rc;
		}
	}
	return SA_OK;
}

static void
kv_free(struct tsl_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].ns);
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

/*
 * leaves appends every element with text and no element children below
 * node (node included) as a (ns, path, value) pair. path is node's path so
 * far; depth is bounded by TSL_MAX_DEPTH.
 */
static enum sa_err
leaves(struct pctx *p, xmlNodePtr node, const char *path, const char *ns,
       int critical, unsigned int depth, struct tsl_kv **kv, size_t *nkv)
{
	char *mypath;
	size_t plen;
	int has_child = 0;
	enum sa_err rc = SA_OK;

	if (depth > TSL_MAX_DEPTH)
		return refuse(p, "information nested deeper than %d",
			      TSL_MAX_DEPTH);
	plen = (path != NULL ? strlen(path) + 1 : 0) +
	       strlen((const char *)node->name) + 1;
	if (plen > 512)
		return refuse(p, "information path too long");
	mypath = malloc(plen);
	if (mypath == NULL)
		return SA_ERR_NOMEM;
	mypath[0] = '\0';
	if (path != NULL) {
		strcpy(mypath, path);
		strcat(mypath, "/");
	}
	strcat(mypath, (const char *)node->name);
	for (xmlNodePtr c = elem_next(node->children); c != NULL && rc == SA_OK;
	     c = elem_next(c->next)) {
		has_child = 1;
		rc = leaves(p, c, mypath, ns, critical, depth + 1, kv, nkv);
	}
	if (rc == SA_OK && !has_child) {
		struct tsl_kv item = {0};

		rc = text(p, node, TSL_MAX_TEXT, &item.value);
		if (rc == SA_OK && item.value[0] == '\0') {
			/* attribute-only leaves carry nothing we keep */
			free(item.value);
			free(mypath);
			return SA_OK;
		}
		if (rc == SA_OK)
			rc = grow(p, (void **)kv, *nkv, sizeof(**kv),
				  TSL_MAX_KV, "information values");
		if (rc == SA_OK) {
			item.critical = critical;
			item.name = mypath;
			mypath = NULL;
			if (ns != NULL && (item.ns = strdup(ns)) == NULL)
				rc = SA_ERR_NOMEM;
			(*kv)[(*nkv)++] = item;
		} else {
			free(item.value);
		}
	}
	free(mypath);
	return rc;
}

/* child_leaves runs leaves on every element child of parent, each in the
 * namespace it declares: the content of an extension or OtherInformation. */
static enum sa_err
child_leaves(struct pctx *p, xmlNodePtr parent, int critical,
	     struct tsl_kv **kv, size_t *nkv)
{
	enum sa_err rc = SA_OK;

	for (xmlNodePtr c = elem_next(parent->children);
	     c != NULL && rc == SA_OK; c = elem_next(c->next))
		rc = leaves(p, c, NULL,
			    c->ns != NULL ? (const char *)c->ns->href : NULL,
			    critical, 0, kv, nkv);
	return rc;
}

static const char *
kv_find(const struct tsl_kv *kv, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].name, name) == 0)
			return kv[i].value;
	return NULL;
}

/* parse_pointer reads one OtherTSLPointer. */
static enum sa_err
parse_pointer(struct pctx *p, xmlNodePtr node, struct tsl_pointer *ptr)
{
	xmlNodePtr sdis = child(node, "ServiceDigitalIdentities"), ai;
	enum sa_err rc;

	rc = opt_text(p, node, "TSLLocation", &ptr->location);
	if (rc != SA_OK)
		return rc;
	if (ptr->location == NULL)
		return refuse(p, "OtherTSLPointer has no TSLLocation");
	for (xmlNodePtr s = sdis != NULL ? elem_next(sdis->children) : NULL;
	     s != NULL; s = elem_next(s->next)) {
		if (!is_el(s, "ServiceDigitalIdentity"))
			continue;
		rc = identity_certs(p, s, &ptr->certs, &ptr->ncerts);
		if (rc != SA_OK)
			return rc;
	}
	rc = single(p, node, "AdditionalInformation", &ai);
	if (rc != SA_OK)
		return rc;
	for (xmlNodePtr o = ai != NULL ? elem_next(ai->children) : NULL;
	     o != NULL; o = elem_next(o->next)) {
		if (is_el(o, "TextualInformation")) {
			rc = leaves(p, o, NULL, TSL_NS, 0, 0, &ptr->info,
				    &ptr->ninfo);
		} else if (is_el(o, "OtherInformation")) {
			rc = child_leaves(p, o, 0, &ptr->info, &ptr->ninfo);
		}
		if (rc != SA_OK)
			return rc;
	}
	ptr->tsl_type = kv_find(ptr->info, ptr->ninfo, "TSLType");
	ptr->territory = kv_find(ptr->info, ptr->ninfo, "SchemeTerritory");
	ptr->mime_type = kv_find(ptr->info, ptr->ninfo, "MimeType");
	return SA_OK;
}

/* parse_service reads one TSPService of provider tsp. */
static enum sa_err
parse_service(struct pctx *p, xmlNodePtr node, size_t tsp,
	      struct tsl_service *s)
{
	xmlNodePtr si, n, hist;
	enum sa_err rc;

	s->tsp = tsp;
	rc = single(p, node, "ServiceInformation", &si);
	if (rc != SA_OK)
		return rc;
	if (si == NULL)
		return refuse(p, "TSPService has no ServiceInformation");
	if ((rc = opt_text(p, si, "ServiceTypeIdentifier", &s->type)) !=
		SA_OK ||
	    (rc = opt_text(p, si, "ServiceStatus", &s->status)) != SA_OK ||
	    (rc = single(p, si, "ServiceName", &n)) != SA_OK ||
	    (rc = first_name(p, n, &s->name)) != SA_OK ||
	    (rc = single(p, si, "StatusStartingTime", &n)) != SA_OK)
		return rc;
	if (n != NULL) {
		rc = time_of(p, n, &s->status_start);
		if (rc != SA_OK)
			return rc;
		s->has_status_start = 1;
	}
	rc = single(p, si, "ServiceDigitalIdentity", &n);
	if (rc == SA_OK && n != NULL)
		rc = identity_certs(p, n, &s->certs, &s->ncerts);
	if (rc != SA_OK)
		return rc;
	rc = single(p, si, "ServiceInformationExtensions", &n);
	for (xmlNodePtr e = n != NULL ? elem_next(n->children) : NULL;
	     e != NULL && rc == SA_OK; e = elem_next(e->next)) {
		xmlChar *crit;
		int critical;

		if (!is_el(e, "Extension"))
			continue;
		crit = xmlGetNoNsProp(e, (const xmlChar *)"Critical");
		critical = crit != NULL &&
			   (xmlStrEqual(crit, (const xmlChar *)"true") ||
			    xmlStrEqual(crit, (const xmlChar *)"1"));
		xmlFree(crit);
		rc = child_leaves(p, e, critical, &s->ext, &s->next);
	}
	if (rc != SA_OK)
		return rc;
	/* history is counted apart from the current information */
	rc = single(p, node, "ServiceHistory", &hist);
	for (xmlNodePtr h = hist != NULL ? elem_next(hist->children) : NULL;
	     h != NULL && rc == SA_OK; h = elem_next(h->next)) {
		if (!is_el(h, "ServiceHistoryInstance"))
			continue;
		if (s->nhistory >= TSL_MAX_HISTORY)
			return refuse(p, "more than %d history instances",
				      TSL_MAX_HISTORY);
		s->nhistory++;
		n = child(h, "ServiceDigitalIdentity");
		if (n != NULL)
			identity_certs(p, n, NULL, &s->nhistory_certs);
	}
	return rc;
}

/* parse_tsp reads one TrustServiceProvider and appends its services. */
static enum sa_err
parse_tsp(struct pctx *p, xmlNodePtr node, struct tsl *t)
{
	xmlNodePtr info = child(node, "TSPInformation"), svcs;
	struct tsl_tsp *tsp;
	enum sa_err rc;

	rc = append(p, (void **)&t->tsps, &t->ntsps, sizeof(*t->tsps),
		    TSL_MAX_TSPS, "trust service providers", (void **)&tsp);
	if (rc != SA_OK)
		return rc;
	tsp->first_service = t->nservices;
	rc = first_name(p, child(info, "TSPName"), &tsp->name);
	if (rc != SA_OK)
		return rc;
	rc = single(p, node, "TSPServices", &svcs);
	for (xmlNodePtr s = svcs != NULL ? elem_next(svcs->children) : NULL;
	     s != NULL && rc == SA_OK; s = elem_next(s->next)) {
		struct tsl_service *svc;

		if (!is_el(s, "TSPService"))
			continue;
		rc = append(p, (void **)&t->services, &t->nservices,
			    sizeof(*t->services), TSL_MAX_SERVICES,
			    "trust services", (void **)&svc);
		if (rc != SA_OK)
			break;
		/* the TSP pointer may move as services grow; use the index */
		t->tsps[t->ntsps - 1].nservices++;
		rc = parse_service(p, s, t->ntsps - 1, svc);
	}
	return rc;
}

/* parse_scheme reads SchemeInformation. */
static enum sa_err
parse_scheme(struct pctx *p, xmlNodePtr si, struct tsl *t)
{
	xmlNodePtr n;
	uint64_t v;
	enum sa_err rc;

	if ((rc = single(p, si, "TSLVersionIdentifier", &n)) != SA_OK)
		return rc;
	if (n == NULL)
		return refuse(p, "no TSLVersionIdentifier");
	if ((rc = uint_of(p, n, 1000, &v)) != SA_OK)
		return rc;
	t->version = (unsigned int)v;
	if ((rc = single(p, si, "TSLSequenceNumber", &n)) != SA_OK)
		return rc;
	if (n == NULL)
		return refuse(p, "no TSLSequenceNumber");
	if ((rc = uint_of(p, n, UINT64_MAX, &t->sequence)) != SA_OK)
		return rc;
	if ((rc = opt_text(p, si, "TSLType", &t->type)) != SA_OK)
		return rc;
	if (t->type == NULL)
		return refuse(p, "no TSLType");
	if ((rc = opt_text(p, si, "SchemeTerritory", &t->territory)) != SA_OK ||
	    (rc = single(p, si, "SchemeOperatorName", &n)) != SA_OK ||
	    (rc = first_name(p, n, &t->operator_name)) != SA_OK)
		return rc;
	if ((rc = single(p, si, "ListIssueDateTime", &n)) != SA_OK)
		return rc;
	if (n == NULL)
		return refuse(p, "no ListIssueDateTime");
	if ((rc = time_of(p, n, &t->issued)) != SA_OK)
		return rc;
	if ((rc = single(p, si, "NextUpdate", &n)) != SA_OK)
		return rc;
	if (n != NULL && (n = child(n, "dateTime")) != NULL) {
		if ((rc = time_of(p, n, &t->next_update)) != SA_OK)
			return rc;
		t->has_next_update = 1;
	}
	rc = single(p, si, "PointersToOtherTSL", &n);
	for (xmlNodePtr c = n != NULL ? elem_next(n->children) : NULL;
	     c != NULL && rc == SA_OK; c = elem_next(c->next)) {
		struct tsl_pointer *ptr;

		if (!is_el(c, "OtherTSLPointer"))
			continue;
		rc = append(p, (void **)&t->pointers, &t->npointers,
			    sizeof(*t->pointers), TSL_MAX_POINTERS,
			    "OtherTSLPointer elements", (void **)&ptr);
		if (rc != SA_OK)
			break;
		rc = parse_pointer(p, c, ptr);
	}
	return rc;
}

enum sa_err
tsl_parse(const unsigned char *xml, size_t n, struct tsl **out, char *why,
	  size_t whylen)
{
	struct pctx p = {why, whylen};
	struct tsl *t;
	xmlNodePtr root, si, tspl;
	enum sa_err rc;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return SA_ERR_NOMEM;
	rc = xmldsig_parse(xml, n, &t->doc, why, whylen);
	if (rc != SA_OK)
		goto out;
	root = xmlDocGetRootElement(t->doc);
	if (!is_el(root, "TrustServiceStatusList")) {
		rc = refuse(&p, "root is not a TS 119 612 "
				"TrustServiceStatusList");
		goto out;
	}
	if ((rc = single(&p, root, "SchemeInformation", &si)) != SA_OK)
		goto out;
	if (si == NULL) {
		rc = refuse(&p, "no SchemeInformation");
		goto out;
	}
	if ((rc = parse_scheme(&p, si, t)) != SA_OK)
		goto out;
	if ((rc = single(&p, root, "TrustServiceProviderList", &tspl)) != SA_OK)
		goto out;
	for (xmlNodePtr c = tspl != NULL ? elem_next(tspl->children) : NULL;
	     c != NULL && rc == SA_OK; c = elem_next(c->next))
		if (is_el(c, "TrustServiceProvider"))
			rc = parse_tsp(&p, c, t);
	if (rc != SA_OK)
		goto out;
	*out = t;
	t = NULL;
out:
	if (rc == SA_ERR_NOMEM)
		refuse(&p, "out of memory");
	tsl_free(t);
	return rc;
}

static void
certs_free(struct tsl_cert *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].der);
	free(c);
}

void
tsl_free(struct tsl *t)
{
	if (t == NULL)
		return;
	if (t->doc != NULL)
		xmlFreeDoc(t->doc);
	free(t->type);
	free(t->territory);
	free(t->operator_name);
	for (size_t i = 0; i < t->npointers; i++) {
		free(t->pointers[i].location);
		certs_free(t->pointers[i].certs, t->pointers[i].ncerts);
		kv_free(t->pointers[i].info, t->pointers[i].ninfo);
	}
	free(t->pointers);
	for (size_t i = 0; i < t->ntsps; i++)
		free(t->tsps[i].name);
	free(t->tsps);
	for (size_t i = 0; i < t->nservices; i++) {
		struct tsl_service *s = &t->services[i];

		free(s->type);
		free(s->name);
		free(s->status);
		certs_free(s->certs, s->ncerts);
		kv_free(s->ext, s->next);
	}
	free(t->services);
	free(t);
}

enum sa_err
tsl_verify(struct tsl *t, EVP_PKEY *const *pinned, size_t npinned,
	   struct xmldsig_result *res)
{
	if (t == NULL || t->doc == NULL) {
		memset(res, 0, sizeof(*res));
		res->key_index = -1;
		res->status = XMLDSIG_MALFORMED;
		snprintf(res->reason, sizeof(res->reason),
			 "the list has no parsed document");
		return SA_ERR_INTERNAL;
	}
	return xmldsig_verify(t->doc, pinned, npinned, res);
}

/* The builder. Each helper returns NULL only when out of memory. */

static xmlNodePtr
add(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *value)
{
	return xmlNewTextChild(parent, ns, (const xmlChar *)name,
			       (const xmlChar *)value);
}

/* add_name adds <wrapper><Name xml:lang="en">value</Name></wrapper>. */
static xmlNodePtr
add_name(xmlNodePtr parent, xmlNsPtr ns, const char *wrapper, const char *value)
{
	xmlNodePtr w = add(parent, ns, wrapper, NULL);
	xmlNodePtr n = w != NULL ? add(w, ns, "Name", value) : NULL;

	if (n == NULL)
		return NULL;
	xmlNodeSetLang(n, (const xmlChar *)"en");
	return w;
}

static int
add_time(xmlNodePtr parent, xmlNsPtr ns, const char *name, int64_t t)
{
	char buf[21];

	iso8601_utc(t, buf);
	return add(parent, ns, name, buf) != NULL ? 0 : -1;
}

/* add_identity adds one ServiceDigitalIdentity holding certs. */
static int
add_identity(xmlNodePtr parent, xmlNsPtr ns, const struct tsl_cert *certs,
	     size_t ncerts, int one_per_identity)
{
	xmlNodePtr sdi = NULL;

	for (size_t i = 0; i < ncerts; i++) {
		xmlNodePtr d;
		char *b64;

		if (sdi == NULL || one_per_identity) {
			sdi = add(parent, ns, "ServiceDigitalIdentity", NULL);
			if (sdi == NULL)
				return -1;
		}
		d = add(sdi, ns, "DigitalId", NULL);
		b64 = b64_encode(certs[i].der, certs[i].len);
		if (d == NULL || b64 == NULL ||
		    add(d, ns, "X509Certificate", b64) == NULL) {
			free(b64);
			return -1;
		}
		free(b64);
	}
	return 0;
}

/*
 * add_kv writes one (ns, path, value) pair as nested elements below parent:
 * "A/B" becomes <A><B>value</B></A>. Leaves named Name or URI get
 * xml:lang="en", as TS 119 612 multilingual types require.
 */
static int
add_kv(xmlNodePtr parent, xmlNsPtr tslns, const struct tsl_kv *kv)
{
	xmlNsPtr ns = tslns;
	char *path = strdup(kv->name), *save = NULL, *tok, *next;
	xmlNodePtr cur = parent;
	int ret = -1;

	if (path == NULL)
		return -1;
	if (kv->ns != NULL && strcmp(kv->ns, TSL_NS) != 0) {
		ns = xmlSearchNsByHref(parent->doc, parent,
				       (const xmlChar *)kv->ns);
		if (ns == NULL)
			ns = xmlNewNs(xmlDocGetRootElement(parent->doc),
				      (const xmlChar *)kv->ns, NULL);
		if (ns == NULL)
			goto out;
	}
	for (tok = strtok_r(path, "/", &save); tok != NULL; tok = next) {
		next = strtok_r(NULL, "/", &save);
		cur = add(cur, ns, tok, next == NULL ? kv->value : NULL);
		if (cur == NULL)
			goto out;
		if (next == NULL &&
		    (strcmp(tok, "Name") == 0 || strcmp(tok, "URI") == 0))
			xmlNodeSetLang(cur, (const xmlChar *)"en");
	}
	ret = 0;
out:
	free(path);
	return ret;
}

/*
 * declare_kv_namespaces declares on root each foreign namespace of the n
 * pairs kv that root does not know yet, with the next prefix ns<*k>.
 */
static int
declare_kv_namespaces(xmlNodePtr root, const struct tsl_kv *kv, size_t n,
		      unsigned int *k)
{
	for (size_t j = 0; j < n; j++) {
		const char *ns = kv[j].ns;
		char pfx[16];

		if (ns == NULL || strcmp(ns, TSL_NS) == 0 ||
		    xmlSearchNsByHref(root->doc, root, (const xmlChar *)ns) !=
			NULL)
			continue;
		snprintf(pfx, sizeof(pfx), "ns%u", (*k)++);
		if (xmlNewNs(root, (const xmlChar *)ns, (const xmlChar *)pfx) ==
		    NULL)
			return -1;
	}
	return 0;
}

/*
 * declare_namespaces declares every foreign namespace of the pairs once on
 * the root, with prefixes ns1, ns2, ..., so add_kv finds them there.
 */
static int
declare_namespaces(xmlNodePtr root, const struct tsl *in)
{
	unsigned int k = 1;

	for (size_t i = 0; i < in->npointers; i++)
		if (declare_kv_namespaces(root, in->pointers[i].info,
					  in->pointers[i].ninfo, &k) != 0)
			return -1;
	for (size_t i = 0; i < in->nservices; i++)
		if (declare_kv_namespaces(root, in->services[i].ext,
					  in->services[i].next, &k) != 0)
			return -1;
	return 0;
}

/* build_service writes one TSPService. */
static int
build_service(xmlNodePtr parent, xmlNsPtr ns, const struct tsl_service *s)
{
	xmlNodePtr svc = add(parent, ns, "TSPService", NULL);
	xmlNodePtr si =
	    svc != NULL ? add(svc, ns, "ServiceInformation", NULL) : NULL;
	xmlNodePtr exts;

	if (si == NULL)
		return -1;
	if (s->type != NULL &&
	    add(si, ns, "ServiceTypeIdentifier", s->type) == NULL)
		return -1;
	if (s->name != NULL && add_name(si, ns, "ServiceName", s->name) == NULL)
		return -1;
	if (s->ncerts > 0 && add_identity(si, ns, s->certs, s->ncerts, 0) != 0)
		return -1;
	if (s->status != NULL &&
	    add(si, ns, "ServiceStatus", s->status) == NULL)
		return -1;
	if (s->has_status_start &&
	    add_time(si, ns, "StatusStartingTime", s->status_start) != 0)
		return -1;
	if (s->next == 0)
		return 0;
	exts = add(si, ns, "ServiceInformationExtensions", NULL);
	if (exts == NULL)
		return -1;
	for (size_t i = 0; i < s->next; i++) {
		xmlNodePtr e = add(exts, ns, "Extension", NULL);

		if (e == NULL ||
		    xmlNewProp(e, (const xmlChar *)"Critical",
			       (const xmlChar *)(s->ext[i].critical
						     ? "true"
						     : "false")) == NULL ||
		    add_kv(e, ns, &s->ext[i]) != 0)
			return -1;
	}
	return 0;
}

/* build_doc writes the unsigned document for in. */
static xmlDocPtr
build_doc(const struct tsl *in)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNodePtr root, si, n;
	xmlNsPtr ns;
	char num[32];

	if (doc == NULL)
		return NULL;
	root = xmlNewDocNode(doc, NULL,
			     (const xmlChar *)"TrustServiceStatusList", NULL);
	if (root == NULL)
		goto fail;
	xmlDocSetRootElement(doc, root);
	ns = xmlNewNs(root, (const xmlChar *)TSL_NS, NULL);
	if (ns == NULL)
		goto fail;
	xmlSetNs(root, ns);
	if (xmlNewProp(root, (const xmlChar *)"TSLTag",
		       (const xmlChar *)TSL_TAG) == NULL ||
	    declare_namespaces(root, in) != 0)
		goto fail;
	si = add(root, ns, "SchemeInformation", NULL);
	if (si == NULL)
		goto fail;
	snprintf(num, sizeof(num), "%u", in->version);
	if (add(si, ns, "TSLVersionIdentifier", num) == NULL)
		goto fail;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)in->sequence);
	if (add(si, ns, "TSLSequenceNumber", num) == NULL ||
	    add(si, ns, "TSLType", in->type != NULL ? in->type : "") == NULL)
		goto fail;
	if (in->operator_name != NULL &&
	    add_name(si, ns, "SchemeOperatorName", in->operator_name) == NULL)
		goto fail;
	if (in->territory != NULL &&
	    add(si, ns, "SchemeTerritory", in->territory) == NULL)
		goto fail;
	if (in->npointers > 0) {
		xmlNodePtr pl = add(si, ns, "PointersToOtherTSL", NULL);

		if (pl == NULL)
			goto fail;
		for (size_t i = 0; i < in->npointers; i++) {
			const struct tsl_pointer *ptr = &in->pointers[i];
			xmlNodePtr pe = add(pl, ns, "OtherTSLPointer", NULL);
			xmlNodePtr ids, ai;

			if (pe == NULL)
				goto fail;
			if (ptr->ncerts > 0) {
				ids = add(pe, ns, "ServiceDigitalIdentities",
					  NULL);
				if (ids == NULL ||
				    add_identity(ids, ns, ptr->certs,
						 ptr->ncerts, 1) != 0)
					goto fail;
			}
			if (add(pe, ns, "TSLLocation",
				ptr->location != NULL ? ptr->location : "") ==
			    NULL)
				goto fail;
			if (ptr->ninfo == 0)
				continue;
			ai = add(pe, ns, "AdditionalInformation", NULL);
			if (ai == NULL)
				goto fail;
			for (size_t j = 0; j < ptr->ninfo; j++) {
				xmlNodePtr oi =
				    add(ai, ns, "OtherInformation", NULL);

				if (oi == NULL ||
				    add_kv(oi, ns, &ptr->info[j]) != 0)
					goto fail;
			}
		}
	}
	if (add_time(si, ns, "ListIssueDateTime", in->issued) != 0)
		goto fail;
	n = add(si, ns, "NextUpdate", NULL);
	if (n == NULL || (in->has_next_update &&
			  add_time(n, ns, "dateTime", in->next_update) != 0))
		goto fail;
	if (in->ntsps > 0) {
		xmlNodePtr tl = add(root, ns, "TrustServiceProviderList", NULL);

		if (tl == NULL)
			goto fail;
		for (size_t i = 0; i < in->ntsps; i++) {
			const struct tsl_tsp *tsp = &in->tsps[i];
			xmlNodePtr tp =
			    add(tl, ns, "TrustServiceProvider", NULL);
			xmlNodePtr info =
			    tp != NULL ? add(tp, ns, "TSPInformation", NULL)
				       : NULL;
			xmlNodePtr svcs;

			if (info == NULL ||
			    add_name(info, ns, "TSPName",
				     tsp->name != NULL ? tsp->name : "") ==
				NULL)
				goto fail;
			svcs = add(tp, ns, "TSPServices", NULL);
			if (svcs == NULL ||
			    tsp->first_service + tsp->nservices <
				tsp->first_service ||
			    tsp->first_service + tsp->nservices > in->nservices)
				goto fail;
			for (size_t k = 0; k < tsp->nservices; k++)
				if (build_service(
					svcs, ns,
					&in->services[tsp->first_service +
						      k]) != 0)
					goto fail;
		}
	}
	return doc;
fail:
	xmlFreeDoc(doc);
	return NULL;
}

enum sa_err
tsl_build(const struct tsl *in, EVP_PKEY *key, X509 *cert, unsigned char **out,
	  size_t *outlen)
{
	xmlDocPtr doc = NULL;
	enum sa_err rc;

	rc = xmldsig_global_init();
	if (rc != SA_OK)
		return rc;
	if (in == NULL || in->type == NULL)
		return SA_ERR_INTERNAL;
	doc = build_doc(in);
	if (doc == NULL) {
		rc = SA_ERR_NOMEM;
		goto out;
	}
	rc = xmldsig_sign_dump(doc, key, cert, out, outlen);
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	return rc;
}
