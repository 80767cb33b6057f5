/*
 * test_json_in.c - json_in_parse takes the texts json_loadb takes with
 * JSON_REJECT_DUPLICATES and builds the same values; it refuses the rest
 * with a line, a column and a reason, and bounds the nesting.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#include "core/json_in.h"

/* parse_exact parses a heap copy of exactly n bytes, so that a sanitizer
 * build catches a read past the end. */
static json_t *
parse_exact(const char *s, size_t n, int bound, struct json_in_error *err)
{
	char *copy = malloc(n ? n : 1);
	json_t *v;

	assert_non_null(copy);
	memcpy(copy, s, n);
	v = json_in_parse(copy, n, bound, err);
	free(copy);
	return v;
}

/* same_as_jansson checks that both parsers take s and build the same
 * value, members in the same order. */
static void
same_as_jansson(const char *s, size_t n)
{
	struct json_in_error err;
	json_t *want = json_loadb(s, n, JSON_REJECT_DUPLICATES, NULL);
	json_t *got = parse_exact(s, n, JSON_IN_DEPTH_MAX, &err);
	char *tw, *tg;

	if (want == NULL || got == NULL)
		fail_msg("%.*s: jansson %s, json_in %s (%s)", (int)n, s,
			 want ? "takes it" : "refuses it",
			 got ? "takes it" : "refuses it", err.text);
	assert_true(json_equal(want, got));
	tw = json_dumps(want, JSON_COMPACT);
	tg = json_dumps(got, JSON_COMPACT);
	assert_string_equal(tw, tg);
	free(tw);
	free(tg);
	json_decref(want);
	json_decref(got);
}

static void
test_accepts(void **state)
{
	static const char *const texts[] = {
	    "{}",
	    "[]",
	    " \t\r\n{ } \n",
	    "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
	    "[0,-0,1,-1,9223372036854775807,-9223372036854775808]",
	    "[0.5,-0.0,1e3,1E+3,1e-3,2.5e10,1e308,1e-400,-1."
	    "7976931348623157e308]",
	    "[\"\",\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
	    "[\"\\u00e9\\u20AC\\ud83d\\ude00\\uFFFF\\u0001\"]",
	    "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
	    "\xf4\x8f\xbf\xbf\x7f\"]",
	    "{\"\":0,\"a b\":1,\"\\u0061\":2}",
	    "{\"z\":1,\"a\":2,\"m\":3}",
	    "[[[[[[[[[[]]]]]]]]]]",
	    "{\"sessionId\":\"5f0c3d9e-8a1b-4c2d-9e3f-0a1b2c3d4e5f\","
	    "\"tokenId\":\"DE-1234567\",\"otp\":\"123456\",\"timestamp\":"
	    "1764970000,\"decision\":\"approve\",\"grantedScopes\":"
	    "[\"identity:name\"],\"signature\":\"MEUCIQ\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		same_as_jansson(texts[i], strlen(texts[i]));
}

/* Long strings and keys with escapes, and a long real: the decoders'
 * heap paths. */
static void
test_long_values(void **state)
{
	char *s = malloc(65536);
	size_t n = 0;

	(void)state;
	assert_non_null(s);
	n += (size_t)sprintf(s + n, "{\"k");
	for (int i = 0; i < 300; i++)
		n += (size_t)sprintf(s + n, "\\u00e9x");
	n += (size_t)sprintf(s + n, "\":[\"");
	for (int i = 0; i < 1000; i++)
		n += (size_t)sprintf(s + n, "\\n\\ud83d\\ude00%d", i);
	n += (size_t)sprintf(s + n, "\",0.");
	for (int i = 0; i < 200; i++)
		s[n++] = (char)('0' + i % 10);
	n += (size_t)sprintf(s + n, "e-2],\"plain\":\"");
	for (int i = 0; i < 5000; i++)
		s[n++] = (char)('a' + i % 26);
	n += (size_t)sprintf(s + n, "\"}");
	same_as_jansson(s, n);
	free(s);
}

struct refusal {
	const char *text;
	size_t len; /* 0: strlen */
	int line, column;
	const char *why;
};

static void
test_refusals(void **state)
{
	static const struct refusal cases[] = {
	    {"", 0, 1, 1, "'{' or '[' expected"},
	    {"  ", 0, 1, 3, "'{' or '[' expected"},
	    {"1", 0, 1, 1, "'{' or '[' expected"},
	    {"\"a\"", 0, 1, 1, "'{' or '[' expected"},
	    {"{} x", 0, 1, 4, "end of text expected"},
	    {"{}{}", 0, 1, 3, "end of text expected"},
	    {"{", 0, 1, 2, "string expected as a key"},
	    {"[", 0, 1, 2, "end of text where a value"},
	    {"[1,]", 0, 1, 4, "invalid token"},
	    {"{\"a\":1,}", 0, 1, 8, "string expected as a key"},
	    {"{a:1}", 0, 1, 2, "string expected as a key"},
	    {"{\"a\" 1}", 0, 1, 6, "':' expected"},
	    {"{\"a\":1 \"b\":2}", 0, 1, 8, "',' or '}' expected"},
	    {"[1 2]", 0, 1, 4, "',' or ']' expected"},
	    {"{\"a\":1,\"a\":2}", 0, 1, 8, "duplicate object key"},
	    {"{\"a\":1,\"\\u0061\":2}", 0, 1, 8, "duplicate object key"},
	    {"{\n  \"a\": 1,\n  \"a\": 2\n}", 0, 3, 3, "duplicate object key"},
	    {"[\"\\u0000\"]", 0, 1, 3, "\\u0000 is not allowed"},
	    {"{\"\\u0000\":1}", 0, 1, 3, "\\u0000 is not allowed"},
	    {"[\"\\ud800\"]", 0, 1, 3, "high surrogate"},
	    {"[\"\\ud800\\u0041\"]", 0, 1, 3, "high surrogate"},
	    {"[\"\\ud800\\ud800\"]", 0, 1, 3, "high surrogate"},
	    {"[\"\\udc00\"]", 0, 1, 3, "low surrogate"},
	    {"[\"\\x\"]", 0, 1, 3, "invalid escape"},
	    {"[\"\\u12\"]", 0, 1, 3, "four hex digits"},
	    {"[\"\\u12g4\"]", 0, 1, 3, "four hex digits"},
	    {"[\"a\tb\"]", 0, 1, 4, "control character 0x09"},
	    {"[\"a\nb\"]", 0, 1, 4, "control character 0x0a"},
	    {"[\"abc", 0, 1, 6, "end of text inside a string"},
	    {"[\"abc\\", 0, 1, 7, "end of text inside a string"},
	    {"[\"\xc0\x80\"]", 0, 1, 3, "UTF-8"},	  /* overlong */
	    {"[\"\xe0\x80\x80\"]", 0, 1, 3, "UTF-8"},	  /* overlong */
	    {"[\"\xed\xa0\x80\"]", 0, 1, 3, "UTF-8"},	  /* surrogate */
	    {"[\"\xf4\x90\x80\x80\"]", 0, 1, 3, "UTF-8"}, /* past U+10FFFF */
	    {"[\"\x80\"]", 0, 1, 3, "UTF-8"},		  /* continuation */
	    {"[\"\xe2\x82\"]", 0, 1, 3, "UTF-8"},	  /* cut short */
	    {"[\"\xff\"]", 0, 1, 3, "UTF-8"},
	    {"[\xc3\xa9]", 0, 1, 2, "invalid token"},
	    {"[01]", 0, 1, 2, "invalid number"},
	    {"[-]", 0, 1, 2, "invalid number"},
	    {"[-a]", 0, 1, 2, "invalid number"},
	    {"[1.]", 0, 1, 2, "invalid number"},
	    {"[1.e3]", 0, 1, 2, "invalid number"},
	    {"[1e]", 0, 1, 2, "invalid number"},
	    {"[1e+]", 0, 1, 2, "invalid number"},
	    {"[.5]", 0, 1, 2, "invalid token"},
	    {"[+1]", 0, 1, 2, "invalid token"},
	    {"[9223372036854775808]", 0, 1, 2, "too big"},
	    {"[-9223372036854775809]", 0, 1, 2, "too big"},
	    {"[99999999999999999999999]", 0, 1, 2, "too big"},
	    {"[1e400]", 0, 1, 2, "real number too big"},
	    {"[-1e400]", 0, 1, 2, "real number too big"},
	    {"[tru]", 0, 1, 2, "invalid token"},
	    {"[nul]", 0, 1, 2, "invalid token"},
	    {"[truex]", 0, 1, 6, "',' or ']' expected"},
	    {"[True]", 0, 1, 2, "invalid token"},
	    {"[NaN]", 0, 1, 2, "invalid token"},
	    {"[1\0]", 4, 1, 3, "',' or ']' expected"},
	    {"[\"a\0\"]", 6, 1, 4, "control character 0x00"},
	    {"{}\0", 3, 1, 3, "end of text expected"},
	    {"\xef\xbb\xbf{}", 0, 1, 1, "'{' or '[' expected"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct refusal *c = &cases[i];
		size_t n = c->len ? c->len : strlen(c->text);
		struct json_in_error err;
		json_t *v = parse_exact(c->text, n, JSON_IN_DEPTH_MAX, &err);

		if (v != NULL || strstr(err.text, c->why) == NULL ||
		    err.line != c->line || err.column != c->column ||
		    err.too_deep || err.nomem)
			fail_msg(
			    "case %zu %.*s: got %s at %d:%d '%s', want %d:%d "
			    "'%s'",
			    i, (int)n, c->text, v ? "a value" : "NULL",
			    err.line, err.column, err.text, c->line, c->column,
			    c->why);
		/* jansson refuses all of these too, but the NUL after a
		 * value, which it loses (json_in.h). */
		if (memchr(c->text, 0, n) == NULL || c->len == 6) {
			json_t *j = json_loadb(c->text, n,
					       JSON_REJECT_DUPLICATES, NULL);
			if (j != NULL)
				fail_msg("case %zu: jansson takes it", i);
		}
	}
}

/* nested writes depth arrays (or objects) one inside the other. */
static char *
nested(int depth, int objects, size_t *n)
{
	char *s = malloc((size_t)depth * 8 + 8);
	size_t k = 0;

	assert_non_null(s);
	for (int i = 0; i < depth; i++)
		k += (size_t)sprintf(s + k, objects ? "{\"a\":" : "[");
	s[k++] = '1';
	for (int i = 0; i < depth; i++)
		s[k++] = objects ? '}' : ']';
	*n = k;
	return s;
}

static void
test_depth(void **state)
{
	struct json_in_error err;
	size_t n;
	char *s;
	json_t *v;

	(void)state;
	for (int objects = 0; objects < 2; objects++) {
		s = nested(16, objects, &n);
		v = parse_exact(s, n, 16, &err);
		assert_non_null(v);
		json_decref(v);
		free(s);

		s = nested(17, objects, &n);
		v = parse_exact(s, n, 16, &err);
		assert_null(v);
		assert_true(err.too_deep);
		assert_non_null(strstr(err.text, "nested deeper than 16"));
		/* Refused at the 17th opening, before the rest is read. */
		assert_int_equal(err.position, objects ? 16 * 5 : 16);
		free(s);

		s = nested(JSON_IN_DEPTH_MAX, objects, &n);
		v = parse_exact(s, n, JSON_IN_DEPTH_MAX, &err);
		assert_non_null(v);
		json_decref(v);
		free(s);
		s = nested(JSON_IN_DEPTH_MAX + 1, objects, &n);
		v = parse_exact(s, n, JSON_IN_DEPTH_MAX, &err);
		assert_null(v);
		assert_true(err.too_deep);
		free(s);
	}
	/* A syntax error met before the bound is a syntax error. */
	v = parse_exact("[[x[[[[", 7, 2, &err);
	assert_null(v);
	assert_false(err.too_deep);
	assert_non_null(strstr(err.text, "invalid token"));
	/* Bounds outside 1..JSON_IN_DEPTH_MAX are refused. */
	assert_null(json_in_parse("[]", 2, 0, &err));
	assert_null(json_in_parse("[]", 2, JSON_IN_DEPTH_MAX + 1, &err));
	assert_null(json_in_parse(NULL, 0, 16, NULL));
}

/* Every proper prefix of a body is refused, and none is read past. */
static void
test_prefixes(void **state)
{
	static const char body[] =
	    "{\"a\\u00e9\\ud83d\\ude00\": [1, -2.5e3, true, false, null, "
	    "\"x\xc3\xa9\\n\"], \"b\": {\"c\": -0}}";
	size_t n = sizeof(body) - 1;

	(void)state;
	for (size_t k = 0; k < n; k++) {
		struct json_in_error err;
		json_t *v = parse_exact(body, k, 16, &err);

		if (v != NULL)
			fail_msg("prefix of %zu bytes taken", k);
		assert_true(err.position <= k);
	}
	same_as_jansson(body, n);
}

/* xorshift64*, seeded so that a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	return test_rng(&rng_state);
}

/*
 * Random edits of a verify body, compared with jansson: both take the same
 * texts and build the same values. Texts with a NUL byte are only checked
 * to be refused (jansson loses a NUL after a value).
 */
static void
test_mutations(void **state)
{
	static const char seed[] =
	    "{\"sessionId\":\"5f0c3d9e-8a1b\",\"otp\":\"123456\",\"t\":"
	    "1764970000,\"s\":[\"identity:name\",1.5e-3,-0,{\"k\":null}],"
	    "\"u\":\"\\u00e9\\ud83d\\ude00\xc3\xa9\"}";
	static const char alphabet[] = "{}[]\",:\\u0123456789-+.eEtrufalsn \n"
				       "\xc3\xa9\xed\xa0\x80\xff\x01";
	char buf[256];
	int taken = 0;

	(void)state;
	for (int round = 0; round < 50000; round++) {
		size_t n = sizeof(seed) - 1;
		int edits = 1 + (int)(rng() % 3);
		struct json_in_error err;
		json_t *want, *got;

		memcpy(buf, seed, n);
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)(rng() % n);
			unsigned char c = (unsigned char)
			    alphabet[rng() % (sizeof(alphabet) - 1)];

			switch (rng() % 3) {
			case 0: /* replace */
				buf[at] = (char)c;
				break;
			case 1: /* insert */
				if (n + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = (char)c;
					n++;
				}
				break;
			default: /* delete */
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			}
		}
		if (rng() % 50 == 0)
			buf[rng() % n] = '\0';
		got = parse_exact(buf, n, JSON_IN_DEPTH_MAX, &err);
		if (memchr(buf, 0, n) != NULL) {
			if (got != NULL)
				fail_msg("round %d: a NUL byte taken", round);
			continue;
		}
		want = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
		if ((want == NULL) != (got == NULL))
			fail_msg("round %d: %.*s: jansson %s, json_in %s (%s)",
				 round, (int)n, buf, want ? "takes" : "refuses",
				 got ? "takes" : "refuses", err.text);
		if (got != NULL) {
			assert_true(json_equal(want, got));
			taken++;
		}
		json_decref(want);
		json_decref(got);
	}
	/* The edits leave a fair share valid: both paths were exercised. */
	assert_true(taken > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts),  cmocka_unit_test(test_long_values),
	    cmocka_unit_test(test_refusals), cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_prefixes), cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
