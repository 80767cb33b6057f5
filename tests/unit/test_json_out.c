/*
 * test_json_out.c - json_out writes exactly what json_dumps writes: the
 * same bytes for every value, the same refusals.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support.h"

#include "core/json_out.h"

/* xorshift64*, seeded per test so a failure can be replayed. */
static uint64_t rng_state;

static uint64_t
rng(void)
{
	return test_rng(&rng_state);
}

/* Pieces a random string is made of: plain text, every kind of escape,
 * well-formed characters of two, three and four bytes, and the malformed
 * sequences a UTF-8 check must refuse. */
static const struct {
	const char *s;
	size_t n;
} pieces[] = {
    {"abc", 3},
    {"Zürich", 7},
    {"/", 1},
    {"\"", 1},
    {"\\", 1},
    {"\b\f\n\r\t", 5},
    {"\x01\x1f", 2},
    {"\0", 1},
    {"\x7f", 1},
    {"\xc2\x80", 2},	     /* U+0080 */
    {"\xe2\x82\xac", 3},     /* U+20AC */
    {"\xef\xbf\xbf", 3},     /* U+FFFF */
    {"\xf0\x9f\x98\x80", 4}, /* U+1F600 */
    {"\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF */
    {"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0", 36},
    {"\x80", 1},	     /* a continuation byte alone */
    {"\xc0\x80", 2},	     /* overlong */
    {"\xed\xa0\x80", 3},     /* a surrogate */
    {"\xf4\x90\x80\x80", 4}, /* past U+10FFFF */
    {"\xe2\x82", 2},	     /* truncated */
    {"\xff", 1},
};
#define PIECES (sizeof(pieces) / sizeof(pieces[0]))
#define BAD_FROM 15 /* pieces from here on are malformed */

#define NUL_PIECE 7

/* random_text fills out with up to 6 pieces; bad allows malformed ones,
 * key leaves out the NUL. Keys are always well-formed: jansson's parser and
 * json_object_set refuse a malformed or NUL-holding key, and json_dumps
 * writes a broken text for one made anyway (test_refusals: json_out
 * refuses it). */
static size_t
random_text(char *out, size_t cap, int bad, int key)
{
	size_t n = 0, k = rng() % 7;

	for (size_t i = 0; i < k; i++) {
		size_t which = rng() % (bad ? PIECES : BAD_FROM);

		if (key && which == NUL_PIECE)
			continue;

		if (n + pieces[which].n > cap)
			break;
		memcpy(out + n, pieces[which].s, pieces[which].n);
		n += pieces[which].n;
	}
	return n;
}

static json_t *random_value(int depth, int bad);

static json_t *
random_container(int depth, int bad)
{
	int object = rng() % 2;
	json_t *c = object ? json_object() : json_array();
	size_t members = rng() % 6;
	char key[64];

	for (size_t i = 0; i < members; i++) {
		json_t *v = random_value(depth + 1, bad);

		if (object) {
			size_t kn = random_text(key, sizeof(key), 0, 1);
			json_object_setn_new_nocheck(c, key, kn, v);
		} else
			json_array_append_new(c, v);
	}
	return c;
}

static json_t *
random_value(int depth, int bad)
{
	char text[64];
	size_t n;

	switch (depth >= 5 ? rng() % 6 : rng() % 8) {
	case 0:
		n = random_text(text, sizeof(text), bad && rng() % 2 == 0, 0);
		return json_stringn_nocheck(text, n);
	case 1: {
		static const json_int_t edge[] = {
		    0, -1, 1, INT64_MAX, INT64_MIN, 1700000000};
		return json_integer(rng() % 2 ? edge[rng() % 6]
					      : (json_int_t)rng());
	}
	case 2: {
		static const double reals[] = {0.0,	-0.5,	   1e300,
					       3.14159, 1.0 / 3.0, -2e-308};
		return json_real(reals[rng() % 6]);
	}
	case 3:
		return json_true();
	case 4:
		return json_false();
	case 5:
		return json_null();
	default:
		return random_container(depth, bad);
	}
}

/* same checks json_out against json_dumps for one value and flag set. */
static void
same(const json_t *v, unsigned int out_flags, size_t dump_flags)
{
	char *want = json_dumps(v, dump_flags);
	size_t len = 12345;
	char *got = json_out(v, out_flags, &len);

	if (want == NULL) {
		assert_null(got);
		assert_int_equal(len, 12345); /* untouched on failure */
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(want);
	free(got);
}

static void
test_same_bytes_as_jansson(void **state)
{
	size_t refused = 0, written = 0;

	(void)state;
	rng_state = 0x5ea1a0d5ea1a0d01ULL;
	for (int i = 0; i < 20000; i++) {
		json_t *v = random_container(0, i % 3 == 0);
		char *d = json_dumps(v, JSON_COMPACT);

		d ? written++ : refused++;
		free(d);
		same(v, 0, JSON_COMPACT);
		same(v, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
		same(v, JSON_OUT_SORT_KEYS, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(v);
	}
	/* Both kinds were seen many times: the comparison covered both. */
	assert_true(written > 10000);
	assert_true(refused > 800);
}

static void
test_escapes_and_order(void **state)
{
	json_t *o = json_object();
	char *s;

	(void)state;
	json_object_set_new(o, "z", json_stringn("a\"b\\c/\x01\n\0\x7f", 10));
	json_object_set_new(o, "a", json_pack("[i,b,n,s]", -7, 1, "€"));
	json_object_set_new(o, "ab", json_object());
	s = json_out(o, 0, NULL);
	assert_string_equal(
	    s, "{\"z\":\"a\\\"b\\\\c/\\u0001\\n\\u0000\x7f\",\"a\":[-7,true,"
	       "null,\"€\"],\"ab\":{}}");
	free(s);
	s = json_out(o, JSON_OUT_SORT_KEYS, NULL);
	assert_string_equal(s, "{\"a\":[-7,true,null,\"€\"],\"ab\":{},\"z\":"
			       "\"a\\\"b\\\\c/\\u0001\\n\\u0000\x7f\"}");
	free(s);
	json_decref(o);
}

static void
test_refusals(void **state)
{
	json_t *str = json_string("x"), *a, *b, *deep, *cur;

	(void)state;
	/* Only an object or an array at the top, as json_dumps. */
	assert_null(json_out(str, 0, NULL));
	assert_null(json_out(NULL, 0, NULL));
	json_decref(str);
	/* A malformed key or value anywhere refuses the whole text. */
	a = json_object();
	json_object_set_new(a, "ok", json_stringn_nocheck("\xed\xa0\x80", 3));
	assert_null(json_out(a, 0, NULL));
	json_decref(a);
	/* A key with a NUL or malformed UTF-8 (only the unchecked setters
	 * make one) is refused. */
	a = json_object();
	json_object_setn_new(a, "a\0b", 3, json_true());
	assert_null(json_out(a, 0, NULL));
	json_decref(a);
	a = json_object();
	json_object_setn_new_nocheck(a, "\xe2\x82Z", 3, json_true());
	assert_null(json_out(a, 0, NULL));
	assert_null(json_out(a, JSON_OUT_SORT_KEYS, NULL));
	json_decref(a);
	/* A value that contains itself ends at the nesting bound. */
	a = json_object();
	b = json_object();
	json_object_set(a, "b", b);
	json_object_set(b, "a", a);
	assert_null(json_out(a, 0, NULL));
	json_object_del(b, "a");
	json_decref(b);
	json_decref(a);
	/* Nesting within the bound is written; beyond it, refused. */
	deep = json_array();
	cur = deep;
	for (int i = 1; i < JSON_OUT_DEPTH_MAX; i++) {
		json_t *n = json_array();
		json_array_append_new(cur, n);
		cur = n;
	}
	same(deep, 0, JSON_COMPACT);
	json_array_append_new(cur, json_array());
	assert_null(json_out(deep, 0, NULL));
	json_decref(deep);
}

/*
 * test_flat_objects_written_directly: an object written member by member
 * (json_obj_*) is the same text as json_out of the object jansson builds
 * from the same members, for random keys and values of every kind; a
 * value that is not well-formed UTF-8 or a NULL string gives NULL, as
 * json_pack and json_string refuse them.
 */
static void
test_flat_objects_written_directly(void **state)
{
	(void)state;
	rng_state = 0x5EA1A0B7ULL;
	for (int iter = 0; iter < 20000; iter++) {
		struct json_obj o;
		json_t *ref = json_object();
		int refused = 0;
		size_t members = rng() % 7, n = 0, m = 0;
		char *got, *want;

		assert_non_null(ref);
		json_obj_begin(&o);
		for (size_t i = 0; i < members; i++) {
			char key[80], val[80];
			size_t kn = random_text(key, sizeof(key) - 8, 0, 1);
			size_t vn;
			long long iv;

			/* Distinct keys, as a caller's literals are. */
			kn += (size_t)snprintf(key + kn, 8, "#%zu", i);
			key[kn] = '\0';
			switch (rng() % 5) {
			case 4: {
				/* An array of up to three strings. */
				char vs[3][40];
				const char *vp[3];
				size_t na = rng() % 4;
				json_t *arr = json_array();

				for (size_t j = 0; j < na; j++) {
					vn = random_text(
					    vs[j], sizeof(vs[j]) - 1, 1, 1);
					vs[j][vn] = '\0';
					vp[j] = vs[j];
					if (json_array_append_new(
						arr, json_string(vs[j])) != 0)
						refused = 1;
				}
				json_obj_strs(&o, key, vp, na);
				json_object_set_new(ref, key, arr);
				break;
			}
			case 0:
			case 1:
				vn = random_text(val, sizeof(val) - 1, 1, 1);
				val[vn] = '\0';
				json_obj_str(&o, key, val);
				if (json_object_set_new(ref, key,
							json_string(val)) != 0)
					refused = 1;
				break;
			case 2:
				iv = (long long)rng();
				if (rng() % 4 == 0)
					iv =
					    (long long[]){0, -1, LLONG_MIN,
							  LLONG_MAX}[rng() % 4];
				json_obj_int(&o, key, iv);
				json_object_set_new(ref, key, json_integer(iv));
				break;
			default:
				iv = (long long)(rng() % 2);
				json_obj_bool(&o, key, (int)iv);
				json_object_set_new(ref, key, json_boolean(iv));
				break;
			}
		}
		got = json_obj_end(&o, &n);
		if (refused) {
			assert_null(got);
		} else {
			want = json_out(ref, 0, &m);
			assert_non_null(want);
			assert_non_null(got);
			assert_int_equal(n, m);
			assert_memory_equal(got, want, n);
			assert_int_equal(strlen(got), n);
			free(want);
		}
		free(got);
		json_decref(ref);
	}
}

static void
test_flat_object_refusals(void **state)
{
	struct json_obj o;
	size_t n = 99;

	(void)state;
	json_obj_begin(&o);
	json_obj_str(&o, "a", "b");
	json_obj_str(&o, "jwt", NULL);
	json_obj_str(&o, "c", "d");
	assert_null(json_obj_end(&o, &n));
	assert_int_equal(n, 99);
	json_obj_begin(&o);
	json_obj_strs(&o, "amr", (const char *const[]){"hwk", NULL}, 2);
	assert_null(json_obj_end(&o, &n));
	assert_int_equal(n, 99);
	json_obj_begin(&o);
	json_obj_strs(&o, "none", NULL, 0);
	json_obj_strs(&o, "amr", (const char *const[]){"hwk", "user"}, 2);
	assert_string_equal(json_obj_end(&o, &n),
			    "{\"none\":[],\"amr\":[\"hwk\",\"user\"]}");
	free(o.p);
	/* Sorted: the keys in JSON_OUT_SORT_KEYS order give its text; a key
	 * out of order or repeated fails the text. */
	{
		json_t *ref = json_pack("{s:s, s:[s], s:b, s:i}", "b", "x",
					"ab", "y", "a", 1, "B", 2);
		char *want = json_out(ref, JSON_OUT_SORT_KEYS, NULL), *got;

		json_obj_begin_sorted(&o);
		json_obj_int(&o, "B", 2);
		json_obj_bool(&o, "a", 1);
		json_obj_strs(&o, "ab", (const char *const[]){"y"}, 1);
		json_obj_str(&o, "b", "x");
		got = json_obj_end(&o, &n);
		assert_non_null(want);
		assert_non_null(got);
		assert_string_equal(got, want);
		free(got);
		free(want);
		json_decref(ref);
		json_obj_begin_sorted(&o);
		json_obj_str(&o, "b", "x");
		json_obj_str(&o, "a", "x");
		assert_null(json_obj_end(&o, NULL));
		json_obj_begin_sorted(&o);
		json_obj_str(&o, "a", "x");
		json_obj_int(&o, "a", 1);
		assert_null(json_obj_end(&o, NULL));
	}
	json_obj_begin(&o);
	assert_string_equal(json_obj_end(&o, &n), "{}");
	assert_int_equal(n, 2);
	free(o.p);
	/* A long value grows the text past its first allocation. */
	{
		char big[3000];
		char *t;

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		json_obj_begin(&o);
		json_obj_str(&o, "type", "approved");
		json_obj_str(&o, "jwt", big);
		json_obj_bool(&o, "ok", 1);
		t = json_obj_end(&o, &n);
		assert_non_null(t);
		assert_int_equal(n,
				 strlen("{\"type\":\"approved\",\"jwt\":\"\"") +
				     sizeof(big) - 1 + strlen(",\"ok\":true}"));
		free(t);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_bytes_as_jansson),
	    cmocka_unit_test(test_escapes_and_order),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_flat_objects_written_directly),
	    cmocka_unit_test(test_flat_object_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
