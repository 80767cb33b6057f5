/*
 * json_in.c - JSON text to jansson values (json_in.h says what is
 * accepted). A recursive descent over the input bytes: each string is
 * scanned once to find its end and check it, eight plain bytes per step,
 * and decoded in a second pass only when it holds an escape.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_in.h"
#include "core/util.h"

/* A real's text up to this size is copied to the stack for strtod. */
#define JIN_NUMBER_STACK 64
/* An escaped string up to this size is decoded on the stack. */
#define JIN_VALUE_STACK 256

struct jin {
	const unsigned char *start, *p, *end;
	int max_depth;
	struct json_in_error *err;
	int failed;
	/* Decoded value strings that held an escape: the stack buffer, or a
	 * larger one from the heap once a string needs it. */
	char *buf;
	size_t cap;
	char *heap;
	char stack[JIN_VALUE_STACK];
};

/*
 * jin_fail records the first refusal, at the byte at (the end of the text
 * when at is NULL), with its line and column. Always returns -1.
 */
static int __attribute__((format(printf, 3, 4)))
jin_fail(struct jin *in, const unsigned char *at, const char *fmt, ...)
{
	struct json_in_error *e = in->err;
	const unsigned char *line_start = in->start;
	va_list ap;
	int line = 1;

	if (in->failed++ || e == NULL)
		return -1;
	if (at == NULL)
		at = in->end;
	for (const unsigned char *q = in->start; q < at; q++) {
		if (*q == '\n') {
			line++;
			line_start = q + 1;
		}
	}
	e->position = (size_t)(at - in->start);
	e->line = line;
	e->column = (int)(at - line_start) + 1;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	return -1;
}

static void
skip_ws(struct jin *in)
{
	const unsigned char *p = in->p;

	while (p < in->end &&
	       (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	in->p = p;
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* hex4 reads four hexadecimal digits at p (four bytes available). */
static int
hex4(const unsigned char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int d = hex_value((char)p[i]);

		if (d < 0)
			return 0;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 1;
}

/* utf8_put writes code point cp (a scalar value) at o; returns its length. */
static size_t
utf8_put(char *o, uint32_t cp)
{
	unsigned char *u = (unsigned char *)o;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | (cp >> 18));
	u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * str_scan reads the string whose opening quote is at in->p and leaves
 * in->p past its closing quote. The bytes between the quotes are *raw and
 * *rawlen; *esc tells whether an escape is among them. Checked here: the
 * end, control characters, UTF-8 and the form of each escape; what an
 * escape stands for is checked when it is decoded (str_decode).
 */
static int
str_scan(struct jin *in, const unsigned char **raw, size_t *rawlen, int *esc)
{
	const unsigned char *p = in->p + 1, *end = in->end;
	int e = 0;

	for (;;) {
		uint32_t cp;
		size_t len;

		while (end - p >= 8) {
			uint64_t w = swar_load(p);

			if ((w & SWAR_HIGH) != 0 || swar_has_below(w, 0x20) ||
			    swar_has_byte(w, '"') || swar_has_byte(w, '\\'))
				break;
			p += 8;
		}
		if (p == end)
			return jin_fail(in, NULL,
					"end of text inside a string");
		if (*p == '"')
			break;
		if (*p == '\\') {
			e = 1;
			if (end - p < 2)
				return jin_fail(in, NULL,
						"end of text inside a string");
			if (p[1] == 'u') {
				if (end - p < 6 || !hex4(p + 2, &cp))
					return jin_fail(in, p,
							"invalid escape: \\u "
							"needs four hex "
							"digits");
				p += 6;
				continue;
			}
			if (strchr("\"\\/bfnrt", p[1]) == NULL || p[1] == 0)
				return jin_fail(in, p, "invalid escape");
			p += 2;
			continue;
		}
		if (*p < 0x20)
			return jin_fail(
			    in, p, "control character 0x%02x in a string", *p);
		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((len = utf8_next(p, (size_t)(end - p), &cp)) == 0)
			return jin_fail(
			    in, p,
			    "byte 0x%02x does not start well-formed "
			    "UTF-8",
			    *p);
		p += len;
	}
	*raw = in->p + 1;
	*rawlen = (size_t)(p - *raw);
	*esc = e;
	in->p = p + 1;
	return 0;
}

/*
 * str_decode writes the n scanned bytes at raw (str_scan passed them) with
 * their escapes resolved to out, which has room for n bytes: no escape
 * grows. *outlen is the decoded length.
 */
static int
str_decode(struct jin *in, const unsigned char *raw, size_t n, char *out,
	   size_t *outlen)
{
	const unsigned char *p = raw, *end = raw + n;
	char *o = out;

	while (p < end) {
		const unsigned char *q = memchr(p, '\\', (size_t)(end - p));
		uint32_t cp = 0, lo = 0;

		if (q == NULL)
			q = end;
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		if ((p = q) == end)
			break;
		switch (p[1]) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			(void)hex4(p + 2, &cp);
			if (cp == 0)
				return jin_fail(in, p,
						"\\u0000 is not allowed");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jin_fail(in, p,
						"\\u%04X is a low surrogate "
						"without a high one",
						(unsigned int)cp);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - p < 12 || p[6] != '\\' ||
				    p[7] != 'u' || !hex4(p + 8, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return jin_fail(in, p,
							"\\u%04X is a high "
							"surrogate without a "
							"low one",
							(unsigned int)cp);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
				p += 6;
			}
			o += utf8_put(o, cp);
			p += 6;
			continue;
		default: /* '"', '\\' and '/' stand for themselves */
			*o++ = (char)p[1];
			break;
		}
		p += 2;
	}
	*outlen = (size_t)(o - out);
	return 0;
}

static json_t *
jin_nomem(struct jin *in)
{
	if (in->err != NULL && !in->failed)
		in->err->nomem = 1;
	jin_fail(in, in->p, "out of memory");
	return NULL;
}

static json_t *
parse_string(struct jin *in)
{
	const unsigned char *raw;
	size_t rawlen, n;
	int esc;
	json_t *v;

	if (str_scan(in, &raw, &rawlen, &esc) != 0)
		return NULL;
	if (!esc)
		v = json_stringn_nocheck((const char *)raw, rawlen);
	else {
		if (rawlen > in->cap) {
			char *h = malloc(rawlen);

			if (h == NULL)
				return jin_nomem(in);
			free(in->heap);
			in->buf = in->heap = h;
			in->cap = rawlen;
		}
		if (str_decode(in, raw, rawlen, in->buf, &n) != 0)
			return NULL;
		v = json_stringn_nocheck(in->buf, n);
	}
	return v != NULL ? v : jin_nomem(in);
}

/*
 * parse_number reads a number as RFC 8259 writes it: an integer within
 * long long, or with a fraction or exponent a finite real.
 */
static json_t *
parse_number(struct jin *in)
{
	const unsigned char *s = in->p, *p = s, *end = in->end;
	char stack[JIN_NUMBER_STACK], *text;
	int real = 0, neg = 0;
	size_t n;
	double d;
	json_t *v;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (p == end || !is_digit(*p))
		goto bad;
	if (*p == '0') {
		if (++p < end && is_digit(*p))
			goto bad;
	} else {
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && *p == '.') {
		real = 1;
		if (++p == end || !is_digit(*p))
			goto bad;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = 1;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p))
			goto bad;
		while (p < end && is_digit(*p))
			p++;
	}
	in->p = p;
	n = (size_t)(p - s);
	if (!real) {
		unsigned long long lim = neg ? (unsigned long long)LLONG_MAX + 1
					     : (unsigned long long)LLONG_MAX;
		unsigned long long u = 0;

		for (const unsigned char *q = s + neg; q < p; q++) {
			unsigned int dig = (unsigned int)(*q - '0');

			if (u > (lim - dig) / 10) {
				jin_fail(in, s, "integer %.*s is too big",
					 (int)(n > 24 ? 24 : n), s);
				return NULL;
			}
			u = u * 10 + dig;
		}
		if (!neg)
			v = json_integer((json_int_t)u);
		else if (u == (unsigned long long)LLONG_MAX + 1)
			v = json_integer(LLONG_MIN);
		else
			v = json_integer(-(json_int_t)u);
		return v != NULL ? v : jin_nomem(in);
	}
	text = n < sizeof(stack) ? stack : malloc(n + 1);
	if (text == NULL)
		return jin_nomem(in);
	memcpy(text, s, n);
	text[n] = '\0';
	d = strtod(text, NULL);
	if (text != stack)
		free(text);
	if (isinf(d)) {
		jin_fail(in, s, "real number too big");
		return NULL;
	}
	v = json_real(d);
	return v != NULL ? v : jin_nomem(in);
bad:
	jin_fail(in, s, "invalid number");
	return NULL;
}

/* parse_word reads true, false or null. */
static json_t *
parse_word(struct jin *in)
{
	static const struct {
		const char *w;
		size_t n;
	} words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
	size_t left = (size_t)(in->end - in->p);

	for (size_t i = 0; i < ARRAY_LEN(words); i++) {
		if (left >= words[i].n &&
		    memcmp(in->p, words[i].w, words[i].n) == 0) {
			in->p += words[i].n;
			return i == 0	? json_true()
			       : i == 1 ? json_false()
					: json_null();
		}
	}
	jin_fail(in, in->p, "invalid token");
	return NULL;
}

static json_t *parse_value(struct jin *in, int depth);

/* too_deep refuses a container that would open at level depth, past the
 * bound. */
static int
too_deep(struct jin *in, int depth)
{
	if (depth <= in->max_depth)
		return 0;
	if (in->err != NULL && !in->failed)
		in->err->too_deep = 1;
	jin_fail(in, in->p, "nested deeper than %d levels", in->max_depth);
	return 1;
}

static json_t *
parse_object(struct jin *in, int depth)
{
	json_t *o = NULL;
	char *kheap = NULL;

	if (too_deep(in, depth))
		return NULL;
	if ((o = json_object()) == NULL)
		return jin_nomem(in);
	in->p++;
	skip_ws(in);
	if (in->p < in->end && *in->p == '}') {
		in->p++;
		return o;
	}
	for (;;) {
		const unsigned char *at = in->p, *raw;
		const char *key;
		size_t rawlen, klen;
		int esc;
		json_t *v;

		if (in->p == in->end || *in->p != '"') {
			jin_fail(in, in->p, "string expected as a key");
			goto bad;
		}
		if (str_scan(in, &raw, &rawlen, &esc) != 0)
			goto bad;
		key = (const char *)raw;
		klen = rawlen;
		if (esc) {
			if ((kheap = malloc(rawlen)) == NULL) {
				jin_nomem(in);
				goto bad;
			}
			if (str_decode(in, raw, rawlen, kheap, &klen) != 0)
				goto bad;
			key = kheap;
		}
		if (json_object_getn(o, key, klen) != NULL) {
			jin_fail(in, at, "duplicate object key");
			goto bad;
		}
		skip_ws(in);
		if (in->p == in->end || *in->p != ':') {
			jin_fail(in, in->p, "':' expected");
			goto bad;
		}
		in->p++;
		skip_ws(in);
		if ((v = parse_value(in, depth)) == NULL)
			goto bad;
		/* The setter takes v, also when it fails. */
		if (json_object_setn_new_nocheck(o, key, klen, v) != 0) {
			jin_nomem(in);
			goto bad;
		}
		free(kheap);
		kheap = NULL;
		skip_ws(in);
		if (in->p < in->end && *in->p == ',') {
			in->p++;
			skip_ws(in);
			continue;
		}
		if (in->p < in->end && *in->p == '}') {
			in->p++;
			return o;
		}
		jin_fail(in, in->p, "',' or '}' expected");
		goto bad;
	}
bad:
	free(kheap);
	json_decref(o);
	return NULL;
}

static json_t *
parse_array(struct jin *in, int depth)
{
	json_t *a;

	if (too_deep(in, depth))
		return NULL;
	if ((a = json_array()) == NULL)
		return jin_nomem(in);
	in->p++;
	skip_ws(in);
	if (in->p < in->end && *in->p == ']') {
		in->p++;
		return a;
	}
	for (;;) {
		json_t *v = parse_value(in, depth);

		if (v == NULL)
			goto bad;
		/* The appender takes v, also when it fails. */
		if (json_array_append_new(a, v) != 0) {
			jin_nomem(in);
			goto bad;
		}
		skip_ws(in);
		if (in->p < in->end && *in->p == ',') {
			in->p++;
			skip_ws(in);
			continue;
		}
		if (in->p < in->end && *in->p == ']') {
			in->p++;
			return a;
		}
		jin_fail(in, in->p, "',' or ']' expected");
		goto bad;
	}
bad:
	json_decref(a);
	return NULL;
}

/* parse_value reads the value at in->p (whitespace skipped) inside a
 * container at level depth. */
static json_t *
parse_value(struct jin *in, int depth)
{
	if (in->p == in->end) {
		jin_fail(in, NULL, "end of text where a value was expected");
		return NULL;
	}
	switch (*in->p) {
	case '{':
		return parse_object(in, depth + 1);
	case '[':
		return parse_array(in, depth + 1);
	case '"':
		return parse_string(in);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		return parse_number(in);
	default:
		return parse_word(in);
	}
}

json_t *
json_in_parse(const char *s, size_t n, int max_depth, struct json_in_error *err)
{
	struct jin in;
	json_t *v = NULL;

	in.start = in.p = (const unsigned char *)(s != NULL ? s : "");
	in.end = in.start + (s != NULL ? n : 0);
	in.max_depth = max_depth;
	in.err = err;
	in.failed = 0;
	in.buf = in.stack;
	in.cap = sizeof(in.stack);
	in.heap = NULL;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (max_depth < 1 || max_depth > JSON_IN_DEPTH_MAX) {
		jin_fail(&in, in.start, "nesting bound %d is not allowed",
			 max_depth);
		return NULL;
	}
	skip_ws(&in);
	if (in.p == in.end || (*in.p != '{' && *in.p != '[')) {
		jin_fail(&in, in.p, "'{' or '[' expected");
		goto out;
	}
	v = *in.p == '{' ? parse_object(&in, 1) : parse_array(&in, 1);
	if (v == NULL)
		goto out;
	skip_ws(&in);
	if (in.p != in.end) {
		jin_fail(&in, in.p, "end of text expected");
		json_decref(v);
		v = NULL;
	}
out:
	free(in.heap);
	return v;
}
