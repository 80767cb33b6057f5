/*
 * fuzz_json_in.c - json_in_parse against json_loadb with
 * JSON_REJECT_DUPLICATES: both must accept the same texts and build the
 * same values, members in the same order; a refusal must point inside the
 * text.
 *
 * Properties: json_in_parse never reads outside its n bytes (the input is
 * not NUL-terminated), refuses every text with a NUL byte in it, refuses
 * for nesting only what goes deeper than its bound, and otherwise agrees
 * with jansson on every input. (jansson loses a NUL byte that follows a
 * number or a word, and so takes "[1\0]" for [1]: texts with a NUL byte
 * are not compared.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/json_in.h"

#define BOUND 16 /* the bound request bodies are parsed with */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* depth is the nesting of v, which counts as level 1 when a container. */
static int
depth(const json_t *v)
{
	const char *key;
	json_t *m;
	size_t i;
	int d = 0;

	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, m)
		{
			int k = depth(m);
			d = k > d ? k : d;
		}
		return d + 1;
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, m)
		{
			int k = depth(m);
			d = k > d ? k : d;
		}
		return d + 1;
	}
	return 0;
}

/* same_text tells whether a and b write the same compact text, which
 * holds only when members come in the same order. */
static int
same_text(const json_t *a, const json_t *b)
{
	char *ta = json_dumps(a, JSON_COMPACT),
	     *tb = json_dumps(b, JSON_COMPACT);
	int same = ta != NULL && tb != NULL && strcmp(ta, tb) == 0;

	free(ta);
	free(tb);
	return same;
}

static void
check(const uint8_t *data, size_t size, const json_t *want, int bound)
{
	/* A copy of exactly size bytes, so that a read past them is caught. */
	char *copy = malloc(size ? size : 1);
	struct json_in_error err;
	json_t *got;

	if (copy == NULL)
		return;
	if (size > 0)
		memcpy(copy, data, size);
	got = json_in_parse(copy, size, bound, &err);
	if (got != NULL && memchr(data, 0, size) != NULL)
		abort();
	if (got == NULL) {
		if (err.nomem)
			goto out;
		if (err.position > size || err.line < 1 || err.column < 1 ||
		    err.text[0] == '\0')
			abort();
		/* Refused for nesting: jansson may take it, but then it
		 * goes deeper than the bound. */
		if (err.too_deep) {
			if (want != NULL && depth(want) <= bound)
				abort();
		} else if (want != NULL && memchr(data, 0, size) == NULL) {
			abort();
		}
		goto out;
	}
	if (want == NULL || !json_equal(want, got) || !same_text(want, got) ||
	    depth(got) > bound)
		abort();
out:
	json_decref(got);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *want =
	    json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

	check(data, size, want, BOUND);
	check(data, size, want, JSON_IN_DEPTH_MAX);
	json_decref(want);
	return 0;
}
