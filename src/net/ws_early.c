/*
 * ws_early.c - the plainest WebSocket upgrade request, read from peeked
 * bytes (ws_early.h says which requests are taken).
 */
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "net/http_int.h"
#include "net/ws_early.h"

#define HEADER_LINES_MAX 64

/* The header fields the parser looks at; every other one is skipped. */
enum hdr {
	H_OTHER,
	H_HOST,
	H_UPGRADE,
	H_CONNECTION,
	H_VERSION,
	H_KEY,
	H_ORIGIN,
	H_UA,
	H_REFUSED, /* present at all: declined */
	H_COUNT
};

static const struct {
	const char *name;
	enum hdr h;
} hdr_names[] = {
    {"Host", H_HOST},
    {"Upgrade", H_UPGRADE},
    {"Connection", H_CONNECTION},
    {"Sec-WebSocket-Version", H_VERSION},
    {"Sec-WebSocket-Key", H_KEY},
    {"Origin", H_ORIGIN},
    {"User-Agent", H_UA},
    {"Content-Length", H_REFUSED},
    {"Transfer-Encoding", H_REFUSED},
    {"Expect", H_REFUSED},
    {"X-Forwarded-For", H_REFUSED},
};

/* all_unreserved tells whether every character of s is unreserved (RFC
 * 3986): what a target may hold besides its separators. */
static int
all_unreserved(const char *s)
{
	for (; *s != '\0'; s++)
		if (!uri_unreserved((unsigned char)*s))
			return 0;
	return 1;
}

int
ws_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);

	if (value == NULL)
		return 0;
	while (*value != '\0') {
		while (*value == ' ' || *value == '\t' || *value == ',')
			value++;
		size_t n = strcspn(value, ",");
		size_t m = n;
		while (m > 0 && (value[m - 1] == ' ' || value[m - 1] == '\t'))
			m--;
		if (m == tl && strncasecmp(value, token, tl) == 0)
			return 1;
		value += n;
	}
	return 0;
}

/*
 * split_query splits q (n bytes after the '?') into r's arguments; 0 when
 * it is not a list of distinct "name=value" pairs of plain characters.
 */
static int
split_query(const char *q, size_t n, struct ws_early_req *r)
{
	char *p = r->qbuf;

	r->nquery = 0;
	if (n == 0)
		return 0; /* a '?' with nothing after it */
	memcpy(p, q, n);
	p[n] = '\0';
	while (*p != '\0') {
		char *amp = strchr(p, '&'), *eq;

		if (amp != NULL)
			*amp = '\0';
		eq = strchr(p, '=');
		if (eq == NULL || eq == p || r->nquery == WS_EARLY_QUERY_MAX)
			return 0;
		*eq = '\0';
		if (!all_unreserved(p) || !all_unreserved(eq + 1))
			return 0;
		for (size_t i = 0; i < r->nquery; i++)
			if (strcmp(r->qname[i], p) == 0)
				return 0;
		r->qname[r->nquery] = p;
		r->qvalue[r->nquery] = eq + 1;
		r->nquery++;
		if (amp == NULL)
			break;
		p = amp + 1;
		if (*p == '\0')
			return 0; /* a trailing '&' */
	}
	return 1;
}

/* parse_target reads the request target (n bytes) into r; 0 to decline. */
static int
parse_target(const char *t, size_t n, struct ws_early_req *r)
{
	const char *q = memchr(t, '?', n);
	size_t pl = q != NULL ? (size_t)(q - t) : n;

	if (n >= WS_EARLY_TARGET_MAX || pl == 0 || t[0] != '/')
		return 0;
	for (size_t i = 0; i < pl; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == '/') {
			/* No empty segment, no "." or ".." segment. */
			if (i + 1 < pl && (t[i + 1] == '/' || t[i + 1] == '.'))
				return 0;
		} else if (!uri_unreserved(c)) {
			return 0;
		}
	}
	memcpy(r->path, t, pl);
	r->path[pl] = '\0';
	return q == NULL || split_query(q + 1, n - pl - 1, r);
}

static enum hdr
hdr_of(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(hdr_names) / sizeof(hdr_names[0]); i++)
		if (strlen(hdr_names[i].name) == n &&
		    strncasecmp(hdr_names[i].name, name, n) == 0)
			return hdr_names[i].h;
	return H_OTHER;
}

/* copy_value copies a value of n bytes into out (cap bytes); 0 when it
 * does not fit. */
static int
copy_value(char *out, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		return 0;
	memcpy(out, v, n);
	out[n] = '\0';
	return 1;
}

int
ws_early_parse(const char *buf, size_t n, struct ws_early_req *out)
{
	char upgrade[64], connection[128], version[8];
	unsigned int seen[H_COUNT] = {0};
	/* Where each kept header's value goes. */
	const struct {
		char *buf;
		size_t cap;
	} dst[H_COUNT] = {
	    [H_UPGRADE] = {upgrade, sizeof(upgrade)},
	    [H_CONNECTION] = {connection, sizeof(connection)},
	    [H_VERSION] = {version, sizeof(version)},
	    [H_KEY] = {out->key, sizeof(out->key)},
	    [H_ORIGIN] = {out->origin, sizeof(out->origin)},
	    [H_UA] = {out->ua, sizeof(out->ua)},
	};
	const char *p, *end, *sp;
	size_t lines = 0;

	memset(out, 0, sizeof(*out));
	if (n > WS_EARLY_HEAD_MAX)
		n = WS_EARLY_HEAD_MAX;
	end = buf + n;
	/* The request line. */
	if (n < 4 || memcmp(buf, "GET ", 4) != 0)
		return 0;
	p = buf + 4;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || !parse_target(p, (size_t)(sp - p), out))
		return 0;
	p = sp + 1;
	if ((size_t)(end - p) < 10 || memcmp(p, "HTTP/1.1\r\n", 10) != 0)
		return 0;
	p += 10;
	/* The header lines, up to the blank one. */
	for (;;) {
		const char *name = p, *colon, *v, *ve;
		enum hdr h;

		if ((size_t)(end - p) < 2)
			return 0;
		if (p[0] == '\r' && p[1] == '\n') {
			p += 2;
			break;
		}
		if (++lines > HEADER_LINES_MAX)
			return 0;
		while (p < end && http_tchar((unsigned char)*p))
			p++;
		if (p == name || p == end || *p != ':')
			return 0;
		colon = p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		v = p;
		while (p < end && ((unsigned char)*p >= 0x20 || *p == '\t') &&
		       (unsigned char)*p < 0x7f)
			p++;
		if ((size_t)(end - p) < 2 || p[0] != '\r' || p[1] != '\n')
			return 0;
		ve = p;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		p += 2;
		h = hdr_of(name, (size_t)(colon - name));
		if (h == H_REFUSED || (h != H_OTHER && ++seen[h] > 1))
			return 0;
		/* An empty Host is not one; the others are kept. */
		if ((h == H_HOST && ve == v) ||
		    (dst[h].buf != NULL &&
		     !copy_value(dst[h].buf, dst[h].cap, v, (size_t)(ve - v))))
			return 0;
	}
	out->has_origin = seen[H_ORIGIN] == 1;
	if (seen[H_HOST] != 1 || seen[H_UPGRADE] != 1 ||
	    seen[H_CONNECTION] != 1 || seen[H_VERSION] != 1 ||
	    seen[H_KEY] != 1 || !ws_has_token(upgrade, "websocket") ||
	    !ws_has_token(connection, "upgrade") || strcmp(version, "13") != 0)
		return 0;
	out->head_len = (size_t)(p - buf);
	return 1;
}

const char *
ws_early_query(const struct ws_early_req *r, const char *name)
{
	for (size_t i = 0; i < r->nquery; i++)
		if (strcmp(r->qname[i], name) == 0)
			return r->qvalue[i];
	return NULL;
}
