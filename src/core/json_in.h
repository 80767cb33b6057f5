/*
 * json_in.h - JSON text to jansson values, accepting exactly the texts
 * json_loadb(JSON_REJECT_DUPLICATES) accepts and building the same values,
 * at a fraction of its cost.
 *
 * Every request body goes through a parser before anything looks at it.
 * jansson reads its input one character at a time through a callback and
 * grows a buffer for every token: a login's two bodies and the identity it
 * reads back took about 8 µs of the 10 that parsing and building cost. This
 * parser takes runs of plain characters at once (eight bytes per step),
 * hands strings without escapes straight from the input to jansson, and
 * checks UTF-8 only where a byte is not ASCII.
 *
 * What it accepts is RFC 8259 with jansson's strictness: one object or
 * array at the root, then only whitespace; no duplicate key (compared after
 * unescaping); no \u0000 and no unpaired surrogate escape; well-formed
 * UTF-8 everywhere (no overlong form, no encoded surrogate, nothing past
 * U+10FFFF); no control character in a string; numbers as the grammar
 * writes them, integers within long long and reals finite. Integers become
 * json_integer, numbers with a fraction or exponent json_real (read in the
 * C locale, as the server never sets another), members keep their order.
 *
 * Two differences, on purpose. A NUL byte is refused wherever it is:
 * jansson loses one that directly follows a number or a word, and so
 * takes "[1\0]" for [1]. And nesting is bounded by the caller. A text
 * whose arrays and objects go deeper than max_depth levels (the root is
 * level 1) is refused as soon as the parser reaches that level, with
 * too_deep set, before the rest is read.
 */
#ifndef SEALAUTH_JSON_IN_H
#define SEALAUTH_JSON_IN_H

#include <stddef.h>

#include <jansson.h>

/* The deepest nesting json_in_parse takes at all; jansson stops at 2048. */
#define JSON_IN_DEPTH_MAX 2048

struct json_in_error {
	int line;	 /* 1-based line of the first byte not accepted */
	int column;	 /* 1-based byte column on that line */
	size_t position; /* bytes before it */
	int too_deep;	 /* refused for its nesting alone */
	int nomem;	 /* memory ran out: the text may be fine */
	char text[96];	 /* what was wrong, in a sentence fragment */
};

/*
 * json_in_parse parses the n bytes at s (need not end with a NUL; NUL bytes
 * in them are refused) as one JSON object or array nested at most
 * max_depth levels (at least 1, at most JSON_IN_DEPTH_MAX). It returns a
 * new reference the caller releases with json_decref, or NULL with *err
 * filled (err may be NULL) when the text is refused or memory ran out.
 */
json_t *json_in_parse(const char *s, size_t n, int max_depth,
		      struct json_in_error *err);

#endif
