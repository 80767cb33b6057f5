/*
 * saml_xml.c - the XML, time, id and DEFLATE helpers every SAML file uses.
 * Parsing goes through trust/xmldsig.c, the one place libxml2 reads
 * untrusted bytes; this file adds SAML's tighter size and depth limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <zlib.h>

#include "core/util.h"
#include "saml/saml_xml.h"
#include "trust/xmldsig.h"

/*
 * too_deep tells whether an element of doc nests deeper than max, walking
 * without recursion (the depth is the attacker's to choose).
 */
static int
too_deep(xmlNodePtr root, int max)
{
	xmlNodePtr n = root;
	int depth = 1;

	while (n != NULL) {
		xmlNodePtr c = saml_first_elem(n);

		if (c != NULL) {
			if (++depth > max)
				return 1;
			n = c;
			continue;
		}
		while (n != NULL && n != root && saml_next_elem(n) == NULL) {
			n = n->parent;
			depth--;
		}
		if (n == NULL || n == root)
			break;
		n = saml_next_elem(n);
	}
	return 0;
}

enum sa_err
saml_xml_parse(const unsigned char *xml, size_t n, xmlDocPtr *out, char *why,
	       size_t whylen)
{
	xmlDocPtr doc = NULL;
	enum sa_err rc;

	if (n > SAML_MSG_MAX) {
		why_set(why, whylen, "message of %zu bytes exceeds %u", n,
			SAML_MSG_MAX);
		return SA_ERR_SAML_REQUEST;
	}
	rc = xmldsig_parse(xml, n, &doc, why, whylen);
	if (rc == SA_ERR_NOMEM || rc == SA_ERR_INTERNAL)
		return rc;
	if (rc != SA_OK)
		return SA_ERR_SAML_REQUEST;
	if (too_deep(xmlDocGetRootElement(doc), SAML_DEPTH_MAX)) {
		why_set(why, whylen, "elements nest deeper than %d",
			SAML_DEPTH_MAX);
		xmlFreeDoc(doc);
		return SA_ERR_SAML_REQUEST;
	}
	*out = doc;
	return SA_OK;
}

int
saml_is(const xmlNode *node, const char *ns, const char *name)
{
	return xmldsig_is_elem(node, ns, name);
}

xmlNodePtr
saml_first_elem(xmlNodePtr node)
{
	return xmldsig_first_elem(node);
}

xmlNodePtr
saml_next_elem(xmlNodePtr node)
{
	return xmldsig_next_elem(node);
}

xmlNodePtr
saml_child(xmlNodePtr node, const char *ns, const char *name)
{
	for (xmlNodePtr c = saml_first_elem(node); c != NULL;
	     c = saml_next_elem(c))
		if (saml_is(c, ns, name))
			return c;
	return NULL;
}

size_t
saml_count_children(xmlNodePtr node, const char *ns, const char *name)
{
	size_t n = 0;

	for (xmlNodePtr c = saml_first_elem(node); c != NULL;
	     c = saml_next_elem(c))
		if (saml_is(c, ns, name))
			n++;
	return n;
}

/* copy_trimmed copies v without surrounding XML whitespace, as saml_attr
 * documents. */
static int
copy_trimmed(const xmlChar *v, char *out, size_t outlen)
{
	const char *s = (const char *)v;
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n >= outlen)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

/* copy_owned copies v (freed here, may be NULL) as saml_attr documents. */
static int
copy_owned(xmlChar *v, char *out, size_t outlen)
{
	int r;

	out[0] = '\0';
	if (v == NULL)
		return 0;
	r = copy_trimmed(v, out, outlen);
	xmlFree(v);
	if (r < 0)
		out[0] = '\0';
	return r;
}

int
saml_attr(xmlNodePtr node, const char *name, char *out, size_t outlen)
{
	return copy_owned(xmlGetNoNsProp(node, (const xmlChar *)name), out,
			  outlen);
}

int
saml_text(xmlNodePtr node, char *out, size_t outlen)
{
	return copy_owned(node != NULL ? xmlNodeGetContent(node) : NULL, out,
			  outlen);
}

enum sa_err
saml_new_id(char out[SAML_ID_LEN + 1])
{
	unsigned char raw[16];
	char *hex;
	enum sa_err rc = rand_bytes(raw, sizeof(raw));

	if (rc != SA_OK)
		return rc;
	hex = hex_encode(raw, sizeof(raw));
	if (hex == NULL)
		return SA_ERR_NOMEM;
	/* An xs:ID must not start with a digit. */
	out[0] = '_';
	memcpy(out + 1, hex, 32);
	out[SAML_ID_LEN] = '\0';
	free(hex);
	return SA_OK;
}

void
saml_time_format(int64_t t, char out[SAML_TIME_LEN + 1])
{
	char tmp[21];

	iso8601_utc(t, tmp);
	snprintf(out, SAML_TIME_LEN + 1, "%s", tmp);
}

int
saml_time_parse(const char *s, int64_t *out)
{
	struct tm tm;
	const char *p;
	int y, mo, d, h, mi, sec, used = 0;

	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
		   &used) != 6 ||
	    used != 19)
		return -1;
	p = s + used;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -1;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm);
	return 0;
}

enum sa_err
saml_inflate(const unsigned char *in, size_t n, size_t max, unsigned char **out,
	     size_t *outlen)
{
	z_stream zs;
	unsigned char *buf;
	int zr;
	enum sa_err rc = SA_ERR_SAML_REQUEST;

	buf = malloc(max + 1);
	if (buf == NULL)
		return SA_ERR_NOMEM;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK) {
		free(buf);
		return SA_ERR_NOMEM;
	}
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = buf;
	zs.avail_out = (uInt)max + 1;
	zr = inflate(&zs, Z_FINISH);
	/* More output than max (it filled max + 1) is a bomb, not a message. */
	if (zr == Z_STREAM_END && zs.total_out <= max) {
		buf[zs.total_out] = '\0';
		*out = buf;
		*outlen = zs.total_out;
		buf = NULL;
		rc = SA_OK;
	}
	inflateEnd(&zs);
	free(buf);
	return rc;
}

enum sa_err
saml_deflate(const unsigned char *in, size_t n, unsigned char **out,
	     size_t *outlen)
{
	z_stream zs;
	size_t cap = compressBound((uLong)n) + 64;
	unsigned char *buf = malloc(cap);
	enum sa_err rc = SA_ERR_INTERNAL;

	if (buf == NULL)
		return SA_ERR_NOMEM;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		free(buf);
		return SA_ERR_NOMEM;
	}
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
		*out = buf;
		*outlen = zs.total_out;
		buf = NULL;
		rc = SA_OK;
	}
	deflateEnd(&zs);
	free(buf);
	return rc;
}

char *
saml_url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), j = 0;
	char *out = malloc(3 * n + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (uri_unreserved(c)) {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = '\0';
	return out;
}

enum sa_err
saml_doc_dump(xmlDocPtr doc, char **out, size_t *outlen)
{
	xmlChar *mem = NULL;
	int len = 0;
	char *copy;

	xmlDocDumpMemoryEnc(doc, &mem, &len, "UTF-8");
	if (mem == NULL || len <= 0)
		return SA_ERR_NOMEM;
	copy = malloc((size_t)len + 1);
	if (copy == NULL) {
		xmlFree(mem);
		return SA_ERR_NOMEM;
	}
	memcpy(copy, mem, (size_t)len);
	copy[len] = '\0';
	xmlFree(mem);
	*out = copy;
	*outlen = (size_t)len;
	return SA_OK;
}
