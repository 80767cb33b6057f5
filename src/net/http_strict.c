/*
 * http_strict.c - the strict framing checks of the HTTP server: what a
 * proxy in front and libmicrohttpd could read differently (repeated or
 * malformed Content-Length, Content-Length beside Transfer-Encoding, no
 * Host or several, bad header names and values, NUL bytes and bare LFs in
 * the request line or headers, %00 in the path or query) is refused on the
 * request's first call, before anything else looks at it.
 */
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "net/http_int.h"

/* What the header scan found: counts of the framing headers and the first
 * malformed header. */
struct header_scan {
	int content_length, transfer_encoding, host;
	const char *bad;   /* why the request is refused, or NULL */
	const char *field; /* the header concerned */
};

int
http_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * line_ends_cleanly tells whether a header value parsed in place ends its
 * line: libmicrohttpd 0.9.75 cuts a value at a NUL byte (value_size is
 * its C string length) and ends a line at a bare LF, and it parses a line
 * in place, writing a NUL over the colon and over both bytes of the CRLF.
 * So past the value (and any blanks MHD trimmed) come two NULs exactly
 * when the line ended in CRLF with no NUL inside; one NUL followed by
 * another byte is a NUL inside the value or a line ended by a bare LF.
 * A value not found in place (a folded line MHD copied) is not looked
 * past, so nothing outside its line is ever read.
 */
static int
line_ends_cleanly(const char *key, size_t key_size, const char *value,
		  size_t value_size)
{
	uintptr_t k = (uintptr_t)key + key_size, v = (uintptr_t)value;
	const char *e = value + value_size;

	if (v < k || v - k > 64)
		return 1;
	for (const char *p = key + key_size; p < value; p++)
		if (*p != '\0' && *p != ':' && *p != ' ' && *p != '\t')
			return 1;
	for (int n = 0; n < 64 && (*e == ' ' || *e == '\t'); n++)
		e++;
	return e[0] == '\0' && e[1] == '\0';
}

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
	    size_t key_size, const char *value, size_t value_size)
{
	struct header_scan *h = cls;

	if (h->bad != NULL)
		return MHD_NO;
	for (size_t i = 0; i < key_size; i++)
		if (!http_tchar((unsigned char)key[i])) {
			h->bad = "a header name holds a character other "
				 "than a token character";
			h->field = "header";
			return MHD_NO;
		}
	if (value != NULL && (memchr(value, '\0', value_size) != NULL ||
			      memchr(value, '\r', value_size) != NULL ||
			      memchr(value, '\n', value_size) != NULL)) {
		h->bad = "a header value holds NUL, CR or LF";
		h->field = key;
		return MHD_NO;
	}
	if (value != NULL &&
	    !line_ends_cleanly(key, key_size, value, value_size)) {
		h->bad = "a header value holds NUL or ends at a bare LF";
		h->field = key;
		return MHD_NO;
	}
	if (strcasecmp(key, "Content-Length") == 0) {
		h->content_length++;
		if (value == NULL || value_size == 0 ||
		    strspn(value, "0123456789") != value_size) {
			h->bad = "Content-Length must be one decimal number";
			h->field = "Content-Length";
		}
	} else if (strcasecmp(key, "Transfer-Encoding") == 0) {
		h->transfer_encoding++;
	} else if (strcasecmp(key, "Host") == 0) {
		h->host++;
	}
	return MHD_YES;
}

/*
 * strict_check refuses a request that two HTTP parsers could read
 * differently (a proxy in front must never see another request than we
 * do): several Content-Length headers, Content-Length beside
 * Transfer-Encoding, no Host or several, a header name with a non-token
 * character, NUL, CR or LF in a header value, a header line ended by a
 * bare LF, a NUL byte in the request line or decoded from the path or
 * query (%00). libmicrohttpd in strict mode refuses spaces in
 * header names and a missing Host on HTTP/1.1 itself; the rest is here.
 * Returns NULL or the reason, with *field the header concerned.
 */
const char *
http_strict_check(struct http_request *req, const char *url,
		  const char *version, const char **field)
{
	struct header_scan h;
	uintptr_t v = (uintptr_t)version;

	memset(&h, 0, sizeof(h));
	/* MHD ends the request target at the NUL it wrote over the space
	 * before the version: one met earlier was in the request line. */
	if (req->line_uri != 0 && req->line_uri == (uintptr_t)url &&
	    v > req->line_uri && v - req->line_uri < 65536 &&
	    v != req->line_uri + req->line_uri_len + 1) {
		*field = "path";
		return "the request line holds a NUL byte";
	}
	/* And over both bytes of its CRLF ("HTTP/1.1" is 8 bytes). */
	if (req->line_uri != 0 && req->line_uri == (uintptr_t)url &&
	    v > req->line_uri && strlen(version) == 8 && version[9] != '\0') {
		*field = "version";
		return "the request line ends at a bare LF";
	}
	if (req->cs != NULL && atomic_load(&req->cs->bad_url)) {
		*field = "path";
		return "the path or query decodes to a NUL byte (%00)";
	}
	MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, scan_header,
				    &h);
	*field = h.field;
	if (h.bad != NULL)
		return h.bad;
	*field = "Content-Length";
	if (h.content_length > 1)
		return "Content-Length is given more than once";
	if (h.content_length > 0 && h.transfer_encoding > 0)
		return "Content-Length and Transfer-Encoding together";
	*field = "Host";
	if (h.host > 1)
		return "Host is given more than once";
	if (h.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
		return "an HTTP/1.1 request needs a Host header";
	*field = NULL;
	return NULL;
}

/*
 * http_unescape_url decodes %HH escapes like MHD's own decoder, and marks the
 * connection when one decodes to NUL: the decoded C string would end there
 * and a handler would see "/a" for "/a%00b".
 */
size_t
http_unescape_url(void *cls, struct MHD_Connection *conn, char *s)
{
	struct conn_state *cs;

	if (strstr(s, "%00") != NULL && (cs = http_conn_state_of(conn)) != NULL)
		atomic_store(&cs->bad_url, 1);
	return MHD_http_unescape(s);
}
