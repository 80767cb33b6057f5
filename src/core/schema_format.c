/*
 * schema_format.c - the string formats a schema field may require
 * (SCHEMA_FMT_* in schema.h): digits, hex, base64, seal text, PEM public
 * keys, scopes, dates, printable text, https URLs and origins. Each checker
 * reads n bytes and allocates nothing.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/schema.h"
#include "core/util.h"

static const char pem_begin[] = "-----BEGIN PUBLIC KEY-----";
static const char pem_end[] = "-----END PUBLIC KEY-----";
static const char scope_prefix[] = "identity:";

static int
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* all_in tells whether s is non-empty and every byte is in the set. */
static int
all_in(const char *s, size_t n, const char *set)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alnum(c) && (c == '\0' || strchr(set, c) == NULL))
			return 0;
	}
	return 1;
}

static int
fmt_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_digit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
fmt_hex(const char *s, size_t n)
{
	if (n == 0 || n % 2 != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_hex((unsigned char)s[i]))
			return 0;
	return 1;
}

/*
 * fmt_b64 accepts exactly what b64_decode (url = 0) or b64url_decode
 * (url = 1) of util.c decode, except the empty string: the alphabet only,
 * padding only in the standard alphabet and only to a multiple of four, and
 * no set bits left over, so each byte string has one accepted encoding.
 */
static int
fmt_b64(const char *s, size_t n, int url)
{
	size_t pad = 0;
	uint32_t acc = 0;
	int bits = 0;

	while (!url && n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n == 0 || n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
		return 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i], url);
		if (v < 0)
			return 0;
		acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8)
			bits -= 8;
	}
	return bits == 0 || (acc & ((1u << bits) - 1)) == 0;
}

/* The union of the base64, base45, base32 and hex alphabets. */
static int
fmt_seal_text(const char *s, size_t n)
{
	return all_in(s, n, "+/= $%*-.:");
}

/* eol consumes "\n" or "\r\n" at *p and returns its length, or 0. */
static size_t
eol(const char *p, size_t n)
{
	if (n >= 1 && p[0] == '\n')
		return 1;
	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	return 0;
}

/*
 * fmt_pem accepts one "PUBLIC KEY" block: the BEGIN line, one or more
 * non-empty lines of base64 characters, the END line, and at most one line
 * ending after it. Lines end in LF or CRLF. Whether the base64 decodes to a
 * key is for the PEM reader to say.
 */
static int
fmt_pem(const char *s, size_t n)
{
	size_t blen = sizeof(pem_begin) - 1, elen = sizeof(pem_end) - 1;
	size_t i, k, lines = 0;

	if (n < blen || memcmp(s, pem_begin, blen) != 0)
		return 0;
	i = blen;
	if ((k = eol(s + i, n - i)) == 0)
		return 0;
	i += k;
	for (;;) {
		size_t start = i;

		if (n - i >= elen && memcmp(s + i, pem_end, elen) == 0) {
			i += elen;
			i += eol(s + i, n - i);
			return i == n && lines > 0;
		}
		while (i < n &&
		       (b64_value((unsigned char)s[i], 0) >= 0 || s[i] == '='))
			i++;
		if (i == start || (k = eol(s + i, n - i)) == 0)
			return 0;
		i += k;
		lines++;
	}
}

static int
fmt_scope(const char *s, size_t n)
{
	size_t plen = sizeof(scope_prefix) - 1;

	if (n <= plen || memcmp(s, scope_prefix, plen) != 0)
		return 0;
	for (size_t i = plen; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '_'))
			return 0;
	}
	return 1;
}

/* fmt_iso_date accepts YYYY-MM-DD naming a day of the proleptic Gregorian
 * calendar from 0001-01-01 to 9999-12-31. */
static int
fmt_iso_date(const char *s, size_t n)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};
	int y, m, d, last;

	if (n != 10 || s[4] != '-' || s[7] != '-' || !fmt_digits(s, 4) ||
	    !fmt_digits(s + 5, 2) || !fmt_digits(s + 8, 2))
		return 0;
	y = dec_value(s, 4);
	m = dec_value(s + 5, 2);
	d = dec_value(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return 0;
	last = mdays[m - 1];
	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		last = 29;
	return d <= last;
}

/*
 * fmt_printable accepts non-empty UTF-8 text without C0 or C1 control
 * characters, DEL, the line and paragraph separators, or the bidirectional
 * formatting characters: text we show to a person (on the phone, in the
 * console) must look like what it is.
 */
static int
fmt_printable(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;

	if (n == 0)
		return 0;
	while (n > 0) {
		size_t k = utf8_next(p, n, &c);
		if (k == 0 || c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
		    c == 0x061c || c == 0x200e || c == 0x200f ||
		    (c >= 0x2028 && c <= 0x202e) ||
		    (c >= 0x2066 && c <= 0x2069))
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

/* host_ok accepts a DNS name (dot-separated labels of letters, digits and
 * inner hyphens, at most 63 bytes each and 253 in all) or a bracketed IPv6
 * literal. */
static int
host_ok(const char *h, size_t n)
{
	size_t label = 0;

	if (n >= 2 && h[0] == '[') {
		char tmp[INET6_ADDRSTRLEN];
		struct in6_addr a;

		if (h[n - 1] != ']' || n - 2 == 0 || n - 2 >= sizeof(tmp))
			return 0;
		memcpy(tmp, h + 1, n - 2);
		tmp[n - 2] = '\0';
		return inet_pton(AF_INET6, tmp, &a) == 1;
	}
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || h[i] == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alnum((unsigned char)h[i]) &&
		    !(h[i] == '-' && label > 0))
			return 0;
		label++;
	}
	return 1;
}

/* authority_ok splits host[:port] (no userinfo), checks both and returns
 * the host through *host and *hostlen. */
static int
authority_ok(const char *a, size_t n, const char **host, size_t *hostlen)
{
	size_t hl;

	if (memchr(a, '@', n) != NULL)
		return 0;
	if (n > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', n);
		if (close == NULL)
			return 0;
		hl = (size_t)(close - a) + 1;
	} else {
		const char *colon = memchr(a, ':', n);
		hl = colon != NULL ? (size_t)(colon - a) : n;
	}
	if (!host_ok(a, hl))
		return 0;
	if (hl < n) {
		const char *port = a + hl + 1;
		size_t pl = n - hl - 1;

		if (a[hl] != ':' || pl == 0 || pl > 5 || !fmt_digits(port, pl))
			return 0;
		if (dec_value(port, pl) < 1 || dec_value(port, pl) > 65535)
			return 0;
	}
	*host = a;
	*hostlen = hl;
	return 1;
}

/* ascii_url_chars tells whether s is visible ASCII without a backslash
 * (which browsers read as '/') and every '%' starts an escape. */
static int
ascii_url_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			return 0;
		if (c == '%' &&
		    (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) ||
		     !is_hex((unsigned char)s[i + 2])))
			return 0;
	}
	return 1;
}

static int
prefix_icase(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);

	return n >= pl && strncasecmp(s, prefix, pl) == 0;
}

static int
is_loopback_host(const char *h, size_t n)
{
	static const char *const names[] = {"localhost", "127.0.0.1", "[::1]"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n == strlen(names[i]) && strncasecmp(h, names[i], n) == 0)
			return 1;
	return 0;
}

/*
 * fmt_https_url accepts https://authority[/path][?query][#fragment] of at
 * most SCHEMA_URL_MAX bytes of visible ASCII, without userinfo. With
 * SCHEMA_LOOPBACK_HTTP it also accepts http:// to localhost, 127.0.0.1 or
 * [::1] (any port), which tests and local push distributors use.
 */
static int
fmt_https_url(const char *s, size_t n, unsigned int vflags)
{
	const char *rest, *host;
	size_t rn, an = 0, hl;
	int plain;

	if (n > SCHEMA_URL_MAX || !ascii_url_chars(s, n))
		return 0;
	if (prefix_icase(s, n, "https://")) {
		plain = 0;
		rest = s + 8;
		rn = n - 8;
	} else if ((vflags & SCHEMA_LOOPBACK_HTTP) &&
		   prefix_icase(s, n, "http://")) {
		plain = 1;
		rest = s + 7;
		rn = n - 7;
	} else {
		return 0;
	}
	while (an < rn && rest[an] != '/' && rest[an] != '?' && rest[an] != '#')
		an++;
	if (!authority_ok(rest, an, &host, &hl))
		return 0;
	return !plain || is_loopback_host(host, hl);
}

/* fmt_origin accepts a serialised web origin: "https://" or "http://",
 * a lower-case host, an optional port, and nothing after. */
static int
fmt_origin(const char *s, size_t n)
{
	const char *rest, *host;
	size_t rn, hl;

	if (n > SCHEMA_URL_MAX || !ascii_url_chars(s, n))
		return 0;
	if (n > 8 && memcmp(s, "https://", 8) == 0) {
		rest = s + 8;
		rn = n - 8;
	} else if (n > 7 && memcmp(s, "http://", 7) == 0) {
		rest = s + 7;
		rn = n - 7;
	} else {
		return 0;
	}
	if (!authority_ok(rest, rn, &host, &hl))
		return 0;
	for (size_t i = 0; i < hl; i++)
		if (host[i] >= 'A' && host[i] <= 'Z')
			return 0;
	return 1;
}

int
schema_format_check(enum schema_format fmt, const char *s, size_t n,
		    unsigned int vflags)
{
	switch (fmt) {
	case SCHEMA_FMT_NONE:
		return 1;
	case SCHEMA_FMT_TOKEN:
		return all_in(s, n, "._:-");
	case SCHEMA_FMT_DIGITS:
		return fmt_digits(s, n);
	case SCHEMA_FMT_HEX:
		return fmt_hex(s, n);
	case SCHEMA_FMT_BASE64:
		return fmt_b64(s, n, 0);
	case SCHEMA_FMT_BASE64URL:
		return fmt_b64(s, n, 1);
	case SCHEMA_FMT_SEAL_TEXT:
		return fmt_seal_text(s, n);
	case SCHEMA_FMT_PEM:
		return fmt_pem(s, n);
	case SCHEMA_FMT_HTTPS_URL:
		return fmt_https_url(s, n, vflags);
	case SCHEMA_FMT_SCOPE:
		return fmt_scope(s, n);
	case SCHEMA_FMT_ORIGIN:
		return fmt_origin(s, n);
	case SCHEMA_FMT_ISO_DATE:
		return fmt_iso_date(s, n);
	case SCHEMA_FMT_PRINTABLE:
		return fmt_printable(s, n);
	}
	return 0;
}

const char *
schema_format_name(enum schema_format fmt)
{
	static const char *const names[] = {
	    "NONE",	 "TOKEN",     "DIGITS",	   "HEX",	"BASE64",
	    "BASE64URL", "SEAL_TEXT", "PEM",	   "HTTPS_URL", "SCOPE",
	    "ORIGIN",	 "ISO_DATE",  "PRINTABLE",
	};

	if ((size_t)fmt >= sizeof(names) / sizeof(names[0]))
		return "UNKNOWN";
	return names[fmt];
}
